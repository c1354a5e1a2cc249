//! `Readv` and `Writev`: several owned buffers in one op, on pipes, files and
//! sockets; the buffer contract for each buffer, every cancel outcome, bad input.

use std::io::{self, Write as _};
use std::path::PathBuf;
use std::time::Duration;

use linear_uring::buf::Empty;
use linear_uring::fs::File;
use linear_uring::net::UnixStream;
use linear_uring::{CancelOutcome, DropPolicy, Ring};

use crate::counted::CountedBuf;
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
fn file_pipe(ring: &Ring) -> (File, std::fs::File) {
    let (read, write) = fds::pipe();
    (File::from_fd(ring, read).unwrap(), write.into())
}

/// A `Vec` holding `init` with room for `capacity` bytes in all.
fn buf(init: &[u8], capacity: usize) -> Vec<u8> {
    let mut buf = Vec::with_capacity(capacity);
    buf.extend_from_slice(init);
    buf
}

#[test]
fn writev_then_readv_pipe_fills_each_buffer_in_order_after_its_bytes() {
    let fds = FdCheck::start();
    let ring = ring(DropPolicy::Panic);
    let (read, write) = fds::pipe();
    let reader = File::from_fd(&ring, read).unwrap();
    let writer = File::from_fd(&ring, write).unwrap();
    ring.block_on(async {
        let parts = vec![
            b"hello".to_vec(),
            Vec::new(),
            b", vectored".to_vec(),
            b" world".to_vec(),
        ];
        let (n, parts) = writer.write_vectored(parts).await;
        assert_eq!(n.unwrap(), 21);
        assert_eq!(parts.len(), 4, "every buffer comes back");
        assert_eq!(parts[2], b", vectored");

        // The first buffer keeps its header and takes 3 bytes; the second is full and
        // skipped; the third takes 8; the last, the rest.
        let first = buf(b"HDR:", 7);
        let room = first.capacity() - first.len();
        let bufs = vec![
            first,
            vec![0xAA; 4],
            Vec::with_capacity(8),
            Vec::with_capacity(64),
        ];
        let (n, bufs) = reader.read_vectored(bufs).await;
        assert_eq!(n.unwrap(), 21);
        assert_eq!(
            bufs[0],
            [b"HDR:".as_slice(), &b"hello, vectored world"[..room]].concat()
        );
        assert_eq!(bufs[1], [0xAA; 4], "a full buffer is left alone");
        let rest = &b"hello, vectored world"[room..];
        let third = bufs[2].capacity();
        assert_eq!(bufs[2], &rest[..third]);
        assert_eq!(bufs[3], &rest[third..]);
    });
    drop((reader, writer, ring));
    fds.finish();
}

#[test]
fn readv_short_read_fills_the_first_buffers_only() {
    let fds = FdCheck::start();
    let ring = ring(DropPolicy::Panic);
    let (reader, mut writer) = file_pipe(&ring);
    writer.write_all(b"abcdef").unwrap();
    ring.block_on(async {
        let bufs = vec![
            Vec::with_capacity(4),
            Vec::with_capacity(4),
            buf(b"kept", 8),
        ];
        let (n, bufs) = reader.read_vectored(bufs).await;
        assert_eq!(n.unwrap(), 6);
        assert_eq!(bufs[0], b"abcd");
        assert_eq!(bufs[1], b"ef");
        assert_eq!(bufs[2], b"kept", "untouched: nothing reached it");
    });
    drop((reader, writer, ring));
    fds.finish();
}

#[test]
fn file_write_vectored_at_then_read_vectored_at_round_trips() {
    let fds = FdCheck::start();
    let ring = ring(DropPolicy::Panic);
    let path = TempPath::new("vectored-at");
    let std_file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(&path.0)
        .unwrap();
    let file = File::from_std(&ring, std_file).unwrap();
    ring.block_on(async {
        let (n, _) = file
            .write_vectored_at(vec![&b"0123"[..], &b"4567"[..]], 2)
            .await;
        assert_eq!(n.unwrap(), 8);
        // At the current position (0): the two bytes before the offset are a hole.
        let (n, _) = file.write_vectored(vec![b"ab".to_vec()]).await;
        assert_eq!(n.unwrap(), 2);
        let (n, bufs) = file
            .read_vectored_at(vec![Vec::with_capacity(3), Vec::with_capacity(16)], 1)
            .await;
        assert_eq!(n.unwrap(), 9);
        assert_eq!(bufs[0], b"b01");
        assert_eq!(bufs[1], b"234567");
        // The current position is 2, after "ab".
        let (n, bufs) = file.read_vectored(vec![Vec::with_capacity(4)]).await;
        assert_eq!(n.unwrap(), 4);
        assert_eq!(bufs[0], b"0123");
        file.close().await.unwrap();
    });
    assert_eq!(std::fs::read(&path.0).unwrap(), b"ab01234567");
    drop(ring);
    fds.finish();
}

