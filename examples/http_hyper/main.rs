//! The second server of the `http` family: hyper's own HTTP/1 server, carried by
//! linear-uring's tokio adapters (`compat::Compat` under hyper-util's `TokioIo`).
//! Each connection is a task on the ring; its reads and writes are ring ops that
//! the adapter keeps in flight when hyper drops a future. With `--threads N` it runs
//! on a thread-per-core `linear_uring::runtime::Runtime`, one `SO_REUSEPORT`
//! listener per thread.
//!
//! Unlike `examples/http`, it has no read deadline: hyper's needs a `Send` timer,
//! and the ring's timers belong to their thread.
//!
//! Run it with `cargo run --release --features tokio --example http_hyper -- --addr
//! 127.0.0.1:8080`, then `curl http://127.0.0.1:8080/hello`.

mod server;

use std::cell::Cell;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::rc::Rc;

use linear_uring::runtime::{Runtime, Worker};
use linear_uring::{DropPolicy, Ring};

fn main() -> ExitCode {
    let (addr, threads) = match parse_args() {
        Ok(args) => args,
        Err(msg) => {
            eprintln!("{msg}\nusage: http_hyper [--addr ADDR] [--threads N]");
            return ExitCode::from(2);
        }
    };
    let runtime = Runtime::builder()
        .threads(threads)
        .ring(Ring::builder().drop_policy(DropPolicy::Reclaim))
        .listen(addr)
        .build();
    let runtime = match runtime {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("http_hyper: cannot listen on {addr}: {err}");
            return ExitCode::FAILURE;
        }
    };
    println!(
        "http_hyper: listening on {} with {threads} thread(s)",
        runtime.local_addr().expect("the runtime listens")
    );
    let served = runtime.run(|worker: Worker<()>| async move {
        let listener = worker.take_listener().expect("a listener per thread");
        let counters = Rc::new(server::Counters::default());
        let stop = Rc::new(Cell::new(false));
        server::serve(worker.ring().clone(), listener, counters, stop).await
    });
    match served.map(|results| results.into_iter().collect::<Result<Vec<()>, _>>()) {
        Ok(Ok(_)) => ExitCode::SUCCESS,
        Ok(Err(err)) | Err(err) => {
            eprintln!("http_hyper: {err}");
            ExitCode::FAILURE
        }
    }
}

fn parse_args() -> Result<(SocketAddr, usize), String> {
    let mut addr: SocketAddr = "127.0.0.1:8080".parse().expect("a valid address");
    let mut threads = 1;
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args.next().ok_or(format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--addr" => addr = value.parse().map_err(|e| format!("--addr {value}: {e}"))?,
            "--threads" => {
                threads = value
                    .parse::<usize>()
                    .map_err(|_| format!("--threads: not a number: {value}"))?
                    .max(1)
            }
            _ => return Err(format!("unknown argument: {flag}")),
        }
    }
    Ok((addr, threads))
}
