//! Operation descriptions: what an op owns, how it becomes a submission entry, how
//! its completion becomes an output, and what an orphaned completion must release.
//!
//! Each operation lives in its own file and has the same shape: a struct owning
//! everything the kernel may touch, and an [`OpKind`] implementation. Building a
//! description ([`Prepared`]) is free; [`Prepared::submit`] turns it into a linear
//! [`Op`] token.

use std::any::Any;
use std::fmt;
use std::future::IntoFuture;
use std::os::fd::RawFd;
use std::panic::Location;
use std::rc::Rc;
use std::time::Duration;

use io_uring::squeue;

use crate::ring::Inner;
use crate::token::{self, Complete, Multishot, Op};

mod accept;
mod accept_multi;
mod close;
mod connect;
mod fadvise;
mod fallocate;
mod fsync;
mod ftruncate;
mod link_at;
mod madvise;
mod mkdir_at;
mod msg_ring;
mod nop;
mod open_at;
mod poll_add;
mod read;
mod readv;
mod recv;
mod recv_bundle;
mod recv_from;
mod recv_msg;
mod recv_multi;
mod recv_multi_bundle;
mod recv_provided;
mod rename_at;
mod send;
mod send_msg;
mod send_msg_zc;
mod send_to;
mod send_zc;
mod shutdown;
mod socket;
mod splice;
mod statx;
mod symlink_at;
mod tee;
mod timeout;
mod unlink_at;
mod write;
mod writev;

pub use accept::Accept;
pub use accept_multi::AcceptMulti;
pub use close::Close;
pub use connect::Connect;
pub use fallocate::Fallocate;
pub use fsync::Fsync;
pub use ftruncate::Ftruncate;
pub use link_at::LinkAt;
pub use mkdir_at::MkdirAt;
pub use msg_ring::MsgRing;
pub use nop::Nop;
pub use open_at::OpenAt;
pub use recv::Recv;
pub use recv_bundle::RecvBundle;
pub use recv_multi::RecvMulti;
pub use recv_multi_bundle::RecvMultiBundle;
pub use recv_provided::RecvProvided;
pub use rename_at::RenameAt;
pub use send::Send;
pub use send_msg_zc::SendMsgZc;
pub use send_zc::SendZc;
pub use shutdown::Shutdown;
pub use statx::Statx;
pub use symlink_at::SymlinkAt;
pub use timeout::Timeout;
pub use unlink_at::UnlinkAt;
// The ops below export what they define; each file is one op.
pub use fadvise::*;
pub use madvise::*;
pub use poll_add::*;
pub use read::*;
pub use readv::*;
pub use recv_from::*;
pub use recv_msg::*;
pub use send_msg::*;
pub use send_to::*;
pub use socket::*;
pub use splice::*;
pub use tee::*;
pub use write::*;
pub use writev::*;

#[doc(inline)]
pub use crate::table::Completion;

mod sealed {
    #[diagnostic::on_unimplemented(
        message = "`{Self}` cannot be an operation of linear-uring: `OpKind` is sealed",
        label = "not one of the operations in `linear_uring::op`",
        note = "what the kernel may touch while an op is in flight is the library's job, so only its own ops implement `OpKind`; to combine ops, write a type that owns their tokens"
    )]
    pub trait Sealed {}
}
pub(crate) use sealed::Sealed;

