//! The HTTP/1.1 server of `examples/http`, driven by plain TCP clients (keep-alive,
//! pipelining answered in order, a stalled request timed out with 408, oversized
//! headers refused with 431, `Connection: close`, many clients at once) and by
//! hyper's HTTP/1 client, which nobody here wrote: 10,000 requests over 50
//! connections. (`.ci/run` drives the example itself with curl too.)

use std::cell::Cell;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use linear_uring::net::TcpListener;
use linear_uring::{DropPolicy, Ring};

use crate::fds::FdCheck;

#[path = "../../examples/http/server.rs"]
#[allow(dead_code)]
mod server;

/// A server on its own thread and ring; stopped and joined on drop.
struct Server {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<(u64, u64, u64)>>,
}

impl Server {
    fn start(config: server::Config) -> Server {
        let (tx, rx) = mpsc::channel();
        let stop = Arc::new(AtomicBool::new(false));
        let stop_flag = stop.clone();
        let thread = std::thread::spawn(move || {
            let ring = Ring::builder()
                .drop_policy(DropPolicy::Panic)
                .build()
                .unwrap();
            let listener =
                TcpListener::bind_reuse_port(&ring, "127.0.0.1:0".parse().unwrap()).unwrap();
            tx.send(listener.local_addr().unwrap()).unwrap();
            let counters = Rc::new(server::Counters::default());
            let stop = Rc::new(Cell::new(false));
            ring.block_on(async {
                // Carries the test's stop request onto the ring's thread.
                let watcher = {
                    let (ring, stop) = (ring.clone(), stop.clone());
                    ring.clone().spawn(async move {
                        while !stop_flag.load(Ordering::SeqCst) {
                            ring.sleep(Duration::from_millis(10)).await.unwrap();
                        }
                        stop.set(true);
                    })
                };
                server::serve(ring.clone(), listener, config, counters.clone(), stop)
                    .await
                    .unwrap();
                watcher.await;
            });
            assert_eq!(ring.stats().abandoned, 0, "{:?}", ring.stats());
            (
                counters.requests.get(),
                counters.timeouts.get(),
                counters.too_large.get(),
            )
        });
        Server {
            addr: rx.recv().unwrap(),
            stop,
            thread: Some(thread),
        }
    }

    /// Stops the server: its counts of requests, timeouts and oversized heads.
    fn stop(mut self) -> (u64, u64, u64) {
        self.stop.store(true, Ordering::SeqCst);
        self.thread.take().unwrap().join().unwrap()
    }

    fn connect(&self) -> TcpStream {
        let client = TcpStream::connect(self.addr).unwrap();
        client
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        client
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Reads one response: its status line and body (by `Content-Length`).
fn response(client: &mut TcpStream, pending: &mut Vec<u8>) -> (String, String) {
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(end) = pending.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8(pending[..end].to_vec()).unwrap();
            let length: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("Content-Length: "))
                .map(|v| v.parse().unwrap())
                .unwrap_or(0);
            if pending.len() >= end + 4 + length {
                let body = String::from_utf8(pending[end + 4..end + 4 + length].to_vec()).unwrap();
                pending.drain(..end + 4 + length);
                let status = head.lines().next().unwrap().to_string();
                return (status, body);
            }
        }
        let n = client.read(&mut chunk).unwrap();
        assert!(n > 0, "the server closed before answering: {pending:?}");
        pending.extend_from_slice(&chunk[..n]);
    }
}

fn get(path: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nHost: test\r\n\r\n")
}

#[test]
fn http_keep_alive_serves_many_requests_on_one_connection() {
    let _fds = FdCheck::start();
    let server = Server::start(server::Config::default());
    let mut client = server.connect();
    let mut pending = Vec::new();
    for path in ["/a", "/b", "/c"] {
        client.write_all(get(path).as_bytes()).unwrap();
        let (status, body) = response(&mut client, &mut pending);
        assert_eq!(status, "HTTP/1.1 200 OK");
        assert_eq!(body, format!("GET {path} served by linear-uring\n"));
    }
    drop(client);
    assert_eq!(server.stop().0, 3);
}

#[test]
fn http_pipelined_requests_are_answered_in_order() {
    let _fds = FdCheck::start();
    let server = Server::start(server::Config::default());
    let mut client = server.connect();
    let all: String = (0..5).map(|i| get(&format!("/{i}"))).collect();
    client.write_all(all.as_bytes()).unwrap();
    let mut pending = Vec::new();
    for i in 0..5 {
        let (status, body) = response(&mut client, &mut pending);
        assert_eq!(status, "HTTP/1.1 200 OK");
        assert_eq!(body, format!("GET /{i} served by linear-uring\n"));
    }
}

