//! Zero-copy send: the buffer comes back only after the kernel's notification,
//! whatever happens to the token.
//!
//! The storm poisons each buffer when it is dropped (every byte overwritten with a
//! value the senders never use): a buffer freed while the network stack still held
//! its pages would put poison on the wire, and the receiver would see it.

use std::cell::{Cell, RefCell};
use std::io::Read;
use std::net::{SocketAddr, TcpStream as StdTcpStream};
use std::os::fd::AsRawFd;
use std::rc::Rc;
use std::time::{Duration, Instant};

use linear_uring::net::{TcpListener, TcpStream};
use linear_uring::{race, CancelOutcome, IoBuf, Raced, Ring};

use crate::fds::FdCheck;
use crate::net_tcp::{pause, reclaim_ring, ring};

/// The byte no sender ever sends: what a dropped buffer is overwritten with.
const POISON: u8 = 0xEE;

/// An owned buffer that overwrites its bytes with [`POISON`] when it is dropped, and
/// counts its drops.
struct PoisonBuf {
    bytes: Vec<u8>,
    drops: Rc<Cell<usize>>,
}

impl PoisonBuf {
    /// `len` bytes of a pattern that never contains [`POISON`].
    fn new(len: usize, seed: u8, drops: &Rc<Cell<usize>>) -> PoisonBuf {
        let bytes = (0..len)
            .map(|i| (i as u8).wrapping_add(seed) % POISON)
            .collect();
        PoisonBuf {
            bytes,
            drops: drops.clone(),
        }
    }
}

impl Drop for PoisonBuf {
    fn drop(&mut self) {
        self.bytes.fill(POISON);
        self.drops.set(self.drops.get() + 1);
    }
}

// SAFETY: forwards to the `Vec<u8>`, whose heap buffer does not move when the
// `PoisonBuf` does; the poisoning happens in `drop`, when the ring has let go.
unsafe impl IoBuf for PoisonBuf {
    fn stable_ptr(&self) -> *const u8 {
        self.bytes.stable_ptr()
    }

    fn bytes_init(&self) -> usize {
        self.bytes.bytes_init()
    }

    fn bytes_total(&self) -> usize {
        self.bytes.bytes_total()
    }
}

/// A connected pair: the ring's end, and a std client.
fn pair(ring: &Ring) -> (TcpStream, StdTcpStream) {
    let listener = TcpListener::bind(ring, "127.0.0.1:0").unwrap();
    let addr: SocketAddr = listener.local_addr().unwrap();
    let client = StdTcpStream::connect(addr).unwrap();
    let (stream, _) = ring
        .block_on(listener.accept().submit().complete())
        .unwrap();
    (stream, client)
}

#[test]
fn send_zc_sends_every_byte_and_hands_the_buffer_back_once() {
    let _fds = FdCheck::start();
    let ring = ring();
    let (stream, mut client) = pair(&ring);
    let drops = Rc::new(Cell::new(0));
    let buf = PoisonBuf::new(64 * 1024, 7, &drops);
    let want = buf.bytes.clone();
    let reader = std::thread::spawn(move || {
        let mut got = vec![0u8; want.len()];
        client.read_exact(&mut got).unwrap();
        assert!(got == want, "the peer received other bytes than were sent");
    });
    let (sent, buf) = ring.block_on(stream.send_zc(buf).submit().complete());
    assert_eq!(sent.unwrap(), 64 * 1024);
    assert_eq!(drops.get(), 0, "the buffer came back, not dropped");
    drop(buf);
    assert_eq!(drops.get(), 1);
    reader.join().unwrap();
    let stats = ring.stats();
    // Two completions from the kernel, one op: `completed` counts the final one.
    assert_eq!(
        (stats.submitted, stats.completed, stats.in_flight),
        (2, 2, 0),
        "{stats:?}"
    );
    ring.block_on(stream.close()).unwrap();
}

#[test]
fn send_zc_cancel_on_a_full_socket_hands_the_buffer_back_after_the_notification() {
    let _fds = FdCheck::start();
    let ring = ring();
    let (stream, client) = pair(&ring);
    fill(&ring, &stream);
    let drops = Rc::new(Cell::new(0));
    ring.block_on(async {
        let zc = stream.send_zc(PoisonBuf::new(4096, 1, &drops)).submit();
        pause(&ring, 5).await;
        let cancelled_before = ring.stats().cancelled;
        // The socket had no room: the kernel may have taken nothing, or squeezed in
        // part of the buffer; either way the buffer comes back, once.
        match zc.cancel().await {
            CancelOutcome::Cancelled(buf) => {
                assert_eq!(buf.bytes.len(), 4096);
                // The kernel's ECANCELED came with the first of the two completions.
                let stats = ring.stats();
                assert_eq!(stats.cancelled, cancelled_before + 1, "{stats:?}");
            }
            CancelOutcome::Completed((sent, buf)) => {
                assert!(sent.unwrap() <= 4096);
                assert_eq!(buf.bytes.len(), 4096);
            }
        }
    });
    assert_eq!(drops.get(), 1);
    drop(client);
    ring.block_on(stream.close()).unwrap();
}

