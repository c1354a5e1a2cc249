//! Misuse: defusing a token, rebuilding it with its "consumed" flag set so that
//! dropping it skips the drop policy.
//!
//! Lesson: a token cannot be taken apart. `Op` implements `Drop` (E0509: no field
//! can be moved out of it) and its fields are private, so the only ways out are
//! `.complete().await` and `.cancel().await`. To stop an op you no longer want,
//! cancel it.

use linear_uring::op::Nop;
use linear_uring::{Op, Ring};

fn main() {
    let ring = Ring::new().unwrap();
    let op = ring.nop();
    let defused: Op<Nop> = Op { live: false, ..op };
    drop(defused);
}
