//! Misuse: `mem::forget` of an op submitted in a proof-carrying scope: the one hole
//! no drop policy can see, because no destructor runs.
//!
//! Lesson: in a scope, forgetting is a compile error, for the same reason as a drop:
//! the scope went into the debt, and only `complete()` or `cancel()` gives it back
//! (E0382: `s` was moved into `submit`).

use std::time::Duration;

use linear_uring::op::Timeout;
use linear_uring::Ring;

fn main() {
    let ring = Ring::new().unwrap();
    ring.block_on(ring.scope(async |s| {
        let debt = s.submit(Timeout::new(&ring, Duration::from_secs(1)));
        std::mem::forget(debt);
        (s.paid(), ())
    }));
}
