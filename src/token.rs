//! Linear op tokens: [`Op`], the futures that consume it, and [`CancelOutcome`].

use std::fmt;
use std::future::{Future, IntoFuture};
use std::marker::PhantomData;
use std::panic::Location;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

use crate::op::{Completion, OpKind, Timeout};
use crate::race::Linear;
use crate::ring::Inner;
use crate::table::OpId;

mod multishot;

pub(crate) use multishot::multishot;
pub use multishot::{CancelMultishot, Drained, Multishot, Next};

/// A submitted operation: the kernel may be working on it. A debt to pay.
///
/// The only ways to consume a token are [`complete`](Op::complete), which waits for
/// the result, and [`cancel`](Op::cancel), which stops the op and reports whether it
/// finished first. Both take `self`, so a consumed token cannot be used again.
///
/// A token is `!Send`: it belongs to its ring's thread.
///
/// # Cancellation
///
/// Dropping a token (or a `Complete` or `Cancel` future before it resolves) is always
/// I/O-safe: the op is orphaned in the ring's table, which keeps its buffers until
/// the kernel's final completion; an async cancel is submitted; a descriptor the op
/// produces anyway is closed. Then the ring's [`DropPolicy`](crate::DropPolicy)
/// applies: by default a panic in debug builds naming the line that submitted the op,
/// a count in [`Ring::stats`](crate::Ring::stats) in release builds.
///
/// An abandoned op stays in the kernel until its cancel takes effect or it completes:
/// until then, another op submitted on the same descriptor may run before or after
/// it (bytes an abandoned receive takes are lost with it). Consume the token to keep
/// the order.
///
/// `mem::forget` of a token is sound: the table still owns everything the kernel may
/// touch, and the ring's shutdown cancels and reaps the op.
#[must_use = "a submitted op is a debt: consume it with `.complete().await` or `.cancel().await`; ignoring it, `let _ =` or `drop` cancels it and loses its result"]
pub struct Op<K: OpKind> {
    ring: Rc<Inner>,
    id: OpId,
    location: &'static Location<'static>,
    /// Cleared when the token is consumed, so that its drop does nothing.
    live: bool,
    /// Set once an async cancel was requested for this op.
    cancelling: bool,
    /// A dropped quiet op is cleaned up like any other, but the drop policy is not
    /// applied ([`Sleep`]).
    quiet: bool,
    kind: PhantomData<fn() -> K>,
}

static_assertions::assert_not_impl_any!(Op<crate::op::Nop>: Send, Sync);
static_assertions::assert_not_impl_any!(Complete<crate::op::Nop>: Send, Sync);
static_assertions::assert_not_impl_any!(Cancel<crate::op::Nop>: Send, Sync);

/// A token for an op just submitted. A free function rather than an associated
/// one, so that rustc does not suggest it to a user who tries to build an `Op`.
pub(crate) fn submitted<K: OpKind>(
    ring: Rc<Inner>,
    id: OpId,
    location: &'static Location<'static>,
    quiet: bool,
) -> Op<K> {
    Op {
        ring,
        id,
        location,
        live: true,
        cancelling: false,
        quiet,
        kind: PhantomData,
    }
}

impl<K: OpKind> Op<K> {
    /// Waits for the op to finish and resolves to its output.
    ///
    /// # Cancellation
    ///
    /// Dropping the returned future before it resolves is the same as dropping the
    /// token: see [`Op`].
    // `Complete` carries the `#[must_use]`; one here would report a misuse twice.
    pub fn complete(self) -> Complete<K> {
        Complete { op: self }
    }

    /// Asks the kernel to cancel the op, and resolves to what really happened:
    /// [`CancelOutcome::Cancelled`] with the op's residue (its buffer) if the kernel
    /// confirms the op did nothing, or [`CancelOutcome::Completed`] with the output if
    /// it finished first (the accepted connection, the bytes read: nothing is lost).
    ///
    /// The outcome is decided by the op's own completion, never by the cancel
    /// request's.
    ///
    /// # Cancellation
    ///
    /// Dropping the returned future before it resolves is the same as dropping the
    /// token: see [`Op`].
    // `Cancel` carries the `#[must_use]`; one here would report a misuse twice.
    pub fn cancel(self) -> Cancel<K> {
        Cancel { op: self }
    }

