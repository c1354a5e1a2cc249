//! Misuse: sending a `Ring` to another thread.
//!
//! Lesson: a ring is a single-threaded executor and io_uring instance (it is set up
//! `SINGLE_ISSUER`), and its handle is an `Rc` (E0277: `Ring` is not `Send`).
//! Create one ring per thread instead.

use linear_uring::Ring;

fn main() {
    let ring = Ring::new().unwrap();
    let handle = std::thread::spawn(move || {
        ring.block_on(async {});
    });
    handle.join().unwrap();
}
