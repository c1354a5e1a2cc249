//! hyper's HTTP/1 server carried by the tokio adapters (`examples/http_hyper`),
//! driven by hyper's HTTP/1 client: a real protocol stack on both sides, neither
//! written here. Compiled with the `tokio` feature; `.ci/run` runs it (the names
//! start with `compat_` to fall under its filter).

use std::cell::Cell;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper_util::rt::TokioIo;
use linear_uring::net::TcpListener;
use linear_uring::{DropPolicy, Ring};

use crate::fds::FdCheck;

#[path = "../../examples/http_hyper/server.rs"]
mod server;

/// Runs the hyper server on its own thread and ring until `stop`; returns its
/// counts of connections, requests and connection errors.
fn start(
    stop: Arc<AtomicBool>,
) -> (
    std::net::SocketAddr,
    std::thread::JoinHandle<(u64, u64, u64)>,
) {
    let (tx, rx) = mpsc::channel();
    let thread = std::thread::spawn(move || {
        let ring = Ring::builder()
            .drop_policy(DropPolicy::Panic)
            .build()
            .unwrap();
        let listener = TcpListener::bind(&ring, "127.0.0.1:0").unwrap();
        tx.send(listener.local_addr().unwrap()).unwrap();
        let counters = Rc::new(server::Counters::default());
        let stopped = Rc::new(Cell::new(false));
        ring.block_on(async {
            let watcher = {
                let (ring, stopped) = (ring.clone(), stopped.clone());
                ring.clone().spawn(async move {
                    while !stop.load(Ordering::SeqCst) {
                        ring.sleep(Duration::from_millis(10)).await.unwrap();
                    }
                    stopped.set(true);
                })
            };
            server::serve(ring.clone(), listener, counters.clone(), stopped)
                .await
                .unwrap();
            watcher.await;
        });
        assert_eq!(ring.stats().abandoned, 0, "{:?}", ring.stats());
        (
            counters.connections.get(),
            counters.requests.get(),
            counters.errors.get(),
        )
    });
    (rx.recv().unwrap(), thread)
}

#[test]
fn compat_hyper_server_answers_hyper_client_2000_requests_with_bodies() {
    const CONNECTIONS: usize = 20;
    const REQUESTS: usize = 100;
    let fds = FdCheck::start();
    let stop = Arc::new(AtomicBool::new(false));
    let (addr, server) = start(stop.clone());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()
        .unwrap();
    let answered = runtime.block_on(async move {
        let clients: Vec<_> = (0..CONNECTIONS)
            .map(|c| {
                tokio::spawn(async move {
                    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
                    let (mut sender, connection) =
                        hyper::client::conn::http1::handshake(TokioIo::new(stream))
                            .await
                            .unwrap();
                    let driver = tokio::spawn(connection);
                    for i in 0..REQUESTS {
                        let path = format!("/{c}/{i}");
                        // Every tenth request carries a body of up to 256 KiB, which
                        // crosses the adapter in many reads.
                        let length = if i % 10 == 0 {
                            (c * 13_000 + i * 100) % (256 << 10)
                        } else {
                            0
                        };
                        let request = Request::post(&path)
                            .header(hyper::header::HOST, "test")
                            .body(Full::new(Bytes::from(vec![b'x'; length])))
                            .unwrap();
                        let response = sender.send_request(request).await.unwrap();
                        assert_eq!(response.status(), 200);
                        let body = response.into_body().collect().await.unwrap().to_bytes();
                        assert_eq!(
                            body,
                            format!("hyper on linear-uring: POST {path} ({length} bytes)\n")
                        );
                    }
                    drop(sender);
                    driver.await.unwrap().unwrap();
                    REQUESTS
                })
            })
            .collect();
        let mut answered = 0;
        for client in clients {
            answered += client.await.unwrap();
        }
        answered
    });
    assert_eq!(answered, CONNECTIONS * REQUESTS);
    stop.store(true, Ordering::SeqCst);
    let (connections, requests, errors) = server.join().unwrap();
    assert_eq!(connections as usize, CONNECTIONS);
    assert_eq!(requests as usize, CONNECTIONS * REQUESTS);
    assert_eq!(errors, 0);
    fds.finish();
}
