//! The user-facing ring: a cheap `!Send` handle, its builder, and its statistics.
//!
//! [`Inner`] is what every handle, token and description shares. It ties the driver
//! (system calls), the op table (lifecycle) and the executor (tasks) together, and it
//! runs the executor loop and the shutdown.

use std::cell::{Cell, RefCell};
use std::fmt;
use std::future::{Future, IntoFuture};
use std::io;
use std::marker::PhantomData;
use std::os::fd::{BorrowedFd, RawFd};
use std::panic::Location;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::pin::{pin, Pin};
use std::rc::Rc;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use io_uring::squeue;

use crate::driver::{Config, Driver};
use crate::drop_policy::{Abandoned, DropPolicy};
use crate::error::Error;
use crate::exec::{is_task_waker, Executor, JoinHandle, Running, MAIN};
use crate::kick::{self, Bell, Listening};
use crate::op::{Completion, Erased, MultishotKind, Nop, OpKind, Streaming, Timeout};
use crate::runtime::mailbox::MailSlot;
use crate::table::{
    CancelStep, Insert, OpId, Orphan, Polled, PolledItem, Poller, Reaped, Report, Stored, Table,
    CQE_F_MORE,
};
use crate::token::{Op, Sleep};
use crate::unwind::{catch_user, discard, keep_first, resume_first, Payload};

/// How long shutdown waits for the kernel to answer before it gives up and leaks
/// what the kernel still holds (see [`Ring`]'s drop).
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// An io_uring instance with its executor: runs futures and submits operations.
///
/// A `Ring` is a cheap handle (an `Rc`): cloning it shares the ring. It is `!Send`;
/// a ring, its tokens and its tasks live on the thread that created it. There is no
/// hidden thread-local ring: resources and ops take the ring they belong to.
///
/// # Lifetime
///
/// The `Ring` returned by [`Ring::new`] or [`RingBuilder::build`] owns the ring; its
/// clones are handles that never keep it alive. When the owner is dropped, the ring
/// shuts down: every spawned task is dropped, every op still in the kernel is
/// cancelled, and the ring waits for every completion before it frees the buffers
/// and closes. If the kernel does not answer within a few seconds, the ring leaks
/// the buffers and the memory the kernel may still write rather than free them
/// (it still unmaps its queues and closes its descriptor: the kernel keeps its own
/// reference until it is done). Tokens held past the shutdown resolve with the op's completion (usually
/// `ECANCELED`); ops submitted once the shutdown has begun (from a task's or a
/// buffer's drop, say) and after it fail at once with
/// [`ErrorKind::ShutDown`](crate::ErrorKind).
///
/// Because a clone never keeps the ring alive, a task that holds a clone cannot leak
/// the ring through a reference cycle.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use linear_uring::{CancelOutcome, Ring};
///
/// let ring = Ring::new()?;
/// // A token given to `block_on` is completed.
/// ring.block_on(ring.nop())?;
/// ring.block_on(async {
///     ring.nop().complete().await?;
///     let timer = ring.sleep(Duration::from_secs(10));
///     assert!(matches!(timer.cancel().await, CancelOutcome::Cancelled(())));
///     Ok::<(), std::io::Error>(())
/// })?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Ring {
    inner: Rc<Inner>,
    owner: bool,
}

static_assertions::assert_not_impl_any!(Ring: Send, Sync);

// A panic in user code the ring runs (a task, a waker, a buffer's `Drop`) leaves the
// ring consistent: every slot finishes its transition before user code runs, and
// `block_on` resumes the first panic only after the ring is settled (the invariant
// "User code may panic anywhere the ring runs it" in ARCHITECTURE.md). So a ring
// observed after a caught panic is in a valid state, which is what these traits
// promise; without them, `catch_unwind(|| ring.block_on(..))` would need
// `AssertUnwindSafe` for the ring's internal cells.
impl std::panic::UnwindSafe for Ring {}
impl std::panic::RefUnwindSafe for Ring {}
static_assertions::assert_impl_all!(Ring: std::panic::UnwindSafe, std::panic::RefUnwindSafe);

impl Ring {
    /// A ring with the default settings (see [`RingBuilder`]).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Setup`](crate::ErrorKind::Setup) if io_uring is unavailable or
    /// refused; the message says what to check.
    pub fn new() -> Result<Ring, Error> {
        Ring::builder().build()
    }

    /// A builder to choose the ring's size, drop policy and setup flags.
    pub fn builder() -> RingBuilder {
        RingBuilder::new()
    }

    pub(crate) fn inner(&self) -> &Rc<Inner> {
        &self.inner
    }

    /// Runs `future` to completion on this thread, together with the spawned tasks.
    ///
    /// While nothing is runnable the thread blocks in `io_uring_enter(2)`, submitting
    /// what is queued and waiting for a completion or a wake from another thread in
    /// one system call.
    ///
    /// `future` is anything that becomes a future (`IntoFuture`): an async block, a
    /// token (`ring.block_on(ring.nop())` completes it), or a description (submitted,
    /// then completed).
    ///
    /// # Panics
    ///
    /// If called from inside `block_on` on the same ring (from a task), or after the
    /// ring has shut down. A panic in `future`, in a task, or in other user code the
    /// ring runs (a released buffer's drop, a waker) propagates out of `block_on`,
    /// once the ring has finished the turn it interrupted: the ring stays usable, and
    /// a later `block_on` goes on running the tasks that are left. A task whose own
    /// poll panicked is gone; awaiting its [`JoinHandle`] panics.
    pub fn block_on<F: IntoFuture>(&self, future: F) -> F::Output {
        self.inner.block_on(future.into_future())
    }

    /// Spawns a task on the ring's executor and returns a handle to its output.
    ///
    /// The task runs while some `block_on` on this ring runs. Dropping the handle
    /// detaches the task. Tasks still pending when the ring shuts down are dropped,
    /// which abandons their ops under shutdown rules (cancelled and reaped, no panic).
    pub fn spawn<F>(&self, future: F) -> JoinHandle<F::Output>
    where
        F: Future + 'static,
        F::Output: 'static,
    {
        let handle = self.inner.exec.spawn(future);
        if self.inner.state.get() != Lifecycle::Running {
            // Nothing will ever poll it: drop it now. Its drop is user code.
            let mut panicked = None;
            for task in self.inner.exec.take_tasks() {
                catch_user(&mut panicked, || drop(task));
            }
            resume_first(panicked);
        }
        handle
    }

