//! [`ReadExact`]: a buffer's spare capacity filled to the last byte, one read or
//! receive after another.

use std::fmt;
use std::future::IntoFuture;
use std::io;
use std::panic::Location;
use std::task::{Context, Poll};

use super::{Endpoint, ReadStep};
use crate::buf::{IoBufMut, Slice};
use crate::race::{CancelLinear, CompleteLinear};
use crate::{CancelOutcome, Linear};

/// Reads or receives exactly `len` bytes into a buffer, after the bytes already in
/// it, one read or receive after another, and gives the buffer back: a composite
/// op, made by `recv_exact`, `read_exact` and `read_exact_at`.
///
/// Each op appends after the bytes already in the buffer (the
/// [buffer contract](crate::buf#the-buffer-contract)) and never past the `len`
/// asked for, whatever the buffer's capacity: a buffer that already holds a header
/// gets exactly the body after it, and the next frame stays in the socket. Await it
/// (or [`complete`](ReadExact::complete) it) for `(io::Result<()>, buf)`.
///
/// # Errors
///
/// `UnexpectedEof` if the stream or file ends first (the buffer holds what
/// arrived), `InvalidInput` if the buffer has less than `len` bytes of spare
/// capacity or a file offset would overflow, or the first failed op's error. The
/// buffer comes back either way. A `len` of 0 succeeds at once.
///
/// # Cancellation
///
/// [`cancel`](ReadExact::cancel) stops the op in flight and resolves to
/// `Cancelled(buf)`, the buffer holding every byte that arrived (its initialised
/// length tells how many: nothing is lost), or `Completed(..)` if the buffer was
/// filled first. Racing it leaves it in flight. Dropping it unfinished drops the
/// token of its op in flight: the drop policy applies, naming the line that made it,
/// and the bytes received so far go with the buffer.
#[must_use = "a ReadExact is in flight: await it, cancel it or race it; dropping it abandons the bytes received so far"]
pub struct ReadExact<B: IoBufMut> {
    from: Endpoint,
    location: &'static Location<'static>,
    /// Bytes read so far.
    done: usize,
    /// The buffer's initialised length once `len` bytes are in.
    target: usize,
    step: State<B>,
}

enum State<B: IoBufMut> {
    /// Reads into the buffer's view up to `target`, so no read takes more.
    InFlight(ReadStep<Slice<B>>),
    Ready(io::Result<()>, B),
    Spent,
}

impl<B: IoBufMut> ReadExact<B> {
    #[track_caller]
    pub(crate) fn new(from: Endpoint, buf: B, len: usize) -> ReadExact<B> {
        let location = Location::caller();
        let (init, spare) = (buf.bytes_init(), buf.bytes_total() - buf.bytes_init());
        let mut this = ReadExact {
            from,
            location,
            done: 0,
            target: init.saturating_add(len),
            step: State::Spent,
        };
        this.step = if spare < len {
            State::Ready(
                Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!(
                        "read_exact: {len} bytes asked, but the buffer has room for {spare} \
                         after its {init} initialised bytes; make room first \
                         (`Vec::with_capacity(n)`, `buf.reserve(n)`)"
                    ),
                )),
                buf,
            )
        } else {
            this.next(buf)
        };
        this
    }

    /// Submits the op for what is left up to `target`, if anything is.
    fn next(&self, buf: B) -> State<B> {
        if buf.bytes_init() >= self.target {
            return State::Ready(Ok(()), buf);
        }
        match self
            .from
            .read(buf.slice(..self.target), self.done, self.location)
        {
            Ok(step) => State::InFlight(step),
            Err((err, view)) => State::Ready(Err(err), view.into_inner()),
        }
    }

    /// Bytes received so far, by the ops that have completed.
    pub fn done(&self) -> usize {
        self.done
    }

    /// The error for an end of stream before `target`.
    fn eof(&self, buf: &B) -> io::Error {
        io::Error::new(
            io::ErrorKind::UnexpectedEof,
            format!(
                "read_exact: the end came after {} bytes, {} short",
                self.done,
                self.target - buf.bytes_init()
            ),
        )
    }

    /// Waits until the buffer is full: `(io::Result<()>, buf)`. The same as
    /// awaiting the `ReadExact`.
    pub fn complete(self) -> CompleteLinear<Self> {
        crate::complete(self)
    }

    /// Stops the transfer, and resolves to what happened: see "Cancellation".
    pub fn cancel(self) -> CancelLinear<Self> {
        crate::cancel(self)
    }
}

