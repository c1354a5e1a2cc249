//! The driver: the one module that makes io_uring system calls.
//!
//! It owns the `io_uring` instance, pushes submission entries (flushing the
//! submission queue to the kernel when it is full, never failing because of it),
//! enters the kernel, and reaps completions. It also owns the eventfd through which a
//! waker on another thread interrupts a thread blocked in `io_uring_enter(2)`: a read
//! of that eventfd is always in flight on the ring.
//!
//! `user_data` values with the top bit clear belong to the op table (see
//! [`OpId`](crate::table::OpId)); the driver keeps those with the top bit set for its
//! own entries and never hands their completions on.

use std::io;
use std::marker::PhantomData;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use io_uring::{opcode, squeue, types, IoUring, Probe};

use crate::error::Error;

/// The top bit of `user_data` marks the driver's own entries; the op table's ids
/// never set it (see `OpId::to_user_data`).
const DRIVER_OWN: u64 = 1 << 63;
/// The eventfd read that lets other threads wake the ring.
const WAKE: u64 = DRIVER_OWN | 1;
/// Async cancel requests: their own completion is ignored, because the outcome of a
/// cancel is decided by the completion of the op it targets.
const CANCEL: u64 = DRIVER_OWN | 2;
/// `io_uring_enter(2)`'s flag to process completions (the crate does not export it).
const IORING_ENTER_GETEVENTS: u32 = 1;
/// `io_uring_enter(2)`'s flag saying its descriptor is an index among the calling
/// thread's registered rings (`include/uapi/linux/io_uring.h`).
const IORING_ENTER_REGISTERED_RING: u32 = 1 << 4;
/// `io_uring_register(2)` opcodes that register and unregister a ring's own
/// descriptor for the calling thread (Linux 5.18).
const IORING_REGISTER_RING_FDS: libc::c_uint = 20;
const IORING_UNREGISTER_RING_FDS: libc::c_uint = 21;

/// The argument of `IORING_(UN)REGISTER_RING_FDS`: `struct io_uring_rsrc_update`.
#[repr(C)]
struct RsrcUpdate {
    offset: u32,
    resv: u32,
    data: u64,
}
/// Linked timeouts carry this tag and the index of their timespec in `link_specs`.
/// Their completion only frees the timespec: the op they are linked to reports the
/// outcome (`ECANCELED` when the timeout cut it off).
const LINK_TAG: u64 = DRIVER_OWN | 1 << 62;
/// The doorbell another ring rings with `IORING_OP_MSG_RING` after it left a message
/// in this ring's mailbox (see [`crate::runtime`]).
pub(crate) const MAIL: u64 = DRIVER_OWN | 3;

/// How the ring is set up; see [`RingBuilder`](crate::RingBuilder).
#[derive(Debug, Clone)]
pub(crate) struct Config {
    pub(crate) entries: u32,
    pub(crate) sqpoll_idle: Option<Duration>,
    pub(crate) fast_taskrun: bool,
    /// Opcodes to treat as missing, as if the kernel lacked them (for tests).
    pub(crate) masked_opcodes: Vec<u8>,
    /// The kernel release to assume instead of the running one (for tests).
    pub(crate) kernel: Option<(u32, u32)>,
}

/// The setup flags a ring ended up with, for `Debug` and the docs' promises.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Taskrun {
    /// `SINGLE_ISSUER | DEFER_TASKRUN | TASKRUN_FLAG` (Linux 6.1).
    Deferred,
    /// `COOP_TASKRUN | TASKRUN_FLAG` (Linux 5.19).
    Cooperative,
    /// No task-run flags: the kernel's defaults, or SQPOLL.
    Default,
}

/// Wakes the ring from any thread. Shared by every waker of the ring's executor.
///
/// The descriptor is closed when the ring shuts down, even though wakers may
/// outlive the ring: a late wake then writes nothing, rather than to a number that
/// may have been reused.
#[derive(Debug)]
pub(crate) struct Notifier {
    eventfd: Mutex<Option<OwnedFd>>,
    /// The number, for the ring's own read, which only runs while the ring is up.
    raw: RawFd,
}

impl Notifier {
    pub(crate) fn new() -> io::Result<Notifier> {
        // Blocking on purpose: io_uring fails a read of an O_NONBLOCK file with EAGAIN
        // instead of waiting for it.
        // SAFETY: eventfd(2) takes no pointers; a non-negative result is a new
        // descriptor that nothing else owns.
        let fd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `fd` was just returned by eventfd(2) and is owned by no one else.
        let eventfd = unsafe { OwnedFd::from_raw_fd(fd) };
        Ok(Notifier {
            raw: eventfd.as_raw_fd(),
            eventfd: Mutex::new(Some(eventfd)),
        })
    }

