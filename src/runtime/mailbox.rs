//! A ring's mailbox: values (descriptors among them) that other threads hand to it,
//! with `IORING_OP_MSG_RING` as the doorbell.
//!
//! A sender puts the value in the mailbox's queue, then rings the target ring with a
//! `MSG_RING` data message: the kernel posts a completion on the target's queue, which
//! wakes its thread if it is waiting in `io_uring_enter(2)`, with no eventfd and no
//! extra system call on either side. The queue is the one place a value in transit
//! lives; whoever takes it out under the lock owns it: the receiver, or the sender
//! when the kernel refused the doorbell, or the mailbox's close, which drops it. So at
//! every moment exactly one side owns each value.

use std::collections::VecDeque;
use std::fmt;
use std::future::Future;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

use std::cell::RefCell;

use crate::op::MsgRing;
use crate::unwind::{catch_user, Payload};
use crate::{CancelOutcome, Linear, Op, Prepared, Ring};

/// The receiving end of a ring's mailbox, from [`Ring::mailbox`].
///
/// It stays on the ring's thread; its [`Address`] goes to the threads that send.
/// Dropping it closes the mailbox (as does the ring's shutdown): the values still
/// queued are dropped (a descriptor among them is closed), and every later send
/// hands its value back to the sender.
pub struct Mailbox<M: Send + 'static> {
    ring: Ring,
    shared: Arc<Shared<M>>,
}

/// Where to send values to a ring's [`Mailbox`]: cheap to clone, and `Send` and
/// `Sync` when `M` is `Send`.
///
/// It holds a second descriptor of the target ring, so the kernel instance stays
/// alive (and its number names it) as long as any address does, even after that ring
/// shut down; sends to a closed mailbox hand their value back without ringing it.
pub struct Address<M: Send + 'static> {
    shared: Arc<Shared<M>>,
}

pub(crate) struct Shared<M> {
    /// The target ring's io_uring instance, duplicated.
    ring_fd: OwnedFd,
    state: Mutex<State<M>>,
}

struct State<M> {
    open: bool,
    next_key: u64,
    /// Values in transit, each under the key its sender can take it back by.
    queue: VecDeque<(Key, M)>,
}

/// Names one value in transit in one mailbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Key(u64);

impl<M> Shared<M> {
    fn lock(&self) -> MutexGuard<'_, State<M>> {
        // The lock is never held while user code runs (a value's drop runs after the
        // guard is gone), so a poisoned lock still guards a consistent queue.
        self.state
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
    }

    /// The target ring's descriptor, for the doorbell.
    pub(crate) fn ring_fd(&self) -> RawFd {
        self.ring_fd.as_raw_fd()
    }

    /// Queues `value`, or hands it back if the mailbox is closed.
    pub(crate) fn put(&self, value: M) -> Result<Key, M> {
        let mut state = self.lock();
        if !state.open {
            return Err(value);
        }
        let key = Key(state.next_key);
        state.next_key += 1;
        state.queue.push_back((key, value));
        Ok(key)
    }

    /// Takes back the value queued under `key`, unless the receiver (or the close)
    /// took it first.
    pub(crate) fn take_back(&self, key: Key) -> Option<M> {
        let mut state = self.lock();
        let at = state.queue.iter().position(|(k, _)| *k == key)?;
        state.queue.remove(at).map(|(_, value)| value)
    }

    fn pop(&self) -> Option<M> {
        self.lock().queue.pop_front().map(|(_, value)| value)
    }

    fn len(&self) -> usize {
        self.lock().queue.len()
    }

    pub(crate) fn is_open(&self) -> bool {
        self.lock().open
    }
}

/// What the ring knows of its mailbox: the wakers of the receives that wait (one
/// per task: several tasks may wait on one mailbox), and how to close the mailbox
/// when the ring shuts down. Kept by the ring, typed by nothing.
#[derive(Default)]
pub(crate) struct MailSlot {
    wakers: RefCell<Vec<Waker>>,
    mailbox: RefCell<Option<Arc<dyn Close>>>,
}

/// Closes a mailbox of any message type.
trait Close {
    /// Marks the mailbox closed and drops the values still in it, returning the
    /// first panic of their drops.
    fn close(&self) -> Option<Payload>;
}

impl<M: Send + 'static> Close for Shared<M> {
    fn close(&self) -> Option<Payload> {
        let queued = {
            let mut state = self.lock();
            state.open = false;
            std::mem::take(&mut state.queue)
        };
        let mut panicked = None;
        // A value's drop is user code: one that panics must not keep the others open.
        for (_, value) in queued {
            catch_user(&mut panicked, || drop(value));
        }
        panicked
    }
}

