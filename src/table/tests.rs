use super::*;

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Poll, Wake, Waker};
use std::{fmt, io, mem};

type DropLog = Rc<RefCell<Vec<u32>>>;

/// Op data that carries its op number and logs its drop.
#[derive(Debug)]
struct Data {
    op: u32,
    drops: DropLog,
    /// As an accept's listener: the exclusive wait queue the op waits on.
    exclusive: Option<RawFd>,
}

impl super::OpData for Data {
    fn settle(&mut self, _: &Completion) {}

    fn exclusive_wait(&self) -> Option<RawFd> {
        self.exclusive
    }
}

impl Drop for Data {
    fn drop(&mut self) {
        self.drops.borrow_mut().push(self.op);
    }
}

fn tracked(op: u32, drops: &DropLog) -> Data {
    let drops = Rc::clone(drops);
    Data {
        op,
        drops,
        exclusive: None,
    }
}

/// An op waiting on `fd`'s exclusive wait queue, as an accept on a listener.
fn exclusive(op: u32, drops: &DropLog, fd: RawFd) -> Data {
    let mut data = tracked(op, drops);
    data.exclusive = Some(fd);
    data
}

/// A waker that counts its wakes.
#[derive(Default)]
struct Counter(AtomicUsize);

impl Wake for Counter {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

impl Counter {
    fn wakes(&self) -> usize {
        self.0.load(Ordering::SeqCst)
    }
}

fn counting_waker() -> (Arc<Counter>, Waker) {
    let counter = Arc::new(Counter::default());
    let waker = Waker::from(Arc::clone(&counter));
    (counter, waker)
}

/// splitmix64: small, seedable, good enough to drive a model test.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        ((z ^ (z >> 31)) % n as u64) as usize
    }
}

/// The model's stand-in for the executor's main future in `Live::waker`.
const MAIN: usize = 3;

/// Where a random run is, printed in every assertion so a failure reproduces.
#[derive(Clone, Copy)]
struct At {
    seed: u64,
    step: usize,
}

impl fmt::Display for At {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "seed={} step={}", self.seed, self.step)
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Phase {
    Waiting,
    Completed,
    Orphaned,
}

use Phase::{Completed, Orphaned, Waiting};

/// The model of an op whose slot is occupied.
#[derive(Clone, Debug)]
struct LiveOp {
    id: OpId,
    op: u32,
    phase: Phase,
    /// Whether `cancel` was called while it was waiting.
    cancel_sent: bool,
    /// The waker the table holds for it, an index into `Harness::wakers`.
    waker: Option<usize>,
    /// The `(res, flags)` its completion carries, once completed.
    completion: (i32, u32),
    /// The `(res, flags)` of its items (completions flagged `IORING_CQE_F_MORE`) not
    /// yet taken, oldest first.
    items: Vec<(i32, u32)>,
    /// Inserted as exclusive ([`Insert::exclusive`]), counted while in flight.
    exclusive: bool,
}

fn res_flags(c: &Completion) -> (i32, u32) {
    let res = c
        .result
        .as_ref()
        .map_or_else(|_| -c.errno().unwrap_or(0), |&n| n as i32);
    (res, c.flags)
}

fn check_completion(at: At, c: &Completion, want: (i32, u32)) {
    assert_eq!(res_flags(c), want, "{at}: completion (res, flags)");
}

/// A table driven by random steps, next to a model of what it must hold.
struct Harness {
    at: At,
    rng: Rng,
    table: Table<Data>,
    drops: DropLog,
    wakers: [(Arc<Counter>, Waker); 3],
    /// Ops whose slot is occupied; every other op's data has been handed back.
    live: Vec<LiveOp>,
    /// Ids whose slot was vacated, and maybe reused since.
    dead: Vec<OpId>,
    next_op: u32,
    /// Most ops ever live at once: the slab must never grow past it.
    peak: usize,
    /// How many live ops the run aims for.
    cap: usize,
}

impl Harness {
    fn new(seed: u64) -> Self {
        let mut rng = Rng(seed);
        let cap = 1 + rng.below(48);
        Harness {
            at: At { seed, step: 0 },
            rng,
            table: Table::new(),
            drops: DropLog::default(),
            wakers: [(); 3].map(|()| counting_waker()),
            live: Vec::new(),
            dead: Vec::new(),
            next_op: 0,
            peak: 0,
            cap,
        }
    }

    fn step(&mut self) {
        let roll = self.rng.below(100);
        match roll {
            0 => self.cancel_all(),
            1..=4 => self.stale(),
            _ if self.live.is_empty() || roll < 35 && self.live.len() < self.cap => {
                self.insert(roll < 30);
            }
            _ => {
                let idx = self.rng.below(self.live.len());
                match (self.live[idx].phase, self.rng.below(10)) {
                    // The kernel completes; a completed op gets a stale second completion.
                    (Orphaned, _) | (Waiting, 0..=2) | (Completed, 0) => self.complete(idx),
                    (_, 1..=4) => self.poll(idx),
                    (_, 5 | 6) => self.poll_item(idx),
                    (_, 7) => self.cancel(idx),
                    _ => self.orphan(idx),
                }
            }
        }
        self.check();
        self.at.step += 1;
    }

