//! One data operation of a subject, through its fate, with what it did to the stream
//! recorded for the checks.

use std::cell::RefCell;
use std::io;
use std::rc::Rc;

use linear_uring::{OpKind, Prepared};

use super::check::{stream_bytes, CountedBuf, ReadCheck, SendLog};
use super::fate::{self, timed_out, Fate, Outcome};
use super::Ctx;

/// The receiving half of a subject: what it has read of the peer's stream.
#[derive(Debug)]
pub(crate) struct Inbound {
    pub(crate) check: ReadCheck,
    pub(crate) eof: bool,
}

impl Inbound {
    pub(crate) fn new(key: u64) -> Inbound {
        Inbound {
            check: ReadCheck::new(key),
            eof: false,
        }
    }
}

/// The connection was reset by the peer, as its plan said it would be.
#[derive(Debug)]
pub(crate) struct Reset;

/// Whether `err` is what an operation on a connection reset by its peer reports.
pub(crate) fn is_reset(err: &io::Error) -> bool {
    matches!(
        err.raw_os_error(),
        Some(libc::ECONNRESET) | Some(libc::EPIPE) | Some(libc::ENOTCONN)
    )
}

/// A read or receive of up to `capacity` bytes into a counted buffer, through `fate`.
/// `may_reset` says whether the peer may have reset the connection.
pub(crate) async fn receive<K>(
    ctx: &Ctx,
    inbound: &mut Inbound,
    op: impl FnOnce(CountedBuf) -> Prepared<K>,
    capacity: usize,
    fate: Fate,
    may_reset: impl Fn() -> bool,
) -> Result<(), Reset>
where
    K: OpKind<Output = (io::Result<usize>, CountedBuf), Residue = CountedBuf>,
{
    let buf = ctx.ledger.empty(capacity);
    // The kernel may fill all of the allocation, which can be larger than asked.
    let capacity = buf.capacity();
    let dropped = buf.drop_flag();
    match fate::run(ctx, op(buf), fate).await {
        Outcome::Output((Ok(0), _)) => inbound.eof = true,
        Outcome::Output((Ok(n), buf)) => {
            if let Err(msg) = inbound.check.chunk(&buf.as_slice()[..n]) {
                ctx.fail(format!("{fate:?} read: {msg}"));
            }
        }
        Outcome::Output((Err(e), _)) if timed_out(&e) => {}
        Outcome::Output((Err(e), _)) if is_reset(&e) && may_reset() => return Err(Reset),
        Outcome::Output((Err(e), _)) => ctx.fail(format!("{fate:?} read failed: {e}")),
        Outcome::Cancelled(buf) => {
            if !buf.as_slice().is_empty() || buf.capacity() < capacity {
                ctx.fail(format!(
                    "a cancelled read gave back a changed buffer: {buf:?}"
                ));
            }
        }
        Outcome::Abandoned => {
            inbound.check.gap(capacity as u64);
            // Another read may start only once the kernel is done with this one, or the
            // two could take the stream's bytes out of order.
            ctx.released(&dropped, "read").await;
        }
    }
    Ok(())
}

/// A write or send of the next `len` bytes of the subject's stream, through `fate`.
pub(crate) async fn send<K>(
    ctx: &Ctx,
    log: &Rc<RefCell<SendLog>>,
    op: impl FnOnce(CountedBuf) -> Prepared<K>,
    len: usize,
    fate: Fate,
    may_reset: impl Fn() -> bool,
) -> Result<(), Reset>
where
    K: OpKind<Output = (io::Result<usize>, CountedBuf), Residue = CountedBuf>,
{
    let (key, start) = {
        let log = log.borrow();
        (log.key(), log.next())
    };
    let buf = ctx.ledger.filled(stream_bytes(key, start, len));
    let dropped = buf.drop_flag();
    match fate::run(ctx, op(buf), fate).await {
        Outcome::Output((Ok(n), _)) if n <= len => log.borrow_mut().sent(n as u64),
        Outcome::Output((Ok(n), _)) => ctx.fail(format!("a send of {len} bytes sent {n}")),
        Outcome::Output((Err(e), _)) if timed_out(&e) => {}
        Outcome::Output((Err(e), _)) if is_reset(&e) && may_reset() => return Err(Reset),
        Outcome::Output((Err(e), _)) => ctx.fail(format!("{fate:?} send failed: {e}")),
        Outcome::Cancelled(buf) => {
            if buf.as_slice() != stream_bytes(key, start, len) {
                ctx.fail("a cancelled send gave back a changed buffer".into());
            }
        }
        Outcome::Abandoned => {
            log.borrow_mut().abandoned(len as u64);
            ctx.released(&dropped, "send").await;
        }
    }
    Ok(())
}
