//! Misuse: receiving into a `Box<[u8]>`.
//!
//! Lesson: a read or receive appends after the buffer's initialised bytes, filling
//! its spare capacity (std's `read_buf` contract), so that it never overwrites data.
//! A boxed slice is always full, with no spare capacity, so it is no buffer to read
//! into (E0277: `Box<[u8]>` is not `IoBufMut`). Receive into
//! `Vec::with_capacity(n)`; a `Box<[u8]>` is still a buffer to send.

use linear_uring::net::UnixStream;
use linear_uring::Ring;

fn main() {
    let ring = Ring::new().unwrap();
    let (a, _b) = UnixStream::pair(&ring).unwrap();
    let buf: Box<[u8]> = vec![0u8; 64].into_boxed_slice();
    ring.block_on(async {
        let (result, _) = a.recv(buf).submit().complete().await;
        println!("{result:?}");
    });
}
