//! Provided buffer rings: receives that take a buffer from a group when data
//! arrives, single-shot and multishot, and every buffer back to the group once.

use std::io::Write;
use std::os::unix::net::UnixStream as StdUnixStream;
use std::time::{Duration, Instant};

use linear_uring::buf::{BufRing, ProvidedBuf};
use linear_uring::net::UnixStream;
use linear_uring::{CancelOutcome, Ring};

use crate::fds::FdCheck;
use crate::net_tcp::{pause, reclaim_ring, ring};

/// A ring's stream and its std peer.
fn pair(ring: &Ring) -> (UnixStream, StdUnixStream) {
    let (ours, theirs) = StdUnixStream::pair().unwrap();
    (UnixStream::from_std(ring, ours).unwrap(), theirs)
}

fn enobufs(err: &std::io::Error) -> bool {
    err.raw_os_error() == Some(libc::ENOBUFS)
}

#[test]
fn buf_ring_rejects_a_size_that_is_not_a_power_of_two_or_empty_buffers() {
    let ring = ring();
    for (entries, len) in [(3, 64), (0, 64), (4, 0)] {
        let err = BufRing::new(&ring, entries, len).unwrap_err();
        assert_eq!(
            err.kind(),
            std::io::ErrorKind::InvalidInput,
            "{entries} {len}: {err}"
        );
    }
}

#[test]
fn recv_provided_picks_a_buffer_and_its_drop_gives_it_back() {
    let _fds = FdCheck::start();
    let ring = ring();
    let group = BufRing::new(&ring, 4, 64).unwrap();
    let (stream, mut peer) = pair(&ring);
    peer.write_all(b"first").unwrap();
    let buf = ring
        .block_on(stream.recv_provided(&group).submit().complete())
        .unwrap()
        .expect("bytes, not end of stream");
    assert_eq!(&buf[..], b"first");
    assert_eq!(group.available(), 3);
    drop(buf);
    assert_eq!(group.available(), 4);
    // End of stream: no buffer is taken.
    drop(peer);
    let eof = ring
        .block_on(stream.recv_provided(&group).submit().complete())
        .unwrap();
    assert!(eof.is_none(), "{eof:?}");
    assert_eq!(group.available(), 4);
}

#[test]
fn recv_provided_with_every_buffer_out_fails_enobufs_and_loses_no_bytes() {
    let _fds = FdCheck::start();
    let ring = ring();
    let group = BufRing::new(&ring, 2, 16).unwrap();
    let (stream, mut peer) = pair(&ring);
    let held: Vec<ProvidedBuf> = (0..2)
        .map(|i| {
            peer.write_all(&[i; 4]).unwrap();
            ring.block_on(stream.recv_provided(&group).submit().complete())
                .unwrap()
                .unwrap()
        })
        .collect();
    assert_eq!(group.available(), 0);
    peer.write_all(b"waiting").unwrap();
    let err = ring
        .block_on(stream.recv_provided(&group).submit().complete())
        .unwrap_err();
    assert!(enobufs(&err), "{err}");
    // Give one back: the bytes were left in the socket, and a receive gets them.
    drop(held);
    let buf = ring
        .block_on(stream.recv_provided(&group).submit().complete())
        .unwrap()
        .unwrap();
    assert_eq!(&buf[..], b"waiting");
}

#[test]
fn recv_provided_cancelled_with_nothing_arrived_takes_no_buffer() {
    let _fds = FdCheck::start();
    let ring = ring();
    let group = BufRing::new(&ring, 2, 16).unwrap();
    let (stream, _peer) = pair(&ring);
    let outcome = ring.block_on(async {
        let recv = stream.recv_provided(&group).submit();
        pause(&ring, 2).await;
        recv.cancel().await
    });
    assert!(
        matches!(outcome, CancelOutcome::Cancelled(())),
        "{outcome:?}"
    );
    assert_eq!(group.available(), 2);
}

#[test]
fn recv_provided_dropped_after_data_arrived_gives_the_buffer_back() {
    let _fds = FdCheck::start();
    let ring = reclaim_ring();
    let group = BufRing::new(&ring, 2, 16).unwrap();
    let (stream, mut peer) = pair(&ring);
    ring.block_on(async {
        let recv = stream.recv_provided(&group).submit();
        peer.write_all(b"lost").unwrap();
        pause(&ring, 2).await;
        drop(recv);
    });
    assert_eq!(group.available(), 2);
    assert_eq!(ring.stats().abandoned, 1);
}

#[test]
fn recv_multi_yields_each_receive_in_order_then_ends_at_end_of_stream() {
    let _fds = FdCheck::start();
    let ring = ring();
    let group = BufRing::new(&ring, 8, 64).unwrap();
    let (stream, mut peer) = pair(&ring);
    let got = ring.block_on(async {
        let mut incoming = stream.recv_multi(&group).submit();
        let mut got = Vec::new();
        for word in ["one", "two", "three"] {
            peer.write_all(word.as_bytes()).unwrap();
            let buf = incoming.next().await.expect("not ended").unwrap();
            got.push(String::from_utf8(buf.to_vec()).unwrap());
        }
        drop(peer);
        assert!(incoming.next().await.is_none(), "end of stream ends it");
        assert!(incoming.is_finished());
        got
    });
    assert_eq!(got, ["one", "two", "three"]);
    assert_eq!(group.available(), 8);
    assert_eq!(ring.stats().in_flight, 0);
}

