//! `IORING_OP_RECV` with `IORING_RECV_MULTISHOT` and `IORING_RECVSEND_BUNDLE`: one
//! op that receives again and again, each time into as many buffers of a provided
//! buffer ring as the data needs.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::fmt;
use std::rc::Rc;

use io_uring::{opcode, squeue, types};

use super::{Completion, MultishotKind, PreparedMultishot, Sealed};
use crate::buf::{BufGroup, BufRing, ProvidedBuf};
use crate::fd::SharedFd;
use crate::Ring;

/// The bundles claimed when their completions were reaped, oldest first: one per
/// item the stream has not handed out yet. Shared by the op and its token.
type Claimed = Rc<RefCell<VecDeque<Vec<ProvidedBuf>>>>;

/// Receives from a connected socket again and again, each time into as many buffers
/// of a [`BufRing`] as the data that has arrived needs: one item per receive, a
/// bundle of [`ProvidedBuf`]s in the order of the bytes, each full but the last.
///
/// It is [`RecvMulti`](super::RecvMulti) and [`RecvBundle`](super::RecvBundle)
/// together: armed once, and each wake-up drains what the socket holds into as
/// many buffers as it takes. Each buffer goes back to the group when dropped.
///
/// The stream ends at end of stream (`next()` gives `None`), or with an error:
/// `ENOBUFS` when every buffer of the group is out (give some back by dropping
/// them, then submit the receive again), `Unsupported` on a kernel without
/// bundles (before Linux 6.10, naming the release), or the socket's error.
///
/// # Cancellation
///
/// [`cancel()`](crate::Multishot::cancel) stops receiving and hands back every
/// bundle received but not taken yet, in order. Dropping the token gives each of
/// their buffers back to the group, and every buffer the kernel fills until its
/// cancel takes effect, before the drop policy applies; the bytes in them are lost.
///
/// # References
///
/// `io_uring_prep_recv_multishot(3)` with `IORING_RECVSEND_BUNDLE` (Linux 6.10),
/// `recv(2)`.
#[doc(alias = "io_uring_prep_recv_multishot")]
pub struct RecvMultiBundle {
    fd: SharedFd,
    group: Rc<BufGroup>,
    /// The group is registered with another ring than the stream's.
    foreign: bool,
    /// Each item's buffers are taken out of the group when its completion is
    /// reaped (`settle`): the group's record of its ring order is only good until
    /// the next buffer is given back.
    claimed: Claimed,
}

impl RecvMultiBundle {
    pub(crate) fn prepare(
        ring: &Ring,
        fd: &SharedFd,
        group: &BufRing,
    ) -> PreparedMultishot<RecvMultiBundle> {
        PreparedMultishot::new(
            ring.inner().clone(),
            RecvMultiBundle {
                fd: fd.clone(),
                group: group.shared().clone(),
                foreign: !group.shared().belongs_to(ring),
                claimed: Claimed::default(),
            },
        )
    }
}

impl fmt::Debug for RecvMultiBundle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RecvMultiBundle")
            .field("fd", &self.fd)
            .field("group", &self.group.bgid())
            .finish()
    }
}

impl Sealed for RecvMultiBundle {}

/// `IORING_CQE_F_BUFFER`.
const CQE_F_BUFFER: u32 = 1;

impl MultishotKind for RecvMultiBundle {
    type Item = Vec<ProvidedBuf>;
    const NAME: &'static str = "RecvMultiBundle";
    const OPCODE: u8 = opcode::RecvMultiBundle::CODE;
    const SINCE: (u32, u32) = (6, 10);
    type Context = Claimed;

    fn context(&self) -> Claimed {
        self.claimed.clone()
    }

    fn check(&self) -> std::io::Result<()> {
        if self.foreign {
            return Err(BufGroup::foreign_error());
        }
        Ok(())
    }

    #[inline]
    fn sqe(&mut self) -> squeue::Entry {
        opcode::RecvMultiBundle::new(types::Fd(self.fd.raw()), self.group.bgid()).build()
    }

    const SETTLES: bool = true;

    fn settle(&mut self, completion: &Completion) {
        // A completion that received nothing (end of stream, an error) consumed no
        // buffer, even if its flags name one.
        if Self::is_item(completion) {
            let n = *completion.result.as_ref().unwrap_or(&0);
            let bundle = self.group.picked_bundle(completion.flags, n);
            self.claimed.borrow_mut().push_back(bundle);
        }
    }

    fn is_item(completion: &Completion) -> bool {
        completion.flags & CQE_F_BUFFER != 0 && completion.result.as_ref().is_ok_and(|&n| n > 0)
    }

    fn item(claimed: &Claimed, _completion: Completion) -> Vec<ProvidedBuf> {
        claimed
            .borrow_mut()
            .pop_front()
            .expect("every item's bundle is claimed when it is reaped")
    }

    fn release_item(&mut self, completion: Completion) -> u64 {
        if Self::is_item(&completion) {
            // Dropping the buffers gives them back to the group.
            let bundle = self.claimed.borrow_mut().pop_front();
            drop(bundle);
        }
        0
    }
}
