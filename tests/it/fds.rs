//! Descriptor accounting for tests that create sockets and pipes.
//!
//! Tests run in parallel threads of one process, and `/proc/self/fd` is per process.
//! Every test that creates sockets or pipes holds [`FdCheck`] for its whole run: it
//! serialises those tests, counts the process's sockets and pipes when it starts, and
//! asserts the count is back when the test ends. Rings themselves (an io_uring and an
//! eventfd descriptor each) are not counted, so tests of the core can run beside it.
//!
//! Regular files, FIFOs and directories are counted by where they are: a test that
//! opens files keeps them under a directory of its own and starts its check with
//! [`FdCheck::start_in`], which also counts the descriptors of files under that
//! directory ([`count_under`]).

use std::io;
use std::os::fd::{FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};
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

/// Descriptors open in this process on files under `dir` (files, FIFOs,
/// directories, deleted ones included): the `/proc/self/fd` links that point into it.
pub(crate) fn count_under(dir: &Path) -> usize {
    std::fs::read_dir("/proc/self/fd")
        .expect("/proc/self/fd")
        .filter_map(|entry| std::fs::read_link(entry.ok()?.path()).ok())
        .filter(|target| target.starts_with(dir))
        .count()
}

/// Held for a test's whole run; see the module docs.
pub(crate) struct FdCheck {
    start: usize,
    /// A directory whose files' descriptors are counted too, and their count at the
    /// start.
    dir: Option<(PathBuf, usize)>,
    _serial: MutexGuard<'static, ()>,
}

impl FdCheck {
    pub(crate) fn start() -> FdCheck {
        let serial = SERIAL.lock().unwrap_or_else(|poison| poison.into_inner());
        FdCheck {
            start: count(),
            dir: None,
            _serial: serial,
        }
    }

    /// As [`start`](FdCheck::start), and also checks that every descriptor of a file
    /// under `dir` that the test opened is closed at the end.
    pub(crate) fn start_in(dir: &Path) -> FdCheck {
        let mut check = FdCheck::start();
        check.dir = Some((dir.to_path_buf(), count_under(dir)));
        check
    }

    /// Descriptors of files under the directory given to
    /// [`start_in`](FdCheck::start_in) open now, beyond those open at the start.
    pub(crate) fn files_open(&self) -> usize {
        let (dir, start) = self.dir.as_ref().expect("FdCheck::start_in");
        count_under(dir) - start
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
        if let Some((dir, start)) = &self.dir {
            let end = count_under(dir);
            assert_eq!(
                end, *start,
                "descriptors of files under {dir:?}: {start} at start, {end} at end"
            );
        }
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
