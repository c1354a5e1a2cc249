//! `IORING_OP_CLOSE`: close a descriptor through the ring.

use std::fmt;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, IntoRawFd, OwnedFd, RawFd};

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
/// kernel, or the kernel cancelled it before it ran, the descriptor is closed with
/// `close(2)` instead: either way it is closed exactly once.
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
    /// kernel (the entry was never pushed), or the kernel cancelled it first.
    fn settle(self, completion: &Completion) {
        let never_ran = !completion.reached_kernel || completion.errno() == Some(libc::ECANCELED);
        if never_ran {
            self.close_here();
        }
    }

    fn close_here(mut self) {
        match self.fd.take() {
            Some(fd) => drop(fd),
            // SAFETY: the entry was built, so `raw` was taken out of its `OwnedFd`,
            // and the kernel did not run the op (the callers' condition): the number
            // is still open and owned by this op alone.
            None => drop(unsafe { OwnedFd::from_raw_fd(self.raw) }),
        }
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

    fn sqe(&mut self) -> squeue::Entry {
        if let Some(fd) = self.fd.take() {
            self.raw = fd.into_raw_fd();
        }
        opcode::Close::new(types::Fd(self.raw)).build()
    }

    fn complete(self, completion: Completion) -> io::Result<()> {
        self.settle(&completion);
        completion.result.map(drop)
    }

    /// Only `ECANCELED` means the op never ran: a close interrupted with `EINTR` has
    /// already released the descriptor.
    fn was_cancelled(completion: &Completion) -> bool {
        completion.errno() == Some(libc::ECANCELED)
    }

    fn residue(self) {
        // Cancelled before it ran: the descriptor is still open.
        self.close_here();
    }

    fn release(self, completion: Completion) -> u64 {
        self.settle(&completion);
        0
    }
}
