//! Thread-per-core: mailboxes rung with `IORING_OP_MSG_RING`, descriptors handed
//! between rings, and the `Runtime` that starts a ring per thread.
//!
//! Every value in transit has exactly one owner: the sender, the mailbox, the
//! receiver, or the sender again when the value comes back. The ledger below records
//! where each value was when it was dropped, and that it was dropped once.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream as StdUnixStream;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_lite::future;
use linear_uring::runtime::{Runtime, Worker};
use linear_uring::{DropPolicy, Ring};

use crate::fds::FdCheck;
use crate::storm::check::Rng;

/// Where a value was when it was dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Place {
    /// Handed to `send` and never seen again by its sender: the mailbox's close
    /// dropped it (the only other way out of a mailbox is a receive).
    InTransit,
    /// Taken by a receiver, which closed it.
    Received,
    /// Came back to its sender as `Undelivered`.
    Returned,
}

#[derive(Default)]
struct Ledger {
    created: AtomicU64,
    dropped: Mutex<HashMap<u64, Place>>,
}

impl Ledger {
    fn count(&self, place: Place) -> usize {
        let dropped = self.dropped.lock().unwrap();
        dropped.values().filter(|p| **p == place).count()
    }
}

/// A connected pair of sockets (two descriptors) that reports its drop.
struct Tracked {
    id: u64,
    place: Place,
    ends: (StdUnixStream, StdUnixStream),
    ledger: Arc<Ledger>,
}

impl Tracked {
    fn new(ledger: &Arc<Ledger>) -> Tracked {
        let id = ledger.created.fetch_add(1, Ordering::Relaxed);
        Tracked {
            id,
            place: Place::InTransit,
            ends: StdUnixStream::pair().unwrap(),
            ledger: ledger.clone(),
        }
    }

    /// Proves both descriptors are still the pair they were: a byte written to one
    /// end comes out of the other.
    fn check_alive(&mut self) {
        self.ends.0.write_all(&[self.id as u8]).unwrap();
        let mut byte = [0u8];
        self.ends.1.read_exact(&mut byte).unwrap();
        assert_eq!(byte[0], self.id as u8);
    }
}

impl Drop for Tracked {
    fn drop(&mut self) {
        let previous = self
            .ledger
            .dropped
            .lock()
            .unwrap()
            .insert(self.id, self.place);
        assert!(previous.is_none(), "value {} dropped twice", self.id);
    }
}

#[test]
fn mailbox_value_sent_to_its_own_ring_is_received() {
    let fds = FdCheck::start();
    let ring = Ring::new().unwrap();
    let mailbox = ring.mailbox::<StdUnixStream>().unwrap();
    let (mut mine, theirs) = StdUnixStream::pair().unwrap();
    ring.block_on(async {
        mailbox
            .address()
            .send(&ring, theirs)
            .complete()
            .await
            .unwrap();
        let mut theirs = mailbox.recv().await;
        theirs.write_all(b"x").unwrap();
    });
    let mut byte = [0u8];
    mine.read_exact(&mut byte).unwrap();
    assert_eq!(&byte, b"x");
    assert!(mailbox.is_empty());
    drop((mine, mailbox, ring));
    fds.finish();
}

#[test]
fn mailbox_a_ring_has_one_mailbox_at_a_time() {
    let ring = Ring::new().unwrap();
    let first = ring.mailbox::<u32>().unwrap();
    let err = ring.mailbox::<u64>().unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::AlreadyExists);
    assert!(err.to_string().contains("already has a mailbox"), "{err}");
    drop(first);
    ring.mailbox::<u64>()
        .expect("a new mailbox once the old one is gone");
}

#[test]
fn mailbox_send_to_a_dropped_mailbox_hands_the_value_back() {
    let fds = FdCheck::start();
    let ledger = Arc::new(Ledger::default());
    let sender = Ring::new().unwrap();
    let target = Ring::new().unwrap();
    let mailbox = target.mailbox::<Tracked>().unwrap();
    let address = mailbox.address();
    drop(mailbox);
    assert!(!address.is_open());
    let undelivered = sender
        .block_on(address.send(&sender, Tracked::new(&ledger)).complete())
        .unwrap_err();
    assert_eq!(undelivered.error().kind(), std::io::ErrorKind::BrokenPipe);
    let mut value = undelivered.into_value();
    value.check_alive();
    value.place = Place::Returned;
    drop(value);
    assert_eq!(ledger.count(Place::Returned), 1);
    drop((address, target, sender));
    fds.finish();
}