    /// From now on, calls `hook` for every abandoned op (a token, or its `complete()`/`cancel()`
    /// future, dropped unconsumed), under every [`DropPolicy`], once the op's fate is
    /// final: at the drop if the op had already completed, otherwise when the kernel's
    /// completion for it is reaped. [`Abandoned`] says which op, where it was
    /// submitted, and what happened to it: cancelled before it did anything, or
    /// completed anyway with a result nobody received (bytes that a receive took
    /// from the socket, a connection that the ring then closed).
    ///
    /// Under [`DropPolicy::Reclaim`] this is how a release build sees what was lost.
    /// Timers from [`Ring::sleep`] are not reported: their drop is harmless.
    ///
    /// It replaces the hook set before, if any. (It is set on the ring, not the
    /// builder, so that a `RingBuilder` stays `Send` for a ring built on another
    /// thread.) The hook runs on the ring's thread, inside the ring (while it reaps, or in the
    /// token's drop), with no borrow of the ring held: it may use the ring. If it
    /// panics, the ring finishes what it was doing and resumes the panic afterwards.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::cell::RefCell;
    /// use std::rc::Rc;
    /// use linear_uring::{DropPolicy, Ring};
    ///
    /// let log = Rc::new(RefCell::new(Vec::new()));
    /// let ring = Ring::builder().drop_policy(DropPolicy::Reclaim).build()?;
    /// ring.on_abandon({
    ///     let log = log.clone();
    ///     move |abandoned| log.borrow_mut().push(abandoned.to_string())
    /// });
    /// ring.block_on(async {
    ///     let nop = ring.nop();
    ///     ring.sleep(std::time::Duration::from_millis(5)).await?;
    ///     drop(nop); // completed, its result unclaimed
    ///     Ok::<(), std::io::Error>(())
    /// })?;
    /// assert!(log.borrow()[0].contains("the Nop operation submitted at"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn on_abandon(&self, hook: impl Fn(&Abandoned<'_>) + 'static) {
        *self.inner.on_abandon.borrow_mut() = Some(Rc::new(hook));
    }

    /// Runs `f` in a proof-carrying scope: `f` gets a [`Scope`](crate::scope::Scope)
    /// and must return a [`Paid`](crate::scope::Paid) receipt with its value, and the
    /// only way to get the receipt is to complete or cancel every op it submitted.
    /// A token dropped, forgotten or leaked inside `f` is a compile error. See
    /// [`scope`](crate::scope).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use linear_uring::op::Timeout;
    /// use linear_uring::Ring;
    ///
    /// let ring = Ring::new()?;
    /// let fired = ring.block_on(ring.scope(async |s| {
    ///     let debt = s.submit(Timeout::new(&ring, Duration::from_millis(1)));
    ///     let (result, s) = debt.complete().await;
    ///     (s.paid(), result)
    /// }));
    /// fired?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn scope<'a, F, R>(
        &self,
        f: F,
    ) -> crate::scope::ScopeFuture<impl Future<Output = (crate::scope::Paid<'static>, R)> + 'a>
    where
        F: for<'b> AsyncFnOnce(crate::scope::Scope<'b>) -> (crate::scope::Paid<'b>, R) + 'a,
        R: 'a,
    {
        crate::scope::scope(&self.inner, f)
    }

    /// Submits a nop and returns its token.
    #[track_caller]
    pub fn nop(&self) -> Op<Nop> {
        Nop::new(self).submit()
    }

    /// Opens this ring's mailbox: values of type `M` that any thread can send here
    /// through its [`Address`](crate::runtime::Address), with `IORING_OP_MSG_RING`
    /// as the doorbell. See [`runtime`](crate::runtime).
    ///
    /// # Errors
    ///
    /// `AlreadyExists` if the ring has a mailbox already (one per ring); the ring's
    /// shut-down error if it has shut down; `dup(2)`'s errors.
    pub fn mailbox<M: Send + 'static>(&self) -> io::Result<crate::runtime::Mailbox<M>> {
        crate::runtime::Mailbox::open(self)
    }

    /// Starts a kernel timer that fires after `duration`.
    ///
    /// A timer is not a resource, so [`Sleep`] is not linear: it is a future to
    /// await, and dropping it removes the timer from the kernel, quietly (no drop
    /// policy). It also offers `complete()` and `cancel()` like a token, and works
    /// with [`race`](crate::race). For a timer that must be consumed, submit a
    /// [`Timeout`] yourself.
    #[track_caller]
    pub fn sleep(&self, duration: Duration) -> Sleep {
        Sleep::new(Timeout::new(self, duration).submit_quiet())
    }

    /// The ring's counters.
    pub fn stats(&self) -> Stats {
        let counters = &self.inner.counters;
        Stats {
            submitted: counters.submitted.get(),
            completed: counters.completed.get(),
            cancelled: counters.cancelled.get(),
            abandoned: counters.abandoned.get(),
            fds_closed: counters.fds_closed.get(),
            in_flight: self.inner.table.borrow().in_flight() as u64,
        }
    }

    /// The drop policy of this ring.
    pub fn drop_policy(&self) -> DropPolicy {
        self.inner.policy
    }

    /// Shuts the ring down now, as dropping its owner would. Idempotent.
    ///
    /// # Panics
    ///
    /// If called (or the owner dropped) inside this ring's own `block_on`: the ring
    /// then shuts down when that `block_on` returns or unwinds. While the thread is
    /// already panicking there, nothing panics again: the shutdown is only deferred.
    ///
    /// A panic in user code that the shutdown runs (a task's or a buffer's drop, a
    /// waker) does not stop it: the ring still reaches the shut-down state, and the
    /// first such panic is resumed here once it has.
    pub fn shutdown(&self) {
        resume_first(self.inner.shutdown());
    }

    /// Whether the ring has shut down.
    pub fn is_shut_down(&self) -> bool {
        self.inner.state.get() == Lifecycle::ShutDown
    }
}

impl Clone for Ring {
    /// Another handle to the same ring. A clone does not own the ring: see [`Ring`].
    fn clone(&self) -> Self {
        Ring {
            inner: self.inner.clone(),
            owner: false,
        }
    }
}

impl Drop for Ring {
    fn drop(&mut self) {
        if self.owner {
            resume_first(self.inner.shutdown());
        }
    }
}

impl fmt::Debug for Ring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ring")
            .field("owner", &self.owner)
            .field("policy", &self.inner.policy)
            .field("state", &self.inner.state.get())
            .field("driver", &self.inner.driver.borrow())
            .field("stats", &self.stats())
            .finish()
    }
}

