//! Thread-per-core: N threads, each with its own ring, its own `SO_REUSEPORT`
//! listener and its own mailbox, and values (descriptors among them) handed between
//! them with `IORING_OP_MSG_RING`.
//!
//! Nothing is shared between the threads but what they send each other. A
//! [`Mailbox`] belongs to one ring; its [`Address`] goes anywhere; a send queues the
//! value and rings the target ring's doorbell (a `MSG_RING` data message, which
//! wakes the target thread inside `io_uring_enter` without an eventfd). Ownership of
//! a value in transit is linear: it is with the sender until the mailbox has it, with
//! the mailbox until the receiver takes it; a send to a closed mailbox, or one the
//! kernel refuses, hands it back ([`Undelivered`]); a mailbox that closes with values
//! queued (its ring shut down) drops them, closing the descriptors among them.
//!
//! Descriptors travel as values (`OwnedFd`, `std::net::TcpStream`): the threads of one
//! process share one descriptor table, so moving the number moves the file. (The
//! kernel's `IORING_MSG_SEND_FD` moves registered files between rings' fixed tables,
//! which this library's resources do not use; it would cost an install op on
//! arrival for nothing a same-process hand-off needs.)
//!
//! # Examples
//!
//! Two threads; the first makes a connected pair of sockets and hands one end to
//! the second, which answers through it:
//!
//! ```
//! use std::os::unix::net::UnixStream as StdUnixStream;
//! use linear_uring::net::UnixStream;
//! use linear_uring::runtime::{Runtime, Worker};
//!
//! let runtime = Runtime::builder().threads(2).build()?;
//! let heard: Vec<std::io::Result<String>> = runtime.run(|worker: Worker<StdUnixStream>| async move {
//!     let ring = worker.ring().clone();
//!     if worker.index() == 0 {
//!         let (mine, theirs) = StdUnixStream::pair()?;
//!         // Thread 1 owns `theirs` once this completes; if it cannot take it
//!         // (its mailbox closed), the error hands it back.
//!         worker.peer(1).send(&ring, theirs).complete().await.map_err(|e| e.into_parts().0)?;
//!         let mine = UnixStream::from_std(&ring, mine)?;
//!         let (received, buf) = mine.recv(Vec::with_capacity(64)).submit().complete().await;
//!         received?;
//!         Ok(String::from_utf8_lossy(&buf).into_owned())
//!     } else {
//!         let theirs = UnixStream::from_std(&ring, worker.recv().await)?;
//!         let (sent, _) = theirs.send(b"hello from thread 1").submit().complete().await;
//!         sent?;
//!         Ok(String::new())
//!     }
//! })?;
//! assert_eq!(heard[0].as_ref().unwrap(), "hello from thread 1");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! A full server, with a listener per thread and connections handed between
//! threads, is `examples/echo` (`--threads N --hand-off`).

pub(crate) mod mailbox;

use std::fmt;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::panic::resume_unwind;
use std::sync::mpsc;
use std::sync::Arc;

pub use mailbox::{Address, Mailbox, MailboxRecv, Undelivered};

use crate::net::TcpListener;
use crate::{Ring, RingBuilder};

/// Configures and builds a [`Runtime`].
#[derive(Debug, Clone)]
pub struct RuntimeBuilder {
    threads: usize,
    pin: bool,
    ring: RingBuilder,
    listen: Option<SocketAddr>,
}

/// A set of threads, each running one ring, built by [`Runtime::builder`] and
/// started by [`Runtime::run`].
///
/// It holds the listening sockets until the threads start, so that the address of a
/// port-0 listener is known (from [`local_addr`](Runtime::local_addr)) before any
/// thread runs, and connections that arrive meanwhile wait in their backlog.
#[derive(Debug)]
pub struct Runtime {
    threads: usize,
    pin: bool,
    ring: RingBuilder,
    listeners: Vec<std::net::TcpListener>,
    local_addr: Option<SocketAddr>,
}

