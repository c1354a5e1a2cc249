//! `IORING_OP_SOCKET`: create a socket through the ring.

use std::io;
use std::os::fd::{FromRawFd, OwnedFd};

use io_uring::{opcode, squeue};

use super::{Completion, OpKind, Prepared, Sealed};
use crate::Ring;

/// Creates a socket, as `socket(2)` does, producing its descriptor.
///
/// The descriptor is always close-on-exec (`SOCK_CLOEXEC` is added to the type).
/// Requires Linux 5.19; on older kernels the op fails with
/// [`ErrorKind::Unsupported`](crate::ErrorKind::Unsupported).
///
/// # Examples
///
/// ```
/// use std::os::fd::AsRawFd;
/// use linear_uring::{op::Socket, Ring};
///
/// let ring = Ring::new()?;
/// let fd = ring.block_on(async {
///     Socket::new(&ring, libc::AF_INET, libc::SOCK_DGRAM, 0)
///         .submit()
///         .complete()
///         .await
/// })?;
/// assert!(fd.as_raw_fd() >= 0);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Cancellation
///
/// The kernel creates the socket as soon as it sees the op, so `cancel()` almost
/// always reports `Completed`, with the descriptor. If the token is dropped and the
/// kernel creates the socket anyway, the ring closes it and counts it in
/// [`Stats::fds_closed`](crate::Stats).
///
/// # References
///
/// `io_uring_prep_socket(3)`, `socket(2)`.
#[doc(alias = "io_uring_prep_socket")]
#[derive(Debug)]
pub struct Socket {
    domain: libc::c_int,
    ty: libc::c_int,
    protocol: libc::c_int,
}

impl Socket {
    /// Describes the creation of a socket of `domain` (`libc::AF_INET`,
    /// `libc::AF_UNIX`, ...), type `ty` (`libc::SOCK_STREAM`, `libc::SOCK_DGRAM`, ...,
    /// optionally or'ed with `SOCK_NONBLOCK`) and `protocol` (usually 0).
    ///
    /// The resources of [`net`](crate::net) expect blocking sockets: the ring waits
    /// for them. A `SOCK_NONBLOCK` socket makes their ops fail with `EAGAIN` instead
    /// of waiting.
    ///
    /// # Errors
    ///
    /// None here; the completion reports `socket(2)`'s errors (`EAFNOSUPPORT`,
    /// `EINVAL`, `EMFILE`, ...).
    #[allow(clippy::new_ret_no_self)]
    pub fn new(
        ring: &Ring,
        domain: libc::c_int,
        ty: libc::c_int,
        protocol: libc::c_int,
    ) -> Prepared<Socket> {
        Prepared::new(
            ring.inner().clone(),
            Socket {
                domain,
                ty: ty | libc::SOCK_CLOEXEC,
                protocol,
            },
        )
    }
}

impl Sealed for Socket {}

impl OpKind for Socket {
    type Output = io::Result<OwnedFd>;
    type Residue = ();
    const NAME: &'static str = "Socket";
    const OPCODE: u8 = opcode::Socket::CODE;

    #[inline]
    fn sqe(&mut self) -> squeue::Entry {
        opcode::Socket::new(self.domain, self.ty, self.protocol).build()
    }

    #[inline]
    fn complete(self, completion: Completion) -> io::Result<OwnedFd> {
        let raw = completion.result?;
        // SAFETY: a successful socket op returns a new descriptor that only this
        // completion knows about; the final completion is handed out exactly once.
        Ok(unsafe { OwnedFd::from_raw_fd(raw as i32) })
    }

    fn residue(self) {}

    fn release(self, completion: Completion) -> u64 {
        match completion.result {
            Ok(raw) => {
                // SAFETY: as in `complete`: the new descriptor is ours alone, and
                // nobody will claim it, so it is closed here.
                drop(unsafe { OwnedFd::from_raw_fd(raw as i32) });
                1
            }
            Err(_) => 0,
        }
    }
}
