//! Loopback TCP under injected panics, shaped like the storm's: server groups whose
//! accepts get random fates, client groups whose connects do, and on each connection a
//! subject with random fates against a peer that always completes its ops. Every
//! side uses counted buffers, so any task may be killed by a panic injected into its
//! poll.
//!
//! A killed task's socket is closed as it unwinds, so the other side sees the end of
//! the stream or a reset early. Each connection records which task is its subject and
//! which its peer; a side excuses an early end only when the other was hit, and checks
//! everything else as the storm does.

use std::cell::{Cell, RefCell};
use std::collections::{HashMap, HashSet};
use std::net::{Shutdown, SocketAddr};
use std::rc::Rc;

use futures_lite::future;
use linear_uring::net::{TcpListener, TcpStream};
use linear_uring::{race, CancelOutcome, Raced};

use super::inject::{self, TaskId};
use super::{Link, Round};
use crate::storm::check::{stream_bytes, Rng, SendLog};
use crate::storm::fate::{self, timed_out, Fate, Outcome};
use crate::storm::io::{self, is_reset, Inbound};
use crate::storm::tcp::{keys, set_int_option, set_option, GREETING, TICK};
use crate::storm::{ConnId, Ctx, Label, PeerPlan};

/// One connection, as both sides registered it.
#[derive(Debug, Default)]
pub(super) struct Conn {
    link: Link,
    /// Registered by the peer once it got the greeting.
    plan: Cell<Option<PeerPlan>>,
    /// Registered by the subject before its greeting.
    log: RefCell<Option<Rc<RefCell<SendLog>>>>,
}

/// The tasks of a group: the one that owns its listener, and those it spawned for the
/// other side of its connections. Where a connection has no registered peer, an early
/// end is excused if any of them was hit.
#[derive(Debug)]
struct Group {
    owner: TaskId,
    peers: RefCell<Vec<TaskId>>,
    /// Each peer client's port, once connected (server groups).
    ports: RefCell<HashMap<TaskId, u16>>,
}

impl Group {
    fn new(owner: TaskId) -> Rc<Group> {
        Rc::new(Group {
            owner,
            peers: RefCell::new(Vec::new()),
            ports: RefCell::new(HashMap::new()),
        })
    }

    fn any_hit(&self) -> bool {
        inject::hit(self.owner) || self.peers.borrow().iter().any(|&id| inject::hit(id))
    }
}

/// How a peer's exchange ended.
enum PeerEnd {
    /// Both streams went to their end.
    Served,
    /// The subject was killed: its stream was checked as far as it went.
    Cut,
}

/// A subject-side accept loop with `clients` peers connecting.
pub(super) async fn server_group(round: Rc<Round>, me: TaskId, group: u64, clients: u64) {
    let ctx = &round.ctx;
    let listener = TcpListener::bind(&ctx.ring, (ctx.ip, 0))
        .unwrap_or_else(|e| ctx.fail(format!("bind {}: {e}", ctx.ip)));
    let addr = listener.local_addr().expect("local_addr");
    let members = Group::new(me);
    for index in 0..clients {
        let id = round.spawn("peer client", |peer| {
            peer_client(round.clone(), peer, group, index, addr, members.clone())
        });
        members.peers.borrow_mut().push(id);
    }
    let mut rng = Rng::derive(ctx.seed, &[Label::ServerGroup as u64, group]);
    let accepted = RefCell::new(HashSet::new());
    // Every client was accepted by a completed accept, or is gone: it finished (its
    // connection taken by an abandoned accept) or was killed.
    let done = || {
        let ports = members.ports.borrow();
        members.peers.borrow().iter().all(|id| {
            round.gone(*id) || ports.get(id).is_some_and(|p| accepted.borrow().contains(p))
        })
    };
    while !done() {
        let conn = match Fate::draw(&mut rng) {
            Fate::Complete => accept_until(ctx, &listener, done).await,
            other => match fate::run(ctx, listener.accept(), other).await {
                Outcome::Output(Ok(accepted)) => Some(accepted),
                Outcome::Output(Err(e)) if timed_out(&e) => None,
                Outcome::Output(Err(e)) => ctx.fail(format!("{other:?} accept failed: {e}")),
                Outcome::Cancelled(()) => None,
                // The next accept follows at once: the ring has the kernel finish the
                // abandoned accept's cancel first (a Linux 6.18 lost wake-up, see
                // `halt::accept_abandoned_then_resubmitted_...`).
                Outcome::Abandoned => None,
            },
        };
        if let Some((stream, peer)) = conn {
            accepted.borrow_mut().insert(peer.port());
            let id = ConnId {
                listener: addr.port(),
                client: peer.port(),
            };
            let n = accepted.borrow().len() as u64;
            let rng = Rng::derive(ctx.seed, &[Label::ServerConn as u64, group, n]);
            let group = members.clone();
            round.spawn("server subject", |me| {
                subject(round.clone(), me, stream, id, group, rng)
            });
        }
    }
    listener.close().await.expect("close");
}

