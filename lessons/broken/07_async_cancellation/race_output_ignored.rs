//! A race whose result is thrown away, with the lint made an error.
//! Lesson: `race` resolves to `Raced`, which holds the winner's output and the
//! loser, still in flight. Ignoring it abandons the loser: match on it, and
//! complete or cancel the loser.
#![deny(unused_must_use)]
use std::time::Duration;

use linear_uring::op::Timeout;
use linear_uring::{race, Ring};

fn main() {
    let ring = Ring::new().unwrap();
    let slow = Timeout::new(&ring, Duration::from_secs(60)).submit();
    ring.block_on(async {
        race(slow, ring.sleep(Duration::from_millis(1))).await;
    });
}
