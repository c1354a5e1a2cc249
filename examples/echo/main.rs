//! An echo server and its clients in one process, on one ring, over loopback.
//!
//! It shows a server written with linear tokens from start to finish: an accept
//! loop that spawns one echo task per connection, clients that connect, send and
//! check the echo, and a clean stop: the accept loop keeps its accept in flight
//! across timer ticks with `race` (no connection can be lost to the timer), and when
//! told to stop it cancels that accept with `.cancel().await`, serving a client that
//! was accepted just before the cancel instead of dropping it. Every op is completed
//! or cancelled; the ring uses `DropPolicy::Panic`, so a forgotten one would stop the
//! program, naming its line.
//!
//! With `--mode multishot` the server is built on ops with many completions: one
//! multishot accept (`listener.incoming()`) yields every connection, and each
//! connection's echo task runs one multishot receive over a shared provided buffer
//! ring, sending each buffer the kernel filled straight back; a buffer returns to
//! the ring when the send hands it back and it is dropped. When the ring runs out of
//! buffers (`ENOBUFS`) the receive ends and the task re-arms it.
//!
//! With `--threads N` (N > 1) the server runs on a thread-per-core
//! `linear_uring::runtime::Runtime`: N threads, each with its own ring and its own
//! `SO_REUSEPORT` listener, the clients on a thread of their own; each server thread
//! is told to stop by a message in its mailbox (`IORING_OP_MSG_RING`), raced
//! against its accept. With `--hand-off` as well, thread 0 alone accepts and hands
//! the connections round-robin to the other threads through their mailboxes, as
//! descriptors.
//!
//! Run it with `cargo run --release --example echo -- --connections 100`, optionally
//! with `--messages M` (messages per connection, default 10), `--mode multishot`
//! (default `single`), `--threads N` (default 1) and `--hand-off`. It prints one
//! summary line and exits non-zero if any echo differs from what was sent.

mod threads;

use std::cell::Cell;
use std::io;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::rc::Rc;
use std::time::{Duration, Instant};

use linear_uring::buf::BufRing;
use linear_uring::net::{TcpListener, TcpStream};
use linear_uring::{race, CancelOutcome, DropPolicy, Raced, Ring};

/// Bytes per message.
pub(crate) const MESSAGE_LEN: usize = 1024;
/// How often the accept loop looks at its stop flag.
const TICK: Duration = Duration::from_millis(5);

/// How the server takes connections and bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// One accept per connection, one receive per message, into the task's buffer.
    Single,
    /// One multishot accept, one multishot receive per connection over a buffer ring.
    Multishot,
}

/// Buffers in the multishot server's ring, shared by every connection.
pub(crate) const RING_BUFFERS: u16 = 256;

/// The command line.
#[derive(Debug, Clone, Copy)]
struct Args {
    connections: usize,
    messages: usize,
    mode: Mode,
    threads: usize,
    hand_off: bool,
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(args) => args,
        Err(msg) => {
            eprintln!(
                "{msg}\nusage: echo [--connections N] [--messages M] [--mode single|multishot] \
                 [--threads N] [--hand-off]"
            );
            return ExitCode::from(2);
        }
    };
    let outcome = if args.threads > 1 {
        threads::run(args)
    } else {
        run(args.connections, args.messages, args.mode)
    };
    match outcome {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(err) => {
            eprintln!("echo: {err}");
            ExitCode::FAILURE
        }
    }
}

/// `--connections N` (default 10), `--messages M` (default 10), `--mode single` or
/// `--mode multishot` (default single), `--threads N` (default 1), `--hand-off`.
fn parse_args() -> Result<Args, String> {
    let mut parsed = Args {
        connections: 10,
        messages: 10,
        mode: Mode::Single,
        threads: 1,
        hand_off: false,
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        if flag == "--hand-off" {
            parsed.hand_off = true;
            continue;
        }
        let value = args.next().ok_or(format!("{flag} needs a value"))?;
        if flag == "--mode" {
            parsed.mode = match value.as_str() {
                "single" => Mode::Single,
                "multishot" => Mode::Multishot,
                other => return Err(format!("--mode: single or multishot, not {other}")),
            };
            continue;
        }
        let n = value
            .parse()
            .map_err(|_| format!("{flag}: not a number: {value}"))?;
        match flag.as_str() {
            "--connections" => parsed.connections = n,
            "--messages" => parsed.messages = n,
            "--threads" => parsed.threads = n.max(1),
            _ => return Err(format!("unknown argument: {flag}")),
        }
    }
    if parsed.hand_off && parsed.threads < 2 {
        return Err("--hand-off needs --threads 2 or more".to_owned());
    }
    Ok(parsed)
}