#[test]
fn http_stalled_request_gets_408_after_the_read_deadline() {
    let _fds = FdCheck::start();
    let server = Server::start(server::Config {
        read_timeout: Duration::from_millis(200),
        ..Default::default()
    });
    let mut client = server.connect();
    client.write_all(b"GET /slow HTTP/1.1\r\nHost").unwrap();
    let started = Instant::now();
    let (status, _) = response(&mut client, &mut Vec::new());
    let waited = started.elapsed();
    assert_eq!(status, "HTTP/1.1 408 Request Timeout");
    assert!(waited >= Duration::from_millis(150), "{waited:?}");
    // And the server closes the connection.
    let mut rest = Vec::new();
    client.read_to_end(&mut rest).unwrap();
    drop(client);
    assert_eq!(server.stop(), (0, 1, 0));
}

#[test]
fn http_oversized_headers_get_431() {
    let _fds = FdCheck::start();
    let server = Server::start(server::Config::default());
    let mut client = server.connect();
    let big = format!(
        "GET /big HTTP/1.1\r\nHost: test\r\nX-Big: {}\r\n\r\n",
        "a".repeat(10_000)
    );
    client.write_all(big.as_bytes()).unwrap();
    let (status, _) = response(&mut client, &mut Vec::new());
    assert_eq!(status, "HTTP/1.1 431 Request Header Fields Too Large");
    drop(client);
    assert_eq!(server.stop(), (0, 0, 1));
}

#[test]
fn http_connection_close_is_honoured() {
    let _fds = FdCheck::start();
    let server = Server::start(server::Config::default());
    let mut client = server.connect();
    client
        .write_all(b"GET /bye HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut all = Vec::new();
    client.read_to_end(&mut all).unwrap();
    let text = String::from_utf8(all).unwrap();
    assert!(text.starts_with("HTTP/1.1 200 OK\r\n"), "{text}");
    assert!(text.contains("Connection: close"), "{text}");
    assert!(
        text.ends_with("GET /bye served by linear-uring\n"),
        "{text}"
    );
}

#[test]
fn http_20_clients_of_50_keep_alive_requests_all_answered() {
    let _fds = FdCheck::start();
    let server = Server::start(server::Config::default());
    let addr = server.addr;
    let clients: Vec<_> = (0..20)
        .map(|c| {
            std::thread::spawn(move || {
                let mut client = TcpStream::connect(addr).unwrap();
                client
                    .set_read_timeout(Some(Duration::from_secs(10)))
                    .unwrap();
                let mut pending = Vec::new();
                for i in 0..50 {
                    let path = format!("/{c}/{i}");
                    client.write_all(get(&path).as_bytes()).unwrap();
                    let (status, body) = response(&mut client, &mut pending);
                    assert_eq!(status, "HTTP/1.1 200 OK");
                    assert_eq!(body, format!("GET {path} served by linear-uring\n"));
                }
            })
        })
        .collect();
    for client in clients {
        client.join().unwrap();
    }
    assert_eq!(server.stop().0, 1000);
}

#[test]
fn http_hyper_client_10000_requests_over_50_connections_without_an_error() {
    use bytes::Bytes;
    use http_body_util::{BodyExt, Empty};
    use hyper::Request;
    use hyper_util::rt::TokioIo;

    const CONNECTIONS: usize = 50;
    const REQUESTS: usize = 200;
    let _fds = FdCheck::start();
    let server = Server::start(server::Config::default());
    let addr = server.addr;
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
                    let mut answered = 0;
                    for i in 0..REQUESTS {
                        let path = format!("/{c}/{i}");
                        let request = Request::get(&path)
                            .header(hyper::header::HOST, "test")
                            .body(Empty::<Bytes>::new())
                            .unwrap();
                        let response = sender.send_request(request).await.unwrap();
                        assert_eq!(response.status(), 200);
                        let body = response.into_body().collect().await.unwrap().to_bytes();
                        assert_eq!(body, format!("GET {path} served by linear-uring\n"));
                        answered += 1;
                    }
                    drop(sender);
                    driver.await.unwrap().unwrap();
                    answered
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
    assert_eq!(server.stop().0 as usize, CONNECTIONS * REQUESTS);
}
