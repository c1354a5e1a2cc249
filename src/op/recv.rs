//! `IORING_OP_RECV`: receive bytes from a connected socket into an owned buffer.

use std::fmt;
use std::io;

use io_uring::{opcode, squeue, types};

use super::{Completion, OpKind, Prepared, Sealed};
use crate::buf::IoBufMut;
use crate::fd::SharedFd;
use crate::Ring;

/// Receives up to the buffer's capacity from a connected socket, writing from the
/// start of the buffer.
///
/// The output is `(io::Result<usize>, B)`: the byte count (0 at end of stream) and
/// the buffer, whose initialised length now covers the received bytes. The buffer
/// comes back after an error too.
///
/// # Cancellation
///
/// `cancel()` gives `Cancelled(buf)` if nothing was received, or
/// `Completed((Ok(n), buf))` if bytes arrived first: they are in the buffer, not lost.
/// If the token is dropped, the ring keeps the buffer until the kernel is done with
/// it, then frees it.
///
/// # References
///
/// `io_uring_prep_recv(3)`, `recv(2)`.
#[doc(alias = "io_uring_prep_recv")]
pub struct Recv<B: IoBufMut> {
    fd: SharedFd,
    buf: B,
}

impl<B: IoBufMut> Recv<B> {
    pub(crate) fn prepare(ring: &Ring, fd: &SharedFd, buf: B) -> Prepared<Recv<B>> {
        Prepared::new(
            ring.inner().clone(),
            Recv {
                fd: fd.clone(),
                buf,
            },
        )
    }
}

impl<B: IoBufMut> fmt::Debug for Recv<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Recv")
            .field("fd", &self.fd)
            .field("capacity", &self.buf.bytes_total())
            .finish()
    }
}

impl<B: IoBufMut> Sealed for Recv<B> {}

impl<B: IoBufMut> OpKind for Recv<B> {
    type Output = (io::Result<usize>, B);
    type Residue = B;
    const NAME: &'static str = "Recv";
    const OPCODE: u8 = opcode::Recv::CODE;

    fn sqe(&mut self) -> squeue::Entry {
        let len = crate::buf::io_len(self.buf.bytes_total());
        opcode::Recv::new(types::Fd(self.fd.raw()), self.buf.stable_mut_ptr(), len).build()
    }

    fn complete(mut self, completion: Completion) -> Self::Output {
        let result = completion.result.map(|n| {
            // SAFETY: the kernel wrote `n` bytes from the start of the buffer, and
            // never more than the length the entry gave it, `bytes_total()`.
            unsafe { self.buf.set_init(n as usize) };
            n as usize
        });
        (result, self.buf)
    }

    fn residue(self) -> B {
        self.buf
    }
}
