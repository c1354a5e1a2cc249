//! Misuse: sending from a borrowed slice of a local buffer.
//!
//! Lesson: the kernel may read the buffer until the send completes, even after the
//! token or the function that lent it is gone, so a send only borrows memory that
//! lives forever (`&'static [u8]`, a literal); anything else must be owned by the
//! op (E0597: the borrow would have to be `'static`). Move a `Vec<u8>` or
//! `Box<[u8]>` in; it comes back with the output.

use linear_uring::net::UnixStream;
use linear_uring::Ring;

fn main() {
    let ring = Ring::new().unwrap();
    let (a, _b) = UnixStream::pair(&ring).unwrap();
    ring.block_on(async {
        let message = format!("hello {}", 42).into_bytes();
        let (result, _) = a.send(&message[..]).submit().complete().await;
        println!("{result:?}");
    });
}
