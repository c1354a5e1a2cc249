//! Misuse: `?` inside a scope's closure, which would leave early without paying.
//!
//! Lesson: the closure returns `(Paid<'b>, value)`, not a `Result`, precisely so
//! that `?` cannot skip a payment (E0277: `?` needs a closure that returns `Result`
//! or `Option`). Errors travel in the value: `(s.paid(), result)`.

use std::time::Duration;

use linear_uring::op::Timeout;
use linear_uring::Ring;

fn main() {
    let ring = Ring::new().unwrap();
    ring.block_on(ring.scope(async |s| {
        let debt = s.submit(Timeout::new(&ring, Duration::from_secs(1)));
        let (fired, s) = debt.complete().await;
        fired?;
        (s.paid(), ())
    }));
}
