//! The op table: a slab of in-flight operations and their lifecycle.
//!
//! This is a pure state machine. It makes no system call and knows nothing of
//! io_uring beyond the shape of a completion; the driver feeds it completions and the
//! tokens poll it. Every slot moves through these states:
//!
//! ```text
//!            insert                complete (kernel)            poll (token)
//!   Vacant ─────────▶ Waiting ──────────────────▶ Completed ─────────────▶ Vacant
//!                        │                            │
//!                        │ orphan (token dropped)     │ orphan: release now
//!                        ▼                            ▼
//!                    Orphaned ──── complete ────▶ Vacant (data handed back to release)
//! ```
//!
//! An op may post several completions: every one flagged `IORING_CQE_F_MORE` is an
//! item that does not end it (a multishot accept's connections, a zero-copy send's
//! result before its notification). Items queue in the slot, in order, whatever its
//! state: a stream's token takes them one by one ([`Table::poll_item`]), and the
//! ones nobody took travel with the final completion ([`Completion::more`]) to
//! whoever gets the data, its token or the release of an orphan.
//!
//! The data `D` is whatever the kernel may touch while the op is in flight (buffers,
//! addresses, the owner of the descriptor). The table owns it from `insert` until the
//! final completion has been handed out, and it never drops data whose op may still be
//! in the kernel: not on `orphan`, and not when the table itself is dropped.
//!
//! Slots are addressed by an [`OpId`] carrying the slot index and a generation that
//! changes every time the slot is reused, so a stale id or completion can never reach
//! the op that now lives in the slot.

use std::collections::VecDeque;
use std::fmt;
use std::io;
use std::mem;
use std::num::NonZeroU8;
use std::os::fd::RawFd;
use std::panic::AssertUnwindSafe;
use std::panic::Location;
#[cfg(test)]
use std::task::Poll;
use std::task::Waker;

/// The identity of one submitted operation: slot index plus generation.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct OpId {
    index: u32,
    generation: u32,
}

/// Generations use 31 bits, so an encoded id never has the top bit of `user_data` set;
/// the driver keeps that half of the space for its own entries.
const GENERATION_MASK: u32 = 0x7fff_ffff;

impl OpId {
    /// The `user_data` value that carries this id through the kernel.
    pub(crate) fn to_user_data(self) -> u64 {
        (u64::from(self.generation) << 32) | u64::from(self.index)
    }

    /// The id a `user_data` value carries, if it is one of the table's.
    pub(crate) fn from_user_data(user_data: u64) -> Option<OpId> {
        let generation = (user_data >> 32) as u32;
        if generation > GENERATION_MASK {
            return None;
        }
        Some(OpId {
            index: user_data as u32,
            generation,
        })
    }
}

impl fmt::Debug for OpId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "OpId({}v{})", self.index, self.generation)
    }
}

/// The final result of an operation: its CQE's result (or the library's own error
/// when it never reached the kernel) and flags.
#[derive(Debug)]
pub struct Completion {
    pub(crate) result: io::Result<u32>,
    pub(crate) flags: u32,
    /// False for an op that never reached the kernel (its entry was never pushed).
    pub(crate) reached_kernel: bool,
    /// The op's linked timeout fired and the kernel cancelled the op: the kernel's
    /// errno (`ECANCELED`, or `EINTR` for an op interrupted in a kernel worker). The
    /// token reports the result as a timeout; [`errno`](Completion::errno) still
    /// gives this.
    pub(crate) timed_out: Option<NonZeroU8>,
    /// The op's earlier completions, in order: those flagged `IORING_CQE_F_MORE`
    /// that nobody took one by one (a zero-copy send's result before its
    /// notification, a multishot op's items nobody claimed). Boxed, and `None`
    /// when empty, so that the common completion stays small to move (a `Vec` is
    /// three words, this one).
    #[allow(clippy::box_collection)]
    more: Option<Box<Vec<Completion>>>,
}

/// What the table asks of an op's data.
pub(crate) trait OpData {
    /// Called when each of the op's completions is reaped (its items and its final
    /// one), before anything else runs: the ring's reap runs no user code until
    /// every completion of the batch is in the table, so an op can capture there
    /// what user code could change before its token is polled (which buffers a
    /// bundle filled).
    fn settle(&mut self, completion: &Completion);

    /// The descriptor on whose exclusive wait queue the op waits in the kernel (an
    /// accept's listener), if it does: see [`Table::kick_waiting`].
    fn exclusive_wait(&self) -> Option<RawFd>;
}

/// Whether an errno says the kernel cancelled the op: `ECANCELED`, or `EINTR` for
/// an op interrupted in a kernel worker.
pub(crate) fn is_cancel(errno: Option<i32>) -> bool {
    matches!(errno, Some(libc::ECANCELED | libc::EINTR))
}

/// `IORING_CQE_F_MORE`: the kernel will post more completions for this op.
pub(crate) const CQE_F_MORE: u32 = 1 << 1;

/// `ERESTARTSYS`, the first of the kernel's internal restart codes
/// (`include/linux/errno.h`), never meant for user space.
const KERNEL_RESTART_FIRST: i32 = 512;
/// `ERESTART_RESTARTBLOCK`, the last of them.
const KERNEL_RESTART_LAST: i32 = 516;

