//! `IORING_OP_FSYNC`: flush a file's data (and metadata) to its storage device.

use std::fmt;
use std::io;

use io_uring::{opcode, squeue, types};

use super::{Completion, OpKind, Prepared, Sealed};
use crate::fd::SharedFd;
use crate::Ring;

/// Flushes a file to its storage device: its data and all its metadata, as
/// `fsync(2)`, or its data and only the metadata needed to read it back (the size,
/// not the times), as `fdatasync(2)`.
///
/// Built by [`File::sync_all`](crate::fs::File::sync_all) and
/// [`File::sync_data`](crate::fs::File::sync_data).
///
/// # Errors
///
/// The kernel's errno: `EIO` (a write-back failed), `EINVAL` (a pipe, a socket, a
/// file that cannot be synced), `EROFS`, `ENOSPC`...
///
/// # Cancellation
///
/// The kernel hands the op to one of its workers, which runs it to the end: a
/// `cancel()` that reaches the op while it is still queued gives `Cancelled(())` (and
/// nothing was flushed on its behalf); once the flush runs it is not interrupted, and
/// `cancel()` reports `Completed` with its result.
///
/// # References
///
/// `io_uring_prep_fsync(3)`, `fsync(2)`, `fdatasync(2)`.
#[doc(alias = "io_uring_prep_fsync")]
pub struct Fsync {
    fd: SharedFd,
    data_only: bool,
}

impl Fsync {
    /// Flushes `fd`'s data, and all its metadata unless `data_only`.
    pub(crate) fn prepare(ring: &Ring, fd: &SharedFd, data_only: bool) -> Prepared<Fsync> {
        Prepared::new(
            ring.inner().clone(),
            Fsync {
                fd: fd.clone(),
                data_only,
            },
        )
    }
}

impl fmt::Debug for Fsync {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Fsync")
            .field("fd", &self.fd)
            .field("data_only", &self.data_only)
            .finish()
    }
}

impl Sealed for Fsync {}

impl OpKind for Fsync {
    type Output = io::Result<()>;
    type Residue = ();
    const NAME: &'static str = "Fsync";
    const OPCODE: u8 = opcode::Fsync::CODE;

    #[inline]
    fn sqe(&mut self) -> squeue::Entry {
        let flags = if self.data_only {
            types::FsyncFlags::DATASYNC
        } else {
            types::FsyncFlags::empty()
        };
        opcode::Fsync::new(types::Fd(self.fd.raw()))
            .flags(flags)
            .build()
    }

    #[inline]
    fn complete(self, completion: Completion) -> io::Result<()> {
        completion.result.map(drop)
    }

    fn residue(self) {}
}
