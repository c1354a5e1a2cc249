//! `IORING_OP_CLOSE`: close a descriptor through the ring.

use std::fmt;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};

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
    fd: Option<OwnedFd>,
}

impl Close {
    pub(crate) fn prepare(ring: &Ring, fd: OwnedFd) -> Prepared<Close> {
        Prepared::new(ring.inner().clone(), Close { fd: Some(fd) })
    }

    /// Settles who closed the descriptor: the kernel, if it ran the op.
    fn settle(mut self, completion: &Completion) {
        let reached_kernel = match &completion.result {
            Ok(_) => true,
            // A library error (no errno) means the op never reached the kernel;
            // ECANCELED means the kernel removed it before it ran.
            Err(e) => e
                .raw_os_error()
                .is_some_and(|errno| errno != libc::ECANCELED),
        };
        if reached_kernel {
            // The kernel released the descriptor (close(2) releases it even when it
            // reports an error): forgetting it avoids closing a reused number.
            std::mem::forget(self.fd.take());
        }
    }
}

impl fmt::Debug for Close {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Close").field("fd", &self.fd).finish()
    }
}

impl Sealed for Close {}

impl OpKind for Close {
    type Output = io::Result<()>;
    type Residue = ();
    const NAME: &'static str = "Close";
    const OPCODE: u8 = opcode::Close::CODE;

    fn sqe(&mut self) -> squeue::Entry {
        let raw = self.fd.as_ref().map_or(-1, AsRawFd::as_raw_fd);
        opcode::Close::new(types::Fd(raw)).build()
    }

    fn complete(self, completion: Completion) -> io::Result<()> {
        self.settle(&completion);
        completion.result.map(drop)
    }

    fn residue(self) {
        // Cancelled before it ran: dropping `fd` closes it here.
    }

    fn release(self, completion: Completion) -> u64 {
        self.settle(&completion);
        0
    }
}
