//! Metadata and file-system ops through the ring: statx, fsync, fallocate,
//! ftruncate, and the free functions (unlink, rename, mkdir, link, symlink), with
//! what `cancel()` reports for ops the kernel runs to completion once started.

use std::io;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::time::{Duration, SystemTime};

use linear_uring::fs::{self, File, OpenOptions};
use linear_uring::{CancelOutcome, DropPolicy, Ring};

use crate::fds::FdCheck;
use crate::fs_support::{assert_usable, ring, skip, until_reaped, TempDir};
use crate::probe::unsupported;

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
        if matches!(&grown, Err(err) if unsupported(err, "ftruncate (Linux 6.9)")) {
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
fn fs_functions_change_the_file_system_as_std() {
    let dir = TempDir::new("meta-functions");
    let fds = FdCheck::start_in(dir.path());
    let ring = ring(DropPolicy::Panic);
    let d = |name: &str| dir.join(name);
    ring.block_on(async {
        fs::create_dir(&ring, d("sub")).await.unwrap();
        assert!(std::fs::metadata(d("sub")).unwrap().is_dir());
        let err = fs::create_dir(&ring, d("sub")).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::AlreadyExists, "{err}");
        let err = fs::create_dir(&ring, d("missing/sub")).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::NotFound, "{err}");

        File::create(&ring, d("sub/a"))
            .await
            .unwrap()
            .close()
            .await
            .unwrap();
        fs::rename(&ring, d("sub/a"), d("b")).await.unwrap();
        assert!(!d("sub/a").exists() && d("b").exists());

        fs::hard_link(&ring, d("b"), d("c")).await.unwrap();
        assert_eq!(std::fs::metadata(d("b")).unwrap().nlink(), 2);
        let err = fs::hard_link(&ring, d("b"), d("c")).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::AlreadyExists, "{err}");

        fs::symlink(&ring, "b", d("s")).await.unwrap();
        assert_eq!(std::fs::read_link(d("s")).unwrap(), Path::new("b"));
        // A dangling one is fine too.
        fs::symlink(&ring, "nowhere", d("dangling")).await.unwrap();
        assert!(std::fs::symlink_metadata(d("dangling")).is_ok());

        let err = fs::remove_dir(&ring, d("b")).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::NotADirectory, "{err}");
        let err = fs::remove_file(&ring, d("sub")).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::IsADirectory, "{err}");
        fs::rename(&ring, d("c"), d("sub/c")).await.unwrap();
        let err = fs::remove_dir(&ring, d("sub")).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::DirectoryNotEmpty, "{err}");

        // rename replaces an existing file.
        std::fs::write(d("sub/new"), b"new").unwrap();
        fs::rename(&ring, d("sub/new"), d("b")).await.unwrap();
        assert_eq!(std::fs::read(d("b")).unwrap(), b"new");
        assert_eq!(std::fs::metadata(d("sub/c")).unwrap().nlink(), 1);

        for name in ["b", "s", "dangling", "sub/c"] {
            fs::remove_file(&ring, d(name)).await.unwrap();
        }
        fs::remove_dir(&ring, d("sub")).await.unwrap();
        let err = fs::remove_file(&ring, d("b")).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::NotFound, "{err}");
    });
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    drop(ring);
    fds.finish();
}

