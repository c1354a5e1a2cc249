//! The correct use that `array_by_value_is_not_a_buffer` points to: a byte string
//! literal (`b"hello\n"`, a `&'static [u8; N]`) is a buffer to send as it is, with
//! `send`, `send_all` or `send_to`; bytes made at run time are copied into a `Vec`
//! with `.to_vec()`. Runs against the kernel.
#![deny(unused_must_use, let_underscore_drop)]

use linear_uring::net::{UdpSocket, UnixStream};
use linear_uring::Ring;

fn main() {
    let ring = Ring::new().expect("io_uring is available");
    let (a, b) = UnixStream::pair(&ring).expect("a socket pair");
    let udp = UdpSocket::bind(&ring, "127.0.0.1:0").expect("a UDP socket");
    let to = udp.local_addr().expect("its address");
    ring.block_on(async {
        let (sent, literal) = a.send(b"hello\n").submit().complete().await;
        assert_eq!(sent.expect("the send succeeds"), 6);
        assert_eq!(literal, b"hello\n");
        let (sent, _) = a.send_all(b"world\n").await;
        sent.expect("the send succeeds");

        let mut got = Vec::with_capacity(64);
        while got.len() < 12 {
            let (n, back) = b.recv(got).submit().complete().await;
            got = back;
            assert!(n.expect("the receive succeeds") > 0, "end of stream");
        }
        assert_eq!(got, b"hello\nworld\n");

        let id: u64 = 42;
        let (sent, _) = udp.send_to(id.to_be_bytes().to_vec(), to).submit().complete().await;
        assert_eq!(sent.expect("the datagram is sent"), 8);
        let (received, buf) = udp.recv_from(Vec::with_capacity(8)).submit().complete().await;
        assert_eq!(received.expect("the datagram arrives").0, 8);
        assert_eq!(u64::from_be_bytes(buf.try_into().expect("8 bytes")), 42);

        a.close().await.expect("close succeeds");
        b.close().await.expect("close succeeds");
        udp.close().await.expect("close succeeds");
    });
    let stats = ring.stats();
    assert_eq!(stats.abandoned, 0, "{stats:?}");
    assert_eq!(stats.in_flight, 0, "{stats:?}");
}