impl MailSlot {
    /// The wakers of the receives waiting for mail, to wake after a doorbell (each
    /// receive finds its value, or registers again).
    pub(crate) fn take_wakers(&self) -> Vec<Waker> {
        std::mem::take(&mut *self.wakers.borrow_mut())
    }

    /// Registers a waiting receive's waker, once per task.
    fn register(&self, waker: &Waker) {
        let mut wakers = self.wakers.borrow_mut();
        if !wakers.iter().any(|w| w.will_wake(waker)) {
            wakers.push(waker.clone());
        }
    }

    /// Closes the ring's mailbox, if it has one (the ring is shutting down).
    pub(crate) fn close(&self) -> Option<Payload> {
        let mut panicked = None;
        let wakers = self.take_wakers();
        // A waker's drop is user code; no borrow is held while it runs.
        catch_user(&mut panicked, || drop(wakers));
        let mailbox = self.mailbox.borrow_mut().take();
        if let Some(payload) = mailbox.and_then(|mailbox| mailbox.close()) {
            crate::unwind::keep_first(&mut panicked, payload);
        }
        panicked
    }

    fn has_mailbox(&self) -> bool {
        self.mailbox.borrow().is_some()
    }
}

impl<M: Send + 'static> Mailbox<M> {
    pub(crate) fn open(ring: &Ring) -> io::Result<Mailbox<M>> {
        let inner = ring.inner();
        if inner.mail().has_mailbox() {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                "this ring already has a mailbox; a ring has one, which takes values of \
                 one type (drop the old one first, or send an enum)",
            ));
        }
        let ring_fd = inner.dup_ring_fd()?;
        let shared = Arc::new(Shared {
            ring_fd,
            state: Mutex::new(State {
                open: true,
                next_key: 0,
                queue: VecDeque::new(),
            }),
        });
        *inner.mail().mailbox.borrow_mut() = Some(shared.clone() as Arc<dyn Close>);
        Ok(Mailbox {
            ring: ring.clone(),
            shared,
        })
    }

    /// An address other threads (or this one) send to.
    pub fn address(&self) -> Address<M> {
        Address {
            shared: self.shared.clone(),
        }
    }

    /// Waits for the next value.
    ///
    /// # Cancellation
    ///
    /// No kernel op is in flight while it waits: dropping the future loses nothing,
    /// and the value stays queued for the next `recv`. It is [`Linear`], so it can
    /// be raced against an op (`race(listener.accept().submit(), mailbox.recv())`);
    /// its cancel hands over a value that had arrived. If the ring shuts down while
    /// it waits, it never completes.
    pub fn recv(&self) -> MailboxRecv<'_, M> {
        MailboxRecv { mailbox: self }
    }

    /// The next value, if one is queued.
    pub fn try_recv(&self) -> Option<M> {
        self.shared.pop()
    }

    /// How many values are queued.
    pub fn len(&self) -> usize {
        self.shared.len()
    }

    /// Whether no value is queued.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl<M: Send + 'static> Drop for Mailbox<M> {
    /// Closes the mailbox: queued values are dropped, later sends come back.
    fn drop(&mut self) {
        let slot = self.ring.inner().mail();
        let ours = slot
            .mailbox
            .borrow()
            .as_ref()
            .is_some_and(|m| std::ptr::addr_eq(Arc::as_ptr(m), Arc::as_ptr(&self.shared)));
        let mut panicked = None;
        if ours {
            let mailbox = slot.mailbox.borrow_mut().take();
            let wakers = slot.take_wakers();
            // Dropped with no borrow held: a waker's drop is user code.
            catch_user(&mut panicked, || drop((mailbox, wakers)));
        }
        if let Some(payload) = Close::close(&*self.shared) {
            crate::unwind::keep_first(&mut panicked, payload);
        }
        crate::unwind::resume_first(panicked);
    }
}

/// The future of [`Mailbox::recv`].
#[must_use = "futures do nothing unless awaited"]
pub struct MailboxRecv<'a, M: Send + 'static> {
    mailbox: &'a Mailbox<M>,
}

impl<M: Send + 'static> Future for MailboxRecv<'_, M> {
    type Output = M;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<M> {
        if let Some(value) = self.mailbox.shared.pop() {
            return Poll::Ready(value);
        }
        let inner = self.mailbox.ring.inner();
        assert!(
            inner.is_current_or_shut_down(),
            "a mailbox's receive was awaited outside its ring's block_on (or inside \
             another ring's block_on): the doorbell is heard only while its own \
             `ring.block_on` runs the future that awaits it"
        );
        // A sender queues its value before it rings the doorbell, and the doorbell is
        // reaped by this thread, after this poll: the waker is in place by then.
        inner.mail().register(cx.waker());
        Poll::Pending
    }
}

