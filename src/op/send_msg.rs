//! `IORING_OP_SENDMSG` with `SCM_RIGHTS`: send bytes and descriptors on a Unix
//! socket.

use std::fmt;
use std::io;
use std::mem;
use std::os::fd::OwnedFd;

use io_uring::{opcode, squeue, types};

use super::{Completion, OpKind, Prepared, Sealed};
use crate::buf::IoBuf;
use crate::fd::SharedFd;
use crate::net::ancillary::{self, Control};
use crate::Ring;

/// Sends the buffer's initialised bytes on a Unix stream socket together with
/// descriptors (`SCM_RIGHTS`), which the peer receives as new descriptors of its
/// own with [`RecvMsg`](super::RecvMsg).
///
/// Built by [`UnixStream::send_with_fds`](crate::net::UnixStream::send_with_fds)
/// and its write half's. The op owns the descriptors until its final completion, so
/// they cannot be closed while the kernel may still read their numbers, and gives
/// them back with the buffer: the output is `(io::Result<usize>, B, Vec<OwnedFd>)`.
/// The descriptors given back are still yours: the peer gets new ones that refer to
/// the same open files, so drop these if you are done with them.
///
/// The descriptors go with the first byte sent: an `Ok(n)` means the peer gets all
/// of them, with the first of the `n` bytes, even if `n` is short of the buffer's
/// length (send the rest with a plain [`send`](crate::net::UnixStream::send)). The
/// peer's receive of them ends at these bytes: what follows comes with its next
/// receive. `MSG_NOSIGNAL` is set: no `SIGPIPE` is ever raised.
///
/// # Errors
///
/// At once, before the send reaches the kernel, with the buffer and descriptors
/// back: `InvalidInput` for descriptors with an empty buffer (a stream socket
/// carries descriptors only with at least one byte) and for more than 253 of them
/// (`SCM_MAX_FD`). From the kernel: `EPIPE` when the peer is gone, `ETOOMANYREFS`
/// when descriptors in flight nest too deep.
///
/// # Cancellation
///
/// A send waits only while the socket's buffer is full. `cancel()` gives
/// `Cancelled((buf, fds))` if nothing was sent: the descriptors were not passed, and
/// are handed back. It gives `Completed((Ok(n), buf, fds))` if the send went first.
/// If the token is dropped, the ring keeps the buffer, the descriptors and the
/// message until the kernel's completion, then drops them: the descriptors are
/// closed (counted in [`Stats::fds_closed`](crate::Stats)), and the peer holds its
/// own if the send went through.
///
/// # References
///
/// `io_uring_prep_sendmsg(3)`, `sendmsg(2)`, `unix(7)` (`SCM_RIGHTS`).
#[doc(alias = "io_uring_prep_sendmsg")]
#[doc(alias = "sendmsg")]
#[doc(alias = "SCM_RIGHTS")]
pub struct SendMsg<B: IoBuf> {
    fd: SharedFd,
    buf: B,
    fds: Vec<OwnedFd>,
    /// The fields below are read by the kernel. The op sits at a fixed heap address
    /// in the ring's table from `sqe` until the final completion, and `sqe` points
    /// the header at them (the control message's memory is on the heap).
    iov: libc::iovec,
    msg: libc::msghdr,
    control: Control,
}

impl<B: IoBuf> SendMsg<B> {
    pub(crate) fn prepare(
        ring: &Ring,
        fd: &SharedFd,
        buf: B,
        fds: Vec<OwnedFd>,
    ) -> Prepared<SendMsg<B>> {
        Prepared::new(
            ring.inner().clone(),
            SendMsg {
                fd: fd.clone(),
                buf,
                fds,
                iov: libc::iovec {
                    iov_base: std::ptr::null_mut(),
                    iov_len: 0,
                },
                // SAFETY: msghdr is plain old data (pointers, lengths, flags, and on
                // some targets private padding); all zeroes is a valid, empty header.
                msg: unsafe { mem::zeroed() },
                control: Control::none(),
            },
        )
    }
}

impl<B: IoBuf> fmt::Debug for SendMsg<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SendMsg")
            .field("fd", &self.fd)
            .field("len", &self.buf.bytes_init())
            .field("fds", &self.fds)
            .finish_non_exhaustive()
    }
}

impl<B: IoBuf> Sealed for SendMsg<B> {}

impl<B: IoBuf> OpKind for SendMsg<B> {
    type Output = (io::Result<usize>, B, Vec<OwnedFd>);
    type Residue = (B, Vec<OwnedFd>);
    const NAME: &'static str = "SendMsg";
    const OPCODE: u8 = opcode::SendMsg::CODE;

    fn check(&self) -> io::Result<()> {
        ancillary::check_fd_count(self.fds.len(), Self::NAME)?;
        if !self.fds.is_empty() && self.buf.bytes_init() == 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "SendMsg: {} descriptor(s) with an empty buffer: a stream socket \
                     passes descriptors only with at least one byte",
                    self.fds.len()
                ),
            ));
        }
        Ok(())
    }

    #[inline]
    fn sqe(&mut self) -> squeue::Entry {
        // Called at the op's final heap address: the pointers below stay valid until
        // the final completion. The kernel only reads through them, so casting the
        // buffer's `*const` to the iovec's `*mut` is sound.
        self.iov = libc::iovec {
            iov_base: self.buf.stable_ptr().cast_mut().cast(),
            iov_len: self.buf.bytes_init().min(crate::buf::MAX_IO_LEN),
        };
        self.control = Control::rights(&self.fds);
        self.msg.msg_name = std::ptr::null_mut();
        self.msg.msg_namelen = 0;
        self.msg.msg_iov = &mut self.iov;
        self.msg.msg_iovlen = 1;
        self.msg.msg_control = self.control.as_mut_ptr();
        self.msg.msg_controllen = self.control.len() as _;
        self.msg.msg_flags = 0;
        opcode::SendMsg::new(types::Fd(self.fd.raw()), &self.msg)
            .flags(libc::MSG_NOSIGNAL as u32)
            .build()
    }

    #[inline]
    fn complete(self, completion: Completion) -> Self::Output {
        (completion.result.map(|n| n as usize), self.buf, self.fds)
    }

    fn residue(self) -> (B, Vec<OwnedFd>) {
        (self.buf, self.fds)
    }

    fn release(self, completion: Completion) -> u64 {
        // Nobody will claim the descriptors: the ring closes them (the peer holds
        // its own if the send went through).
        let closed = self.fds.len() as u64;
        drop((self, completion));
        closed
    }
}
