//! Misuse: calling `.complete()` on an op description that was never submitted.
//!
//! Lesson: `Nop::new(&ring)` only describes the op (a `Prepared<Nop>`, free to
//! build and to drop); nothing is in the kernel yet, so there is nothing to wait
//! for (E0599). Call `.submit()` to get the token.

use linear_uring::op::Nop;
use linear_uring::Ring;

fn main() {
    let ring = Ring::new().unwrap();
    ring.block_on(async {
        let result = Nop::new(&ring).complete().await;
        println!("{result:?}");
    });
}