#[test]
fn send_zc_linked_timeout_on_a_full_socket_reports_timed_out_with_the_buffer() {
    let _fds = FdCheck::start();
    let ring = ring();
    let (stream, client) = pair(&ring);
    fill(&ring, &stream);
    let drops = Rc::new(Cell::new(0));
    let (sent, buf) = ring.block_on(
        stream
            .send_zc(PoisonBuf::new(4096, 2, &drops))
            .timeout(Duration::from_millis(20))
            .submit()
            .complete(),
    );
    // Nothing was sent before the timer: `TimedOut`. (If the kernel squeezed part
    // of it in, the send completed with that count instead; both hand back the
    // buffer.)
    match sent {
        Err(err) => assert_eq!(err.kind(), std::io::ErrorKind::TimedOut, "{err}"),
        Ok(n) => assert!(n <= 4096),
    }
    assert_eq!(buf.bytes.len(), 4096);
    drop(buf);
    assert_eq!(drops.get(), 1);
    drop(client);
    ring.block_on(stream.close()).unwrap();
}

/// Sends until the socket's buffers are full (the peer reads nothing).
fn fill(ring: &Ring, stream: &TcpStream) {
    shrink_send_buffer(stream);
    ring.block_on(async {
        loop {
            let filler = stream.send(vec![1u8; 64 * 1024]).submit();
            match race(filler, ring.sleep(Duration::from_millis(20))).await {
                Raced::First((sent, _), _) => {
                    sent.unwrap();
                }
                Raced::Second(filler, _) => {
                    if let CancelOutcome::Completed((sent, _)) = filler.cancel().await {
                        sent.unwrap();
                    }
                    break;
                }
            }
        }
    });
}

