//! Composite ops as linear values: `write_all`, `read_exact`, `copy` and `deadline`,
//! on pipes, with every outcome checked against the bytes that really moved.

use std::io::{Read as _, Write as _};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::thread;
use std::time::Duration;

use linear_uring::fs::File;
use linear_uring::{copy, deadline, race, CancelOutcome, DropPolicy, Raced, Ring};

use crate::fds::{pipe, FdCheck};

fn ring() -> Ring {
    Ring::builder()
        .drop_policy(DropPolicy::Panic)
        .build()
        .unwrap()
}

/// A pipe whose read end is a ring `File` and whose write end is a `std` file.
fn ring_reads(ring: &Ring) -> (File, std::fs::File) {
    let (read, write) = pipe();
    (
        File::from_fd(ring, read).unwrap(),
        std::fs::File::from(write),
    )
}

/// A pipe whose write end is a ring `File` and whose read end is a `std` file.
fn ring_writes(ring: &Ring) -> (std::fs::File, File) {
    let (read, write) = pipe();
    (
        std::fs::File::from(read),
        File::from_fd(ring, write).unwrap(),
    )
}

/// Bytes that differ from position to position, so a shifted or repeated chunk
/// shows.
fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 + i / 251) as u8).collect()
}

#[test]
fn write_all_of_1mib_into_a_pipe_arrives_byte_exact() {
    let fds = FdCheck::start();
    let ring = ring();
    let (mut reader, writer) = ring_writes(&ring);
    let data = pattern(1 << 20);
    let drain = thread::spawn(move || {
        let mut got = Vec::new();
        reader.read_to_end(&mut got).unwrap();
        got
    });
    let (result, buf) = ring.block_on(async { writer.write_all(data).await });
    result.unwrap();
    drop(writer);
    assert_eq!(
        drain.join().unwrap(),
        buf,
        "the reader got every byte, in order"
    );
    assert_eq!(ring.stats().in_flight, 0);
    drop(ring);
    fds.finish();
}

#[test]
fn write_all_cancelled_mid_transfer_reports_exactly_what_the_reader_gets() {
    let fds = FdCheck::start();
    let ring = ring();
    let (mut reader, writer) = ring_writes(&ring);
    // Nobody reads until the cancel: the pipe takes 64 KiB of the 1 MiB.
    let data = pattern(1 << 20);
    let progress = ring.block_on(async {
        let transfer = writer.write_all(data);
        let Raced::Second(transfer, fired) =
            race(transfer, ring.sleep(Duration::from_millis(20))).await
        else {
            panic!("1 MiB went into a pipe nobody reads");
        };
        fired.unwrap();
        match transfer.cancel().await {
            CancelOutcome::Cancelled(progress) => progress,
            CancelOutcome::Completed(_) => panic!("1 MiB went into a pipe nobody reads"),
        }
    });
    assert!(
        progress.done > 0 && progress.done < progress.buf.len(),
        "{}",
        progress.done
    );
    drop(writer);
    let mut got = Vec::new();
    reader.read_to_end(&mut got).unwrap();
    assert_eq!(
        got.len(),
        progress.done,
        "the progress is what reached the reader"
    );
    assert_eq!(
        got,
        progress.buf[..progress.done],
        "and those are the first bytes"
    );
    assert_eq!(ring.stats().in_flight, 0);
    drop((reader, ring));
    fds.finish();
}

#[test]
fn read_exact_gathers_several_writes_after_the_bytes_already_there() {
    let fds = FdCheck::start();
    let ring = ring();
    let (reader, mut writer) = ring_reads(&ring);
    let feeder = thread::spawn(move || {
        for chunk in pattern(1000).chunks(100) {
            writer.write_all(chunk).unwrap();
            thread::sleep(Duration::from_millis(1));
        }
        writer
    });
    let mut buf = Vec::with_capacity(7 + 1000);
    buf.extend_from_slice(b"HEADER:");
    let (result, buf) = ring.block_on(async { reader.read_exact(buf, 1000).await });
    result.unwrap();
    assert_eq!(&buf[..7], b"HEADER:", "the bytes already there are kept");
    assert_eq!(
        buf[7..],
        pattern(1000),
        "then exactly the 1000 bytes, in order"
    );
    drop((feeder.join().unwrap(), reader, ring));
    fds.finish();
}

