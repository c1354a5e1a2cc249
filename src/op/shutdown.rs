//! `IORING_OP_SHUTDOWN`: shut down part of a full-duplex connection.

use std::fmt;
use std::io;
use std::net;

use io_uring::{opcode, squeue, types};

use super::{Completion, OpKind, Prepared, Sealed};
use crate::fd::SharedFd;
use crate::Ring;

/// Shuts down the reading half, the writing half, or both of a connected socket.
///
/// # Cancellation
///
/// Shutdown runs at once in the kernel; `cancel()` almost always reports
/// `Completed`.
///
/// # References
///
/// `io_uring_prep_shutdown(3)`, `shutdown(2)`.
#[doc(alias = "io_uring_prep_shutdown")]
pub struct Shutdown {
    fd: SharedFd,
    how: libc::c_int,
}

impl Shutdown {
    pub(crate) fn prepare(ring: &Ring, fd: &SharedFd, how: net::Shutdown) -> Prepared<Shutdown> {
        let how = match how {
            net::Shutdown::Read => libc::SHUT_RD,
            net::Shutdown::Write => libc::SHUT_WR,
            net::Shutdown::Both => libc::SHUT_RDWR,
        };
        Prepared::new(
            ring.inner().clone(),
            Shutdown {
                fd: fd.clone(),
                how,
            },
        )
    }
}

impl fmt::Debug for Shutdown {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Shutdown")
            .field("fd", &self.fd)
            .field("how", &self.how)
            .finish()
    }
}

impl Sealed for Shutdown {}

impl OpKind for Shutdown {
    type Output = io::Result<()>;
    type Residue = ();
    const NAME: &'static str = "Shutdown";
    const OPCODE: u8 = opcode::Shutdown::CODE;

    #[inline]
    fn sqe(&mut self) -> squeue::Entry {
        opcode::Shutdown::new(types::Fd(self.fd.raw()), self.how).build()
    }

    #[inline]
    fn complete(self, completion: Completion) -> io::Result<()> {
        completion.result.map(drop)
    }

    fn residue(self) {}
}