/// One thread's share of a [`Runtime`]: its ring, its mailbox, the addresses of
/// every thread's mailbox, and its listener.
///
/// Handed by value to the closure given to [`Runtime::run`]; dropping it (when the
/// thread's future ends) closes the thread's mailbox.
pub struct Worker<M: Send + 'static> {
    index: usize,
    ring: Ring,
    mailbox: Mailbox<M>,
    peers: Arc<[Address<M>]>,
    listener: std::cell::Cell<Option<TcpListener>>,
}

impl Runtime {
    /// A builder: one thread, not pinned, rings as [`Ring::builder`] makes them, no
    /// listener.
    pub fn builder() -> RuntimeBuilder {
        RuntimeBuilder {
            threads: 1,
            pin: false,
            ring: Ring::builder(),
            listen: None,
        }
    }

    /// How many threads [`run`](Runtime::run) starts.
    pub fn threads(&self) -> usize {
        self.threads
    }

    /// The address the threads' listeners share, if [`listen`](RuntimeBuilder::listen)
    /// was asked for (with port 0 resolved).
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.local_addr
    }

    /// Starts the threads, runs `f(worker)` to completion on each thread's ring, and
    /// returns the outputs in thread order.
    ///
    /// Every ring is built, and every mailbox opened, before any `f` runs, so each
    /// worker can send to every other from its first poll. Each thread's ring shuts
    /// down when its future ends (cancelling its ops, closing its mailbox).
    ///
    /// # Errors
    ///
    /// If a thread cannot be pinned or spawned, or its ring cannot be built (the
    /// [`Error`](crate::Error) is the source of the `io::Error`): then no `f` runs.
    ///
    /// # Panics
    ///
    /// If a thread's future panics, that thread's ring shuts down (its mailbox
    /// closes: sends to it come back), the other threads run on, and the first panic
    /// is resumed here once every thread has ended. A thread that waits for a
    /// message only the panicked thread would have sent waits forever, and `run`
    /// with it: a worker that depends on a peer can check
    /// [`Address::is_open`] (or the `Undelivered` its sends get back) to notice.
    pub fn run<M, F, Fut>(self, f: F) -> io::Result<Vec<Fut::Output>>
    where
        M: Send + 'static,
        F: Fn(Worker<M>) -> Fut + Sync,
        Fut: Future,
        Fut::Output: Send,
    {
        let cpus = if self.pin {
            allowed_cpus()?
        } else {
            Vec::new()
        };
        let threads = self.threads;
        let ring = &self.ring;
        let f = &f;
        std::thread::scope(|scope| {
            let (ready_tx, ready_rx) = mpsc::channel::<(usize, io::Result<Address<M>>)>();
            let mut starts = Vec::with_capacity(threads);
            let mut handles = Vec::with_capacity(threads);
            let mut listeners = self.listeners.into_iter();
            for index in 0..threads {
                let (start_tx, start_rx) = mpsc::channel::<Option<Arc<[Address<M>]>>>();
                starts.push(start_tx);
                let thread_tx = ready_tx.clone();
                let listener = listeners.next();
                let cpu = (!cpus.is_empty()).then(|| cpus[index % cpus.len()]);
                let spawned = std::thread::Builder::new()
                    .name(format!("linear-uring-{index}"))
                    .spawn_scoped(scope, move || {
                        let setup = set_up(index, cpu, ring, listener);
                        let (ring, mailbox, listener) = match setup {
                            Ok(setup) => {
                                let _ = thread_tx.send((index, Ok(setup.1.address())));
                                setup
                            }
                            Err(err) => {
                                let _ = thread_tx.send((index, Err(err)));
                                return None;
                            }
                        };
                        drop(thread_tx);
                        // `None`: another thread failed to start; nothing runs.
                        let peers = start_rx.recv().ok().flatten()?;
                        let worker = Worker {
                            index,
                            ring: ring.clone(),
                            mailbox,
                            peers,
                            listener: std::cell::Cell::new(listener),
                        };
                        Some(ring.block_on(f(worker)))
                    });
                match spawned {
                    Ok(handle) => handles.push(handle),
                    Err(err) => {
                        let _ = ready_tx.send((index, Err(err)));
                    }
                }
            }
            drop(ready_tx);
            let mut addresses: Vec<Option<Address<M>>> = (0..threads).map(|_| None).collect();
            let mut failure = None;
            for (index, ready) in ready_rx.iter() {
                match ready {
                    Ok(address) => addresses[index] = Some(address),
                    Err(err) => {
                        failure.get_or_insert(err);
                    }
                }
            }
            let peers: Option<Arc<[Address<M>]>> = match failure {
                Some(_) => None,
                None => addresses
                    .into_iter()
                    .collect::<Option<Vec<_>>>()
                    .map(Arc::from),
            };
            for start in &starts {
                let _ = start.send(peers.clone());
            }
            drop(peers);
            let mut outputs = Vec::with_capacity(threads);
            let mut panicked = None;
            for handle in handles {
                match handle.join() {
                    Ok(Some(output)) => outputs.push(output),
                    Ok(None) => {}
                    Err(payload) => {
                        panicked.get_or_insert(payload);
                    }
                }
            }
            if let Some(payload) = panicked {
                resume_unwind(payload);
            }
            match failure {
                Some(err) => Err(err),
                None => Ok(outputs),
            }
        })
    }
}