    fn insert(&mut self, waiting: bool) {
        let (at, op) = (self.at, self.next_op);
        self.next_op += 1;
        let data = tracked(op, &self.drops);
        let errno = 1 + self.rng.below(130) as i32;
        // Half the waiting ops are submitted by the task standing for the main
        // future, which is recorded as their waiter before any poll.
        let submitter = (waiting && self.rng.below(2) == 0).then_some(MAIN);
        // A third of the waiting ops are inserted as exclusive, as accepts are.
        let exclusive = waiting && self.rng.below(3) == 0;
        let (id, phase) = if waiting {
            let how = Insert {
                task: submitter.map(|_| u64::MAX),
                exclusive,
                ..Insert::default()
            };
            (self.table.insert_waiting(data, how), Waiting)
        } else {
            let failed = Completion::failed(io::Error::from_raw_os_error(errno));
            (self.table.insert_completed(data, failed), Completed)
        };
        let unique = self.live.iter().all(|l| l.id != id);
        assert!(unique, "{at}: {id:?} handed out twice");
        self.live.push(LiveOp {
            id,
            op,
            phase,
            cancel_sent: false,
            waker: submitter,
            completion: (-errno, 0),
            items: Vec::new(),
            exclusive,
        });
        self.peak = self.peak.max(self.live.len());
    }

    fn complete(&mut self, idx: usize) {
        let (at, live) = (self.at, self.live[idx].clone());
        let user_data = live.id.to_user_data();
        assert_eq!(user_data >> 63, 0, "{at}: {live:?} sets the top bit");
        let id = OpId::from_user_data(user_data).expect("an op's user_data decodes");
        assert_eq!(id, live.id, "{at}: user_data round trip");
        // The op's flags, with `IORING_CQE_F_MORE` cleared; an op still in the kernel
        // sometimes posts an item first.
        let (res, flags) = (
            [-125, (live.op & 0xfff) as i32][self.rng.below(2)],
            live.op & !CQE_F_MORE,
        );
        if live.phase != Completed && self.rng.below(3) == 0 {
            return self.complete_item(idx, (res.max(0), flags | CQE_F_MORE));
        }
        let before = self.wakers.each_ref().map(|(counter, _)| counter.wakes());
        // As the reap does: the kernel's completion as it is posted.
        let reaped = self.table.complete_cqe(id, res, flags);
        if live.phase != Completed {
            let l = &mut self.live[idx];
            (l.phase, l.waker, l.completion) = (Completed, None, (res, flags));
        }
        match reaped {
            Reaped::WakeTask(u64::MAX) if live.phase == Waiting && live.waker == Some(MAIN) => {
                let after = self.wakers.each_ref().map(|(counter, _)| counter.wakes());
                assert_eq!(after, before, "{at}: a main wake touched a waker");
            }
            Reaped::Wake(woken) if live.phase == Waiting && live.waker != Some(MAIN) => {
                // Wakes exactly the waker of the last poll, or none if never polled.
                woken.into_iter().for_each(Waker::wake);
                for (i, (counter, _)) in self.wakers.iter().enumerate() {
                    let want = before[i] + usize::from(live.waker == Some(i));
                    assert_eq!(counter.wakes(), want, "{at}: wakes of waker {i}");
                }
            }
            Reaped::Release(data, c, _) if live.phase == Orphaned => self.release(idx, data, &c),
            Reaped::Stale(c) if live.phase == Completed => check_completion(at, &c, (res, flags)),
            other => panic!("{at}: completion of {live:?} gave {other:?}"),
        }
    }

    /// The kernel posts an item for the waiting or orphaned `idx`th op.
    fn complete_item(&mut self, idx: usize, (res, flags): (i32, u32)) {
        let (at, live) = (self.at, self.live[idx].clone());
        let before = self.wakers.each_ref().map(|(counter, _)| counter.wakes());
        let reaped = self.table.complete_cqe(live.id, res, flags);
        self.live[idx].items.push((res, flags));
        match reaped {
            // The main future stays the waiter; another waker is taken and woken.
            Reaped::WakeTask(u64::MAX) if live.phase == Waiting && live.waker == Some(MAIN) => {}
            Reaped::Wake(woken) if live.phase == Waiting && live.waker != Some(MAIN) => {
                woken.into_iter().for_each(Waker::wake);
                for (i, (counter, _)) in self.wakers.iter().enumerate() {
                    let want = before[i] + usize::from(live.waker == Some(i));
                    assert_eq!(counter.wakes(), want, "{at}: item wakes of waker {i}");
                }
                self.live[idx].waker = None;
            }
            Reaped::Queued if live.phase == Orphaned => {}
            other => panic!("{at}: item of {live:?} gave {other:?}"),
        }
    }