impl Completion {
    /// A completion from the kernel's `res` and `flags`.
    ///
    /// The kernel's internal restart codes (`ERESTARTSYS` and its kin, 512 to 516)
    /// become `EINTR`, what a system call interrupted the same way reports: io_uring
    /// lets them through from an op interrupted in one of its workers (a splice or a
    /// tee waiting on a pipe, when it is cancelled), and no user-space errno means
    /// anything for them.
    pub(crate) fn from_cqe(res: i32, flags: u32) -> Completion {
        let result = if res < 0 {
            let errno = match -res {
                KERNEL_RESTART_FIRST..=KERNEL_RESTART_LAST => libc::EINTR,
                errno => errno,
            };
            Err(io::Error::from_raw_os_error(errno))
        } else {
            Ok(res as u32)
        };
        Completion {
            result,
            flags,
            reached_kernel: true,
            timed_out: None,
            more: None,
        }
    }

    /// A completion for an op that failed before the kernel saw it.
    pub(crate) fn failed(err: io::Error) -> Completion {
        Completion {
            result: Err(err),
            flags: 0,
            reached_kernel: false,
            timed_out: None,
            more: None,
        }
    }

    /// The result: the CQE's non-negative `res`, or the error it reported (or the
    /// library's, for an op that never reached the kernel).
    pub fn result(&self) -> Result<u32, &io::Error> {
        self.result.as_ref().copied()
    }

    /// The CQE's flags (`IORING_CQE_F_*`).
    pub fn flags(&self) -> u32 {
        self.flags
    }

    /// The op's earlier completions (see the field), oldest first.
    pub(crate) fn earlier(&self) -> &[Completion] {
        self.more.as_deref().map_or(&[], Vec::as_slice)
    }

    /// Takes the op's earlier completions out.
    pub(crate) fn take_earlier(&mut self) -> Vec<Completion> {
        self.more.take().map_or_else(Vec::new, |more| *more)
    }

    /// Attaches the op's earlier completions.
    pub(crate) fn set_earlier(&mut self, earlier: Vec<Completion>) {
        self.more = (!earlier.is_empty()).then(|| Box::new(earlier));
    }

    /// Whether the kernel will post more completions for the op
    /// (`IORING_CQE_F_MORE`): this one is an item, not the op's end.
    pub(crate) fn has_more(&self) -> bool {
        self.flags & CQE_F_MORE != 0
    }

    /// Whether the op's linked timeout fired and the kernel cancelled the op before
    /// it completed. Its result is then a [`TimedOut`](io::ErrorKind::TimedOut) error.
    pub fn timed_out(&self) -> bool {
        self.timed_out.is_some()
    }

    /// The kernel's errno of a failed completion (for a timed-out op, the errno of
    /// the kernel's cancel, although the result reports the timeout).
    pub(crate) fn errno(&self) -> Option<i32> {
        self.timed_out
            .map(|errno| i32::from(errno.get()))
            .or_else(|| self.result.as_ref().err().and_then(io::Error::raw_os_error))
    }
}

/// Where a slot is in the lifecycle. The op's data lives beside it in the slot, so
/// that transitions change a small tag in place instead of moving the data.
enum State {
    Vacant {
        next_free: u32,
    },
    /// `task`: a task of the ring's own executor known by its id (no waker is
    /// stored for it), the one that polled last or, before any poll, the one that
    /// submitted the op; otherwise `waker` is whoever polled last (never both).
    /// `linked`: the op carries a linked timeout, so an `ECANCELED` nobody asked
    /// for means it timed out.
    /// `kicked`: the ring cancelled the op to submit it again (see
    /// [`Table::kick_waiting`]); its `ECANCELED` is not its end.
    Waiting {
        waker: Option<Waker>,
        task: Option<u64>,
        cancel_sent: bool,
        linked: bool,
        kicked: bool,
    },
    Completed {
        completion: Completion,
    },
    /// `report`: where the op was submitted, for the ring's `on_abandon` hook when the
    /// final completion arrives; `None` for an op whose drop goes unreported.
    Orphaned {
        report: Report,
    },
}

/// Where an abandoned op was submitted, kept for the ring's `on_abandon` hook; `None`
/// for an op whose drop goes unreported (a timer).
pub(crate) type Report = Option<&'static Location<'static>>;

struct Slot<D> {
    generation: u32,
    /// [`SETTLES`] and [`EXCLUSIVE`], as the op was inserted; an op with neither
    /// can take the common end's short path ([`Table::complete_cqe`]).
    kind: u8,
    /// `Some` in every state but `Vacant`.
    data: Option<D>,
    /// Completions flagged `IORING_CQE_F_MORE` not yet taken; empty when `Vacant`.
    items: VecDeque<Completion>,
    state: State,
}

impl<D> Slot<D> {
    fn take_data(&mut self) -> D {
        match self.data.take() {
            Some(data) => data,
            None => no_data(),
        }
    }

    /// The final completion, with the items nobody took attached.
    #[inline]
    fn with_items(&mut self, mut completion: Completion) -> Completion {
        if !self.items.is_empty() {
            self.attach_items(&mut completion);
        }
        completion
    }