#[test]
fn recv_multi_out_of_buffers_ends_with_enobufs_and_rearmed_gets_the_rest() {
    let _fds = FdCheck::start();
    let ring = ring();
    let group = BufRing::new(&ring, 2, 8).unwrap();
    let (stream, mut peer) = pair(&ring);
    let (first, rest) = ring.block_on(async {
        let mut incoming = stream.recv_multi(&group).submit();
        // 24 bytes into two 8-byte buffers, held: the third receive finds none.
        peer.write_all(b"abcdefghijklmnopqrstuvwx").unwrap();
        let a = incoming.next().await.unwrap().unwrap();
        let b = incoming.next().await.unwrap().unwrap();
        let ended = incoming.next().await.expect("the error first").unwrap_err();
        assert!(enobufs(&ended), "{ended}");
        assert!(incoming.next().await.is_none());
        let first = [&a[..], &b[..]].concat();
        drop((a, b));
        // Re-armed: the bytes the kernel could not place are still in the socket.
        let mut again = stream.recv_multi(&group).submit();
        let c = again.next().await.unwrap().unwrap();
        let rest = c.to_vec();
        drop(c);
        let drained = again.cancel().await;
        assert!(drained.items.is_empty());
        (first, rest)
    });
    assert_eq!(first, b"abcdefghijklmnop");
    assert_eq!(rest, b"qrstuvwx");
    assert_eq!(group.available(), 2);
}

#[test]
fn recv_multi_cancel_hands_back_the_buffers_not_taken() {
    let _fds = FdCheck::start();
    let ring = ring();
    let group = BufRing::new(&ring, 8, 64).unwrap();
    let (stream, mut peer) = pair(&ring);
    let drained = ring.block_on(async {
        let incoming = stream.recv_multi(&group).submit();
        for word in ["a", "bb", "ccc"] {
            peer.write_all(word.as_bytes()).unwrap();
            pause(&ring, 2).await;
        }
        incoming.cancel().await
    });
    drained.end.as_ref().unwrap();
    assert!(
        drained.cancelled,
        "the peer is still there: the cancel stopped it"
    );
    let words: Vec<&[u8]> = drained.items.iter().map(|b| &b[..]).collect();
    assert_eq!(words, [&b"a"[..], b"bb", b"ccc"]);
    assert_eq!(group.available(), 5);
    drop(drained);
    assert_eq!(group.available(), 8);
}

/// The peer closed and the stream's end was reaped before the program looked: a
/// cancel then reports that end, not a cancel, so that a loop racing `next()`
/// against a timer learns the connection is gone.
#[test]
fn recv_multi_ended_by_the_peer_before_a_cancel_reports_the_end() {
    let _fds = FdCheck::start();
    let ring = ring();
    let group = BufRing::new(&ring, 8, 64).unwrap();
    for how in ["linear cancel", "cancel()", "deadline"] {
        let (stream, mut peer) = pair(&ring);
        ring.block_on(async {
            let mut incoming = stream.recv_multi(&group).submit();
            peer.write_all(b"last words").unwrap();
            drop(peer);
            // Both completions reaped, neither taken.
            pause(&ring, 3).await;
            assert!(!incoming.is_finished());
            match how {
                "linear cancel" => {
                    let outcome = linear_uring::cancel(&mut incoming).await;
                    let CancelOutcome::Completed(Some(Ok(buf))) = outcome else {
                        panic!("{how}: the bytes first, got {outcome:?}");
                    };
                    assert_eq!(&buf[..], b"last words");
                    let outcome = linear_uring::cancel(&mut incoming).await;
                    assert!(
                        matches!(outcome, CancelOutcome::Completed(None)),
                        "{how}: the end of the stream, got {outcome:?}"
                    );
                    assert!(incoming.is_finished());
                }
                "cancel()" => {
                    let drained = incoming.cancel().await;
                    drained.end.as_ref().unwrap();
                    assert!(!drained.cancelled, "{how}: the peer closed first");
                    assert_eq!(drained.items.len(), 1);
                }
                _ => {
                    // What is ready is taken before the timer is looked at.
                    let timer = ring.sleep(Duration::ZERO);
                    let first = linear_uring::deadline(&mut incoming, timer).await;
                    assert!(matches!(first, Ok(Some(Ok(_)))), "{how}: {first:?}");
                    let timer = ring.sleep(Duration::ZERO);
                    let end = linear_uring::deadline(&mut incoming, timer).await;
                    assert!(matches!(end, Ok(None)), "{how}: {end:?}");
                    // Nobody asked it to stop: that `None` is the peer's close.
                    assert!(!incoming.cancel_requested());
                    assert!(incoming.is_finished());
                }
            }
            stream.close().await.unwrap();
        });
    }
    assert_eq!(group.available(), 8);
    assert_eq!(ring.stats().in_flight, 0);
}

