//! TCP on loopback: accept, connect, recv, send, every cancel outcome.
//!
//! Each op is taken through the same cases: completed normally; cancelled while
//! nothing had arrived (`Cancelled`, the buffer back); cancelled after the kernel had
//! finished it but before the token was polled (`Completed`, nothing lost); abandoned
//! under `DropPolicy::Reclaim` (the ring releases what a late completion produced);
//! abandoned under `DropPolicy::Panic` (a panic naming the submit line). Every test
//! holds an [`FdCheck`] and ends with nothing in flight.

use std::cell::Cell;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::{Duration, Instant};

use futures_lite::future;
use linear_uring::buf::Empty;
use linear_uring::net::{TcpListener, TcpStream};
use linear_uring::{CancelOutcome, DropPolicy, Ring};

use crate::counted::CountedBuf;
use crate::fds::{self, FdCheck};

pub(crate) fn ring() -> Ring {
    Ring::builder()
        .drop_policy(DropPolicy::Panic)
        .build()
        .unwrap()
}

pub(crate) fn reclaim_ring() -> Ring {
    Ring::builder()
        .drop_policy(DropPolicy::Reclaim)
        .build()
        .unwrap()
}

fn listener(ring: &Ring) -> (TcpListener, SocketAddr) {
    let listener = TcpListener::bind(ring, "127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    (listener, addr)
}

/// Lets the kernel finish what it is doing (a connection arriving, a cancel) and the
/// ring reap it, without touching the ops under test.
pub(crate) async fn pause(ring: &Ring, ms: u64) {
    ring.sleep(Duration::from_millis(ms))
        .complete()
        .await
        .unwrap();
}

/// Reaps the completions of the cancels that abandoned ops submitted.
fn settle(ring: &Ring) {
    ring.block_on(pause(ring, 5));
}

/// Runs `f`, expecting a panic, and returns its message.
fn panic_message(f: impl FnOnce()) -> String {
    let payload = catch_unwind(AssertUnwindSafe(f)).expect_err("expected a panic");
    match payload.downcast::<String>() {
        Ok(msg) => *msg,
        Err(payload) => payload
            .downcast::<&str>()
            .map(|s| s.to_string())
            .unwrap_or_default(),
    }
}

fn assert_names_submit_line(msg: &str, op: &str, line: u32) {
    let place = format!("tests/it/net_tcp.rs:{line}:");
    assert!(msg.contains(&place), "message lacks {place}: {msg}");
    assert!(msg.contains(&format!("{op} operation")), "{msg}");
}

/// A socket that is bound to a loopback port but neither listening nor connected.
fn bound_socket() -> OwnedFd {
    // SAFETY: socket(2) takes no pointers.
    let raw = unsafe { libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0) };
    assert!(raw >= 0, "socket: {}", io::Error::last_os_error());
    // SAFETY: `raw` is a new descriptor that nothing else owns.
    let fd = unsafe { OwnedFd::from_raw_fd(raw) };
    // SAFETY: all-zero is a valid sockaddr_in (0.0.0.0:0); the fields are set below.
    let mut addr: libc::sockaddr_in = unsafe { std::mem::zeroed() };
    addr.sin_family = libc::AF_INET as libc::sa_family_t;
    addr.sin_addr.s_addr = u32::from(std::net::Ipv4Addr::LOCALHOST).to_be();
    // SAFETY: passes a live sockaddr_in and its exact size.
    let rc = unsafe {
        libc::bind(
            fd.as_raw_fd(),
            (&addr as *const libc::sockaddr_in).cast(),
            std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
        )
    };
    assert_eq!(rc, 0, "bind: {}", io::Error::last_os_error());
    fd
}

/// A listener whose accept queue is full, so that a new connect to it stays pending.
///
/// With a backlog of 0 the queue holds one connection; the kernel then drops every
/// new SYN (it checks `sk_acceptq_is_full` before anything else, syncookies or not),
/// and the connecting side retransmits only after a second. Returns the listener,
/// its address, and the client that fills the queue; keep all three alive.
fn full_listener() -> (std::net::TcpListener, SocketAddr, std::net::TcpStream) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    // SAFETY: listen(2) on a socket we own, integer arguments only.
    let rc = unsafe { libc::listen(listener.as_raw_fd(), 0) };
    assert_eq!(rc, 0, "listen: {}", io::Error::last_os_error());
    let filler = std::net::TcpStream::connect(addr).unwrap();
    (listener, addr, filler)
}

