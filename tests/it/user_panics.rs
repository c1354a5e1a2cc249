//! User code that the ring calls may panic: a buffer's drop, a waker, a task's drop,
//! a waker's clone. Whatever panics, every completion is still delivered, every
//! orphan released, a shutdown still finishes, and the first panic comes out of the
//! call that ran it (`block_on`, `shutdown`, the owner's drop), never as an abort.

use std::cell::RefCell;
use std::future::Future;
use std::io::{self, Read as _, Write as _};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::process::ExitStatusExt;
use std::panic::{catch_unwind, panic_any, AssertUnwindSafe};
use std::pin::Pin;
use std::process::Command;
use std::rc::Rc;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::time::{Duration, Instant};

use futures_lite::future;
use linear_uring::fs::File;
use linear_uring::net::{TcpListener, TcpStream};
use linear_uring::op::Timeout;
use linear_uring::{DropPolicy, ErrorKind, Op, Ring};

use crate::counted::{CountedBuf, BUFFER_PANIC};
use crate::fds::FdCheck;

fn ring(policy: DropPolicy) -> Ring {
    Ring::builder().drop_policy(policy).build().unwrap()
}

/// A pipe whose read end is a ring `File` and whose write end is a `std` file.
fn file_pipe(ring: &Ring) -> (File, std::fs::File) {
    let (read, write) = crate::fds::pipe();
    (
        File::from_fd(ring, read).unwrap(),
        std::fs::File::from(write),
    )
}

/// Lets the ring reap the cancels of what was dropped.
fn settle(ring: &Ring) {
    ring.block_on(async { ring.sleep(Duration::from_millis(5)).await })
        .unwrap();
}

/// The payload of a panic, as text.
fn payload_text(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "<not text>".to_string())
}

/// Runs `f`, expecting a panic, and returns its message.
fn panic_message(f: impl FnOnce()) -> String {
    let payload = catch_unwind(AssertUnwindSafe(f)).expect_err("expected a panic");
    payload_text(&*payload)
}

/// `fut`'s output, or `None` if the ring's timer of `limit` fires first: a hang
/// becomes a failure instead of a test that never ends.
async fn within<T>(ring: &Ring, limit: Duration, fut: impl Future<Output = T>) -> Option<T> {
    future::or(async { Some(fut.await) }, async {
        ring.sleep(limit).await.unwrap();
        None
    })
    .await
}

/// The payload of a [`PanickingWaker`]'s wake.
const WAKER_PANIC: &str = "a waker panicked";

/// A foreign waker (not the ring's) that panics when woken.
struct PanickingWaker;

impl Wake for PanickingWaker {
    fn wake(self: Arc<Self>) {
        panic_any(WAKER_PANIC);
    }
}

/// Polls `fut` once with `waker`, inside the ring's `block_on`, and expects it pending.
fn poll_once_with<F: Future + Unpin>(ring: &Ring, fut: &mut F, waker: &Waker) {
    ring.block_on(async {
        let mut cx = Context::from_waker(waker);
        assert!(Pin::new(fut).poll(&mut cx).is_pending());
    });
}

fn assert_shut_down_error(err: &io::Error) {
    let inner = err
        .get_ref()
        .and_then(|e| e.downcast_ref::<linear_uring::Error>());
    assert_eq!(inner.map(|e| e.kind()), Some(ErrorKind::ShutDown), "{err}");
}

/// The ring is shut down for good: a second shutdown does nothing, new ops fail at
/// once, `block_on` refuses to run, nothing is in flight.
fn assert_fully_shut_down(handle: &Ring) {
    assert!(handle.is_shut_down());
    handle.shutdown();
    let err = future::block_on(handle.nop().complete()).unwrap_err();
    assert_shut_down_error(&err);
    let msg = panic_message(|| handle.block_on(async {}));
    assert!(msg.contains("shut down"), "{msg}");
    assert_eq!(handle.stats().in_flight, 0);
}

