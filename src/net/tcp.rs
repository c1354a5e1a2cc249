//! TCP: a listener and a connected stream.

use std::io;
use std::net::{self, SocketAddr, ToSocketAddrs};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::rc::Rc;

use super::addr::{self, RawAddr};
use super::stream::stream_methods;
use super::{sealed, set_backlog, socket, ReadHalf, ReuniteError, Stream, WriteHalf};
use crate::buf::{IoBuf, IoBufMut};
use crate::fd::{set_blocking, SharedFd};
use crate::kick::Listening;
use crate::op::{
    Accept, AcceptMulti, Connect, Prepared, PreparedMultishot, Readv, Recv, Send, Shutdown, Writev,
};
use crate::Ring;

/// A TCP socket listening for connections.
///
/// # Examples
///
/// ```
/// use linear_uring::{net::TcpListener, Ring};
///
/// let ring = Ring::new()?;
/// let listener = TcpListener::bind(&ring, "127.0.0.1:0")?;
/// let addr = listener.local_addr()?;
/// ring.block_on(async {
///     let client = std::thread::spawn(move || std::net::TcpStream::connect(addr));
///     let (stream, peer) = listener.accept().submit().complete().await?;
///     assert_eq!(peer, client.join().unwrap()?.local_addr()?);
///     stream.close().await
/// })?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct TcpListener {
    ring: Ring,
    /// Shared with the accepts on it; dropped before `fd`, which it names.
    listening: Rc<Listening>,
    fd: SharedFd,
}

impl TcpListener {
    /// Binds a listener to `addr` (the first address it resolves to that binds),
    /// with a listen backlog of 4096 (capped by `net.core.somaxconn`).
    ///
    /// # Errors
    ///
    /// As [`std::net::TcpListener::bind`] and `listen(2)`.
    pub fn bind(ring: &Ring, addr: impl ToSocketAddrs) -> io::Result<TcpListener> {
        let listener = TcpListener::from_std(ring, net::TcpListener::bind(addr)?)?;
        set_backlog(listener.fd.as_fd())?;
        Ok(listener)
    }

    /// Binds a listener to `addr` with `SO_REUSEPORT` (and `SO_REUSEADDR`), so that
    /// several listeners (one per ring, one per thread) share the port and the kernel
    /// spreads incoming connections over them. Port 0 picks a free port; bind the
    /// other listeners to the address this one reports.
    ///
    /// [`Runtime`](crate::runtime::Runtime) makes one per thread with
    /// [`listen`](crate::runtime::RuntimeBuilder::listen).
    ///
    /// # Errors
    ///
    /// As `socket(2)`, `setsockopt(2)`, `bind(2)` and `listen(2)`: `AddrInUse` if a
    /// socket without `SO_REUSEPORT`, or of another user, holds the port.
    pub fn bind_reuse_port(ring: &Ring, addr: SocketAddr) -> io::Result<TcpListener> {
        TcpListener::from_std(ring, reuse_port_listener(addr)?)
    }

    /// Wraps a `std` listener (made blocking: the ring waits for it).
    ///
    /// Several listeners may share one socket, each through its own clone of it
    /// (`try_clone`), on one ring or on rings of any threads: an accept cancelled
    /// through one of them (by `cancel()`, a drop, a shutdown) may swallow the
    /// wake-up of a connection (a kernel behaviour), so the ring submits again the
    /// accepts waiting on the socket through any of its descriptors, and asks the
    /// other rings listening on it to do the same; the connection is not left in
    /// the backlog. Accepts with a linked timeout are not submitted again: their
    /// timer bounds the wait. (With `SO_REUSEPORT` each ring has a socket of its
    /// own instead, and the kernel spreads the connections.)
    ///
    /// # Errors
    ///
    /// If the descriptor's flags cannot be read or changed.
    pub fn from_std(ring: &Ring, listener: net::TcpListener) -> io::Result<TcpListener> {
        let fd = OwnedFd::from(listener);
        set_blocking(&fd)?;
        Ok(TcpListener {
            ring: ring.clone(),
            listening: ring.inner().listen(fd.as_fd()),
            fd: SharedFd::new(fd),
        })
    }

    /// The `std` listener back.
    ///
    /// # Errors
    ///
    /// `ResourceBusy` if an op on it (an abandoned accept) is still in flight.
    pub fn into_std(self) -> io::Result<net::TcpListener> {
        let TcpListener { listening, fd, .. } = self;
        drop(listening);
        fd.into_owned("TcpListener").map(net::TcpListener::from)
    }

    /// Describes an accept: submit it to wait for the next connection.
    ///
    /// # Cancellation
    ///
    /// See [`Accept`]: a cancel never loses a connection the kernel accepted.
    pub fn accept(&self) -> Prepared<Accept<TcpStream>> {
        Accept::prepare(&self.ring, &self.fd, &self.listening)
    }

    /// Describes a multishot accept: submitted, it is a stream that yields every
    /// connection the listener receives, until it is cancelled.
    ///
    /// # Examples
    ///
    /// ```
    /// # use linear_uring::{net::TcpListener, Ring};
    /// # let ring = Ring::new()?;
    /// # let listener = TcpListener::bind(&ring, "127.0.0.1:0")?;
    /// # let addr = listener.local_addr()?;
    /// ring.block_on(async {
    ///     let mut incoming = listener.incoming().submit();
    /// #   let _client = std::net::TcpStream::connect(addr)?;
    ///     // One connection, then stop accepting: the connections that arrived
    ///     // meanwhile come back with the cancel, none is lost.
    ///     let first = incoming.next().await.expect("the stream goes on")?;
    ///     let rest = incoming.cancel().await;
    ///     println!("served {:?}, {} more waiting", first, rest.items.len());
    ///     Ok::<(), std::io::Error>(())
    /// })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Cancellation
    ///
    /// See [`AcceptMulti`]: a cancel hands back every connection not taken yet.
    #[doc(alias = "io_uring_prep_multishot_accept")]
    pub fn incoming(&self) -> PreparedMultishot<AcceptMulti<TcpStream>> {
        AcceptMulti::prepare(&self.ring, &self.fd, &self.listening)
    }

