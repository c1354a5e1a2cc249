//! The task path: D spawned tasks, each awaiting one op after another, against the
//! raw `io-uring` crate doing the same number of ops in batches of D (the floor),
//! and the same tasks on tokio-uring (a peer), in one criterion group per op so the
//! report reads as ratios.
//!
//! - `tasks_nop/*/D`: NOPs. `tasks_read0/*/D`: 0-byte reads of `/dev/zero` (the
//!   kernel's file path, with no data copied).
//! - linear-uring: one ring (`SINGLE_ISSUER | DEFER_TASKRUN`, `NO_SQARRAY` where the
//!   kernel has it, 512 entries), D tasks spawned inside one `block_on` per sample,
//!   each running `iters` ops with `op.submit().complete().await`; the sample ends
//!   when every task has finished.
//!   Spawning D tasks is counted, once per sample.
//! - raw-io-uring: the same flags and entries; `iters` batches of D entries, each
//!   batch one `submit_and_wait(D)` and D completions reaped. `raw-io-uring-regfd`
//!   (NOPs): the same, entering through the ring's descriptor registered for the
//!   thread, as linear-uring does.
//! - tokio-uring: its runtime built once, D tasks spawned in one `block_on` per
//!   sample, each awaiting `no_op()` / `read_at` in a loop.
//!
//! One iteration is D ops (throughput in elements, one per op).
//!
//! Run with `CARGO_TARGET_DIR=/tmp/target-bench cargo bench --bench tasks`; the
//! results and the targets are in BENCHMARKS.md.

use std::hint::black_box;
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use io_uring::{opcode, types};
use linear_uring::buf::Empty;
use linear_uring::fs::File;
use linear_uring::Ring;

const TASKS: [usize; 3] = [1, 32, 256];
const ENTRIES: u32 = 512;

#[path = "floor/nop.rs"]
mod floor;

use floor::{raw_batch, raw_batch_of, raw_ring, with_registered_floor};

/// D 0-byte reads of `fd` per batch, on the raw crate.
fn raw_read_batch(ring: &mut io_uring::IoUring, fd: i32, batch: usize) {
    let read = || opcode::Read::new(types::Fd(fd), std::ptr::null_mut(), 0).build();
    // SAFETY: a 0-byte read writes nothing; the descriptor outlives the batch.
    unsafe {
        raw_batch_of(ring, batch, read, |res| {
            assert_eq!(res, 0, "a 0-byte read of /dev/zero reads 0 bytes")
        })
    }
}

fn group(c: &mut Criterion, name: &str, read: bool) {
    let mut group = c.benchmark_group(name);
    group
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    let zero = std::fs::File::open("/dev/zero").expect("/dev/zero");
    for tasks in TASKS {
        group.throughput(Throughput::Elements(tasks as u64));

        let mut raw = raw_ring(ENTRIES);
        group.bench_with_input(BenchmarkId::new("raw-io-uring", tasks), &tasks, |b, &n| {
            if read {
                b.iter(|| raw_read_batch(&mut raw, zero.as_raw_fd(), black_box(n)))
            } else {
                b.iter(|| raw_batch(&mut raw, black_box(n)))
            }
        });
        drop(raw);

        if !read {
            with_registered_floor(ENTRIES, |raw_batch| {
                let id = BenchmarkId::new("raw-io-uring-regfd", tasks);
                group.bench_with_input(id, &tasks, |b, &n| b.iter(|| raw_batch(black_box(n))));
            });
        }

        let ring = Ring::builder().entries(ENTRIES).build().expect("ring");
        let file = std::rc::Rc::new(
            File::from_std(&ring, zero.try_clone().expect("dup")).expect("a ring file"),
        );
        group.bench_with_input(BenchmarkId::new("linear-uring", tasks), &tasks, |b, &n| {
            b.iter_custom(|iters| {
                ring.block_on(async {
                    let start = Instant::now();
                    let handles: Vec<_> = (0..n)
                        .map(|_| {
                            let (ring, file) = (ring.clone(), file.clone());
                            ring.clone().spawn(async move {
                                for _ in 0..iters {
                                    if read {
                                        let (got, _) = file.read(Empty).submit().complete().await;
                                        assert_eq!(got.expect("read"), 0);
                                    } else {
                                        ring.nop().complete().await.expect("nop");
                                    }
                                }
                            })
                        })
                        .collect();
                    for handle in handles {
                        handle.await;
                    }
                    start.elapsed()
                })
            })
        });
        drop(file);
        drop(ring);

        let runtime = tokio_uring::Runtime::new(tokio_uring::builder().entries(ENTRIES))
            .expect("tokio-uring runtime");
        group.bench_with_input(BenchmarkId::new("tokio-uring", tasks), &tasks, |b, &n| {
            b.iter_custom(|iters| {
                runtime.block_on(async {
                    let file = std::rc::Rc::new(
                        tokio_uring::fs::File::open("/dev/zero")
                            .await
                            .expect("/dev/zero"),
                    );
                    let start = Instant::now();
                    let handles: Vec<_> = (0..n)
                        .map(|_| {
                            let file = file.clone();
                            tokio_uring::spawn(async move {
                                for _ in 0..iters {
                                    if read {
                                        let (got, _) = file.read_at(Vec::new(), 0).await;
                                        assert_eq!(got.expect("read"), 0);
                                    } else {
                                        tokio_uring::no_op().await.expect("nop");
                                    }
                                }
                            })
                        })
                        .collect();
                    for handle in handles {
                        handle.await.expect("task");
                    }
                    let elapsed = start.elapsed();
                    match std::rc::Rc::try_unwrap(file) {
                        Ok(file) => file.close().await.expect("close"),
                        Err(_) => panic!("a task still holds the file"),
                    }
                    elapsed
                })
            })
        });
    }
    group.finish();
}

fn tasks(c: &mut Criterion) {
    group(c, "tasks_nop", false);
    group(c, "tasks_read0", true);
}

criterion_group!(benches, tasks);
criterion_main!(benches);
