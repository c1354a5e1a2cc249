//! The `futures-io` and tokio adapters, under the cancellation that breaks naive
//! io_uring adapters: 100 MB read and 100 MB written while a timer wins a `select`
//! against the read or write future thousands of times. Every byte must arrive
//! exactly once, in order.
//!
//! Run with `cargo test --features futures-io,tokio --test it compat` (`.ci/run`
//! does).

use std::io::Write;
use std::os::unix::net::UnixStream as StdUnixStream;
use std::time::Duration;

use linear_uring::compat::Compat;
use linear_uring::net::UnixStream;
use linear_uring::{DropPolicy, Ring};

use crate::fds::FdCheck;

const TOTAL: u64 = 100 << 20;

fn pattern(i: u64) -> u8 {
    (i % 251) as u8
}

/// Asserts that `bytes`, received from stream offset `offset` on, are the pattern.
fn check_pattern(bytes: &[u8], offset: u64) {
    for (k, &byte) in bytes.iter().enumerate() {
        let at = offset + k as u64;
        assert_eq!(byte, pattern(at), "byte {at} differs");
    }
}

fn ring() -> Ring {
    Ring::builder()
        .drop_policy(DropPolicy::Panic)
        .build()
        .unwrap()
}

/// A std writer that sends `TOTAL` pattern bytes in 8 KiB chunks, pausing after
/// each so that the reader often waits with its receive in flight.
fn slow_writer(mut peer: StdUnixStream) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let mut sent = 0u64;
        let mut chunk = vec![0u8; 8 * 1024];
        while sent < TOTAL {
            let n = chunk.len().min((TOTAL - sent) as usize);
            for (k, byte) in chunk[..n].iter_mut().enumerate() {
                *byte = pattern(sent + k as u64);
            }
            peer.write_all(&chunk[..n]).unwrap();
            sent += n as u64;
            std::thread::sleep(Duration::from_micros(50));
        }
    })
}

#[cfg(feature = "futures-io")]
/// A std reader that checks every byte of `TOTAL` against the pattern, pausing now
/// and then so that the writer's sends wait for room.
fn slow_checking_reader(mut peer: StdUnixStream) -> std::thread::JoinHandle<u64> {
    use std::io::Read;

    std::thread::spawn(move || {
        let mut got = 0u64;
        let mut chunk = vec![0u8; 32 * 1024];
        loop {
            let n = peer.read(&mut chunk).unwrap();
            if n == 0 {
                return got;
            }
            check_pattern(&chunk[..n], got);
            got += n as u64;
            if got % (64 * 1024) < n as u64 {
                std::thread::sleep(Duration::from_micros(50));
            }
        }
    })
}

#[cfg(feature = "futures-io")]
#[test]
fn compat_futures_io_reads_100mb_exactly_once_while_select_drops_reads() {
    use futures_lite::{future, AsyncReadExt};

    let _fds = FdCheck::start();
    let ring = ring();
    let (ours, theirs) = StdUnixStream::pair().unwrap();
    let mut reader = Compat::new(UnixStream::from_std(&ring, ours).unwrap());
    let writer = slow_writer(theirs);
    let started = std::time::Instant::now();
    let (got, dropped_reads) = ring.block_on(async {
        let (mut got, mut dropped_reads) = (0u64, 0u64);
        let mut chunk = vec![0u8; 16 * 1024];
        loop {
            // A select between the read and a short timer: when the timer wins, the
            // read's future is dropped with its receive in flight.
            let read = future::or(async { Some(reader.read(&mut chunk).await) }, async {
                ring.sleep(Duration::from_micros(20)).await.unwrap();
                None
            })
            .await;
            let n = match read {
                None => {
                    dropped_reads += 1;
                    continue;
                }
                Some(n) => n.unwrap(),
            };
            if n == 0 {
                break;
            }
            check_pattern(&chunk[..n], got);
            got += n as u64;
        }
        (got, dropped_reads)
    });
    writer.join().unwrap();
    assert_eq!(got, TOTAL);
    assert!(
        dropped_reads > 1000,
        "only {dropped_reads} reads were dropped"
    );
    drop(reader);
    ring.block_on(crate::net_tcp::pause(&ring, 2));
    let stats = ring.stats();
    assert_eq!((stats.abandoned, stats.in_flight), (0, 0), "{stats:?}");
    eprintln!(
        "compat read: {got} bytes, {dropped_reads} reads dropped by the select, {:?}",
        started.elapsed()
    );
}

