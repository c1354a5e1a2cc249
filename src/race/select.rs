//! [`select`]: a race over a tuple of linear values of different kinds, handing back
//! every loser, typed, still in flight.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use super::{Linear, Raced};

mod sealed {
    pub trait Sealed {}
}

/// A tuple of 2 to 4 [`Linear`] values that [`select`] can race. Sealed.
///
/// Implemented for `(A, B)`, `(A, B, C)` and `(A, B, C, D)` where every element is
/// `Linear + Unpin`; the output is [`Raced`], [`Raced3`] or [`Raced4`].
#[diagnostic::on_unimplemented(
    message = "`select` takes a tuple of 2 to 4 linear values, not `{Self}`",
    label = "not a tuple of `Linear` values",
    note = "pass the tokens themselves in a tuple, `select((accept, read, ring.sleep(d)))`, not their `complete()` futures; for many values of one type use `race_all` or `first_k`"
)]
pub trait Selectable: sealed::Sealed + Sized + Unpin {
    /// What the race resolves to: the winner's output in its place, every loser
    /// still in flight in its own.
    type Output;

    /// Polls every value in order once; the first that is ready wins.
    #[doc(hidden)]
    fn poll_select(values: &mut Option<Self>, cx: &mut Context<'_>) -> Poll<Self::Output>;
}

/// Waits for whichever of a tuple of linear values finishes first, and hands back
/// every other one, typed and still in flight: `select` for values of different
/// kinds (an accept, a receive, a timer), without losing any of them.
///
/// Nothing is cancelled: the losers are still debts, to complete later (one may
/// have finished already; its result is kept) or to cancel. Values are polled in
/// tuple order, so when several are ready, the earliest wins. `select((a, b))` is
/// the same as [`race(a, b)`](crate::race).
///
/// # Cancellation
///
/// Dropping the `Select` future before it resolves drops every value, which
/// abandons them (the drop policy applies to each).
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use linear_uring::net::{TcpListener, UdpSocket};
/// use linear_uring::{select, Raced3, Ring};
///
/// let ring = Ring::new()?;
/// let listener = TcpListener::bind(&ring, "127.0.0.1:0")?;
/// let socket = UdpSocket::bind(&ring, "127.0.0.1:0")?;
/// ring.block_on(async {
///     let accept = listener.accept().submit();
///     let recv = socket.recv_from(Vec::with_capacity(1500)).submit();
///     match select((accept, recv, ring.sleep(Duration::from_millis(5)))).await {
///         Raced3::First(connection, recv, _timer) => unreachable!("nobody connects"),
///         Raced3::Second(accept, datagram, _timer) => unreachable!("nobody sends"),
///         Raced3::Third(accept, recv, tick) => {
///             // Nothing arrived in time: both are still in flight, nothing lost.
///             tick?;
///             assert!(accept.cancel().await.is_cancelled());
///             assert!(recv.cancel().await.is_cancelled());
///         }
///     }
///     Ok::<(), std::io::Error>(())
/// })?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[doc(alias = "select!")]
pub fn select<T: Selectable>(values: T) -> Select<T> {
    Select {
        values: Some(values),
    }
}

/// The future of [`select`].
#[must_use = "a select does nothing unless awaited; dropping it abandons every value"]
pub struct Select<T> {
    values: Option<T>,
}

impl<T: Selectable> Future for Select<T> {
    type Output = T::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T::Output> {
        let this = self.get_mut();
        assert!(this.values.is_some(), "a Select polled after it resolved");
        T::poll_select(&mut this.values, cx)
    }
}

impl<T> fmt::Debug for Select<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Select")
            .field("resolved", &self.values.is_none())
            .finish()
    }
}

/// The result of [`select`] over three values: the winner's output in its place,
/// the two losers still in flight in theirs.
#[must_use = "the losers of a select are still in flight: complete them or cancel them, or they are abandoned"]
pub enum Raced3<A: Linear, B: Linear, C: Linear> {
    /// The first value finished first.
    First(A::Output, B, C),
    /// The second value finished first.
    Second(A, B::Output, C),
    /// The third value finished first.
    Third(A, B, C::Output),
}

