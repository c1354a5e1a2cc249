//! `IORING_OP_FTRUNCATE`: set the length of a file.

use std::fmt;
use std::io;

use io_uring::{opcode, squeue, types};

use super::{Completion, OpKind, Prepared, Sealed};
use crate::fd::SharedFd;
use crate::fs::check_file_offset;
use crate::Ring;

/// Sets the length of a file, as `ftruncate(2)`: a shorter length drops the bytes
/// past it, a longer one adds bytes that read as zeroes (a hole, on most file
/// systems).
///
/// Built by [`File::set_len`](crate::fs::File::set_len). Requires Linux 6.9; on older
/// kernels the op fails with [`ErrorKind::Unsupported`](crate::ErrorKind::Unsupported)
/// (there is no silent fallback to a blocking `ftruncate(2)`).
///
/// # Errors
///
/// A length past `i64::MAX` (the largest file offset) fails at once with
/// `InvalidInput`, before the op reaches the kernel. Otherwise the kernel's errno:
/// `EFBIG` (past the largest file the file system allows), `EINVAL` (not open for
/// writing, or not a regular file), `EPERM` (an append-only or immutable file)...
///
/// # Cancellation
///
/// The kernel hands the op to one of its workers, which runs it to the end: a
/// `cancel()` that reaches the op while it is still queued gives `Cancelled(())` (the
/// length is unchanged); once it runs, `cancel()` reports `Completed` with its
/// result.
///
/// # References
///
/// `io_uring_prep_ftruncate(3)`, `ftruncate(2)`.
#[doc(alias = "io_uring_prep_ftruncate")]
pub struct Ftruncate {
    fd: SharedFd,
    len: u64,
}

impl Ftruncate {
    /// Sets `fd`'s length to `len`.
    pub(crate) fn prepare(ring: &Ring, fd: &SharedFd, len: u64) -> Prepared<Ftruncate> {
        Prepared::new(
            ring.inner().clone(),
            Ftruncate {
                fd: fd.clone(),
                len,
            },
        )
    }
}

impl fmt::Debug for Ftruncate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ftruncate")
            .field("fd", &self.fd)
            .field("len", &self.len)
            .finish()
    }
}

impl Sealed for Ftruncate {}

impl OpKind for Ftruncate {
    type Output = io::Result<()>;
    type Residue = ();
    const NAME: &'static str = "Ftruncate";
    const OPCODE: u8 = opcode::Ftruncate::CODE;

    fn check(&self) -> io::Result<()> {
        check_file_offset(Self::NAME, "length", self.len)
    }

    #[inline]
    fn sqe(&mut self) -> squeue::Entry {
        opcode::Ftruncate::new(types::Fd(self.fd.raw()), self.len).build()
    }

    #[inline]
    fn complete(self, completion: Completion) -> io::Result<()> {
        completion.result.map(drop)
    }

    fn residue(self) {}
}
