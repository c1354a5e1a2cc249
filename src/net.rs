//! Sockets built on the ring's operations: TCP, UDP and Unix streams.
//!
//! Each resource owns its descriptor (shared with its ops in flight, see
//! [`TcpStream`]'s docs), implements [`AsFd`](std::os::fd::AsFd) and
//! [`AsRawFd`](std::os::fd::AsRawFd), converts from and into its `std` twin, and
//! holds the ring it belongs to. Setting a socket up (`socket`, `bind`, `listen`,
//! socket options) uses ordinary system calls; every operation that can block goes
//! through the ring.

use std::io;
use std::os::fd::OwnedFd;

use crate::Ring;

pub(crate) mod addr;
mod tcp;
mod udp;
mod unix;

pub use tcp::{TcpListener, TcpStream};

pub(crate) mod sealed {
    pub trait Sealed {}
}

/// A connected stream socket that an accept or connect operation can produce.
///
/// Implemented by the stream types of this module; sealed.
pub trait Stream: sealed::Sealed + Sized + 'static {
    /// The peer's address type.
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

/// Clears `O_NONBLOCK` on a descriptor taken from `std`.
pub(crate) fn set_blocking(fd: &OwnedFd) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    let raw = fd.as_raw_fd();
    // SAFETY: fcntl(2) on a descriptor we own, with integer arguments only.
    let flags = unsafe { libc::fcntl(raw, libc::F_GETFL) };
    if flags < 0 {
        return Err(io::Error::last_os_error());
    }
    if flags & libc::O_NONBLOCK != 0 {
        // SAFETY: as above.
        if unsafe { libc::fcntl(raw, libc::F_SETFL, flags & !libc::O_NONBLOCK) } < 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}