    /// Not callable: submission options belong on the description. This method
    /// exists only so that the compiler explains where `.timeout(d)` goes.
    #[doc(hidden)]
    pub fn timeout(self, _duration: std::time::Duration) -> Self
    where
        Self: OptionsBeforeSubmit,
    {
        unreachable!("`OptionsBeforeSubmit` has no implementations")
    }

    /// Where the op was submitted.
    pub fn location(&self) -> &'static Location<'static> {
        self.location
    }

    #[inline]
    fn poll_completion(&mut self, cx: &mut Context<'_>) -> Poll<(K, Completion)> {
        assert!(self.live, "a consumed {} op was polled again", K::NAME);
        let (data, completion) = std::task::ready!(self.ring.poll_op(self.id, cx.waker()));
        self.live = false;
        let data: Box<dyn std::any::Any> = data;
        let op = data
            .downcast::<K>()
            .unwrap_or_else(|_| panic!("op table returned the wrong kind of op for a {}", K::NAME));
        Poll::Ready((*op, completion))
    }
}

impl<K: OpKind> IntoFuture for Op<K> {
    type Output = K::Output;
    type IntoFuture = Complete<K>;

    /// `op.await` is `op.complete().await`: it waits for the op's output. Dropping
    /// the future before it resolves is the same as dropping [`Complete`].
    fn into_future(self) -> Complete<K> {
        self.complete()
    }
}

/// Implemented by nothing: the bound of [`Op::timeout`], whose only purpose is its
/// error message.
#[doc(hidden)]
#[diagnostic::on_unimplemented(
    message = "a linked timeout must be set before `submit()`: `{Self}` is already in the kernel",
    label = "too late: this op was submitted",
    note = "set submission options on the description: `listener.accept().timeout(d).submit()`"
)]
pub trait OptionsBeforeSubmit {}

impl<K: OpKind> Linear for Op<K> {
    type Output = K::Output;
    type Residue = K::Residue;

    #[inline]
    fn poll_complete(&mut self, cx: &mut Context<'_>) -> Poll<K::Output> {
        let (op, completion) = std::task::ready!(self.poll_completion(cx));
        Poll::Ready(op.complete(completion))
    }

    fn start_cancel(&mut self) {
        if self.live && !self.cancelling {
            self.cancelling = true;
            self.ring.request_cancel(self.id);
        }
    }

    fn poll_cancel(&mut self, cx: &mut Context<'_>) -> Poll<CancelOutcome<K::Output, K::Residue>> {
        self.start_cancel();
        let (op, completion) = std::task::ready!(self.poll_completion(cx));
        // The op's own completion decides: cancelled before it did anything, or
        // finished first (whatever its result).
        Poll::Ready(if K::was_cancelled(&completion) {
            CancelOutcome::Cancelled(op.residue())
        } else {
            CancelOutcome::Completed(op.complete(completion))
        })
    }
}

impl<K: OpKind> Op<K> {
    /// The drop of a live token: out of line, so that dropping a consumed token (every
    /// completed op) stays a flag check.
    #[cold]
    #[inline(never)]
    fn abandon(&mut self) {
        self.live = false;
        self.ring
            .abandon(self.id, K::NAME, self.location, self.quiet);
    }
}

impl<K: OpKind> Drop for Op<K> {
    #[inline]
    fn drop(&mut self) {
        if self.live {
            self.abandon();
        }
    }
}

impl<K: OpKind> fmt::Debug for Op<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Op")
            .field("kind", &K::NAME)
            .field("id", &self.id)
            .field("submitted_at", &format_args!("{}", self.location))
            .finish()
    }
}

/// The future of [`Op::complete`]: resolves to the op's output.
#[must_use = "await this for the op's output; the op is already in the kernel, and dropping this abandons it (cancelled, result lost)"]
pub struct Complete<K: OpKind> {
    op: Op<K>,
}

impl<K: OpKind> Future for Complete<K> {
    type Output = K::Output;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<K::Output> {
        // `Complete` is Unpin: it holds no self-references.
        self.get_mut().op.poll_complete(cx)
    }
}

