//! A guard whose `Drop` tries to cancel its op properly: `self.op.cancel().await`.
//! Lesson: a destructor is a plain function; it cannot wait. So what unwinding runs
//! for a token can only be started, not finished: the ring queues the cancel and
//! reaps it later. Waiting for an op's outcome takes an async caller, awaiting
//! `cancel()` before the value goes away.
use linear_uring::op::Nop;
use linear_uring::{CancelOutcome, Op, Ring};

struct Guard {
    op: Option<Op<Nop>>,
}

impl Drop for Guard {
    fn drop(&mut self) {
        if let Some(op) = self.op.take() {
            match op.cancel().await {
                CancelOutcome::Cancelled(()) => println!("cancelled"),
                CancelOutcome::Completed(result) => println!("done first: {result:?}"),
            }
        }
    }
}

fn main() {
    let ring = Ring::new().unwrap();
    let _guard = Guard {
        op: Some(ring.nop()),
    };
}
