//! Halt-safe tools: the [`Linear`] trait, [`race`], [`race_all`], [`select`] over
//! values of different kinds, [`first_k`], [`cancel_all`] and [`deadline`].
//!
//! `select!` on an op is the bug this crate exists to prevent: whichever branch
//! loses is dropped, and with io_uring the dropped op may already have accepted a
//! connection or read bytes. `race` waits for whichever of two linear values
//! finishes first and hands back the other, still in flight and still owed: nothing
//! is cancelled, nothing is lost, and the loser can be awaited again later.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use crate::token::CancelOutcome;

mod deadline;
mod many;
mod select;

pub use deadline::{deadline, Deadline, Expired};
pub use many::{cancel_all, first_k, CancelAll, FinishedK, FirstK};
pub use select::{select, Raced3, Raced4, Select, Selectable};

/// Something in flight that must be finished: completed for its output, or
/// cancelled with a report of what really happened.
///
/// [`Op`](crate::Op) and [`Sleep`](crate::Sleep) implement it; implement it on your
/// own types to make a composite operation (several ops in sequence, a whole request
/// handler) as safe to race and cancel as a single op.
///
/// # Contract
///
/// - `poll_complete` drives the value to its output. Once it has returned `Ready`,
///   the value is spent: it is not polled again, and dropping it must not abandon
///   anything.
/// - `start_cancel` asks whatever is in flight to stop. It may be called more than
///   once and must not block.
/// - `poll_cancel` (called after or instead of `start_cancel`) resolves to
///   `Cancelled(residue)` if nothing was done that the caller would lose, or to
///   `Completed(output)` if the work finished first: what already completed is
///   reported, never dropped. After `Ready`, the value is spent.
/// - Dropping an unfinished value must be as safe as dropping the tokens it holds:
///   they are cancelled and cleaned up, and the drop policy reports them.
///
/// # Examples
///
/// A receive that waits for an exact number of bytes, made of as many `Recv` ops
/// as it takes. Its cancel stops the receive in flight and reports the bytes that
/// had already arrived.
///
/// ```
/// use std::io;
/// use std::task::{ready, Context, Poll};
/// use linear_uring::net::{TcpListener, TcpStream};
/// use linear_uring::op::Recv;
/// use linear_uring::{race, CancelOutcome, Linear, Op, Raced, Ring};
///
/// /// Receives exactly `want` bytes.
/// struct RecvExact<'a> {
///     stream: &'a TcpStream,
///     want: usize,
///     got: Vec<u8>,
///     recv: Option<Op<Recv<Vec<u8>>>>,
/// }
///
/// impl<'a> RecvExact<'a> {
///     fn new(stream: &'a TcpStream, want: usize) -> Self {
///         let recv = Some(stream.recv(Vec::with_capacity(want)).submit());
///         RecvExact { stream, want, got: Vec::new(), recv }
///     }
/// }
///
/// impl Linear for RecvExact<'_> {
///     type Output = io::Result<Vec<u8>>;
///     /// The bytes received before the cancel.
///     type Residue = Vec<u8>;
///
///     fn poll_complete(&mut self, cx: &mut Context<'_>) -> Poll<Self::Output> {
///         loop {
///             let recv = self.recv.as_mut().expect("polled after completion");
///             let (result, buf) = ready!(recv.poll_complete(cx));
///             self.recv = None;
///             match result {
///                 Ok(0) => return Poll::Ready(Err(io::ErrorKind::UnexpectedEof.into())),
///                 Ok(_) => self.got.extend_from_slice(&buf),
///                 Err(e) => return Poll::Ready(Err(e)),
///             }
///             if self.got.len() == self.want {
///                 return Poll::Ready(Ok(std::mem::take(&mut self.got)));
///             }
///             let rest = self.want - self.got.len();
///             self.recv = Some(self.stream.recv(Vec::with_capacity(rest)).submit());
///         }
///     }
///
///     fn start_cancel(&mut self) {
///         if let Some(recv) = self.recv.as_mut() {
///             recv.start_cancel();
///         }
///     }
///
///     fn poll_cancel(&mut self, cx: &mut Context<'_>) -> Poll<CancelOutcome<Self::Output, Vec<u8>>> {
///         if let Some(recv) = self.recv.as_mut() {
///             // Bytes the in-flight receive got before the cancel are kept too.
///             if let CancelOutcome::Completed((Ok(_), buf)) = ready!(recv.poll_cancel(cx)) {
///                 self.got.extend_from_slice(&buf);
///             }
///             self.recv = None;
///         }
///         Poll::Ready(CancelOutcome::Cancelled(std::mem::take(&mut self.got)))
///     }
/// }
///
/// let ring = Ring::new()?;
/// let listener = TcpListener::bind(&ring, "127.0.0.1:0")?;
/// let mut client = std::net::TcpStream::connect(listener.local_addr()?)?;
/// ring.block_on(async {
///     let (stream, _) = listener.accept().submit().complete().await?;
///     std::io::Write::write_all(&mut client, b"only 5")?;
///     // Wait for 10 bytes, but give up after 20 ms and keep what arrived.
///     match race(RecvExact::new(&stream, 10), ring.sleep(std::time::Duration::from_millis(20))).await {
///         Raced::First(bytes, _timer) => println!("got all: {:?}", bytes?),
///         Raced::Second(recv, _) => {
///             let outcome = linear_uring::cancel(recv).await;
///             assert_eq!(outcome.cancelled().unwrap(), b"only 5");
///         }
///     }
///     Ok::<(), io::Error>(())
/// })?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not `Linear`: it cannot be raced or cancelled as work in flight",
    label = "not a token, a `Sleep`, or a type implementing `Linear`",
    note = "a race hands the loser back still in flight, and a cancel reports what the work did; a plain future can do neither. Pass the token itself (`race(op, ring.sleep(d))`): `desc.submit()`, not `op.complete()` nor a description; a multishot stream races by reference (`race(&mut stream, ring.sleep(d))`); for composite work, implement `Linear` on your own type"
)]
pub trait Linear {
    /// What completing gives.
    type Output;
    /// What a cancel that caught the work in time gives back.
    type Residue;