impl<K: OpKind> fmt::Debug for Complete<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Complete").field(&self.op).finish()
    }
}

/// The future of [`Op::cancel`]: resolves to a [`CancelOutcome`].
#[must_use = "await this to learn whether the op was cancelled or finished first; dropping it abandons the op (result lost)"]
pub struct Cancel<K: OpKind> {
    op: Op<K>,
}

impl<K: OpKind> Future for Cancel<K> {
    type Output = CancelOutcome<K::Output, K::Residue>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.get_mut().op.poll_cancel(cx)
    }
}

impl<K: OpKind> fmt::Debug for Cancel<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Cancel").field(&self.op).finish()
    }
}

/// What a cancel found: the op was cancelled before it did anything, or it had
/// already finished.
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use = "a cancel outcome may hold a completed result (an accepted connection, bytes read) that is lost if ignored"]
pub enum CancelOutcome<T, R> {
    /// The kernel confirmed the op was cancelled and did nothing; `R` is what the op
    /// owned (its buffer), handed back.
    Cancelled(R),
    /// The op finished before the cancel took effect; `T` is its output, exactly as
    /// `complete()` would have given it.
    Completed(T),
}

impl<T, R> CancelOutcome<T, R> {
    /// Whether the op was cancelled before it did anything.
    pub fn is_cancelled(&self) -> bool {
        matches!(self, CancelOutcome::Cancelled(_))
    }

    /// Whether the op finished before the cancel took effect.
    pub fn is_completed(&self) -> bool {
        matches!(self, CancelOutcome::Completed(_))
    }

    /// The output, if the op finished first.
    pub fn completed(self) -> Option<T> {
        match self {
            CancelOutcome::Completed(output) => Some(output),
            CancelOutcome::Cancelled(_) => None,
        }
    }

    /// The residue, if the op was cancelled.
    pub fn cancelled(self) -> Option<R> {
        match self {
            CancelOutcome::Cancelled(residue) => Some(residue),
            CancelOutcome::Completed(_) => None,
        }
    }
}

/// A kernel timer from [`Ring::sleep`](crate::Ring::sleep): a future that resolves
/// when the timer fires.
///
/// Unlike an [`Op`], a `Sleep` is not linear: a timer owns nothing and its result
/// carries no information that could be lost, so dropping it simply removes the
/// timer from the kernel, without the drop policy. It implements [`Linear`], so it
/// can be [`race`](crate::race)d against an op: `race(op, ring.sleep(d))`.
///
/// # Cancellation
///
/// Dropping it, or `cancel().await`, removes the kernel timer; `cancel()` also says
/// whether it had already fired.
#[must_use = "a Sleep does nothing useful unless awaited or raced; dropping it removes the timer"]
pub struct Sleep {
    op: Op<Timeout>,
}

impl Sleep {
    pub(crate) fn new(op: Op<Timeout>) -> Self {
        debug_assert!(op.quiet);
        Sleep { op }
    }

    /// Waits for the timer; the same as awaiting the `Sleep` itself.
    pub fn complete(self) -> Complete<Timeout> {
        self.op.complete()
    }

    /// Removes the timer, resolving to `Cancelled(())`, or to `Completed(Ok(()))` if
    /// it had already fired.
    pub fn cancel(self) -> Cancel<Timeout> {
        self.op.cancel()
    }
}

impl Future for Sleep {
    type Output = std::io::Result<()>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.get_mut().op.poll_complete(cx)
    }
}

impl Linear for Sleep {
    type Output = std::io::Result<()>;
    type Residue = ();

    fn poll_complete(&mut self, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.op.poll_complete(cx)
    }

    fn start_cancel(&mut self) {
        self.op.start_cancel();
    }

    fn poll_cancel(&mut self, cx: &mut Context<'_>) -> Poll<CancelOutcome<Self::Output, ()>> {
        self.op.poll_cancel(cx)
    }
}

impl fmt::Debug for Sleep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Sleep").field(&self.op).finish()
    }
}

static_assertions::assert_not_impl_any!(Sleep: Send, Sync);