#[test]
fn read_exact_short_stream_is_unexpected_eof_with_the_bytes_kept() {
    let fds = FdCheck::start();
    let ring = ring();
    let (reader, mut writer) = ring_reads(&ring);
    writer.write_all(b"only 6").unwrap();
    drop(writer);
    let (result, buf) =
        ring.block_on(async { reader.read_exact(Vec::with_capacity(10), 10).await });
    let err = result.unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::UnexpectedEof, "{err}");
    assert_eq!(buf, b"only 6");
    // A buffer with no room is refused at once, not read as done.
    let (result, buf) = ring.block_on(async { reader.read_exact(vec![0u8; 4], 1).await });
    assert_eq!(result.unwrap_err().kind(), std::io::ErrorKind::InvalidInput);
    assert_eq!(buf, [0; 4]);
    drop((reader, ring));
    fds.finish();
}

#[test]
fn read_exact_cancelled_hands_back_every_byte_that_arrived() {
    let fds = FdCheck::start();
    let ring = ring();
    let (reader, mut writer) = ring_reads(&ring);
    let outcome = ring.block_on(async {
        let exact = reader.read_exact(Vec::with_capacity(10), 10);
        writer.write_all(b"12345").unwrap();
        ring.sleep(Duration::from_millis(10)).await.unwrap();
        exact.cancel().await
    });
    let buf = outcome.cancelled().expect("only 5 of 10 bytes came");
    assert_eq!(buf, b"12345");
    // Nothing else was taken from the pipe.
    writer.write_all(b"678").unwrap();
    let (n, buf) = ring.block_on(async { reader.read(Vec::with_capacity(8)).await });
    assert_eq!(&buf[..n.unwrap()], b"678");
    drop((reader, writer, ring));
    fds.finish();
}

#[test]
fn copy_pipe_to_pipe_moves_every_byte_and_counts_them() {
    let fds = FdCheck::start();
    let ring = ring();
    let (source, mut feed) = ring_reads(&ring);
    let (mut drain, sink) = ring_writes(&ring);
    let data = pattern(3 << 20);
    let sent = data.clone();
    let feeder = thread::spawn(move || feed.write_all(&sent).unwrap());
    let drainer = thread::spawn(move || {
        let mut got = Vec::new();
        drain.read_to_end(&mut got).unwrap();
        got
    });
    let copied = ring.block_on(async { copy(&source, &sink).await }).unwrap();
    feeder.join().unwrap();
    drop(sink);
    assert_eq!(copied, data.len() as u64);
    assert_eq!(drainer.join().unwrap(), data);
    drop((source, ring));
    fds.finish();
}

#[test]
fn copy_cancelled_reports_bytes_delivered_and_hands_back_the_rest() {
    let fds = FdCheck::start();
    let ring = ring();
    let (source, mut feed) = ring_reads(&ring);
    let (mut drain, sink) = ring_writes(&ring);
    // 1 MiB in, nobody draining the sink: the copy fills the sink pipe and waits.
    let data = pattern(1 << 20);
    let sent = data.clone();
    let feeder = thread::spawn(move || {
        let _ = feed.write_all(&sent);
    });
    let copied = ring.block_on(async {
        let copying = copy(&source, &sink);
        ring.sleep(Duration::from_millis(30)).await.unwrap();
        copying
            .cancel()
            .await
            .cancelled()
            .expect("the source has not ended")
    });
    drop(sink);
    let mut got = Vec::new();
    drain.read_to_end(&mut got).unwrap();
    assert_eq!(
        got.len() as u64,
        copied.bytes,
        "bytes counts what reached the sink"
    );
    let end = got.len() + copied.unwritten.len();
    assert_eq!(got, data[..got.len()]);
    assert_eq!(
        copied.unwritten,
        data[got.len()..end],
        "the rest comes back in order"
    );
    drop((source, drain, ring));
    feeder.join().unwrap();
    fds.finish();
}

