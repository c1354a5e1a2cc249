//! A `Vec` of tokens cloned, to keep one copy while generic code takes the other.
//! Lesson: generic code can duplicate only what is `Clone`. `Vec<T>: Clone` asks for
//! `T: Clone`, and a token is not `Clone` (an op has one completion, so one token):
//! rustc refuses the clone (E0599, "the following trait bounds were not satisfied:
//! `Op<Nop>: Clone`"). The same `Vec` may be truncated, cleared or dropped without
//! a word: no bound says "may be dropped", it is assumed of every type.
use linear_uring::op::Nop;
use linear_uring::{Op, Ring};

fn main() {
    let ring = Ring::new().unwrap();
    let pending: Vec<Op<Nop>> = vec![ring.nop(), ring.nop()];
    let backup = pending.clone();
    ring.block_on(async {
        for op in pending.into_iter().chain(backup) {
            op.complete().await.unwrap();
        }
    });
}
