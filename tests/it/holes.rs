//! The holes the compiler cannot close (crate docs, "Compile-time guarantees and
//! their holes"). Each misuse below compiles (all but `let _ =` even with every lint
//! the crate docs recommend), and the `Panic` drop policy catches it at run time
//! with a message naming the line of this file that submitted the op. A task
//! abandoned at shutdown is the exception: shutdown never panics, so it is counted
//! in `Stats::abandoned` instead. The last test is the runtime side of closing a
//! stream, which the compiler only half covers.

use std::fmt::Debug;
use std::future::Future;
use std::io;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::Duration;

use futures_lite::future;
use linear_uring::net::UnixStream;
use linear_uring::op::Timeout;
use linear_uring::{race, DropPolicy, Raced, Ring};

use crate::fds::{self, FdCheck};

/// Long enough to be in flight for the whole test.
const LONG: Duration = Duration::from_secs(10);

fn ring() -> Ring {
    Ring::builder()
        .drop_policy(DropPolicy::Panic)
        .build()
        .unwrap()
}

/// Runs `f`, expecting a panic, and returns its message.
fn panic_message<T: Debug>(f: impl FnOnce() -> T) -> String {
    let payload = match catch_unwind(AssertUnwindSafe(f)) {
        Ok(value) => panic!("expected a drop-policy panic, got {value:?}"),
        Err(payload) => payload,
    };
    match payload.downcast::<String>() {
        Ok(msg) => *msg,
        Err(payload) => payload
            .downcast::<&str>()
            .map(|s| s.to_string())
            .unwrap_or_default(),
    }
}

/// Asserts the message is the drop policy's, about a `Timeout` submitted on `line`
/// of this file.
fn assert_names_line(msg: &str, line: u32) {
    let place = format!("the Timeout operation submitted at tests/it/holes.rs:{line}:");
    assert!(msg.contains(&place), "message lacks `{place}`: {msg}");
    assert!(msg.contains(".cancel().await"), "{msg}");
}

/// Asserts the op was abandoned once, then lets the ring reap the cancel the drop
/// submitted, and asserts nothing is left in the kernel: the I/O-safe part happened
/// before the panic.
fn assert_abandoned_and_reaped(ring: &Ring) {
    assert_eq!(ring.stats().abandoned, 1);
    ring.block_on(async { ring.sleep(Duration::from_millis(5)).await })
        .unwrap();
    let stats = ring.stats();
    assert_eq!(stats.in_flight, 0, "{stats:?}");
    assert_eq!(stats.cancelled, 1, "{stats:?}");
}

/// A timeout wrapper of the usual kind: runs `work`, and after `limit` gives up by
/// dropping it.
async fn with_timeout<T>(ring: &Ring, limit: Duration, work: impl Future<Output = T>) -> Option<T> {
    let deadline = async {
        ring.sleep(limit).await.expect("a timer fires");
        None
    };
    future::or(async { Some(work.await) }, deadline).await
}

#[test]
fn hole_underscore_binding_dropped_at_scope_end_panics_with_submit_line() {
    let ring = ring();
    let line = line!() + 4;
    let msg = panic_message(|| {
        ring.block_on(async {
            {
                let _x = Timeout::new(&ring, LONG).submit();
                // `_x` silences both `unused_variables` and `unused_must_use`.
            } // ... and is dropped here, never consumed.
        })
    });
    assert_names_line(&msg, line);
    assert_abandoned_and_reaped(&ring);
}

#[test]
fn hole_let_underscore_without_the_lint_panics_with_submit_line() {
    let ring = ring();
    let line = line!() + 4;
    let msg = panic_message(|| {
        ring.block_on(async {
            #[allow(let_underscore_drop)]
            let _ = Timeout::new(&ring, LONG).submit(); // dropped on this very line
        })
    });
    assert_names_line(&msg, line);
    assert_abandoned_and_reaped(&ring);
}

#[test]
fn hole_explicit_drop_panics_with_submit_line() {
    let ring = ring();
    let line = line!() + 3;
    let msg = panic_message(|| {
        ring.block_on(async {
            let timer = Timeout::new(&ring, LONG).submit();
            drop(timer);
        })
    });
    assert_names_line(&msg, line);
    assert_abandoned_and_reaped(&ring);
}

#[test]
fn hole_question_mark_returning_past_live_token_panics_with_submit_line() {
    let ring = ring();
    let line = line!() + 2;
    async fn parse_then_wait(ring: &Ring, input: &str) -> io::Result<u32> {
        let timer = Timeout::new(ring, LONG).submit();
        let n: u32 = input
            .parse()
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        timer.complete().await?;
        Ok(n)
    }
    let msg = panic_message(|| ring.block_on(parse_then_wait(&ring, "forty-two")));
    assert_names_line(&msg, line);
    assert_abandoned_and_reaped(&ring);
}

