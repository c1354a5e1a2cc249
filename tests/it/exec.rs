//! The executor: spawn, join, cross-thread wakes, a full submission queue.

use std::future::{poll_fn, Future};
use std::sync::{Arc, Mutex};
use std::task::{Poll, Waker};
use std::time::{Duration, Instant};

use linear_uring::Ring;

#[test]
fn spawn_join_handle_resolves_to_output() {
    let ring = Ring::new().unwrap();
    let task_ring = ring.clone();
    let join = ring.spawn(async move {
        task_ring
            .sleep(Duration::from_millis(1))
            .complete()
            .await
            .unwrap();
        42
    });
    assert_eq!(ring.block_on(join), 42);
}

#[test]
fn spawn_detached_task_still_runs() {
    let ring = Ring::new().unwrap();
    let done = std::rc::Rc::new(std::cell::Cell::new(false));
    let (task_ring, task_done) = (ring.clone(), done.clone());
    drop(ring.spawn(async move {
        task_ring.nop().complete().await.unwrap();
        task_done.set(true);
    }));
    ring.block_on(async { ring.sleep(Duration::from_millis(2)).complete().await })
        .unwrap();
    assert!(done.get());
}

#[test]
fn block_on_nested_panics_clearly() {
    let ring = Ring::new().unwrap();
    let inner = ring.clone();
    let payload = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        ring.block_on(async { inner.block_on(async {}) })
    }))
    .unwrap_err();
    let msg = payload.downcast_ref::<&str>().copied().unwrap_or_default();
    assert!(msg.contains("inside block_on"), "{msg}");
}

/// A one-shot channel whose sender lives on another thread.
#[derive(Default)]
struct Slot {
    value: Option<u32>,
    waker: Option<Waker>,
}

#[test]
fn wake_from_other_thread_reaches_ring_blocked_in_kernel() {
    let ring = Ring::new().unwrap();
    let slot = Arc::new(Mutex::new(Slot::default()));
    let sender = slot.clone();
    let start = Instant::now();
    let thread = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(50));
        let waker = {
            let mut slot = sender.lock().unwrap();
            slot.value = Some(7);
            slot.waker.take()
        };
        waker.expect("the ring's task registered a waker").wake();
    });
    let value = ring.block_on(async {
        // Only this guard timer is in flight besides the eventfd read: if the wake did
        // not reach the kernel wait, the ring would sleep until the guard fires, and
        // the elapsed time below would show it.
        let guard = ring.sleep(Duration::from_secs(3));
        let value = poll_fn(|cx| {
            let mut slot = slot.lock().unwrap();
            match slot.value.take() {
                Some(value) => Poll::Ready(value),
                None => {
                    slot.waker = Some(cx.waker().clone());
                    Poll::Pending
                }
            }
        })
        .await;
        assert!(guard.cancel().await.is_cancelled());
        value
    });
    thread.join().unwrap();
    assert_eq!(value, 7);
    let elapsed = start.elapsed();
    assert!(elapsed >= Duration::from_millis(50), "{elapsed:?}");
    assert!(
        elapsed < Duration::from_secs(2),
        "woke only with the guard timer: {elapsed:?}"
    );
}

#[test]
fn submission_queue_full_is_flushed_not_an_error() {
    const ENTRIES: u32 = 8;
    let ring = Ring::builder().entries(ENTRIES).build().unwrap();
    let results = ring.block_on(async {
        // Ten times the queue's size in flight before anything is awaited.
        let timers: Vec<_> = (0..ENTRIES * 10)
            .map(|i| ring.sleep(Duration::from_millis(1 + u64::from(i % 5))))
            .collect();
        assert_eq!(ring.stats().in_flight, u64::from(ENTRIES * 10));
        let mut results = Vec::new();
        for timer in timers {
            results.push(timer.complete().await);
        }
        results
    });
    assert_eq!(results.len(), (ENTRIES * 10) as usize);
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    let stats = ring.stats();
    assert_eq!(stats.submitted, u64::from(ENTRIES * 10));
    assert_eq!(stats.completed, u64::from(ENTRIES * 10));
    assert_eq!(stats.in_flight, 0);
}

