//! TCP echo on loopback, 64-byte messages, 1 and 50 connections: a linear-uring server
//! against its floor here, a tokio current-thread server, both driven by the same
//! client, in one criterion group so the report reads as a ratio.
//!
//! - Server: a thread of its own, pinned to CPU 0, accepting the connections and
//!   running one echo task per connection (receive into a buffer, send it all back).
//!   linear-uring: one `Ring`, `recv(..).submit().complete()` then `send_all`;
//!   tokio: a current-thread runtime, `read` then `write_all`. `TCP_NODELAY` on every
//!   socket.
//! - Client: the benchmark thread, pinned to CPU 1, the same code for both servers:
//!   non-blocking `std` sockets and a level-triggered epoll set, polled without
//!   sleeping (`epoll_wait` with a zero timeout). Each connection has exactly one
//!   message in flight: as soon as its echo is back and checked, the next message
//!   goes out. With one connection that is ping-pong latency; with 50, the server
//!   always has up to 50 echoes waiting.
//!
//! Why this is fair on a 2-core machine: server and client have a core each, so the
//! client never steals the server's CPU; the client spins instead of sleeping, so its
//! own wake-up latency (large in a VM) is not added to the server's; and it is plain
//! system calls, no runtime that could favour either server. The loopback TCP stack
//! costs the same for both. One iteration is 100 round trips, counted over all
//! connections, with the pipeline kept full across iterations; throughput is in
//! elements, one element per round trip.
//!
//! After each benchmark it also prints the server thread's CPU time per round trip
//! (user and system, from its `CLOCK_THREAD_CPUTIME_ID`) and how busy the server was:
//! near 100% the server is the bottleneck; well below, the client or the loopback
//! is, and the two servers' wall-clock figures converge.
//!
//! A third server, `linear-uring-multishot`, is built on ops with many completions:
//! one multishot accept, and per connection one multishot receive over a provided
//! buffer ring, each filled buffer sent straight back.
//!
//! Run with `CARGO_TARGET_DIR=/tmp/target-bench cargo bench --bench echo`; the
//! results and the targets (single-shot: at least 1.0 of tokio with 50 connections;
//! multishot: at least 1.25) are in BENCHMARKS.md.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::thread::JoinHandleExt;
use std::sync::mpsc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use linear_uring::Ring;

const MESSAGE_LEN: usize = 64;
const CONNECTIONS: [usize; 2] = [1, 50];
/// Round trips per iteration, over all connections.
const ROUND_TRIPS: u64 = 100;
const SERVER_CPU: usize = 0;
const CLIENT_CPU: usize = 1;

/// A server: serves this many connections, after sending its address.
type Server = fn(usize, mpsc::Sender<SocketAddr>) -> io::Result<()>;

/// Pins the calling thread to `cpu`, if the machine has it; benchmarks still run
/// (unpinned) where it does not.
fn pin_to(cpu: usize) {
    let cpus = thread::available_parallelism().map_or(1, |n| n.get());
    if cpu >= cpus {
        return;
    }
    // SAFETY: `set` is a live, zero-initialised cpu_set_t (a plain bit array), and
    // sched_setaffinity(2) only reads the given size of it.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set);
    }
}

/// A server thread: binds, reports its address, serves `connections` connections
/// until the client closes them all.
fn start_server(
    connections: usize,
    serve: Server,
    pin: bool,
) -> (SocketAddr, JoinHandle<io::Result<()>>) {
    let (tx, rx) = mpsc::channel();
    let server = thread::spawn(move || {
        if pin {
            pin_to(SERVER_CPU);
        }
        serve(connections, tx)
    });
    let addr = rx.recv().expect("the server thread failed before binding");
    (addr, server)
}

/// The linear-uring echo of one connection: receive into a buffer, send it all back.
async fn linear_uring_echo(stream: linear_uring::net::TcpStream) -> io::Result<()> {
    stream.set_nodelay(true)?;
    let mut buf = Vec::with_capacity(4096);
    loop {
        // A recv appends after the buffer's bytes: clear it so that its
        // length is what this recv received.
        buf.clear();
        let (received, back) = stream.recv(buf).submit().complete().await;
        buf = back;
        if received? == 0 {
            break;
        }
        let (sent, back) = stream.send_all(buf).await;
        buf = back;
        sent?;
    }
    stream.close().await
}

