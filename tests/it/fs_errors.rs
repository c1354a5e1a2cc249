//! Bad input to the file system ops: each a clear error, nothing leaked (descriptors
//! counted), the file system unchanged, the ring usable afterwards.

use std::ffi::OsStr;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::PathBuf;

use linear_uring::fs::{self, File, OpenOptions};
use linear_uring::{DropPolicy, Ring};

use crate::fds::FdCheck;
use crate::fs_support::{assert_usable, ring, skip, TempDir};

/// `dir/a\0b`: a path the kernel would read as `dir/a`.
fn with_nul(dir: &TempDir) -> PathBuf {
    let mut bytes = dir.path().as_os_str().as_bytes().to_vec();
    bytes.extend_from_slice(b"/a\0b");
    PathBuf::from(OsStr::from_bytes(&bytes))
}

/// A path of `PATH_MAX` + 1 bytes inside `dir`, every component short enough.
fn too_long(dir: &TempDir) -> PathBuf {
    let mut path = dir.path().to_path_buf();
    while path.as_os_str().len() <= libc::PATH_MAX as usize {
        path.push("a".repeat(200));
    }
    path
}

/// Asserts `result` failed with `InvalidInput` naming the NUL byte, without the
/// kernel seeing the op.
fn assert_refused_nul<T: std::fmt::Debug>(ring: &Ring, submitted: u64, result: io::Result<T>) {
    let err = result.expect_err("a path with a NUL byte inside");
    assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "{err}");
    let message = err.to_string();
    assert!(message.contains("NUL byte at index"), "{message}");
    assert!(
        message.contains("a\\0b"),
        "the message shows the path: {message}"
    );
    assert_eq!(ring.stats().submitted, submitted, "the kernel never saw it");
}

#[test]
fn fs_path_with_interior_nul_fails_invalid_input_before_kernel() {
    let dir = TempDir::new("err-nul");
    let fds = FdCheck::start_in(dir.path());
    let ring = ring(DropPolicy::Panic);
    let bad = with_nul(&dir);
    let good = dir.join("a");
    std::fs::write(&good, b"").unwrap();
    ring.block_on(async {
        let n = ring.stats().submitted;
        assert_refused_nul(&ring, n, File::open(&ring, &bad).await);
        assert_refused_nul(&ring, n, File::create(&ring, &bad).await);
        assert_refused_nul(
            &ring,
            n,
            OpenOptions::new().read(true).open(&ring, &bad).await,
        );
        assert_refused_nul(&ring, n, fs::metadata(&ring, &bad).await);
        assert_refused_nul(&ring, n, fs::symlink_metadata(&ring, &bad).await);
        assert_refused_nul(&ring, n, fs::remove_file(&ring, &bad).await);
        assert_refused_nul(&ring, n, fs::remove_dir(&ring, &bad).await);
        assert_refused_nul(&ring, n, fs::create_dir(&ring, &bad).await);
        assert_refused_nul(&ring, n, fs::rename(&ring, &bad, dir.join("x")).await);
        assert_refused_nul(&ring, n, fs::rename(&ring, &good, &bad).await);
        assert_refused_nul(&ring, n, fs::hard_link(&ring, &bad, dir.join("x")).await);
        assert_refused_nul(&ring, n, fs::hard_link(&ring, &good, &bad).await);
        assert_refused_nul(&ring, n, fs::symlink(&ring, &bad, dir.join("x")).await);
        assert_refused_nul(&ring, n, fs::symlink(&ring, &good, &bad).await);
        // The rename's message says which path was refused.
        let err = fs::rename(&ring, &good, &bad).await.unwrap_err();
        assert!(err.to_string().starts_with("RenameAt (to): "), "{err}");
    });
    // Nothing changed: `good` was neither moved nor unlinked, nothing was made.
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, ["a"]);
    assert_usable(&ring);
    drop(ring);
    fds.finish();
}

#[test]
fn fs_path_longer_than_path_max_fails_name_too_long() {
    let dir = TempDir::new("err-path-max");
    let fds = FdCheck::start_in(dir.path());
    let ring = ring(DropPolicy::Panic);
    let long = too_long(&dir);
    let long_name = dir.join(&"n".repeat(libc::NAME_MAX as usize + 1));
    ring.block_on(async {
        for path in [&long, &long_name] {
            let errs = [
                File::open(&ring, path).await.map(drop),
                File::create(&ring, path).await.map(drop),
                fs::metadata(&ring, path).await.map(drop),
                fs::remove_file(&ring, path).await,
                fs::create_dir(&ring, path).await,
                fs::rename(&ring, dir.path(), path).await,
                fs::symlink(&ring, "target", path).await,
            ];
            for (i, result) in errs.into_iter().enumerate() {
                let err = result.expect_err("too long");
                assert_eq!(
                    err.raw_os_error(),
                    Some(libc::ENAMETOOLONG),
                    "case {i} of {} bytes: {err}",
                    path.as_os_str().len()
                );
            }
        }
    });
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    assert_usable(&ring);
    drop(ring);
    fds.finish();
}

