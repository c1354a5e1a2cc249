//! A seeded cancellation storm on one ring: hundreds of loopback connections and pipes,
//! accepts, connects, sends, receives, reads, writes and timers, each op with a random
//! fate (completed, cancelled at a random moment, raced against a timer, cut off by a
//! linked timeout, abandoned under `DropPolicy::Reclaim`), against peers that send
//! checksummed streams and sometimes reset the connection.
//!
//! After every round the storm checks that:
//! - every byte a completed (or completed-on-cancel) read delivered sits at its place in
//!   the peer's stream, and the stream's end accounts for every byte sent: delivered,
//!   or taken by an abandoned read; every byte a completed send took reached the peer
//!   in order ([`check`] explains how with abandoned ops in the way);
//! - every connection the kernel accepted was served or, taken by an abandoned accept,
//!   closed by the ring: its client saw the end before any greeting, and
//!   `stats().fds_closed` counts exactly those plus the abandoned connects;
//!   `stats().abandoned` counts exactly the tokens the storm dropped;
//! - every counted buffer was dropped exactly once, and none was written after;
//! - `stats().in_flight` is 0, every op submitted completed once, and the process has
//!   as many sockets and pipes open as before.
//!
//! The seed is printed; `LINEAR_URING_SEED=<seed>` replays it (a failure names the
//! seed of its round). The op choices are a function of the seed; timing is not, and
//! the invariants hold whatever it is. `LINEAR_URING_SOAK_SECS=<n>` runs rounds for
//! `n` seconds instead of the default five rounds; see RELIABILITY.md.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::future::Future;
use std::io::Read as _;
use std::net::Ipv4Addr;
use std::rc::Rc;
use std::time::{Duration, Instant};

use futures_lite::future;
use linear_uring::net::TcpListener;
use linear_uring::{DropPolicy, JoinHandle, Ring, Stats};

use crate::fds::{self, FdCheck};

pub(crate) mod check;
mod fate;
mod io;
mod panic;
pub(crate) mod pipe;
mod tcp;

use check::{Ledger, Rng, SendLog};

/// How much one round does.
#[derive(Debug, Clone, Copy)]
struct Scale {
    /// Groups whose accepts get random fates, and their clients each.
    server_groups: u64,
    /// Groups whose connects get random fates.
    client_groups: u64,
    /// Connections per group.
    clients: u64,
    pipes: u64,
    /// Tasks doing nothing but timers.
    timers: u64,
}

const SCALE: Scale = Scale {
    server_groups: 32,
    client_groups: 32,
    clients: 4,
    pipes: 128,
    timers: 16,
};

/// Rounds of a default run (without `LINEAR_URING_SOAK_SECS`).
const DEFAULT_ROUNDS: u64 = 5;

/// How long a round may take before it is reported as hung.
const ROUND_DEADLINE: Duration = Duration::from_secs(30);

/// Names of the random streams, so that each chooser has its own.
#[derive(Debug, Clone, Copy)]
enum Label {
    ServerGroup = 1,
    ServerConn,
    PeerClient,
    Client,
    ClientConn,
    PeerServer,
    Pipe,
    PipePeer,
    Timers,
    Round,
}

/// A connection, by the listener's port and the client's port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct ConnId {
    listener: u16,
    client: u16,
}

/// What a peer does: how much it sends, whether (after how much, and when) it resets,
/// and the seed of its pacing.
#[derive(Debug, Clone, Copy)]
struct PeerPlan {
    total: u64,
    reset: Option<(usize, Duration)>,
    pace: u64,
}

impl PeerPlan {
    fn draw(rng: &mut Rng) -> PeerPlan {
        let total = rng.size(64 * 1024) as u64;
        let reset = rng
            .chance(5)
            .then(|| (rng.size(total as usize), rng.micros(2000)));
        PeerPlan {
            total,
            reset,
            pace: rng.next_u64(),
        }
    }
}

/// Both sides' view of one connection.
#[derive(Debug, Default)]
struct ConnRecord {
    /// Registered by the peer once it got the greeting.
    peer: Option<PeerPlan>,
    /// Registered by the subject when it got the connection.
    subject_log: Option<Rc<RefCell<SendLog>>>,
    /// The subject checked the peer's stream.
    subject_done: bool,
    /// The peer checked the subject's stream (or reset the connection).
    peer_done: bool,
}

