//! [`ReadExact`]: a buffer's spare capacity filled to the last byte, one read or
//! receive after another.

use std::fmt;
use std::future::IntoFuture;
use std::io;
use std::panic::Location;
use std::task::{Context, Poll};

use super::{Endpoint, ReadStep};
use crate::buf::IoBufMut;
use crate::race::{CancelLinear, CompleteLinear};
use crate::{CancelOutcome, Linear};

/// Reads or receives until the buffer's spare capacity is full, one op after
/// another, and gives the buffer back: a composite op, made by `recv_exact`,
/// `read_exact` and `read_exact_at`.
///
/// Each op appends after the bytes already in the buffer (the
/// [buffer contract](crate::buf#the-buffer-contract)), so `Vec::with_capacity(n)`
/// asks for exactly `n` bytes, and a buffer that already holds a header gets the
/// body after it. Await it (or [`complete`](ReadExact::complete) it) for
/// `(io::Result<()>, buf)`.
///
/// # Errors
///
/// `UnexpectedEof` if the stream or file ends first (the buffer holds what
/// arrived), `InvalidInput` if the buffer has no spare capacity or a file offset
/// would overflow, or the first failed op's error. The buffer comes back either way.
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
    step: State<B>,
}

enum State<B: IoBufMut> {
    InFlight(ReadStep<B>),
    Ready(io::Result<()>, B),
    Spent,
}

impl<B: IoBufMut> ReadExact<B> {
    #[track_caller]
    pub(crate) fn new(from: Endpoint, buf: B) -> ReadExact<B> {
        let location = Location::caller();
        let mut this = ReadExact {
            from,
            location,
            done: 0,
            step: State::Spent,
        };
        this.step = if buf.bytes_total() == buf.bytes_init() {
            // Nothing to wait for would read as success; a full buffer is a mistake
            // here as it is for a single read.
            State::Ready(
                Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!(
                        "read_exact: the buffer has no spare capacity (len {} == capacity \
                         {}): it reads after the initialised bytes; pass \
                         `Vec::with_capacity(n)` for n bytes",
                        buf.bytes_init(),
                        buf.bytes_total()
                    ),
                )),
                buf,
            )
        } else {
            this.next(buf)
        };
        this
    }

    /// Submits the op for the rest of `buf`'s spare capacity, if any is left.
    fn next(&self, buf: B) -> State<B> {
        if buf.bytes_init() >= buf.bytes_total() {
            return State::Ready(Ok(()), buf);
        }
        match self.from.read(buf, self.done, self.location) {
            Ok(step) => State::InFlight(step),
            Err((err, buf)) => State::Ready(Err(err), buf),
        }
    }

    /// Bytes received so far, by the ops that have completed.
    pub fn done(&self) -> usize {
        self.done
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
            let (result, buf) = std::task::ready!(step.poll_complete(cx));
            self.step = match result {
                Ok(0) => {
                    let err = io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        format!(
                            "read_exact: the end came after {} bytes, {} short",
                            self.done,
                            buf.bytes_total() - buf.bytes_init()
                        ),
                    );
                    State::Ready(Err(err), buf)
                }
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
            CancelOutcome::Cancelled(buf) => CancelOutcome::Cancelled(buf),
            CancelOutcome::Completed((Ok(n), buf)) => {
                self.done += n;
                if n > 0 && buf.bytes_init() >= buf.bytes_total() {
                    CancelOutcome::Completed((Ok(()), buf))
                } else {
                    // The bytes that arrived are in the buffer.
                    CancelOutcome::Cancelled(buf)
                }
            }
            CancelOutcome::Completed((Err(e), buf)) if e.kind() == io::ErrorKind::Interrupted => {
                CancelOutcome::Cancelled(buf)
            }
            CancelOutcome::Completed((Err(e), buf)) => CancelOutcome::Completed((Err(e), buf)),
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