    /// Closes the eventfd: the ring has shut down and reads it no more.
    pub(crate) fn close(&self) {
        let fd = self.lock().take();
        drop(fd);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<OwnedFd>> {
        // A panic while the lock is held cannot leave an `Option` inconsistent.
        self.eventfd
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
    }

    /// Makes the ring's pending eventfd read complete, waking a blocked
    /// `io_uring_enter`.
    pub(crate) fn notify(&self) {
        let eventfd = self.lock();
        let Some(eventfd) = eventfd.as_ref() else {
            return; // The ring has shut down: nobody to wake.
        };
        let one: u64 = 1;
        // SAFETY: writes 8 bytes from a live local to a descriptor this value owns.
        // The write could only block or fail if the counter were about to overflow
        // (2^64 - 2 unread wakes), which the ring's read, always re-armed, prevents.
        unsafe {
            libc::write(
                eventfd.as_raw_fd(),
                (&one as *const u64).cast(),
                std::mem::size_of::<u64>(),
            );
        }
    }
}

/// The io_uring instance and everything that touches it.
pub(crate) struct Driver {
    ring: IoUring,
    /// One bit per opcode the kernel implements (and the config does not mask).
    supported: [u64; 4],
    taskrun: Taskrun,
    /// Set up without the submission queue's index array (`NO_SQARRAY`).
    flat_sq: bool,
    notifier: Arc<Notifier>,
    /// Where the kernel writes the eventfd counter. Boxed so its address is stable;
    /// while a read is armed the kernel owns it (leaked, never freed, if the ring
    /// cannot be reaped).
    wake_buf: Box<u64>,
    wake_armed: bool,
    /// Completions reaped while making room in a full submission queue, delivered by
    /// the next `reap`. Never the eventfd read's: that one is settled at once (see
    /// `woken_in_backlog`), so that the read is armed again exactly once.
    backlog: Vec<(u64, i32, u32)>,
    /// The eventfd read completed while making room: the next `reap` reports a wake.
    woken_in_backlog: bool,
    /// A mailbox doorbell (`MAIL`) was reaped since the ring last asked.
    mail: bool,
    /// Timespecs of linked timeouts, which the kernel reads when it takes the entry;
    /// each is freed when its timeout's completion is reaped (leaked if never).
    link_specs: Vec<Option<Box<types::Timespec>>>,
    free_specs: Vec<usize>,
    /// The running kernel's release, major and minor (`uname(2)`), for the ops a
    /// probe cannot tell apart (a multishot accept is an accept with a flag).
    kernel: (u32, u32),
    /// The ring's descriptor registered for this thread (`IORING_REGISTER_RING_FDS`):
    /// its index, which `io_uring_enter(2)` takes instead of the descriptor, sparing
    /// the kernel a descriptor lookup on every entry. `None` where it could not be
    /// registered (before Linux 5.18, or the thread's 16 slots taken) and with
    /// SQPOLL (whose entries the crate's logic decides); entries then use the
    /// descriptor. The registration belongs to the thread that built the ring, the
    /// only one that can use it: a ring is `!Send`.
    registered: Option<u32>,
    /// Keeps the driver on its thread (`!Send`): `registered` is an index in this
    /// thread's table of rings, meaningless (or another ring's) on any other.
    _thread: PhantomData<*const ()>,
}

static_assertions::assert_not_impl_any!(Driver: Send, Sync);

/// The running kernel's release as `(major, minor)`, or `(0, 0)` if `uname(2)`
/// cannot say.
pub(crate) fn kernel_release() -> (u32, u32) {
    // SAFETY: `utsname` is plain bytes, for which all zeros is a valid value.
    let mut name: libc::utsname = unsafe { std::mem::zeroed() };
    // SAFETY: uname(2) writes into the live local it is given.
    if unsafe { libc::uname(&mut name) } != 0 {
        return (0, 0);
    }
    let release: Vec<u8> = name
        .release
        .iter()
        .take_while(|&&c| c != 0)
        .map(|&c| c as u8)
        .collect();
    parse_release(&String::from_utf8_lossy(&release))
}

/// `"6.18.0-1-amd64"` as `(6, 18)`.
fn parse_release(release: &str) -> (u32, u32) {
    let mut parts = release.split(|c: char| !c.is_ascii_digit());
    let major = parts.next().and_then(|p| p.parse().ok()).unwrap_or(0);
    let minor = parts.next().and_then(|p| p.parse().ok()).unwrap_or(0);
    (major, minor)
}

impl Driver {
    pub(crate) fn new(config: &Config) -> Result<Driver, Error> {
        // An op and its linked timeout are pushed together: the queue needs room
        // for two entries.
        if config.entries < 2 {
            return Err(Error::setup(
                io::Error::from_raw_os_error(libc::EINVAL),
                config.entries,
            ));
        }
        let (ring, taskrun, flat_sq) = setup(config)?;
        if !ring.params().is_feature_ext_arg() {
            // Timed waits (shutdown's grace period) need Linux 5.11.
            return Err(Error::setup(
                io::Error::from_raw_os_error(libc::ENOSYS),
                config.entries,
            ));
        }
        let mut probe = Probe::new();
        // Probing needs Linux 5.6; without it, assume every opcode exists and let the
        // kernel answer EINVAL for the ones it lacks.
        let probe = match ring.submitter().register_probe(&mut probe) {
            Ok(()) => Some(probe),
            Err(_) => None,
        };
        let notifier = Notifier::new().map_err(|e| Error::setup(e, config.entries))?;
        let mut supported = [0u64; 4];
        for opcode in 0..=u8::MAX {
            let available = probe.as_ref().is_none_or(|p| p.is_supported(opcode))
                && !config.masked_opcodes.contains(&opcode);
            if available {
                supported[usize::from(opcode / 64)] |= 1 << (opcode % 64);
            }
        }
        let mut driver = Driver {
            ring,
            supported,
            taskrun,
            flat_sq,
            notifier: Arc::new(notifier),
            wake_buf: Box::new(0),
            wake_armed: false,
            backlog: Vec::new(),
            woken_in_backlog: false,
            mail: false,
            link_specs: Vec::new(),
            free_specs: Vec::new(),
            kernel: config.kernel.unwrap_or_else(kernel_release),
            registered: None,
            _thread: PhantomData,
        };
        if config.sqpoll_idle.is_none() {
            driver.registered = register_ring_fd(&driver.ring);
        }
        driver
            .arm_wake()
            .map_err(|e| Error::setup(e, config.entries))?;
        Ok(driver)
    }