/// A cancel that reaches a live stream stops it, and says so.
#[test]
fn recv_multi_cancelled_while_the_peer_is_there_reports_a_cancel() {
    let _fds = FdCheck::start();
    let ring = ring();
    let group = BufRing::new(&ring, 8, 64).unwrap();
    let (stream, _peer) = pair(&ring);
    ring.block_on(async {
        let mut incoming = stream.recv_multi(&group).submit();
        assert!(!incoming.cancel_requested());
        let outcome = linear_uring::cancel(&mut incoming).await;
        assert!(
            matches!(outcome, CancelOutcome::Cancelled(())),
            "{outcome:?}"
        );
        assert!(incoming.cancel_requested());
        assert!(incoming.is_finished());
    });
    assert_eq!(group.available(), 8);
}

#[test]
fn recv_multi_dropped_under_reclaim_gives_every_buffer_back() {
    let _fds = FdCheck::start();
    let ring = reclaim_ring();
    let group = BufRing::new(&ring, 8, 64).unwrap();
    let (stream, mut peer) = pair(&ring);
    ring.block_on(async {
        let incoming = stream.recv_multi(&group).submit();
        for word in ["a", "bb"] {
            peer.write_all(word.as_bytes()).unwrap();
            pause(&ring, 2).await;
        }
        drop(incoming);
        pause(&ring, 2).await;
    });
    assert_eq!(group.available(), 8);
    let stats = ring.stats();
    assert_eq!((stats.abandoned, stats.in_flight), (1, 0), "{stats:?}");
}

#[test]
fn buf_ring_outlives_its_handle_while_a_buffer_is_out() {
    let _fds = FdCheck::start();
    let ring = ring();
    let group = BufRing::new(&ring, 2, 16).unwrap();
    let (stream, mut peer) = pair(&ring);
    peer.write_all(b"kept").unwrap();
    let buf = ring
        .block_on(stream.recv_provided(&group).submit().complete())
        .unwrap()
        .unwrap();
    // The group's handle goes; the buffer it lent still reads, and gives itself
    // back to memory that is still there.
    drop(group);
    assert_eq!(&buf[..], b"kept");
    drop(buf);
}

/// Gives back every held buffer, after checking that nobody wrote into it since it
/// was taken.
fn give_back_held(held: &mut Vec<(ProvidedBuf, Vec<u8>)>) {
    for (buf, copy) in held.drain(..) {
        assert_eq!(&buf[..], &copy[..], "a held buffer changed");
    }
}

/// Checks that `bufs`, received at stream position `got`, hold the pattern's next
/// bytes; holds some of them (at most six, with a copy to check them against when
/// they are given back). Returns the position after them.
fn check_stream(
    bufs: Vec<ProvidedBuf>,
    mut got: u64,
    held: &mut Vec<(ProvidedBuf, Vec<u8>)>,
    rng: &mut crate::storm::check::Rng,
) -> u64 {
    for buf in bufs {
        for (k, &byte) in buf.iter().enumerate() {
            assert_eq!(byte, pattern(got + k as u64), "byte {}", got + k as u64);
        }
        got += buf.len() as u64;
        if rng.chance(30) && held.len() < 6 {
            let copy = buf.to_vec();
            held.push((buf, copy));
        }
    }
    got
}

/// Byte `i` of the storm's stream: a run that a foreign write would break.
fn pattern(i: u64) -> u8 {
    (i % 251) as u8
}

/// Whether `bytes` continue the pattern: each byte is the one after the last.
fn is_run(bytes: &[u8]) -> bool {
    bytes
        .windows(2)
        .all(|w| w[1] == ((u16::from(w[0]) + 1) % 251) as u8)
}

#[test]
fn buf_ring_storm_every_buffer_returned_once_and_none_written_while_held() {
    const BYTES: u64 = 4 << 20;
    let _fds = FdCheck::start();
    let ring = reclaim_ring();
    let group = BufRing::new(&ring, 16, 4096).unwrap();
    let (stream, mut peer) = pair(&ring);
    let writer = std::thread::spawn(move || {
        let mut sent = 0u64;
        while sent < BYTES {
            let len = 1 + (sent * 7919 % 9000);
            let chunk: Vec<u8> = (sent..sent + len).map(pattern).collect();
            if peer.write_all(&chunk).is_err() {
                break;
            }
            sent += len;
        }
        sent
    });
    let mut rng = crate::storm::check::Rng::derive(0xb0f_5eed, &[3]);
    let started = Instant::now();
    let (taken, fates) = ring.block_on(async {
        // Buffers held for a while, with a copy of what they held when taken.
        let mut held: Vec<(ProvidedBuf, Vec<u8>)> = Vec::new();
        let (mut taken, mut fates) = (0u64, [0usize; 4]);
        let mut incoming = stream.recv_multi(&group).submit();
        loop {
            assert!(started.elapsed() < Duration::from_secs(60), "stuck");
            let fate = rng.below(20) as usize;
            fates[fate.min(3)] += 1;
            match fate {
                0 => {
                    let drained = incoming.cancel().await;
                    for buf in drained.items {
                        assert!(is_run(&buf), "a buffer was written by another receive");
                        taken += buf.len() as u64;
                    }
                    incoming = stream.recv_multi(&group).submit();
                }
                1 => {
                    // Dropped with buffers in it: the ring gives them back.
                    if rng.chance(50) {
                        pause(&ring, 1).await;
                    }
                    incoming = stream.recv_multi(&group).submit();
                }
                2 => {
                    // Give back what is held, after checking nobody wrote into it.
                    give_back_held(&mut held);
                }
                _ => match incoming.next().await {
                    Some(Ok(buf)) => {
                        assert!(is_run(&buf), "a buffer was written by another receive");
                        taken += buf.len() as u64;
                        if rng.chance(30) && held.len() < 8 {
                            let copy = buf.to_vec();
                            held.push((buf, copy));
                        }
                    }
                    Some(Err(err)) => {
                        assert_eq!(err.raw_os_error(), Some(libc::ENOBUFS), "{err}");
                        give_back_held(&mut held);
                        incoming = stream.recv_multi(&group).submit();
                    }
                    None => break,
                },
            }
        }
        give_back_held(&mut held);
        (taken, fates)
    });
    let sent = writer.join().unwrap();
    assert_eq!(group.available(), 16, "every buffer back, once");
    let stats = ring.stats();
    assert_eq!(stats.in_flight, 0, "{stats:?}");
    assert!(taken <= sent);
    eprintln!(
        "buf_ring storm: {sent} bytes sent, {taken} taken, fates (cancel, drop, give back, \
         next) {fates:?}, {} abandoned, {:?}",
        stats.abandoned,
        started.elapsed()
    );
}

