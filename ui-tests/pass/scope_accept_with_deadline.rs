//! The correct use the scope cases point to: an accept raced against a deadline in a
//! proof-carrying scope. The loser of each race is the same debt, still owed; the
//! closure can only return once it has been paid. Runs against the kernel.
#![deny(unused_must_use, let_underscore_drop)]

use std::time::Duration;

use linear_uring::net::TcpListener;
use linear_uring::{race, Raced, Ring};

fn main() {
    let ring = Ring::new().expect("io_uring is available");
    let listener = TcpListener::bind(&ring, "127.0.0.1:0").expect("bind");
    let ticks = ring.block_on(ring.scope(async |s| {
        let mut accept = s.submit(listener.accept());
        let mut ticks = 0;
        loop {
            match race(accept, ring.sleep(Duration::from_millis(1))).await {
                Raced::First((connection, s), _timer) => {
                    drop(connection);
                    break (s.paid(), ticks);
                }
                Raced::Second(pending, _) if ticks < 3 => {
                    ticks += 1;
                    accept = pending;
                }
                // Enough waiting: cancel, and whatever happened, the scope is back.
                Raced::Second(pending, _) => {
                    let (outcome, s) = pending.cancel().await;
                    assert!(outcome.is_cancelled());
                    break (s.paid(), ticks);
                }
            }
        }
    }));
    assert_eq!(ticks, 3);
    assert_eq!(ring.stats().abandoned, 0);
}
