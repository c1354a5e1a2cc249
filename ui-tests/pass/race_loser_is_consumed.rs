//! The correct use that `race_output_must_be_used`, `race_all_output_must_be_used`,
//! `race_takes_tokens_not_futures` and `sqe_option_after_submit` point to: race the
//! tokens themselves, consume every loser, and set a linked timeout before
//! submitting. Runs against the kernel.
#![deny(unused_must_use, let_underscore_drop)]

use std::time::Duration;

use linear_uring::op::Timeout;
use linear_uring::{race, race_all, Raced, Ring};

fn main() {
    let ring = Ring::new().expect("io_uring is available");
    ring.block_on(async {
        // Race the token, not its `complete()` future; the loser comes back owed.
        let slow = Timeout::new(&ring, Duration::from_secs(10)).submit();
        match race(slow, ring.sleep(Duration::from_millis(1))).await {
            Raced::First(fired, _timer) => panic!("a 10 s timer won: {fired:?}"),
            Raced::Second(slow, fired) => {
                fired.expect("the short timer fires");
                assert!(slow.cancel().await.is_cancelled());
            }
        }

        // Every loser of `race_all` is consumed.
        let timers = vec![
            Timeout::new(&ring, Duration::from_secs(10)).submit(),
            Timeout::new(&ring, Duration::from_millis(1)).submit(),
        ];
        let raced = race_all(timers).await;
        assert_eq!(raced.index, 1);
        raced.output.expect("the short timer fires");
        for timer in raced.rest {
            assert!(timer.cancel().await.is_cancelled());
        }

        // Options are set on the description, before `submit()`.
        let cut_off = Timeout::new(&ring, Duration::from_secs(10))
            .timeout(Duration::from_millis(1))
            .submit()
            .complete()
            .await;
        assert!(cut_off.is_err(), "{cut_off:?}");
    });
    let stats = ring.stats();
    assert_eq!(stats.abandoned, 0, "{stats:?}");
    assert_eq!(stats.in_flight, 0, "{stats:?}");
}
