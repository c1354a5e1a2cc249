//! `IORING_OP_SENDMSG_ZC`: send several owned buffers in one message, zero-copy,
//! with the buffers handed back only once the kernel's notification says it let go.

use std::fmt;
use std::io;
use std::mem;

use io_uring::{opcode, squeue, types};

use super::send_zc::{zc_result, zc_was_cancelled};
use super::{Completion, OpKind, Prepared, Sealed};
use crate::buf::IoBuf;
use crate::fd::SharedFd;
use crate::Ring;

/// Sends the initialised bytes of several buffers, in order, in one zero-copy
/// `sendmsg(2)` on a connected socket.
///
/// As [`SendZc`](super::SendZc), the kernel posts two completions, and the token
/// resolves after both to `(io::Result<usize>, Vec<B>)`: the byte count (possibly
/// fewer than offered) and the buffers, which nobody may reuse before the
/// notification, whatever happens to the token. Where zero copy pays, and why a
/// cancel or a timeout cannot bound the wait for the notification: see
/// [`SendZc`](super::SendZc).
///
/// # Errors
///
/// `InvalidInput` at once for more than 1024 buffers. No buffers at all send
/// nothing: `Ok(0)`, as `writev(2)`.
///
/// # Cancellation
///
/// `Cancelled(bufs)` if nothing was sent, `Completed((Ok(n), bufs))` if the kernel
/// took `n` bytes first; both only after the notification.
///
/// # References
///
/// `io_uring_prep_sendmsg_zc(3)`, `sendmsg(2)`. Linux 6.1.
#[doc(alias = "io_uring_prep_sendmsg_zc")]
pub struct SendMsgZc<B: IoBuf> {
    fd: SharedFd,
    bufs: Vec<B>,
    iovecs: Vec<libc::iovec>,
    msg: libc::msghdr,
}

impl<B: IoBuf> SendMsgZc<B> {
    pub(crate) fn prepare(ring: &Ring, fd: &SharedFd, bufs: Vec<B>) -> Prepared<SendMsgZc<B>> {
        Prepared::new(
            ring.inner().clone(),
            SendMsgZc {
                fd: fd.clone(),
                bufs,
                iovecs: Vec::new(),
                // SAFETY: msghdr is plain old data (pointers, lengths, flags, and on
                // some targets private padding); all zeroes is a valid, empty header.
                msg: unsafe { mem::zeroed() },
            },
        )
    }
}

impl<B: IoBuf> fmt::Debug for SendMsgZc<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SendMsgZc")
            .field("fd", &self.fd)
            .field("buffers", &self.bufs.len())
            .finish_non_exhaustive()
    }
}

impl<B: IoBuf> Sealed for SendMsgZc<B> {}

impl<B: IoBuf> OpKind for SendMsgZc<B> {
    type Output = (io::Result<usize>, Vec<B>);
    type Residue = Vec<B>;
    const NAME: &'static str = "SendMsgZc";
    const OPCODE: u8 = opcode::SendMsgZc::CODE;

    fn check(&self) -> io::Result<()> {
        crate::buf::check_iovecs(self.bufs.len(), Self::NAME)
    }

    #[inline]
    fn sqe(&mut self) -> squeue::Entry {
        // Called at the op's final heap address: the iovecs and the header stay put
        // until the final completion. The kernel only reads through these pointers,
        // so casting each buffer's `*const` to the iovec's `*mut` is sound.
        self.iovecs = self
            .bufs
            .iter()
            .map(|buf| libc::iovec {
                iov_base: buf.stable_ptr().cast_mut().cast(),
                iov_len: buf.bytes_init().min(crate::buf::MAX_IO_LEN),
            })
            .collect();
        self.msg.msg_name = std::ptr::null_mut();
        self.msg.msg_namelen = 0;
        self.msg.msg_iov = self.iovecs.as_mut_ptr();
        // At most `MAX_IOVECS` entries: `check` refused more.
        self.msg.msg_iovlen = self.iovecs.len() as _;
        self.msg.msg_control = std::ptr::null_mut();
        self.msg.msg_controllen = 0;
        self.msg.msg_flags = 0;
        opcode::SendMsgZc::new(types::Fd(self.fd.raw()), &self.msg)
            .flags(libc::MSG_NOSIGNAL as u32)
            .build()
    }

    #[inline]
    fn complete(self, completion: Completion) -> Self::Output {
        (zc_result(completion).map(|n| n as usize), self.bufs)
    }

    fn residue(self) -> Vec<B> {
        self.bufs
    }

    fn was_cancelled(completion: &Completion) -> bool {
        zc_was_cancelled(completion)
    }
}
