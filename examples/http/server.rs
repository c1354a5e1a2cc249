//! A small HTTP/1.1 server on linear-uring ops: keep-alive, pipelined requests
//! answered in order, a per-request read deadline (408 when a request stalls), a
//! header limit (431 when it is exceeded). Shared by `examples/http` and its tests.

use std::cell::Cell;
use std::io;
use std::rc::Rc;
use std::time::{Duration, Instant};

use linear_uring::net::{TcpListener, TcpStream};
use linear_uring::{deadline, Ring};

/// How the server behaves.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Config {
    /// Longest time from the first byte of a request (or the end of the previous
    /// response) to its last byte: past it, a partial request gets 408.
    pub(crate) read_timeout: Duration,
    /// Largest request head (request line and headers) accepted: past it, 431.
    pub(crate) max_head: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            read_timeout: Duration::from_secs(10),
            max_head: 8 * 1024,
        }
    }
}

/// What the server counted, per ring.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) connections: Cell<u64>,
    pub(crate) requests: Cell<u64>,
    pub(crate) timeouts: Cell<u64>,
    pub(crate) too_large: Cell<u64>,
}

/// Serves connections from `listener` until `stop` is set (checked every 50 ms).
pub(crate) async fn serve(
    ring: Ring,
    listener: TcpListener,
    config: Config,
    counters: Rc<Counters>,
    stop: Rc<Cell<bool>>,
) -> io::Result<()> {
    let mut incoming = listener.incoming().submit();
    let mut handlers = Vec::new();
    loop {
        match linear_uring::race(&mut incoming, ring.sleep(Duration::from_millis(50))).await {
            linear_uring::Raced::First(Some(accepted), _) => {
                counters.connections.set(counters.connections.get() + 1);
                let handler = connection(ring.clone(), accepted?, config, counters.clone());
                handlers.push(ring.spawn(handler));
            }
            linear_uring::Raced::First(None, _) => break,
            linear_uring::Raced::Second(_, fired) => {
                fired?;
                if stop.get() {
                    break;
                }
            }
        }
        // Forget the handles of connections that are done.
        handlers.retain(|handler| !handler.is_finished());
    }
    for stream in incoming.cancel().await.items {
        drop(stream); // accepted after the stop: closed
    }
    for handler in handlers {
        // A connection's own error (a reset peer) ends that connection only.
        let _ = handler.await;
    }
    Ok(())
}

/// One parsed request head.
struct Head {
    /// Bytes of the head, up to and including the blank line.
    len: usize,
    method: String,
    target: String,
    close: bool,
    content_length: usize,
}

/// Parses a complete request head at the start of `bytes`, if there is one.
fn parse_head(bytes: &[u8]) -> Option<Result<Head, &'static str>> {
    let end = bytes.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
    let text = match std::str::from_utf8(&bytes[..end]) {
        Ok(text) => text,
        Err(_) => return Some(Err("the request head is not UTF-8")),
    };
    let mut lines = text.split("\r\n");
    let request_line = lines.next().unwrap_or_default();
    let mut parts = request_line.split(' ');
    let (Some(method), Some(target), Some(version)) = (parts.next(), parts.next(), parts.next())
    else {
        return Some(Err("malformed request line"));
    };
    let mut close = version == "HTTP/1.0";
    let mut content_length = 0;
    for line in lines.filter(|l| !l.is_empty()) {
        let Some((name, value)) = line.split_once(':') else {
            return Some(Err("malformed header"));
        };
        let value = value.trim();
        if name.eq_ignore_ascii_case("connection") {
            close = value.eq_ignore_ascii_case("close")
                || (close && !value.eq_ignore_ascii_case("keep-alive"));
        } else if name.eq_ignore_ascii_case("content-length") {
            match value.parse() {
                Ok(n) => content_length = n,
                Err(_) => return Some(Err("bad Content-Length")),
            }
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            return Some(Err("chunked bodies are not supported"));
        }
    }
    Some(Ok(Head {
        len: end,
        method: method.to_string(),
        target: target.to_string(),
        close,
        content_length,
    }))
}

fn response(status: &str, body: &str, close: bool) -> Vec<u8> {
    format!(
        "HTTP/1.1 {status}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n{}\r\n{body}",
        body.len(),
        if close { "Connection: close\r\n" } else { "" }
    )
    .into_bytes()
}

/// Serves one connection: requests in order, each read within the deadline.
async fn connection(
    ring: Ring,
    stream: TcpStream,
    config: Config,
    counters: Rc<Counters>,
) -> io::Result<()> {
    let mut buf: Vec<u8> = Vec::with_capacity(16 * 1024);
    'requests: loop {
        let started = Instant::now();
        // Wait until a whole request (head and body) is in `buf`.
        let (head, total) = loop {
            let head = parse_head(&buf);
            let head_len = match &head {
                Some(Ok(head)) => head.len,
                _ => buf.len(),
            };
            if head_len > config.max_head {
                counters.too_large.set(counters.too_large.get() + 1);
                let reply = response(
                    "431 Request Header Fields Too Large",
                    "headers too large\n",
                    true,
                );
                stream.send_all(reply).await.0?;
                break 'requests;
            }
            match head {
                Some(Ok(head)) if buf.len() >= head.len + head.content_length => {
                    let total = head.len + head.content_length;
                    break (head, total);
                }
                Some(Err(reason)) => {
                    let reply = response("400 Bad Request", &format!("{reason}\n"), true);
                    stream.send_all(reply).await.0?;
                    break 'requests;
                }
                _ => {}
            }
            let Some(left) = config.read_timeout.checked_sub(started.elapsed()) else {
                if !buf.is_empty() {
                    counters.timeouts.set(counters.timeouts.get() + 1);
                    let reply = response("408 Request Timeout", "request timed out\n", true);
                    stream.send_all(reply).await.0?;
                }
                break 'requests;
            };
            buf.reserve(4096);
            match deadline(stream.recv(buf).submit(), ring.sleep(left)).await {
                Ok((received, back)) => {
                    buf = back;
                    if received? == 0 {
                        break 'requests; // the client closed
                    }
                }
                // The deadline passed: the receive was cancelled, and its buffer,
                // with whatever arrived before, came back.
                Err(expired) => buf = expired.residue,
            }
        };
        counters.requests.set(counters.requests.get() + 1);
        let body = format!("{} {} served by linear-uring\n", head.method, head.target);
        stream
            .send_all(response("200 OK", &body, head.close))
            .await
            .0?;
        buf.drain(..total);
        if head.close {
            break;
        }
    }
    stream.close().await
}