#[cfg(feature = "futures-io")]
#[test]
fn compat_futures_io_writes_100mb_exactly_once_while_select_drops_writes() {
    use futures_lite::{future, AsyncWriteExt};

    let _fds = FdCheck::start();
    let ring = ring();
    let (ours, theirs) = StdUnixStream::pair().unwrap();
    let mut writer = Compat::new(UnixStream::from_std(&ring, ours).unwrap());
    let reader = slow_checking_reader(theirs);
    let dropped_writes = ring.block_on(async {
        let (mut sent, mut dropped_writes) = (0u64, 0u64);
        let mut chunk = vec![0u8; 48 * 1024];
        let mut filled = 0;
        while sent < TOTAL {
            // The bytes not yet reported written, from `sent` on.
            if filled == 0 {
                filled = chunk.len().min((TOTAL - sent) as usize);
                for (k, byte) in chunk[..filled].iter_mut().enumerate() {
                    *byte = pattern(sent + k as u64);
                }
            }
            // The write future is polled once and dropped if it is not done (what a
            // select does when the other branch is ready at once), then the task
            // waits a little, as a select against a timer would.
            let write = future::poll_once(writer.write(&chunk[..filled])).await;
            match write {
                None => {
                    dropped_writes += 1;
                    ring.sleep(Duration::from_micros(20)).await.unwrap();
                }
                Some(n) => {
                    let n = n.unwrap();
                    assert!(n > 0);
                    sent += n as u64;
                    chunk.copy_within(n..filled, 0);
                    filled -= n;
                }
            }
        }
        writer.close().await.unwrap();
        dropped_writes
    });
    let got = reader.join().unwrap();
    assert_eq!(got, TOTAL, "no byte written twice or skipped");
    assert!(
        dropped_writes > 1000,
        "only {dropped_writes} writes were dropped"
    );
    eprintln!("compat write: {got} bytes, {dropped_writes} writes dropped by the select");
    drop(writer);
    let stats = ring.stats();
    assert_eq!((stats.abandoned, stats.in_flight), (0, 0), "{stats:?}");
}

#[cfg(feature = "futures-io")]
#[test]
fn compat_dropped_with_a_read_in_flight_cancels_and_reaps_it() {
    use futures_lite::{future, AsyncReadExt};

    let _fds = FdCheck::start();
    let ring = ring();
    let (ours, _theirs) = StdUnixStream::pair().unwrap();
    let mut reader = Compat::new(UnixStream::from_std(&ring, ours).unwrap());
    ring.block_on(async {
        let mut byte = [0u8; 1];
        let timed_out = future::or(
            async { reader.read(&mut byte).await.map(|_| false) },
            async {
                ring.sleep(Duration::from_millis(2)).await.unwrap();
                Ok(true)
            },
        )
        .await
        .unwrap();
        assert!(timed_out);
        assert_eq!(
            ring.stats().in_flight,
            1,
            "the receive stays in the adapter"
        );
        drop(reader);
        crate::net_tcp::pause(&ring, 2).await;
    });
    let stats = ring.stats();
    // The receive was cancelled by the adapter's task, not abandoned: no drop
    // policy, nothing left in the kernel.
    assert_eq!(
        (stats.abandoned, stats.cancelled, stats.in_flight),
        (0, 1, 0),
        "{stats:?}"
    );
}

#[cfg(feature = "tokio")]
#[test]
fn compat_tokio_reads_100mb_exactly_once_while_select_drops_reads() {
    use tokio::io::AsyncReadExt;

    let _fds = FdCheck::start();
    let ring = ring();
    let (ours, theirs) = StdUnixStream::pair().unwrap();
    let mut reader = Compat::new(UnixStream::from_std(&ring, ours).unwrap());
    let writer = slow_writer(theirs);
    let (got, dropped_reads) = ring.block_on(async {
        let (mut got, mut dropped_reads) = (0u64, 0u64);
        let mut chunk = vec![0u8; 16 * 1024];
        loop {
            let n = tokio::select! {
                biased;
                n = reader.read(&mut chunk) => n.unwrap(),
                fired = ring.sleep(Duration::from_micros(20)) => {
                    fired.unwrap();
                    dropped_reads += 1;
                    continue;
                }
            };
            if n == 0 {
                break;
            }
            check_pattern(&chunk[..n], got);
            got += n as u64;
        }
        (got, dropped_reads)
    });
    writer.join().unwrap();
    assert_eq!(got, TOTAL);
    assert!(
        dropped_reads > 1000,
        "only {dropped_reads} reads were dropped"
    );
}