fn linear_uring_server(connections: usize, addr_tx: mpsc::Sender<SocketAddr>) -> io::Result<()> {
    use linear_uring::net::TcpListener;

    let ring = Ring::new().map_err(io::Error::other)?;
    let listener = TcpListener::bind(&ring, "127.0.0.1:0")?;
    addr_tx.send(listener.local_addr()?).expect("client gone");
    ring.block_on(async {
        let mut handlers = Vec::with_capacity(connections);
        for _ in 0..connections {
            let (stream, _peer) = listener.accept().submit().complete().await?;
            handlers.push(ring.spawn(linear_uring_echo(stream)));
        }
        for handler in handlers {
            handler.await?;
        }
        listener.close().await
    })
}

/// The same echo on ops with many completions: one multishot accept for every
/// connection, and per connection one multishot receive over a provided buffer
/// ring shared by all, each buffer sent back as it is and returned to the ring when
/// dropped.
fn linear_uring_multishot_server(
    connections: usize,
    addr_tx: mpsc::Sender<SocketAddr>,
) -> io::Result<()> {
    use linear_uring::buf::BufRing;
    use linear_uring::net::{TcpListener, TcpStream};

    async fn echo(stream: TcpStream, group: BufRing) -> io::Result<()> {
        stream.set_nodelay(true)?;
        'rearm: loop {
            let mut received = stream.recv_multi(&group).submit();
            loop {
                match received.next().await {
                    Some(Ok(buf)) => {
                        let (sent, buf) = stream.send_all(buf).await;
                        drop(buf);
                        if let Err(err) = sent {
                            drop(received.cancel().await);
                            return Err(err);
                        }
                    }
                    // Out of buffers: receive again (the bytes wait in the socket).
                    Some(Err(err)) if err.raw_os_error() == Some(libc::ENOBUFS) => continue 'rearm,
                    Some(Err(err)) => return Err(err),
                    None => break 'rearm,
                }
            }
        }
        stream.close().await
    }

    let ring = Ring::new().map_err(io::Error::other)?;
    let listener = TcpListener::bind(&ring, "127.0.0.1:0")?;
    let group = BufRing::new(&ring, 256, 4096)?;
    addr_tx.send(listener.local_addr()?).expect("client gone");
    ring.block_on(async {
        let mut handlers = Vec::with_capacity(connections);
        let mut incoming = listener.incoming().submit();
        while handlers.len() < connections {
            let Some(stream) = incoming.next().await else {
                break;
            };
            handlers.push(ring.spawn(echo(stream?, group.clone())));
        }
        let drained = incoming.cancel().await;
        drained.end?;
        for handler in handlers {
            handler.await?;
        }
        listener.close().await
    })
}

/// The tokio echo of one connection: read into a buffer, write it all back.
async fn tokio_echo(mut stream: tokio::net::TcpStream) -> io::Result<()> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    stream.set_nodelay(true)?;
    let mut buf = vec![0; 4096];
    loop {
        let received = stream.read(&mut buf).await?;
        if received == 0 {
            return Ok(());
        }
        stream.write_all(&buf[..received]).await?;
    }
}

/// The tokio server on `runtime` (current-thread or multi-thread): one listener,
/// one echo task per connection.
fn tokio_serve(
    runtime: tokio::runtime::Runtime,
    connections: usize,
    addr_tx: mpsc::Sender<SocketAddr>,
) -> io::Result<()> {
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        addr_tx.send(listener.local_addr()?).expect("client gone");
        let mut handlers = Vec::with_capacity(connections);
        for _ in 0..connections {
            let (stream, _peer) = listener.accept().await?;
            handlers.push(tokio::spawn(tokio_echo(stream)));
        }
        for handler in handlers {
            handler.await??;
        }
        Ok(())
    })
}

fn tokio_server(connections: usize, addr_tx: mpsc::Sender<SocketAddr>) -> io::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()?;
    tokio_serve(runtime, connections, addr_tx)
}

