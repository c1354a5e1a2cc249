//! Adapters to the async ecosystem's I/O traits: [`Compat`] implements
//! `futures-io`'s `AsyncRead`, `AsyncBufRead` and `AsyncWrite` (feature
//! `futures-io`) and tokio's (feature `tokio`) for the ring's streams, their owned
//! halves and files.
//!
//! Those traits are readiness-shaped: a `poll_read` that returns `Pending` may never
//! be called again (its future was dropped by `select!` or a timeout), and the
//! bytes it would have read must not be lost. A ring's receive is not readiness: the
//! kernel takes the bytes when they arrive. So the adapter owns the op in flight and
//! its buffer: a `poll_read` whose future is dropped leaves the receive in the
//! adapter, and the next `poll_read`, from whatever future, gets its bytes. A write
//! copies the caller's bytes into the adapter's buffer and reports them written once
//! its send is submitted; the send's outcome is reported by the next `poll_write`,
//! `poll_flush` or `poll_close`, so no byte is written twice or skipped whatever
//! future is dropped.
//!
//! A send runs in a task of the ring, so that a short send is continued whether or
//! not anybody polls the adapter (a write followed by a read, with no flush, works
//! as with a socket).
//!
//! With readiness I/O, a peer cannot read a write (and close) before the write call
//! returned; here the end of the stream can arrive while the caller's last write is
//! still in flight. A caller that polls its read side before its flush (hyper's
//! connection does) would take the end for a peer that left mid-message. So the end
//! of the stream is reported only once the write in flight has finished, and after
//! one more poll, in which the caller can flush it. A peer that half-closes and then
//! stops reading thus delays the end until the write fails or the ring shuts down.
//!
//! Dropping the adapter with a receive in flight cancels it, in a task spawned on
//! the ring, and with a send in flight lets it finish: nothing goes through the drop
//! policy, nothing leaks. A send to a peer that never reads holds the descriptor
//! open until the peer goes or the ring shuts down. After the ring has shut down,
//! an adapter dropped with an op in flight leaves it to the shutdown, which has
//! already cancelled and reaped it.
//!
//! # Examples
//!
//! ```
//! # #[cfg(feature = "futures-io")]
//! # {
//! use futures_lite::{AsyncReadExt, AsyncWriteExt};
//! use linear_uring::compat::Compat;
//! use linear_uring::net::UnixStream;
//! use linear_uring::Ring;
//!
//! let ring = Ring::new()?;
//! let (a, b) = UnixStream::pair(&ring)?;
//! let (mut a, mut b) = (Compat::new(a), Compat::new(b));
//! ring.block_on(async {
//!     a.write_all(b"through futures-io").await?;
//!     a.flush().await?;
//!     let mut got = [0u8; 18];
//!     b.read_exact(&mut got).await?;
//!     assert_eq!(&got, b"through futures-io");
//!     Ok::<(), std::io::Error>(())
//! })?;
//! # }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::fmt;
use std::io;
use std::task::{Context, Poll};

use crate::exec::JoinHandle;
use crate::fs::File;
use crate::net::{ReadHalf, Stream, TcpStream, UnixStream, WriteHalf};
use crate::op::{OpKind, Prepared, Read, Recv, Shutdown};
use crate::race::Linear;
use crate::token::Op;
use crate::{Ring, WriteAll};

#[cfg(feature = "tokio")]
mod drive;
#[cfg(feature = "futures-io")]
mod futures_io;
#[cfg(feature = "tokio")]
mod tokio;

#[cfg(feature = "tokio")]
pub use drive::{drive, Drive};

/// The buffer each direction of an adapter reads into and writes from.
const BUF_LEN: usize = 64 * 1024;

mod sealed {
    /// The ring a source or sink belongs to.
    pub trait Sealed {
        fn io_ring(&self) -> &crate::Ring;
    }
}

/// What an adapter reads from: the ring's streams, their read halves, files.
/// Sealed.
pub trait ReadSource: sealed::Sealed {
    #[doc(hidden)]
    type Op: OpKind<Output = (io::Result<usize>, Vec<u8>)>;
    #[doc(hidden)]
    fn read_op(&self, buf: Vec<u8>) -> Prepared<Self::Op>;
}

/// What an adapter writes to: the ring's streams, their write halves, files.
/// Sealed.
pub trait WriteSink: sealed::Sealed {
    #[doc(hidden)]
    fn write_op(&self, buf: Vec<u8>) -> WriteAll<Vec<u8>>;
    /// Shuts the sending direction down, for sockets; `None` for files.
    #[doc(hidden)]
    fn shutdown_op(&self) -> Option<Prepared<Shutdown>>;
}