/// `len` bytes from a fixed-seed xorshift generator: reproducible, and unlike a
/// repeating pattern, a chunk echoed out of order or twice does not match.
pub(crate) fn pseudo_random(len: usize) -> Vec<u8> {
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 24) as u8
        })
        .collect()
}

/// Asserts that the peer of `client` closed the connection: a read sees end of file.
pub(crate) fn assert_peer_closed(client: &mut std::net::TcpStream) {
    client
        .set_read_timeout(Some(Duration::from_secs(1)))
        .unwrap();
    let mut byte = [0u8; 1];
    assert_eq!(
        client.read(&mut byte).unwrap(),
        0,
        "the server side is still open"
    );
}

// Accept, connect, recv and send completing normally.
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
        // Data is waiting: a 0-byte receive (a readiness wait) completes at once and
        // takes nothing.
        let (n, Empty) = server.recv(Empty).submit().complete().await;
        assert_eq!(n.unwrap(), 0, "a 0-byte receive receives nothing");
        let (n, buf) = server.recv(Vec::with_capacity(8)).submit().complete().await;
        assert_eq!(&buf[..n.unwrap()], b"ping");
        server
    });
    let mut std_server = server.into_std().unwrap();
    std_server.write_all(b"pong").unwrap();
    let mut reply = [0u8; 4];
    client.read_exact(&mut reply).unwrap();
    assert_eq!(&reply, b"pong");
    assert_eq!(ring.stats().in_flight, 0);
    drop((client, std_server, listener));
    drop(ring);
    fds.finish();
}

// ---------------------------------------------------------------------------------
// Accept

#[test]
fn tcp_accept_pending_when_client_connects_completes_with_stream() {
    let fds = FdCheck::start();
    let ring = ring();
    let (listener, addr) = listener(&ring);
    ring.block_on(async {
        let accept = listener.accept().submit();
        // The accept waits in the kernel before the client exists.
        pause(&ring, 5).await;
        let mut client = std::net::TcpStream::connect(addr).unwrap();
        let (stream, peer) = accept.complete().await.unwrap();
        assert_eq!(peer, client.local_addr().unwrap());
        stream.close().await.unwrap();
        assert_peer_closed(&mut client);
        listener.close().await.unwrap();
    });
    assert_eq!(ring.stats().in_flight, 0);
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
    assert_eq!(ring.stats().in_flight, 0);
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
        pause(&ring, 20).await;
        let outcome = accept.cancel().await;
        let (stream, peer) = outcome
            .completed()
            .expect("the connection was accepted")
            .unwrap();
        assert_eq!(peer, client.local_addr().unwrap());
        stream.close().await.unwrap();
    });
    assert_eq!(ring.stats().in_flight, 0);
    drop((listener, ring));
    fds.finish();
}

#[test]
fn tcp_accept_dropped_after_connection_arrived_reclaim_closes_accepted_fd() {
    let fds = FdCheck::start();
    let ring = reclaim_ring();
    let (listener, addr) = listener(&ring);
    let mut client = std::net::TcpStream::connect(addr).unwrap();
    ring.block_on(async {
        let accept = listener.accept().submit();
        // The kernel accepts and the ring reaps the completion: the table holds the
        // new descriptor, waiting for a token that will never come.
        pause(&ring, 20).await;
        assert_eq!(ring.stats().in_flight, 0, "the accept did not complete");
        drop(accept);
        // Released at the drop itself: nothing is left for the kernel to do.
        let stats = ring.stats();
        assert_eq!(stats.fds_closed, 1, "{stats:?}");
        assert_eq!(stats.abandoned, 1, "{stats:?}");
    });
    assert_peer_closed(&mut client);
    settle(&ring);
    assert_eq!(ring.stats().in_flight, 0);
    drop((client, listener, ring));
    fds.finish();
}

