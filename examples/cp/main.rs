//! A recursive copy of a directory tree (files, subdirectories, symlinks, modes)
//! through the ring, with a bounded number of files in flight, each file synced
//! before it is renamed into place; progress on stderr.
//!
//! ```sh
//! cargo run --release --example cp -- SRC DST [--in-flight N]
//! ```
//!
//! `DST` must not exist. See `tree.rs` for what goes through the ring and what
//! cannot (listing a directory, setting a mode: io_uring has no op for them).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use linear_uring::Ring;

mod tree;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut paths = Vec::new();
    let mut in_flight = 32;
    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        if arg == "--in-flight" {
            match rest.next().and_then(|n| n.parse().ok()) {
                Some(n) => in_flight = n,
                None => return usage(),
            }
        } else {
            paths.push(PathBuf::from(arg));
        }
    }
    let [src, dst] = paths.as_slice() else {
        return usage();
    };
    let start = Instant::now();
    let result = Ring::new().map_err(std::io::Error::from).and_then(|ring| {
        let last = std::cell::Cell::new(u64::MAX);
        tree::copy_tree(&ring, src, dst, in_flight, |t| {
            if last.replace(t.files) != t.files {
                eprint!("\rcp: {} files, {} bytes", t.files, t.bytes);
            }
        })
    });
    match result {
        Ok(t) => {
            eprintln!(
                "\rcp: {} files, {} directories, {} symlinks, {} bytes in {:.2} s",
                t.files,
                t.dirs,
                t.symlinks,
                t.bytes,
                start.elapsed().as_secs_f64()
            );
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("\ncp: {err}");
            ExitCode::FAILURE
        }
    }
}

fn usage() -> ExitCode {
    eprintln!("usage: cp SRC DST [--in-flight N]");
    ExitCode::FAILURE
}