/// A kind of io_uring operation: what it produces and what a cancel gives back.
///
/// Implemented by the op structs of this crate ([`Nop`], [`Timeout`], ...) and sealed:
/// the kernel-facing half of an op (its submission entry, and what its memory must
/// outlive) is this crate's responsibility. To combine operations, implement the
/// `Linear` trait on your own type instead.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not an io_uring operation of linear-uring",
    note = "operations are the types in `linear_uring::op`; the trait is sealed"
)]
pub trait OpKind: Sealed + Sized + 'static {
    /// What `complete()` resolves to, and what `cancel()` gives back when the op
    /// finished first.
    type Output;
    /// What `cancel()` gives back when the kernel confirms the op did nothing (its
    /// buffer, for buffer-owning ops).
    type Residue;
    /// The op's name, as the kernel's opcode, for messages.
    const NAME: &'static str;
    #[doc(hidden)]
    const OPCODE: u8;

    /// Checks the op before it reaches the kernel: an error completes the token at
    /// once with that error, and the op's buffer comes back with it. Called once,
    /// before [`sqe`](OpKind::sqe).
    #[doc(hidden)]
    fn check(&self) -> std::io::Result<()> {
        Ok(())
    }

    /// Builds the submission entry, when the op is already at the heap address it
    /// keeps until its final completion, so pointers into `self` stay valid. Called
    /// at submission, and again for an op that [`exclusive_wait`]s each time the
    /// ring submits it again (see there).
    ///
    /// [`exclusive_wait`]: OpKind::exclusive_wait
    #[doc(hidden)]
    fn sqe(&mut self) -> squeue::Entry;

    /// Turns the final completion into the output.
    #[doc(hidden)]
    fn complete(self, completion: Completion) -> Self::Output;

    /// What is left when the kernel confirms the op was cancelled before it did
    /// anything.
    #[doc(hidden)]
    fn residue(self) -> Self::Residue;

    /// Whether a completion means the kernel cancelled the op before it did
    /// anything: `ECANCELED`, or `EINTR` for an op interrupted in a kernel worker
    /// before it transferred anything.
    #[doc(hidden)]
    fn was_cancelled(completion: &Completion) -> bool {
        crate::table::is_cancel(completion.errno())
    }

    /// The descriptor on whose exclusive wait queue the kernel parks this op, if it
    /// does (an accept's listener). A wake-up that reaches such an op while its
    /// cancel is pending is lost to the ops waiting behind it, so the ring has the
    /// kernel finish the cancel at once, and submits again (same token) every op of
    /// the same ring still waiting on that descriptor once the cancel has landed,
    /// but those with a linked timeout. An op that answers `Some` must build its
    /// entry ([`sqe`](OpKind::sqe)) from its own fields only, running no user code:
    /// it is built again while the ring's table is borrowed.
    #[doc(hidden)]
    fn exclusive_wait(&self) -> Option<RawFd> {
        None
    }

    /// Whether [`exclusive_wait`](OpKind::exclusive_wait) can answer `Some`: the
    /// ring counts such ops, so that a kick can see at once that none waits.
    #[doc(hidden)]
    const EXCLUSIVE_WAIT: bool = false;

    /// Called when each completion is reaped (an item flagged `IORING_CQE_F_MORE`,
    /// then the final one), before any user code runs (see the table's `OpData`):
    /// for what must be read off shared state at once. Only called for a kind
    /// whose [`SETTLES`](OpKind::SETTLES) is true.
    #[doc(hidden)]
    fn settle(&mut self, _completion: &Completion) {}

    /// Whether [`settle`](OpKind::settle) does anything; false spares every
    /// completion the call.
    #[doc(hidden)]
    const SETTLES: bool = false;

    /// Releases what a completion nobody will claim produced (closes a descriptor),
    /// returning the number of descriptors closed.
    #[doc(hidden)]
    fn release(self, completion: Completion) -> u64 {
        drop((self, completion));
        0
    }
}