/// Ops the kernel runs to completion once started: `cancel()` after they ran
/// reports `Completed` with the real result, and the file system shows it.
#[test]
fn fs_ops_cancel_after_they_ran_are_completed_with_real_result() {
    let dir = TempDir::new("meta-cancel-late");
    let fds = FdCheck::start_in(dir.path());
    let ring = ring(DropPolicy::Panic);
    let d = |name: &str| dir.join(name);
    std::fs::write(d("doomed"), b"").unwrap();
    std::fs::write(d("moving"), b"").unwrap();
    std::fs::write(d("linked"), b"").unwrap();
    ring.block_on(async {
        macro_rules! cancel_late {
            ($desc:expr) => {{
                let op = $desc.submit();
                until_reaped(&ring).await;
                match op.cancel().await {
                    CancelOutcome::Completed(output) => output,
                    CancelOutcome::Cancelled(()) => {
                        panic!("{} had run: its result was lost", stringify!($desc))
                    }
                }
            }};
        }
        cancel_late!(fs::remove_file(&ring, d("doomed"))).unwrap();
        assert!(!d("doomed").exists(), "the unlink happened");
        cancel_late!(fs::create_dir(&ring, d("made"))).unwrap();
        assert!(d("made").is_dir(), "the mkdir happened");
        cancel_late!(fs::rename(&ring, d("moving"), d("moved"))).unwrap();
        assert!(
            !d("moving").exists() && d("moved").exists(),
            "the rename happened"
        );
        cancel_late!(fs::hard_link(&ring, d("linked"), d("link2"))).unwrap();
        assert!(d("link2").exists(), "the link happened");
        cancel_late!(fs::symlink(&ring, "moved", d("sym"))).unwrap();
        assert!(d("sym").exists(), "the symlink happened");
        cancel_late!(fs::remove_dir(&ring, d("made"))).unwrap();
        assert!(!d("made").exists(), "the rmdir happened");
        let meta = cancel_late!(fs::metadata(&ring, d("moved"))).unwrap();
        assert!(meta.is_file());
        // A failure is a completion too.
        let err = cancel_late!(fs::remove_file(&ring, d("doomed"))).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::NotFound, "{err}");

        let file = read_write_file(&ring, &d("data"), 100).await;
        cancel_late!(file.sync_all()).unwrap();
        cancel_late!(file.sync_data()).unwrap();
        cancel_late!(file.allocate(0, 8192)).unwrap();
        assert_eq!(std::fs::metadata(d("data")).unwrap().len(), 8192);
        let truncated = cancel_late!(file.set_len(50));
        if !matches!(&truncated, Err(err) if unsupported(err, "ftruncate (Linux 6.9)")) {
            truncated.unwrap();
            assert_eq!(std::fs::metadata(d("data")).unwrap().len(), 50);
        }
        let meta = cancel_late!(file.metadata()).unwrap();
        assert!(meta.is_file());
        file.close().await.unwrap();
    });
    assert_eq!(ring.stats().in_flight, 0);
    drop(ring);
    fds.finish();
}

/// A cancel sent with the op can reach it while it is still queued for a kernel
/// worker (`Cancelled`: nothing done) or after the worker ran it (`Completed`);
/// either way the outcome says what happened to the file system.
#[test]
fn fs_ops_cancel_at_once_outcome_matches_file_system() {
    let dir = TempDir::new("meta-cancel-at-once");
    let fds = FdCheck::start_in(dir.path());
    let ring = ring(DropPolicy::Panic);
    let (mut cancelled, mut completed) = (0, 0);
    ring.block_on(async {
        for i in 0..40 {
            let file = dir.join(&format!("f{i}"));
            std::fs::write(&file, b"").unwrap();
            match fs::remove_file(&ring, &file).submit().cancel().await {
                CancelOutcome::Cancelled(()) => {
                    cancelled += 1;
                    assert!(file.exists(), "cancelled, yet the file was removed");
                }
                CancelOutcome::Completed(result) => {
                    completed += 1;
                    result.unwrap();
                    assert!(!file.exists(), "completed, yet the file is there");
                }
            }
            let sub = dir.join(&format!("d{i}"));
            match fs::create_dir(&ring, &sub).submit().cancel().await {
                CancelOutcome::Cancelled(()) => assert!(!sub.exists(), "cancelled, yet made"),
                CancelOutcome::Completed(result) => {
                    result.unwrap();
                    assert!(sub.is_dir(), "completed, yet not made");
                }
            }
        }
    });
    eprintln!("unlink cancelled at once: {cancelled} cancelled, {completed} completed");
    assert_eq!(ring.stats().in_flight, 0);
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