#[test]
fn recv_multi_stopped_by_a_full_completion_queue_is_rearmed_and_loses_nothing() {
    let _fds = FdCheck::start();
    // Eight completion queue entries, fifty buffers' worth of bytes waiting.
    let ring = Ring::builder()
        .entries(4)
        .drop_policy(linear_uring::DropPolicy::Panic)
        .build()
        .unwrap();
    let group = BufRing::new(&ring, 64, 8).unwrap();
    let (stream, mut peer) = pair(&ring);
    let sent: Vec<u8> = (0..400u32).map(|i| (i % 251) as u8).collect();
    peer.write_all(&sent).unwrap();
    let got = ring.block_on(async {
        let mut incoming = stream.recv_multi(&group).submit();
        let mut got = Vec::new();
        while got.len() < sent.len() {
            let buf = incoming.next().await.expect("re-armed, not ended").unwrap();
            got.extend_from_slice(&buf);
        }
        assert!(incoming.cancel().await.items.is_empty());
        got
    });
    assert_eq!(got, sent);
    assert!(ring.stats().submitted > 1, "never stopped?");
}

#[test]
fn buf_ring_of_another_ring_is_refused_before_the_kernel_sees_it() {
    let _fds = FdCheck::start();
    let ring = ring();
    let other = Ring::new().unwrap();
    // The other ring's group has id 0, as this ring's would: the kernel would pick
    // from this ring's group 0 and the handle would read the other's memory.
    let foreign = BufRing::new(&other, 4, 64).unwrap();
    let own = BufRing::new(&ring, 4, 64).unwrap();
    let (stream, mut peer) = pair(&ring);
    peer.write_all(b"not for the foreign group").unwrap();
    let err = ring
        .block_on(stream.recv_provided(&foreign).submit().complete())
        .unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput, "{err}");
    assert!(err.to_string().contains("belongs to another ring"), "{err}");
    let ended = ring.block_on(async {
        let mut multi = stream.recv_multi(&foreign).submit();
        let first = multi.next().await;
        (first, multi.next().await.is_none())
    });
    assert!(matches!(&ended.0, Some(Err(e)) if e.kind() == std::io::ErrorKind::InvalidInput));
    assert!(ended.1);
    // Nothing was taken from either group, and the bytes are still there.
    assert_eq!((foreign.available(), own.available()), (4, 4));
    let buf = ring
        .block_on(stream.recv_provided(&own).submit().complete())
        .unwrap()
        .unwrap();
    assert_eq!(&buf[..], b"not for the foreign group");
}

#[test]
fn buf_ring_and_its_buffers_outlive_their_ring() {
    let _fds = FdCheck::start();
    let ring = ring();
    let group = BufRing::new(&ring, 2, 16).unwrap();
    let (stream, mut peer) = pair(&ring);
    peer.write_all(b"kept").unwrap();
    let buf = ring
        .block_on(stream.recv_provided(&group).submit().complete())
        .unwrap()
        .unwrap();
    drop(stream);
    // The ring shuts down and closes; the group and the buffer it lent stay
    // readable, and give themselves back to memory that is still theirs.
    drop(ring);
    assert_eq!(&buf[..], b"kept");
    drop(buf);
    assert_eq!(group.available(), 2);
    drop(group);
}

#[test]
fn buf_ring_ids_are_reused_after_a_group_goes() {
    let ring = ring();
    // One group lives throughout; more groups than there are ids come and go
    // beside it. Each one's id comes back, and none lands on the live one.
    let kept = BufRing::new(&ring, 1, 8).unwrap();
    for _ in 0..70_000u32 {
        drop(BufRing::new(&ring, 1, 8).unwrap());
    }
    assert_eq!(kept.available(), 1);
}

