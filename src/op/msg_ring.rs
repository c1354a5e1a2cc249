//! `IORING_OP_MSG_RING`: ring another ring's doorbell after queuing a value in its
//! mailbox.

use std::fmt;
use std::io;
use std::sync::Arc;

use io_uring::{opcode, squeue, types};

use super::{Completion, OpKind, Prepared, Sealed};
use crate::driver::MAIL;
use crate::runtime::mailbox::{Key, Shared};
use crate::runtime::Undelivered;
use crate::Ring;

/// Hands a value to another ring's [`Mailbox`](crate::runtime::Mailbox): built by
/// [`Address::send`](crate::runtime::Address::send).
///
/// The value is queued in the target mailbox when the entry is built, and the
/// kernel posts a completion (the doorbell) on the target's queue. Whoever takes the
/// value out of the queue owns it: the target's `recv`, the target's close (which
/// drops it), or this op, when the kernel refused the doorbell.
///
/// # Cancellation
///
/// The kernel runs the message at once: a cancel never finds it waiting, and
/// `cancel()` reports `Completed` with what happened. Dropped before its completion,
/// the op still settles the value: delivered, or taken back and dropped.
///
/// # References
///
/// `io_uring_prep_msg_ring(3)`.
#[doc(alias = "io_uring_prep_msg_ring")]
pub struct MsgRing<M: Send + 'static> {
    target: Arc<Shared<M>>,
    /// The value until the entry is built; it stays here if the mailbox was closed.
    value: Option<M>,
    /// Where the value waits in the target's queue, once it is there.
    key: Option<Key>,
}

impl<M: Send + 'static> MsgRing<M> {
    pub(crate) fn prepare(ring: &Ring, target: Arc<Shared<M>>, value: M) -> Prepared<MsgRing<M>> {
        Prepared::new(
            ring.inner().clone(),
            MsgRing {
                target,
                value: Some(value),
                key: None,
            },
        )
    }

    /// The value, if it did not reach the target: still here (closed mailbox), or
    /// taken back out of the queue after the kernel refused the doorbell.
    fn reclaim(&mut self, completion: &Completion) -> Option<M> {
        if let Some(value) = self.value.take() {
            return Some(value);
        }
        if completion.result.is_ok() {
            return None;
        }
        // The doorbell failed; the receiver may still have taken the value on
        // another doorbell, in which case it is delivered after all.
        self.key.and_then(|key| self.target.take_back(key))
    }
}

impl<M: Send + 'static> Sealed for MsgRing<M> {}

impl<M: Send + 'static> OpKind for MsgRing<M> {
    type Output = Result<(), Undelivered<M>>;
    type Residue = ();
    const NAME: &'static str = "MsgRing";
    const OPCODE: u8 = opcode::MsgRingData::CODE;

    /// A closed mailbox is refused before anything is queued (it may still close
    /// between this check and the entry; the entry then keeps the value).
    fn check(&self) -> io::Result<()> {
        if self.target.is_open() {
            Ok(())
        } else {
            Err(closed())
        }
    }

    #[inline]
    fn sqe(&mut self) -> squeue::Entry {
        let value = self.value.take().expect("the entry is built once");
        match self.target.put(value) {
            Ok(key) => {
                self.key = Some(key);
                opcode::MsgRingData::new(types::Fd(self.target.ring_fd()), 0, MAIL, None).build()
            }
            Err(value) => {
                // Closed: keep the value and ring nobody (a closed mailbox's ring may
                // be gone, and its queue would only grow in the kernel).
                self.value = Some(value);
                opcode::Nop::new().build()
            }
        }
    }

    fn complete(mut self, completion: Completion) -> Self::Output {
        match self.reclaim(&completion) {
            None => Ok(()),
            Some(value) => {
                let error = match completion.result {
                    Err(err) => err,
                    Ok(_) => closed(),
                };
                Err(Undelivered::new(error, value))
            }
        }
    }

    fn residue(self) {}

    /// Never: the message runs at once, and `complete` says whether the value
    /// arrived, whatever the errno.
    fn was_cancelled(_: &Completion) -> bool {
        false
    }

    fn release(mut self, completion: Completion) -> u64 {
        // An orphan: the value goes to the target, or is dropped here.
        drop(self.reclaim(&completion));
        0
    }
}

fn closed() -> io::Error {
    io::Error::new(
        io::ErrorKind::BrokenPipe,
        "the mailbox is closed: its ring shut down or its Mailbox was dropped",
    )
}

impl<M: Send + 'static> fmt::Debug for MsgRing<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MsgRing")
            .field("target_fd", &self.target.ring_fd())
            .field("queued", &self.key.is_some())
            .finish_non_exhaustive()
    }
}