#[cfg(feature = "futures-io")]
#[test]
fn compat_write_then_read_without_flush_gets_the_reply() {
    use futures_lite::{AsyncReadExt, AsyncWriteExt};

    let _fds = FdCheck::start();
    let ring = ring();
    let (ours, mut theirs) = StdUnixStream::pair().unwrap();
    let mut conn = Compat::new(UnixStream::from_std(&ring, ours).unwrap());
    // A peer that reads a whole 1 MiB request, then answers: the request is larger
    // than the socket's buffers, so the adapter's send is short and must go on
    // while the caller only reads.
    const REQUEST: usize = 1 << 20;
    let peer = std::thread::spawn(move || {
        let mut request = vec![0u8; REQUEST];
        std::io::Read::read_exact(&mut theirs, &mut request).unwrap();
        theirs.write_all(b"got it").unwrap();
        request.iter().all(|&b| b == 9)
    });
    let reply = ring.block_on(async {
        let request = vec![9u8; REQUEST];
        let mut written = 0;
        while written < REQUEST {
            written += conn.write(&request[written..]).await.unwrap();
        }
        // No flush: the reply can only come if the request gets through anyway.
        let mut reply = [0u8; 6];
        conn.read_exact(&mut reply).await.unwrap();
        reply
    });
    assert_eq!(&reply, b"got it");
    assert!(peer.join().unwrap());
}

#[cfg(feature = "futures-io")]
#[test]
fn compat_into_inner_after_every_byte_was_read_gives_the_stream_back() {
    use futures_lite::{AsyncReadExt, AsyncWriteExt};

    let _fds = FdCheck::start();
    let ring = ring();
    let (a, b) = UnixStream::pair(&ring).unwrap();
    let (mut a, mut b) = (Compat::new(a), Compat::new(b));
    ring.block_on(async {
        a.write_all(b"all of it").await.unwrap();
        a.flush().await.unwrap();
        let mut got = [0u8; 9];
        b.read_exact(&mut got).await.unwrap();
        assert_eq!(&got, b"all of it");
    });
    let a = a.into_inner().expect("nothing in flight after the flush");
    let b = b.into_inner().expect("every received byte was read");
    ring.block_on(async {
        a.close().await.unwrap();
        b.close().await.unwrap();
    });
}

#[cfg(feature = "tokio")]
#[test]
fn compat_tokio_writes_and_shuts_down() {
    use tokio::io::AsyncWriteExt;

    let _fds = FdCheck::start();
    let ring = ring();
    let (ours, mut theirs) = StdUnixStream::pair().unwrap();
    let mut writer = Compat::new(UnixStream::from_std(&ring, ours).unwrap());
    ring.block_on(async {
        writer.write_all(b"through tokio's traits").await.unwrap();
        writer.shutdown().await.unwrap();
    });
    let mut got = String::new();
    std::io::Read::read_to_string(&mut theirs, &mut got).unwrap();
    assert_eq!(got, "through tokio's traits");
}

/// A ring tokio can drive: without `DEFER_TASKRUN` (see `compat::drive`).
#[cfg(feature = "tokio")]
fn drivable_ring() -> Ring {
    Ring::builder()
        .fast_taskrun(false)
        .drop_policy(DropPolicy::Panic)
        .build()
        .unwrap()
}

#[cfg(feature = "tokio")]
#[test]
#[should_panic(
    expected = "build the ring to be driven by tokio with `Ring::builder().fast_taskrun(false)`"
)]
fn drive_refuses_a_ring_with_deferred_taskrun_with_the_fix_in_the_message() {
    let ring = ring();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()
        .unwrap();
    runtime.block_on(linear_uring::compat::drive(&ring, async {}));
}

