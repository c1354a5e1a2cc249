//! Bad input through the public API: descriptors wrong for the op, zero-length and
//! huge buffers, zero and maximal timeouts, an address of the wrong family.

use std::io::{self, Write};
use std::net::SocketAddr;
use std::os::fd::OwnedFd;
use std::os::unix::fs::OpenOptionsExt;
use std::time::{Duration, Instant};

use linear_uring::fs::File;
use linear_uring::net::{TcpListener, TcpStream, UdpSocket};
use linear_uring::op::Timeout;
use linear_uring::{DropPolicy, IoBuf, IoBufMut};

use super::{assert_failed_buffer_back, assert_usable, connected, pause, ring};
use crate::fds::FdCheck;
use crate::storm::check::Ledger;
use crate::storm::pipe::pipe;

#[test]
fn bad_descriptor_kinds_fail_clearly_buffer_back_ring_usable() {
    let fds = FdCheck::start();
    let ring = ring(DropPolicy::Panic);
    let ledger = Ledger::new();

    // An O_PATH descriptor: open, but good for no I/O.
    let path = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_PATH)
        .open("/")
        .unwrap();
    let file = File::from_fd(&ring, OwnedFd::from(path)).unwrap();
    let buf = ledger.empty(16);
    let ptr = buf.stable_ptr();
    let result = ring.block_on(async { file.read(buf).submit().complete().await });
    assert_failed_buffer_back(result, ptr, libc::EBADF, "read of an O_PATH descriptor");
    drop(file);
    assert_usable(&ring);

    // A directory.
    let dir = File::from_std(&ring, std::fs::File::open("/").unwrap()).unwrap();
    let buf = ledger.empty(16);
    let ptr = buf.stable_ptr();
    let result = ring.block_on(async { dir.read(buf).submit().complete().await });
    assert_failed_buffer_back(result, ptr, libc::EISDIR, "read of a directory");
    drop(dir);
    assert_usable(&ring);

    // A pipe passed off as a TCP stream.
    let (read, write) = pipe();
    let stream = TcpStream::from_std(&ring, std::net::TcpStream::from(read)).unwrap();
    let (recv_buf, send_buf) = (ledger.empty(16), ledger.filled(vec![5; 16]));
    let (recv_ptr, send_ptr) = (recv_buf.stable_ptr(), send_buf.stable_ptr());
    let (received, sent) = ring.block_on(async {
        let received = stream.recv(recv_buf).submit().complete().await;
        let sent = stream.send(send_buf).submit().complete().await;
        (received, sent)
    });
    assert_failed_buffer_back(received, recv_ptr, libc::ENOTSOCK, "recv on a pipe");
    assert_failed_buffer_back(sent, send_ptr, libc::ENOTSOCK, "send on a pipe");
    drop((stream, write));
    assert_usable(&ring);

    // A UDP socket passed off as a TCP listener.
    let udp = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let listener =
        TcpListener::from_std(&ring, std::net::TcpListener::from(OwnedFd::from(udp))).unwrap();
    let accepted = ring.block_on(async { listener.accept().submit().complete().await });
    let err = accepted.map(drop).expect_err("accepted on a UDP socket");
    assert_eq!(err.raw_os_error(), Some(libc::EOPNOTSUPP), "{err}");
    drop(listener);
    assert_usable(&ring);

    assert_eq!(ring.stats().in_flight, 0);
    drop(ring);
    ledger.audit().unwrap();
    fds.finish();
}

/// A buffer of `len` bytes of address space mapped lazily (`MAP_NORESERVE`): huge,
/// without using memory. It reads as zeroes, so all of it counts as initialised for
/// writes when `filled`.
#[derive(Debug)]
struct Mapped {
    ptr: *mut u8,
    len: usize,
    init: usize,
}

impl Mapped {
    /// `None` if the kernel refuses the mapping (strict overcommit).
    fn new(len: usize, filled: bool) -> Option<Mapped> {
        // SAFETY: an anonymous private mapping at an address the kernel picks; no
        // existing memory is affected.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
                -1,
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            return None;
        }
        let init = if filled { len } else { 0 };
        Some(Mapped {
            ptr: ptr.cast(),
            len,
            init,
        })
    }

    fn or_panic(len: usize, filled: bool) -> Mapped {
        Mapped::new(len, filled).unwrap_or_else(|| {
            panic!(
                "cannot map {len} bytes of address space: {}",
                io::Error::last_os_error()
            )
        })
    }
}

impl Drop for Mapped {
    fn drop(&mut self) {
        // SAFETY: unmaps exactly the mapping `new` made, which nothing else uses once
        // this value is dropped.
        unsafe { libc::munmap(self.ptr.cast(), self.len) };
    }
}

// SAFETY: the mapping is `len` bytes at a fixed address for the value's whole life,
// unmapped only on drop; it moves with the value only as a pointer; anonymous memory
// is zero-filled, so the first `init` bytes are initialised; `init <= len`.
unsafe impl IoBuf for Mapped {
    fn stable_ptr(&self) -> *const u8 {
        self.ptr
    }

