//! The buffer read while the receive that fills it is in flight.
//! Lesson: `recv(buf)` takes the `Vec` by value: from submission until the kernel's
//! final completion it belongs to the op (to the ring's table, once the op is
//! submitted), forgotten token or not. So the name `buf` is gone (E0382, "value
//! moved here"), and the buffer comes back with the output, `(result, buf)`, or in
//! `Cancelled(buf)`. Ignore rustc's hint to clone it: with `recv(buf.clone())`, the
//! kernel fills the clone given away, and `buf` stays empty.
use linear_uring::net::UnixStream;
use linear_uring::Ring;

fn main() {
    let ring = Ring::new().unwrap();
    let (stream, _peer) = UnixStream::pair(&ring).unwrap();
    ring.block_on(async {
        let buf = Vec::with_capacity(64);
        let recv = stream.recv(buf).submit();
        println!("received so far: {} bytes", buf.len());
        let (result, buf) = recv.complete().await;
        println!("{result:?}, {} bytes", buf.len());
    });
}