#[cfg(feature = "tokio")]
#[test]
fn drive_tokio_client_and_ring_server_share_one_task() {
    use linear_uring::compat::drive;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let _fds = FdCheck::start();
    {
        let ring = drivable_ring();
        let listener = linear_uring::net::TcpListener::bind(&ring, "127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let echoed = runtime.block_on(drive(&ring, async {
            // A ring task serves ten connections; tokio clients talk to it from the
            // driven future, with a tokio timer in between.
            let server = ring.spawn({
                let ring = ring.clone();
                async move {
                    for _ in 0..10 {
                        let (stream, _) = listener.accept().submit().complete().await.unwrap();
                        ring.spawn(async move {
                            let (n, buf) = stream
                                .recv(Vec::with_capacity(64))
                                .submit()
                                .complete()
                                .await;
                            n.unwrap();
                            stream.send_all(buf).await.0.unwrap();
                            stream.close().await.unwrap();
                        })
                        .await;
                    }
                    listener.close().await.unwrap();
                }
            });
            let mut echoed = Vec::new();
            for i in 0..10u8 {
                let mut client = tokio::net::TcpStream::connect(addr).await.unwrap();
                client.write_all(&[i; 5]).await.unwrap();
                let mut reply = [0u8; 5];
                client.read_exact(&mut reply).await.unwrap();
                echoed.push(reply[0]);
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            server.await;
            echoed
        }));
        assert_eq!(echoed, (0..10).collect::<Vec<u8>>());
        let stats = ring.stats();
        assert_eq!((stats.abandoned, stats.in_flight), (0, 0), "{stats:?}");
    }
}

#[cfg(feature = "tokio")]
#[test]
fn drive_wakes_for_a_tokio_channel_fed_from_another_thread() {
    use linear_uring::compat::drive;

    {
        let ring = drivable_ring();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let (tx, rx) = tokio::sync::oneshot::channel();
        let sender = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            tx.send(42u32).unwrap();
        });
        let got = runtime.block_on(drive(&ring, async {
            // A ring op in flight while the driven future waits on the channel.
            let timer = ring.sleep(Duration::from_secs(10));
            let got = rx.await.unwrap();
            assert!(matches!(
                timer.cancel().await,
                linear_uring::CancelOutcome::Cancelled(())
            ));
            got
        }));
        sender.join().unwrap();
        assert_eq!(got, 42);
    }
}

/// The end of the stream arrives while a large write is still in flight: the reader
/// half holds it until the write has finished, and is woken then, although the
/// writer half is the one waiting on (and flushing) that write.
#[cfg(feature = "tokio")]
#[test]
fn compat_split_reader_holding_the_end_is_woken_when_the_writer_half_flushes() {
    use std::io::Read;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    const LEN: usize = 4 << 20;
    let _fds = FdCheck::start();
    let ring = ring();
    let (ours, theirs) = StdUnixStream::pair().unwrap();
    // The peer sends nothing: our next read is the end of the stream. It starts
    // reading late, so our write is still in flight when that end arrives.
    theirs.shutdown(std::net::Shutdown::Write).unwrap();
    let peer = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(100));
        let mut all = Vec::new();
        (&theirs).read_to_end(&mut all).unwrap();
        all.len()
    });
    let compat = Compat::new(UnixStream::from_std(&ring, ours).unwrap());
    let (mut reader, mut writer) = tokio::io::split(compat);
    // Two tasks, so that each half is woken by its own waker only.
    let read = ring.spawn(async move {
        let mut buf = [0u8; 16];
        let n = reader.read(&mut buf).await.unwrap();
        (n, reader)
    });
    let write = ring.spawn(async move {
        writer.write_all(&vec![7u8; LEN]).await.unwrap();
        writer.flush().await.unwrap();
        writer.shutdown().await.unwrap();
        writer
    });
    let outcome = ring.block_on(async {
        let both = futures_lite::future::zip(read, write);
        futures_lite::future::or(async { Some(both.await) }, async {
            ring.sleep(Duration::from_secs(10)).await.unwrap();
            None
        })
        .await
    });
    let ((read, reader), writer) = outcome.expect("the reader or the writer was never woken");
    assert_eq!(read, 0, "the end of the stream");
    assert_eq!(peer.join().unwrap(), LEN);
    drop(reader.unsplit(writer));
}

#[cfg(feature = "tokio")]
#[test]
fn drive_runs_a_task_that_yields_more_often_than_one_round_allows() {
    use linear_uring::compat::drive;

    let ring = Ring::builder().fast_taskrun(false).build().unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let yielded = runtime.block_on(async {
        let driven = drive(&ring, async {
            let task = ring.spawn(async {
                for _ in 0..1000 {
                    futures_lite::future::yield_now().await;
                }
                1000
            });
            task.await
        });
        tokio::time::timeout(Duration::from_secs(10), driven).await
    });
    assert_eq!(yielded.expect("the driven ring stalled"), 1000);
}
