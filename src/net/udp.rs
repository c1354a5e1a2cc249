//! UDP sockets.

use std::io;
use std::net::{self, SocketAddr, ToSocketAddrs};
use std::os::fd::{AsFd, OwnedFd};

use super::addr::{self, RawAddr};
use crate::buf::{IoBuf, IoBufMut};
use crate::fd::{set_blocking, SharedFd};
use crate::op::{Prepared, Recv, RecvFrom, Send, SendTo};
use crate::Ring;

/// A UDP socket.
///
/// Datagrams go to and come from any address with [`send_to`](UdpSocket::send_to)
/// and [`recv_from`](UdpSocket::recv_from); after [`connect`](UdpSocket::connect),
/// [`send`](UdpSocket::send) and [`recv`](UdpSocket::recv) talk to one peer.
///
/// # Examples
///
/// ```
/// use linear_uring::{net::UdpSocket, Ring};
///
/// let ring = Ring::new()?;
/// let a = UdpSocket::bind(&ring, "127.0.0.1:0")?;
/// let b = UdpSocket::bind(&ring, "127.0.0.1:0")?;
/// ring.block_on(async {
///     let (sent, _) = a.send_to(&b"ping"[..], b.local_addr()?).submit().complete().await;
///     assert_eq!(sent?, 4);
///     let (received, buf) = b.recv_from(Vec::with_capacity(64)).submit().complete().await;
///     let (n, from) = received?;
///     assert_eq!((&buf[..n], from), (&b"ping"[..], a.local_addr()?));
///     Ok::<(), std::io::Error>(())
/// })?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct UdpSocket {
    ring: Ring,
    fd: SharedFd,
}

impl UdpSocket {
    /// Creates a UDP socket bound to `addr` (the first address it resolves to that
    /// binds; port 0 picks a free port).
    ///
    /// # Errors
    ///
    /// As [`std::net::UdpSocket::bind`].
    pub fn bind(ring: &Ring, addr: impl ToSocketAddrs) -> io::Result<UdpSocket> {
        UdpSocket::from_std(ring, net::UdpSocket::bind(addr)?)
    }

    /// Wraps a `std` socket (made blocking: the ring waits for it).
    ///
    /// # Errors
    ///
    /// If the descriptor's flags cannot be read or changed.
    pub fn from_std(ring: &Ring, socket: net::UdpSocket) -> io::Result<UdpSocket> {
        let fd = OwnedFd::from(socket);
        set_blocking(&fd)?;
        Ok(UdpSocket {
            ring: ring.clone(),
            fd: SharedFd::new(fd),
        })
    }

    /// The `std` socket back.
    ///
    /// # Errors
    ///
    /// `ResourceBusy` if an op on it (an abandoned receive) is still in flight.
    pub fn into_std(self) -> io::Result<net::UdpSocket> {
        self.fd.into_owned("UdpSocket").map(net::UdpSocket::from)
    }

    /// Sets the socket's default peer: [`send`](UdpSocket::send) goes to `addr`, and
    /// only datagrams from `addr` are received.
    ///
    /// This is an ordinary system call: connecting a UDP socket only records the
    /// peer, it never waits.
    ///
    /// # Errors
    ///
    /// As `connect(2)`: `EAFNOSUPPORT` for an address of the other IP family,
    /// `ENETUNREACH`, ...
    ///
    /// # References
    ///
    /// `connect(2)`, `udp(7)`.
    pub fn connect(&self, addr: SocketAddr) -> io::Result<()> {
        let raw = RawAddr::from(addr);
        loop {
            // SAFETY: connect(2) reads `raw.len` bytes of `raw.storage`, which is
            // that long and outlives the call; the descriptor is open while `self`
            // holds it.
            let rc = unsafe { libc::connect(self.fd.raw(), raw.as_ptr(), raw.len) };
            if rc == 0 {
                return Ok(());
            }
            let err = io::Error::last_os_error();
            if err.kind() != io::ErrorKind::Interrupted {
                return Err(err);
            }
        }
    }

    /// Describes sending `buf`'s initialised bytes as one datagram to `addr`.
    ///
    /// # Cancellation
    ///
    /// See [`SendTo`]: the buffer always comes back.
    pub fn send_to<B: IoBuf>(&self, buf: B, addr: SocketAddr) -> Prepared<SendTo<B>> {
        SendTo::prepare(&self.ring, &self.fd, buf, RawAddr::from(addr))
    }

    /// Describes receiving one datagram into `buf`'s spare capacity, after its
    /// initialised bytes, with its sender's address.
    ///
    /// # Errors
    ///
    /// A buffer with no spare capacity fails at once with `InvalidInput`; see
    /// [`RecvFrom`].
    ///
    /// # Cancellation
    ///
    /// See [`RecvFrom`]: a cancel never loses a datagram the kernel delivered.
    pub fn recv_from<B: IoBufMut>(&self, buf: B) -> Prepared<RecvFrom<B>> {
        RecvFrom::prepare(&self.ring, &self.fd, buf)
    }

    /// Describes sending `buf`'s initialised bytes as one datagram to the connected
    /// peer (see [`connect`](UdpSocket::connect)).
    ///
    /// On a socket that is not connected the completion fails with
    /// `EDESTADDRREQ`.
    ///
    /// # Cancellation
    ///
    /// See [`Send`].
    pub fn send<B: IoBuf>(&self, buf: B) -> Prepared<Send<B>> {
        Send::prepare(&self.ring, &self.fd, buf, 0)
    }

    /// Describes receiving one datagram into `buf`'s spare capacity, after its
    /// initialised bytes (from the connected peer, if the socket is connected).
    ///
    /// # Errors
    ///
    /// A buffer with no spare capacity fails at once with `InvalidInput`; see
    /// [`Recv`].
    ///
    /// # Cancellation
    ///
    /// See [`Recv`].
    pub fn recv<B: IoBufMut>(&self, buf: B) -> Prepared<Recv<B>> {
        Recv::prepare(&self.ring, &self.fd, buf)
    }

    /// The local address.
    ///
    /// # Errors
    ///
    /// As `getsockname(2)`.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        addr::local_addr(self.fd.as_fd())
    }

    /// The connected peer's address.
    ///
    /// # Errors
    ///
    /// `ENOTCONN` if the socket is not connected; otherwise as `getpeername(2)`.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        addr::peer_addr(self.fd.as_fd())
    }

    /// The ring this socket belongs to.
    pub fn ring(&self) -> &Ring {
        &self.ring
    }

    /// Closes the socket through the ring, reporting any error.
    ///
    /// If an op on it is still in flight, the descriptor is closed when that op
    /// completes instead.
    ///
    /// # Errors
    ///
    /// As `close(2)`.
    pub async fn close(self) -> io::Result<()> {
        self.fd.close(&self.ring).await
    }
}

crate::fd::impl_fd_traits!(UdpSocket);
