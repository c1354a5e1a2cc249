//! `IORING_OP_RENAMEAT`: rename a file or directory, replacing the destination.

use std::fmt;
use std::io;
use std::path::Path;

use io_uring::{opcode, squeue, types};

use super::{Completion, OpKind, Prepared, Sealed};
use crate::fs::path::CPath;
use crate::Ring;

/// Renames a file or directory, as `renameat2(2)` with no flags: atomically
/// replaces `to` if it exists (a file by a file, an empty directory by a directory).
///
/// Built by [`fs::rename`](crate::fs::rename). The op owns both paths until its
/// final completion. Paths are relative to the current directory.
///
/// # Errors
///
/// A path with a NUL byte inside fails at once with `InvalidInput`, before the op
/// reaches the kernel. Otherwise the kernel's errno: `ENOENT`, `EXDEV` (across file
/// systems), `EISDIR`, `ENOTDIR`, `ENOTEMPTY`, `EINVAL` (a directory into itself),
/// `EACCES`, `ENAMETOOLONG`...
///
/// # Cancellation
///
/// The kernel hands the op to one of its workers, which runs it to the end: a
/// `cancel()` that reaches the op while it is still queued gives `Cancelled(())` and
/// nothing moved; once it runs, `cancel()` reports `Completed` with its result, and
/// the file has its new name if that is `Ok`.
///
/// # References
///
/// `io_uring_prep_renameat(3)`, `renameat2(2)`.
#[doc(alias = "io_uring_prep_renameat")]
#[doc(alias = "io_uring_prep_rename")]
pub struct RenameAt {
    /// Read by the kernel, as `to`; their bytes stay at one heap address until the
    /// final completion.
    from: CPath,
    to: CPath,
    flags: u32,
}

impl RenameAt {
    /// Renames `from` to `to`.
    pub(crate) fn prepare(ring: &Ring, from: &Path, to: &Path) -> Prepared<RenameAt> {
        Prepared::new(
            ring.inner().clone(),
            RenameAt {
                from: CPath::new(from),
                to: CPath::new(to),
                flags: 0,
            },
        )
    }
}

impl fmt::Debug for RenameAt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RenameAt")
            .field("from", &self.from)
            .field("to", &self.to)
            .field("flags", &self.flags)
            .finish()
    }
}

impl Sealed for RenameAt {}

impl OpKind for RenameAt {
    type Output = io::Result<()>;
    type Residue = ();
    const NAME: &'static str = "RenameAt";
    const OPCODE: u8 = opcode::RenameAt::CODE;

    fn check(&self) -> io::Result<()> {
        self.from.check("RenameAt (from)")?;
        self.to.check("RenameAt (to)")
    }

    #[inline]
    fn sqe(&mut self) -> squeue::Entry {
        let cwd = types::Fd(libc::AT_FDCWD);
        opcode::RenameAt::new(cwd, self.from.as_ptr(), cwd, self.to.as_ptr())
            .flags(self.flags)
            .build()
    }

    #[inline]
    fn complete(self, completion: Completion) -> io::Result<()> {
        completion.result.map(drop)
    }

    fn residue(self) {}
}
