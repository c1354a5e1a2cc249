//! A single-threaded executor: tasks, a run queue and wakers.
//!
//! Wakers are `Send`: a waker used on another thread pushes the task on a shared
//! queue and writes the driver's eventfd, so that the read always in flight on the
//! ring completes and a thread blocked in the kernel wakes up. A wake on the thread
//! that is running the ring needs no eventfd: that thread is not blocked. The
//! executor loop itself lives in [`Ring::block_on`](crate::Ring), which interleaves
//! polling with the driver.

use std::cell::{Cell, RefCell};
use std::fmt;
use std::future::Future;
use std::mem::ManuallyDrop;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, RawWaker, RawWakerVTable, Waker};

use crate::driver::Notifier;
use crate::unwind::{discard, Payload};

/// The id the `block_on` future wakes with; spawned tasks have slab ids below it.
pub(crate) const MAIN: u64 = u64::MAX;

/// What wakers on any thread share with the executor.
struct Shared {
    woken: Mutex<Vec<u64>>,
    /// Set after an id is pushed to `woken`, cleared when the executor takes the
    /// queue: lets the executor skip the lock when no task was woken.
    pending: AtomicBool,
    notifier: Arc<Notifier>,
}

/// The executor running `block_on` on a thread: the address of its `Shared`
/// (which a waker compares with its own) and its queue of local wakes.
#[derive(Clone, Copy)]
pub(crate) struct Running {
    shared: usize,
    local: *const RefCell<Vec<u64>>,
}

impl Running {
    const NONE: Running = Running {
        shared: 0,
        local: std::ptr::null(),
    };
}

thread_local! {
    /// The executor running `block_on` on this thread, if any: a wake from this
    /// thread for one of its tasks goes on its local queue, with no lock and no
    /// eventfd write. `Copy`, so the thread-local has no destructor to register.
    static RUNNING: Cell<Running> = const { Cell::new(Running::NONE) };
}

impl Shared {
    fn woken(&self) -> MutexGuard<'_, Vec<u64>> {
        // A panic while the lock is held cannot leave the vector inconsistent.
        self.woken
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
    }
}

struct TaskWaker {
    id: u64,
    /// Whether the task is already in the run queue, so that a burst of wakes queues
    /// it once.
    queued: AtomicBool,
    shared: Arc<Shared>,
}

// A `Waker` may be sent and shared across threads: what its vtable points to must be.
static_assertions::assert_impl_all!(TaskWaker: Send, Sync);

impl TaskWaker {
    fn wake_by_ref(&self) {
        let running = RUNNING.with(Cell::get);
        let here = running.shared == Arc::as_ptr(&self.shared) as usize;
        if self.id == MAIN {
            // The `block_on` future needs no queue entry: its flag is what the
            // executor checks.
            self.queued.store(true, Ordering::Release);
        } else if here {
            // SAFETY: `running` is this thread's running executor, the one this
            // waker's task belongs to (same `Shared`, kept alive by this waker, so
            // the address cannot have been reused); `enter` set `local` to that
            // executor's queue and `exit` takes it away before the executor can
            // go, so the pointer is valid for the whole `block_on`.
            let local = unsafe { &*running.local };
            if self.queue_here(local) {
                return;
            }
        }
        if self.id != MAIN {
            if self.queued.swap(true, Ordering::AcqRel) {
                return;
            }
            self.shared.woken().push(self.id);
            self.shared.pending.store(true, Ordering::Release);
        }
        if !here {
            // Another thread, or this one outside `block_on`: the ring's thread may
            // be blocked in the kernel. The write completes its eventfd read.
            self.shared.notifier.notify();
        }
    }

