//! `IORING_OP_RECVMSG`: receive one datagram and its sender's address into an owned
//! buffer.

use std::fmt;
use std::io;
use std::mem;
use std::net::SocketAddr;

use io_uring::{opcode, squeue, types};

use super::{Completion, OpKind, Prepared, Sealed};
use crate::buf::{IoBufMut, Spare};
use crate::fd::SharedFd;
use crate::net::addr::{self, RawAddr};
use crate::Ring;

/// Receives one datagram into the buffer's spare capacity, after its initialised
/// bytes, together with the address it came from.
///
/// Built by [`UdpSocket::recv_from`](crate::net::UdpSocket::recv_from). The receive
/// appends: it fills the buffer's spare capacity and grows its initialised length by
/// the count, never touching the bytes already there (see
/// [the buffer contract](crate::buf#the-buffer-contract)). The output is
/// `(io::Result<(usize, SocketAddr)>, B)`: the byte count and the sender, and the
/// buffer. The buffer comes back after an error too.
///
/// As with `recvfrom(2)`, the part of a datagram that does not fit in the buffer's
/// spare capacity is discarded: give a buffer with room for the largest datagram
/// expected (`clear()` a buffer you reuse).
///
/// # Errors
///
/// A buffer with no spare capacity fails at once with `InvalidInput`, before the
/// receive reaches the kernel (where it would take a datagram and keep none of it);
/// [`buf::Empty`](crate::buf::Empty) asks for that on purpose. Otherwise the
/// kernel's errno.
///
/// # Cancellation
///
/// `cancel()` gives `Cancelled(buf)` if no datagram was taken, or
/// `Completed((Ok((n, from)), buf))` if one arrived first: it is in the buffer, not
/// lost. If the token is dropped, the ring keeps the buffer, the message header and
/// the address space until the kernel is done with them, then frees them.
///
/// # References
///
/// `io_uring_prep_recvmsg(3)`, `recvmsg(2)`.
#[doc(alias = "io_uring_prep_recvmsg")]
#[doc(alias = "recvfrom")]
pub struct RecvFrom<B: IoBufMut> {
    fd: SharedFd,
    buf: B,
    /// The fields below are read and written by the kernel. The op sits at a fixed
    /// heap address in the ring's table from `sqe` until the final completion, and
    /// `sqe` points the header at them.
    iov: libc::iovec,
    msg: libc::msghdr,
    from: RawAddr,
    /// Where the entry points the kernel: set by `sqe`, recorded by `complete`.
    spare: Option<Spare>,
}

impl<B: IoBufMut> RecvFrom<B> {
    pub(crate) fn prepare(ring: &Ring, fd: &SharedFd, buf: B) -> Prepared<RecvFrom<B>> {
        Prepared::new(
            ring.inner().clone(),
            RecvFrom {
                fd: fd.clone(),
                buf,
                iov: libc::iovec {
                    iov_base: std::ptr::null_mut(),
                    iov_len: 0,
                },
                // SAFETY: msghdr is plain old data (pointers, lengths, flags, and on
                // some targets private padding); all zeroes is a valid, empty header.
                msg: unsafe { mem::zeroed() },
                from: RawAddr::empty(),
                spare: None,
            },
        )
    }
}

impl<B: IoBufMut> fmt::Debug for RecvFrom<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RecvFrom")
            .field("fd", &self.fd)
            .field("len", &self.buf.bytes_init())
            .field("capacity", &self.buf.bytes_total())
            .finish_non_exhaustive()
    }
}

impl<B: IoBufMut> Sealed for RecvFrom<B> {}

impl<B: IoBufMut> OpKind for RecvFrom<B> {
    type Output = (io::Result<(usize, SocketAddr)>, B);
    type Residue = B;
    const NAME: &'static str = "RecvFrom";
    const OPCODE: u8 = opcode::RecvMsg::CODE;

    fn check(&self) -> io::Result<()> {
        crate::buf::check_spare(&self.buf, Self::NAME)
    }

    #[inline]
    fn sqe(&mut self) -> squeue::Entry {
        // Called at the op's final heap address: the pointers below stay valid until
        // the final completion, when the table hands the op back.
        let spare = *self.spare.insert(Spare::of(&mut self.buf));
        self.iov = libc::iovec {
            iov_base: spare.ptr.cast(),
            iov_len: spare.len,
        };
        self.from = RawAddr::empty();
        self.msg.msg_name = self.from.as_mut_ptr().cast();
        self.msg.msg_namelen = self.from.len;
        self.msg.msg_iov = &mut self.iov;
        self.msg.msg_iovlen = 1;
        self.msg.msg_control = std::ptr::null_mut();
        self.msg.msg_controllen = 0;
        self.msg.msg_flags = 0;
        opcode::RecvMsg::new(types::Fd(self.fd.raw()), &mut self.msg).build()
    }

    fn complete(mut self, completion: Completion) -> Self::Output {
        let n = match completion.result {
            Ok(n) => n as usize,
            Err(e) => return (Err(e), self.buf),
        };
        // Without MSG_TRUNC in the request, the result is what the kernel copied,
        // never more than the iovec's length; `min` keeps that true whatever it says.
        let n = n.min(self.iov.iov_len);
        if let Some(spare) = self.spare {
            // SAFETY: the kernel wrote `n` bytes into the single iovec, which starts
            // right after the `init` initialised bytes and spans `len` bytes, with
            // `init + len <= bytes_total()`; `n <= len`.
            unsafe { self.buf.set_init(spare.filled(n)) };
        }
        // The kernel updated `msg_namelen` to the length of the address it wrote.
        let from = addr::to_socket_addr(&self.from.storage, self.msg.msg_namelen);
        (from.map(|from| (n, from)), self.buf)
    }

    fn residue(self) -> B {
        self.buf
    }
}
