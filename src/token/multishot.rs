//! The token of an op with many completions: [`Multishot`], a linear stream.

use std::fmt;
use std::future::Future;
use std::io;
use std::panic::Location;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

use crate::op::{Completion, MultishotKind, Streaming};
use crate::race::Linear;
use crate::ring::{Inner, StreamStep};
use crate::table::OpId;
use crate::token::CancelOutcome;

/// A submitted multishot operation: a stream of items the kernel keeps producing
/// (accepted connections, received buffers) until the op ends. A debt to pay, like
/// an [`Op`](crate::Op).
///
/// [`next`](Multishot::next) waits for the next item and resolves to `None` once the
/// op has ended. The token is paid by running the stream to its end, or by
/// [`cancel`](Multishot::cancel), which stops the op, waits for its final completion
/// and hands back every item that arrived meanwhile.
///
/// Items the kernel produced are kept by the ring, in order, until the token takes
/// them: a [`Next`] future dropped before it resolves loses nothing, so `next()` may
/// be raced or timed out freely. `race(&mut stream, ring.sleep(d))` does that with
/// the stream handed back either way (`&mut Multishot` is [`Linear`]).
///
/// # Cancellation
///
/// Dropping a token before its end is I/O-safe: the op is cancelled in the kernel,
/// and every item that arrived and every item that arrives until the final
/// completion is released by the ring (an accepted connection closed, a buffer
/// given back) and counted. Then the ring's [`DropPolicy`](crate::DropPolicy)
/// applies, naming the line that submitted the op, as for any token.
#[must_use = "a multishot op is a debt: run it to its end with `.next().await`, or stop it with `.cancel().await`; dropping it cancels it and loses every item it still holds"]
pub struct Multishot<K: MultishotKind> {
    ring: Rc<Inner>,
    id: OpId,
    location: &'static Location<'static>,
    context: K::Context,
    /// The op is in the table: not yet ended, or ended with items left to take.
    live: bool,
    /// Set once an async cancel was requested.
    cancelling: bool,
    /// The op ended by itself, not by our cancel: the end of the stream, or an
    /// error of its own (set when its final completion is taken).
    ended_itself: bool,
    /// The final completion carried an item, handed out first: the end (always
    /// `Ok`) is handed out by the next poll.
    end: Option<io::Result<()>>,
}

static_assertions::assert_not_impl_any!(Multishot<crate::op::AcceptMulti<crate::net::TcpStream>>: Send, Sync);

/// A token for a multishot op just submitted.
pub(crate) fn multishot<K: MultishotKind>(
    ring: Rc<Inner>,
    id: OpId,
    location: &'static Location<'static>,
    context: K::Context,
) -> Multishot<K> {
    Multishot {
        ring,
        id,
        location,
        context,
        live: true,
        cancelling: false,
        ended_itself: false,
        end: None,
    }
}

