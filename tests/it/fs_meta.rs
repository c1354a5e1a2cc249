//! Metadata through the ring: statx of an open file and of a path.

use std::io;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::time::{Duration, SystemTime};

use linear_uring::fs::{self, OpenOptions};
use linear_uring::DropPolicy;

use crate::fds::FdCheck;
use crate::fs_support::{assert_usable, ring, until_reaped, TempDir};

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
