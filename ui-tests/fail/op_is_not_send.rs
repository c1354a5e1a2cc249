//! Misuse: moving a token to another thread.
//!
//! Lesson: a token belongs to the ring that submitted it, and a ring lives on one
//! thread (E0277: `Op<Nop>` is not `Send`). Complete or cancel it on the ring's
//! thread, and send the output instead.

use linear_uring::Ring;

fn main() {
    let ring = Ring::new().unwrap();
    let op = ring.nop();
    let handle = std::thread::spawn(move || {
        let _op = op;
    });
    handle.join().unwrap();
}