/// Makes the kernel's send buffer small, so that sends queue behind a slow reader
/// and their pages stay in the network stack.
fn shrink_send_buffer(stream: &TcpStream) {
    let size: libc::c_int = 16 * 1024;
    // SAFETY: setsockopt(2) on the stream's live descriptor, reading a live local.
    let rc = unsafe {
        libc::setsockopt(
            stream.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_SNDBUF,
            (&size as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    assert_eq!(rc, 0, "{}", std::io::Error::last_os_error());
}

#[test]
fn send_zc_storm_cancels_and_drops_never_free_a_buffer_before_its_notification() {
    const SENDS: usize = 300;
    let _fds = FdCheck::start();
    let ring = reclaim_ring();
    // Bytes the kernel reported sent by ops whose tokens were dropped.
    let abandoned_sent = Rc::new(Cell::new(0usize));
    let hook_sent = abandoned_sent.clone();
    ring.on_abandon(move |abandoned| {
        if let Ok(n) = abandoned.result {
            hook_sent.set(hook_sent.get() + n as usize);
        }
    });
    let (stream, mut client) = pair(&ring);
    shrink_send_buffer(&stream);
    // A slow reader: the sends queue in the kernel, pages held, while the ring
    // cancels and drops them.
    let reader = std::thread::spawn(move || {
        let (mut total, mut poisoned) = (0usize, 0usize);
        let mut chunk = vec![0u8; 16 * 1024];
        loop {
            match client.read(&mut chunk) {
                Ok(0) => break,
                Ok(n) => {
                    total += n;
                    poisoned += chunk[..n].iter().filter(|&&b| b == POISON).count();
                    std::thread::sleep(Duration::from_micros(200));
                }
                Err(err) => panic!("reader: {err}"),
            }
        }
        (total, poisoned)
    });
    let drops = Rc::new(Cell::new(0));
    let mut rng = crate::storm::check::Rng::derive(0x2c0_5eed, &[2]);
    let fates = RefCell::new([0usize; 4]);
    let started = Instant::now();
    let reported = ring.block_on(async {
        let mut reported = 0usize;
        for i in 0..SENDS {
            let len = 1 + rng.size(256 * 1024);
            let zc = stream
                .send_zc(PoisonBuf::new(len, i as u8, &drops))
                .submit();
            let fate = rng.below(4) as usize;
            fates.borrow_mut()[fate] += 1;
            match fate {
                0 => {
                    let (sent, _buf) = zc.complete().await;
                    reported += sent.unwrap();
                }
                1 => match zc.cancel().await {
                    CancelOutcome::Completed((sent, _buf)) => reported += sent.unwrap(),
                    CancelOutcome::Cancelled(_buf) => {}
                },
                2 => match race(zc, ring.sleep(rng.micros(2000))).await {
                    Raced::First((sent, _buf), _) => reported += sent.unwrap(),
                    Raced::Second(zc, _) => {
                        if let CancelOutcome::Completed((sent, _)) = zc.cancel().await {
                            reported += sent.unwrap();
                        }
                    }
                },
                _ => {
                    // Dropped in flight: the ring keeps the buffer until the
                    // notification, and the hook reports what was sent.
                    if rng.chance(50) {
                        pause(&ring, 1).await;
                    }
                    drop(zc);
                }
            }
        }
        // Let every dropped send's notification arrive.
        while ring.stats().in_flight > 0 {
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "{:?}",
                ring.stats()
            );
            pause(&ring, 2).await;
        }
        reported
    });
    ring.block_on(stream.close()).unwrap();
    let (total, poisoned) = reader.join().unwrap();
    let stats = ring.stats();
    assert_eq!(
        poisoned, 0,
        "a buffer was poisoned while the kernel still sent it"
    );
    assert_eq!(
        drops.get(),
        SENDS,
        "every buffer dropped exactly once: {stats:?}"
    );
    // Every byte the peer received was reported to somebody: a token's output, a
    // cancel that lost, or the hook of a dropped one.
    assert_eq!(
        total,
        reported + abandoned_sent.get(),
        "fates {:?} {stats:?}",
        fates.borrow()
    );
    assert_eq!(stats.in_flight, 0);
    eprintln!(
        "send_zc storm: {SENDS} sends (complete, cancel, race, drop) {:?}, {total} bytes, \
         {} abandoned, {:?}",
        fates.borrow(),
        stats.abandoned,
        started.elapsed()
    );
}

#[test]
fn send_vectored_zc_sends_the_buffers_in_order_and_hands_them_back() {
    let _fds = FdCheck::start();
    let ring = ring();
    let (stream, mut client) = pair(&ring);
    let drops = Rc::new(Cell::new(0));
    let bufs: Vec<PoisonBuf> = [3usize, 70_000, 5]
        .iter()
        .enumerate()
        .map(|(i, &len)| PoisonBuf::new(len, i as u8 * 50, &drops))
        .collect();
    let want: Vec<u8> = bufs.iter().flat_map(|b| b.bytes.clone()).collect();
    let total = want.len();
    let reader = std::thread::spawn(move || {
        let mut got = vec![0u8; total];
        client.read_exact(&mut got).unwrap();
        got == want
    });
    let (sent, bufs) = ring.block_on(async {
        let mut bufs = bufs;
        let mut sent = 0;
        // A short send is continued from where it stopped, as with any send.
        loop {
            let (n, back) = stream.send_vectored_zc(bufs).submit().complete().await;
            bufs = back;
            sent += n.unwrap();
            if sent == total {
                break (sent, bufs);
            }
            let rest = bufs_after(&bufs, sent);
            let (n, _) = stream.send(rest).submit().complete().await;
            sent += n.unwrap();
            if sent == total {
                break (sent, bufs);
            }
        }
    });
    assert_eq!(sent, total);
    assert!(
        reader.join().unwrap(),
        "the peer received other bytes than were sent"
    );
    assert_eq!((bufs.len(), drops.get()), (3, 0));
    drop(bufs);
    assert_eq!(drops.get(), 3);
    ring.block_on(stream.close()).unwrap();
}

/// The bytes of `bufs` from offset `from` on, copied: the rest of a short send.
fn bufs_after(bufs: &[PoisonBuf], from: usize) -> Vec<u8> {
    bufs.iter()
        .flat_map(|b| b.bytes.iter().copied())
        .skip(from)
        .collect()
}

#[test]
fn send_vectored_zc_dropped_under_reclaim_frees_the_buffers_after_the_notification() {
    let _fds = FdCheck::start();
    let ring = reclaim_ring();
    let (stream, client) = pair(&ring);
    fill(&ring, &stream);
    let drops = Rc::new(Cell::new(0));
    ring.block_on(async {
        let bufs = vec![
            PoisonBuf::new(4096, 1, &drops),
            PoisonBuf::new(4096, 2, &drops),
        ];
        let zc = stream.send_vectored_zc(bufs).submit();
        pause(&ring, 2).await;
        drop(zc);
        // Still held by the ring: the socket is full, the kernel may hold pages.
        assert_eq!(drops.get(), 0);
    });
    // The peer goes: the kernel lets go, and the ring frees both buffers, once.
    drop(client);
    ring.block_on(async {
        let started = Instant::now();
        while ring.stats().in_flight > 0 {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "{:?}",
                ring.stats()
            );
            pause(&ring, 2).await;
        }
    });
    assert_eq!(drops.get(), 2);
    assert_eq!(ring.stats().abandoned, 1);
    ring.block_on(stream.close()).unwrap();
}

#[test]
fn send_vectored_zc_of_too_many_buffers_is_refused_at_once() {
    let _fds = FdCheck::start();
    let ring = ring();
    let (stream, _client) = pair(&ring);
    let before = ring.stats().submitted;
    let (sent, bufs) = ring.block_on(
        stream
            .send_vectored_zc(vec![vec![1u8]; 1025])
            .submit()
            .complete(),
    );
    assert_eq!(sent.unwrap_err().kind(), std::io::ErrorKind::InvalidInput);
    assert_eq!(bufs.len(), 1025, "every buffer comes back");
    assert_eq!(ring.stats().submitted, before, "the kernel never saw it");
}
