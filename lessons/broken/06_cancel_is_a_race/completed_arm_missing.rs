//! A cancelled receive matched as if the cancel always won: no `Completed` arm.
//! Lesson: a `match` must cover every variant (E0004), so the compiler makes you
//! write what to do with the result that won the race: the bytes in
//! `Completed((Ok(n), buf))` are real data, taken from the socket. The arm rustc
//! suggests, `Completed(_) => todo!()`, compiles, then panics, result and all, the
//! first time the cancel loses: bind them.
use linear_uring::net::UnixStream;
use linear_uring::{CancelOutcome, Ring};

fn main() {
    let ring = Ring::new().unwrap();
    let (ours, _peer) = UnixStream::pair(&ring).unwrap();
    ring.block_on(async {
        let recv = ours.recv(Vec::with_capacity(64)).submit();
        let buf = match recv.cancel().await {
            CancelOutcome::Cancelled(buf) => buf,
        };
        println!("the buffer came back, {} bytes", buf.len());
    });
}