#[test]
fn mailbox_values_queued_when_the_target_shuts_down_are_dropped_once() {
    let fds = FdCheck::start();
    let ledger = Arc::new(Ledger::default());
    let sender = Ring::new().unwrap();
    let target = Ring::new().unwrap();
    let mailbox = target.mailbox::<Tracked>().unwrap();
    let address = mailbox.address();
    sender.block_on(async {
        for _ in 0..10 {
            address
                .send(&sender, Tracked::new(&ledger))
                .complete()
                .await
                .unwrap();
        }
    });
    assert_eq!(mailbox.len(), 10);
    // The ring's shutdown closes the mailbox, though the `Mailbox` is still alive.
    drop(target);
    assert_eq!(ledger.count(Place::InTransit), 10);
    assert!(mailbox.try_recv().is_none());
    // And a later send comes back.
    let back = sender
        .block_on(address.send(&sender, Tracked::new(&ledger)).complete())
        .unwrap_err();
    let mut value = back.into_value();
    value.place = Place::Returned;
    drop(value);
    assert_eq!(ledger.count(Place::Returned), 1);
    drop((mailbox, address, sender));
    assert_eq!(ledger.dropped.lock().unwrap().len(), 11);
    fds.finish();
}

#[test]
fn mailbox_send_token_dropped_still_delivers_the_value() {
    let fds = FdCheck::start();
    let ledger = Arc::new(Ledger::default());
    let ring = Ring::builder()
        .drop_policy(DropPolicy::Reclaim)
        .build()
        .unwrap();
    let mailbox = ring.mailbox::<Tracked>().unwrap();
    drop(mailbox.address().send(&ring, Tracked::new(&ledger)));
    let mut value = ring.block_on(mailbox.recv());
    value.check_alive();
    value.place = Place::Received;
    drop(value);
    assert_eq!(ring.stats().abandoned, 1);
    drop((mailbox, ring));
    assert_eq!(ledger.count(Place::Received), 1);
    fds.finish();
}

#[test]
fn mailbox_recv_wakes_a_thread_waiting_in_the_kernel() {
    let fds = FdCheck::start();
    let (address_tx, address_rx) = std::sync::mpsc::channel();
    let (done_tx, done_rx) = std::sync::mpsc::channel();
    let receiver = std::thread::spawn(move || {
        let ring = Ring::new().unwrap();
        let mailbox = ring.mailbox::<u64>().unwrap();
        address_tx.send(mailbox.address()).unwrap();
        // Nothing else is in flight: the thread sleeps in io_uring_enter until the
        // doorbell's completion arrives.
        let first = ring.block_on(mailbox.recv());
        let second = ring.block_on(mailbox.recv());
        done_tx.send((first, second)).unwrap();
    });
    let address = address_rx.recv().unwrap();
    let ring = Ring::new().unwrap();
    for value in [7, 8] {
        std::thread::sleep(Duration::from_millis(50));
        ring.block_on(address.send(&ring, value).complete())
            .unwrap();
    }
    // A lost doorbell would leave the receiver asleep: fail rather than hang.
    let received = done_rx
        .recv_timeout(Duration::from_secs(10))
        .expect("the receiver was not woken by the doorbell");
    assert_eq!(received, (7, 8));
    receiver.join().unwrap();
    drop((address, ring));
    fds.finish();
}

#[test]
fn mailbox_two_tasks_waiting_on_one_mailbox_each_get_a_value() {
    let ring = Ring::new().unwrap();
    let mailbox = std::rc::Rc::new(ring.mailbox::<u32>().unwrap());
    let address = mailbox.address();
    let waiting: Vec<_> = (0..2)
        .map(|_| {
            let mailbox = mailbox.clone();
            ring.spawn(async move { mailbox.recv().await })
        })
        .collect();
    let got = ring.block_on(async {
        // Both tasks are waiting before anything is sent.
        ring.sleep(Duration::from_millis(5)).await.unwrap();
        let sender = std::thread::spawn(move || {
            let ring = Ring::new().unwrap();
            for value in [1, 2] {
                ring.block_on(address.send(&ring, value).complete())
                    .unwrap();
            }
        });
        let all = async {
            let mut got = Vec::new();
            for task in waiting {
                got.push(task.await);
            }
            got
        };
        let got = futures_lite::future::or(async { Some(all.await) }, async {
            ring.sleep(Duration::from_secs(10)).await.unwrap();
            None
        })
        .await;
        sender.join().unwrap();
        got
    });
    let mut got = got.expect("a waiting task was never woken");
    got.sort();
    assert_eq!(got, [1, 2]);
}

