//! A request handler of several ops in a proof-carrying scope: an accept, a receive
//! of exactly 4 bytes (a composite op, owed like a token), and a reply. Each op gives
//! the scope back for the next; the receipt at the end proves none was lost. Runs
//! against the kernel.
#![deny(unused_must_use, let_underscore_drop)]

use std::io::{Read, Write};

use linear_uring::net::TcpListener;
use linear_uring::Ring;

fn main() {
    let ring = Ring::new().expect("io_uring is available");
    let listener = TcpListener::bind(&ring, "127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("address");
    let client = std::thread::spawn(move || {
        let mut stream = std::net::TcpStream::connect(addr).expect("connect");
        stream.write_all(b"ping").expect("send");
        let mut reply = [0u8; 4];
        stream.read_exact(&mut reply).expect("reply");
        reply
    });
    let served = ring.block_on(ring.scope(async |s| {
        let (accepted, s) = s.submit(listener.accept()).complete().await;
        let Ok((stream, _peer)) = accepted else {
            return (s.paid(), false);
        };
        let ((got, request), s) = s.owe(stream.recv_exact(Vec::with_capacity(4), 4)).await;
        if got.is_err() || request != b"ping" {
            return (s.paid(), false);
        }
        let ((sent, _), s) = s.owe(stream.send_all(b"pong")).await;
        (s.paid(), sent.is_ok())
    }));
    assert!(served);
    assert_eq!(&client.join().expect("client"), b"pong");
    assert_eq!(ring.stats().abandoned, 0);
}