/// Runs the server and the clients; `Ok(false)` if any echo was wrong.
fn run(
    connections: usize,
    messages: usize,
    mode: Mode,
) -> Result<bool, Box<dyn std::error::Error>> {
    let ring = Ring::builder().drop_policy(DropPolicy::Panic).build()?;
    // The library's listeners use a backlog of 4096: every client below connects
    // in one submission, before the first accept runs.
    let listener = TcpListener::bind(&ring, "127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    let stop = Rc::new(Cell::new(false));
    let start = Instant::now();

    let (failures, served, echoed) = ring.block_on(async {
        let server = match mode {
            Mode::Single => ring.spawn(accept_loop(ring.clone(), listener, stop.clone())),
            Mode::Multishot => {
                let group = BufRing::new(&ring, RING_BUFFERS, MESSAGE_LEN)?;
                ring.spawn(incoming_loop(ring.clone(), listener, group, stop.clone()))
            }
        };
        let clients: Vec<_> = (0..connections)
            .map(|id| ring.spawn(client(ring.clone(), addr, id, messages)))
            .collect();
        let mut failures = 0;
        for handle in clients {
            if let Err(err) = handle.await {
                eprintln!("echo: {err}");
                failures += 1;
            }
        }
        // Every client is done: the server stops at its next tick.
        stop.set(true);
        let (served, echoed) = server.await?;
        io::Result::Ok((failures, served, echoed))
    })?;

    let elapsed = start.elapsed();
    let stats = ring.stats();
    println!(
        "echo ({mode:?}): {connections} connections, {messages} messages of {MESSAGE_LEN} \
         bytes each, {served} served, {echoed} bytes echoed in {elapsed:.1?}, {failures} \
         failures; {stats:?}"
    );
    Ok(failures == 0 && served == connections && stats.in_flight == 0)
}

/// Accepts connections until `stop` is set, one echo task each. Resolves to the
/// number of connections served and the bytes echoed.
async fn accept_loop(
    ring: Ring,
    listener: TcpListener,
    stop: Rc<Cell<bool>>,
) -> io::Result<(usize, u64)> {
    let mut handlers = Vec::new();
    let mut accept = listener.accept().submit();
    let mut tick = ring.sleep(TICK);
    loop {
        // Whichever finishes first; the other stays in flight and is raced again.
        match race(accept, tick).await {
            Raced::First(accepted, pending_tick) => {
                let (stream, _peer) = accepted?;
                handlers.push(ring.spawn(echo(stream)));
                accept = listener.accept().submit();
                tick = pending_tick;
            }
            Raced::Second(pending_accept, fired) => {
                fired?;
                accept = pending_accept;
                if stop.get() {
                    break;
                }
                tick = ring.sleep(TICK);
            }
        }
    }
    // The accept is still in the kernel. Cancel it and look at what really happened:
    // a client that arrived just before the cancel is served, not dropped.
    match accept.cancel().await {
        CancelOutcome::Cancelled(()) => {}
        CancelOutcome::Completed(accepted) => {
            let (stream, _peer) = accepted?;
            handlers.push(ring.spawn(echo(stream)));
        }
    }
    let served = handlers.len();
    let mut echoed = 0;
    for handler in handlers {
        echoed += handler.await?;
    }
    listener.close().await?;
    Ok((served, echoed))
}

/// The multishot server: one multishot accept serves every connection until `stop`
/// is set; each connection's task echoes with a multishot receive over `group`.
async fn incoming_loop(
    ring: Ring,
    listener: TcpListener,
    group: BufRing,
    stop: Rc<Cell<bool>>,
) -> io::Result<(usize, u64)> {
    let mut handlers = Vec::new();
    let mut incoming = listener.incoming().submit();
    loop {
        // The stream is raced by reference: when the tick wins it is still armed.
        match race(&mut incoming, ring.sleep(TICK)).await {
            Raced::First(Some(accepted), _tick) => {
                handlers.push(ring.spawn(echo_multishot(accepted?, group.clone())));
            }
            Raced::First(None, _) => break,
            Raced::Second(_, fired) => {
                fired?;
                if stop.get() {
                    break;
                }
            }
        }
    }
    // Stop accepting: every connection accepted meanwhile comes back and is served.
    let drained = incoming.cancel().await;
    for stream in drained.items {
        handlers.push(ring.spawn(echo_multishot(stream, group.clone())));
    }
    drained.end?;
    let served = handlers.len();
    let mut echoed = 0;
    for handler in handlers {
        echoed += handler.await?;
    }
    listener.close().await?;
    Ok((served, echoed))
}

/// Echoes with a multishot receive: each item is a buffer of the ring holding what
/// arrived, sent back as it is and returned to the ring when dropped.
pub(crate) async fn echo_multishot(stream: TcpStream, group: BufRing) -> io::Result<u64> {
    stream.set_nodelay(true)?;
    let mut echoed = 0;
    'rearm: loop {
        let mut received = stream.recv_multi(&group).submit();
        loop {
            match received.next().await {
                Some(Ok(buf)) => {
                    let (sent, buf) = stream.send_all(buf).await;
                    echoed += buf.len() as u64;
                    drop(buf); // back to the ring
                    if let Err(err) = sent {
                        // Stop receiving, and let go of what arrived meanwhile.
                        drop(received.cancel().await);
                        return Err(err);
                    }
                }
                // Every buffer of the ring is out: this receive has ended. Receive
                // again; the bytes that found no buffer are still in the socket.
                Some(Err(err)) if err.raw_os_error() == Some(libc::ENOBUFS) => continue 'rearm,
                Some(Err(err)) => return Err(err),
                None => break 'rearm,
            }
        }
    }
    stream.close().await?;
    Ok(echoed)
}

