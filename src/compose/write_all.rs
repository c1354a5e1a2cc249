//! [`WriteAll`]: every initialised byte of a buffer, sent or written one op after
//! another.

use std::fmt;
use std::future::IntoFuture;
use std::io;
use std::panic::Location;
use std::task::{Context, Poll};

use super::{Endpoint, Progress, WriteStep};
use crate::buf::IoBuf;
use crate::race::{CancelLinear, CompleteLinear};
use crate::{CancelOutcome, Linear};

/// Sends or writes all of a buffer's initialised bytes, one op after another, and
/// gives the buffer back: a composite op, made by `send_all`, `write_all` and
/// `write_all_at`.
///
/// The first op is submitted when the `WriteAll` is made; each short transfer is
/// followed by one for the rest (the buffer is never copied). Await it (or
/// [`complete`](WriteAll::complete) it) for `(io::Result<()>, buf)`.
///
/// # Errors
///
/// The first failed op's error, `WriteZero` if the kernel accepted nothing, or
/// `InvalidInput` if a file offset would overflow. The buffer comes back either way.
///
/// # Cancellation
///
/// [`cancel`](WriteAll::cancel) stops the op in flight and resolves to
/// `Cancelled(Progress { done, buf })`, `done` being the bytes already transferred
/// (the kernel may have taken part of the last op: that is counted), or to
/// `Completed(..)` if every byte went out first. Racing it
/// ([`race`](crate::race), [`select`](crate::select)) leaves it in flight. Dropping
/// it unfinished drops the token of its op in flight: the drop policy applies,
/// naming the line that made it, and how much was sent is unknown.
#[must_use = "a WriteAll is in flight: await it, cancel it or race it; dropping it abandons the transfer and how much was sent"]
pub struct WriteAll<B: IoBuf> {
    to: Endpoint,
    location: &'static Location<'static>,
    /// Bytes transferred by the steps that completed.
    done: usize,
    step: State<B>,
}

enum State<B: IoBuf> {
    InFlight(WriteStep<B>),
    /// Nothing left to send (an empty buffer), or a step that could not be
    /// submitted: the output waits for the first poll.
    Ready(io::Result<()>, B),
    Spent,
}

impl<B: IoBuf> WriteAll<B> {
    #[track_caller]
    pub(crate) fn new(to: Endpoint, buf: B) -> WriteAll<B> {
        WriteAll::at(to, buf, Location::caller())
    }

    /// A `WriteAll` whose ops name `location` as where they were submitted.
    pub(crate) fn at(to: Endpoint, buf: B, location: &'static Location<'static>) -> WriteAll<B> {
        let mut this = WriteAll {
            to,
            location,
            done: 0,
            step: State::Spent,
        };
        this.step = this.next(buf);
        this
    }

    /// Submits the op for what is left of `buf`, if anything is.
    fn next(&self, buf: B) -> State<B> {
        if self.done >= buf.bytes_init() {
            return State::Ready(Ok(()), buf);
        }
        match self.to.write(buf, self.done, self.location) {
            Ok(step) => State::InFlight(step),
            Err((err, buf)) => State::Ready(Err(err), buf),
        }
    }

    /// Bytes transferred so far, by the ops that have completed.
    pub fn done(&self) -> usize {
        self.done
    }

    /// Waits until every byte is transferred: `(io::Result<()>, buf)`. The same as
    /// awaiting the `WriteAll`.
    pub fn complete(self) -> CompleteLinear<Self> {
        crate::complete(self)
    }

    /// Stops the transfer, and resolves to what happened: see "Cancellation".
    pub fn cancel(self) -> CancelLinear<Self> {
        crate::cancel(self)
    }
}

impl<B: IoBuf> Linear for WriteAll<B> {
    type Output = (io::Result<()>, B);
    type Residue = Progress<B>;

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
                State::Spent => panic!("a WriteAll was polled after it resolved"),
            };
            let (result, buf) = std::task::ready!(step.poll_complete(cx));
            self.step = match result {
                Ok(0) => {
                    let err =
                        io::Error::new(io::ErrorKind::WriteZero, "the kernel accepted no bytes");
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

    fn poll_cancel(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<CancelOutcome<Self::Output, Progress<B>>> {
        let step = match &mut self.step {
            State::InFlight(step) => step,
            State::Ready(..) => {
                // Finished before the cancel: the output is the outcome.
                return self.poll_complete(cx).map(CancelOutcome::Completed);
            }
            State::Spent => panic!("a WriteAll was polled after it resolved"),
        };
        step.start_cancel();
        let outcome = std::task::ready!(step.poll_cancel(cx));
        self.step = State::Spent;
        let done = self.done;
        Poll::Ready(match outcome {
            CancelOutcome::Cancelled(buf) => CancelOutcome::Cancelled(Progress { done, buf }),
            // The kernel took nothing, and would not: that is what happened.
            CancelOutcome::Completed((Ok(0), buf)) => {
                let err = io::Error::new(io::ErrorKind::WriteZero, "the kernel accepted no bytes");
                CancelOutcome::Completed((Err(err), buf))
            }
            CancelOutcome::Completed((Ok(n), buf)) => {
                self.done += n;
                if self.done >= buf.bytes_init() {
                    CancelOutcome::Completed((Ok(()), buf))
                } else {
                    CancelOutcome::Cancelled(Progress {
                        done: self.done,
                        buf,
                    })
                }
            }
            CancelOutcome::Completed((Err(e), buf)) if e.kind() == io::ErrorKind::Interrupted => {
                CancelOutcome::Cancelled(Progress { done, buf })
            }
            CancelOutcome::Completed((Err(e), buf)) => CancelOutcome::Completed((Err(e), buf)),
        })
    }
}

// Nothing is pinned structurally: the buffer is only ever moved into an op or out to
// the caller, and tokens are `Unpin`. Without this, the buffer type would have to be.
impl<B: IoBuf> Unpin for WriteAll<B> {}

impl<B: IoBuf> IntoFuture for WriteAll<B> {
    type Output = (io::Result<()>, B);
    type IntoFuture = CompleteLinear<Self>;

    /// Awaiting a `WriteAll` completes it.
    fn into_future(self) -> CompleteLinear<Self> {
        crate::complete(self)
    }
}

impl<B: IoBuf> fmt::Debug for WriteAll<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WriteAll")
            .field("to", &self.to)
            .field("done", &self.done)
            .field("in_flight", &matches!(self.step, State::InFlight(_)))
            .field("created_at", &format_args!("{}", self.location))
            .finish()
    }
}
