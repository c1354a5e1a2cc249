//! `IORING_OP_POLL_ADD`: wait once until a descriptor is ready.

use std::fmt;
use std::io;
use std::ops::{BitAnd, BitOr, BitOrAssign};

use io_uring::{opcode, squeue, types};

use super::{Completion, OpKind, Prepared, Sealed};
use crate::fd::{Resource, SharedFd};
use crate::Ring;

/// Waits until a descriptor is ready for what `interest` asks (readable, writable,
/// ...), once, and reports what it is ready for: `poll(2)` on one descriptor,
/// run by the kernel.
///
/// Built by [`PollAdd::new`], on any [`Resource`] of this crate: a socket, a
/// listener (readable: a connection is waiting), a pipe or a file (always ready).
/// The op keeps its own reference to the descriptor until its final completion.
///
/// The output is the [`Readiness`] the kernel reported (`revents`): what was asked
/// for and is ready, together with [`Readiness::ERROR`] and [`Readiness::HANG_UP`],
/// which are reported whether asked for or not. A descriptor already ready completes
/// at once. The wait is one-shot: submit another op to wait again. Nothing is read
/// or written; a readiness wait is a hint, and the read that follows may still wait
/// (another reader came first).
///
/// # Cancellation
///
/// `cancel()` gives `Cancelled(())` if the descriptor did not become ready, or
/// `Completed(Ok(readiness))` if it did first. Nothing is lost either way: a poll
/// consumes nothing. If the token is dropped, the ring removes the wait and keeps
/// the descriptor open until the kernel's completion.
///
/// # Examples
///
/// ```
/// use linear_uring::{net::UnixStream, op::{PollAdd, Readiness}, Ring};
///
/// let ring = Ring::new()?;
/// let (a, b) = UnixStream::pair(&ring)?;
/// ring.block_on(async {
///     let readable = PollAdd::new(&ring, &b, Readiness::READABLE).submit();
///     a.send(b"ping").await.0?;
///     let ready = readable.complete().await?;
///     assert!(ready.contains(Readiness::READABLE));
///     Ok::<(), std::io::Error>(())
/// })?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # References
///
/// `io_uring_prep_poll_add(3)`, `poll(2)`.
#[doc(alias = "io_uring_prep_poll_add")]
#[doc(alias = "poll")]
pub struct PollAdd {
    fd: SharedFd,
    interest: Readiness,
}

impl PollAdd {
    /// Describes a wait, on `ring`, until `fd` is ready for `interest`.
    #[allow(clippy::new_ret_no_self)]
    pub fn new(ring: &Ring, fd: &impl Resource, interest: Readiness) -> Prepared<PollAdd> {
        Prepared::new(
            ring.inner().clone(),
            PollAdd {
                fd: fd.shared_fd().clone(),
                interest,
            },
        )
    }
}

impl fmt::Debug for PollAdd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PollAdd")
            .field("fd", &self.fd)
            .field("interest", &self.interest)
            .finish()
    }
}

impl Sealed for PollAdd {}

impl OpKind for PollAdd {
    type Output = io::Result<Readiness>;
    type Residue = ();
    const NAME: &'static str = "PollAdd";
    const OPCODE: u8 = opcode::PollAdd::CODE;

    #[inline]
    fn sqe(&mut self) -> squeue::Entry {
        opcode::PollAdd::new(types::Fd(self.fd.raw()), self.interest.0).build()
    }

    #[inline]
    fn complete(self, completion: Completion) -> io::Result<Readiness> {
        completion.result.map(Readiness)
    }

    fn residue(self) {}
}

/// What a descriptor is ready for, as `poll(2)` reports it: the interest of a
/// [`PollAdd`] and its output.
///
/// Combine with `|`: `Readiness::READABLE | Readiness::READ_CLOSED`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Readiness(u32);

