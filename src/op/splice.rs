//! `IORING_OP_SPLICE`: move bytes between two descriptors, one of them a pipe,
//! without copying them through user memory.

use std::fmt;
use std::io;

use io_uring::{opcode, squeue, types};

use super::{Completion, OpKind, Prepared, Sealed};
use crate::fd::{Resource, SharedFd};
use crate::Ring;

/// Moves up to `len` bytes from one descriptor to another, at least one of them a
/// pipe, inside the kernel: from a file or a socket into a pipe, from a pipe into a
/// file or a socket, or between two pipes.
///
/// Built by [`Splice::new`]. Both ends are taken by reference, from any
/// [`Resource`] of this crate (a [`File`](crate::fs::File) for a pipe or a file,
/// a stream or one of its halves for a socket), and the op keeps its own reference
/// to each descriptor until its final completion: either resource may be dropped or
/// closed meanwhile, and its descriptor stays open until the op is done.
///
/// The output is the number of bytes moved: possibly fewer than `len`, and `Ok(0)`
/// when the input is at its end (a pipe with no writer left and nothing in it, a
/// file at its end, a socket shut down by its peer).
///
/// # Offsets
///
/// An end that is not a pipe can be given an offset with
/// [`from_offset`](Prepared::from_offset) or [`to_offset`](Prepared::to_offset):
/// the splice then reads or writes there, as `pread(2)` or `pwrite(2)` do, and the
/// file's position is left alone. Without one, the file's current position is used
/// and advanced. A pipe has no offset: giving one fails with `ESPIPE`.
///
/// # Errors
///
/// `InvalidInput` at once for an offset past `i64::MAX`. From the kernel: `EINVAL`
/// when neither end is a pipe (or an end cannot splice at all), `ESPIPE` for an
/// offset on a pipe, `EBADF` for an end not open in the right direction, `EPIPE`
/// when the output pipe has no reader left.
///
/// # Cancellation
///
/// The kernel runs a splice in one of its worker threads, where it waits for the
/// input (an empty pipe, a quiet socket) or for room in the output. `cancel()`
/// interrupts that wait and gives `Cancelled(())` if nothing was moved, or
/// `Completed(Ok(n))` if bytes were moved first: they are at the output, not lost.
/// If the token is dropped, the ring keeps both descriptors open until the kernel's
/// completion.
///
/// A [linked timeout](Prepared::timeout) does not cut a waiting splice short: on
/// Linux 6.18 its timer does not fire while the splice waits in the worker, and the
/// op goes on waiting. To bound the wait, give the token a
/// [`deadline`](crate::deadline) (`deadline(splice, ring.sleep(d))`), which cancels
/// it when the timer fires.
///
/// # Examples
///
/// Moving bytes from one pipe to another:
///
/// ```
/// use std::io::{Read, Write};
/// use linear_uring::{fs::File, op::Splice, Ring};
/// # use std::os::fd::{FromRawFd, OwnedFd};
/// # fn pipe() -> std::io::Result<(OwnedFd, OwnedFd)> {
/// #     let mut fds = [-1; 2];
/// #     // SAFETY: pipe2(2) writes two new descriptors into the array.
/// #     if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } < 0 {
/// #         return Err(std::io::Error::last_os_error());
/// #     }
/// #     // SAFETY: they are new, and nothing else owns them.
/// #     Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
/// # }
///
/// let ring = Ring::new()?;
/// let (from, writer) = pipe()?;
/// let (reader, to) = pipe()?;
/// let from = File::from_fd(&ring, from)?;
/// let to = File::from_fd(&ring, to)?;
/// let (mut writer, mut reader) = (std::fs::File::from(writer), std::fs::File::from(reader));
/// writer.write_all(b"moved, not copied")?;
/// let moved = ring.block_on(Splice::new(&ring, &from, &to, 1024).submit().complete())?;
/// assert_eq!(moved, 17);
/// let mut got = [0; 17];
/// reader.read_exact(&mut got)?;
/// assert_eq!(&got, b"moved, not copied");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # References
///
/// `io_uring_prep_splice(3)`, `splice(2)`.
#[doc(alias = "io_uring_prep_splice")]
#[doc(alias = "splice")]
pub struct Splice {
    from: SharedFd,
    to: SharedFd,
    from_offset: Option<u64>,
    to_offset: Option<u64>,
    len: u32,
}

impl Splice {
    /// Describes a splice of up to `len` bytes from `from` to `to`, on `ring`.
    ///
    /// A `len` past the kernel's limit for one transfer (2 GiB minus a page) is
    /// capped there, as `splice(2)` does.
    #[allow(clippy::new_ret_no_self)]
    pub fn new(
        ring: &Ring,
        from: &impl Resource,
        to: &impl Resource,
        len: usize,
    ) -> Prepared<Splice> {
        Prepared::new(
            ring.inner().clone(),
            Splice {
                from: from.shared_fd().clone(),
                to: to.shared_fd().clone(),
                from_offset: None,
                to_offset: None,
                len: crate::buf::io_len(len),
            },
        )
    }
}

impl Prepared<Splice> {
    /// Reads the input at `offset` instead of its current position, which is left
    /// alone. Only for an input that is not a pipe; see [`Splice`].
    pub fn from_offset(mut self, offset: u64) -> Self {
        self.op.from_offset = Some(offset);
        self
    }

    /// Writes the output at `offset` instead of its current position, which is left
    /// alone. Only for an output that is not a pipe; see [`Splice`].
    pub fn to_offset(mut self, offset: u64) -> Self {
        self.op.to_offset = Some(offset);
        self
    }
}

/// An optional offset as the entry's `i64`, where `-1` means "none".
fn raw_offset(offset: Option<u64>) -> i64 {
    offset.map_or(-1, |offset| offset as i64)
}

/// Fails an offset io_uring would read as negative (`u64::MAX` as "none").
fn check_offset(offset: Option<u64>, which: &str) -> io::Result<()> {
    match offset {
        Some(offset) if i64::try_from(offset).is_err() => Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("Splice: the {which} offset {offset} is past i64::MAX"),
        )),
        _ => Ok(()),
    }
}

impl fmt::Debug for Splice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Splice")
            .field("from", &self.from)
            .field("to", &self.to)
            .field("from_offset", &self.from_offset)
            .field("to_offset", &self.to_offset)
            .field("len", &self.len)
            .finish()
    }
}

impl Sealed for Splice {}

impl OpKind for Splice {
    type Output = io::Result<usize>;
    type Residue = ();
    const NAME: &'static str = "Splice";
    const OPCODE: u8 = opcode::Splice::CODE;

    fn check(&self) -> io::Result<()> {
        check_offset(self.from_offset, "input")?;
        check_offset(self.to_offset, "output")
    }

    #[inline]
    fn sqe(&mut self) -> squeue::Entry {
        opcode::Splice::new(
            types::Fd(self.from.raw()),
            raw_offset(self.from_offset),
            types::Fd(self.to.raw()),
            raw_offset(self.to_offset),
            self.len,
        )
        .build()
    }

    #[inline]
    fn complete(self, completion: Completion) -> io::Result<usize> {
        completion.result.map(|n| n as usize)
    }

    fn residue(self) {}
}
