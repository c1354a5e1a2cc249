//! Misuse: building an op description and never submitting it.
//!
//! Lesson: a description (`Prepared<K>`) is free and harmless, but it does nothing:
//! nothing reaches the kernel until `.submit()`. The compiler flags the dead code.
#![deny(unused_must_use)]

use std::time::Duration;

use linear_uring::op::Timeout;
use linear_uring::Ring;

fn main() {
    let ring = Ring::new().unwrap();
    Timeout::new(&ring, Duration::from_secs(1));
}
