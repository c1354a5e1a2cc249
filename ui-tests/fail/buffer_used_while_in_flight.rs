//! Misuse: reading a buffer while the receive that fills it is in flight.
//!
//! Lesson: the kernel may write into the buffer at any moment until the op
//! completes, so `recv(buf)` takes the buffer by value and the op owns it while it
//! is in flight (E0382: `buf` was moved into the op). It comes back with the
//! output: `let (result, buf) = op.complete().await;` (or `Cancelled(buf)` from a
//! cancel). Do not follow rustc's hint to clone it: the kernel fills the original,
//! never the clone.

use linear_uring::net::UnixStream;
use linear_uring::Ring;

fn main() {
    let ring = Ring::new().unwrap();
    let (a, _b) = UnixStream::pair(&ring).unwrap();
    ring.block_on(async {
        let buf = Vec::with_capacity(64);
        let recv = a.recv(buf).submit();
        println!("received so far: {:?}", &buf[..]);
        let (result, _buf) = recv.complete().await;
        println!("{result:?}");
    });
}
