//! Metadata and file ops through the ring: statx, fsync, fallocate, ftruncate.

use std::io;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::time::{Duration, SystemTime};

use linear_uring::fs::{self, File, OpenOptions};
use linear_uring::{DropPolicy, Ring};

use crate::fds::FdCheck;
use crate::fs_support::{assert_usable, ring, skip, until_reaped, TempDir};

/// A file of `len` bytes at `path`, opened read-write through the ring.
async fn read_write_file(ring: &Ring, path: &Path, len: usize) -> File {
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(ring, path)
        .await
        .unwrap();
    if len > 0 {
        let (written, _) = file.write_all_at(vec![7u8; len], 0).await;
        written.unwrap();
    }
    file
}

/// Whether `result` failed because the kernel lacks the op; prints the skip.
fn unsupported<T>(result: &io::Result<T>, op: &str) -> bool {
    match result {
        Err(err) if err.kind() == io::ErrorKind::Unsupported => {
            skip(&format!("{op} is missing from this kernel: {err}"));
            true
        }
        _ => false,
    }
}

#[test]
fn file_metadata_reports_len_type_mode_owner_and_times() {
    let dir = TempDir::new("meta-file");
    let fds = FdCheck::start_in(dir.path());
    let ring = ring(DropPolicy::Panic);
    let path = dir.join("file");
    let before = SystemTime::now() - Duration::from_secs(2);
    ring.block_on(async {
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o640)
            .open(&ring, &path)
            .await
            .unwrap();
        let (written, _) = file.write_all(&b"12345"[..]).await;
        written.unwrap();
        let meta = file.metadata().await.unwrap();
        let std_meta = std::fs::metadata(&path).unwrap();
        assert!(
            meta.is_file() && !meta.is_dir() && !meta.is_symlink(),
            "{meta:?}"
        );
        assert!(meta.file_type().is_file());
        assert_eq!(meta.len(), 5);
        assert_eq!(meta.permissions().mode(), 0o640);
        assert_eq!(meta.mode(), std_meta.mode());
        assert_eq!(meta.ino(), std_meta.ino());
        assert_eq!(meta.dev(), std_meta.dev());
        assert_eq!(meta.nlink(), 1);
        assert_eq!((meta.uid(), meta.gid()), (std_meta.uid(), std_meta.gid()));
        assert_eq!(meta.blksize(), std_meta.blksize());
        assert_eq!(meta.blocks(), std_meta.blocks());
        let modified = meta.modified().unwrap();
        assert_eq!(modified, std_meta.modified().unwrap());
        assert!(modified >= before, "{modified:?}");
        assert_eq!(meta.accessed().unwrap(), std_meta.accessed().unwrap());
        assert!(meta.status_changed().unwrap() >= before);
        match (meta.created(), std_meta.created()) {
            (Ok(ours), Ok(theirs)) => assert_eq!(ours, theirs),
            (Err(ours), Err(_)) => assert_eq!(ours.kind(), io::ErrorKind::Unsupported),
            (ours, theirs) => panic!("created: {ours:?} vs std's {theirs:?}"),
        }

        // The same file by path.
        let by_path = fs::metadata(&ring, &path).await.unwrap();
        assert_eq!(by_path, meta);
        file.close().await.unwrap();
    });
    drop(ring);
    fds.finish();
}

#[test]
fn fs_metadata_follows_symlinks_and_symlink_metadata_does_not() {
    let dir = TempDir::new("meta-links");
    let fds = FdCheck::start_in(dir.path());
    let ring = ring(DropPolicy::Panic);
    std::fs::create_dir(dir.join("sub")).unwrap();
    std::os::unix::fs::symlink("sub", dir.join("link")).unwrap();
    ring.block_on(async {
        let followed = fs::metadata(&ring, dir.join("link")).await.unwrap();
        assert!(followed.is_dir(), "{followed:?}");
        let link = fs::symlink_metadata(&ring, dir.join("link")).await.unwrap();
        assert!(link.is_symlink(), "{link:?}");
        assert_eq!(link.len(), 3, "a link's size is its target's length");
        let dev_null = fs::metadata(&ring, "/dev/null").await.unwrap();
        assert!(dev_null.file_type().is_char_device(), "{dev_null:?}");
    });
    drop(ring);
    fds.finish();
}

