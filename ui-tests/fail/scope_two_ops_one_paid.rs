//! Misuse: two ops submitted in two sub-scopes, only one of them paid.
//!
//! Lesson: `split` gives two sub-scopes and wants both receipts back; the second
//! scope went into its debt, which was dropped, so its receipt cannot be made
//! (E0382: `y` was moved into `submit`). A scope owes exactly one receipt per op.

use std::time::Duration;

use linear_uring::op::Timeout;
use linear_uring::Ring;

fn main() {
    let ring = Ring::new().unwrap();
    ring.block_on(ring.scope(async |s| {
        let (s, ()) = s
            .split(async |x, y| {
                let first = x.submit(Timeout::new(&ring, Duration::from_millis(1)));
                let second = y.submit(Timeout::new(&ring, Duration::from_secs(1)));
                let (_, x) = first.complete().await;
                drop(second);
                (x.paid(), y.paid(), ())
            })
            .await;
        (s.paid(), ())
    }));
}
