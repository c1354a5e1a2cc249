//! What the drop policy costs an op that is consumed properly: NOP round trips (1
//! and 256 in flight) on rings with `DropPolicy::Panic`, `Reclaim` and `Abort`,
//! against the floor, the raw `io-uring` crate doing the same batches by hand, in one
//! criterion group.
//!
//! What it isolates. Every token carries the `&'static Location` of its `submit()`
//! (`#[track_caller]`, one pointer stored in the token) and a `live` flag that its
//! `Drop` checks; the ring's `DropPolicy` is read only when a live token is dropped
//! unconsumed. On the completion path (`complete().await` consumes the token, then
//! its `Drop` finds it dead and returns), all three policies run the same code, so
//! they should be within noise of each other: that is the claim this bench checks,
//! in release, where `Reclaim` is the default. The location and the drop check are
//! carried by all three, so they cannot be switched off here; their share of the
//! gap to `raw-io-uring` (the whole per-op cost of the library) is counted in
//! instructions with callgrind in BENCHMARKS.md. With 256 in flight the one
//! `io_uring_enter(2)` per batch is spread thin, so a per-op difference would show
//! most there. The three rings are measured interleaved (each sample's chunks
//! alternate with untimed chunks of the other two rings), so that the order in
//! which criterion runs them does not show through as a difference. After
//! criterion, the bench prints the three policies measured side by side in one
//! time window (`side_by_side`, skipped when a filter names only other benches),
//! with their spread.
//!
//! Run with `CARGO_TARGET_DIR=/tmp/target-bench cargo bench --bench drop_policy`; the
//! results are in BENCHMARKS.md.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{criterion_group, BenchmarkId, Criterion, Throughput};
use linear_uring::op::Nop;
use linear_uring::{DropPolicy, Op, Ring};

const BATCHES: [usize; 2] = [1, 256];
const ENTRIES: u32 = 512;
const POLICIES: [(&str, DropPolicy); 3] = [
    ("linear-uring-panic", DropPolicy::Panic),
    ("linear-uring-reclaim", DropPolicy::Reclaim),
    ("linear-uring-abort", DropPolicy::Abort),
];

#[path = "floor/nop.rs"]
mod floor;

use floor::{raw_batch, raw_ring};

/// One ring per policy of `POLICIES`, in that order.
fn policy_rings() -> Vec<Ring> {
    POLICIES
        .iter()
        .map(|&(_, policy)| {
            Ring::builder()
                .entries(ENTRIES)
                .drop_policy(policy)
                .build()
                .expect("ring")
        })
        .collect()
}

/// Batches per chunk of an interleaved sample.
const CHUNK: u64 = 64;

/// Runs `batches` batches of `n` NOPs on `ring`, each submitted and then
/// completed in order, inside one `block_on`; the time they took.
fn nop_batches(ring: &Ring, tokens: &mut Vec<Op<Nop>>, n: usize, batches: u64) -> Duration {
    ring.block_on(async {
        let start = Instant::now();
        for _ in 0..batches {
            tokens.extend((0..black_box(n)).map(|_| ring.nop()));
            for token in tokens.drain(..) {
                token.complete().await.expect("nop");
            }
        }
        start.elapsed()
    })
}

fn drop_policy(c: &mut Criterion) {
    let mut group = c.benchmark_group("drop_policy");
    group
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    for batch in BATCHES {
        group.throughput(Throughput::Elements(batch as u64));

        let mut raw = raw_ring(ENTRIES);
        group.bench_with_input(BenchmarkId::new("raw-io-uring", batch), &batch, |b, &n| {
            b.iter(|| raw_batch(&mut raw, black_box(n)))
        });
        drop(raw);

        // The three rings are measured interleaved: each policy's sample runs its
        // batches in chunks, and between its chunks the other two rings run theirs
        // (untimed). Measured one after another in one process, whichever policy
        // came first was the slowest by 5 to 9% (BENCHMARKS.md): the order, not
        // the policy. Interleaved, all three see the same machine at the same time.
        let rings = policy_rings();
        let mut tokens = Vec::with_capacity(batch);
        for (measured, (name, _)) in POLICIES.iter().enumerate() {
            group.bench_with_input(BenchmarkId::new(*name, batch), &batch, |b, &n| {
                b.iter_custom(|iters| {
                    let mut timed = Duration::ZERO;
                    let mut left = iters;
                    while left > 0 {
                        let chunk = left.min(CHUNK);
                        left -= chunk;
                        for (i, ring) in rings.iter().enumerate() {
                            let elapsed = nop_batches(ring, &mut tokens, n, chunk);
                            if i == measured {
                                timed += elapsed;
                            }
                        }
                    }
                    timed
                })
            });
        }
        for ring in &rings {
            // Nothing was dropped unconsumed: the policy never ran.
            assert_eq!(ring.stats().abandoned, 0);
        }
    }
    group.finish();
}

/// The three policies side by side in one time window, outside criterion: rounds
/// of `CHUNK` batches on each ring in turn, the starting ring rotating every
/// round, each ring's time summed. Criterion measures each policy in its own
/// window of several seconds, and the machine's noise between windows (5 to 9%
/// on these shared machines) is larger than anything the policies could differ
/// by; here all three share every moment.
fn side_by_side() {
    const ROUNDS: u64 = 300;
    for n in BATCHES {
        let rings = policy_rings();
        let mut tokens = Vec::with_capacity(n);
        let mut times = [Duration::ZERO; POLICIES.len()];
        for round in 0..ROUNDS {
            for k in 0..rings.len() {
                let i = (round as usize + k) % rings.len();
                times[i] += nop_batches(&rings[i], &mut tokens, n, CHUNK);
            }
        }
        let per_batch = times.map(|t| t.as_nanos() as f64 / (ROUNDS * CHUNK) as f64);
        let (least, most) = per_batch
            .iter()
            .fold((f64::MAX, 0f64), |(lo, hi), &t| (lo.min(t), hi.max(t)));
        let each: Vec<String> = POLICIES
            .iter()
            .zip(per_batch)
            .map(|((name, _), t)| format!("{name} {t:.0} ns"))
            .collect();
        println!(
            "drop_policy side by side, {n} in flight, per batch: {}; spread {:.1}%",
            each.join(", "),
            (most / least - 1.0) * 100.0
        );
    }
}

/// Whether to run [`side_by_side`]: under `cargo bench` (which passes `--bench`),
/// not when criterion only tests or lists the benches (`cargo test --benches`,
/// `--test`, `--list`), and not when a filter names other benches.
fn wants_side_by_side(args: Vec<String>) -> bool {
    const NAME: &str = "drop_policy/side_by_side";
    let flag = |name: &str| args.iter().any(|arg| arg == name);
    let mut filters = args.iter().filter(|arg| !arg.starts_with('-'));
    flag("--bench")
        && !flag("--test")
        && !flag("--list")
        && filters.all(|filter| NAME.contains(filter.as_str()))
}

criterion_group!(benches, drop_policy);

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
    if wants_side_by_side(std::env::args().skip(1).collect()) {
        side_by_side();
    }
}
