//! Opening files through the ring: `File::open`, `File::create`, `OpenOptions`, and
//! every cancel and drop outcome of `OpenAt`, with the descriptors counted.
//!
//! Through io_uring, an open first runs inline without blocking; only an open that
//! must wait goes to a kernel worker, where a cancel can interrupt it. A FIFO opened
//! for writing with `create` is such an open: it waits for a reader.

use std::io;
use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use linear_uring::fs::{File, OpenOptions};
use linear_uring::{deadline, race, CancelOutcome, DropPolicy, Expired, Raced};

use crate::fds::FdCheck;
use crate::fs_support::{
    assert_usable, fifo_reader, mkfifo, ring, settle, until_reaped, until_worker_blocked_in,
    TempDir,
};

/// Options that open a FIFO for writing through a kernel worker, waiting there for
/// a reader.
fn fifo_writer_options() -> OpenOptions {
    let mut options = OpenOptions::new();
    options.write(true).create(true);
    options
}

#[test]
fn file_create_then_open_through_ring_round_trips() {
    let dir = TempDir::new("open-round-trip");
    let fds = FdCheck::start_in(dir.path());
    let ring = ring(DropPolicy::Panic);
    let path = dir.join("file");
    ring.block_on(async {
        let file = File::create(&ring, &path).await.unwrap();
        assert_eq!(fds.files_open(), 1);
        let (written, _) = file.write_all(&b"opened by the ring"[..]).await;
        written.unwrap();
        // Created write-only, as `std::fs::File::create`.
        let (read, _) = file.read_at(Vec::with_capacity(4), 0).await;
        assert_eq!(read.unwrap_err().raw_os_error(), Some(libc::EBADF));
        file.close().await.unwrap();

        let file = File::open(&ring, &path).await.unwrap();
        let (n, buf) = file.read_at(Vec::with_capacity(64), 0).await;
        assert_eq!(&buf[..n.unwrap()], b"opened by the ring");
        // Opened read-only, as `std::fs::File::open`.
        let (written, _) = file.write_at(&b"x"[..], 0).await;
        assert_eq!(written.unwrap_err().raw_os_error(), Some(libc::EBADF));
        file.close().await.unwrap();

        // `create` truncates an existing file.
        let file = File::create(&ring, &path).await.unwrap();
        file.close().await.unwrap();
    });
    assert_eq!(std::fs::metadata(&path).unwrap().len(), 0);
    assert_eq!(ring.stats().fds_closed, 0);
    drop(ring);
    fds.finish();
}

#[test]
fn file_open_descriptor_is_close_on_exec() {
    let dir = TempDir::new("open-cloexec");
    let fds = FdCheck::start_in(dir.path());
    let ring = ring(DropPolicy::Panic);
    std::fs::write(dir.join("file"), b"").unwrap();
    let file = ring
        .block_on(async { File::open(&ring, dir.join("file")).await })
        .unwrap();
    let raw = std::os::fd::AsRawFd::as_raw_fd(&file);
    // SAFETY: F_GETFD on a descriptor `file` keeps open, integer arguments only.
    let flags = unsafe { libc::fcntl(raw, libc::F_GETFD) };
    assert!(flags >= 0, "{}", io::Error::last_os_error());
    assert_ne!(flags & libc::FD_CLOEXEC, 0);
    drop((file, ring));
    fds.finish();
}

#[test]
fn open_options_follow_std_semantics() {
    let dir = TempDir::new("open-options");
    let fds = FdCheck::start_in(dir.path());
    let ring = ring(DropPolicy::Panic);
    let path = dir.join("file");
    ring.block_on(async {
        // create_new makes the file with the mode asked for (the umask only clears
        // bits, and 0o600 has none it would clear).
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&ring, &path)
            .await
            .unwrap();
        let (written, _) = file.write_all(&b"first\n"[..]).await;
        written.unwrap();
        file.close().await.unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);

        // ...and refuses one that exists.
        let err = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&ring, &path)
            .await
            .unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::AlreadyExists, "{err}");

        // append writes at the end, whatever the position.
        let log = OpenOptions::new()
            .append(true)
            .open(&ring, &path)
            .await
            .unwrap();
        let (written, _) = log.write(&b"second\n"[..]).await;
        assert_eq!(written.unwrap(), 7);
        log.close().await.unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"first\nsecond\n");

        // read + write, without truncating.
        let file = File::options()
            .read(true)
            .write(true)
            .open(&ring, &path)
            .await
            .unwrap();
        let (written, _) = file.write_at(&b"FIRST"[..], 0).await;
        assert_eq!(written.unwrap(), 5);
        let (n, buf) = file.read_at(Vec::with_capacity(64), 0).await;
        assert_eq!(&buf[..n.unwrap()], b"FIRST\nsecond\n");
        file.close().await.unwrap();

        // truncate empties it.
        let file = OpenOptions::new()
            .write(true)
            .truncate(true)
            .open(&ring, &path)
            .await
            .unwrap();
        file.close().await.unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 0);

        // custom flags: O_NOFOLLOW refuses a symbolic link.
        std::os::unix::fs::symlink(&path, dir.join("link")).unwrap();
        let err = OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&ring, dir.join("link"))
            .await
            .unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::ELOOP), "{err}");
    });
    drop(ring);
    fds.finish();
}

