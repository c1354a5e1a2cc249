//! Unix-domain stream sockets: a listener and a connected stream.

use std::ffi::OsStr;
use std::io;
use std::mem::{self, ManuallyDrop};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::os::linux::net::SocketAddrExt;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::net::{self as std_unix, SocketAddr};
use std::path::Path;
use std::rc::Rc;

use super::addr::RawAddr;
use super::stream::stream_methods;
use super::{sealed, set_backlog, socket, ReadHalf, ReuniteError, Stream, WriteHalf};
use crate::buf::{IoBuf, IoBufMut};
use crate::fd::{set_blocking, SharedFd};
use crate::kick::Listening;
use crate::op::{
    Accept, AcceptMulti, Connect, Prepared, PreparedMultishot, Readv, Recv, RecvMsg, Send, SendMsg,
    Shutdown, Writev,
};
use crate::Ring;

/// A Unix-domain stream socket listening for connections.
///
/// # Examples
///
/// ```
/// use linear_uring::{net::{UnixListener, UnixStream}, Ring};
///
/// let path = std::env::temp_dir().join(format!("linear-uring-doc-{}.sock", std::process::id()));
/// let ring = Ring::new()?;
/// let listener = UnixListener::bind(&ring, &path)?;
/// ring.block_on(async {
///     let connect = UnixStream::connect(&ring, &path)?.submit();
///     let (server, _peer) = listener.accept().submit().complete().await?;
///     let client = connect.complete().await?;
///     client.close().await?;
///     server.close().await?;
///     listener.close().await
/// })?;
/// std::fs::remove_file(&path)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct UnixListener {
    ring: Ring,
    /// Shared with the accepts on it; dropped before `fd`, which it names.
    listening: Rc<Listening>,
    fd: SharedFd,
}

