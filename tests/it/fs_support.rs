//! What the file system tests share: a temporary directory per test, FIFOs, skips,
//! and a pause that lets the kernel act.

use std::ffi::CString;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use linear_uring::{DropPolicy, Ring};

pub(crate) fn ring(policy: DropPolicy) -> Ring {
    Ring::builder().drop_policy(policy).build().unwrap()
}

/// Lets the kernel act on what was submitted, and the ring reap what it answered.
pub(crate) async fn settle(ring: &Ring) {
    ring.sleep(Duration::from_millis(20))
        .complete()
        .await
        .unwrap();
}

/// Lets the kernel finish everything submitted on `ring`, and the ring reap it: until
/// nothing is in flight (a kernel worker can take a while to run an op on a loaded
/// machine). Panics after 10 s.
pub(crate) async fn until_reaped(ring: &Ring) {
    for _ in 0..500 {
        settle(ring).await;
        if ring.stats().in_flight == 0 {
            return;
        }
    }
    panic!("still in flight after 10 s: {:?}", ring.stats());
}

/// Waits until a kernel worker of this process is blocked in the kernel function
/// `symbol` (`wait_for_partner`: an open waiting for the other end of a FIFO), as
/// `/proc/self/task/*/wchan` shows, so that a cancel finds the op running rather than
/// still queued. Where `wchan` shows no names (`0`, without `kallsyms` access), it
/// waits 100 ms instead. Panics after 10 s.
pub(crate) async fn until_worker_blocked_in(ring: &Ring, symbol: &str) {
    for _ in 0..500 {
        settle(ring).await;
        let mut named = false;
        for task in std::fs::read_dir("/proc/self/task").unwrap().flatten() {
            let wchan = std::fs::read_to_string(task.path().join("wchan")).unwrap_or_default();
            // Some thread of the test harness is always asleep somewhere.
            named |= !wchan.is_empty() && wchan != "0";
            let comm = std::fs::read_to_string(task.path().join("comm")).unwrap_or_default();
            if comm.starts_with("iou-wrk") && wchan == symbol {
                return;
            }
        }
        if !named {
            for _ in 0..4 {
                settle(ring).await;
            }
            return;
        }
    }
    panic!("no io_uring worker blocked in {symbol} after 10 s");
}

/// Checks that the ring still runs ops after whatever the test did to it.
pub(crate) fn assert_usable(ring: &Ring) {
    ring.block_on(async { ring.nop().complete().await })
        .expect("the ring still completes a nop");
    assert_eq!(ring.stats().in_flight, 0, "{:?}", ring.stats());
}

/// Skips the rest of a test with a printed reason; under `CI=true` a skip fails.
pub(crate) fn skip(reason: &str) {
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "skipped under CI: {reason}"
    );
    eprintln!("skipped: {reason}");
}

/// A directory unique to this process and test, removed with everything in it on
/// drop (a failed test included). Its path is canonical, as `/proc/self/fd` shows
/// it, so that [`FdCheck::start_in`](crate::fds::FdCheck::start_in) can count the
/// descriptors of the files in it.
pub(crate) struct TempDir(PathBuf);

impl TempDir {
    pub(crate) fn new(test: &str) -> TempDir {
        let base = std::env::temp_dir().canonicalize().unwrap();
        let path = base.join(format!("linear-uring-{}-{test}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir(&path).unwrap();
        TempDir(path)
    }

    pub(crate) fn path(&self) -> &Path {
        &self.0
    }

    /// The path of `name` in the directory.
    pub(crate) fn join(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Makes a FIFO at `path`.
pub(crate) fn mkfifo(path: &Path) {
    let c = CString::new(path.as_os_str().as_bytes()).unwrap();
    // SAFETY: mkfifo(3) reads the NUL-terminated path, which outlives the call.
    let rc = unsafe { libc::mkfifo(c.as_ptr(), 0o600) };
    assert_eq!(rc, 0, "mkfifo: {}", io::Error::last_os_error());
}

/// Opens the read end of the FIFO at `path` without waiting for a writer.
pub(crate) fn fifo_reader(path: &Path) -> std::fs::File {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
        .unwrap()
}
