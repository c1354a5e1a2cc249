//! Unix-domain stream sockets: listener, connect, pair, cancel outcomes, errors.

use std::io::{Read, Write};
use std::net::Shutdown;
use std::os::fd::{FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use linear_uring::net::{UnixListener, UnixStream};
use linear_uring::{DropPolicy, Ring};

use crate::fds::FdCheck;

fn ring() -> Ring {
    Ring::builder()
        .drop_policy(DropPolicy::Panic)
        .build()
        .unwrap()
}

/// A socket path in the temp dir, unique to this process and test, removed on drop.
struct TempPath(PathBuf);

impl TempPath {
    fn new(name: &str) -> TempPath {
        let path =
            std::env::temp_dir().join(format!("linear-uring-{}-{name}.sock", std::process::id()));
        // A leftover from a crashed run with the same pid would make bind fail.
        let _ = std::fs::remove_file(&path);
        TempPath(path)
    }
}

impl Drop for TempPath {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

impl AsRef<Path> for TempPath {
    fn as_ref(&self) -> &Path {
        &self.0
    }
}

#[test]
fn unix_listener_accept_connect_send_recv_round_trip() {
    let fds = FdCheck::start();
    let path = TempPath::new("round-trip");
    let ring = ring();
    let listener = UnixListener::bind(&ring, &path).unwrap();
    assert_eq!(
        listener.local_addr().unwrap().as_pathname(),
        Some(path.as_ref())
    );
    ring.block_on(async {
        let connect = UnixStream::connect(&ring, &path).unwrap().submit();
        let (server, peer) = listener.accept().submit().complete().await.unwrap();
        let client = connect.complete().await.unwrap();
        assert!(peer.is_unnamed(), "the client did not bind: {peer:?}");
        assert!(server.peer_addr().unwrap().is_unnamed());
        assert_eq!(
            client.peer_addr().unwrap().as_pathname(),
            Some(path.as_ref())
        );

        let (sent, _) = client.send_all(&b"hello over unix"[..]).await;
        sent.unwrap();
        client
            .shutdown(Shutdown::Write)
            .submit()
            .complete()
            .await
            .unwrap();
        let mut received = Vec::new();
        loop {
            let (n, buf) = server.recv(Vec::with_capacity(4)).submit().complete().await;
            if n.unwrap() == 0 {
                break;
            }
            received.extend_from_slice(&buf);
        }
        assert_eq!(received, b"hello over unix");

        client.close().await.unwrap();
        server.close().await.unwrap();
        listener.close().await.unwrap();
    });
    assert_eq!(ring.stats().in_flight, 0);
    drop(ring);
    fds.finish();
}

/// A client socket bound to `client_path` and connected to `server_path`, made with
/// plain system calls (`std` cannot bind a client stream).
fn bound_client(client_path: &Path, server_path: &Path) -> std::os::unix::net::UnixStream {
    fn sockaddr_un(path: &Path) -> (libc::sockaddr_un, libc::socklen_t) {
        // SAFETY: sockaddr_un is plain old data; all zeroes is valid.
        let mut sun: libc::sockaddr_un = unsafe { std::mem::zeroed() };
        sun.sun_family = libc::AF_UNIX as libc::sa_family_t;
        let bytes = path.as_os_str().as_bytes();
        assert!(bytes.len() < sun.sun_path.len(), "temp path too long");
        for (dst, &src) in sun.sun_path.iter_mut().zip(bytes) {
            *dst = src as libc::c_char;
        }
        let len = std::mem::offset_of!(libc::sockaddr_un, sun_path) + bytes.len() + 1;
        (sun, len as libc::socklen_t)
    }
    // SAFETY: socket(2) takes no pointers.
    let raw = unsafe { libc::socket(libc::AF_UNIX, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0) };
    assert!(raw >= 0, "socket: {}", std::io::Error::last_os_error());
    // SAFETY: `raw` is a new descriptor nobody else owns.
    let fd = unsafe { OwnedFd::from_raw_fd(raw) };
    let (local, local_len) = sockaddr_un(client_path);
    // SAFETY: passes a live sockaddr_un and its length.
    let rc = unsafe { libc::bind(raw, (&local as *const libc::sockaddr_un).cast(), local_len) };
    assert_eq!(rc, 0, "bind: {}", std::io::Error::last_os_error());
    let (peer, peer_len) = sockaddr_un(server_path);
    // SAFETY: as above.
    let rc = unsafe { libc::connect(raw, (&peer as *const libc::sockaddr_un).cast(), peer_len) };
    assert_eq!(rc, 0, "connect: {}", std::io::Error::last_os_error());
    std::os::unix::net::UnixStream::from(fd)
}

#[test]
fn unix_accept_from_bound_client_reports_its_path() {
    let fds = FdCheck::start();
    let server_path = TempPath::new("named-server");
    let client_path = TempPath::new("named-client");
    let ring = ring();
    let listener = UnixListener::bind(&ring, &server_path).unwrap();
    let client = bound_client(client_path.as_ref(), server_path.as_ref());
    ring.block_on(async {
        let (server, peer) = listener.accept().submit().complete().await.unwrap();
        assert_eq!(peer.as_pathname(), Some(client_path.as_ref()));
        assert_eq!(
            server.local_addr().unwrap().as_pathname(),
            Some(server_path.as_ref())
        );
        server.close().await.unwrap();
    });
    drop((client, listener, ring));
    fds.finish();
}

#[test]
fn unix_accept_cancel_with_nothing_pending_is_cancelled() {
    let fds = FdCheck::start();
    let path = TempPath::new("cancel-nothing");
    let ring = ring();
    let listener = UnixListener::bind(&ring, &path).unwrap();
    let outcome = ring.block_on(async { listener.accept().submit().cancel().await });
    assert!(outcome.is_cancelled(), "{outcome:?}");
    assert_eq!(ring.stats().in_flight, 0);
    drop((listener, ring));
    fds.finish();
}

#[test]
fn unix_accept_cancel_after_connection_arrived_is_completed_with_stream() {
    let fds = FdCheck::start();
    let path = TempPath::new("cancel-arrived");
    let ring = ring();
    let listener = UnixListener::bind(&ring, &path).unwrap();
    ring.block_on(async {
        let accept = listener.accept().submit();
        let mut client = std::os::unix::net::UnixStream::connect(&path).unwrap();
        // Let the kernel complete the accept before we poll or cancel it.
        ring.sleep(Duration::from_millis(20))
            .complete()
            .await
            .unwrap();
        let (stream, peer) = accept
            .cancel()
            .await
            .completed()
            .expect("the connection was accepted before the cancel")
            .unwrap();
        assert!(peer.is_unnamed(), "{peer:?}");
        // It is the client's connection, and it works.
        client.write_all(b"kept").unwrap();
        let (n, buf) = stream.recv(Vec::with_capacity(8)).submit().complete().await;
        assert_eq!(&buf[..n.unwrap()], b"kept");
        stream.close().await.unwrap();
    });
    drop((listener, ring));
    fds.finish();
}

#[test]
fn unix_pair_round_trip() {
    let fds = FdCheck::start();
    let ring = ring();
    let (a, b) = UnixStream::pair(&ring).unwrap();
    assert!(a.peer_addr().unwrap().is_unnamed());
    ring.block_on(async {
        let recv = b.recv(Vec::with_capacity(16)).submit();
        let (sent, _) = a.send(&b"paired"[..]).submit().complete().await;
        assert_eq!(sent.unwrap(), 6);
        let (n, buf) = recv.complete().await;
        assert_eq!(n.unwrap(), 6);
        assert_eq!(buf, b"paired");

        b.close().await.unwrap();
        // The peer is gone: MSG_NOSIGNAL turns SIGPIPE into EPIPE.
        let (sent, buf) = a.send(&b"lost"[..]).submit().complete().await;
        assert_eq!(sent.unwrap_err().raw_os_error(), Some(libc::EPIPE));
        assert_eq!(buf, b"lost");
        a.close().await.unwrap();
    });
    drop(ring);
    fds.finish();
}

#[test]
fn unix_stream_from_std_into_std_interoperates() {
    let fds = FdCheck::start();
    let ring = ring();
    let (std_a, mut std_b) = std::os::unix::net::UnixStream::pair().unwrap();
    std_a.set_nonblocking(true).unwrap();
    let a = UnixStream::from_std(&ring, std_a).unwrap();
    let back = ring.block_on(async {
        // from_std made it blocking: the receive waits instead of failing with
        // EAGAIN.
        let recv = a.recv(Vec::with_capacity(8)).submit();
        std_b.write_all(b"to ring").unwrap();
        let (n, buf) = recv.complete().await;
        assert_eq!(&buf[..n.unwrap()], b"to ring");
        a
    });
    let mut std_a = back.into_std().unwrap();
    std_a.write_all(b"to std").unwrap();
    let mut reply = [0u8; 6];
    std_b.read_exact(&mut reply).unwrap();
    assert_eq!(&reply, b"to std");
    drop((std_a, std_b, ring));
    fds.finish();
}

#[test]
fn unix_connect_missing_path_fails_with_enoent() {
    let fds = FdCheck::start();
    let path = TempPath::new("missing");
    let ring = ring();
    let result = ring.block_on(async {
        UnixStream::connect(&ring, &path)
            .unwrap()
            .submit()
            .complete()
            .await
    });
    let err = result.unwrap_err();
    assert_eq!(err.raw_os_error(), Some(libc::ENOENT), "{err}");
    drop(ring);
    fds.finish();
}

#[test]
fn unix_connect_overlong_path_is_invalid_input() {
    let fds = FdCheck::start();
    let ring = ring();
    let path = std::env::temp_dir().join("x".repeat(200));
    let err = UnixStream::connect(&ring, &path).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput, "{err}");
    drop(ring);
    fds.finish();
}