/// The thread-per-core server: a `Runtime` of `threads` rings, each with its own
/// `SO_REUSEPORT` listener, accepting (raced against its mailbox) and echoing. The
/// echo task that sees the last connection close tells every thread to stop, by a
/// message to its mailbox.
fn linear_uring_runtime_server(
    threads: usize,
    connections: usize,
    addr_tx: mpsc::Sender<SocketAddr>,
) -> io::Result<()> {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    use linear_uring::runtime::{Runtime, Worker};
    use linear_uring::{race, CancelOutcome, Raced};

    let runtime = Runtime::builder()
        .threads(threads)
        .listen("127.0.0.1:0".parse().expect("an address"))
        .build()?;
    addr_tx
        .send(runtime.local_addr().expect("listening"))
        .expect("client gone");
    let closed = Arc::new(AtomicUsize::new(0));
    let served = runtime.run(|worker: Worker<()>| {
        let closed = closed.clone();
        async move {
            let ring = worker.ring().clone();
            let listener = worker.take_listener().expect("a listener per thread");
            let serve = |stream| {
                let (closed, peers) = (closed.clone(), worker.peers().to_vec());
                let ring = ring.clone();
                ring.clone().spawn(async move {
                    let echoed = linear_uring_echo(stream).await;
                    if closed.fetch_add(1, Ordering::SeqCst) + 1 == connections {
                        for peer in &peers {
                            let stop = peer.send(&ring, ()).complete().await;
                            stop.map_err(|undelivered| undelivered.into_parts().0)?;
                        }
                    }
                    echoed
                })
            };
            let mut handlers = Vec::new();
            let mut accept = listener.accept().submit();
            loop {
                match race(accept, worker.recv()).await {
                    Raced::First(accepted, _stop) => {
                        handlers.push(serve(accepted?.0));
                        accept = listener.accept().submit();
                    }
                    Raced::Second(pending, ()) => {
                        if let CancelOutcome::Completed(accepted) = pending.cancel().await {
                            handlers.push(serve(accepted?.0));
                        }
                        break;
                    }
                }
            }
            for handler in handlers {
                handler.await?;
            }
            listener.close().await
        }
    })?;
    served.into_iter().collect()
}

fn linear_uring_runtime_1(connections: usize, addr_tx: mpsc::Sender<SocketAddr>) -> io::Result<()> {
    linear_uring_runtime_server(1, connections, addr_tx)
}

fn linear_uring_runtime_2(connections: usize, addr_tx: mpsc::Sender<SocketAddr>) -> io::Result<()> {
    linear_uring_runtime_server(2, connections, addr_tx)
}

/// The peer: tokio's multi-thread runtime with `threads` workers and one listener.
fn tokio_multi_thread_server(
    threads: usize,
    connections: usize,
    addr_tx: mpsc::Sender<SocketAddr>,
) -> io::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .enable_io()
        .build()?;
    tokio_serve(runtime, connections, addr_tx)
}

fn tokio_multi_thread_1(connections: usize, addr_tx: mpsc::Sender<SocketAddr>) -> io::Result<()> {
    tokio_multi_thread_server(1, connections, addr_tx)
}

fn tokio_multi_thread_2(connections: usize, addr_tx: mpsc::Sender<SocketAddr>) -> io::Result<()> {
    tokio_multi_thread_server(2, connections, addr_tx)
}

/// One client connection: its message, and how much of the echo is back.
struct Conn {
    stream: TcpStream,
    message: [u8; MESSAGE_LEN],
    reply: [u8; MESSAGE_LEN],
    received: usize,
    in_flight: bool,
}

impl Conn {
    fn send(&mut self) {
        let mut sent = 0;
        while sent < MESSAGE_LEN {
            match self.stream.write(&self.message[sent..]) {
                Ok(0) => panic!("the server closed the connection"),
                Ok(n) => sent += n,
                Err(e) if retry(&e) => std::hint::spin_loop(),
                Err(e) => panic!("send: {e}"),
            }
        }
        self.in_flight = true;
    }

    /// Reads what has arrived; true when the whole echo is back (and checked).
    fn receive(&mut self) -> bool {
        loop {
            match self.stream.read(&mut self.reply[self.received..]) {
                Ok(0) => panic!("the server closed the connection"),
                Ok(n) => self.received += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => panic!("receive the echo: {e}"),
            }
            break;
        }
        if self.received < MESSAGE_LEN {
            return false;
        }
        assert_eq!(
            self.reply, self.message,
            "the echo differs from the message"
        );
        self.received = 0;
        self.in_flight = false;
        true
    }
}

/// Whether a non-blocking socket call should simply be tried again.
fn retry(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
    )
}

/// The client: non-blocking sockets in an epoll set, one message in flight on each.
struct Client {
    epoll: OwnedFd,
    conns: Vec<Conn>,
    events: Vec<libc::epoll_event>,
    round_trips: u64,
    /// `epoll_wait`'s timeout: 0 spins (the client has a core of its own), -1
    /// sleeps (it shares the cores with the servers' threads).
    wait_ms: libc::c_int,
}

