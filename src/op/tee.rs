//! `IORING_OP_TEE`: duplicate bytes from one pipe into another without consuming
//! them.

use std::fmt;
use std::io;

use io_uring::{opcode, squeue, types};

use super::{Completion, OpKind, Prepared, Sealed};
use crate::fd::{Resource, SharedFd};
use crate::Ring;

/// Copies up to `len` bytes from the front of one pipe into another, inside the
/// kernel, leaving them in the first: a later read or [`Splice`](super::Splice) of
/// the input still gets them.
///
/// Built by [`Tee::new`]. Both ends must be pipes ([`File`](crate::fs::File)s made
/// from pipe ends): the input's read end and the output's write end. As for a
/// [`Splice`](super::Splice), the op keeps its own reference to each descriptor
/// until its final completion.
///
/// The output is the number of bytes duplicated: possibly fewer than `len`, and
/// `Ok(0)` when the input pipe is empty and has no writer left.
///
/// # Errors
///
/// From the kernel: `EINVAL` when an end is not a pipe (or both are the same pipe),
/// `EBADF` for an end not open in the right direction.
///
/// # Cancellation
///
/// Like a splice, a tee waits in a kernel worker thread for bytes in the input or
/// room in the output. `cancel()` interrupts the wait and gives `Cancelled(())` if
/// nothing was duplicated, or `Completed(Ok(n))` if bytes were duplicated first. If
/// the token is dropped, the ring keeps both descriptors open until the kernel's
/// completion. As for a splice, a linked timeout does not cut a waiting tee short:
/// give it a [`deadline`](crate::deadline) instead.
///
/// # References
///
/// `io_uring_prep_tee(3)`, `tee(2)`.
#[doc(alias = "io_uring_prep_tee")]
#[doc(alias = "tee")]
pub struct Tee {
    from: SharedFd,
    to: SharedFd,
    len: u32,
}

impl Tee {
    /// Describes a tee of up to `len` bytes from the pipe `from` into the pipe `to`,
    /// on `ring`.
    ///
    /// A `len` past the kernel's limit for one transfer (2 GiB minus a page) is
    /// capped there.
    #[allow(clippy::new_ret_no_self)]
    pub fn new(ring: &Ring, from: &impl Resource, to: &impl Resource, len: usize) -> Prepared<Tee> {
        Prepared::new(
            ring.inner().clone(),
            Tee {
                from: from.shared_fd().clone(),
                to: to.shared_fd().clone(),
                len: crate::buf::io_len(len),
            },
        )
    }
}

impl fmt::Debug for Tee {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tee")
            .field("from", &self.from)
            .field("to", &self.to)
            .field("len", &self.len)
            .finish()
    }
}

impl Sealed for Tee {}

impl OpKind for Tee {
    type Output = io::Result<usize>;
    type Residue = ();
    const NAME: &'static str = "Tee";
    const OPCODE: u8 = opcode::Tee::CODE;

    #[inline]
    fn sqe(&mut self) -> squeue::Entry {
        opcode::Tee::new(
            types::Fd(self.from.raw()),
            types::Fd(self.to.raw()),
            self.len,
        )
        .build()
    }

    #[inline]
    fn complete(self, completion: Completion) -> io::Result<usize> {
        completion.result.map(|n| n as usize)
    }

    fn residue(self) {}
}
