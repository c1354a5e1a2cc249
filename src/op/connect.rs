//! `IORING_OP_CONNECT`: connect a new socket to a peer.

use std::fmt;
use std::io;
use std::marker::PhantomData;
use std::os::fd::{AsRawFd, OwnedFd};

use io_uring::{opcode, squeue, types};

use super::{Completion, OpKind, Prepared, Sealed};
use crate::net::addr::RawAddr;
use crate::net::Stream;
use crate::Ring;

/// Connects a socket the op owns to a peer, producing a stream of type `S`.
///
/// Built by [`TcpStream::connect`](crate::net::TcpStream::connect) and
/// [`UnixStream::connect`](crate::net::UnixStream::connect). The socket belongs to
/// the op until it completes: on success it becomes the stream; on failure or
/// cancellation it is closed.
///
/// # Cancellation
///
/// `cancel()` gives `Cancelled(())` (the socket is closed) if the connection was not
/// established, or `Completed(Ok(stream))` if it was. If the token is dropped, the
/// ring closes the socket once the kernel is done with it, and counts it in
/// [`Stats::fds_closed`](crate::Stats).
///
/// # References
///
/// `io_uring_prep_connect(3)`, `connect(2)`.
#[doc(alias = "io_uring_prep_connect")]
pub struct Connect<S: Stream> {
    ring: Ring,
    socket: OwnedFd,
    /// Read by the kernel; at a fixed heap address until the final completion.
    peer: RawAddr,
    stream: PhantomData<fn() -> S>,
}

impl<S: Stream> Connect<S> {
    pub(crate) fn prepare(ring: &Ring, socket: OwnedFd, peer: RawAddr) -> Prepared<Connect<S>> {
        Prepared::new(
            ring.inner().clone(),
            Connect {
                ring: ring.clone(),
                socket,
                peer,
                stream: PhantomData,
            },
        )
    }
}

impl<S: Stream> fmt::Debug for Connect<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connect")
            .field("socket", &self.socket)
            .field("peer", &self.peer)
            .finish_non_exhaustive()
    }
}

impl<S: Stream> Sealed for Connect<S> {}

impl<S: Stream> OpKind for Connect<S> {
    type Output = io::Result<S>;
    type Residue = ();
    const NAME: &'static str = "Connect";
    const OPCODE: u8 = opcode::Connect::CODE;

    #[inline]
    fn sqe(&mut self) -> squeue::Entry {
        opcode::Connect::new(
            types::Fd(self.socket.as_raw_fd()),
            self.peer.as_ptr(),
            self.peer.len,
        )
        .build()
    }

    #[inline]
    fn complete(self, completion: Completion) -> Self::Output {
        completion.result?;
        Ok(S::from_connected(self.ring, self.socket))
    }

    fn residue(self) {}

    fn release(self, completion: Completion) -> u64 {
        drop((self, completion));
        1
    }
}