impl<K: MultishotKind> Multishot<K> {
    /// Waits for the next item: `Some(Ok(item))`, `Some(Err(err))` once if the op
    /// ended with an error, then `None` for good once it has ended.
    ///
    /// # Cancellation
    ///
    /// Dropping the future loses nothing: an item is taken from the ring only by the
    /// poll that returns it.
    // Not `Iterator::next`: this one waits. `next().await` is the convention of async
    // streams (`futures::StreamExt::next`).
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> Next<'_, K> {
        Next { stream: self }
    }

    /// Stops the op: asks the kernel to cancel it, waits for its final completion,
    /// and resolves to every item not taken yet, with how the op ended.
    ///
    /// # Cancellation
    ///
    /// Dropping the returned future before it resolves is the same as dropping the
    /// token.
    pub fn cancel(mut self) -> CancelMultishot<K> {
        self.start_cancel();
        CancelMultishot {
            stream: Some(self),
            drained: Drained {
                items: Vec::new(),
                end: Ok(()),
                cancelled: false,
            },
        }
    }

    /// Whether the op was asked to stop: by [`cancel`](Multishot::cancel), or by a
    /// [`race`](crate::race), [`deadline`](crate::deadline) or
    /// [`cancel_all`](crate::cancel_all) that cancelled the borrowed stream. The
    /// items still to come are those that arrived before the stop, and the
    /// stream's `None` then means the cancel took effect (or the stream ended by
    /// itself first), not that the peer closed. A loop that races `next()`
    /// against a timer and gets an item anyway checks this to know whether to
    /// submit the op again. A stop asked for after the stream had handed out its
    /// end is not counted: there was nothing left to stop.
    pub fn cancel_requested(&self) -> bool {
        self.cancelling
    }

    /// Whether the op has ended and every item was taken: the token is paid, and
    /// dropping it does nothing.
    pub fn is_finished(&self) -> bool {
        !self.live && self.end.is_none()
    }

    /// Where the op was submitted.
    pub fn location(&self) -> &'static Location<'static> {
        self.location
    }

    fn start_cancel(&mut self) {
        if self.live && !self.cancelling {
            self.cancelling = true;
            self.ring.request_cancel(self.id);
        }
    }

    fn poll_next(&mut self, cx: &mut Context<'_>) -> Poll<Option<io::Result<K::Item>>> {
        if let Some(end) = self.end.take() {
            return Poll::Ready(end.err().map(Err));
        }
        if !self.live {
            return Poll::Ready(None);
        }
        loop {
            let step = std::task::ready!(self.ring.poll_item(self.id, cx.waker()));
            if let Some(polled) = self.step(step) {
                return Poll::Ready(polled);
            }
        }
    }

    /// What a step of the op gives the caller; `None` to poll again.
    fn step(&mut self, step: StreamStep) -> Option<Option<io::Result<K::Item>>> {
        match step {
            StreamStep::Item(completion) => self.item(completion).map(Some),
            StreamStep::Ended(data, completion) => {
                if !self.cancelling && K::rearm(&completion) {
                    // The kernel stopped the op though nothing ended it (its
                    // completion queue was full): submit it again with the same
                    // data, and hand out the item the final completion carried.
                    let data: Box<dyn std::any::Any> = data;
                    let op = data.downcast::<Streaming<K>>().unwrap_or_else(|_| {
                        panic!("op table returned another kind of op for a {}", K::NAME)
                    });
                    // The item first, so that a panic while submitting again drops
                    // (closes) it rather than leaving it in a completion, and no
                    // slot is left for a drop to abandon meanwhile.
                    let item = self.item(completion);
                    self.live = false;
                    self.id = self.ring.submit_multishot(op);
                    self.live = true;
                    return item.map(Some);
                }
                // The slot is free: the op's data goes (a listener's descriptor
                // share, a buffer group's handle), and the token is paid.
                self.live = false;
                drop(data);
                if K::is_item(&completion) {
                    // The final completion carried one last item: hand it out now,
                    // the end on the next poll. It ended the op by itself unless
                    // we had asked it to stop.
                    self.ended_itself = !self.cancelling;
                    self.end = Some(Ok(()));
                    return Some(Some(Ok(K::item(&self.context, completion))));
                }
                K::discard(&self.context, &completion);
                Some(match completion.result {
                    // The end of the stream, whether or not a cancel was on its way.
                    Ok(_) => {
                        self.ended_itself = true;
                        None
                    }
                    // Our own cancel ended it: not an error.
                    Err(err) if self.cancelling && was_cancelled(&err) => None,
                    Err(err) => {
                        self.ended_itself = true;
                        Some(Err(err))
                    }
                })
            }
        }
    }

    /// A completion flagged `IORING_CQE_F_MORE`: an item, or an error while the op
    /// goes on; `None` for one that carries neither.
    fn item(&self, completion: Completion) -> Option<io::Result<K::Item>> {
        if K::is_item(&completion) {
            return Some(Ok(K::item(&self.context, completion)));
        }
        K::discard(&self.context, &completion);
        completion.result.err().map(Err)
    }

    /// The drop of a live token: out of line, as for `Op`.
    #[cold]
    #[inline(never)]
    fn abandon(&mut self) {
        self.live = false;
        self.ring.abandon(self.id, K::NAME, self.location, false);
    }
}

/// Whether an error is the kernel's report that the op was cancelled.
fn was_cancelled(err: &io::Error) -> bool {
    crate::table::is_cancel(err.raw_os_error())
}

impl<K: MultishotKind> Drop for Multishot<K> {
    fn drop(&mut self) {
        if self.live {
            self.abandon();
        }
    }
}