macro_rules! stream_source_and_sink {
    ($($ty:ty),*) => {$(
        impl sealed::Sealed for $ty {
            fn io_ring(&self) -> &Ring {
                self.ring()
            }
        }

        impl ReadSource for $ty {
            type Op = Recv<Vec<u8>>;
            fn read_op(&self, buf: Vec<u8>) -> Prepared<Recv<Vec<u8>>> {
                self.recv(buf)
            }
        }

        impl WriteSink for $ty {
            #[track_caller]
            fn write_op(&self, buf: Vec<u8>) -> WriteAll<Vec<u8>> {
                self.send_all(buf)
            }
            fn shutdown_op(&self) -> Option<Prepared<Shutdown>> {
                Some(self.shutdown(std::net::Shutdown::Write))
            }
        }
    )*};
}

stream_source_and_sink!(TcpStream, UnixStream);

impl<S: Stream> sealed::Sealed for ReadHalf<S> {
    fn io_ring(&self) -> &Ring {
        self.ring()
    }
}

impl<S: Stream> ReadSource for ReadHalf<S> {
    type Op = Recv<Vec<u8>>;
    fn read_op(&self, buf: Vec<u8>) -> Prepared<Recv<Vec<u8>>> {
        self.recv(buf)
    }
}

impl<S: Stream> sealed::Sealed for WriteHalf<S> {
    fn io_ring(&self) -> &Ring {
        self.ring()
    }
}

impl<S: Stream> WriteSink for WriteHalf<S> {
    #[track_caller]
    fn write_op(&self, buf: Vec<u8>) -> WriteAll<Vec<u8>> {
        self.send_all(buf)
    }
    fn shutdown_op(&self) -> Option<Prepared<Shutdown>> {
        Some(self.shutdown())
    }
}

impl sealed::Sealed for File {
    fn io_ring(&self) -> &Ring {
        self.ring()
    }
}

/// A file reads and writes at its position, which each op advances.
impl ReadSource for File {
    type Op = Read<Vec<u8>>;
    fn read_op(&self, buf: Vec<u8>) -> Prepared<Read<Vec<u8>>> {
        self.read(buf)
    }
}

impl WriteSink for File {
    #[track_caller]
    fn write_op(&self, buf: Vec<u8>) -> WriteAll<Vec<u8>> {
        self.write_all(buf)
    }
    fn shutdown_op(&self) -> Option<Prepared<Shutdown>> {
        None
    }
}

/// A ring's stream, half or file seen through the ecosystem's I/O traits; see the
/// module docs for what it guarantees when futures are dropped.
pub struct Compat<S> {
    io: S,
    ops: Ops,
}

/// The adapter's ops and buffers, apart from the wrapped value so that
/// [`Compat::into_inner`] can give that back; dropping it settles what is in flight.
struct Ops {
    ring: Ring,
    read: ReadState<Vec<u8>>,
    reading: Option<Box<dyn ReadInFlight>>,
    write: WriteState,
    /// Where a held end of the stream is; see the module docs.
    eof: EofHold,
}

/// The end of the stream, received while a write reported done was in flight.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum EofHold {
    /// Not received, or reported.
    None,
    /// Received; held until the write in flight has finished.
    Waiting,
    /// The write has finished; reported at the next poll, after the caller had the
    /// chance to flush.
    Offered,
}

/// The read side: the buffer, and how much of it was handed out.
enum ReadState<B> {
    /// No bytes waiting; the buffer to receive into next.
    Idle(B),
    /// Bytes received and not handed out yet: `buf[pos..]`.
    Filled { buf: B, pos: usize },
    /// The buffer is in the receive in flight (`Compat::reading`).
    Lent,
}

/// A receive in flight, whatever its op's type.
trait ReadInFlight {
    fn poll(&mut self, cx: &mut Context<'_>) -> Poll<(io::Result<usize>, Vec<u8>)>;
    /// Hands the op to a task on its ring that cancels it and reaps it.
    fn cancel_in_background(self: Box<Self>, ring: &Ring);
}

impl<K: OpKind<Output = (io::Result<usize>, Vec<u8>)>> ReadInFlight for Op<K> {
    fn poll(&mut self, cx: &mut Context<'_>) -> Poll<(io::Result<usize>, Vec<u8>)> {
        self.poll_complete(cx)
    }

