//! `IORING_OP_WRITE`: write an owned buffer to any descriptor, at an offset.

use std::fmt;
use std::io;

use io_uring::{opcode, squeue, types};

use super::{Completion, OpKind, Prepared, Sealed};
use crate::buf::IoBuf;
use crate::fd::SharedFd;
use crate::Ring;

/// Writes the buffer's initialised bytes (from a start index) to a descriptor (a
/// regular file, a pipe, a character device, a socket).
///
/// Built by [`File::write_at`](crate::fs::File::write_at),
/// [`File::write`](crate::fs::File::write) and the `write_all` helpers. The offset is
/// where in the file the write lands; `u64::MAX` (io_uring's `-1`) means the file's
/// current position, which the write then advances, as `write(2)` does. Descriptors
/// that cannot seek (pipes, sockets) must be given the current position or `0`: the
/// kernel rejects other offsets with `ESPIPE` on a socket and ignores them on a pipe.
///
/// The output is `(io::Result<usize>, B)`: how many bytes the kernel took (possibly
/// fewer than offered) and the buffer, which comes back after an error too. To
/// continue a short write by hand, write [`buf.slice(n..)`](crate::IoBuf::slice),
/// which writes from byte `n` without copying.
///
/// A write to a pipe whose read end is closed fails with `EPIPE`, and the kernel also
/// raises `SIGPIPE`, as `write(2)` does; Rust programs ignore `SIGPIPE` unless they
/// opt out, so this is usually just the error.
///
/// # Cancellation
///
/// `cancel()` gives `Cancelled(buf)` if nothing was written (a write waiting on a
/// full pipe), or `Completed((Ok(n), buf))` if the kernel took `n` bytes first. A
/// write to a regular file is rarely cancellable and usually completes. If the token
/// is dropped, the ring keeps the buffer until the kernel is done reading it.
///
/// # References
///
/// `io_uring_prep_write(3)`, `pwrite(2)`, `write(2)`.
#[doc(alias = "io_uring_prep_write")]
pub struct Write<B: IoBuf> {
    fd: SharedFd,
    buf: B,
    /// Index of the first byte of `buf` to write.
    start: usize,
    /// File offset, or `u64::MAX` for the current position.
    offset: u64,
}

impl<B: IoBuf> Write<B> {
    /// Writes `buf[start..bytes_init()]` at `offset` (`u64::MAX`: the current
    /// position).
    pub(crate) fn prepare(
        ring: &Ring,
        fd: &SharedFd,
        buf: B,
        start: usize,
        offset: u64,
    ) -> Prepared<Write<B>> {
        Prepared::new(
            ring.inner().clone(),
            Write {
                fd: fd.clone(),
                buf,
                start,
                offset,
            },
        )
    }
}

impl<B: IoBuf> fmt::Debug for Write<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Write")
            .field("fd", &self.fd)
            .field("len", &self.buf.bytes_init())
            .field("start", &self.start)
            .field("offset", &self.offset)
            .finish()
    }
}

impl<B: IoBuf> Sealed for Write<B> {}

impl<B: IoBuf> OpKind for Write<B> {
    type Output = (io::Result<usize>, B);
    type Residue = B;
    const NAME: &'static str = "Write";
    const OPCODE: u8 = opcode::Write::CODE;

    #[inline]
    fn sqe(&mut self) -> squeue::Entry {
        let start = self.start.min(self.buf.bytes_init());
        let len = crate::buf::io_len(self.buf.bytes_init() - start);
        // `wrapping_add` keeps this safe code: the pointer is only dereferenced by the
        // kernel, within `bytes_init()` of the buffer's start.
        let ptr = self.buf.stable_ptr().wrapping_add(start);
        opcode::Write::new(types::Fd(self.fd.raw()), ptr, len)
            .offset(self.offset)
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
