//! `IORING_OP_MADVISE`: tell the kernel how an owned buffer's memory will be used.

use std::fmt;
use std::io;

use io_uring::{opcode, squeue};

use super::{Completion, OpKind, Prepared, Sealed};
use crate::buf::IoBuf;
use crate::Ring;

/// Advises the kernel about the memory of an owned buffer (read it in, page it out,
/// back it with huge pages, ...): `madvise(2)` on the whole pages of the buffer.
///
/// Built by [`Madvise::new`]. The op owns the buffer until its final completion, so
/// the memory it advises is never freed or reused under it, and gives it back with
/// the result: `(io::Result<()>, B)`.
///
/// `madvise(2)` works on whole pages, and the memory around a buffer may belong to
/// other values, so the op advises only the pages that lie entirely inside the
/// buffer's allocation (`bytes_total()` bytes from its start): a buffer of a few
/// pages loses its first and last partial pages, and a page-aligned one is advised
/// whole (up to 4 GiB: io_uring's entry carries a 32-bit length). Only advice that never changes the bytes is offered ([`MemoryAdvice`]):
/// `MADV_DONTNEED`, `MADV_FREE`, `MADV_REMOVE` and the like would zero or discard
/// memory that the buffer promises holds what was written to it.
///
/// # Errors
///
/// `InvalidInput` at once, with the buffer back, if the buffer holds no whole page.
/// From the kernel: `EINVAL` for advice it does not support (huge pages compiled
/// out), `ENOMEM`, `EAGAIN`.
///
/// # Cancellation
///
/// The kernel applies the advice in a worker thread and does not wait for I/O:
/// `cancel()` nearly always reports `Completed((result, buf))`; `Cancelled(buf)`
/// means the advice was not applied. If the token is dropped, the ring keeps the
/// buffer until the kernel's completion, then frees it.
///
/// # Examples
///
/// ```
/// use linear_uring::{op::{Madvise, MemoryAdvice}, Ring};
///
/// let ring = Ring::new()?;
/// let buf = vec![7u8; 1 << 20];
/// let (advised, buf) = ring.block_on(Madvise::new(&ring, buf, MemoryAdvice::WillNeed).submit().complete());
/// advised?;
/// assert!(buf.iter().all(|&b| b == 7), "advice never changes the bytes");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # References
///
/// `io_uring_prep_madvise(3)`, `madvise(2)`.
#[doc(alias = "io_uring_prep_madvise")]
#[doc(alias = "madvise")]
pub struct Madvise<B: IoBuf> {
    buf: B,
    advice: MemoryAdvice,
}

impl<B: IoBuf> Madvise<B> {
    /// Describes advice about `buf`'s memory, on `ring`.
    #[allow(clippy::new_ret_no_self)]
    pub fn new(ring: &Ring, buf: B, advice: MemoryAdvice) -> Prepared<Madvise<B>> {
        Prepared::new(ring.inner().clone(), Madvise { buf, advice })
    }

    /// The whole pages inside the buffer: their start and length, which is 0 if
    /// there are none.
    fn pages(&self) -> (usize, usize) {
        let page = page_size();
        let start = self.buf.stable_ptr() as usize;
        let end = start.saturating_add(self.buf.bytes_total());
        let first = start.next_multiple_of(page);
        let last = end - end % page;
        (first, last.saturating_sub(first))
    }
}

/// The size of a memory page.
fn page_size() -> usize {
    // SAFETY: sysconf(3) reads a constant of the system; it takes no pointers.
    let size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    usize::try_from(size)
        .ok()
        .filter(|&size| size > 0)
        .unwrap_or(4096)
}

impl<B: IoBuf> fmt::Debug for Madvise<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Madvise")
            .field("len", &self.buf.bytes_total())
            .field("advice", &self.advice)
            .finish()
    }
}

impl<B: IoBuf> Sealed for Madvise<B> {}

impl<B: IoBuf> OpKind for Madvise<B> {
    type Output = (io::Result<()>, B);
    type Residue = B;
    const NAME: &'static str = "Madvise";
    const OPCODE: u8 = opcode::Madvise::CODE;

