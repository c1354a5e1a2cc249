//! A timer's token cancelled, then completed anyway, to see whether it had fired.
//! Lesson: `cancel(self)` consumes the token as surely as `complete(self)` (E0382).
//! What the timer did is already in the outcome: `Completed(result)` if it fired
//! first, `Cancelled(())` if not.
use std::time::Duration;

use linear_uring::op::Timeout;
use linear_uring::Ring;

fn main() {
    let ring = Ring::new().unwrap();
    ring.block_on(async {
        let timer = Timeout::new(&ring, Duration::from_secs(60)).submit();
        let outcome = timer.cancel().await;
        let fired = timer.complete().await;
        println!("{outcome:?} {fired:?}");
    });
}
