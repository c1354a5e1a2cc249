//! `op.complete();` written as if it waited, with `unused_must_use` denied.
//! Lesson: `complete()` takes the token and returns a future, which does nothing
//! until awaited; dropped at the end of the statement, it abandons the op. The
//! future is `#[must_use]` as the token is, so the denied lint catches it. Await it.
#![deny(unused_must_use)]

use linear_uring::Ring;

fn main() {
    let ring = Ring::new().unwrap();
    ring.block_on(async {
        let op = ring.nop();
        op.complete();
    });
}