/// The hook of [`Ring::on_abandon`].
type AbandonHook = Rc<dyn Fn(&Abandoned<'_>)>;

/// Settings for a new [`Ring`].
///
/// By default the ring has 256 entries, the default [`DropPolicy`], no SQPOLL
/// thread, and the fastest single-threaded task-run mode the kernel accepts:
/// `IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN` (Linux 6.1), else
/// `IORING_SETUP_COOP_TASKRUN` (5.19), else none. A ring is only ever used from one
/// thread, so the kernel can skip its submission locking (`SINGLE_ISSUER`), and
/// completions are processed in batches when the thread enters the kernel to wait,
/// instead of interrupting it as they arrive (`DEFER_TASKRUN`). Without SQPOLL, the
/// ring also asks for `IORING_SETUP_NO_SQARRAY` (Linux 6.6): the kernel takes each
/// entry at its place in the queue instead of through an index array.
///
/// The ring's descriptor is also registered for the thread that builds it
/// (`IORING_REGISTER_RING_FDS`, Linux 5.18), so that entering the kernel spares a
/// descriptor lookup; it is unregistered when the ring is dropped. A thread has 16
/// such slots, shared with any other io_uring code it runs: rings beyond them, and
/// SQPOLL rings, enter with their descriptor instead.
#[derive(Debug, Clone)]
pub struct RingBuilder {
    config: Config,
    policy: DropPolicy,
}

static_assertions::assert_impl_all!(RingBuilder: Send, Sync);

impl RingBuilder {
    fn new() -> Self {
        RingBuilder {
            config: Config {
                entries: 256,
                sqpoll_idle: None,
                fast_taskrun: true,
                masked_opcodes: Vec::new(),
                kernel: None,
            },
            policy: DropPolicy::default(),
        }
    }

    /// Submission queue size (the completion queue is twice as large). More ops than
    /// this may be in flight: a full queue is flushed to the kernel, never an error.
    pub fn entries(mut self, entries: u32) -> Self {
        self.config.entries = entries;
        self
    }

    /// What a dropped, unconsumed token does beyond its I/O-safe cleanup.
    pub fn drop_policy(mut self, policy: DropPolicy) -> Self {
        self.policy = policy;
        self
    }

    /// Use a kernel thread to poll the submission queue (`IORING_SETUP_SQPOLL`),
    /// which sleeps after `idle` without work; `None` (the default) submits with
    /// `io_uring_enter(2)`. SQPOLL excludes `DEFER_TASKRUN`.
    pub fn sqpoll(mut self, idle: Option<Duration>) -> Self {
        self.config.sqpoll_idle = idle;
        self
    }

    /// Whether to ask for `SINGLE_ISSUER | DEFER_TASKRUN` (or `COOP_TASKRUN`); on by
    /// default. Off leaves the kernel's default task-run mode.
    pub fn fast_taskrun(mut self, enabled: bool) -> Self {
        self.config.fast_taskrun = enabled;
        self
    }

    /// Treat `opcode` as missing from the kernel, for testing the unsupported path.
    #[cfg(test)]
    pub(crate) fn mask_opcode(mut self, opcode: u8) -> Self {
        self.config.masked_opcodes.push(opcode);
        self
    }

    /// Assume the kernel is release `(major, minor)`, for testing the path of ops
    /// that need a later one.
    #[cfg(test)]
    pub(crate) fn assume_kernel(mut self, release: (u32, u32)) -> Self {
        self.config.kernel = Some(release);
        self
    }

    /// Creates the ring.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Setup`](crate::ErrorKind::Setup) if `io_uring_setup(2)` fails
    /// (io_uring disabled or unavailable, too many entries, no memory); the message
    /// says what to check.
    pub fn build(self) -> Result<Ring, Error> {
        let driver = Driver::new(&self.config)?;
        let exec = Executor::new(driver.notifier().clone());
        let bell = Bell::new(driver.notifier().clone());
        let inner = Inner {
            driver: RefCell::new(Some(driver)),
            table: RefCell::new(Table::new()),
            exec,
            counters: Counters::default(),
            policy: self.policy,
            on_abandon: RefCell::new(None),
            scopes: Default::default(),
            state: Cell::new(Lifecycle::Running),
            shutdown_deferred: Cell::new(false),
            wakers: Cell::new(Vec::new()),
            released: Cell::new(Vec::new()),
            next_group: Cell::new(0),
            free_groups: RefCell::new(Vec::new()),
            mail: MailSlot::default(),
            bell,
        };
        Ok(Ring {
            inner: Rc::new(inner),
            owner: true,
        })
    }
}

/// A ring's counters, from [`Ring::stats`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Operations pushed to the kernel.
    pub submitted: u64,
    /// Final completions reaped from the kernel.
    pub completed: u64,
    /// Completions that reported the op cancelled (`ECANCELED`), whoever asked.
    pub cancelled: u64,
    /// Tokens dropped without being consumed (including `complete()` and `cancel()`
    /// futures dropped before they resolved), counted under every policy.
    pub abandoned: u64,
    /// Descriptors produced by abandoned ops that the ring closed on their behalf.
    pub fds_closed: u64,
    /// Operations the kernel may still be working on.
    pub in_flight: u64,
}

/// The counters behind [`Stats`], one cell each so that the hot path touches one
/// word.
#[derive(Debug, Default)]
struct Counters {
    submitted: Cell<u64>,
    completed: Cell<u64>,
    cancelled: Cell<u64>,
    abandoned: Cell<u64>,
    fds_closed: Cell<u64>,
}