/// The result of [`select`] over four values: the winner's output in its place, the
/// three losers still in flight in theirs.
#[must_use = "the losers of a select are still in flight: complete them or cancel them, or they are abandoned"]
pub enum Raced4<A: Linear, B: Linear, C: Linear, D: Linear> {
    /// The first value finished first.
    First(A::Output, B, C, D),
    /// The second value finished first.
    Second(A, B::Output, C, D),
    /// The third value finished first.
    Third(A, B, C::Output, D),
    /// The fourth value finished first.
    Fourth(A, B, C, D::Output),
}

/// Polls the tuple's element `$i`; if it is ready, takes the tuple out and builds
/// the variant, with the output in place of the winner.
macro_rules! try_win {
    ($values:ident, $cx:ident, $i:tt, $variant:path, ($($name:ident),+), $winner:ident) => {
        let tuple = $values.as_mut().expect("a Select polled after it resolved");
        if let Poll::Ready(output) = tuple.$i.poll_complete($cx) {
            let ($($name),+) = $values.take().expect("present until resolution");
            // The winner is spent: dropping it abandons nothing.
            drop($winner);
            let $winner = output;
            return Poll::Ready($variant($($name),+));
        }
    };
}

impl<A: Linear + Unpin, B: Linear + Unpin> sealed::Sealed for (A, B) {}

impl<A: Linear + Unpin, B: Linear + Unpin> Selectable for (A, B) {
    type Output = Raced<A, B>;

    fn poll_select(values: &mut Option<Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        try_win!(values, cx, 0, Raced::First, (a, b), a);
        try_win!(values, cx, 1, Raced::Second, (a, b), b);
        Poll::Pending
    }
}

impl<A: Linear + Unpin, B: Linear + Unpin, C: Linear + Unpin> sealed::Sealed for (A, B, C) {}

impl<A: Linear + Unpin, B: Linear + Unpin, C: Linear + Unpin> Selectable for (A, B, C) {
    type Output = Raced3<A, B, C>;

    fn poll_select(values: &mut Option<Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        try_win!(values, cx, 0, Raced3::First, (a, b, c), a);
        try_win!(values, cx, 1, Raced3::Second, (a, b, c), b);
        try_win!(values, cx, 2, Raced3::Third, (a, b, c), c);
        Poll::Pending
    }
}

impl<A, B, C, D> sealed::Sealed for (A, B, C, D)
where
    A: Linear + Unpin,
    B: Linear + Unpin,
    C: Linear + Unpin,
    D: Linear + Unpin,
{
}

impl<A, B, C, D> Selectable for (A, B, C, D)
where
    A: Linear + Unpin,
    B: Linear + Unpin,
    C: Linear + Unpin,
    D: Linear + Unpin,
{
    type Output = Raced4<A, B, C, D>;

    fn poll_select(values: &mut Option<Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        try_win!(values, cx, 0, Raced4::First, (a, b, c, d), a);
        try_win!(values, cx, 1, Raced4::Second, (a, b, c, d), b);
        try_win!(values, cx, 2, Raced4::Third, (a, b, c, d), c);
        try_win!(values, cx, 3, Raced4::Fourth, (a, b, c, d), d);
        Poll::Pending
    }
}

impl<A: Linear, B: Linear, C: Linear> fmt::Debug for Raced3<A, B, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Raced3::First(..) => "Raced3::First(..)",
            Raced3::Second(..) => "Raced3::Second(..)",
            Raced3::Third(..) => "Raced3::Third(..)",
        })
    }
}

impl<A: Linear, B: Linear, C: Linear, D: Linear> fmt::Debug for Raced4<A, B, C, D> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Raced4::First(..) => "Raced4::First(..)",
            Raced4::Second(..) => "Raced4::Second(..)",
            Raced4::Third(..) => "Raced4::Third(..)",
            Raced4::Fourth(..) => "Raced4::Fourth(..)",
        })
    }
}
