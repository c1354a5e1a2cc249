//! `?` on the accept's result inside a scope's closure.
//! Lesson: `?` returns early, and an early return past a debt would skip its
//! payment. So the closure returns a pair, `(Paid<'b>, value)`, not a `Result`, and
//! `?` has nowhere to go (E0277: the `?` operator can only be used in an async
//! closure that returns `Result` or `Option`). Errors travel in the value:
//! `(s.paid(), accepted)`, and `?` after the scope.
use linear_uring::net::TcpListener;
use linear_uring::Ring;

fn main() {
    let ring = Ring::new().unwrap();
    let listener = TcpListener::bind(&ring, "127.0.0.1:0").unwrap();
    let _stream = ring.block_on(ring.scope(async |s| {
        let (accepted, s) = s.submit(listener.accept()).await;
        let (stream, _peer) = accepted?;
        (s.paid(), stream)
    }));
}
