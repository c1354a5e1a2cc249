//! A peer resetting mid-stream; an owner closing, dropping or shutting down a
//! socket while an op on it is in flight.

use std::io::{self, Read, Write};
use std::net::Shutdown;
use std::os::fd::AsRawFd;
use std::time::Duration;

use futures_lite::future;
use linear_uring::net::TcpListener;
use linear_uring::{race, DropPolicy, IoBuf, Raced};

use super::{assert_usable, connected, linger_zero, pause, ring, set_int_option};
use crate::fds::{self, FdCheck};
use crate::storm::check::{stream_bytes, Ledger, ReadCheck};

#[test]
fn tcp_peer_reset_mid_stream_fails_pending_ops_with_bytes_and_buffers_kept() {
    const SENT: usize = 64 * 1024;
    let fds = FdCheck::start();
    let ring = ring(DropPolicy::Panic);
    let ledger = Ledger::new();
    let key = 0x0005_ee0d;
    let (listener, server, mut client) = connected(&ring);
    // The peer sends part of its stream, waits for the ring's ops to be in the kernel
    // (a receive waiting for more, a send waiting for room), then resets.
    let peer = std::thread::spawn(move || {
        client.write_all(&stream_bytes(key, 0, SENT)).unwrap();
        std::thread::sleep(Duration::from_millis(100));
        linger_zero(&client);
        drop(client);
    });
    set_int_option(&server, libc::SOL_SOCKET, libc::SO_SNDBUF, 4096);
    let big = ledger.filled(vec![7; 8 << 20]);
    let big_ptr = big.stable_ptr();
    let (send_result, recv_error, check) = ring.block_on(async {
        let sender = async {
            // The peer never reads: this fills its window, then waits in the kernel.
            server.send_all(big).await
        };
        let receiver = async {
            let mut check = ReadCheck::new(key);
            loop {
                let (n, buf) = server.recv(ledger.empty(16384)).submit().complete().await;
                match n {
                    Ok(0) => break (None, check),
                    Ok(n) => check.chunk(&buf.as_slice()[..n]).unwrap(),
                    Err(e) => break (Some(e), check),
                }
            }
        };
        let ((send_result, big), (recv_error, check)) = future::zip(sender, receiver).await;
        assert_eq!(big.stable_ptr(), big_ptr, "the send's buffer came back");
        (send_result, recv_error, check)
    });
    peer.join().unwrap();
    // Every byte the ring received is the peer's, in order; the reset ended both ops
    // with a clear error.
    assert!(check.delivered() <= SENT as u64);
    let send_err = send_result.expect_err("the peer reset the connection");
    assert!(
        matches!(
            send_err.raw_os_error(),
            Some(libc::ECONNRESET) | Some(libc::EPIPE)
        ),
        "{send_err}"
    );
    if let Some(e) = &recv_error {
        assert_eq!(e.raw_os_error(), Some(libc::ECONNRESET), "{e}");
    }
    assert_eq!(ring.stats().in_flight, 0);
    ring.block_on(async {
        server.close().await.unwrap();
        listener.close().await.unwrap();
    });
    assert_usable(&ring);
    drop(ring);
    ledger.audit().unwrap();
    fds.finish();
}

#[test]
fn tcp_stream_closed_by_owner_with_recv_in_flight_is_closed_after_the_op() {
    let fds = FdCheck::start();
    let ring = ring(DropPolicy::Panic);
    let ledger = Ledger::new();
    let (listener, server, mut client) = connected(&ring);
    let before = fds::count();
    ring.block_on(async {
        let buf = ledger.empty(64);
        let dropped = buf.drop_flag();
        let recv = server.recv(buf).submit();
        pause(&ring, 5).await;
        // The owner closes the stream while the kernel waits on it: the descriptor
        // must stay open for the op, and its buffer stay with the ring.
        server.close().await.unwrap();
        assert_eq!(
            fds::count(),
            before,
            "the descriptor was closed under the op"
        );
        assert!(
            !dropped.get(),
            "the buffer was freed while the kernel owns it"
        );
        client.write_all(b"still here").unwrap();
        let (n, buf) = recv.complete().await;
        assert_eq!(&buf.as_slice()[..n.unwrap()], b"still here");
    });
    // The op is done: the owner's close took effect.
    assert_eq!(fds::count(), before - 1);
    client
        .set_read_timeout(Some(Duration::from_secs(1)))
        .unwrap();
    assert_eq!(client.read(&mut [0u8; 8]).unwrap(), 0, "not closed");
    assert_eq!(ring.stats().in_flight, 0);
    assert_usable(&ring);
    drop((listener, client, ring));
    ledger.audit().unwrap();
    fds.finish();
}

