//! Loopback TCP in the storm.
//!
//! Every connection has a subject side, whose operations get random fates, and a peer
//! side, whose operations are always completed. In a server group the subject is the
//! accepting side (accepts with random fates) and the peers are clients; in a client
//! group the subject connects (connects with random fates) to a listening peer.
//!
//! The subject first sends a 16-byte greeting, which is how a peer tells a served
//! connection from one the ring closed: a client whose connection was taken by an
//! abandoned accept, or a connection left over by a cancelled or abandoned connect,
//! sees the end of the stream before any greeting.

use std::cell::Cell;
use std::net::{Shutdown, SocketAddr};
use std::os::fd::AsRawFd;
use std::rc::Rc;
use std::time::Duration;

use futures_lite::future;
use linear_uring::net::{TcpListener, TcpStream};
use linear_uring::{race, CancelOutcome, Raced};

use super::check::{mix, stream_bytes, Rng, SendLog};
use super::fate::{self, timed_out, Fate, Outcome};
use super::io::{self, Inbound};
use super::{ConnId, Ctx, Label, PeerPlan};

pub(super) const GREETING: usize = 16;
/// How often an accept loop that must not give up looks at whether it is done.
pub(super) const TICK: Duration = Duration::from_millis(2);

/// The keys of a connection's two streams: the subject's and the peer's.
pub(super) fn keys(ctx: &Ctx, id: ConnId) -> (u64, u64) {
    let conn = u64::from(id.listener) << 16 | u64::from(id.client);
    let base = mix(ctx.seed ^ mix(conn));
    (mix(base ^ 1), mix(base ^ 2))
}

/// A subject-side accept loop with `clients` peers connecting.
pub(crate) async fn server_group(ctx: Rc<Ctx>, group: u64, clients: u64) {
    let listener = TcpListener::bind(&ctx.ring, (ctx.ip, 0))
        .unwrap_or_else(|e| ctx.fail(format!("bind {}: {e}", ctx.ip)));
    let addr = listener.local_addr().expect("local_addr");
    let lost = Rc::new(Cell::new(0));
    for index in 0..clients {
        ctx.spawn(peer_client(ctx.clone(), group, index, addr, lost.clone()));
    }
    let mut rng = Rng::derive(ctx.seed, &[Label::ServerGroup as u64, group]);
    let mut served = 0;
    let done = |served: u64| served + lost.get() == clients;
    while !done(served) {
        let accepted = match Fate::draw(&mut rng) {
            // Wait for a connection, but look up now and then: the remaining clients
            // may all have been lost to abandoned accepts.
            Fate::Complete => accept_until(&ctx, &listener, || done(served)).await,
            other => match fate::run(&ctx, listener.accept(), other).await {
                Outcome::Output(Ok(accepted)) => Some(accepted),
                Outcome::Output(Err(e)) if timed_out(&e) => None,
                Outcome::Output(Err(e)) => ctx.fail(format!("{other:?} accept failed: {e}")),
                Outcome::Cancelled(()) | Outcome::Abandoned => None,
            },
        };
        if let Some((stream, peer)) = accepted {
            served += 1;
            let id = ConnId {
                listener: addr.port(),
                client: peer.port(),
            };
            let rng = Rng::derive(ctx.seed, &[Label::ServerConn as u64, group, served]);
            ctx.spawn(subject(ctx.clone(), stream, id, rng));
        }
    }
    ctx.tally(|t| t.served += served);
    ctx.keep_listener(listener, true);
}

/// An accept completed normally, or cancelled once `done` says nobody is left.
async fn accept_until(
    ctx: &Ctx,
    listener: &TcpListener,
    done: impl Fn() -> bool,
) -> Option<(TcpStream, SocketAddr)> {
    ctx.tally(|t| t.ops += 1);
    let mut accept = listener.accept().submit();
    loop {
        match race(accept, ctx.ring.sleep(TICK)).await {
            Raced::First(accepted, _) => {
                return Some(accepted.unwrap_or_else(|e| ctx.fail(format!("accept: {e}"))))
            }
            Raced::Second(pending, _) if done() => {
                return match pending.cancel().await {
                    CancelOutcome::Cancelled(()) => None,
                    CancelOutcome::Completed(accepted) => ctx.fail(format!(
                        "every client was served or lost, yet an accept completed: {:?}",
                        accepted.map(|(_, peer)| peer)
                    )),
                };
            }
            Raced::Second(pending, _) => accept = pending,
        }
    }
}