#[test]
fn open_options_nonblock_flag_opens_fifo_and_leaves_descriptor_blocking() {
    let dir = TempDir::new("open-nonblock");
    let fds = FdCheck::start_in(dir.path());
    let ring = ring(DropPolicy::Panic);
    let fifo = dir.join("fifo");
    mkfifo(&fifo);
    ring.block_on(async {
        let reader = OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(&ring, &fifo)
            .await
            .unwrap();
        let raw = std::os::fd::AsRawFd::as_raw_fd(&reader);
        // SAFETY: F_GETFL on a descriptor `reader` keeps open, integer arguments only.
        let flags = unsafe { libc::fcntl(raw, libc::F_GETFL) };
        assert!(flags >= 0, "{}", io::Error::last_os_error());
        assert_eq!(flags & libc::O_NONBLOCK, 0, "O_NONBLOCK was cleared");
        // So, with a writer that has written nothing yet, a read waits in the ring
        // for its bytes instead of failing with EAGAIN.
        let writer = std::fs::OpenOptions::new().write(true).open(&fifo).unwrap();
        let read = reader.read(Vec::with_capacity(8)).submit();
        settle(&ring).await;
        let outcome = read.cancel().await;
        assert!(outcome.is_cancelled(), "{outcome:?}");
        drop(writer);
        reader.close().await.unwrap();
    });
    drop(ring);
    fds.finish();
}

#[test]
fn open_options_invalid_combination_fails_invalid_input_before_kernel() {
    let dir = TempDir::new("open-invalid");
    let fds = FdCheck::start_in(dir.path());
    let ring = ring(DropPolicy::Panic);
    let path = dir.join("never-created");
    let cases: [(OpenOptions, &str); 4] = [
        (OpenOptions::new(), "no access"),
        (
            OpenOptions::new().read(true).create(true).clone(),
            "need `write` or `append`",
        ),
        (
            OpenOptions::new().read(true).truncate(true).clone(),
            "need `write` or `append`",
        ),
        (
            OpenOptions::new().append(true).truncate(true).clone(),
            "`truncate` cannot go with `append`",
        ),
    ];
    for (options, reason) in cases {
        let submitted = ring.stats().submitted;
        let err = ring
            .block_on(async { options.open(&ring, &path).await })
            .unwrap_err();
        assert_eq!(
            err.kind(),
            io::ErrorKind::InvalidInput,
            "{options:?}: {err}"
        );
        let message = err.to_string();
        assert!(message.contains(reason), "{options:?}: {message}");
        assert!(message.contains("never-created"), "{message}");
        assert_eq!(ring.stats().submitted, submitted, "the kernel never saw it");
    }
    assert!(!path.exists());
    assert_usable(&ring);
    drop(ring);
    fds.finish();
}

#[test]
fn open_at_waiting_on_fifo_cancel_is_cancelled_nothing_opened() {
    let dir = TempDir::new("open-cancel-waiting");
    let fds = FdCheck::start_in(dir.path());
    let ring = ring(DropPolicy::Panic);
    let fifo = dir.join("fifo");
    mkfifo(&fifo);
    ring.block_on(async {
        let open = fifo_writer_options().open(&ring, &fifo).submit();
        // Let it reach a kernel worker and wait there for a reader.
        until_worker_blocked_in(&ring, "wait_for_partner").await;
        match open.cancel().await {
            CancelOutcome::Cancelled(()) => {}
            CancelOutcome::Completed(file) => panic!("nobody read the FIFO: {file:?}"),
        }
        assert_eq!(fds.files_open(), 0, "no descriptor was opened");
    });
    let stats = ring.stats();
    assert_eq!((stats.in_flight, stats.fds_closed), (0, 0), "{stats:?}");
    assert_usable(&ring);
    drop(ring);
    fds.finish();
}