impl Counters {
    fn add(counter: &Cell<u64>, n: u64) {
        counter.set(counter.get() + n);
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Lifecycle {
    Running,
    ShuttingDown,
    ShutDown,
}

/// What submitting needs to know of an op's kind (`OpKind`'s or `MultishotKind`'s
/// constants), one `static` per kind ([`OneShot::KIND`], [`ManyShot::KIND`]) so
/// that a submission passes a pointer.
struct Kind {
    name: &'static str,
    opcode: u8,
    /// The kernel release the kind needs beyond its opcode, if any.
    since: Option<(u32, u32)>,
    settles: bool,
    exclusive: bool,
}

/// The [`Kind`] of a single-shot op `K`.
struct OneShot<K>(PhantomData<K>);

impl<K: OpKind> OneShot<K> {
    const KIND: Kind = Kind {
        name: K::NAME,
        opcode: K::OPCODE,
        since: None,
        settles: K::SETTLES,
        exclusive: K::EXCLUSIVE_WAIT,
    };
}

/// The [`Kind`] of a multishot op `K`.
struct ManyShot<K>(PhantomData<K>);

impl<K: MultishotKind> ManyShot<K> {
    const KIND: Kind = Kind {
        name: K::NAME,
        opcode: K::OPCODE,
        since: Some(K::SINCE),
        settles: K::SETTLES,
        exclusive: K::EXCLUSIVE_WAIT,
    };
}

/// An abandoned op whose final completion was reaped, waiting to be released.
type Released = (Box<dyn Erased>, Completion, Report);

/// What polling a multishot op found.
pub(crate) enum StreamStep {
    /// One of its items.
    Item(Completion),
    /// Its end: its data and final completion.
    Ended(Box<dyn Erased>, Completion),
}

/// The state every handle, token and description of one ring shares.
pub(crate) struct Inner {
    /// `None` once the ring has shut down.
    driver: RefCell<Option<Driver>>,
    table: RefCell<Table<Box<dyn Erased>>>,
    exec: Executor,
    counters: Counters,
    policy: DropPolicy,
    on_abandon: RefCell<Option<AbandonHook>>,
    /// Which proof-carrying scopes are being cancelled.
    scopes: crate::scope::Registry,
    state: Cell<Lifecycle>,
    /// The owner was dropped (or `shutdown` called) inside this ring's `block_on`:
    /// the shutdown runs when that `block_on` ends.
    shutdown_deferred: Cell<bool>,
    /// Scratch space for the wakers and orphan releases of one reap, kept to avoid an
    /// allocation per tick.
    wakers: Cell<Vec<Waker>>,
    released: Cell<Vec<Released>>,
    /// The id the next provided buffer ring registers as, when none was given back.
    next_group: Cell<u16>,
    /// Ids of provided buffer rings that were unregistered, for reuse.
    free_groups: RefCell<Vec<u16>>,
    /// The ring's mailbox, if it has one (see `runtime`).
    mail: MailSlot,
    /// How rings that listen on the same sockets ask this one to kick its
    /// accepts (see `kick`).
    bell: Arc<Bell>,
}

impl Inner {
    /// Registers listener `fd` with the process's other rings, so that an accept
    /// cancelled on any ring wakes the accepts of the others on its socket (see
    /// `kick`). The registration must be dropped before `fd` is closed.
    pub(crate) fn listen(&self, fd: BorrowedFd<'_>) -> Rc<Listening> {
        Rc::new(Listening::register(fd, &self.bell))
    }

    /// Whether the kernel fills bundles of provided buffers; false once shut down.
    pub(crate) fn supports_bundles(&self) -> bool {
        self.driver.borrow().as_ref().is_some_and(Driver::bundles)
    }

    /// What the ring knows of its mailbox.
    pub(crate) fn mail(&self) -> &MailSlot {
        &self.mail
    }

    /// Whether the calling code runs inside this ring's `block_on` (where a wait on
    /// the ring can be woken), or the ring has shut down (where nothing will wake).
    pub(crate) fn is_current_or_shut_down(&self) -> bool {
        self.exec.is_current() || self.state.get() != Lifecycle::Running
    }

    /// A second descriptor of the ring's io_uring instance, for `MSG_RING` senders.
    pub(crate) fn dup_ring_fd(&self) -> io::Result<std::os::fd::OwnedFd> {
        match self.driver.borrow().as_ref() {
            Some(driver) => driver.dup_ring_fd(),
            None => Err(Error::shut_down("mailbox").into()),
        }
    }

    /// The registry of the ring's proof-carrying scopes.
    pub(crate) fn scopes(&self) -> &crate::scope::Registry {
        &self.scopes
    }

    /// Records `op` in the table and pushes its entry. Never fails: an op that cannot
    /// reach the kernel is recorded as completed with the reason.
    pub(crate) fn submit<K: OpKind>(&self, mut op: Box<K>, link_timeout: Option<Duration>) -> OpId {
        // An op the kernel must not see (a read with no room) fails at once, like an
        // unsupported opcode. Checked before any borrow: it calls user code.
        if let Err(err) = op.check() {
            let mut table = self.table.borrow_mut();
            return table.insert_completed(op, Completion::failed(err));
        }
        // Built while `op` sits at its final heap address (moving the box into the
        // table moves the pointer, not the op), and before any borrow: building the
        // entry calls the buffer's methods, which are user code.
        let mut sqe = op.sqe();
        self.push_new(op, &mut sqe, &OneShot::<K>::KIND, link_timeout)
    }

    /// Records a multishot `op` in the table and pushes its entry, as [`submit`].
    ///
    /// [`submit`]: Inner::submit
    pub(crate) fn submit_multishot<K: MultishotKind>(&self, mut op: Box<Streaming<K>>) -> OpId {
        if let Err(err) = op.0.check() {
            let mut table = self.table.borrow_mut();
            return table.insert_completed(op, Completion::failed(err));
        }
        let mut sqe = op.0.sqe();
        self.push_new(op, &mut sqe, &ManyShot::<K>::KIND, None)
    }

    /// Records `op`, whose entry is `sqe`, and pushes it; an op the ring cannot run
    /// (shut down, an opcode or a kernel release it lacks) is recorded as failed.
    fn push_new(
        &self,
        op: Box<dyn Erased>,
        sqe: &mut squeue::Entry,
        kind: &'static Kind,
        link_timeout: Option<Duration>,
    ) -> OpId {
        let &Kind {
            name,
            opcode,
            since,
            settles,
            exclusive,
        } = kind;
        let mut driver = self.driver.borrow_mut();
        let mut table = self.table.borrow_mut();
        let driver = match driver.as_mut() {
            Some(driver) if self.state.get() == Lifecycle::Running => driver,
            // Once shutdown has begun, a new op (from a task's or a buffer's drop)
            // would only delay it: it fails at once, never reaching the kernel.
            _ => {
                let err = Error::shut_down(name).into();
                return table.insert_completed(op, Completion::failed(err));
            }
        };
        if !driver.supports(opcode) {
            let err = Error::unsupported(name, opcode).into();
            return table.insert_completed(op, Completion::failed(err));
        }
        if let Some(since) = since.filter(|&since| driver.kernel() < since) {
            let err = Error::kernel_too_old(name, since, driver.kernel()).into();
            return table.insert_completed(op, Completion::failed(err));
        }
        let how = Insert {
            linked: link_timeout.is_some(),
            task: self.exec.current_task(),
            settles,
            exclusive,
        };
        let id = table.insert_waiting(op, how);
        sqe.set_user_data(id.to_user_data());
        // Why the pushes below are sound: every pointer in the entry points into the
        // boxed op, which the table now owns. The table hands it out only after the
        // op's final completion was reaped (`poll`, `Reaped::Release`,
        // `take_completed`), and never drops the data of an op still in flight, not
        // even when the table itself is dropped (see `Table`'s `Drop`). A leaked token
        // leaves the data in the table.
        let pushed = match link_timeout {
            // SAFETY: the entry's memory is owned by the table until its final
            // completion, as explained above.
            Some(timeout) => unsafe { driver.push_linked(sqe, timeout) },
            // SAFETY: as for the linked push.
            None => unsafe { driver.push(sqe) },
        };
        match pushed {
            Ok(()) => {
                Counters::add(&self.counters.submitted, 1);
            }
            Err(err) => {
                // The entry never reached the queue, so the kernel never saw it.
                let _ = table.complete(id, Completion::failed(err));
            }
        }
        id
    }

    /// Polls the op `id` for its token: its data and completion once it has ended,
    /// otherwise records who waits for it. Inlined into the token's poll for the
    /// common case, a task of the ring's own executor (or its `block_on` future):
    /// one table lookup, which either takes the completed op or records the task's
    /// id (no waker is stored). Other wakers go out of line.
    #[inline]
    pub(crate) fn poll_op(&self, id: OpId, waker: &Waker) -> Poll<(Box<dyn Erased>, Completion)> {
        let Some(task) = self.exec.task_of(waker) else {
            return self.poll_op_waker(id, waker);
        };
        let polled = self.table.borrow_mut().poll_waiting(id, Poller::Task(task));
        match polled {
            Polled::Ready(data, completion) => ready(data, completion),
            Polled::Pending(replaced) => {
                if let Some(replaced) = replaced {
                    // The waker of an earlier poll by another executor's task,
                    // dropped with no borrow held.
                    drop_waker(replaced);
                }
                self.check_awaited_here("an operation");
                Poll::Pending
            }
            Polled::NeedsWaker => unreachable!("a task's poll needs no waker"),
        }
    }

    /// `poll_op` for a waker that is not one of the ring's tasks: another
    /// executor's task waker is cloned in place (an `Arc` increment, no user code);
    /// any other is cloned with no borrow held.
    #[inline(never)]
    fn poll_op_waker(&self, id: OpId, waker: &Waker) -> Poll<(Box<dyn Erased>, Completion)> {
        let polled = if is_task_waker(waker) {
            self.table.borrow_mut().poll_waiting_cloning(id, waker)
        } else {
            self.table
                .borrow_mut()
                .poll_waiting(id, Poller::Waker(waker))
        };
        match polled {
            Polled::Ready(data, completion) => return ready(data, completion),
            // A replaced waker is dropped here, with no borrow held.
            Polled::Pending(replaced) => drop(replaced),
            Polled::NeedsWaker => return self.poll_op_storing(id, waker),
        }
        self.check_awaited_here("an operation");
        Poll::Pending
    }

    /// The rest of `poll_op` for a waker the table did not clone: cloning and
    /// dropping a waker are user code, so no borrow is held meanwhile.
    #[cold]
    #[inline(never)]
    fn poll_op_storing(&self, id: OpId, waker: &Waker) -> Poll<(Box<dyn Erased>, Completion)> {
        let clone = waker.clone();
        let stored = self.table.borrow_mut().set_waker(id, clone);
        match stored {
            Stored::Replaced(replaced) => drop(replaced),
            Stored::Completed(unused) => {
                // The clone ran the ring far enough to reap this op (a shutdown,
                // say): take the result now.
                drop(unused);
                match self
                    .table
                    .borrow_mut()
                    .poll_waiting(id, Poller::Waker(waker))
                {
                    Polled::Ready(data, completion) => return ready(data, completion),
                    _ => unreachable!("a completed op is ready"),
                }
            }
        }
        self.check_awaited_here("an operation");
        Poll::Pending
    }

    /// Panics if a token of this ring waits outside the ring's `block_on`, where
    /// nothing would ever run the ring for it; `what` names the token.
    #[inline]
    fn check_awaited_here(&self, what: &str) {
        if !self.exec.is_current() && self.state.get() == Lifecycle::Running {
            awaited_elsewhere(what);
        }
    }

    /// Polls a multishot op: its next item, or its end with its data once no item is
    /// left. Waits as [`poll_op`](Inner::poll_op) does.
    pub(crate) fn poll_item(&self, id: OpId, waker: &Waker) -> Poll<StreamStep> {
        let poller = match self.exec.task_of(waker) {
            Some(task) => Poller::Task(task),
            None => Poller::Waker(waker),
        };
        let polled = self.table.borrow_mut().poll_item(id, poller);
        match polled {
            PolledItem::Item(completion) => return Poll::Ready(StreamStep::Item(completion)),
            PolledItem::Ended(data, completion) => {
                return Poll::Ready(StreamStep::Ended(data, completion))
            }
            // A replaced waker is dropped here, with no borrow held.
            PolledItem::Pending(replaced) => drop(replaced),
            PolledItem::NeedsWaker => {
                // Cloning and dropping a waker are user code: no borrow is held.
                let waker = waker.clone();
                let stored = self.table.borrow_mut().set_stream_waker(id, waker);
                match stored {
                    Stored::Replaced(replaced) => drop(replaced),
                    Stored::Completed(unused) => {
                        drop(unused);
                        // The clone ran the ring far enough to reap an item or the
                        // end of this op: poll again, with nothing left to wait for.
                        return match self.table.borrow_mut().poll_item(id, poller) {
                            PolledItem::Item(completion) => {
                                Poll::Ready(StreamStep::Item(completion))
                            }
                            PolledItem::Ended(data, completion) => {
                                Poll::Ready(StreamStep::Ended(data, completion))
                            }
                            _ => unreachable!("a completed op has an item or its end"),
                        };
                    }
                }
            }
        }
        self.check_awaited_here("a multishot operation");
        Poll::Pending
    }

    /// Registers a provided buffer ring and returns its group id.
    ///
    /// # Safety
    ///
    /// As [`Driver::register_buf_ring`].
    pub(crate) unsafe fn register_buf_ring(&self, ring_addr: u64, entries: u16) -> io::Result<u16> {
        let mut driver = self.driver.borrow_mut();
        let Some(driver) = driver.as_mut() else {
            return Err(Error::shut_down("buffer ring registration").into());
        };
        if !matches!(driver.kernel(), (major, minor) if (major, minor) >= (5, 19)) {
            return Err(
                Error::kernel_too_old("provided buffer ring", (5, 19), driver.kernel()).into(),
            );
        }
        // A group id given back by a group that went, or the next never used.
        let reused = self.free_groups.borrow_mut().pop();
        let bgid = match reused {
            Some(bgid) => bgid,
            None => {
                let bgid = self.next_group.get();
                let next = bgid.checked_add(1).ok_or_else(|| {
                    io::Error::other("65536 buffer rings are registered with this ring already")
                })?;
                self.next_group.set(next);
                bgid
            }
        };
        // SAFETY: the caller's promises, passed on.
        if let Err(err) = unsafe { driver.register_buf_ring(ring_addr, entries, bgid) } {
            self.free_groups.borrow_mut().push(bgid);
            return Err(err);
        }
        Ok(bgid)
    }

    /// Gives the id of a group that was unregistered back for reuse.
    pub(crate) fn release_buf_group(&self, bgid: u16) {
        self.free_groups.borrow_mut().push(bgid);
    }

    /// Unregisters buffer group `bgid`. `Ok` also when the ring has shut down: the
    /// kernel let go of every registration with the ring.
    pub(crate) fn unregister_buf_ring(&self, bgid: u16) -> io::Result<()> {
        match self.driver.borrow_mut().as_mut() {
            Some(driver) => driver.unregister_buf_ring(bgid),
            None => Ok(()),
        }
    }

    /// Submits an async cancel for `id`, unless one was sent or it already finished.
    pub(crate) fn request_cancel(&self, id: OpId) {
        let mut table = self.table.borrow_mut();
        let step = table.cancel(id);
        let exclusive = waits_exclusively(&table, id);
        drop(table);
        if step == CancelStep::Submit {
            self.push_cancel(id, exclusive);
        }
    }

    /// `exclusive`: the op waits on an exclusive wait queue (see
    /// `OpKind::exclusive_wait`).
    fn push_cancel(&self, id: OpId, exclusive: bool) {
        if let Some(driver) = self.driver.borrow_mut().as_mut() {
            // If even flushing fails the ring is broken; the shutdown will retry.
            let _ = driver.push_cancel(id.to_user_data());
            if exclusive {
                // Linux 6.18 with DEFER_TASKRUN: until the kernel runs the cancel's
                // deferred work, the op stays first on the exclusive wait queue and
                // swallows the wake-ups of the connections that arrive, so another
                // accept submitted meanwhile never wakes for them. Run that work now,
                // before the caller can submit anything else. (Accepts already
                // waiting are kicked once the cancel lands: see `Table::kick_waiting`.)
                let _ = driver.run_deferred();
            }
        }
    }

    /// The token of `id` was dropped unconsumed: make it I/O-safe, then apply the
    /// drop policy, unless the op is `quiet` (a timer, which owns nothing and whose
    /// drop is documented as harmless).
    pub(crate) fn abandon(
        &self,
        id: OpId,
        name: &'static str,
        location: &'static Location<'static>,
        quiet: bool,
    ) {
        // Where it was submitted, for the `on_abandon` hook; a quiet op is not reported.
        let report = (!quiet).then_some(location);
        let mut table = self.table.borrow_mut();
        let exclusive = waits_exclusively(&table, id);
        let orphan = table.orphan(id, report);
        drop(table);
        let mut panicked = None;
        match orphan {
            Orphan::InFlight {
                submit_cancel,
                waker,
            } => {
                if submit_cancel {
                    self.push_cancel(id, exclusive);
                }
                catch_user(&mut panicked, || drop(waker));
            }
            Orphan::Completed(data, completion) => {
                self.release_orphan(data, completion, report, &mut panicked);
            }
        }
        if !quiet {
            Counters::add(&self.counters.abandoned, 1);
            let shutting_down = self.state.get() != Lifecycle::Running;
            // A panic from the release is already on its way: the policy's own
            // panic would hide it.
            self.policy
                .abandoned(name, location, shutting_down, panicked.is_some());
        }
        resume_first(panicked);
    }

    fn block_on<F: Future>(&self, future: F) -> F::Output {
        assert!(
            self.state.get() == Lifecycle::Running,
            "Ring::block_on called on a ring that has shut down (its owning Ring was \
             dropped or shut down; clones do not keep a ring alive)"
        );
        let previous = self.exec.enter().unwrap_or_else(|| {
            panic!(
                "Ring::block_on called from inside block_on on the same ring; spawn the \
                 future or await it instead"
            )
        });
        let _running = RunningGuard(self, previous);
        // In an option, so that after a panic the future can be dropped apart, with
        // its own drop's panic caught, before the first panic is resumed.
        let mut future = pin!(Some(future));
        let waker = self.exec.main_waker().clone();
        let mut cx = Context::from_waker(&waker);
        loop {
            if self.exec.take_main_wake() {
                let polled = self.exec.polling_main(|| {
                    catch_unwind(AssertUnwindSafe(|| {
                        let running = future.as_mut().as_pin_mut();
                        running.expect("block_on's future is present").poll(&mut cx)
                    }))
                });
                match polled {
                    Ok(Poll::Ready(output)) => return output,
                    Ok(Poll::Pending) => {}
                    Err(payload) => fail_block_on(future.as_mut(), payload),
                }
            }
            let mut panicked = self.exec.run_woken();
            if panicked.is_none() {
                panicked = self.turn();
            }
            if let Some(payload) = panicked {
                if std::thread::panicking() {
                    // This `block_on` runs in a drop while a panic unwinds: a task's or a
                    // buffer's panic cannot be resumed (that would abort). The future
                    // is unharmed: go on running it.
                    discard(payload);
                } else {
                    fail_block_on(future.as_mut(), payload);
                }
            }
        }
    }

    /// One round of the ring for a host executor (tokio): polls `future` and the
    /// ring's tasks, submits and reaps without blocking, as long as something is
    /// runnable (at most a bounded number of rounds, so the host runs too).
    /// `Some(output)` once `future` is done.
    ///
    /// # Panics
    ///
    /// As [`Ring::block_on`]: from inside a `block_on` of this ring, after it shut
    /// down, and with a panic of `future` or of a task.
    #[cfg(feature = "tokio")]
    pub(crate) fn drive_once<F: Future>(&self, mut future: Pin<&mut F>) -> Option<F::Output> {
        assert!(
            self.state.get() == Lifecycle::Running,
            "a ring driven by tokio has shut down (its owning Ring was dropped or shut down)"
        );
        let previous = self.exec.enter().unwrap_or_else(|| {
            panic!("a ring driven by tokio was polled from inside its own block_on")
        });
        let _running = RunningGuard(self, previous);
        // The main waker is queued by taking it: the future is polled this round.
        let waker = self.exec.main_waker().clone();
        let mut cx = Context::from_waker(&waker);
        for _ in 0..64 {
            if self.exec.take_main_wake() {
                if let Poll::Ready(output) =
                    self.exec.polling_main(|| future.as_mut().poll(&mut cx))
                {
                    return Some(output);
                }
            }
            if let Some(payload) = self.exec.run_woken() {
                resume_unwind(payload);
            }
            if let Some(payload) = self.turn_nowait() {
                resume_unwind(payload);
            }
            if !self.exec.has_woken() && !self.exec.main_queued() {
                break;
            }
        }
        None
    }

    /// Whether a task or the driven future is ready to be polled: `drive_once`
    /// stops after a bounded number of rounds, and a host must come back then.
    #[cfg(feature = "tokio")]
    pub(crate) fn has_runnable(&self) -> bool {
        self.exec.has_woken() || self.exec.main_queued()
    }

    /// Submits what is queued and processes the completions that are there, without
    /// waiting.
    #[cfg(feature = "tokio")]
    fn turn_nowait(&self) -> Option<Payload> {
        if let Some(driver) = self.driver.borrow_mut().as_mut() {
            driver.ensure_wake_armed();
            if let Err(err) = driver.run_deferred() {
                panic!("io_uring_enter failed: {err}; the ring cannot continue");
            }
        }
        self.reap()
    }

    /// An eventfd the kernel signals when this ring has completions to post, for a
    /// host reactor.
    #[cfg(feature = "tokio")]
    pub(crate) fn register_eventfd(&self) -> io::Result<std::os::fd::OwnedFd> {
        match self.driver.borrow_mut().as_mut() {
            Some(driver) if driver.defers_taskrun() => Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "this ring defers the kernel's completion work to its own system calls \
                 (DEFER_TASKRUN), so tokio's reactor cannot see completions arrive: build \
                 the ring to be driven by tokio with `Ring::builder().fast_taskrun(false)`",
            )),
            Some(driver) => driver.register_eventfd(),
            None => Err(Error::shut_down("tokio driver").into()),
        }
    }

