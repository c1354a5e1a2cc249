//! `IORING_OP_READ`: read from any descriptor, at an offset, into an owned buffer.

use std::fmt;
use std::io;

use io_uring::{opcode, squeue, types};

use super::{Completion, OpKind, Prepared, Sealed};
use crate::buf::{IoBufMut, Spare};
use crate::fd::SharedFd;
use crate::Ring;

/// Reads from a descriptor (a regular file, a pipe, a character device, a socket)
/// into the buffer's spare capacity, after its initialised bytes.
///
/// Built by [`File::read_at`](crate::fs::File::read_at) and
/// [`File::read`](crate::fs::File::read). The offset is where in the file the read
/// starts; `u64::MAX` (io_uring's `-1`) means the file's current position, which the
/// read then advances, as `read(2)` does. Descriptors that cannot seek (pipes,
/// sockets) must be given the current position or `0`: the kernel rejects other
/// offsets with `ESPIPE` on a socket and ignores them on a pipe.
///
/// The read appends: it fills the buffer's spare capacity, `bytes_total() -
/// bytes_init()` bytes at most, and grows its initialised length by the count, never
/// touching the bytes already there (std's `read_buf` contract; see
/// [the buffer contract](crate::buf#the-buffer-contract)). The output is
/// `(io::Result<usize>, B)`: the byte count (0 only at end of file) and the buffer.
/// The buffer comes back after an error too.
///
/// # Errors
///
/// A buffer with no spare capacity (`vec![0; n]`, `Vec::new()`) fails at once with
/// `InvalidInput`, before the read reaches the kernel, so that `Ok(0)` always means
/// end of file; [`buf::Empty`](crate::buf::Empty) asks for a 0-byte read on
/// purpose. Otherwise the kernel's errno.
///
/// # Cancellation
///
/// `cancel()` gives `Cancelled(buf)` if nothing was read (a read waiting on an empty
/// pipe), or `Completed((Ok(n), buf))` if bytes were read first: they are in the
/// buffer, not lost. A read of a regular file is usually already under way in the
/// block layer, and then completes rather than cancels. If the token is dropped, the
/// ring keeps the buffer until the kernel's completion, then frees it.
///
/// # References
///
/// `io_uring_prep_read(3)`, `pread(2)`, `read(2)`.
#[doc(alias = "io_uring_prep_read")]
pub struct Read<B: IoBufMut> {
    fd: SharedFd,
    buf: B,
    offset: u64,
    /// Where the entry points the kernel: set by `sqe`, recorded by `complete`.
    spare: Option<Spare>,
}

impl<B: IoBufMut> Read<B> {
    /// Reads into `buf` at `offset` (`u64::MAX`: the current position).
    pub(crate) fn prepare(ring: &Ring, fd: &SharedFd, buf: B, offset: u64) -> Prepared<Read<B>> {
        Prepared::new(
            ring.inner().clone(),
            Read {
                fd: fd.clone(),
                buf,
                offset,
                spare: None,
            },
        )
    }
}

impl<B: IoBufMut> fmt::Debug for Read<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Read")
            .field("fd", &self.fd)
            .field("len", &self.buf.bytes_init())
            .field("capacity", &self.buf.bytes_total())
            .field("offset", &self.offset)
            .finish()
    }
}

impl<B: IoBufMut> Sealed for Read<B> {}

impl<B: IoBufMut> OpKind for Read<B> {
    type Output = (io::Result<usize>, B);
    type Residue = B;
    const NAME: &'static str = "Read";
    const OPCODE: u8 = opcode::Read::CODE;

    fn check(&self) -> io::Result<()> {
        crate::buf::check_spare(&self.buf, Self::NAME)
    }

    #[inline]
    fn sqe(&mut self) -> squeue::Entry {
        let spare = *self.spare.insert(Spare::of(&mut self.buf));
        opcode::Read::new(types::Fd(self.fd.raw()), spare.ptr, spare.len as u32)
            .offset(self.offset)
            .build()
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
