//! `Splice` and `Tee`: bytes moved or duplicated between descriptors inside the
//! kernel, every cancel outcome, and the ends' descriptors kept open by the op.

use std::io::{self, Read as _, Write as _};
use std::path::PathBuf;
use std::time::Duration;

use linear_uring::fs::File;
use linear_uring::net::UnixStream;
use linear_uring::op::{Splice, Tee};
use linear_uring::{deadline, CancelOutcome, DropPolicy, Ring};

use crate::fds::{self, FdCheck};

fn ring(policy: DropPolicy) -> Ring {
    Ring::builder().drop_policy(policy).build().unwrap()
}

async fn settle(ring: &Ring) {
    ring.sleep(Duration::from_millis(20))
        .complete()
        .await
        .unwrap();
}

/// A pipe whose read end is a ring `File` and whose write end is a `std` file.
fn source(ring: &Ring) -> (File, std::fs::File) {
    let (read, write) = fds::pipe();
    (File::from_fd(ring, read).unwrap(), write.into())
}

/// A pipe whose write end is a ring `File` and whose read end is a `std` file.
fn sink(ring: &Ring) -> (File, std::fs::File) {
    let (read, write) = fds::pipe();
    (File::from_fd(ring, write).unwrap(), read.into())
}

/// Reads what is in a pipe now, without waiting for more.
fn drain(pipe: &mut std::fs::File) -> Vec<u8> {
    use std::os::fd::AsRawFd;
    let mut pending: libc::c_int = 0;
    // SAFETY: FIONREAD writes one int into the local, on a descriptor `pipe` owns.
    let rc = unsafe { libc::ioctl(pipe.as_raw_fd(), libc::FIONREAD, &mut pending) };
    assert_eq!(rc, 0, "FIONREAD: {}", io::Error::last_os_error());
    let mut got = vec![0; pending as usize];
    pipe.read_exact(&mut got).unwrap();
    got
}

/// A regular file in the temporary directory, removed on drop.
struct TempFile(PathBuf);

impl TempFile {
    fn with(test: &str, contents: &[u8]) -> TempFile {
        let path = std::env::temp_dir().join(format!("linear-uring-{}-{test}", std::process::id()));
        std::fs::write(&path, contents).unwrap();
        TempFile(path)
    }

