//! The NOP floor shared by the `nop` and `drop_policy` benches: the raw `io-uring`
//! crate with the setup flags linear-uring picks on this kernel.

use io_uring::{opcode, IoUring};

/// A raw ring with `SINGLE_ISSUER | DEFER_TASKRUN`, as linear-uring sets it up.
pub(crate) fn raw_ring(entries: u32) -> IoUring {
    IoUring::builder()
        .setup_single_issuer()
        .setup_defer_taskrun()
        .build(entries)
        .expect("io_uring_setup")
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
