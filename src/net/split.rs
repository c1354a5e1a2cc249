//! Owned halves of a stream: one task receives while another sends.
//!
//! A half is the stream's ring and a reference to its descriptor, typed by the
//! stream it came from so that only halves of the same type can be reunited. The
//! descriptor's lifetime is [`SharedFd`]'s: each half holds one reference and each
//! op in flight another, and the last to go closes it, once.

use std::error::Error;
use std::fmt;
use std::io;
use std::marker::PhantomData;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};

use super::Stream;
use crate::buf::{IoBuf, IoBufMut};
use crate::compose::{Endpoint, Endpoints};
use crate::fd::SharedFd;
use crate::op::{Prepared, Readv, Recv, Send, Shutdown, Writev};
use crate::{ReadExact, Ring, WriteAll};

/// The receiving half of a stream, from `into_split` on
/// [`TcpStream`](super::TcpStream::into_split) or
/// [`UnixStream`](super::UnixStream::into_split).
///
/// The two halves share the stream's descriptor: each holds a reference, as does
/// every op in flight on it, and the descriptor is closed once, when the last of
/// them goes. So a half can be dropped, or closed, while the other is still in use,
/// and an op abandoned on a half keeps the descriptor open until its completion.
/// `reunite` ([`TcpStream::reunite`](super::TcpStream::reunite),
/// [`UnixStream::reunite`](super::UnixStream::reunite)) gives the stream back.
///
/// Like the stream, a half is `!Send`: it stays on its ring's thread, and tasks on
/// that ring ([`Ring::spawn`]) can each own one.
///
/// # Examples
///
/// Receiving in one task while another sends:
///
/// ```
/// use linear_uring::{net::UnixStream, Ring};
///
/// let ring = Ring::new()?;
/// let (local, peer) = UnixStream::pair(&ring)?;
/// ring.block_on(async {
///     let (read, write) = local.into_split();
///     let receiver = ring.spawn(async move {
///         let (n, buf) = read.recv(Vec::with_capacity(64)).submit().complete().await;
///         (n.map(|n| buf[..n].to_vec()), read)
///     });
///     let sender = ring.spawn(async move {
///         let (sent, _) = write.send_all(&b"ping"[..]).await;
///         (sent, write)
///     });
///
///     let (n, buf) = peer.recv(Vec::with_capacity(64)).submit().complete().await;
///     assert_eq!(&buf[..n?], b"ping");
///     peer.send_all(&b"pong"[..]).await.0?;
///
///     let (sent, write) = sender.await;
///     sent?;
///     let (received, read) = receiver.await;
///     assert_eq!(received?, b"pong");
///     UnixStream::reunite(read, write).expect("halves of one stream").close().await?;
///     peer.close().await
/// })?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct ReadHalf<S> {
    ring: Ring,
    fd: SharedFd,
    stream: PhantomData<S>,
}

/// The sending half of a stream, from `into_split` on
/// [`TcpStream`](super::TcpStream::into_split) or
/// [`UnixStream`](super::UnixStream::into_split).
///
/// See [`ReadHalf`] for how the halves share the descriptor, and an example.
/// Dropping a write half does not shut the connection down: the peer sees end of
/// stream when the descriptor closes, or after [`shutdown`](WriteHalf::shutdown) or
/// [`close`](WriteHalf::close).
pub struct WriteHalf<S> {
    ring: Ring,
    fd: SharedFd,
    stream: PhantomData<S>,
}

static_assertions::assert_not_impl_any!(ReadHalf<super::TcpStream>: std::marker::Send, Sync);
static_assertions::assert_not_impl_any!(WriteHalf<super::TcpStream>: std::marker::Send, Sync);

/// Splits a stream's parts into its two halves.
pub(crate) fn split<S>(ring: Ring, fd: SharedFd) -> (ReadHalf<S>, WriteHalf<S>) {
    let read = ReadHalf {
        ring: ring.clone(),
        fd: fd.clone(),
        stream: PhantomData,
    };
    let write = WriteHalf {
        ring,
        fd,
        stream: PhantomData,
    };
    (read, write)
}

/// The parts of the stream that `read` and `write` were split from, or both halves
/// back if they come from different streams.
pub(crate) fn reunite<S>(
    read: ReadHalf<S>,
    write: WriteHalf<S>,
) -> Result<(Ring, SharedFd), ReuniteError<S>> {
    // Two open descriptors never share a number, but comparing references does not
    // even rely on that.
    if !read.fd.same(&write.fd) {
        return Err(ReuniteError(read, write));
    }
    drop(write);
    Ok((read.ring, read.fd))
}

