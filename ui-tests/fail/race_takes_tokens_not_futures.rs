//! Misuse: racing the `complete()` future of a token instead of the token itself.
//!
//! Lesson: `race` hands the loser back unfinished, so it only takes values that
//! can be resumed or cancelled with a report of what they did: tokens (`Op<K>`),
//! `Sleep`, and your own types implementing `Linear` (E0277: `Complete` is not
//! `Linear`, from `Linear`'s `#[diagnostic::on_unimplemented]`). A plain future
//! cannot be handed back. Pass the token: `race(op, ring.sleep(d))`.

use std::time::Duration;

use linear_uring::op::Timeout;
use linear_uring::{race, Ring};

fn main() {
    let ring = Ring::new().unwrap();
    ring.block_on(async {
        let slow = Timeout::new(&ring, Duration::from_secs(10)).submit();
        let _raced = race(slow.complete(), ring.sleep(Duration::from_millis(1))).await;
    });
}
