//! `IORING_OP_UNLINKAT`: remove a file or an empty directory.

use std::fmt;
use std::io;
use std::path::Path;

use io_uring::{opcode, squeue, types};

use super::{Completion, OpKind, Prepared, Sealed};
use crate::fs::path::CPath;
use crate::Ring;

/// Removes a name from the file system, as `unlinkat(2)`: a file's (the file itself
/// goes when no other name or open descriptor refers to it), or an empty directory's
/// (`AT_REMOVEDIR`).
///
/// Built by [`fs::remove_file`](crate::fs::remove_file) and
/// [`fs::remove_dir`](crate::fs::remove_dir). The op owns the path until its final
/// completion. Paths are relative to the current directory.
///
/// # Errors
///
/// A path with a NUL byte inside fails at once with `InvalidInput`, before the op
/// reaches the kernel. Otherwise the kernel's errno: `ENOENT`, `EISDIR` (a directory
/// removed as a file), `ENOTDIR` (a file removed as a directory), `ENOTEMPTY`,
/// `EACCES`, `EBUSY`, `ENAMETOOLONG`...
///
/// # Cancellation
///
/// The kernel hands the op to one of its workers, which runs it to the end: a
/// `cancel()` that reaches the op while it is still queued gives `Cancelled(())` and
/// the name is still there; once it runs (it does not wait on anything), `cancel()`
/// reports `Completed` with its result, and the name is gone if that is `Ok`. The
/// outcome always says which.
///
/// # References
///
/// `io_uring_prep_unlinkat(3)`, `unlinkat(2)`.
#[doc(alias = "io_uring_prep_unlinkat")]
#[doc(alias = "io_uring_prep_unlink")]
pub struct UnlinkAt {
    /// Read by the kernel; its bytes stay at one heap address until the final
    /// completion.
    path: CPath,
    flags: libc::c_int,
}

impl UnlinkAt {
    /// Removes the file at `path`, or the empty directory if `dir`.
    pub(crate) fn prepare(ring: &Ring, path: &Path, dir: bool) -> Prepared<UnlinkAt> {
        Prepared::new(
            ring.inner().clone(),
            UnlinkAt {
                path: CPath::new(path),
                flags: if dir { libc::AT_REMOVEDIR } else { 0 },
            },
        )
    }
}

impl fmt::Debug for UnlinkAt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UnlinkAt")
            .field("path", &self.path)
            .field("dir", &(self.flags & libc::AT_REMOVEDIR != 0))
            .finish()
    }
}

impl Sealed for UnlinkAt {}

impl OpKind for UnlinkAt {
    type Output = io::Result<()>;
    type Residue = ();
    const NAME: &'static str = "UnlinkAt";
    const OPCODE: u8 = opcode::UnlinkAt::CODE;

    fn check(&self) -> io::Result<()> {
        self.path.check(Self::NAME)
    }

    #[inline]
    fn sqe(&mut self) -> squeue::Entry {
        opcode::UnlinkAt::new(types::Fd(libc::AT_FDCWD), self.path.as_ptr())
            .flags(self.flags)
            .build()
    }

    #[inline]
    fn complete(self, completion: Completion) -> io::Result<()> {
        completion.result.map(drop)
    }

    fn residue(self) {}
}
