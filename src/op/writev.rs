//! `IORING_OP_WRITEV`: write several owned buffers to any descriptor, in order.

use std::fmt;
use std::io;

use io_uring::{opcode, squeue, types};

use super::{Completion, OpKind, Prepared, Sealed};
use crate::buf::IoBuf;
use crate::fd::SharedFd;
use crate::Ring;

/// Writes the initialised bytes of a vector of buffers, one after another, to a
/// descriptor (a regular file, a pipe, a socket): a vectored write, as `pwritev(2)`
/// does.
///
/// Built by [`File::write_vectored`](crate::fs::File::write_vectored),
/// [`File::write_vectored_at`](crate::fs::File::write_vectored_at) and
/// `write_vectored` on the streams and their write halves. The offset is where in
/// the file the write lands; `u64::MAX` (io_uring's `-1`) means the current
/// position, which the write then advances (the only offset for a pipe or a socket).
///
/// The output is `(io::Result<usize>, Vec<B>)`: how many bytes the kernel took, in
/// total (possibly fewer than offered: the first buffers then went whole and one in
/// part), and the buffers, in their order, which come back after an error too. An
/// empty vector writes nothing and completes with `Ok(0)`.
///
/// As `writev(2)`, a write to a pipe or a socket whose reading end is gone fails
/// with `EPIPE`, and the kernel also raises `SIGPIPE` (a socket [`send`] sets
/// `MSG_NOSIGNAL`; this cannot); Rust programs ignore `SIGPIPE` unless they opt out.
///
/// [`send`]: crate::net::TcpStream::send
///
/// # Errors
///
/// `InvalidInput` at once, with the buffers back, for more than 1024 buffers
/// (`IOV_MAX`). Otherwise the kernel's errno.
///
/// # Cancellation
///
/// `cancel()` gives `Cancelled(bufs)` if nothing was written (a write waiting on a
/// full pipe), or `Completed((Ok(n), bufs))` if the kernel took `n` bytes first. If
/// the token is dropped, the ring keeps the buffers and the `iovec` array until the
/// kernel is done with them.
///
/// # References
///
/// `io_uring_prep_writev(3)`, `pwritev(2)`, `writev(2)`.
#[doc(alias = "io_uring_prep_writev")]
#[doc(alias = "writev")]
#[doc(alias = "pwritev")]
pub struct Writev<B: IoBuf> {
    fd: SharedFd,
    bufs: Vec<B>,
    offset: u64,
    /// The array the entry points the kernel at, one `iovec` per buffer's
    /// initialised bytes. Built by `sqe` at the op's final heap address; its heap
    /// memory stays put, and is the op's, until the final completion.
    iovecs: Vec<libc::iovec>,
}

impl<B: IoBuf> Writev<B> {
    /// Writes `bufs` at `offset` (`u64::MAX`: the current position).
    pub(crate) fn prepare(
        ring: &Ring,
        fd: &SharedFd,
        bufs: Vec<B>,
        offset: u64,
    ) -> Prepared<Writev<B>> {
        Prepared::new(
            ring.inner().clone(),
            Writev {
                fd: fd.clone(),
                bufs,
                offset,
                iovecs: Vec::new(),
            },
        )
    }
}

impl<B: IoBuf> fmt::Debug for Writev<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Writev")
            .field("fd", &self.fd)
            .field("buffers", &self.bufs.len())
            .field("offset", &self.offset)
            .finish_non_exhaustive()
    }
}

impl<B: IoBuf> Sealed for Writev<B> {}

impl<B: IoBuf> OpKind for Writev<B> {
    type Output = (io::Result<usize>, Vec<B>);
    type Residue = Vec<B>;
    const NAME: &'static str = "Writev";
    const OPCODE: u8 = opcode::Writev::CODE;

    fn check(&self) -> io::Result<()> {
        crate::buf::check_iovecs(self.bufs.len(), Self::NAME)
    }

    #[inline]
    fn sqe(&mut self) -> squeue::Entry {
        // The kernel only reads through these pointers, so casting each buffer's
        // `*const` to the iovec's `*mut` is sound.
        self.iovecs = self
            .bufs
            .iter()
            .map(|buf| libc::iovec {
                iov_base: buf.stable_ptr().cast_mut().cast(),
                iov_len: buf.bytes_init().min(crate::buf::MAX_IO_LEN),
            })
            .collect();
        // At most `MAX_IOVECS` entries: `check` refused more.
        let count = self.iovecs.len() as u32;
        opcode::Writev::new(types::Fd(self.fd.raw()), self.iovecs.as_ptr(), count)
            .offset(self.offset)
            .build()
    }

    #[inline]
    fn complete(self, completion: Completion) -> Self::Output {
        (completion.result.map(|n| n as usize), self.bufs)
    }

    fn residue(self) -> Vec<B> {
        self.bufs
    }
}
