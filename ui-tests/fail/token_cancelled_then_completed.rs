//! Misuse: cancelling a token and then awaiting its completion.
//!
//! Lesson: `cancel()` consumes the token too (E0382). Whatever the op produced is
//! in the `CancelOutcome`: `Completed(output)` if it finished first.

use std::time::Duration;

use linear_uring::op::Timeout;
use linear_uring::Ring;

fn main() {
    let ring = Ring::new().unwrap();
    ring.block_on(async {
        let timer = Timeout::new(&ring, Duration::from_secs(10)).submit();
        let outcome = timer.cancel().await;
        let fired = timer.complete().await;
        println!("{outcome:?} {fired:?}");
    });
}