#[test]
fn open_at_cancel_after_open_completed_is_completed_with_file() {
    let dir = TempDir::new("open-cancel-late");
    let fds = FdCheck::start_in(dir.path());
    let ring = ring(DropPolicy::Panic);
    let path = dir.join("file");
    std::fs::write(&path, b"kept").unwrap();
    ring.block_on(async {
        let open = File::open(&ring, &path).submit();
        // The kernel opens it before the cancel is even asked for.
        until_reaped(&ring).await;
        let file = match open.cancel().await {
            CancelOutcome::Completed(file) => file.unwrap(),
            CancelOutcome::Cancelled(()) => panic!("the open had finished: it was lost"),
        };
        let (n, buf) = file.read_at(Vec::with_capacity(8), 0).await;
        assert_eq!(&buf[..n.unwrap()], b"kept", "the file is usable");
        file.close().await.unwrap();
    });
    assert_eq!(
        ring.stats().fds_closed,
        0,
        "the file was handed over, not closed"
    );
    drop(ring);
    fds.finish();
}

#[test]
fn open_at_cancel_racing_reader_arrival_is_completed_with_file() {
    let dir = TempDir::new("open-cancel-race");
    let fds = FdCheck::start_in(dir.path());
    let ring = ring(DropPolicy::Panic);
    let fifo = dir.join("fifo");
    mkfifo(&fifo);
    ring.block_on(async {
        let open = fifo_writer_options().open(&ring, &fifo).submit();
        until_worker_blocked_in(&ring, "wait_for_partner").await;
        // A reader arrives: the waiting open has its partner, and finishes as soon as
        // its worker runs, even if the cancel reaches it first (the FIFO checks for
        // its partner before it checks for the cancel's signal). The cancel is
        // asked for before the ring has reaped that completion.
        let reader = fifo_reader(&fifo);
        let writer = match open.cancel().await {
            CancelOutcome::Completed(file) => file.unwrap(),
            CancelOutcome::Cancelled(()) => panic!("the open lost to the cancel"),
        };
        let (written, _) = writer.write_all(&b"hello fifo"[..]).await;
        written.unwrap();
        writer.close().await.unwrap();
        let mut got = Vec::new();
        io::Read::read_to_end(&mut &reader, &mut got).unwrap();
        assert_eq!(got, b"hello fifo");
    });
    assert_eq!(ring.stats().fds_closed, 0);
    drop(ring);
    fds.finish();
}

#[test]
fn open_at_missing_file_cancel_is_completed_with_not_found() {
    let dir = TempDir::new("open-cancel-error");
    let fds = FdCheck::start_in(dir.path());
    let ring = ring(DropPolicy::Panic);
    ring.block_on(async {
        let open = File::open(&ring, dir.join("missing")).submit();
        until_reaped(&ring).await;
        match open.cancel().await {
            CancelOutcome::Completed(Err(err)) => {
                assert_eq!(err.kind(), io::ErrorKind::NotFound, "{err}")
            }
            other => panic!("the open had failed first: {other:?}"),
        }
    });
    drop(ring);
    fds.finish();
}

#[test]
fn open_at_abandoned_after_open_completed_closes_descriptor_and_counts_it() {
    let dir = TempDir::new("open-abandoned-late");
    let fds = FdCheck::start_in(dir.path());
    let ring = ring(DropPolicy::Reclaim);
    let path = dir.join("file");
    std::fs::write(&path, b"").unwrap();
    ring.block_on(async {
        let open = File::open(&ring, &path).submit();
        until_reaped(&ring).await;
        // The kernel opened the file, and nobody will claim it.
        drop(open);
        assert_eq!(fds.files_open(), 0, "closed when the token was dropped");
    });
    let stats = ring.stats();
    assert_eq!(stats.abandoned, 1, "{stats:?}");
    assert_eq!(stats.fds_closed, 1, "{stats:?}");
    assert_eq!(stats.in_flight, 0, "{stats:?}");
    drop(ring);
    fds.finish();
}

