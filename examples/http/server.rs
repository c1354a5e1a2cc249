//! A small HTTP/1.1 server on linear-uring ops: keep-alive, pipelined requests
//! answered in order, a per-request read deadline (408 when a request stalls), a
//! header limit (431 when it is exceeded). Shared by `examples/http` and its tests.

use std::cell::Cell;
use std::io;
use std::net::SocketAddr;
use std::os::fd::{FromRawFd, OwnedFd};
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

/// A listening socket on `addr` with `SO_REUSEPORT`, so that one listener per ring
/// (per thread) can share the port and the kernel spreads connections over them.
pub(crate) fn reuseport_listener(ring: &Ring, addr: SocketAddr) -> io::Result<TcpListener> {
    let listener = std::net::TcpListener::from(reuseport_socket(addr)?);
    TcpListener::from_std(ring, listener)
}

fn reuseport_socket(addr: SocketAddr) -> io::Result<OwnedFd> {
    let domain = if addr.is_ipv4() {
        libc::AF_INET
    } else {
        libc::AF_INET6
    };
    // SAFETY: socket(2) takes no pointers; a non-negative result is a new descriptor.
    let fd = unsafe { libc::socket(domain, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` was just returned by socket(2), owned by nobody else.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    let one: libc::c_int = 1;
    for option in [libc::SO_REUSEADDR, libc::SO_REUSEPORT] {
        // SAFETY: setsockopt(2) on a live descriptor, reading a live c_int.
        let rc = unsafe {
            libc::setsockopt(
                std::os::fd::AsRawFd::as_raw_fd(&fd),
                libc::SOL_SOCKET,
                option,
                (&one as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        if rc < 0 {
            return Err(io::Error::last_os_error());
        }
    }
    let std_listener = {
        // Bind and listen through std, on the prepared socket.
        let (storage, len) = sockaddr(addr);
        // SAFETY: bind(2) reads `len` bytes of a live sockaddr_storage.
        let rc = unsafe {
            libc::bind(
                std::os::fd::AsRawFd::as_raw_fd(&fd),
                (&storage as *const libc::sockaddr_storage).cast(),
                len,
            )
        };
        if rc < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: listen(2) on a live bound socket, integer arguments.
        if unsafe { libc::listen(std::os::fd::AsRawFd::as_raw_fd(&fd), 1024) } < 0 {
            return Err(io::Error::last_os_error());
        }
        fd
    };
    Ok(std_listener)
}

fn sockaddr(addr: SocketAddr) -> (libc::sockaddr_storage, libc::socklen_t) {
    // SAFETY: all zeros is a valid sockaddr_storage.
    let mut storage: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let len = match addr {
        SocketAddr::V4(v4) => {
            let sin = libc::sockaddr_in {
                sin_family: libc::AF_INET as libc::sa_family_t,
                sin_port: v4.port().to_be(),
                sin_addr: libc::in_addr {
                    s_addr: u32::from_ne_bytes(v4.ip().octets()),
                },
                sin_zero: [0; 8],
            };
            // SAFETY: a sockaddr_in fits in a sockaddr_storage, which is aligned for it.
            unsafe { std::ptr::write((&mut storage as *mut libc::sockaddr_storage).cast(), sin) };
            std::mem::size_of::<libc::sockaddr_in>()
        }
        SocketAddr::V6(v6) => {
            let sin6 = libc::sockaddr_in6 {
                sin6_family: libc::AF_INET6 as libc::sa_family_t,
                sin6_port: v6.port().to_be(),
                sin6_flowinfo: v6.flowinfo(),
                sin6_addr: libc::in6_addr {
                    s6_addr: v6.ip().octets(),
                },
                sin6_scope_id: v6.scope_id(),
            };
            // SAFETY: as above, for a sockaddr_in6.
            unsafe { std::ptr::write((&mut storage as *mut libc::sockaddr_storage).cast(), sin6) };
            std::mem::size_of::<libc::sockaddr_in6>()
        }
    };
    (storage, len as libc::socklen_t)
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