    fn open(&self, ring: &Ring) -> File {
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&self.0)
            .unwrap();
        File::from_std(ring, file).unwrap()
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

#[test]
fn splice_pipe_to_pipe_moves_bytes_and_consumes_them() {
    let fds = FdCheck::start();
    let ring = ring(DropPolicy::Panic);
    let (from, mut writer) = source(&ring);
    let (to, mut reader) = sink(&ring);
    writer.write_all(b"moved, not copied").unwrap();
    ring.block_on(async {
        let moved = Splice::new(&ring, &from, &to, 1024)
            .submit()
            .complete()
            .await;
        assert_eq!(moved.unwrap(), 17);
    });
    assert_eq!(drain(&mut reader), b"moved, not copied");
    drop(writer);
    // The source is consumed: only its end is left.
    ring.block_on(async {
        let moved = Splice::new(&ring, &from, &to, 1024)
            .submit()
            .complete()
            .await;
        assert_eq!(moved.unwrap(), 0, "end of the input pipe");
    });
    drop((from, to, reader, ring));
    fds.finish();
}

#[test]
fn splice_file_at_offset_to_pipe_leaves_the_file_position_alone() {
    let fds = FdCheck::start();
    let ring = ring(DropPolicy::Panic);
    let temp = TempFile::with("splice-offset", b"0123456789");
    let file = temp.open(&ring);
    let (to, mut reader) = sink(&ring);
    ring.block_on(async {
        let moved = Splice::new(&ring, &file, &to, 4)
            .from_offset(3)
            .submit()
            .complete()
            .await;
        assert_eq!(moved.unwrap(), 4);
        // Without an offset: the file's position, still 0, which the splice advances.
        let moved = Splice::new(&ring, &file, &to, 4).submit().complete().await;
        assert_eq!(moved.unwrap(), 4);
        let moved = Splice::new(&ring, &file, &to, 4).submit().complete().await;
        assert_eq!(moved.unwrap(), 4);
    });
    assert_eq!(drain(&mut reader), b"345601234567");
    drop((file, to, reader, ring));
    fds.finish();
}

#[test]
fn splice_pipe_to_file_at_offset_writes_there() {
    let fds = FdCheck::start();
    let ring = ring(DropPolicy::Panic);
    let temp = TempFile::with("splice-to-file", b"..........");
    let file = temp.open(&ring);
    let (from, mut writer) = source(&ring);
    writer.write_all(b"abc").unwrap();
    ring.block_on(async {
        let moved = Splice::new(&ring, &from, &file, 3)
            .to_offset(5)
            .submit()
            .complete()
            .await;
        assert_eq!(moved.unwrap(), 3);
    });
    assert_eq!(std::fs::read(&temp.0).unwrap(), b".....abc..");
    drop((file, from, writer, ring));
    fds.finish();
}

#[test]
fn splice_between_pipe_and_unix_socket_both_ways() {
    let fds = FdCheck::start();
    let ring = ring(DropPolicy::Panic);
    let (a, b) = UnixStream::pair(&ring).unwrap();
    let (from, mut writer) = source(&ring);
    let (to, mut reader) = sink(&ring);
    writer.write_all(b"through a socket").unwrap();
    ring.block_on(async {
        // Pipe to socket `a`, then socket `b` to the other pipe.
        let moved = Splice::new(&ring, &from, &a, 64).submit().complete().await;
        assert_eq!(moved.unwrap(), 16);
        let moved = Splice::new(&ring, &b, &to, 64).submit().complete().await;
        assert_eq!(moved.unwrap(), 16);
    });
    assert_eq!(drain(&mut reader), b"through a socket");
    drop((a, b, from, writer, to, reader, ring));
    fds.finish();
}

#[test]
fn splice_empty_pipe_cancel_is_cancelled_and_moves_nothing() {
    let fds = FdCheck::start();
    let ring = ring(DropPolicy::Panic);
    let (from, mut writer) = source(&ring);
    let (to, mut reader) = sink(&ring);
    ring.block_on(async {
        let splice = Splice::new(&ring, &from, &to, 64).submit();
        // The splice waits for input in a kernel worker.
        settle(&ring).await;
        let outcome = splice.cancel().await;
        assert!(outcome.is_cancelled(), "nothing was written: {outcome:?}");
    });
    // Bytes written after the cancel stay in the source: nothing was taken from it,
    // and nothing reached the sink.
    writer.write_all(b"later").unwrap();
    assert!(drain(&mut reader).is_empty());
    ring.block_on(async {
        let moved = Splice::new(&ring, &from, &to, 64).submit().complete().await;
        assert_eq!(moved.unwrap(), 5);
    });
    assert_eq!(drain(&mut reader), b"later");
    assert_eq!(ring.stats().in_flight, 0);
    drop((from, writer, to, reader, ring));
    fds.finish();
}

#[test]
fn splice_empty_pipe_under_deadline_is_cancelled_when_the_timer_fires() {
    let fds = FdCheck::start();
    let ring = ring(DropPolicy::Panic);
    let (from, mut writer) = source(&ring);
    let (to, mut reader) = sink(&ring);
    ring.block_on(async {
        // Not a linked timeout: on Linux 6.18 its timer does not fire while the
        // splice waits in the kernel's worker. A deadline cancels it explicitly.
        let splice = Splice::new(&ring, &from, &to, 64).submit();
        let expired = deadline(splice, ring.sleep(Duration::from_millis(5)))
            .await
            .expect_err("nothing was written");
        let err = io::Error::from(expired);
        assert_eq!(err.kind(), io::ErrorKind::TimedOut, "{err}");
    });
    assert_eq!(ring.stats().in_flight, 0);
    writer.write_all(b"kept").unwrap();
    assert!(drain(&mut reader).is_empty(), "nothing moved");
    drop((from, writer, to, reader, ring));
    fds.finish();
}

#[test]
fn splice_with_input_ready_cancel_is_completed_with_the_count() {
    let fds = FdCheck::start();
    let ring = ring(DropPolicy::Panic);
    let (from, mut writer) = source(&ring);
    let (to, mut reader) = sink(&ring);
    writer.write_all(b"already here").unwrap();
    ring.block_on(async {
        let splice = Splice::new(&ring, &from, &to, 64).submit();
        settle(&ring).await;
        match splice.cancel().await {
            CancelOutcome::Completed(moved) => assert_eq!(moved.unwrap(), 12),
            CancelOutcome::Cancelled(()) => panic!("the bytes were there: the splice ran"),
        }
    });
    assert_eq!(drain(&mut reader), b"already here", "nothing lost");
    drop((from, writer, to, reader, ring));
    fds.finish();
}

#[test]
fn splice_between_two_non_pipes_fails_with_einval() {
    let fds = FdCheck::start();
    let ring = ring(DropPolicy::Panic);
    let temp_a = TempFile::with("splice-einval-a", b"some bytes");
    let temp_b = TempFile::with("splice-einval-b", b"");
    let (a, b) = (temp_a.open(&ring), temp_b.open(&ring));
    let (c, d) = UnixStream::pair(&ring).unwrap();
    ring.block_on(async {
        let err = Splice::new(&ring, &a, &b, 8)
            .submit()
            .complete()
            .await
            .unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::EINVAL), "{err}");
        let err = Splice::new(&ring, &a, &c, 8)
            .submit()
            .complete()
            .await
            .unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::EINVAL), "{err}");
        // The ring is still usable.
        let (sent, _) = c.send(b"ok").await;
        assert_eq!(sent.unwrap(), 2);
        let (n, buf) = d.recv(Vec::with_capacity(4)).await;
        assert_eq!(&buf[..n.unwrap()], b"ok");
    });
    assert_eq!(std::fs::read(&temp_b.0).unwrap(), b"", "nothing moved");
    drop((a, b, c, d, ring));
    fds.finish();
}