#[test]
fn file_open_missing_fails_not_found() {
    let dir = TempDir::new("err-missing");
    let fds = FdCheck::start_in(dir.path());
    let ring = ring(DropPolicy::Panic);
    ring.block_on(async {
        let err = File::open(&ring, dir.join("missing")).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::NotFound, "{err}");
        assert_eq!(err.raw_os_error(), Some(libc::ENOENT));
        // A missing directory on the way, for a create.
        let err = File::create(&ring, dir.join("missing/file"))
            .await
            .unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::NotFound, "{err}");
        let err = fs::metadata(&ring, dir.join("missing")).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::NotFound, "{err}");
    });
    assert_eq!(ring.stats().fds_closed, 0);
    assert_usable(&ring);
    drop(ring);
    fds.finish();
}

#[test]
fn open_options_write_on_directory_fails_is_a_directory() {
    let dir = TempDir::new("err-eisdir");
    let fds = FdCheck::start_in(dir.path());
    let ring = ring(DropPolicy::Panic);
    ring.block_on(async {
        let err = OpenOptions::new()
            .write(true)
            .open(&ring, dir.path())
            .await
            .unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::EISDIR), "{err}");
        assert_eq!(err.kind(), io::ErrorKind::IsADirectory);
        let err = File::create(&ring, dir.path()).await.unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::EISDIR), "{err}");
        // Read-only, a directory opens; reading it fails.
        let file = File::open(&ring, dir.path()).await.unwrap();
        let (read, _) = file.read(Vec::with_capacity(8)).await;
        assert_eq!(read.unwrap_err().raw_os_error(), Some(libc::EISDIR));
        file.close().await.unwrap();
    });
    assert_usable(&ring);
    drop(ring);
    fds.finish();
}

#[test]
fn file_open_without_permission_fails_permission_denied() {
    let dir = TempDir::new("err-eacces");
    let fds = FdCheck::start_in(dir.path());
    let ring = ring(DropPolicy::Panic);
    // SAFETY: geteuid(2) takes no arguments and cannot fail.
    let root = unsafe { libc::geteuid() } == 0;
    let path = if root {
        // Root passes file permission checks, but not a read-only sysctl's: procfs
        // checks its own mode bits, for root too.
        eprintln!("running as root: checking EACCES on a read-only sysctl instead of a 0o000 file");
        PathBuf::from("/proc/sys/kernel/osrelease")
    } else {
        let path = dir.join("locked");
        std::fs::write(&path, b"secret").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o000)).unwrap();
        path
    };
    let opened = ring.block_on(async { OpenOptions::new().write(true).open(&ring, &path).await });
    match opened {
        Err(err) => {
            assert_eq!(err.raw_os_error(), Some(libc::EACCES), "{err}");
            assert_eq!(err.kind(), io::ErrorKind::PermissionDenied);
        }
        Ok(file) if root => {
            drop(file);
            skip("root may write /proc/sys/kernel/osrelease here (no EACCES to check)");
        }
        Ok(file) => panic!("opened a 0o000 file for writing: {file:?}"),
    }
    assert_usable(&ring);
    drop(ring);
    fds.finish();
}

#[test]
fn file_set_len_past_largest_offset_fails_invalid_input_before_kernel() {
    let dir = TempDir::new("err-set-len");
    let fds = FdCheck::start_in(dir.path());
    let ring = ring(DropPolicy::Panic);
    let path = dir.join("file");
    ring.block_on(async {
        let file = File::create(&ring, &path).await.unwrap();
        let submitted = ring.stats().submitted;
        for len in [u64::MAX, i64::MAX as u64 + 1] {
            let err = file.set_len(len).await.unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "{err}");
            let message = err.to_string();
            assert!(message.starts_with("Ftruncate: the length"), "{message}");
            assert!(message.contains("largest file offset"), "{message}");
        }
        for (offset, len) in [(u64::MAX, 1), (0, u64::MAX), (1 << 63, 4096)] {
            let err = file.allocate(offset, len).await.unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "{err}");
            assert!(err.to_string().starts_with("Fallocate: the "), "{err}");
        }
        assert_eq!(
            ring.stats().submitted,
            submitted,
            "the kernel never saw them"
        );
        file.close().await.unwrap();
    });
    assert_eq!(
        std::fs::metadata(&path).unwrap().len(),
        0,
        "the file is unchanged"
    );
    assert_usable(&ring);
    drop(ring);
    fds.finish();
}