    pub(crate) fn notifier(&self) -> &Arc<Notifier> {
        &self.notifier
    }

    /// A new non-blocking eventfd that the kernel signals whenever this ring has
    /// completions to post (`IORING_REGISTER_EVENTFD`), for a reactor to watch; with
    /// `DEFER_TASKRUN` the ring's own descriptor does not become readable for them.
    #[cfg(feature = "tokio")]
    pub(crate) fn register_eventfd(&mut self) -> io::Result<OwnedFd> {
        // SAFETY: eventfd(2) takes no pointer; a non-negative result is a new
        // descriptor nobody else owns.
        let fd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: as above: `fd` is new and ours alone.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        self.ring.submitter().register_eventfd(fd.as_raw_fd())?;
        Ok(fd)
    }

    /// Whether the ring defers the kernel's completion work to `io_uring_enter`
    /// (`DEFER_TASKRUN`).
    #[cfg(feature = "tokio")]
    pub(crate) fn defers_taskrun(&self) -> bool {
        self.taskrun == Taskrun::Deferred
    }

    /// Ends what [`register_eventfd`](Driver::register_eventfd) started.
    #[cfg(feature = "tokio")]
    pub(crate) fn unregister_eventfd(&mut self) -> io::Result<()> {
        self.ring.submitter().unregister_eventfd()
    }

    /// Whether the kernel receives into bundles of provided buffers
    /// (`IORING_FEAT_RECVSEND_BUNDLE`, Linux 6.10).
    pub(crate) fn bundles(&self) -> bool {
        self.ring.params().is_feature_recvsend_bundle() && self.kernel >= (6, 10)
    }

    /// The running kernel's release, `(major, minor)`.
    pub(crate) fn kernel(&self) -> (u32, u32) {
        self.kernel
    }

    /// Whether the kernel implements `opcode`.
    pub(crate) fn supports(&self, opcode: u8) -> bool {
        self.supported[usize::from(opcode / 64)] & (1 << (opcode % 64)) != 0
    }

    /// Puts `sqe` in the submission queue, flushing the queue to the kernel first if it
    /// is full. The entry reaches the kernel at the next `enter` at the latest.
    ///
    /// # Safety
    ///
    /// Every pointer in `sqe` must stay valid, and nothing else may access the memory
    /// it points to in a way the operation forbids, until the entry's final
    /// completion has been reaped (or forever, if it never is).
    pub(crate) unsafe fn push(&mut self, sqe: &squeue::Entry) -> io::Result<()> {
        loop {
            // SAFETY: the caller upholds the entry's validity until its completion.
            if unsafe { self.ring.submission().push(sqe) }.is_ok() {
                return Ok(());
            }
            self.make_room()?;
        }
    }

