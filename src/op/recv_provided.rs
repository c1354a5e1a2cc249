//! `IORING_OP_RECV` with `IOSQE_BUFFER_SELECT`: receive into a buffer the kernel
//! picks from a provided buffer ring when the data arrives.

use std::fmt;
use std::io;
use std::rc::Rc;

use io_uring::{opcode, squeue, types};

use super::{Completion, OpKind, Prepared, Sealed};
use crate::buf::{BufGroup, BufRing, ProvidedBuf};
use crate::fd::SharedFd;
use crate::Ring;

/// Receives from a connected socket into a buffer the kernel picks from a
/// [`BufRing`] when the data arrives.
///
/// The output is `io::Result<Option<ProvidedBuf>>`: the picked buffer holding the
/// bytes, or `None` at end of stream. Dropping the [`ProvidedBuf`] gives the buffer
/// back to the group.
///
/// # Errors
///
/// `ENOBUFS` (`raw_os_error() == Some(libc::ENOBUFS)`) if every buffer of the group
/// is out when the data arrives; otherwise the kernel's errno.
///
/// # Cancellation
///
/// `cancel()` gives `Cancelled(())` if nothing arrived (no buffer was picked), or
/// `Completed(Ok(Some(buf)))` if bytes arrived first. If the token is dropped and a
/// buffer was picked anyway, the ring gives it back to the group.
///
/// # References
///
/// `io_uring_prep_recv(3)` with `IOSQE_BUFFER_SELECT`, `recv(2)`. Linux 5.19 (the
/// buffer ring).
#[doc(alias = "io_uring_prep_recv")]
pub struct RecvProvided {
    fd: SharedFd,
    group: Rc<BufGroup>,
    /// The group is registered with another ring than the stream's.
    foreign: bool,
    /// The buffer the completion names, taken out of the group when it is reaped:
    /// whatever becomes of the op then (completed, cancelled, abandoned), dropping
    /// it gives the buffer back.
    picked: Option<ProvidedBuf>,
}

impl RecvProvided {
    pub(crate) fn prepare(ring: &Ring, fd: &SharedFd, group: &BufRing) -> Prepared<RecvProvided> {
        Prepared::new(
            ring.inner().clone(),
            RecvProvided {
                fd: fd.clone(),
                group: group.shared().clone(),
                foreign: !group.shared().belongs_to(ring),
                picked: None,
            },
        )
    }
}

impl fmt::Debug for RecvProvided {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RecvProvided")
            .field("fd", &self.fd)
            .field("group", &self.group.bgid())
            .finish()
    }
}

impl Sealed for RecvProvided {}

impl OpKind for RecvProvided {
    type Output = io::Result<Option<ProvidedBuf>>;
    type Residue = ();
    const NAME: &'static str = "RecvProvided";
    const OPCODE: u8 = opcode::Recv::CODE;

    fn check(&self) -> io::Result<()> {
        if self.foreign {
            return Err(BufGroup::foreign_error());
        }
        Ok(())
    }

    #[inline]
    fn sqe(&mut self) -> squeue::Entry {
        opcode::Recv::new(
            types::Fd(self.fd.raw()),
            std::ptr::null_mut(),
            self.group.buf_len(),
        )
        .buf_group(self.group.bgid())
        .build()
        .flags(squeue::Flags::BUFFER_SELECT)
    }

    const SETTLES: bool = true;

    fn settle(&mut self, completion: &Completion) {
        // A buffer picked for 0 bytes (end of stream), or by a receive that then
        // failed or was cancelled, is taken too: it goes back when dropped.
        let n = *completion.result.as_ref().unwrap_or(&0);
        self.picked = self.group.picked(completion.flags, n);
    }

    #[inline]
    fn complete(self, completion: Completion) -> Self::Output {
        completion.result?;
        Ok(self.picked.filter(|buf| !buf.is_empty()))
    }

    fn residue(self) {}

    fn release(self, _completion: Completion) -> u64 {
        // Dropping the buffer gives it back to the group.
        drop(self.picked);
        0
    }
}