    fn stale(&mut self) {
        let at = self.at;
        let id = match self.dead.len() {
            0 => OpId::from_user_data(u64::from(u32::MAX - 1)).expect("a valid id"),
            n => self.dead[self.rng.below(n)],
        };
        match self.table.complete(id, Completion::from_cqe(-125, 7)) {
            Reaped::Stale(c) => check_completion(at, &c, (-125, 7)),
            other => panic!("{at}: completion of stale {id:?} gave {other:?}"),
        }
    }

    fn poll(&mut self, idx: usize) {
        let (at, live) = (self.at, self.live[idx].clone());
        // The main future's poll would change nothing exactly when it is the
        // waiting op's waiter.
        let expected = live.phase == Waiting && live.waker == Some(MAIN);
        let waits = self.table.waits_for(live.id, u64::MAX);
        assert_eq!(waits, expected, "{at}: waits_for of {live:?}");
        // One choice past the counting wakers stands for the executor's main future,
        // which the table records without storing a waker.
        let w = self.rng.below(self.wakers.len() + 1);
        let polled = match self.wakers.get(w) {
            Some((_, waker)) => self.table.poll(live.id, waker),
            None => self.table.poll_main(live.id),
        };
        match polled {
            Poll::Pending if live.phase == Waiting => self.live[idx].waker = Some(w),
            Poll::Ready((data, c)) if live.phase == Completed => self.release(idx, data, &c),
            other => panic!("{at}: poll of {live:?} gave {other:?}"),
        }
    }

    /// A stream's token polls: its oldest item, or its end once none is left.
    fn poll_item(&mut self, idx: usize) {
        let (at, live) = (self.at, self.live[idx].clone());
        let w = self.rng.below(self.wakers.len() + 1);
        let waker = self.wakers.get(w).map(|(_, waker)| waker.clone());
        let poller = waker.as_ref().map_or(Poller::Task(u64::MAX), Poller::Waker);
        match self.table.poll_item(live.id, poller) {
            PolledItem::Item(c) if !live.items.is_empty() => {
                check_completion(at, &c, live.items[0]);
                self.live[idx].items.remove(0);
            }
            PolledItem::Ended(data, c) if live.phase == Completed && live.items.is_empty() => {
                self.release(idx, data, &c)
            }
            PolledItem::Pending(replaced) if live.phase == Waiting && live.items.is_empty() => {
                drop(replaced);
                self.live[idx].waker = Some(w);
            }
            PolledItem::NeedsWaker if live.phase == Waiting && live.items.is_empty() => {
                let waker = waker.expect("the main future needs no waker");
                match self.table.set_waker(live.id, waker) {
                    Stored::Replaced(replaced) => drop(replaced),
                    Stored::Completed(_) => panic!("{at}: nothing ran since the poll"),
                }
                self.live[idx].waker = Some(w);
            }
            other => panic!("{at}: poll_item of {live:?} gave {other:?}"),
        }
    }

    fn cancel(&mut self, idx: usize) {
        let (at, live) = (self.at, self.live[idx].clone());
        let want = match live.phase {
            Waiting if live.cancel_sent => CancelStep::AlreadySubmitted,
            Waiting => CancelStep::Submit,
            _ => CancelStep::Completed,
        };
        let got = self.table.cancel(live.id);
        assert_eq!(got, want, "{at}: cancel of {live:?}");
        self.live[idx].cancel_sent |= live.phase == Waiting;
    }

    fn orphan(&mut self, idx: usize) {
        let (at, live) = (self.at, self.live[idx].clone());
        match self.table.orphan(live.id, None) {
            Orphan::InFlight { submit_cancel, .. } if live.phase == Waiting => {
                assert_eq!(submit_cancel, !live.cancel_sent, "{at}: {live:?}");
                (self.live[idx].phase, self.live[idx].waker) = (Orphaned, None);
            }
            Orphan::Completed(data, c) if live.phase == Completed => self.release(idx, data, &c),
            other => panic!("{at}: orphan of {live:?} gave {other:?}"),
        }
    }

    fn cancel_all(&mut self) {
        let ids = self.table.cancel_all();
        let mut got: Vec<_> = ids.iter().map(|id| id.to_user_data()).collect();
        let mut want = Vec::new();
        for live in &mut self.live {
            // Every op the kernel may hold is cancelled again: an earlier cancel may
            // not have reached the kernel, and a second one is harmless.
            if live.phase == Orphaned || live.phase == Waiting {
                live.cancel_sent = true;
                want.push(live.id.to_user_data());
            }
        }
        got.sort_unstable();
        want.sort_unstable();
        assert_eq!(got, want, "{}: cancel_all ids", self.at);
    }

    /// Checks what the table handed back for the `idx`th live op and drops the data;
    /// the op's id is stale from now on.
    fn release(&mut self, idx: usize, data: Data, c: &Completion) {
        let (at, live) = (self.at, self.live.swap_remove(idx));
        assert_eq!(data.op, live.op, "{at}: data of another op handed back");
        check_completion(at, c, live.completion);
        // The items nobody took travel with the final completion, in order.
        let more: Vec<_> = c.earlier().iter().map(res_flags).collect();
        assert_eq!(more, live.items, "{at}: items handed back with {live:?}");
        drop(data);
        self.dead.push(live.id);
    }

