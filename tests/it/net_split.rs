//! Owned halves of TCP and Unix streams: both directions at once from two tasks,
//! reuniting, and when the descriptor the halves share is closed.
//!
//! The descriptor must close exactly once, when the last half and the last op on it
//! are gone: never while a half or an abandoned op still holds it (the peer would
//! see end of stream, and the number could be reused under the op), and never twice.
//! Each test holds an [`FdCheck`] and counts the process's sockets at each step.

use std::io::{self, Read, Write};
use std::os::fd::AsRawFd;
use std::time::Duration;

use futures_lite::future;
use linear_uring::net::{ReadHalf, Stream, TcpListener, TcpStream, UnixStream, WriteHalf};
use linear_uring::Ring;

use crate::counted::CountedBuf;
use crate::fds::{self, FdCheck};
use crate::net_tcp::{assert_peer_closed, pause, pseudo_random, reclaim_ring, ring};

/// A TCP connection on loopback: the server end on the ring, the client end a
/// blocking `std` stream (whose reads can time out, to see that no end of stream
/// came).
fn tcp_with_std_peer(ring: &Ring) -> (TcpStream, std::net::TcpStream) {
    let listener = TcpListener::bind(ring, "127.0.0.1:0").unwrap();
    let client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let server = ring.block_on(async {
        let (server, _) = listener.accept().submit().complete().await.unwrap();
        listener.close().await.unwrap();
        server
    });
    (server, client)
}

/// A TCP connection on loopback with both ends on the ring, their socket buffers
/// capped at 64 KiB (see [`small_buffers`]).
fn tcp_pair(ring: &Ring) -> (TcpStream, TcpStream) {
    let listener = TcpListener::bind(ring, "127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    ring.block_on(async {
        let connect = TcpStream::connect(ring, addr).unwrap().submit();
        let (server, _) = listener.accept().submit().complete().await.unwrap();
        let client = connect.complete().await.unwrap();
        listener.close().await.unwrap();
        small_buffers(&server);
        small_buffers(&client);
        (server, client)
    })
}

