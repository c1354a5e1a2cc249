//! A tiny ring, an overflowing completion queue, a ring dropped under load.

use std::io::Write;
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, OwnedFd};
use std::rc::Rc;
use std::time::{Duration, Instant};

use futures_lite::future;
use linear_uring::fs::File;
use linear_uring::net::{TcpListener, TcpStream};
use linear_uring::op::Timeout;
use linear_uring::{CancelOutcome, DropPolicy, Ring};

use super::{assert_usable, pause, ring, set_int_option, within};
use crate::fds::FdCheck;
use crate::storm::check::{stream_bytes, Ledger};
use crate::storm::pipe::pipe;

#[test]
fn tiny_ring_two_entries_under_1000_ops_completes_each_once() {
    const PIPES: usize = 40;
    const READS: usize = 10;
    let fds = FdCheck::start();
    let ring = Ring::builder()
        .entries(2)
        .drop_policy(DropPolicy::Reclaim)
        .build()
        .unwrap();
    let ledger = Ledger::new();
    let pipes: Vec<(File, File)> = (0..PIPES + 10)
        .map(|_| {
            let (read, write) = pipe();
            (
                File::from_fd(&ring, read).unwrap(),
                File::from_fd(&ring, write).unwrap(),
            )
        })
        .collect();
    let (busy, spare) = pipes.split_at(PIPES);
    ring.block_on(within(&ring, async {
        // 1,100 ops in flight through a 2-entry submission queue before any is awaited.
        let mut reads = Vec::new();
        for (i, (reader, _)) in busy.iter().enumerate() {
            for j in 0..READS {
                let read = reader.read(ledger.empty(1));
                let read = if j % 2 == 0 {
                    read.timeout(Duration::from_secs(30))
                } else {
                    read
                };
                reads.push((i, read.submit()));
            }
        }
        let timers: Vec<_> = (0..300)
            .map(|i| Timeout::new(&ring, Duration::from_millis(1 + i % 3)).submit())
            .collect();
        let long_timers: Vec<_> = (0..100)
            .map(|_| Timeout::new(&ring, Duration::from_secs(60)).submit())
            .collect();
        let nops: Vec<_> = (0..200).map(|_| ring.nop()).collect();
        let abandoned: Vec<_> = spare
            .iter()
            .flat_map(|(reader, _)| (0..10).map(|_| reader.read(ledger.empty(4)).submit()))
            .collect();
        // And the deadline's timer.
        assert_eq!(ring.stats().in_flight, 1101);
        drop(abandoned);
        let writes: Vec<_> = busy
            .iter()
            .enumerate()
            .map(|(i, (_, writer))| writer.write(stream_bytes(i as u64, 0, READS)).submit())
            .collect();
        for write in writes {
            assert_eq!(write.complete().await.0.unwrap(), READS);
        }
        let mut got = vec![Vec::new(); PIPES];
        for (i, read) in reads {
            let (n, buf) = read.complete().await;
            assert_eq!(n.unwrap(), 1);
            got[i].extend_from_slice(buf.as_slice());
        }
        for (i, mut bytes) in got.into_iter().enumerate() {
            // Ten one-byte reads share each pipe in an order the kernel picks: every
            // byte written was read exactly once.
            let mut expected = stream_bytes(i as u64, 0, READS);
            expected.sort_unstable();
            bytes.sort_unstable();
            assert_eq!(bytes, expected, "pipe {i}");
        }
        for timer in timers {
            timer.complete().await.unwrap();
        }
        for timer in long_timers {
            assert!(timer.cancel().await.is_cancelled());
        }
        for nop in nops {
            nop.complete().await.unwrap();
        }
        for (_, writer) in spare {
            let (n, _) = writer.write(vec![0; 40]).submit().complete().await;
            n.unwrap();
        }
        pause(&ring, 10).await;
    }));
    let stats = ring.stats();
    assert_eq!(stats.in_flight, 0, "{stats:?}");
    assert_eq!(stats.submitted, stats.completed, "{stats:?}");
    assert_eq!(stats.abandoned, 100, "{stats:?}");
    assert_usable(&ring);
    drop((pipes, ring));
    ledger.audit().unwrap();
    fds.finish();
}

