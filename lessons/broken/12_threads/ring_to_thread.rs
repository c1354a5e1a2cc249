//! A `Ring` moved into a worker thread, to run work there.
//! Lesson: a ring is an io_uring instance set up for one submitting thread and a
//! single-threaded executor, whose handle is an `Rc` (E0277: `Rc<..Inner>` cannot
//! be sent between threads safely, "within the type `Ring`"). Build a ring on each
//! thread that needs one; a `RingBuilder` is `Send`, so it may be made elsewhere.
use linear_uring::Ring;
use std::thread::JoinHandle;

/// Runs `work` on a new thread, with `value` moved there: what `thread::spawn(move
/// || work(value))` does, with the `Send` bound written out.
fn on_a_worker<T: Send + 'static, R: Send + 'static>(value: T, work: fn(T) -> R) -> JoinHandle<R> {
    std::thread::spawn(move || work(value))
}

fn main() {
    let ring = Ring::new().unwrap();
    let worker = on_a_worker(ring, |ring| {
        ring.block_on(async { ring.nop().complete().await })
    });
    worker.join().unwrap().unwrap();
}