    fn check(&self) {
        let at = self.at;
        let in_flight = self.live.iter().filter(|l| l.phase != Completed).count();
        assert_eq!(self.table.in_flight(), in_flight, "{at}: in_flight");
        let exclusive = self
            .live
            .iter()
            .filter(|l| l.phase != Completed && l.exclusive)
            .count();
        assert_eq!(
            self.table.exclusive_in_flight(),
            exclusive,
            "{at}: exclusive"
        );
        let released = self.next_op as usize - self.live.len();
        assert_eq!(self.drops.borrow().len(), released, "{at}: drops");
        let slots = self.table.slots.len();
        assert_eq!(slots, self.peak, "{at}: slab grew past its peak");
        // The main future's polls store no waker copy.
        let mut held = [0; MAIN + 1];
        for w in self.live.iter().filter_map(|l| l.waker) {
            held[w] += 1;
        }
        for (i, (counter, _)) in self.wakers.iter().enumerate() {
            let copies = Arc::strong_count(counter) - 2;
            assert_eq!(copies, held[i], "{at}: copies of waker {i} held");
        }
    }

    /// Ends the run, with or without `take_completed`, then drops the table: every
    /// op's data must have been dropped exactly once, except that of ops in flight.
    fn finish(&mut self, take_completed: bool) {
        let at = self.at;
        if take_completed {
            for (data, c) in self.table.take_completed() {
                let idx = self.live.iter().position(|l| l.op == data.op);
                let idx = idx.unwrap_or_else(|| panic!("{at}: took unknown op {}", data.op));
                self.release(idx, data, &c);
            }
            let left = self.live.iter().all(|l| l.phase != Completed);
            assert!(left, "{at}: take_completed left a completed op");
            self.check();
        }
        drop(mem::replace(&mut self.table, Table::new()));
        let mut drops = vec![0; self.next_op as usize];
        for &op in self.drops.borrow().iter() {
            drops[op as usize] += 1;
        }
        for (op, &n) in drops.iter().enumerate() {
            let live = self.live.iter().find(|l| l.op as usize == op);
            let want = usize::from(!live.is_some_and(|l| l.phase != Completed));
            assert_eq!(n, want, "{at}: drops of op {op}, in flight data leaks");
        }
        for (i, (counter, _)) in self.wakers.iter().enumerate() {
            let copies = Arc::strong_count(counter);
            assert_eq!(copies, 2, "{at}: waker {i} outlived the table");
        }
    }
}

impl Drop for Harness {
    fn drop(&mut self) {
        // Names the failing step whatever panicked, the table included.
        if std::thread::panicking() {
            eprintln!("table_random_steps_match_model failed at {}", self.at);
        }
    }
}

#[test]
fn table_random_steps_match_model() {
    for seed in 0..20 {
        let mut harness = Harness::new(seed);
        for _ in 0..10_000 {
            harness.step();
        }
        harness.finish(seed % 2 == 0);
    }
}

/// Completes a waiting op and returns the waker the table hands back.
fn complete_waiting(table: &mut Table<Data>, id: OpId, res: i32) -> Option<Waker> {
    match table.complete(id, Completion::from_cqe(res, 0)) {
        Reaped::Wake(waker) => waker,
        Reaped::WakeTask(_) => panic!("no poll by a task's id in this test"),
        other => panic!("completion of waiting {id:?} gave {other:?}"),
    }
}

/// Orphans a waiting op and returns whether a cancel must be submitted.
fn orphan_waiting(table: &mut Table<Data>, id: OpId) -> bool {
    match table.orphan(id, None) {
        Orphan::InFlight { submit_cancel, .. } => submit_cancel,
        other => panic!("orphan of waiting {id:?} gave {other:?}"),
    }
}

#[test]
fn op_id_user_data_round_trips_without_top_bit() {
    let ids = [(0, 0), (7, 1), (u32::MAX, GENERATION_MASK), (3, 1 << 30)];
    for (index, generation) in ids {
        let id = OpId { index, generation };
        let user_data = id.to_user_data();
        assert_eq!(user_data >> 63, 0, "{id:?} sets the top bit");
        assert_eq!(OpId::from_user_data(user_data), Some(id));
        assert_eq!(OpId::from_user_data(user_data | 1 << 63), None);
    }
}

#[test]
fn slot_generation_wraps_within_31_bits() {
    let (drops, (_, waker)) = (DropLog::default(), counting_waker());
    let mut table = Table::new();
    let index = table.insert(tracked(0, &drops)).index;
    table.slots[index as usize].generation = GENERATION_MASK;
    let generation = GENERATION_MASK;
    let last = OpId { index, generation };
    assert!(complete_waiting(&mut table, last, 0).is_none());
    assert!(table.poll(last, &waker).is_ready());
    let wrapped = table.insert(tracked(1, &drops));
    assert_eq!((wrapped.index, wrapped.generation), (index, 0));
    assert_eq!(wrapped.to_user_data() >> 63, 0, "{wrapped:?}");
    let stale = table.complete(last, Completion::from_cqe(1, 0));
    assert!(matches!(stale, Reaped::Stale(_)), "{stale:?}");
}

