//! A description is free until submitted: build one, drop one, submit another and
//! consume its token. Runs against the kernel.
#![deny(unused_must_use, let_underscore_drop)]

use std::time::Duration;

use linear_uring::op::{Nop, Timeout};
use linear_uring::Ring;

fn main() {
    let ring = Ring::new().expect("io_uring is available");
    // Dropping a description costs nothing and abandons nothing.
    drop(Timeout::new(&ring, Duration::from_secs(10)));
    ring.block_on(async {
        let nop = Nop::new(&ring).submit();
        nop.complete().await.expect("a nop succeeds");

        let timer = Timeout::new(&ring, Duration::from_millis(1)).submit();
        timer.complete().await.expect("a timer fires");

        // Many ops in flight before any is awaited; each one consumed.
        let a = Timeout::new(&ring, Duration::from_secs(10)).submit();
        let b = ring.nop();
        b.complete().await.expect("a nop succeeds");
        assert!(a.cancel().await.is_cancelled());
    });
    let stats = ring.stats();
    assert_eq!(stats.abandoned, 0, "{stats:?}");
    assert_eq!(stats.in_flight, 0, "{stats:?}");
}
