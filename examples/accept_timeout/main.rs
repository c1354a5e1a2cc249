//! The problem this crate solves, run for real on loopback: an accept loop that
//! stops waiting every millisecond to do side work, while clients arrive right
//! around the deadlines.
//!
//! - `naive-select` selects between the accept and a timer and drops the loser, as
//!   one would with other runtimes: under `DropPolicy::Reclaim` no descriptor leaks,
//!   but connections the kernel accepted just as the timer fired are lost.
//! - `naive-select-panic` is the same program under `DropPolicy::Panic`: it stops at
//!   the first lost race, with a message naming the line.
//! - `race` keeps the accept in flight across deadlines with `race(accept, timer)`:
//!   nothing is lost, nothing leaks.
//! - `linked-timeout` (run it with `--strategy linked-timeout`) lets the kernel
//!   time the accept out with a linked timeout: nothing is lost either.
//!
//! Run it with `cargo run --release --example accept_timeout`, optionally with
//! `--connections N` (default 2000) and `--strategy NAME`. Each strategy prints one
//! line: `strategy=<name> attempted=<n> served=<n> lost=<n> leaked_fds=<n>
//! panicked=<yes|no>`.

use std::process::ExitCode;
use std::time::Duration;

mod scenario;

use scenario::Strategy;

const DEADLINE: Duration = Duration::from_millis(1);

fn main() -> ExitCode {
    let mut connections = 2000;
    let mut strategies = vec![
        Strategy::NaiveSelect,
        Strategy::NaiveSelectPanic,
        Strategy::Race,
    ];
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match (arg.as_str(), args.next()) {
            ("--connections", Some(n)) if n.parse::<usize>().is_ok() => {
                connections = n.parse().unwrap_or(connections);
            }
            ("--strategy", Some(name)) if Strategy::from_name(&name).is_some() => {
                strategies = Strategy::from_name(&name).into_iter().collect();
            }
            _ => {
                eprintln!(
                    "usage: accept_timeout [--connections N] [--strategy naive-select|naive-select-panic|race|linked-timeout]"
                );
                return ExitCode::from(2);
            }
        }
    }
    // The panic of `naive-select-panic` is caught and reported below.
    std::panic::set_hook(Box::new(|_| {}));
    for strategy in strategies {
        match scenario::run(strategy, connections, DEADLINE) {
            Ok(report) => {
                println!("{report}");
                if let Some(message) = &report.panic {
                    let first = message.lines().next().unwrap_or_default();
                    println!("  the drop policy said: {first}");
                }
            }
            Err(err) => {
                eprintln!("strategy={} failed: {err}", strategy.name());
                return ExitCode::FAILURE;
            }
        }
    }
    ExitCode::SUCCESS
}
