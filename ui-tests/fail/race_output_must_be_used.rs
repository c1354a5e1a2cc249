//! Misuse: `race(a, b).await;`, awaiting a race and ignoring what it resolved to.
//!
//! Lesson: a race hands back the loser, still in flight and still a debt. `Raced`
//! is `#[must_use]`: ignoring it drops the loser, which abandons its op (cancelled,
//! its result lost). Match on it, and complete or cancel the loser.
#![deny(unused_must_use)]

use std::time::Duration;

use linear_uring::op::Timeout;
use linear_uring::{race, Ring};

fn main() {
    let ring = Ring::new().unwrap();
    ring.block_on(async {
        let slow = Timeout::new(&ring, Duration::from_secs(10)).submit();
        race(slow, ring.sleep(Duration::from_millis(1))).await;
    });
}
