//! Misuse: returning a debt out of its scope, to pay it (or not) later.
//!
//! Lesson: the scope went into the debt, so the closure has no receipt to return
//! beside it (E0382: `s` was moved into `submit`); and a debt carries its scope's
//! brand, which nothing in the closure's value may carry. Pay inside the scope, and
//! return the output.

use std::time::Duration;

use linear_uring::op::Timeout;
use linear_uring::Ring;

fn main() {
    let ring = Ring::new().unwrap();
    let _escaped = ring.block_on(ring.scope(async |s| {
        let debt = s.submit(Timeout::new(&ring, Duration::from_secs(1)));
        (s.paid(), debt)
    }));
}
