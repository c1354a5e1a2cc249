//! Panics injected where the ring runs user code: a counted buffer's drop, a task's
//! waker, a task's drop.
//!
//! The injector lives in a thread local, because a waker (`Send + Sync`) and a buffer's
//! drop have no other way to reach it; the ring and its tasks all run on the test's
//! thread. It draws each injection from a seeded generator, at a rate that depends on
//! the kind and the place (in a task's poll, or in the ring's own code), counts events
//! and injections by kind and place, and remembers which task was being polled when it
//! injected: that task is the one the panic may kill, and only its checks are excused.
//!
//! An injection never happens while the thread is already panicking (a second panic
//! would abort the process, whatever the ring does), and every injected panic carries
//! an [`Injected`] payload, which the panic hook keeps quiet about. Any other panic on
//! the injector's thread is recorded, so that a failure swallowed on its way out of
//! `block_on` still fails the test.

use std::cell::{Cell, RefCell};
use std::collections::HashSet;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::{Arc, Once};
use std::task::{Context, Poll, Wake, Waker};

use crate::storm::check::Rng;

/// Where a panic was injected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// A counted buffer's drop, after its accounting.
    BufferDrop,
    /// A task's waker, after it woke the task.
    Wake,
    /// A task's drop, after its work (or when it is dropped unfinished).
    TaskDrop,
}

impl Kind {
    pub(crate) const ALL: [Kind; 3] = [Kind::BufferDrop, Kind::Wake, Kind::TaskDrop];

    pub(crate) fn index(self) -> usize {
        self as usize
    }
}

/// The payload of every injected panic.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Injected(pub(crate) Kind);

/// A task of the current round, by its index in the round's list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct TaskId(pub(crate) usize);

/// Counts per kind, indexed by [`Kind::index`].
pub(crate) type PerKind = [u64; 3];

/// Where an event happens: in a task's poll, where a panic kills the task, or in the
/// ring's own code (`block_on` reaping, the shutdown), where it kills nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Place {
    Task,
    Ring,
}

/// A figure per place and kind.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct PerPlace {
    pub(crate) task: PerKind,
    pub(crate) ring: PerKind,
}

impl PerPlace {
    pub(crate) fn at(&self, place: Place, kind: Kind) -> u64 {
        match place {
            Place::Task => self.task[kind.index()],
            Place::Ring => self.ring[kind.index()],
        }
    }

    pub(crate) fn total(&self, kind: Kind) -> u64 {
        self.task[kind.index()] + self.ring[kind.index()]
    }

    fn bump(&mut self, place: Place, kind: Kind) {
        match place {
            Place::Task => self.task[kind.index()] += 1,
            Place::Ring => self.ring[kind.index()] += 1,
        }
    }

    /// What was added since `earlier`.
    pub(crate) fn since(&self, earlier: &PerPlace) -> PerPlace {
        let minus = |a: PerKind, b: PerKind| [a[0] - b[0], a[1] - b[1], a[2] - b[2]];
        PerPlace {
            task: minus(self.task, earlier.task),
            ring: minus(self.ring, earlier.ring),
        }
    }
}

/// How often each kind panics in each place, in parts per million of its events.
pub(crate) type Rates = PerPlace;

/// Events seen and panics injected.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Counts {
    pub(crate) events: PerPlace,
    pub(crate) injected: PerPlace,
}

struct Injector {
    rng: Rng,
    rates: Rates,
    counts: Counts,
    /// The task being polled, if any.
    current: Option<TaskId>,
    /// Tasks that had a panic injected while they were being polled, this round.
    hit: HashSet<TaskId>,
    /// Panics on this thread that were not injected, as the hook saw them.
    unexpected: Vec<String>,
}

thread_local! {
    static INJECTOR: RefCell<Option<Injector>> = const { RefCell::new(None) };
}

fn with<T>(f: impl FnOnce(&mut Injector) -> T) -> Option<T> {
    INJECTOR
        .try_with(|cell| cell.try_borrow_mut().ok()?.as_mut().map(f))
        .ok()
        .flatten()
}

/// The injector of this thread, for as long as the value lives.
#[derive(Debug)]
pub(crate) struct Installed(());

impl Drop for Installed {
    fn drop(&mut self) {
        let _ = INJECTOR.try_with(|cell| cell.try_borrow_mut().map(|mut slot| slot.take()));
    }
}

/// Starts injecting on this thread, and installs the quiet panic hook.
pub(crate) fn install(seed: u64, rates: Rates) -> Installed {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        // The hook is the process's: it stays silent only for injected payloads and
        // forwards everything else, so tests running beside this one report as usual.
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if info.payload().downcast_ref::<Injected>().is_some() {
                return;
            }
            with(|injector| injector.unexpected.push(info.to_string()));
            previous(info);
        }));
    });
    INJECTOR.with(|cell| {
        *cell.borrow_mut() = Some(Injector {
            rng: Rng::derive(seed, &[]),
            rates,
            counts: Counts::default(),
            current: None,
            hit: HashSet::new(),
            unexpected: Vec::new(),
        })
    });
    Installed(())
}