impl Client {
    fn connect(addr: SocketAddr, connections: usize, wait_ms: libc::c_int) -> Client {
        // SAFETY: epoll_create1(2) takes no pointer; a non-negative result is a new
        // descriptor that nothing else owns.
        let epoll = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
        assert!(epoll >= 0, "epoll_create1: {}", io::Error::last_os_error());
        // SAFETY: `epoll` was just created and is owned by no one else.
        let epoll = unsafe { OwnedFd::from_raw_fd(epoll) };
        let conns = (0..connections)
            .map(|id| {
                let stream = TcpStream::connect(addr).expect("connect");
                stream.set_nodelay(true).expect("TCP_NODELAY");
                stream.set_nonblocking(true).expect("O_NONBLOCK");
                let mut event = libc::epoll_event {
                    events: libc::EPOLLIN as u32,
                    u64: id as u64,
                };
                // SAFETY: both descriptors are open, and `event` is a live
                // epoll_event that the call only reads.
                let rc = unsafe {
                    libc::epoll_ctl(
                        epoll.as_raw_fd(),
                        libc::EPOLL_CTL_ADD,
                        stream.as_raw_fd(),
                        &mut event,
                    )
                };
                assert!(rc == 0, "epoll_ctl: {}", io::Error::last_os_error());
                // A different message per connection, so that a crossed echo is caught.
                Conn {
                    stream,
                    message: std::array::from_fn(|i| (id * 7 + i) as u8),
                    reply: [0; MESSAGE_LEN],
                    received: 0,
                    in_flight: false,
                }
            })
            .collect();
        Client {
            epoll,
            conns,
            events: vec![libc::epoll_event { events: 0, u64: 0 }; connections],
            round_trips: 0,
            wait_ms,
        }
    }

    /// Runs until `round_trips` more echoes are back, sending the next message on a
    /// connection as soon as its echo is back. A connection with nothing in flight
    /// (at the start) is sent a message first.
    fn run(&mut self, round_trips: u64) {
        for conn in &mut self.conns {
            if !conn.in_flight {
                conn.send();
            }
        }
        let mut done = 0;
        while done < round_trips {
            for ready in 0..self.poll() {
                let conn = &mut self.conns[self.events[ready].u64 as usize];
                if conn.receive() {
                    done += 1;
                    conn.send();
                    if done == round_trips {
                        // The rest stay ready (level-triggered) for the next call.
                        break;
                    }
                }
            }
        }
        self.round_trips += done;
    }

    /// Waits for every echo still in flight, so that closing loses nothing.
    fn drain(&mut self) {
        while self.conns.iter().any(|conn| conn.in_flight) {
            for ready in 0..self.poll() {
                self.conns[self.events[ready].u64 as usize].receive();
            }
        }
    }

    /// How many connections have data to read (their indexes are at the start of
    /// `events`), polled without sleeping.
    fn poll(&mut self) -> usize {
        // SAFETY: `events` is a live buffer of `events.len()` epoll_events, which is
        // what the call may write.
        let n = unsafe {
            libc::epoll_wait(
                self.epoll.as_raw_fd(),
                self.events.as_mut_ptr(),
                self.events.len() as libc::c_int,
                self.wait_ms,
            )
        };
        if n < 0 {
            let err = io::Error::last_os_error();
            assert_eq!(err.kind(), io::ErrorKind::Interrupted, "epoll_wait: {err}");
            return 0;
        }
        n as usize
    }
}

/// CPU time (user and system) a thread has used so far.
fn thread_cpu_time<T>(thread: &JoinHandle<T>) -> Duration {
    let mut clock: libc::clockid_t = 0;
    // SAFETY: the thread is joinable (not yet joined), so its pthread_t is valid, and
    // `clock` is a live clockid_t for the call to fill in.
    let rc = unsafe { libc::pthread_getcpuclockid(thread.as_pthread_t(), &mut clock) };
    assert_eq!(rc, 0, "pthread_getcpuclockid: {rc}");
    clock_time(clock)
}