    #[cold]
    fn attach_items(&mut self, completion: &mut Completion) {
        completion.set_earlier(self.items.drain(..).collect());
    }
}

impl<D: OpData> Slot<D> {
    /// Lets the op's data see a completion of its own as it is reaped (see
    /// [`OpData::settle`]): only while the op is in the kernel, waiting or orphaned,
    /// and if it asked to.
    fn settle(&mut self, completion: &Completion) {
        if self.kind & SETTLES != 0
            && matches!(self.state, State::Waiting { .. } | State::Orphaned { .. })
        {
            if let Some(data) = self.data.as_mut() {
                data.settle(completion);
            }
        }
    }
}

const NO_FREE: u32 = u32::MAX;

/// [`Slot::kind`]: the op's data wants to see its completions
/// ([`OpData::settle`], [`Insert::settles`]).
const SETTLES: u8 = 1;
/// [`Slot::kind`]: the op may wait on an exclusive wait queue, and is counted in
/// the table's ops in flight while there ([`Insert::exclusive`]).
const EXCLUSIVE: u8 = 2;

// The table's panics (library bugs only) are out of line, so that the paths that
// cannot reach them carry none of their formatting.

#[cold]
#[inline(never)]
#[track_caller]
fn misuse(id: OpId, what: &str) -> ! {
    panic!("op table: {id:?} {what}")
}

#[cold]
#[inline(never)]
#[track_caller]
fn gone(id: OpId, what: &str) -> ! {
    panic!("op table: {what} of {id:?}, which is no longer in the table")
}

#[cold]
#[inline(never)]
#[track_caller]
fn no_data() -> ! {
    panic!("op table: an occupied slot without its data")
}

/// What the table asks of its caller when a completion arrives.
#[derive(Debug)]
pub(crate) enum Reaped<D> {
    /// The op's token is alive: wake whoever polled it last.
    Wake(Option<Waker>),
    /// The op's token is alive and its waiter is a task of the ring's executor
    /// (see [`Poller::Task`]): wake that task.
    WakeTask(u64),
    /// The token was dropped: release the data (close a descriptor it produced, free
    /// its buffers). The slot is free again.
    Release(D, Completion, Report),
    /// An item of an orphaned op: queued until its final completion, and released
    /// with it.
    Queued,
    /// The op was kicked ([`Table::kick_waiting`]) and the kernel cancelled it: it
    /// is still waiting, and its id is in [`Table::take_rework`] for the caller to
    /// submit its entry again.
    Resubmit,
    /// No op with this id is waiting for a completion. Never happens unless the
    /// library has a bug; the caller reports it.
    Stale(Completion),
}

/// What `cancel` found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CancelStep {
    /// Submit an async cancel for this op now.
    Submit,
    /// A cancel was already submitted; wait for the op's completion.
    AlreadySubmitted,
    /// The op has already completed; there is nothing to cancel.
    Completed,
}

/// Who polls an op.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Poller<'a> {
    /// A task of the ring's own executor (or its `block_on` future), by its id:
    /// the ring wakes it by that id ([`Reaped::WakeTask`]), so no waker is stored.
    Task(u64),
    /// Any other waker.
    Waker(&'a Waker),
}

/// What `poll_waiting` found.
#[derive(Debug)]
pub(crate) enum Polled<D> {
    /// The op completed: its data and completion. The slot is free.
    Ready(D, Completion),
    /// Still waiting; the right waker is recorded. A waker the poll replaced is
    /// handed back, for the caller to drop with no borrow held.
    Pending(Option<Waker>),
    /// Still waiting, and the caller must store its waker with `set_waker`.
    NeedsWaker,
}

/// What `poll_item` found.
#[derive(Debug)]
pub(crate) enum PolledItem<D> {
    /// The op's oldest item not yet taken.
    Item(Completion),
    /// No item is left and the op has ended: its data and final completion. The slot
    /// is free.
    Ended(D, Completion),
    /// As for [`Polled::Pending`].
    Pending(Option<Waker>),
    /// As for [`Polled::NeedsWaker`].
    NeedsWaker,
}

/// What `set_waker` did.
#[derive(Debug)]
pub(crate) enum Stored {
    /// The waker is stored; this is the one it replaced.
    Replaced(Option<Waker>),
    /// The op completed since it was polled: the waker is handed back, and the
    /// caller must poll again instead of waiting for a wake that will never come.
    Completed(Waker),
}

/// What `orphan` found.
#[derive(Debug)]
pub(crate) enum Orphan<D> {
    /// The op is still in the kernel; the table keeps its data until the completion.
    /// `submit_cancel` says whether an async cancel still needs to be submitted;
    /// `waker` is the last poll's, for the caller to drop with no borrow held.
    InFlight {
        submit_cancel: bool,
        waker: Option<Waker>,
    },
    /// The op had completed but nobody took the result: release it now.
    Completed(D, Completion),
}

