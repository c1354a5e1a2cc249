//! Misuse: `let _ = ring.nop();`, which silences `unused_must_use` but drops the
//! token on the spot.
//!
//! Lesson: `let _ =` is not "keep it for later", it is an immediate drop, and a
//! dropped token abandons the op. Turn on `let_underscore_drop` (and clippy's
//! `let_underscore_must_use`) to make it an error, then bind a real name and
//! consume the token.
#![deny(let_underscore_drop)]

use linear_uring::Ring;

fn main() {
    let ring = Ring::new().unwrap();
    let _ = ring.nop();
}