    /// Ends what [`register_eventfd`](Inner::register_eventfd) started, if the ring
    /// still runs (a shut-down ring let go of it).
    #[cfg(feature = "tokio")]
    pub(crate) fn unregister_eventfd(&self) {
        if let Some(driver) = self.driver.borrow_mut().as_mut() {
            let _ = driver.unregister_eventfd();
        }
    }

    /// Enters the kernel (blocking if nothing is runnable) and processes completions.
    /// Returns the first panic of user code that the reap ran.
    fn turn(&self) -> Option<Payload> {
        // A wake from another thread after this check writes the eventfd, whose read
        // is in flight, so the wait below returns. Completions already taken into
        // the driver's backlog are reaped before any wait.
        let woken = self.exec.has_woken();
        let entered = match self.driver.borrow_mut().as_mut() {
            Some(driver) => {
                driver.ensure_wake_armed();
                let wait = !woken && !driver.has_backlog();
                driver.enter(wait)
            }
            None => Ok(()),
        };
        if let Err(err) = entered {
            panic!("io_uring_enter failed: {err}; the ring cannot continue");
        }
        self.reap()
    }

    /// Hands every available completion to the table, then wakes tokens and
    /// releases orphans with no borrow held.
    ///
    /// Releasing and waking run user code, which may panic: every orphan is still
    /// released and every waiter woken, and the first panic is handed back for the
    /// caller to resume.
    #[must_use = "the first panic of user code during the reap is to be resumed"]
    fn reap(&self) -> Option<Payload> {
        let mut guard = self.driver.borrow_mut();
        let driver = guard.as_mut()?;
        // The scratch vectors are only taken out of their cells when a completion
        // needs them: ops awaited by the ring's own tasks (the `block_on` future's
        // included) need neither.
        let mut wakers: Option<Vec<Waker>> = None;
        let mut released: Option<Vec<Released>> = None;
        let (mut completed, mut cancelled, mut wake_main) = (0, 0, false);
        {
            let mut table = self.table.borrow_mut();
            let shutting_down = self.state.get() != Lifecycle::Running;
            let woken = driver.reap(shutting_down, |user_data, res, flags| {
                let Some(id) = OpId::from_user_data(user_data) else {
                    debug_assert!(false, "driver handed on its own user_data {user_data:#x}");
                    return;
                };
                // An item (`IORING_CQE_F_MORE`) is not the op's end. A cancel shows
                // once, on whichever completion carries it: a multishot op's last,
                // or the first of a zero-copy send's two (its notification follows).
                if flags & CQE_F_MORE == 0 {
                    completed += 1;
                }
                if res == -libc::ECANCELED {
                    cancelled += 1;
                }
                match table.complete_cqe(id, res, flags) {
                    // The `block_on` future's wake is a flag, set once below.
                    Reaped::WakeTask(MAIN) => wake_main = true,
                    // Queues the task: no user code runs.
                    Reaped::WakeTask(task) => self.exec.wake_task(task),
                    Reaped::Wake(Some(waker)) => {
                        wakers.get_or_insert_with(|| self.wakers.take()).push(waker)
                    }
                    Reaped::Wake(None) | Reaped::Queued => {}
                    // A kick's cancel is the ring's own: neither the op's end nor a
                    // cancel it reports.
                    Reaped::Resubmit => {
                        completed -= 1;
                        if res == -libc::ECANCELED {
                            cancelled -= 1;
                        }
                    }
                    Reaped::Release(data, completion, report) => released
                        .get_or_insert_with(|| self.released.take())
                        .push((data, completion, report)),
                    Reaped::Stale(completion) => {
                        debug_assert!(false, "stale completion for {id:?}: {completion:?}");
                    }
                }
            });
            if table.has_rework() {
                self.resubmit_and_kick(driver, &mut table, shutting_down);
            }
            // Another ring's accept on a socket this one listens on was cancelled:
            // its bell wrote the eventfd, whose read completed.
            if woken && !shutting_down {
                self.kick_for_others(driver, &mut table);
            }
        }
        let mail = driver.take_mail();
        // Releasing an op's data and waking run user code (a buffer's drop, a
        // waker): no borrow may be held.
        drop(guard);
        if mail {
            let waiting = self.mail.take_wakers();
            if !waiting.is_empty() {
                wakers
                    .get_or_insert_with(|| self.wakers.take())
                    .extend(waiting);
            }
        }
        Counters::add(&self.counters.completed, completed);
        Counters::add(&self.counters.cancelled, cancelled);
        // Set before any user code runs, like the tasks queued above.
        if wake_main {
            self.exec.wake_main();
        }
        let mut panicked = None;
        if let Some(mut released) = released {
            // A buffer's drop that panics must not strand the other orphans (their
            // descriptors unclosed) nor the wakers below.
            while let Some((data, completion, report)) = released.pop() {
                self.release_orphan(data, completion, report, &mut panicked);
            }
            self.released.set(released);
        }
        if let Some(mut wakers) = wakers {
            // Likewise, a waker that panics must not leave the others' ops completed
            // with nobody woken.
            while let Some(waker) = wakers.pop() {
                catch_user(&mut panicked, || waker.wake());
            }
            self.wakers.set(wakers);
        }
        panicked
    }