/// A peer client of a server group.
async fn peer_client(ctx: Rc<Ctx>, group: u64, index: u64, addr: SocketAddr, lost: Rc<Cell<u64>>) {
    let mut rng = Rng::derive(ctx.seed, &[Label::PeerClient as u64, group, index]);
    let plan = PeerPlan::draw(&mut rng);
    let connect = TcpStream::connect(&ctx.ring, addr).expect("socket");
    let stream = connect
        .submit()
        .complete()
        .await
        .unwrap_or_else(|e| ctx.fail(format!("peer connect: {e}")));
    let id = ConnId {
        listener: addr.port(),
        client: stream.local_addr().expect("local_addr").port(),
    };
    if !peer(&ctx, stream, id, plan).await {
        // The subject's accept was abandoned after the kernel had accepted this
        // connection: the ring closed it.
        lost.set(lost.get() + 1);
        ctx.tally(|t| t.lost_clients += 1);
    }
}

/// A subject-side client group: connects with random fates to a listening peer.
pub(crate) async fn client_group(ctx: Rc<Ctx>, group: u64, clients: u64) {
    let listener = TcpListener::bind(&ctx.ring, (ctx.ip, 0))
        .unwrap_or_else(|e| ctx.fail(format!("bind {}: {e}", ctx.ip)));
    let addr = listener.local_addr().expect("local_addr");
    let finished = Rc::new(Cell::new(0));
    for index in 0..clients {
        ctx.spawn(subject_client(
            ctx.clone(),
            group,
            index,
            addr,
            finished.clone(),
        ));
    }
    // The peer: accepts everything, until every subject client has finished.
    let mut accepted = 0;
    let mut accept = listener.accept().submit();
    loop {
        match race(accept, ctx.ring.sleep(TICK)).await {
            Raced::First(result, _) => {
                let (stream, peer_addr) =
                    result.unwrap_or_else(|e| ctx.fail(format!("peer accept: {e}")));
                accepted += 1;
                ctx.spawn(peer_server(
                    ctx.clone(),
                    group,
                    accepted,
                    stream,
                    addr,
                    peer_addr,
                ));
                accept = listener.accept().submit();
            }
            Raced::Second(pending, _) if finished.get() == clients => {
                if let CancelOutcome::Completed(result) = pending.cancel().await {
                    let (stream, peer_addr) =
                        result.unwrap_or_else(|e| ctx.fail(format!("peer accept: {e}")));
                    accepted += 1;
                    ctx.spawn(peer_server(
                        ctx.clone(),
                        group,
                        accepted,
                        stream,
                        addr,
                        peer_addr,
                    ));
                }
                break;
            }
            Raced::Second(pending, _) => accept = pending,
        }
    }
    ctx.keep_listener(listener, false);
}

async fn subject_client(
    ctx: Rc<Ctx>,
    group: u64,
    index: u64,
    addr: SocketAddr,
    finished: Rc<Cell<u64>>,
) {
    let mut rng = Rng::derive(ctx.seed, &[Label::Client as u64, group, index]);
    let mut attempts = 0;
    let stream = loop {
        attempts += 1;
        let fate = if attempts > 6 {
            Fate::Complete
        } else {
            Fate::draw(&mut rng)
        };
        let connect = TcpStream::connect(&ctx.ring, addr).expect("socket");
        match fate::run(&ctx, connect, fate).await {
            Outcome::Output(Ok(stream)) => break stream,
            Outcome::Output(Err(e)) if timed_out(&e) => {}
            Outcome::Output(Err(e)) => ctx.fail(format!("{fate:?} connect failed: {e}")),
            Outcome::Cancelled(()) => {}
            Outcome::Abandoned => ctx.tally(|t| t.abandoned_connects += 1),
        }
    };
    let id = ConnId {
        listener: addr.port(),
        client: stream.local_addr().expect("local_addr").port(),
    };
    let rng = Rng::derive(ctx.seed, &[Label::ClientConn as u64, group, index]);
    subject(ctx.clone(), stream, id, rng).await;
    finished.set(finished.get() + 1);
}

