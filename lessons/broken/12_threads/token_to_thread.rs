//! A receive's token moved to a worker thread, to be completed there on a ring of
//! the worker's own.
//! Lesson: a token holds an `Rc` of the ring that submitted it, and that ring alone
//! can reap its completion: another ring knows nothing of the op. `Op` is `!Send`
//! (E0277: `Rc<..Inner>` cannot be sent between threads safely). Complete it on
//! its own ring's thread, and send the output (`(io::Result<usize>, Vec<u8>)`).
use linear_uring::net::UnixStream;
use linear_uring::Ring;
use std::thread::JoinHandle;

/// Runs `work` on a new thread, with `value` moved there: what `thread::spawn(move
/// || work(value))` does, with the `Send` bound written out.
fn on_a_worker<T: Send + 'static, R: Send + 'static>(value: T, work: fn(T) -> R) -> JoinHandle<R> {
    std::thread::spawn(move || work(value))
}

fn main() {
    let ring = Ring::new().unwrap();
    let (mine, _peer) = UnixStream::pair(&ring).unwrap();
    let reply = mine.recv(Vec::with_capacity(64)).submit();
    let worker = on_a_worker(reply, |reply| {
        let other = Ring::new().unwrap();
        other.block_on(reply.complete())
    });
    let (got, _bytes) = worker.join().unwrap();
    got.unwrap();
}