/// What the table records of an op it inserts as waiting.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Insert {
    /// The op carries a linked timeout: if it completes with `ECANCELED` while no
    /// cancel was asked for, the timeout cut it off, and its completion says so
    /// ([`Completion::timed_out`]).
    pub(crate) linked: bool,
    /// The task of the ring's executor being polled, recorded as the op's waiter
    /// ([`Poller::Task`]) before anyone polls it: the task that submitted an op
    /// is woken by its completion even if it has not polled the op yet.
    pub(crate) task: Option<u64>,
    /// The op's data wants to see its completions ([`OpData::settle`]).
    pub(crate) settles: bool,
    /// The op may wait on an exclusive wait queue ([`OpData::exclusive_wait`]):
    /// counted, so that a kick finds at once that no other op waits on one.
    pub(crate) exclusive: bool,
}

/// The slab of operations. See the module docs for the lifecycle.
pub(crate) struct Table<D> {
    slots: Vec<Slot<D>>,
    free_head: u32,
    in_flight: InFlight,
    rework: Rework,
}

/// The ops the kernel may still be working on (waiting or orphaned), counted.
#[derive(Default)]
struct InFlight {
    all: usize,
    /// Those inserted as exclusive ([`Insert::exclusive`]).
    exclusive: usize,
}

impl InFlight {
    /// An op of `kind` ([`Slot::kind`]) goes to the kernel.
    #[inline]
    fn enter(&mut self, kind: u8) {
        self.all += 1;
        if kind & EXCLUSIVE != 0 {
            self.exclusive += 1;
        }
    }

    /// An op of `kind` has had its final completion: the kernel is done with it.
    #[inline]
    fn leave(&mut self, kind: u8) {
        self.all -= 1;
        if kind & EXCLUSIVE != 0 {
            self.exclusive -= 1;
        }
    }
}

/// See [`Table::take_rework`].
#[derive(Default)]
struct Rework {
    resubmit: Vec<OpId>,
    swallowed: Vec<RawFd>,
}

/// Whom a completion of a waiting op wakes: its task, by id, or the waker of its
/// latest poll (taken out of the slot).
#[inline]
fn wake<D>(task: Option<u64>, waker: &mut Option<Waker>) -> Reaped<D> {
    match task {
        Some(task) => {
            debug_assert!(waker.is_none(), "a waiting op with a waker and a task");
            Reaped::WakeTask(task)
        }
        None => Reaped::Wake(waker.take()),
    }
}

/// The final completion of op `id` says the kernel cancelled it. A kicked op
/// nobody else cancelled is to be submitted again (true); an op cancelled on an
/// exclusive wait queue leaves its descriptor for the ops waiting behind it.
#[cold]
fn cancelled<D: OpData>(slot: &mut Slot<D>, id: OpId, rework: &mut Rework) -> bool {
    match &mut slot.state {
        State::Waiting {
            kicked: kicked @ true,
            cancel_sent: false,
            ..
        } => {
            *kicked = false;
            rework.resubmit.push(id);
            true
        }
        State::Waiting { .. } | State::Orphaned { .. } => {
            if let Some(fd) = slot.data.as_ref().and_then(OpData::exclusive_wait) {
                if !rework.swallowed.contains(&fd) {
                    rework.swallowed.push(fd);
                }
            }
            false
        }
        State::Vacant { .. } | State::Completed { .. } => false,
    }
}

impl<D> Table<D> {
    pub(crate) fn new() -> Self {
        Table {
            slots: Vec::new(),
            free_head: NO_FREE,
            in_flight: InFlight::default(),
            rework: Rework::default(),
        }
    }

    /// Operations the kernel may still be working on (waiting or orphaned).
    pub(crate) fn in_flight(&self) -> usize {
        self.in_flight.all
    }

    /// Of those, the ones inserted as exclusive ([`Insert::exclusive`]).
    #[cfg(test)]
    pub(crate) fn exclusive_in_flight(&self) -> usize {
        self.in_flight.exclusive
    }

    /// Adds an op that is about to be pushed to the kernel.
    #[cfg(test)]
    pub(crate) fn insert(&mut self, data: D) -> OpId
    where
        D: OpData,
    {
        let how = Insert {
            exclusive: data.exclusive_wait().is_some(),
            ..Insert::default()
        };
        self.insert_waiting(data, how)
    }

    /// Adds an op that is about to be pushed to the kernel with a linked timeout.
    #[cfg(test)]
    pub(crate) fn insert_linked(&mut self, data: D) -> OpId
    where
        D: OpData,
    {
        let linked = Insert {
            linked: true,
            exclusive: data.exclusive_wait().is_some(),
            ..Insert::default()
        };
        self.insert_waiting(data, linked)
    }

    /// Adds an op that is about to be pushed to the kernel, as `how` says.
    pub(crate) fn insert_waiting(&mut self, data: D, how: Insert) -> OpId
    where
        D: OpData,
    {
        debug_assert!(
            how.exclusive || data.exclusive_wait().is_none(),
            "op table: an op on an exclusive wait queue inserted as not exclusive"
        );
        let state = State::Waiting {
            waker: None,
            task: how.task,
            cancel_sent: false,
            linked: how.linked,
            kicked: false,
        };
        let kind = (u8::from(how.settles) * SETTLES) | (u8::from(how.exclusive) * EXCLUSIVE);
        self.in_flight.enter(kind);
        self.occupy(data, state, kind)
    }

