//! Misuse: dropping an op submitted in a proof-carrying scope.
//!
//! Lesson: `Scope::submit` consumes the scope; only the debt's `complete()` or
//! `cancel()` gives it back. Dropped, the debt takes the scope with it, and the
//! closure has nothing to make its `Paid` receipt from (E0382: `s` was moved into
//! `submit`). Pay the debt: `let (out, s) = debt.complete().await;`.

use std::time::Duration;

use linear_uring::op::Timeout;
use linear_uring::Ring;

fn main() {
    let ring = Ring::new().unwrap();
    ring.block_on(ring.scope(async |s| {
        let debt = s.submit(Timeout::new(&ring, Duration::from_secs(1)));
        drop(debt);
        (s.paid(), ())
    }));
}