#[test]
fn tcp_accept_dropped_before_kernel_saw_it_reclaim_closes_late_accepted_fd() {
    let fds = FdCheck::start();
    let ring = reclaim_ring();
    let (listener, addr) = listener(&ring);
    let accept = listener.accept().submit();
    // The accept is in the submission queue, not yet in the kernel, when a client
    // arrives.
    let mut client = std::net::TcpStream::connect(addr).unwrap();
    // Dropping it queues an async cancel behind it, and the ring submits both at
    // once. The kernel runs the accept first (submission order), which takes the
    // connection, and the cancel behind it finds nothing to cancel: the completion
    // carries a descriptor, which the ring must close.
    drop(accept);
    assert_eq!(ring.stats().abandoned, 1);
    settle(&ring);
    let stats = ring.stats();
    assert_eq!(stats.in_flight, 0, "{stats:?}");
    assert_eq!(stats.fds_closed, 1, "{stats:?}");
    assert_eq!(stats.cancelled, 0, "{stats:?}");
    assert_eq!(stats.abandoned, 1, "{stats:?}");
    assert_peer_closed(&mut client);
    drop((client, listener, ring));
    fds.finish();
}

#[test]
fn tcp_accept_completed_in_kernel_then_dropped_before_reap_reclaim_closes_late_accepted_fd() {
    let fds = FdCheck::start();
    // Without `DEFER_TASKRUN`, the kernel finishes a woken op as soon as this thread
    // returns from any system call, so the accept below completes in the kernel
    // before its token is dropped and before the ring reaps it: the cancel finds
    // nothing, and the ring must close the descriptor the completion carries.
    let ring = Ring::builder()
        .drop_policy(DropPolicy::Reclaim)
        .fast_taskrun(false)
        .build()
        .unwrap();
    let (listener, addr) = listener(&ring);
    let mut client = ring.block_on(async {
        let accept = listener.accept().submit();
        // The accept waits in the kernel, and takes the client that arrives.
        pause(&ring, 1).await;
        let client = std::net::TcpStream::connect(addr).unwrap();
        // Any system call returning runs the accept's task work; this one also
        // leaves loopback time to finish the handshake first.
        std::thread::sleep(Duration::from_millis(5));
        // Then its token is dropped, before the ring reaped its completion.
        drop(accept);
        client
    });
    settle(&ring);
    let stats = ring.stats();
    assert_eq!(stats.in_flight, 0, "{stats:?}");
    assert_eq!(stats.cancelled, 0, "{stats:?}");
    assert_eq!(stats.fds_closed, 1, "{stats:?}");
    assert_peer_closed(&mut client);
    drop((client, listener, ring));
    fds.finish();
}

#[test]
fn tcp_accept_dropped_while_waiting_deferred_taskrun_is_cancelled_connection_kept() {
    let fds = FdCheck::start();
    let ring = reclaim_ring();
    if !format!("{ring:?}").contains("Deferred") {
        // Older kernels fall back to another mode, where the previous test applies.
        assert!(
            std::env::var_os("CI").is_none(),
            "no DEFER_TASKRUN: {ring:?}"
        );
        eprintln!("skipped: the ring has no DEFER_TASKRUN: {ring:?}");
        return;
    }
    let (listener, addr) = listener(&ring);
    ring.block_on(async {
        let accept = listener.accept().submit();
        pause(&ring, 1).await;
        drop(accept);
    });
    // The connection wakes the waiting accept, but with `DEFER_TASKRUN` the retry
    // runs only when the ring next enters the kernel to wait, and that same entry
    // first submits the cancel the drop queued. The cancel wins: the accept takes
    // nothing, and the connection stays in the listener's queue.
    let client = std::net::TcpStream::connect(addr).unwrap();
    settle(&ring);
    let stats = ring.stats();
    assert_eq!(stats.in_flight, 0, "{stats:?}");
    assert_eq!(stats.cancelled, 1, "{stats:?}");
    assert_eq!(stats.fds_closed, 0, "{stats:?}");
    // Not lost: the next accept takes it at once.
    ring.block_on(async {
        let accept = listener.accept().submit();
        pause(&ring, 5).await;
        let (stream, peer) = accept
            .cancel()
            .await
            .completed()
            .expect("the queued connection was not accepted")
            .unwrap();
        assert_eq!(peer, client.local_addr().unwrap());
        stream.close().await.unwrap();
    });
    assert_eq!(ring.stats().in_flight, 0);
    drop((client, listener, ring));
    fds.finish();
}

