//! TCP on loopback: accept, connect, recv, send, every cancel outcome.

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::time::Duration;

use linear_uring::net::{TcpListener, TcpStream};
use linear_uring::{DropPolicy, Ring};

use crate::fds::FdCheck;

fn ring() -> Ring {
    Ring::builder()
        .drop_policy(DropPolicy::Panic)
        .build()
        .unwrap()
}

fn listener(ring: &Ring) -> (TcpListener, SocketAddr) {
    let listener = TcpListener::bind(ring, "127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    (listener, addr)
}

#[test]
fn tcp_accept_connect_send_recv_round_trip() {
    let fds = FdCheck::start();
    let ring = ring();
    let (listener, addr) = listener(&ring);
    ring.block_on(async {
        let connect = TcpStream::connect(&ring, addr).unwrap().submit();
        let (server, peer) = listener.accept().submit().complete().await.unwrap();
        let client = connect.complete().await.unwrap();
        assert_eq!(peer, client.local_addr().unwrap());
        assert_eq!(server.peer_addr().unwrap(), peer);
        client.set_nodelay(true).unwrap();

        let (sent, _) = client.send(&b"hello"[..]).submit().complete().await;
        assert_eq!(sent.unwrap(), 5);
        let (n, buf) = server
            .recv(Vec::with_capacity(64))
            .submit()
            .complete()
            .await;
        assert_eq!(n.unwrap(), 5);
        assert_eq!(buf, b"hello");

        client.close().await.unwrap();
        server.close().await.unwrap();
        listener.close().await.unwrap();
    });
    assert_eq!(ring.stats().in_flight, 0);
    drop(ring);
    fds.finish();
}

#[test]
fn tcp_from_std_interoperates() {
    let fds = FdCheck::start();
    let ring = ring();
    let std_listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = std_listener.local_addr().unwrap();
    let listener = TcpListener::from_std(&ring, std_listener).unwrap();
    let mut client = std::net::TcpStream::connect(addr).unwrap();
    client.write_all(b"ping").unwrap();
    let server = ring.block_on(async {
        let (server, _) = listener.accept().submit().complete().await.unwrap();
        let (n, buf) = server.recv(vec![0u8; 0]).submit().complete().await;
        assert_eq!(n.unwrap(), 0, "a zero-capacity buffer receives nothing");
        drop(buf);
        let (n, buf) = server.recv(Vec::with_capacity(8)).submit().complete().await;
        assert_eq!(&buf[..n.unwrap()], b"ping");
        server
    });
    let mut std_server = server.into_std().unwrap();
    std_server.write_all(b"pong").unwrap();
    let mut reply = [0u8; 4];
    client.read_exact(&mut reply).unwrap();
    assert_eq!(&reply, b"pong");
    drop((client, std_server, listener));
    drop(ring);
    fds.finish();
}

#[test]
fn tcp_accept_cancel_with_nothing_pending_is_cancelled() {
    let fds = FdCheck::start();
    let ring = ring();
    let (listener, _) = listener(&ring);
    let outcome = ring.block_on(async { listener.accept().submit().cancel().await });
    assert!(outcome.is_cancelled(), "{outcome:?}");
    drop((listener, ring));
    fds.finish();
}

#[test]
fn tcp_accept_cancel_after_connection_arrived_is_completed_with_stream() {
    let fds = FdCheck::start();
    let ring = ring();
    let (listener, addr) = listener(&ring);
    ring.block_on(async {
        let accept = listener.accept().submit();
        let client = std::net::TcpStream::connect(addr).unwrap();
        // Let the kernel complete the accept before we poll or cancel it.
        ring.sleep(Duration::from_millis(20))
            .complete()
            .await
            .unwrap();
        let outcome = accept.cancel().await;
        let (stream, peer) = outcome
            .completed()
            .expect("the connection was accepted")
            .unwrap();
        assert_eq!(peer, client.local_addr().unwrap());
        stream.close().await.unwrap();
    });
    drop((listener, ring));
    fds.finish();
}
