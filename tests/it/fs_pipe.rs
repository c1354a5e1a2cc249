//! `File` on pipes, devices and regular files: reads and writes at offsets, and every
//! cancel and drop outcome of a read.

use std::io::{self, Read as _, Write as _};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::time::Duration;

use linear_uring::buf::Empty;
use linear_uring::fs::File;
use linear_uring::{CancelOutcome, DropPolicy, Ring};

use crate::counted::CountedBuf;
use crate::fds::FdCheck;

fn ring(policy: DropPolicy) -> Ring {
    Ring::builder().drop_policy(policy).build().unwrap()
}

/// A close-on-exec pipe with extra `flags`: (read end, write end).
fn pipe_with(flags: libc::c_int) -> (OwnedFd, OwnedFd) {
    let mut fds = [-1; 2];
    // SAFETY: pipe2(2) writes two descriptors into the array, which outlives the call.
    let rc = unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC | flags) };
    assert_eq!(rc, 0, "pipe2: {}", io::Error::last_os_error());
    // SAFETY: pipe2 succeeded: both are new descriptors that nothing else owns.
    unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) }
}

/// A pipe whose read end is a ring `File` and whose write end is a `std` file.
fn file_pipe(ring: &Ring) -> (File, std::fs::File) {
    let (read, write) = pipe_with(0);
    (
        File::from_fd(ring, read).unwrap(),
        std::fs::File::from(write),
    )
}