#[test]
fn tcp_accept_dropped_panic_policy_panics_with_submit_line() {
    let fds = FdCheck::start();
    let ring = ring();
    let (listener, _) = listener(&ring);
    let line = Cell::new(0);
    let msg = panic_message(|| {
        ring.block_on(async {
            let (accept, at) = (listener.accept().submit(), line!());
            line.set(at);
            pause(&ring, 1).await;
            drop(accept);
        })
    });
    assert_names_submit_line(&msg, "Accept", line.get());
    assert_eq!(ring.stats().abandoned, 1);
    settle(&ring);
    let stats = ring.stats();
    assert_eq!(stats.in_flight, 0, "{stats:?}");
    assert_eq!(stats.cancelled, 1, "{stats:?}");
    drop((listener, ring));
    fds.finish();
}

#[test]
fn tcp_accept_on_non_listening_socket_fails_with_einval() {
    let fds = FdCheck::start();
    let ring = ring();
    let std_listener = std::net::TcpListener::from(bound_socket());
    let listener = TcpListener::from_std(&ring, std_listener).unwrap();
    let result = ring.block_on(async { listener.accept().submit().complete().await });
    let err = result
        .map(drop)
        .expect_err("accepted on a socket that is not listening");
    assert_eq!(err.raw_os_error(), Some(libc::EINVAL), "{err}");
    assert_eq!(ring.stats().in_flight, 0);
    drop((listener, ring));
    fds.finish();
}

// ---------------------------------------------------------------------------------
// Recv

#[test]
fn tcp_recv_pending_when_data_arrives_completes_with_bytes() {
    let fds = FdCheck::start();
    let ring = ring();
    let (listener, addr) = listener(&ring);
    let mut client = std::net::TcpStream::connect(addr).unwrap();
    ring.block_on(async {
        let (server, _) = listener.accept().submit().complete().await.unwrap();
        let recv = server.recv(Vec::with_capacity(16)).submit();
        // The recv waits in the kernel before any byte exists.
        pause(&ring, 5).await;
        client.write_all(b"late bytes").unwrap();
        let (n, buf) = recv.complete().await;
        assert_eq!(n.unwrap(), 10);
        assert_eq!(buf, b"late bytes");
        server.close().await.unwrap();
    });
    assert_eq!(ring.stats().in_flight, 0);
    drop((client, listener, ring));
    fds.finish();
}

#[test]
fn tcp_recv_cancel_with_nothing_arrived_is_cancelled_with_buffer() {
    let fds = FdCheck::start();
    let ring = ring();
    let (listener, addr) = listener(&ring);
    let client = std::net::TcpStream::connect(addr).unwrap();
    ring.block_on(async {
        let (server, _) = listener.accept().submit().complete().await.unwrap();
        let buf = Vec::with_capacity(4096);
        let ptr = buf.as_ptr();
        let recv = server.recv(buf).submit();
        pause(&ring, 2).await;
        match recv.cancel().await {
            CancelOutcome::Cancelled(buf) => {
                assert_eq!(buf.as_ptr(), ptr, "not the same allocation");
                assert_eq!(buf.capacity(), 4096);
                assert!(buf.is_empty());
            }
            CancelOutcome::Completed((n, _)) => panic!("nothing was sent, yet {n:?}"),
        }
        server.close().await.unwrap();
    });
    assert_eq!(ring.stats().in_flight, 0);
    drop((client, listener, ring));
    fds.finish();
}

#[test]
fn tcp_recv_cancel_after_data_arrived_is_completed_with_bytes() {
    let fds = FdCheck::start();
    let ring = ring();
    let (listener, addr) = listener(&ring);
    let mut client = std::net::TcpStream::connect(addr).unwrap();
    ring.block_on(async {
        let (server, _) = listener.accept().submit().complete().await.unwrap();
        let recv = server.recv(Vec::with_capacity(64)).submit();
        pause(&ring, 2).await;
        client.write_all(b"do not lose me").unwrap();
        // Let the kernel complete the recv before we poll or cancel it.
        pause(&ring, 20).await;
        match recv.cancel().await {
            CancelOutcome::Completed((n, buf)) => {
                assert_eq!(n.unwrap(), 14);
                assert_eq!(buf, b"do not lose me");
            }
            CancelOutcome::Cancelled(_) => panic!("the received bytes were dropped"),
        }
        // And nothing was consumed twice or left behind: the stream carries on.
        client.write_all(b"next").unwrap();
        let (n, buf) = server
            .recv(Vec::with_capacity(64))
            .submit()
            .complete()
            .await;
        assert_eq!(&buf[..n.unwrap()], b"next");
        server.close().await.unwrap();
    });
    assert_eq!(ring.stats().in_flight, 0);
    drop((client, listener, ring));
    fds.finish();
}

