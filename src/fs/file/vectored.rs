//! `File`'s vectored reads and writes: several owned buffers in one op.

use crate::buf::{IoBuf, IoBufMut};
use crate::op::{Prepared, Readv, Writev};

use super::{File, CURRENT_POSITION};

impl File {
    /// Describes a vectored read at `offset` into `bufs`, filling each one's spare
    /// capacity in turn, after its initialised bytes, and leaving the file's
    /// position alone.
    ///
    /// On a descriptor that cannot seek (a pipe) the offset means nothing: use
    /// [`read_vectored`](File::read_vectored) there.
    ///
    /// # Errors
    ///
    /// `InvalidInput` at once for no buffers, no spare capacity in any, or more than
    /// 1024 of them (see [`Readv`]); otherwise from the op's completion, with the
    /// buffers.
    ///
    /// # Cancellation
    ///
    /// See [`Readv`]: a cancel never loses bytes that were read.
    ///
    /// # References
    ///
    /// `io_uring_prep_readv(3)`, `preadv(2)`.
    pub fn read_vectored_at<B: IoBufMut>(&self, bufs: Vec<B>, offset: u64) -> Prepared<Readv<B>> {
        Readv::prepare(&self.ring, &self.fd, bufs, offset)
    }

    /// Describes a vectored read at the file's current position, which it advances,
    /// into `bufs`, filling each one's spare capacity in turn.
    ///
    /// # Errors
    ///
    /// As [`read_vectored_at`](File::read_vectored_at).
    ///
    /// # Cancellation
    ///
    /// See [`Readv`]: a cancel never loses bytes that were read.
    ///
    /// # References
    ///
    /// `io_uring_prep_readv(3)` with offset `-1`, `readv(2)`.
    pub fn read_vectored<B: IoBufMut>(&self, bufs: Vec<B>) -> Prepared<Readv<B>> {
        Readv::prepare(&self.ring, &self.fd, bufs, CURRENT_POSITION)
    }

    /// Describes a vectored write of the initialised bytes of `bufs`, one after
    /// another, at `offset`, leaving the file's position alone. The kernel may take
    /// fewer bytes than offered.
    ///
    /// # Errors
    ///
    /// `InvalidInput` at once for more than 1024 buffers (see [`Writev`]); otherwise
    /// from the op's completion, with the buffers.
    ///
    /// # Cancellation
    ///
    /// See [`Writev`].
    ///
    /// # References
    ///
    /// `io_uring_prep_writev(3)`, `pwritev(2)`.
    pub fn write_vectored_at<B: IoBuf>(&self, bufs: Vec<B>, offset: u64) -> Prepared<Writev<B>> {
        Writev::prepare(&self.ring, &self.fd, bufs, offset)
    }

    /// Describes a vectored write of the initialised bytes of `bufs`, one after
    /// another, at the file's current position, which it advances.
    ///
    /// # Errors
    ///
    /// As [`write_vectored_at`](File::write_vectored_at).
    ///
    /// # Cancellation
    ///
    /// See [`Writev`].
    ///
    /// # References
    ///
    /// `io_uring_prep_writev(3)` with offset `-1`, `writev(2)`.
    pub fn write_vectored<B: IoBuf>(&self, bufs: Vec<B>) -> Prepared<Writev<B>> {
        Writev::prepare(&self.ring, &self.fd, bufs, CURRENT_POSITION)
    }
}
