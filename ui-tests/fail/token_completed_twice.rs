//! Misuse: completing the same token twice.
//!
//! Lesson: an op has exactly one output, and `complete()` takes `self` to hand it
//! out once (E0382 on the second call).

use linear_uring::Ring;

fn main() {
    let ring = Ring::new().unwrap();
    ring.block_on(async {
        let op = ring.nop();
        let first = op.complete().await;
        let second = op.complete().await;
        println!("{first:?} {second:?}");
    });
}
