//! `IORING_OP_CLOSE`: close a descriptor through the ring.

use std::fmt;
use std::io;
use std::os::fd::{AsRawFd, IntoRawFd, OwnedFd, RawFd};

use io_uring::{opcode, squeue, types};

use super::{Completion, OpKind, Prepared, Sealed};
use crate::Ring;

/// Closes a descriptor the op owns.
///
/// Built by the resources' `close()`, which hand their descriptor over once no other
/// op uses it.
///
/// # Cancellation
///
/// The kernel closes the descriptor when it runs the op. If the op never reached the
/// kernel, or the kernel cancelled it before it ran (a cancel, or its linked
/// timeout), the descriptor is closed with `close(2)` instead: either way it is
/// closed exactly once. An `EBADF` from the kernel is final: the kernel may have
/// removed the number before a file's flush failed with it. (The kernel refuses an
/// io_uring instance's descriptor with `EBADF` without closing it, so the
/// resources' `close()` closes those with `close(2)` and never submits this op.)
///
/// # References
///
/// `io_uring_prep_close(3)`, `close(2)`.
#[doc(alias = "io_uring_prep_close")]
pub struct Close {
    /// The descriptor until the entry is built; then `None`, and `raw` holds the
    /// number, which the kernel closes when it runs the op. From then on nothing
    /// closes it implicitly: a path that cannot tell whether the kernel closed it
    /// (a panic unwinding through a release) leaks the number rather than risk
    /// closing a reused one.
    fd: Option<OwnedFd>,
    raw: RawFd,
}

impl Close {
    pub(crate) fn prepare(ring: &Ring, fd: OwnedFd) -> Prepared<Close> {
        let raw = fd.as_raw_fd();
        Prepared::new(ring.inner().clone(), Close { fd: Some(fd), raw })
    }

    /// Closes the number here if the kernel never ran the op: it never reached the
    /// kernel (the entry was never pushed), or the kernel cancelled it first (a
    /// cancel, or its linked timeout: `errno` is the kernel's either way).
    ///
    /// Returns the result of that `close(2)`, if it ran.
    fn settle(self, completion: &Completion) -> Option<io::Result<()>> {
        let never_ran = !completion.reached_kernel || completion.errno() == Some(libc::ECANCELED);
        never_ran.then(|| self.close_here())
    }

    /// Closes the descriptor with `close(2)`, reporting its error (which `OwnedFd`'s
    /// drop would ignore).
    fn close_here(mut self) -> io::Result<()> {
        let raw = match self.fd.take() {
            Some(fd) => fd.into_raw_fd(),
            None => self.raw,
        };
        // SAFETY: the number is open and owned by this op alone: either it was just
        // taken out of the op's `OwnedFd`, or the entry was built (taking it out of
        // the `OwnedFd`) and the kernel did not close it (the callers' condition).
        // close(2) takes no pointers, and nothing uses the number afterwards.
        if unsafe { libc::close(raw) } < 0 {
            let err = io::Error::last_os_error();
            // Linux releases the number even when close(2) fails with EINTR.
            return Err(err);
        }
        Ok(())
    }
}

impl fmt::Debug for Close {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Close").field("fd", &self.raw).finish()
    }
}

impl Sealed for Close {}

impl OpKind for Close {
    type Output = io::Result<()>;
    type Residue = ();
    const NAME: &'static str = "Close";
    const OPCODE: u8 = opcode::Close::CODE;

    #[inline]
    fn sqe(&mut self) -> squeue::Entry {
        if let Some(fd) = self.fd.take() {
            self.raw = fd.into_raw_fd();
        }
        opcode::Close::new(types::Fd(self.raw)).build()
    }

    #[inline]
    fn complete(self, completion: Completion) -> io::Result<()> {
        match self.settle(&completion) {
            // Timed out in the kernel, but closed here: the close happened after all.
            Some(closed) if completion.timed_out() => closed,
            _ => completion.result.map(drop),
        }
    }

    /// Only `ECANCELED` means the op never ran: a close interrupted with `EINTR` has
    /// already released the descriptor.
    fn was_cancelled(completion: &Completion) -> bool {
        completion.errno() == Some(libc::ECANCELED)
    }

    fn residue(self) {
        // Cancelled before it ran: the descriptor is still open. Nobody asked for
        // the close's result.
        let _ = self.close_here();
    }

    fn release(self, completion: Completion) -> u64 {
        let _ = self.settle(&completion);
        0
    }
}