#[test]
fn tcp_recv_dropped_reclaim_frees_buffer_after_completion() {
    let fds = FdCheck::start();
    let ring = reclaim_ring();
    let (listener, addr) = listener(&ring);
    let client = std::net::TcpStream::connect(addr).unwrap();
    ring.block_on(async {
        let (server, _) = listener.accept().submit().complete().await.unwrap();
        let (buf, drops) = CountedBuf::new(256);
        let recv = server.recv(buf).submit();
        pause(&ring, 2).await;
        drop(recv);
        // The kernel may still write into the buffer: the ring keeps it.
        assert_eq!(drops.get(), 0, "buffer freed while the recv was in flight");
        assert_eq!(ring.stats().in_flight, 1);
        pause(&ring, 5).await;
        assert_eq!(drops.get(), 1, "buffer not freed after the completion");
        let stats = ring.stats();
        assert_eq!(stats.abandoned, 1, "{stats:?}");
        assert_eq!(stats.cancelled, 1, "{stats:?}");
        server.close().await.unwrap();
    });
    assert_eq!(ring.stats().in_flight, 0);
    drop((client, listener, ring));
    fds.finish();
}

#[test]
fn tcp_recv_dropped_panic_policy_panics_with_submit_line() {
    let fds = FdCheck::start();
    let ring = ring();
    let (listener, addr) = listener(&ring);
    let client = std::net::TcpStream::connect(addr).unwrap();
    let server = ring.block_on(async { listener.accept().submit().complete().await.unwrap().0 });
    let line = Cell::new(0);
    let msg = panic_message(|| {
        ring.block_on(async {
            let (recv, at) = (server.recv(Vec::with_capacity(8)).submit(), line!());
            line.set(at);
            pause(&ring, 1).await;
            drop(recv);
        })
    });
    assert_names_submit_line(&msg, "Recv", line.get());
    settle(&ring);
    let stats = ring.stats();
    assert_eq!(stats.in_flight, 0, "{stats:?}");
    assert_eq!(stats.abandoned, 1, "{stats:?}");
    drop((server, client, listener, ring));
    fds.finish();
}

#[test]
fn tcp_recv_after_shutdown_returns_zero() {
    let fds = FdCheck::start();
    let ring = ring();
    let (listener, addr) = listener(&ring);
    let client = std::net::TcpStream::connect(addr).unwrap();
    ring.block_on(async {
        let (server, _) = listener.accept().submit().complete().await.unwrap();
        server
            .shutdown(Shutdown::Both)
            .submit()
            .complete()
            .await
            .unwrap();
        let (n, buf) = server
            .recv(Vec::with_capacity(32))
            .submit()
            .complete()
            .await;
        assert_eq!(n.unwrap(), 0, "end of stream after shutdown");
        assert_eq!(buf.capacity(), 32);
        server.close().await.unwrap();
    });
    assert_eq!(ring.stats().in_flight, 0);
    drop((client, listener, ring));
    fds.finish();
}

#[test]
fn tcp_recv_on_unconnected_socket_fails_with_enotconn() {
    let fds = FdCheck::start();
    let ring = ring();
    let std_stream = std::net::TcpStream::from(bound_socket());
    let stream = TcpStream::from_std(&ring, std_stream).unwrap();
    let buf = Vec::with_capacity(32);
    let ptr = buf.as_ptr();
    let (result, buf) = ring.block_on(async { stream.recv(buf).submit().complete().await });
    let err = result.expect_err("received on a socket that is not connected");
    assert_eq!(err.raw_os_error(), Some(libc::ENOTCONN), "{err}");
    // The buffer comes back after an error too.
    assert_eq!(buf.as_ptr(), ptr);
    assert_eq!(buf.capacity(), 32);
    assert_eq!(ring.stats().in_flight, 0);
    drop((stream, ring));
    fds.finish();
}

