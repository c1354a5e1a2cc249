//! `IORING_OP_READ`: read from any descriptor, at an offset, into an owned buffer.

use std::fmt;
use std::io;

use io_uring::{opcode, squeue, types};

use super::{Completion, OpKind, Prepared, Sealed};
use crate::buf::IoBufMut;
use crate::fd::SharedFd;
use crate::Ring;

/// Reads up to the buffer's capacity from a descriptor (a regular file, a pipe, a
/// character device, a socket), writing from the start of the buffer.
///
/// Built by [`File::read_at`](crate::fs::File::read_at) and
/// [`File::read`](crate::fs::File::read). The offset is where in the file the read
/// starts; `u64::MAX` (io_uring's `-1`) means the file's current position, which the
/// read then advances, as `read(2)` does. Descriptors that cannot seek (pipes,
/// sockets) must be given the current position or `0`: the kernel rejects other
/// offsets with `ESPIPE` on a socket and ignores them on a pipe.
///
/// The output is `(io::Result<usize>, B)`: the byte count (0 at end of file, or for a
/// buffer with no capacity) and the buffer, whose initialised length now covers the
/// bytes read. The buffer comes back after an error too.
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
            },
        )
    }
}

impl<B: IoBufMut> fmt::Debug for Read<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Read")
            .field("fd", &self.fd)
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

    fn sqe(&mut self) -> squeue::Entry {
        let len = crate::buf::io_len(self.buf.bytes_total());
        opcode::Read::new(types::Fd(self.fd.raw()), self.buf.stable_mut_ptr(), len)
            .offset(self.offset)
            .build()
    }

    fn complete(mut self, completion: Completion) -> Self::Output {
        let result = completion.result.map(|n| {
            // SAFETY: the kernel wrote `n` bytes from the start of the buffer, and
            // never more than the length the entry gave it, at most `bytes_total()`.
            unsafe { self.buf.set_init(n as usize) };
            n as usize
        });
        (result, self.buf)
    }

    fn residue(self) -> B {
        self.buf
    }
}