    fn bytes_init(&self) -> usize {
        self.init
    }

    fn bytes_total(&self) -> usize {
        self.len
    }
}

// SAFETY: as for `IoBuf`: the mapping is writable for all `len` bytes.
unsafe impl IoBufMut for Mapped {
    fn stable_mut_ptr(&mut self) -> *mut u8 {
        self.ptr
    }

    unsafe fn set_init(&mut self, len: usize) {
        self.init = self.init.max(len);
    }
}

/// The most a single read or write transfers (`MAX_RW_COUNT`: `INT_MAX` rounded
/// down to a page).
const MAX_RW_COUNT: usize = 0x7fff_f000;

#[test]
fn bad_buffer_sizes_zero_and_huge_give_clear_results_buffer_back_ring_usable() {
    let fds = FdCheck::start();
    let ring = ring(DropPolicy::Panic);
    let ledger = Ledger::new();
    let (listener, server, mut client) = connected(&ring);
    let (read, write) = pipe();
    let reader = File::from_fd(&ring, read).unwrap();
    let writer = File::from_fd(&ring, write).unwrap();

    // Zero-length buffers transfer nothing and consume nothing. (Zero-capacity reads
    // and receives: see `fs_pipe.rs` and `net_tcp.rs`.)
    ring.block_on(async {
        let (n, buf) = writer
            .write(ledger.filled(Vec::new()))
            .submit()
            .complete()
            .await;
        assert_eq!(n.unwrap(), 0);
        assert!(!buf.drop_flag().get());
        let (n, _) = server
            .send(ledger.filled(Vec::new()))
            .submit()
            .complete()
            .await;
        assert_eq!(n.unwrap(), 0);
        let (sent, _) = server.send_all(ledger.filled(Vec::new())).await;
        sent.unwrap();
    });
    assert_usable(&ring);

    // Huge buffers: the kernel transfers what there is, up to its per-call limit.
    let null = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/null")
        .unwrap();
    let null = File::from_std(&ring, null).unwrap();
    let huge = 5 << 30;
    ring.block_on(async {
        let read = reader.read(Mapped::or_panic(huge, false)).submit();
        let (n, _) = writer.write(&b"tiny"[..]).submit().complete().await;
        n.unwrap();
        let (n, buf) = read.complete().await;
        assert_eq!(n.unwrap(), 4, "a huge read takes what there is");
        // SAFETY: the kernel wrote 4 bytes at the start of the mapping.
        let head = unsafe { std::slice::from_raw_parts(buf.stable_ptr(), 4) };
        assert_eq!(head, b"tiny");
        assert_eq!(buf.bytes_total(), huge, "the same buffer came back");

        let (n, buf) = null
            .write(Mapped::or_panic(huge, true))
            .submit()
            .complete()
            .await;
        assert_eq!(
            n.unwrap(),
            MAX_RW_COUNT,
            "a huge write is cut at MAX_RW_COUNT"
        );
        assert_eq!(buf.bytes_total(), huge);

        // The largest length a socket op accepts (see the next test for more).
        let (n, buf) = server
            .send(Mapped::or_panic(i32::MAX as usize, true))
            .submit()
            .complete()
            .await;
        assert!(n.unwrap() > 0);
        assert_eq!(buf.bytes_total(), i32::MAX as usize);
    });
    client.write_all(b"small").unwrap();
    ring.block_on(async {
        let (n, _) = server
            .recv(Mapped::or_panic(i32::MAX as usize, false))
            .submit()
            .complete()
            .await;
        assert_eq!(n.unwrap(), 5);
    });
    assert_usable(&ring);

    assert_eq!(ring.stats().in_flight, 0);
    drop((listener, server, client, reader, writer, null, ring));
    ledger.audit().unwrap();
    fds.finish();
}

#[test]
fn tcp_send_recv_buffer_over_i32_max_transfer_partially_like_syscalls() {
    let fds = FdCheck::start();
    let ring = ring(DropPolicy::Panic);
    let (listener, server, mut client) = connected(&ring);
    let len = 3 << 30;
    let buf = Mapped::or_panic(len, true);
    // Like send(2) on a stream socket, the op sends what fits in the socket's buffer
    // (far less than 2 GiB) and reports it, instead of failing on the length.
    let (sent, buf) = ring.block_on(async { server.send(buf).submit().complete().await });
    assert_eq!(buf.bytes_total(), len);
    let sent = sent.expect("a send of a 3 GiB buffer sends what fits, as send(2) does");
    assert!(sent > 0);
    client.write_all(b"small").unwrap();
    let (received, _) = ring.block_on(async {
        server
            .recv(Mapped::or_panic(len, false))
            .submit()
            .complete()
            .await
    });
    assert_eq!(
        received.expect("a 3 GiB receive takes what there is, as recv(2) does"),
        5
    );
    drop((listener, server, client, ring));
    fds.finish();
}