#[test]
fn file_sync_all_and_sync_data_complete_ok() {
    let dir = TempDir::new("meta-sync");
    let fds = FdCheck::start_in(dir.path());
    let ring = ring(DropPolicy::Panic);
    ring.block_on(async {
        let file = read_write_file(&ring, &dir.join("file"), 4096).await;
        file.sync_data().await.unwrap();
        file.sync_all().await.unwrap();
        file.close().await.unwrap();

        // A pipe cannot be synced.
        let (reader, writer) = fs::pipe(&ring).unwrap();
        let err = writer.sync_all().await.unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::EINVAL), "{err}");
        drop((reader, writer));
    });
    assert_usable(&ring);
    drop(ring);
    fds.finish();
}

#[test]
fn file_set_len_grows_with_zeroes_and_shrinks() {
    let dir = TempDir::new("meta-set-len");
    let fds = FdCheck::start_in(dir.path());
    let ring = ring(DropPolicy::Panic);
    let path = dir.join("file");
    ring.block_on(async {
        let file = read_write_file(&ring, &path, 10).await;
        let grown = file.set_len(1 << 20).await;
        if unsupported(&grown, "IORING_OP_FTRUNCATE (Linux 6.9)") {
            return;
        }
        grown.unwrap();
        assert_eq!(file.metadata().await.unwrap().len(), 1 << 20);
        let (n, buf) = file.read_at(Vec::with_capacity(16), 8).await;
        assert_eq!(
            &buf[..n.unwrap()],
            &[7, 7, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]
        );
        file.set_len(3).await.unwrap();
        file.close().await.unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), [7, 7, 7]);

        // Not open for writing.
        let file = File::open(&ring, &path).await.unwrap();
        let err = file.set_len(0).await.unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::EINVAL), "{err}");
        file.close().await.unwrap();
    });
    drop(ring);
    fds.finish();
}

#[test]
fn file_allocate_extends_and_reserves_blocks() {
    let dir = TempDir::new("meta-allocate");
    let fds = FdCheck::start_in(dir.path());
    let ring = ring(DropPolicy::Panic);
    let path = dir.join("file");
    ring.block_on(async {
        let file = read_write_file(&ring, &path, 0).await;
        let allocated = file.allocate(4096, 1 << 20).await;
        if let Err(err) = &allocated {
            if err.raw_os_error() == Some(libc::EOPNOTSUPP) {
                skip(&format!(
                    "the temporary directory's file system has no fallocate: {err}"
                ));
                return;
            }
        }
        allocated.unwrap();
        let meta = file.metadata().await.unwrap();
        assert_eq!(meta.len(), 4096 + (1 << 20), "the file grew");
        assert!(meta.blocks() * 512 >= 1 << 20, "space reserved: {meta:?}");
        // Within the file: the length stays.
        file.allocate(0, 10).await.unwrap();
        assert_eq!(file.metadata().await.unwrap().len(), 4096 + (1 << 20));
        file.close().await.unwrap();
    });
    drop(ring);
    fds.finish();
}

#[test]
fn fs_metadata_abandoned_keeps_buffer_until_completion() {
    let dir = TempDir::new("meta-abandoned");
    let fds = FdCheck::start_in(dir.path());
    let ring = ring(DropPolicy::Reclaim);
    ring.block_on(async {
        for _ in 0..16 {
            // The kernel may be writing the op's statx buffer after the drop: the
            // ring keeps it until the completion is reaped.
            drop(fs::metadata(&ring, dir.path()).submit());
        }
        until_reaped(&ring).await;
    });
    let stats = ring.stats();
    assert_eq!((stats.abandoned, stats.in_flight), (16, 0), "{stats:?}");
    assert_usable(&ring);
    drop(ring);
    fds.finish();
}
