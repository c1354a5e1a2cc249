//! Dropping a ring with operations in flight.

use std::time::{Duration, Instant};

use linear_uring::op::Timeout;
use linear_uring::{DropPolicy, ErrorKind, Ring};

#[test]
fn shutdown_with_forgotten_timers_cancels_and_reaps_them() {
    let ring = Ring::builder()
        .drop_policy(DropPolicy::Panic)
        .build()
        .unwrap();
    let handle = ring.clone();
    ring.block_on(async {
        for _ in 0..1000 {
            std::mem::forget(ring.sleep(Duration::from_secs(60)));
        }
    });
    assert_eq!(handle.stats().in_flight, 1000);
    let start = Instant::now();
    drop(ring);
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "{:?}",
        start.elapsed()
    );
    assert!(handle.is_shut_down());
    let stats = handle.stats();
    assert_eq!(stats.in_flight, 0);
    assert_eq!(stats.submitted, 1000);
    assert_eq!(stats.cancelled, 1000);
    // Forgotten tokens are never dropped, so they are not counted as abandoned.
    assert_eq!(stats.abandoned, 0);
}

#[test]
fn shutdown_with_pending_tasks_drops_them_without_panic() {
    let ring = Ring::builder()
        .drop_policy(DropPolicy::Panic)
        .build()
        .unwrap();
    let handle = ring.clone();
    let mut joins = Vec::new();
    for _ in 0..10 {
        let task_ring = ring.clone();
        joins.push(ring.spawn(async move {
            Timeout::new(&task_ring, Duration::from_secs(60))
                .submit()
                .complete()
                .await
        }));
    }
    // Let every task submit its timer, then return with the tasks still pending.
    ring.block_on(async { ring.sleep(Duration::from_millis(5)).complete().await })
        .unwrap();
    assert_eq!(handle.stats().in_flight, 10);
    drop(ring);
    let stats = handle.stats();
    assert_eq!(stats.in_flight, 0);
    assert_eq!(stats.abandoned, 10);
    assert!(joins.iter().all(|join| join.is_finished()));
}

#[test]
fn shutdown_token_held_past_shutdown_resolves_cancelled() {
    let ring = Ring::new().unwrap();
    let handle = ring.clone();
    let timer = ring.sleep(Duration::from_secs(60));
    drop(ring);
    // The ring cancelled and reaped it; the token still learns what happened.
    let outcome = futures_lite::future::block_on(timer.cancel());
    assert!(outcome.is_cancelled(), "{outcome:?}");
    assert_eq!(handle.stats().in_flight, 0);
}

#[test]
fn shutdown_new_op_fails_with_shut_down_error() {
    let ring = Ring::new().unwrap();
    let handle = ring.clone();
    drop(ring);
    let err = futures_lite::future::block_on(handle.nop().complete()).unwrap_err();
    let inner = err
        .get_ref()
        .and_then(|e| e.downcast_ref::<linear_uring::Error>());
    assert_eq!(inner.map(|e| e.kind()), Some(ErrorKind::ShutDown), "{err}");
    assert!(err.to_string().contains("shut down"), "{err}");
}

#[test]
fn shutdown_block_on_after_shutdown_panics_clearly() {
    let ring = Ring::new().unwrap();
    let handle = ring.clone();
    drop(ring);
    let payload =
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| handle.block_on(async {})))
            .unwrap_err();
    let msg = payload.downcast_ref::<&str>().copied().unwrap_or_default();
    assert!(msg.contains("shut down"), "{msg}");
}