/// The time `clock` reads now.
fn clock_time(clock: libc::clockid_t) -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a live timespec for the call to fill in.
    let rc = unsafe { libc::clock_gettime(clock, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime: {}", io::Error::last_os_error());
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

fn echo(c: &mut Criterion) {
    pin_to(CLIENT_CPU);
    let mut group = c.benchmark_group("echo");
    group
        .sample_size(30)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4))
        .throughput(Throughput::Elements(ROUND_TRIPS));
    let servers: [(&str, Server); 3] = [
        ("tokio-current-thread", tokio_server),
        ("linear-uring", linear_uring_server),
        ("linear-uring-multishot", linear_uring_multishot_server),
    ];
    for connections in CONNECTIONS {
        for (name, serve) in servers {
            let (addr, server) = start_server(connections, serve, true);
            let mut client = Client::connect(addr, connections, 0);
            let (mut wall, mut server_cpu) = (Duration::ZERO, Duration::ZERO);
            group.bench_function(BenchmarkId::new(name, connections), |b| {
                b.iter_custom(|iters| {
                    let cpu_before = thread_cpu_time(&server);
                    let start = Instant::now();
                    client.run(iters * ROUND_TRIPS);
                    let elapsed = start.elapsed();
                    wall += elapsed;
                    server_cpu += thread_cpu_time(&server) - cpu_before;
                    elapsed
                })
            });
            // A benchmark a filter left out made no round trip: nothing to say.
            if client.round_trips > 0 {
                eprintln!(
                    "echo/{name}/{connections}: server thread CPU {:.2} us per round trip, \
                     busy {:.0}% of the measured time ({} round trips)",
                    server_cpu.as_secs_f64() * 1e6 / client.round_trips as f64,
                    100.0 * server_cpu.as_secs_f64() / wall.as_secs_f64(),
                    client.round_trips,
                );
            }
            // Closing every connection ends the server.
            client.drain();
            drop(client);
            server
                .join()
                .expect("the server panicked")
                .expect("the server failed");
        }
    }
    group.finish();
}

/// CPU time (user and system) of the whole process so far.
fn process_cpu_time() -> Duration {
    clock_time(libc::CLOCK_PROCESS_CPUTIME_ID)
}

/// CPU time (user and system) of the calling thread so far.
fn own_cpu_time() -> Duration {
    clock_time(libc::CLOCK_THREAD_CPUTIME_ID)
}

/// The servers on every core: 1 and 2 threads, 50 connections, nothing pinned, the
/// client sleeping in `epoll_wait` (it shares the two cores with the servers'
/// threads). The server CPU is the process's minus the client thread's.
fn echo_threads(c: &mut Criterion) {
    // Undo the pinning of the group above: the scheduler places every thread here.
    // SAFETY: `set` is a live cpu_set_t that CPU_SET fills in (each `cpu` is below
    // CPU_SETSIZE) and sched_setaffinity(2) only reads.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        let cpus = thread::available_parallelism().map_or(1, |n| n.get());
        for cpu in 0..cpus.min(libc::CPU_SETSIZE as usize) {
            libc::CPU_SET(cpu, &mut set);
        }
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set);
    }
    let mut group = c.benchmark_group("echo_threads");
    group
        .sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4))
        .throughput(Throughput::Elements(ROUND_TRIPS));
    const CONNECTIONS: usize = 50;
    let servers: [(&str, usize, Server); 4] = [
        ("tokio-multi-thread", 1, tokio_multi_thread_1),
        ("linear-uring-runtime", 1, linear_uring_runtime_1),
        ("tokio-multi-thread", 2, tokio_multi_thread_2),
        ("linear-uring-runtime", 2, linear_uring_runtime_2),
    ];
    for (name, threads, serve) in servers {
        let (addr, server) = start_server(CONNECTIONS, serve, false);
        let mut client = Client::connect(addr, CONNECTIONS, -1);
        let (mut wall, mut server_cpu) = (Duration::ZERO, Duration::ZERO);
        group.bench_function(BenchmarkId::new(name, threads), |b| {
            b.iter_custom(|iters| {
                let before = process_cpu_time() - own_cpu_time();
                let start = Instant::now();
                client.run(iters * ROUND_TRIPS);
                let elapsed = start.elapsed();
                wall += elapsed;
                server_cpu += process_cpu_time() - own_cpu_time() - before;
                elapsed
            })
        });
        if client.round_trips > 0 {
            eprintln!(
                "echo_threads/{name}/{threads}: server CPU {:.2} us per round trip ({} round \
                 trips, {:.0} k/s)",
                server_cpu.as_secs_f64() * 1e6 / client.round_trips as f64,
                client.round_trips,
                client.round_trips as f64 / wall.as_secs_f64() / 1e3,
            );
        }
        client.drain();
        drop(client);
        server
            .join()
            .expect("the server panicked")
            .expect("the server failed");
    }
    group.finish();
}

criterion_group!(benches, echo, echo_threads);
criterion_main!(benches);
