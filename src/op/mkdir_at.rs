//! `IORING_OP_MKDIRAT`: create a directory.

use std::fmt;
use std::io;
use std::path::Path;

use io_uring::{opcode, squeue, types};

use super::{Completion, OpKind, Prepared, Sealed};
use crate::fs::path::CPath;
use crate::Ring;

/// Creates a directory, as `mkdirat(2)`, with the permission bits `mode` less the
/// umask.
///
/// Built by [`fs::create_dir`](crate::fs::create_dir). The op owns the path until
/// its final completion. Paths are relative to the current directory. Requires Linux
/// 5.15; on older kernels the op fails with
/// [`ErrorKind::Unsupported`](crate::ErrorKind::Unsupported).
///
/// # Errors
///
/// A path with a NUL byte inside fails at once with `InvalidInput`, before the op
/// reaches the kernel. Otherwise the kernel's errno: `EEXIST`, `ENOENT` (a missing
/// parent), `ENOTDIR`, `EACCES`, `ENOSPC`, `ENAMETOOLONG`...
///
/// # Cancellation
///
/// The kernel hands the op to one of its workers, which runs it to the end: a
/// `cancel()` that reaches the op while it is still queued gives `Cancelled(())` and
/// no directory was made; once it runs, `cancel()` reports `Completed` with its
/// result, and the directory exists if that is `Ok`.
///
/// # References
///
/// `io_uring_prep_mkdirat(3)`, `mkdirat(2)`.
#[doc(alias = "io_uring_prep_mkdirat")]
#[doc(alias = "io_uring_prep_mkdir")]
pub struct MkdirAt {
    /// Read by the kernel; its bytes stay at one heap address until the final
    /// completion.
    path: CPath,
    mode: libc::mode_t,
}

impl MkdirAt {
    /// Creates the directory `path` with permission bits `mode`.
    pub(crate) fn prepare(ring: &Ring, path: &Path, mode: libc::mode_t) -> Prepared<MkdirAt> {
        Prepared::new(
            ring.inner().clone(),
            MkdirAt {
                path: CPath::new(path),
                mode,
            },
        )
    }
}

impl fmt::Debug for MkdirAt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MkdirAt")
            .field("path", &self.path)
            .field("mode", &format_args!("{:#o}", self.mode))
            .finish()
    }
}

impl Sealed for MkdirAt {}

impl OpKind for MkdirAt {
    type Output = io::Result<()>;
    type Residue = ();
    const NAME: &'static str = "MkdirAt";
    const OPCODE: u8 = opcode::MkDirAt::CODE;

    fn check(&self) -> io::Result<()> {
        self.path.check(Self::NAME)
    }

    #[inline]
    fn sqe(&mut self) -> squeue::Entry {
        opcode::MkDirAt::new(types::Fd(libc::AT_FDCWD), self.path.as_ptr())
            .mode(self.mode)
            .build()
    }

    #[inline]
    fn complete(self, completion: Completion) -> io::Result<()> {
        completion.result.map(drop)
    }

    fn residue(self) {}
}
