//! Accepts of several rings on one listening socket: when one ring's accept is
//! cancelled, the accepts of the others on that socket are kicked too.
//!
//! The wake-up a cancelled accept may swallow (see `Table::kick_waiting`) belongs
//! to the socket's wait queue, not to a ring: an accept of another ring waiting on
//! the same socket (a listener shared between threads with `try_clone` and
//! `from_std`) misses it just the same, and the connection waits in the backlog
//! until the next one arrives. So every listener registers here under its socket's
//! identity (device and inode, the same through every descriptor of the socket),
//! with its ring's [`Bell`]; a ring whose cancelled accept ended rings the bell of
//! every other ring registered under that socket, and each of those kicks its own
//! accepts on it when it next reaps.
//!
//! A listener's registration lives as long as the listener and every accept on
//! it, whichever goes last, so that an accept's end finds its socket even after
//! its listener was dropped. The registry is written when a listener is created
//! and when its registration ends, and read only when a cancelled accept ends
//! (then every other ring on the socket pays a cancel and a submission per accept
//! it has waiting): no other op's path touches it.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, RawFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use crate::driver::Notifier;

/// A socket, whichever descriptor names it: its `st_dev` and `st_ino`.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) struct SocketId {
    dev: u64,
    ino: u64,
}

impl SocketId {
    fn of(fd: BorrowedFd<'_>) -> io::Result<SocketId> {
        // SAFETY: an all-zero `stat` is a valid value of the plain C struct.
        let mut stat: libc::stat = unsafe { std::mem::zeroed() };
        // SAFETY: `fd` is open for the call (borrowed), and `stat` is a live struct
        // for fstat(2) to fill in.
        if unsafe { libc::fstat(fd.as_raw_fd(), &mut stat) } != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(SocketId {
            dev: stat.st_dev,
            ino: stat.st_ino,
        })
    }
}

/// How other rings reach a ring: the sockets whose accepts it is to kick, and the
/// notifier that wakes it from any thread.
pub(crate) struct Bell {
    notifier: Arc<Notifier>,
    kicks: Mutex<Vec<SocketId>>,
    /// `kicks` may hold something: the ring's wakes from other threads (task
    /// wakers) look at this, not the lock.
    rung: AtomicBool,
}

impl Bell {
    pub(crate) fn new(notifier: Arc<Notifier>) -> Arc<Bell> {
        Arc::new(Bell {
            notifier,
            kicks: Mutex::new(Vec::new()),
            rung: AtomicBool::new(false),
        })
    }

    /// Asks the ring to kick its accepts on `socket`, and wakes it.
    fn ring(&self, socket: SocketId) {
        {
            let mut kicks = lock(&self.kicks);
            if !kicks.contains(&socket) {
                kicks.push(socket);
            }
        }
        // After the push: a `take` that sees the flag finds the socket.
        self.rung.store(true, Ordering::Release);
        self.notifier.notify();
    }

    /// The sockets other rings asked this one to kick its accepts on, since the
    /// last call.
    pub(crate) fn take(&self) -> Vec<SocketId> {
        if !self.rung.swap(false, Ordering::Acquire) {
            return Vec::new();
        }
        std::mem::take(&mut *lock(&self.kicks))
    }
}

/// One listener: its socket, its descriptor's number in the process, its ring.
struct Entry {
    socket: SocketId,
    fd: RawFd,
    bell: Arc<Bell>,
}

/// Every listener of every ring in the process.
static REGISTRY: Mutex<Vec<Entry>> = Mutex::new(Vec::new());

/// A lock that a panic elsewhere cannot make unusable: no code panics while
/// holding one of these with a half-made change.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poison| poison.into_inner())
}

/// A listener's place in the registry, given up when dropped (shared by the
/// listener and its accepts). A registration that is never dropped (its listener
/// leaked, and with it its descriptor) costs only spurious kicks: a kick on a
/// descriptor where nothing waits finds nothing.
pub(crate) struct Listening {
    socket: Option<SocketId>,
    fd: RawFd,
    bell: Arc<Bell>,
}

impl Listening {
    /// Registers listener `fd` of the ring that `bell` rings. The registration
    /// must end (be dropped) before `fd` is closed. If the socket cannot be told
    /// apart (fstat(2) failed), nothing is registered and only the ring's own
    /// accepts are kicked.
    pub(crate) fn register(fd: BorrowedFd<'_>, bell: &Arc<Bell>) -> Listening {
        let socket = SocketId::of(fd).ok();
        if let Some(socket) = socket {
            lock(&REGISTRY).push(Entry {
                socket,
                fd: fd.as_raw_fd(),
                bell: bell.clone(),
            });
        }
        Listening {
            socket,
            fd: fd.as_raw_fd(),
            bell: bell.clone(),
        }
    }
}