/// A kind of io_uring operation with many completions (a multishot op): each
/// completion flagged `IORING_CQE_F_MORE` is an item, until a final one ends it.
///
/// Submitted, it is a [`Multishot`] token. Implemented by this crate's multishot ops
/// ([`AcceptMulti`], [`RecvMulti`], [`RecvMultiBundle`]) and sealed, like
/// [`OpKind`].
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a multishot operation of linear-uring",
    note = "multishot operations are the types in `linear_uring::op` that implement `MultishotKind`; the trait is sealed"
)]
pub trait MultishotKind: Sealed + Sized + 'static {
    /// What each completion of the op yields.
    type Item;
    /// The op's name, for messages.
    const NAME: &'static str;
    #[doc(hidden)]
    const OPCODE: u8;
    /// The first Linux release with this op, for the error on an older kernel.
    #[doc(hidden)]
    const SINCE: (u32, u32);
    /// As [`OpKind::exclusive_wait`].
    #[doc(hidden)]
    fn exclusive_wait(&self) -> Option<RawFd> {
        None
    }
    /// As [`OpKind::EXCLUSIVE_WAIT`].
    #[doc(hidden)]
    const EXCLUSIVE_WAIT: bool = false;
    /// What the token keeps to turn a completion into an item.
    #[doc(hidden)]
    type Context: 'static;

    /// The token's context, taken once at submission.
    #[doc(hidden)]
    fn context(&self) -> Self::Context;

    /// Checks the op before it reaches the kernel, as [`OpKind::check`]: an error
    /// ends the stream at once with it.
    #[doc(hidden)]
    fn check(&self) -> std::io::Result<()> {
        Ok(())
    }

    /// Builds the submission entry, as [`OpKind::sqe`] (called again in the same
    /// cases).
    #[doc(hidden)]
    fn sqe(&mut self) -> squeue::Entry;

    /// Whether a completion carries an item (for a final completion, one that ends
    /// the op may carry an item too, or only the reason it ended).
    #[doc(hidden)]
    fn is_item(completion: &Completion) -> bool {
        completion.result.is_ok()
    }

    /// Whether a final completion means the kernel stopped the op while it could
    /// have gone on (its completion queue was full: the final one carries an item
    /// and no error, nor end of stream), so that the token submits it again.
    #[doc(hidden)]
    fn rearm(completion: &Completion) -> bool {
        Self::is_item(completion)
    }

    /// Called when each completion is reaped, items and the final one, before any
    /// user code runs, as [`OpKind::settle`], if [`SETTLES`](MultishotKind::SETTLES).
    #[doc(hidden)]
    fn settle(&mut self, _completion: &Completion) {}

    /// As [`OpKind::SETTLES`].
    #[doc(hidden)]
    const SETTLES: bool = false;

    /// Turns a completion that [`is_item`](MultishotKind::is_item) into the item.
    #[doc(hidden)]
    fn item(cx: &Self::Context, completion: Completion) -> Self::Item;

    /// Lets go of what a completion that is not an item still holds (a buffer the
    /// kernel picked for 0 bytes), when the token sees it.
    #[doc(hidden)]
    fn discard(_cx: &Self::Context, _completion: &Completion) {}

    /// Releases what a completion nobody will claim holds, item or not (closes its
    /// descriptor, gives its buffer back), returning the number of descriptors
    /// closed.
    #[doc(hidden)]
    fn release_item(&mut self, completion: Completion) -> u64;
}

/// A multishot op in the table: releases every item nobody took with its data.
pub(crate) struct Streaming<K>(pub(crate) K);

impl<K: MultishotKind> Erased for Streaming<K> {
    fn release(mut self: Box<Self>, mut completion: Completion) -> u64 {
        let mut closed = 0;
        for earlier in completion.take_earlier() {
            closed += self.0.release_item(earlier);
        }
        closed + self.0.release_item(completion)
    }

    fn items(&self, completion: &Completion) -> Option<usize> {
        let earlier = completion
            .earlier()
            .iter()
            .filter(|c| K::is_item(c))
            .count();
        Some(earlier + usize::from(K::is_item(completion)))
    }

    fn settle(&mut self, completion: &Completion) {
        self.0.settle(completion);
    }

    fn exclusive_wait(&self) -> Option<RawFd> {
        self.0.exclusive_wait()
    }

    fn resubmit(&mut self) -> squeue::Entry {
        self.0.sqe()
    }

    fn name(&self) -> &'static str {
        K::NAME
    }
}

