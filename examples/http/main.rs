//! A small HTTP/1.1 keep-alive server built directly on linear-uring ops: a
//! multishot accept per thread, one task per connection, pipelined requests answered
//! in order, a per-request read deadline (a stalled request gets `408 Request
//! Timeout`), a header limit (`431 Request Header Fields Too Large`). Every request
//! gets a short `text/plain` answer naming its method and target.
//!
//! With `--threads N` it runs N threads (a `linear_uring::runtime::Runtime`), each
//! with its own ring and its own `SO_REUSEPORT` listener on the same address, and
//! the kernel spreads the connections over them; nothing is shared between the
//! threads.
//!
//! Run it with `cargo run --release --example http -- --addr 127.0.0.1:8080`, then
//! `curl -v http://127.0.0.1:8080/hello http://127.0.0.1:8080/again` (one
//! connection, two requests). Options: `--threads N` (default 1),
//! `--read-timeout-ms MS` (default 10000), `--max-head BYTES` (default 8192).
//! `.ci/http-curl.sh` (run by `.ci/run`) drives it with curl.

mod server;

use std::cell::Cell;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::rc::Rc;
use std::time::Duration;

use linear_uring::runtime::{Runtime, Worker};
use linear_uring::{DropPolicy, Ring};

use server::{Config, Counters};

fn main() -> ExitCode {
    let (addr, threads, config) = match parse_args() {
        Ok(args) => args,
        Err(msg) => {
            eprintln!(
                "{msg}\nusage: http [--addr ADDR] [--threads N] [--read-timeout-ms MS] \
                 [--max-head BYTES]"
            );
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
            eprintln!("http: cannot listen on {addr}: {err}");
            return ExitCode::FAILURE;
        }
    };
    println!(
        "http: listening on {} with {threads} thread(s)",
        runtime.local_addr().expect("the runtime listens")
    );
    let served = runtime.run(|worker: Worker<()>| async move {
        let listener = worker.take_listener().expect("a listener per thread");
        let counters = Rc::new(Counters::default());
        let stop = Rc::new(Cell::new(false));
        server::serve(worker.ring().clone(), listener, config, counters, stop).await
    });
    match served {
        Ok(results) => {
            let mut failed = false;
            for err in results.into_iter().filter_map(Result::err) {
                eprintln!("http: {err}");
                failed = true;
            }
            if failed {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            }
        }
        Err(err) => {
            eprintln!("http: {err}");
            ExitCode::FAILURE
        }
    }
}

fn parse_args() -> Result<(SocketAddr, usize, Config), String> {
    let mut addr: SocketAddr = "127.0.0.1:8080".parse().expect("a valid address");
    let mut threads = 1;
    let mut config = Config::default();
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args.next().ok_or(format!("{flag} needs a value"))?;
        let number = || {
            value
                .parse::<u64>()
                .map_err(|_| format!("{flag}: not a number: {value}"))
        };
        match flag.as_str() {
            "--addr" => addr = value.parse().map_err(|e| format!("--addr {value}: {e}"))?,
            "--threads" => threads = number()?.max(1) as usize,
            "--read-timeout-ms" => config.read_timeout = Duration::from_millis(number()?),
            "--max-head" => config.max_head = number()? as usize,
            _ => return Err(format!("unknown argument: {flag}")),
        }
    }
    Ok((addr, threads, config))
}
