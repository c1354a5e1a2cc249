//! `PollAdd`: one-shot readiness on sockets, listeners and pipes, every cancel
//! outcome, and a linked timeout.

use std::io::{self, Write as _};
use std::time::Duration;

use linear_uring::fs::File;
use linear_uring::net::{TcpListener, UnixStream};
use linear_uring::op::{PollAdd, Readiness};
use linear_uring::{CancelOutcome, DropPolicy, Ring};

use crate::fds::{self, FdCheck};

fn ring(policy: DropPolicy) -> Ring {
    Ring::builder().drop_policy(policy).build().unwrap()
}

async fn settle(ring: &Ring) {
    ring.sleep(Duration::from_millis(20))
        .complete()
        .await
        .unwrap();
}

#[test]
fn poll_add_quiet_socket_cancel_is_cancelled() {
    let fds = FdCheck::start();
    let ring = ring(DropPolicy::Panic);
    let (a, b) = UnixStream::pair(&ring).unwrap();
    ring.block_on(async {
        let poll = PollAdd::new(&ring, &b, Readiness::READABLE).submit();
        settle(&ring).await;
        match poll.cancel().await {
            CancelOutcome::Cancelled(()) => {}
            CancelOutcome::Completed(ready) => panic!("nothing was sent: {ready:?}"),
        }
    });
    assert_eq!(ring.stats().in_flight, 0);
    drop((a, b, ring));
    fds.finish();
}

#[test]
fn poll_add_socket_with_data_cancel_is_completed_readable_and_consumes_nothing() {
    let fds = FdCheck::start();
    let ring = ring(DropPolicy::Panic);
    let (a, b) = UnixStream::pair(&ring).unwrap();
    ring.block_on(async {
        let (sent, _) = a.send(b"waiting").await;
        sent.unwrap();
        let poll = PollAdd::new(&ring, &b, Readiness::READABLE).submit();
        settle(&ring).await;
        let ready = poll
            .cancel()
            .await
            .completed()
            .expect("the socket was readable: the poll completed first")
            .unwrap();
        assert!(ready.contains(Readiness::READABLE), "{ready:?}");
        // A poll reads nothing: the bytes are still there.
        let (n, buf) = b.recv(Vec::with_capacity(16)).await;
        assert_eq!(&buf[..n.unwrap()], b"waiting");
    });
    drop((a, b, ring));
    fds.finish();
}

#[test]
fn poll_add_completes_when_the_socket_becomes_readable() {
    let fds = FdCheck::start();
    let ring = ring(DropPolicy::Panic);
    let (a, b) = UnixStream::pair(&ring).unwrap();
    ring.block_on(async {
        let poll = PollAdd::new(&ring, &b, Readiness::READABLE | Readiness::READ_CLOSED).submit();
        settle(&ring).await;
        let (sent, _) = a.send(b"now").await;
        sent.unwrap();
        let ready = poll.complete().await.unwrap();
        assert_eq!(ready, Readiness::READABLE, "{ready:?}");

        // The peer shuts its sending side: readable (end of stream) and READ_CLOSED.
        let (n, _) = b.recv(Vec::with_capacity(8)).await;
        assert_eq!(n.unwrap(), 3);
        a.shutdown(std::net::Shutdown::Write).await.unwrap();
        let ready = PollAdd::new(&ring, &b, Readiness::READ_CLOSED)
            .submit()
            .complete()
            .await
            .unwrap();
        assert!(ready.contains(Readiness::READ_CLOSED), "{ready:?}");
    });
    drop((a, b, ring));
    fds.finish();
}

#[test]
fn poll_add_pipe_ends_report_writable_and_hang_up() {
    let fds = FdCheck::start();
    let ring = ring(DropPolicy::Panic);
    let (read, write) = fds::pipe();
    let reader = File::from_fd(&ring, read).unwrap();
    let writer = File::from_fd(&ring, write).unwrap();
    ring.block_on(async {
        let ready = PollAdd::new(&ring, &writer, Readiness::WRITABLE)
            .submit()
            .complete()
            .await
            .unwrap();
        assert_eq!(ready, Readiness::WRITABLE);
        let poll = PollAdd::new(&ring, &reader, Readiness::READABLE).submit();
        settle(&ring).await;
        // The writer goes away: HANG_UP is reported though it was not asked for.
        writer.close().await.unwrap();
        let ready = poll.complete().await.unwrap();
        assert!(ready.contains(Readiness::HANG_UP), "{ready:?}");
    });
    drop((reader, ring));
    fds.finish();
}

#[test]
fn poll_add_listener_is_readable_when_a_connection_waits() {
    let fds = FdCheck::start();
    let ring = ring(DropPolicy::Panic);
    let listener = TcpListener::bind(&ring, "127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    ring.block_on(async {
        let poll = PollAdd::new(&ring, &listener, Readiness::READABLE).submit();
        settle(&ring).await;
        let client = std::net::TcpStream::connect(addr).unwrap();
        let ready = poll.complete().await.unwrap();
        assert!(ready.contains(Readiness::READABLE), "{ready:?}");
        // The connection is still there to accept.
        let (stream, peer) = listener.accept().await.unwrap();
        assert_eq!(peer, client.local_addr().unwrap());
        stream.close().await.unwrap();
    });
    drop((listener, ring));
    fds.finish();
}

#[test]
fn poll_add_quiet_socket_with_linked_timeout_times_out() {
    let fds = FdCheck::start();
    let ring = ring(DropPolicy::Panic);
    let (a, b) = UnixStream::pair(&ring).unwrap();
    ring.block_on(async {
        let err = PollAdd::new(&ring, &b, Readiness::READABLE)
            .timeout(Duration::from_millis(5))
            .submit()
            .complete()
            .await
            .unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut, "{err}");
    });
    assert_eq!(ring.stats().in_flight, 0);
    drop((a, b, ring));
    fds.finish();
}

#[test]
fn poll_add_abandoned_with_resource_dropped_keeps_descriptor_until_completion() {
    let fds = FdCheck::start();
    let ring = ring(DropPolicy::Reclaim);
    let (std_a, std_b) = std::os::unix::net::UnixStream::pair().unwrap();
    let b = UnixStream::from_std(&ring, std_b).unwrap();
    ring.block_on(async {
        let poll = PollAdd::new(&ring, &b, Readiness::READABLE).submit();
        settle(&ring).await;
        let open = fds::count();
        drop(poll);
        drop(b);
        assert_eq!(fds::count(), open, "closed under the op");
        settle(&ring).await;
        assert_eq!(fds::count(), open - 1);
    });
    let stats = ring.stats();
    assert_eq!((stats.abandoned, stats.in_flight), (1, 0), "{stats:?}");
    drop((std_a, ring));
    fds.finish();
}

#[test]
fn poll_add_pipe_write_end_with_reader_gone_reports_error() {
    let fds = FdCheck::start();
    let ring = ring(DropPolicy::Panic);
    let (read, write) = fds::pipe();
    drop(read);
    let mut std_writer = std::fs::File::from(write);
    // A write would fail with EPIPE: polling says so without writing.
    assert_eq!(
        std_writer.write(b"x").unwrap_err().raw_os_error(),
        Some(libc::EPIPE)
    );
    let writer = File::from_fd(&ring, std_writer.into()).unwrap();
    ring.block_on(async {
        let ready = PollAdd::new(&ring, &writer, Readiness::WRITABLE)
            .submit()
            .complete()
            .await
            .unwrap();
        assert!(ready.contains(Readiness::ERROR), "{ready:?}");
    });
    drop((writer, ring));
    fds.finish();
}