#[test]
fn reap_with_panicking_buffer_drop_still_wakes_tasks_and_closes_late_accepts() {
    let fds = FdCheck::start();
    let ring = ring(DropPolicy::Reclaim);
    let listener = TcpListener::bind(&ring, "127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let (file, mut writer) = file_pipe(&ring);
    let (buf, drops) = CountedBuf::panicking(64);
    let task_ring = ring.clone();
    let task = ring.spawn(async move {
        task_ring.sleep(Duration::from_millis(30)).await.unwrap();
        7
    });
    let client = ring.block_on(async {
        // Let the task submit its timer.
        ring.sleep(Duration::from_millis(1)).await.unwrap();
        // An accept and a read that will both succeed as soon as the kernel sees
        // them, abandoned before it does; then the task's timer expires too, so
        // that the next reap finds all three.
        let client = std::net::TcpStream::connect(addr).unwrap();
        writer.write_all(b"x").unwrap();
        drop(listener.accept().submit());
        drop(file.read(buf).submit());
        std::thread::sleep(Duration::from_millis(60));
        client
    });
    let msg = panic_message(|| {
        ring.block_on(async { ring.sleep(Duration::from_millis(50)).await })
            .unwrap()
    });
    assert_eq!(
        msg, BUFFER_PANIC,
        "the buffer's panic comes out of block_on"
    );
    assert_eq!(drops.get(), 1);
    // The task whose timer was reaped with the panicking release was woken.
    let seven = ring.block_on(within(&ring, Duration::from_secs(2), task));
    assert_eq!(seven, Some(7), "the task was never woken");
    // The connection the abandoned accept took was closed by the ring.
    client
        .set_read_timeout(Some(Duration::from_secs(2)))
        .unwrap();
    let read = (&client).read(&mut [0u8; 1]);
    assert!(matches!(read, Ok(0)), "{read:?}");
    // Let the ring reap the timers that the unwinding and the race dropped.
    settle(&ring);
    let stats = ring.stats();
    assert_eq!(stats.fds_closed, 1);
    assert_eq!(stats.abandoned, 2);
    assert_eq!(stats.in_flight, 0);
    drop((client, file, writer, listener, ring));
    fds.finish();
}

#[test]
fn shutdown_interrupted_by_panicking_waker_still_shuts_down() {
    let ring = ring(DropPolicy::Panic);
    let handle = ring.clone();
    let mut timer = Timeout::new(&ring, Duration::from_secs(60))
        .submit()
        .complete();
    // The table stores this waker; the shutdown wakes it when it reaps the timer.
    poll_once_with(&ring, &mut timer, &Waker::from(Arc::new(PanickingWaker)));
    let msg = panic_message(|| drop(ring));
    assert_eq!(msg, WAKER_PANIC, "the waker's panic comes out of the drop");
    assert_fully_shut_down(&handle);
    // The token still learns its op's fate.
    let err = future::block_on(timer).unwrap_err();
    assert_eq!(err.raw_os_error(), Some(libc::ECANCELED));
}

#[test]
fn shutdown_interrupted_by_panicking_buffer_drop_still_releases_everything() {
    let fds = FdCheck::start();
    let ring = ring(DropPolicy::Reclaim);
    let handle = ring.clone();
    let listener = TcpListener::bind(&ring, "127.0.0.1:0").unwrap();
    let (file, writer) = file_pipe(&ring);
    let (panicky, panicky_drops) = CountedBuf::panicking(64);
    let (plain, plain_drops) = CountedBuf::new(64);
    let (other, other_writer) = file_pipe(&ring);
    let (task_file, task_writer) = file_pipe(&ring);
    let (task_buf, task_drops) = CountedBuf::new(8);
    ring.block_on(async {
        // A task with a read of its own in flight, dropped by the shutdown.
        drop(ring.spawn(async move { task_file.read(task_buf).submit().complete().await }));
        ring.sleep(Duration::from_millis(5)).await.unwrap();
        // Abandoned last, so that their cancels are reaped by the shutdown.
        drop(file.read(panicky).submit());
        drop(other.read(plain).submit());
        drop(listener.accept().submit());
    });
    assert_eq!(handle.stats().in_flight, 4);
    let start = Instant::now();
    let msg = panic_message(|| drop(ring));
    let elapsed = start.elapsed();
    assert!(elapsed < Duration::from_secs(2), "{elapsed:?}");
    assert_eq!(msg, BUFFER_PANIC);
    assert_eq!(
        (panicky_drops.get(), plain_drops.get(), task_drops.get()),
        (1, 1, 1)
    );
    assert_fully_shut_down(&handle);
    drop((file, writer, other, other_writer, task_writer, listener));
    fds.finish();
}

#[test]
fn shutdown_op_submitted_from_buffer_drop_fails_at_once_instead_of_delaying_it() {
    let fds = FdCheck::start();
    let ring = ring(DropPolicy::Reclaim);
    let handle = ring.clone();
    let (file, writer) = file_pipe(&ring);
    // A buffer whose drop submits a long timer, and keeps its token.
    let late: Rc<RefCell<Vec<Op<Timeout>>>> = Rc::default();
    let (buf, drops) = CountedBuf::with_drop(64, {
        let (ring, late) = (ring.clone(), late.clone());
        move || {
            let timer = Timeout::new(&ring, Duration::from_secs(60)).submit();
            late.borrow_mut().push(timer);
        }
    });
    ring.block_on(async {
        drop(file.read(buf).submit());
    });
    let start = Instant::now();
    drop(ring);
    let elapsed = start.elapsed();
    assert!(
        elapsed < Duration::from_secs(2),
        "the shutdown waited {elapsed:?} for an op submitted while it ran"
    );
    assert_eq!(drops.get(), 1);
    assert_fully_shut_down(&handle);
    let timer = late.borrow_mut().pop().expect("the drop submitted a timer");
    let err = future::block_on(timer.complete()).unwrap_err();
    assert_shut_down_error(&err);
    drop((file, writer));
    fds.finish();
}

#[test]
fn shutdown_of_10000_ops_whose_buffers_submit_more_finishes_well_within_grace() {
    const PIPES: usize = 100;
    const PER_PIPE: usize = 100;
    let fds = FdCheck::start();
    let ring = ring(DropPolicy::Reclaim);
    let handle = ring.clone();
    let pipes: Vec<(Rc<File>, std::fs::File)> = (0..PIPES)
        .map(|_| {
            let (file, writer) = file_pipe(&ring);
            (Rc::new(file), writer)
        })
        .collect();
    // Tokens of ops submitted from buffers' drops, kept to see how they ended.
    let late: Rc<RefCell<Vec<Op<Timeout>>>> = Rc::default();
    let mut counters = Vec::new();
    let mut kept = Vec::new();
    ring.block_on(async {
        for (p, (file, _)) in pipes.iter().enumerate() {
            for i in 0..PER_PIPE {
                let n = p * PER_PIPE + i;
                let (buf, drops) = if n % 10 == 0 {
                    // One buffer in ten submits a timer and a read from its drop.
                    let (ring, late, file) = (ring.clone(), late.clone(), file.clone());
                    CountedBuf::with_drop(16, move || {
                        late.borrow_mut()
                            .push(Timeout::new(&ring, Duration::from_secs(60)).submit());
                        // Abandoned at once: the ring must release it, not wait for it.
                        drop(file.read(Vec::with_capacity(16)).submit());
                    })
                } else {
                    CountedBuf::new(16)
                };
                counters.push(drops);
                let read = file.read(buf).submit();
                match n % 3 {
                    // A third abandoned now, released by the shutdown's reaps.
                    0 => drop(read),
                    // A third held by tasks, dropped by the shutdown.
                    1 => drop(ring.spawn(async move { read.complete().await })),
                    // A third kept past the shutdown.
                    _ => kept.push(read),
                }
            }
        }
        // Returns at once: the abandoned reads and their cancels reach the kernel
        // when the shutdown submits them, and their buffers are released by its reaps.
    });
    assert_eq!(handle.stats().in_flight, (PIPES * PER_PIPE) as u64);
    let start = Instant::now();
    drop(ring);
    let elapsed = start.elapsed();
    assert!(
        elapsed < Duration::from_secs(2),
        "shutdown took {elapsed:?} (its grace period is 5 s)"
    );
    assert_fully_shut_down(&handle);
    // The kept tokens resolve, each with the kernel's cancel.
    for read in kept {
        let (result, buf) = future::block_on(read.complete());
        assert_eq!(result.unwrap_err().raw_os_error(), Some(libc::ECANCELED));
        drop(buf);
    }
    assert!(counters.iter().all(|drops| drops.get() == 1));
    let late = std::mem::take(&mut *late.borrow_mut());
    assert!(!late.is_empty());
    for timer in late {
        assert_shut_down_error(&future::block_on(timer.complete()).unwrap_err());
    }
    drop(pipes);
    fds.finish();
}

/// Set in the child process of `owner_dropped_in_its_own_unwinding_block_on_...`.
const OWNER_CHILD: &str = "LINEAR_URING_TEST_OWNER_CHILD";

/// Run by `owner_dropped_in_its_own_unwinding_block_on_resumes_the_user_panic` in a
/// child process: on failure, it aborts.
#[test]
#[ignore = "run in a child process by owner_dropped_in_its_own_unwinding_block_on_resumes_the_user_panic"]
fn owner_dropped_while_unwinding_child() {
    if std::env::var_os(OWNER_CHILD).is_none() {
        return;
    }
    let ring = ring(DropPolicy::Panic);
    let handle = ring.clone();
    let timer = Timeout::new(&ring, Duration::from_secs(60)).submit();
    let msg = panic_message(|| {
        ring.clone().block_on(async move {
            let _owner = ring;
            let _timer = timer;
            panic!("the user's own panic");
        })
    });
    assert_eq!(msg, "the user's own panic");
    // The block_on shut the ring down as it ended.
    assert_fully_shut_down(&handle);
    println!("child: ok");
}

#[test]
fn owner_dropped_in_its_own_unwinding_block_on_resumes_the_user_panic() {
    // Capturing the child's output opens pipes: hold the descriptor check.
    let fds = FdCheck::start();
    let output = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "user_panics::owner_dropped_while_unwinding_child",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(OWNER_CHILD, "1")
        .output()
        .unwrap();
    assert_ne!(output.status.signal(), Some(libc::SIGABRT), "{output:?}");
    assert!(output.status.success(), "{output:?}");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("child: ok"), "{stdout}");
    fds.finish();
}