    /// Pushes `sqe` linked to a timeout (`IORING_OP_LINK_TIMEOUT`): if `timeout`
    /// passes before the op completes, the kernel cancels the op, which then
    /// completes with `ECANCELED`. Both entries go into the queue together, so the
    /// link can never be split across two submissions.
    ///
    /// # Safety
    ///
    /// As for [`push`](Driver::push).
    pub(crate) unsafe fn push_linked(
        &mut self,
        sqe: &squeue::Entry,
        timeout: Duration,
    ) -> io::Result<()> {
        loop {
            let sq = self.ring.submission();
            if sq.capacity() - sq.len() >= 2 {
                break;
            }
            drop(sq);
            self.make_room()?;
        }
        let spec = Box::new(timespec(timeout));
        let spec_ptr: *const types::Timespec = &*spec;
        let index = match self.free_specs.pop() {
            Some(index) => {
                self.link_specs[index] = Some(spec);
                index
            }
            None => {
                self.link_specs.push(Some(spec));
                self.link_specs.len() - 1
            }
        };
        let entries = [
            sqe.clone().flags(squeue::Flags::IO_LINK),
            opcode::LinkTimeout::new(spec_ptr)
                .build()
                .user_data(LINK_TAG | index as u64),
        ];
        // SAFETY: the caller upholds the op entry's validity; the timespec is a heap
        // allocation held in `link_specs` until the timeout's completion is reaped
        // (leaked by the driver's `Drop` if it never is). Room for both entries was made
        // above, so they are pushed together or not at all.
        let pushed = unsafe { self.ring.submission().push_multiple(&entries) };
        match pushed {
            Ok(()) => Ok(()),
            Err(_) => {
                self.release_spec(index);
                Err(io::Error::other("submission queue full after making room"))
            }
        }
    }

    fn release_spec(&mut self, index: usize) {
        if let Some(slot) = self.link_specs.get_mut(index) {
            if slot.take().is_some() {
                self.free_specs.push(index);
            }
        }
    }

    /// Queues a completion with `err` for the op `user_data`, whose entry could not
    /// be pushed: the next reap delivers it.
    pub(crate) fn complete_later(&mut self, user_data: u64, err: &io::Error) {
        let errno = err.raw_os_error().unwrap_or(libc::EIO);
        self.backlog.push((user_data, -errno, 0));
    }

    /// Whether completions wait in the backlog: the executor must reap them before
    /// it waits for new ones.
    pub(crate) fn has_backlog(&self) -> bool {
        !self.backlog.is_empty() || self.woken_in_backlog || self.mail
    }

    /// Re-arms the eventfd read if it is not in flight (a failed re-arm, or a read
    /// that completed with an error), so that other threads can wake the ring.
    pub(crate) fn ensure_wake_armed(&mut self) {
        if !self.wake_armed {
            let _ = self.arm_wake();
        }
    }

    /// Whether the driver still has entries of its own in the kernel (the eventfd
    /// read, linked timeouts).
    pub(crate) fn busy(&self) -> bool {
        self.wake_armed || self.free_specs.len() < self.link_specs.len()
    }

    /// Asks the kernel to cancel the op whose `user_data` is `target`. The op itself
    /// completes later (with `ECANCELED` if the cancel caught it).
    pub(crate) fn push_cancel(&mut self, target: u64) -> io::Result<()> {
        let sqe = opcode::AsyncCancel::new(target).build().user_data(CANCEL);
        // SAFETY: an async cancel carries no pointer.
        unsafe { self.push(&sqe) }
    }