/// A multishot operation described but not submitted: free to build, free to drop.
#[must_use = "an operation description does nothing until it is submitted with `.submit()`"]
pub struct PreparedMultishot<K: MultishotKind> {
    ring: Rc<Inner>,
    op: K,
}

impl<K: MultishotKind> PreparedMultishot<K> {
    pub(crate) fn new(ring: Rc<Inner>, op: K) -> Self {
        PreparedMultishot { ring, op }
    }

    /// Pushes the op to the ring's submission queue and returns its token, a stream
    /// of items.
    ///
    /// Submission never fails: on a kernel without the op, or after the ring shut
    /// down, the stream ends at once with that error.
    ///
    /// # Cancellation
    ///
    /// The token must be run to its end or consumed by
    /// [`Multishot::cancel`](crate::Multishot::cancel); dropping it cancels the op
    /// in the kernel, closes or gives back every item nobody took, and applies the
    /// ring's [`DropPolicy`](crate::DropPolicy).
    #[track_caller]
    pub fn submit(self) -> Multishot<K> {
        let location = Location::caller();
        let context = self.op.context();
        let id = self.ring.submit_multishot(Box::new(Streaming(self.op)));
        token::multishot(self.ring, id, location, context)
    }
}

impl<K: MultishotKind> fmt::Debug for PreparedMultishot<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PreparedMultishot")
            .field("op", &K::NAME)
            .finish_non_exhaustive()
    }
}

/// An op as the table stores it: type-erased, releasable without knowing its type.
pub(crate) trait Erased: Any {
    fn release(self: Box<Self>, completion: Completion) -> u64;

    /// See [`OpKind::settle`].
    fn settle(&mut self, _completion: &Completion) {}

    /// See [`OpKind::exclusive_wait`].
    fn exclusive_wait(&self) -> Option<RawFd>;

    /// The op's entry, built again to submit it again (see
    /// [`OpKind::exclusive_wait`]).
    fn resubmit(&mut self) -> squeue::Entry;

    /// For a multishot op, how many items a final completion and its earlier ones
    /// carry; `None` for an op with one output.
    fn items(&self, _completion: &Completion) -> Option<usize> {
        None
    }

    /// The op's kind, for messages and the `on_abandon` hook.
    fn name(&self) -> &'static str;
}

impl<K: OpKind> Erased for K {
    fn release(self: Box<Self>, completion: Completion) -> u64 {
        K::release(*self, completion)
    }

    fn settle(&mut self, completion: &Completion) {
        K::settle(self, completion);
    }

    fn exclusive_wait(&self) -> Option<RawFd> {
        K::exclusive_wait(self)
    }

    fn resubmit(&mut self) -> squeue::Entry {
        K::sqe(self)
    }

    fn name(&self) -> &'static str {
        K::NAME
    }
}

impl crate::table::OpData for Box<dyn Erased> {
    fn settle(&mut self, completion: &Completion) {
        (**self).settle(completion);
    }

    fn exclusive_wait(&self) -> Option<RawFd> {
        (**self).exclusive_wait()
    }
}

/// An operation described but not submitted: free to build, free to drop.
///
/// Submission options are set here, before [`submit`](Prepared::submit); once
/// submitted, the op is an [`Op`] token and can only be completed or cancelled.
#[must_use = "an operation description does nothing until it is submitted with `.submit()`"]
pub struct Prepared<K: OpKind> {
    ring: Rc<Inner>,
    op: K,
    timeout: Option<Duration>,
}

impl<K: OpKind> Prepared<K> {
    pub(crate) fn new(ring: Rc<Inner>, op: K) -> Self {
        Prepared {
            ring,
            op,
            timeout: None,
        }
    }