impl UnixListener {
    /// Creates a listener bound to `path`, which must not exist yet. The file is not
    /// removed when the listener is closed.
    ///
    /// # Errors
    ///
    /// As [`std::os::unix::net::UnixListener::bind`]: `EADDRINUSE` if `path`
    /// exists, `InvalidInput` if it is too long for a `sockaddr_un`, ...
    pub fn bind(ring: &Ring, path: impl AsRef<Path>) -> io::Result<UnixListener> {
        let listener = UnixListener::from_std(ring, std_unix::UnixListener::bind(path)?)?;
        set_backlog(listener.fd.as_fd())?;
        Ok(listener)
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
    pub fn from_std(ring: &Ring, listener: std_unix::UnixListener) -> io::Result<UnixListener> {
        let fd = OwnedFd::from(listener);
        set_blocking(&fd)?;
        Ok(UnixListener {
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
    pub fn into_std(self) -> io::Result<std_unix::UnixListener> {
        let UnixListener { listening, fd, .. } = self;
        drop(listening);
        fd.into_owned("UnixListener")
            .map(std_unix::UnixListener::from)
    }

    /// Describes an accept: submit it to wait for the next connection.
    ///
    /// # Cancellation
    ///
    /// See [`Accept`]: a cancel never loses a connection the kernel accepted.
    pub fn accept(&self) -> Prepared<Accept<UnixStream>> {
        Accept::prepare(&self.ring, &self.fd, &self.listening)
    }

    /// Describes a multishot accept: submitted, it is a stream that yields every
    /// connection the listener receives, until it is cancelled.
    ///
    /// # Examples
    ///
    /// ```
    /// # use linear_uring::{net::UnixListener, Ring};
    /// # let ring = Ring::new()?;
    /// # let dir = std::env::temp_dir().join(format!("lu-incoming-doc-{}", std::process::id()));
    /// # let _ = std::fs::remove_file(&dir);
    /// # let listener = UnixListener::bind(&ring, &dir)?;
    /// # let addr = listener.local_addr()?;
    /// ring.block_on(async {
    ///     let mut incoming = listener.incoming().submit();
    /// #   let _client = std::os::unix::net::UnixStream::connect(addr.as_pathname().unwrap())?;
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
    pub fn incoming(&self) -> PreparedMultishot<AcceptMulti<UnixStream>> {
        AcceptMulti::prepare(&self.ring, &self.fd, &self.listening)
    }

    /// The address the listener is bound to.
    ///
    /// # Errors
    ///
    /// As `getsockname(2)`.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        with_std(self.fd.as_fd(), std_unix::UnixListener::local_addr)
    }

    /// The ring this listener belongs to.
    pub fn ring(&self) -> &Ring {
        &self.ring
    }

    /// Closes the listener through the ring, reporting any error. The socket file
    /// stays; remove it with [`std::fs::remove_file`].
    ///
    /// If an op on it is still in flight, the descriptor is closed when that op
    /// completes instead.
    ///
    /// # Errors
    ///
    /// As `close(2)`.
    pub async fn close(self) -> io::Result<()> {
        let UnixListener {
            ring,
            listening,
            fd,
        } = self;
        drop(listening);
        fd.close(&ring).await
    }
}

/// A connected Unix-domain stream socket.
pub struct UnixStream {
    ring: Ring,
    fd: SharedFd,
}

impl UnixStream {
    /// Creates a socket and describes its connection to the listener at `path`:
    /// submit it, and the completion gives the connected stream.
    ///
    /// # Errors
    ///
    /// `InvalidInput` if `path` contains a NUL byte or is too long for a
    /// `sockaddr_un` (107 bytes); an error if the socket cannot be created
    /// (`EMFILE`, ...). Connection errors (`ENOENT` for a missing path,
    /// `ECONNREFUSED` when nobody listens) come from the op's completion.
    ///
    /// # Cancellation
    ///
    /// See [`Connect`]: the op owns the socket until it completes.
    pub fn connect(
        ring: &Ring,
        path: impl AsRef<Path>,
    ) -> io::Result<Prepared<Connect<UnixStream>>> {
        let peer = sockaddr_un(path.as_ref())?;
        let fd = socket(libc::AF_UNIX, libc::SOCK_STREAM)?;
        Ok(Connect::prepare(ring, fd, peer))
    }

    /// A pair of connected, unnamed streams (`socketpair(2)`).
    ///
    /// # Errors
    ///
    /// As [`std::os::unix::net::UnixStream::pair`].
    pub fn pair(ring: &Ring) -> io::Result<(UnixStream, UnixStream)> {
        let (a, b) = std_unix::UnixStream::pair()?;
        Ok((
            UnixStream::from_std(ring, a)?,
            UnixStream::from_std(ring, b)?,
        ))
    }

    /// The peer's address (usually unnamed: clients rarely bind).
    ///
    /// # Errors
    ///
    /// As `getpeername(2)`.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        with_std(self.fd.as_fd(), std_unix::UnixStream::peer_addr)
    }

    /// The local address.
    ///
    /// # Errors
    ///
    /// As `getsockname(2)`.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        with_std(self.fd.as_fd(), std_unix::UnixStream::local_addr)
    }
}

/// Passing descriptors (`SCM_RIGHTS`), on the stream and on its halves.
impl UnixStream {
    /// Describes a send of `buf`'s initialised bytes together with the descriptors
    /// `fds`, which the peer receives as new descriptors of its own
    /// ([`recv_with_fds`](UnixStream::recv_with_fds)).
    ///
    /// The op owns `fds` until it completes, then gives them back with the buffer:
    /// `(io::Result<usize>, B, Vec<OwnedFd>)`.
    ///
    /// # Errors
    ///
    /// `InvalidInput` at once for descriptors with an empty buffer or more than 253
    /// of them; see [`SendMsg`].
    ///
    /// # Cancellation
    ///
    /// See [`SendMsg`]: a cancelled send passed no descriptor, and hands them back.
    ///
    /// # References
    ///
    /// `io_uring_prep_sendmsg(3)`, `unix(7)` (`SCM_RIGHTS`).
    pub fn send_with_fds<B: IoBuf>(&self, buf: B, fds: Vec<OwnedFd>) -> Prepared<SendMsg<B>> {
        SendMsg::prepare(&self.ring, &self.fd, buf, fds)
    }

