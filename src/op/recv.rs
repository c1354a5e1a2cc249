//! `IORING_OP_RECV`: receive bytes from a connected socket into an owned buffer.

use std::fmt;
use std::io;

use io_uring::{opcode, squeue, types};

use super::{Completion, OpKind, Prepared, Sealed};
use crate::buf::{IoBufMut, Spare};
use crate::fd::SharedFd;
use crate::Ring;

/// Receives from a connected socket into the buffer's spare capacity, after its
/// initialised bytes.
///
/// The receive appends: it fills the buffer's spare capacity, `bytes_total() -
/// bytes_init()` bytes at most, and grows its initialised length by the count, never
/// touching the bytes already there (std's `read_buf` contract; see
/// [the buffer contract](crate::buf#the-buffer-contract)). A receive of `"hi"` into
/// `Vec::with_capacity(16)` gives a buffer of length 2; into a `Vec` holding
/// `"HEADER:"`, one holding `"HEADER:hi"`. The output is `(io::Result<usize>, B)`:
/// the byte count (0 only at end of stream) and the buffer. The buffer comes back
/// after an error too.
///
/// # Errors
///
/// A buffer with no spare capacity (`vec![0; n]`, `Vec::new()`) fails at once with
/// `InvalidInput`, before the receive reaches the kernel, so that `Ok(0)` always
/// means end of stream; [`buf::Empty`](crate::buf::Empty) asks for a 0-byte receive
/// (a readiness wait) on purpose. Otherwise the kernel's errno.
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
    /// Where the entry points the kernel: set by `sqe`, recorded by `complete`.
    spare: Option<Spare>,
}

impl<B: IoBufMut> Recv<B> {
    pub(crate) fn prepare(ring: &Ring, fd: &SharedFd, buf: B) -> Prepared<Recv<B>> {
        Prepared::new(
            ring.inner().clone(),
            Recv {
                fd: fd.clone(),
                buf,
                spare: None,
            },
        )
    }
}

impl<B: IoBufMut> fmt::Debug for Recv<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Recv")
            .field("fd", &self.fd)
            .field("len", &self.buf.bytes_init())
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

    fn check(&self) -> io::Result<()> {
        crate::buf::check_spare(&self.buf, Self::NAME)
    }

    #[inline]
    fn sqe(&mut self) -> squeue::Entry {
        let spare = *self.spare.insert(Spare::of(&mut self.buf));
        opcode::Recv::new(types::Fd(self.fd.raw()), spare.ptr, spare.len as u32).build()
    }

    fn complete(mut self, completion: Completion) -> Self::Output {
        let result = completion.result.map(|n| {
            if let Some(spare) = self.spare {
                // SAFETY: the kernel wrote `n` bytes right after the `init`
                // initialised ones, never more than the entry's `len`, and
                // `init + len <= bytes_total()`; `filled` caps `n` at `len`.
                unsafe { self.buf.set_init(spare.filled(n as usize)) };
            }
            n as usize
        });
        (result, self.buf)
    }

    fn residue(self) -> B {
        self.buf
    }
}