// ---------------------------------------------------------------------------------
// Connect

#[test]
fn tcp_connect_cancel_while_pending_is_cancelled_and_socket_closed() {
    let fds = FdCheck::start();
    let ring = ring();
    // A connect that stays pending: see `full_listener`. A routable address that
    // never answers would also do, but depends on the network; loopback does not.
    let (std_listener, addr, filler) = full_listener();
    let before = fds::count();
    let outcome = ring.block_on(async {
        let connect = TcpStream::connect(&ring, addr).unwrap().submit();
        // Still pending after 50 ms, or the outcome below is `Completed`.
        pause(&ring, 50).await;
        assert_eq!(fds::count(), before + 1, "the op owns one socket");
        let start = Instant::now();
        let outcome = connect.cancel().await;
        let took = start.elapsed();
        assert!(took < Duration::from_secs(1), "the cancel took {took:?}");
        outcome
    });
    match outcome {
        CancelOutcome::Cancelled(()) => {}
        CancelOutcome::Completed(result) => {
            panic!("the connect was not pending: {:?}", result.map(drop))
        }
    }
    assert_eq!(fds::count(), before, "the connect's socket is still open");
    assert_eq!(ring.stats().in_flight, 0);
    drop((std_listener, filler, ring));
    fds.finish();
}

#[test]
fn tcp_connect_cancel_after_connected_is_completed_with_stream() {
    let fds = FdCheck::start();
    let ring = ring();
    let (listener, addr) = listener(&ring);
    ring.block_on(async {
        let connect = TcpStream::connect(&ring, addr).unwrap().submit();
        // Let the kernel complete the connect before we poll or cancel it.
        pause(&ring, 20).await;
        let client = match connect.cancel().await {
            CancelOutcome::Completed(result) => result.unwrap(),
            CancelOutcome::Cancelled(()) => panic!("the established connection was dropped"),
        };
        // It is the real connection: the server side sees its bytes.
        let (server, peer) = listener.accept().submit().complete().await.unwrap();
        assert_eq!(peer, client.local_addr().unwrap());
        let (sent, _) = client.send(&b"ok"[..]).submit().complete().await;
        assert_eq!(sent.unwrap(), 2);
        let (n, buf) = server.recv(Vec::with_capacity(8)).submit().complete().await;
        assert_eq!(&buf[..n.unwrap()], b"ok");
        client.close().await.unwrap();
        server.close().await.unwrap();
    });
    assert_eq!(ring.stats().in_flight, 0);
    drop((listener, ring));
    fds.finish();
}

#[test]
fn tcp_connect_dropped_while_pending_reclaim_closes_socket() {
    let fds = FdCheck::start();
    let ring = reclaim_ring();
    let (std_listener, addr, filler) = full_listener();
    let before = fds::count();
    ring.block_on(async {
        let connect = TcpStream::connect(&ring, addr).unwrap().submit();
        pause(&ring, 2).await;
        drop(connect);
        // The kernel still holds the socket: the ring keeps it open until the
        // cancelled completion comes back.
        assert_eq!(fds::count(), before + 1);
        assert_eq!(ring.stats().fds_closed, 0);
        pause(&ring, 5).await;
    });
    let stats = ring.stats();
    assert_eq!(stats.in_flight, 0, "{stats:?}");
    assert_eq!(stats.cancelled, 1, "{stats:?}");
    assert_eq!(stats.fds_closed, 1, "{stats:?}");
    assert_eq!(fds::count(), before, "the connect's socket is still open");
    drop((std_listener, filler, ring));
    fds.finish();
}

#[test]
fn tcp_connect_dropped_after_connected_reclaim_closes_stream() {
    let fds = FdCheck::start();
    let ring = reclaim_ring();
    let std_listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = std_listener.local_addr().unwrap();
    ring.block_on(async {
        let connect = TcpStream::connect(&ring, addr).unwrap().submit();
        pause(&ring, 20).await;
        assert_eq!(ring.stats().in_flight, 0, "the connect did not complete");
        drop(connect);
    });
    let stats = ring.stats();
    assert_eq!(stats.fds_closed, 1, "{stats:?}");
    assert_eq!(stats.abandoned, 1, "{stats:?}");
    // The connection was established, then closed by the ring: the server side
    // accepts it and reads end of file.
    let (mut server, _) = std_listener.accept().unwrap();
    assert_peer_closed(&mut server);
    assert_eq!(ring.stats().in_flight, 0);
    drop((server, std_listener, ring));
    fds.finish();
}