    /// Describes a receive into `buf`'s spare capacity of bytes and of up to
    /// `max_fds` descriptors sent with them, which come as owned, close-on-exec
    /// descriptors in the output's [`Received`](crate::op::Received).
    ///
    /// # Errors
    ///
    /// `InvalidInput` at once for a buffer with no spare capacity or a `max_fds` over
    /// 253; see [`RecvMsg`]. More descriptors than there is room for are not an
    /// error: [`Received::truncated`](crate::op::Received::truncated) says so.
    ///
    /// # Cancellation
    ///
    /// See [`RecvMsg`]: a cancel that loses the race hands over every descriptor
    /// received, and an abandoned receive's descriptors are closed by the ring.
    ///
    /// # References
    ///
    /// `io_uring_prep_recvmsg(3)`, `unix(7)` (`SCM_RIGHTS`).
    pub fn recv_with_fds<B: IoBufMut>(&self, buf: B, max_fds: usize) -> Prepared<RecvMsg<B>> {
        RecvMsg::prepare(&self.ring, &self.fd, buf, max_fds)
    }
}

impl ReadHalf<UnixStream> {
    /// Describes a receive of bytes and of up to `max_fds` descriptors sent with
    /// them, as [`UnixStream::recv_with_fds`].
    ///
    /// # Cancellation
    ///
    /// See [`RecvMsg`].
    pub fn recv_with_fds<B: IoBufMut>(&self, buf: B, max_fds: usize) -> Prepared<RecvMsg<B>> {
        RecvMsg::prepare(
            self.ring(),
            crate::fd::sealed::Sealed::shared_fd(self),
            buf,
            max_fds,
        )
    }
}

impl WriteHalf<UnixStream> {
    /// Describes a send of bytes together with descriptors, as
    /// [`UnixStream::send_with_fds`].
    ///
    /// # Cancellation
    ///
    /// See [`SendMsg`].
    pub fn send_with_fds<B: IoBuf>(&self, buf: B, fds: Vec<OwnedFd>) -> Prepared<SendMsg<B>> {
        SendMsg::prepare(
            self.ring(),
            crate::fd::sealed::Sealed::shared_fd(self),
            buf,
            fds,
        )
    }
}

// `from_std`, `into_std`, `recv`, `send`, `send_all`, `read_vectored`,
// `write_vectored`, `shutdown`, `ring`, `close`, `into_split` and `reunite`, shared
// with the other stream types.
stream_methods!(UnixStream, std_unix::UnixStream);

impl sealed::Sealed for UnixStream {
    fn peer_addr_of(fd: BorrowedFd<'_>) -> io::Result<SocketAddr> {
        with_std(fd, std_unix::UnixStream::peer_addr)
    }

    fn local_addr_of(fd: BorrowedFd<'_>) -> io::Result<SocketAddr> {
        with_std(fd, std_unix::UnixStream::local_addr)
    }
}

impl Stream for UnixStream {
    type Addr = SocketAddr;

    fn from_connected(ring: Ring, fd: OwnedFd) -> Self {
        UnixStream {
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
        let (fd, peer) = match from_sockaddr_un(peer, len)? {
            Some(peer) => (fd, peer),
            None => {
                // An unnamed peer (the usual case: clients rarely bind). `std` offers
                // no constructor for that address, only getpeername(2), which cannot
                // fail here: the accepted socket holds its peer until it is closed.
                let stream = std_unix::UnixStream::from(fd);
                let peer = stream.peer_addr()?;
                (OwnedFd::from(stream), peer)
            }
        };
        Ok((UnixStream::from_connected(ring, fd), peer))
    }
}

crate::fd::impl_fd_traits!(UnixListener, UnixStream);

/// Runs `f` on a `std` view of a descriptor, without taking it from its owner.
fn with_std<T: FromRawFd, R>(fd: BorrowedFd<'_>, f: impl FnOnce(&T) -> R) -> R {
    // SAFETY: the descriptor is open for the whole call, because `fd` borrows it.
    // `ManuallyDrop` never closes it, and `f` gets a shared reference only, so it
    // cannot move the view out and close it either: ownership never really changes.
    let view = ManuallyDrop::new(unsafe { T::from_raw_fd(fd.as_raw_fd()) });
    f(&view)
}

/// The offset of `sun_path` in `sockaddr_un`: the length of an unnamed address.
const SUN_PATH_OFFSET: usize = mem::offset_of!(libc::sockaddr_un, sun_path);

/// Encodes a filesystem path as a `sockaddr_un`, as `std` does for `bind`/`connect`.
fn sockaddr_un(path: &Path) -> io::Result<RawAddr> {
    let bytes = path.as_os_str().as_bytes();
    let mut sun = libc::sockaddr_un {
        sun_family: libc::AF_UNIX as libc::sa_family_t,
        sun_path: [0; 108],
    };
    if bytes.contains(&0) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "a Unix socket path must not contain NUL bytes",
        ));
    }
    // One byte is kept for the terminating NUL.
    if bytes.len() >= sun.sun_path.len() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "a Unix socket path must be shorter than {} bytes; this one has {}",
                sun.sun_path.len(),
                bytes.len()
            ),
        ));
    }
    for (dst, &src) in sun.sun_path.iter_mut().zip(bytes) {
        *dst = src as libc::c_char;
    }
    let mut raw = RawAddr::empty();
    // SAFETY: sockaddr_storage is larger than and aligned for sockaddr_un, and `raw`
    // is a local we hold exclusively.
    unsafe { raw.as_mut_ptr().cast::<libc::sockaddr_un>().write(sun) };
    // An empty path stays empty (the kernel rejects it); a pathname counts its NUL.
    let with_nul = usize::from(!bytes.is_empty());
    raw.len = (SUN_PATH_OFFSET + bytes.len() + with_nul) as libc::socklen_t;
    Ok(raw)
}