    /// Submits what is queued and has the kernel run the ring's deferred work (with
    /// `DEFER_TASKRUN`, completions are only processed when the ring enters the
    /// kernel to get events), without waiting for a completion.
    pub(crate) fn run_deferred(&mut self) -> io::Result<()> {
        match self.enter_ring(0, true) {
            Ok(_) => Ok(()),
            Err(e) if is_transient(&e) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Registers a provided buffer ring of `entries` entries at `ring_addr` as buffer
    /// group `bgid` (`IORING_REGISTER_PBUF_RING`).
    ///
    /// # Safety
    ///
    /// `ring_addr` must point to `entries` zero-initialised `io_uring_buf` entries,
    /// page-aligned, that stay allocated and are written only through the ring's
    /// tail protocol until [`unregister_buf_ring`](Driver::unregister_buf_ring)
    /// succeeds for `bgid` or this ring is dropped.
    pub(crate) unsafe fn register_buf_ring(
        &mut self,
        ring_addr: u64,
        entries: u16,
        bgid: u16,
    ) -> io::Result<()> {
        // SAFETY: the caller's promises are those of the kernel's registration.
        unsafe {
            self.ring
                .submitter()
                .register_buf_ring_with_flags(ring_addr, entries, bgid, 0)
        }
    }

    /// Unregisters buffer group `bgid`: the kernel no longer reads its ring.
    pub(crate) fn unregister_buf_ring(&mut self, bgid: u16) -> io::Result<()> {
        self.ring.submitter().unregister_buf_ring(bgid)
    }

    /// Cancels the eventfd read, when the ring shuts down.
    pub(crate) fn push_cancel_wake(&mut self) -> io::Result<()> {
        if self.wake_armed {
            self.push_cancel(WAKE)?;
        }
        Ok(())
    }

    fn arm_wake(&mut self) -> io::Result<()> {
        let sqe = opcode::Read::new(
            types::Fd(self.notifier.raw),
            std::ptr::from_mut::<u64>(&mut self.wake_buf).cast(),
            std::mem::size_of::<u64>() as u32,
        )
        .build()
        .user_data(WAKE);
        // SAFETY: `wake_buf` is a heap allocation owned by the driver, freed only when
        // the driver is dropped with no read armed (the driver's `Drop` leaks it
        // otherwise). The eventfd is closed only after the shutdown has reaped or given
        // up on this read, and the kernel holds its own reference to the file while
        // the read is in flight.
        unsafe { self.push(&sqe)? };
        self.wake_armed = true;
        Ok(())
    }

    /// Makes room in a full submission queue.
    fn make_room(&mut self) -> io::Result<()> {
        match self.enter_ring(0, false) {
            Ok(_) => {}
            Err(e) if is_transient(&e) => self.reap_into_backlog(),
            Err(e) => return Err(e),
        }
        if self.ring.params().is_setup_sqpoll() && self.ring.submission().is_full() {
            // The SQPOLL thread consumes the queue on its own time; wait for it.
            match self.ring.submitter().squeue_wait() {
                Ok(_) => {}
                Err(e) if is_transient(&e) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Moves completions out of the way when the kernel refuses submissions because
    /// the completion queue is full (`EBUSY` on kernels without overflow handling).
    fn reap_into_backlog(&mut self) {
        for cqe in self.ring.completion() {
            if cqe.user_data() == WAKE {
                // The read is no longer in flight: `ensure_wake_armed` arms it again
                // before the ring next waits, and only then.
                self.wake_armed = false;
                self.woken_in_backlog = true;
            } else if cqe.user_data() == MAIL {
                self.mail = true;
            } else if cqe.user_data() != CANCEL {
                self.backlog
                    .push((cqe.user_data(), cqe.result(), cqe.flags()));
            }
        }
    }

    /// Submits what is queued and, if `wait`, blocks until at least one completion is
    /// ready or a wake arrives.
    pub(crate) fn enter(&mut self, wait: bool) -> io::Result<()> {
        match self.enter_ring(u32::from(wait), false) {
            Ok(_) => Ok(()),
            // EINTR: a signal arrived; the caller loops. EBUSY/EAGAIN: the completion
            // queue is full or the kernel is short of memory; reaping frees it.
            Err(e) if is_transient(&e) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// `io_uring_enter(2)`: submits what is queued and waits for `want`
    /// completions; `getevents` has the kernel run the ring's deferred work even
    /// when `want` is 0 (it does whenever `want` is not, or the queue's flags ask).
    /// Through the registered descriptor when there is one.
    fn enter_ring(&mut self, want: u32, getevents: bool) -> io::Result<usize> {
        let Some(index) = self.registered else {
            return if getevents {
                let to_submit = self.ring.submission().len() as u32;
                // SAFETY: io_uring_enter(2) with no argument (`None`): the kernel
                // reads no memory of ours beyond the queues it mapped, whose entries
                // the pushes made valid (see `push`).
                unsafe {
                    self.ring.submitter().enter::<libc::sigset_t>(
                        to_submit,
                        want,
                        IORING_ENTER_GETEVENTS,
                        None,
                    )
                }
            } else {
                self.ring.submit_and_wait(want as usize)
            };
        };
        // What the crate's `submit_and_wait` does without SQPOLL, which a registered
        // ring never has: submit every queued entry, and get events when waiting
        // or when the kernel flags an overflow or task work to run.
        let sq = self.ring.submission();
        let to_submit = sq.len() as u32;
        let mut flags = IORING_ENTER_REGISTERED_RING;
        if getevents || want > 0 || sq.cq_overflow() || sq.taskrun() {
            flags |= IORING_ENTER_GETEVENTS;
        }
        drop(sq);
        // SAFETY: io_uring_enter(2) with no argument (a null pointer, size 0): the
        // kernel reads no memory of ours beyond the queues it mapped, whose entries
        // the pushes made valid (see `push`). `index` is this ring's descriptor
        // registered for this thread, the only one that runs the ring.
        let entered = unsafe {
            libc::syscall(
                libc::SYS_io_uring_enter,
                libc::c_long::from(index),
                libc::c_long::from(to_submit),
                libc::c_long::from(want),
                libc::c_long::from(flags),
                std::ptr::null::<libc::c_void>(),
                0 as libc::c_long,
            )
        };
        if entered < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(entered as usize)
    }

    /// Whether the ring's descriptor is registered for its thread (see the field).
    #[cfg(test)]
    pub(crate) fn is_ring_fd_registered(&self) -> bool {
        self.registered.is_some()
    }

    /// Like `enter(true)`, but gives up after `timeout`.
    pub(crate) fn enter_timeout(&mut self, timeout: Duration) -> io::Result<()> {
        let ts = timespec(timeout);
        let args = types::SubmitArgs::new().timespec(&ts);
        match self.ring.submitter().submit_with_args(1, &args) {
            Ok(_) => Ok(()),
            Err(e) if e.raw_os_error() == Some(libc::ETIME) || is_transient(&e) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Hands every completion of an op to `on_op` (`user_data`, `res`, `flags`), and
    /// handles the driver's own completions. Returns how many op completions it
    /// delivered and whether a wake from another thread arrived.
    pub(crate) fn reap(
        &mut self,
        shutting_down: bool,
        mut on_op: impl FnMut(u64, i32, u32),
    ) -> bool {
        let mut woken = std::mem::take(&mut self.woken_in_backlog);
        if !self.backlog.is_empty() {
            for (user_data, res, flags) in std::mem::take(&mut self.backlog) {
                self.dispatch(user_data, res, flags, &mut on_op);
            }
        }
        let mut released_specs = Vec::new();
        loop {
            let mut rearm = false;
            for cqe in self.ring.completion() {
                let user_data = cqe.user_data();
                if user_data & DRIVER_OWN == 0 {
                    // An op's completion: the common case, one test.
                    on_op(user_data, cqe.result(), cqe.flags());
                } else if user_data == WAKE {
                    woken = true;
                    rearm = cqe.result() >= 0;
                    self.wake_armed = false;
                } else if user_data & LINK_TAG == LINK_TAG {
                    released_specs.push((user_data & !LINK_TAG) as usize);
                } else if user_data == MAIL {
                    self.mail = true;
                } else {
                    debug_assert_eq!(user_data, CANCEL, "an unknown entry of the driver's");
                }
            }
            while let Some(index) = released_specs.pop() {
                self.release_spec(index);
            }
            if rearm && !shutting_down {
                // If re-arming fails the ring can no longer be woken from other
                // threads; same-thread wakes still work, so carry on.
                let _ = self.arm_wake();
            }
            // Completions the kernel could not fit in the queue wait in its overflow
            // list until an enter flushes them.
            if !self.ring.submission().cq_overflow() {
                return woken;
            }
            if self.enter(false).is_err() {
                return woken;
            }
        }
    }

    /// Whether a mailbox doorbell was reaped since the last call.
    pub(crate) fn take_mail(&mut self) -> bool {
        std::mem::take(&mut self.mail)
    }

    /// A second descriptor of this io_uring instance, for other threads to address
    /// it with `IORING_OP_MSG_RING`. It keeps the instance alive, so its number can
    /// never come to name another file while they hold it.
    pub(crate) fn dup_ring_fd(&self) -> io::Result<OwnedFd> {
        // SAFETY: fcntl(2) with F_DUPFD_CLOEXEC takes no pointer; the ring's
        // descriptor is open while the driver lives, and a non-negative result is a
        // new descriptor nobody else owns.
        let fd = unsafe { libc::fcntl(self.ring.as_raw_fd(), libc::F_DUPFD_CLOEXEC, 0) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: as above: `fd` is new and ours alone.
        Ok(unsafe { OwnedFd::from_raw_fd(fd) })
    }

    /// Delivers a completion of the backlog (never the eventfd read's).
    fn dispatch(
        &mut self,
        user_data: u64,
        res: i32,
        flags: u32,
        on_op: &mut impl FnMut(u64, i32, u32),
    ) {
        if user_data & LINK_TAG == LINK_TAG {
            self.release_spec((user_data & !LINK_TAG) as usize);
        } else if user_data != CANCEL {
            on_op(user_data, res, flags);
        }
    }
}

impl Drop for Driver {
    /// Unmaps the queues and closes the ring, but never frees memory the kernel may
    /// still write: if the eventfd read or a linked timeout was not reaped (the
    /// shutdown gave up waiting, or never ran), that memory is leaked.
    fn drop(&mut self) {
        if let Some(index) = self.registered {
            let update = RsrcUpdate {
                offset: index,
                resv: 0,
                data: 0,
            };
            // SAFETY: io_uring_register(2) reads one `io_uring_rsrc_update`, which
            // lives across the call. A failure leaves the registration to the
            // thread's exit, which drops it.
            unsafe {
                libc::syscall(
                    libc::SYS_io_uring_register,
                    libc::c_long::from(self.ring.as_raw_fd()),
                    libc::c_long::from(IORING_UNREGISTER_RING_FDS),
                    &update as *const RsrcUpdate,
                    1 as libc::c_long,
                )
            };
        }
        if self.wake_armed {
            std::mem::forget(std::mem::replace(&mut self.wake_buf, Box::new(0)));
        }
        if self.free_specs.len() < self.link_specs.len() {
            std::mem::forget(std::mem::take(&mut self.link_specs));
        }
    }
}

impl std::fmt::Debug for Driver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Driver")
            .field("sq_entries", &self.ring.params().sq_entries())
            .field("cq_entries", &self.ring.params().cq_entries())
            .field("sqpoll", &self.ring.params().is_setup_sqpoll())
            .field("taskrun", &self.taskrun)
            .field("flat_sq", &self.flat_sq)
            .finish_non_exhaustive()
    }
}

/// The kernel's timespec for `duration`, saturated at the largest the kernel takes
/// (seconds are signed there: a larger `Duration` would wrap to a negative time).
pub(crate) fn timespec(duration: Duration) -> types::Timespec {
    let secs = duration.as_secs().min(i64::MAX as u64);
    types::Timespec::new()
        .sec(secs)
        .nsec(duration.subsec_nanos())
}

fn is_transient(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EINTR) | Some(libc::EBUSY) | Some(libc::EAGAIN)
    )
}

/// Registers `ring`'s descriptor for the calling thread; its index, or `None` if
/// the kernel refuses (before Linux 5.18, or the thread's slots all taken).
fn register_ring_fd(ring: &IoUring) -> Option<u32> {
    let mut update = RsrcUpdate {
        // Any free slot.
        offset: u32::MAX,
        resv: 0,
        data: ring.as_raw_fd() as u64,
    };
    // SAFETY: io_uring_register(2) reads and writes one `io_uring_rsrc_update`
    // (`nr_args` 1), which lives across the call.
    let registered = unsafe {
        libc::syscall(
            libc::SYS_io_uring_register,
            libc::c_long::from(ring.as_raw_fd()),
            libc::c_long::from(IORING_REGISTER_RING_FDS),
            &mut update as *mut RsrcUpdate,
            1 as libc::c_long,
        )
    };
    (registered == 1).then_some(update.offset)
}

/// Creates the ring with the fastest task-run mode the kernel accepts; the flag
/// says whether it has no submission queue index array (`NO_SQARRAY`).
fn setup(config: &Config) -> Result<(IoUring, Taskrun, bool), Error> {
    if let Some(idle) = config.sqpoll_idle {
        let idle_ms = u32::try_from(idle.as_millis()).unwrap_or(u32::MAX);
        return IoUring::builder()
            .setup_sqpoll(idle_ms)
            .build(config.entries)
            .map(|ring| (ring, Taskrun::Default, false))
            .map_err(|e| Error::setup(e, config.entries));
    }
    let modes: &[Taskrun] = if config.fast_taskrun {
        &[Taskrun::Deferred, Taskrun::Cooperative, Taskrun::Default]
    } else {
        &[Taskrun::Default]
    };
    // Without the submission queue's index array (`NO_SQARRAY`, Linux 6.6) the
    // kernel takes each entry at its position in the queue, one memory load fewer
    // per entry; the driver always pushes entries in order, so it never needed the
    // indirection. Asked for where the release says the kernel has it, and dropped
    // if the kernel refuses it.
    let flat_sq = if kernel_release() >= (6, 6) {
        &[true, false][..]
    } else {
        &[false][..]
    };
    let attempts = modes
        .iter()
        .flat_map(|&mode| flat_sq.iter().map(move |&flat| (mode, flat)));
    let mut last = None;
    for (mode, flat) in attempts {
        let mut builder = IoUring::builder();
        if flat {
            builder.setup_no_sqarray();
        }
        match mode {
            Taskrun::Deferred => {
                builder
                    .setup_single_issuer()
                    .setup_defer_taskrun()
                    .setup_taskrun_flag();
            }
            Taskrun::Cooperative => {
                builder.setup_coop_taskrun().setup_taskrun_flag();
            }
            Taskrun::Default => {}
        }
        match builder.build(config.entries) {
            Ok(ring) => return Ok((ring, mode, flat)),
            // EINVAL: an older kernel that lacks the flags (or bad entries, which the
            // last attempt reports).
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) => last = Some(e),
            Err(e) => return Err(Error::setup(e, config.entries)),
        }
    }
    Err(Error::setup(
        last.unwrap_or_else(|| io::Error::from_raw_os_error(libc::EINVAL)),
        config.entries,
    ))
}

#[cfg(test)]
mod tests {
    use super::parse_release;

    #[test]
    fn kernel_release_parses_major_and_minor() {
        assert_eq!(parse_release("6.18.0-1-amd64"), (6, 18));
        assert_eq!(parse_release("5.19"), (5, 19));
        assert_eq!(parse_release("4.4.0-microsoft"), (4, 4));
        assert_eq!(parse_release("weird"), (0, 0));
    }

    use super::*;

    fn driver() -> Driver {
        Driver::new(&Config {
            entries: 8,
            sqpoll_idle: None,
            fast_taskrun: true,
            masked_opcodes: Vec::new(),
            kernel: None,
        })
        .unwrap()
    }

    /// How many eventfd reads are in the kernel: cancels them all and counts.
    fn wake_reads_in_flight(driver: &mut Driver) -> i32 {
        const COUNT: u64 = DRIVER_OWN | 99;
        let sqe = opcode::AsyncCancel2::new(types::CancelBuilder::user_data(WAKE).all())
            .build()
            .user_data(COUNT);
        // SAFETY: an async cancel carries no pointer.
        unsafe { driver.push(&sqe) }.unwrap();
        loop {
            driver.enter(true).unwrap();
            let cancelled = driver
                .ring
                .completion()
                .find(|cqe| cqe.user_data() == COUNT)
                .map(|cqe| cqe.result());
            if let Some(cancelled) = cancelled {
                driver.wake_armed = false;
                return cancelled;
            }
        }
    }

    #[test]
    fn driver_wake_completed_while_making_room_is_armed_again_exactly_once() {
        let mut driver = driver();
        driver.notifier.notify();
        // The armed read completes; a full submission queue then makes the driver
        // reap it into the backlog, as `make_room` does when the kernel is busy.
        driver.enter(true).unwrap();
        driver.reap_into_backlog();
        assert!(driver.has_backlog(), "the wake must still be reported");
        // The executor's next turn: re-arm if needed, then reap.
        driver.ensure_wake_armed();
        let woken = driver.reap(false, |user_data, _, _| {
            panic!("no op was submitted, got {user_data:#x}")
        });
        assert!(woken);
        driver.ensure_wake_armed();
        driver.enter(false).unwrap();
        // Two reads would share the one buffer, and a shutdown's single cancel would
        // leave the other one armed.
        let armed = wake_reads_in_flight(&mut driver);
        if armed == -libc::EINVAL {
            // Cancelling every match needs Linux 5.19.
            let reason = "IORING_ASYNC_CANCEL_ALL is missing (Linux 5.19)";
            assert!(std::env::var("CI").as_deref() != Ok("true"), "{reason}");
            eprintln!("skipped: {reason}");
            return;
        }
        assert_eq!(armed, 1);
    }

    #[test]
    fn driver_doorbell_reaped_while_making_room_keeps_the_ring_from_sleeping() {
        let mut driver = driver();
        let fd = driver.dup_ring_fd().unwrap();
        // A doorbell this ring rings for itself, as another ring would.
        let sqe = opcode::MsgRingData::new(types::Fd(fd.as_raw_fd()), 0, MAIL, None)
            .build()
            .user_data(CANCEL);
        // SAFETY: a data message carries no pointer; `fd` outlives the submission.
        unsafe { driver.push(&sqe) }.unwrap();
        driver.enter(true).unwrap();
        // Reaped while making room, as `make_room` does when the kernel is busy.
        driver.reap_into_backlog();
        assert!(
            driver.has_backlog(),
            "a pending doorbell must stop the ring from waiting"
        );
        driver.reap(false, |user_data, _, _| {
            panic!("no op was submitted, got {user_data:#x}")
        });
        assert!(driver.take_mail());
        assert!(!driver.has_backlog());
        assert!(!driver.take_mail(), "a doorbell is reported once");
    }

    /// On a kernel with `NO_SQARRAY` (6.6) the ring is set up without the index
    /// array, and entries still reach the kernel in the order they were pushed,
    /// across many wraps of the queue.
    #[test]
    fn ring_without_the_sq_array_runs_entries_in_order_across_wraps() {
        let mut driver = driver();
        // Asked for from 6.6 on, and kept if the kernel takes it (a kernel may
        // report a release that lacks it).
        let takes_it = kernel_release() >= (6, 6)
            && IoUring::<squeue::Entry>::builder()
                .setup_no_sqarray()
                .build(8)
                .is_ok();
        assert_eq!(driver.flat_sq, takes_it);
        let mut seen = Vec::new();
        for batch in 0..20u64 {
            for i in 0..6 {
                let sqe = opcode::Nop::new().build().user_data(batch * 6 + i);
                // SAFETY: a NOP carries no pointer.
                unsafe { driver.push(&sqe) }.unwrap();
            }
            while seen.len() < (batch as usize + 1) * 6 {
                driver.enter(true).unwrap();
                driver.reap(false, |user_data, res, _| {
                    assert_eq!(res, 0);
                    seen.push(user_data);
                });
            }
        }
        let expected: Vec<u64> = (0..120).collect();
        assert_eq!(seen, expected, "NOPs complete in submission order");
    }

    /// Every ring registers its descriptor for its thread and gives the slot back
    /// when dropped: a thread has 16 slots, and forty rings built one after another
    /// all get one.
    #[test]
    fn driver_registers_its_descriptor_and_gives_the_slot_back() {
        if kernel_release() < (5, 18) {
            return; // No registered ring descriptors before Linux 5.18.
        }
        for round in 0..40 {
            let mut driver = driver();
            assert!(driver.is_ring_fd_registered(), "round {round}");
            // The registered index works for entering the ring.
            driver.enter(false).unwrap();
            driver.run_deferred().unwrap();
        }
    }
}