    /// Submits again the kicked ops the kernel cancelled, then kicks every op
    /// waiting on the exclusive wait queue of a socket where an op was cancelled
    /// and may have swallowed a wake-up (see `Table::kick_waiting`), through any of
    /// this ring's descriptors of it, and asks the other rings listening on it to
    /// do the same (see `kick`); while shutting down, only the latter.
    #[cold]
    fn resubmit_and_kick(
        &self,
        driver: &mut Driver,
        table: &mut Table<Box<dyn Erased>>,
        shutting_down: bool,
    ) {
        let (resubmit, swallowed) = table.take_rework();
        for &id in &resubmit {
            if shutting_down {
                // The shutdown waits for every op to end: this one ends cancelled.
                let cancelled = io::Error::from_raw_os_error(libc::ECANCELED);
                driver.complete_later(id.to_user_data(), &cancelled);
                continue;
            }
            let Some(data) = table.data_mut(id) else {
                continue;
            };
            // Library code only, as it must be with the table and the driver
            // borrowed: only an op that waits exclusively is kicked, and its entry
            // is built from its own fields (an accept's listener and address
            // buffer).
            debug_assert!(data.exclusive_wait().is_some(), "kicked a {}", data.name());
            let sqe = data.resubmit().user_data(id.to_user_data());
            // SAFETY: as in `push_new`: the entry points into the op's boxed data,
            // which the table owns until the op's final completion; the op is still
            // waiting, and its earlier entry was reaped (cancelled) above.
            if let Err(err) = unsafe { driver.push(&sqe) } {
                // Never reached the kernel: the op ends with the error, delivered
                // by the next reap as its completion (this one may not wake).
                driver.complete_later(id.to_user_data(), &err);
            }
        }
        for fd in swallowed {
            // The swallowed wake-up was the socket's: every accept on it may have
            // missed it, through any descriptor of it, on any ring. Other rings
            // are told even while this one shuts down (its accepts are the ones
            // being cancelled).
            let socket = kick::socket_of(&self.bell, fd);
            if let Some(socket) = socket {
                kick::ring_others(&self.bell, socket);
            }
            if shutting_down {
                continue;
            }
            match socket {
                Some(socket) => {
                    for fd in kick::local_fds(&self.bell, socket) {
                        Self::kick(driver, table, fd);
                    }
                }
                None => Self::kick(driver, table, fd),
            }
        }
    }