#[test]
fn owner_dropped_inside_its_own_block_on_panics_then_shuts_down_on_exit() {
    let ring = ring(DropPolicy::Panic);
    let handle = ring.clone();
    let msg = panic_message(|| ring.clone().block_on(async move { drop(ring) }));
    assert!(msg.contains("inside its own block_on"), "{msg}");
    assert_fully_shut_down(&handle);
}

#[test]
fn op_awaited_in_another_rings_block_on_nested_in_its_own_panics_instead_of_hanging() {
    let a = ring(DropPolicy::Reclaim);
    let b = ring(DropPolicy::Reclaim);
    let msg = panic_message(|| {
        a.block_on(async {
            let op = Timeout::new(&a, Duration::from_secs(10)).submit();
            // Without the check this waits out b's timer: a never runs meanwhile.
            let done = b.block_on(within(&b, Duration::from_millis(200), op.complete()));
            assert!(done.is_some(), "the op hung in another ring's block_on");
        })
    });
    assert!(msg.contains("inside another ring's block_on"), "{msg}");
    // The token was abandoned while unwinding, and cancelled.
    a.block_on(async { a.sleep(Duration::from_millis(5)).await })
        .unwrap();
    assert_eq!(a.stats().in_flight, 0);
    assert_eq!(a.stats().abandoned, 1);
}

