//! Misuse: building an `Op` token by hand instead of submitting an op.
//!
//! Lesson: a token stands for an entry really pushed to the kernel, so only
//! `Prepared::submit` (or `ring.nop()`) can make one: its fields
//! are private, and so are the types they hold.

use std::marker::PhantomData;
use std::panic::Location;

use linear_uring::op::Nop;
use linear_uring::Op;

/// Whatever a hand-built token would need in its fields.
fn anything<T>() -> T {
    unimplemented!()
}

fn forge() -> Op<Nop> {
    Op {
        ring: anything(),
        id: anything(),
        location: Location::caller(),
        live: true,
        kind: PhantomData,
    }
}

fn main() {
    let op = forge();
    let _ = op.cancel();
}