#[test]
fn hole_future_holding_token_dropped_by_select_panics_with_submit_line() {
    let ring = ring();
    let line = line!() + 5;
    let msg = panic_message(|| {
        ring.block_on(async {
            // What `select!` does: the first branch to finish wins, the other is dropped.
            let work = async {
                let timer = Timeout::new(&ring, LONG).submit();
                timer.complete().await
            };
            let deadline = async { ring.sleep(Duration::from_millis(1)).await };
            future::or(work, deadline).await
        })
    });
    assert_names_line(&msg, line);
    assert_abandoned_and_reaped(&ring);
}

#[test]
fn hole_future_holding_token_dropped_by_timeout_wrapper_panics_with_submit_line() {
    let ring = ring();
    let line = line!() + 4;
    let msg = panic_message(|| {
        ring.block_on(async {
            let work = async {
                let timer = Timeout::new(&ring, LONG).submit();
                timer.complete().await
            };
            with_timeout(&ring, Duration::from_millis(1), work).await
        })
    });
    assert_names_line(&msg, line);
    assert_abandoned_and_reaped(&ring);
}

#[test]
fn hole_race_loser_discarded_by_wildcard_pattern_panics_with_submit_line() {
    let ring = ring();
    let line = line!() + 4;
    let msg = panic_message(|| {
        ring.block_on(async {
            let fast = ring.sleep(Duration::from_millis(1));
            let slow = Timeout::new(&ring, LONG).submit();
            // `Raced` is `#[must_use]`, but a `_` in its pattern drops the loser.
            match race(fast, slow).await {
                Raced::First(fired, _) => fired,
                Raced::Second(..) => unreachable!("a 10 s timer cannot win"),
            }
        })
    });
    assert_names_line(&msg, line);
    assert_abandoned_and_reaped(&ring);
}

#[test]
fn hole_token_replaced_in_a_map_panics_with_submit_line() {
    let ring = ring();
    let line = line!() + 6;
    let msg = panic_message(|| {
        ring.block_on(async {
            let mut pending = std::collections::HashMap::new();
            // `insert` hands the old token back in an `Option`, which is not
            // `#[must_use]`: no lint sees the statement below drop it.
            pending.insert("job", Timeout::new(&ring, LONG).submit());
            pending.insert("job", Timeout::new(&ring, LONG).submit());
            // Not reached: the first token was dropped by the second insert.
            pending
        })
    });
    assert_names_line(&msg, line);
    // The second token was dropped with the map while the panic unwound: counted,
    // without a second panic.
    assert_eq!(ring.stats().abandoned, 2);
    ring.block_on(async { ring.sleep(Duration::from_millis(5)).await })
        .unwrap();
    let stats = ring.stats();
    assert_eq!((stats.cancelled, stats.in_flight), (2, 0), "{stats:?}");
}

#[test]
fn hole_task_abandoned_at_shutdown_is_counted_without_panic() {
    let ring = ring();
    let handle = ring.clone();
    let task_ring = ring.clone();
    let join = ring.spawn(async move {
        let timer = Timeout::new(&task_ring, LONG).submit();
        timer.complete().await
    });
    // Let the task submit its timer, then return with the task still pending.
    ring.block_on(async { ring.sleep(Duration::from_millis(5)).await })
        .unwrap();
    assert_eq!(handle.stats().in_flight, 1);
    // Shutdown drops the task, which drops its token: under `Panic`, no panic.
    drop(ring);
    let stats = handle.stats();
    assert_eq!(stats.abandoned, 1, "{stats:?}");
    assert_eq!(stats.cancelled, 1, "{stats:?}");
    assert_eq!(stats.in_flight, 0, "{stats:?}");
    assert!(join.is_finished());
}

/// Not a drop-policy hole but the runtime side of `stream_used_after_close`: the
/// compiler stops uses of a closed stream, not a `close()` while one of its ops is
/// still in flight (the op holds its own share of the descriptor). That op keeps
/// working, and the descriptor is closed when it completes.
#[test]
fn hole_stream_closed_while_its_op_is_in_flight_stays_open_until_the_op_completes() {
    let fds = FdCheck::start();
    let ring = ring();
    let (a, b) = UnixStream::pair(&ring).unwrap();
    let open = fds::count();
    ring.block_on(async {
        let recv = a.recv(Vec::with_capacity(16)).submit();
        a.close().await.unwrap();
        assert_eq!(fds::count(), open, "closed under a live receive");
        let (sent, _) = b.send(b"still here".as_slice()).submit().complete().await;
        sent.unwrap();
        let (n, buf) = recv.complete().await;
        assert_eq!(&buf[..n.unwrap()], b"still here");
        assert_eq!(fds::count(), open - 1, "not closed after the receive");
        b.close().await.unwrap();
    });
    assert_eq!(ring.stats().abandoned, 0);
    drop(ring);
    fds.finish();
}
