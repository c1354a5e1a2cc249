//! Zero-copy send against a copying send, on loopback, by message size.
//!
//! One TCP connection on loopback; a reader thread drains it. Each iteration sends
//! 4 MiB in messages of one size, one send in flight at a time, each completed
//! before the next: the raw `io-uring` crate's `IORING_OP_SEND` (the floor),
//! linear-uring's `send` and linear-uring's `send_zc`, in one criterion group per
//! size, so that each reads as a ratio to the floor measured in the same run.
//!
//! Run with `CARGO_TARGET_DIR=/tmp/target-bench cargo bench --bench send_zc`; the
//! results are in BENCHMARKS.md.

use std::io::Read;
use std::net::{TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::thread;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use io_uring::{opcode, types, IoUring};
use linear_uring::Ring;

/// Bytes per iteration.
const TOTAL: usize = 4 << 20;
const SIZES: [usize; 3] = [64, 16 * 1024, 1 << 20];

/// A connected pair: the sending end, and a thread that reads everything.
fn connection() -> (TcpStream, thread::JoinHandle<u64>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let sender = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    sender.set_nodelay(true).unwrap();
    let (mut receiver, _) = listener.accept().unwrap();
    let reader = thread::spawn(move || {
        let mut buf = vec![0u8; 1 << 20];
        let mut total = 0u64;
        loop {
            match receiver.read(&mut buf) {
                Ok(0) | Err(_) => return total,
                Ok(n) => total += n as u64,
            }
        }
    });
    (sender, reader)
}

/// The floor: the raw crate sends `TOTAL` bytes in `size`-byte sends.
fn raw_send(ring: &mut IoUring, fd: i32, message: &[u8]) {
    let mut sent = 0;
    while sent < TOTAL {
        let sqe = opcode::Send::new(types::Fd(fd), message.as_ptr(), message.len() as u32)
            .flags(libc::MSG_NOSIGNAL)
            .build()
            .user_data(1);
        // SAFETY: `message` outlives the op, which is completed below before it
        // is used again.
        unsafe { ring.submission().push(&sqe).expect("room for one entry") };
        ring.submit_and_wait(1).expect("io_uring_enter");
        let cqe = ring.completion().next().expect("one completion");
        assert!(cqe.result() > 0, "send failed: {}", cqe.result());
        sent += cqe.result() as usize;
    }
}

fn send_zc(c: &mut Criterion) {
    for size in SIZES {
        let mut group = c.benchmark_group(format!("send_zc/{size}"));
        group
            .sample_size(20)
            .warm_up_time(Duration::from_secs(1))
            .measurement_time(Duration::from_secs(3))
            .throughput(Throughput::Bytes(TOTAL as u64));

        let (sender, reader) = connection();
        let mut raw = IoUring::new(8).unwrap();
        let message = vec![7u8; size];
        group.bench_function(BenchmarkId::new("raw-send", size), |b| {
            b.iter(|| raw_send(&mut raw, sender.as_raw_fd(), &message))
        });
        drop(sender);
        reader.join().unwrap();

        for zero_copy in [false, true] {
            let (sender, reader) = connection();
            let ring = Ring::new().unwrap();
            let stream = linear_uring::net::TcpStream::from_std(&ring, sender).unwrap();
            let name = if zero_copy { "send-zc" } else { "send" };
            let mut buf = Some(vec![7u8; size]);
            group.bench_function(BenchmarkId::new(name, size), |b| {
                b.iter_custom(|iters| {
                    let start = Instant::now();
                    ring.block_on(async {
                        for _ in 0..iters {
                            let mut sent = 0;
                            while sent < TOTAL {
                                let message = buf.take().expect("the buffer is back");
                                let (n, back) = if zero_copy {
                                    stream.send_zc(message).submit().complete().await
                                } else {
                                    stream.send(message).submit().complete().await
                                };
                                buf = Some(back);
                                sent += n.expect("send");
                            }
                        }
                    });
                    start.elapsed()
                })
            });
            ring.block_on(stream.close()).unwrap();
            reader.join().unwrap();
        }
        group.finish();
    }
}

criterion_group!(benches, send_zc);
criterion_main!(benches);