/// A new round: a generator drawn from its seed, no task hit yet.
///
/// Injection decisions come from this generator in the order events happen, so a
/// replay draws the same decisions only as far as the timing is the same.
pub(crate) fn new_round(seed: u64) {
    with(|injector| {
        injector.rng = Rng::derive(seed, &[]);
        injector.hit.clear();
        injector.current = None;
    });
}

/// Injects at `rates` from now on.
pub(crate) fn set_rates(rates: Rates) {
    with(|injector| injector.rates = rates);
}

/// Panics with an [`Injected`] payload, at the rate of `kind` where it happens: in
/// the poll of the task being polled (which is then hit), or in the ring's own code.
pub(crate) fn maybe_panic(kind: Kind) {
    if std::thread::panicking() {
        return;
    }
    let fire = with(|injector| {
        let place = match injector.current {
            Some(_) => Place::Task,
            None => Place::Ring,
        };
        injector.counts.events.bump(place, kind);
        if injector.rng.below(1_000_000) >= injector.rates.at(place, kind) {
            return false;
        }
        injector.counts.injected.bump(place, kind);
        if let Some(task) = injector.current {
            injector.hit.insert(task);
        }
        true
    });
    if fire == Some(true) {
        std::panic::panic_any(Injected(kind));
    }
}

/// Whether a panic was injected into `task` this round.
pub(crate) fn hit(task: TaskId) -> bool {
    with(|injector| injector.hit.contains(&task)).unwrap_or(false)
}

/// Events seen and panics injected so far.
pub(crate) fn counts() -> Counts {
    with(|injector| injector.counts).unwrap_or_default()
}

/// The first panic on this thread that was not injected, since the last call.
pub(crate) fn take_unexpected() -> Option<String> {
    with(|injector| std::mem::take(&mut injector.unexpected))
        .and_then(|panics| panics.into_iter().next())
}

/// Marks `task` as the one being polled, until dropped (unwinding included).
struct Polling(Option<TaskId>);

impl Polling {
    fn enter(task: TaskId) -> Polling {
        Polling(with(|injector| injector.current.replace(task)).flatten())
    }
}

impl Drop for Polling {
    fn drop(&mut self) {
        with(|injector| injector.current = self.0);
    }
}

/// Held by a task: its drop may panic.
#[derive(Debug)]
struct DropGuard;

impl Drop for DropGuard {
    fn drop(&mut self) {
        maybe_panic(Kind::TaskDrop);
    }
}

/// The waker a [`Guarded`] task polls its future with: it wakes the task, then may
/// panic.
struct InjectingWaker {
    inner: Waker,
}

impl Wake for InjectingWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.inner.wake_by_ref();
        maybe_panic(Kind::Wake);
    }
}

/// A task body with injection around it: polled as task `id` with an injecting waker,
/// it sets `finished` when its future completes, then drops a guard that may panic.
/// Dropped unfinished, it drops its future, then the guard.
pub(crate) struct Guarded<F> {
    id: TaskId,
    // Declared before the guard, so dropped before it.
    future: Option<Pin<Box<F>>>,
    guard: Option<DropGuard>,
    finished: Rc<Cell<bool>>,
    waker: Option<(Arc<InjectingWaker>, Waker)>,
}

impl<F: Future<Output = ()>> Guarded<F> {
    pub(crate) fn new(id: TaskId, future: F, finished: Rc<Cell<bool>>) -> Guarded<F> {
        Guarded {
            id,
            future: Some(Box::pin(future)),
            guard: Some(DropGuard),
            finished,
            waker: None,
        }
    }
}

impl<F: Future<Output = ()>> Future for Guarded<F> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        let _polling = Polling::enter(this.id);
        let waker = match &this.waker {
            Some((arc, waker)) if arc.inner.will_wake(cx.waker()) => waker.clone(),
            _ => {
                let arc = Arc::new(InjectingWaker {
                    inner: cx.waker().clone(),
                });
                let waker = Waker::from(arc.clone());
                this.waker = Some((arc, waker.clone()));
                waker
            }
        };
        let Some(future) = this.future.as_mut() else {
            return Poll::Ready(());
        };
        if future
            .as_mut()
            .poll(&mut Context::from_waker(&waker))
            .is_pending()
        {
            return Poll::Pending;
        }
        this.future = None;
        this.finished.set(true);
        drop(this.guard.take());
        Poll::Ready(())
    }
}