#[test]
fn file_allocate_past_largest_file_fails_file_too_large() {
    let dir = TempDir::new("err-efbig");
    let fds = FdCheck::start_in(dir.path());
    let ring = ring(DropPolicy::Panic);
    let path = dir.join("file");
    ring.block_on(async {
        let file = File::create(&ring, &path).await.unwrap();
        // Both fit in a file offset, their sum does not.
        let err = file.allocate(i64::MAX as u64, 4096).await.unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::EFBIG), "{err}");
        assert_eq!(err.kind(), io::ErrorKind::FileTooLarge);
        // A length of 0 is the kernel's EINVAL.
        let err = file.allocate(0, 0).await.unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::EINVAL), "{err}");
        // Past what this file system allows: ext4 with 4 KiB blocks stops at 16 TiB;
        // tmpfs allows up to i64::MAX, so the length is checked only where it fails.
        match file.set_len(1 << 62).await {
            Err(err) => assert_eq!(err.raw_os_error(), Some(libc::EFBIG), "{err}"),
            Ok(()) => eprintln!("the file system takes a 4 EiB file: no EFBIG to check"),
        }
        file.close().await.unwrap();
    });
    assert_usable(&ring);
    drop(ring);
    fds.finish();
}

#[test]
fn file_read_o_direct_unaligned_buffer_fails_invalid_argument() {
    let dir = TempDir::new("err-o-direct");
    let fds = FdCheck::start_in(dir.path());
    let ring = ring(DropPolicy::Panic);
    let path = dir.join("file");
    std::fs::write(&path, vec![1u8; 8192]).unwrap();
    // Checked with std first: which file systems take O_DIRECT, and enforce its
    // alignment, is theirs to say.
    if let Err(err) = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_DIRECT)
        .open(&path)
    {
        skip(&format!("{:?} refuses O_DIRECT: {err}", dir.path()));
        return;
    }
    ring.block_on(async {
        let file = OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_DIRECT)
            .open(&ring, &path)
            .await
            .unwrap();
        // One initialised byte: the read appends after it, at an odd address.
        let mut buf = Vec::with_capacity(4096 + 1);
        buf.push(0u8);
        let ptr = buf.as_ptr();
        let (result, buf) = file.read_at(buf, 0).await;
        match result {
            Err(err) => {
                assert_eq!(err.raw_os_error(), Some(libc::EINVAL), "{err}");
                assert_eq!(buf.as_ptr(), ptr, "the buffer comes back");
                assert_eq!(buf, [0], "untouched");
            }
            Ok(n) => skip(&format!(
                "{:?} does not enforce O_DIRECT alignment (read {n} bytes)",
                dir.path()
            )),
        }
        file.close().await.unwrap();
    });
    assert_usable(&ring);
    drop(ring);
    fds.finish();
}

#[test]
fn fs_errors_leave_no_descriptor_and_ring_usable_under_load() {
    // Many failing opens in flight at once: each fails alone, none leaks.
    let dir = TempDir::new("err-many");
    let fds = FdCheck::start_in(dir.path());
    let ring = ring(DropPolicy::Panic);
    std::fs::write(dir.join("ok"), b"").unwrap();
    let results = ring.block_on(async {
        let ops: Vec<_> = (0..64)
            .map(|i| match i % 4 {
                0 => File::open(&ring, dir.join("missing")).submit(),
                1 => File::open(&ring, with_nul(&dir)).submit(),
                2 => OpenOptions::new()
                    .write(true)
                    .open(&ring, dir.path())
                    .submit(),
                _ => File::open(&ring, dir.join("ok")).submit(),
            })
            .collect();
        let mut results = Vec::new();
        for op in ops {
            results.push(op.await);
        }
        results
    });
    let opened = results.iter().filter(|r| r.is_ok()).count();
    assert_eq!(opened, 16);
    assert_eq!(fds.files_open(), 16);
    drop(results);
    assert_usable(&ring);
    drop(ring);
    fds.finish();
}
