//! Misuse: a debt pushed into a `Vec` that is then dropped.
//!
//! Lesson: a collection is no way around it: the scope is in the debt, in the
//! vector, and gone with it (E0382: `s` was moved into `submit`). For many ops at
//! once, `Scope::each` gives every op a sub-scope of its own to pay.

use std::time::Duration;

use linear_uring::op::Timeout;
use linear_uring::Ring;

fn main() {
    let ring = Ring::new().unwrap();
    ring.block_on(ring.scope(async |s| {
        let debts = vec![s.submit(Timeout::new(&ring, Duration::from_secs(1)))];
        drop(debts);
        (s.paid(), ())
    }));
}
