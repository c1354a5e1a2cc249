//! The correct use the compile-fail cases point to: every token consumed, every
//! outcome looked at. Runs against the kernel.
#![deny(unused_must_use, let_underscore_drop)]

use std::time::Duration;

use linear_uring::op::Timeout;
use linear_uring::{CancelOutcome, Ring};

fn main() {
    let ring = Ring::new().expect("io_uring is available");
    ring.block_on(async {
        // Complete: consume the token, get the output.
        let nop = ring.nop();
        let submitted_at = nop.location();
        nop.complete().await.expect("a nop succeeds");
        assert!(submitted_at.file().ends_with("complete_and_cancel.rs"));

        // Cancel: consume the token, look at what really happened.
        let timer = Timeout::new(&ring, Duration::from_secs(10)).submit();
        match timer.cancel().await {
            CancelOutcome::Cancelled(()) => {}
            CancelOutcome::Completed(fired) => panic!("a 10 s timer fired first: {fired:?}"),
        }
    });
    let stats = ring.stats();
    assert_eq!(stats.abandoned, 0, "{stats:?}");
    assert_eq!(stats.in_flight, 0, "{stats:?}");
}
