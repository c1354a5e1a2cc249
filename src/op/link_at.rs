//! `IORING_OP_LINKAT`: give a file another name (a hard link).

use std::fmt;
use std::io;
use std::path::Path;

use io_uring::{opcode, squeue, types};

use super::{Completion, OpKind, Prepared, Sealed};
use crate::fs::path::CPath;
use crate::Ring;

/// Makes a new name, `link`, for the file at `original`, as `linkat(2)` with no
/// flags: if `original` is a symbolic link, the new name refers to the link itself.
///
/// Built by [`fs::hard_link`](crate::fs::hard_link). The op owns both paths until its
/// final completion. Paths are relative to the current directory. Requires Linux
/// 5.15; on older kernels the op fails with
/// [`ErrorKind::Unsupported`](crate::ErrorKind::Unsupported).
///
/// # Errors
///
/// A path with a NUL byte inside fails at once with `InvalidInput`, before the op
/// reaches the kernel. Otherwise the kernel's errno: `EEXIST` (`link` exists),
/// `ENOENT`, `EPERM` (a directory), `EXDEV` (across file systems), `EMLINK`,
/// `EACCES`, `ENAMETOOLONG`...
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
/// `io_uring_prep_linkat(3)`, `linkat(2)`.
#[doc(alias = "io_uring_prep_linkat")]
#[doc(alias = "io_uring_prep_link")]
pub struct LinkAt {
    /// Read by the kernel, as `link`; their bytes stay at one heap address until the
    /// final completion.
    original: CPath,
    link: CPath,
}

impl LinkAt {
    /// Makes `link` a new name for `original`.
    pub(crate) fn prepare(ring: &Ring, original: &Path, link: &Path) -> Prepared<LinkAt> {
        Prepared::new(
            ring.inner().clone(),
            LinkAt {
                original: CPath::new(original),
                link: CPath::new(link),
            },
        )
    }
}

impl fmt::Debug for LinkAt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LinkAt")
            .field("original", &self.original)
            .field("link", &self.link)
            .finish()
    }
}

impl Sealed for LinkAt {}

impl OpKind for LinkAt {
    type Output = io::Result<()>;
    type Residue = ();
    const NAME: &'static str = "LinkAt";
    const OPCODE: u8 = opcode::LinkAt::CODE;

    fn check(&self) -> io::Result<()> {
        self.original.check("LinkAt (original)")?;
        self.link.check("LinkAt (link)")
    }

    #[inline]
    fn sqe(&mut self) -> squeue::Entry {
        let cwd = types::Fd(libc::AT_FDCWD);
        opcode::LinkAt::new(cwd, self.original.as_ptr(), cwd, self.link.as_ptr()).build()
    }

    #[inline]
    fn complete(self, completion: Completion) -> io::Result<()> {
        completion.result.map(drop)
    }

    fn residue(self) {}
}
