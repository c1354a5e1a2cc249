//! A receive asked to borrow a stack array: `stream.recv(&mut stack_buf)`.
//! Lesson: a borrow ends when its holder is forgotten, and `mem::forget` is safe. If
//! a receive could borrow the array, its token could be submitted and forgotten, the
//! function could return, and the kernel would write into a stack frame that is
//! gone. So `recv` takes only an owned buffer with spare capacity to append to:
//! `&mut [u8; 64]` is not one, and the library's own message says so (E0277) at the
//! call, before anything can be submitted or forgotten. Pass
//! `Vec::with_capacity(64)`; it comes back with the output, `(result, buf)`.
use linear_uring::net::UnixStream;
use linear_uring::Ring;

fn main() {
    let ring = Ring::new().unwrap();
    let (stream, _peer) = UnixStream::pair(&ring).unwrap();
    let mut stack_buf = [0u8; 64];
    // Were this accepted, `.submit()` and `std::mem::forget` of the token would follow.
    stream.recv(&mut stack_buf);
}