#[test]
fn close_of_descriptor_the_ring_refuses_closes_it_anyway() {
    let ring = ring(DropPolicy::Panic);
    // IORING_OP_CLOSE answers EBADF for an io_uring instance's descriptor.
    let other = io_uring::IoUring::new(2).unwrap();
    // SAFETY: dup(2) of a live descriptor; a non-negative result is a new descriptor
    // that nothing else owns. Unlike every descriptor this process opens elsewhere,
    // it is not close-on-exec: that tells it apart from a reuse of its number.
    let raw = unsafe { libc::dup(other.as_raw_fd()) };
    assert!(raw >= 0, "dup: {}", io::Error::last_os_error());
    // SAFETY: as above: a new descriptor, owned by nothing else.
    let fd = unsafe { OwnedFd::from_raw_fd(raw) };
    let file = File::from_fd(&ring, fd).unwrap();
    let closed = ring.block_on(file.close());
    assert!(closed.is_ok(), "{closed:?}");
    // SAFETY: fcntl(2) F_GETFD takes no pointers; on a number that is closed or
    // reused it fails or reports another descriptor's flags, which is what is checked.
    let flags = unsafe { libc::fcntl(raw, libc::F_GETFD) };
    assert_ne!(
        flags, 0,
        "descriptor {raw} is still open: close() leaked it"
    );
}

