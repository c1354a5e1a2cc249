//! The NOP floor shared by the `nop`, `tasks`, `cancel` and `drop_policy` benches: the raw `io-uring`
//! crate with the setup flags linear-uring picks on this kernel.

use io_uring::{opcode, IoUring};

/// A raw ring with `SINGLE_ISSUER | DEFER_TASKRUN` and, where the kernel has it
/// (Linux 6.6), `NO_SQARRAY`, as linear-uring sets it up.
pub(crate) fn raw_ring(entries: u32) -> IoUring {
    let build = |flat: bool| {
        let mut builder = IoUring::builder();
        builder.setup_single_issuer().setup_defer_taskrun();
        if flat {
            builder.setup_no_sqarray();
        }
        builder.build(entries)
    };
    build(true)
        .or_else(|_| build(false))
        .expect("io_uring_setup")
}

/// Runs `bench` with a batch function like [`raw_batch`] on a ring whose
/// descriptor is registered for this thread (`IORING_REGISTER_RING_FDS`, which
/// linear-uring also does): `io_uring_enter(2)` then takes the registered index,
/// sparing the kernel a descriptor lookup per entry. The floor of a program that
/// registers it; the plain [`raw_batch`] is the floor of one that does not.
#[allow(dead_code)] // Not every bench that shares this file compares with it.
pub(crate) fn with_registered_floor<R>(
    entries: u32,
    bench: impl FnOnce(&mut dyn FnMut(usize)) -> R,
) -> R {
    let mut ring = raw_ring(entries);
    // The registered index lives in this submitter, kept for the whole bench.
    let (mut submitter, mut sq, mut cq) = ring.split();
    submitter
        .register_ring_fd()
        .expect("IORING_REGISTER_RING_FDS (Linux 5.18)");
    let mut batch = |n: usize| {
        for i in 0..n {
            let sqe = opcode::Nop::new().build().user_data(i as u64);
            // SAFETY: a NOP carries no pointer.
            unsafe { sq.push(&sqe).expect("queue sized for the batch") };
        }
        sq.sync();
        submitter.submit_and_wait(n).expect("io_uring_enter");
        cq.sync();
        let mut reaped = 0;
        for cqe in &mut cq {
            assert!(cqe.result() >= 0, "nop failed: {}", cqe.result());
            reaped += 1;
        }
        assert_eq!(reaped, n);
    };
    bench(&mut batch)
}

/// Pushes `batch` NOPs, submits and waits for all of them, reaps them.
pub(crate) fn raw_batch(ring: &mut IoUring, batch: usize) {
    // SAFETY: a NOP carries no pointer.
    unsafe {
        raw_batch_of(
            ring,
            batch,
            || opcode::Nop::new().build(),
            |res| assert!(res >= 0, "nop failed: {res}"),
        )
    }
}

/// Pushes `batch` entries made by `sqe`, submits and waits for all of them, and
/// checks each completion's result with `check`.
///
/// # Safety
///
/// Every pointer in the entries `sqe` makes must stay valid until the batch is
/// reaped, which happens before this returns.
pub(crate) unsafe fn raw_batch_of(
    ring: &mut IoUring,
    batch: usize,
    sqe: impl Fn() -> io_uring::squeue::Entry,
    check: impl Fn(i32),
) {
    for i in 0..batch {
        let sqe = sqe().user_data(i as u64);
        // SAFETY: the caller vouches for the entry's pointers, which live until the
        // reap below.
        unsafe {
            ring.submission()
                .push(&sqe)
                .expect("queue sized for the batch")
        };
    }
    ring.submit_and_wait(batch).expect("io_uring_enter");
    let mut reaped = 0;
    for cqe in ring.completion() {
        check(cqe.result());
        reaped += 1;
    }
    assert_eq!(reaped, batch);
}
