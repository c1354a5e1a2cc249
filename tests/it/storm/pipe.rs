//! Pipes in the storm: the subject reads or writes one end with random fates, the peer
//! task the other end, always completing its ops.

use std::cell::RefCell;
use std::os::fd::{FromRawFd, OwnedFd};
use std::rc::Rc;

use linear_uring::fs::File;

use super::check::{stream_bytes, Rng, SendLog};
use super::fate::{self, Fate};
use super::io::{self, Inbound};
use super::{Ctx, Label};

/// A close-on-exec pipe: (read end, write end).
pub(crate) fn pipe() -> (OwnedFd, OwnedFd) {
    let mut fds = [-1; 2];
    // SAFETY: pipe2(2) writes two descriptors into the array, which outlives the call.
    let rc = unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) };
    assert_eq!(rc, 0, "pipe2: {}", std::io::Error::last_os_error());
    // SAFETY: pipe2 succeeded: both are new descriptors that nothing else owns.
    unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) }
}

pub(super) async fn unit(ctx: Rc<Ctx>, index: u64) {
    let mut rng = Rng::derive(ctx.seed, &[Label::Pipe as u64, index]);
    let (read, write) = pipe();
    let reader = File::from_fd(&ctx.ring, read).expect("from_fd");
    let writer = File::from_fd(&ctx.ring, write).expect("from_fd");
    let key = rng.next_u64();
    let pace = Rng::derive(ctx.seed, &[Label::PipePeer as u64, index]);
    let steps = 4 + rng.below(9);
    let never_reset = || false;
    if rng.chance(50) {
        let total = rng.size(64 * 1024) as u64;
        let peer = ctx
            .ring
            .spawn(peer_writer(ctx.clone(), writer, key, total, pace));
        let mut inbound = Inbound::new(key);
        for _ in 0..steps {
            if rng.chance(80) {
                let (capacity, fate) = (rng.size(8192), Fate::draw(&mut rng));
                let read = |b| reader.read(b);
                io::receive(&ctx, &mut inbound, read, capacity, fate, never_reset)
                    .await
                    .expect("a pipe is never reset");
            } else {
                fate::timer(&ctx, &mut rng).await;
            }
        }
        while !inbound.eof {
            let read = |b| reader.read(b);
            io::receive(&ctx, &mut inbound, read, 16384, Fate::Complete, never_reset)
                .await
                .expect("a pipe is never reset");
        }
        if let Err(msg) = inbound.check.end(total) {
            ctx.fail(format!("pipe {index}: {msg}"));
        }
        let delivered = inbound.check.delivered();
        ctx.tally(|t| {
            t.bytes_read += delivered;
            t.bytes_lost += total - delivered;
        });
        reader.close().await.expect("close");
        peer.await;
    } else {
        let log = Rc::new(RefCell::new(SendLog::new(key)));
        let peer = ctx
            .ring
            .spawn(peer_reader(ctx.clone(), reader, log.clone(), pace));
        for _ in 0..steps {
            if rng.chance(80) {
                let (len, fate) = (rng.size(8192), Fate::draw(&mut rng));
                let write = |b| writer.write(b);
                io::send(&ctx, &log, write, len, fate, never_reset)
                    .await
                    .expect("a pipe is never reset");
            } else {
                fate::timer(&ctx, &mut rng).await;
            }
        }
        // The end of the stream: the reader sees it once the last reference to the
        // write end is gone, which abandoned writes could delay (they were waited for).
        writer.close().await.expect("close");
        peer.await;
    }
    ctx.tally(|t| t.pipes += 1);
}

async fn peer_writer(ctx: Rc<Ctx>, writer: File, key: u64, total: u64, mut pace: Rng) {
    let mut offset = 0;
    while offset < total {
        let len = (pace.size(16384) as u64).min(total - offset);
        let (written, _) = writer
            .write_all(stream_bytes(key, offset, len as usize))
            .await;
        written.unwrap_or_else(|e| ctx.fail(format!("pipe peer write: {e}")));
        offset += len;
        if pace.chance(20) {
            ctx.ring.sleep(pace.micros(1000)).await.expect("timer");
        }
    }
    writer.close().await.expect("close");
}

async fn peer_reader(ctx: Rc<Ctx>, reader: File, log: Rc<RefCell<SendLog>>, mut pace: Rng) {
    let mut received = Vec::new();
    loop {
        let (n, buf) = reader
            .read(Vec::with_capacity(16384))
            .submit()
            .complete()
            .await;
        match n.unwrap_or_else(|e| ctx.fail(format!("pipe peer read: {e}"))) {
            0 => break,
            n => received.extend_from_slice(&buf[..n]),
        }
        if pace.chance(30) {
            ctx.ring.sleep(pace.micros(2000)).await.expect("timer");
        }
    }
    reader.close().await.expect("close");
    let log = log.borrow();
    if let Err(msg) = log.verify(&received, true) {
        ctx.fail(format!("pipe: {msg}"));
    }
    let (len, sure) = (received.len() as u64, log.sure_bytes());
    ctx.tally(|t| {
        t.bytes_received += len;
        t.bytes_sure += sure;
    });
}