impl Drop for Listening {
    fn drop(&mut self) {
        let Some(socket) = self.socket else {
            return;
        };
        let mut registry = lock(&REGISTRY);
        let mine = registry.iter().position(|entry| {
            entry.socket == socket && entry.fd == self.fd && Arc::ptr_eq(&entry.bell, &self.bell)
        });
        if let Some(index) = mine {
            registry.swap_remove(index);
        }
    }
}

impl std::fmt::Debug for Listening {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Listening")
            .field("socket", &self.socket)
            .finish()
    }
}

/// The socket that descriptor `fd` of the ring of `bell` listens on, if a
/// listener registered it (and still does: the registration lives as long as the
/// listener or an accept on it, whichever goes last).
pub(crate) fn socket_of(bell: &Arc<Bell>, fd: RawFd) -> Option<SocketId> {
    lock(&REGISTRY)
        .iter()
        .find(|entry| entry.fd == fd && Arc::ptr_eq(&entry.bell, bell))
        .map(|entry| entry.socket)
}

/// Rings the bell of every other ring listening on `socket`: an accept of
/// `bell`'s ring on it was cancelled. Returns how many rings were asked.
pub(crate) fn ring_others(bell: &Arc<Bell>, socket: SocketId) -> usize {
    let mut others: Vec<Arc<Bell>> = Vec::new();
    for entry in lock(&REGISTRY).iter() {
        if entry.socket == socket
            && !Arc::ptr_eq(&entry.bell, bell)
            && !others.iter().any(|other| Arc::ptr_eq(other, &entry.bell))
        {
            others.push(entry.bell.clone());
        }
    }
    // Rung without the registry's lock: a notify writes an eventfd.
    for other in &others {
        other.ring(socket);
    }
    others.len()
}

/// The descriptors through which the ring of `bell` listens on `socket`.
pub(crate) fn local_fds(bell: &Arc<Bell>, socket: SocketId) -> Vec<RawFd> {
    lock(&REGISTRY)
        .iter()
        .filter(|entry| entry.socket == socket && Arc::ptr_eq(&entry.bell, bell))
        .map(|entry| entry.fd)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsFd;

    fn registered(bell: &Arc<Bell>) -> usize {
        lock(&REGISTRY)
            .iter()
            .filter(|entry| Arc::ptr_eq(&entry.bell, bell))
            .count()
    }

    #[test]
    fn a_cancel_rings_every_other_ring_on_the_socket_once_and_none_on_others() {
        let notifier = || Arc::new(Notifier::new().unwrap());
        let (a, b, c) = (
            Bell::new(notifier()),
            Bell::new(notifier()),
            Bell::new(notifier()),
        );
        let shared = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let clone = shared.try_clone().unwrap();
        let other = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let on_a = Listening::register(shared.as_fd(), &a);
        let on_b = Listening::register(clone.as_fd(), &b);
        // A second listener of B on the same socket: B is still rung once.
        let twice = Listening::register(shared.as_fd(), &b);
        let on_c = Listening::register(other.as_fd(), &c);
        let socket = socket_of(&a, shared.as_raw_fd()).expect("registered");
        assert_eq!(socket_of(&b, clone.as_raw_fd()), Some(socket));
        assert_eq!(ring_others(&a, socket), 1);
        let asked = b.take();
        assert_eq!(asked.len(), 1);
        assert!(c.take().is_empty(), "another socket's ring was rung");
        assert!(a.take().is_empty(), "a ring rang itself");
        let mut fds = local_fds(&b, asked[0]);
        fds.sort_unstable();
        let mut expected = vec![shared.as_raw_fd(), clone.as_raw_fd()];
        expected.sort_unstable();
        assert_eq!(fds, expected);
        // Rung twice before it looked: one kick per socket.
        ring_others(&a, socket);
        ring_others(&a, socket);
        assert_eq!(b.take().len(), 1);
        // A descriptor the ring does not listen on names no socket; a socket
        // nobody else listens on rings nobody.
        assert_eq!(socket_of(&a, other.as_raw_fd()), None);
        let alone = socket_of(&c, other.as_raw_fd()).expect("registered");
        assert_eq!(ring_others(&c, alone), 0);
        // Dropped registrations are gone.
        drop((on_b, twice));
        assert_eq!(registered(&b), 0);
        assert_eq!(ring_others(&a, socket), 0);
        drop((on_a, on_c));
        assert_eq!(registered(&a) + registered(&c), 0);
    }
}
