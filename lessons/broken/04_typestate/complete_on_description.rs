//! `complete()` called on a description, skipping `submit()`.
//! Lesson: `Nop::new(&ring)` is a `Prepared<Nop>`, a description that is in no
//! kernel queue yet: `complete` does not exist on that type (E0599). `.submit()`
//! moves to the next state, `Op<Nop>`, which has it; or `Nop::new(&ring).await`
//! does both (a `Prepared` is `IntoFuture`: it submits, then completes).
use linear_uring::op::Nop;
use linear_uring::Ring;

fn main() {
    let ring = Ring::new().unwrap();
    ring.block_on(async {
        let done = Nop::new(&ring).complete().await;
        println!("{done:?}");
    });
}
