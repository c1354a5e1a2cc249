//! `IORING_OP_SEND`: send bytes from an owned buffer on a connected socket.

use std::fmt;
use std::io;

use io_uring::{opcode, squeue, types};

use super::{Completion, OpKind, Prepared, Sealed};
use crate::buf::IoBuf;
use crate::fd::SharedFd;
use crate::Ring;

/// Sends the buffer's initialised bytes (from an offset) on a connected socket.
///
/// The output is `(io::Result<usize>, B)`: how many bytes the kernel took (possibly
/// fewer than offered) and the buffer. `send_all` on the stream types loops until
/// everything is sent; to continue a short send by hand, send
/// [`buf.slice(n..)`](crate::IoBuf::slice), which sends from byte `n` without
/// copying and hands the whole buffer back through
/// [`Slice::into_inner`](crate::buf::Slice::into_inner).
///
/// `MSG_NOSIGNAL` is set: a send on a socket whose peer has gone fails with `EPIPE`
/// instead of killing the process with `SIGPIPE`.
///
/// # Cancellation
///
/// `cancel()` gives `Cancelled(buf)` if nothing was sent, or `Completed((Ok(n), buf))`
/// if the kernel took `n` bytes first. If the token is dropped, the ring keeps the
/// buffer until the kernel is done reading it.
///
/// # References
///
/// `io_uring_prep_send(3)`, `send(2)`.
#[doc(alias = "io_uring_prep_send")]
pub struct Send<B: IoBuf> {
    fd: SharedFd,
    buf: B,
    offset: usize,
}

impl<B: IoBuf> Send<B> {
    /// Sends `buf[offset..bytes_init()]`.
    pub(crate) fn prepare(ring: &Ring, fd: &SharedFd, buf: B, offset: usize) -> Prepared<Send<B>> {
        Prepared::new(
            ring.inner().clone(),
            Send {
                fd: fd.clone(),
                buf,
                offset,
            },
        )
    }
}

impl<B: IoBuf> fmt::Debug for Send<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Send")
            .field("fd", &self.fd)
            .field("len", &self.buf.bytes_init())
            .field("offset", &self.offset)
            .finish()
    }
}

impl<B: IoBuf> Sealed for Send<B> {}

impl<B: IoBuf> OpKind for Send<B> {
    type Output = (io::Result<usize>, B);
    type Residue = B;
    const NAME: &'static str = "Send";
    const OPCODE: u8 = opcode::Send::CODE;

    #[inline]
    fn sqe(&mut self) -> squeue::Entry {
        let offset = self.offset.min(self.buf.bytes_init());
        let len = crate::buf::io_len(self.buf.bytes_init() - offset);
        // `wrapping_add` keeps this safe code: the pointer is only dereferenced by the
        // kernel, within `bytes_init()` of the buffer's start.
        let ptr = self.buf.stable_ptr().wrapping_add(offset);
        opcode::Send::new(types::Fd(self.fd.raw()), ptr, len)
            .flags(libc::MSG_NOSIGNAL)
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
