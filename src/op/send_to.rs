//! `IORING_OP_SENDMSG`: send one datagram from an owned buffer to an address.

use std::fmt;
use std::io;
use std::mem;

use io_uring::{opcode, squeue, types};

use super::{Completion, OpKind, Prepared, Sealed};
use crate::buf::IoBuf;
use crate::fd::SharedFd;
use crate::net::addr::RawAddr;
use crate::Ring;

/// Sends the buffer's initialised bytes as one datagram to an address.
///
/// Built by [`UdpSocket::send_to`](crate::net::UdpSocket::send_to). The output is
/// `(io::Result<usize>, B)`: how many bytes were sent (a datagram is sent whole or
/// not at all) and the buffer, which comes back after an error too. An address the
/// socket cannot reach is reported by the kernel (`EAFNOSUPPORT` for an IPv6 address
/// on an IPv4 socket, `EMSGSIZE` for a datagram that is too large, ...).
///
/// `MSG_NOSIGNAL` is set: no `SIGPIPE` is ever raised.
///
/// # Cancellation
///
/// A datagram send rarely waits, so `cancel()` usually reports
/// `Completed((result, buf))`; `Cancelled(buf)` means nothing was sent. If the token
/// is dropped, the ring keeps the buffer, the message header and the address until
/// the kernel is done with them.
///
/// # References
///
/// `io_uring_prep_sendmsg(3)`, `sendmsg(2)`.
#[doc(alias = "io_uring_prep_sendmsg")]
#[doc(alias = "sendto")]
pub struct SendTo<B: IoBuf> {
    fd: SharedFd,
    buf: B,
    /// The fields below are read by the kernel. The op sits at a fixed heap address
    /// in the ring's table from `sqe` until the final completion, and `sqe` points
    /// the header at them.
    iov: libc::iovec,
    msg: libc::msghdr,
    to: RawAddr,
}

impl<B: IoBuf> SendTo<B> {
    pub(crate) fn prepare(ring: &Ring, fd: &SharedFd, buf: B, to: RawAddr) -> Prepared<SendTo<B>> {
        Prepared::new(
            ring.inner().clone(),
            SendTo {
                fd: fd.clone(),
                buf,
                iov: libc::iovec {
                    iov_base: std::ptr::null_mut(),
                    iov_len: 0,
                },
                // SAFETY: msghdr is plain old data (pointers, lengths, flags, and on
                // some targets private padding); all zeroes is a valid, empty header.
                msg: unsafe { mem::zeroed() },
                to,
            },
        )
    }
}

impl<B: IoBuf> fmt::Debug for SendTo<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SendTo")
            .field("fd", &self.fd)
            .field("len", &self.buf.bytes_init())
            .field("to", &self.to)
            .finish_non_exhaustive()
    }
}

impl<B: IoBuf> Sealed for SendTo<B> {}

impl<B: IoBuf> OpKind for SendTo<B> {
    type Output = (io::Result<usize>, B);
    type Residue = B;
    const NAME: &'static str = "SendTo";
    const OPCODE: u8 = opcode::SendMsg::CODE;

    #[inline]
    fn sqe(&mut self) -> squeue::Entry {
        // Called at the op's final heap address: the pointers below stay valid until
        // the final completion. The kernel only reads through them, so casting the
        // buffer's and the address's `*const` to the header's `*mut` is sound.
        self.iov = libc::iovec {
            iov_base: self.buf.stable_ptr().cast_mut().cast(),
            iov_len: self.buf.bytes_init().min(crate::buf::MAX_IO_LEN),
        };
        self.msg.msg_name = self.to.as_ptr().cast_mut().cast();
        self.msg.msg_namelen = self.to.len;
        self.msg.msg_iov = &mut self.iov;
        self.msg.msg_iovlen = 1;
        self.msg.msg_control = std::ptr::null_mut();
        self.msg.msg_controllen = 0;
        self.msg.msg_flags = 0;
        opcode::SendMsg::new(types::Fd(self.fd.raw()), &self.msg)
            .flags(libc::MSG_NOSIGNAL as u32)
            .build()
    }

    #[inline]
    fn complete(self, completion: Completion) -> Self::Output {
        (completion.result.map(|n| n as usize), self.buf)
    }

    fn residue(self) -> B {
        self.buf
    }
}