#[test]
fn completion_queue_overflow_loses_no_completion() {
    // Nops complete as soon as they are submitted: 40 times the completion queue's
    // size overflow it unless the ring reaps and flushes correctly.
    let ring = Ring::builder().entries(4).build().unwrap();
    let count = ring.block_on(async {
        let nops: Vec<_> = (0..320).map(|_| ring.nop()).collect();
        let mut ok = 0;
        for nop in nops {
            nop.complete().await.unwrap();
            ok += 1;
        }
        ok
    });
    assert_eq!(count, 320);
    assert_eq!(ring.stats().completed, 320);
}

#[test]
fn busy_task_yielding_in_a_loop_does_not_starve_completions() {
    // The ring runs on its own thread so that a livelock fails the test instead of
    // hanging it: the thread would spin forever.
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let ring = Ring::new().unwrap();
        let done = std::rc::Rc::new(std::cell::Cell::new(false));
        let flag = done.clone();
        // Always runnable: the executor never has a reason to wait in the kernel.
        let busy = ring.spawn(async move {
            let mut spins = 0u64;
            while !flag.get() {
                futures_lite::future::yield_now().await;
                spins += 1;
            }
            spins
        });
        ring.block_on(async {
            ring.sleep(std::time::Duration::from_millis(10))
                .await
                .unwrap();
            done.set(true);
        });
        let spins = ring.block_on(busy);
        let _ = tx.send(spins);
    });
    let spins = rx
        .recv_timeout(std::time::Duration::from_secs(5))
        .expect("the timer never completed while another task kept yielding");
    assert!(spins > 0);
}

/// A wake on the ring's own thread goes on the executor's local queue only while
/// that executor runs `block_on`: from inside another ring's `block_on`, or from
/// outside any, it takes the shared queue and still reaches the task.
#[test]
fn wake_from_another_rings_block_on_or_outside_any_reaches_the_task() {
    use std::cell::{Cell, RefCell};
    use std::rc::Rc;

    let ring = Ring::new().unwrap();
    let other = Ring::new().unwrap();
    for from_other_ring in [true, false] {
        let parked: Rc<RefCell<Option<Waker>>> = Rc::default();
        let polls = Rc::new(Cell::new(0));
        let (task_parked, task_polls) = (parked.clone(), polls.clone());
        let join = ring.spawn(poll_fn(move |cx| {
            task_polls.set(task_polls.get() + 1);
            if task_polls.get() == 1 {
                *task_parked.borrow_mut() = Some(cx.waker().clone());
                Poll::Pending
            } else {
                Poll::Ready(())
            }
        }));
        // Let the task run once and park its waker.
        ring.block_on(async { ring.nop().complete().await })
            .unwrap();
        assert_eq!(polls.get(), 1);
        let waker = parked
            .borrow_mut()
            .take()
            .expect("the task parked its waker");
        if from_other_ring {
            other.block_on(async {
                waker.wake();
                other.nop().complete().await.unwrap();
            });
        } else {
            waker.wake();
        }
        ring.block_on(within_seconds(&ring, join));
        assert_eq!(polls.get(), 2);
    }
}

/// A task woken twice in one turn, from its own thread and from another, is polled
/// and finishes; nothing is lost when both queues hold it.
#[test]
fn task_woken_from_its_thread_and_another_at_once_finishes() {
    let ring = Ring::new().unwrap();
    let parked: Arc<Mutex<Option<Waker>>> = Arc::default();
    let task_parked = parked.clone();
    let mut polls = 0;
    let join = ring.spawn(poll_fn(move |cx| {
        polls += 1;
        if polls <= 200 {
            // Park, and wake itself once here, once from another thread.
            *task_parked.lock().unwrap() = Some(cx.waker().clone());
            cx.waker().wake_by_ref();
            Poll::Pending
        } else {
            Poll::Ready(polls)
        }
    }));
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let waker_thread = {
        let (parked, done) = (parked.clone(), done.clone());
        std::thread::spawn(move || {
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                if let Some(waker) = parked.lock().unwrap().take() {
                    waker.wake();
                }
                std::hint::spin_loop();
            }
        })
    };
    assert_eq!(ring.block_on(within_seconds(&ring, join)), 201);
    done.store(true, std::sync::atomic::Ordering::Relaxed);
    waker_thread.join().unwrap();
}