    /// Queues the task on its executor's local queue, from the executor's thread;
    /// false if the queue is borrowed (the caller uses the shared one).
    ///
    /// Only this thread pushes to the local queue and only the executor clears the
    /// flag, on this thread too; a wake from another thread at the same moment may
    /// queue the task a second time, which costs one spurious poll. The queue is
    /// never borrowed while user code runs.
    fn queue_here(&self, local: &RefCell<Vec<u64>>) -> bool {
        if self.queued.load(Ordering::Relaxed) {
            return true;
        }
        match local.try_borrow_mut() {
            Ok(mut local) => {
                self.queued.store(true, Ordering::Relaxed);
                local.push(self.id);
                true
            }
            Err(_) => false,
        }
    }
}

/// The vtable of task wakers. A `static`, so that its address is unique: a waker
/// with this vtable is one of ours, and its data a `TaskWaker` (see `task_of`).
static TASK_VTABLE: RawWakerVTable =
    RawWakerVTable::new(clone_raw, wake_raw, wake_by_ref_raw, drop_raw);

// The four functions below receive the data pointer of a waker built by
// `task_waker` or `borrowed_waker`: a pointer to a live `TaskWaker` inside an `Arc`.
// An owned waker (from `task_waker` or `clone_raw`) holds one strong count of it.

unsafe fn clone_raw(data: *const ()) -> RawWaker {
    // SAFETY: `data` points to a live `TaskWaker` in an `Arc` (see above); the new
    // waker takes a count of its own.
    unsafe { Arc::increment_strong_count(data.cast::<TaskWaker>()) };
    RawWaker::new(data, &TASK_VTABLE)
}

unsafe fn wake_raw(data: *const ()) {
    // SAFETY: `wake` consumes an owned waker, whose count this takes back.
    let waker = unsafe { Arc::from_raw(data.cast::<TaskWaker>()) };
    waker.wake_by_ref();
}

unsafe fn wake_by_ref_raw(data: *const ()) {
    // SAFETY: `data` points to a live `TaskWaker` (see above), borrowed for the call.
    let waker = unsafe { &*data.cast::<TaskWaker>() };
    waker.wake_by_ref();
}

unsafe fn drop_raw(data: *const ()) {
    // SAFETY: `drop` consumes an owned waker, whose count this gives back.
    drop(unsafe { Arc::from_raw(data.cast::<TaskWaker>()) });
}

/// A waker that owns one count of `waker`.
fn task_waker(waker: Arc<TaskWaker>) -> Waker {
    let data = Arc::into_raw(waker).cast::<()>();
    // SAFETY: `data` comes from `Arc::into_raw`, one count that the waker owns and
    // `drop_raw` or `wake_raw` gives back; the vtable's functions expect exactly that.
    unsafe { Waker::from_raw(RawWaker::new(data, &TASK_VTABLE)) }
}

/// A waker borrowing `waker` without a count of its own: never dropped (so it
/// gives back no count), valid while the caller keeps `waker` alive. Its clones
/// take counts of their own.
fn borrowed_waker(waker: &Arc<TaskWaker>) -> ManuallyDrop<Waker> {
    let data = Arc::as_ptr(waker).cast::<()>();
    // SAFETY: the `TaskWaker` outlives the returned waker, which the caller keeps no
    // longer than its `Arc` (`poll_task` owns it for the whole poll); being in a
    // `ManuallyDrop`, it never runs `drop_raw`, so the count it never took is never
    // given back.
    ManuallyDrop::new(unsafe { Waker::from_raw(RawWaker::new(data, &TASK_VTABLE)) })
}

struct Task {
    future: Pin<Box<dyn Future<Output = ()>>>,
    waker: Arc<TaskWaker>,
}

struct TaskSlot {
    generation: u32,
    /// `None` when the slot is free, and while its task is being polled
    /// (`running`): `poll_task` owns the task meanwhile.
    task: Option<Task>,
    running: bool,
}

fn task_id(index: u32, generation: u32) -> u64 {
    (u64::from(generation) << 32) | u64::from(index)
}