/// Random hand-offs between `threads` workers that stop at random points: values
/// are created, sent to random workers (themselves included), received, checked,
/// forwarded or closed. Workers that stopped have closed mailboxes, so sends to them
/// come back, and what was queued for them is dropped by the close.
fn hand_off_storm(seed: u64, threads: usize) -> (usize, usize, usize) {
    let fds = FdCheck::start();
    let ledger = Arc::new(Ledger::default());
    let tallies = Runtime::builder()
        .threads(threads)
        .build()
        .unwrap()
        .run(|worker: Worker<Tracked>| {
            let ledger = ledger.clone();
            async move {
                let mut rng = Rng::derive(seed, &[worker.index() as u64]);
                let ring = worker.ring().clone();
                let steps = 20 + rng.below(300);
                let (mut received, mut returned) = (0u64, 0u64);
                for _ in 0..steps {
                    let mut outgoing = None;
                    match rng.below(4) {
                        0 | 1 => outgoing = Some(Tracked::new(&ledger)),
                        2 => {
                            if let Some(mut value) = worker.mailbox().try_recv() {
                                value.check_alive();
                                received += 1;
                                if rng.chance(50) {
                                    outgoing = Some(value); // forward it
                                } else {
                                    value.place = Place::Received;
                                }
                            }
                        }
                        _ => {
                            // Wait for mail a little: the thread sleeps in the kernel
                            // until a doorbell or the timer.
                            let timer = ring.sleep(Duration::from_micros(200));
                            let mail = future::or(async { Some(worker.recv().await) }, async {
                                timer.await.unwrap();
                                None
                            })
                            .await;
                            if let Some(mut value) = mail {
                                value.check_alive();
                                received += 1;
                                value.place = Place::Received;
                            }
                        }
                    }
                    if let Some(mut value) = outgoing {
                        value.place = Place::InTransit;
                        let to = rng.below(worker.threads() as u64) as usize;
                        if let Err(undelivered) =
                            worker.peer(to).send(&ring, value).complete().await
                        {
                            assert_eq!(
                                undelivered.error().kind(),
                                std::io::ErrorKind::BrokenPipe,
                                "{}",
                                undelivered.error()
                            );
                            let mut value = undelivered.into_value();
                            value.check_alive();
                            value.place = Place::Returned;
                            returned += 1;
                        }
                    }
                }
                (received, returned)
            }
        })
        .unwrap();
    let created = ledger.created.load(Ordering::Relaxed) as usize;
    let dropped = ledger.dropped.lock().unwrap().len();
    assert_eq!(
        dropped, created,
        "seed {seed}: {created} values created, {dropped} dropped"
    );
    let returned: u64 = tallies.iter().map(|t| t.1).sum();
    assert_eq!(
        ledger.count(Place::Returned),
        returned as usize,
        "seed {seed}"
    );
    let received: u64 = tallies.iter().map(|t| t.0).sum();
    assert!(
        ledger.count(Place::Received) as u64 <= received,
        "seed {seed}: more values closed by receivers than were received"
    );
    eprintln!(
        "seed {seed}: {created} values, {} closed by receivers, {} returned, {} dropped by a closing mailbox",
        ledger.count(Place::Received),
        ledger.count(Place::Returned),
        ledger.count(Place::InTransit),
    );
    fds.finish();
    (
        ledger.count(Place::Received),
        ledger.count(Place::Returned),
        ledger.count(Place::InTransit),
    )
}

#[test]
fn runtime_hand_off_storm_every_descriptor_has_one_owner_and_is_closed_once() {
    let mut totals = (0, 0, 0);
    for seed in 0..6 {
        let (received, returned, dropped) = hand_off_storm(seed, 2 + (seed as usize % 3));
        totals = (totals.0 + received, totals.1 + returned, totals.2 + dropped);
    }
    // Every way out of a hand-off was taken: received, sent back, dropped by a close.
    let (received, returned, dropped) = totals;
    assert!(received > 100 && returned > 10 && dropped > 0, "{totals:?}");
}

#[test]
fn runtime_listeners_share_one_port_and_every_thread_accepts() {
    let fds = FdCheck::start();
    let runtime = Runtime::builder()
        .threads(2)
        .listen("127.0.0.1:0".parse().unwrap())
        .build()
        .unwrap();
    let addr = runtime.local_addr().unwrap();
    assert_ne!(addr.port(), 0);
    const CLIENTS: usize = 200;
    // The clients connect before the threads start: the connections wait in the
    // listeners' backlogs, spread by the kernel's SO_REUSEPORT hash.
    let clients: Vec<_> = (0..CLIENTS)
        .map(|_| std::net::TcpStream::connect(addr).unwrap())
        .collect();
    let done = Arc::new(AtomicU64::new(0));
    let accepted = runtime
        .run(|worker: Worker<()>| {
            let done = done.clone();
            async move {
                let listener = worker.take_listener().expect("a listener per thread");
                assert!(worker.take_listener().is_none());
                let mut accepted = 0;
                while done.load(Ordering::SeqCst) < CLIENTS as u64 {
                    let timer = worker.ring().sleep(Duration::from_millis(20));
                    match linear_uring::race(listener.accept().submit(), timer).await {
                        linear_uring::Raced::First(Ok((stream, _)), timer) => {
                            drop(timer);
                            stream.close().await.unwrap();
                            accepted += 1;
                            done.fetch_add(1, Ordering::SeqCst);
                        }
                        linear_uring::Raced::First(Err(err), _) => panic!("accept: {err}"),
                        linear_uring::Raced::Second(accept, _) => {
                            if let linear_uring::CancelOutcome::Completed(Ok((stream, _))) =
                                accept.cancel().await
                            {
                                stream.close().await.unwrap();
                                accepted += 1;
                                done.fetch_add(1, Ordering::SeqCst);
                            }
                        }
                    }
                }
                accepted
            }
        })
        .unwrap();
    assert_eq!(accepted.iter().sum::<u64>(), CLIENTS as u64);
    assert!(
        accepted.iter().all(|&n| n > 0),
        "the kernel gave every connection to one thread: {accepted:?}"
    );
    drop(clients);
    fds.finish();
}

