//! `IORING_OP_ACCEPT` with `IORING_ACCEPT_MULTISHOT`: one op that takes every
//! connection off a listening socket, until it is cancelled or fails.

use std::fmt;
use std::marker::PhantomData;
use std::os::fd::{FromRawFd, OwnedFd, RawFd};
use std::rc::Rc;

use io_uring::{opcode, squeue, types};

use super::{Completion, MultishotKind, PreparedMultishot, Sealed};
use crate::fd::SharedFd;
use crate::kick::Listening;
use crate::net::Stream;
use crate::Ring;

/// Accepts connections on a listening socket, one item per connection, each a
/// stream of type `S` ([`TcpStream`](crate::net::TcpStream) or
/// [`UnixStream`](crate::net::UnixStream)); the peer's address is the stream's
/// `peer_addr()`. Accepted descriptors are close-on-exec.
///
/// Built by [`TcpListener::incoming`](crate::net::TcpListener::incoming) and
/// [`UnixListener::incoming`](crate::net::UnixListener::incoming). One submission
/// serves every connection: no accept has to be submitted again after each one,
/// and no connection waits in the backlog while the program is busy elsewhere: the
/// kernel accepts it and the ring keeps it until [`next`](crate::Multishot::next)
/// takes it.
///
/// The kernel ends the op on an error (a descriptor limit reached, `EMFILE`); the
/// stream then yields that error once and ends. Submit it again to go on.
///
/// # Cancellation
///
/// [`cancel()`](crate::Multishot::cancel) stops accepting and hands back every
/// connection accepted but not taken yet, in [`Drained::items`](crate::Drained).
/// Dropping the token closes each of those (counted in
/// [`Stats::fds_closed`](crate::Stats)), and every connection the kernel accepts
/// until its cancel takes effect, before the drop policy applies.
///
/// # References
///
/// `io_uring_prep_multishot_accept(3)`, `accept4(2)`. Linux 5.19.
#[doc(alias = "io_uring_prep_multishot_accept")]
pub struct AcceptMulti<S: Stream> {
    ring: Ring,
    /// The listener's registration with the other rings on its socket, kept until
    /// the op's end (a cancelled accept's end asks them to kick theirs); dropped
    /// before `fd`, which it names.
    _listening: Rc<Listening>,
    fd: SharedFd,
    stream: PhantomData<fn() -> S>,
}

impl<S: Stream> AcceptMulti<S> {
    pub(crate) fn prepare(
        ring: &Ring,
        fd: &SharedFd,
        listening: &Rc<Listening>,
    ) -> PreparedMultishot<AcceptMulti<S>> {
        PreparedMultishot::new(
            ring.inner().clone(),
            AcceptMulti {
                ring: ring.clone(),
                _listening: listening.clone(),
                fd: fd.clone(),
                stream: PhantomData,
            },
        )
    }
}

impl<S: Stream> fmt::Debug for AcceptMulti<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AcceptMulti")
            .field("fd", &self.fd)
            .finish_non_exhaustive()
    }
}

impl<S: Stream> Sealed for AcceptMulti<S> {}

impl<S: Stream> MultishotKind for AcceptMulti<S> {
    type Item = S;
    const NAME: &'static str = "AcceptMulti";
    const OPCODE: u8 = opcode::AcceptMulti::CODE;
    const SINCE: (u32, u32) = (5, 19);
    type Context = Ring;

    fn context(&self) -> Ring {
        self.ring.clone()
    }

    fn exclusive_wait(&self) -> Option<RawFd> {
        Some(self.fd.raw())
    }

    const EXCLUSIVE_WAIT: bool = true;

    #[inline]
    fn sqe(&mut self) -> squeue::Entry {
        opcode::AcceptMulti::new(types::Fd(self.fd.raw()))
            .flags(libc::SOCK_CLOEXEC)
            .build()
    }

    fn item(ring: &Ring, completion: Completion) -> S {
        let raw = completion
            .result
            .expect("an accept's item is a descriptor (checked by is_item)");
        // SAFETY: a successful accept completion carries a new descriptor that only
        // this completion knows about.
        let fd = unsafe { OwnedFd::from_raw_fd(raw as i32) };
        S::from_connected(ring.clone(), fd)
    }

    fn release_item(&mut self, completion: Completion) -> u64 {
        match completion.result {
            Ok(raw) => {
                // SAFETY: as in `item`: the accepted descriptor is ours alone.
                drop(unsafe { OwnedFd::from_raw_fd(raw as i32) });
                1
            }
            Err(_) => 0,
        }
    }
}