/// Lets the kernel act on what was submitted, and the ring reap what it answered.
async fn settle(ring: &Ring) {
    ring.sleep(Duration::from_millis(20))
        .complete()
        .await
        .unwrap();
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

/// A path in the temporary directory, unique to this process and test, removed on
/// drop (a failed test included).
struct TempPath(PathBuf);

impl TempPath {
    fn new(test: &str) -> TempPath {
        let name = format!("linear-uring-{}-{test}", std::process::id());
        let path = std::env::temp_dir().join(name);
        let _ = std::fs::remove_file(&path);
        TempPath(path)
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempPath {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn read_write_file(ring: &Ring, path: &Path) -> File {
    let std_file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(path)
        .unwrap();
    File::from_std(ring, std_file).unwrap()
}

#[test]
fn read_pipe_written_through_ring_completes_with_bytes() {
    let fds = FdCheck::start();
    let ring = ring(DropPolicy::Panic);
    let (read, write) = pipe_with(0);
    let reader = File::from_fd(&ring, read).unwrap();
    let writer = File::from_fd(&ring, write).unwrap();
    ring.block_on(async {
        // The read waits in the kernel until the write lands.
        let read = reader.read(Vec::with_capacity(64)).submit();
        settle(&ring).await;
        let (n, _) = writer.write(&b"hello pipe"[..]).submit().complete().await;
        assert_eq!(n.unwrap(), 10);
        let (n, buf) = read.complete().await;
        assert_eq!(n.unwrap(), 10);
        assert_eq!(buf, b"hello pipe");

        writer.close().await.unwrap();
        // End of stream once the writer is closed.
        let (n, _) = reader.read(Vec::with_capacity(8)).submit().complete().await;
        assert_eq!(n.unwrap(), 0);
        reader.close().await.unwrap();
    });
    assert_eq!(ring.stats().in_flight, 0);
    drop(ring);
    fds.finish();
}

#[test]
fn read_pipe_cancel_with_nothing_written_is_cancelled_with_same_buffer() {
    let fds = FdCheck::start();
    let ring = ring(DropPolicy::Panic);
    let (reader, writer) = file_pipe(&ring);
    let buf = Vec::with_capacity(32);
    let ptr = buf.as_ptr();
    ring.block_on(async {
        let read = reader.read(buf).submit();
        // Let the read reach the kernel and wait there, so the cancel is a real one.
        settle(&ring).await;
        match read.cancel().await {
            CancelOutcome::Cancelled(buf) => {
                assert_eq!(buf.capacity(), 32);
                assert_eq!(buf.as_ptr(), ptr, "the same allocation comes back");
                assert!(buf.is_empty());
            }
            CancelOutcome::Completed(output) => panic!("nothing was written: {output:?}"),
        }
    });
    assert_eq!(ring.stats().in_flight, 0);
    assert!(ring.stats().cancelled >= 1);
    drop((reader, writer, ring));
    fds.finish();
}

#[test]
fn read_pipe_cancel_after_data_arrived_is_completed_with_bytes() {
    let fds = FdCheck::start();
    let ring = ring(DropPolicy::Panic);
    let (reader, mut writer) = file_pipe(&ring);
    ring.block_on(async {
        let read = reader.read(Vec::with_capacity(32)).submit();
        settle(&ring).await;
        writer.write_all(b"late bytes").unwrap();
        // The kernel completes the read before the token is polled or cancelled.
        settle(&ring).await;
        match read.cancel().await {
            CancelOutcome::Completed((n, buf)) => {
                assert_eq!(n.unwrap(), 10);
                assert_eq!(buf, b"late bytes", "no byte lost");
            }
            CancelOutcome::Cancelled(buf) => panic!("the bytes were lost: {buf:?}"),
        }
    });
    drop((reader, writer, ring));
    fds.finish();
}

#[test]
fn read_pipe_abandoned_under_reclaim_frees_buffer_once_after_completion() {
    let fds = FdCheck::start();
    let ring = ring(DropPolicy::Reclaim);
    let (reader, mut writer) = file_pipe(&ring);
    let (buf, drops) = CountedBuf::new(64);
    ring.block_on(async {
        let read = reader.read(buf).submit();
        settle(&ring).await;
        drop(read);
        // The kernel has not answered yet: the ring still holds the buffer.
        assert_eq!(drops.get(), 0, "buffer freed while the kernel may write it");
        assert_eq!(ring.stats().in_flight, 1);
        writer.write_all(b"x").unwrap();
        settle(&ring).await;
        assert_eq!(
            drops.get(),
            1,
            "buffer freed once the completion was reaped"
        );
    });
    let stats = ring.stats();
    assert_eq!(stats.abandoned, 1);
    assert_eq!(stats.in_flight, 0);
    drop((reader, writer, ring));
    assert_eq!(drops.get(), 1, "buffer freed exactly once");
    fds.finish();
}

#[test]
fn read_pipe_abandoned_under_panic_panics_with_submit_line() {
    let fds = FdCheck::start();
    let ring = ring(DropPolicy::Panic);
    let (reader, writer) = file_pipe(&ring);
    let line = line!() + 3;
    let msg = panic_message(|| {
        ring.block_on(async {
            let read = reader.read(Vec::with_capacity(8)).submit();
            drop(read);
        })
    });
    let place = format!("tests/it/fs_pipe.rs:{line}:");
    assert!(msg.contains(&place), "message lacks {place}: {msg}");
    assert!(msg.contains("Read operation"), "{msg}");
    assert!(msg.contains(".cancel().await"), "{msg}");
    assert_eq!(ring.stats().abandoned, 1);
    ring.block_on(settle(&ring));
    assert_eq!(ring.stats().in_flight, 0);
    drop((reader, writer, ring));
    fds.finish();
}

#[test]
fn read_write_only_descriptor_fails_with_ebadf_and_returns_buffer() {
    let fds = FdCheck::start();
    let ring = ring(DropPolicy::Panic);
    let null = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/null")
        .unwrap();
    let file = File::from_fd(&ring, OwnedFd::from(null)).unwrap();
    let buf = Vec::with_capacity(16);
    let ptr = buf.as_ptr();
    ring.block_on(async {
        let (result, buf) = file.read(buf).submit().complete().await;
        let err = result.unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::EBADF), "{err}");
        assert_eq!(buf.as_ptr(), ptr, "the buffer comes back");
        assert_eq!(buf.capacity(), 16);
        assert!(buf.is_empty());
        file.close().await.unwrap();
    });
    drop(ring);
    fds.finish();
}

#[test]
fn write_pipe_with_closed_read_end_fails_with_epipe_and_returns_buffer() {
    // Rust's runtime ignores SIGPIPE in the test binary, so the signal the kernel may
    // raise is harmless and the error is all that is left.
    let fds = FdCheck::start();
    let ring = ring(DropPolicy::Panic);
    let (read, write) = pipe_with(0);
    drop(read);
    let writer = File::from_fd(&ring, write).unwrap();
    let buf = b"nobody reads this".to_vec();
    let ptr = buf.as_ptr();
    ring.block_on(async {
        let (result, buf) = writer.write(buf).submit().complete().await;
        let err = result.unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::EPIPE), "{err}");
        assert_eq!(buf.as_ptr(), ptr, "the buffer comes back");
        assert_eq!(buf, b"nobody reads this");
        writer.close().await.unwrap();
    });
    drop(ring);
    fds.finish();
}