impl<K: MultishotKind> fmt::Debug for Multishot<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Multishot")
            .field("kind", &K::NAME)
            .field("id", &self.id)
            .field("submitted_at", &format_args!("{}", self.location))
            .field("finished", &self.is_finished())
            .finish()
    }
}

/// A borrowed stream races as a linear value: `race(&mut stream, ring.sleep(d))`
/// resolves to the next item, or hands the stream back, still armed, when the other
/// side wins. Cancelling it stops the op: `Completed(Some(item))` if an item had
/// arrived first (the others stay in the stream, to be taken with `next()`),
/// `Completed(None)` if the stream had already ended by itself, `Cancelled(())`
/// otherwise.
impl<K: MultishotKind> Linear for &mut Multishot<K> {
    type Output = Option<io::Result<K::Item>>;
    type Residue = ();

    fn poll_complete(&mut self, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.poll_next(cx)
    }

    fn start_cancel(&mut self) {
        Multishot::start_cancel(self);
    }

    fn poll_cancel(&mut self, cx: &mut Context<'_>) -> Poll<CancelOutcome<Self::Output, ()>> {
        // A stream that had ended before, or that the kernel ended by itself before
        // the cancel took effect (its end still waiting to be taken), was not
        // cancelled: its end is its output.
        let ended_before = !self.live && self.end.is_none();
        Multishot::start_cancel(self);
        Poll::Ready(match std::task::ready!(self.poll_next(cx)) {
            Some(item) => CancelOutcome::Completed(Some(item)),
            None if ended_before || self.ended_itself => CancelOutcome::Completed(None),
            None => CancelOutcome::Cancelled(()),
        })
    }
}

/// The future of [`Multishot::next`].
#[must_use = "futures do nothing unless awaited"]
pub struct Next<'a, K: MultishotKind> {
    stream: &'a mut Multishot<K>,
}

impl<K: MultishotKind> Future for Next<'_, K> {
    type Output = Option<io::Result<K::Item>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.get_mut().stream.poll_next(cx)
    }
}

impl<K: MultishotKind> fmt::Debug for Next<'_, K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Next").field(&self.stream).finish()
    }
}

/// What a cancelled multishot op left: every item not taken before, in order, and
/// how the op ended: by the cancel (`cancelled`), or by itself first (the end of
/// the stream, with `end` `Ok(())`, or the error in `end`).
#[derive(Debug)]
#[must_use = "the items of a cancelled stream are yours: accepted connections to serve or close, buffers to read"]
pub struct Drained<T> {
    /// The items, oldest first.
    pub items: Vec<T>,
    /// How the op ended: `Ok(())` for the cancel or the end of the stream, or the
    /// error that ended it first.
    pub end: io::Result<()>,
    /// Whether the cancel stopped the op. `false` if it had ended by itself
    /// first: a receive's peer closed the connection (`end` is `Ok(())`), or the
    /// op failed (`end` holds the error).
    pub cancelled: bool,
}

/// The future of [`Multishot::cancel`].
#[must_use = "await this to get the items that arrived; dropping it abandons the op"]
pub struct CancelMultishot<K: MultishotKind> {
    stream: Option<Multishot<K>>,
    drained: Drained<K::Item>,
}

impl<K: MultishotKind> Future for CancelMultishot<K> {
    type Output = Drained<K::Item>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Drained<K::Item>> {
        // Unpin: no self-references.
        let this = self.get_mut();
        let stream = this
            .stream
            .as_mut()
            .expect("a CancelMultishot polled after it resolved");
        loop {
            match std::task::ready!(stream.poll_next(cx)) {
                Some(Ok(item)) => this.drained.items.push(item),
                Some(Err(err)) => this.drained.end = Err(err),
                None => break,
            }
        }
        this.drained.cancelled = !stream.ended_itself;
        this.stream = None;
        Poll::Ready(std::mem::replace(
            &mut this.drained,
            Drained {
                items: Vec::new(),
                end: Ok(()),
                cancelled: false,
            },
        ))
    }
}

impl<K: MultishotKind> Unpin for CancelMultishot<K> {}

impl<K: MultishotKind> fmt::Debug for CancelMultishot<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CancelMultishot")
            .field("stream", &self.stream)
            .field("items", &self.drained.items.len())
            .finish()
    }
}