    /// Kicks the ops waiting on `fd`'s exclusive wait queue (`Table::kick_waiting`).
    fn kick(driver: &mut Driver, table: &mut Table<Box<dyn Erased>>, fd: RawFd) {
        for id in table.kick_waiting(fd) {
            // If even flushing fails the ring is broken; the op stays as it was,
            // to be kicked again (the shutdown cancels it anyway).
            if driver.push_cancel(id.to_user_data()).is_err() {
                table.unkick(id);
            }
        }
    }

    /// Kicks this ring's accepts on the sockets where another ring's accept was
    /// cancelled (see `kick`).
    #[cold]
    fn kick_for_others(&self, driver: &mut Driver, table: &mut Table<Box<dyn Erased>>) {
        for socket in self.bell.take() {
            for fd in kick::local_fds(&self.bell, socket) {
                Self::kick(driver, table, fd);
            }
        }
    }

    /// Releases an abandoned op whose final completion is known: reports it to the
    /// `on_abandon` hook, then closes what it produced and drops its buffers. Both are
    /// user code; a panic is kept in `panicked`.
    fn release_orphan(
        &self,
        data: Box<dyn Erased>,
        completion: Completion,
        report: Report,
        panicked: &mut Option<Payload>,
    ) {
        if let Some(location) = report {
            // Taken out first: the hook may set another one.
            let hook = self.on_abandon.borrow().clone();
            if let Some(hook) = hook {
                let items = data.items(&completion);
                let abandoned = Abandoned::new(data.name(), location, &completion, items);
                catch_user(panicked, || hook(&abandoned));
            }
        }
        catch_user(panicked, || {
            let closed = data.release(completion);
            Counters::add(&self.counters.fds_closed, closed);
        });
    }

    /// Drops every task, cancels every op in flight and waits for the kernel to give
    /// everything back, then closes the ring. See [`Ring`]'s "Lifetime".
    ///
    /// User code that runs meanwhile (a task's or a buffer's drop, a waker) may
    /// panic: the shutdown goes on regardless and always ends in the shut-down state.
    /// The first panic is handed back for the caller to resume.
    #[must_use = "the first panic of user code during the shutdown is to be resumed"]
    fn shutdown(&self) -> Option<Payload> {
        if self.state.get() != Lifecycle::Running {
            return None;
        }
        if self.exec.is_running() {
            // The owner was dropped by a future this ring runs: shutting down here
            // would drop the task that is running. The `block_on` shuts the ring
            // down when it ends; while a panic unwinds it, that is all there is to do.
            self.shutdown_deferred.set(true);
            if !std::thread::panicking() {
                panic!(
                    "the owning Ring was dropped (or shut down) inside its own block_on; \
                     keep the owner outside the futures it runs (the ring shuts down \
                     when this block_on ends)"
                );
            }
            return None;
        }
        self.state.set(Lifecycle::ShuttingDown);
        let mut panicked = None;
        // Dropping a task may spawn another or drop tokens: no borrow is held here.
        // New ops fail at once from now on, so dropping tasks adds nothing to wait for.
        loop {
            let tasks = self.exec.take_tasks();
            if tasks.is_empty() {
                break;
            }
            for task in tasks {
                catch_user(&mut panicked, || drop(task));
            }
        }
        // Values sent to this ring that nobody will receive now: dropped (closing
        // the descriptors among them), and later sends come back to their senders.
        if let Some(payload) = self.mail.close() {
            keep_first(&mut panicked, payload);
        }
        let cancels = self.table.borrow_mut().cancel_all();
        if let Some(driver) = self.driver.borrow_mut().as_mut() {
            for id in cancels {
                let _ = driver.push_cancel(id.to_user_data());
            }
            let _ = driver.push_cancel_wake();
        }
        let mut last_progress = Instant::now();
        let mut remaining = self.table.borrow().in_flight();
        while remaining > 0 || self.driver_busy() {
            if last_progress.elapsed() > SHUTDOWN_GRACE {
                break;
            }
            if let Some(driver) = self.driver.borrow_mut().as_mut() {
                let _ = driver.enter_timeout(Duration::from_millis(100));
            }
            if let Some(payload) = self.reap() {
                keep_first(&mut panicked, payload);
            }
            let now = self.table.borrow().in_flight();
            if now < remaining {
                last_progress = Instant::now();
            }
            remaining = now;
        }
        // The driver leaks whatever the kernel may still write (see its `Drop`); the
        // table never frees the data of an op still in flight.
        let driver = self.driver.borrow_mut().take();
        drop(driver);
        self.exec.close_notifier();
        self.state.set(Lifecycle::ShutDown);
        panicked
    }

    fn driver_busy(&self) -> bool {
        self.driver.borrow().as_ref().is_some_and(Driver::busy)
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        // Only the owner's drop starts a shutdown, and the owner holds a reference,
        // so this has run already unless the owner was leaked.
        let mut panicked = self.shutdown();
        // No token is left: release completions nobody will claim (close the
        // descriptors they produced).
        let unclaimed = self.table.get_mut().take_completed();
        for (data, completion) in unclaimed {
            catch_user(&mut panicked, || {
                data.release(completion);
            });
        }
        resume_first(panicked);
    }
}

impl fmt::Debug for Inner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Inner")
            .field("state", &self.state.get())
            .field("table", &self.table.borrow())
            .field("exec", &self.exec)
            .finish_non_exhaustive()
    }
}

