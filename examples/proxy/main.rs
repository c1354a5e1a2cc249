//! A TCP proxy with a per-connection idle timeout, built on owned stream halves,
//! `copy` and `select`: each connection is two copies in flight (one per direction)
//! and a timer; whichever finishes first is handled, and the others are handed back
//! still running. A connection is closed when nothing has moved either way for the
//! idle timeout; traffic in one direction alone keeps it open.
//!
//! Run the demonstration, which starts its own upstream servers and clients on
//! loopback and checks every byte:
//!
//! ```sh
//! cargo run --release --example proxy
//! ```
//!
//! Or relay real traffic: `cargo run --release --example proxy -- --listen
//! 127.0.0.1:8080 --upstream 127.0.0.1:9000 --idle-ms 5000`.

use std::cell::RefCell;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use linear_uring::net::TcpListener;
use linear_uring::Ring;

mod harness;
mod proxy;

/// The idle timeout of the proxy the bulk clients use.
const BULK_IDLE: Duration = Duration::from_secs(10);

fn main() -> ExitCode {
    let mut listen: Option<SocketAddr> = None;
    let mut upstream: Option<SocketAddr> = None;
    let mut idle = Duration::from_millis(300);
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let value = args.next().unwrap_or_default();
        let parsed = match arg.as_str() {
            "--listen" => value.parse().map(|addr| listen = Some(addr)).is_ok(),
            "--upstream" => value.parse().map(|addr| upstream = Some(addr)).is_ok(),
            "--idle-ms" => value
                .parse()
                .map(|ms| idle = Duration::from_millis(ms))
                .is_ok(),
            _ => false,
        };
        if !parsed {
            eprintln!("usage: proxy [--listen ADDR --upstream ADDR] [--idle-ms N]");
            return ExitCode::FAILURE;
        }
    }
    let result = match (listen, upstream) {
        (Some(listen), Some(upstream)) => relay_forever(listen, upstream, idle),
        (None, None) => demonstrate(idle),
        _ => {
            eprintln!("--listen and --upstream go together");
            return ExitCode::FAILURE;
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("proxy: {err}");
            ExitCode::FAILURE
        }
    }
}

/// Relays `listen` to `upstream` until the process is stopped, printing each
/// connection's report.
fn relay_forever(listen: SocketAddr, upstream: SocketAddr, idle: Duration) -> std::io::Result<()> {
    let ring = Ring::new()?;
    let listener = TcpListener::bind(&ring, listen)?;
    println!("relaying {listen} to {upstream}, idle timeout {idle:?}");
    let reports = Rc::new(RefCell::new(Vec::new()));
    let server = ring.spawn(proxy::serve(
        ring.clone(),
        listener,
        upstream,
        idle,
        reports.clone(),
    ));
    ring.block_on(async {
        loop {
            ring.sleep(Duration::from_millis(100)).await?;
            for report in reports.borrow_mut().drain(..) {
                println!("{report:?}");
            }
            if server.is_finished() {
                return Ok(());
            }
        }
    })
}

/// Runs the proxy against real peers on loopback: 20 clients sending 1 MiB each
/// through it to an echo server, a client that stays silent, one that sends a byte
/// at a time, slower than nothing but faster than the idle timeout, and one that
/// resets its connection mid-relay (only its relay fails).
fn demonstrate(idle: Duration) -> std::io::Result<()> {
    let ring = Ring::new()?;
    let echo = harness::echo_upstream()?;
    let (sink, sunk) = harness::sink_upstream()?;
    // Three proxies: the bulk clients' one times out only after a long silence (on a
    // loaded machine a client thread may wait its turn longer than the short
    // timeout, and would rightly be closed as idle); the other two use `idle`.
    let mut addrs = Vec::new();
    let reports = Rc::new(RefCell::new(Vec::new()));
    for (upstream, timeout) in [
        (echo.addr(), BULK_IDLE),
        (echo.addr(), idle),
        (sink.addr(), idle),
    ] {
        let listener = TcpListener::bind(&ring, "127.0.0.1:0")?;
        addrs.push(listener.local_addr()?);
        let server = proxy::serve(ring.clone(), listener, upstream, timeout, reports.clone());
        drop(ring.spawn(server));
    }
    let (bulk_at, echo_at, sink_at) = (addrs[0], addrs[1], addrs[2]);

    let finished = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let bulk: Vec<_> = (0..20)
        .map(|seed| {
            let finished = finished.clone();
            thread::spawn(move || {
                let result = harness::bulk_client(bulk_at, seed, 1 << 20);
                finished.fetch_add(1, Ordering::SeqCst);
                result
            })
        })
        .collect();
    let idle_client = {
        let finished = finished.clone();
        thread::spawn(move || {
            let result = harness::idle_client(echo_at);
            finished.fetch_add(1, Ordering::SeqCst);
            result
        })
    };
    let trickle = {
        let finished = finished.clone();
        let every = idle / 4;
        thread::spawn(move || {
            let result = harness::trickle_client(sink_at, every, 12);
            finished.fetch_add(1, Ordering::SeqCst);
            result
        })
    };
    let reset = {
        let finished = finished.clone();
        thread::spawn(move || {
            let result = harness::resetting_client(echo_at);
            finished.fetch_add(1, Ordering::SeqCst);
            result
        })
    };
    ring.block_on(async {
        while finished.load(Ordering::SeqCst) < 23 {
            ring.sleep(Duration::from_millis(5)).await?;
        }
        // The last reports come in once the proxy has closed its side.
        while reports.borrow().len() < 23 {
            ring.sleep(Duration::from_millis(5)).await?;
        }
        Ok::<(), std::io::Error>(())
    })?;

    let bulk_ok = bulk
        .into_iter()
        .map(|client| client.join().expect("a client thread panicked"))
        .filter(Result::is_ok)
        .count();
    let idle_closed_after = idle_client.join().expect("the idle client panicked")?;
    let trickled = trickle.join().expect("the trickle client panicked")?;
    reset.join().expect("the resetting client panicked")?;
    let failed: Vec<String> = reports
        .borrow()
        .iter()
        .filter_map(|r| r.as_ref().err().map(ToString::to_string))
        .collect();
    let sunk = sunk.lock().unwrap_or_else(|e| e.into_inner()).clone();
    let idle_ends = reports
        .borrow()
        .iter()
        .filter(|r| matches!(r, Ok(report) if report.end == proxy::End::Idle))
        .count();
    println!(
        "bulk: {bulk_ok}/20 clients got their 1 MiB back byte for byte in {:.2} s",
        start.elapsed().as_secs_f64()
    );
    println!(
        "idle: the silent client was closed after {:.0} ms (idle timeout {} ms); \
         connections closed as idle: {idle_ends}",
        idle_closed_after.as_secs_f64() * 1000.0,
        idle.as_millis()
    );
    println!("one-way: {trickled} bytes sent one at a time, {sunk:?} received upstream");
    println!("reset: a client reset its connection mid-relay; relays that failed: {failed:?}");
    println!("ring: {:?}", ring.stats());
    if bulk_ok == 20 && sunk == [trickled] && idle_ends == 1 && failed.len() == 1 {
        Ok(())
    } else {
        Err(std::io::Error::other(
            "the demonstration found a problem (see above)",
        ))
    }
}