#[test]
fn unix_stream_write_vectored_read_vectored_round_trip_and_halves() {
    let fds = FdCheck::start();
    let ring = ring(DropPolicy::Panic);
    let (a, b) = UnixStream::pair(&ring).unwrap();
    ring.block_on(async {
        let (n, _) = a.write_vectored(vec![&b"one "[..], &b"two"[..]]).await;
        assert_eq!(n.unwrap(), 7);
        let (n, bufs) = b
            .read_vectored(vec![Vec::with_capacity(4), Vec::with_capacity(4)])
            .await;
        assert_eq!(n.unwrap(), 7);
        assert_eq!((&bufs[0][..], &bufs[1][..]), (&b"one "[..], &b"two"[..]));

        let (read, write) = b.into_split();
        let (n, _) = write.write_vectored(vec![b"back".to_vec()]).await;
        assert_eq!(n.unwrap(), 4);
        let (n, bufs) = a.read_vectored(vec![Vec::with_capacity(8)]).await;
        assert_eq!(&bufs[0][..n.unwrap()], b"back");
        let (n, _) = a.write_vectored(vec![b"half".to_vec()]).await;
        assert_eq!(n.unwrap(), 4);
        let (n, bufs) = read.read_vectored(vec![Vec::with_capacity(8)]).await;
        assert_eq!(&bufs[0][..n.unwrap()], b"half");
        let b = UnixStream::reunite(read, write).unwrap();
        b.close().await.unwrap();
        a.close().await.unwrap();
    });
    drop(ring);
    fds.finish();
}

#[test]
fn readv_no_buffers_fails_invalid_input_at_once() {
    let fds = FdCheck::start();
    let ring = ring(DropPolicy::Panic);
    let (reader, mut writer) = file_pipe(&ring);
    writer.write_all(b"kept").unwrap();
    ring.block_on(async {
        let (n, bufs) = reader.read_vectored(Vec::<Vec<u8>>::new()).await;
        let err = n.expect_err("no buffer is not end of file");
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "{err}");
        assert!(err.to_string().contains("no buffers"), "{err}");
        assert!(bufs.is_empty());
        // Nothing was consumed, and the ring goes on.
        let (n, buf) = reader.read(Vec::with_capacity(8)).await;
        assert_eq!(&buf[..n.unwrap()], b"kept");
    });
    assert_eq!(ring.stats().in_flight, 0);
    drop((reader, writer, ring));
    fds.finish();
}

#[test]
fn readv_all_buffers_full_fails_invalid_input_and_returns_them_untouched() {
    let fds = FdCheck::start();
    let ring = ring(DropPolicy::Panic);
    let (reader, mut writer) = file_pipe(&ring);
    writer.write_all(b"kept").unwrap();
    ring.block_on(async {
        let full = vec![vec![1u8; 4], vec![2u8; 2], Vec::new()];
        let ptrs: Vec<*const u8> = full.iter().map(|b| b.as_ptr()).collect();
        let (n, bufs) = reader.read_vectored(full).await;
        let err = n.expect_err("no room is not end of file");
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "{err}");
        assert!(err.to_string().contains("none of the 3 buffers"), "{err}");
        assert_eq!(bufs, vec![vec![1u8; 4], vec![2u8; 2], Vec::new()]);
        let back: Vec<*const u8> = bufs.iter().map(|b| b.as_ptr()).collect();
        assert_eq!(back, ptrs, "the same allocations come back");
        // A vector of `Empty` is a 0-byte read on purpose.
        let (n, _) = reader.read_vectored(vec![Empty]).await;
        assert_eq!(n.unwrap(), 0);
        let (n, buf) = reader.read(Vec::with_capacity(8)).await;
        assert_eq!(&buf[..n.unwrap()], b"kept");
    });
    drop((reader, writer, ring));
    fds.finish();
}

#[test]
fn readv_and_writev_more_than_iov_max_buffers_fail_invalid_input_at_once() {
    let fds = FdCheck::start();
    let ring = ring(DropPolicy::Panic);
    let (read, write) = fds::pipe();
    let reader = File::from_fd(&ring, read).unwrap();
    let writer = File::from_fd(&ring, write).unwrap();
    ring.block_on(async {
        let bufs: Vec<Vec<u8>> = (0..1025).map(|_| Vec::with_capacity(1)).collect();
        let (n, bufs) = reader.read_vectored(bufs).await;
        let err = n.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "{err}");
        assert!(err.to_string().contains("1025 buffers"), "{err}");
        assert_eq!(bufs.len(), 1025);
        let bufs: Vec<&'static [u8]> = vec![b"x"; 1025];
        let (n, bufs) = writer.write_vectored(bufs).await;
        let err = n.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "{err}");
        assert_eq!(bufs.len(), 1025);
        // 1024 is the limit, not past it.
        let bufs: Vec<&'static [u8]> = vec![b"x"; 1024];
        let (n, _) = writer.write_vectored(bufs).await;
        assert_eq!(n.unwrap(), 1024);
    });
    assert_eq!(ring.stats().in_flight, 0);
    drop((reader, writer, ring));
    fds.finish();
}