/// A peer server of a client group.
async fn peer_server(
    ctx: Rc<Ctx>,
    group: u64,
    index: u64,
    stream: TcpStream,
    addr: SocketAddr,
    peer_addr: SocketAddr,
) {
    let mut rng = Rng::derive(ctx.seed, &[Label::PeerServer as u64, group, index]);
    let plan = PeerPlan::draw(&mut rng);
    let id = ConnId {
        listener: addr.port(),
        client: peer_addr.port(),
    };
    if !peer(&ctx, stream, id, plan).await {
        // Left behind by a connect that was cancelled or abandoned after the kernel
        // had connected it.
        ctx.tally(|t| t.stale += 1);
    }
}

/// The subject side of a connection: its greeting, then random steps with random
/// fates, then the end of its stream and a read of the peer's stream to its end.
async fn subject(ctx: Rc<Ctx>, stream: TcpStream, id: ConnId, mut rng: Rng) {
    let (out_key, in_key) = keys(&ctx, id);
    let log = Rc::new(std::cell::RefCell::new(SendLog::new(out_key)));
    ctx.conn(id, |c| c.subject_log = Some(log.clone()));
    if rng.chance(50) {
        // A small send buffer makes sends wait for the peer, so cancels find them
        // in the kernel.
        set_int_option(&stream, libc::SOL_SOCKET, libc::SO_SNDBUF, 4096);
    }
    let (sent, _) = stream.send_all(stream_bytes(out_key, 0, GREETING)).await;
    sent.unwrap_or_else(|e| ctx.fail(format!("greeting: {e}")));
    log.borrow_mut().sent(GREETING as u64);
    let may_reset = || ctx.conn(id, |c| c.peer.is_some_and(|p| p.reset.is_some()));
    let mut inbound = Inbound::new(in_key);
    let steps = 4 + rng.below(9);
    let mut reset = Ok(());
    for _ in 0..steps {
        reset = match rng.below(10) {
            0..=3 => {
                let (len, fate) = (rng.size(8192), Fate::draw(&mut rng));
                io::send(&ctx, &log, |b| stream.send(b), len, fate, may_reset).await
            }
            4..=7 => {
                let (capacity, fate) = (rng.size(8192), Fate::draw(&mut rng));
                let recv = |b| stream.recv(b);
                io::receive(&ctx, &mut inbound, recv, capacity, fate, may_reset).await
            }
            _ => {
                fate::timer(&ctx, &mut rng).await;
                Ok(())
            }
        };
        if reset.is_err() {
            break;
        }
    }
    if reset.is_ok() {
        let shutdown = stream.shutdown(Shutdown::Write).submit().complete().await;
        match shutdown {
            Err(e) if !(io::is_reset(&e) && may_reset()) => {
                ctx.fail(format!("shutdown: {e}"));
            }
            _ => {}
        }
    }
    while reset.is_ok() && !inbound.eof {
        let recv = |b| stream.recv(b);
        reset = io::receive(&ctx, &mut inbound, recv, 16384, Fate::Complete, may_reset).await;
    }
    stream
        .close()
        .await
        .unwrap_or_else(|e| ctx.fail(format!("close: {e}")));
    let plan = ctx.conn(id, |c| c.peer).unwrap_or_else(|| {
        ctx.fail(format!(
            "{id:?}: the subject finished, but no peer served it"
        ))
    });
    if plan.reset.is_none() {
        if let Err(msg) = inbound.check.end(plan.total) {
            ctx.fail(msg);
        }
    }
    let delivered = inbound.check.delivered();
    ctx.tally(|t| {
        t.bytes_read += delivered;
        if plan.reset.is_none() {
            t.bytes_lost += plan.total - delivered;
        }
    });
    ctx.conn(id, |c| c.subject_done = true);
}

