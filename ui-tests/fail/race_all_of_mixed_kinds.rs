//! Misuse: `race_all` over values of different kinds (a timer token and a `Sleep`).
//!
//! Lesson: `race_all` takes a `Vec<T>` of one type, so `vec![..]` rejects the
//! second kind (E0308, rustc's own message; it cannot name the fix). To race values
//! of different kinds, put them in a tuple: `select((op, ring.sleep(d)))` hands back
//! every loser, typed (pass `select_of_mixed_kinds.rs`).

use std::time::Duration;

use linear_uring::op::Timeout;
use linear_uring::{race_all, Ring};

fn main() {
    let ring = Ring::new().unwrap();
    ring.block_on(async {
        let op = Timeout::new(&ring, Duration::from_secs(10)).submit();
        let _raced = race_all(vec![op, ring.sleep(Duration::from_millis(1))]).await;
    });
}
