//! `IORING_OP_FALLOCATE`: allocate disk space for a range of a file.

use std::fmt;
use std::io;

use io_uring::{opcode, squeue, types};

use super::{Completion, OpKind, Prepared, Sealed};
use crate::fd::SharedFd;
use crate::fs::check_file_offset;
use crate::Ring;

/// Allocates disk space for `len` bytes of a file from `offset`, as `fallocate(2)`
/// with mode 0: later writes to the range cannot fail for lack of space, and the file
/// grows to `offset + len` if it was shorter (the new bytes read as zeroes).
///
/// Built by [`File::allocate`](crate::fs::File::allocate).
///
/// # Errors
///
/// An offset or length past `i64::MAX` (the largest file offset) fails at once with
/// `InvalidInput`, before the op reaches the kernel. Otherwise the kernel's errno:
/// `EINVAL` (a length of 0), `EFBIG` (`offset + len` past the largest file the file
/// system allows), `ENOSPC`, `EOPNOTSUPP` (a file system without `fallocate`),
/// `EBADF` (not open for writing), `ESPIPE` (a pipe)...
///
/// # Cancellation
///
/// The kernel hands the op to one of its workers, which runs it to the end: a
/// `cancel()` that reaches the op while it is still queued gives `Cancelled(())` (the
/// file is unchanged); once it runs, `cancel()` reports `Completed` with its result.
///
/// # References
///
/// `io_uring_prep_fallocate(3)`, `fallocate(2)`.
#[doc(alias = "io_uring_prep_fallocate")]
pub struct Fallocate {
    fd: SharedFd,
    offset: u64,
    len: u64,
    mode: libc::c_int,
}

impl Fallocate {
    /// Allocates `offset..offset + len` of `fd` with `fallocate(2)`'s `mode`.
    pub(crate) fn prepare(
        ring: &Ring,
        fd: &SharedFd,
        offset: u64,
        len: u64,
        mode: libc::c_int,
    ) -> Prepared<Fallocate> {
        Prepared::new(
            ring.inner().clone(),
            Fallocate {
                fd: fd.clone(),
                offset,
                len,
                mode,
            },
        )
    }
}

impl fmt::Debug for Fallocate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Fallocate")
            .field("fd", &self.fd)
            .field("offset", &self.offset)
            .field("len", &self.len)
            .field("mode", &self.mode)
            .finish()
    }
}

impl Sealed for Fallocate {}

impl OpKind for Fallocate {
    type Output = io::Result<()>;
    type Residue = ();
    const NAME: &'static str = "Fallocate";
    const OPCODE: u8 = opcode::Fallocate::CODE;

    fn check(&self) -> io::Result<()> {
        check_file_offset(Self::NAME, "offset", self.offset)?;
        check_file_offset(Self::NAME, "length", self.len)
    }

    #[inline]
    fn sqe(&mut self) -> squeue::Entry {
        opcode::Fallocate::new(types::Fd(self.fd.raw()), self.len)
            .offset(self.offset)
            .mode(self.mode)
            .build()
    }

    #[inline]
    fn complete(self, completion: Completion) -> io::Result<()> {
        completion.result.map(drop)
    }

    fn residue(self) {}
}