#[test]
fn complete_stale_after_slot_reuse_leaves_new_occupant() {
    let (drops, (counter, waker)) = (DropLog::default(), counting_waker());
    let mut table = Table::new();
    let old = table.insert(tracked(0, &drops));
    assert!(complete_waiting(&mut table, old, 5).is_none());
    assert!(table.poll(old, &waker).is_ready());
    let new = table.insert(tracked(1, &drops));
    assert_eq!(new.index, old.index, "the vacated slot is reused");
    assert!(table.poll(new, &waker).is_pending());
    let Reaped::Stale(c) = table.complete(old, Completion::from_cqe(6, 0)) else {
        panic!("a completion for the old op reached the new one");
    };
    assert_eq!(c.result.unwrap(), 6);
    assert_eq!((counter.wakes(), table.in_flight()), (0, 1));
    let woken = complete_waiting(&mut table, new, 7);
    woken.expect("the new op's waker").wake();
    assert_eq!(counter.wakes(), 1);
    let Poll::Ready((data, c)) = table.poll(new, &waker) else {
        panic!("the new op is not ready after its completion");
    };
    assert_eq!((data.op, c.result.unwrap()), (1, 7));
}

#[test]
fn orphan_waiting_op_submits_cancel_unless_already_sent() {
    let drops = DropLog::default();
    let mut table = Table::new();
    let plain = table.insert(tracked(0, &drops));
    let cancelled = table.insert(tracked(1, &drops));
    assert_eq!(table.cancel(cancelled), CancelStep::Submit);
    assert!(orphan_waiting(&mut table, plain), "no cancel sent yet");
    let submit_cancel = orphan_waiting(&mut table, cancelled);
    assert!(!submit_cancel, "cancel already sent");
    assert_eq!((drops.borrow().len(), table.in_flight()), (0, 2));
    for (id, op) in [(plain, 0), (cancelled, 1)] {
        let Reaped::Release(data, _, _) = table.complete(id, Completion::from_cqe(-125, 0)) else {
            panic!("the orphan of op {op} was not released on its completion");
        };
        assert_eq!(data.op, op);
    }
    assert_eq!(*drops.borrow(), [0, 1]);
    assert_eq!(table.in_flight(), 0);
}

#[test]
fn orphan_completed_op_hands_data_back() {
    let drops = DropLog::default();
    let mut table = Table::new();
    let id = table.insert(tracked(3, &drops));
    assert!(complete_waiting(&mut table, id, 42).is_none());
    let Orphan::Completed(data, c) = table.orphan(id, None) else {
        panic!("a completed op's data was not handed back");
    };
    assert_eq!((data.op, c.result.unwrap()), (3, 42));
    assert!(drops.borrow().is_empty(), "dropped what it handed back");
    let next = table.insert(tracked(4, &drops));
    assert_eq!(next.index, id.index, "the slot was not freed");
}

#[test]
fn poll_same_waker_keeps_it_and_other_waker_replaces_it() {
    let ((a, waker_a), (b, waker_b)) = (counting_waker(), counting_waker());
    let drops = DropLog::default();
    let mut table = Table::new();
    let id = table.insert(tracked(0, &drops));
    assert!(table.poll(id, &waker_a).is_pending());
    assert!(table.poll(id, &waker_a.clone()).is_pending());
    assert_eq!(Arc::strong_count(&a), 3, "the table holds one copy of a");
    assert!(table.poll(id, &waker_b).is_pending());
    let counts = (Arc::strong_count(&a), Arc::strong_count(&b));
    assert_eq!(counts, (2, 3), "waker b replaced waker a");
    let woken = complete_waiting(&mut table, id, 0).expect("a stored waker");
    assert!(woken.will_wake(&waker_b));
    woken.wake();
    assert_eq!((a.wakes(), b.wakes()), (0, 1));
}

/// A waker whose last drop panics: user code the table must not run mid-update.
struct PanicOnDrop;

impl Wake for PanicOnDrop {
    fn wake(self: Arc<Self>) {}
}

impl Drop for PanicOnDrop {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            panic!("waker drop panicked");
        }
    }
}

#[test]
fn orphan_with_panicking_waker_keeps_in_flight_data() {
    let drops = DropLog::default();
    let mut table = Table::new();
    let id = table.insert(tracked(1, &drops));
    let waker = Waker::from(Arc::new(PanicOnDrop));
    assert!(table.poll(id, &waker).is_pending());
    drop(waker); // The table now holds the only copy.
                 // The table hands the waker back instead of dropping it mid-transition: its
                 // drop (user code, here a panic) runs after the slot is whole.
    let Orphan::InFlight { waker, .. } = table.orphan(id, None) else {
        panic!("the op is in flight");
    };
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| drop(waker)));
    assert!(result.is_err(), "the waker's drop should have panicked");
    assert!(drops.borrow().is_empty(), "in-flight data was freed");
    assert_eq!(table.in_flight(), 1);
    // The kernel's completion still finds the orphan and hands its data back.
    match table.complete(id, Completion::from_cqe(0, 0)) {
        Reaped::Release(data, _, _) => assert_eq!(data.op, 1),
        other => panic!("expected Release, got {other:?}"),
    }
}

