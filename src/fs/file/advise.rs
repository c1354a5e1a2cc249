//! `File`'s access-pattern advice.

use crate::op::{Fadvise, FileAdvice, Prepared};

use super::File;

impl File {
    /// Describes advice about how `len` bytes of the file from `offset` will be
    /// accessed (`len` 0: to the end of the file), so that the kernel can read ahead
    /// or drop cached pages: `posix_fadvise(2)`.
    ///
    /// # Errors
    ///
    /// `InvalidInput` at once for a `len` of 4 GiB or more (see [`Fadvise`]); from
    /// the op's completion, `ESPIPE` on a pipe.
    ///
    /// # Cancellation
    ///
    /// See [`Fadvise`]: it nearly always completes.
    ///
    /// # References
    ///
    /// `io_uring_prep_fadvise(3)`, `posix_fadvise(2)`.
    pub fn fadvise(&self, offset: u64, len: u64, advice: FileAdvice) -> Prepared<Fadvise> {
        Fadvise::prepare(&self.ring, &self.fd, offset, len, advice)
    }
}
