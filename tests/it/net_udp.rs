//! UDP on loopback (send_to/recv_from, connected send/recv, cancel outcomes, errors),
//! and the Socket op.

use std::net::SocketAddr;
use std::os::fd::{AsRawFd, OwnedFd};
use std::time::Duration;

use linear_uring::net::UdpSocket;
use linear_uring::op::Socket;
use linear_uring::{CancelOutcome, DropPolicy, Ring};

use crate::fds::FdCheck;

fn ring() -> Ring {
    Ring::builder()
        .drop_policy(DropPolicy::Panic)
        .build()
        .unwrap()
}

fn bound(ring: &Ring) -> (UdpSocket, SocketAddr) {
    let socket = UdpSocket::bind(ring, "127.0.0.1:0").unwrap();
    let addr = socket.local_addr().unwrap();
    (socket, addr)
}

#[test]
fn udp_send_to_recv_from_round_trip_reports_sender() {
    let fds = FdCheck::start();
    let ring = ring();
    let (a, a_addr) = bound(&ring);
    let (b, b_addr) = bound(&ring);
    ring.block_on(async {
        let recv = b.recv_from(Vec::with_capacity(64)).submit();
        let (sent, back) = a
            .send_to(&b"datagram"[..], b_addr)
            .submit()
            .complete()
            .await;
        assert_eq!(sent.unwrap(), 8);
        assert_eq!(back, b"datagram");
        let (received, buf) = recv.complete().await;
        let (n, from) = received.unwrap();
        assert_eq!(n, 8);
        assert_eq!(from, a_addr);
        assert_eq!(buf, b"datagram");

        // And back the other way, into a buffer that already holds bytes: the
        // datagram is appended after them.
        let (sent, _) = b.send_to(vec![7u8; 3], from).submit().complete().await;
        assert_eq!(sent.unwrap(), 3);
        let mut buf = Vec::with_capacity(16);
        buf.extend_from_slice(b"xx");
        let (received, buf) = a.recv_from(buf).submit().complete().await;
        assert_eq!(received.unwrap(), (3, b_addr));
        assert_eq!(buf, [b'x', b'x', 7, 7, 7]);

        a.close().await.unwrap();
        b.close().await.unwrap();
    });
    assert_eq!(ring.stats().in_flight, 0);
    drop(ring);
    fds.finish();
}

#[test]
fn udp_connected_send_recv_round_trip() {
    let fds = FdCheck::start();
    let ring = ring();
    let (a, a_addr) = bound(&ring);
    let (b, b_addr) = bound(&ring);
    assert_eq!(
        a.peer_addr().unwrap_err().raw_os_error(),
        Some(libc::ENOTCONN)
    );
    a.connect(b_addr).unwrap();
    b.connect(a_addr).unwrap();
    assert_eq!(a.peer_addr().unwrap(), b_addr);
    assert_eq!(b.peer_addr().unwrap(), a_addr);
    ring.block_on(async {
        let (sent, _) = a.send(&b"hello"[..]).submit().complete().await;
        assert_eq!(sent.unwrap(), 5);
        let (n, buf) = b.recv(Vec::with_capacity(16)).submit().complete().await;
        assert_eq!(n.unwrap(), 5);
        assert_eq!(buf, b"hello");

        let (sent, _) = b.send(&b"world!"[..]).submit().complete().await;
        assert_eq!(sent.unwrap(), 6);
        let (n, buf) = a.recv(Vec::with_capacity(16)).submit().complete().await;
        assert_eq!(n.unwrap(), 6);
        assert_eq!(buf, b"world!");
    });
    drop((a, b, ring));
    fds.finish();
}

#[test]
fn udp_send_on_unconnected_socket_fails_with_edestaddrreq() {
    let fds = FdCheck::start();
    let ring = ring();
    let (a, _) = bound(&ring);
    let (sent, buf) = ring.block_on(async { a.send(&b"nowhere"[..]).submit().complete().await });
    assert_eq!(sent.unwrap_err().raw_os_error(), Some(libc::EDESTADDRREQ));
    assert_eq!(buf, b"nowhere");
    drop((a, ring));
    fds.finish();
}

#[test]
fn udp_recv_from_cancel_with_nothing_arrived_is_cancelled_with_buffer() {
    let fds = FdCheck::start();
    let ring = ring();
    let (socket, _) = bound(&ring);
    let outcome = ring.block_on(async {
        socket
            .recv_from(Vec::with_capacity(256))
            .submit()
            .cancel()
            .await
    });
    match outcome {
        CancelOutcome::Cancelled(buf) => {
            assert_eq!(buf.capacity(), 256);
            assert!(buf.is_empty(), "nothing was received: {buf:?}");
        }
        CancelOutcome::Completed(output) => panic!("nothing was sent, yet: {output:?}"),
    }
    assert_eq!(ring.stats().in_flight, 0);
    drop((socket, ring));
    fds.finish();
}

