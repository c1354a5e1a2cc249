//! Real peers for the proxy, on `std` threads: upstream servers and clients that
//! check every byte. Used by the demonstration (`main.rs`) and by the integration
//! tests (`tests/it/proxy.rs`).

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// Bytes that differ from position to position (and from client to client), so a
/// shifted, repeated or crossed chunk shows.
pub(crate) fn pattern(seed: u64, len: usize) -> Vec<u8> {
    (0..len as u64)
        .map(|i| (i.wrapping_mul(31) ^ seed.wrapping_mul(131) ^ (i >> 9)) as u8)
        .collect()
}

/// An upstream server on a thread, serving each connection on a thread of its own.
/// Dropping it stops accepting and closes its listener.
pub(crate) struct Upstream {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    acceptor: Option<thread::JoinHandle<()>>,
}

impl Upstream {
    fn start(serve: impl Fn(TcpStream) + Send + Clone + 'static) -> io::Result<Upstream> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = stop.clone();
        let acceptor = thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                if stopped.load(Ordering::SeqCst) {
                    break;
                }
                let serve = serve.clone();
                thread::spawn(move || serve(stream));
            }
        });
        Ok(Upstream {
            addr,
            stop,
            acceptor: Some(acceptor),
        })
    }

    /// Where it listens.
    pub(crate) fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for Upstream {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wakes the blocked accept, which then sees the flag.
        let _ = TcpStream::connect(self.addr);
        if let Some(acceptor) = self.acceptor.take() {
            let _ = acceptor.join();
        }
    }
}

/// An upstream that echoes every connection until its end.
pub(crate) fn echo_upstream() -> io::Result<Upstream> {
    Upstream::start(|stream| {
        let mut reader = stream;
        let Ok(mut writer) = reader.try_clone() else {
            return;
        };
        let _ = io::copy(&mut reader, &mut writer);
        let _ = writer.shutdown(Shutdown::Write);
    })
}

/// An upstream that only reads: each connection's byte count goes to the list when
/// it ends.
pub(crate) fn sink_upstream() -> io::Result<(Upstream, Arc<Mutex<Vec<u64>>>)> {
    let counts = Arc::new(Mutex::new(Vec::new()));
    let sink = counts.clone();
    let upstream = Upstream::start(move |mut stream| {
        let n = io::copy(&mut stream, &mut io::sink()).unwrap_or(0);
        sink.lock().unwrap_or_else(|e| e.into_inner()).push(n);
    })?;
    Ok((upstream, counts))
}

/// Sends `len` bytes through the proxy to an echo upstream and checks that exactly
/// those bytes come back.
pub(crate) fn bulk_client(proxy: SocketAddr, seed: u64, len: usize) -> io::Result<()> {
    let stream = TcpStream::connect(proxy)?;
    let mut writer = stream.try_clone()?;
    let data = pattern(seed, len);
    let sent = data.clone();
    let sender = thread::spawn(move || -> io::Result<()> {
        writer.write_all(&sent)?;
        writer.shutdown(Shutdown::Write)
    });
    let mut back = Vec::with_capacity(len);
    (&stream).read_to_end(&mut back)?;
    sender
        .join()
        .map_err(|_| io::Error::other("the sender panicked"))??;
    if back != data {
        let at = back.iter().zip(&data).position(|(a, b)| a != b);
        return Err(io::Error::other(format!(
            "client {seed}: {} bytes came back for {len} sent, first difference at {at:?}",
            back.len()
        )));
    }
    Ok(())
}

/// Connects and sends nothing: how long until the proxy closes the connection.
pub(crate) fn idle_client(proxy: SocketAddr) -> io::Result<Duration> {
    // The clock starts before the connection exists, so the proxy's idle timer
    // (started once it has accepted) cannot start before it, however late this
    // thread runs again after the handshake.
    let start = Instant::now();
    let mut stream = TcpStream::connect(proxy)?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut byte = [0u8; 1];
    match stream.read(&mut byte) {
        Ok(0) => Ok(start.elapsed()),
        Ok(_) => Err(io::Error::other("an idle client received a byte")),
        Err(e) => Err(e),
    }
}

/// Sends one byte every `every`, `count` times, to a sink upstream, then ends its
/// side; the proxy must not close the connection meanwhile, since bytes keep moving
/// one way. Returns the bytes sent.
pub(crate) fn trickle_client(proxy: SocketAddr, every: Duration, count: usize) -> io::Result<u64> {
    let mut stream = TcpStream::connect(proxy)?;
    for i in 0..count {
        thread::sleep(every);
        stream.write_all(&[i as u8]).map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("the proxy cut a trickle off after {i} bytes: {e}"),
            )
        })?;
    }
    stream.shutdown(Shutdown::Write)?;
    // Nothing comes back from a sink; the end shows the proxy closed it after.
    let mut rest = Vec::new();
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    stream.read_to_end(&mut rest)?;
    Ok(count as u64)
}

/// Sends a few bytes, then resets the connection (`SO_LINGER` 0, then close): the
/// proxy sees `ECONNRESET` on one direction while the other is still copying.
pub(crate) fn resetting_client(proxy: SocketAddr) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    let mut stream = TcpStream::connect(proxy)?;
    stream.write_all(b"hello")?;
    thread::sleep(Duration::from_millis(20));
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: setsockopt(2) on a live socket, with a pointer to a live `linger` and
    // its size.
    let rc = unsafe {
        libc::setsockopt(
            stream.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&linger as *const libc::linger).cast(),
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        )
    };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    drop(stream);
    Ok(())
}