thread_local! {
    /// The owner that `SHUTDOWN_ON_CLONE`'s clone drops (a waker must be `Send`, a
    /// ring is not, so it is reached through the thread).
    static OWNER: RefCell<Option<Ring>> = const { RefCell::new(None) };
}

/// A waker whose clone shuts the ring down by dropping its owner: the clone runs the
/// ring to the end, reaping the op being polled.
static SHUTDOWN_ON_CLONE: std::task::RawWakerVTable =
    std::task::RawWakerVTable::new(shutdown_clone, |_| {}, |_| {}, |_| {});

fn shutdown_clone(_: *const ()) -> std::task::RawWaker {
    let owner = OWNER.with(|owner| owner.borrow_mut().take());
    drop(owner);
    std::task::RawWaker::new(std::ptr::null(), &SHUTDOWN_ON_CLONE)
}

#[test]
fn completion_reaped_while_the_waker_clones_is_delivered_by_that_poll() {
    let ring = ring(DropPolicy::Panic);
    let handle = ring.clone();
    let mut timer = Timeout::new(&ring, Duration::from_secs(60))
        .submit()
        .complete();
    OWNER.with(|owner| *owner.borrow_mut() = Some(ring));
    // SAFETY: the vtable's functions ignore the data pointer, and its clone returns a
    // waker with the same vtable; wake, wake_by_ref and drop do nothing.
    let waker = unsafe {
        Waker::from_raw(std::task::RawWaker::new(
            std::ptr::null(),
            &SHUTDOWN_ON_CLONE,
        ))
    };
    let polled = Pin::new(&mut timer).poll(&mut Context::from_waker(&waker));
    assert!(
        handle.is_shut_down(),
        "the clone did not shut the ring down"
    );
    // Pending here would be forever: nothing is left to wake this waker.
    match polled {
        Poll::Ready(result) => {
            assert_eq!(result.unwrap_err().raw_os_error(), Some(libc::ECANCELED))
        }
        Poll::Pending => panic!("the op completed during the poll, which returned Pending"),
    }
}

#[test]
fn abandoned_completed_op_whose_buffer_drop_panics_is_still_counted() {
    let fds = FdCheck::start();
    let ring = ring(DropPolicy::Panic);
    let (file, mut writer) = file_pipe(&ring);
    writer.write_all(b"abc").unwrap();
    let (buf, drops) = CountedBuf::panicking(8);
    let msg = panic_message(|| {
        ring.block_on(async {
            let read = file.read(buf).submit();
            ring.sleep(Duration::from_millis(20)).await.unwrap();
            // Completed, its result unclaimed: the drop releases the buffer now.
            drop(read);
        })
    });
    // The buffer's panic, not the drop policy's, which would hide it.
    assert_eq!(msg, BUFFER_PANIC);
    assert_eq!(drops.get(), 1);
    assert_eq!(ring.stats().abandoned, 1);
    assert_eq!(ring.stats().in_flight, 0);
    drop((file, writer, ring));
    fds.finish();
}

#[test]
fn accept_of_connection_that_cannot_be_wrapped_says_it_was_closed() {
    use std::os::linux::net::SocketAddrExt;
    use std::os::unix::net::{SocketAddr, UnixListener, UnixStream};

    let fds = FdCheck::start();
    let ring = ring(DropPolicy::Panic);
    let name = format!("linear-uring-{}-unwrappable", std::process::id());
    let addr = SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
    let unix = UnixListener::bind_addr(&addr).unwrap();
    // A Unix listener passed off as a TCP one: its peers have no IP address.
    let listener =
        TcpListener::from_std(&ring, std::net::TcpListener::from(OwnedFd::from(unix))).unwrap();
    let mut client = UnixStream::connect_addr(&addr).unwrap();
    let result = ring.block_on(listener.accept().submit().complete());
    let err = result
        .map(|(stream, _): (TcpStream, _)| stream)
        .unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("the connection was closed"), "{msg}");
    assert!(msg.contains("TcpStream"), "{msg}");
    client
        .set_read_timeout(Some(Duration::from_secs(2)))
        .unwrap();
    assert!(matches!(client.read(&mut [0u8; 1]), Ok(0)));
    drop((client, listener, ring));
    fds.finish();
}