    /// Whether the op `id` still waits with `task` as its waiter: a poll by that
    /// task would find it pending and change nothing.
    #[cfg(test)]
    pub(crate) fn waits_for(&self, id: OpId, task: u64) -> bool {
        self.slots
            .get(id.index as usize)
            .filter(|slot| slot.generation == id.generation)
            .is_some_and(|slot| {
                matches!(slot.state, State::Waiting { task: Some(waiter), .. } if waiter == task)
            })
    }

    /// Adds an op that failed before reaching the kernel; its token will find the
    /// completion on the first poll.
    pub(crate) fn insert_completed(&mut self, data: D, completion: Completion) -> OpId {
        self.occupy(data, State::Completed { completion }, 0)
    }

    fn occupy(&mut self, data: D, state: State, kind: u8) -> OpId {
        if self.free_head == NO_FREE {
            let index = u32::try_from(self.slots.len())
                .ok()
                .filter(|&i| i != NO_FREE)
                .expect("op table is full: more than 2^32 - 1 operations alive");
            self.slots.push(Slot {
                generation: 0,
                kind,
                data: Some(data),
                items: VecDeque::new(),
                state,
            });
            return OpId {
                index,
                generation: 0,
            };
        }
        let index = self.free_head;
        let slot = &mut self.slots[index as usize];
        let State::Vacant { next_free } = slot.state else {
            panic!("op table: free list points at an occupied slot {index}");
        };
        self.free_head = next_free;
        // A vacant slot holds nothing to drop: its state is `Vacant`, and its data
        // was taken when it was vacated. Forgetting both spares the drops' calls.
        mem::forget(mem::replace(&mut slot.state, state));
        let previous = slot.data.replace(data);
        debug_assert!(previous.is_none(), "op table: a vacant slot with data");
        mem::forget(previous);
        slot.kind = kind;
        OpId {
            index,
            generation: slot.generation,
        }
    }

    /// Frees the slot at `index`, returning its data. The slot's state must hold
    /// nothing that needs dropping (the caller took it out first).
    fn vacate(&mut self, index: u32) -> D {
        let slot = &mut self.slots[index as usize];
        debug_assert!(
            slot.items.is_empty(),
            "op table: items left in a vacated slot"
        );
        slot.generation = (slot.generation + 1) & GENERATION_MASK;
        slot.state = State::Vacant {
            next_free: self.free_head,
        };
        self.free_head = index;
        slot.take_data()
    }

    fn slot_mut(&mut self, id: OpId) -> Option<&mut Slot<D>> {
        self.slots
            .get_mut(id.index as usize)
            .filter(|slot| slot.generation == id.generation)
    }

    /// Records a completion the kernel posted for the op `id` (its CQE's `res` and
    /// `flags`). Inlined into the reap for the common end, the only completion of
    /// a waiting op, a success, of a kind with nothing to settle or count
    /// ([`Slot::kind`] zero): no cancel or timeout to tell apart, so the completion
    /// is built in its slot. Everything else goes through
    /// [`complete`](Table::complete), which would come to the same.
    #[inline]
    pub(crate) fn complete_cqe(&mut self, id: OpId, res: i32, flags: u32) -> Reaped<D>
    where
        D: OpData,
    {
        if res >= 0 && flags & CQE_F_MORE == 0 {
            if let Some(slot) = self
                .slots
                .get_mut(id.index as usize)
                .filter(|slot| slot.generation == id.generation && slot.kind == 0)
                .filter(|slot| slot.items.is_empty())
            {
                if let State::Waiting { waker, task, .. } = &mut slot.state {
                    let reaped = wake(*task, waker);
                    let completion = Completion::from_cqe(res, flags);
                    // The waiting state holds nothing left to drop (a state with
                    // a task has no waker, and `wake` took the waker of one
                    // without): forgetting it spares the drop's call.
                    mem::forget(mem::replace(
                        &mut slot.state,
                        State::Completed { completion },
                    ));
                    self.in_flight.leave(slot.kind);
                    return reaped;
                }
            }
        }
        self.complete(id, Completion::from_cqe(res, flags))
    }

