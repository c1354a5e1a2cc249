//! Misuse: awaiting a receive and ignoring its output, `(io::Result<usize>, buf)`.
//!
//! Lesson: the result says how many bytes the kernel wrote (or why it failed), and
//! the buffer the op hands back holds them. rustc flags the ignored `Result` inside
//! the tuple. Bind both: `let (result, buf) = op.complete().await;`.
#![deny(unused_must_use)]

use linear_uring::net::UnixStream;
use linear_uring::Ring;

fn main() {
    let ring = Ring::new().unwrap();
    let (a, _b) = UnixStream::pair(&ring).unwrap();
    ring.block_on(async {
        a.recv(Vec::with_capacity(64)).submit().complete().await;
    });
}