#[test]
fn completion_queue_overflow_with_reads_and_accepts_loses_none() {
    // See also `exec::completion_queue_overflow_loses_no_completion` (nops).
    const PIPES: usize = 100;
    const CLIENTS: usize = 64;
    let fds = FdCheck::start();
    let ring = Ring::builder()
        .entries(4)
        .drop_policy(DropPolicy::Panic)
        .build()
        .unwrap();
    let ledger = Ledger::new();
    let listener = TcpListener::bind(&ring, "127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let pipes: Vec<(File, std::fs::File)> = (0..PIPES)
        .map(|i| {
            let (read, write) = pipe();
            let mut write = std::fs::File::from(write);
            write.write_all(&stream_bytes(i as u64, 0, 3)).unwrap();
            (File::from_fd(&ring, read).unwrap(), write)
        })
        .collect();
    let clients: Vec<_> = (0..CLIENTS)
        .map(|_| std::net::TcpStream::connect(addr).unwrap())
        .collect();
    let peers = ring.block_on(within(&ring, async {
        // Every one of these completes as soon as the kernel sees it: 164 completions
        // for a completion queue of 8.
        let accepts: Vec<_> = (0..CLIENTS).map(|_| listener.accept().submit()).collect();
        let reads: Vec<_> = pipes
            .iter()
            .map(|(reader, _)| reader.read(ledger.empty(16)).submit())
            .collect();
        for (i, read) in reads.into_iter().enumerate() {
            let (n, buf) = read.complete().await;
            assert_eq!(n.unwrap(), 3);
            assert_eq!(buf.as_slice(), stream_bytes(i as u64, 0, 3), "pipe {i}");
        }
        let mut peers = Vec::new();
        for accept in accepts {
            let (stream, peer) = accept.complete().await.unwrap();
            stream.close().await.unwrap();
            peers.push(peer);
        }
        peers
    }));
    let mut expected: Vec<SocketAddr> = clients.iter().map(|c| c.local_addr().unwrap()).collect();
    let mut peers = peers;
    expected.sort();
    peers.sort();
    assert_eq!(peers, expected, "every connection accepted exactly once");
    let stats = ring.stats();
    assert_eq!(stats.in_flight, 0, "{stats:?}");
    // The reads, the accepts, the closes of the accepted streams, the deadline.
    assert_eq!(
        stats.completed,
        (PIPES + 2 * CLIENTS + 1) as u64,
        "{stats:?}"
    );
    assert_eq!(stats.submitted, stats.completed, "{stats:?}");
    assert_usable(&ring);
    drop((pipes, clients, listener, ring));
    ledger.audit().unwrap();
    fds.finish();
}

/// Resources for ops that wait in the kernel.
struct Waiting {
    /// Pipes with nothing to read.
    empty: Vec<(File, std::fs::File)>,
    /// Pipes with no room to write.
    full: Vec<(std::fs::File, File)>,
    /// Connections with nothing to receive and no room to send.
    streams: Vec<(TcpStream, std::net::TcpStream)>,
    listeners: Vec<TcpListener>,
    /// A listener whose queue is full, so that connects to it wait.
    full_listener: (std::net::TcpListener, SocketAddr, std::net::TcpStream),
}

impl Waiting {
    fn new(ring: &Ring) -> Waiting {
        let empty = (0..50)
            .map(|_| {
                let (read, write) = pipe();
                (
                    File::from_fd(ring, read).unwrap(),
                    std::fs::File::from(write),
                )
            })
            .collect();
        let full = (0..50)
            .map(|_| {
                let (read, write) = pipe();
                let mut std_write = std::fs::File::from(write);
                set_nonblocking(&std_write);
                while std_write.write(&[0; 4096]).is_ok() {}
                let write = OwnedFd::from(std_write);
                (
                    std::fs::File::from(read),
                    File::from_fd(ring, write).unwrap(),
                )
            })
            .collect();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let streams = (0..50)
            .map(|_| {
                let client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
                let (server, _) = listener.accept().unwrap();
                set_int_option(&server, libc::SOL_SOCKET, libc::SO_SNDBUF, 4096);
                set_nonblocking(&server);
                while (&server).write(&[0; 4096]).is_ok() {}
                (TcpStream::from_std(ring, server).unwrap(), client)
            })
            .collect();
        let listeners = (0..10)
            .map(|_| TcpListener::bind(ring, "127.0.0.1:0").unwrap())
            .collect();
        let queue_full = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = queue_full.local_addr().unwrap();
        // SAFETY: listen(2) on a socket we own, integer arguments only.
        assert_eq!(unsafe { libc::listen(queue_full.as_raw_fd(), 0) }, 0);
        let filler = std::net::TcpStream::connect(addr).unwrap();
        Waiting {
            empty,
            full,
            streams,
            listeners,
            full_listener: (queue_full, addr, filler),
        }
    }
}

fn set_nonblocking(fd: &impl AsRawFd) {
    // SAFETY: fcntl(2) with integer arguments on a descriptor the caller keeps open.
    unsafe {
        let flags = libc::fcntl(fd.as_raw_fd(), libc::F_GETFL);
        assert!(flags >= 0);
        assert_eq!(
            libc::fcntl(fd.as_raw_fd(), libc::F_SETFL, flags | libc::O_NONBLOCK),
            0
        );
    }
}

/// Any token, to hold ops of every kind in one list and consume them after the ring
/// is gone.
trait Held {
    /// Cancels the op (its ring has shut down: the kernel has answered already).
    fn settle(self: Box<Self>);
}

impl<K: linear_uring::OpKind> Held for linear_uring::Op<K> {
    fn settle(self: Box<Self>) {
        match future::block_on((*self).cancel()) {
            CancelOutcome::Cancelled(residue) => drop(residue),
            CancelOutcome::Completed(output) => drop(output),
        }
    }
}

/// Submits `count` ops of every kind that wait in the kernel, round robin over the
/// resources, and hands each token to `keep`.
fn submit_every_kind(
    ring: &Ring,
    waiting: &Waiting,
    ledger: &Rc<Ledger>,
    count: usize,
    mut keep: impl FnMut(Box<dyn Held>),
) {
    for i in 0..count {
        let pick = i / 11;
        match i % 11 {
            0 => {
                let reader = &waiting.empty[pick % 50].0;
                keep(Box::new(reader.read(ledger.empty(64)).submit()));
            }
            1 => {
                let reader = &waiting.empty[pick % 50].0;
                let read = reader
                    .read(ledger.empty(64))
                    .timeout(Duration::from_secs(60));
                keep(Box::new(read.submit()));
            }
            2 => {
                let writer = &waiting.full[pick % 50].1;
                keep(Box::new(writer.write(ledger.filled(vec![2; 512])).submit()));
            }
            3 => {
                let stream = &waiting.streams[pick % 50].0;
                keep(Box::new(stream.recv(ledger.empty(64)).submit()));
            }
            4 => {
                let stream = &waiting.streams[pick % 50].0;
                keep(Box::new(stream.send(ledger.filled(vec![3; 512])).submit()));
            }
            5 => keep(Box::new(waiting.listeners[pick % 10].accept().submit())),
            6 if pick % 10 == 0 => {
                let connect = TcpStream::connect(ring, waiting.full_listener.1).unwrap();
                keep(Box::new(connect.submit()));
            }
            6 | 7 => keep(Box::new(
                Timeout::new(ring, Duration::from_secs(60)).submit(),
            )),
            8 => keep(Box::new(ring.nop())),
            9 => {
                let socket =
                    linear_uring::op::Socket::new(ring, libc::AF_INET, libc::SOCK_STREAM, 0);
                keep(Box::new(socket.submit()));
            }
            _ => {
                let stream = &waiting.streams[pick % 50].0;
                let recv = stream
                    .recv(ledger.empty(64))
                    .timeout(Duration::from_secs(60));
                keep(Box::new(recv.submit()));
            }
        }
    }
}

/// Drops a ring with 10,000 ops of every kind in flight: a third held by tasks, a
/// third held by the test past the ring's end, a third (under `Reclaim`) abandoned
/// just before. Nothing may panic or hang, and afterwards no descriptor may be open
/// and every buffer must have been dropped exactly once, and never written after.
fn drop_ring_under_load(policy: DropPolicy) {
    const OPS: usize = 10_000;
    let fds = FdCheck::start();
    let ring = ring(policy);
    let handle = ring.clone();
    let ledger = Ledger::new();
    let waiting = Waiting::new(&ring);
    let mut held: Vec<Box<dyn Held>> = Vec::new();
    let (mut in_tasks, mut abandoned) = (0, 0);
    ring.block_on(async {
        let mut n = 0;
        submit_every_kind(&ring, &waiting, &ledger, OPS, |op| {
            n += 1;
            match n % 3 {
                0 => {
                    in_tasks += 1;
                    // Never resolves: the task holds its op until the ring shuts down.
                    drop(ring.spawn(async move {
                        let _op = op;
                        future::pending::<()>().await;
                    }));
                }
                1 if policy == DropPolicy::Reclaim => {
                    abandoned += 1;
                    drop(op);
                }
                _ => held.push(op),
            }
        });
        pause(&ring, 20).await;
    });
    // The ops, and the pause's timer.
    assert_eq!(ring.stats().submitted, OPS as u64 + 1, "{:?}", ring.stats());
    let start = Instant::now();
    drop(ring);
    let took = start.elapsed();
    assert!(took < Duration::from_secs(4), "the shutdown took {took:?}");
    assert!(handle.is_shut_down());
    let stats = handle.stats();
    assert_eq!(stats.in_flight, 0, "{stats:?}");
    assert_eq!(stats.completed, OPS as u64 + 1, "{stats:?}");
    assert_eq!(stats.abandoned, abandoned + in_tasks, "{stats:?}");
    // The tokens held past the shutdown resolve, and hand back what they own.
    let live = ledger.live();
    assert!(live > 0, "the held ops' buffers are still theirs");
    for op in held {
        op.settle();
    }
    drop(waiting);
    ledger.audit().unwrap();
    fds.finish();
}

#[test]
fn ring_dropped_with_10000_ops_in_flight_panic_policy_no_panic_nothing_left() {
    drop_ring_under_load(DropPolicy::Panic);
}

#[test]
fn ring_dropped_with_10000_ops_in_flight_some_abandoned_nothing_left() {
    drop_ring_under_load(DropPolicy::Reclaim);
}
