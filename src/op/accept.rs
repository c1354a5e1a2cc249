//! `IORING_OP_ACCEPT`: take a connection off a listening socket.

use std::fmt;
use std::io;
use std::marker::PhantomData;
use std::os::fd::{FromRawFd, OwnedFd, RawFd};
use std::rc::Rc;

use io_uring::{opcode, squeue, types};

use super::{Completion, OpKind, Prepared, Sealed};
use crate::fd::SharedFd;
use crate::kick::Listening;
use crate::net::addr::RawAddr;
use crate::net::Stream;
use crate::Ring;

/// Accepts one connection on a listening socket, producing a stream of type `S`
/// ([`TcpStream`](crate::net::TcpStream) or [`UnixStream`](crate::net::UnixStream))
/// and the peer's address.
///
/// Built by [`TcpListener::accept`](crate::net::TcpListener::accept) and
/// [`UnixListener::accept`](crate::net::UnixListener::accept). The accepted
/// descriptor is close-on-exec.
///
/// # Cancellation
///
/// `cancel()` gives `Cancelled(())` if no connection was taken, or
/// `Completed(Ok((stream, addr)))` if the kernel accepted one first: the connection
/// is never lost. If the token is dropped and the kernel accepts anyway, the ring
/// closes the new descriptor and counts it in [`Stats::fds_closed`](crate::Stats).
///
/// # References
///
/// `io_uring_prep_accept(3)`, `accept4(2)`.
#[doc(alias = "io_uring_prep_accept")]
pub struct Accept<S: Stream> {
    ring: Ring,
    /// The listener's registration with the other rings on its socket, kept until
    /// the op's end (a cancelled accept's end asks them to kick theirs); dropped
    /// before `fd`, which it names.
    _listening: Rc<Listening>,
    fd: SharedFd,
    /// Written by the kernel; at a fixed heap address until the final completion.
    peer: RawAddr,
    stream: PhantomData<fn() -> S>,
}

impl<S: Stream> Accept<S> {
    pub(crate) fn prepare(
        ring: &Ring,
        fd: &SharedFd,
        listening: &Rc<Listening>,
    ) -> Prepared<Accept<S>> {
        Prepared::new(
            ring.inner().clone(),
            Accept {
                ring: ring.clone(),
                _listening: listening.clone(),
                fd: fd.clone(),
                peer: RawAddr::empty(),
                stream: PhantomData,
            },
        )
    }
}

impl<S: Stream> fmt::Debug for Accept<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Accept")
            .field("fd", &self.fd)
            .finish_non_exhaustive()
    }
}

impl<S: Stream> Sealed for Accept<S> {}

impl<S: Stream> OpKind for Accept<S> {
    type Output = io::Result<(S, S::Addr)>;
    type Residue = ();
    const NAME: &'static str = "Accept";
    const OPCODE: u8 = opcode::Accept::CODE;

    fn exclusive_wait(&self) -> Option<RawFd> {
        Some(self.fd.raw())
    }

    const EXCLUSIVE_WAIT: bool = true;

    #[inline]
    fn sqe(&mut self) -> squeue::Entry {
        // Built again when the ring submits the op again: the kernel may have
        // written the length.
        self.peer = RawAddr::empty();
        opcode::Accept::new(
            types::Fd(self.fd.raw()),
            self.peer.as_mut_ptr(),
            &mut self.peer.len,
        )
        .flags(libc::SOCK_CLOEXEC)
        .build()
    }

    #[inline]
    fn complete(self, completion: Completion) -> Self::Output {
        let raw = completion.result?;
        // SAFETY: a successful accept returns a new descriptor that only this
        // completion knows about.
        let fd = unsafe { OwnedFd::from_raw_fd(raw as i32) };
        let listener = self.fd.raw();
        S::from_accepted(self.ring, fd, &self.peer.storage, self.peer.len).map_err(|source| {
            // The connection is gone with the descriptor: say so, so that a client
            // that sees its connection closed can be explained.
            let kind = source.kind();
            io::Error::new(
                kind,
                Unwrappable {
                    listener,
                    stream: std::any::type_name::<S>()
                        .rsplit("::")
                        .next()
                        .unwrap_or("stream"),
                    source,
                },
            )
        })
    }

    fn residue(self) {}

    fn release(self, completion: Completion) -> u64 {
        match completion.result {
            Ok(raw) => {
                // SAFETY: as in `complete`: the accepted descriptor is ours alone.
                drop(unsafe { OwnedFd::from_raw_fd(raw as i32) });
                1
            }
            Err(_) => 0,
        }
    }
}

/// An accepted connection that could not be made a stream: it was closed.
#[derive(Debug)]
struct Unwrappable {
    listener: RawFd,
    stream: &'static str,
    source: io::Error,
}

impl fmt::Display for Unwrappable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "the kernel accepted a connection on descriptor {}, but it could not be made \
             a {}: {}; the connection was closed",
            self.listener, self.stream, self.source
        )
    }
}

impl std::error::Error for Unwrappable {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}
