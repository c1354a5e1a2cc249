//! Abandoned tokens under each drop policy.

use std::io::Write;
use std::os::unix::process::ExitStatusExt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::process::Command;
use std::time::Duration;

use futures_lite::future;
use linear_uring::op::Timeout;
use linear_uring::{DropPolicy, Ring};

fn ring(policy: DropPolicy) -> Ring {
    Ring::builder().drop_policy(policy).build().unwrap()
}

/// Runs `f`, expecting a panic, and returns its message.
fn panic_message(f: impl FnOnce()) -> String {
    let payload = catch_unwind(AssertUnwindSafe(f)).expect_err("expected a panic");
    match payload.downcast::<String>() {
        Ok(msg) => *msg,
        Err(payload) => payload
            .downcast::<&str>()
            .map(|s| s.to_string())
            .unwrap_or_default(),
    }
}

/// Lets the ring reap the completions of the cancels that the drops submitted.
fn settle(ring: &Ring) {
    ring.block_on(async { ring.sleep(Duration::from_millis(5)).complete().await })
        .unwrap();
}

fn assert_names_line(msg: &str, line: u32) {
    let place = format!("tests/it/drop_policy.rs:{line}:");
    assert!(msg.contains(&place), "message lacks {place}: {msg}");
    assert!(msg.contains("Timeout operation"), "{msg}");
    assert!(msg.contains(".cancel().await"), "{msg}");
}

#[test]
fn panic_policy_dropped_token_panics_with_submit_line() {
    let ring = ring(DropPolicy::Panic);
    let line = line!() + 3;
    let msg = panic_message(|| {
        ring.block_on(async {
            let op = Timeout::new(&ring, Duration::from_secs(10)).submit();
            drop(op);
        })
    });
    assert_names_line(&msg, line);
    // The I/O-safe part happened before the panic.
    assert_eq!(ring.stats().abandoned, 1);
    settle(&ring);
    assert_eq!(ring.stats().in_flight, 0);
    assert_eq!(ring.stats().cancelled, 1);
}

#[test]
fn panic_policy_dropped_complete_future_after_one_poll_panics_with_submit_line() {
    let ring = ring(DropPolicy::Panic);
    let line = line!() + 3;
    let msg = panic_message(|| {
        ring.block_on(async {
            let op = Timeout::new(&ring, Duration::from_secs(10)).submit();
            let mut fut = op.complete();
            assert!(future::poll_once(&mut fut).await.is_none());
            drop(fut);
        })
    });
    assert_names_line(&msg, line);
    settle(&ring);
    assert_eq!(ring.stats().in_flight, 0);
}

#[test]
fn panic_policy_dropped_awaited_description_panics_with_await_line() {
    let ring = ring(DropPolicy::Panic);
    let line = line!() + 6;
    let msg = panic_message(|| {
        ring.block_on(async {
            // `.await` on a description submits it there; a `select!`-like
            // combinator that drops the losing branch abandons the op.
            let awaited = async {
                Timeout::new(&ring, Duration::from_secs(10)).await.unwrap();
            };
            future::or(awaited, async {}).await;
        })
    });
    assert_names_line(&msg, line);
    settle(&ring);
    assert_eq!(ring.stats().in_flight, 0);
}

#[test]
fn panic_policy_dropped_cancel_future_after_one_poll_panics() {
    let ring = ring(DropPolicy::Panic);
    let line = line!() + 3;
    let msg = panic_message(|| {
        ring.block_on(async {
            let op = Timeout::new(&ring, Duration::from_secs(10)).submit();
            let mut fut = op.cancel();
            assert!(future::poll_once(&mut fut).await.is_none());
            drop(fut);
        })
    });
    assert_names_line(&msg, line);
    settle(&ring);
    assert_eq!(ring.stats().in_flight, 0);
}

#[test]
fn panic_policy_no_second_panic_while_unwinding() {
    let ring = ring(DropPolicy::Panic);
    let msg = panic_message(|| {
        ring.block_on(async {
            let _op = Timeout::new(&ring, Duration::from_secs(10)).submit();
            panic!("the user's own panic");
        })
    });
    // A second panic during unwinding would have aborted the test binary.
    assert_eq!(msg, "the user's own panic");
    assert_eq!(ring.stats().abandoned, 1);
}

#[test]
fn reclaim_policy_drops_do_not_panic_and_are_counted() {
    let ring = ring(DropPolicy::Reclaim);
    ring.block_on(async {
        drop(Timeout::new(&ring, Duration::from_secs(10)).submit());
        let mut fut = Timeout::new(&ring, Duration::from_secs(10))
            .submit()
            .complete();
        assert!(future::poll_once(&mut fut).await.is_none());
        drop(fut);
        // A completed but unclaimed result is abandoned too.
        let nop = ring.nop();
        ring.sleep(Duration::from_millis(2))
            .complete()
            .await
            .unwrap();
        drop(nop);
    });
    settle(&ring);
    let stats = ring.stats();
    assert_eq!(stats.abandoned, 3);
    assert_eq!(stats.cancelled, 2);
    assert_eq!(stats.in_flight, 0);
}