    fn cancel_in_background(self: Box<Self>, ring: &Ring) {
        let op = *self;
        // Detached: the task cancels the receive and drops what it got.
        drop(ring.spawn(async move { drop(op.cancel().await) }));
    }
}

/// The write side.
enum WriteState {
    /// No send in flight; the buffer to copy the next bytes into.
    Idle(Vec<u8>),
    /// A send of bytes already reported written, driven by a task on the ring so
    /// that it goes on (a short send continued) without the caller polling.
    Sending(JoinHandle<(io::Result<()>, Vec<u8>)>),
    /// The sending direction is being shut down.
    ShuttingDown(Op<Shutdown>, Vec<u8>),
    /// Shut down; writes fail.
    Closed(Vec<u8>),
    /// Between states, only while a method runs.
    Moving,
}

impl<S: sealed::Sealed> Compat<S> {
    /// Wraps a stream, a half or a file.
    pub fn new(io: S) -> Compat<S> {
        let ring = io.io_ring().clone();
        Compat {
            io,
            ops: Ops {
                ring,
                read: ReadState::Idle(Vec::with_capacity(BUF_LEN)),
                reading: None,
                write: WriteState::Idle(Vec::with_capacity(BUF_LEN)),
                eof: EofHold::None,
            },
        }
    }
}

impl<S> Compat<S> {
    /// The wrapped value.
    pub fn get_ref(&self) -> &S {
        &self.io
    }