/// What the storm did, over all rounds.
#[derive(Debug, Default, Clone)]
struct Tally {
    rounds: u64,
    ops: u64,
    linked: u64,
    cancelled: u64,
    cancel_completed: u64,
    races_won: u64,
    races_lost: u64,
    abandoned: u64,
    abandoned_connects: u64,
    served: u64,
    lost_clients: u64,
    stale: u64,
    resets: u64,
    pipes: u64,
    /// Bytes that completed subject reads delivered, each checked at its position.
    bytes_read: u64,
    /// Bytes of the peers' streams that abandoned subject reads took.
    bytes_lost: u64,
    /// Bytes peers received from subjects, checked against the subjects' send logs.
    bytes_received: u64,
    /// Of those, bytes that completed subject sends took.
    bytes_sure: u64,
    drained: u64,
}

/// One round's shared state.
struct Ctx {
    ring: Ring,
    seed: u64,
    /// The loopback address of this round's listeners. Rounds rotate through many,
    /// so that the connections of a long soak, lingering in TIME_WAIT for a minute,
    /// do not use up the ephemeral ports of one address.
    ip: Ipv4Addr,
    ledger: Rc<Ledger>,
    tally: Rc<RefCell<Tally>>,
    conns: RefCell<HashMap<ConnId, ConnRecord>>,
    tasks: RefCell<Vec<JoinHandle<()>>>,
    /// Listeners to drain at the end of the round, and whether they must be empty.
    listeners: RefCell<Vec<(TcpListener, bool)>>,
}

impl Ctx {
    fn tally(&self, f: impl FnOnce(&mut Tally)) {
        f(&mut self.tally.borrow_mut());
    }

    /// Fails the storm, naming the seed that replays the round.
    fn fail(&self, msg: String) -> ! {
        panic!(
            "storm failed (round seed {seed:#x}): {msg}\nreplay with \
             LINEAR_URING_SEED={seed:#x}; ring: {stats:?}",
            seed = self.seed,
            stats = self.ring.stats()
        )
    }

    fn spawn(&self, task: impl Future<Output = ()> + 'static) {
        let handle = self.ring.spawn(task);
        self.tasks.borrow_mut().push(handle);
    }

    fn conn<T>(&self, id: ConnId, f: impl FnOnce(&mut ConnRecord) -> T) -> T {
        f(self.conns.borrow_mut().entry(id).or_default())
    }

    fn keep_listener(&self, listener: TcpListener, must_be_empty: bool) {
        self.listeners.borrow_mut().push((listener, must_be_empty));
    }

    /// What still holds resources: buffers not dropped, listeners an op still uses.
    /// Takes the listeners: for failure messages only.
    fn holders(&self) -> String {
        let busy: Vec<String> = self
            .listeners
            .take()
            .into_iter()
            .filter_map(|(listener, server_group)| {
                let addr = listener.local_addr().ok()?;
                let group = if server_group { "server" } else { "client" };
                listener
                    .into_std()
                    .err()
                    .map(|e| format!("{group} group listener {addr}: {e}"))
            })
            .collect();
        format!(
            "{} buffers held; listeners in use: {busy:?}",
            self.ledger.live()
        )
    }

    /// Waits until an abandoned op's buffer is dropped: the ring holds it until the
    /// kernel's final completion.
    async fn released(&self, dropped: &Cell<bool>, what: &str) {
        let start = Instant::now();
        while !dropped.get() {
            if start.elapsed() > Duration::from_secs(10) {
                self.fail(format!(
                    "an abandoned {what} still holds its buffer after 10 s"
                ));
            }
            self.ring
                .sleep(Duration::from_micros(500))
                .await
                .expect("timer");
        }
    }
}

/// A task of nothing but timers with random fates.
async fn timers(ctx: Rc<Ctx>, index: u64) {
    let mut rng = Rng::derive(ctx.seed, &[Label::Timers as u64, index]);
    for _ in 0..20 {
        fate::timer(&ctx, &mut rng).await;
    }
}