    /// Links a kernel-side timeout to the op (`IORING_OP_LINK_TIMEOUT`): if the op
    /// has not completed after `duration`, the kernel cancels it, and it completes
    /// with an error of kind [`io::ErrorKind::TimedOut`](std::io::ErrorKind::TimedOut)
    /// (its source is an [`Error`](crate::Error) of kind
    /// [`ErrorKind::TimedOut`](crate::ErrorKind::TimedOut)).
    ///
    /// The kernel serialises the op and its timer, so there is no race window: the
    /// op's completion alone says whether it finished (its normal result, the
    /// accepted connection, the bytes read) or was cut off (`TimedOut`, nothing
    /// done). Nothing needs to be raced or cancelled by hand. A cancel stays
    /// distinguishable: an op stopped by `cancel()` reports
    /// [`CancelOutcome::Cancelled`](crate::CancelOutcome::Cancelled) (also when its
    /// timeout fired first, since it did nothing either way), and one stopped by the
    /// ring's shutdown completes with `ECANCELED`.
    ///
    /// A caveat measured on Linux 6.18: for an op that waits inside a kernel worker
    /// thread (a splice or tee on an empty pipe, an open of a FIFO), the linked
    /// timeout never fires. For those, [`deadline`](crate::deadline) cancels the op
    /// explicitly when a timer of the ring fires.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use linear_uring::{net::TcpListener, Ring};
    ///
    /// let ring = Ring::new()?;
    /// let listener = TcpListener::bind(&ring, "127.0.0.1:0")?;
    /// let result = ring.block_on(async {
    ///     listener.accept().timeout(Duration::from_millis(5)).submit().complete().await
    /// });
    /// let err = result.expect_err("nobody connected");
    /// assert_eq!(err.kind(), std::io::ErrorKind::TimedOut);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # References
    ///
    /// `io_uring_prep_link_timeout(3)`.
    #[doc(alias = "io_uring_prep_link_timeout")]
    pub fn timeout(mut self, duration: Duration) -> Self {
        self.timeout = Some(duration);
        self
    }

    /// Pushes the op to the ring's submission queue and returns its token.
    ///
    /// Submission is eager: the entry is in the queue when this returns, and reaches
    /// the kernel when the executor next parks or the queue fills up, so many ops can
    /// be in flight before any is awaited.
    ///
    /// Submission itself never fails: if the kernel lacks the opcode, or the ring has
    /// shut down, the token completes at once with that error.
    ///
    /// # Cancellation
    ///
    /// The token must be consumed by [`Op::complete`] or [`Op::cancel`]. Dropping it
    /// cancels the op in the kernel (nothing leaks) and then applies the ring's
    /// [`DropPolicy`](crate::DropPolicy), which by default panics in debug builds,
    /// naming the line of this call.
    // No method-level `#[must_use]`: `Op` carries it, and a second one would report
    // every ignored token twice.
    #[track_caller]
    pub fn submit(self) -> Op<K> {
        let location = Location::caller();
        let id = self.ring.submit(Box::new(self.op), self.timeout);
        token::submitted(self.ring, id, location, false)
    }

    /// Submits the op on behalf of a composite op created at `location`: the drop
    /// policy and the `on_abandon` hook name the user's line, not the library's.
    pub(crate) fn submit_at(self, location: &'static Location<'static>) -> Op<K> {
        let id = self.ring.submit(Box::new(self.op), self.timeout);
        token::submitted(self.ring, id, location, false)
    }

    /// Submits an op whose drop is not reported by the drop policy (timers).
    #[track_caller]
    pub(crate) fn submit_quiet(self) -> Op<K> {
        let location = Location::caller();
        let id = self.ring.submit(Box::new(self.op), self.timeout);
        token::submitted(self.ring, id, location, true)
    }
}

impl<K: OpKind> IntoFuture for Prepared<K> {
    type Output = K::Output;
    type IntoFuture = Complete<K>;

    /// `description.await` is `description.submit().complete().await`: it submits
    /// the op and waits for its output. The drop policy names the line of the
    /// `.await` as where the op was submitted.
    #[track_caller]
    fn into_future(self) -> Complete<K> {
        self.submit().complete()
    }
}

impl<K: OpKind> fmt::Debug for Prepared<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Prepared")
            .field("op", &K::NAME)
            .finish_non_exhaustive()
    }
}