    /// Drives the value toward its output; see the trait's contract.
    fn poll_complete(&mut self, cx: &mut Context<'_>) -> Poll<Self::Output>;

    /// Asks the work in flight to stop; see the trait's contract.
    fn start_cancel(&mut self);

    /// Drives a cancel to its outcome; see the trait's contract.
    fn poll_cancel(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<CancelOutcome<Self::Output, Self::Residue>>;
}

/// Completes a linear value: a future resolving to its output.
pub fn complete<T: Linear + Unpin>(value: T) -> CompleteLinear<T> {
    CompleteLinear { value }
}

/// Cancels a linear value: a future resolving to what really happened.
pub fn cancel<T: Linear + Unpin>(value: T) -> CancelLinear<T> {
    CancelLinear { value }
}

/// The future of [`complete`].
#[must_use = "await this for the output; dropping it abandons what is in flight"]
#[derive(Debug)]
pub struct CompleteLinear<T> {
    value: T,
}

impl<T: Linear + Unpin> Future for CompleteLinear<T> {
    type Output = T::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T::Output> {
        self.get_mut().value.poll_complete(cx)
    }
}

/// The future of [`cancel`].
#[must_use = "await this to learn whether the work was cancelled or finished first"]
#[derive(Debug)]
pub struct CancelLinear<T> {
    value: T,
}

impl<T: Linear + Unpin> Future for CancelLinear<T> {
    type Output = CancelOutcome<T::Output, T::Residue>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.get_mut().value.poll_cancel(cx)
    }
}

/// Waits for whichever of `a` and `b` finishes first, and hands back the other one,
/// still in flight.
///
/// Nothing is cancelled: the loser is still a debt, to complete later (it may
/// already have finished; its result is kept) or to cancel. `a` is polled first, so
/// when both are ready, `a` wins.
///
/// # Cancellation
///
/// Dropping the `Race` future before it resolves drops both values, which abandons
/// them (the drop policy applies to each).
///
/// # Examples
///
/// An accept loop that does side work every millisecond without losing a
/// connection: the accept stays in flight across deadlines.
///
/// ```no_run
/// use std::time::Duration;
/// use linear_uring::{net::TcpListener, race, Raced, Ring};
///
/// let ring = Ring::new()?;
/// let listener = TcpListener::bind(&ring, "127.0.0.1:0")?;
/// ring.block_on(async {
///     let mut accept = listener.accept().submit();
///     loop {
///         match race(accept, ring.sleep(Duration::from_millis(1))).await {
///             Raced::First(connection, _timer) => {
///                 let (stream, peer) = connection?;
///                 println!("serving {peer}");
///                 stream.close().await?;
///                 accept = listener.accept().submit();
///             }
///             Raced::Second(pending, _) => {
///                 println!("side work");
///                 accept = pending;
///             }
///         }
///     }
///     # #[allow(unreachable_code)]
///     Ok::<(), std::io::Error>(())
/// })?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn race<A: Linear + Unpin, B: Linear + Unpin>(a: A, b: B) -> Race<A, B> {
    Race {
        a: Some(a),
        b: Some(b),
    }
}