#[test]
fn tcp_connect_dropped_panic_policy_panics_with_submit_line() {
    let fds = FdCheck::start();
    let ring = ring();
    let (std_listener, addr, filler) = full_listener();
    let line = Cell::new(0);
    let msg = panic_message(|| {
        ring.block_on(async {
            let (connect, at) = (TcpStream::connect(&ring, addr).unwrap().submit(), line!());
            line.set(at);
            pause(&ring, 1).await;
            drop(connect);
        })
    });
    assert_names_submit_line(&msg, "Connect", line.get());
    settle(&ring);
    let stats = ring.stats();
    assert_eq!(stats.in_flight, 0, "{stats:?}");
    assert_eq!(stats.abandoned, 1, "{stats:?}");
    assert_eq!(stats.fds_closed, 1, "{stats:?}");
    drop((std_listener, filler, ring));
    fds.finish();
}

#[test]
fn tcp_connect_to_closed_port_fails_with_econnrefused() {
    let fds = FdCheck::start();
    let ring = ring();
    let addr = {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        probe.local_addr().unwrap()
    };
    let result = ring.block_on(async {
        TcpStream::connect(&ring, addr)
            .unwrap()
            .submit()
            .complete()
            .await
    });
    let err = result.map(drop).expect_err("connected to a closed port");
    assert_eq!(err.raw_os_error(), Some(libc::ECONNREFUSED), "{err}");
    assert_eq!(ring.stats().in_flight, 0);
    drop(ring);
    fds.finish();
}

// ---------------------------------------------------------------------------------
// Send

#[test]
fn tcp_send_all_one_mib_through_echo_task_is_byte_exact() {
    const LEN: usize = 1 << 20;
    let fds = FdCheck::start();
    let ring = ring();
    let (listener, addr) = listener(&ring);
    let payload = pseudo_random(LEN);
    let received = ring.block_on(async {
        let echo = ring.spawn(async move {
            let (stream, _) = listener.accept().submit().complete().await?;
            let mut buf = Vec::with_capacity(64 * 1024);
            let mut echoed = 0;
            loop {
                // A recv appends after the buffer's bytes: clear it so that `len()`
                // is what this recv received.
                buf.clear();
                let (n, back) = stream.recv(buf).submit().complete().await;
                buf = back;
                if n? == 0 {
                    break;
                }
                let (sent, back) = stream.send_all(buf).await;
                buf = back;
                sent?;
                echoed += buf.len();
            }
            stream.close().await?;
            listener.close().await?;
            io::Result::Ok(echoed)
        });

        let client = TcpStream::connect(&ring, addr)
            .unwrap()
            .submit()
            .complete()
            .await
            .unwrap();
        // Send and receive at once: the echo fills the socket buffers long before
        // 1 MiB is through, so sending everything first would deadlock.
        let send = async {
            let (sent, _) = client.send_all(payload.clone()).await;
            sent.unwrap();
            client
                .shutdown(Shutdown::Write)
                .submit()
                .complete()
                .await
                .unwrap();
        };
        let receive = async {
            let mut received = Vec::with_capacity(LEN);
            let mut buf = Vec::with_capacity(64 * 1024);
            loop {
                buf.clear();
                let (n, back) = client.recv(buf).submit().complete().await;
                buf = back;
                match n.unwrap() {
                    0 => break received,
                    n => received.extend_from_slice(&buf[..n]),
                }
            }
        };
        let ((), received) = future::zip(send, receive).await;
        assert_eq!(echo.await.unwrap(), LEN);
        client.close().await.unwrap();
        received
    });
    assert_eq!(received.len(), LEN);
    if let Some(at) = received.iter().zip(&payload).position(|(a, b)| a != b) {
        panic!("echoed bytes differ from byte {at} on");
    }
    assert_eq!(ring.stats().in_flight, 0);
    drop(ring);
    fds.finish();
}
