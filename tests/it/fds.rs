//! Descriptor accounting for tests that create sockets and pipes.
//!
//! Tests run in parallel threads of one process, and `/proc/self/fd` is per process.
//! Every test that creates sockets or pipes holds [`FdCheck`] for its whole run: it
//! serialises those tests, counts the process's sockets and pipes when it starts, and
//! asserts the count is back when the test ends. Rings themselves (an io_uring and an
//! eventfd descriptor each) are not counted, so tests of the core can run beside it.

use std::io;
use std::os::fd::{FromRawFd, OwnedFd};
use std::sync::{Mutex, MutexGuard};

static SERIAL: Mutex<()> = Mutex::new(());

/// Sockets and pipes open in this process.
pub(crate) fn count() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .expect("/proc/self/fd")
        .filter_map(|entry| std::fs::read_link(entry.ok()?.path()).ok())
        .filter(|target| {
            let target = target.to_string_lossy();
            target.starts_with("socket:") || target.starts_with("pipe:")
        })
        .count()
}

/// Held for a test's whole run; see the module docs.
pub(crate) struct FdCheck {
    start: usize,
    _serial: MutexGuard<'static, ()>,
}

impl FdCheck {
    pub(crate) fn start() -> FdCheck {
        let serial = SERIAL.lock().unwrap_or_else(|poison| poison.into_inner());
        FdCheck {
            start: count(),
            _serial: serial,
        }
    }

    /// Asserts that every socket and pipe the test opened is closed. Call it after
    /// dropping the ring: a ring drop is when abandoned ops give their descriptors
    /// back at the latest.
    pub(crate) fn finish(self) {
        let end = count();
        assert_eq!(
            end, self.start,
            "sockets/pipes open: {} at start, {end} at end",
            self.start
        );
    }
}

/// A close-on-exec pipe: (read end, write end). Hold an [`FdCheck`] while it is open.
pub(crate) fn pipe() -> (OwnedFd, OwnedFd) {
    let mut fds = [-1; 2];
    // SAFETY: pipe2(2) writes two descriptors into the array, which outlives the call.
    let rc = unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) };
    assert_eq!(rc, 0, "pipe2: {}", io::Error::last_os_error());
    // SAFETY: pipe2 succeeded: both are new descriptors that nothing else owns.
    unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) }
}
