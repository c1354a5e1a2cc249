//! NOP round trips with 1, 32 and 256 in flight: linear-uring against its floor, the
//! raw `io-uring` crate doing the same batches by hand, in one criterion group so the
//! report reads as a ratio.
//!
//! One iteration is one batch: `linear-uring` submits `n` NOPs (`ring.nop()`), then
//! `complete().await`s every token in order; `raw-io-uring` pushes `n` NOP entries,
//! enters the kernel once with `submit_and_wait(n)` and reaps the `n` completions.
//! Both rings use `SINGLE_ISSUER | DEFER_TASKRUN` (and `NO_SQARRAY` where the kernel
//! has it) and 512 entries, so a batch is one `io_uring_enter(2)` on either side,
//! and the difference is the library's own work per op: the op table, the token,
//! the waker, the executor tick. Throughput is in
//! elements, one element per NOP. linear-uring enters through its ring's descriptor
//! registered for the thread (`IORING_REGISTER_RING_FDS`); `raw-io-uring-regfd` is
//! the raw floor doing the same, `raw-io-uring` the floor without it.
//!
//! Every sample of `linear-uring` runs inside one `block_on`, as a program would: the
//! cost of entering `block_on` is not counted against each batch.
//!
//! Run with `CARGO_TARGET_DIR=/tmp/target-bench cargo bench --bench nop`; the results
//! and the targets (at least 0.85 of raw with 1 in flight, 0.6 with 32) are in
//! BENCHMARKS.md.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use linear_uring::op::Nop;
use linear_uring::Ring;

const BATCHES: [usize; 3] = [1, 32, 256];
const ENTRIES: u32 = 512;

#[path = "floor/nop.rs"]
mod floor;

use floor::{raw_batch, raw_ring, with_registered_floor};

fn nop(c: &mut Criterion) {
    let mut group = c.benchmark_group("nop");
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

        with_registered_floor(ENTRIES, |raw_batch| {
            let id = BenchmarkId::new("raw-io-uring-regfd", batch);
            group.bench_with_input(id, &batch, |b, &n| b.iter(|| raw_batch(black_box(n))));
        });

        let ring = Ring::builder().entries(ENTRIES).build().expect("ring");
        let mut tokens = Vec::with_capacity(batch);
        group.bench_with_input(BenchmarkId::new("linear-uring", batch), &batch, |b, &n| {
            b.iter_custom(|iters| {
                ring.block_on(async {
                    let start = Instant::now();
                    for _ in 0..iters {
                        tokens.extend((0..black_box(n)).map(|_| ring.nop()));
                        for token in tokens.drain(..) {
                            token.complete().await.expect("nop");
                        }
                    }
                    start.elapsed()
                })
            })
        });
    }
    group.finish();
}

/// One NOP round trip in a proof-carrying scope (`Ring::scope`, `Scope::submit`, the
/// debt completed, the receipt returned) against the same round trip with a plain
/// token, and the raw floor: what the brands cost.
fn nop_scope(c: &mut Criterion) {
    let mut group = c.benchmark_group("nop_scope");
    group
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .throughput(Throughput::Elements(1));

    let mut raw = raw_ring(ENTRIES);
    group.bench_function("raw-io-uring", |b| b.iter(|| raw_batch(&mut raw, 1)));
    drop(raw);

    let ring = Ring::builder().entries(ENTRIES).build().expect("ring");
    group.bench_function("linear-uring-token", |b| {
        b.iter_custom(|iters| {
            ring.block_on(async {
                let start = Instant::now();
                for _ in 0..iters {
                    ring.nop().complete().await.expect("nop");
                }
                start.elapsed()
            })
        })
    });
    group.bench_function("linear-uring-scope", |b| {
        b.iter_custom(|iters| {
            ring.block_on(async {
                let start = Instant::now();
                for _ in 0..iters {
                    let done = ring
                        .scope(async |s| {
                            let (done, s) = s.submit(Nop::new(&ring)).complete().await;
                            (s.paid(), done)
                        })
                        .await;
                    done.expect("nop");
                }
                start.elapsed()
            })
        })
    });
    group.finish();
}

criterion_group!(benches, nop, nop_scope);
criterion_main!(benches);