/// The executor's tasks and run queue.
pub(crate) struct Executor {
    shared: Arc<Shared>,
    slots: RefCell<Vec<TaskSlot>>,
    free: RefCell<Vec<u32>>,
    main: Arc<TaskWaker>,
    main_waker: Waker,
    /// Tasks woken on this thread while this executor runs `block_on` (see
    /// `RUNNING`) or spawned: the shared queue is for wakes from elsewhere.
    local: RefCell<Vec<u64>>,
    /// Ids taken from the queues, reused between ticks.
    batch: Cell<Vec<u64>>,
    running: Cell<bool>,
    /// The task being polled (`MAIN` for the `block_on` future), if any.
    current: Cell<Option<u64>>,
}

/// Whether `waker` is a task waker of an executor of this library, whose clone and
/// drop only count references (no user code).
#[inline]
pub(crate) fn is_task_waker(waker: &Waker) -> bool {
    std::ptr::eq(waker.vtable(), &TASK_VTABLE)
}

impl Executor {
    pub(crate) fn new(notifier: Arc<Notifier>) -> Executor {
        let shared = Arc::new(Shared {
            woken: Mutex::new(Vec::new()),
            pending: AtomicBool::new(false),
            notifier,
        });
        let main = Arc::new(TaskWaker {
            id: MAIN,
            queued: AtomicBool::new(false),
            shared: shared.clone(),
        });
        Executor {
            main_waker: task_waker(main.clone()),
            main,
            shared,
            slots: RefCell::new(Vec::new()),
            free: RefCell::new(Vec::new()),
            local: RefCell::new(Vec::new()),
            batch: Cell::new(Vec::new()),
            running: Cell::new(false),
            current: Cell::new(None),
        }
    }

    /// Marks the start of a `block_on`; false if one is already running. Returns
    /// the marker of the executor that was running on this thread before.
    pub(crate) fn enter(&self) -> Option<Running> {
        if self.running.replace(true) {
            return None;
        }
        let this = Running {
            shared: Arc::as_ptr(&self.shared) as usize,
            local: &self.local,
        };
        Some(RUNNING.with(|running| running.replace(this)))
    }

    /// Marks the end of a `block_on`, restoring what `enter` returned.
    pub(crate) fn exit(&self, previous: Running) {
        self.running.set(false);
        RUNNING.with(|running| running.set(previous));
    }

    pub(crate) fn is_running(&self) -> bool {
        self.running.get()
    }

    /// Whether this executor's `block_on` is the innermost one running on this
    /// thread: the one that polls the futures running now.
    pub(crate) fn is_current(&self) -> bool {
        RUNNING.with(Cell::get).shared == Arc::as_ptr(&self.shared) as usize
    }

    /// The waker of the `block_on` future, queued so that the first tick polls it.
    pub(crate) fn main_waker(&self) -> &Waker {
        self.main.queued.store(true, Ordering::Release);
        &self.main_waker
    }

    /// Whether the `block_on` future was woken since it was last polled; clears it.
    pub(crate) fn take_main_wake(&self) -> bool {
        // Only a set flag costs a locked instruction.
        self.main.queued.load(Ordering::Relaxed) && self.main.queued.swap(false, Ordering::Acquire)
    }

    /// Whether the `block_on` future was woken and not polled since.
    #[cfg(feature = "tokio")]
    pub(crate) fn main_queued(&self) -> bool {
        self.main.queued.load(Ordering::Acquire)
    }

    /// Wakes the `block_on` future from the ring's own thread.
    pub(crate) fn wake_main(&self) {
        self.main.queued.store(true, Ordering::Release);
    }

    /// The task of this executor being polled now ([`MAIN`] for the `block_on`
    /// future), if any: the likely waiter of an op submitted now.
    #[inline]
    pub(crate) fn current_task(&self) -> Option<u64> {
        self.current.get()
    }

    /// Runs `poll`, a poll of the `block_on` future, with [`MAIN`] as the current
    /// task.
    pub(crate) fn polling_main<R>(&self, poll: impl FnOnce() -> R) -> R {
        let previous = self.current.replace(Some(MAIN));
        let polled = poll();
        self.current.set(previous);
        polled
    }

