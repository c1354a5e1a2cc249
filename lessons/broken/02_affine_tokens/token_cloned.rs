//! A timer's token cloned, to wait for it with one copy and cancel it with the other.
//! Lesson: `Op` does not implement `Clone` (E0599). A clone would be a second token
//! for an op that completes once; `cancel()` alone already says whether the timer
//! fired first.
use std::time::Duration;

use linear_uring::op::Timeout;
use linear_uring::Ring;

fn main() {
    let ring = Ring::new().unwrap();
    ring.block_on(async {
        let timer = Timeout::new(&ring, Duration::from_secs(60)).submit();
        let spare = timer.clone();
        let outcome = timer.cancel().await;
        let fired = spare.complete().await;
        println!("{outcome:?} {fired:?}");
    });
}
