//! `IORING_OP_SYMLINKAT`: create a symbolic link.

use std::fmt;
use std::io;
use std::path::Path;

use io_uring::{opcode, squeue, types};

use super::{Completion, OpKind, Prepared, Sealed};
use crate::fs::path::CPath;
use crate::Ring;

/// Creates a symbolic link at `link` whose content is `original`, as `symlinkat(2)`.
/// `original` is stored as given: it need not exist, and a relative one is resolved
/// from the link's directory when the link is followed.
///
/// Built by [`fs::symlink`](crate::fs::symlink). The op owns both paths until its
/// final completion. `link` is relative to the current directory. Requires Linux
/// 5.15; on older kernels the op fails with
/// [`ErrorKind::Unsupported`](crate::ErrorKind::Unsupported).
///
/// # Errors
///
/// A path with a NUL byte inside fails at once with `InvalidInput`, before the op
/// reaches the kernel. Otherwise the kernel's errno: `EEXIST` (`link` exists),
/// `ENOENT` (an empty `original`, or a missing directory of `link`), `EACCES`,
/// `ENOSPC`, `ENAMETOOLONG`...
///
/// # Cancellation
///
/// The kernel hands the op to one of its workers, which runs it to the end: a
/// `cancel()` that reaches the op while it is still queued gives `Cancelled(())` and
/// no link was made; once it runs, `cancel()` reports `Completed` with its result,
/// and the link exists if that is `Ok`.
///
/// # References
///
/// `io_uring_prep_symlinkat(3)`, `symlinkat(2)`.
#[doc(alias = "io_uring_prep_symlinkat")]
#[doc(alias = "io_uring_prep_symlink")]
pub struct SymlinkAt {
    /// Read by the kernel, as `link`; their bytes stay at one heap address until the
    /// final completion.
    original: CPath,
    link: CPath,
}

impl SymlinkAt {
    /// Makes `link` a symbolic link to `original`.
    pub(crate) fn prepare(ring: &Ring, original: &Path, link: &Path) -> Prepared<SymlinkAt> {
        Prepared::new(
            ring.inner().clone(),
            SymlinkAt {
                original: CPath::new(original),
                link: CPath::new(link),
            },
        )
    }
}

impl fmt::Debug for SymlinkAt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SymlinkAt")
            .field("original", &self.original)
            .field("link", &self.link)
            .finish()
    }
}

impl Sealed for SymlinkAt {}

impl OpKind for SymlinkAt {
    type Output = io::Result<()>;
    type Residue = ();
    const NAME: &'static str = "SymlinkAt";
    const OPCODE: u8 = opcode::SymlinkAt::CODE;

    fn check(&self) -> io::Result<()> {
        self.original.check("SymlinkAt (original)")?;
        self.link.check("SymlinkAt (link)")
    }

    #[inline]
    fn sqe(&mut self) -> squeue::Entry {
        opcode::SymlinkAt::new(
            types::Fd(libc::AT_FDCWD),
            self.original.as_ptr(),
            self.link.as_ptr(),
        )
        .build()
    }

    #[inline]
    fn complete(self, completion: Completion) -> io::Result<()> {
        completion.result.map(drop)
    }

    fn residue(self) {}
}