/// An accept completed normally, or cancelled once `done`. A connection accepted
/// after that is a killed client's: it is closed.
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
                if let CancelOutcome::Completed(accepted) = pending.cancel().await {
                    let (stream, _) = accepted.unwrap_or_else(|e| ctx.fail(format!("accept: {e}")));
                    stream.close().await.expect("close");
                }
                return None;
            }
            Raced::Second(pending, _) => accept = pending,
        }
    }
}

/// A peer client of a server group.
async fn peer_client(
    round: Rc<Round>,
    me: TaskId,
    group: u64,
    index: u64,
    addr: SocketAddr,
    members: Rc<Group>,
) {
    let ctx = &round.ctx;
    let mut rng = Rng::derive(ctx.seed, &[Label::PeerClient as u64, group, index]);
    let plan = PeerPlan::draw(&mut rng);
    let connect = TcpStream::connect(&ctx.ring, addr).expect("socket");
    let stream = match connect.submit().complete().await {
        Ok(stream) => stream,
        // The server group was killed: its listener is closed.
        Err(e) if refused(&e) && inject::hit(members.owner) => {
            round.tally(|t| t.refused += 1);
            return;
        }
        Err(e) => ctx.fail(format!("peer connect: {e}")),
    };
    let id = ConnId {
        listener: addr.port(),
        client: stream.local_addr().expect("local_addr").port(),
    };
    members.ports.borrow_mut().insert(me, id.client);
    peer(&round, me, stream, id, plan).await;
}

/// Whether a connect failed as it does when its listener is closed before, or while,
/// it connects.
fn refused(err: &std::io::Error) -> bool {
    matches!(
        err.raw_os_error(),
        Some(libc::ECONNREFUSED) | Some(libc::ECONNRESET)
    )
}

/// A subject-side client group: connects with random fates to a listening peer.
pub(super) async fn client_group(round: Rc<Round>, me: TaskId, group: u64, clients: u64) {
    let ctx = &round.ctx;
    let listener = TcpListener::bind(&ctx.ring, (ctx.ip, 0))
        .unwrap_or_else(|e| ctx.fail(format!("bind {}: {e}", ctx.ip)));
    let addr = listener.local_addr().expect("local_addr");
    let members = Group::new(me);
    let subjects: Vec<TaskId> = (0..clients)
        .map(|index| {
            let group_tasks = members.clone();
            round.spawn("client subject", |me| {
                subject_client(round.clone(), me, group, index, addr, group_tasks)
            })
        })
        .collect();
    // The peer: accepts everything, until every subject client is gone.
    let serve = |accepted: (TcpStream, SocketAddr), n: u64| {
        let (stream, peer_addr) = accepted;
        let id = ConnId {
            listener: addr.port(),
            client: peer_addr.port(),
        };
        let rng = Rng::derive(ctx.seed, &[Label::PeerServer as u64, group, n]);
        let peer = round.spawn("peer server", |me| {
            peer_server(round.clone(), me, stream, id, rng)
        });
        members.peers.borrow_mut().push(peer);
    };
    let mut n = 0;
    let mut accept = listener.accept().submit();
    loop {
        match race(accept, ctx.ring.sleep(TICK)).await {
            Raced::First(result, _) => {
                n += 1;
                serve(
                    result.unwrap_or_else(|e| ctx.fail(format!("peer accept: {e}"))),
                    n,
                );
                accept = listener.accept().submit();
            }
            Raced::Second(pending, _) if subjects.iter().all(|&id| round.gone(id)) => {
                if let CancelOutcome::Completed(result) = pending.cancel().await {
                    n += 1;
                    serve(
                        result.unwrap_or_else(|e| ctx.fail(format!("peer accept: {e}"))),
                        n,
                    );
                }
                break;
            }
            Raced::Second(pending, _) => accept = pending,
        }
    }
    listener.close().await.expect("close");
}

