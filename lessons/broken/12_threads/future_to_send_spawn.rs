//! An `async move` block that holds a receive's token, given to a spawn function
//! that requires `Send`, as a work-stealing runtime's `spawn` does.
//! Lesson: a future that captures a token holds an `Rc` of the ring, so it is
//! `!Send` too ("future cannot be sent between threads safely", with a note
//! pointing at the token). A work-stealing runtime could resume it on any thread,
//! away from the ring that must reap the op. Run it on its ring, `ring.spawn(..)`,
//! which needs no `Send`.
use std::future::Future;

use linear_uring::net::UnixStream;
use linear_uring::Ring;

/// Stands in for a work-stealing runtime's `spawn`.
fn spawn_anywhere<F: Future + Send + 'static>(future: F) {
    drop(future);
}

fn main() {
    let ring = Ring::new().unwrap();
    let (mine, _peer) = UnixStream::pair(&ring).unwrap();
    let reply = mine.recv(Vec::with_capacity(64)).submit();
    spawn_anywhere(async move {
        let (got, bytes) = reply.complete().await;
        println!("{got:?} {bytes:?}");
    });
}
