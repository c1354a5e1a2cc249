//! The correct use that `race_all_of_mixed_kinds` points to: `select` over a tuple
//! races values of different kinds and hands back every loser, typed, in its place.
//! Runs against the kernel.
#![deny(unused_must_use, let_underscore_drop)]

use std::time::Duration;

use linear_uring::op::Timeout;
use linear_uring::{select, Raced3, Ring};

fn main() {
    let ring = Ring::new().expect("io_uring is available");
    ring.block_on(async {
        let linear = Timeout::new(&ring, Duration::from_secs(10)).submit();
        let nop = ring.nop();
        let tick = ring.sleep(Duration::from_secs(10));
        match select((linear, nop, tick)).await {
            Raced3::Second(linear, done, tick) => {
                done.expect("a nop succeeds");
                // Both losers are still owed: cancel them.
                assert!(linear.cancel().await.is_cancelled());
                assert!(tick.cancel().await.is_cancelled());
            }
            Raced3::First(..) | Raced3::Third(..) => panic!("a 10 s timer beat a nop"),
        }
    });
    let stats = ring.stats();
    assert_eq!(stats.abandoned, 0, "{stats:?}");
    assert_eq!(stats.in_flight, 0, "{stats:?}");
}
