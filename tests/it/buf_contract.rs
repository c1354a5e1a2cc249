//! The buffer contract against the kernel: a read or receive appends to the buffer's
//! initialised bytes, filling its spare capacity, never overwrites them, and a buffer
//! with no room fails with `InvalidInput` instead of an `Ok(0)` that looks like end of
//! stream.

use std::io::{self, Read as _, Write as _};
use std::net::{SocketAddr, UdpSocket as StdUdpSocket};
use std::os::fd::AsRawFd;
use std::time::Duration;

use linear_uring::buf::Empty;
use linear_uring::fs::File;
use linear_uring::net::{TcpStream, UdpSocket};
use linear_uring::{race, CancelOutcome, DropPolicy, IoBuf, Raced, Ring};

use crate::fds::FdCheck;
use crate::storm::pipe::pipe;

fn ring() -> Ring {
    Ring::builder()
        .drop_policy(DropPolicy::Panic)
        .build()
        .unwrap()
}

/// A connected pair: the ring's end and a blocking `std` peer.
fn tcp_pair(ring: &Ring) -> (TcpStream, std::net::TcpStream) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let peer = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let (stream, _) = listener.accept().unwrap();
    peer.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    (TcpStream::from_std(ring, stream).unwrap(), peer)
}

/// Everything the peer reads until end of stream.
fn read_to_end(mut peer: std::net::TcpStream) -> Vec<u8> {
    let mut got = Vec::new();
    peer.read_to_end(&mut got).unwrap();
    got
}

fn assert_no_room(result: io::Result<usize>, what: &str) {
    let err = result.expect_err(what);
    assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "{what}: {err}");
    let message = err.to_string();
    assert!(message.contains("no spare capacity"), "{what}: {message}");
    assert!(
        message.contains("Vec::with_capacity(n)"),
        "{what}: {message}"
    );
}

#[test]
fn recv_into_zeroed_vec_fails_invalid_input_and_takes_nothing() {
    let fds = FdCheck::start();
    let ring = ring();
    let (stream, mut peer) = tcp_pair(&ring);
    peer.write_all(b"hi").unwrap();
    let submitted = ring.stats().submitted;
    ring.block_on(async {
        let buf = vec![0u8; 16];
        let ptr = buf.as_ptr();
        let (n, buf) = stream.recv(buf).submit().complete().await;
        assert_no_room(n, "a full buffer");
        assert_eq!(
            (buf.as_ptr(), buf),
            (ptr, vec![0u8; 16]),
            "the same buffer, untouched"
        );
        // The bytes are still in the socket for the next receive.
        let (n, buf) = stream
            .recv(Vec::with_capacity(16))
            .submit()
            .complete()
            .await;
        assert_eq!((n.unwrap(), &buf[..]), (2, &b"hi"[..]));
    });
    let stats = ring.stats();
    assert_eq!(
        stats.submitted,
        submitted + 1,
        "the failed receive never reached the kernel"
    );
    assert_eq!(stats.in_flight, 0);
    drop((stream, peer, ring));
    fds.finish();
}

#[test]
fn recv_hi_into_zeroed_vec_echo_sends_exactly_two_bytes() {
    let fds = FdCheck::start();
    let ring = ring();
    let (stream, mut peer) = tcp_pair(&ring);
    peer.write_all(b"hi").unwrap();
    ring.block_on(async {
        // The echo of the old bug: it received "hi" into the zeroes and sent back
        // all 16 bytes. Now the receive refuses the full buffer and hands it back...
        let (n, mut buf) = stream.recv(vec![0u8; 16]).submit().complete().await;
        assert_no_room(n, "vec![0u8; 16]");
        // ...and, cleared as its error says, it receives exactly what arrived.
        buf.clear();
        let (n, buf) = stream.recv(buf).submit().complete().await;
        assert_eq!(n.unwrap(), 2);
        assert_eq!(buf.len(), 2, "the length is what was received");
        let (sent, _) = stream.send_all(buf).await;
        sent.unwrap();
        stream
            .shutdown(std::net::Shutdown::Write)
            .submit()
            .complete()
            .await
            .unwrap();
    });
    assert_eq!(
        read_to_end(peer),
        b"hi",
        "the echo is exactly the two bytes"
    );
    drop((stream, ring));
    fds.finish();
}

#[test]
fn recv_after_header_appends_and_keeps_the_header() {
    let fds = FdCheck::start();
    let ring = ring();
    let (stream, mut peer) = tcp_pair(&ring);
    peer.write_all(b"abc").unwrap();
    ring.block_on(async {
        let mut buf = Vec::with_capacity(64);
        buf.extend_from_slice(b"HEADER:");
        let (n, buf) = stream.recv(buf).submit().complete().await;
        assert_eq!(n.unwrap(), 3);
        assert_eq!(buf, b"HEADER:abc");
    });
    drop((stream, peer, ring));
    fds.finish();
}

