//! NOP round trips: linear-uring against its floor, the raw `io-uring` crate doing the
//! same batches by hand, in one criterion group so the report reads as a ratio.
//!
//! Run with `cargo bench --bench nop`.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use io_uring::{opcode, IoUring};
use linear_uring::Ring;

const BATCHES: [usize; 3] = [1, 32, 256];

/// The floor: push `batch` NOPs, submit and wait for all, reap them.
fn raw_batch(ring: &mut IoUring, batch: usize) {
    for i in 0..batch {
        let sqe = opcode::Nop::new().build().user_data(i as u64);
        // SAFETY: a NOP carries no pointer.
        unsafe {
            ring.submission()
                .push(&sqe)
                .expect("queue sized for the batch")
        };
    }
    ring.submit_and_wait(batch).expect("io_uring_enter");
    let reaped = ring.completion().count();
    assert_eq!(reaped, batch);
}

fn nop(c: &mut Criterion) {
    let mut group = c.benchmark_group("nop");
    for batch in BATCHES {
        group.throughput(Throughput::Elements(batch as u64));

        let mut raw = IoUring::builder()
            .setup_single_issuer()
            .setup_defer_taskrun()
            .build(512)
            .expect("io_uring_setup");
        group.bench_with_input(BenchmarkId::new("raw-io-uring", batch), &batch, |b, &n| {
            b.iter(|| raw_batch(&mut raw, n))
        });

        let ring = Ring::builder().entries(512).build().expect("ring");
        let mut tokens = Vec::with_capacity(batch);
        group.bench_with_input(BenchmarkId::new("linear-uring", batch), &batch, |b, &n| {
            b.iter(|| {
                ring.block_on(async {
                    tokens.extend((0..n).map(|_| ring.nop()));
                    for token in tokens.drain(..) {
                        token.complete().await.expect("nop");
                    }
                })
            })
        });
    }
    group.finish();
}

criterion_group!(benches, nop);
criterion_main!(benches);
