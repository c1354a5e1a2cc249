//! Misuse: submitting an op and ignoring its token (`ring.nop();` as a statement).
//!
//! Lesson: a submitted op is a debt. The token is `#[must_use]`; with
//! `#![deny(unused_must_use)]` (recommended in the crate docs) ignoring it is an
//! error. Consume it with `.complete().await` or `.cancel().await`.
#![deny(unused_must_use)]

use linear_uring::Ring;

fn main() {
    let ring = Ring::new().unwrap();
    ring.nop();
}