/// What a thread builds before its future runs: pinning, its ring, its mailbox,
/// its listener on that ring.
fn set_up<M: Send + 'static>(
    index: usize,
    cpu: Option<usize>,
    builder: &RingBuilder,
    listener: Option<std::net::TcpListener>,
) -> io::Result<(Ring, Mailbox<M>, Option<TcpListener>)> {
    if let Some(cpu) = cpu {
        pin_to(cpu).map_err(|err| {
            io::Error::new(
                err.kind(),
                format!("thread {index}: pinning to CPU {cpu}: {err}"),
            )
        })?;
    }
    let ring = builder.clone().build().map_err(io::Error::from)?;
    let mailbox = ring.mailbox()?;
    let listener = listener
        .map(|listener| TcpListener::from_std(&ring, listener))
        .transpose()?;
    Ok((ring, mailbox, listener))
}

impl RuntimeBuilder {
    /// How many threads (and rings) to start; at least one. Default 1.
    ///
    /// # Panics
    ///
    /// If `threads` is 0.
    pub fn threads(mut self, threads: usize) -> Self {
        assert!(threads > 0, "a runtime needs at least one thread");
        self.threads = threads;
        self
    }

    /// Pins thread `i` to the `i`-th CPU this process may run on (modulo their
    /// number), with `sched_setaffinity(2)`. Default off.
    pub fn pin(mut self, pin: bool) -> Self {
        self.pin = pin;
        self
    }

    /// How each thread's ring is built. Default [`Ring::builder`].
    pub fn ring(mut self, ring: RingBuilder) -> Self {
        self.ring = ring;
        self
    }

    /// Gives each thread a TCP listener on `addr`, all bound with `SO_REUSEPORT` so
    /// the kernel spreads connections over them. Port 0 picks one free port for all.
    pub fn listen(mut self, addr: SocketAddr) -> Self {
        self.listen = Some(addr);
        self
    }

    /// Opens the listeners, if any; the threads start in [`Runtime::run`].
    ///
    /// # Errors
    ///
    /// If a listener cannot be bound (`AddrInUse`, `AddrNotAvailable`, ...).
    pub fn build(self) -> io::Result<Runtime> {
        let mut listeners = Vec::new();
        let mut local_addr = None;
        if let Some(addr) = self.listen {
            let first = crate::net::tcp::reuse_port_listener(addr)?;
            let bound = first.local_addr()?;
            listeners.push(first);
            for _ in 1..self.threads {
                listeners.push(crate::net::tcp::reuse_port_listener(bound)?);
            }
            local_addr = Some(bound);
        }
        Ok(Runtime {
            threads: self.threads,
            pin: self.pin,
            ring: self.ring,
            listeners,
            local_addr,
        })
    }
}

