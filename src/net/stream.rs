//! What every connected stream type does the same way, written once.
//!
//! [`TcpStream`](super::TcpStream) and [`UnixStream`](super::UnixStream) differ in how
//! they connect and name their peers; everything else (converting from and into
//! `std`, receiving, sending, shutting down, closing, splitting into halves and
//! reuniting them) is the same code on the same two fields, `ring` and `fd`. The
//! macro below writes those methods, with their docs, into each type's own `impl`,
//! so that users see plain inherent methods and need no trait in scope.

/// Writes the methods shared by the stream types into `impl $ty`.
///
/// `$ty` must have the fields `ring: Ring` and `fd: SharedFd` and implement
/// [`Stream`](super::Stream); `$std` is its `std` twin. The signatures name their
/// types as the invoking module imports them (`io`, `Ring`, `IoBuf`, `IoBufMut`,
/// `Prepared`, `Recv`, `Send`, `Readv`, `Writev`, `Shutdown`, `ReadHalf`,
/// `WriteHalf`, `ReuniteError`), so that where rustc quotes one in a note (the bound of `recv`,
/// `close` taking `self`), it reads as code written by hand; the bodies use full
/// paths.
macro_rules! stream_methods {
    ($ty:ident, $std:ty) => {
        impl $crate::compose::Endpoints for $ty {
            fn endpoint(&self) -> $crate::compose::Endpoint {
                $crate::compose::Endpoint::socket(&self.ring, &self.fd)
            }
        }

        impl $crate::Source for $ty {}

        impl $crate::Sink for $ty {}

        impl $ty {
            /// Wraps a connected `std` stream (made blocking: the ring waits for it).
            ///
            /// # Errors
            ///
            /// If the descriptor's flags cannot be read or changed.
            pub fn from_std(ring: &Ring, stream: $std) -> io::Result<$ty> {
                let fd = ::std::os::fd::OwnedFd::from(stream);
                $crate::fd::set_blocking(&fd)?;
                Ok(<$ty as $crate::net::Stream>::from_connected(
                    ring.clone(),
                    fd,
                ))
            }

            /// The `std` stream back.
            ///
            /// # Errors
            ///
            /// `ResourceBusy` if an op on it is still in flight.
            pub fn into_std(self) -> io::Result<$std> {
                self.fd.into_owned(stringify!($ty)).map(<$std>::from)
            }

            /// Describes a receive into `buf`'s spare capacity, after its initialised
            /// bytes.
            ///
            /// # Errors
            ///
            /// A buffer with no spare capacity fails at once with `InvalidInput`; see
            /// [`Recv`](crate::op::Recv).
            ///
            /// # Cancellation
            ///
            /// See [`Recv`](crate::op::Recv): a cancel never loses bytes the kernel
            /// delivered.
            pub fn recv<B: IoBufMut>(&self, buf: B) -> Prepared<Recv<B>> {
                $crate::op::Recv::prepare(&self.ring, &self.fd, buf)
            }

            /// Describes a send of `buf`'s initialised bytes (the kernel may take fewer).
            ///
            /// # Cancellation
            ///
            /// See [`Send`](crate::op::Send).
            pub fn send<B: IoBuf>(&self, buf: B) -> Prepared<Send<B>> {
                $crate::op::Send::prepare(&self.ring, &self.fd, buf, 0)
            }

            /// Describes a receive into a buffer the kernel picks from `group` when
            /// the data arrives: no buffer is set aside while the receive waits.
            ///
            /// # Cancellation
            ///
            /// See [`RecvProvided`](crate::op::RecvProvided).
            pub fn recv_provided(
                &self,
                group: &$crate::buf::BufRing,
            ) -> Prepared<$crate::op::RecvProvided> {
                $crate::op::RecvProvided::prepare(&self.ring, &self.fd, group)
            }

            /// Describes a receive into as many buffers of `group` as the data that
            /// has arrived needs (a bundle, Linux 6.10): one completion, the
            /// buffers in order.
            ///
            /// # Cancellation
            ///
            /// See [`RecvBundle`](crate::op::RecvBundle).
            #[doc(alias = "io_uring_prep_recv_bundle")]
            pub fn recv_bundle(
                &self,
                group: &$crate::buf::BufRing,
            ) -> Prepared<$crate::op::RecvBundle> {
                $crate::op::RecvBundle::prepare(&self.ring, &self.fd, group)
            }

            /// Describes a multishot receive: submitted, it is a stream of buffers
            /// the kernel picks from `group`, one per receive, until end of stream,
            /// an error, or a cancel.
            ///
            /// # Cancellation
            ///
            /// See [`RecvMulti`](crate::op::RecvMulti).
            #[doc(alias = "io_uring_prep_recv_multishot")]
            pub fn recv_multi(
                &self,
                group: &$crate::buf::BufRing,
            ) -> $crate::op::PreparedMultishot<$crate::op::RecvMulti> {
                $crate::op::RecvMulti::prepare(&self.ring, &self.fd, group)
            }

            /// Describes a multishot receive of bundles (Linux 6.10): submitted, it
            /// is a stream of bundles, each as many buffers of `group` as one
            /// receive's data needed, in order, until end of stream, an error, or a
            /// cancel.
            ///
            /// # Cancellation
            ///
            /// See [`RecvMultiBundle`](crate::op::RecvMultiBundle).
            #[doc(alias = "io_uring_prep_recv_multishot")]
            pub fn recv_multi_bundle(
                &self,
                group: &$crate::buf::BufRing,
            ) -> $crate::op::PreparedMultishot<$crate::op::RecvMultiBundle> {
                $crate::op::RecvMultiBundle::prepare(&self.ring, &self.fd, group)
            }

            /// Describes a zero-copy send of `buf`'s initialised bytes: the buffer
            /// comes back only once the kernel has let go of its pages.
            ///
            /// # Cancellation
            ///
            /// See [`SendZc`](crate::op::SendZc).
            #[doc(alias = "io_uring_prep_send_zc")]
            pub fn send_zc<B: IoBuf>(&self, buf: B) -> Prepared<$crate::op::SendZc<B>> {
                $crate::op::SendZc::prepare(&self.ring, &self.fd, buf)
            }

            /// Describes a zero-copy send of several buffers in one message: the
            /// buffers come back only once the kernel has let go of their pages.
            ///
            /// # Errors
            ///
            /// `InvalidInput` at once for more than 1024 buffers.
            ///
            /// # Cancellation
            ///
            /// See [`SendMsgZc`](crate::op::SendMsgZc).
            #[doc(alias = "io_uring_prep_sendmsg_zc")]
            pub fn send_vectored_zc<B: IoBuf>(
                &self,
                bufs: Vec<B>,
            ) -> Prepared<$crate::op::SendMsgZc<B>> {
                $crate::op::SendMsgZc::prepare(&self.ring, &self.fd, bufs)
            }

            /// Describes a vectored read (`readv(2)`) into `bufs`, filling each one's
            /// spare capacity in turn, after its initialised bytes.
            ///
            /// # Errors
            ///
            /// `InvalidInput` at once for no buffers, no spare capacity in any, or
            /// more than 1024 of them; see [`Readv`](crate::op::Readv).
            ///
            /// # Cancellation
            ///
            /// See [`Readv`](crate::op::Readv): a cancel never loses bytes the kernel
            /// delivered.
            ///
            /// # References
            ///
            /// `io_uring_prep_readv(3)`, `readv(2)`.
            pub fn read_vectored<B: IoBufMut>(&self, bufs: Vec<B>) -> Prepared<Readv<B>> {
                $crate::op::Readv::prepare(&self.ring, &self.fd, bufs, u64::MAX)
            }

            /// Describes a vectored write (`writev(2)`) of the initialised bytes of
            /// `bufs`, one after another (the kernel may take fewer).
            ///
            /// Unlike [`send`](Self::send), a `writev(2)` to a socket whose peer is
            /// gone raises `SIGPIPE` besides failing with `EPIPE`; see
            /// [`Writev`](crate::op::Writev).
            ///
            /// # Cancellation
            ///
            /// See [`Writev`](crate::op::Writev).
            ///
            /// # References
            ///
            /// `io_uring_prep_writev(3)`, `writev(2)`.
            pub fn write_vectored<B: IoBuf>(&self, bufs: Vec<B>) -> Prepared<Writev<B>> {
                $crate::op::Writev::prepare(&self.ring, &self.fd, bufs, u64::MAX)
            }

            /// Sends all of `buf`'s initialised bytes, one send op after another, and
            /// gives the buffer back: a [`WriteAll`](crate::WriteAll), submitted now.
            ///
            /// # Errors
            ///
            /// The first failed send's error, or `WriteZero` if the kernel accepted
            /// nothing.
            ///
            /// # Cancellation
            ///
            /// See [`WriteAll`](crate::WriteAll): it can be raced, given a
            /// [`deadline`](crate::deadline) and cancelled, which reports the bytes
            /// sent and hands the buffer back.
            #[track_caller]
            pub fn send_all<B: IoBuf>(&self, buf: B) -> $crate::WriteAll<B> {
                $crate::WriteAll::new($crate::compose::Endpoint::socket(&self.ring, &self.fd), buf)
            }

            /// Receives exactly `len` bytes into `buf`, after its initialised bytes,
            /// one receive after another: a [`ReadExact`](crate::ReadExact),
            /// submitted now.
            ///
            /// # Errors
            ///
            /// `UnexpectedEof` if the peer ends the stream first (the buffer holds what
            /// arrived), `InvalidInput` for a buffer with less than `len` bytes of
            /// spare capacity, or the first failed receive's error.
            ///
            /// # Cancellation
            ///
            /// See [`ReadExact`](crate::ReadExact): a cancel hands back the buffer with
            /// every byte that arrived.
            #[track_caller]
            pub fn recv_exact<B: IoBufMut>(&self, buf: B, len: usize) -> $crate::ReadExact<B> {
                $crate::ReadExact::new(
                    $crate::compose::Endpoint::socket(&self.ring, &self.fd),
                    buf,
                    len,
                )
            }

            /// Describes a shutdown of one or both directions of the connection.
            pub fn shutdown(&self, how: ::std::net::Shutdown) -> Prepared<Shutdown> {
                $crate::op::Shutdown::prepare(&self.ring, &self.fd, how)
            }

            /// The ring this stream belongs to.
            pub fn ring(&self) -> &Ring {
                &self.ring
            }

            /// Closes the stream through the ring, reporting any error.
            ///
            /// If an op on it is still in flight, the descriptor is closed when that op
            /// completes instead; a composite op that uses it (a
            /// [`WriteAll`](crate::WriteAll), a [`Copying`](crate::Copying)) keeps it
            /// open until the composite op itself is gone.
            ///
            /// # Errors
            ///
            /// As `close(2)`.
            pub async fn close(self) -> io::Result<()> {
                self.fd.close(&self.ring).await
            }

            /// Splits the stream into a half that receives and a half that sends, so
            /// that two tasks can use both directions at once.
            ///
            /// Each half holds the descriptor, and it is closed once, when the last
            /// half and the last op on it are gone; dropping one half shuts nothing
            /// down.
            #[doc = concat!("[`", stringify!($ty), "::reunite`] gives the stream back.")]
            /// Sharing the stream through an `Rc` instead leaves no way to close it:
            /// `close` takes the stream by value, which an `Rc` cannot give up.
            ///
            /// # Examples
            ///
            /// See [`ReadHalf`](crate::net::ReadHalf).
            #[must_use = "dropping both halves closes the stream"]
            pub fn into_split(self) -> (ReadHalf<$ty>, WriteHalf<$ty>) {
                $crate::net::split::split(self.ring, self.fd)
            }

            /// Puts the two halves of a stream back together.
            ///
            /// Ops in flight on the halves are unaffected: they go on holding the
            /// descriptor, which is now the stream's.
            ///
            /// # Errors
            ///
            /// If the halves come from two different streams: a
            /// [`ReuniteError`](crate::net::ReuniteError) holding both halves, as they
            /// were.
            pub fn reunite(
                read: ReadHalf<$ty>,
                write: WriteHalf<$ty>,
            ) -> Result<$ty, ReuniteError<$ty>> {
                let (ring, fd) = $crate::net::split::reunite(read, write)?;
                Ok($ty { ring, fd })
            }
        }
    };
}
pub(crate) use stream_methods;
