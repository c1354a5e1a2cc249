//! Misuse: a multishot accept submitted as a statement, its stream never read.
//!
//! Lesson: a multishot op is a debt like any token (`Multishot` is `#[must_use]`):
//! the kernel accepts connections for it until it is cancelled. Take them with
//! `.next().await`, or stop it with `.cancel().await`, which hands back the ones
//! that arrived.
#![deny(unused_must_use)]

use linear_uring::net::TcpListener;
use linear_uring::Ring;

fn main() {
    let ring = Ring::new().unwrap();
    let listener = TcpListener::bind(&ring, "127.0.0.1:0").unwrap();
    listener.incoming().submit();
}
