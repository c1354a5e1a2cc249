//! Pipes under injected panics: the subject task reads or writes one end with random
//! fates, the peer task the other end, both with counted buffers, so either may be
//! killed by a panic injected into its poll.
//!
//! A survivor checks what it can: every byte a reader got sits at its stream position;
//! a reader whose writer lived saw the whole stream; a writer's bytes verify against
//! its send log, whole unless the writer was killed.

use std::cell::RefCell;
use std::rc::Rc;

use linear_uring::fs::File;

use super::{Link, Round};
use crate::storm::check::{stream_bytes, Rng, SendLog};
use crate::storm::fate::{self, Fate};
use crate::storm::io::{self, is_reset, Inbound};
use crate::storm::pipe::pipe;
use crate::storm::Label;

/// Spawns the two tasks of pipe `index`.
pub(super) fn unit(round: &Rc<Round>, index: u64) {
    let ctx = &round.ctx;
    let mut rng = Rng::derive(ctx.seed, &[Label::Pipe as u64, index]);
    let (read, write) = pipe();
    let reader = File::from_fd(&ctx.ring, read).expect("from_fd");
    let writer = File::from_fd(&ctx.ring, write).expect("from_fd");
    let key = rng.next_u64();
    let pace = Rng::derive(ctx.seed, &[Label::PipePeer as u64, index]);
    let link = Rc::new(Link::default());
    let (subject, peer) = if rng.chance(50) {
        let total = rng.size(64 * 1024) as u64;
        let subject = round.spawn("pipe reader", |_| {
            subject_reader(round.clone(), link.clone(), reader, key, total, rng)
        });
        let peer = round.spawn("pipe peer writer", |_| {
            peer_writer(round.clone(), link.clone(), writer, key, total, pace)
        });
        (subject, peer)
    } else {
        let log = Rc::new(RefCell::new(SendLog::new(key)));
        let subject = round.spawn("pipe writer", |_| {
            subject_writer(round.clone(), link.clone(), writer, log.clone(), rng)
        });
        let peer = round.spawn("pipe peer reader", |_| {
            peer_reader(round.clone(), link.clone(), reader, log, pace)
        });
        (subject, peer)
    };
    // Neither task has run yet: both learn the other's id before their first poll.
    link.subject.set(Some(subject));
    link.peer.set(Some(peer));
    round.tally(|t| t.pipes += 1);
}

async fn subject_reader(
    round: Rc<Round>,
    link: Rc<Link>,
    reader: File,
    key: u64,
    total: u64,
    mut rng: Rng,
) {
    let ctx = &round.ctx;
    let never_reset = || false;
    let mut inbound = Inbound::new(key);
    for _ in 0..4 + rng.below(9) {
        if rng.chance(80) {
            let (capacity, fate) = (rng.size(8192), Fate::draw(&mut rng));
            let read = |b| reader.read(b);
            io::receive(ctx, &mut inbound, read, capacity, fate, never_reset)
                .await
                .expect("a pipe is never reset");
        } else {
            fate::timer(ctx, &mut rng).await;
        }
    }
    while !inbound.eof {
        let read = |b| reader.read(b);
        io::receive(ctx, &mut inbound, read, 16384, Fate::Complete, never_reset)
            .await
            .expect("a pipe is never reset");
    }
    reader.close().await.expect("close");
    // A killed writer ends the stream early: only the bytes received are checked.
    let whole = !link.peer_hit();
    if whole {
        if let Err(msg) = inbound.check.end(total) {
            ctx.fail(format!("pipe: {msg}"));
        }
    }
    let delivered = inbound.check.delivered();
    ctx.tally(|t| t.bytes_read += delivered);
}

async fn peer_writer(
    round: Rc<Round>,
    link: Rc<Link>,
    writer: File,
    key: u64,
    total: u64,
    mut pace: Rng,
) {
    let ctx = &round.ctx;
    let mut offset = 0;
    while offset < total {
        let len = (pace.size(16384) as u64).min(total - offset);
        let buf = ctx.ledger.filled(stream_bytes(key, offset, len as usize));
        match writer.write_all(buf).await {
            (Ok(()), _) => {}
            // The reader was killed: its end is closed.
            (Err(e), _) if is_reset(&e) && link.subject_hit() => break,
            (Err(e), _) => ctx.fail(format!("pipe peer write: {e}")),
        }
        offset += len;
        if pace.chance(20) {
            ctx.ring.sleep(pace.micros(1000)).await.expect("timer");
        }
    }
    writer.close().await.expect("close");
}

async fn subject_writer(
    round: Rc<Round>,
    link: Rc<Link>,
    writer: File,
    log: Rc<RefCell<SendLog>>,
    mut rng: Rng,
) {
    let ctx = &round.ctx;
    let reader_killed = || link.peer_hit();
    for _ in 0..4 + rng.below(9) {
        if rng.chance(80) {
            let (len, fate) = (rng.size(8192), Fate::draw(&mut rng));
            let write = |b| writer.write(b);
            if io::send(ctx, &log, write, len, fate, reader_killed)
                .await
                .is_err()
            {
                break;
            }
        } else {
            fate::timer(ctx, &mut rng).await;
        }
    }
    writer.close().await.expect("close");
}

async fn peer_reader(
    round: Rc<Round>,
    link: Rc<Link>,
    reader: File,
    log: Rc<RefCell<SendLog>>,
    mut pace: Rng,
) {
    let ctx = &round.ctx;
    let mut received = Vec::new();
    loop {
        let buf = ctx.ledger.empty(16384);
        match reader.read(buf).submit().complete().await {
            (Ok(0), _) => break,
            (Ok(n), buf) => received.extend_from_slice(&buf.as_slice()[..n]),
            (Err(e), _) => ctx.fail(format!("pipe peer read: {e}")),
        }
        if pace.chance(30) {
            ctx.ring.sleep(pace.micros(2000)).await.expect("timer");
        }
    }
    reader.close().await.expect("close");
    // A killed writer may have had a write in flight, not in its log.
    let whole = !link.subject_hit();
    if let Err(msg) = log.borrow().verify(&received, whole) {
        ctx.fail(format!("pipe: {msg}"));
    }
    let len = received.len() as u64;
    ctx.tally(|t| t.bytes_received += len);
}