    /// Records the kernel's completion for the op `id`.
    pub(crate) fn complete(&mut self, id: OpId, mut completion: Completion) -> Reaped<D>
    where
        D: OpData,
    {
        // Not `slot_mut`: `self.rework` is borrowed beside the slot.
        let Some(slot) = self
            .slots
            .get_mut(id.index as usize)
            .filter(|slot| slot.generation == id.generation)
        else {
            return Reaped::Stale(completion);
        };
        if completion.has_more() {
            slot.settle(&completion);
            return match &mut slot.state {
                // An item: the op goes on. Whoever waits may want it.
                State::Waiting { waker, task, .. } => {
                    slot.items.push_back(completion);
                    wake(*task, waker)
                }
                State::Orphaned { .. } => {
                    slot.items.push_back(completion);
                    Reaped::Queued
                }
                State::Vacant { .. } | State::Completed { .. } => Reaped::Stale(completion),
            };
        }
        if completion.result.is_err()
            && is_cancel(completion.errno())
            && cancelled(slot, id, &mut self.rework)
        {
            return Reaped::Resubmit;
        }
        slot.settle(&completion);
        // An op with an earlier completion (a zero-copy send) has its result there;
        // the final one only says the kernel let go.
        let result_errno = match slot.items.front() {
            Some(first) => first.errno(),
            None => completion.errno(),
        };
        match &mut slot.state {
            State::Waiting {
                waker,
                task,
                cancel_sent,
                linked,
                ..
            } => {
                // Nobody asked for a cancel (not `cancel()`, not the shutdown): the
                // kernel's cancel came from the linked timeout.
                if *linked && !*cancel_sent {
                    completion.timed_out = result_errno
                        .filter(|&e| is_cancel(Some(e)))
                        .and_then(|e| u8::try_from(e).ok())
                        .and_then(NonZeroU8::new);
                }
                let reaped = wake(*task, waker);
                slot.state = State::Completed { completion };
                self.in_flight.leave(slot.kind);
                reaped
            }
            State::Orphaned { report } => {
                let report = *report;
                let completion = slot.with_items(completion);
                self.in_flight.leave(slot.kind);
                Reaped::Release(self.vacate(id.index), completion, report)
            }
            State::Vacant { .. } | State::Completed { .. } => Reaped::Stale(completion),
        }
    }

    /// Polls the op `id` on behalf of its token: its data and completion once the
    /// kernel has answered (the slot is then free), otherwise registers `waker`.
    ///
    /// # Panics
    ///
    /// If `id` is not a live token's op: the token layer never does that.
    #[cfg(test)]
    pub(crate) fn poll(&mut self, id: OpId, waker: &Waker) -> Poll<(D, Completion)> {
        match self.poll_waiting(id, Poller::Waker(waker)) {
            Polled::Ready(data, completion) => Poll::Ready((data, completion)),
            Polled::Pending(replaced) => {
                drop(replaced);
                Poll::Pending
            }
            Polled::NeedsWaker => match self.set_waker(id, waker.clone()) {
                Stored::Replaced(replaced) => {
                    drop(replaced);
                    Poll::Pending
                }
                Stored::Completed(_) => unreachable!("nothing ran between poll and set_waker"),
            },
        }
    }

    #[cfg(test)]
    /// Like [`poll`](Table::poll), for a task of the ring's executor known by its id
    /// (`u64::MAX`, as for the `block_on` future).
    pub(crate) fn poll_main(&mut self, id: OpId) -> Poll<(D, Completion)> {
        match self.poll_waiting(id, Poller::Task(u64::MAX)) {
            Polled::Ready(data, completion) => Poll::Ready((data, completion)),
            Polled::Pending(replaced) => {
                drop(replaced);
                Poll::Pending
            }
            Polled::NeedsWaker => unreachable!("a task known by its id needs no waker"),
        }
    }

    /// Polls the op `id` on behalf of its token: its data and completion once the
    /// kernel has answered (the slot is then free). While it waits, a `waker` that
    /// would not wake the one already stored is reported as `NeedsWaker`: the caller
    /// clones it with no borrow held (a clone is user code) and stores it with
    /// [`set_waker`](Table::set_waker). A [`Poller::Task`] needs no waker.
    ///
    /// # Panics
    ///
    /// If `id` is not a live token's op: the token layer never does that.
    pub(crate) fn poll_waiting(&mut self, id: OpId, poller: Poller<'_>) -> Polled<D> {
        self.poll_waiting_with(id, poller, false)
    }

    /// As [`poll_waiting`](Table::poll_waiting), but stores a clone of `waker` itself
    /// instead of answering `NeedsWaker`: for wakers whose clone runs no user code
    /// (task wakers of another ring's executor), so that the poll is one lookup.
    pub(crate) fn poll_waiting_cloning(&mut self, id: OpId, waker: &Waker) -> Polled<D> {
        self.poll_waiting_with(id, Poller::Waker(waker), true)
    }

    #[inline]
    fn poll_waiting_with(&mut self, id: OpId, poller: Poller<'_>, clone_here: bool) -> Polled<D> {
        let free_head = self.free_head;
        let slot = self.live_slot(id, "poll");
        match &mut slot.state {
            State::Waiting {
                waker: stored,
                task,
                ..
            } => match poller {
                Poller::Task(id) => {
                    *task = Some(id);
                    Polled::Pending(stored.take())
                }
                Poller::Waker(new) if stored.as_ref().is_some_and(|old| old.will_wake(new)) => {
                    // A stored waker means no task is recorded: `set_waker` and the
                    // cloning path clear it.
                    debug_assert!(task.is_none(), "a waiting op with a waker and a task");
                    Polled::Pending(None)
                }
                Poller::Waker(new) if clone_here => {
                    *task = None;
                    Polled::Pending(stored.replace(new.clone()))
                }
                Poller::Waker(_) => Polled::NeedsWaker,
            },
            State::Completed { .. } => {
                let free = State::Vacant {
                    next_free: free_head,
                };
                let State::Completed { completion } = mem::replace(&mut slot.state, free) else {
                    unreachable!("matched Completed above")
                };
                slot.generation = (slot.generation + 1) & GENERATION_MASK;
                let data = slot.take_data();
                let completion = slot.with_items(completion);
                self.free_head = id.index;
                Polled::Ready(data, completion)
            }
            State::Vacant { .. } | State::Orphaned { .. } => {
                misuse(id, "polled after its token was given up")
            }
        }
    }

