//! The file system's free functions, as in `std::fs`, each an op on the ring: remove,
//! rename, link, create a directory, read metadata.
//!
//! Each takes the ring first (there is no hidden ring) and returns the op's
//! description: `.await` it for the result, or `.submit()` it for a token to race,
//! time out or cancel. Paths are relative to the current directory; the op owns a
//! copy of each path until its final completion. A path with a NUL byte inside fails
//! at once with `InvalidInput`, before the kernel sees the op.

use std::path::Path;

use crate::op::{LinkAt, MkdirAt, Prepared, RenameAt, Statx, SymlinkAt, UnlinkAt};
use crate::Ring;

/// Removes a file (or a symbolic link, not its target), as
/// [`std::fs::remove_file`].
///
/// # Errors
///
/// `InvalidInput` at once for a path with a NUL byte inside; otherwise the
/// kernel's errno: `NotFound`, `IsADirectory` (`EISDIR`), `PermissionDenied`...
///
/// # Cancellation
///
/// See [`UnlinkAt`]: a cancel says whether the file was removed.
///
/// # Examples
///
/// ```
/// use linear_uring::{fs, fs::File, Ring};
///
/// let ring = Ring::new()?;
/// let path = std::env::temp_dir().join(format!("linear-uring-doc-rm-{}", std::process::id()));
/// ring.block_on(async {
///     File::create(&ring, &path).await?.close().await?;
///     fs::remove_file(&ring, &path).await?;
///     let gone = fs::metadata(&ring, &path).await.unwrap_err();
///     assert_eq!(gone.kind(), std::io::ErrorKind::NotFound);
///     Ok::<(), std::io::Error>(())
/// })?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # References
///
/// `io_uring_prep_unlinkat(3)`, `unlinkat(2)`.
pub fn remove_file(ring: &Ring, path: impl AsRef<Path>) -> Prepared<UnlinkAt> {
    UnlinkAt::prepare(ring, path.as_ref(), false)
}

/// Removes an empty directory, as [`std::fs::remove_dir`].
///
/// # Errors
///
/// `InvalidInput` at once for a path with a NUL byte inside; otherwise the
/// kernel's errno: `NotFound`, `DirectoryNotEmpty` (`ENOTEMPTY`), `NotADirectory`...
///
/// # Cancellation
///
/// See [`UnlinkAt`]: a cancel says whether the directory was removed.
///
/// # References
///
/// `io_uring_prep_unlinkat(3)` with `AT_REMOVEDIR`, `unlinkat(2)`.
pub fn remove_dir(ring: &Ring, path: impl AsRef<Path>) -> Prepared<UnlinkAt> {
    UnlinkAt::prepare(ring, path.as_ref(), true)
}

/// Renames a file or directory, replacing `to` if it exists, as [`std::fs::rename`].
///
/// # Errors
///
/// `InvalidInput` at once for a path with a NUL byte inside; otherwise the
/// kernel's errno: `NotFound`, `CrossesDevices` (`EXDEV`), `IsADirectory`,
/// `DirectoryNotEmpty`...
///
/// # Cancellation
///
/// See [`RenameAt`]: a cancel says whether the file moved.
///
/// # References
///
/// `io_uring_prep_renameat(3)`, `renameat2(2)`.
pub fn rename(ring: &Ring, from: impl AsRef<Path>, to: impl AsRef<Path>) -> Prepared<RenameAt> {
    RenameAt::prepare(ring, from.as_ref(), to.as_ref())
}

/// Creates a directory with the permission bits `0o777` less the umask, as
/// [`std::fs::create_dir`]. The parent must exist.
///
/// # Errors
///
/// `InvalidInput` at once for a path with a NUL byte inside; otherwise the
/// kernel's errno: `AlreadyExists`, `NotFound` (a missing parent)...
///
/// # Cancellation
///
/// See [`MkdirAt`]: a cancel says whether the directory was made.
///
/// # References
///
/// `io_uring_prep_mkdirat(3)`, `mkdirat(2)`.
pub fn create_dir(ring: &Ring, path: impl AsRef<Path>) -> Prepared<MkdirAt> {
    MkdirAt::prepare(ring, path.as_ref(), 0o777)
}

/// Makes `link` a new name (a hard link) for the file at `original`, as
/// [`std::fs::hard_link`]: a symbolic link at `original` is linked itself, not
/// followed.
///
/// # Errors
///
/// `InvalidInput` at once for a path with a NUL byte inside; otherwise the
/// kernel's errno: `AlreadyExists`, `NotFound`, `CrossesDevices`...
///
/// # Cancellation
///
/// See [`LinkAt`]: a cancel says whether the link was made.
///
/// # References
///
/// `io_uring_prep_linkat(3)`, `linkat(2)`.
pub fn hard_link(
    ring: &Ring,
    original: impl AsRef<Path>,
    link: impl AsRef<Path>,
) -> Prepared<LinkAt> {
    LinkAt::prepare(ring, original.as_ref(), link.as_ref())
}

/// Makes `link` a symbolic link to `original`, as
/// [`std::os::unix::fs::symlink`]. `original` is stored as given and need not
/// exist.
///
/// # Errors
///
/// `InvalidInput` at once for a path with a NUL byte inside; otherwise the
/// kernel's errno: `AlreadyExists`, `NotFound` (a missing directory of `link`)...
///
/// # Cancellation
///
/// See [`SymlinkAt`]: a cancel says whether the link was made.
///
/// # References
///
/// `io_uring_prep_symlinkat(3)`, `symlinkat(2)`.
pub fn symlink(
    ring: &Ring,
    original: impl AsRef<Path>,
    link: impl AsRef<Path>,
) -> Prepared<SymlinkAt> {
    SymlinkAt::prepare(ring, original.as_ref(), link.as_ref())
}

/// The metadata of the file at `path`, following symbolic links, as
/// [`std::fs::metadata`].
///
/// # Errors
///
/// `InvalidInput` at once for a path with a NUL byte inside; otherwise the
/// kernel's errno: `NotFound`, `NotADirectory`, `PermissionDenied`...
///
/// # Cancellation
///
/// See [`Statx`].
///
/// # References
///
/// `io_uring_prep_statx(3)`, `statx(2)`.
pub fn metadata(ring: &Ring, path: impl AsRef<Path>) -> Prepared<Statx> {
    Statx::of_path(ring, path.as_ref(), true)
}

/// The metadata of the file at `path`, or of the symbolic link itself if `path`
/// names one, as [`std::fs::symlink_metadata`].
///
/// # Errors
///
/// As [`metadata`].
///
/// # Cancellation
///
/// See [`Statx`].
///
/// # References
///
/// `io_uring_prep_statx(3)` with `AT_SYMLINK_NOFOLLOW`, `statx(2)`.
pub fn symlink_metadata(ring: &Ring, path: impl AsRef<Path>) -> Prepared<Statx> {
    Statx::of_path(ring, path.as_ref(), false)
}
