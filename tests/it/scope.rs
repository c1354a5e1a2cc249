//! Proof-carrying scopes against the real kernel: ops submitted through a scope, its
//! sub-scopes, races inside it, and the scope's own future raced and cancelled.

use std::io::Write as _;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::Duration;

use linear_uring::fs::File;
use linear_uring::net::TcpListener;
use linear_uring::op::Timeout;
use linear_uring::{race, CancelOutcome, DropPolicy, Raced, Ring};

use crate::fds::{pipe, FdCheck};

fn ring() -> Ring {
    Ring::builder()
        .drop_policy(DropPolicy::Panic)
        .build()
        .unwrap()
}

#[test]
fn scope_one_op_completed_gives_its_value_and_owes_nothing() {
    let ring = ring();
    let fired = ring.block_on(ring.scope(async |s| {
        let (fired, s) = s
            .submit(Timeout::new(&ring, Duration::from_millis(1)))
            .complete()
            .await;
        (s.paid(), fired)
    }));
    fired.unwrap();
    let stats = ring.stats();
    assert_eq!(
        (stats.submitted, stats.abandoned, stats.in_flight),
        (1, 0, 0)
    );
}

#[test]
fn scope_accept_raced_against_deadlines_stays_owed_and_serves_the_late_client() {
    let fds = FdCheck::start();
    let ring = ring();
    let listener = TcpListener::bind(&ring, "127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let (deadlines, greeting) = ring.block_on(ring.scope(async |s| {
        let mut accept = s.submit(listener.accept());
        let mut deadlines = 0;
        let mut client = None;
        // The loser of each race is the same debt, still owed: nothing is lost.
        let (connection, s) = loop {
            match race(accept, ring.sleep(Duration::from_millis(2))).await {
                Raced::First(done, _timer) => break done,
                Raced::Second(pending, _) => {
                    deadlines += 1;
                    if deadlines == 3 {
                        let mut stream = std::net::TcpStream::connect(addr).unwrap();
                        stream.write_all(b"hi").unwrap();
                        client = Some(stream);
                    }
                    accept = pending;
                }
            }
        };
        let (stream, _) = connection.unwrap();
        // A composite op is owed the same way.
        let ((got, buf), s) = s
            .owe(stream.recv_exact(Vec::with_capacity(2), 2))
            .complete()
            .await;
        got.unwrap();
        stream.close().await.unwrap();
        drop(client);
        (s.paid(), (deadlines, buf))
    }));
    assert!(deadlines >= 3, "{deadlines}");
    assert_eq!(greeting, b"hi");
    let stats = ring.stats();
    assert_eq!((stats.abandoned, stats.in_flight), (0, 0));
    drop((listener, ring));
    fds.finish();
}

#[test]
fn scope_each_runs_n_reads_at_once_each_paying_its_own_debt() {
    let fds = FdCheck::start();
    let ring = ring();
    let pipes: Vec<(File, std::fs::File)> = (0..8)
        .map(|_| {
            let (read, write) = pipe();
            (
                File::from_fd(&ring, read).unwrap(),
                std::fs::File::from(write),
            )
        })
        .collect();
    let got = ring.block_on(ring.scope(async |s| {
        // Every read is in flight before any pipe has data.
        let reads = pipes.iter().enumerate().map(|(i, (file, _))| (i, file));
        let writers = async {
            ring.sleep(Duration::from_millis(5)).await.unwrap();
            for (i, (_, writer)) in pipes.iter().enumerate() {
                (&*writer).write_all(&[i as u8; 3]).unwrap();
            }
        };
        let each = s.each(reads, async |sub, (i, file)| {
            let ((n, buf), sub) = sub
                .submit(file.read(Vec::with_capacity(3)))
                .complete()
                .await;
            assert_eq!(n.unwrap(), 3, "pipe {i}");
            (sub.paid(), buf)
        });
        let ((s, bufs), ()) = futures_lite::future::zip(each, writers).await;
        (s.paid(), bufs)
    }));
    let want: Vec<Vec<u8>> = (0..8u8).map(|i| vec![i; 3]).collect();
    assert_eq!(got, want);
    assert_eq!(ring.stats().in_flight, 0);
    drop((pipes, ring));
    fds.finish();
}

#[test]
fn scope_split_races_two_debts_and_the_loser_must_still_be_paid() {
    let ring = ring();
    let (short_won, loser) = ring.block_on(ring.scope(async |s| {
        let (s, found) = s
            .split(async |x, y| {
                let short = x.submit(Timeout::new(&ring, Duration::from_millis(1)));
                let long = y.submit(Timeout::new(&ring, Duration::from_secs(60)));
                match race(short, long).await {
                    Raced::First((fired, x), long) => {
                        // The loser still owes `y`: cancel it to get the scope back.
                        let (outcome, y) = long.cancel().await;
                        (x.paid(), y.paid(), (fired.is_ok(), outcome.is_cancelled()))
                    }
                    Raced::Second(..) => panic!("a 60 s timer beat a 1 ms one"),
                }
            })
            .await;
        (s.paid(), found)
    }));
    assert!(short_won && loser);
    let stats = ring.stats();
    assert_eq!((stats.abandoned, stats.in_flight), (0, 0));
}

#[test]
fn scope_future_cancelled_cancels_its_ops_and_finishes_with_their_outcome() {
    let fds = FdCheck::start();
    let ring = ring();
    let listener = TcpListener::bind(&ring, "127.0.0.1:0").unwrap();
    let outcome = ring.block_on(async {
        // A whole handler, raced like a token (boxed, so that it can be handed
        // back still running): nobody connects.
        let handler = Box::pin(ring.scope(async |s| {
            let (accepted, s) = s.submit(listener.accept()).complete().await;
            (s.paid(), accepted.map(|(_, peer)| peer))
        }));
        match race(handler, ring.sleep(Duration::from_millis(5))).await {
            Raced::First(..) => panic!("nobody connected"),
            Raced::Second(handler, _) => linear_uring::cancel(handler).await,
        }
    });
    let CancelOutcome::Completed(accepted) = outcome else {
        panic!("a cancelled scope still finishes with its value");
    };
    // The accept inside was cancelled, and the value says so.
    assert_eq!(accepted.unwrap_err().raw_os_error(), Some(libc::ECANCELED));
    let stats = ring.stats();
    assert_eq!((stats.abandoned, stats.in_flight), (0, 0));
    drop((listener, ring));
    fds.finish();
}

#[test]
fn scope_future_dropped_midway_goes_through_the_drop_policy() {
    let ring = ring();
    let line = line!() + 4;
    let payload = catch_unwind(AssertUnwindSafe(|| {
        ring.block_on(async {
            let scope = ring.scope(async |s| {
                let debt = s.submit(Timeout::new(&ring, Duration::from_secs(60)));
                let (fired, s) = debt.complete().await;
                (s.paid(), fired)
            });
            // Dropped before it finishes: the one case left to run time.
            futures_lite::future::or(async { scope.await.unwrap() }, async {}).await;
        })
    }))
    .expect_err("the drop policy panics");
    let msg = payload
        .downcast_ref::<String>()
        .cloned()
        .unwrap_or_default();
    assert!(msg.contains(&format!("tests/it/scope.rs:{line}:")), "{msg}");
    ring.block_on(async { ring.sleep(Duration::from_millis(5)).await })
        .unwrap();
    assert_eq!(ring.stats().in_flight, 0);
}
