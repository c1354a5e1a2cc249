//! `IORING_OP_STATX`: a file's metadata, by path or by descriptor.

use std::fmt;
use std::io;
use std::mem::MaybeUninit;
use std::path::Path;

use io_uring::{opcode, squeue, types};

use super::{Completion, OpKind, Prepared, Sealed};
use crate::fd::SharedFd;
use crate::fs::path::CPath;
use crate::fs::Metadata;
use crate::Ring;

/// What the op asks for: the basic fields and the creation time.
const MASK: u32 = libc::STATX_BASIC_STATS | libc::STATX_BTIME;

/// Reads a file's metadata (size, type, permissions, times...), as `statx(2)`,
/// producing a [`Metadata`].
///
/// Built by [`File::metadata`](crate::fs::File::metadata) (the open file itself),
/// [`fs::metadata`](crate::fs::metadata) (a path, following symbolic links) and
/// [`fs::symlink_metadata`](crate::fs::symlink_metadata) (a path, not following the
/// last one). The op owns the path and the `statx` buffer the kernel fills (boxed,
/// at one heap address) until its final completion.
///
/// # Errors
///
/// A path with a NUL byte inside fails at once with `InvalidInput`, before the op
/// reaches the kernel; otherwise the kernel's errno (`ENOENT`, `ENOTDIR`,
/// `ENAMETOOLONG`, `EACCES`...).
///
/// # Cancellation
///
/// The kernel hands the op to one of its workers, which runs it to the end: a
/// `cancel()` that reaches the op while it is still queued gives `Cancelled(())`;
/// once it runs (it does not wait on anything), `cancel()` reports `Completed` with
/// the metadata. Dropping the token frees the buffer after the kernel's completion.
///
/// # References
///
/// `io_uring_prep_statx(3)`, `statx(2)`.
#[doc(alias = "io_uring_prep_statx")]
pub struct Statx {
    /// The open file described (with an empty path and `AT_EMPTY_PATH`), held so
    /// that its number is not reused while the op is in flight; `None` for a path
    /// relative to the current directory.
    fd: Option<SharedFd>,
    /// Read by the kernel; its bytes stay at one heap address until the final
    /// completion.
    path: CPath,
    flags: libc::c_int,
    /// Written by the kernel; boxed, so at one heap address until the final
    /// completion.
    buf: Box<MaybeUninit<libc::statx>>,
}

impl Statx {
    /// The metadata of the open file `fd`.
    pub(crate) fn of_file(ring: &Ring, fd: &SharedFd) -> Prepared<Statx> {
        Statx::new(ring, Some(fd.clone()), CPath::empty(), libc::AT_EMPTY_PATH)
    }

    /// The metadata of the file at `path`; of a symbolic link itself if `follow` is
    /// false and the path names one.
    pub(crate) fn of_path(ring: &Ring, path: &Path, follow: bool) -> Prepared<Statx> {
        let flags = if follow { 0 } else { libc::AT_SYMLINK_NOFOLLOW };
        Statx::new(ring, None, CPath::new(path), flags)
    }

    fn new(ring: &Ring, fd: Option<SharedFd>, path: CPath, flags: libc::c_int) -> Prepared<Statx> {
        Prepared::new(
            ring.inner().clone(),
            Statx {
                fd,
                path,
                flags,
                buf: Box::new(MaybeUninit::zeroed()),
            },
        )
    }
}

impl fmt::Debug for Statx {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut debug = f.debug_struct("Statx");
        match &self.fd {
            Some(fd) => debug.field("fd", fd),
            None => debug.field("path", &self.path),
        };
        debug.finish_non_exhaustive()
    }
}

impl Sealed for Statx {}

impl OpKind for Statx {
    type Output = io::Result<Metadata>;
    type Residue = ();
    const NAME: &'static str = "Statx";
    const OPCODE: u8 = opcode::Statx::CODE;

    fn check(&self) -> io::Result<()> {
        self.path.check(Self::NAME)
    }

    #[inline]
    fn sqe(&mut self) -> squeue::Entry {
        let dir = self.fd.as_ref().map_or(libc::AT_FDCWD, SharedFd::raw);
        let buf: *mut libc::statx = self.buf.as_mut_ptr();
        opcode::Statx::new(
            types::Fd(dir),
            self.path.as_ptr(),
            buf.cast::<types::statx>(),
        )
        .flags(self.flags)
        .mask(MASK)
        .build()
    }

    #[inline]
    fn complete(self, completion: Completion) -> io::Result<Metadata> {
        completion.result?;
        // SAFETY: the buffer was zeroed when the op was made (all zeroes is a valid
        // `statx`, plain integers), and the kernel's successful statx filled it.
        let statx = unsafe { self.buf.assume_init_ref() };
        Ok(Metadata::from_statx(statx))
    }

    fn residue(self) {}
}