impl<M: Send + 'static> Worker<M> {
    /// This thread's index, from 0 to [`threads`](Worker::threads) - 1.
    pub fn index(&self) -> usize {
        self.index
    }

    /// How many threads the runtime runs.
    pub fn threads(&self) -> usize {
        self.peers.len()
    }

    /// This thread's ring.
    pub fn ring(&self) -> &Ring {
        &self.ring
    }

    /// This thread's mailbox.
    pub fn mailbox(&self) -> &Mailbox<M> {
        &self.mailbox
    }

    /// Waits for the next value sent to this thread; see [`Mailbox::recv`].
    pub fn recv(&self) -> MailboxRecv<'_, M> {
        self.mailbox.recv()
    }

    /// The address of thread `index`'s mailbox (this thread's own included).
    ///
    /// # Panics
    ///
    /// If `index` is not below [`threads`](Worker::threads).
    pub fn peer(&self, index: usize) -> &Address<M> {
        &self.peers[index]
    }

    /// Every thread's mailbox address, in thread order.
    pub fn peers(&self) -> &[Address<M>] {
        &self.peers
    }

    /// This thread's listener (once: later calls return `None`), if the runtime was
    /// built with [`listen`](RuntimeBuilder::listen).
    pub fn take_listener(&self) -> Option<TcpListener> {
        self.listener.take()
    }
}

impl<M: Send + 'static> fmt::Debug for Worker<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Worker")
            .field("index", &self.index)
            .field("threads", &self.peers.len())
            .field("mailbox", &self.mailbox)
            .finish_non_exhaustive()
    }
}

/// The CPUs this process may run on.
fn allowed_cpus() -> io::Result<Vec<usize>> {
    // SAFETY: cpu_set_t is plain old data; all zeroes is an empty set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: sched_getaffinity(2) writes at most `size_of::<cpu_set_t>()` bytes into
    // the live set it is given.
    let rc =
        unsafe { libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    let cpus: Vec<usize> = (0..libc::CPU_SETSIZE as usize)
        // SAFETY: CPU_ISSET reads bit `cpu` of a live set, `cpu` < CPU_SETSIZE.
        .filter(|&cpu| unsafe { libc::CPU_ISSET(cpu, &set) })
        .collect();
    if cpus.is_empty() {
        return Err(io::Error::other("sched_getaffinity reported no CPU"));
    }
    Ok(cpus)
}

/// Pins the calling thread to `cpu`.
fn pin_to(cpu: usize) -> io::Result<()> {
    // SAFETY: as in `allowed_cpus`.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: CPU_SET writes bit `cpu` of a live set; `cpu` came from CPU_ISSET over
    // 0..CPU_SETSIZE.
    unsafe { libc::CPU_SET(cpu, &mut set) };
    // SAFETY: sched_setaffinity(2) reads the live set of the size given; pid 0 is the
    // calling thread.
    let rc = unsafe { libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::Ring;

    #[test]
    fn send_on_a_kernel_without_msg_ring_hands_the_value_back_unsupported() {
        let sender = Ring::builder()
            .mask_opcode(io_uring::opcode::MsgRingData::CODE)
            .build()
            .unwrap();
        let target = Ring::new().unwrap();
        let mailbox = target.mailbox::<String>().unwrap();
        let undelivered = sender
            .block_on(
                mailbox
                    .address()
                    .send(&sender, "kept".to_owned())
                    .complete(),
            )
            .unwrap_err();
        let message = undelivered.error().to_string();
        assert_eq!(
            undelivered.error().kind(),
            std::io::ErrorKind::Unsupported,
            "{message}"
        );
        assert!(message.contains("MsgRing"), "{message}");
        assert_eq!(undelivered.into_value(), "kept");
        assert!(
            mailbox.is_empty(),
            "the value left the queue with its sender"
        );
    }
}