#[test]
fn read_zero_length_buffer_fails_invalid_input_and_consumes_nothing() {
    let fds = FdCheck::start();
    let ring = ring(DropPolicy::Panic);
    let (reader, mut writer) = file_pipe(&ring);
    writer.write_all(b"kept").unwrap();
    ring.block_on(async {
        let (n, buf) = reader.read(Vec::new()).submit().complete().await;
        let err = n.expect_err("no room is not end of file");
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "{err}");
        assert!(buf.is_empty());
        // A 0-byte read asked for on purpose completes at once on a pipe.
        let (n, Empty) = reader.read(Empty).submit().complete().await;
        assert_eq!(n.unwrap(), 0);
        let (n, buf) = reader.read(Vec::with_capacity(8)).submit().complete().await;
        assert_eq!(&buf[..n.unwrap()], b"kept");
    });
    drop((reader, writer, ring));
    fds.finish();
}

#[test]
fn file_write_at_then_read_at_round_trips() {
    let fds = FdCheck::start();
    let ring = ring(DropPolicy::Panic);
    let temp = TempPath::new("round-trip");
    let file = read_write_file(&ring, temp.path());
    ring.block_on(async {
        let (written, _) = file.write_all_at(&b"hello world"[..], 0).await;
        written.unwrap();
        let (n, _) = file
            .write_at(b"HELLO".to_vec(), 0)
            .submit()
            .complete()
            .await;
        assert_eq!(n.unwrap(), 5);

        let (n, buf) = file
            .read_at(Vec::with_capacity(64), 0)
            .submit()
            .complete()
            .await;
        assert_eq!(&buf[..n.unwrap()], b"HELLO world");
        let (n, buf) = file
            .read_at(Vec::with_capacity(5), 6)
            .submit()
            .complete()
            .await;
        assert_eq!(&buf[..n.unwrap()], b"world");
        let (n, _) = file
            .read_at(Vec::with_capacity(8), 11)
            .submit()
            .complete()
            .await;
        assert_eq!(n.unwrap(), 0, "end of file");
        let (n, buf) = file.read_at(vec![0; 4], 0).submit().complete().await;
        let err = n.expect_err("a full buffer has no room to read into");
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "{err}");
        assert_eq!(buf, [0; 4], "the buffer comes back untouched");
        file.close().await.unwrap();
    });
    assert_eq!(std::fs::read(temp.path()).unwrap(), b"HELLO world");
    drop(ring);
    fds.finish();
}

#[test]
fn file_read_and_write_at_current_position_advance_it() {
    let fds = FdCheck::start();
    let ring = ring(DropPolicy::Panic);
    let temp = TempPath::new("position");
    ring.block_on(async {
        let file = File::create(&ring, temp.path()).await.unwrap();
        let (n, _) = file.write(&b"abc"[..]).submit().complete().await;
        assert_eq!(n.unwrap(), 3);
        let (n, _) = file.write(&b"def"[..]).submit().complete().await;
        assert_eq!(n.unwrap(), 3);
        let (written, _) = file.write_all(&b"ghi"[..]).await;
        written.unwrap();
        // An offset write leaves the position alone: the next write follows "ghi".
        let (n, _) = file.write_at(&b"A"[..], 0).submit().complete().await;
        assert_eq!(n.unwrap(), 1);
        let (n, _) = file.write(&b"j"[..]).submit().complete().await;
        assert_eq!(n.unwrap(), 1);
        file.close().await.unwrap();

        let file = File::open(&ring, temp.path()).await.unwrap();
        let (n, first) = file.read(Vec::with_capacity(4)).submit().complete().await;
        assert_eq!(&first[..n.unwrap()], b"Abcd");
        let (n, second) = file.read(Vec::with_capacity(4)).submit().complete().await;
        assert_eq!(&second[..n.unwrap()], b"efgh");
        file.close().await.unwrap();
    });
    assert_eq!(std::fs::read(temp.path()).unwrap(), b"Abcdefghij");
    drop(ring);
    fds.finish();
}