    /// The id of the task (or [`MAIN`], the `block_on` future) of this executor
    /// whose waker `waker` is; `None` for any other waker. A completion can wake
    /// such a task by its id ([`wake_task`](Executor::wake_task)), with no waker
    /// stored.
    #[inline]
    pub(crate) fn task_of(&self, waker: &Waker) -> Option<u64> {
        if !is_task_waker(waker) {
            return None;
        }
        // SAFETY: only `task_waker` and `borrowed_waker` make wakers with
        // `TASK_VTABLE` (a private static, whose address no other vtable has): the
        // data of `waker` points to a live `TaskWaker`, alive at least as long as
        // `waker` is borrowed.
        let task = unsafe { &*waker.data().cast::<TaskWaker>() };
        std::ptr::eq(Arc::as_ptr(&task.shared), Arc::as_ptr(&self.shared)).then_some(task.id)
    }

    /// Wakes the task `id` of this executor (not the `block_on` future, [`MAIN`],
    /// whose wake is its flag: [`wake_main`](Executor::wake_main)), on the
    /// executor's thread: what [`Waker::wake`] does for its waker, with no waker at
    /// hand. A finished task's id is ignored.
    pub(crate) fn wake_task(&self, id: u64) {
        debug_assert_ne!(id, MAIN, "the block_on future is woken by its flag");
        let (index, generation) = (id as u32, (id >> 32) as u32);
        let Ok(slots) = self.slots.try_borrow() else {
            // Never borrowed while a completion is reaped; if it were, queueing
            // the id costs at most a spurious poll.
            return self.queue_unflagged(id);
        };
        let Some(slot) = slots
            .get(index as usize)
            .filter(|slot| slot.generation == generation)
        else {
            return;
        };
        match &slot.task {
            Some(task) if !task.waker.queue_here(&self.local) => task.waker.wake_by_ref(),
            Some(_) => {}
            // Woken while it runs: it must be polled again.
            None if slot.running => self.queue_unflagged(id),
            None => {}
        }
    }

    /// Queues the task `id` without looking at its `queued` flag.
    fn queue_unflagged(&self, id: u64) {
        match self.local.try_borrow_mut() {
            Ok(mut local) => local.push(id),
            Err(_) => {
                self.shared.woken().push(id);
                self.shared.pending.store(true, Ordering::Release);
            }
        }
    }

    /// Adds a task; it is polled on the next tick.
    pub(crate) fn spawn<F>(&self, future: F) -> JoinHandle<F::Output>
    where
        F: Future + 'static,
        F::Output: 'static,
    {
        let join = Rc::new(JoinState {
            output: RefCell::new(None),
            waker: RefCell::new(None),
            watcher: RefCell::new(None),
            dropped: Cell::new(false),
        });
        let guard = JoinGuard(join.clone());
        let wrapped = async move {
            let guard = guard;
            let output = future.await;
            *guard.0.output.borrow_mut() = Some(output);
            // The guard's drop wakes the handle.
        };
        let mut slots = self.slots.borrow_mut();
        let index = match self.free.borrow_mut().pop() {
            Some(index) => index,
            None => {
                slots.push(TaskSlot {
                    generation: 0,
                    task: None,
                    running: false,
                });
                u32::try_from(slots.len() - 1).expect("more than 2^32 tasks")
            }
        };
        let slot = &mut slots[index as usize];
        let waker = Arc::new(TaskWaker {
            id: task_id(index, slot.generation),
            queued: AtomicBool::new(true),
            shared: self.shared.clone(),
        });
        self.local.borrow_mut().push(waker.id);
        slot.task = Some(Task {
            future: Box::pin(wrapped),
            waker,
        });
        JoinHandle { state: join }
    }