/// Runs one round on `ring` and checks its invariants.
fn round(ring: &Ring, seed: u64, ledger: &Rc<Ledger>, tally: &Rc<RefCell<Tally>>) {
    let n = tally.borrow().rounds % 1000;
    let ctx = Rc::new(Ctx {
        ring: ring.clone(),
        seed,
        ip: Ipv4Addr::new(127, 1, (n / 250) as u8, (n % 250 + 1) as u8),
        ledger: ledger.clone(),
        tally: tally.clone(),
        conns: RefCell::new(HashMap::new()),
        tasks: RefCell::new(Vec::new()),
        listeners: RefCell::new(Vec::new()),
    });
    let work = async {
        for group in 0..SCALE.server_groups {
            ctx.spawn(tcp::server_group(ctx.clone(), group, SCALE.clients));
        }
        for group in 0..SCALE.client_groups {
            ctx.spawn(tcp::client_group(ctx.clone(), group, SCALE.clients));
        }
        for index in 0..SCALE.pipes {
            ctx.spawn(pipe::unit(ctx.clone(), index));
        }
        for index in 0..SCALE.timers {
            ctx.spawn(timers(ctx.clone(), index));
        }
        // Tasks spawn tasks: join until none is left.
        loop {
            let next = ctx.tasks.borrow_mut().pop();
            match next {
                Some(task) => task.await,
                None => break,
            }
        }
    };
    let watchdog = async {
        ring.sleep(ROUND_DEADLINE).await.expect("timer");
        let unfinished = ctx.tasks.borrow().len();
        ctx.fail(format!(
            "the round did not finish in {ROUND_DEADLINE:?} ({unfinished} tasks not joined)"
        ))
    };
    ring.block_on(future::or(work, watchdog));
    // Abandoned ops finish in the kernel on their own time (and the watchdog's timer
    // was just removed).
    ring.block_on(async {
        let start = Instant::now();
        while ring.stats().in_flight > 0 {
            if start.elapsed() > Duration::from_secs(10) {
                ctx.fail(format!(
                    "ops still in flight 10 s after every task finished: {}",
                    ctx.holders()
                ));
            }
            ring.sleep(Duration::from_millis(1)).await.expect("timer");
        }
    });
    check_round(&ctx);
}

fn check_round(ctx: &Ctx) {
    if let Err(msg) = ctx.ledger.audit() {
        ctx.fail(msg);
    }
    for (id, record) in ctx.conns.borrow().iter() {
        let reset = record.peer.is_some_and(|p| p.reset.is_some());
        let served = record.subject_log.is_some() && record.subject_done;
        // A peer that reset may leave its subject with nothing to finish.
        if !(record.peer_done && (served || reset)) {
            ctx.fail(format!("{id:?} was not served to the end: {record:?}"));
        }
    }
    // Every connection is accounted for: nothing may be left in the queue of a
    // listener whose clients were all served or lost, and what is left behind by
    // cancelled connects must carry no data.
    for (listener, must_be_empty) in ctx.listeners.take() {
        let listener = listener
            .into_std()
            .unwrap_or_else(|e| ctx.fail(format!("listener still in use: {e}")));
        listener.set_nonblocking(true).expect("set_nonblocking");
        while let Ok((mut stream, peer)) = listener.accept() {
            if must_be_empty {
                ctx.fail(format!("a connection from {peer} was never accepted"));
            }
            stream.set_nonblocking(false).expect("set_nonblocking");
            stream
                .set_read_timeout(Some(Duration::from_secs(1)))
                .expect("set_read_timeout");
            let mut byte = [0u8; 1];
            match stream.read(&mut byte) {
                Ok(0) => {}
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {}
                other => ctx.fail(format!(
                    "a connection from {peer} left in the queue was not closed: {other:?}"
                )),
            }
            ctx.tally(|t| t.drained += 1);
        }
    }
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
        (stats.abandoned != tally.abandoned).then(|| {
            format!(
                "stats().abandoned is {}, the storm dropped {} tokens",
                stats.abandoned, tally.abandoned
            )
        }),
        (stats.fds_closed != tally.abandoned_connects + tally.lost_clients).then(|| {
            format!(
                "stats().fds_closed is {}, but {} connects were abandoned and {} \
                 clients saw the ring close their accepted connection",
                stats.fds_closed, tally.abandoned_connects, tally.lost_clients
            )
        }),
    ];
    let problems: Vec<String> = problems.into_iter().flatten().collect();
    if !problems.is_empty() {
        ctx.fail(problems.join("; "));
    }
}

/// Descriptors of any kind open in this process (other tests running beside the
/// storm may open some too: for the soak's report, where the storm runs alone).
fn all_descriptors() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .map(Iterator::count)
        .unwrap_or(0)
}