    fn check(&self) -> io::Result<()> {
        if self.pages().1 > 0 {
            return Ok(());
        }
        Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "Madvise: the buffer ({} bytes) holds no whole page of {} bytes, and \
                 madvise works on whole pages; advise a buffer of at least two pages, \
                 or a page-aligned one",
                self.buf.bytes_total(),
                page_size()
            ),
        ))
    }

    #[inline]
    fn sqe(&mut self) -> squeue::Entry {
        let (start, len) = self.pages();
        // The address is only used by the kernel, on pages inside the buffer, which
        // the op owns until the final completion. io_uring's entry carries a 32-bit
        // length: past it, the last pages go unadvised (whole pages still, so that
        // the kernel never rounds up past the buffer).
        let most = u32::MAX as usize;
        let len = len.min(most - most % page_size());
        opcode::Madvise::new(
            start as *const libc::c_void,
            len as libc::off_t,
            self.advice.raw(),
        )
        .build()
    }

    #[inline]
    fn complete(self, completion: Completion) -> Self::Output {
        (completion.result.map(drop), self.buf)
    }

    fn residue(self) -> B {
        self.buf
    }
}

/// How a buffer's memory will be used: the advice of a [`Madvise`] (`MADV_*`).
///
/// Only advice that leaves the bytes as they are: see [`Madvise`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum MemoryAdvice {
    /// No particular pattern: the default (`MADV_NORMAL`).
    Normal,
    /// Accessed in random order: read ahead less (`MADV_RANDOM`).
    Random,
    /// Accessed in order: read ahead more, free pages once used
    /// (`MADV_SEQUENTIAL`).
    Sequential,
    /// Needed soon: read swapped-out pages back in now (`MADV_WILLNEED`).
    WillNeed,
    /// Not needed soon: make the pages the first to reclaim (`MADV_COLD`, Linux
    /// 5.4).
    Cold,
    /// Not needed soon: reclaim the pages now, swapping them out (`MADV_PAGEOUT`,
    /// Linux 5.4). They are read back in on the next access.
    PageOut,
    /// Back the memory with transparent huge pages (`MADV_HUGEPAGE`).
    HugePage,
    /// Do not back the memory with transparent huge pages (`MADV_NOHUGEPAGE`).
    NoHugePage,
    /// Leave the memory out of core dumps (`MADV_DONTDUMP`).
    DontDump,
    /// Put the memory back into core dumps (`MADV_DODUMP`).
    DoDump,
}

impl MemoryAdvice {
    fn raw(self) -> i32 {
        match self {
            MemoryAdvice::Normal => libc::MADV_NORMAL,
            MemoryAdvice::Random => libc::MADV_RANDOM,
            MemoryAdvice::Sequential => libc::MADV_SEQUENTIAL,
            MemoryAdvice::WillNeed => libc::MADV_WILLNEED,
            MemoryAdvice::Cold => libc::MADV_COLD,
            MemoryAdvice::PageOut => libc::MADV_PAGEOUT,
            MemoryAdvice::HugePage => libc::MADV_HUGEPAGE,
            MemoryAdvice::NoHugePage => libc::MADV_NOHUGEPAGE,
            MemoryAdvice::DontDump => libc::MADV_DONTDUMP,
            MemoryAdvice::DoDump => libc::MADV_DODUMP,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn madvise_pages_are_the_whole_pages_inside_the_buffer() {
        let page = page_size();
        let buf: Vec<u8> = Vec::with_capacity(3 * page);
        let op = Madvise {
            buf,
            advice: MemoryAdvice::Normal,
        };
        let (start, len) = op.pages();
        let base = op.buf.as_ptr() as usize;
        assert_eq!(start % page, 0);
        assert!(start >= base);
        assert!(start + len <= base + 3 * page);
        assert!(len >= 2 * page, "{len}");
    }

    #[test]
    fn madvise_small_buffer_has_no_whole_page() {
        let op = Madvise {
            buf: Vec::<u8>::with_capacity(16),
            advice: MemoryAdvice::Normal,
        };
        assert_eq!(op.pages().1, 0);
        let err = op.check().unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
    }
}
