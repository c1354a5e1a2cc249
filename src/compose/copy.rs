//! [`copy`]: bytes from one descriptor to another until the end, as one linear
//! value.

use std::fmt;
use std::future::IntoFuture;
use std::io;
use std::panic::Location;
use std::task::{Context, Poll};
use std::time::Instant;

use super::{Endpoint, ReadStep, WriteAll};
use crate::race::{CancelLinear, CompleteLinear};
use crate::{CancelOutcome, Linear};

/// How many bytes one read of a copy asks for.
const CHUNK: usize = 64 * 1024;

pub(crate) mod sealed {
    /// Where a copy reads from or writes to. Sealed: the resources of this crate.
    pub trait Endpoints {
        /// The descriptor and how to transfer bytes on it.
        fn endpoint(&self) -> super::Endpoint;
    }
}

/// Something [`copy`] can read from: a stream or its read half (receives), a file
/// (reads at its position). Sealed.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be copied from",
    note = "copy reads from the library's streams, their read halves and `fs::File`"
)]
pub trait Source: sealed::Endpoints {}

/// Something [`copy`] can write to: a stream or its write half (sends), a file
/// (writes at its position). Sealed.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be copied to",
    note = "copy writes to the library's streams, their write halves and `fs::File`"
)]
pub trait Sink: sealed::Endpoints {}

/// Copies bytes from `from` to `to` until `from` ends, through one buffer of 64 KiB:
/// a read (or receive), then a [`WriteAll`] of what it got, and again.
///
/// The first read is submitted now. Await the `Copying` (or
/// [`complete`](Copying::complete) it) for the number of bytes copied when `from`
/// reached its end. It is [`Linear`]: race it, [`select`](crate::select) over it with
/// a timer, or cancel it, and it reports what it moved.
///
/// # Errors
///
/// The first failed read's or write's error (`WriteZero` if the sink accepted
/// nothing).
///
/// # Cancellation
///
/// [`cancel`](Copying::cancel) stops the read or write in flight and resolves to
/// `Cancelled(Copied { bytes, unwritten })`: the bytes that reached the sink, and
/// those read but not written yet, handed back; or to `Completed(..)` if `from`
/// ended first. Dropping it unfinished drops the token in flight: the drop policy
/// applies, naming the line that made the copy.
///
/// # Examples
///
/// ```
/// use linear_uring::net::UnixStream;
/// use linear_uring::{copy, Ring};
///
/// let ring = Ring::new()?;
/// let (a, b) = UnixStream::pair(&ring)?;
/// let (c, d) = UnixStream::pair(&ring)?;
/// ring.block_on(async {
///     let (sent, _) = a.send_all(b"hello, copy").await;
///     sent?;
///     a.shutdown(std::net::Shutdown::Write).await?;
///     // Everything `b` receives goes out on `c`, until `a` is done.
///     assert_eq!(copy(&b, &c).await?, 11);
///     let (got, buf) = d.recv_exact(Vec::with_capacity(11), 11).await;
///     got?;
///     assert_eq!(buf, b"hello, copy");
///     Ok::<(), std::io::Error>(())
/// })?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[track_caller]
pub fn copy<R: Source + ?Sized, W: Sink + ?Sized>(from: &R, to: &W) -> Copying {
    let location = Location::caller();
    let from = from.endpoint();
    let state = match from.read(Vec::with_capacity(CHUNK), 0, location) {
        Ok(step) => State::Reading(step),
        Err((err, _)) => State::Ready(Err(err)),
    };
    Copying {
        from,
        to: to.endpoint(),
        location,
        copied: 0,
        partial: 0,
        last_progress: Instant::now(),
        state,
    }
}

/// A copy in flight, from [`copy`].
#[must_use = "a copy is in flight: await it, cancel it or race it; dropping it abandons the bytes in transit"]
pub struct Copying {
    from: Endpoint,
    to: Endpoint,
    location: &'static Location<'static>,
    copied: u64,
    /// Bytes of the chunk being written that have gone out already.
    partial: usize,
    last_progress: Instant,
    state: State,
}

enum State {
    Reading(ReadStep<Vec<u8>>),
    Writing(WriteAll<Vec<u8>>),
    Ready(io::Result<u64>),
    Spent,
}

/// What a cancelled [`Copying`] hands back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Copied {
    /// Bytes that reached the sink.
    pub bytes: u64,
    /// Bytes read from the source that had not reached the sink yet.
    pub unwritten: Vec<u8>,
}

impl Copying {
    /// Bytes that have reached the sink so far.
    pub fn copied(&self) -> u64 {
        self.copied
    }

    /// When bytes last moved: a read got some, or a write sent some (or when the copy
    /// began). For idle timeouts: a copy that is raced against a timer and loses is
    /// still in flight, and this says whether it has been idle all along.
    pub fn last_progress(&self) -> Instant {
        self.last_progress
    }

    /// Waits until the source ends: the number of bytes copied. The same as awaiting
    /// the `Copying`.
    pub fn complete(self) -> CompleteLinear<Self> {
        crate::complete(self)
    }