#[test]
fn table_drop_with_panicking_waker_leaks_every_in_flight_op() {
    let drops = DropLog::default();
    let mut table = Table::new();
    let first = table.insert(tracked(1, &drops));
    let _second = table.insert(tracked(2, &drops));
    let waker = Waker::from(Arc::new(PanicOnDrop));
    assert!(table.poll(first, &waker).is_pending());
    drop(waker);
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| drop(table)));
    assert!(result.is_err(), "the waker's drop should have panicked");
    assert!(
        drops.borrow().is_empty(),
        "in-flight data was freed: {drops:?}"
    );
}

#[test]
fn linked_op_cancelled_by_nobody_is_timed_out_but_keeps_its_errno() {
    let drops = DropLog::default();
    let waker = Waker::noop();
    let mut table = Table::new();
    let cases = [
        // (linked, cancel asked for, res, timed out)
        (true, false, -libc::ECANCELED, true),
        (true, false, -libc::EINTR, true),
        (true, true, -libc::ECANCELED, false),
        (true, false, 5, false),
        (true, false, -libc::ECONNRESET, false),
        (false, false, -libc::ECANCELED, false),
    ];
    for (i, (linked, cancel, res, timed_out)) in cases.into_iter().enumerate() {
        let data = tracked(i as u32, &drops);
        let id = if linked {
            table.insert_linked(data)
        } else {
            table.insert(data)
        };
        if cancel {
            assert_eq!(table.cancel(id), CancelStep::Submit);
        }
        table.complete(id, Completion::from_cqe(res, 0));
        let Poll::Ready((_, c)) = table.poll(id, waker) else {
            panic!("case {i}: not ready after its completion");
        };
        assert_eq!(c.timed_out(), timed_out, "case {i}");
        let errno = (res < 0).then_some(-res);
        assert_eq!(c.errno(), errno, "case {i}: the kernel's errno is kept");
    }
}

#[test]
fn orphan_keeps_its_report_until_the_release() {
    let drops = DropLog::default();
    let mut table = Table::new();
    let here = Location::caller();
    let reported = table.insert(tracked(0, &drops));
    let quiet = table.insert(tracked(1, &drops));
    assert!(orphan_reported(&mut table, reported, Some(here)));
    assert!(orphan_reported(&mut table, quiet, None));
    for (id, want) in [(reported, Some(here)), (quiet, None)] {
        let Reaped::Release(_, _, report) = table.complete(id, Completion::from_cqe(-125, 0))
        else {
            panic!("an orphan was not released on its completion");
        };
        assert_eq!(report.map(|l| l.line()), want.map(|l| l.line()));
    }
}

fn orphan_reported(table: &mut Table<Data>, id: OpId, report: Report) -> bool {
    matches!(table.orphan(id, report), Orphan::InFlight { .. })
}

#[test]
fn completion_kernel_restart_codes_read_as_eintr() {
    for res in [-512, -513, -514, -515, -516] {
        let c = Completion::from_cqe(res, 0);
        assert_eq!(c.errno(), Some(libc::EINTR), "res {res}");
    }
    for (res, errno) in [(-511, 511), (-517, 517), (-4, libc::EINTR), (-125, 125)] {
        assert_eq!(
            Completion::from_cqe(res, 0).errno(),
            Some(errno),
            "res {res}"
        );
    }
}

fn cqe(res: i32) -> Completion {
    Completion::from_cqe(res, 0)
}

fn cancelled() -> Completion {
    Completion::from_cqe(-libc::ECANCELED, 0)
}

#[test]
fn kick_picks_only_plain_waiting_ops_on_that_descriptor() {
    let drops = DropLog::default();
    let mut table = Table::new();
    let a = table.insert(exclusive(1, &drops, 7));
    let other_fd = table.insert(exclusive(2, &drops, 8));
    let linked = table.insert_linked(exclusive(3, &drops, 7));
    let cancelling = table.insert(exclusive(4, &drops, 7));
    assert_eq!(table.cancel(cancelling), CancelStep::Submit);
    let plain = table.insert(tracked(5, &drops));
    let done = table.insert(exclusive(6, &drops, 7));
    assert!(matches!(table.complete(done, cqe(3)), Reaped::Wake(None)));

    assert_eq!(table.kick_waiting(7), vec![a]);
    // Once kicked, an op is not kicked again before its cancel lands.
    assert_eq!(table.kick_waiting(7), Vec::new());

    for id in [other_fd, linked, cancelling, plain] {
        assert!(matches!(table.complete(id, cqe(0)), Reaped::Wake(None)));
    }
    assert!(matches!(table.complete(a, cqe(0)), Reaped::Wake(None)));
    for id in [a, other_fd, linked, cancelling, plain, done] {
        assert!(table.poll_main(id).is_ready());
    }
    assert_eq!(table.in_flight(), 0);
}