#[test]
fn open_at_abandoned_while_waiting_closes_descriptor_opened_later() {
    let dir = TempDir::new("open-abandoned-waiting");
    let fds = FdCheck::start_in(dir.path());
    let ring = ring(DropPolicy::Reclaim);
    let fifo = dir.join("fifo");
    mkfifo(&fifo);
    ring.block_on(async {
        let open = fifo_writer_options().open(&ring, &fifo).submit();
        until_worker_blocked_in(&ring, "wait_for_partner").await;
        drop(open);
        // The reader arrives before the ring enters the kernel with the drop's
        // cancel: the worker opens the FIFO anyway, for nobody.
        let reader = fifo_reader(&fifo);
        until_reaped(&ring).await;
        let stats = ring.stats();
        assert_eq!(stats.in_flight, 0, "{stats:?}");
        assert_eq!(
            stats.fds_closed, 1,
            "the late descriptor was closed: {stats:?}"
        );
        assert_eq!(fds.files_open(), 1, "only the reader is left");
        drop(reader);
    });
    drop(ring);
    fds.finish();
}

#[test]
fn open_at_abandoned_while_waiting_is_cancelled_nothing_leaks() {
    let dir = TempDir::new("open-abandoned-cancelled");
    let fds = FdCheck::start_in(dir.path());
    let ring = ring(DropPolicy::Reclaim);
    let fifo = dir.join("fifo");
    mkfifo(&fifo);
    ring.block_on(async {
        let open = fifo_writer_options().open(&ring, &fifo).submit();
        until_worker_blocked_in(&ring, "wait_for_partner").await;
        drop(open);
        until_reaped(&ring).await;
    });
    let stats = ring.stats();
    assert_eq!(stats.in_flight, 0, "the cancel stopped the wait: {stats:?}");
    assert_eq!((stats.abandoned, stats.fds_closed), (1, 0), "{stats:?}");
    // The FIFO has no writer waiting any more: a reader sees end of file at once.
    let reader = fifo_reader(&fifo);
    let mut got = Vec::new();
    io::Read::read_to_end(&mut &reader, &mut got).unwrap();
    assert!(got.is_empty());
    drop((reader, ring));
    fds.finish();
}

#[test]
fn open_at_waiting_on_fifo_with_deadline_expires_cancelled() {
    let dir = TempDir::new("open-deadline");
    let fds = FdCheck::start_in(dir.path());
    let ring = ring(DropPolicy::Panic);
    let fifo = dir.join("fifo");
    mkfifo(&fifo);
    ring.block_on(async {
        let open = fifo_writer_options().open(&ring, &fifo).submit();
        match deadline(open, ring.sleep(Duration::from_millis(20))).await {
            Err(Expired { residue: () }) => {}
            Ok(file) => panic!("nobody read the FIFO: {file:?}"),
        }
    });
    assert_eq!(ring.stats().fds_closed, 0);
    assert_usable(&ring);
    drop(ring);
    fds.finish();
}

/// Pins a kernel behaviour that `OpenAt`'s docs describe: on Linux 6.18 a linked
/// timeout never fires for an open waiting in a kernel worker (the timer is not
/// armed; the raw io-uring crate shows the same), so only a cancel stops it. If this
/// fails, the kernel fires it now: update `OpenAt`'s docs.
#[test]
fn open_at_waiting_on_fifo_linked_timeout_does_not_fire() {
    let dir = TempDir::new("open-linked-timeout");
    let fds = FdCheck::start_in(dir.path());
    let ring = ring(DropPolicy::Panic);
    let fifo = dir.join("fifo");
    mkfifo(&fifo);
    ring.block_on(async {
        let open = fifo_writer_options()
            .open(&ring, &fifo)
            .timeout(Duration::from_millis(10))
            .submit();
        match race(open, ring.sleep(Duration::from_millis(200))).await {
            Raced::Second(open, Ok(())) => {
                let outcome = open.cancel().await;
                assert!(outcome.is_cancelled(), "{outcome:?}");
            }
            Raced::First(result, _sleep) => panic!(
                "the linked timeout cut the waiting open off ({:?}): the kernel arms it \
                 now; update OpenAt's docs",
                result.map(drop)
            ),
            Raced::Second(_open, Err(err)) => panic!("the sleep failed: {err}"),
        }
    });
    assert_usable(&ring);
    drop(ring);
    fds.finish();
}

#[test]
fn open_at_abandoned_at_ring_drop_is_reaped_nothing_leaks() {
    let dir = TempDir::new("open-ring-drop");
    let fds = FdCheck::start_in(dir.path());
    let ring = ring(DropPolicy::Panic);
    let fifo = dir.join("fifo");
    mkfifo(&fifo);
    let open = fifo_writer_options().open(&ring, &fifo).submit();
    ring.block_on(until_worker_blocked_in(&ring, "wait_for_partner"));
    // The ring shuts down with the open waiting in a worker: it cancels and reaps
    // it (and the drop policy does not fire during shutdown).
    drop(ring);
    drop(open);
    fds.finish();
}