#[test]
fn writev_empty_vector_completes_with_zero() {
    let fds = FdCheck::start();
    let ring = ring(DropPolicy::Panic);
    let (read, write) = fds::pipe();
    let writer = File::from_fd(&ring, write).unwrap();
    ring.block_on(async {
        let (n, bufs) = writer.write_vectored(Vec::<Vec<u8>>::new()).await;
        assert_eq!(n.unwrap(), 0);
        assert!(bufs.is_empty());
    });
    drop((read, writer, ring));
    fds.finish();
}

#[test]
fn readv_empty_pipe_cancel_is_cancelled_with_the_same_buffers() {
    let fds = FdCheck::start();
    let ring = ring(DropPolicy::Panic);
    let (reader, writer) = file_pipe(&ring);
    let bufs = vec![buf(b"HDR", 16), Vec::with_capacity(16)];
    let ptrs: Vec<*const u8> = bufs.iter().map(|b| b.as_ptr()).collect();
    ring.block_on(async {
        let readv = reader.read_vectored(bufs).submit();
        settle(&ring).await;
        match readv.cancel().await {
            CancelOutcome::Cancelled(bufs) => {
                let back: Vec<*const u8> = bufs.iter().map(|b| b.as_ptr()).collect();
                assert_eq!(back, ptrs, "the same allocations come back");
                assert_eq!(bufs[0], b"HDR");
                assert!(bufs[1].is_empty());
            }
            CancelOutcome::Completed(output) => panic!("nothing was written: {output:?}"),
        }
    });
    assert_eq!(ring.stats().in_flight, 0);
    drop((reader, writer, ring));
    fds.finish();
}

#[test]
fn readv_pipe_cancel_after_data_arrived_is_completed_with_bytes() {
    let fds = FdCheck::start();
    let ring = ring(DropPolicy::Panic);
    let (reader, mut writer) = file_pipe(&ring);
    ring.block_on(async {
        let readv = reader
            .read_vectored(vec![Vec::with_capacity(4), Vec::with_capacity(16)])
            .submit();
        settle(&ring).await;
        writer.write_all(b"late bytes").unwrap();
        settle(&ring).await;
        match readv.cancel().await {
            CancelOutcome::Completed((n, bufs)) => {
                assert_eq!(n.unwrap(), 10);
                assert_eq!(bufs.concat(), b"late bytes", "no byte lost");
            }
            CancelOutcome::Cancelled(bufs) => panic!("the bytes were lost: {bufs:?}"),
        }
    });
    drop((reader, writer, ring));
    fds.finish();
}

#[test]
fn readv_abandoned_under_reclaim_frees_every_buffer_once_after_completion() {
    let fds = FdCheck::start();
    let ring = ring(DropPolicy::Reclaim);
    let (reader, mut writer) = file_pipe(&ring);
    let (first, first_drops) = CountedBuf::new(8);
    let (second, second_drops) = CountedBuf::new(8);
    ring.block_on(async {
        let readv = reader.read_vectored(vec![first, second]).submit();
        settle(&ring).await;
        drop(readv);
        assert_eq!(ring.stats().in_flight, 1);
        assert_eq!(
            (first_drops.get(), second_drops.get()),
            (0, 0),
            "buffers freed while the kernel may write them"
        );
        writer.write_all(b"x").unwrap();
        settle(&ring).await;
        assert_eq!((first_drops.get(), second_drops.get()), (1, 1));
    });
    let stats = ring.stats();
    assert_eq!((stats.abandoned, stats.in_flight), (1, 0), "{stats:?}");
    drop((reader, writer, ring));
    assert_eq!(
        (first_drops.get(), second_drops.get()),
        (1, 1),
        "freed once"
    );
    fds.finish();
}

/// A path in the temporary directory, removed on drop.
struct TempPath(PathBuf);

impl TempPath {
    fn new(test: &str) -> TempPath {
        let path = std::env::temp_dir().join(format!("linear-uring-{}-{test}", std::process::id()));
        let _ = std::fs::remove_file(&path);
        TempPath(path)
    }
}

impl Drop for TempPath {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}
