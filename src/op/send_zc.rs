//! `IORING_OP_SEND_ZC`: send bytes from an owned buffer without copying them, with
//! the buffer handed back only once the kernel's notification says it let go.

use std::fmt;
use std::io;

use io_uring::{opcode, squeue, types};

use super::{Completion, OpKind, Prepared, Sealed};
use crate::buf::IoBuf;
use crate::fd::SharedFd;
use crate::Ring;

/// Sends the buffer's initialised bytes on a connected socket, zero-copy: the
/// network stack sends from the buffer's own pages instead of copying them.
///
/// The kernel posts two completions: the first says how many bytes were sent; the
/// second, the notification, comes once the network stack no longer reads the
/// pages. The token resolves only after both, to `(io::Result<usize>, B)`: the byte
/// count of the first and the buffer, which nobody may reuse or free before the
/// notification. That holds whatever happens to the token: completed, cancelled,
/// dropped, or left in flight when the ring shuts down, the ring keeps the buffer
/// until the notification.
///
/// Zero copy pays for large sends on a real network interface, several in flight.
/// On loopback the kernel copies anyway, and each buffer comes back only once the
/// receiver has taken the bytes: measured on loopback with one send in flight,
/// `send_zc` ran at 0.09 of [`Send`](super::Send)'s speed with 64-byte messages
/// and 0.77 with 1 MiB ones (`BENCHMARKS.md`). Linux 6.0.
///
/// # Cancellation
///
/// As for [`Send`](super::Send): `Cancelled(buf)` if nothing was sent,
/// `Completed((Ok(n), buf))` if the kernel took `n` bytes first; both only after the
/// notification. Neither a cancel nor a linked timeout bounds that wait: once part
/// of the buffer is in the network stack, the notification comes when the peer has
/// acknowledged it, and a peer that stops reading holds the buffer, and the token,
/// until the connection ends. Shutting the socket down (or closing it from the
/// other side) ends the wait.
///
/// # References
///
/// `io_uring_prep_send_zc(3)`, `send(2)`.
#[doc(alias = "io_uring_prep_send_zc")]
pub struct SendZc<B: IoBuf> {
    fd: SharedFd,
    buf: B,
}

impl<B: IoBuf> SendZc<B> {
    pub(crate) fn prepare(ring: &Ring, fd: &SharedFd, buf: B) -> Prepared<SendZc<B>> {
        Prepared::new(
            ring.inner().clone(),
            SendZc {
                fd: fd.clone(),
                buf,
            },
        )
    }
}

impl<B: IoBuf> fmt::Debug for SendZc<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SendZc")
            .field("fd", &self.fd)
            .field("len", &self.buf.bytes_init())
            .finish()
    }
}

/// The completion that carries the send's result: the first of the two, or the only
/// one if the kernel posted no notification (the send failed at once).
fn send_result(completion: &Completion) -> &Completion {
    completion.earlier().first().unwrap_or(completion)
}

/// The result of a zero-copy send from its completions: the first one's, unless a
/// linked timeout cut the send off (reported on the final one).
pub(super) fn zc_result(mut completion: Completion) -> io::Result<u32> {
    if completion.earlier().is_empty() || completion.timed_out() {
        completion.result
    } else {
        completion.take_earlier().swap_remove(0).result
    }
}

/// Whether the kernel cancelled a zero-copy send before it sent anything.
pub(super) fn zc_was_cancelled(completion: &Completion) -> bool {
    crate::table::is_cancel(send_result(completion).errno())
}

impl<B: IoBuf> Sealed for SendZc<B> {}

impl<B: IoBuf> OpKind for SendZc<B> {
    type Output = (io::Result<usize>, B);
    type Residue = B;
    const NAME: &'static str = "SendZc";
    const OPCODE: u8 = opcode::SendZc::CODE;

    #[inline]
    fn sqe(&mut self) -> squeue::Entry {
        let len = crate::buf::io_len(self.buf.bytes_init());
        opcode::SendZc::new(types::Fd(self.fd.raw()), self.buf.stable_ptr(), len)
            .flags(libc::MSG_NOSIGNAL)
            .build()
    }

    #[inline]
    fn complete(self, completion: Completion) -> Self::Output {
        (zc_result(completion).map(|n| n as usize), self.buf)
    }

    fn residue(self) -> B {
        self.buf
    }

    fn was_cancelled(completion: &Completion) -> bool {
        zc_was_cancelled(completion)
    }
}