async fn subject_client(
    round: Rc<Round>,
    me: TaskId,
    group: u64,
    index: u64,
    addr: SocketAddr,
    members: Rc<Group>,
) {
    let ctx = &round.ctx;
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
        match fate::run(ctx, connect, fate).await {
            Outcome::Output(Ok(stream)) => break stream,
            Outcome::Output(Err(e)) if timed_out(&e) => {}
            // The listening peer was killed.
            Outcome::Output(Err(e)) if refused(&e) && inject::hit(members.owner) => {
                round.tally(|t| t.refused += 1);
                return;
            }
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
    subject(round.clone(), me, stream, id, members, rng).await;
}

/// A peer server of a client group.
async fn peer_server(round: Rc<Round>, me: TaskId, stream: TcpStream, id: ConnId, mut rng: Rng) {
    let plan = PeerPlan::draw(&mut rng);
    peer(&round, me, stream, id, plan).await;
}

/// The subject side of a connection: its greeting, random steps with random fates,
/// the end of its stream, and a read of the peer's stream to its end.
async fn subject(
    round: Rc<Round>,
    me: TaskId,
    stream: TcpStream,
    id: ConnId,
    group: Rc<Group>,
    mut rng: Rng,
) {
    let ctx = &round.ctx;
    let (out_key, in_key) = keys(ctx, id);
    let log = Rc::new(RefCell::new(SendLog::new(out_key)));
    let conn = round.conn(id);
    conn.link.subject.set(Some(me));
    *conn.log.borrow_mut() = Some(log.clone());
    // The peer was killed (or, with no peer registered yet, a task of the group that
    // could be it was).
    let cut = || match conn.link.peer.get() {
        Some(peer) => inject::hit(peer),
        None => group.any_hit(),
    };
    let may_reset = || conn.plan.get().is_some_and(|p| p.reset.is_some()) || cut();
    if rng.chance(50) {
        set_int_option(&stream, libc::SOL_SOCKET, libc::SO_SNDBUF, 4096);
    }
    let greeting = ctx.ledger.filled(stream_bytes(out_key, 0, GREETING));
    let mut reset = match stream.send_all(greeting).await {
        (Ok(()), _) => {
            log.borrow_mut().sent(GREETING as u64);
            Ok(())
        }
        (Err(e), _) if is_reset(&e) && may_reset() => Err(io::Reset),
        (Err(e), _) => ctx.fail(format!("greeting: {e}")),
    };
    let mut inbound = Inbound::new(in_key);
    let steps = 4 + rng.below(9);
    for _ in 0..steps {
        if reset.is_err() {
            break;
        }
        reset = match rng.below(10) {
            0..=3 => {
                let (len, fate) = (rng.size(8192), Fate::draw(&mut rng));
                io::send(ctx, &log, |b| stream.send(b), len, fate, may_reset).await
            }
            4..=7 => {
                let (capacity, fate) = (rng.size(8192), Fate::draw(&mut rng));
                let recv = |b| stream.recv(b);
                io::receive(ctx, &mut inbound, recv, capacity, fate, may_reset).await
            }
            _ => {
                fate::timer(ctx, &mut rng).await;
                Ok(())
            }
        };
    }
    if reset.is_ok() {
        match stream.shutdown(Shutdown::Write).submit().complete().await {
            Err(e) if !(is_reset(&e) && may_reset()) => ctx.fail(format!("shutdown: {e}")),
            _ => {}
        }
    }
    while reset.is_ok() && !inbound.eof {
        let recv = |b| stream.recv(b);
        reset = io::receive(ctx, &mut inbound, recv, 16384, Fate::Complete, may_reset).await;
    }
    stream
        .close()
        .await
        .unwrap_or_else(|e| ctx.fail(format!("close: {e}")));
    if !cut() {
        match conn.plan.get() {
            None => ctx.fail(format!(
                "{id:?}: the subject finished, but no peer served it"
            )),
            Some(plan) if plan.reset.is_none() => {
                if let Err(msg) = inbound.check.end(plan.total) {
                    ctx.fail(format!("{id:?}: {msg}"));
                }
            }
            Some(_) => {}
        }
    }
    let delivered = inbound.check.delivered();
    ctx.tally(|t| t.bytes_read += delivered);
}

/// The peer side: reads the greeting, then sends its stream and reads the subject's,
/// always completing its ops, and checks what it read against the subject's send log
/// (whole, unless the subject was killed).
async fn peer(round: &Round, me: TaskId, stream: TcpStream, id: ConnId, plan: PeerPlan) {
    let ctx = &round.ctx;
    let conn = round.conn(id);
    conn.link.peer.set(Some(me));
    let killed = || conn.link.subject_hit();
    let mut received = Vec::new();
    while received.len() < GREETING {
        let buf = ctx.ledger.empty(GREETING - received.len());
        match stream.recv(buf).submit().complete().await {
            (Ok(0), _) | (Err(_), _) => break,
            (Ok(n), buf) => received.extend_from_slice(&buf.as_slice()[..n]),
        }
    }
    if received.len() < GREETING {
        if !received.is_empty() && !killed() {
            ctx.fail(format!("{id:?}: the connection ended inside the greeting"));
        }
        stream.close().await.expect("close");
        round.tally(|t| t.lost += 1);
        return;
    }
    conn.plan.set(Some(plan));
    let (in_key, out_key) = keys(ctx, id);
    let end = match plan.reset {
        Some((reset_at, delay)) => {
            let buf = ctx.ledger.filled(stream_bytes(out_key, 0, reset_at));
            match stream.send_all(buf).await {
                (Err(e), _) if !killed() => ctx.fail(format!("peer send before reset: {e}")),
                _ => {}
            }
            ctx.ring.sleep(delay).await.expect("timer");
            // SO_LINGER 0: closing sends a reset instead of ending the stream.
            let linger = libc::linger {
                l_onoff: 1,
                l_linger: 0,
            };
            set_option(&stream, libc::SOL_SOCKET, libc::SO_LINGER, &linger);
            stream.close().await.expect("close");
            ctx.tally(|t| t.resets += 1);
            round.tally(|t| t.served += 1);
            return;
        }
        None => exchange(ctx, &stream, id, plan, out_key, &mut received, killed).await,
    };
    stream.close().await.expect("close");
    let log = conn
        .log
        .borrow()
        .clone()
        .unwrap_or_else(|| ctx.fail(format!("{id:?}: no subject registered")));
    let log = log.borrow();
    debug_assert_eq!(log.key(), in_key);
    if let Err(msg) = log.verify(&received, matches!(end, PeerEnd::Served)) {
        ctx.fail(format!("{id:?}: {msg}"));
    }
    ctx.tally(|t| t.bytes_received += received.len() as u64);
    round.tally(|t| match end {
        PeerEnd::Served => t.served += 1,
        PeerEnd::Cut => t.cut += 1,
    });
}

/// Sends the peer's stream and reads the subject's to its end, at once. An error is
/// excused only if the subject was `killed`.
async fn exchange(
    ctx: &Ctx,
    stream: &TcpStream,
    id: ConnId,
    plan: PeerPlan,
    out_key: u64,
    received: &mut Vec<u8>,
    killed: impl Fn() -> bool,
) -> PeerEnd {
    let mut write_pace = Rng::derive(plan.pace, &[1]);
    let mut read_pace = Rng::derive(plan.pace, &[]);
    let writer = async {
        let mut offset = 0;
        while offset < plan.total {
            let len = (write_pace.size(16384) as u64).min(plan.total - offset);
            let buf = ctx
                .ledger
                .filled(stream_bytes(out_key, offset, len as usize));
            match stream.send_all(buf).await {
                (Ok(()), _) => {}
                (Err(_), _) if killed() => return,
                (Err(e), _) => ctx.fail(format!("{id:?}: peer send: {e}")),
            }
            offset += len;
            if write_pace.chance(20) {
                let pause = write_pace.micros(1000);
                ctx.ring.sleep(pause).await.expect("timer");
            }
        }
        match stream.shutdown(Shutdown::Write).submit().complete().await {
            Err(e) if !killed() => ctx.fail(format!("{id:?}: peer shutdown: {e}")),
            _ => {}
        }
    };
    let reader = async {
        loop {
            let buf = ctx.ledger.empty(16384);
            match stream.recv(buf).submit().complete().await {
                (Ok(0), _) => break,
                (Ok(n), buf) => received.extend_from_slice(&buf.as_slice()[..n]),
                (Err(_), _) if killed() => return,
                (Err(e), _) => ctx.fail(format!("{id:?}: peer recv: {e}")),
            }
            if read_pace.chance(20) {
                let pause = read_pace.micros(1000);
                ctx.ring.sleep(pause).await.expect("timer");
            }
        }
    };
    future::zip(writer, reader).await;
    if killed() {
        PeerEnd::Cut
    } else {
        PeerEnd::Served
    }
}