    /// Polls every task woken since the last tick, once each. A task that panics is
    /// gone; the tasks not polled yet stay queued, and its panic is returned for the
    /// caller to resume.
    pub(crate) fn run_woken(&self) -> Option<Payload> {
        // Only a set flag costs a locked instruction, and a tick that woke nothing
        // (the `block_on` future's own ops) touches neither queue.
        let remote = self.shared.pending.load(Ordering::Relaxed)
            && self.shared.pending.swap(false, Ordering::Acquire);
        if !remote && self.local.borrow().is_empty() {
            return None;
        }
        let mut batch = self.batch.take();
        std::mem::swap(&mut batch, &mut *self.local.borrow_mut());
        if remote {
            batch.append(&mut self.shared.woken());
        }
        let mut panicked = None;
        for (i, &id) in batch.iter().enumerate() {
            if let Err(payload) = self.poll_task(id) {
                // Keep the tasks not polled yet in the queue, or their `queued` flags
                // would swallow every later wake.
                self.local.borrow_mut().extend_from_slice(&batch[i + 1..]);
                panicked = Some(payload);
                break;
            }
        }
        batch.clear();
        self.batch.set(batch);
        panicked
    }

    /// Polls the task `id` once. A task whose poll panics, or whose future panics
    /// when it is dropped, is gone: its slot is freed and the first panic returned.
    fn poll_task(&self, id: u64) -> Result<(), Payload> {
        let index = id as u32;
        let generation = (id >> 32) as u32;
        // Take the task out so that it can spawn or drop tasks while it runs.
        let Task { mut future, waker } = {
            let mut slots = self.slots.borrow_mut();
            let Some(slot) = slots.get_mut(index as usize) else {
                return Ok(());
            };
            if slot.generation != generation {
                return Ok(()); // A wake for a task that has finished.
            }
            let Some(task) = slot.task.take() else {
                return Ok(()); // Being polled further up the stack (cannot happen).
            };
            slot.running = true;
            task.waker.queued.store(false, Ordering::Release);
            task
        };
        // This frame owns `waker` for the whole poll: the task's context borrows it.
        let context_waker = borrowed_waker(&waker);
        let previous = self.current.replace(Some(id));
        let polled = catch_unwind(AssertUnwindSafe(|| {
            future
                .as_mut()
                .poll(&mut Context::from_waker(&context_waker))
        }));
        self.current.set(previous);
        let finished = !matches!(polled, Ok(Poll::Pending));
        {
            let mut slots = self.slots.borrow_mut();
            let slot = &mut slots[index as usize];
            slot.running = false;
            if !finished {
                slot.task = Some(Task { future, waker });
                return Ok(());
            }
            // Finished or panicked: the slot is freed before the future is dropped,
            // which runs user code (and, after a panic, is the second chance for it
            // to panic).
            slot.generation = slot.generation.wrapping_add(1);
            self.free.borrow_mut().push(index);
        }
        let dropped = catch_unwind(AssertUnwindSafe(|| drop(future)));
        match (polled, dropped) {
            (Err(payload), _) | (Ok(_), Err(payload)) => Err(payload),
            (Ok(_), Ok(())) => Ok(()),
        }
    }

    /// Closes the eventfd that wakers write, at the end of the ring's shutdown.
    pub(crate) fn close_notifier(&self) {
        self.shared.notifier.close();
    }

    /// Whether anything is runnable right now.
    pub(crate) fn has_woken(&self) -> bool {
        self.main.queued.load(Ordering::Acquire)
            || self.shared.pending.load(Ordering::Acquire)
            || !self.local.borrow().is_empty()
    }

    /// Removes every task, for shutdown. The caller drops them with no borrow held.
    pub(crate) fn take_tasks(&self) -> Vec<Pin<Box<dyn Future<Output = ()>>>> {
        let mut slots = self.slots.borrow_mut();
        let mut free = self.free.borrow_mut();
        let mut tasks = Vec::new();
        for (index, slot) in slots.iter_mut().enumerate() {
            if let Some(task) = slot.task.take() {
                slot.generation = slot.generation.wrapping_add(1);
                free.push(index as u32);
                tasks.push(task.future);
            }
        }
        tasks
    }

    /// Live spawned tasks.
    pub(crate) fn task_count(&self) -> usize {
        self.slots
            .borrow()
            .iter()
            .filter(|slot| slot.task.is_some() || slot.running)
            .count()
    }
}

