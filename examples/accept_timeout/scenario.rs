//! The accept-with-timeout scenario, shared by the example and its integration test.
//!
//! A server loop waits for connections with a short deadline and does side work
//! whenever the deadline passes, while a client thread makes connections timed to
//! arrive around those deadlines. Each client sends one byte and waits for a
//! one-byte reply; a client that gets no reply was lost.

use std::fmt;
use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use futures_lite::future;
use linear_uring::net::{TcpListener, TcpStream};
use linear_uring::{race, DropPolicy, JoinHandle, Raced, Ring};

/// How the server waits for a connection with a deadline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Strategy {
    /// `select` between the accept and a timer; the loser is dropped. Under
    /// `DropPolicy::Reclaim`: I/O-safe, not halt-safe.
    NaiveSelect,
    /// The same under `DropPolicy::Panic`: stops at the first lost race.
    NaiveSelectPanic,
    /// `race(accept, timer)`: the accept stays in flight across deadlines.
    Race,
    /// An accept with a kernel linked timeout, submitted again after each timeout.
    LinkedTimeout,
}

impl Strategy {
    pub(crate) const ALL: [Strategy; 4] = [
        Strategy::NaiveSelect,
        Strategy::NaiveSelectPanic,
        Strategy::Race,
        Strategy::LinkedTimeout,
    ];

    pub(crate) fn name(self) -> &'static str {
        match self {
            Strategy::NaiveSelect => "naive-select",
            Strategy::NaiveSelectPanic => "naive-select-panic",
            Strategy::Race => "race",
            Strategy::LinkedTimeout => "linked-timeout",
        }
    }

    pub(crate) fn from_name(name: &str) -> Option<Strategy> {
        Strategy::ALL.into_iter().find(|s| s.name() == name)
    }
}

/// What one run measured.
#[derive(Debug, Clone)]
pub(crate) struct Report {
    pub(crate) strategy: Strategy,
    pub(crate) attempted: usize,
    pub(crate) served: usize,
    pub(crate) lost: usize,
    pub(crate) leaked_fds: isize,
    /// The drop policy's message, if the server panicked.
    pub(crate) panic: Option<String>,
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "strategy={} attempted={} served={} lost={} leaked_fds={} panicked={}",
            self.strategy.name(),
            self.attempted,
            self.served,
            self.lost,
            self.leaked_fds,
            if self.panic.is_some() { "yes" } else { "no" }
        )
    }
}

/// Sockets open in this process.
pub(crate) fn open_sockets() -> isize {
    std::fs::read_dir("/proc/self/fd")
        .map(|dir| {
            dir.filter_map(|entry| std::fs::read_link(entry.ok()?.path()).ok())
                .filter(|target| target.to_string_lossy().starts_with("socket:"))
                .count() as isize
        })
        .unwrap_or(-1)
}

/// Runs the scenario once with `connections` clients and a server deadline of
/// `deadline`.
pub(crate) fn run(
    strategy: Strategy,
    connections: usize,
    deadline: Duration,
) -> io::Result<Report> {
    let sockets_before = open_sockets();
    let policy = match strategy {
        Strategy::NaiveSelect => DropPolicy::Reclaim,
        // The halt-safe strategies run under `Panic` too: they never abandon an op.
        _ => DropPolicy::Panic,
    };
    let ring = Ring::builder().drop_policy(policy).build()?;
    let listener = TcpListener::bind(&ring, "127.0.0.1:0")?;
    let addr = listener.local_addr()?;

    let client_done = Arc::new(AtomicBool::new(false));
    let stop = Arc::new(AtomicBool::new(false));
    // The server's deadlines fall on `epoch + k * deadline`; the clients aim at the
    // same instants.
    let epoch = Instant::now() + Duration::from_millis(20);
    let client = {
        let (done, stop) = (client_done.clone(), stop.clone());
        thread::spawn(move || clients(addr, connections, epoch, deadline, &done, &stop))
    };

    let served = AssertUnwindSafe(&ring);
    let result = panic::catch_unwind(AssertUnwindSafe(|| {
        let ticks = Ticker {
            epoch,
            period: deadline,
            next: 1,
        };
        served.block_on(server(&served, &listener, strategy, ticks, &client_done))
    }));
    let panic = match result {
        Ok(outcome) => {
            outcome?;
            None
        }
        Err(payload) => {
            stop.store(true, Ordering::SeqCst);
            Some(panic_message(payload))
        }
    };
    // Closing the listener and the ring refuses or resets whatever is still queued.
    drop(listener);
    drop(ring);
    let (attempted, served) = client.join().expect("client thread");
    Ok(Report {
        strategy,
        attempted,
        served,
        lost: attempted - served,
        leaked_fds: open_sockets() - sockets_before,
        panic,
    })
}

fn panic_message(payload: Box<dyn std::any::Any + Send>) -> String {
    match payload.downcast::<String>() {
        Ok(msg) => *msg,
        Err(payload) => payload
            .downcast_ref::<&str>()
            .map_or_else(|| "(no message)".to_owned(), |s| (*s).to_owned()),
    }
}

/// Periodic deadlines at `epoch + k * period`, like an interval timer: a deadline
/// missed while the server was busy is due at once.
struct Ticker {
    epoch: Instant,
    period: Duration,
    next: u32,
}

impl Ticker {
    /// Time left until the next deadline (zero if it has passed).
    fn until_next(&self) -> Duration {
        (self.epoch + self.period * self.next).saturating_duration_since(Instant::now())
    }

