//! Misuse: naming a token of something that is not an operation, `Op<String>`.
//!
//! Lesson: `Op<K>` only exists for the operations in `linear_uring::op`; the
//! compiler says so through `OpKind`'s `#[diagnostic::on_unimplemented]`.

use linear_uring::Op;

fn wait_for(_op: Op<String>) {}

fn main() {}
