//! The correct use that `shared_stream_cannot_be_closed` points to: a stream split
//! into owned halves, each used by its own task at the same time, then reunited and
//! closed; and the other end's halves closed one by one, the last closing the
//! descriptor. Runs against the kernel.
#![deny(unused_must_use, let_underscore_drop)]

use linear_uring::net::{TcpListener, TcpStream};
use linear_uring::Ring;

fn main() {
    let ring = Ring::new().expect("io_uring is available");
    let listener = TcpListener::bind(&ring, "127.0.0.1:0").expect("a loopback listener");
    let addr = listener.local_addr().expect("its address");
    ring.block_on(async {
        let connect = TcpStream::connect(&ring, addr).expect("a socket").submit();
        let (server, _) = listener.accept().submit().complete().await.expect("accepted");
        let client = connect.complete().await.expect("connected");
        listener.close().await.expect("close succeeds");

        // Each half is owned by one task; both directions run at once.
        let (read, write) = server.into_split();
        let sending = ring.spawn(async move {
            let (sent, _) = write.send_all(b"hello".as_slice()).await;
            sent.expect("the send succeeds");
            write
        });
        let receiving = ring.spawn(async move {
            let (n, buf) = read.recv(Vec::with_capacity(64)).submit().complete().await;
            assert_eq!(&buf[..n.expect("the receive succeeds")], b"world");
            read
        });

        let (client_read, client_write) = client.into_split();
        let (sent, _) = client_write.send_all(b"world".as_slice()).await;
        sent.expect("the send succeeds");
        let (n, buf) = client_read.recv(Vec::with_capacity(64)).submit().complete().await;
        assert_eq!(&buf[..n.expect("the receive succeeds")], b"hello");

        // The halves come back from their tasks and make the stream again.
        let (read, write) = (receiving.await, sending.await);
        let server = TcpStream::reunite(read, write).expect("halves of one stream");
        server.close().await.expect("close succeeds");

        // Or close each half: the write half shuts down sending first, and the last
        // half closes the descriptor.
        client_write.close().await.expect("shutdown and release succeed");
        client_read.close().await.expect("close succeeds");
    });
    let stats = ring.stats();
    assert_eq!(stats.abandoned, 0, "{stats:?}");
    assert_eq!(stats.in_flight, 0, "{stats:?}");
}
