//! The proxy itself: one task per connection, two copies in flight (one per
//! direction) and an idle timer, chosen between with `select`, which hands back
//! whatever did not finish, still running. Nothing is ever dropped to stop waiting
//! for it: a copy that loses the race is still copying.
//!
//! Shared with the integration tests (`tests/it/proxy.rs`), which drive it with real
//! clients and servers.

use std::cell::RefCell;
use std::io;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::{Duration, Instant};

use linear_uring::net::{TcpListener, TcpStream};
use linear_uring::{cancel_all, copy, race, select, Copying, Raced, Raced3, Ring};

/// How a relayed connection ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum End {
    /// Both sides finished sending.
    Done,
    /// Nothing moved either way for the idle timeout.
    Idle,
}

/// What one relayed connection did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Report {
    /// Bytes copied from the client to the upstream.
    pub(crate) to_upstream: u64,
    /// Bytes copied from the upstream to the client.
    pub(crate) to_client: u64,
    /// How it ended.
    pub(crate) end: End,
}

/// Accepts clients on `listener` forever, relaying each to `upstream` on a task of
/// its own; each finished connection's report (or error) is pushed to `reports`.
pub(crate) async fn serve(
    ring: Ring,
    listener: TcpListener,
    upstream: SocketAddr,
    idle: Duration,
    reports: Rc<RefCell<Vec<io::Result<Report>>>>,
) -> io::Result<()> {
    loop {
        let (client, _) = listener.accept().await?;
        let (ring2, reports) = (ring.clone(), reports.clone());
        // Detached: the task reports through `reports`.
        drop(ring.spawn(async move {
            let report = relay(&ring2, client, upstream, idle).await;
            reports.borrow_mut().push(report);
        }));
    }
}

/// Relays one client to `upstream` until both directions end, or until nothing has
/// moved either way for `idle`.
pub(crate) async fn relay(
    ring: &Ring,
    client: TcpStream,
    upstream: SocketAddr,
    idle: Duration,
) -> io::Result<Report> {
    let server = TcpStream::connect(ring, upstream)?.await?;
    let (client_read, client_write) = client.into_split();
    let (server_read, server_write) = server.into_split();
    let mut up = Some(copy(&client_read, &server_write));
    let mut down = Some(copy(&server_read, &client_write));
    let mut timer = ring.sleep(idle);
    let mut totals = (0, 0);
    // Every way out of this loop leaves the copies still running in `up` and `down`:
    // an error must not drop one in flight (that would abandon its op).
    let end: io::Result<End> = loop {
        match (up.take(), down.take()) {
            (Some(a), Some(b)) => match select((a, b, timer)).await {
                Raced3::First(copied, b, t) => {
                    (down, timer) = (Some(b), t);
                    // The client is done sending: pass the end on, keep relaying back.
                    match copied {
                        Ok(n) => totals.0 = n,
                        Err(e) => break Err(e),
                    }
                    if let Err(e) = server_write.shutdown().await {
                        break Err(e);
                    }
                }
                Raced3::Second(a, copied, t) => {
                    (up, timer) = (Some(a), t);
                    match copied {
                        Ok(n) => totals.1 = n,
                        Err(e) => break Err(e),
                    }
                    if let Err(e) = client_write.shutdown().await {
                        break Err(e);
                    }
                }
                // A timer fails only when the ring shuts down: check for idleness
                // all the same.
                Raced3::Third(a, b, _fired) => {
                    let last = a.last_progress().max(b.last_progress());
                    match rearm(ring, last, idle) {
                        Some(next) => (up, down, timer) = (Some(a), Some(b), next),
                        None => {
                            // Stopped, and what they had moved is still counted.
                            let copied = stop(vec![a, b]).await;
                            totals = (copied[0], copied[1]);
                            break Ok(End::Idle);
                        }
                    }
                }
            },
            (Some(a), None) => match one_way(ring, a, timer, idle).await {
                OneWay::Done(copied, t) => {
                    timer = t;
                    match copied {
                        Ok(n) => totals.0 = n,
                        Err(e) => break Err(e),
                    }
                    if let Err(e) = server_write.shutdown().await {
                        break Err(e);
                    }
                }
                OneWay::Idle(copied) => {
                    totals.0 = copied;
                    break Ok(End::Idle);
                }
                OneWay::Running(a, t) => (up, timer) = (Some(*a), t),
            },
            (None, Some(b)) => match one_way(ring, b, timer, idle).await {
                OneWay::Done(copied, t) => {
                    timer = t;
                    match copied {
                        Ok(n) => totals.1 = n,
                        Err(e) => break Err(e),
                    }
                    if let Err(e) = client_write.shutdown().await {
                        break Err(e);
                    }
                }
                OneWay::Idle(copied) => {
                    totals.1 = copied;
                    break Ok(End::Idle);
                }
                OneWay::Running(b, t) => (down, timer) = (Some(*b), t),
            },
            (None, None) => break Ok(End::Done),
        }
    };
    // After an error, the copy still running is stopped before the streams close.
    let left: Vec<Copying> = [up, down].into_iter().flatten().collect();
    stop(left).await;
    // Both halves of each stream come back together to be closed once.
    let client = TcpStream::reunite(client_read, client_write)?;
    let server = TcpStream::reunite(server_read, server_write)?;
    client.close().await?;
    server.close().await?;
    Ok(Report {
        to_upstream: totals.0,
        to_client: totals.1,
        end: end?,
    })
}

/// A new idle timer for what is left of `idle` since `last`, or `None` if the
/// connection has been idle that long.
fn rearm(ring: &Ring, last: Instant, idle: Duration) -> Option<linear_uring::Sleep> {
    let quiet = last.elapsed();
    (quiet < idle).then(|| ring.sleep(idle - quiet))
}

/// Cancels copies at once and returns how many bytes each had delivered.
async fn stop(copies: Vec<Copying>) -> Vec<u64> {
    cancel_all(copies)
        .await
        .into_iter()
        .map(|outcome| match outcome {
            linear_uring::CancelOutcome::Cancelled(copied) => copied.bytes,
            linear_uring::CancelOutcome::Completed(result) => result.unwrap_or(0),
        })
        .collect()
}

/// Where a copy left running on its own stands after one race with the idle timer.
enum OneWay {
    /// It finished (bytes copied, or its error), and a timer for the loop to hold.
    Done(io::Result<u64>, linear_uring::Sleep),
    /// It was idle too long and was stopped: bytes it had copied.
    Idle(u64),
    /// Still copying, with a new timer. (Boxed: a copy is much larger than the rest.)
    Running(Box<Copying>, linear_uring::Sleep),
}

/// Races the one copy left against the idle timer.
async fn one_way(ring: &Ring, one: Copying, timer: linear_uring::Sleep, idle: Duration) -> OneWay {
    match race(one, timer).await {
        Raced::First(copied, timer) => OneWay::Done(copied, timer),
        // A timer fails only when the ring shuts down: check for idleness anyway.
        Raced::Second(one, _fired) => match rearm(ring, one.last_progress(), idle) {
            Some(next) => OneWay::Running(Box::new(one), next),
            None => OneWay::Idle(stop(vec![one]).await[0]),
        },
    }
}
