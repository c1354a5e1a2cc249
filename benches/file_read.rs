//! Reads from a page-cached file for a fixed time, as fio's `io_uring` engine does, and
//! prints the IOPS: the linear-uring side of `benches/fio.sh`, which runs fio on the
//! same file in the same session and prints the ratio.
//!
//! `depth` tasks on one ring each keep one read in flight: `read_at` into a buffer of
//! `bs` bytes at a random (or the next sequential) aligned offset, awaited, the buffer
//! cleared and reused. Buffered reads, like fio's `--direct=0`.
//!
//! ```sh
//! cargo bench --bench file_read -- FILE --bs 4096 --depth 32 --rw randread --secs 5
//! ```
//!
//! Prints one line: `rw=randread bs=4096 depth=32 iops=<n> secs=<s>`. Without a FILE
//! (as `cargo bench` runs it), it reads a 64 MiB file of its own for one second per
//! case, so that the target builds and runs; the comparison is `benches/fio.sh`.

use std::cell::Cell;
use std::io::Write as _;
use std::path::PathBuf;
use std::rc::Rc;
use std::time::{Duration, Instant};

use linear_uring::fs::File;
use linear_uring::Ring;

/// One run's settings.
#[derive(Debug, Clone)]
struct Case {
    file: PathBuf,
    bs: usize,
    depth: usize,
    random: bool,
    secs: f64,
}

/// A small xorshift generator: offsets need to be spread, not secure.
fn next(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

/// Reads for `case.secs` seconds; returns the reads done.
fn run(case: &Case) -> std::io::Result<u64> {
    let ring = Ring::builder()
        .entries((case.depth as u32 * 2).max(64))
        .build()?;
    let std_file = std::fs::File::open(&case.file)?;
    let len = std_file.metadata()?.len();
    let blocks = len / case.bs as u64;
    if blocks == 0 {
        return Err(std::io::Error::other("the file is smaller than one block"));
    }
    let file = Rc::new(File::from_std(&ring, std_file)?);
    let done = Rc::new(Cell::new(0u64));
    let stop = Instant::now() + Duration::from_secs_f64(case.secs);
    let tasks: Vec<_> = (0..case.depth)
        .map(|task| {
            let (file, done, case) = (file.clone(), done.clone(), case.clone());
            ring.spawn(async move {
                let mut buf = Vec::with_capacity(case.bs);
                let mut state = 0x9e37_79b9_7f4a_7c15 ^ (task as u64 + 1);
                let mut block = task as u64 * (blocks / case.depth as u64);
                while Instant::now() < stop {
                    block = if case.random {
                        next(&mut state) % blocks
                    } else {
                        (block + 1) % blocks
                    };
                    buf.clear();
                    let (read, back) = file.read_at(buf, block * case.bs as u64).await;
                    buf = back;
                    read?;
                    done.set(done.get() + 1);
                }
                Ok::<(), std::io::Error>(())
            })
        })
        .collect();
    ring.block_on(async {
        for task in tasks {
            task.await?;
        }
        Ok::<(), std::io::Error>(())
    })?;
    Ok(done.get())
}

fn parse(args: &[String]) -> Option<Case> {
    let mut case = Case {
        file: PathBuf::new(),
        bs: 4096,
        depth: 1,
        random: true,
        secs: 5.0,
    };
    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        match arg.as_str() {
            "--bench" => {}
            "--bs" => case.bs = rest.next()?.parse().ok()?,
            "--depth" => case.depth = rest.next()?.parse().ok()?,
            "--secs" => case.secs = rest.next()?.parse().ok()?,
            "--rw" => {
                case.random = match rest.next()?.as_str() {
                    "randread" => true,
                    "read" => false,
                    _ => return None,
                }
            }
            path if !path.starts_with("--") => case.file = PathBuf::from(path),
            _ => return None,
        }
    }
    Some(case)
}

fn report(case: &Case) -> std::io::Result<()> {
    let start = Instant::now();
    let reads = run(case)?;
    let secs = start.elapsed().as_secs_f64();
    println!(
        "rw={} bs={} depth={} iops={:.0} secs={secs:.2}",
        if case.random { "randread" } else { "read" },
        case.bs,
        case.depth,
        reads as f64 / secs
    );
    Ok(())
}

fn main() -> std::io::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(mut case) = parse(&args) else {
        eprintln!("usage: file_read FILE [--bs N] [--depth N] [--rw randread|read] [--secs S]");
        std::process::exit(2);
    };
    if !case.file.as_os_str().is_empty() {
        return report(&case);
    }
    // No file: a short self-contained run over a file of our own.
    let path = std::env::temp_dir().join(format!("linear-uring-file-read-{}", std::process::id()));
    let mut file = std::fs::File::create(&path)?;
    let chunk = vec![0x5au8; 1 << 20];
    for _ in 0..64 {
        file.write_all(&chunk)?;
    }
    drop(file);
    case.file = path.clone();
    case.secs = 1.0;
    let mut result = Ok(());
    for (bs, random) in [(4096, true), (65536, false)] {
        for depth in [1, 32] {
            let case = Case {
                bs,
                depth,
                random,
                ..case.clone()
            };
            result = result.and(report(&case));
        }
    }
    std::fs::remove_file(&path)?;
    result
}
