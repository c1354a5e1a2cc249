//! Misuse: cloning a token, to complete one copy and cancel the other.
//!
//! Lesson: an op has one completion, so it has one token: `Op` is not `Clone`
//! (E0599). Wait for it once, or use `cancel()`, whose outcome carries the output
//! if the op finished first.

use std::time::Duration;

use linear_uring::op::Timeout;
use linear_uring::Ring;

fn main() {
    let ring = Ring::new().unwrap();
    ring.block_on(async {
        let timer = Timeout::new(&ring, Duration::from_secs(10)).submit();
        let copy = timer.clone();
        let _ = timer.cancel().await;
        let _ = copy.complete().await;
    });
}