/// Receives with bundles until `want` bytes arrived; returns them and how many
/// buffers the largest bundle had.
fn recv_bundles(
    ring: &Ring,
    stream: &UnixStream,
    group: &BufRing,
    want: usize,
) -> (Vec<u8>, usize) {
    let (mut got, mut widest) = (Vec::new(), 0);
    while got.len() < want {
        let bufs = ring
            .block_on(stream.recv_bundle(group).submit().complete())
            .unwrap();
        assert!(!bufs.is_empty(), "end of stream after {} bytes", got.len());
        widest = widest.max(bufs.len());
        for (i, buf) in bufs.iter().enumerate() {
            if i + 1 < bufs.len() {
                assert_eq!(
                    buf.len(),
                    group.buf_len(),
                    "every buffer but the last is full"
                );
            }
            got.extend_from_slice(buf);
        }
        assert_eq!(
            group.available(),
            group.entries() - bufs.len(),
            "the bundle's buffers are out"
        );
    }
    (got, widest)
}

#[test]
fn recv_bundle_fills_consecutive_buffers_in_order_and_gives_them_back() {
    let _fds = FdCheck::start();
    let ring = ring();
    let group = BufRing::new(&ring, 16, 1024).unwrap();
    let (stream, mut peer) = pair(&ring);
    // Buffers taken and given back in a scrambled order first, so that the ring's
    // entries no longer follow the ids.
    let held: Vec<ProvidedBuf> = (0..5u8)
        .map(|i| {
            peer.write_all(&[i]).unwrap();
            ring.block_on(stream.recv_provided(&group).submit().complete())
                .unwrap()
                .unwrap()
        })
        .collect();
    // Given back last to first: the ring's entries no longer follow the ids.
    let mut held = held;
    while let Some(buf) = held.pop() {
        drop(buf);
    }
    let data: Vec<u8> = (0..10_000u32).map(|i| (i % 251) as u8).collect();
    let (got, widest) = std::thread::scope(|scope| {
        scope.spawn(|| peer.write_all(&data).unwrap());
        // The first bundle of a socket may hold one buffer (Linux 6.10 does so);
        // later ones take what has arrived.
        recv_bundles(&ring, &stream, &group, data.len())
    });
    assert_eq!(got, data, "every byte once, in order");
    assert!(widest > 1, "no receive filled more than one buffer");
    assert_eq!(group.available(), 16);
}

#[test]
fn recv_bundle_at_end_of_stream_takes_no_buffer() {
    let _fds = FdCheck::start();
    let ring = ring();
    let group = BufRing::new(&ring, 4, 64).unwrap();
    // More ends of stream than the group has buffers: if one took a buffer, the
    // group would run dry and the last receive would fail with ENOBUFS.
    for _ in 0..12 {
        let (stream, peer) = pair(&ring);
        drop(peer);
        let bufs = ring
            .block_on(stream.recv_bundle(&group).submit().complete())
            .unwrap();
        assert!(bufs.is_empty(), "{bufs:?}");
        assert_eq!(group.available(), 4);
    }
    let (stream, mut peer) = pair(&ring);
    peer.write_all(b"still four buffers").unwrap();
    let bufs = ring
        .block_on(stream.recv_bundle(&group).submit().complete())
        .unwrap();
    let got: Vec<u8> = bufs.iter().flat_map(|b| b.iter().copied()).collect();
    assert_eq!(got, b"still four buffers");
}

#[test]
fn recv_bundle_with_every_buffer_out_fails_enobufs_and_dropped_gives_back() {
    let _fds = FdCheck::start();
    let ring = reclaim_ring();
    let group = BufRing::new(&ring, 2, 16).unwrap();
    let (stream, mut peer) = pair(&ring);
    peer.write_all(&[7; 32]).unwrap();
    let (all, _) = recv_bundles(&ring, &stream, &group, 32);
    assert_eq!(all, [7; 32]);
    // Hold every buffer: the next bundle has none.
    let held: Vec<ProvidedBuf> = std::iter::from_fn(|| {
        (group.available() > 0).then(|| {
            peer.write_all(&[1; 16]).unwrap();
            ring.block_on(stream.recv_provided(&group).submit().complete())
                .unwrap()
                .unwrap()
        })
    })
    .collect();
    peer.write_all(b"waiting").unwrap();
    let err = ring
        .block_on(stream.recv_bundle(&group).submit().complete())
        .unwrap_err();
    assert!(enobufs(&err), "{err}");
    drop(held);
    // A bundle dropped after its data arrived: the ring gives its buffers back.
    ring.block_on(async {
        let recv = stream.recv_bundle(&group).submit();
        pause(&ring, 2).await;
        drop(recv);
    });
    assert_eq!(group.available(), 2);
    assert_eq!(ring.stats().abandoned, 1);
}

