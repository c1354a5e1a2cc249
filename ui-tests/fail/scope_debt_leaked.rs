//! Misuse: a debt leaked with `Box::leak`.
//!
//! Lesson: leaking keeps the scope inside the leaked debt: no receipt (E0382: `s`
//! was moved into `submit`).

use std::time::Duration;

use linear_uring::op::Timeout;
use linear_uring::Ring;

fn main() {
    let ring = Ring::new().unwrap();
    ring.block_on(ring.scope(async |s| {
        let _leaked = Box::leak(Box::new(s.submit(Timeout::new(&ring, Duration::from_secs(1)))));
        (s.paid(), ())
    }));
}