#[test]
fn splice_offset_on_a_pipe_fails_with_espipe() {
    let fds = FdCheck::start();
    let ring = ring(DropPolicy::Panic);
    let (from, mut writer) = source(&ring);
    let (to, mut reader) = sink(&ring);
    writer.write_all(b"kept").unwrap();
    ring.block_on(async {
        let err = Splice::new(&ring, &from, &to, 8)
            .from_offset(0)
            .submit()
            .complete()
            .await
            .unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::ESPIPE), "{err}");
    });
    assert!(drain(&mut reader).is_empty());
    drop((from, writer, to, reader, ring));
    fds.finish();
}

#[test]
fn splice_offset_past_i64_max_is_invalid_input_at_once() {
    let fds = FdCheck::start();
    let ring = ring(DropPolicy::Panic);
    let temp = TempFile::with("splice-huge-offset", b"x");
    let file = temp.open(&ring);
    let (to, reader) = sink(&ring);
    ring.block_on(async {
        let err = Splice::new(&ring, &file, &to, 8)
            .from_offset(u64::MAX)
            .submit()
            .complete()
            .await
            .unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "{err}");
        assert!(err.to_string().contains("i64::MAX"), "{err}");
    });
    assert_eq!(ring.stats().submitted, 0, "it never reached the kernel");
    drop((file, to, reader, ring));
    fds.finish();
}

