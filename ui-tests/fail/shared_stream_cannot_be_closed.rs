//! Misuse: sharing a stream between two tasks through an `Rc`, so that one can
//! receive while the other sends, then closing it.
//!
//! Lesson: `close()` takes the stream by value, and an `Rc` cannot give up a value
//! it shares (E0507, with a note that `close` takes ownership of `self`). To use
//! both directions at once, split the stream instead: `into_split()` gives an owned
//! `ReadHalf` and `WriteHalf`, one for each task; `TcpStream::reunite(read, write)`
//! gives the stream back to close, or each half's `close()` lets go of it and the
//! last one closes the descriptor.

use std::rc::Rc;

use linear_uring::net::TcpStream;
use linear_uring::Ring;

async fn proxy(ring: &Ring, stream: TcpStream) -> std::io::Result<()> {
    let stream = Rc::new(stream);
    let sender = Rc::clone(&stream);
    let sending = ring.spawn(async move {
        let (sent, _) = sender.send_all(b"hello".as_slice()).await;
        sent
    });
    let (received, _buf) = stream.recv(Vec::with_capacity(64)).submit().complete().await;
    received?;
    sending.await?;
    stream.close().await
}

fn main() {
    let _ = proxy;
}