impl<S: Stream> ReadHalf<S> {
    /// Describes a receive into `buf`'s spare capacity, after its initialised bytes.
    ///
    /// # Errors
    ///
    /// A buffer with no spare capacity fails at once with `InvalidInput`; see
    /// [`Recv`].
    ///
    /// # Cancellation
    ///
    /// See [`Recv`]: a cancel never loses bytes the kernel delivered. An abandoned
    /// receive keeps the descriptor open until its completion, even if both halves
    /// are gone by then.
    pub fn recv<B: IoBufMut>(&self, buf: B) -> Prepared<Recv<B>> {
        Recv::prepare(&self.ring, &self.fd, buf)
    }

    /// Describes a vectored read (`readv(2)`) into `bufs`, filling each one's spare
    /// capacity in turn, after its initialised bytes.
    ///
    /// # Errors
    ///
    /// `InvalidInput` at once for no buffers, no spare capacity in any, or more than
    /// 1024 of them; see [`Readv`].
    ///
    /// # Cancellation
    ///
    /// See [`Readv`]: a cancel never loses bytes the kernel delivered.
    pub fn read_vectored<B: IoBufMut>(&self, bufs: Vec<B>) -> Prepared<Readv<B>> {
        Readv::prepare(&self.ring, &self.fd, bufs, u64::MAX)
    }

    /// Receives exactly `len` bytes into `buf`, after its initialised bytes, one
    /// receive after another: a [`ReadExact`](crate::ReadExact), submitted now.
    ///
    /// # Errors
    ///
    /// `UnexpectedEof` if the peer ends the stream first (the buffer holds what
    /// arrived), `InvalidInput` for a buffer with less than `len` bytes of spare
    /// capacity, or the first failed receive's error.
    ///
    /// # Cancellation
    ///
    /// See [`ReadExact`](crate::ReadExact): a cancel hands back the buffer with every
    /// byte that arrived.
    #[track_caller]
    pub fn recv_exact<B: IoBufMut>(&self, buf: B, len: usize) -> ReadExact<B> {
        ReadExact::new(Endpoint::socket(&self.ring, &self.fd), buf, len)
    }

    /// The peer's address.
    ///
    /// # Errors
    ///
    /// As `getpeername(2)`.
    pub fn peer_addr(&self) -> io::Result<S::Addr> {
        S::peer_addr_of(self.fd.as_fd())
    }

    /// The local address.
    ///
    /// # Errors
    ///
    /// As `getsockname(2)`.
    pub fn local_addr(&self) -> io::Result<S::Addr> {
        S::local_addr_of(self.fd.as_fd())
    }

    /// The ring this half belongs to.
    pub fn ring(&self) -> &Ring {
        &self.ring
    }

    /// Lets go of this half; if it is the last reference to the descriptor, closes
    /// the descriptor through the ring.
    ///
    /// It shuts nothing down: while the write half or an op on the descriptor is
    /// still there, the connection stays open for them, and the descriptor is closed
    /// when the last of them goes.
    ///
    /// # Errors
    ///
    /// As `close(2)`, when this half closed the descriptor; otherwise none.
    ///
    /// # Cancellation
    ///
    /// Dropping the future before it resolves abandons the close op, if there is one
    /// (see [`Close`](crate::op::Close)): the descriptor is still closed exactly
    /// once.
    pub async fn close(self) -> io::Result<()> {
        self.fd.close(&self.ring).await
    }
}

impl<S: Stream> WriteHalf<S> {
    /// Describes a send of `buf`'s initialised bytes (the kernel may take fewer).
    ///
    /// # Cancellation
    ///
    /// See [`Send`].
    pub fn send<B: IoBuf>(&self, buf: B) -> Prepared<Send<B>> {
        Send::prepare(&self.ring, &self.fd, buf, 0)
    }

    /// Describes a vectored write (`writev(2)`) of the initialised bytes of `bufs`,
    /// one after another (the kernel may take fewer).
    ///
    /// Unlike [`send`](WriteHalf::send), a `writev(2)` to a socket whose peer is gone
    /// raises `SIGPIPE` besides failing with `EPIPE`; see [`Writev`].
    ///
    /// # Cancellation
    ///
    /// See [`Writev`].
    pub fn write_vectored<B: IoBuf>(&self, bufs: Vec<B>) -> Prepared<Writev<B>> {
        Writev::prepare(&self.ring, &self.fd, bufs, u64::MAX)
    }

    /// Sends all of `buf`'s initialised bytes, one send op after another, and gives
    /// the buffer back: a [`WriteAll`](crate::WriteAll), submitted now.
    ///
    /// # Errors
    ///
    /// The first failed send's error, or `WriteZero` if the kernel accepted nothing.
    ///
    /// # Cancellation
    ///
    /// See [`WriteAll`](crate::WriteAll): it can be raced, given a
    /// [`deadline`](crate::deadline) and cancelled, which reports the bytes sent.
    #[track_caller]
    pub fn send_all<B: IoBuf>(&self, buf: B) -> WriteAll<B> {
        WriteAll::new(Endpoint::socket(&self.ring, &self.fd), buf)
    }

