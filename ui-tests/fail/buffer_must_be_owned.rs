//! Misuse: lending a borrowed buffer (a stack array) to a receive.
//!
//! Lesson: the kernel may write into the buffer after the token, or the function
//! that borrowed it, is gone, so an op only takes buffers it can own until the
//! kernel is done, with spare capacity to append to: `Vec::with_capacity(n)`
//! (E0277: `&mut [u8; 64]` is not an owned buffer). Move an owned buffer in; it
//! comes back with the output.

use linear_uring::net::UnixStream;
use linear_uring::Ring;

fn main() {
    let ring = Ring::new().unwrap();
    let (a, _b) = UnixStream::pair(&ring).unwrap();
    let mut buf = [0u8; 64];
    ring.block_on(async {
        let (result, _) = a.recv(&mut buf).submit().complete().await;
        println!("{result:?}");
    });
}