/// Caps a socket's send and receive buffers at 64 KiB (the kernel doubles the
/// value for its bookkeeping). TCP on loopback otherwise grows them to megabytes,
/// enough to swallow a whole payload, which would let an exchange finish with each
/// end sending everything before it receives anything.
fn small_buffers(socket: &impl AsRawFd) {
    let size: libc::c_int = 64 * 1024;
    for option in [libc::SO_SNDBUF, libc::SO_RCVBUF] {
        // SAFETY: passes a live c_int and its size, on a socket that `socket` owns.
        let rc = unsafe {
            libc::setsockopt(
                socket.as_raw_fd(),
                libc::SOL_SOCKET,
                option,
                (&size as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        assert_eq!(rc, 0, "setsockopt: {}", io::Error::last_os_error());
    }
}

/// Asserts that the peer of `client` has not closed or shut down: a read times out.
fn assert_peer_open(client: &mut std::net::TcpStream) {
    client
        .set_read_timeout(Some(Duration::from_millis(50)))
        .unwrap();
    let mut byte = [0u8; 1];
    match client.read(&mut byte) {
        Err(e)
            if matches!(
                e.kind(),
                io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
            ) => {}
        other => panic!("the peer is not open and silent: {other:?}"),
    }
}

/// Sends all of `payload` with send ops of at most 64 KiB, resending what the kernel
/// did not take, then shuts the sending direction down.
async fn send_then_shutdown<S: Stream>(write: &WriteHalf<S>, payload: &[u8]) {
    for chunk in payload.chunks(64 * 1024) {
        let mut buf = chunk.to_vec();
        while !buf.is_empty() {
            let (sent, back) = write.send(buf).submit().complete().await;
            buf = back;
            let n = sent.unwrap();
            assert!(n > 0, "the kernel took nothing");
            buf.drain(..n);
        }
    }
    write.shutdown().submit().complete().await.unwrap();
}

/// Receives until end of stream.
async fn receive_to_end<S: Stream>(read: &ReadHalf<S>) -> Vec<u8> {
    let mut received = Vec::new();
    let mut buf = Vec::with_capacity(64 * 1024);
    loop {
        buf.clear();
        let (n, back) = read.recv(buf).submit().complete().await;
        buf = back;
        match n.unwrap() {
            0 => return received,
            n => received.extend_from_slice(&buf[..n]),
        }
    }
}

/// The two halves of one stream.
type Halves<S> = (ReadHalf<S>, WriteHalf<S>);

/// Exchanges 1 MiB each way between two split streams connected to each other, in
/// four tasks: each end sends while it receives, and what arrives must be exactly
/// what the other end sent. Each payload is larger than the socket buffers, so
/// unless each end's halves run at once, both ends block in a send and the
/// exchange never finishes: after 20 s, it panics. Returns the halves.
async fn exchange<S: Stream>(ring: &Ring, a: Halves<S>, b: Halves<S>) -> (Halves<S>, Halves<S>) {
    const LEN: usize = 1 << 20;
    // Two different byte sequences: a chunk that went the wrong way is caught.
    let mut a_to_b = pseudo_random(2 * LEN);
    let b_to_a = a_to_b.split_off(LEN);
    let deadline = async {
        pause(ring, 20_000).await;
        panic!("the exchange is stuck: the halves of an end did not run at once");
    };
    let exchanged = exchange_in_tasks(ring, a, b, a_to_b.clone(), b_to_a.clone());
    let ((at_a, a), (at_b, b)) = future::or(exchanged, deadline).await;
    assert_same_bytes(&at_b, &a_to_b, "a to b");
    assert_same_bytes(&at_a, &b_to_a, "b to a");
    (a, b)
}

/// What [`exchange`] runs; each end gives back what it received, and its halves.
async fn exchange_in_tasks<S: Stream>(
    ring: &Ring,
    (a_read, a_write): Halves<S>,
    (b_read, b_write): Halves<S>,
    a_to_b: Vec<u8>,
    b_to_a: Vec<u8>,
) -> ((Vec<u8>, Halves<S>), (Vec<u8>, Halves<S>)) {
    let a_sends = ring.spawn(async move {
        send_then_shutdown(&a_write, &a_to_b).await;
        a_write
    });
    let b_sends = ring.spawn(async move {
        send_then_shutdown(&b_write, &b_to_a).await;
        b_write
    });
    let a_receives = ring.spawn(async move { (receive_to_end(&a_read).await, a_read) });
    let b_receives = ring.spawn(async move { (receive_to_end(&b_read).await, b_read) });
    let (at_a, a_read) = a_receives.await;
    let (at_b, b_read) = b_receives.await;
    let (a_write, b_write) = (a_sends.await, b_sends.await);
    ((at_a, (a_read, a_write)), (at_b, (b_read, b_write)))
}

fn assert_same_bytes(received: &[u8], sent: &[u8], what: &str) {
    assert_eq!(received.len(), sent.len(), "{what}: length");
    if let Some(at) = received.iter().zip(sent).position(|(a, b)| a != b) {
        panic!("{what}: received bytes differ from byte {at} on");
    }
}

#[test]
fn tcp_halves_in_two_tasks_each_carry_both_directions_at_once_byte_exact() {
    let fds = FdCheck::start();
    let ring = ring();
    let (a, b) = tcp_pair(&ring);
    ring.block_on(async {
        let (a, b) = exchange(&ring, a.into_split(), b.into_split()).await;
        let (a, b) = (TcpStream::reunite(a.0, a.1), TcpStream::reunite(b.0, b.1));
        a.unwrap().close().await.unwrap();
        b.unwrap().close().await.unwrap();
    });
    assert_eq!(ring.stats().in_flight, 0);
    drop(ring);
    fds.finish();
}

#[test]
fn unix_pair_halves_in_two_tasks_each_carry_both_directions_at_once_byte_exact() {
    let fds = FdCheck::start();
    let ring = ring();
    let (a, b) = UnixStream::pair(&ring).unwrap();
    ring.block_on(async {
        let (a, b) = exchange(&ring, a.into_split(), b.into_split()).await;
        let (a, b) = (UnixStream::reunite(a.0, a.1), UnixStream::reunite(b.0, b.1));
        a.unwrap().close().await.unwrap();
        b.unwrap().close().await.unwrap();
    });
    assert_eq!(ring.stats().in_flight, 0);
    drop(ring);
    fds.finish();
}

#[test]
fn tcp_reunite_matching_halves_gives_back_the_working_stream() {
    let fds = FdCheck::start();
    let ring = ring();
    let (server, mut client) = tcp_with_std_peer(&ring);
    let raw = server.as_raw_fd();
    let (peer, local) = (server.peer_addr().unwrap(), server.local_addr().unwrap());
    let (read, write) = server.into_split();
    assert_eq!((read.as_raw_fd(), write.as_raw_fd()), (raw, raw));
    assert_eq!(read.peer_addr().unwrap(), peer);
    assert_eq!(write.peer_addr().unwrap(), peer);
    assert_eq!(read.local_addr().unwrap(), local);
    assert_eq!(write.local_addr().unwrap(), local);
    let server = TcpStream::reunite(read, write).expect("halves of one stream");
    assert_eq!(server.as_raw_fd(), raw);
    assert_peer_open(&mut client);
    ring.block_on(async {
        client.write_all(b"to the reunited stream").unwrap();
        let (n, buf) = server
            .recv(Vec::with_capacity(64))
            .submit()
            .complete()
            .await;
        assert_eq!(&buf[..n.unwrap()], b"to the reunited stream");
        let (sent, _) = server.send_all(&b"from it"[..]).await;
        sent.unwrap();
        server.close().await.unwrap();
    });
    let mut reply = Vec::new();
    client.read_to_end(&mut reply).unwrap();
    assert_eq!(reply, b"from it");
    assert_eq!(ring.stats().in_flight, 0);
    drop((client, ring));
    fds.finish();
}

#[test]
fn tcp_reunite_halves_of_different_streams_fails_with_both_halves_back() {
    let fds = FdCheck::start();
    let ring = ring();
    let (one, mut one_client) = tcp_with_std_peer(&ring);
    let (two, mut two_client) = tcp_with_std_peer(&ring);
    let (one_raw, two_raw) = (one.as_raw_fd(), two.as_raw_fd());
    let (one_read, one_write) = one.into_split();
    let (two_read, two_write) = two.into_split();

    let err = TcpStream::reunite(one_read, two_write).expect_err("halves of two streams");
    assert!(err.to_string().contains("different streams"), "{err}");
    let linear_uring::net::ReuniteError(one_read, two_write) = err;
    assert_eq!(one_read.as_raw_fd(), one_raw);
    assert_eq!(two_write.as_raw_fd(), two_raw);
    // Handed back as they were: nothing was closed or shut down, and they still work.
    assert_peer_open(&mut one_client);
    assert_peer_open(&mut two_client);
    ring.block_on(async {
        one_client.write_all(b"one").unwrap();
        let (n, buf) = one_read
            .recv(Vec::with_capacity(8))
            .submit()
            .complete()
            .await;
        assert_eq!(&buf[..n.unwrap()], b"one");
        let (sent, _) = two_write.send(&b"two"[..]).submit().complete().await;
        assert_eq!(sent.unwrap(), 3);

        let one = TcpStream::reunite(one_read, one_write).expect("halves of stream one");
        let two = TcpStream::reunite(two_read, two_write).expect("halves of stream two");
        assert_eq!((one.as_raw_fd(), two.as_raw_fd()), (one_raw, two_raw));
        one.close().await.unwrap();
        two.close().await.unwrap();
    });
    let mut received = Vec::new();
    two_client.read_to_end(&mut received).unwrap();
    assert_eq!(received, b"two");
    assert_peer_closed(&mut one_client);
    assert_eq!(ring.stats().in_flight, 0);
    drop((one_client, two_client, ring));
    fds.finish();
}

#[test]
fn unix_reunite_halves_of_the_two_ends_of_a_pair_fails_then_each_end_reunites() {
    let fds = FdCheck::start();
    let ring = ring();
    let (a, b) = UnixStream::pair(&ring).unwrap();
    let (a_read, a_write) = a.into_split();
    let (b_read, b_write) = b.into_split();
    let linear_uring::net::ReuniteError(a_read, b_write) =
        UnixStream::reunite(a_read, b_write).expect_err("halves of the two ends");
    let a = UnixStream::reunite(a_read, a_write).expect("halves of a");
    let b = UnixStream::reunite(b_read, b_write).expect("halves of b");
    ring.block_on(async {
        let (sent, _) = a.send(&b"whole again"[..]).submit().complete().await;
        assert_eq!(sent.unwrap(), 11);
        let (n, buf) = b.recv(Vec::with_capacity(16)).submit().complete().await;
        assert_eq!(&buf[..n.unwrap()], b"whole again");
        a.close().await.unwrap();
        b.close().await.unwrap();
    });
    drop(ring);
    fds.finish();
}

#[test]
fn tcp_halves_both_dropped_close_descriptor_once_and_peer_sees_eof() {
    let fds = FdCheck::start();
    let ring = ring();
    let (server, mut client) = tcp_with_std_peer(&ring);
    let open = fds::count();
    let (read, write) = server.into_split();
    assert_eq!(
        fds::count(),
        open,
        "splitting opened or closed a descriptor"
    );
    drop(read);
    assert_eq!(fds::count(), open, "closed while the write half holds it");
    assert_peer_open(&mut client);
    drop(write);
    assert_eq!(fds::count(), open - 1, "not closed with the last half");
    assert_peer_closed(&mut client);
    assert_eq!(ring.stats().submitted, ring.stats().completed);
    drop((client, ring));
    fds.finish();
}

#[test]
fn tcp_write_half_dropped_read_half_still_receives_and_peer_sees_no_eof() {
    let fds = FdCheck::start();
    let ring = ring();
    let (server, mut client) = tcp_with_std_peer(&ring);
    let open = fds::count();
    let (read, write) = server.into_split();
    drop(write);
    assert_eq!(fds::count(), open);
    // Dropping a write half shuts nothing down.
    assert_peer_open(&mut client);
    ring.block_on(async {
        client.write_all(b"still connected").unwrap();
        let (n, buf) = read.recv(Vec::with_capacity(32)).submit().complete().await;
        assert_eq!(&buf[..n.unwrap()], b"still connected");
        read.close().await.unwrap();
    });
    assert_eq!(fds::count(), open - 1);
    assert_peer_closed(&mut client);
    drop((client, ring));
    fds.finish();
}

#[test]
fn tcp_read_half_dropped_write_half_still_sends() {
    let fds = FdCheck::start();
    let ring = ring();
    let (server, mut client) = tcp_with_std_peer(&ring);
    let open = fds::count();
    let (read, write) = server.into_split();
    drop(read);
    assert_eq!(fds::count(), open);
    assert_peer_open(&mut client);
    ring.block_on(async {
        let (sent, _) = write.send_all(&b"sent after the read half went"[..]).await;
        sent.unwrap();
        drop(write);
    });
    assert_eq!(fds::count(), open - 1);
    let mut received = Vec::new();
    client.read_to_end(&mut received).unwrap();
    assert_eq!(received, b"sent after the read half went");
    drop((client, ring));
    fds.finish();
}

#[test]
fn tcp_write_half_close_while_read_half_receives_shuts_down_sending_only() {
    let fds = FdCheck::start();
    let ring = ring();
    let (server, mut client) = tcp_with_std_peer(&ring);
    let open = fds::count();
    let (read, write) = server.into_split();
    ring.block_on(async {
        // The read half waits for the peer's answer while the write half says
        // "done sending": the half-close a proxy forwards.
        let recv = read.recv(Vec::with_capacity(32)).submit();
        let before = ring.stats().submitted;
        write.close().await.unwrap();
        assert_eq!(
            ring.stats().submitted - before,
            1,
            "a shutdown and no close: the read half and its recv hold the descriptor"
        );
        assert_eq!(fds::count(), open);
        assert_peer_closed(&mut client);
        client.write_all(b"answer after eof").unwrap();
        let (n, buf) = recv.complete().await;
        assert_eq!(&buf[..n.unwrap()], b"answer after eof");

        let before = ring.stats().submitted;
        read.close().await.unwrap();
        assert_eq!(
            ring.stats().submitted - before,
            1,
            "the last half closes the descriptor with one close op"
        );
    });
    assert_eq!(fds::count(), open - 1);
    assert_eq!(ring.stats().in_flight, 0);
    drop((client, ring));
    fds.finish();
}

#[test]
fn unix_pair_read_half_closed_first_write_half_closes_descriptor_last() {
    let fds = FdCheck::start();
    let ring = ring();
    let (a, b) = UnixStream::pair(&ring).unwrap();
    let open = fds::count();
    let (read, write) = a.into_split();
    ring.block_on(async {
        let before = ring.stats().submitted;
        read.close().await.unwrap();
        assert_eq!(
            ring.stats().submitted,
            before,
            "closed under the write half"
        );
        assert_eq!(fds::count(), open);

        let (sent, _) = write.send(&b"last words"[..]).submit().complete().await;
        assert_eq!(sent.unwrap(), 10);
        let before = ring.stats().submitted;
        write.close().await.unwrap();
        assert_eq!(
            ring.stats().submitted - before,
            2,
            "a shutdown, then a close"
        );
        assert_eq!(fds::count(), open - 1);

        let (n, buf) = b.recv(Vec::with_capacity(16)).submit().complete().await;
        assert_eq!(&buf[..n.unwrap()], b"last words");
        let (n, _) = b.recv(Vec::with_capacity(16)).submit().complete().await;
        assert_eq!(n.unwrap(), 0, "end of stream");
        b.close().await.unwrap();
    });
    drop(ring);
    fds.finish();
}

#[test]
fn tcp_half_with_abandoned_recv_reclaim_keeps_descriptor_open_until_its_completion() {
    let fds = FdCheck::start();
    let ring = reclaim_ring();
    let (server, mut client) = tcp_with_std_peer(&ring);
    let open = fds::count();
    let (read, write) = server.into_split();
    let (buf, drops) = CountedBuf::new(64);
    ring.block_on(async {
        let recv = read.recv(buf).submit();
        // The recv waits in the kernel; then it is abandoned, and both halves go.
        pause(&ring, 2).await;
        drop(recv);
        drop((read, write));
        // Only the abandoned recv holds the descriptor now: still open, the peer
        // sees no end of stream, and the number cannot be reused under the recv.
        assert_eq!(ring.stats().in_flight, 1);
        assert_eq!(drops.get(), 0, "buffer freed while the recv was in flight");
        assert_eq!(fds::count(), open, "closed under an op in flight");
        assert_peer_open(&mut client);
        // The ring sends the cancel and reaps the recv's completion, which lets go
        // of the descriptor: the last reference, so it is closed.
        pause(&ring, 5).await;
    });
    let stats = ring.stats();
    assert_eq!(stats.in_flight, 0, "{stats:?}");
    assert_eq!(stats.abandoned, 1, "{stats:?}");
    assert_eq!(stats.cancelled, 1, "{stats:?}");
    assert_eq!(drops.get(), 1);
    assert_eq!(
        fds::count(),
        open - 1,
        "not closed after the recv's completion"
    );
    assert_peer_closed(&mut client);
    drop((client, ring));
    fds.finish();
}
