//! The file system's free functions, as in `std::fs`, each an op on the ring: read
//! metadata.
//!
//! Each takes the ring first (there is no hidden ring) and returns the op's
//! description: `.await` it for the result, or `.submit()` it for a token to race,
//! time out or cancel. Paths are relative to the current directory; the op owns a
//! copy of each path until its final completion. A path with a NUL byte inside fails
//! at once with `InvalidInput`, before the kernel sees the op.

use std::path::Path;

use crate::op::{Prepared, Statx};
use crate::Ring;

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