/// Set in the child process of `block_on_while_unwinding_and_panicking_future_drop_never_abort`.
const UNWINDING_CHILD: &str = "LINEAR_URING_TEST_UNWINDING_CHILD";

/// Run by `block_on_while_unwinding_and_panicking_future_drop_never_abort` in a child
/// process: on failure, it aborts.
#[test]
#[ignore = "run in a child process by block_on_while_unwinding_and_panicking_future_drop_never_abort"]
fn unwinding_child() {
    if std::env::var_os(UNWINDING_CHILD).is_none() {
        return;
    }
    let ring = ring(DropPolicy::Reclaim);
    // A guard that finishes its work on the ring in its drop, run while the user's
    // panic unwinds; a task panics meanwhile. That panic cannot be resumed there.
    struct FinishOnDrop(Ring);
    impl Drop for FinishOnDrop {
        fn drop(&mut self) {
            let ring = &self.0;
            drop(ring.spawn(async { panic!("a task panicked") }));
            ring.block_on(async { ring.sleep(Duration::from_millis(10)).await })
                .unwrap();
            println!("child: the drop's block_on finished");
        }
    }
    let msg = panic_message(|| {
        let _guard = FinishOnDrop(ring.clone());
        panic!("the user's first panic");
    });
    assert_eq!(msg, "the user's first panic");
    // A task's panic comes out of block_on, which drops its future on the way: a
    // panic of that drop is discarded, never a second panic while unwinding.
    struct PanicOnDrop;
    impl Drop for PanicOnDrop {
        fn drop(&mut self) {
            panic!("the future's drop panicked");
        }
    }
    drop(ring.spawn(async { panic!("another task panicked") }));
    let msg = panic_message(|| {
        ring.block_on(async {
            let _guard = PanicOnDrop;
            ring.sleep(Duration::from_secs(10)).await
        })
        .unwrap()
    });
    assert_eq!(msg, "another task panicked");
    assert_eq!(ring.block_on(async { 7 }), 7, "the ring is still usable");
    println!("child: ok");
}

#[test]
fn block_on_while_unwinding_and_panicking_future_drop_never_abort() {
    // Capturing the child's output opens pipes: hold the descriptor check.
    let fds = FdCheck::start();
    let output = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "user_panics::unwinding_child",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(UNWINDING_CHILD, "1")
        .output()
        .unwrap();
    assert_ne!(output.status.signal(), Some(libc::SIGABRT), "{output:?}");
    assert!(output.status.success(), "{output:?}");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains("child: the drop's block_on finished"),
        "{stdout}"
    );
    assert!(stdout.contains("child: ok"), "{stdout}");
    fds.finish();
}

#[test]
fn ring_caught_panic_needs_no_assert_unwind_safe_and_the_ring_keeps_working() {
    let _fds = FdCheck::start();
    let ring = ring(DropPolicy::Panic);
    let (a, b) = linear_uring::net::UnixStream::pair(&ring).unwrap();
    // The closure borrows the ring and a stream of it: no `AssertUnwindSafe`, because
    // a ring and its resources stay consistent through a panic in the code it runs.
    let caught = catch_unwind(|| {
        ring.block_on(async {
            let _recv = a.recv(Vec::with_capacity(8)).submit();
            panic_any("the handler failed");
        })
    });
    assert_eq!(
        *caught.unwrap_err().downcast::<&str>().unwrap(),
        "the handler failed"
    );
    settle(&ring);
    let stats = ring.stats();
    assert_eq!((stats.abandoned, stats.in_flight), (1, 0), "{stats:?}");
    let (n, got) = ring.block_on(async {
        b.send(b"after").submit().complete().await.0.unwrap();
        a.recv(Vec::with_capacity(8)).submit().complete().await
    });
    assert_eq!((n.unwrap(), &got[..]), (5, &b"after"[..]));
}
