//! A receive into a borrowed stack array: `stream.recv(&mut stack_buf)`.
//! Lesson: a borrow ends when its holder is forgotten, and `mem::forget` is safe, so
//! a token that borrowed the array could be forgotten, the function could return,
//! and the kernel would write into a stack frame that is gone. A receive therefore
//! takes only an owned buffer, with spare capacity to append to: `&mut [u8; 64]` is
//! not one, and the library's own message says so (E0277). Pass
//! `Vec::with_capacity(64)`; it comes back with the output, `(result, buf)`.
use linear_uring::net::UnixStream;
use linear_uring::Ring;

fn main() {
    let ring = Ring::new().unwrap();
    let (stream, _peer) = UnixStream::pair(&ring).unwrap();
    let mut stack_buf = [0u8; 64];
    let recv = stream.recv(&mut stack_buf).submit();
    std::mem::forget(recv);
}
