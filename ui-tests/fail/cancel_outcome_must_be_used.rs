//! Misuse: `op.cancel().await;`, awaiting a cancel but ignoring what it found.
//!
//! Lesson: a cancel can lose the race. `CancelOutcome::Completed` holds a real
//! result (an accepted connection, bytes read) that is lost if the outcome is
//! ignored. Match on it.
#![deny(unused_must_use)]

use std::time::Duration;

use linear_uring::op::Timeout;
use linear_uring::Ring;

fn main() {
    let ring = Ring::new().unwrap();
    ring.block_on(async {
        let timer = Timeout::new(&ring, Duration::from_secs(10)).submit();
        timer.cancel().await;
    });
}
