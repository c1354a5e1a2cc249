//! The seeded storm with panics injected where the ring runs user code: a random
//! fraction of the counted buffers' drops, of the tasks' waker wakes and of the tasks'
//! drops panic, while pipes and loopback connections run ops with the storm's random
//! fates (completed, cancelled, raced, linked timeouts, abandoned under `Reclaim`).
//!
//! Some of these panics happen inside `block_on` but outside any task: a buffer the
//! ring releases when the kernel is done with an abandoned op, a waker woken by a
//! completion. They come out of `block_on`, and the storm calls it again: the round's
//! work lives in spawned tasks, which must carry on. The others happen in a task's
//! poll (a buffer the task drops, a wake by `yield_now`, the task's end) and kill that
//! task; its sockets and pipes close as it unwinds, and the tasks on the other side
//! excuse an early end only when their partner was hit ([`tcp`] and [`pipe`] say what
//! each still checks).
//!
//! After every round it checks that:
//! - every task into whose poll no panic was injected finished, with the storm's
//!   checks: every byte read sits at its stream position, a stream whose sender lived
//!   arrived whole, every connection was served or closed by the ring;
//! - every counted buffer was dropped exactly once, and none was written after;
//! - `stats().in_flight` is 0, every op submitted completed once, `stats().abandoned`
//!   counts at least the tokens the storm dropped (killed tasks drop more);
//! - the process has as many sockets and pipes open as before;
//! - any panic that came out of `block_on` was an injected one, and no other panic
//!   happened on the way.
//!
//! At the end the ring is dropped with tasks still waiting on reads, while buffer and
//! task drops panic often: the shutdown must finish, drop every buffer once and close
//! every descriptor, and resume nothing but an injected panic. Over the run, each kind
//! of panic must have been injected.
//!
//! The seed is printed; `LINEAR_URING_SEED=<seed>` replays it (a failure names the seed
//! of its round), `LINEAR_URING_SOAK_SECS=<n>` runs rounds for `n` seconds. The op
//! choices are a function of the seed; which events panic is drawn from it in the
//! order they happen, which timing can change.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::future::Future;
use std::net::Ipv4Addr;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::rc::Rc;
use std::time::{Duration, Instant};

use linear_uring::fs::File;
use linear_uring::{DropPolicy, JoinHandle, Ring, Stats};

use super::check::{Ledger, Rng};
use super::{all_descriptors, fate, seed, ConnId, Ctx, Label, Scale, Tally, ROUND_DEADLINE};
use crate::fds::{self, FdCheck};

mod inject;
mod pipe;
mod tcp;

use inject::{Counts, Injected, Kind, PerKind, PerPlace, Place, Rates, TaskId};

const SCALE: Scale = Scale {
    server_groups: 16,
    client_groups: 16,
    clients: 4,
    pipes: 64,
    timers: 8,
};

/// Rounds of a default run (without `LINEAR_URING_SOAK_SECS`).
const DEFAULT_ROUNDS: u64 = 5;

/// How often each kind panics during the rounds, in parts per million (buffer drops,
/// waker wakes, task drops). A round has about 3,000 buffer drops, 140 of them by the
/// ring; 5,000 wakes, nearly all by the ring; 430 task ends. A panic in a task kills
/// it and narrows what its partner can check, so the rates there are low; a panic in
/// the ring's own code kills nothing and is what tests its consistency, so those rates
/// are higher, high enough that a default run injects each several times.
const RATES: Rates = PerPlace {
    task: [3_000, 10_000, 20_000],
    ring: [20_000, 1_500, 0],
};

/// Tasks left waiting on reads when the ring is dropped, and how often their buffers'
/// and their own drops panic then.
const LINGERING: u64 = 16;
const SHUTDOWN_RATES: Rates = PerPlace {
    task: [0; 3],
    ring: [300_000, 0, 300_000],
};

/// The label of the injector's generator, beside the storm's [`Label`]s.
const INJECT: u64 = 0x1_0000;