#[test]
fn runtime_ring_that_cannot_be_built_runs_no_worker() {
    let ran = AtomicU64::new(0);
    let err = Runtime::builder()
        .threads(2)
        .ring(Ring::builder().entries(1))
        .build()
        .unwrap()
        .run(|_: Worker<()>| {
            ran.fetch_add(1, Ordering::SeqCst);
            async {}
        })
        .unwrap_err();
    assert_eq!(ran.load(Ordering::SeqCst), 0);
    let source = err
        .get_ref()
        .and_then(|e| e.downcast_ref::<linear_uring::Error>());
    assert_eq!(
        source.map(linear_uring::Error::kind),
        Some(linear_uring::ErrorKind::Setup),
        "{err}"
    );
}

#[test]
fn runtime_worker_panic_is_resumed_after_the_others_end_and_its_mailbox_closes() {
    let fds = FdCheck::start();
    let ledger = Arc::new(Ledger::default());
    let returned = Arc::new(AtomicU64::new(0));
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        Runtime::builder()
            .threads(2)
            .build()
            .unwrap()
            .run(|worker: Worker<Tracked>| {
                let (ledger, returned) = (ledger.clone(), returned.clone());
                async move {
                    if worker.index() == 0 {
                        panic!("worker 0 fails");
                    }
                    // Worker 1 sends to worker 0 until its mailbox has closed.
                    let ring = worker.ring().clone();
                    loop {
                        match worker
                            .peer(0)
                            .send(&ring, Tracked::new(&ledger))
                            .complete()
                            .await
                        {
                            Ok(()) => ring.sleep(Duration::from_millis(1)).await.unwrap(),
                            Err(undelivered) => {
                                let mut value = undelivered.into_value();
                                value.place = Place::Returned;
                                returned.fetch_add(1, Ordering::SeqCst);
                                return;
                            }
                        }
                    }
                }
            })
    }));
    let payload = outcome.expect_err("the worker's panic is resumed");
    assert_eq!(payload.downcast_ref::<&str>(), Some(&"worker 0 fails"));
    assert_eq!(returned.load(Ordering::SeqCst), 1);
    let created = ledger.created.load(Ordering::Relaxed) as usize;
    assert_eq!(ledger.dropped.lock().unwrap().len(), created);
    fds.finish();
}

/// The CPUs the calling thread may run on.
fn allowed_cpus() -> Vec<usize> {
    // SAFETY: cpu_set_t is plain old data; all zeroes is an empty set, which
    // sched_getaffinity(2) fills in (it writes at most the size given).
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    let rc =
        unsafe { libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) };
    assert_eq!(
        rc,
        0,
        "sched_getaffinity: {}",
        std::io::Error::last_os_error()
    );
    (0..libc::CPU_SETSIZE as usize)
        // SAFETY: reads bit `cpu` < CPU_SETSIZE of a live set.
        .filter(|&cpu| unsafe { libc::CPU_ISSET(cpu, &set) })
        .collect()
}

#[test]
fn runtime_pinned_threads_may_each_run_on_one_cpu_in_turn() {
    let process = allowed_cpus();
    let threads = 3;
    let pinned = |pin: bool| {
        Runtime::builder()
            .threads(threads)
            .pin(pin)
            .build()
            .unwrap()
            .run(|_: Worker<()>| async { allowed_cpus() })
            .unwrap()
    };
    let on = pinned(true);
    for (i, cpus) in on.iter().enumerate() {
        assert_eq!(cpus, &vec![process[i % process.len()]], "thread {i}");
    }
    // Unpinned, each thread keeps the process's set.
    assert!(pinned(false).iter().all(|cpus| cpus == &process));
}