/// The kick's scan stops once it has seen every exclusive op in flight: one far
/// down a table of other ops is still found, an orphaned one is seen but not
/// kicked, and with none in flight nothing is kicked.
#[test]
fn kick_finds_exclusive_ops_anywhere_and_none_once_they_are_gone() {
    let drops = DropLog::default();
    let mut table = Table::new();
    assert_eq!(table.kick_waiting(7), Vec::new());
    let plain: Vec<OpId> = (0..100)
        .map(|op| table.insert(tracked(op, &drops)))
        .collect();
    let orphaned = table.insert(exclusive(100, &drops, 7));
    assert!(matches!(
        table.orphan(orphaned, None),
        Orphan::InFlight { .. }
    ));
    let last = table.insert(exclusive(101, &drops, 7));
    assert_eq!(table.exclusive_in_flight(), 2);
    assert_eq!(table.kick_waiting(7), vec![last]);

    // Both leave the kernel: the orphan released, the kicked one cancelled and
    // resubmitted, then completed.
    assert!(matches!(
        table.complete(orphaned, cqe(0)),
        Reaped::Release(..)
    ));
    assert!(matches!(
        table.complete(last, cancelled()),
        Reaped::Resubmit
    ));
    assert_eq!(table.take_rework(), (vec![last], Vec::new()));
    assert_eq!(
        table.exclusive_in_flight(),
        1,
        "a resubmitted op is still in flight"
    );
    assert!(matches!(table.complete_cqe(last, 9, 0), Reaped::Wake(None)));
    assert_eq!(table.exclusive_in_flight(), 0);
    // A new exclusive op on the same descriptor, inserted in a freed slot.
    let again = table.insert(exclusive(102, &drops, 7));
    assert_eq!(table.kick_waiting(7), vec![again]);
    assert!(matches!(table.complete(again, cqe(0)), Reaped::Wake(None)));
    assert_eq!(table.kick_waiting(7), Vec::new());

    for &id in &plain {
        assert!(matches!(table.complete(id, cqe(0)), Reaped::Wake(None)));
    }
    for id in plain.into_iter().chain([last, again]) {
        assert!(table.poll_main(id).is_ready());
    }
    assert_eq!((table.in_flight(), table.exclusive_in_flight()), (0, 0));
}

#[test]
fn kicked_op_cancelled_by_the_kernel_is_resubmitted_not_ended() {
    let drops = DropLog::default();
    let mut table = Table::new();
    let id = table.insert(exclusive(1, &drops, 7));
    assert!(table.poll_main(id).is_pending());
    assert_eq!(table.kick_waiting(7), vec![id]);
    // The kick's own ECANCELED: not the end, and not a cancel that swallowed a
    // wake-up.
    assert!(matches!(table.complete(id, cancelled()), Reaped::Resubmit));
    assert!(table.has_rework());
    assert_eq!(table.take_rework(), (vec![id], Vec::new()));
    assert!(!table.has_rework());
    assert_eq!(table.in_flight(), 1);
    assert!(table.poll_main(id).is_pending());
    // Submitted again, it completes as any op does, and can be kicked again.
    assert_eq!(table.kick_waiting(7), vec![id]);
    assert!(matches!(
        table.complete(id, cqe(9)),
        Reaped::WakeTask(u64::MAX)
    ));
    assert!(!table.has_rework());
    let Poll::Ready((data, completion)) = table.poll_main(id) else {
        panic!("completed")
    };
    assert_eq!((data.op, completion.result().unwrap()), (1, 9));
}

#[test]
fn kicked_op_cancelled_by_its_token_ends_with_the_cancel() {
    let drops = DropLog::default();
    let mut table = Table::new();
    let id = table.insert(exclusive(1, &drops, 7));
    assert_eq!(table.kick_waiting(7), vec![id]);
    // The token asks for a cancel while the kick's is on its way: the next
    // ECANCELED is the op's end, and one that may have swallowed a wake-up.
    assert_eq!(table.cancel(id), CancelStep::Submit);
    assert!(matches!(
        table.complete(id, cancelled()),
        Reaped::Wake(None)
    ));
    assert_eq!(table.take_rework(), (Vec::new(), vec![7]));
    let Poll::Ready((_, completion)) = table.poll_main(id) else {
        panic!("completed")
    };
    assert_eq!(completion.errno(), Some(libc::ECANCELED));
    assert!(!completion.timed_out());
}

