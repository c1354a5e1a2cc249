//! `IORING_OP_OPENAT`: open a file by path, producing its descriptor.

use std::fmt;
use std::io;
use std::os::fd::{FromRawFd, OwnedFd};
use std::path::Path;

use io_uring::{opcode, squeue, types};

use super::{Completion, OpKind, Prepared, Sealed};
use crate::fs::path::CPath;
use crate::fs::File;
use crate::Ring;

/// Opens a file by path, as `openat(2)` relative to the current directory, producing
/// a [`File`].
///
/// Built by [`File::open`], [`File::create`] and [`OpenOptions::open`](crate::fs::OpenOptions::open).
/// The descriptor is always close-on-exec. The op owns the path (a copy made when
/// the op is described) until its final completion.
///
/// # Errors
///
/// A path with a NUL byte inside, or options that cannot go together (`create`
/// without write access...), fail at once with `InvalidInput`, before the op
/// reaches the kernel. Otherwise the kernel's errno: `ENOENT`, `EACCES`, `EISDIR`
/// (a directory opened for writing), `EEXIST` (`create_new`), `ENAMETOOLONG` (a path
/// longer than `PATH_MAX` or a component longer than `NAME_MAX`), `EINVAL`
/// (`O_DIRECT` on a file system without it)...
///
/// # Cancellation
///
/// The kernel first tries the open inline, without blocking; most opens finish
/// there, at submission, and `cancel()` then reports `Completed(Ok(file))`: the file
/// is yours, never lost. An open that must wait (creating or truncating a file on a
/// slow file system, a FIFO opened for writing with `create`, which waits for a
/// reader) goes to a kernel worker, and a cancel interrupts it: `cancel()` gives
/// `Cancelled(())` and nothing was opened, or `Completed(Ok(file))` if the open
/// finished first. If the token is dropped and the kernel opens the file anyway, the
/// ring closes the new descriptor and counts it in
/// [`Stats::fds_closed`](crate::Stats).
///
/// On Linux 6.18 a linked timeout ([`Prepared::timeout`]) does not stop an open
/// waiting in a kernel worker: the kernel never arms the timer, so the open waits
/// until it can finish. Give it a [`deadline`](crate::deadline) instead, which
/// cancels it.
///
/// # FIFOs
///
/// Because of the inline attempt, which opens with `O_NONBLOCK`, a FIFO opened
/// through the ring does not wait for its other end as `open(2)` does: read-only it
/// opens at once, and write-only (without `create`) it fails with `ENXIO` when no
/// reader has it open.
///
/// # Why not `OpenAt2`
///
/// `IORING_OP_OPENAT2` adds the `RESOLVE_*` flags of `openat2(2)`. Those that
/// matter most, `RESOLVE_BENEATH` and `RESOLVE_IN_ROOT`, confine the path to a
/// directory descriptor, and this library has no directory handle yet: every path
/// is relative to the current directory. `RESOLVE_CACHED` adds nothing through the
/// ring, which already tries a cached lookup inline before handing the open to a
/// kernel worker. The op will come with directory handles.
///
/// # References
///
/// `io_uring_prep_openat(3)`, `openat(2)`.
#[doc(alias = "io_uring_prep_openat")]
pub struct OpenAt {
    ring: Ring,
    /// Read by the kernel; its bytes stay at one heap address until the final
    /// completion.
    path: CPath,
    flags: libc::c_int,
    mode: libc::mode_t,
    /// Options that cannot go together, refused before the kernel sees them.
    refused: Option<&'static str>,
}

impl OpenAt {
    /// Opens `path` with the `open(2)` flags `flags` (`O_CLOEXEC` is added) and, for a
    /// file it creates, the permission bits `mode` (less the umask).
    pub(crate) fn prepare(
        ring: &Ring,
        path: &Path,
        flags: libc::c_int,
        mode: libc::mode_t,
    ) -> Prepared<OpenAt> {
        OpenAt::new(ring, path, flags, mode, None)
    }

    /// An open that fails at once with `InvalidInput` and `reason`, never reaching
    /// the kernel.
    pub(crate) fn refuse(ring: &Ring, path: &Path, reason: &'static str) -> Prepared<OpenAt> {
        OpenAt::new(ring, path, 0, 0, Some(reason))
    }

    fn new(
        ring: &Ring,
        path: &Path,
        flags: libc::c_int,
        mode: libc::mode_t,
        refused: Option<&'static str>,
    ) -> Prepared<OpenAt> {
        Prepared::new(
            ring.inner().clone(),
            OpenAt {
                ring: ring.clone(),
                path: CPath::new(path),
                flags: flags | libc::O_CLOEXEC,
                mode,
                refused,
            },
        )
    }
}

impl fmt::Debug for OpenAt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OpenAt")
            .field("path", &self.path)
            .field("flags", &format_args!("{:#o}", self.flags))
            .field("mode", &format_args!("{:#o}", self.mode))
            .finish_non_exhaustive()
    }
}

impl Sealed for OpenAt {}

impl OpKind for OpenAt {
    type Output = io::Result<File>;
    type Residue = ();
    const NAME: &'static str = "OpenAt";
    const OPCODE: u8 = opcode::OpenAt::CODE;

    fn check(&self) -> io::Result<()> {
        if let Some(reason) = self.refused {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("OpenAt {:?}: {reason}; nothing was opened", self.path),
            ));
        }
        self.path.check(Self::NAME)
    }

    #[inline]
    fn sqe(&mut self) -> squeue::Entry {
        opcode::OpenAt::new(types::Fd(libc::AT_FDCWD), self.path.as_ptr())
            .flags(self.flags)
            .mode(self.mode)
            .build()
    }

    #[inline]
    fn complete(self, completion: Completion) -> io::Result<File> {
        let raw = completion.result?;
        // SAFETY: a successful open returns a new descriptor that only this
        // completion knows about; the final completion is handed out exactly once.
        let fd = unsafe { OwnedFd::from_raw_fd(raw as i32) };
        // `O_NONBLOCK` opens a FIFO without waiting for its other end; the file's
        // reads and writes then wait in the ring, as `File::from_fd` arranges.
        if self.flags & libc::O_NONBLOCK != 0 {
            return File::from_fd(&self.ring, fd);
        }
        Ok(File::from_opened(&self.ring, fd))
    }

    fn residue(self) {}

    fn release(self, completion: Completion) -> u64 {
        match completion.result {
            Ok(raw) => {
                // SAFETY: as in `complete`: the new descriptor is ours alone, and
                // nobody will claim it, so it is closed here.
                drop(unsafe { OwnedFd::from_raw_fd(raw as i32) });
                1
            }
            Err(_) => 0,
        }
    }
}