/// The seed: `LINEAR_URING_SEED` (decimal or `0x` hex), or one from the clock.
fn seed() -> u64 {
    match std::env::var("LINEAR_URING_SEED") {
        Ok(text) => {
            let text = text.trim();
            let parsed = match text.strip_prefix("0x") {
                Some(hex) => u64::from_str_radix(hex, 16),
                None => text.parse(),
            };
            parsed.unwrap_or_else(|e| panic!("LINEAR_URING_SEED={text}: {e}"))
        }
        Err(_) => {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default();
            check::mix(now.as_nanos() as u64 ^ u64::from(std::process::id()))
        }
    }
}

fn summary(seed: u64, elapsed: Duration, t: &Tally, stats: &Stats, ledger: &Ledger) -> String {
    format!(
        "storm: seed {seed:#x}, {rounds} rounds in {secs:.1} s: {submitted} ops submitted \
         ({ops} with a random fate: {linked} with linked timeouts, {cancelled} cancelled, \
         {cancel_completed} completed before their cancel, races {races_won} won / \
         {races_lost} lost to the timer, {abandoned} abandoned, of which {connects} \
         connects); connections: {served} accepted and served, {lost} taken by \
         abandoned accepts and closed by the ring, {stale} left behind by cancelled or \
         abandoned connects, {drained} drained from listeners, {resets} reset by peers; \
         {pipes} pipes; bytes \
         checked: {read} read by the ring at their stream positions ({lost_bytes} more \
         taken by abandoned reads), {received} received by peers ({sure} from completed \
         sends); {buffers} buffers made and each dropped once; ring {stats:?}",
        rounds = t.rounds,
        secs = elapsed.as_secs_f64(),
        submitted = stats.submitted,
        ops = t.ops,
        linked = t.linked,
        cancelled = t.cancelled,
        cancel_completed = t.cancel_completed,
        races_won = t.races_won,
        races_lost = t.races_lost,
        abandoned = t.abandoned,
        connects = t.abandoned_connects,
        served = t.served,
        lost = t.lost_clients,
        stale = t.stale,
        drained = t.drained,
        resets = t.resets,
        pipes = t.pipes,
        read = t.bytes_read,
        lost_bytes = t.bytes_lost,
        received = t.bytes_received,
        sure = t.bytes_sure,
        buffers = ledger.created(),
    )
}

#[test]
fn storm_random_fates_lose_nothing_and_leak_nothing() {
    let seed = seed();
    eprintln!("storm: seed {seed:#x} (replay with LINEAR_URING_SEED={seed:#x})");
    let soak = std::env::var("LINEAR_URING_SOAK_SECS")
        .ok()
        .map(|secs| Duration::from_secs(secs.trim().parse().expect("LINEAR_URING_SOAK_SECS")));
    let fds = FdCheck::start();
    let fds_at_start = fds::count();
    let all_at_start = all_descriptors();
    let ring = Ring::builder()
        .drop_policy(DropPolicy::Reclaim)
        .build()
        .unwrap();
    let ledger = Ledger::new();
    let tally = Rc::new(RefCell::new(Tally::default()));
    let start = Instant::now();
    let mut last_report = start;
    let mut round_seed = seed;
    loop {
        round(&ring, round_seed, &ledger, &tally);
        tally.borrow_mut().rounds += 1;
        let open = fds::count();
        assert_eq!(
            open, fds_at_start,
            "round seed {round_seed:#x}: {fds_at_start} sockets/pipes open at start, {open} \
             after the round (replay with LINEAR_URING_SEED={round_seed:#x})"
        );
        round_seed = Rng::derive(round_seed, &[Label::Round as u64]).next_u64();
        let rounds = tally.borrow().rounds;
        let go_on = match soak {
            Some(duration) => start.elapsed() < duration,
            None => rounds < DEFAULT_ROUNDS,
        };
        if soak.is_some() && (last_report.elapsed() > Duration::from_secs(30) || !go_on) {
            last_report = Instant::now();
            let line = summary(
                seed,
                start.elapsed(),
                &tally.borrow(),
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
    drop(ring);
    let fds_at_end = fds::count();
    let all_at_end = all_descriptors();
    eprintln!(
        "{}",
        summary(seed, elapsed, &tally.borrow(), &stats, &ledger)
    );
    eprintln!(
        "storm: sockets and pipes open: {fds_at_start} at start, {fds_at_end} at end; \
         descriptors of any kind: {all_at_start} before the ring, {all_at_end} after it"
    );
    if let Err(msg) = ledger.audit() {
        panic!("after the ring's drop: {msg}");
    }
    fds.finish();
}