#[test]
fn only_cancelled_and_orphaned_exclusive_ops_leave_their_descriptor_to_kick() {
    let drops = DropLog::default();
    let mut table = Table::new();
    // Cancelled: the descriptor, once however many ops end there.
    let cancelled_ops = [
        table.insert(exclusive(1, &drops, 7)),
        table.insert(exclusive(2, &drops, 7)),
    ];
    for id in cancelled_ops {
        assert_eq!(table.cancel(id), CancelStep::Submit);
        let _ = table.complete(id, cancelled());
    }
    assert_eq!(table.take_rework(), (Vec::new(), vec![7]));
    // A connection, not a cancel: no wake-up was swallowed.
    let accepted = table.insert(exclusive(3, &drops, 7));
    assert_eq!(table.cancel(accepted), CancelStep::Submit);
    let _ = table.complete(accepted, cqe(5));
    assert!(!table.has_rework());
    // Orphaned, and timed out (linked): both may have swallowed one.
    let orphan = table.insert(exclusive(4, &drops, 8));
    assert!(matches!(
        table.orphan(orphan, None),
        Orphan::InFlight { .. }
    ));
    let _ = table.complete(orphan, cancelled());
    let timed_out = table.insert_linked(exclusive(5, &drops, 9));
    let _ = table.complete(timed_out, cancelled());
    assert_eq!(table.take_rework(), (Vec::new(), vec![8, 9]));
    // An op on no exclusive queue leaves nothing.
    let plain = table.insert(tracked(6, &drops));
    assert_eq!(table.cancel(plain), CancelStep::Submit);
    let _ = table.complete(plain, cancelled());
    assert!(!table.has_rework());
    for id in cancelled_ops
        .into_iter()
        .chain([accepted, timed_out, plain])
    {
        assert!(table.poll_main(id).is_ready());
    }
    assert_eq!(table.in_flight(), 0);
}

#[test]
fn kicked_op_orphaned_before_its_cancel_lands_is_released_not_resubmitted() {
    let drops = DropLog::default();
    let mut table = Table::new();
    let id = table.insert(exclusive(1, &drops, 7));
    assert_eq!(table.kick_waiting(7), vec![id]);
    assert!(matches!(
        table.orphan(id, None),
        Orphan::InFlight {
            submit_cancel: true,
            ..
        }
    ));
    // The kick's ECANCELED ends the orphan: released, and it may have swallowed a
    // wake-up like any cancelled accept.
    let Reaped::Release(data, completion, _) = table.complete(id, cancelled()) else {
        panic!("an orphan's end is released")
    };
    assert_eq!((data.op, completion.errno()), (1, Some(libc::ECANCELED)));
    assert_eq!(table.take_rework(), (Vec::new(), vec![7]));
    assert_eq!(table.in_flight(), 0);
}

#[test]
fn kicked_op_interrupted_is_resubmitted_like_a_cancelled_one() {
    let drops = DropLog::default();
    let mut table = Table::new();
    let id = table.insert(exclusive(1, &drops, 7));
    assert_eq!(table.kick_waiting(7), vec![id]);
    // An op cancelled in a kernel worker reports EINTR (or a restart code, read
    // as EINTR).
    for res in [-libc::EINTR, -512] {
        assert!(matches!(
            table.complete(id, Completion::from_cqe(res, 0)),
            Reaped::Resubmit
        ));
        assert_eq!(table.take_rework(), (vec![id], Vec::new()));
        assert_eq!(table.kick_waiting(7), vec![id]);
    }
    // A kick whose cancel could not be submitted is undone, so that a later one can
    // kick the op again.
    table.unkick(id);
    assert!(matches!(
        table.complete(id, cancelled()),
        Reaped::WakeTask(_) | Reaped::Wake(None)
    ));
    assert!(table.poll_main(id).is_ready());
}

/// An op inserted with its submitting task as waiter waits for that task (and no
/// other) until another poller takes its place or it completes; the completion
/// wakes whoever waits last.
#[test]
fn op_inserted_for_a_task_waits_for_it_until_polled_elsewhere_or_completed() {
    let drops = DropLog::default();
    let mut table = Table::new();
    let for_task = Insert {
        task: Some(5),
        ..Insert::default()
    };
    let id = table.insert_waiting(tracked(1, &drops), for_task);
    assert!(table.waits_for(id, 5));
    assert!(!table.waits_for(id, 6));
    // Completed: a poll by the task has work to do.
    assert!(matches!(table.complete(id, cqe(0)), Reaped::WakeTask(5)));
    assert!(!table.waits_for(id, 5));
    assert!(matches!(
        table.poll_waiting(id, Poller::Task(5)),
        Polled::Ready(..)
    ));
    // A stale id waits for nobody.
    assert!(!table.waits_for(id, 5));

    // Polled by another task, then by a waker: each takes the waiter's place.
    let id = table.insert_waiting(tracked(2, &drops), for_task);
    assert!(matches!(
        table.poll_waiting(id, Poller::Task(6)),
        Polled::Pending(None)
    ));
    assert!(!table.waits_for(id, 5) && table.waits_for(id, 6));
    let (counter, waker) = counting_waker();
    assert!(table.poll(id, &waker).is_pending());
    assert!(!table.waits_for(id, 6));
    let Reaped::Wake(Some(woken)) = table.complete(id, cqe(0)) else {
        panic!("the waker of the last poll is woken")
    };
    woken.wake();
    assert_eq!(counter.wakes(), 1);
    assert!(table.poll_main(id).is_ready());
    assert_eq!(table.in_flight(), 0);
}