/// Decodes a `sockaddr_un` the kernel wrote: `None` for an unnamed address.
fn from_sockaddr_un(
    storage: &libc::sockaddr_storage,
    len: libc::socklen_t,
) -> io::Result<Option<SocketAddr>> {
    let family = libc::c_int::from(storage.ss_family);
    if family != libc::AF_UNIX {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("the kernel returned an address of family {family}, not AF_UNIX"),
        ));
    }
    let len = (len as usize).min(mem::size_of::<libc::sockaddr_un>());
    if len <= SUN_PATH_OFFSET {
        return Ok(None);
    }
    // SAFETY: sockaddr_storage is larger than sockaddr_un, and its first
    // `size_of::<sockaddr_un>()` bytes are initialised fields (zeroed at creation,
    // then written by the kernel); read_unaligned needs no alignment.
    let sun = unsafe {
        (storage as *const libc::sockaddr_storage)
            .cast::<libc::sockaddr_un>()
            .read_unaligned()
    };
    let path: Vec<u8> = sun.sun_path[..len - SUN_PATH_OFFSET]
        .iter()
        .map(|&c| c as u8)
        .collect();
    match path.split_first() {
        // A leading NUL marks Linux's abstract namespace; the name is every byte
        // after it, NULs included.
        Some((0, name)) => SocketAddr::from_abstract_name(name).map(Some),
        _ => {
            let end = path.iter().position(|&b| b == 0).unwrap_or(path.len());
            SocketAddr::from_pathname(OsStr::from_bytes(&path[..end])).map(Some)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sockaddr_un_pathname_round_trips() {
        let raw = sockaddr_un(Path::new("/tmp/some.sock")).unwrap();
        assert_eq!(raw.len as usize, SUN_PATH_OFFSET + 15);
        let addr = from_sockaddr_un(&raw.storage, raw.len).unwrap().unwrap();
        assert_eq!(addr.as_pathname(), Some(Path::new("/tmp/some.sock")));
    }

    #[test]
    fn sockaddr_un_unnamed_decodes_to_none() {
        let raw = sockaddr_un(Path::new("")).unwrap();
        assert_eq!(raw.len as usize, SUN_PATH_OFFSET);
        assert!(from_sockaddr_un(&raw.storage, raw.len).unwrap().is_none());
    }

    #[test]
    fn sockaddr_un_abstract_name_decodes() {
        let mut raw = sockaddr_un(Path::new("xname")).unwrap();
        // SAFETY: `raw` is a local whose storage holds a sockaddr_un (aligned, in
        // bounds); overwriting its first path byte turns "xname" into "\0name".
        unsafe {
            let sun = raw.as_mut_ptr().cast::<libc::sockaddr_un>();
            (*sun).sun_path[0] = 0;
        }
        // An abstract address has no terminating NUL.
        raw.len = (SUN_PATH_OFFSET + 5) as libc::socklen_t;
        let addr = from_sockaddr_un(&raw.storage, raw.len).unwrap().unwrap();
        assert_eq!(addr.as_abstract_name(), Some(&b"name"[..]));
    }

    #[test]
    fn sockaddr_un_rejects_nul_and_overlong_paths() {
        let nul = sockaddr_un(Path::new("a\0b")).unwrap_err();
        assert_eq!(nul.kind(), io::ErrorKind::InvalidInput);
        let long = "x".repeat(108);
        let err = sockaddr_un(Path::new(&long)).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
        assert!(sockaddr_un(Path::new(&long[..107])).is_ok());
    }

    #[test]
    fn sockaddr_un_other_family_is_an_error() {
        let raw = RawAddr::from("127.0.0.1:1".parse::<std::net::SocketAddr>().unwrap());
        assert!(from_sockaddr_un(&raw.storage, raw.len).is_err());
    }
}
