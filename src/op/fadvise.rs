//! `IORING_OP_FADVISE`: tell the kernel how a file's data will be used.

use std::fmt;
use std::io;

use io_uring::{opcode, squeue, types};

use super::{Completion, OpKind, Prepared, Sealed};
use crate::fd::SharedFd;
use crate::Ring;

/// Announces how a range of a file will be accessed, so that the kernel can read
/// ahead, or drop cached pages early: `posix_fadvise(2)`.
///
/// Built by [`File::fadvise`](crate::fs::File::fadvise). Advice is a hint: it never
/// changes what a read returns. The range is `len` bytes from `offset`; a `len` of 0
/// means "to the end of the file".
///
/// # Errors
///
/// `InvalidInput` at once for a `len` of 4 GiB or more (io_uring's entry carries a
/// 32-bit length: advise such a range in parts, or with `len` 0 to the end of the
/// file), or an `offset` past `i64::MAX`. From the kernel: `ESPIPE` on a pipe (on
/// a socket, the advice does nothing and succeeds).
///
/// # Cancellation
///
/// The kernel acts on the advice at once, or in a worker thread for the advice that
/// reads ahead or drops pages, and does not wait for I/O: `cancel()` nearly always
/// reports `Completed(result)`, and `Cancelled(())` means the advice was not
/// applied. Nothing is held but the descriptor, kept open until the completion.
///
/// # References
///
/// `io_uring_prep_fadvise(3)`, `posix_fadvise(2)`.
#[doc(alias = "io_uring_prep_fadvise")]
#[doc(alias = "posix_fadvise")]
#[doc(alias = "fadvise")]
pub struct Fadvise {
    fd: SharedFd,
    offset: u64,
    len: u64,
    advice: FileAdvice,
}

impl Fadvise {
    pub(crate) fn prepare(
        ring: &Ring,
        fd: &SharedFd,
        offset: u64,
        len: u64,
        advice: FileAdvice,
    ) -> Prepared<Fadvise> {
        Prepared::new(
            ring.inner().clone(),
            Fadvise {
                fd: fd.clone(),
                offset,
                len,
                advice,
            },
        )
    }
}

impl fmt::Debug for Fadvise {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Fadvise")
            .field("fd", &self.fd)
            .field("offset", &self.offset)
            .field("len", &self.len)
            .field("advice", &self.advice)
            .finish()
    }
}

impl Sealed for Fadvise {}

impl OpKind for Fadvise {
    type Output = io::Result<()>;
    type Residue = ();
    const NAME: &'static str = "Fadvise";
    const OPCODE: u8 = opcode::Fadvise::CODE;

    fn check(&self) -> io::Result<()> {
        if u32::try_from(self.len).is_err() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "Fadvise: a length of {} bytes does not fit io_uring's 32-bit length; \
                     advise the range in parts, or pass 0 for \"to the end of the file\"",
                    self.len
                ),
            ));
        }
        if i64::try_from(self.offset).is_err() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("Fadvise: the offset {} is past i64::MAX", self.offset),
            ));
        }
        Ok(())
    }

    #[inline]
    fn sqe(&mut self) -> squeue::Entry {
        // `check` kept `len` within 32 bits, what the entry carries.
        opcode::Fadvise::new(
            types::Fd(self.fd.raw()),
            self.len as libc::off_t,
            self.advice.raw(),
        )
        .offset(self.offset)
        .build()
    }

    #[inline]
    fn complete(self, completion: Completion) -> io::Result<()> {
        completion.result.map(drop)
    }

    fn residue(self) {}
}

/// How a file's data will be accessed: the advice of a [`Fadvise`]
/// (`POSIX_FADV_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum FileAdvice {
    /// No particular pattern: the default (`POSIX_FADV_NORMAL`).
    Normal,
    /// Read in order, from lower offsets to higher: read ahead more
    /// (`POSIX_FADV_SEQUENTIAL`).
    Sequential,
    /// Read in no particular order: do not read ahead (`POSIX_FADV_RANDOM`).
    Random,
    /// Read once only (`POSIX_FADV_NOREUSE`).
    NoReuse,
    /// Needed soon: start reading it into the page cache now
    /// (`POSIX_FADV_WILLNEED`).
    WillNeed,
    /// Not needed soon: drop its clean pages from the page cache
    /// (`POSIX_FADV_DONTNEED`). The file's data is untouched; dirty pages are kept
    /// until written back.
    DontNeed,
}

impl FileAdvice {
    fn raw(self) -> i32 {
        match self {
            FileAdvice::Normal => libc::POSIX_FADV_NORMAL,
            FileAdvice::Sequential => libc::POSIX_FADV_SEQUENTIAL,
            FileAdvice::Random => libc::POSIX_FADV_RANDOM,
            FileAdvice::NoReuse => libc::POSIX_FADV_NOREUSE,
            FileAdvice::WillNeed => libc::POSIX_FADV_WILLNEED,
            FileAdvice::DontNeed => libc::POSIX_FADV_DONTNEED,
        }
    }
}