#[test]
fn file_write_all_to_pipe_beyond_its_capacity_delivers_every_byte() {
    let fds = FdCheck::start();
    let ring = ring(DropPolicy::Panic);
    let (read, write) = pipe_with(0);
    let writer = File::from_fd(&ring, write).unwrap();
    let mut std_reader = std::fs::File::from(read);
    // Four times a pipe's default capacity: the writes wait for the reader.
    let data: Vec<u8> = (0..256 * 1024).map(|i| (i % 251) as u8).collect();
    let expected = data.clone();
    let drain = std::thread::spawn(move || {
        let mut received = Vec::new();
        std_reader.read_to_end(&mut received).map(|_| received)
    });
    ring.block_on(async {
        let (written, data) = writer.write_all(data).await;
        written.unwrap();
        assert_eq!(data.len(), 256 * 1024);
        writer.close().await.unwrap();
    });
    let received = drain.join().unwrap().unwrap();
    assert!(received == expected, "{} bytes received", received.len());
    drop(ring);
    fds.finish();
}

#[test]
fn file_from_fd_of_nonblocking_pipe_waits_instead_of_eagain() {
    let fds = FdCheck::start();
    let ring = ring(DropPolicy::Panic);
    let (read, write) = pipe_with(libc::O_NONBLOCK);
    let reader = File::from_fd(&ring, read).unwrap();
    // SAFETY: F_GETFL on a descriptor `reader` keeps open, integer arguments only.
    let flags = unsafe { libc::fcntl(reader.as_raw_fd(), libc::F_GETFL) };
    assert!(flags >= 0, "{}", io::Error::last_os_error());
    assert_eq!(flags & libc::O_NONBLOCK, 0, "O_NONBLOCK was cleared");
    ring.block_on(async {
        let read = reader.read(Vec::with_capacity(8)).submit();
        settle(&ring).await;
        // An O_NONBLOCK read would have completed at once with EAGAIN.
        let outcome = read.cancel().await;
        assert!(outcome.is_cancelled(), "{outcome:?}");
    });
    drop((reader, write, ring));
    fds.finish();
}

#[test]
fn file_into_fd_is_busy_while_abandoned_op_holds_it_and_closes_later() {
    let fds = FdCheck::start();
    let ring = ring(DropPolicy::Reclaim);
    let (reader, writer) = file_pipe(&ring);
    ring.block_on(async {
        let read = reader.read(Vec::with_capacity(8)).submit();
        settle(&ring).await;
        drop(read);
        let err = reader.into_fd().unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::ResourceBusy, "{err}");
        // The abandoned read's completion releases the last reference: the read end
        // is closed then, which `fds.finish()` checks.
        settle(&ring).await;
    });
    assert_eq!(ring.stats().in_flight, 0);
    drop((writer, ring));
    fds.finish();
}

#[test]
fn file_into_std_when_idle_gives_working_descriptor() {
    let fds = FdCheck::start();
    let ring = ring(DropPolicy::Panic);
    let (reader, mut writer) = file_pipe(&ring);
    ring.block_on(async {
        writer.write_all(b"one").unwrap();
        let (n, _) = reader.read(Vec::with_capacity(8)).submit().complete().await;
        assert_eq!(n.unwrap(), 3);
    });
    let mut std_reader = reader.into_std().unwrap();
    writer.write_all(b"two").unwrap();
    let mut got = [0u8; 3];
    std_reader.read_exact(&mut got).unwrap();
    assert_eq!(&got, b"two");
    drop((std_reader, writer, ring));
    fds.finish();
}

#[test]
fn fs_pipe_ends_carry_bytes_and_are_blocking() {
    let fds = FdCheck::start();
    let ring = ring(DropPolicy::Panic);
    let (reader, writer) = linear_uring::fs::pipe(&ring).unwrap();
    for end in [&reader, &writer] {
        let raw = std::os::fd::AsRawFd::as_raw_fd(end);
        // SAFETY: fcntl(2) on descriptors the ends keep open, integer arguments only.
        let (fl, fd) = unsafe {
            (
                libc::fcntl(raw, libc::F_GETFL),
                libc::fcntl(raw, libc::F_GETFD),
            )
        };
        assert_eq!(fl & libc::O_NONBLOCK, 0);
        assert_ne!(fd & libc::FD_CLOEXEC, 0);
    }
    ring.block_on(async {
        // The read waits in the kernel for the write.
        let read = reader.read(Vec::with_capacity(16)).submit();
        settle(&ring).await;
        let (written, _) = writer.write_all(&b"piped"[..]).await;
        written.unwrap();
        let (n, buf) = read.await;
        assert_eq!(&buf[..n.unwrap()], b"piped");
        writer.close().await.unwrap();
        let (n, _) = reader.read(Vec::with_capacity(16)).await;
        assert_eq!(n.unwrap(), 0, "end of file once the writer is closed");
        reader.close().await.unwrap();
    });
    drop(ring);
    fds.finish();
}