/// Echoes everything it receives until the client closes; resolves to the byte count.
pub(crate) async fn echo(stream: TcpStream) -> io::Result<u64> {
    stream.set_nodelay(true)?;
    let mut buf = Vec::with_capacity(16 * 1024);
    let mut echoed = 0;
    loop {
        // A recv appends after the buffer's bytes: clear it so that its length is
        // what this recv received.
        buf.clear();
        let (received, back) = stream.recv(buf).submit().complete().await;
        buf = back;
        if received? == 0 {
            break;
        }
        let (sent, back) = stream.send_all(buf).await;
        buf = back;
        sent?;
        echoed += buf.len() as u64;
    }
    stream.close().await?;
    Ok(echoed)
}

/// Connects, then sends `messages` messages one at a time, checking each echo.
pub(crate) async fn client(
    ring: Ring,
    addr: SocketAddr,
    id: usize,
    messages: usize,
) -> io::Result<()> {
    let stream = TcpStream::connect(&ring, addr)?.submit().complete().await?;
    stream.set_nodelay(true)?;
    let mut reply = Vec::with_capacity(MESSAGE_LEN);
    for n in 0..messages {
        let (sent, message) = stream.send_all(message(id, n)).await;
        sent?;
        // TCP may hand the echo back in pieces: each receive appends to the reply,
        // after the bytes already there, until it is all here.
        reply.clear();
        while reply.len() < message.len() {
            let (received, back) = stream.recv(reply).submit().complete().await;
            reply = back;
            if received? == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
        }
        if reply != message {
            let msg = format!("client {id}, message {n}: the echo differs from what was sent");
            return Err(io::Error::new(io::ErrorKind::InvalidData, msg));
        }
    }
    stream.close().await
}

/// Message `n` of client `id`: bytes that differ between clients and messages, so
/// that an echo sent to the wrong client is caught.
fn message(id: usize, n: usize) -> Vec<u8> {
    let mut state = ((id as u64) << 32) | n as u64;
    (0..MESSAGE_LEN)
        .map(|_| {
            // A linear congruential generator (Knuth's MMIX constants).
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (state >> 56) as u8
        })
        .collect()
}
