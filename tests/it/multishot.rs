//! Multishot accept: one op, many connections, and a linear stream around them.
//!
//! Every connection the kernel accepts is either taken by the program or closed by
//! the ring: through `next()`, a cancel that hands back what arrived, a drop that
//! closes it, a race that hands the stream back, a shutdown. Each test holds an
//! [`FdCheck`], so a descriptor left open fails it.

use std::io::Read;
use std::net::{SocketAddr, TcpStream as StdTcpStream};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::Duration;

use futures_lite::future;
use linear_uring::net::{TcpListener, TcpStream};
use linear_uring::{race, CancelOutcome, Raced, Ring};

use crate::fds::FdCheck;
use crate::net_tcp::{pause, reclaim_ring, ring};

fn listener(ring: &Ring) -> (TcpListener, SocketAddr) {
    let listener = TcpListener::bind(ring, "127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    (listener, addr)
}

/// `n` clients connected to `addr` (the kernel completes a TCP handshake without an
/// accept), each with a read timeout.
fn clients(addr: SocketAddr, n: usize) -> Vec<StdTcpStream> {
    (0..n)
        .map(|_| {
            let client = StdTcpStream::connect(addr).unwrap();
            client
                .set_read_timeout(Some(Duration::from_secs(5)))
                .unwrap();
            client
        })
        .collect()
}

/// Greets a connection with one byte and closes it.
async fn serve(stream: TcpStream) {
    let (sent, _) = stream.send(b"!").submit().complete().await;
    sent.unwrap();
    stream.close().await.unwrap();
}

/// What a client reads: `Some(byte)` if it was greeted, `None` if its connection was
/// closed without a word. Panics if nothing happens within the read timeout: a
/// connection nobody serves nor closes.
pub(crate) fn greeting(client: &mut StdTcpStream) -> Option<u8> {
    let mut byte = [0u8; 1];
    match client.read(&mut byte) {
        Ok(1) => Some(byte[0]),
        Ok(_) => None,
        Err(err) if err.kind() == std::io::ErrorKind::ConnectionReset => None,
        Err(err) => panic!("the connection was neither served nor closed: {err}"),
    }
}

#[test]
fn multishot_accept_yields_every_connection_then_cancel_ends_it_cleanly() {
    let _fds = FdCheck::start();
    let ring = ring();
    let (listener, addr) = listener(&ring);
    let mut clients = clients(addr, 5);
    ring.block_on(async {
        let mut incoming = listener.incoming().submit();
        for _ in 0..5 {
            let stream = incoming.next().await.expect("still accepting").unwrap();
            serve(stream).await;
        }
        let drained = incoming.cancel().await;
        assert!(drained.items.is_empty(), "{drained:?}");
        drained.end.unwrap();
    });
    for client in &mut clients {
        assert_eq!(greeting(client), Some(b'!'));
    }
    let stats = ring.stats();
    assert_eq!((stats.in_flight, stats.abandoned), (0, 0), "{stats:?}");
    // One submission and one final completion for the accept, however many
    // connections (and a send and a close for each).
    assert_eq!(
        (stats.submitted, stats.completed),
        (1 + 5 * 2, 1 + 5 * 2),
        "{stats:?}"
    );
}

#[test]
fn multishot_accept_cancel_hands_back_the_connections_not_taken() {
    let _fds = FdCheck::start();
    let ring = ring();
    let (listener, addr) = listener(&ring);
    let mut clients = clients(addr, 3);
    let drained = ring.block_on(async {
        let incoming = listener.incoming().submit();
        // The kernel accepts all three while nobody asks for them.
        pause(&ring, 10).await;
        incoming.cancel().await
    });
    assert_eq!(drained.items.len(), 3, "{drained:?}");
    drained.end.as_ref().unwrap();
    ring.block_on(async {
        for stream in drained.items {
            serve(stream).await;
        }
    });
    for client in &mut clients {
        assert_eq!(greeting(client), Some(b'!'), "a connection was lost");
    }
    assert_eq!(ring.stats().fds_closed, 0);
}

#[test]
fn multishot_accept_dropped_under_reclaim_closes_every_connection_it_held() {
    let _fds = FdCheck::start();
    let ring = reclaim_ring();
    let reports = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
    let seen = reports.clone();
    ring.on_abandon(move |abandoned| {
        seen.borrow_mut().push((
            abandoned.items,
            abandoned.lost_result(),
            abandoned.to_string(),
        ));
    });
    let (listener, addr) = listener(&ring);
    let mut clients = clients(addr, 3);
    ring.block_on(async {
        let incoming = listener.incoming().submit();
        pause(&ring, 10).await;
        drop(incoming);
        pause(&ring, 5).await;
    });
    let reports = reports.borrow();
    assert_eq!(reports.len(), 1, "{reports:?}");
    let (items, lost, text) = &reports[0];
    assert_eq!((*items, *lost), (Some(3), true), "{text}");
    assert!(
        text.contains("3 items it produced went to nobody (the ring released them)"),
        "{text}"
    );
    let stats = ring.stats();
    assert_eq!(
        (stats.abandoned, stats.fds_closed, stats.in_flight),
        (1, 3, 0),
        "{stats:?}"
    );
    for client in &mut clients {
        assert_eq!(greeting(client), None, "the ring closes what nobody took");
    }
}

#[test]
fn multishot_accept_dropped_under_panic_names_the_submit_line_and_closes_connections() {
    let _fds = FdCheck::start();
    let ring = ring();
    let (listener, addr) = listener(&ring);
    let _clients = clients(addr, 2);
    let line = line!() + 3;
    let caught = catch_unwind(AssertUnwindSafe(|| {
        ring.block_on(async {
            let incoming = listener.incoming().submit();
            pause(&ring, 10).await;
            drop(incoming);
        })
    }));
    let message = *caught.unwrap_err().downcast::<String>().unwrap();
    let place = format!("the AcceptMulti operation submitted at tests/it/multishot.rs:{line}:");
    assert!(message.contains(&place), "{message}");
    ring.block_on(pause(&ring, 5));
    let stats = ring.stats();
    assert_eq!((stats.fds_closed, stats.in_flight), (2, 0), "{stats:?}");
}

#[test]
fn multishot_accept_raced_against_a_timer_comes_back_armed() {
    let _fds = FdCheck::start();
    let ring = ring();
    let (listener, addr) = listener(&ring);
    let client = ring.block_on(async {
        let mut incoming = listener.incoming().submit();
        // Nobody connects: the timer wins, and the stream is handed back.
        match race(&mut incoming, ring.sleep(Duration::from_millis(2))).await {
            Raced::Second(_stream, fired) => fired.unwrap(),
            Raced::First(item, _) => panic!("nobody connected, got {item:?}"),
        }
        let mut client = clients(addr, 1).pop().unwrap();
        // The same stream, still armed, takes the connection.
        match race(&mut incoming, ring.sleep(Duration::from_secs(5))).await {
            Raced::First(Some(Ok(stream)), timer) => {
                timer.cancel().await.cancelled().unwrap();
                serve(stream).await;
            }
            Raced::First(other, _) => panic!("expected a connection, got {other:?}"),
            Raced::Second(..) => panic!("the connection did not arrive in 5 s"),
        }
        assert!(incoming.cancel().await.items.is_empty());
        assert_eq!(greeting(&mut client), Some(b'!'));
        client
    });
    drop(client);
    assert_eq!(ring.stats().abandoned, 0);
}

#[test]
fn multishot_accept_next_future_dropped_loses_nothing() {
    let _fds = FdCheck::start();
    let ring = ring();
    let (listener, addr) = listener(&ring);
    ring.block_on(async {
        let mut incoming = listener.incoming().submit();
        // A `next()` polled once and dropped by a select that a timer won.
        let timed_out = future::or(async { incoming.next().await.map(|_| false) }, async {
            pause(&ring, 2).await;
            Some(true)
        })
        .await;
        assert_eq!(timed_out, Some(true));
        let mut client = clients(addr, 1).pop().unwrap();
        let stream = incoming.next().await.expect("accepting").unwrap();
        serve(stream).await;
        assert_eq!(greeting(&mut client), Some(b'!'));
        assert!(incoming.cancel().await.items.is_empty());
    });
}

#[test]
fn multishot_accept_left_running_at_shutdown_closes_its_connections() {
    let _fds = FdCheck::start();
    let ring = reclaim_ring();
    let (listener, addr) = listener(&ring);
    let mut clients = clients(addr, 2);
    // A task holds the stream and never finishes: the ring shuts down with the op in
    // flight and two connections queued in it.
    let incoming = listener.incoming().submit();
    let task = ring.spawn(async move {
        let _incoming = incoming;
        future::pending::<()>().await;
    });
    ring.block_on(pause(&ring, 10));
    drop(task);
    drop(listener);
    drop(ring);
    for client in &mut clients {
        assert_eq!(greeting(client), None);
    }
}

#[test]
fn multishot_accept_ended_stream_is_paid_and_drops_quietly() {
    let _fds = FdCheck::start();
    let ring = ring();
    let (listener, _addr) = listener(&ring);
    ring.block_on(async {
        let mut incoming = listener.incoming().submit();
        assert!(!incoming.is_finished());
        // Shutting the listener down ends the multishot accept with an error.
        let raw = std::os::fd::AsRawFd::as_raw_fd(&listener);
        // SAFETY: shutdown(2) on the listener's live descriptor, integer arguments only.
        assert_eq!(unsafe { libc::shutdown(raw, libc::SHUT_RDWR) }, 0);
        let ended = incoming.next().await;
        assert!(matches!(ended, Some(Err(_))), "{ended:?}");
        assert!(incoming.next().await.is_none());
        assert!(incoming.is_finished());
        // Paid: dropping it now is not an abandon.
        drop(incoming);
    });
    assert_eq!(ring.stats().abandoned, 0);
}

/// How the storm's server treats its multishot accept at one step.
#[derive(Debug, Clone, Copy)]
enum Move {
    /// Takes the next connection and serves it.
    Next,
    /// Races the stream against a short timer; serves the connection if one won.
    Race,
    /// Cancels it, serves every connection handed back, and submits a new one.
    Cancel,
    /// Drops it (the ring closes what it held) and submits a new one.
    Drop,
}

#[test]
fn multishot_accept_storm_2000_connections_each_served_or_closed_by_the_ring() {
    const CONNECTIONS: usize = 2000;
    const CLIENT_THREADS: usize = 4;
    let seed = std::env::var("MULTISHOT_STORM_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5eed_u64);
    let _fds = FdCheck::start();
    let ring = reclaim_ring();
    let (listener, addr) = listener(&ring);
    // Clients from several threads at once, so that connections pile up in the
    // stream between the server's moves; each counts whether it was greeted.
    let clients: Vec<_> = (0..CLIENT_THREADS)
        .map(|_| {
            std::thread::spawn(move || {
                let (mut greeted, mut closed) = (0, 0);
                for _ in 0..CONNECTIONS / CLIENT_THREADS {
                    let mut client = StdTcpStream::connect(addr).unwrap();
                    client
                        .set_read_timeout(Some(Duration::from_secs(10)))
                        .unwrap();
                    match greeting(&mut client) {
                        Some(_) => greeted += 1,
                        None => closed += 1,
                    }
                }
                (greeted, closed)
            })
        })
        .collect();
    let mut rng = crate::storm::check::Rng::derive(seed, &[1]);
    let mut moves = [0usize; 4];
    let started = std::time::Instant::now();
    let served = ring.block_on(async {
        let mut served = 0;
        let mut incoming = listener.incoming().submit();
        while served + ring.stats().fds_closed as usize != CONNECTIONS {
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "seed {seed}: stuck with {served} served, {:?}",
                ring.stats()
            );
            let step = match rng.below(10) {
                0..=3 => Move::Race,
                4..=6 => Move::Next,
                7 | 8 => Move::Cancel,
                _ => Move::Drop,
            };
            moves[step as usize] += 1;
            match step {
                Move::Next => {
                    // Bounded, so that a connection that went to the ring instead
                    // cannot leave the server waiting for one that never comes.
                    let wait = ring.sleep(Duration::from_millis(5));
                    if let Raced::First(Some(item), timer) = race(&mut incoming, wait).await {
                        drop(timer); // a timer owns nothing: dropping it is free
                        serve(item.unwrap()).await;
                        served += 1;
                    }
                }
                Move::Race => {
                    let wait = ring.sleep(rng.micros(1500));
                    match race(&mut incoming, wait).await {
                        Raced::First(Some(item), timer) => {
                            drop(timer); // a timer owns nothing: dropping it is free
                            serve(item.unwrap()).await;
                            served += 1;
                        }
                        Raced::First(None, _) => panic!("seed {seed}: the stream ended"),
                        Raced::Second(..) => {}
                    }
                }
                Move::Cancel => {
                    let drained = incoming.cancel().await;
                    drained.end.unwrap();
                    for stream in drained.items {
                        serve(stream).await;
                        served += 1;
                    }
                    incoming = listener.incoming().submit();
                }
                Move::Drop => {
                    // Pause first now and then, so that connections queue in the
                    // stream before it is dropped.
                    if rng.chance(50) {
                        pause(&ring, 1).await;
                    }
                    incoming = listener.incoming().submit();
                }
            }
        }
        let drained = incoming.cancel().await;
        assert!(drained.items.is_empty(), "seed {seed}: {drained:?}");
        served
    });
    let (mut greeted, mut closed) = (0, 0);
    for client in clients {
        let (g, c) = client.join().unwrap();
        greeted += g;
        closed += c;
    }
    let stats = ring.stats();
    // Every connection was either served by the program or closed by the ring, and
    // the clients saw exactly that.
    assert_eq!(greeted, served, "seed {seed}: {stats:?} moves {moves:?}");
    assert_eq!(closed, stats.fds_closed as usize, "seed {seed}: {stats:?}");
    assert_eq!(greeted + closed, CONNECTIONS);
    assert_eq!(stats.in_flight, 0, "seed {seed}: {stats:?}");
    eprintln!(
        "multishot storm seed {seed}: served {served}, closed by the ring {closed}, \
         moves (next, race, cancel, drop) {moves:?}, {:?}",
        started.elapsed()
    );
}

#[test]
fn multishot_accept_stopped_by_a_full_completion_queue_is_rearmed_and_loses_nothing() {
    let _fds = FdCheck::start();
    // Eight completion queue entries, fifty connections waiting: the kernel stops
    // the multishot accept when it cannot post, and the token submits it again.
    let ring = Ring::builder()
        .entries(4)
        .drop_policy(linear_uring::DropPolicy::Panic)
        .build()
        .unwrap();
    let (listener, addr) = listener(&ring);
    let mut clients = clients(addr, 50);
    let submitted = ring.block_on(async {
        let mut incoming = listener.incoming().submit();
        for _ in 0..50 {
            let stream = incoming.next().await.expect("re-armed, not ended").unwrap();
            serve(stream).await;
        }
        let before = ring.stats().submitted;
        assert!(incoming.cancel().await.items.is_empty());
        before
    });
    for client in &mut clients {
        assert_eq!(greeting(client), Some(b'!'));
    }
    // More than one accept was submitted: the kernel did stop it.
    assert!(
        submitted > 1 + 50 * 2,
        "submitted {submitted}: never stopped?"
    );
}

#[test]
fn multishot_accept_ended_by_itself_cancels_as_completed_not_cancelled() {
    let _fds = FdCheck::start();
    let ring = ring();
    let (listener, _addr) = listener(&ring);
    ring.block_on(async {
        let mut incoming = listener.incoming().submit();
        let raw = std::os::fd::AsRawFd::as_raw_fd(&listener);
        // SAFETY: shutdown(2) on the listener's live descriptor, integer arguments only.
        assert_eq!(unsafe { libc::shutdown(raw, libc::SHUT_RDWR) }, 0);
        assert!(matches!(incoming.next().await, Some(Err(_))));
        // Cancelling a stream that had ended reports its end, not a cancel.
        let outcome = linear_uring::cancel(&mut incoming).await;
        assert!(
            matches!(outcome, CancelOutcome::Completed(None)),
            "{outcome:?}"
        );
        assert!(incoming.is_finished());
    });
}

#[test]
fn multishot_accept_on_a_unix_listener_yields_unix_streams() {
    use linear_uring::net::UnixListener;

    let _fds = FdCheck::start();
    let ring = ring();
    let path = std::env::temp_dir().join(format!("lu-incoming-{}", std::process::id()));
    let _ = std::fs::remove_file(&path);
    let listener = UnixListener::bind(&ring, &path).unwrap();
    let mut clients: Vec<_> = (0..3)
        .map(|_| std::os::unix::net::UnixStream::connect(&path).unwrap())
        .collect();
    ring.block_on(async {
        let mut incoming = listener.incoming().submit();
        for _ in 0..3 {
            let stream = incoming.next().await.expect("accepting").unwrap();
            stream.send(b"!").submit().complete().await.0.unwrap();
            stream.close().await.unwrap();
        }
        assert!(incoming.cancel().await.items.is_empty());
    });
    for client in &mut clients {
        let mut byte = [0u8; 1];
        client.read_exact(&mut byte).unwrap();
        assert_eq!(&byte, b"!");
    }
    drop(listener);
    std::fs::remove_file(&path).unwrap();
}
