//! `IORING_OP_READV`: read from any descriptor into several owned buffers, in order.

use std::fmt;
use std::io;

use io_uring::{opcode, squeue, types};

use super::{Completion, OpKind, Prepared, Sealed};
use crate::buf::{IoBufMut, Spare};
use crate::fd::SharedFd;
use crate::Ring;

/// Reads from a descriptor (a regular file, a pipe, a socket) into a vector of
/// buffers, filling each one's spare capacity in turn: a vectored read, as
/// `preadv(2)` does.
///
/// Built by [`File::read_vectored`](crate::fs::File::read_vectored),
/// [`File::read_vectored_at`](crate::fs::File::read_vectored_at) and
/// `read_vectored` on the streams and their read halves. The offset is where in the
/// file the read starts; `u64::MAX` (io_uring's `-1`) means the current position,
/// which the read then advances (the only offset for a pipe or a socket).
///
/// Each buffer follows [the buffer contract](crate::buf#the-buffer-contract): the
/// kernel fills the spare capacity after its initialised bytes, never touching
/// those, and its initialised length grows by what it got. The buffers are filled in
/// order: the second gets bytes only once the first is full, so after a read of `n`
/// bytes the first buffers are full and one is partly filled. A buffer with no spare
/// capacity among others is skipped. The output is `(io::Result<usize>, Vec<B>)`:
/// the total byte count (0 only at end of file) and the buffers, in their order. The
/// buffers come back after an error too.
///
/// # Errors
///
/// At once, before the read reaches the kernel, with the buffers back:
/// `InvalidInput` for an empty vector, for buffers none of which has spare capacity
/// (so that `Ok(0)` always means end of file; a vector of
/// [`buf::Empty`](crate::buf::Empty) asks for a 0-byte read on purpose), and for more
/// than 1024 buffers (`IOV_MAX`). Otherwise the kernel's errno.
///
/// # Cancellation
///
/// `cancel()` gives `Cancelled(bufs)` if nothing was read (a read waiting on an
/// empty pipe or a quiet socket), or `Completed((Ok(n), bufs))` if bytes were read
/// first: they are in the buffers, not lost. If the token is dropped, the ring keeps
/// the buffers and the `iovec` array the kernel reads until the final completion,
/// then frees them.
///
/// # References
///
/// `io_uring_prep_readv(3)`, `preadv(2)`, `readv(2)`.
#[doc(alias = "io_uring_prep_readv")]
#[doc(alias = "readv")]
#[doc(alias = "preadv")]
pub struct Readv<B: IoBufMut> {
    fd: SharedFd,
    bufs: Vec<B>,
    offset: u64,
    /// The array the entry points the kernel at, one `iovec` per buffer's spare
    /// capacity. Built by `sqe` at the op's final heap address; its heap memory stays
    /// put, and is the op's, until the final completion.
    iovecs: Vec<libc::iovec>,
    /// Each buffer's spare capacity as the entry describes it, recorded by
    /// `complete`.
    spares: Vec<Spare>,
}

impl<B: IoBufMut> Readv<B> {
    /// Reads into `bufs` at `offset` (`u64::MAX`: the current position).
    pub(crate) fn prepare(
        ring: &Ring,
        fd: &SharedFd,
        bufs: Vec<B>,
        offset: u64,
    ) -> Prepared<Readv<B>> {
        Prepared::new(
            ring.inner().clone(),
            Readv {
                fd: fd.clone(),
                bufs,
                offset,
                iovecs: Vec::new(),
                spares: Vec::new(),
            },
        )
    }
}

impl<B: IoBufMut> fmt::Debug for Readv<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Readv")
            .field("fd", &self.fd)
            .field("buffers", &self.bufs.len())
            .field("offset", &self.offset)
            .finish_non_exhaustive()
    }
}

impl<B: IoBufMut> Sealed for Readv<B> {}

impl<B: IoBufMut> OpKind for Readv<B> {
    type Output = (io::Result<usize>, Vec<B>);
    type Residue = Vec<B>;
    const NAME: &'static str = "Readv";
    const OPCODE: u8 = opcode::Readv::CODE;

    fn check(&self) -> io::Result<()> {
        crate::buf::check_iovecs(self.bufs.len(), Self::NAME)?;
        crate::buf::check_spare_vectored(&self.bufs, Self::NAME)
    }

    #[inline]
    fn sqe(&mut self) -> squeue::Entry {
        // Asked once per buffer: the buffers' methods are user code, and what the
        // completion records must be what the kernel was told.
        self.spares = self.bufs.iter_mut().map(Spare::of).collect();
        self.iovecs = self
            .spares
            .iter()
            .map(|spare| libc::iovec {
                iov_base: spare.ptr.cast(),
                iov_len: spare.len,
            })
            .collect();
        // At most `MAX_IOVECS` entries: `check` refused more.
        let count = self.iovecs.len() as u32;
        opcode::Readv::new(types::Fd(self.fd.raw()), self.iovecs.as_ptr(), count)
            .offset(self.offset)
            .build()
    }

    fn complete(mut self, completion: Completion) -> Self::Output {
        let result = completion.result.map(|n| {
            // The kernel fills the iovecs in order: the first `n` bytes of their
            // concatenation.
            let mut left = n as usize;
            for (buf, spare) in self.bufs.iter_mut().zip(&self.spares) {
                let got = left.min(spare.len);
                // SAFETY: the kernel wrote the first `got` bytes of this buffer's
                // iovec, which starts right after its `init` initialised bytes and
                // spans `len` bytes, with `init + len <= bytes_total()`; `got <= len`.
                unsafe { buf.set_init(spare.filled(got)) };
                left -= got;
            }
            n as usize - left
        });
        (result, self.bufs)
    }

    fn residue(self) -> Vec<B> {
        self.bufs
    }
}
