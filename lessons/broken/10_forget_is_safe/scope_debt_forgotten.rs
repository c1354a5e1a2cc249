//! `mem::forget` of an op submitted in a proof-carrying scope.
//! Lesson: outside a scope, forgetting a token is safe and invisible: no destructor,
//! no drop policy, not even a count. Inside one it does not compile: `s.submit(..)`
//! consumed the scope and put it in the debt, so forgetting the debt forgets the
//! scope with it, and the closure has no scope left to say `s.paid()` with (E0382,
//! "value moved here" at `s.submit`). Only the debt's `complete()` or `cancel()`
//! gives the scope back. The type system cannot see a destructor that does not run,
//! but it sees a value that never comes back.
use std::time::Duration;

use linear_uring::op::Timeout;
use linear_uring::Ring;

fn main() {
    let ring = Ring::new().unwrap();
    ring.block_on(ring.scope(async |s| {
        let debt = s.submit(Timeout::new(&ring, Duration::from_secs(3600)));
        std::mem::forget(debt);
        (s.paid(), ())
    }));
}