#[test]
fn splice_abandoned_with_both_ends_dropped_keeps_them_open_until_its_completion() {
    let fds = FdCheck::start();
    let ring = ring(DropPolicy::Reclaim);
    let (from, writer) = source(&ring);
    let (to, reader) = sink(&ring);
    ring.block_on(async {
        let splice = Splice::new(&ring, &from, &to, 64).submit();
        settle(&ring).await;
        let open = fds::count();
        drop(splice);
        drop((from, to));
        // The op still holds both descriptors: neither number can be reused under
        // the splice the kernel is still running.
        assert_eq!(fds::count(), open, "an end was closed under the op");
        settle(&ring).await;
        // Its cancel completed: the op let go, and both ends are closed now.
        assert_eq!(fds::count(), open - 2);
    });
    let stats = ring.stats();
    assert_eq!((stats.abandoned, stats.in_flight), (1, 0), "{stats:?}");
    drop((writer, reader, ring));
    fds.finish();
}

#[test]
fn tee_duplicates_bytes_and_leaves_them_in_the_input() {
    let fds = FdCheck::start();
    let ring = ring(DropPolicy::Panic);
    let (from, mut writer) = source(&ring);
    let (to, mut reader) = sink(&ring);
    writer.write_all(b"twice").unwrap();
    ring.block_on(async {
        let copied = Tee::new(&ring, &from, &to, 64).submit().complete().await;
        assert_eq!(copied.unwrap(), 5);
        let (n, buf) = from.read(Vec::with_capacity(16)).await;
        assert_eq!(&buf[..n.unwrap()], b"twice", "still in the input");
    });
    assert_eq!(drain(&mut reader), b"twice");
    drop((from, writer, to, reader, ring));
    fds.finish();
}

#[test]
fn tee_empty_pipe_cancel_is_cancelled() {
    let fds = FdCheck::start();
    let ring = ring(DropPolicy::Panic);
    let (from, writer) = source(&ring);
    let (to, mut reader) = sink(&ring);
    ring.block_on(async {
        let tee = Tee::new(&ring, &from, &to, 64).submit();
        settle(&ring).await;
        let outcome = tee.cancel().await;
        assert!(outcome.is_cancelled(), "{outcome:?}");
    });
    assert!(drain(&mut reader).is_empty());
    assert_eq!(ring.stats().in_flight, 0);
    drop((from, writer, to, reader, ring));
    fds.finish();
}

#[test]
fn tee_with_input_ready_cancel_is_completed_with_the_count() {
    let fds = FdCheck::start();
    let ring = ring(DropPolicy::Panic);
    let (from, mut writer) = source(&ring);
    let (to, mut reader) = sink(&ring);
    writer.write_all(b"ready").unwrap();
    ring.block_on(async {
        let tee = Tee::new(&ring, &from, &to, 64).submit();
        settle(&ring).await;
        let copied = tee.cancel().await.completed().expect("the tee ran first");
        assert_eq!(copied.unwrap(), 5);
    });
    assert_eq!(drain(&mut reader), b"ready");
    drop((from, writer, to, reader, ring));
    fds.finish();
}

#[test]
fn tee_between_non_pipes_fails_with_einval() {
    let fds = FdCheck::start();
    let ring = ring(DropPolicy::Panic);
    let (a, b) = UnixStream::pair(&ring).unwrap();
    let (from, mut writer) = source(&ring);
    writer.write_all(b"kept").unwrap();
    ring.block_on(async {
        let err = Tee::new(&ring, &a, &b, 8)
            .submit()
            .complete()
            .await
            .unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::EINVAL), "{err}");
        // A pipe into a socket: tee needs two pipes.
        let err = Tee::new(&ring, &from, &a, 8)
            .submit()
            .complete()
            .await
            .unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::EINVAL), "{err}");
        let (n, buf) = from.read(Vec::with_capacity(8)).await;
        assert_eq!(&buf[..n.unwrap()], b"kept", "the input is untouched");
    });
    drop((a, b, from, writer, ring));
    fds.finish();
}