#[test]
fn udp_recv_from_cancel_after_datagram_arrived_is_completed_with_bytes_and_sender() {
    let fds = FdCheck::start();
    let ring = ring();
    let (socket, addr) = bound(&ring);
    let sender = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    ring.block_on(async {
        let recv = socket.recv_from(Vec::with_capacity(64)).submit();
        sender.send_to(b"arrived", addr).unwrap();
        // Let the kernel complete the receive before we poll or cancel it.
        ring.sleep(Duration::from_millis(20))
            .complete()
            .await
            .unwrap();
        let (received, buf) = recv
            .cancel()
            .await
            .completed()
            .expect("the datagram had arrived before the cancel");
        let (n, from) = received.unwrap();
        assert_eq!(&buf[..n], b"arrived");
        assert_eq!(from, sender.local_addr().unwrap());
    });
    drop((socket, sender, ring));
    fds.finish();
}

#[test]
fn udp_send_to_ipv6_on_ipv4_socket_fails_with_errno_and_buffer_back() {
    let fds = FdCheck::start();
    let ring = ring();
    let (socket, _) = bound(&ring);
    let to: SocketAddr = "[::1]:9".parse().unwrap();
    let (sent, buf) = ring.block_on(async {
        socket
            .send_to(vec![1u8, 2, 3], to)
            .submit()
            .complete()
            .await
    });
    let err = sent.unwrap_err();
    assert_eq!(err.raw_os_error(), Some(libc::EAFNOSUPPORT), "{err}");
    assert_eq!(buf, [1, 2, 3]);
    drop((socket, ring));
    fds.finish();
}

#[test]
fn udp_from_std_into_std_interoperates() {
    let fds = FdCheck::start();
    let ring = ring();
    let std_socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    std_socket.set_nonblocking(true).unwrap();
    let addr = std_socket.local_addr().unwrap();
    let socket = UdpSocket::from_std(&ring, std_socket).unwrap();
    let peer = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    ring.block_on(async {
        // from_std made the socket blocking: the receive waits instead of failing
        // with EAGAIN.
        let recv = socket.recv_from(Vec::with_capacity(8)).submit();
        peer.send_to(b"late", addr).unwrap();
        let (received, buf) = recv.complete().await;
        assert_eq!(received.unwrap(), (4, peer.local_addr().unwrap()));
        assert_eq!(buf, b"late");
    });
    let std_socket = socket.into_std().unwrap();
    std_socket
        .send_to(b"std", peer.local_addr().unwrap())
        .unwrap();
    let mut reply = [0u8; 8];
    let (n, from) = peer.recv_from(&mut reply).unwrap();
    assert_eq!((&reply[..n], from), (&b"std"[..], addr));
    drop((std_socket, peer, ring));
    fds.finish();
}

/// `getsockopt(fd, SOL_SOCKET, option)` as an int.
fn sockopt(fd: &OwnedFd, option: libc::c_int) -> libc::c_int {
    let mut value: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: passes a live c_int and its size; the kernel writes at most `len` bytes.
    let rc = unsafe {
        libc::getsockopt(
            fd.as_raw_fd(),
            libc::SOL_SOCKET,
            option,
            (&mut value as *mut libc::c_int).cast(),
            &mut len,
        )
    };
    assert_eq!(rc, 0, "getsockopt: {}", std::io::Error::last_os_error());
    value
}

#[test]
fn socket_op_tcp_is_a_valid_close_on_exec_descriptor() {
    let fds = FdCheck::start();
    let before = crate::fds::count();
    let ring = ring();
    let fd = ring
        .block_on(async {
            Socket::new(&ring, libc::AF_INET, libc::SOCK_STREAM, 0)
                .submit()
                .complete()
                .await
        })
        .unwrap();
    assert_eq!(sockopt(&fd, libc::SO_DOMAIN), libc::AF_INET);
    assert_eq!(sockopt(&fd, libc::SO_TYPE), libc::SOCK_STREAM);
    // SAFETY: fcntl(2) with integer arguments on a descriptor we own.
    let flags = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GETFD) };
    assert!(flags >= 0 && flags & libc::FD_CLOEXEC != 0, "flags {flags}");
    assert_eq!(crate::fds::count(), before + 1, "exactly one new socket");
    drop((fd, ring));
    fds.finish();
}

#[test]
fn socket_op_bad_domain_fails_with_errno() {
    let fds = FdCheck::start();
    let ring = ring();
    let err = ring
        .block_on(async {
            Socket::new(&ring, -1, libc::SOCK_STREAM, 0)
                .submit()
                .complete()
                .await
        })
        .unwrap_err();
    assert_eq!(err.raw_os_error(), Some(libc::EAFNOSUPPORT), "{err}");
    drop(ring);
    fds.finish();
}

#[test]
fn socket_op_abandoned_under_reclaim_closes_fd_and_counts_it() {
    let fds = FdCheck::start();
    let before = crate::fds::count();
    let ring = Ring::builder()
        .drop_policy(DropPolicy::Reclaim)
        .build()
        .unwrap();
    ring.block_on(async {
        let op = Socket::new(&ring, libc::AF_INET, libc::SOCK_STREAM, 0).submit();
        drop(op);
        // Settle: the socket op and its cancel reach the kernel, and the completion
        // is reaped and released.
        ring.sleep(Duration::from_millis(20))
            .complete()
            .await
            .unwrap();
    });
    let stats = ring.stats();
    assert_eq!(stats.abandoned, 1);
    assert_eq!(stats.fds_closed, 1, "{stats:?}");
    assert_eq!(stats.in_flight, 0);
    // Closed already, not only at the ring's shutdown.
    assert_eq!(crate::fds::count(), before);
    drop(ring);
    fds.finish();
}