impl fmt::Debug for Executor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Executor")
            .field("tasks", &self.task_count())
            .field("running", &self.running.get())
            .finish_non_exhaustive()
    }
}

struct JoinState<T> {
    output: RefCell<Option<T>>,
    waker: RefCell<Option<Waker>>,
    /// A second waiter that only wants to know when the task is gone (see
    /// `poll_finished`), so that it does not take the first one's place.
    watcher: RefCell<Option<Waker>>,
    /// The task is gone: it finished (output set) or was dropped at shutdown.
    dropped: Cell<bool>,
}

/// Runs when the task's future is dropped, finished or not.
struct JoinGuard<T>(Rc<JoinState<T>>);

impl<T> Drop for JoinGuard<T> {
    fn drop(&mut self) {
        self.0.dropped.set(true);
        // No borrow is held while the wakers (user code) run.
        let waker = self.0.waker.borrow_mut().take();
        let watcher = self.0.watcher.borrow_mut().take();
        for waker in [waker, watcher].into_iter().flatten() {
            if std::thread::panicking() {
                // The task is unwinding: a panic from the waker now would abort.
                if let Err(payload) = catch_unwind(AssertUnwindSafe(|| waker.wake())) {
                    discard(payload);
                }
            } else {
                waker.wake();
            }
        }
    }
}

/// A handle to a spawned task: awaiting it gives the task's output.
///
/// Dropping the handle detaches the task, which keeps running.
///
/// # Panics
///
/// Awaiting the handle panics if the task was dropped before it finished: it
/// panicked (its panic came out of the `block_on` that polled it), or its ring shut
/// down.
#[must_use = "dropping a JoinHandle detaches the task; await it to get the task's output"]
pub struct JoinHandle<T> {
    state: Rc<JoinState<T>>,
}

impl<T> JoinHandle<T> {
    /// Whether the task has finished (or was dropped at shutdown).
    pub fn is_finished(&self) -> bool {
        self.state.dropped.get()
    }
}

impl<T> JoinHandle<T> {
    /// Ready once the task is gone (finished or dropped), leaving its output for
    /// `poll_outcome`; waiting here does not displace the waker of `poll_outcome`.
    #[cfg(any(feature = "futures-io", feature = "tokio"))]
    pub(crate) fn poll_finished(&self, cx: &mut Context<'_>) -> Poll<()> {
        if self.state.dropped.get() {
            return Poll::Ready(());
        }
        let new = cx.waker().clone();
        // Cloning and dropping wakers is user code: no borrow is held meanwhile.
        let old = self.state.watcher.borrow_mut().replace(new);
        drop(old);
        Poll::Pending
    }

    /// As polling the handle, but `None` instead of a panic when the task was
    /// dropped before it finished.
    pub(crate) fn poll_outcome(&mut self, cx: &mut Context<'_>) -> Poll<Option<T>> {
        if let Some(output) = self.state.output.borrow_mut().take() {
            return Poll::Ready(Some(output));
        }
        if self.state.dropped.get() {
            return Poll::Ready(None);
        }
        let same = self
            .state
            .waker
            .borrow()
            .as_ref()
            .is_some_and(|old| old.will_wake(cx.waker()));
        if !same {
            // Cloning and dropping wakers is user code: no borrow is held meanwhile.
            let new = cx.waker().clone();
            let old = self.state.waker.borrow_mut().replace(new);
            drop(old);
        }
        Poll::Pending
    }
}

impl<T> Future for JoinHandle<T> {
    type Output = T;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        match self.get_mut().poll_outcome(cx) {
            Poll::Ready(Some(output)) => Poll::Ready(output),
            Poll::Ready(None) => panic!(
                "the awaited task was dropped before it finished: it panicked, or its ring \
                 shut down"
            ),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<T> fmt::Debug for JoinHandle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JoinHandle")
            .field("finished", &self.is_finished())
            .finish()
    }
}