impl<B: IoBufMut> Linear for ReadExact<B> {
    type Output = (io::Result<()>, B);
    /// The buffer, holding every byte that arrived before the cancel.
    type Residue = B;

    fn poll_complete(&mut self, cx: &mut Context<'_>) -> Poll<Self::Output> {
        loop {
            let step = match &mut self.step {
                State::InFlight(step) => step,
                State::Ready(..) => {
                    let State::Ready(result, buf) = std::mem::replace(&mut self.step, State::Spent)
                    else {
                        unreachable!("matched Ready above")
                    };
                    return Poll::Ready((result, buf));
                }
                State::Spent => panic!("a ReadExact was polled after it resolved"),
            };
            let (result, view) = std::task::ready!(step.poll_complete(cx));
            let buf = view.into_inner();
            self.step = match result {
                Ok(0) => State::Ready(Err(self.eof(&buf)), buf),
                Ok(n) => {
                    self.done += n;
                    self.next(buf)
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => self.next(buf),
                Err(e) => State::Ready(Err(e), buf),
            };
        }
    }

    fn start_cancel(&mut self) {
        if let State::InFlight(step) = &mut self.step {
            step.start_cancel();
        }
    }

    fn poll_cancel(&mut self, cx: &mut Context<'_>) -> Poll<CancelOutcome<Self::Output, B>> {
        let step = match &mut self.step {
            State::InFlight(step) => step,
            State::Ready(..) => return self.poll_complete(cx).map(CancelOutcome::Completed),
            State::Spent => panic!("a ReadExact was polled after it resolved"),
        };
        step.start_cancel();
        let outcome = std::task::ready!(step.poll_cancel(cx));
        self.step = State::Spent;
        Poll::Ready(match outcome {
            CancelOutcome::Cancelled(view) => CancelOutcome::Cancelled(view.into_inner()),
            // The end came first: that is what happened, not a cancel.
            CancelOutcome::Completed((Ok(0), view)) => {
                let buf = view.into_inner();
                CancelOutcome::Completed((Err(self.eof(&buf)), buf))
            }
            CancelOutcome::Completed((Ok(n), view)) => {
                let buf = view.into_inner();
                self.done += n;
                if buf.bytes_init() >= self.target {
                    CancelOutcome::Completed((Ok(()), buf))
                } else {
                    // The bytes that arrived are in the buffer.
                    CancelOutcome::Cancelled(buf)
                }
            }
            CancelOutcome::Completed((Err(e), view)) if e.kind() == io::ErrorKind::Interrupted => {
                CancelOutcome::Cancelled(view.into_inner())
            }
            CancelOutcome::Completed((Err(e), view)) => {
                CancelOutcome::Completed((Err(e), view.into_inner()))
            }
        })
    }
}

// Nothing is pinned structurally: the buffer is only ever moved into an op or out to
// the caller, and tokens are `Unpin`. Without this, the buffer type would have to be.
impl<B: IoBufMut> Unpin for ReadExact<B> {}

impl<B: IoBufMut> IntoFuture for ReadExact<B> {
    type Output = (io::Result<()>, B);
    type IntoFuture = CompleteLinear<Self>;

    /// Awaiting a `ReadExact` completes it.
    fn into_future(self) -> CompleteLinear<Self> {
        crate::complete(self)
    }
}

impl<B: IoBufMut> fmt::Debug for ReadExact<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReadExact")
            .field("from", &self.from)
            .field("done", &self.done)
            .field("in_flight", &matches!(self.step, State::InFlight(_)))
            .field("created_at", &format_args!("{}", self.location))
            .finish()
    }
}