/// What the panic storm did, beside the storm's [`Tally`].
#[derive(Debug, Default, Clone)]
struct PanicTally {
    rounds: u64,
    tasks: u64,
    /// Tasks that finished with no panic injected into them.
    finished: u64,
    /// Tasks that finished although a panic was injected into them (at their end).
    finished_hit: u64,
    /// Tasks dropped unfinished by a panic injected into their poll.
    killed: u64,
    /// Injected panics that came out of `block_on`, per kind.
    caught: PerKind,
    /// Connections served to the end (or reset by their peer's plan).
    served: u64,
    /// Connections whose subject was killed, checked as far as they went.
    cut: u64,
    /// Connections closed before the greeting.
    lost: u64,
    /// Connects refused by a killed group's closed listener.
    refused: u64,
    pipes: u64,
}

/// A task of the round.
struct TaskEntry {
    name: &'static str,
    handle: JoinHandle<()>,
    finished: Rc<Cell<bool>>,
}

/// The two tasks of a pipe or connection, once known.
#[derive(Debug, Default)]
struct Link {
    subject: Cell<Option<TaskId>>,
    peer: Cell<Option<TaskId>>,
}

impl Link {
    fn subject_hit(&self) -> bool {
        self.subject.get().is_some_and(inject::hit)
    }

    fn peer_hit(&self) -> bool {
        self.peer.get().is_some_and(inject::hit)
    }
}

/// One round's shared state.
struct Round {
    /// The storm's context, for its ops, fates and checks.
    ctx: Rc<Ctx>,
    tasks: RefCell<Vec<TaskEntry>>,
    conns: RefCell<HashMap<ConnId, Rc<tcp::Conn>>>,
    tally: Rc<RefCell<PanicTally>>,
}

impl Round {
    fn tally(&self, f: impl FnOnce(&mut PanicTally)) {
        f(&mut self.tally.borrow_mut());
    }

