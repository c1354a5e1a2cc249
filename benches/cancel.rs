//! The cost of cancelling a pending kernel timer: linear-uring's
//! `Timeout::new(&ring, d).submit().cancel().await` against its floor, the raw
//! `io-uring` crate submitting the same timer and an `IORING_OP_ASYNC_CANCEL` for it
//! and reaping both completions, in one criterion group so the report reads as a
//! ratio.
//!
//! One iteration is one whole round trip, from an idle ring: the timer (60 s, so it
//! never fires) and the cancel request go to the kernel in one `io_uring_enter(2)`;
//! the timer completes with `ECANCELED` and the cancel request with 0. linear-uring
//! also decides the outcome (`CancelOutcome::Cancelled`) from the timer's own
//! completion and hands the token's residue back; the raw side checks the same
//! results by hand. Both rings use `SINGLE_ISSUER | DEFER_TASKRUN` (and
//! `NO_SQARRAY` where the kernel has it). Throughput is in elements, one element
//! per cancelled timer.
//!
//! Run with `CARGO_TARGET_DIR=/tmp/target-bench cargo bench --bench cancel`; the
//! results are in BENCHMARKS.md.

use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use io_uring::{opcode, types::Timespec, IoUring};
use linear_uring::op::Timeout;
use linear_uring::Ring;

#[path = "floor/nop.rs"]
#[allow(dead_code)] // Only its ring setup is shared here.
mod floor;

/// Long enough that the timer never fires during a round trip.
const TIMER: Duration = Duration::from_secs(60);
const ENTRIES: u32 = 64;
const TIMER_DATA: u64 = 1;
const CANCEL_DATA: u64 = 2;

/// The floor: a timer and an async cancel aimed at it, one enter, both completions.
fn raw_cancel(ring: &mut IoUring, spec: &Timespec) {
    let timer = opcode::Timeout::new(spec).build().user_data(TIMER_DATA);
    let cancel = opcode::AsyncCancel::new(TIMER_DATA)
        .build()
        .user_data(CANCEL_DATA);
    // SAFETY: the timespec outlives the enter below (the kernel reads it when it takes
    // the entry); the cancel carries no pointer.
    unsafe {
        ring.submission()
            .push_multiple(&[timer, cancel])
            .expect("queue has room for two")
    };
    ring.submit_and_wait(2).expect("io_uring_enter");
    let mut reaped = 0;
    for cqe in ring.completion() {
        match cqe.user_data() {
            TIMER_DATA => assert_eq!(cqe.result(), -libc::ECANCELED, "timer not cancelled"),
            CANCEL_DATA => assert_eq!(cqe.result(), 0, "cancel did not find the timer"),
            other => panic!("unexpected completion {other}"),
        }
        reaped += 1;
    }
    assert_eq!(reaped, 2);
}

fn cancel(c: &mut Criterion) {
    let mut group = c.benchmark_group("cancel");
    group
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .throughput(Throughput::Elements(1));

    let mut raw = floor::raw_ring(ENTRIES);
    let spec = Timespec::from(TIMER);
    group.bench_function("raw-io-uring", |b| b.iter(|| raw_cancel(&mut raw, &spec)));
    drop(raw);

    let ring = Ring::builder().entries(ENTRIES).build().expect("ring");
    group.bench_function("linear-uring", |b| {
        b.iter_custom(|iters| {
            ring.block_on(async {
                let start = Instant::now();
                for _ in 0..iters {
                    let outcome = Timeout::new(&ring, TIMER).submit().cancel().await;
                    assert!(outcome.is_cancelled(), "the timer fired: {outcome:?}");
                }
                start.elapsed()
            })
        })
    });
    assert_eq!(ring.stats().in_flight, 0);
    group.finish();
}

criterion_group!(benches, cancel);
criterion_main!(benches);