#[test]
fn recv_into_new_vec_fails_invalid_input_with_buffer_back() {
    let fds = FdCheck::start();
    let ring = ring();
    let (stream, peer) = tcp_pair(&ring);
    ring.block_on(async {
        // Not end of stream: the peer is still connected and has sent nothing.
        let (n, buf) = stream.recv(Vec::new()).submit().complete().await;
        assert_no_room(n, "Vec::new()");
        assert_eq!(buf.capacity(), 0);

        // The token completes at once: a cancel reports the error, with the buffer.
        let mut full = Vec::with_capacity(4);
        full.extend_from_slice(b"full");
        match stream.recv(full).submit().cancel().await {
            CancelOutcome::Completed((n, buf)) => {
                assert_no_room(n, "a cancelled full buffer");
                assert_eq!(buf, b"full");
            }
            CancelOutcome::Cancelled(_) => panic!("a receive with no room is never in flight"),
        }
    });
    assert_eq!(ring.stats().in_flight, 0);
    drop((stream, peer, ring));
    fds.finish();
}

#[test]
fn read_pipe_into_full_vec_fails_invalid_input_not_end_of_file() {
    let fds = FdCheck::start();
    let ring = ring();
    let (read, write) = pipe();
    let reader = File::from_fd(&ring, read).unwrap();
    let mut writer = std::fs::File::from(write);
    writer.write_all(b"data").unwrap();
    ring.block_on(async {
        let (n, buf) = reader.read(b"full".to_vec()).submit().complete().await;
        assert_no_room(n, "a full buffer");
        assert_eq!(buf, b"full");
        let (n, buf) = reader.read(Vec::with_capacity(8)).submit().complete().await;
        assert_eq!(&buf[..n.unwrap()], b"data", "nothing was consumed");
    });
    drop((reader, writer, ring));
    fds.finish();
}

#[test]
fn read_pipe_twice_into_one_vec_appends_both() {
    let fds = FdCheck::start();
    let ring = ring();
    let (read, write) = pipe();
    let reader = File::from_fd(&ring, read).unwrap();
    let mut writer = std::fs::File::from(write);
    ring.block_on(async {
        writer.write_all(b"one,").unwrap();
        let (n, buf) = reader
            .read(Vec::with_capacity(16))
            .submit()
            .complete()
            .await;
        assert_eq!(n.unwrap(), 4);
        writer.write_all(b"two").unwrap();
        let (n, buf) = reader.read(buf).submit().complete().await;
        assert_eq!(n.unwrap(), 3);
        assert_eq!(buf, b"one,two");
    });
    drop((reader, writer, ring));
    fds.finish();
}

#[test]
fn recv_from_appends_after_the_bytes_and_rejects_a_full_buffer() {
    let fds = FdCheck::start();
    let ring = ring();
    let socket = UdpSocket::bind(&ring, "127.0.0.1:0").unwrap();
    let peer = StdUdpSocket::bind("127.0.0.1:0").unwrap();
    let peer_addr: SocketAddr = peer.local_addr().unwrap();
    peer.send_to(b"abc", socket.local_addr().unwrap()).unwrap();
    ring.block_on(async {
        let (received, buf) = socket.recv_from(b"full".to_vec()).submit().complete().await;
        assert_no_room(received.map(|(n, _)| n), "a full buffer");
        assert_eq!(buf, b"full");

        let mut buf = Vec::with_capacity(64);
        buf.extend_from_slice(b"HEADER:");
        let (received, buf) = socket.recv_from(buf).submit().complete().await;
        assert_eq!(
            received.unwrap(),
            (3, peer_addr),
            "the datagram was still there"
        );
        assert_eq!(buf, b"HEADER:abc");
    });
    drop((socket, peer, ring));
    fds.finish();
}

#[test]
fn recv_empty_waits_until_readable_and_takes_nothing() {
    let fds = FdCheck::start();
    let ring = ring();
    let (stream, mut peer) = tcp_pair(&ring);
    ring.block_on(async {
        let ready = stream.recv(Empty).submit();
        // Nothing to read yet: the 0-byte receive waits, unlike a read with no room.
        let ready = match race(ready, ring.sleep(Duration::from_millis(20))).await {
            Raced::Second(ready, timer) => {
                timer.unwrap();
                ready
            }
            Raced::First((n, _), _) => panic!("completed with nothing to read: {n:?}"),
        };
        peer.write_all(b"ping").unwrap();
        let (n, Empty) = ready.complete().await;
        assert_eq!(n.unwrap(), 0);
        let (n, buf) = stream.recv(Vec::with_capacity(8)).submit().complete().await;
        assert_eq!(&buf[..n.unwrap()], b"ping", "the wait took nothing");
    });
    drop((stream, peer, ring));
    fds.finish();
}

// Slices: sending, writing and receiving part of a buffer without copying.

fn pseudo_random(len: usize) -> Vec<u8> {
    let mut state: u64 = 0x2545_f491_4f6c_dd1d;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 24) as u8
        })
        .collect()
}