    /// Stops the copy, and resolves to what happened: see [`copy`]'s "Cancellation".
    pub fn cancel(self) -> CancelLinear<Self> {
        crate::cancel(self)
    }

    /// The next read, into the (emptied) buffer.
    fn read(&self, mut buf: Vec<u8>) -> State {
        buf.clear();
        match self.from.read(buf, 0, self.location) {
            Ok(step) => State::Reading(step),
            Err((err, _)) => State::Ready(Err(err)),
        }
    }
}

impl Linear for Copying {
    type Output = io::Result<u64>;
    type Residue = Copied;

    fn poll_complete(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<u64>> {
        loop {
            self.state = match &mut self.state {
                State::Reading(step) => match std::task::ready!(step.poll_complete(cx)) {
                    (Ok(0), _) => State::Ready(Ok(self.copied)),
                    (Ok(_), buf) => {
                        self.last_progress = Instant::now();
                        State::Writing(WriteAll::at(self.to.clone(), buf, self.location))
                    }
                    (Err(e), buf) if e.kind() == io::ErrorKind::Interrupted => self.read(buf),
                    (Err(e), _) => State::Ready(Err(e)),
                },
                State::Writing(write) => match write.poll_complete(cx) {
                    Poll::Pending => {
                        // A short send that went through is progress too.
                        if write.done() != self.partial {
                            self.partial = write.done();
                            self.last_progress = Instant::now();
                        }
                        return Poll::Pending;
                    }
                    Poll::Ready((Ok(()), buf)) => {
                        self.copied += buf.len() as u64;
                        self.partial = 0;
                        self.last_progress = Instant::now();
                        self.read(buf)
                    }
                    Poll::Ready((Err(e), _)) => State::Ready(Err(e)),
                },
                State::Ready(_) => {
                    let State::Ready(result) = std::mem::replace(&mut self.state, State::Spent)
                    else {
                        unreachable!("matched Ready above")
                    };
                    return Poll::Ready(result);
                }
                State::Spent => panic!("a Copying was polled after it resolved"),
            };
        }
    }

    fn start_cancel(&mut self) {
        match &mut self.state {
            State::Reading(step) => step.start_cancel(),
            State::Writing(write) => write.start_cancel(),
            State::Ready(_) | State::Spent => {}
        }
    }

    fn poll_cancel(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<CancelOutcome<io::Result<u64>, Copied>> {
        self.start_cancel();
        let copied = self.copied;
        let outcome = match &mut self.state {
            State::Reading(step) => match std::task::ready!(step.poll_cancel(cx)) {
                CancelOutcome::Cancelled(_) => CancelOutcome::Cancelled(Copied {
                    bytes: copied,
                    unwritten: Vec::new(),
                }),
                CancelOutcome::Completed((Ok(0), _)) => CancelOutcome::Completed(Ok(copied)),
                CancelOutcome::Completed((Ok(_), buf)) => CancelOutcome::Cancelled(Copied {
                    bytes: copied,
                    unwritten: buf,
                }),
                CancelOutcome::Completed((Err(e), _)) if e.kind() == io::ErrorKind::Interrupted => {
                    CancelOutcome::Cancelled(Copied {
                        bytes: copied,
                        unwritten: Vec::new(),
                    })
                }
                CancelOutcome::Completed((Err(e), _)) => CancelOutcome::Completed(Err(e)),
            },
            State::Writing(write) => match std::task::ready!(write.poll_cancel(cx)) {
                CancelOutcome::Cancelled(progress) => {
                    let mut unwritten = progress.buf;
                    unwritten.drain(..progress.done.min(unwritten.len()));
                    CancelOutcome::Cancelled(Copied {
                        bytes: copied + progress.done as u64,
                        unwritten,
                    })
                }
                CancelOutcome::Completed((Ok(()), buf)) => CancelOutcome::Cancelled(Copied {
                    bytes: copied + buf.len() as u64,
                    unwritten: Vec::new(),
                }),
                CancelOutcome::Completed((Err(e), _)) => CancelOutcome::Completed(Err(e)),
            },
            State::Ready(_) => return self.poll_complete(cx).map(CancelOutcome::Completed),
            State::Spent => panic!("a Copying was polled after it resolved"),
        };
        self.state = State::Spent;
        if let CancelOutcome::Cancelled(copied) = &outcome {
            self.copied = copied.bytes;
        }
        Poll::Ready(outcome)
    }
}

impl IntoFuture for Copying {
    type Output = io::Result<u64>;
    type IntoFuture = CompleteLinear<Self>;

    /// Awaiting a `Copying` completes it.
    fn into_future(self) -> CompleteLinear<Self> {
        crate::complete(self)
    }
}

impl fmt::Debug for Copying {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match self.state {
            State::Reading(_) => "reading",
            State::Writing(_) => "writing",
            State::Ready(_) => "ready",
            State::Spent => "spent",
        };
        f.debug_struct("Copying")
            .field("from", &self.from)
            .field("to", &self.to)
            .field("copied", &self.copied)
            .field("state", &state)
            .field("created_at", &format_args!("{}", self.location))
            .finish()
    }
}
