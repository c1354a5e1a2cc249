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
//! Run it with `cargo run --release --example echo -- --connections 100`, optionally
//! with `--messages M` (messages per connection, default 10). It prints one summary
//! line and exits non-zero if any echo differs from what was sent.

use std::cell::Cell;
use std::io;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::rc::Rc;
use std::time::{Duration, Instant};

use linear_uring::net::{TcpListener, TcpStream};
use linear_uring::{race, CancelOutcome, DropPolicy, Raced, Ring};

/// Bytes per message.
const MESSAGE_LEN: usize = 1024;
/// How often the accept loop looks at its stop flag.
const TICK: Duration = Duration::from_millis(5);

fn main() -> ExitCode {
    let (connections, messages) = match parse_args() {
        Ok(args) => args,
        Err(msg) => {
            eprintln!("{msg}\nusage: echo [--connections N] [--messages M]");
            return ExitCode::from(2);
        }
    };
    match run(connections, messages) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(err) => {
            eprintln!("echo: {err}");
            ExitCode::FAILURE
        }
    }
}

/// `--connections N` (default 10) and `--messages M` (default 10).
fn parse_args() -> Result<(usize, usize), String> {
    let (mut connections, mut messages) = (10, 10);
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args.next().ok_or(format!("{flag} needs a value"))?;
        let n = value
            .parse()
            .map_err(|_| format!("{flag}: not a number: {value}"))?;
        match flag.as_str() {
            "--connections" => connections = n,
            "--messages" => messages = n,
            _ => return Err(format!("unknown argument: {flag}")),
        }
    }
    Ok((connections, messages))
}

/// Runs the server and the clients; `Ok(false)` if any echo was wrong.
fn run(connections: usize, messages: usize) -> Result<bool, Box<dyn std::error::Error>> {
    let ring = Ring::builder().drop_policy(DropPolicy::Panic).build()?;
    // The library's listeners use a backlog of 4096: every client below connects
    // in one submission, before the first accept runs.
    let listener = TcpListener::bind(&ring, "127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    let stop = Rc::new(Cell::new(false));
    let start = Instant::now();

    let (failures, served, echoed) = ring.block_on(async {
        let server = ring.spawn(accept_loop(ring.clone(), listener, stop.clone()));
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
        "echo: {connections} connections, {messages} messages of {MESSAGE_LEN} bytes each, \
         {served} served, {echoed} bytes echoed in {elapsed:.1?}, {failures} failures; {stats:?}"
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

/// Echoes everything it receives until the client closes; resolves to the byte count.
async fn echo(stream: TcpStream) -> io::Result<u64> {
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
async fn client(ring: Ring, addr: SocketAddr, id: usize, messages: usize) -> io::Result<()> {
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