/// The peer side: reads the greeting, then sends its stream and reads the subject's,
/// always completing its ops, and checks what it read against the subject's send log.
/// Returns false if the ring had closed the other end before any greeting.
async fn peer(ctx: &Ctx, stream: TcpStream, id: ConnId, plan: PeerPlan) -> bool {
    let mut received = Vec::new();
    while received.len() < GREETING {
        let want = Vec::with_capacity(GREETING - received.len());
        match stream.recv(want).submit().complete().await {
            (Ok(0), _) | (Err(_), _) => break,
            (Ok(n), buf) => received.extend_from_slice(&buf[..n]),
        }
    }
    if received.len() < GREETING {
        if !received.is_empty() {
            ctx.fail(format!("{id:?}: the connection ended inside the greeting"));
        }
        stream.close().await.expect("close");
        return false;
    }
    ctx.conn(id, |c| c.peer = Some(plan));
    let (in_key, out_key) = keys(ctx, id);
    let mut pace = Rng::derive(plan.pace, &[]);
    if let Some((reset_at, delay)) = plan.reset {
        let (sent, _) = stream.send_all(stream_bytes(out_key, 0, reset_at)).await;
        sent.unwrap_or_else(|e| ctx.fail(format!("peer send before reset: {e}")));
        ctx.ring.sleep(delay).await.expect("timer");
        // SO_LINGER 0: closing sends a reset instead of ending the stream.
        let linger = libc::linger {
            l_onoff: 1,
            l_linger: 0,
        };
        set_option(&stream, libc::SOL_SOCKET, libc::SO_LINGER, &linger);
        stream.close().await.expect("close");
        ctx.tally(|t| t.resets += 1);
        ctx.conn(id, |c| c.peer_done = true);
        return true;
    }
    let mut write_pace = Rng::derive(plan.pace, &[1]);
    let writer = async {
        let mut offset = 0;
        while offset < plan.total {
            let len = (write_pace.size(16384) as u64).min(plan.total - offset);
            let (sent, _) = stream
                .send_all(stream_bytes(out_key, offset, len as usize))
                .await;
            sent.unwrap_or_else(|e| ctx.fail(format!("{id:?}: peer send: {e}")));
            offset += len;
            if write_pace.chance(20) {
                ctx.ring
                    .sleep(write_pace.micros(1000))
                    .await
                    .expect("timer");
            }
        }
        let shutdown = stream.shutdown(Shutdown::Write).submit().complete().await;
        shutdown.unwrap_or_else(|e| ctx.fail(format!("{id:?}: peer shutdown: {e}")));
    };
    let reader = async {
        loop {
            let (n, buf) = stream
                .recv(Vec::with_capacity(16384))
                .submit()
                .complete()
                .await;
            match n.unwrap_or_else(|e| ctx.fail(format!("{id:?}: peer recv: {e}"))) {
                0 => break,
                n => received.extend_from_slice(&buf[..n]),
            }
            if pace.chance(20) {
                ctx.ring.sleep(pace.micros(1000)).await.expect("timer");
            }
        }
    };
    future::zip(writer, reader).await;
    stream.close().await.expect("close");
    let log = ctx
        .conn(id, |c| c.subject_log.clone())
        .unwrap_or_else(|| ctx.fail(format!("{id:?}: no subject registered")));
    let log = log.borrow();
    debug_assert_eq!(log.key(), in_key);
    if let Err(msg) = log.verify(&received, true) {
        ctx.fail(format!("{id:?}: {msg}"));
    }
    let (len, sure) = (received.len() as u64, log.sure_bytes());
    ctx.tally(|t| {
        t.bytes_received += len;
        t.bytes_sure += sure;
    });
    ctx.conn(id, |c| c.peer_done = true);
    true
}

pub(super) fn set_int_option(
    stream: &TcpStream,
    level: libc::c_int,
    name: libc::c_int,
    value: libc::c_int,
) {
    set_option(stream, level, name, &value);
}

pub(super) fn set_option<T>(stream: &TcpStream, level: libc::c_int, name: libc::c_int, value: &T) {
    // SAFETY: passes a live value and its exact size; the descriptor is open while
    // `stream` holds it.
    let rc = unsafe {
        libc::setsockopt(
            stream.as_raw_fd(),
            level,
            name,
            (value as *const T).cast(),
            std::mem::size_of::<T>() as libc::socklen_t,
        )
    };
    assert_eq!(rc, 0, "setsockopt: {}", std::io::Error::last_os_error());
}
