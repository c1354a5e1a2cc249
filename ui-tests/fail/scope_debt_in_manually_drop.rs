//! Misuse: a debt put in `ManuallyDrop` (and never taken out): a leak without
//! `mem::forget`.
//!
//! Lesson: whatever holds the debt, the scope is in it; the closure cannot pay
//! without it (E0382: `s` was moved into `submit`).

use std::mem::ManuallyDrop;
use std::time::Duration;

use linear_uring::op::Timeout;
use linear_uring::Ring;

fn main() {
    let ring = Ring::new().unwrap();
    ring.block_on(ring.scope(async |s| {
        let _kept = ManuallyDrop::new(s.submit(Timeout::new(&ring, Duration::from_secs(1))));
        (s.paid(), ())
    }));
}