#[test]
fn tcp_stream_dropped_by_owner_with_abandoned_recv_closes_after_completion() {
    let fds = FdCheck::start();
    let ring = ring(DropPolicy::Reclaim);
    let ledger = Ledger::new();
    let (listener, server, mut client) = connected(&ring);
    let before = fds::count();
    ring.block_on(async {
        let buf = ledger.empty(64);
        let dropped = buf.drop_flag();
        let recv = server.recv(buf).submit();
        pause(&ring, 5).await;
        drop(server);
        drop(recv);
        // The drop queued a cancel; until its completion the kernel owns the buffer
        // and the descriptor.
        assert!(
            !dropped.get(),
            "the buffer was freed while the kernel owns it"
        );
        assert_eq!(
            fds::count(),
            before,
            "the descriptor was closed under the op"
        );
        pause(&ring, 10).await;
        assert!(dropped.get(), "the buffer outlived the op");
    });
    assert_eq!(fds::count(), before - 1);
    client
        .set_read_timeout(Some(Duration::from_secs(1)))
        .unwrap();
    assert_eq!(client.read(&mut [0u8; 8]).unwrap(), 0, "not closed");
    let stats = ring.stats();
    assert_eq!((stats.in_flight, stats.abandoned), (0, 1), "{stats:?}");
    assert_usable(&ring);
    drop((listener, client, ring));
    ledger.audit().unwrap();
    fds.finish();
}

#[test]
fn tcp_stream_shut_down_by_owner_with_ops_in_flight_ends_them_buffers_back() {
    let fds = FdCheck::start();
    let ring = ring(DropPolicy::Panic);
    let ledger = Ledger::new();
    let (listener, server, client) = connected(&ring);
    set_int_option(&server, libc::SOL_SOCKET, libc::SO_SNDBUF, 4096);
    ring.block_on(async {
        let recv = server.recv(ledger.empty(64)).submit();
        // Send until a send waits in the kernel: the peer never reads.
        let send = loop {
            let send = server.send(ledger.filled(vec![1; 65536])).submit();
            match race(send, ring.sleep(Duration::from_millis(20))).await {
                Raced::First((sent, _), _) => assert!(sent.unwrap() > 0),
                Raced::Second(send, _) => break send,
            }
        };
        server
            .shutdown(Shutdown::Both)
            .submit()
            .complete()
            .await
            .unwrap();
        let (sent, buf) = send.complete().await;
        let err = sent.expect_err("sent on a socket shut down for writing");
        assert_eq!(err.raw_os_error(), Some(libc::EPIPE), "{err}");
        assert_eq!(
            buf.as_slice(),
            &[1; 65536][..],
            "the buffer came back as it was"
        );
        let (n, buf) = recv.complete().await;
        assert_eq!(
            n.unwrap(),
            0,
            "a receive on a socket shut down for reading ends"
        );
        assert_eq!(buf.capacity(), 64);
        server.close().await.unwrap();
    });
    assert_eq!(ring.stats().in_flight, 0);
    assert_usable(&ring);
    drop((listener, client, ring));
    ledger.audit().unwrap();
    fds.finish();
}

#[test]
fn tcp_listener_shut_down_by_owner_with_accept_in_flight_fails_einval() {
    let fds = FdCheck::start();
    let ring = ring(DropPolicy::Panic);
    let listener = TcpListener::bind(&ring, "127.0.0.1:0").unwrap();
    ring.block_on(async {
        let accept = listener.accept().submit();
        pause(&ring, 5).await;
        // SAFETY: shutdown(2) on a descriptor the listener keeps open; integer
        // arguments only.
        let rc = unsafe { libc::shutdown(listener.as_raw_fd(), libc::SHUT_RDWR) };
        assert_eq!(rc, 0, "shutdown: {}", io::Error::last_os_error());
        let err = accept
            .complete()
            .await
            .map(drop)
            .expect_err("accepted on a listener shut down");
        assert_eq!(err.raw_os_error(), Some(libc::EINVAL), "{err}");
        listener.close().await.unwrap();
    });
    assert_eq!(ring.stats().in_flight, 0);
    assert_usable(&ring);
    drop(ring);
    fds.finish();
}