    /// The deadline passed and its side work was done.
    fn tick(&mut self) {
        self.next += 1;
    }
}

/// The server loop. Returns once the client has made all its connections and the
/// accept queue is empty.
async fn server(
    ring: &Ring,
    listener: &TcpListener,
    strategy: Strategy,
    mut ticks: Ticker,
    client_done: &AtomicBool,
) -> io::Result<()> {
    let mut handlers = Vec::new();
    let mut side_work = 0u64;
    match strategy {
        Strategy::NaiveSelect | Strategy::NaiveSelectPanic => loop {
            // The bug this crate exists to catch: when the timer wins, the accept
            // future is dropped, and a connection the kernel accepted meanwhile is
            // lost (closed by the ring under Reclaim; a panic naming this line under
            // Panic). `future::race` polls its two sides in random order, as
            // `select!` does, so when both are ready the timer wins half the time.
            let accept = async { Some(listener.accept().submit().complete().await) };
            let timer = async {
                ring.sleep(ticks.until_next()).await.ok();
                None
            };
            match future::race(accept, timer).await {
                Some(accepted) => handlers.push(serve(ring, accepted?.0)),
                None => {
                    side_work += 1;
                    ticks.tick();
                    if client_done.load(Ordering::SeqCst) {
                        break;
                    }
                }
            }
        },
        Strategy::Race => {
            let mut accept = listener.accept().submit();
            loop {
                match race(accept, ring.sleep(ticks.until_next())).await {
                    Raced::First(accepted, _timer) => {
                        handlers.push(serve(ring, accepted?.0));
                        accept = listener.accept().submit();
                    }
                    Raced::Second(pending, _) => {
                        side_work += 1;
                        ticks.tick();
                        if client_done.load(Ordering::SeqCst) {
                            // Still owed: a cancel that loses to the kernel hands the
                            // connection over instead of dropping it.
                            if let Some(accepted) = pending.cancel().await.completed() {
                                handlers.push(serve(ring, accepted?.0));
                            }
                            break;
                        }
                        accept = pending;
                    }
                }
            }
        }
        Strategy::LinkedTimeout => loop {
            let timeout = ticks.until_next();
            match listener.accept().timeout(timeout).submit().complete().await {
                Ok((stream, _)) => handlers.push(serve(ring, stream)),
                Err(e) if e.kind() == io::ErrorKind::TimedOut => {
                    side_work += 1;
                    ticks.tick();
                    if client_done.load(Ordering::SeqCst) {
                        break;
                    }
                }
                Err(e) => return Err(e),
            }
        },
    }
    // The client has made every connection. One may still wait in the listen queue
    // if it arrived just as the loop saw the client finish: take what is left, the
    // same way for every strategy, so that only connections a strategy dropped count
    // as lost.
    loop {
        let drain = listener.accept().timeout(Duration::from_millis(20));
        match drain.submit().complete().await {
            Ok((stream, _)) => handlers.push(serve(ring, stream)),
            Err(e) if e.kind() == io::ErrorKind::TimedOut => break,
            Err(e) => return Err(e),
        }
    }
    for handler in handlers {
        // A client that gave up may have reset its connection: that is its loss,
        // counted on its side.
        let _ = handler.await;
    }
    std::hint::black_box(side_work);
    Ok(())
}

/// Serves one connection: read one byte, answer one byte.
fn serve(ring: &Ring, stream: TcpStream) -> JoinHandle<io::Result<()>> {
    ring.spawn(async move {
        let (n, _) = stream.recv(Vec::with_capacity(1)).submit().complete().await;
        if n? == 1 {
            let (sent, _) = stream.send(&b"!"[..]).submit().complete().await;
            sent?;
        }
        stream.close().await
    })
}

/// The client thread: `connections` connections, one per server deadline, each
/// aimed within a fifth of a period of that deadline, then a wait of up to a second
/// for every reply. Returns (attempted, served).
fn clients(
    addr: SocketAddr,
    connections: usize,
    epoch: Instant,
    deadline: Duration,
    done: &AtomicBool,
    stop: &AtomicBool,
) -> (usize, usize) {
    let mut streams = Vec::with_capacity(connections);
    let mut rng = 0x2545_f491_4f6c_dd1d_u64;
    let mut attempted = 0;
    for k in 0..connections {
        if stop.load(Ordering::SeqCst) {
            break;
        }
        // Land on either side of deadline k+1, within a fifth of a period.
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        let offset = deadline.mul_f64((rng % 1000) as f64 / 1000.0 * 0.4);
        let target = epoch + deadline * (k as u32 + 1) + offset;
        let target = target.checked_sub(deadline / 5).unwrap_or(target);
        thread::sleep(target.saturating_duration_since(Instant::now()));
        attempted += 1;
        if let Ok(mut stream) = std::net::TcpStream::connect(addr) {
            if stream.write_all(b"?").is_ok() {
                streams.push(stream);
            }
        }
    }
    done.store(true, Ordering::SeqCst);
    let give_up = Instant::now() + Duration::from_secs(1);
    let mut served = 0;
    for mut stream in streams {
        let left = give_up.saturating_duration_since(Instant::now());
        let _ = stream.set_read_timeout(Some(left.max(Duration::from_millis(1))));
        let mut reply = [0u8; 1];
        if matches!(stream.read(&mut reply), Ok(1)) {
            served += 1;
        }
    }
    (attempted, served)
}