    /// The address the listener is bound to.
    ///
    /// # Errors
    ///
    /// As `getsockname(2)`.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        addr::local_addr(self.fd.as_fd())
    }

    /// The ring this listener belongs to.
    pub fn ring(&self) -> &Ring {
        &self.ring
    }

    /// Closes the listener through the ring, reporting any error.
    ///
    /// If an op on it is still in flight, the descriptor is closed when that op
    /// completes instead.
    ///
    /// # Errors
    ///
    /// As `close(2)`.
    pub async fn close(self) -> io::Result<()> {
        let TcpListener {
            ring,
            listening,
            fd,
        } = self;
        drop(listening);
        fd.close(&ring).await
    }
}

/// A connected TCP stream.
pub struct TcpStream {
    ring: Ring,
    fd: SharedFd,
}

impl TcpStream {
    /// Creates a socket and describes its connection to `addr`: submit it, and the
    /// completion gives the connected stream.
    ///
    /// # Errors
    ///
    /// If the socket cannot be created (`EMFILE`, ...). Connection errors
    /// (`ECONNREFUSED`, ...) come from the op's completion.
    ///
    /// # Cancellation
    ///
    /// See [`Connect`]: the op owns the socket until it completes.
    pub fn connect(ring: &Ring, addr: SocketAddr) -> io::Result<Prepared<Connect<TcpStream>>> {
        let fd = socket(addr::domain(&addr), libc::SOCK_STREAM)?;
        Ok(Connect::prepare(ring, fd, RawAddr::from(addr)))
    }

    /// The peer's address.
    ///
    /// # Errors
    ///
    /// As `getpeername(2)`.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        addr::peer_addr(self.fd.as_fd())
    }

    /// The local address.
    ///
    /// # Errors
    ///
    /// As `getsockname(2)`.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        addr::local_addr(self.fd.as_fd())
    }

    /// Sets `TCP_NODELAY` (disables Nagle's algorithm).
    ///
    /// # Errors
    ///
    /// As `setsockopt(2)`.
    pub fn set_nodelay(&self, nodelay: bool) -> io::Result<()> {
        let value = libc::c_int::from(nodelay);
        // SAFETY: passes a pointer to a live c_int and its size.
        let rc = unsafe {
            libc::setsockopt(
                self.fd.raw(),
                libc::IPPROTO_TCP,
                libc::TCP_NODELAY,
                (&value as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        if rc < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }
}

// `from_std`, `into_std`, `recv`, `send`, `send_all`, `shutdown`, `ring`, `close`,
// `into_split` and `reunite`, shared with the other stream types.
stream_methods!(TcpStream, net::TcpStream);

impl sealed::Sealed for TcpStream {
    fn peer_addr_of(fd: BorrowedFd<'_>) -> io::Result<SocketAddr> {
        addr::peer_addr(fd)
    }

    fn local_addr_of(fd: BorrowedFd<'_>) -> io::Result<SocketAddr> {
        addr::local_addr(fd)
    }
}

impl Stream for TcpStream {
    type Addr = SocketAddr;

    fn from_connected(ring: Ring, fd: OwnedFd) -> Self {
        TcpStream {
            ring,
            fd: SharedFd::new(fd),
        }
    }

    fn from_accepted(
        ring: Ring,
        fd: OwnedFd,
        peer: &libc::sockaddr_storage,
        len: libc::socklen_t,
    ) -> io::Result<(Self, SocketAddr)> {
        let stream = TcpStream::from_connected(ring, fd);
        let peer = addr::to_socket_addr(peer, len)?;
        Ok((stream, peer))
    }
}

crate::fd::impl_fd_traits!(TcpListener, TcpStream);

/// A `std` listener on `addr` with `SO_REUSEPORT` and `SO_REUSEADDR` set before the
/// bind, listening with the library's backlog.
pub(crate) fn reuse_port_listener(addr: SocketAddr) -> io::Result<net::TcpListener> {
    use std::os::fd::AsRawFd;
    let fd = socket(addr::domain(&addr), libc::SOCK_STREAM)?;
    let one: libc::c_int = 1;
    for option in [libc::SO_REUSEADDR, libc::SO_REUSEPORT] {
        // SAFETY: setsockopt(2) on a live descriptor, reading a live c_int of the
        // length given.
        let rc = unsafe {
            libc::setsockopt(
                fd.as_raw_fd(),
                libc::SOL_SOCKET,
                option,
                (&one as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        if rc < 0 {
            return Err(io::Error::last_os_error());
        }
    }
    let raw = RawAddr::from(addr);
    // SAFETY: bind(2) reads `raw.len` bytes of a live sockaddr_storage.
    if unsafe { libc::bind(fd.as_raw_fd(), raw.as_ptr(), raw.len) } < 0 {
        return Err(io::Error::last_os_error());
    }
    set_backlog(fd.as_fd())?;
    Ok(net::TcpListener::from(fd))
}
