//! What happens to each operation of the storm: its fate, drawn from the seed.

use std::io;
use std::time::Duration;

use futures_lite::future;
use linear_uring::op::Timeout;
use linear_uring::{race, CancelOutcome, OpKind, Prepared, Raced};

use super::check::Rng;
use super::Ctx;

/// When a cancel or an abandon happens, after the op was submitted.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Moment {
    /// At once: the op is still in the submission queue, the cancel goes behind it.
    Now,
    /// After letting the other tasks run once.
    Yield,
    /// After a timer: the op has usually reached the kernel.
    After(Duration),
    /// After polling the `complete()` future once (abandons only): the future, not the
    /// token, is what gets dropped.
    Polled,
}

impl Moment {
    fn draw(rng: &mut Rng, polled: bool) -> Moment {
        match rng.below(if polled { 4 } else { 3 }) {
            0 => Moment::Now,
            1 => Moment::Yield,
            2 => Moment::After(rng.micros(3000)),
            _ => Moment::Polled,
        }
    }

    async fn wait(self, ctx: &Ctx) {
        match self {
            Moment::Now | Moment::Polled => {}
            Moment::Yield => future::yield_now().await,
            Moment::After(delay) => ctx.ring.sleep(delay).await.expect("timer"),
        }
    }
}

/// How an op ends.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Fate {
    /// `complete().await`.
    Complete,
    /// `cancel().await` at some moment.
    Cancel(Moment),
    /// `race(op, sleep(d))`; if the timer wins, the op is cancelled.
    Race(Duration),
    /// A kernel-side linked timeout of `d`, then `complete().await`.
    Linked(Duration),
    /// Dropped unconsumed at some moment, under `DropPolicy::Reclaim`.
    Abandon(Moment),
}

impl Fate {
    pub(crate) fn draw(rng: &mut Rng) -> Fate {
        match rng.below(100) {
            0..=27 => Fate::Complete,
            28..=47 => Fate::Cancel(Moment::draw(rng, false)),
            48..=65 => Fate::Race(rng.micros(3000)),
            66..=77 => Fate::Linked(rng.micros(3000)),
            _ => Fate::Abandon(Moment::draw(rng, true)),
        }
    }
}

/// What a fate made of an op.
#[derive(Debug)]
pub(crate) enum Outcome<T, R> {
    /// The op's output: it completed, or finished before the cancel or the timer.
    Output(T),
    /// The kernel confirmed the op did nothing; its residue (buffer) is back.
    Cancelled(R),
    /// The token was dropped; the ring finishes the op.
    Abandoned,
}

/// Submits `op` and sees it through `fate`, counting what happened.
pub(crate) async fn run<K: OpKind>(
    ctx: &Ctx,
    op: Prepared<K>,
    fate: Fate,
) -> Outcome<K::Output, K::Residue> {
    ctx.tally(|t| t.ops += 1);
    match fate {
        Fate::Complete => Outcome::Output(op.submit().complete().await),
        Fate::Linked(delay) => {
            ctx.tally(|t| t.linked += 1);
            Outcome::Output(op.timeout(delay).submit().complete().await)
        }
        Fate::Cancel(moment) => {
            let op = op.submit();
            moment.wait(ctx).await;
            cancel(ctx, op.cancel().await)
        }
        Fate::Race(delay) => match race(op.submit(), ctx.ring.sleep(delay)).await {
            Raced::First(output, timer) => {
                drop(timer);
                ctx.tally(|t| t.races_won += 1);
                Outcome::Output(output)
            }
            Raced::Second(op, fired) => {
                fired.expect("timer");
                ctx.tally(|t| t.races_lost += 1);
                cancel(ctx, op.cancel().await)
            }
        },
        Fate::Abandon(moment) => {
            let op = op.submit();
            if let Moment::Polled = moment {
                let mut complete = op.complete();
                if let Some(output) = future::poll_once(&mut complete).await {
                    return Outcome::Output(output);
                }
                drop(complete);
            } else {
                moment.wait(ctx).await;
                drop(op);
            }
            ctx.tally(|t| t.abandoned += 1);
            Outcome::Abandoned
        }
    }
}

fn cancel<T, R>(ctx: &Ctx, outcome: CancelOutcome<T, R>) -> Outcome<T, R> {
    match outcome {
        CancelOutcome::Cancelled(residue) => {
            ctx.tally(|t| t.cancelled += 1);
            Outcome::Cancelled(residue)
        }
        CancelOutcome::Completed(output) => {
            ctx.tally(|t| t.cancel_completed += 1);
            Outcome::Output(output)
        }
    }
}

/// Whether `err` says a linked timeout cut the op off before it did anything.
pub(crate) fn timed_out(err: &io::Error) -> bool {
    err.kind() == io::ErrorKind::TimedOut
}

/// A timer step: timers with every fate, linear ones abandoned too.
pub(crate) async fn timer(ctx: &Ctx, rng: &mut Rng) {
    let delay = rng.micros(2000);
    ctx.tally(|t| t.ops += 1);
    match Fate::draw(rng) {
        Fate::Complete | Fate::Linked(_) => ctx.ring.sleep(delay).await.expect("timer"),
        Fate::Cancel(moment) => {
            let timer = ctx.ring.sleep(delay);
            moment.wait(ctx).await;
            match timer.cancel().await {
                CancelOutcome::Cancelled(()) => ctx.tally(|t| t.cancelled += 1),
                CancelOutcome::Completed(fired) => {
                    fired.expect("timer");
                    ctx.tally(|t| t.cancel_completed += 1);
                }
            }
        }
        Fate::Race(short) => {
            let long = Timeout::new(&ctx.ring, delay).submit();
            match race(long, ctx.ring.sleep(short)).await {
                Raced::First(fired, _) => fired.expect("timer"),
                Raced::Second(long, _) => {
                    let outcome = cancel(ctx, long.cancel().await);
                    if let Outcome::Output(fired) = outcome {
                        fired.expect("timer");
                    }
                }
            }
        }
        Fate::Abandon(moment) => {
            let timer = Timeout::new(&ctx.ring, delay).submit();
            moment.wait(ctx).await;
            drop(timer);
            ctx.tally(|t| t.abandoned += 1);
        }
    }
}
