//! Misuse: `race_all(ops).await;`, awaiting a race of many ops and ignoring the
//! result.
//!
//! Lesson: `RacedAll::rest` holds every op that did not win, all still in flight.
//! `RacedAll` is `#[must_use]`: ignoring it drops them all, abandoning each one.
//! Complete or cancel `rest`.
#![deny(unused_must_use)]

use std::time::Duration;

use linear_uring::op::Timeout;
use linear_uring::{race_all, Ring};

fn main() {
    let ring = Ring::new().unwrap();
    ring.block_on(async {
        let timers = vec![
            Timeout::new(&ring, Duration::from_millis(1)).submit(),
            Timeout::new(&ring, Duration::from_secs(10)).submit(),
        ];
        race_all(timers).await;
    });
}
