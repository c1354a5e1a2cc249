//! A receive cancelled with `recv.cancel().await;`, its outcome ignored, with
//! `unused_must_use` denied.
//! Lesson: the cancel may lose the race. Then the outcome is
//! `Completed((Ok(n), buf))`, with the bytes the receive took from the socket in
//! `buf`, and a statement that ignores it throws them away. `CancelOutcome` is
//! `#[must_use]`: match on it (rustc's help, `let _ = ...`, would throw them away
//! just as silently: lesson 03).
#![deny(unused_must_use)]

use linear_uring::net::UnixStream;
use linear_uring::Ring;

fn main() {
    let ring = Ring::new().unwrap();
    let (ours, _peer) = UnixStream::pair(&ring).unwrap();
    ring.block_on(async {
        let recv = ours.recv(Vec::with_capacity(64)).submit();
        recv.cancel().await;
    });
}