#[test]
fn recv_bundle_storm_mixed_with_single_receives_every_byte_once_in_order() {
    const BYTES: u64 = 1 << 20;
    let _fds = FdCheck::start();
    let ring = ring();
    let group = BufRing::new(&ring, 8, 512).unwrap();
    let (stream, mut peer) = pair(&ring);
    let writer = std::thread::spawn(move || {
        let mut sent = 0u64;
        while sent < BYTES {
            let len = (1 + sent * 7919 % 3000).min(BYTES - sent);
            let chunk: Vec<u8> = (sent..sent + len).map(pattern).collect();
            peer.write_all(&chunk).unwrap();
            sent += len;
        }
    });
    let mut rng = crate::storm::check::Rng::derive(0xb0d1e, &[1]);
    let (mut got, mut held, mut bundles, mut widest) = (0u64, Vec::new(), 0, 0);
    while got < BYTES {
        let received = if rng.chance(60) {
            ring.block_on(stream.recv_bundle(&group).submit().complete())
        } else {
            ring.block_on(stream.recv_provided(&group).submit().complete())
                .map(|buf| buf.into_iter().collect())
        };
        let bufs = match received {
            Ok(bufs) => bufs,
            Err(err) if enobufs(&err) => {
                give_back_held(&mut held);
                continue;
            }
            Err(err) => panic!("{err}"),
        };
        assert!(!bufs.is_empty(), "end of stream at {got}");
        if bufs.len() > 1 {
            bundles += 1;
            widest = widest.max(bufs.len());
        }
        got = check_stream(bufs, got, &mut held, &mut rng);
    }
    give_back_held(&mut held);
    writer.join().unwrap();
    assert_eq!(got, BYTES);
    assert_eq!(group.available(), 8, "every buffer back, once");
    assert!(bundles > 0, "no receive filled more than one buffer");
    eprintln!("bundle storm: {bundles} bundles of several buffers, the widest {widest}");
}

/// Two streams sharing `group`: on the first, a bundle of one buffer has been
/// received (so that the next may take several) and 32 `A`s wait; on the second,
/// 16 `B`s wait.
fn two_streams_waiting(
    ring: &Ring,
    group: &BufRing,
) -> ((UnixStream, StdUnixStream), (UnixStream, StdUnixStream)) {
    let ((a, mut peer_a), (b, mut peer_b)) = (pair(ring), pair(ring));
    peer_a.write_all(b"w").unwrap();
    drop(
        ring.block_on(a.recv_bundle(group).submit().complete())
            .unwrap(),
    );
    peer_a.write_all(&[b'A'; 32]).unwrap();
    peer_b.write_all(&[b'B'; 16]).unwrap();
    ((a, peer_a), (b, peer_b))
}

/// A single receive on `stream` (whose peer wrote 16 `B`s) takes a buffer of
/// `group` and gives it back, rewriting the ring entry after those a bundle used.
async fn take_and_give_back(stream: &UnixStream, group: &BufRing) {
    let single = stream
        .recv_provided(group)
        .submit()
        .complete()
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&single[..], &[b'B'; 16]);
}

/// A bundle's bytes in order, and its buffers' ids.
fn bytes_and_ids(bundle: &[ProvidedBuf]) -> (Vec<u8>, Vec<u16>) {
    let bytes = bundle.iter().flat_map(|buf| buf.iter().copied()).collect();
    let ids = bundle.iter().map(ProvidedBuf::id).collect();
    (bytes, ids)
}

#[test]
fn recv_bundle_claimed_after_another_receive_gave_a_buffer_back_gets_its_own_bytes() {
    let _fds = FdCheck::start();
    let ring = ring();
    let group = BufRing::new(&ring, 4, 16).unwrap();
    let ((a, _peer_a), (b, _peer_b)) = two_streams_waiting(&ring, &group);
    let bundle = ring
        .block_on(async {
            let bundle = a.recv_bundle(&group).submit();
            // The bundle's completion is reaped; before its token is polled, a
            // receive on the other stream takes a buffer and gives it back, which
            // rewrites the entry after the ones the bundle used.
            pause(&ring, 5).await;
            take_and_give_back(&b, &group).await;
            bundle.complete().await
        })
        .unwrap();
    let (bytes, ids) = bytes_and_ids(&bundle);
    assert_eq!(bytes, [b'A'; 32], "the bundle's buffers {ids:?}");
    drop(bundle);
    assert_eq!(group.available(), 4);
}

#[test]
fn recv_bundle_and_single_receive_abandoned_in_one_reap_give_each_buffer_back_once() {
    let _fds = FdCheck::start();
    let ring = reclaim_ring();
    let group = BufRing::new(&ring, 4, 16).unwrap();
    let ((a, _peer_a), (b, mut peer_b)) = two_streams_waiting(&ring, &group);
    ring.block_on(async {
        // Both dropped before their completions: the ring releases both in one reap.
        drop(a.recv_bundle(&group).submit());
        drop(b.recv_provided(&group).submit());
        pause(&ring, 5).await;
    });
    assert_eq!(group.available(), 4);
    every_buffer_in_the_ring_once(&ring, &group, &b, &mut peer_b);
}

/// Every buffer of `group` (four, all in the ring) is there once: four single
/// receives on `stream` get four different ids.
fn every_buffer_in_the_ring_once(
    ring: &Ring,
    group: &BufRing,
    stream: &UnixStream,
    peer: &mut StdUnixStream,
) {
    assert_eq!(group.entries(), 4);
    peer.write_all(&[b'C'; 64]).unwrap();
    let held: Vec<ProvidedBuf> = (0..4)
        .map(|_| {
            ring.block_on(stream.recv_provided(group).submit().complete())
                .unwrap()
                .unwrap()
        })
        .collect();
    let mut ids: Vec<u16> = held.iter().map(ProvidedBuf::id).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 4, "a buffer was handed out twice");
}

