//! Tokens completed and cancelled, with each outcome.

use std::time::{Duration, Instant};

use linear_uring::{CancelOutcome, DropPolicy, Ring};

#[test]
fn nop_complete_resolves_ok() {
    let ring = Ring::new().unwrap();
    let result = ring.block_on(async { ring.nop().complete().await });
    result.unwrap();
    let stats = ring.stats();
    assert_eq!(stats.submitted, 1);
    assert_eq!(stats.completed, 1);
    assert_eq!(stats.in_flight, 0);
}

#[test]
fn timeout_complete_waits_its_duration() {
    let ring = Ring::new().unwrap();
    let start = Instant::now();
    ring.block_on(async { ring.sleep(Duration::from_millis(20)).complete().await })
        .unwrap();
    assert!(
        start.elapsed() >= Duration::from_millis(20),
        "{:?}",
        start.elapsed()
    );
}

#[test]
fn timeout_cancel_pending_resolves_cancelled_at_once() {
    let ring = Ring::new().unwrap();
    let start = Instant::now();
    let outcome = ring.block_on(async { ring.sleep(Duration::from_secs(10)).cancel().await });
    assert!(
        matches!(outcome, CancelOutcome::Cancelled(())),
        "{outcome:?}"
    );
    assert!(
        start.elapsed() < Duration::from_secs(1),
        "{:?}",
        start.elapsed()
    );
    assert_eq!(ring.stats().cancelled, 1);
    assert_eq!(ring.stats().in_flight, 0);
}

#[test]
fn timeout_cancel_after_firing_resolves_completed() {
    let ring = Ring::builder()
        .drop_policy(DropPolicy::Panic)
        .build()
        .unwrap();
    let outcome = ring.block_on(async {
        let timer = ring.sleep(Duration::from_millis(1));
        // Let the timer fire (and its completion be reaped) before cancelling.
        ring.sleep(Duration::from_millis(30))
            .complete()
            .await
            .unwrap();
        timer.cancel().await
    });
    assert!(
        matches!(outcome, CancelOutcome::Completed(Ok(()))),
        "{outcome:?}"
    );
    assert_eq!(ring.stats().cancelled, 0);
}

#[test]
fn sleep_dropped_is_quiet_and_removes_the_timer() {
    let ring = Ring::builder()
        .drop_policy(DropPolicy::Panic)
        .build()
        .unwrap();
    ring.block_on(async {
        drop(ring.sleep(Duration::from_secs(10)));
        let mut pending = ring.sleep(Duration::from_secs(10));
        assert!(futures_lite::future::poll_once(&mut pending)
            .await
            .is_none());
        drop(pending);
        ring.sleep(Duration::from_millis(5)).await.unwrap();
    });
    let stats = ring.stats();
    assert_eq!(stats.abandoned, 0, "a timer is not a debt");
    assert_eq!(stats.cancelled, 2, "both kernel timers were removed");
    assert_eq!(stats.in_flight, 0);
}

#[test]
fn await_on_token_or_description_completes_it() {
    let ring = Ring::new().unwrap();
    ring.block_on(async {
        // A token awaited is a token completed.
        ring.nop().await.unwrap();
        // A description awaited is submitted, then completed.
        linear_uring::op::Timeout::new(&ring, Duration::from_millis(1))
            .await
            .unwrap();
        linear_uring::op::Nop::new(&ring).await.unwrap();
    });
    let stats = ring.stats();
    assert_eq!((stats.submitted, stats.completed), (3, 3));
    assert_eq!(stats.in_flight, 0);
}