#[test]
fn deadline_met_gives_the_output_and_deadline_passed_the_progress() {
    let fds = FdCheck::start();
    let ring = ring();
    let (mut reader, writer) = ring_writes(&ring);
    ring.block_on(async {
        let small = deadline(
            writer.write_all(b"fits"),
            ring.sleep(Duration::from_secs(5)),
        );
        let (result, _) = small.await.expect("4 bytes fit in a pipe at once");
        result.unwrap();
        let big = pattern(1 << 20);
        let expired = deadline(writer.write_all(big), ring.sleep(Duration::from_millis(10)))
            .await
            .expect_err("nobody reads: 1 MiB cannot go through");
        let progress = expired.residue;
        assert!(progress.done < progress.buf.len());
        // As an io::Error, it is a timeout.
        let err: std::io::Error = linear_uring::Expired { residue: () }.into();
        assert_eq!(err.kind(), std::io::ErrorKind::TimedOut);
    });
    drop(writer);
    let mut got = Vec::new();
    reader.read_to_end(&mut got).unwrap();
    assert_eq!(&got[..4], b"fits");
    drop((reader, ring));
    fds.finish();
}

#[test]
fn write_all_dropped_unfinished_panics_naming_the_line_that_made_it() {
    let fds = FdCheck::start();
    let ring = ring();
    let (reader, writer) = ring_writes(&ring);
    let line = line!() + 3;
    let payload = catch_unwind(AssertUnwindSafe(|| {
        ring.block_on(async {
            let transfer = writer.write_all(pattern(1 << 20));
            ring.sleep(Duration::from_millis(5)).await.unwrap();
            drop(transfer);
        })
    }))
    .expect_err("the drop policy panics");
    let msg = payload
        .downcast_ref::<String>()
        .cloned()
        .unwrap_or_default();
    assert!(
        msg.contains(&format!("tests/it/compose.rs:{line}:")),
        "{msg}"
    );
    drop(reader);
    ring.block_on(async { ring.sleep(Duration::from_millis(5)).await })
        .unwrap();
    assert_eq!(ring.stats().in_flight, 0);
    drop((writer, ring));
    fds.finish();
}

#[test]
fn recv_exact_takes_exactly_len_and_leaves_the_next_frame_in_the_socket() {
    let fds = FdCheck::start();
    let ring = ring();
    let (a, b) = linear_uring::net::UnixStream::pair(&ring).unwrap();
    ring.block_on(async {
        let (sent, _) = a.send_all(b"\x05hello\x03abc").await;
        sent.unwrap();
        // Length-prefixed frames read into one buffer whose capacity is larger than
        // any frame: each read stops at its frame.
        let mut buf = Vec::with_capacity(64);
        let mut frames = Vec::new();
        for _ in 0..2 {
            buf.clear();
            let (got, back) = b.recv_exact(buf, 1).await;
            got.unwrap();
            let len = usize::from(back[0]);
            let (got, back) = b.recv_exact(back, len).await;
            got.unwrap();
            frames.push(back[1..].to_vec());
            buf = back;
        }
        assert_eq!(frames, [b"hello".to_vec(), b"abc".to_vec()]);
        // Nothing asked, nothing waited for.
        let (got, back) = b.recv_exact(Vec::new(), 0).await;
        got.unwrap();
        assert!(back.is_empty());
        // Room for less than asked: refused at once, the buffer back.
        let (got, back) = b.recv_exact(Vec::with_capacity(2), 3).await;
        assert_eq!(got.unwrap_err().kind(), std::io::ErrorKind::InvalidInput);
        assert_eq!(back.capacity(), 2);
    });
    assert_eq!(ring.stats().in_flight, 0);
    drop((a, b, ring));
    fds.finish();
}