    /// Polls the op `id` on behalf of a stream's token: its oldest item not yet
    /// taken, or, once none is left and the op has ended, its data and final
    /// completion (the slot is then free). Waits as [`poll_waiting`] does.
    ///
    /// # Panics
    ///
    /// If `id` is not a live token's op.
    ///
    /// [`poll_waiting`]: Table::poll_waiting
    pub(crate) fn poll_item(&mut self, id: OpId, poller: Poller<'_>) -> PolledItem<D> {
        let slot = self.live_slot(id, "poll_item");
        if let Some(item) = slot.items.pop_front() {
            return PolledItem::Item(item);
        }
        match self.poll_waiting(id, poller) {
            Polled::Ready(data, completion) => PolledItem::Ended(data, completion),
            Polled::Pending(replaced) => PolledItem::Pending(replaced),
            Polled::NeedsWaker => PolledItem::NeedsWaker,
        }
    }

    /// Stores the waker of the op `id`'s latest poll. The caller drops what comes
    /// back with no borrow held.
    pub(crate) fn set_waker(&mut self, id: OpId, waker: Waker) -> Stored {
        let slot = self.live_slot(id, "set_waker");
        match &mut slot.state {
            State::Waiting {
                waker: stored,
                task,
                ..
            } => {
                *task = None;
                Stored::Replaced(stored.replace(waker))
            }
            // The completion arrived while the caller cloned the waker (user code,
            // which may have run the ring): nobody will wake it, so it must poll again.
            _ => Stored::Completed(waker),
        }
    }

    /// As [`set_waker`](Table::set_waker), for a stream's token: an item that arrived
    /// while the caller cloned the waker woke the previous waker, not this one, so the
    /// caller must poll again for it.
    pub(crate) fn set_stream_waker(&mut self, id: OpId, waker: Waker) -> Stored {
        let slot = self.live_slot(id, "set_stream_waker");
        if !slot.items.is_empty() {
            return Stored::Completed(waker);
        }
        self.set_waker(id, waker)
    }

    /// Whether a cancel must be submitted for the op `id`. Marks it as submitted.
    ///
    /// # Panics
    ///
    /// If `id` is not a live token's op.
    pub(crate) fn cancel(&mut self, id: OpId) -> CancelStep {
        let slot = self.live_slot(id, "cancel");
        match &mut slot.state {
            State::Waiting { cancel_sent, .. } if *cancel_sent => CancelStep::AlreadySubmitted,
            State::Waiting { cancel_sent, .. } => {
                *cancel_sent = true;
                CancelStep::Submit
            }
            State::Completed { .. } => CancelStep::Completed,
            State::Vacant { .. } | State::Orphaned { .. } => {
                misuse(id, "cancelled after its token was given up")
            }
        }
    }

    /// The token of op `id` was dropped without being consumed.
    ///
    /// # Panics
    ///
    /// If `id` is not a live token's op.
    pub(crate) fn orphan(&mut self, id: OpId, report: Report) -> Orphan<D> {
        let slot = self.live_slot(id, "orphan");
        match &mut slot.state {
            State::Waiting { .. } => {
                let State::Waiting {
                    waker, cancel_sent, ..
                } = mem::replace(&mut slot.state, State::Orphaned { report })
                else {
                    unreachable!("matched Waiting above")
                };
                Orphan::InFlight {
                    submit_cancel: !cancel_sent,
                    waker,
                }
            }
            State::Completed { .. } => {
                let State::Completed { completion } =
                    mem::replace(&mut slot.state, State::Orphaned { report })
                else {
                    unreachable!("matched Completed above")
                };
                let completion = slot.with_items(completion);
                Orphan::Completed(self.vacate(id.index), completion)
            }
            State::Vacant { .. } | State::Orphaned { .. } => misuse(id, "orphaned twice"),
        }
    }

    fn live_slot(&mut self, id: OpId, what: &str) -> &mut Slot<D> {
        match self.slot_mut(id) {
            Some(slot) => slot,
            None => gone(id, what),
        }
    }

    /// The data of op `id`, while its slot holds it.
    pub(crate) fn data(&self, id: OpId) -> Option<&D> {
        self.slots
            .get(id.index as usize)
            .filter(|slot| slot.generation == id.generation)
            .and_then(|slot| slot.data.as_ref())
    }

    /// The data of op `id`, while its slot holds it.
    pub(crate) fn data_mut(&mut self, id: OpId) -> Option<&mut D> {
        self.slot_mut(id).and_then(|slot| slot.data.as_mut())
    }

    /// Whether a completion asked the caller for work beyond waking and releasing
    /// ([`take_rework`](Table::take_rework)).
    pub(crate) fn has_rework(&self) -> bool {
        !self.rework.resubmit.is_empty() || !self.rework.swallowed.is_empty()
    }

