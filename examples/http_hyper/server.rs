//! hyper's HTTP/1 server on the ring: each connection is a ring task, its stream
//! wrapped in `compat::Compat` (tokio's `AsyncRead` and `AsyncWrite`) and hyper-util's
//! `TokioIo`. No tokio runtime runs: hyper needs only the I/O traits. Shared by
//! `examples/http_hyper` and its test.

use std::cell::Cell;
use std::io;
use std::rc::Rc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use linear_uring::compat::Compat;
use linear_uring::net::{TcpListener, TcpStream};
use linear_uring::{race, JoinHandle, Raced, Ring};

/// What one ring's server counted.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) connections: Cell<u64>,
    pub(crate) requests: Cell<u64>,
    /// Connections hyper ended with an error (a client that vanished mid-request).
    pub(crate) errors: Cell<u64>,
}

/// Serves connections from `listener` with hyper until `stop` is set (checked every
/// 50 ms), then finishes the connections it has.
pub(crate) async fn serve(
    ring: Ring,
    listener: TcpListener,
    counters: Rc<Counters>,
    stop: Rc<Cell<bool>>,
) -> io::Result<()> {
    let mut connections = Vec::new();
    let mut incoming = listener.incoming().submit();
    loop {
        match race(&mut incoming, ring.sleep(Duration::from_millis(50))).await {
            Raced::First(Some(stream), _tick) => {
                connections.push(spawn_connection(&ring, stream?, &counters))
            }
            Raced::First(None, _) => break,
            Raced::Second(_, tick) => {
                tick?;
                if stop.get() {
                    break;
                }
            }
        }
    }
    // Stop accepting; a connection accepted meanwhile is still served.
    let drained = incoming.cancel().await;
    for stream in drained.items {
        connections.push(spawn_connection(&ring, stream, &counters));
    }
    drained.end?;
    for connection in connections {
        connection.await;
    }
    listener.close().await
}

fn spawn_connection(ring: &Ring, stream: TcpStream, counters: &Rc<Counters>) -> JoinHandle<()> {
    counters.connections.set(counters.connections.get() + 1);
    let counters = counters.clone();
    ring.spawn(async move {
        let _ = stream.set_nodelay(true);
        let io = TokioIo::new(Compat::new(stream));
        let service = service_fn(|request| answer(request, &counters));
        if let Err(err) = http1::Builder::new().serve_connection(io, service).await {
            counters.errors.set(counters.errors.get() + 1);
            eprintln!("http_hyper: connection: {err}");
        }
    })
}

/// Every request gets a short text naming its method, its target and the length of
/// its body (read to the end).
async fn answer(
    request: Request<Incoming>,
    counters: &Counters,
) -> Result<Response<Full<Bytes>>, hyper::Error> {
    counters.requests.set(counters.requests.get() + 1);
    let (head, body) = request.into_parts();
    let length = body.collect().await?.to_bytes().len();
    let body = format!(
        "hyper on linear-uring: {} {} ({length} bytes)\n",
        head.method, head.uri
    );
    let mut response = Response::new(Full::new(Bytes::from(body)));
    response.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("text/plain"),
    );
    Ok(response)
}
