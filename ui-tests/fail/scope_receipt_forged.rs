//! Misuse: making a `Paid` receipt by hand.
//!
//! Lesson: a receipt has a private field: only `Scope::paid` makes one, and the
//! scope comes back only from paying its debt (E0451 / "cannot construct `Paid`
//! with struct literal syntax due to private fields").

use std::marker::PhantomData;
use std::time::Duration;

use linear_uring::op::Timeout;
use linear_uring::scope::Paid;
use linear_uring::Ring;

fn main() {
    let ring = Ring::new().unwrap();
    ring.block_on(ring.scope(async |s| {
        let debt = s.submit(Timeout::new(&ring, Duration::from_secs(1)));
        std::mem::forget(debt);
        (Paid { brand: PhantomData }, ())
    }));
}
