//! The accept loop of the problem this crate exists for, written in a
//! proof-carrying scope: a server waits for connections with a 1 ms deadline and
//! does side work whenever the deadline passes, while clients arrive around the
//! deadlines. Each accept is submitted in a scope, raced against the timer, and
//! handed back still owed when the timer wins; the scope's closure can only return
//! once the accept is paid, so every way of losing the accepted connection (dropping
//! the accept, forgetting it, leaking it, keeping it in a collection, leaving with
//! `?`) is a compile error, not a runtime panic. `ui-tests/fail/scope_*.rs` are those
//! programs, each with the error rustc prints.
//!
//! Run it with `cargo run --release --example proof` (`--connections N`, default
//! 500). It prints `attempted=<n> served=<n> lost=<n> side_work=<n>`.

use std::io::{Read, Write};
use std::process::ExitCode;
use std::time::Duration;

use linear_uring::net::TcpListener;
use linear_uring::{race, Raced, Ring};

fn main() -> ExitCode {
    let mut connections = 500usize;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match (arg.as_str(), args.next().and_then(|n| n.parse().ok())) {
            ("--connections", Some(n)) => connections = n,
            _ => {
                eprintln!("usage: proof [--connections N]");
                return ExitCode::FAILURE;
            }
        }
    }
    match run(connections) {
        Ok(0) => ExitCode::SUCCESS,
        Ok(_) => ExitCode::FAILURE,
        Err(err) => {
            eprintln!("proof: {err}");
            ExitCode::FAILURE
        }
    }
}

fn run(connections: usize) -> std::io::Result<usize> {
    let ring = Ring::new()?;
    let listener = TcpListener::bind(&ring, "127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    // Clients arrive every ~1 ms, right around the server's deadlines; each expects
    // a one-byte greeting.
    let clients = std::thread::spawn(move || {
        let mut served = 0;
        for i in 0..connections {
            std::thread::sleep(Duration::from_micros(900 + (i as u64 * 37) % 200));
            let Ok(mut stream) = std::net::TcpStream::connect(addr) else {
                continue;
            };
            let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
            let mut byte = [0u8; 1];
            if stream.read_exact(&mut byte).is_ok() {
                served += 1;
            }
        }
        served
    });
    let mut side_work = 0u64;
    ring.block_on(async {
        for _ in 0..connections {
            // One scope per connection: the closure cannot return without having
            // completed or cancelled its accept.
            let accepted = ring
                .scope(async |s| {
                    let mut accept = s.submit(listener.accept());
                    loop {
                        match race(accept, ring.sleep(Duration::from_millis(1))).await {
                            Raced::First((connection, s), _timer) => {
                                break (s.paid(), connection);
                            }
                            Raced::Second(pending, _fired) => {
                                // The deadline passed: side work, and the accept is
                                // still in flight, still owed.
                                side_work += 1;
                                accept = pending;
                            }
                        }
                    }
                })
                .await;
            let (stream, _peer) = accepted?;
            let (sent, _) = stream.send_all(b"!").await;
            sent?;
            stream.close().await?;
        }
        Ok::<(), std::io::Error>(())
    })?;
    let served = clients.join().expect("the client thread panicked");
    let lost = connections - served;
    println!("attempted={connections} served={served} lost={lost} side_work={side_work}");
    std::io::stdout().flush()?;
    Ok(lost)
}