/// A receive can be raced (`race(op, mailbox.recv())`): the work in flight is only
/// a wait, so a cancel stops at once and hands over a value that had arrived.
impl<M: Send + 'static> Linear for MailboxRecv<'_, M> {
    type Output = M;
    type Residue = ();

    fn poll_complete(&mut self, cx: &mut Context<'_>) -> Poll<M> {
        Pin::new(self).poll(cx)
    }

    fn start_cancel(&mut self) {}

    fn poll_cancel(&mut self, _: &mut Context<'_>) -> Poll<CancelOutcome<M, ()>> {
        Poll::Ready(match self.mailbox.shared.pop() {
            Some(value) => CancelOutcome::Completed(value),
            None => CancelOutcome::Cancelled(()),
        })
    }
}

impl<M: Send + 'static> Address<M> {
    /// Hands `value` to the mailbox's ring: queues it there and rings that ring
    /// with `IORING_OP_MSG_RING`, submitted on `ring` (the sender's).
    ///
    /// The token completes with `Ok(())` once the target has the value (queued for
    /// its `recv`, or dropped by its close), and with [`Undelivered`] holding the
    /// value when it never left the sender: the mailbox was closed, or the kernel
    /// refused the message.
    ///
    /// # Cancellation
    ///
    /// The kernel runs the message as soon as it sees it, so `cancel()` reports
    /// what happened, like `complete()`. If the token is dropped, an undelivered
    /// value is dropped (a descriptor closed); the drop policy applies.
    ///
    /// # References
    ///
    /// `io_uring_prep_msg_ring(3)`.
    #[track_caller]
    pub fn send(&self, ring: &Ring, value: M) -> Op<MsgRing<M>> {
        self.prepare(ring, value).submit()
    }

    /// Describes a [`send`](Address::send) without submitting it, to add a timeout
    /// or a drop policy first.
    pub fn prepare(&self, ring: &Ring, value: M) -> Prepared<MsgRing<M>> {
        MsgRing::prepare(ring, self.shared.clone(), value)
    }

    /// Whether the mailbox still takes values (its ring has not shut down nor its
    /// `Mailbox` been dropped). A send may still find it closed.
    pub fn is_open(&self) -> bool {
        self.shared.is_open()
    }
}

impl<M: Send + 'static> Clone for Address<M> {
    fn clone(&self) -> Self {
        Address {
            shared: self.shared.clone(),
        }
    }
}

impl<M: Send + 'static> fmt::Debug for Mailbox<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Mailbox")
            .field("queued", &self.len())
            .finish()
    }
}

impl<M: Send + 'static> fmt::Debug for Address<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Address")
            .field("ring_fd", &self.shared.ring_fd())
            .field("open", &self.is_open())
            .finish()
    }
}

impl<M: Send + 'static> fmt::Debug for MailboxRecv<'_, M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MailboxRecv").finish_non_exhaustive()
    }
}

impl fmt::Debug for MailSlot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MailSlot")
            .field("mailbox", &self.has_mailbox())
            .finish()
    }
}

/// A value the target did not take, handed back to its sender with the reason.
pub struct Undelivered<M> {
    error: io::Error,
    value: M,
}

impl<M> Undelivered<M> {
    pub(crate) fn new(error: io::Error, value: M) -> Self {
        Undelivered { error, value }
    }

    /// Why the value did not arrive: `BrokenPipe` for a closed mailbox, else the
    /// kernel's error for the message.
    pub fn error(&self) -> &io::Error {
        &self.error
    }

    /// The value, back with its sender.
    pub fn into_value(self) -> M {
        self.value
    }

    /// The reason and the value.
    pub fn into_parts(self) -> (io::Error, M) {
        (self.error, self.value)
    }
}

impl<M> fmt::Debug for Undelivered<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Undelivered")
            .field("error", &self.error)
            .finish_non_exhaustive()
    }
}

impl<M> fmt::Display for Undelivered<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "the value was not delivered: {}", self.error)
    }
}

impl<M> std::error::Error for Undelivered<M> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.error)
    }
}

static_assertions::assert_impl_all!(Address<std::os::fd::OwnedFd>: Send, Sync, Clone);
static_assertions::assert_not_impl_any!(Mailbox<std::os::fd::OwnedFd>: Send, Sync);
