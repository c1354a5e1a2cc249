//! An accepted stream of the ring moved into a worker thread, to write the reply
//! there.
//! Lesson: a stream of the ring holds the ring, so it is `!Send` like the ring
//! (E0277: `Rc<..Inner>` cannot be sent between threads safely, "within the type
//! `TcpStream`"); its descriptor is shared with the ops in flight on it, through
//! another `Rc` (the second error). `stream.into_std()` takes the descriptor out of
//! the ring as an ordinary `std::net::TcpStream`, which is `Send`: move that.
use linear_uring::net::TcpListener;
use linear_uring::Ring;
use std::thread::JoinHandle;

/// Runs `work` on a new thread, with `value` moved there: what `thread::spawn(move
/// || work(value))` does, with the `Send` bound written out.
fn on_a_worker<T: Send + 'static, R: Send + 'static>(value: T, work: fn(T) -> R) -> JoinHandle<R> {
    std::thread::spawn(move || work(value))
}

fn main() {
    let ring = Ring::new().unwrap();
    let listener = TcpListener::bind(&ring, "127.0.0.1:0").unwrap();
    let (stream, _peer) = ring.block_on(listener.accept().submit().complete()).unwrap();
    let worker = on_a_worker(stream, |stream| {
        let _reply = stream.send(b"hello from a worker\n");
    });
    worker.join().unwrap();
}
