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
    let mut reaped = 0;
    for cqe in ring.completion() {
        assert!(cqe.result() >= 0, "nop failed: {}", cqe.result());
        reaped += 1;
    }
    assert_eq!(reaped, batch);
}