#[cold]
#[inline(never)]
#[track_caller]
fn awaited_elsewhere(what: &str) -> ! {
    panic!(
        "{what} of this ring was awaited outside the ring's block_on (or inside another \
         ring's block_on): it can only make progress while its own `ring.block_on` runs \
         the future that awaits it (await it there, or in a task spawned on the ring)"
    )
}

/// Whether op `id` waits on an exclusive wait queue (an accept).
fn waits_exclusively(table: &Table<Box<dyn Erased>>, id: OpId) -> bool {
    table
        .data(id)
        .is_some_and(|data| data.exclusive_wait().is_some())
}

/// An op's result as `poll_op` hands it out: a completion cut off by the op's linked
/// timeout reports a timeout (the kernel's errno stays in `Completion::errno`).
#[inline]
fn ready(data: Box<dyn Erased>, mut completion: Completion) -> Poll<(Box<dyn Erased>, Completion)> {
    if completion.timed_out() {
        report_timeout(&mut completion, data.name());
    }
    Poll::Ready((data, completion))
}

/// Drops a waker out of line (it runs user code): the common path stays small.
#[cold]
#[inline(never)]
fn drop_waker(waker: Waker) {
    drop(waker);
}

/// Out of line: the common path stays small.
#[cold]
#[inline(never)]
fn report_timeout(completion: &mut Completion, op: &'static str) {
    completion.result = Err(Error::timed_out(op).into());
}

/// Ends a `block_on` whose future or user code panicked: drops the future first,
/// catching a panic of its drop, then resumes the first panic. Never returns.
fn fail_block_on<F>(mut future: Pin<&mut Option<F>>, payload: Payload) -> ! {
    let mut first = Some(payload);
    catch_user(&mut first, || future.set(None));
    let payload = first.expect("the first panic is kept");
    // Resumed even while the thread is panicking: there is no output to return. A
    // future that panics inside a `block_on` run by a drop during unwinding aborts,
    // as any panic escaping such a drop does.
    resume_unwind(payload)
}

/// Ends a `block_on` however it ends, restoring the executor marker it replaced, and
/// runs a shutdown that was asked for while it ran.
struct RunningGuard<'a>(&'a Inner, Running);

impl Drop for RunningGuard<'_> {
    fn drop(&mut self) {
        self.0.exec.exit(self.1);
        if self.0.shutdown_deferred.take() {
            resume_first(self.0.shutdown());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorKind;

    #[test]
    fn unsupported_opcode_fails_the_op_clearly() {
        let ring = Ring::builder()
            .mask_opcode(io_uring::opcode::Nop::CODE)
            .build()
            .unwrap();
        let err = ring
            .block_on(async { ring.nop().complete().await })
            .unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::Unsupported);
        let inner = err.get_ref().and_then(|e| e.downcast_ref::<Error>());
        assert_eq!(inner.map(Error::kind), Some(ErrorKind::Unsupported));
        assert!(
            err.to_string()
                .contains("does not support the Nop operation"),
            "{err}"
        );
        // It never reached the kernel, and the ring still works for other ops.
        assert_eq!(ring.stats().submitted, 0);
        assert_eq!(ring.stats().in_flight, 0);
        ring.block_on(async { ring.sleep(Duration::from_millis(1)).complete().await })
            .unwrap();
    }

    #[test]
    fn unsupported_opcode_cancel_reports_completed_error() {
        let ring = Ring::builder()
            .mask_opcode(io_uring::opcode::Nop::CODE)
            .build()
            .unwrap();
        let outcome = ring.block_on(async { ring.nop().cancel().await });
        let err = outcome.completed().expect("not cancelled").unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::Unsupported);
    }

    #[test]
    fn multishot_accept_on_a_kernel_before_5_19_ends_with_unsupported_naming_the_release() {
        let ring = Ring::builder().assume_kernel((5, 15)).build().unwrap();
        let listener = crate::net::TcpListener::bind(&ring, "127.0.0.1:0").unwrap();
        let (first, second, finished) = ring.block_on(async {
            let mut incoming = listener.incoming().submit();
            let first = incoming.next().await;
            let second = incoming.next().await;
            (first, second.is_none(), incoming.is_finished())
        });
        let err = first.expect("the error first").unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::Unsupported);
        let message = err.to_string();
        assert!(
            message.contains("the AcceptMulti operation needs Linux 5.19 or later")
                && message.contains("running kernel is 5.15"),
            "{message}"
        );
        assert!(second && finished);
        // Nothing reached the kernel, and the token was paid by its end.
        let stats = ring.stats();
        assert_eq!((stats.submitted, stats.abandoned), (0, 0), "{stats:?}");
    }

    #[test]
    fn recv_bundle_on_a_kernel_before_6_10_fails_unsupported_and_keeps_the_bytes() {
        let ring = Ring::builder().assume_kernel((6, 9)).build().unwrap();
        let group = crate::buf::BufRing::new(&ring, 2, 16).unwrap();
        let (a, b) = crate::net::UnixStream::pair(&ring).unwrap();
        let (received, sent) = ring.block_on(async {
            let (sent, _) = b.send(b"kept").submit().complete().await;
            let received = a.recv_bundle(&group).submit().complete().await;
            (received, sent)
        });
        sent.unwrap();
        let err = received.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::Unsupported);
        assert!(err.to_string().contains("needs Linux 6.10"), "{err}");
        assert_bytes_kept(&ring, &group, &a);
    }

    /// Both buffers of `group` are in the ring, and the bytes sent to `stream` are
    /// still in the socket for a receive the kernel has.
    fn assert_bytes_kept(
        ring: &Ring,
        group: &crate::buf::BufRing,
        stream: &crate::net::UnixStream,
    ) {
        assert_eq!(group.available(), 2);
        let buf = ring
            .block_on(stream.recv_provided(group).submit().complete())
            .unwrap()
            .unwrap();
        assert_eq!(&buf[..], b"kept");
    }

    #[test]
    fn recv_multi_bundle_on_a_kernel_before_6_10_ends_unsupported_and_keeps_the_bytes() {
        let ring = Ring::builder().assume_kernel((6, 9)).build().unwrap();
        let group = crate::buf::BufRing::new(&ring, 2, 16).unwrap();
        let (a, b) = crate::net::UnixStream::pair(&ring).unwrap();
        let (first, sent) = ring.block_on(async {
            let (sent, _) = b.send(b"kept").submit().complete().await;
            let mut bundles = a.recv_multi_bundle(&group).submit();
            let first = bundles.next().await;
            assert!(bundles.next().await.is_none(), "the stream has ended");
            (first, sent)
        });
        sent.unwrap();
        let err = first.expect("the stream ends with an error").unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::Unsupported);
        let message = err.to_string();
        assert!(
            message.contains("the RecvMultiBundle operation needs Linux 6.10")
                && message.contains("running kernel is 6.9"),
            "{message}"
        );
        assert_bytes_kept(&ring, &group, &a);
    }

    /// A thread registers at most 16 ring descriptors: rings beyond that enter the
    /// kernel with their descriptor, and every ring runs its ops either way.
    #[test]
    fn rings_beyond_the_threads_registered_descriptors_still_run() {
        let rings: Vec<Ring> = (0..20).map(|_| Ring::new().unwrap()).collect();
        let registered = |ring: &Ring| {
            let driver = ring.inner.driver.borrow();
            driver.as_ref().unwrap().is_ring_fd_registered()
        };
        if crate::driver::kernel_release() >= (5, 18) {
            assert!(registered(&rings[0]));
        }
        assert!(!registered(&rings[19]), "a thread has 16 registered slots");
        for ring in &rings {
            ring.block_on(async {
                ring.nop().complete().await.unwrap();
                ring.sleep(Duration::from_millis(1))
                    .complete()
                    .await
                    .unwrap();
            });
            assert_eq!(ring.stats().in_flight, 0);
        }
    }
}