/// Receives with a multishot bundle stream until `want` bytes arrived, re-arming
/// it after `ENOBUFS`; each buffer is checked against the pattern, some are held
/// (and given back, checked unchanged, when the group runs dry or at the end).
/// Returns how many bundles held several buffers, the widest, and the re-arms.
fn multishot_bundles_storm(
    ring: &Ring,
    stream: &UnixStream,
    group: &BufRing,
    want: u64,
    seed: u64,
) -> (usize, usize, usize) {
    let mut rng = crate::storm::check::Rng::derive(seed, &[2]);
    let (mut got, mut held) = (0u64, Vec::new());
    let (mut bundles, mut widest, mut rearms) = (0, 0, 0);
    ring.block_on(async {
        while got < want {
            let mut received = stream.recv_multi_bundle(group).submit();
            loop {
                let bufs = match received.next().await {
                    Some(Ok(bufs)) => bufs,
                    Some(Err(err)) if enobufs(&err) => {
                        give_back_held(&mut held);
                        rearms += 1;
                        break;
                    }
                    Some(Err(err)) => panic!("{err}"),
                    None => panic!("end of stream at {got}"),
                };
                assert!(!bufs.is_empty(), "an item with no buffer");
                if bufs.len() > 1 {
                    bundles += 1;
                    widest = widest.max(bufs.len());
                }
                got = check_stream(bufs, got, &mut held, &mut rng);
                if got == want {
                    let drained = received.cancel().await;
                    assert!(drained.items.is_empty(), "bytes past the end");
                    drained.end.unwrap();
                    break;
                }
            }
        }
    });
    give_back_held(&mut held);
    (bundles, widest, rearms)
}

#[test]
fn recv_multi_bundle_streams_every_byte_once_in_order_and_every_buffer_back() {
    const BYTES: u64 = 1 << 20;
    let _fds = FdCheck::start();
    let ring = ring();
    let group = BufRing::new(&ring, 8, 512).unwrap();
    let (stream, mut peer) = pair(&ring);
    // Buffers taken and given back in a scrambled order first, so that the ring's
    // entries no longer follow the ids.
    let mut scrambled: Vec<ProvidedBuf> = (0..5u8)
        .map(|i| {
            peer.write_all(&[i]).unwrap();
            ring.block_on(stream.recv_provided(&group).submit().complete())
                .unwrap()
                .unwrap()
        })
        .collect();
    while let Some(buf) = scrambled.pop() {
        drop(buf);
    }
    let writer = std::thread::spawn(move || {
        let mut sent = 0u64;
        while sent < BYTES {
            let len = (1 + sent * 7919 % 3000).min(BYTES - sent);
            let chunk: Vec<u8> = (sent..sent + len).map(pattern).collect();
            peer.write_all(&chunk).unwrap();
            sent += len;
        }
        peer
    });
    let (bundles, widest, rearms) =
        multishot_bundles_storm(&ring, &stream, &group, BYTES, 0xb0d1e5);
    let peer = writer.join().unwrap();
    assert_eq!(group.available(), 8, "every buffer back, once");
    assert!(bundles > 0, "no receive filled more than one buffer");
    eprintln!(
        "multishot bundles: {bundles} of several buffers, the widest {widest}, \
         {rearms} re-arms after ENOBUFS"
    );
    // End of stream ends the stream and takes no buffer.
    drop(peer);
    let end = ring.block_on(async { stream.recv_multi_bundle(&group).submit().next().await });
    assert!(end.is_none(), "{end:?}");
    assert_eq!(group.available(), 8);
}

#[test]
fn recv_multi_bundle_item_claimed_before_another_receive_gives_a_buffer_back() {
    let _fds = FdCheck::start();
    let ring = ring();
    let group = BufRing::new(&ring, 4, 16).unwrap();
    let ((a, _peer_a), (b, mut peer_b)) = two_streams_waiting(&ring, &group);
    let (bundle, drained) = ring.block_on(async {
        let mut bundles = a.recv_multi_bundle(&group).submit();
        // The item's completion is reaped; before the token looks, a receive on
        // the other stream takes a buffer and gives it back, which rewrites the
        // entry after the ones the item used.
        pause(&ring, 5).await;
        take_and_give_back(&b, &group).await;
        let bundle = bundles.next().await.unwrap().unwrap();
        (bundle, bundles.cancel().await)
    });
    let (bytes, ids) = bytes_and_ids(&bundle);
    assert_eq!(bytes, [b'A'; 32], "the item's buffers {ids:?}");
    assert!(drained.items.is_empty(), "{:?}", drained.items);
    drained.end.unwrap();
    drop(bundle);
    assert_eq!(group.available(), 4);
    every_buffer_in_the_ring_once(&ring, &group, &b, &mut peer_b);
}

