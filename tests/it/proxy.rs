//! The proxy example (`examples/proxy`), end to end against real peers on loopback:
//! byte-exact bulk transfers through it, idle connections closed, one-way traffic
//! kept open.

use std::cell::RefCell;
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use linear_uring::net::TcpListener;
use linear_uring::{DropPolicy, Ring};

use crate::fds::FdCheck;

#[path = "../../examples/proxy/harness.rs"]
mod harness;
#[path = "../../examples/proxy/proxy.rs"]
#[allow(dead_code)]
mod relay;

/// The idle timeout of the tests that wait for it.
const IDLE: Duration = Duration::from_millis(200);
/// The idle timeout of the bulk test, whose 60 threads on a loaded 2-core machine
/// can leave a client unscheduled for longer than `IDLE`: that would be an idle
/// connection, rightly closed.
const BULK_IDLE: Duration = Duration::from_secs(10);
/// The trickle's idle timeout: 8 of its gaps.
const TRICKLE_IDLE: Duration = Duration::from_millis(400);

/// A client run against the proxy's address, on a thread of its own.
type Client<T> = Box<dyn FnOnce(SocketAddr) -> std::io::Result<T> + Send>;

/// Runs `clients` (each on a thread of its own) against a proxy of `upstream` on a
/// ring, until every client has finished and the proxy has reported every
/// connection; returns the clients' results and the reports.
fn run<T: Send + 'static>(
    upstream: SocketAddr,
    idle: Duration,
    clients: Vec<Client<T>>,
) -> (Vec<std::io::Result<T>>, Vec<std::io::Result<relay::Report>>) {
    let ring = Ring::builder()
        .drop_policy(DropPolicy::Panic)
        .build()
        .unwrap();
    let listener = TcpListener::bind(&ring, "127.0.0.1:0").unwrap();
    let at = listener.local_addr().unwrap();
    let reports = Rc::new(RefCell::new(Vec::new()));
    drop(ring.spawn(relay::serve(
        ring.clone(),
        listener,
        upstream,
        idle,
        reports.clone(),
    )));
    let count = clients.len();
    let finished = Arc::new(AtomicUsize::new(0));
    let threads: Vec<_> = clients
        .into_iter()
        .map(|client| {
            let finished = finished.clone();
            thread::spawn(move || {
                let result = client(at);
                finished.fetch_add(1, Ordering::SeqCst);
                result
            })
        })
        .collect();
    ring.block_on(async {
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while finished.load(Ordering::SeqCst) < count || reports.borrow().len() < count {
            assert!(
                std::time::Instant::now() < deadline,
                "the proxy run did not finish"
            );
            ring.sleep(Duration::from_millis(5)).await.unwrap();
        }
    });
    let results = threads.into_iter().map(|t| t.join().unwrap()).collect();
    let reports = reports.borrow_mut().drain(..).collect();
    // The accept loop is still waiting: the ring's shutdown cancels it.
    drop(ring);
    (results, reports)
}

#[test]
fn proxy_20_clients_of_1mib_each_get_every_byte_back_in_order() {
    let fds = FdCheck::start();
    let echo = harness::echo_upstream().unwrap();
    let clients: Vec<Client<()>> = (0..20)
        .map(|seed| Box::new(move |at| harness::bulk_client(at, seed, 1 << 20)) as Client<()>)
        .collect();
    let (results, reports) = run(echo.addr(), BULK_IDLE, clients);
    let reports: Vec<_> = reports.into_iter().map(Result::unwrap).collect();
    for result in &results {
        assert!(result.is_ok(), "{results:?}\nproxy reports: {reports:?}");
    }
    assert_eq!(reports.len(), 20);
    for report in reports {
        assert_eq!(report.end, relay::End::Done, "{report:?}");
        assert_eq!((report.to_upstream, report.to_client), (1 << 20, 1 << 20));
    }
    // The upstream's threads close their sockets when they see the end; give them a
    // moment before counting.
    drop(echo);
    thread::sleep(Duration::from_millis(50));
    fds.finish();
}

#[test]
fn proxy_idle_connection_is_closed_after_the_idle_timeout() {
    let fds = FdCheck::start();
    let echo = harness::echo_upstream().unwrap();
    let clients: Vec<Client<Duration>> = vec![Box::new(harness::idle_client)];
    let (results, reports) = run(echo.addr(), IDLE, clients);
    let reports: Vec<_> = reports.into_iter().map(Result::unwrap).collect();
    let closed_after = results.into_iter().next().unwrap().unwrap();
    assert!(
        closed_after >= IDLE,
        "closed after {closed_after:?}, before the timeout"
    );
    assert!(closed_after < IDLE * 10, "closed after {closed_after:?}");
    assert_eq!(reports[0].end, relay::End::Idle);
    assert_eq!((reports[0].to_upstream, reports[0].to_client), (0, 0));
    drop(echo);
    thread::sleep(Duration::from_millis(50));
    fds.finish();
}

#[test]
fn proxy_one_way_traffic_slower_than_nothing_is_never_cut_off() {
    let fds = FdCheck::start();
    let (sink, received) = harness::sink_upstream().unwrap();
    // A byte every eighth of the idle timeout, for 1.5 times the timeout; nothing
    // ever comes back.
    let every = TRICKLE_IDLE / 8;
    let clients: Vec<Client<u64>> =
        vec![Box::new(move |at| harness::trickle_client(at, every, 12))];
    let (results, reports) = run(sink.addr(), TRICKLE_IDLE, clients);
    let reports: Vec<_> = reports.into_iter().map(Result::unwrap).collect();
    let sent = results.into_iter().next().unwrap().unwrap();
    assert_eq!(sent, 12);
    assert_eq!(reports[0].end, relay::End::Done, "{:?}", reports[0]);
    assert_eq!(reports[0].to_upstream, 12);
    thread::sleep(Duration::from_millis(50));
    assert_eq!(
        *received.lock().unwrap(),
        [12],
        "every byte reached the upstream"
    );
    drop(sink);
    thread::sleep(Duration::from_millis(50));
    fds.finish();
}

#[test]
fn proxy_client_reset_mid_relay_fails_that_relay_alone() {
    let fds = FdCheck::start();
    let echo = harness::echo_upstream().unwrap();
    // Under the Panic policy, a copy dropped in flight on the error path would panic
    // out of the ring's block_on and take every connection down.
    let clients: Vec<Client<()>> = vec![
        Box::new(harness::resetting_client),
        Box::new(|at| harness::bulk_client(at, 7, 64 << 10)),
    ];
    let (results, reports) = run(echo.addr(), BULK_IDLE, clients);
    for result in &results {
        assert!(result.is_ok(), "{results:?}");
    }
    let failed: Vec<_> = reports.iter().filter_map(|r| r.as_ref().err()).collect();
    assert_eq!(failed.len(), 1, "{reports:?}");
    assert_eq!(
        failed[0].kind(),
        std::io::ErrorKind::ConnectionReset,
        "{reports:?}"
    );
    drop(echo);
    thread::sleep(Duration::from_millis(50));
    fds.finish();
}
