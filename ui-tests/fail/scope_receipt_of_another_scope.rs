//! Misuse: paying one sub-scope with the receipt of another.
//!
//! Lesson: every sub-scope has a brand of its own, and a receipt fits only its own
//! brand ("lifetime may not live long enough": `Paid<'y>` where `Paid<'x>` is due).
//! Each op must be paid in the scope that submitted it.

use std::time::Duration;

use linear_uring::op::Timeout;
use linear_uring::Ring;

fn main() {
    let ring = Ring::new().unwrap();
    ring.block_on(ring.scope(async |s| {
        let (s, ()) = s
            .split(async |x, y| {
                let (_, x) = x.submit(Timeout::new(&ring, Duration::from_millis(1))).complete().await;
                let (_, y) = y.submit(Timeout::new(&ring, Duration::from_millis(1))).complete().await;
                (y.paid(), x.paid(), ())
            })
            .await;
        (s.paid(), ())
    }));
}
