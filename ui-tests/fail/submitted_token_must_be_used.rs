//! Misuse: submitting a description and ignoring the token `submit()` returns.
//!
//! Lesson: the same as `ring.nop();`: `submit()` puts the op in the kernel at once,
//! and its token is a debt to pay with `.complete().await` or `.cancel().await`.
#![deny(unused_must_use)]

use linear_uring::op::Nop;
use linear_uring::Ring;

fn main() {
    let ring = Ring::new().unwrap();
    Nop::new(&ring).submit();
}
