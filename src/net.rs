//! Sockets built on the ring's operations: TCP, UDP and Unix streams.
//!
//! Each resource owns its descriptor (shared with its ops in flight), implements
//! [`AsFd`](std::os::fd::AsFd) and [`AsRawFd`](std::os::fd::AsRawFd), converts from
//! and into its `std` twin, and holds the ring it belongs to. Setting a socket up
//! (`socket`, `bind`, `listen`, socket options) uses ordinary system calls; every
//! operation that can block goes through the ring.
//!
//! A connected stream splits into owned halves ([`TcpStream::into_split`],
//! [`UnixStream::into_split`]), a [`ReadHalf`] and a [`WriteHalf`], so that one task
//! can receive while another sends, as a proxy does; `reunite` gives the stream
//! back. The descriptor is closed once, when the last half and the last op on it
//! are gone.

use std::io;
use std::os::fd::OwnedFd;

use crate::Ring;

pub(crate) mod addr;
pub(crate) mod ancillary;
pub(crate) mod split;
mod stream;
pub(crate) mod tcp;
mod udp;
mod unix;

pub use split::{ReadHalf, ReuniteError, WriteHalf};
pub use tcp::{TcpListener, TcpStream};
pub use udp::*;
pub use unix::*;

pub(crate) mod sealed {
    use std::io;
    use std::os::fd::BorrowedFd;

    /// The part of [`Stream`](super::Stream) that only the crate sees: what differs
    /// between the stream types where generic code (the halves) needs it.
    #[diagnostic::on_unimplemented(
        message = "`{Self}` cannot be a stream of linear-uring: `Stream` is sealed",
        label = "not one of the stream types in `linear_uring::net`",
        note = "accept and connect ops produce the library's own stream types; wrap one (`TcpStream`, `UnixStream`) in a type of your own instead"
    )]
    pub trait Sealed {
        /// The peer's address of a connected socket of this type (`getpeername(2)`).
        fn peer_addr_of(fd: BorrowedFd<'_>) -> io::Result<<Self as super::Stream>::Addr>
        where
            Self: super::Stream;

        /// The local address of a socket of this type (`getsockname(2)`).
        fn local_addr_of(fd: BorrowedFd<'_>) -> io::Result<<Self as super::Stream>::Addr>
        where
            Self: super::Stream;
    }
}

/// A connected stream socket that an accept or connect operation can produce, and
/// that splits into a [`ReadHalf`] and a [`WriteHalf`].
///
/// Implemented by the stream types of this module; sealed.
pub trait Stream: sealed::Sealed + Sized + 'static {
    /// The type of the peer's (and the local) address.
    type Addr: std::fmt::Debug;

    /// Wraps a connected descriptor.
    #[doc(hidden)]
    fn from_connected(ring: Ring, fd: OwnedFd) -> Self;

    /// Wraps an accepted descriptor and decodes the peer address the kernel wrote.
    #[doc(hidden)]
    fn from_accepted(
        ring: Ring,
        fd: OwnedFd,
        addr: &libc::sockaddr_storage,
        len: libc::socklen_t,
    ) -> io::Result<(Self, Self::Addr)>;
}

/// The listen backlog of the listeners: the kernel caps it at
/// `net.core.somaxconn` (4096 by default since Linux 5.4). std's 128 is too small
/// for a ring that submits many connects in one batch before any accept runs: once
/// the queue is full, the kernel drops SYNs and the clients wait a second to retry.
pub(crate) const LISTEN_BACKLOG: libc::c_int = 4096;

/// Sets the listen backlog of a listening socket (see [`LISTEN_BACKLOG`]).
pub(crate) fn set_backlog(fd: std::os::fd::BorrowedFd<'_>) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    // SAFETY: listen(2) on a live borrowed descriptor, with integer arguments only; calling
    // it again on a listening socket only changes the backlog.
    if unsafe { libc::listen(fd.as_raw_fd(), LISTEN_BACKLOG) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// A new blocking, close-on-exec socket.
///
/// io_uring waits for readiness itself; an `O_NONBLOCK` descriptor would make some
/// operations fail with `EAGAIN` instead.
pub(crate) fn socket(domain: libc::c_int, ty: libc::c_int) -> io::Result<OwnedFd> {
    use std::os::fd::FromRawFd;
    // SAFETY: socket(2) takes no pointers; a non-negative result is a new descriptor
    // nobody else owns.
    let fd = unsafe { libc::socket(domain, ty | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` was just returned by socket(2) and is owned by no one else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}
