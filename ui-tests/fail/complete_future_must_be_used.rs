//! Misuse: `op.complete();` without `.await`.
//!
//! Lesson: `complete()` consumes the token and returns a future; the future is as
//! linear as the token. Dropping it unawaited abandons the op. Await it.
#![deny(unused_must_use)]

use linear_uring::Ring;

fn main() {
    let ring = Ring::new().unwrap();
    ring.block_on(async {
        let op = ring.nop();
        op.complete();
    });
}