impl Readiness {
    /// Data can be read without waiting (`POLLIN`); for a listener, a connection is
    /// waiting; at end of stream too, since the read would not wait.
    pub const READABLE: Readiness = Readiness(libc::POLLIN as u32);
    /// Data can be written without waiting (`POLLOUT`).
    pub const WRITABLE: Readiness = Readiness(libc::POLLOUT as u32);
    /// Urgent data can be read (`POLLPRI`): TCP out-of-band data, ...
    pub const PRIORITY: Readiness = Readiness(libc::POLLPRI as u32);
    /// The peer of a stream socket shut down its sending side (`POLLRDHUP`).
    pub const READ_CLOSED: Readiness = Readiness(libc::POLLRDHUP as u32);
    /// An error is pending on the descriptor (`POLLERR`); always reported.
    pub const ERROR: Readiness = Readiness(libc::POLLERR as u32);
    /// The descriptor hung up (`POLLHUP`): a pipe with no writer left, a socket
    /// shut down both ways; always reported.
    pub const HANG_UP: Readiness = Readiness(libc::POLLHUP as u32);

    const NAMES: [(Readiness, &'static str); 6] = [
        (Readiness::READABLE, "READABLE"),
        (Readiness::WRITABLE, "WRITABLE"),
        (Readiness::PRIORITY, "PRIORITY"),
        (Readiness::READ_CLOSED, "READ_CLOSED"),
        (Readiness::ERROR, "ERROR"),
        (Readiness::HANG_UP, "HANG_UP"),
    ];

    /// Nothing: as an interest, a wait for [`ERROR`](Readiness::ERROR) or
    /// [`HANG_UP`](Readiness::HANG_UP) only.
    pub const fn empty() -> Readiness {
        Readiness(0)
    }

    /// The `poll(2)` bits (`POLLIN`, `POLLOUT`, ...).
    pub const fn bits(self) -> u32 {
        self.0
    }

    /// Whether every bit of `other` is set here.
    pub const fn contains(self, other: Readiness) -> bool {
        self.0 & other.0 == other.0
    }

    /// Whether any bit of `other` is set here.
    pub const fn intersects(self, other: Readiness) -> bool {
        self.0 & other.0 != 0
    }

    /// Whether no bit is set.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }
}

impl BitOr for Readiness {
    type Output = Readiness;

    fn bitor(self, other: Readiness) -> Readiness {
        Readiness(self.0 | other.0)
    }
}

impl BitOrAssign for Readiness {
    fn bitor_assign(&mut self, other: Readiness) {
        self.0 |= other.0;
    }
}

impl BitAnd for Readiness {
    type Output = Readiness;

    fn bitand(self, other: Readiness) -> Readiness {
        Readiness(self.0 & other.0)
    }
}

impl fmt::Debug for Readiness {
    /// The names of the bits set, `READABLE | HANG_UP`, and any other bit in hex.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut rest = self.0;
        let mut first = true;
        for (flag, name) in Readiness::NAMES {
            if self.contains(flag) {
                f.write_str(if first { "" } else { " | " })?;
                f.write_str(name)?;
                rest &= !flag.0;
                first = false;
            }
        }
        if rest != 0 || first {
            f.write_str(if first { "" } else { " | " })?;
            write!(f, "{rest:#x}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readiness_debug_names_the_bits_set() {
        let ready = Readiness::READABLE | Readiness::HANG_UP;
        assert_eq!(format!("{ready:?}"), "READABLE | HANG_UP");
        assert_eq!(format!("{:?}", Readiness::empty()), "0x0");
        assert_eq!(
            format!(
                "{:?}",
                Readiness(libc::POLLNVAL as u32 | libc::POLLOUT as u32)
            ),
            "WRITABLE | 0x20"
        );
    }

    #[test]
    fn readiness_contains_and_intersects() {
        let ready = Readiness::READABLE | Readiness::WRITABLE;
        assert!(ready.contains(Readiness::READABLE));
        assert!(!ready.contains(Readiness::READABLE | Readiness::HANG_UP));
        assert!(ready.intersects(Readiness::READABLE | Readiness::HANG_UP));
        assert_eq!(ready & Readiness::WRITABLE, Readiness::WRITABLE);
        assert!(Readiness::default().is_empty());
    }
}
