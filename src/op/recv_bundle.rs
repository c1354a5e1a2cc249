//! `IORING_OP_RECV` with `IORING_RECVSEND_BUNDLE`: one receive that fills as many
//! buffers of a provided buffer ring as the data needs.

use std::fmt;
use std::io;
use std::rc::Rc;

use io_uring::{opcode, squeue, types};

use super::{Completion, OpKind, Prepared, Sealed};
use crate::buf::{BufGroup, BufRing, ProvidedBuf};
use crate::fd::SharedFd;
use crate::Ring;

/// Receives from a connected socket into as many buffers of a [`BufRing`] as the
/// data that has arrived needs (a bundle), in one completion.
///
/// The output is `io::Result<Vec<ProvidedBuf>>`: the buffers in the order of the
/// bytes, each full but the last; empty at end of stream. Each [`ProvidedBuf`] goes
/// back to the group when dropped. Where a [`RecvProvided`](super::RecvProvided)
/// takes one buffer per receive, a bundle drains what the socket holds, up to the
/// buffers available, in one trip through the ring.
///
/// # Errors
///
/// `ENOBUFS` if every buffer of the group is out when the data arrives;
/// `Unsupported` on a kernel without bundles (before Linux 6.10), naming the
/// release; otherwise the kernel's errno.
///
/// # Cancellation
///
/// `cancel()` gives `Cancelled(())` if nothing arrived (no buffer was filled), or
/// `Completed(Ok(bufs))` if bytes arrived first. If the token is dropped and
/// buffers were filled anyway, the ring gives them back to the group.
///
/// # References
///
/// `io_uring_prep_recv(3)` with `IORING_RECVSEND_BUNDLE` (Linux 6.10), `recv(2)`.
#[doc(alias = "io_uring_prep_recv_bundle")]
pub struct RecvBundle {
    fd: SharedFd,
    group: Rc<BufGroup>,
    /// The group is registered with another ring than the stream's.
    foreign: bool,
    /// The running kernel fills bundles.
    supported: bool,
    /// The buffers the final completion names, taken out of the group when it is
    /// reaped: the group's record of its ring order is only good until the next
    /// buffer is given back.
    filled: Vec<ProvidedBuf>,
}

impl RecvBundle {
    pub(crate) fn prepare(ring: &Ring, fd: &SharedFd, group: &BufRing) -> Prepared<RecvBundle> {
        let inner = ring.inner();
        Prepared::new(
            inner.clone(),
            RecvBundle {
                fd: fd.clone(),
                group: group.shared().clone(),
                foreign: !group.shared().belongs_to(ring),
                supported: inner.supports_bundles() || ring.is_shut_down(),
                filled: Vec::new(),
            },
        )
    }
}

impl fmt::Debug for RecvBundle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RecvBundle")
            .field("fd", &self.fd)
            .field("group", &self.group.bgid())
            .finish()
    }
}

impl Sealed for RecvBundle {}

impl OpKind for RecvBundle {
    type Output = io::Result<Vec<ProvidedBuf>>;
    type Residue = ();
    const NAME: &'static str = "RecvBundle";
    const OPCODE: u8 = opcode::RecvBundle::CODE;

    fn check(&self) -> io::Result<()> {
        if self.foreign {
            return Err(BufGroup::foreign_error());
        }
        if !self.supported {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "the RecvBundle operation needs Linux 6.10 or later \
                 (IORING_FEAT_RECVSEND_BUNDLE); use recv_provided instead",
            ));
        }
        Ok(())
    }

    #[inline]
    fn sqe(&mut self) -> squeue::Entry {
        opcode::RecvBundle::new(types::Fd(self.fd.raw()), self.group.bgid()).build()
    }

    const SETTLES: bool = true;

    fn settle(&mut self, completion: &Completion) {
        let n = *completion.result.as_ref().unwrap_or(&0);
        self.filled = self.group.picked_bundle(completion.flags, n);
    }

    #[inline]
    fn complete(self, completion: Completion) -> Self::Output {
        completion.result?;
        Ok(self.filled)
    }

    fn residue(self) {}

    fn release(self, _completion: Completion) -> u64 {
        // Dropping the buffers gives them back to the group.
        drop(self.filled);
        0
    }
}
