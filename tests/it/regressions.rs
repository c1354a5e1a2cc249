//! Regression tests for failures found in review, each named after what it pins.

use std::future::{poll_fn, Future};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;
use std::task::{Wake, Waker};
use std::time::{Duration, Instant};

use linear_uring::net::TcpListener;
use linear_uring::op::Timeout;
use linear_uring::{DropPolicy, ErrorKind, Ring};

use crate::fds::FdCheck;

fn ring() -> Ring {
    Ring::builder()
        .drop_policy(DropPolicy::Panic)
        .build()
        .unwrap()
}

#[test]
fn one_entry_ring_is_a_clear_setup_error() {
    // An op and its linked timeout are pushed together: one entry could never hold
    // them, and a linked push would spin forever.
    let err = Ring::builder().entries(1).build().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Setup);
    assert!(err.to_string().contains("between 2 and 32768"), "{err}");
}

#[test]
fn huge_durations_saturate_instead_of_failing_or_firing_at_once() {
    let fds = FdCheck::start();
    let ring = ring();
    let listener = TcpListener::bind(&ring, "127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    ring.block_on(async {
        // `Duration::MAX` means "no timeout": the accept waits for its client.
        let accept = listener.accept().timeout(Duration::MAX).submit();
        ring.sleep(Duration::from_millis(20)).await.unwrap();
        let client = std::net::TcpStream::connect(addr).unwrap();
        let (stream, peer) = accept.complete().await.unwrap();
        assert_eq!(peer, client.local_addr().unwrap());
        stream.close().await.unwrap();
        // A timer that never fires is still removed by a cancel.
        let never = Timeout::new(&ring, Duration::MAX).submit();
        assert!(never.cancel().await.is_cancelled());
    });
    assert_eq!(ring.stats().in_flight, 0);
    drop((listener, ring));
    fds.finish();
}

#[test]
fn op_awaited_outside_its_ring_panics_instead_of_hanging() {
    let a = ring();
    let b = ring();
    let op = Timeout::new(&a, Duration::from_secs(10)).submit();
    let payload = catch_unwind(AssertUnwindSafe(|| b.block_on(op.complete()))).unwrap_err();
    let msg = payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|msg| msg.to_string()))
        .unwrap_or_default();
    assert!(msg.contains("outside the ring's block_on"), "{msg}");
    // The token was abandoned while unwinding: no second panic, and it is cancelled.
    a.block_on(async { a.sleep(Duration::from_millis(5)).await })
        .unwrap();
    assert_eq!(a.stats().in_flight, 0);
}

#[test]
fn panicking_task_does_not_strand_the_tasks_woken_with_it() {
    let ring = ring();
    let (first, second) = (ring.clone(), ring.clone());
    let panics = ring.spawn(async move {
        first.sleep(Duration::from_millis(5)).await.unwrap();
        panic!("a task's own panic");
    });
    let survivor = ring.spawn(async move {
        second.sleep(Duration::from_millis(5)).await.unwrap();
        second.sleep(Duration::from_millis(5)).await.unwrap();
        7
    });
    drop(panics);
    let caught = catch_unwind(AssertUnwindSafe(|| {
        ring.block_on(async { ring.sleep(Duration::from_millis(50)).await })
    }));
    assert!(
        caught.is_err(),
        "the task's panic propagates out of block_on"
    );
    // Both tasks were woken by timers reaped together; the survivor still runs.
    let start = Instant::now();
    assert_eq!(ring.block_on(survivor), 7);
    assert!(start.elapsed() < Duration::from_secs(1));
}

thread_local! {
    /// The ring `ReentrantWaker` calls back into (a waker must be `Send`, a ring is
    /// not, so it is reached through the thread).
    static CALLBACK_RING: std::cell::RefCell<Option<Ring>> = const { std::cell::RefCell::new(None) };
}

/// A waker whose drop calls back into the ring.
struct ReentrantWaker;

impl Wake for ReentrantWaker {
    fn wake(self: Arc<Self>) {}
}

impl Drop for ReentrantWaker {
    fn drop(&mut self) {
        // Would panic with "already borrowed" if the table were borrowed here.
        CALLBACK_RING.with(|ring| {
            if let Some(ring) = ring.borrow().as_ref() {
                let _ = ring.stats();
            }
        });
    }
}

#[test]
fn waker_dropped_by_the_ring_may_call_back_into_it() {
    let ring = ring();
    CALLBACK_RING.with(|cell| *cell.borrow_mut() = Some(ring.clone()));
    ring.block_on(async {
        let mut op = Timeout::new(&ring, Duration::from_millis(5))
            .submit()
            .complete();
        // Poll once with a foreign waker that the table stores, then with the
        // block_on waker, which replaces (and drops) it.
        let foreign = Waker::from(Arc::new(ReentrantWaker));
        let mut cx = std::task::Context::from_waker(&foreign);
        assert!(std::pin::Pin::new(&mut op).poll(&mut cx).is_pending());
        drop(foreign);
        poll_fn(|cx| std::pin::Pin::new(&mut op).poll(cx))
            .await
            .unwrap();
    });
    CALLBACK_RING.with(|cell| cell.borrow_mut().take());
    assert_eq!(ring.stats().in_flight, 0);
}

#[test]
fn task_drop_panicking_at_shutdown_still_reaps_everything() {
    struct PanicOnDrop;
    impl Drop for PanicOnDrop {
        fn drop(&mut self) {
            panic!("a task's drop panicked");
        }
    }
    let ring = ring();
    let handle = ring.clone();
    let task_ring = ring.clone();
    drop(ring.spawn(async move {
        let _guard = PanicOnDrop;
        Timeout::new(&task_ring, Duration::from_secs(60))
            .submit()
            .complete()
            .await
    }));
    ring.block_on(async { ring.sleep(Duration::from_millis(5)).await })
        .unwrap();
    assert_eq!(handle.stats().in_flight, 1);
    let caught = catch_unwind(AssertUnwindSafe(|| drop(ring)));
    assert!(
        caught.is_err(),
        "the drop's panic is resumed after the shutdown"
    );
    assert!(handle.is_shut_down());
    assert_eq!(handle.stats().in_flight, 0);
}