/// A task's op stores no waker, only the task's id (recorded when the task submits
/// it): when the op's future moves to another task, polled by the first or not, the
/// completion wakes the task that polled it last, even after the first one finished
/// (its id stale).
#[test]
fn op_polled_by_one_task_then_awaited_by_another_wakes_the_second() {
    use std::cell::RefCell;
    use std::pin::Pin;
    use std::rc::Rc;

    type Handed = Rc<RefCell<Option<Pin<Box<dyn Future<Output = ()>>>>>>;
    let ring = Ring::new().unwrap();
    for (first_polls, first_finishes) in
        [(true, true), (true, false), (false, true), (false, false)]
    {
        let handed: Handed = Rc::default();
        let (first_ring, first_handed) = (ring.clone(), handed.clone());
        let first = ring.spawn(async move {
            let sleep = first_ring.sleep(Duration::from_millis(20)).complete();
            let mut sleep: Pin<Box<dyn Future<Output = ()>>> =
                Box::pin(async move { sleep.await.unwrap() });
            if first_polls {
                // Poll it once here, then hand it over.
                poll_fn(|cx| {
                    assert!(sleep.as_mut().poll(cx).is_pending());
                    Poll::Ready(())
                })
                .await;
            }
            *first_handed.borrow_mut() = Some(sleep);
            if !first_finishes {
                first_ring
                    .sleep(Duration::from_secs(30))
                    .complete()
                    .await
                    .unwrap();
            }
        });
        let (second_ring, second_handed) = (ring.clone(), handed.clone());
        let second = ring.spawn(async move {
            while second_handed.borrow().is_none() {
                second_ring.nop().complete().await.unwrap();
            }
            let sleep = second_handed.borrow_mut().take().unwrap();
            sleep.await;
        });
        ring.block_on(within_seconds(&ring, second));
        if first_finishes {
            ring.block_on(first);
        } else {
            drop(first);
        }
    }
}

/// An op polled under a waker that is not a task's (a combinator's own) wakes that
/// waker; polled again under its task's, it wakes the task by its id, and the
/// other waker is let go.
#[test]
fn op_wakes_the_waker_of_its_latest_poll_task_or_not() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::task::{Context, Wake};

    /// Counts its wakes and passes them on to the task.
    struct Forward(Waker, AtomicUsize);
    impl Wake for Forward {
        fn wake(self: Arc<Self>) {
            self.wake_by_ref();
        }
        fn wake_by_ref(self: &Arc<Self>) {
            self.1.fetch_add(1, Ordering::SeqCst);
            self.0.wake_by_ref();
        }
    }

    let ring = Ring::new().unwrap();
    for foreign_last in [true, false] {
        let task_ring = ring.clone();
        let join = ring.spawn(async move {
            let mut sleep = Box::pin(task_ring.sleep(Duration::from_millis(10)).complete());
            let forward = poll_fn(|cx| {
                Poll::Ready(Arc::new(Forward(cx.waker().clone(), AtomicUsize::new(0))))
            })
            .await;
            let foreign = Waker::from(forward.clone());
            let mut polled = false;
            poll_fn(|cx| {
                if polled {
                    // Woken: by the task's id, or through `forward`.
                    return Poll::Ready(());
                }
                polled = true;
                let mut foreign_cx = Context::from_waker(&foreign);
                if foreign_last {
                    assert!(sleep.as_mut().poll(cx).is_pending());
                    assert!(sleep.as_mut().poll(&mut foreign_cx).is_pending());
                } else {
                    assert!(sleep.as_mut().poll(&mut foreign_cx).is_pending());
                    assert!(sleep.as_mut().poll(cx).is_pending());
                }
                Poll::Pending
            })
            .await;
            sleep.await.unwrap();
            forward.1.load(Ordering::SeqCst)
        });
        let forwarded = ring.block_on(within_seconds(&ring, join));
        assert_eq!(
            forwarded,
            usize::from(foreign_last),
            "foreign last: {foreign_last}"
        );
    }
}

/// `future`'s output, or a panic if it takes more than five seconds: a lost wake-up
/// fails the test instead of hanging it.
async fn within_seconds<T>(ring: &Ring, future: impl std::future::Future<Output = T>) -> T {
    futures_lite::future::or(future, async {
        ring.sleep(Duration::from_secs(5)).complete().await.unwrap();
        panic!("the task was never woken again");
    })
    .await
}