#[test]
fn bad_timeouts_zero_and_maximal_give_clear_results_ring_usable() {
    let fds = FdCheck::start();
    let ring = ring(DropPolicy::Panic);
    let ledger = Ledger::new();
    let (read, write) = pipe();
    let reader = File::from_fd(&ring, read).unwrap();
    let mut writer = std::fs::File::from(write);
    ring.block_on(async {
        // Zero: a timer that fires at once; a linked timeout that cuts the op off at
        // once, before it takes anything.
        let start = Instant::now();
        ring.sleep(Duration::ZERO).await.unwrap();
        Timeout::new(&ring, Duration::ZERO)
            .submit()
            .complete()
            .await
            .unwrap();
        assert!(start.elapsed() < Duration::from_secs(1));
        let buf = ledger.empty(8);
        let ptr = buf.stable_ptr();
        let (result, buf) = reader
            .read(buf)
            .timeout(Duration::ZERO)
            .submit()
            .complete()
            .await;
        let err = result.expect_err("read with a zero timeout");
        assert_eq!(err.kind(), io::ErrorKind::TimedOut, "{err}");
        assert_eq!(buf.stable_ptr(), ptr, "not the same buffer");
        assert!(!buf.drop_flag().get(), "the buffer was dropped");
        drop(buf);
        writer.write_all(b"kept").unwrap();
        let (n, buf) = reader.read(ledger.empty(8)).submit().complete().await;
        assert_eq!(&buf.as_slice()[..n.unwrap()], b"kept", "nothing was lost");

        // Maximal: more than the kernel's timespec holds, so it saturates at the
        // longest timer the kernel takes, which never fires and can be cancelled.
        let never = ring.sleep(Duration::MAX);
        let never_linear = Timeout::new(&ring, Duration::MAX).submit();
        pause(&ring, 5).await;
        assert!(never.cancel().await.is_cancelled());
        assert!(never_linear.cancel().await.is_cancelled());
    });
    assert_usable(&ring);
    assert_eq!(ring.stats().in_flight, 0);
    drop((reader, writer, ring));
    ledger.audit().unwrap();
    fds.finish();
}

/// Pins a fixed bug: `Duration::MAX` made a timespec the kernel read as negative; it
/// refused the linked timeout with `EINVAL` and failed the whole link, so the op
/// completed at once with `ECANCELED`, the code of a timeout that fired.
#[test]
fn linked_timeout_maximal_duration_never_reports_a_timeout() {
    let fds = FdCheck::start();
    let ring = ring(DropPolicy::Panic);
    let (read, write) = pipe();
    let reader = File::from_fd(&ring, read).unwrap();
    let mut writer = std::fs::File::from(write);
    let (result, buf) = ring.block_on(async {
        let read = reader
            .read(Vec::with_capacity(8))
            .timeout(Duration::MAX)
            .submit();
        pause(&ring, 10).await;
        writer.write_all(b"late").unwrap();
        read.complete().await
    });
    match result {
        // Clamped to the longest timeout the kernel takes: it never fires.
        Ok(n) => assert_eq!(&buf[..n], b"late"),
        // Or refused, with an error that does not read as a timeout.
        Err(e) => {
            assert_ne!(e.kind(), io::ErrorKind::TimedOut, "reported as timed out");
            assert_eq!(e.kind(), io::ErrorKind::InvalidInput, "{e}");
        }
    }
    drop((reader, writer, ring));
    fds.finish();
}

#[test]
fn bad_address_family_fails_clearly_buffer_back_ring_usable() {
    // See also `net_udp.rs`, which checks the same errno for a send_to and a connect.
    let fds = FdCheck::start();
    let ring = ring(DropPolicy::Panic);
    let ledger = Ledger::new();
    let v4 = UdpSocket::bind(&ring, "127.0.0.1:0").unwrap();
    let buf = ledger.filled(b"wrong family".to_vec());
    let ptr = buf.stable_ptr();
    let to_v6: SocketAddr = "[::1]:9".parse().unwrap();
    let result = ring.block_on(async { v4.send_to(buf, to_v6).submit().complete().await });
    assert_failed_buffer_back(result, ptr, libc::EAFNOSUPPORT, "IPv4 socket to IPv6");
    assert_usable(&ring);
    if let Ok(v6) = UdpSocket::bind(&ring, "[::1]:0") {
        // An IPv6 socket takes an IPv4 address only in its mapped form.
        let buf = ledger.filled(b"wrong family".to_vec());
        let ptr = buf.stable_ptr();
        let to_v4: SocketAddr = "127.0.0.1:9".parse().unwrap();
        let result = ring.block_on(async { v6.send_to(buf, to_v4).submit().complete().await });
        let errno = result.0.as_ref().err().and_then(io::Error::raw_os_error);
        assert!(
            matches!(
                errno,
                Some(libc::EAFNOSUPPORT) | Some(libc::EINVAL) | Some(libc::ENETUNREACH)
            ),
            "IPv6 socket to IPv4: {:?}",
            result.0
        );
        assert_eq!(result.1.stable_ptr(), ptr);
        drop((result, v6));
        assert_usable(&ring);
    } else {
        eprintln!("skipped the IPv6 half: no IPv6 loopback");
    }
    drop((v4, ring));
    ledger.audit().unwrap();
    fds.finish();
}