    /// The wrapped value back, if nothing is in flight and no received byte is left
    /// unread; otherwise the adapter itself, unchanged (flush it, read what is left).
    // The adapter comes back whole, as `TcpStream::reunite` gives the halves back.
    #[allow(clippy::result_large_err)]
    pub fn into_inner(self) -> Result<S, Compat<S>> {
        let ops = &self.ops;
        let idle_read = ops.reading.is_none() && matches!(ops.read, ReadState::Idle(_));
        let idle_write = matches!(ops.write, WriteState::Idle(_) | WriteState::Closed(_));
        if !(idle_read && idle_write) {
            return Err(self);
        }
        Ok(self.io)
    }
}

impl<S: ReadSource> Compat<S> {
    /// The received bytes not handed out yet, receiving more if there are none; an
    /// empty slice at end of stream.
    fn poll_fill(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<&[u8]>> {
        loop {
            match self.ops.eof {
                EofHold::None => {}
                EofHold::Waiting => {
                    let in_flight = match &self.ops.write {
                        // Waiting here leaves the task's waker to the writer (a split
                        // half may be flushing).
                        WriteState::Sending(task) => {
                            std::task::ready!(task.poll_finished(cx));
                            true
                        }
                        _ => false,
                    };
                    if in_flight {
                        // Finished, not yet flushed: one poll for the caller's flush.
                        self.ops.eof = EofHold::Offered;
                        cx.waker().wake_by_ref();
                        return Poll::Pending;
                    }
                    self.ops.eof = EofHold::None;
                    return Poll::Ready(Ok(&[]));
                }
                EofHold::Offered => {
                    self.ops.eof = EofHold::None;
                    return Poll::Ready(Ok(&[]));
                }
            }
            if let Some(reading) = self.ops.reading.as_mut() {
                let (received, buf) = std::task::ready!(reading.poll(cx));
                self.ops.reading = None;
                match received {
                    Ok(0) if matches!(self.ops.write, WriteState::Sending(_)) => {
                        self.ops.read = ReadState::Idle(buf);
                        self.ops.eof = EofHold::Waiting;
                        continue;
                    }
                    Ok(0) => {
                        self.ops.read = ReadState::Idle(buf);
                        return Poll::Ready(Ok(&[]));
                    }
                    Ok(_) => self.ops.read = ReadState::Filled { buf, pos: 0 },
                    Err(err) => {
                        self.ops.read = ReadState::Idle(buf);
                        return Poll::Ready(Err(err));
                    }
                }
            }
            match std::mem::replace(&mut self.ops.read, ReadState::Lent) {
                ReadState::Filled { buf, pos } if pos < buf.len() => {
                    self.ops.read = ReadState::Filled { buf, pos };
                    let ReadState::Filled { buf, pos } = &self.ops.read else {
                        unreachable!("just set")
                    };
                    return Poll::Ready(Ok(&buf[*pos..]));
                }
                ReadState::Filled { mut buf, .. } | ReadState::Idle(mut buf) => {
                    buf.clear();
                    let op = self.io.read_op(buf).submit();
                    self.ops.reading = Some(Box::new(op));
                }
                ReadState::Lent => unreachable!("a lent buffer has a receive in flight"),
            }
        }
    }

    fn consume(&mut self, n: usize) {
        if let ReadState::Filled { buf, pos } = &mut self.ops.read {
            *pos = (*pos + n).min(buf.len());
            if *pos == buf.len() {
                // Every byte handed out: the buffer is free for the next receive.
                let ReadState::Filled { buf, .. } =
                    std::mem::replace(&mut self.ops.read, ReadState::Lent)
                else {
                    unreachable!("matched Filled above")
                };
                self.ops.read = ReadState::Idle(buf);
            }
        }
    }

    #[cfg(feature = "futures-io")]
    fn poll_read_into(&mut self, cx: &mut Context<'_>, out: &mut [u8]) -> Poll<io::Result<usize>> {
        if out.is_empty() {
            return Poll::Ready(Ok(0));
        }
        let available = std::task::ready!(self.poll_fill(cx))?;
        let n = available.len().min(out.len());
        out[..n].copy_from_slice(&available[..n]);
        self.consume(n);
        Poll::Ready(Ok(n))
    }
}

impl<S: WriteSink> Compat<S> {
    /// Waits for the send in flight, if any, and reports its error.
    fn poll_flush_inner(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let outcome = match &mut self.ops.write {
            WriteState::Sending(send) => std::task::ready!(send.poll_outcome(cx)),
            _ => return Poll::Ready(Ok(())),
        };
        match outcome {
            Some((sent, buf)) => {
                self.ops.write = WriteState::Idle(buf);
                Poll::Ready(sent)
            }
            None => {
                self.ops.write = WriteState::Closed(Vec::new());
                Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::BrokenPipe,
                    "the ring shut down before the write finished",
                )))
            }
        }
    }

    fn poll_write_from(&mut self, cx: &mut Context<'_>, data: &[u8]) -> Poll<io::Result<usize>> {
        std::task::ready!(self.poll_flush_inner(cx))?;
        match std::mem::replace(&mut self.ops.write, WriteState::Moving) {
            WriteState::Idle(mut buf) => {
                if data.is_empty() {
                    self.ops.write = WriteState::Idle(buf);
                    return Poll::Ready(Ok(0));
                }
                let n = data.len().min(BUF_LEN);
                buf.clear();
                buf.extend_from_slice(&data[..n]);
                let send = self.io.write_op(buf);
                let task = self.ops.ring.spawn(crate::race::complete(send));
                self.ops.write = WriteState::Sending(task);
                Poll::Ready(Ok(n))
            }
            WriteState::Closed(buf) => {
                self.ops.write = WriteState::Closed(buf);
                Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::BrokenPipe,
                    "write after the adapter was closed",
                )))
            }
            WriteState::ShuttingDown(op, buf) => {
                self.ops.write = WriteState::ShuttingDown(op, buf);
                Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::BrokenPipe,
                    "write while the adapter is closing",
                )))
            }
            WriteState::Sending(_) | WriteState::Moving => {
                unreachable!("flushed above")
            }
        }
    }

    fn poll_close_inner(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        std::task::ready!(self.poll_flush_inner(cx))?;
        loop {
            match std::mem::replace(&mut self.ops.write, WriteState::Moving) {
                WriteState::Idle(buf) => match self.io.shutdown_op() {
                    Some(shutdown) => {
                        self.ops.write = WriteState::ShuttingDown(shutdown.submit(), buf);
                    }
                    None => {
                        self.ops.write = WriteState::Closed(buf);
                        return Poll::Ready(Ok(()));
                    }
                },
                WriteState::ShuttingDown(mut op, buf) => match op.poll_complete(cx) {
                    Poll::Pending => {
                        self.ops.write = WriteState::ShuttingDown(op, buf);
                        return Poll::Pending;
                    }
                    Poll::Ready(result) => {
                        self.ops.write = WriteState::Closed(buf);
                        return Poll::Ready(result);
                    }
                },
                WriteState::Closed(buf) => {
                    self.ops.write = WriteState::Closed(buf);
                    return Poll::Ready(Ok(()));
                }
                WriteState::Sending(_) | WriteState::Moving => {
                    unreachable!("flushed above")
                }
            }
        }
    }
}

impl Drop for Ops {
    fn drop(&mut self) {
        if let Some(reading) = self.reading.take() {
            reading.cancel_in_background(&self.ring);
        }
        match std::mem::replace(&mut self.write, WriteState::Moving) {
            // Bytes reported written are written: the task that sends them goes on,
            // detached.
            WriteState::Sending(task) => drop(task),
            WriteState::ShuttingDown(op, _) => drop(self.ring.spawn(op.complete())),
            _ => {}
        }
    }
}

impl<S> fmt::Debug for Compat<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Compat")
            .field("reading", &self.ops.reading.is_some())
            .field("writing", &matches!(self.ops.write, WriteState::Sending(_)))
            .finish_non_exhaustive()
    }
}