/// Sets an integer `SOL_SOCKET` option.
fn set_socket_option(fd: &impl AsRawFd, option: libc::c_int, value: libc::c_int) {
    // SAFETY: passes a pointer to a live c_int and its size, on a descriptor `fd` keeps
    // open.
    let rc = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            libc::SOL_SOCKET,
            option,
            (&value as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    assert_eq!(rc, 0, "setsockopt: {}", io::Error::last_os_error());
}

#[test]
fn send_short_continued_with_slice_delivers_every_byte_and_gives_buffer_back() {
    const LEN: usize = 4 << 20;
    let fds = FdCheck::start();
    let ring = ring();
    let (stream, peer) = tcp_pair(&ring);
    // Small socket buffers, so that a send of 4 MiB with nobody reading is short.
    set_socket_option(&stream, libc::SO_SNDBUF, 16 * 1024);
    set_socket_option(&peer, libc::SO_RCVBUF, 16 * 1024);
    let payload = pseudo_random(LEN);
    let base = payload.as_ptr();
    let (first, buf) = ring.block_on(async { stream.send(payload).submit().complete().await });
    let first = first.unwrap();
    assert!(
        0 < first && first < LEN,
        "a short send: {first} of {LEN} bytes"
    );

    let drain = std::thread::spawn(move || read_to_end(peer));
    let buf = ring.block_on(async {
        let (mut sent, mut buf) = (first, buf);
        while sent < buf.len() {
            let (n, slice) = stream.send(buf.slice(sent..)).submit().complete().await;
            buf = slice.into_inner();
            sent += n.unwrap();
        }
        stream
            .shutdown(std::net::Shutdown::Write)
            .submit()
            .complete()
            .await
            .unwrap();
        buf
    });
    assert_eq!(
        buf.as_ptr(),
        base,
        "the whole buffer comes back, never copied"
    );
    let received = drain.join().unwrap();
    assert_eq!(received.len(), LEN);
    assert!(received == buf, "the bytes arrive in order, each once");
    drop((stream, ring));
    fds.finish();
}

#[test]
fn write_pipe_short_continued_with_slice_delivers_every_byte() {
    const LEN: usize = 256 * 1024;
    let fds = FdCheck::start();
    let ring = ring();
    let (read, write) = pipe();
    let writer = File::from_fd(&ring, write).unwrap();
    let mut reader = std::fs::File::from(read);
    let data = pseudo_random(LEN);
    // Four times a pipe's default capacity, with nobody reading: a short write.
    let (first, buf) = ring.block_on(async { writer.write(data).submit().complete().await });
    let first = first.unwrap();
    assert!(
        0 < first && first < LEN,
        "a short write: {first} of {LEN} bytes"
    );

    let drain = std::thread::spawn(move || {
        let mut got = Vec::new();
        reader.read_to_end(&mut got).unwrap();
        got
    });
    let buf = ring.block_on(async {
        let (mut written, mut buf) = (first, buf);
        while written < LEN {
            let (n, slice) = writer.write(buf.slice(written..)).submit().complete().await;
            buf = slice.into_inner();
            written += n.unwrap();
        }
        writer.close().await.unwrap();
        buf
    });
    let received = drain.join().unwrap();
    assert!(received == buf, "{} bytes received", received.len());
    drop(ring);
    fds.finish();
}

#[test]
fn recv_into_slice_appends_up_to_its_end_and_leaves_the_rest() {
    let fds = FdCheck::start();
    let ring = ring();
    let (stream, mut peer) = tcp_pair(&ring);
    peer.write_all(b"abcdefgh").unwrap();
    ring.block_on(async {
        let mut buf = Vec::with_capacity(64);
        buf.extend_from_slice(b"HEADER:");
        let (n, slice) = stream.recv(buf.slice(..10)).submit().complete().await;
        assert_eq!(n.unwrap(), 3, "room for 3 bytes before the slice's end");
        let buf = slice.into_inner();
        assert_eq!(buf, b"HEADER:abc");
        let (n, buf) = stream.recv(buf).submit().complete().await;
        assert_eq!(n.unwrap(), 5);
        assert_eq!(buf, b"HEADER:abcdefgh", "the rest was left in the socket");

        // A slice with no room left is refused like a full buffer.
        let (n, slice) = stream.recv(buf.slice(..7)).submit().complete().await;
        assert_no_room(n, "a full slice");
        assert_eq!(slice.into_inner(), b"HEADER:abcdefgh");
    });
    drop((stream, peer, ring));
    fds.finish();
}

#[test]
fn recv_from_into_slice_appends_up_to_its_end() {
    let fds = FdCheck::start();
    let ring = ring();
    let socket = UdpSocket::bind(&ring, "127.0.0.1:0").unwrap();
    let peer = StdUdpSocket::bind("127.0.0.1:0").unwrap();
    peer.send_to(b"abcdefgh", socket.local_addr().unwrap())
        .unwrap();
    ring.block_on(async {
        let mut buf = Vec::with_capacity(64);
        buf.extend_from_slice(b"HEADER:");
        let (received, slice) = socket.recv_from(buf.slice(..11)).submit().complete().await;
        let (n, from) = received.unwrap();
        assert_eq!(from, peer.local_addr().unwrap());
        assert_eq!(n, 4, "a datagram is cut to the room before the slice's end");
        assert_eq!(slice.into_inner(), b"HEADER:abcd");
    });
    drop((socket, peer, ring));
    fds.finish();
}