/// The future of [`race`].
#[must_use = "a race does nothing unless awaited; dropping it abandons both sides"]
pub struct Race<A, B> {
    a: Option<A>,
    b: Option<B>,
}

/// The result of a [`race`]: the winner's output and the loser, still in flight.
#[must_use = "the loser of a race is still in flight: complete it or cancel it, or it is abandoned"]
pub enum Raced<A: Linear, B: Linear> {
    /// `a` finished first: its output, and `b`.
    First(A::Output, B),
    /// `b` finished first: `a`, and `b`'s output.
    Second(A, B::Output),
}

impl<A: Linear + Unpin, B: Linear + Unpin> Future for Race<A, B> {
    type Output = Raced<A, B>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Raced<A, B>> {
        let this = self.get_mut();
        let a = this.a.as_mut().expect("a Race polled after it resolved");
        if let Poll::Ready(output) = a.poll_complete(cx) {
            this.a = None;
            let b = this
                .b
                .take()
                .expect("both sides are present until resolution");
            return Poll::Ready(Raced::First(output, b));
        }
        let b = this
            .b
            .as_mut()
            .expect("both sides are present until resolution");
        if let Poll::Ready(output) = b.poll_complete(cx) {
            this.b = None;
            let a = this
                .a
                .take()
                .expect("both sides are present until resolution");
            return Poll::Ready(Raced::Second(a, output));
        }
        Poll::Pending
    }
}

impl<A, B> fmt::Debug for Race<A, B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Race")
            .field("resolved", &self.a.is_none())
            .finish()
    }
}

impl<A: Linear, B: Linear> fmt::Debug for Raced<A, B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Raced::First(..) => f.write_str("Raced::First(..)"),
            Raced::Second(..) => f.write_str("Raced::Second(..)"),
        }
    }
}

/// Waits for whichever of `values` finishes first; the others stay in flight.
///
/// Resolves to the winner's index, its output, and the rest in their original order
/// (without the winner). Earlier values are polled first.
///
/// # Panics
///
/// If `values` is empty: there would be nothing to wait for.
///
/// # Cancellation
///
/// Dropping the future before it resolves abandons every value.
pub fn race_all<T: Linear + Unpin>(values: Vec<T>) -> RaceAll<T> {
    assert!(!values.is_empty(), "race_all needs at least one value");
    RaceAll {
        values: Some(values),
    }
}

/// The future of [`race_all`].
#[must_use = "a race does nothing unless awaited; dropping it abandons every value"]
pub struct RaceAll<T> {
    values: Option<Vec<T>>,
}

/// The result of [`race_all`].
#[must_use = "the losers of a race are still in flight: complete or cancel them, or they are abandoned"]
pub struct RacedAll<T: Linear> {
    /// Where the winner was in the input.
    pub index: usize,
    /// The winner's output.
    pub output: T::Output,
    /// The others, still in flight, in their original order.
    pub rest: Vec<T>,
}

impl<T: Linear + Unpin> Future for RaceAll<T> {
    type Output = RacedAll<T>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<RacedAll<T>> {
        let this = self.get_mut();
        let values = this
            .values
            .as_mut()
            .expect("a RaceAll polled after it resolved");
        let winner = values.iter_mut().enumerate().find_map(|(index, value)| {
            match value.poll_complete(cx) {
                Poll::Ready(output) => Some((index, output)),
                Poll::Pending => None,
            }
        });
        let Some((index, output)) = winner else {
            return Poll::Pending;
        };
        let mut rest = this.values.take().unwrap_or_default();
        // The winner is spent: dropping it abandons nothing.
        drop(rest.remove(index));
        Poll::Ready(RacedAll {
            index,
            output,
            rest,
        })
    }
}

impl<T> fmt::Debug for RaceAll<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RaceAll")
            .field("values", &self.values.as_ref().map(Vec::len))
            .finish()
    }
}

impl<T: Linear> fmt::Debug for RacedAll<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RacedAll")
            .field("index", &self.index)
            .field("rest", &self.rest.len())
            .finish_non_exhaustive()
    }
}