    /// Spawns the task `make` builds from its id, with injection around it.
    fn spawn<F>(&self, name: &'static str, make: impl FnOnce(TaskId) -> F) -> TaskId
    where
        F: Future<Output = ()> + 'static,
    {
        let id = TaskId(self.tasks.borrow().len());
        let finished = Rc::new(Cell::new(false));
        let task = inject::Guarded::new(id, make(id), finished.clone());
        let handle = self.ctx.ring.spawn(task);
        self.tasks.borrow_mut().push(TaskEntry {
            name,
            handle,
            finished,
        });
        id
    }

    /// Whether the task finished or was dropped.
    fn gone(&self, id: TaskId) -> bool {
        self.tasks.borrow()[id.0].handle.is_finished()
    }

    fn conn(&self, id: ConnId) -> Rc<tcp::Conn> {
        self.conns.borrow_mut().entry(id).or_default().clone()
    }

    /// The tasks still alive, for failure messages.
    fn stuck(&self) -> String {
        let tasks = self.tasks.borrow();
        let alive: Vec<String> = tasks
            .iter()
            .enumerate()
            .filter(|(_, task)| !task.handle.is_finished())
            .take(12)
            .map(|(index, task)| {
                let hit = if inject::hit(TaskId(index)) {
                    " (hit)"
                } else {
                    ""
                };
                format!("{} #{index}{hit}", task.name)
            })
            .collect();
        let count = tasks.iter().filter(|t| !t.handle.is_finished()).count();
        format!(
            "{count} tasks alive, among them {alive:?}; {} buffers held",
            self.ctx.ledger.live()
        )
    }
}

/// A task of nothing but timers with random fates.
async fn timers(round: Rc<Round>, index: u64) {
    let mut rng = Rng::derive(round.ctx.seed, &[Label::Timers as u64, index]);
    for _ in 0..20 {
        fate::timer(&round.ctx, &mut rng).await;
    }
}

/// Runs the ring until `done`, calling `block_on` again after every injected panic
/// that comes out of it (counted in `caught`) and resuming any other; fails naming
/// `what` after the round's deadline.
fn drive(ctx: &Ctx, caught: &mut PerKind, what: &dyn Fn() -> String, done: &dyn Fn() -> bool) {
    let ring = &ctx.ring;
    let start = Instant::now();
    loop {
        let ran = catch_unwind(AssertUnwindSafe(|| {
            ring.block_on(async {
                while !done() {
                    if start.elapsed() > ROUND_DEADLINE {
                        return false;
                    }
                    ring.sleep(Duration::from_millis(1)).await.expect("timer");
                }
                true
            })
        }));
        let finished = match ran {
            Ok(finished) => finished,
            Err(payload) => match payload.downcast_ref::<Injected>() {
                Some(&Injected(kind)) => {
                    caught[kind.index()] += 1;
                    false
                }
                None => resume_unwind(payload),
            },
        };
        if let Some(panic) = inject::take_unexpected() {
            ctx.fail(format!(
                "a panic that was not injected did not come out of block_on: {panic}"
            ));
        }
        if finished {
            return;
        }
        if start.elapsed() > ROUND_DEADLINE {
            ctx.fail(format!(
                "not done in {ROUND_DEADLINE:?}, after {caught:?} injected panics (buffer \
                 drops, wakes, task drops) came out of block_on: {}",
                what()
            ));
        }
    }
}

/// Runs one round on `ring` and checks its invariants.
fn round(
    ring: &Ring,
    seed: u64,
    ledger: &Rc<Ledger>,
    tally: &Rc<RefCell<Tally>>,
    panics: &Rc<RefCell<PanicTally>>,
) {
    inject::new_round(Rng::derive(seed, &[INJECT]).next_u64());
    let n = panics.borrow().rounds % 1000;
    let round = Rc::new(Round {
        ctx: Rc::new(Ctx {
            ring: ring.clone(),
            seed,
            ip: Ipv4Addr::new(127, 2, (n / 250) as u8, (n % 250 + 1) as u8),
            ledger: ledger.clone(),
            tally: tally.clone(),
            conns: RefCell::new(HashMap::new()),
            tasks: RefCell::new(Vec::new()),
            listeners: RefCell::new(Vec::new()),
        }),
        tasks: RefCell::new(Vec::new()),
        conns: RefCell::new(HashMap::new()),
        tally: panics.clone(),
    });
    for group in 0..SCALE.server_groups {
        round.spawn("server group", |me| {
            tcp::server_group(round.clone(), me, group, SCALE.clients)
        });
    }
    for group in 0..SCALE.client_groups {
        round.spawn("client group", |me| {
            tcp::client_group(round.clone(), me, group, SCALE.clients)
        });
    }
    for index in 0..SCALE.pipes {
        pipe::unit(&round, index);
    }
    for index in 0..SCALE.timers {
        round.spawn("timers", |_| timers(round.clone(), index));
    }
    let ctx = &round.ctx;
    let mut caught = PerKind::default();
    // Tasks spawn tasks: wait until every one is gone, finished or killed.
    let all_gone = || round.tasks.borrow().iter().all(|t| t.handle.is_finished());
    drive(ctx, &mut caught, &|| round.stuck(), &all_gone);
    // Abandoned ops finish in the kernel on their own time; releasing their buffers
    // may panic too.
    let idle = || ring.stats().in_flight == 0;
    let what = || format!("ops still in flight after every task: {}", round.stuck());
    drive(ctx, &mut caught, &what, &idle);
    round.tally(|t| {
        for kind in Kind::ALL {
            t.caught[kind.index()] += caught[kind.index()];
        }
    });
    check_round(&round);
}

fn check_round(round: &Round) {
    let ctx = &round.ctx;
    if let Err(msg) = ctx.ledger.audit() {
        ctx.fail(msg);
    }
    for (index, task) in round.tasks.borrow().iter().enumerate() {
        let hit = inject::hit(TaskId(index));
        match (task.finished.get(), hit) {
            (true, false) => round.tally(|t| t.finished += 1),
            (true, true) => round.tally(|t| t.finished_hit += 1),
            (false, true) => round.tally(|t| t.killed += 1),
            (false, false) => ctx.fail(format!(
                "task {} #{index} was dropped before it finished, though no panic was \
                 injected into it",
                task.name
            )),
        }
    }
    round.tally(|t| t.tasks += round.tasks.borrow().len() as u64);
    let stats = ctx.ring.stats();
    let tally = ctx.tally.borrow().clone();
    let problems = [
        (stats.in_flight != 0).then(|| format!("{} ops in flight", stats.in_flight)),
        (stats.submitted != stats.completed).then(|| {
            format!(
                "{} ops submitted, {} completions",
                stats.submitted, stats.completed
            )
        }),
        (stats.abandoned < tally.abandoned).then(|| {
            format!(
                "stats().abandoned is {}, but the storm dropped {} tokens",
                stats.abandoned, tally.abandoned
            )
        }),
        (stats.fds_closed < tally.abandoned_connects).then(|| {
            format!(
                "stats().fds_closed is {}, but {} connects were abandoned",
                stats.fds_closed, tally.abandoned_connects
            )
        }),
    ];
    let problems: Vec<String> = problems.into_iter().flatten().collect();
    if !problems.is_empty() {
        ctx.fail(problems.join("; "));
    }
}

/// Drops the ring with tasks waiting on reads into counted buffers, injecting panics
/// into buffer and task drops often. Returns the kind of the panic the drop resumed.
fn shutdown(ring: Ring, ledger: &Rc<Ledger>) -> Option<Kind> {
    inject::set_rates(SHUTDOWN_RATES);
    let mut tasks = Vec::new();
    for index in 0..LINGERING {
        let (read, write) = super::pipe::pipe();
        let reader = File::from_fd(&ring, read).expect("from_fd");
        let ledger = ledger.clone();
        let body = async move {
            // Nothing is ever written: the reads wait until the shutdown cancels them.
            let _writer = write;
            let (read, _) = reader.read(ledger.empty(64)).submit().complete().await;
            panic!("a read of an idle pipe completed: {read:?}");
        };
        let finished = Rc::new(Cell::new(false));
        let task = inject::Guarded::new(TaskId(index as usize), body, finished.clone());
        tasks.push((ring.spawn(task), finished));
    }
    // Let the tasks submit their reads.
    let settle = catch_unwind(AssertUnwindSafe(|| {
        ring.block_on(async { ring.sleep(Duration::from_millis(5)).await })
    }));
    match settle {
        Ok(slept) => slept.expect("timer"),
        Err(payload) if payload.is::<Injected>() => {}
        Err(payload) => resume_unwind(payload),
    }
    let resumed = match catch_unwind(AssertUnwindSafe(|| drop(ring))) {
        Ok(()) => None,
        Err(payload) => match payload.downcast_ref::<Injected>() {
            Some(&Injected(kind)) => Some(kind),
            None => resume_unwind(payload),
        },
    };
    if let Some(panic) = inject::take_unexpected() {
        panic!("the ring's drop lost a panic that was not injected: {panic}");
    }
    for (handle, finished) in tasks {
        assert!(
            handle.is_finished() && !finished.get(),
            "a lingering task was not dropped by the shutdown"
        );
    }
    resumed
}

fn summary(
    seed: u64,
    elapsed: Duration,
    t: &Tally,
    p: &PanicTally,
    counts: &Counts,
    stats: &Stats,
    ledger: &Ledger,
) -> String {
    let kind = |kind: Kind, what: &str| {
        let (events, injected) = (&counts.events, &counts.injected);
        format!(
            "{} of {} {what} ({} of {} in tasks, {} of {} in the ring; {} out of block_on)",
            injected.total(kind),
            events.total(kind),
            injected.at(Place::Task, kind),
            events.at(Place::Task, kind),
            injected.at(Place::Ring, kind),
            events.at(Place::Ring, kind),
            p.caught[kind.index()],
        )
    };
    format!(
        "storm with panics: seed {seed:#x}, {rounds} rounds in {secs:.1} s: {submitted} ops \
         submitted ({ops} with a random fate, {abandoned} dropped by the storm); panics \
         injected: {buffers_hit}, {wakes}, {ends}; tasks: {tasks} spawned, {killed} killed \
         by an injected panic, {finished_hit} finished with one at their end, {finished} \
         finished with no panic injected; connections: {served} served, {cut} cut short by \
         a killed subject, {lost} closed before the greeting, {refused} refused by a killed \
         listener, {resets} reset by peers; {pipes} pipes; bytes checked: {read} read by \
         the ring at their stream positions, {received} received by peers; {buffers} \
         buffers made and each dropped once; ring {stats:?}",
        rounds = p.rounds,
        secs = elapsed.as_secs_f64(),
        submitted = stats.submitted,
        ops = t.ops,
        abandoned = t.abandoned,
        buffers_hit = kind(Kind::BufferDrop, "buffer drops"),
        wakes = kind(Kind::Wake, "waker wakes"),
        ends = kind(Kind::TaskDrop, "task drops"),
        tasks = p.tasks,
        killed = p.killed,
        finished_hit = p.finished_hit,
        finished = p.finished,
        served = p.served,
        cut = p.cut,
        lost = p.lost,
        refused = p.refused,
        resets = t.resets,
        pipes = p.pipes,
        read = t.bytes_read,
        received = t.bytes_received,
        buffers = ledger.created(),
    )
}

#[test]
fn storm_panic_injection_loses_nothing_and_leaks_nothing() {
    let seed = seed();
    eprintln!("storm with panics: seed {seed:#x} (replay with LINEAR_URING_SEED={seed:#x})");
    let soak = std::env::var("LINEAR_URING_SOAK_SECS")
        .ok()
        .map(|secs| Duration::from_secs(secs.trim().parse().expect("LINEAR_URING_SOAK_SECS")));
    let fds = FdCheck::start();
    let fds_at_start = fds::count();
    let all_at_start = all_descriptors();
    let _injector = inject::install(seed, RATES);
    let ring = Ring::builder()
        .drop_policy(DropPolicy::Reclaim)
        .build()
        .unwrap();
    let ledger = Ledger::new();
    ledger.set_drop_hook(|| inject::maybe_panic(Kind::BufferDrop));
    let tally = Rc::new(RefCell::new(Tally::default()));
    let panics = Rc::new(RefCell::new(PanicTally::default()));
    let start = Instant::now();
    let mut last_report = start;
    let mut round_seed = seed;
    loop {
        round(&ring, round_seed, &ledger, &tally, &panics);
        panics.borrow_mut().rounds += 1;
        let open = fds::count();
        assert_eq!(
            open, fds_at_start,
            "round seed {round_seed:#x}: {fds_at_start} sockets/pipes open at start, {open} \
             after the round (replay with LINEAR_URING_SEED={round_seed:#x})"
        );
        round_seed = Rng::derive(round_seed, &[Label::Round as u64]).next_u64();
        let go_on = match soak {
            Some(duration) => start.elapsed() < duration,
            None => panics.borrow().rounds < DEFAULT_ROUNDS,
        };
        if soak.is_some() && last_report.elapsed() > Duration::from_secs(30) && go_on {
            last_report = Instant::now();
            let (t, p) = (tally.borrow(), panics.borrow());
            let counts = inject::counts();
            let line = summary(
                seed,
                start.elapsed(),
                &t,
                &p,
                &counts,
                &ring.stats(),
                &ledger,
            );
            eprintln!("{line}");
        }
        if !go_on {
            break;
        }
    }
    let elapsed = start.elapsed();
    let stats = ring.stats();
    let counts = inject::counts();
    let resumed = shutdown(ring, &ledger);
    let at_shutdown = inject::counts().injected.since(&counts.injected);
    let at_shutdown = |kind: Kind| at_shutdown.total(kind);
    let fds_at_end = fds::count();
    let all_at_end = all_descriptors();
    eprintln!(
        "{}",
        summary(
            seed,
            elapsed,
            &tally.borrow(),
            &panics.borrow(),
            &counts,
            &stats,
            &ledger
        )
    );
    eprintln!(
        "storm with panics: the ring dropped with {LINGERING} tasks waiting: {} buffer drops \
         and {} task drops panicked, the drop resumed {resumed:?}; sockets and pipes open: \
         {fds_at_start} at start, {fds_at_end} at end; descriptors of any kind: \
         {all_at_start} before the ring, {all_at_end} after it",
        at_shutdown(Kind::BufferDrop),
        at_shutdown(Kind::TaskDrop),
    );
    if let Err(msg) = ledger.audit() {
        panic!("seed {seed:#x}: after the ring's drop: {msg}");
    }
    fds.finish();
    // The run must have injected each kind, and into the ring's own code those it
    // runs there, or it proves nothing about them.
    let rounds = panics.borrow().rounds;
    let injected = counts.injected;
    for (place, kind) in [
        (Place::Task, Kind::BufferDrop),
        (Place::Ring, Kind::BufferDrop),
        (Place::Task, Kind::Wake),
        (Place::Ring, Kind::Wake),
        (Place::Task, Kind::TaskDrop),
    ] {
        assert!(
            injected.at(place, kind) > 0,
            "seed {seed:#x}: no panic was injected into a {kind:?} in the {place:?} in \
             {rounds} rounds"
        );
    }
    assert!(
        at_shutdown(Kind::BufferDrop) + at_shutdown(Kind::TaskDrop) > 0,
        "seed {seed:#x}: no panic was injected while the ring shut down"
    );
}
