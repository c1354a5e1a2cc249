//! `IORING_OP_RECV` with `IORING_RECV_MULTISHOT`: one op that receives again and
//! again into buffers the kernel picks from a provided buffer ring.

use std::fmt;
use std::rc::Rc;

use io_uring::{opcode, squeue, types};

use super::{Completion, MultishotKind, PreparedMultishot, Sealed};
use crate::buf::{BufGroup, BufRing, ProvidedBuf};
use crate::fd::SharedFd;
use crate::Ring;

/// Receives from a connected socket again and again, each time into a buffer the
/// kernel picks from a [`BufRing`]: one item per receive, a [`ProvidedBuf`] holding
/// the bytes.
///
/// The stream ends at end of stream (`next()` gives `None`), or with an error:
/// `ENOBUFS` when every buffer of the group is out (give some back by dropping
/// them, then submit the receive again), or the socket's error.
///
/// # Cancellation
///
/// [`cancel()`](crate::Multishot::cancel) stops receiving and hands back every
/// buffer received but not taken yet, in order. Dropping the token gives each of
/// those back to the group, and every buffer the kernel fills until its cancel takes
/// effect, before the drop policy applies; the bytes in them are lost.
///
/// # References
///
/// `io_uring_prep_recv_multishot(3)`, `recv(2)`. Linux 6.0.
#[doc(alias = "io_uring_prep_recv_multishot")]
pub struct RecvMulti {
    fd: SharedFd,
    group: Rc<BufGroup>,
    /// The group is registered with another ring than the stream's.
    foreign: bool,
}

impl RecvMulti {
    pub(crate) fn prepare(
        ring: &Ring,
        fd: &SharedFd,
        group: &BufRing,
    ) -> PreparedMultishot<RecvMulti> {
        PreparedMultishot::new(
            ring.inner().clone(),
            RecvMulti {
                fd: fd.clone(),
                group: group.shared().clone(),
                foreign: !group.shared().belongs_to(ring),
            },
        )
    }
}

impl fmt::Debug for RecvMulti {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RecvMulti")
            .field("fd", &self.fd)
            .field("group", &self.group.bgid())
            .finish()
    }
}

impl Sealed for RecvMulti {}

/// `IORING_CQE_F_BUFFER`.
const CQE_F_BUFFER: u32 = 1;

impl MultishotKind for RecvMulti {
    type Item = ProvidedBuf;
    const NAME: &'static str = "RecvMulti";
    const OPCODE: u8 = opcode::RecvMulti::CODE;
    const SINCE: (u32, u32) = (6, 0);
    type Context = BufRing;

    fn context(&self) -> BufRing {
        BufRing::from_shared(self.group.clone())
    }

    fn check(&self) -> std::io::Result<()> {
        if self.foreign {
            return Err(BufGroup::foreign_error());
        }
        Ok(())
    }

    #[inline]
    fn sqe(&mut self) -> squeue::Entry {
        opcode::RecvMulti::new(types::Fd(self.fd.raw()), self.group.bgid()).build()
    }

    fn is_item(completion: &Completion) -> bool {
        // Bytes in a buffer; a buffer picked for 0 bytes (end of stream) or with an
        // error is given back by `discard`.
        completion.flags & CQE_F_BUFFER != 0 && completion.result.as_ref().is_ok_and(|&n| n > 0)
    }

    fn discard(group: &BufRing, completion: &Completion) {
        drop(group.shared().picked(completion.flags, 0));
    }

    fn item(group: &BufRing, completion: Completion) -> ProvidedBuf {
        let n = *completion
            .result
            .as_ref()
            .expect("an item has a result (checked by is_item)");
        group
            .shared()
            .picked(completion.flags, n)
            .expect("an item names its buffer (checked by is_item)")
    }

    fn release_item(&mut self, completion: Completion) -> u64 {
        let n = *completion.result.as_ref().unwrap_or(&0);
        drop(self.group.picked(completion.flags, n));
        0
    }
}