    /// Describes a shutdown of the sending direction (`SHUT_WR`): the peer receives
    /// end of stream once everything sent before it is through, while the read half
    /// goes on receiving.
    pub fn shutdown(&self) -> Prepared<Shutdown> {
        Shutdown::prepare(&self.ring, &self.fd, std::net::Shutdown::Write)
    }

    /// The peer's address.
    ///
    /// # Errors
    ///
    /// As `getpeername(2)`.
    pub fn peer_addr(&self) -> io::Result<S::Addr> {
        S::peer_addr_of(self.fd.as_fd())
    }

    /// The local address.
    ///
    /// # Errors
    ///
    /// As `getsockname(2)`.
    pub fn local_addr(&self) -> io::Result<S::Addr> {
        S::local_addr_of(self.fd.as_fd())
    }

    /// The ring this half belongs to.
    pub fn ring(&self) -> &Ring {
        &self.ring
    }

    /// Says "done sending": shuts the sending direction down, as
    /// [`shutdown`](WriteHalf::shutdown), then lets go of this half; if it is the
    /// last reference to the descriptor, closes the descriptor through the ring.
    ///
    /// The read half, if it is still there, goes on receiving, and the descriptor is
    /// closed when it and every op on the descriptor are gone.
    ///
    /// # Errors
    ///
    /// The shutdown's error (`ENOTCONN` if the connection is already gone), else
    /// `close(2)`'s if this half closed the descriptor. The half is let go of either
    /// way.
    ///
    /// # Cancellation
    ///
    /// Dropping the future before it resolves abandons the op in flight, the
    /// shutdown or the close (see [`Op`](crate::Op)): the half is let go of, and the
    /// descriptor is still closed exactly once, but the shutdown may not happen.
    pub async fn close(self) -> io::Result<()> {
        let shutdown = self.shutdown().submit().complete().await;
        let closed = self.fd.close(&self.ring).await;
        shutdown.and(closed)
    }
}

impl<S> crate::fd::sealed::Sealed for ReadHalf<S> {
    fn shared_fd(&self) -> &SharedFd {
        &self.fd
    }
}

impl<S> crate::fd::Resource for ReadHalf<S> {}

impl<S> crate::fd::sealed::Sealed for WriteHalf<S> {
    fn shared_fd(&self) -> &SharedFd {
        &self.fd
    }
}

impl<S> crate::fd::Resource for WriteHalf<S> {}

impl<S> AsFd for ReadHalf<S> {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl<S> AsFd for WriteHalf<S> {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl<S> AsRawFd for ReadHalf<S> {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.raw()
    }
}

impl<S> AsRawFd for WriteHalf<S> {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.raw()
    }
}

impl<S> fmt::Debug for ReadHalf<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReadHalf").field("fd", &self.fd).finish()
    }
}

impl<S> fmt::Debug for WriteHalf<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WriteHalf").field("fd", &self.fd).finish()
    }
}

/// Two halves given to `reunite` that were split from different streams; both are
/// in here, unchanged.
///
/// `reunite` ([`TcpStream::reunite`](super::TcpStream::reunite),
/// [`UnixStream::reunite`](super::UnixStream::reunite)) returns it.
pub struct ReuniteError<S>(pub ReadHalf<S>, pub WriteHalf<S>);

impl<S> fmt::Debug for ReuniteError<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("ReuniteError")
            .field(&self.0)
            .field(&self.1)
            .finish()
    }
}

impl<S> fmt::Display for ReuniteError<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "cannot reunite a read half (fd {}) and a write half (fd {}) split from \
             different streams",
            self.0.fd.raw(),
            self.1.fd.raw()
        )
    }
}

impl<S> Error for ReuniteError<S> {}

impl<S> From<ReuniteError<S>> for io::Error {
    /// An `InvalidInput` error with the same message, for `?` in a function that
    /// returns `io::Result` (an `io::Error` must be `Send`, and the halves are not).
    /// The halves are dropped: each releases its share of its stream's descriptor,
    /// which is closed once the last share goes.
    fn from(err: ReuniteError<S>) -> io::Error {
        io::Error::new(io::ErrorKind::InvalidInput, err.to_string())
    }
}

impl<S> Endpoints for ReadHalf<S> {
    fn endpoint(&self) -> Endpoint {
        Endpoint::socket(&self.ring, &self.fd)
    }
}

impl<S> crate::Source for ReadHalf<S> {}

impl<S> Endpoints for WriteHalf<S> {
    fn endpoint(&self) -> Endpoint {
        Endpoint::socket(&self.ring, &self.fd)
    }
}

impl<S> crate::Sink for WriteHalf<S> {}
