//! Misuse: taking the next connection from a multishot accept after cancelling it.
//!
//! Lesson: `cancel()` takes the stream (E0382): the op is stopped, and every
//! connection that arrived is in the `Drained` it resolves to, in `items`. Take
//! them from there.
use linear_uring::net::TcpListener;
use linear_uring::Ring;

fn main() {
    let ring = Ring::new().unwrap();
    let listener = TcpListener::bind(&ring, "127.0.0.1:0").unwrap();
    ring.block_on(async {
        let mut incoming = listener.incoming().submit();
        let drained = incoming.cancel().await;
        let late = incoming.next().await;
        drop((drained, late));
    });
}