#[test]
fn recv_multi_bundle_cancel_hands_back_bundles_in_order_and_a_drop_gives_them_back() {
    let _fds = FdCheck::start();
    let ring = reclaim_ring();
    let group = BufRing::new(&ring, 8, 16).unwrap();
    let (stream, mut peer) = pair(&ring);
    let drained = ring.block_on(async {
        let bundles = stream.recv_multi_bundle(&group).submit();
        // Three receives, none taken: each its own item.
        for chunk in [&[b'a'; 20][..], &[b'b'; 5], &[b'c'; 40]] {
            peer.write_all(chunk).unwrap();
            pause(&ring, 3).await;
        }
        bundles.cancel().await
    });
    drained.end.unwrap();
    // In order, each bundle's buffers full but its last (how the kernel splits the
    // bytes into receives is its own business: 40 bytes may come as 32 and 8).
    let mut got = Vec::new();
    for bufs in &drained.items {
        for (i, buf) in bufs.iter().enumerate() {
            if i + 1 < bufs.len() {
                assert_eq!(buf.len(), 16, "every buffer but the last is full");
            }
            got.extend_from_slice(buf);
        }
    }
    let sent: Vec<u8> = [&[b'a'; 20][..], &[b'b'; 5], &[b'c'; 40]].concat();
    assert_eq!(got, sent);
    assert!(drained.items.len() >= 3, "{} items", drained.items.len());
    let out: usize = drained.items.iter().map(Vec::len).sum();
    assert_eq!(group.available(), 8 - out);
    drop(drained.items);
    assert_eq!(group.available(), 8);
    // Dropped with items waiting, and with more arriving: every buffer comes back.
    ring.block_on(async {
        let bundles = stream.recv_multi_bundle(&group).submit();
        peer.write_all(&[b'd'; 50]).unwrap();
        pause(&ring, 3).await;
        peer.write_all(&[b'e'; 10]).unwrap();
        drop(bundles);
        pause(&ring, 3).await;
    });
    assert_eq!(group.available(), 8);
    assert_eq!(ring.stats().abandoned, 1);
}

#[test]
fn recv_multi_bundle_with_every_buffer_out_ends_enobufs_and_rearmed_gets_the_bytes() {
    let _fds = FdCheck::start();
    let ring = ring();
    let group = BufRing::new(&ring, 2, 16).unwrap();
    let (stream, mut peer) = pair(&ring);
    peer.write_all(&[1; 32]).unwrap();
    let held: Vec<ProvidedBuf> = (0..2)
        .map(|_| {
            ring.block_on(stream.recv_provided(&group).submit().complete())
                .unwrap()
                .unwrap()
        })
        .collect();
    peer.write_all(b"waiting").unwrap();
    let ended = ring.block_on(async {
        let mut bundles = stream.recv_multi_bundle(&group).submit();
        let first = bundles.next().await;
        assert!(bundles.next().await.is_none(), "ENOBUFS ends the stream");
        first
    });
    let err = ended.unwrap().unwrap_err();
    assert!(enobufs(&err), "{err}");
    drop(held);
    let bundle = ring.block_on(async {
        let mut bundles = stream.recv_multi_bundle(&group).submit();
        let bundle = bundles.next().await.unwrap().unwrap();
        let drained = bundles.cancel().await;
        drained.end.unwrap();
        bundle
    });
    let bytes: Vec<u8> = bundle.iter().flat_map(|b| b.iter().copied()).collect();
    assert_eq!(bytes, b"waiting");
}

/// The kernel stops a multishot op whose completion queue is full, with one last
/// item in its final completion; the token submits it again. For bundles that needs
/// more receives than the queue holds before the ring reaps: without deferred task
/// running, each write of the peer is received (one bundle, one completion) while
/// the ring's thread sleeps.
#[test]
fn recv_multi_bundle_stopped_by_a_full_completion_queue_is_rearmed_and_loses_nothing() {
    let _fds = FdCheck::start();
    // Eight completion queue entries; forty separate writes.
    let ring = Ring::builder()
        .entries(4)
        .fast_taskrun(false)
        .drop_policy(linear_uring::DropPolicy::Panic)
        .build()
        .unwrap();
    let group = BufRing::new(&ring, 64, 16).unwrap();
    let (stream, mut peer) = pair(&ring);
    let sent: Vec<u8> = (0..40 * 20u32).map(|i| (i % 251) as u8).collect();
    let got = ring.block_on(async {
        let mut bundles = stream.recv_multi_bundle(&group).submit();
        // Armed in the kernel before the writes.
        pause(&ring, 2).await;
        for chunk in sent.chunks(20) {
            peer.write_all(chunk).unwrap();
            std::thread::sleep(Duration::from_micros(200));
        }
        let mut got = Vec::new();
        while got.len() < sent.len() {
            let bufs = bundles.next().await.expect("re-armed, not ended").unwrap();
            for buf in bufs {
                got.extend_from_slice(&buf);
            }
        }
        assert!(bundles.cancel().await.items.is_empty());
        got
    });
    assert_eq!(got, sent);
    assert_eq!(group.available(), 64);
    // The pause's timer and the receive, then at least one re-arm.
    let stats = ring.stats();
    assert!(stats.submitted > 2, "never stopped? {stats:?}");
    eprintln!("re-armed {} times", stats.submitted - 2);
}