const ABORT_CHILD: &str = "LINEAR_URING_TEST_ABORT_CHILD";

/// Run by `abort_policy_dropped_token_aborts_process` in a child process.
#[test]
#[ignore = "run in a child process by abort_policy_dropped_token_aborts_process"]
fn abort_policy_child() {
    if std::env::var_os(ABORT_CHILD).is_none() {
        return;
    }
    let ring = ring(DropPolicy::Abort);
    ring.block_on(async {
        // Written past the test harness's output capture, which an abort would lose.
        let mut stdout = std::io::stdout();
        writeln!(stdout, "line={}", line!() + 2).unwrap();
        stdout.flush().unwrap();
        drop(Timeout::new(&ring, Duration::from_secs(10)).submit());
    });
    unreachable!("the drop should have aborted");
}

#[test]
fn abort_policy_dropped_token_aborts_process() {
    // Capturing the child's output opens pipes: hold the descriptor check so that
    // tests counting sockets and pipes do not see them.
    let fds = crate::fds::FdCheck::start();
    let output = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "drop_policy::abort_policy_child",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(ABORT_CHILD, "1")
        .output()
        .unwrap();
    assert_eq!(output.status.signal(), Some(libc::SIGABRT), "{output:?}");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let line: u32 = stdout
        .lines()
        .find_map(|l| l.split("line=").nth(1))
        .and_then(|l| l.trim().parse().ok())
        .unwrap_or_else(|| panic!("child did not print its line: {stdout}"));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_names_line(&stderr, line);
    assert!(stderr.contains("DropPolicy::Abort"), "{stderr}");
    fds.finish();
}

#[test]
fn on_abandon_reports_a_receive_that_completed_unclaimed_and_a_cancelled_accept() {
    use std::cell::RefCell;
    use std::rc::Rc;

    let fds = crate::fds::FdCheck::start();
    /// Each report: op, result if it completed, whether its result was lost, text.
    type Report = (String, Option<u32>, bool, String);
    let log: Rc<RefCell<Vec<Report>>> = Rc::default();
    let ring = Ring::builder()
        .drop_policy(DropPolicy::Reclaim)
        .build()
        .unwrap();
    ring.on_abandon({
        let log = log.clone();
        move |abandoned| {
            log.borrow_mut().push((
                abandoned.op.to_string(),
                abandoned.result.ok(),
                abandoned.lost_result(),
                abandoned.to_string(),
            ))
        }
    });
    let listener = linear_uring::net::TcpListener::bind(&ring, "127.0.0.1:0").unwrap();
    let mut client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let recv_line = line!() + 7;
    ring.block_on(async {
        let (stream, _) = listener.accept().submit().complete().await.unwrap();
        // A `select!` between a timer and a receive, both done by the time it looks:
        // the timer's branch wins, and the receive, holding the message, is dropped.
        // Under Reclaim nothing panics: the hook is how the loss is seen.
        let timer = ring.sleep(Duration::from_millis(1));
        let recv = stream.recv(Vec::with_capacity(64)).submit();
        // Both reach the kernel; then the message arrives and the timer fires.
        ring.sleep(Duration::ZERO).await.unwrap();
        client.write_all(b"first message").unwrap();
        std::thread::sleep(Duration::from_millis(20));
        future::or(async { timer.await.unwrap() }, async {
            recv.await.0.unwrap();
        })
        .await;
        // An accept nobody connects to, dropped in flight: cancelled in the kernel.
        drop(listener.accept().submit());
        // A timer dropped: harmless, never reported.
        drop(ring.sleep(Duration::from_secs(10)));
        ring.sleep(Duration::from_millis(5)).await.unwrap();
        stream.close().await.unwrap();
    });
    let log = log.borrow();
    assert_eq!(log.len(), 2, "{log:?}");
    let (op, result, lost, text) = &log[0];
    assert_eq!((op.as_str(), *result, *lost), ("Recv", Some(13), true));
    assert!(
        text.contains(&format!("tests/it/drop_policy.rs:{recv_line}:")),
        "{text}"
    );
    assert!(text.contains("completed anyway (result 13)"), "{text}");
    let (op, result, lost, text) = &log[1];
    assert_eq!((op.as_str(), *result, *lost), ("Accept", None, false));
    assert!(
        text.contains("cancelled it before it did anything"),
        "{text}"
    );
    assert_eq!(ring.stats().abandoned, 2);
    drop((client, listener, ring));
    fds.finish();
}