    /// Takes that work out: the kicked ops to submit again, and the descriptors on
    /// whose exclusive wait queue an op was cancelled (by its token, its drop or its
    /// linked timeout) and so may have swallowed a wake-up, whose waiting ops to
    /// kick.
    pub(crate) fn take_rework(&mut self) -> (Vec<OpId>, Vec<RawFd>) {
        (
            mem::take(&mut self.rework.resubmit),
            mem::take(&mut self.rework.swallowed),
        )
    }

    /// Kicks every op waiting on `fd`'s exclusive wait queue, and returns their ids
    /// for the caller to cancel; each is submitted again when its `ECANCELED`
    /// arrives ([`Reaped::Resubmit`]), and the kick is invisible to its token.
    ///
    /// Why: a wake-up that reaches an op on an exclusive wait queue while the op is
    /// being cancelled is consumed by it and passed to nobody (measured on Linux
    /// 6.18), so an op waiting behind it misses a connection that is already in
    /// the listener's backlog. Submitted again, an accept first takes what is
    /// waiting. Ops already being cancelled or kicked, and ops with a linked
    /// timeout (their timer would not be re-armed), are left alone.
    ///
    /// The scan stops once it has seen every op in flight that was inserted as
    /// exclusive ([`Insert::exclusive`]): with none left in flight (a server's
    /// one accept at a time, once it was cancelled), it does not scan at all.
    pub(crate) fn kick_waiting(&mut self, fd: RawFd) -> Vec<OpId>
    where
        D: OpData,
    {
        let mut kicked_ids = Vec::new();
        let mut unseen = self.in_flight.exclusive;
        for (index, slot) in self.slots.iter_mut().enumerate() {
            if unseen == 0 {
                break;
            }
            let in_flight = matches!(slot.state, State::Waiting { .. } | State::Orphaned { .. });
            if !(slot.kind & EXCLUSIVE != 0 && in_flight) {
                continue;
            }
            unseen -= 1;
            if let State::Waiting {
                cancel_sent: false,
                linked: false,
                kicked: kicked @ false,
                ..
            } = &mut slot.state
            {
                if slot.data.as_ref().and_then(OpData::exclusive_wait) == Some(fd) {
                    *kicked = true;
                    kicked_ids.push(OpId {
                        index: index as u32,
                        generation: slot.generation,
                    });
                }
            }
        }
        kicked_ids
    }

    /// Undoes the kick of op `id`, whose cancel could not be submitted.
    pub(crate) fn unkick(&mut self, id: OpId) {
        if let Some(State::Waiting { kicked, .. }) = self.slot_mut(id).map(|slot| &mut slot.state) {
            *kicked = false;
        }
    }

    /// Marks every waiting op as cancelled and returns the ids to cancel: every op the
    /// kernel may still hold. An earlier cancel may have failed to reach the kernel;
    /// a second one is harmless.
    pub(crate) fn cancel_all(&mut self) -> Vec<OpId> {
        let mut ids = Vec::new();
        for (index, slot) in self.slots.iter_mut().enumerate() {
            let id = OpId {
                index: index as u32,
                generation: slot.generation,
            };
            match &mut slot.state {
                State::Waiting { cancel_sent, .. } => {
                    *cancel_sent = true;
                    ids.push(id);
                }
                State::Orphaned { .. } => ids.push(id),
                _ => {}
            }
        }
        ids
    }

    /// Takes out every completion nobody will claim any more. Called only when no
    /// token is left (the ring's last reference is going away).
    pub(crate) fn take_completed(&mut self) -> Vec<(D, Completion)> {
        let mut taken = Vec::new();
        for index in 0..self.slots.len() {
            let slot = &mut self.slots[index];
            if matches!(slot.state, State::Completed { .. }) {
                let State::Completed { completion } =
                    mem::replace(&mut slot.state, State::Orphaned { report: None })
                else {
                    unreachable!("matched Completed above")
                };
                let completion = slot.with_items(completion);
                taken.push((self.vacate(index as u32), completion));
            }
        }
        taken
    }
}

impl<D> Drop for Table<D> {
    fn drop(&mut self) {
        // Data of an op the kernel may still be using must never be freed: if the
        // ring could not reap it, leak it. All of it is leaked before any waker is
        // dropped, since a waker's drop is user code and may panic. Everything else
        // drops normally.
        let mut wakers = Vec::new();
        for slot in &mut self.slots {
            match &mut slot.state {
                State::Waiting { waker, .. } => {
                    mem::forget(slot.data.take());
                    wakers.extend(waker.take());
                }
                State::Orphaned { .. } => mem::forget(slot.data.take()),
                State::Completed { .. } | State::Vacant { .. } => {}
            }
        }
        // One waker's panic must not leave the others undropped, and a second panic
        // while the first unwinds would abort: keep the first, resume it at the end.
        let mut panicked = None;
        for waker in wakers {
            if let Err(payload) = std::panic::catch_unwind(AssertUnwindSafe(|| drop(waker))) {
                panicked.get_or_insert(payload);
            }
        }
        if let Some(payload) = panicked {
            if !std::thread::panicking() {
                std::panic::resume_unwind(payload);
            }
        }
    }
}

impl<D> fmt::Debug for Table<D> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Table")
            .field("slots", &self.slots.len())
            .field("in_flight", &self.in_flight.all)
            .finish()
    }
}

#[cfg(test)]
mod tests;
