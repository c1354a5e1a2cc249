//! Many linear values of one kind: [`first_k`] keeps the first finishers and hands
//! back the rest in flight, [`cancel_all`] cancels them all at once.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use super::Linear;
use crate::token::CancelOutcome;

/// Waits until at least `k` of `values` have finished, and hands back their outputs
/// together with every other value, still in flight.
///
/// One poll polls every value still pending once, so the race costs one pass per
/// wake however large `k` is. Every output that is ready in the pass that reaches
/// `k` is kept, so [`FinishedK::done`] may hold more than `k`: no finished result is
/// ever dropped. Outputs come in the order they were seen, each with its index in
/// `values`; the rest keep their order and their indices.
///
/// # Panics
///
/// If `k` is larger than the number of values: it could never resolve.
///
/// # Cancellation
///
/// Dropping the future before it resolves drops every value still held, which
/// abandons it (the drop policy applies to each).
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use linear_uring::{cancel_all, first_k, Ring};
///
/// let ring = Ring::new()?;
/// ring.block_on(async {
///     // 10 timers of 1 to 10 ms: keep the first 3, cancel the others at once.
///     let timers: Vec<_> = (1..=10u64)
///         .map(|ms| ring.sleep(Duration::from_millis(ms)))
///         .collect();
///     let finished = first_k(timers, 3).await;
///     assert!(finished.done.len() >= 3);
///     let (indices, rest): (Vec<usize>, Vec<_>) = finished.rest.into_iter().unzip();
///     assert!(indices.iter().all(|&i| i >= 3));
///     for outcome in cancel_all(rest).await {
///         // Each was cancelled, or fired first: either way, nothing is lost.
///         let _fired: Option<std::io::Result<()>> = outcome.completed();
///     }
/// });
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn first_k<T: Linear + Unpin>(values: Vec<T>, k: usize) -> FirstK<T> {
    assert!(
        k <= values.len(),
        "first_k: asked for the first {k} of {} values",
        values.len()
    );
    FirstK {
        pending: values.into_iter().map(Some).collect(),
        done: Vec::new(),
        k,
        resolved: false,
    }
}

/// The future of [`first_k`].
#[must_use = "a race does nothing unless awaited; dropping it abandons every value"]
pub struct FirstK<T: Linear> {
    /// `None` once finished.
    pending: Vec<Option<T>>,
    done: Vec<(usize, T::Output)>,
    k: usize,
    resolved: bool,
}

/// The result of [`first_k`].
#[must_use = "the values that did not finish are still in flight: complete or cancel them, or they are abandoned"]
pub struct FinishedK<T: Linear> {
    /// At least `k` outputs, each with its value's index, in the order they were seen.
    pub done: Vec<(usize, T::Output)>,
    /// The values still in flight, with their indices, in their original order.
    pub rest: Vec<(usize, T)>,
}

impl<T: Linear + Unpin> Future for FirstK<T> {
    type Output = FinishedK<T>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<FinishedK<T>> {
        let this = self.get_mut();
        assert!(!this.resolved, "a FirstK polled after it resolved");
        for (index, slot) in this.pending.iter_mut().enumerate() {
            let Some(value) = slot else {
                continue;
            };
            if let Poll::Ready(output) = value.poll_complete(cx) {
                // Spent: dropping it abandons nothing.
                *slot = None;
                this.done.push((index, output));
            }
        }
        if this.done.len() < this.k {
            return Poll::Pending;
        }
        this.resolved = true;
        let rest = std::mem::take(&mut this.pending)
            .into_iter()
            .enumerate()
            .filter_map(|(index, value)| Some((index, value?)))
            .collect();
        Poll::Ready(FinishedK {
            done: std::mem::take(&mut this.done),
            rest,
        })
    }
}

/// Cancels every value at once: every cancel is submitted before any is waited for,
/// so the kernel gets them in one batch. Resolves to each value's outcome, in order.
///
/// Like [`Op::cancel`](crate::Op::cancel), each outcome says what really happened:
/// `Cancelled(residue)` if the value did nothing, `Completed(output)` if it finished
/// first; nothing is dropped.
///
/// # Cancellation
///
/// Dropping the future before it resolves drops the values whose cancel has not
/// resolved yet, which abandons them (the drop policy applies to each).
pub fn cancel_all<T: Linear + Unpin>(values: Vec<T>) -> CancelAll<T> {
    CancelAll {
        values: values.into_iter().map(Some).collect(),
        outcomes: Vec::new(),
        started: false,
    }
}

/// The future of [`cancel_all`].
#[must_use = "a cancel does nothing unless awaited; dropping it abandons every value"]
pub struct CancelAll<T: Linear> {
    /// `None` once its outcome is known.
    values: Vec<Option<T>>,
    outcomes: Vec<Option<CancelOutcome<T::Output, T::Residue>>>,
    started: bool,
}

impl<T: Linear + Unpin> Future for CancelAll<T> {
    type Output = Vec<CancelOutcome<T::Output, T::Residue>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        assert!(
            !this.started || !this.outcomes.is_empty() || this.values.is_empty(),
            "a CancelAll polled after it resolved"
        );
        if !this.started {
            this.started = true;
            this.values.iter_mut().flatten().for_each(T::start_cancel);
            this.outcomes = this.values.iter().map(|_| None).collect();
        }
        let mut waiting = false;
        for (slot, outcome) in this.values.iter_mut().zip(&mut this.outcomes) {
            let Some(value) = slot else {
                continue;
            };
            match value.poll_cancel(cx) {
                Poll::Ready(done) => {
                    *slot = None;
                    *outcome = Some(done);
                }
                Poll::Pending => waiting = true,
            }
        }
        if waiting {
            return Poll::Pending;
        }
        let outcomes = std::mem::take(&mut this.outcomes);
        Poll::Ready(outcomes.into_iter().flatten().collect())
    }
}

// Nothing is pinned structurally: the values are `Unpin` where they are polled, and
// the outputs are only ever moved out. Without these, the outputs' types would have
// to be `Unpin` too.
impl<T: Linear> Unpin for FirstK<T> {}
impl<T: Linear> Unpin for CancelAll<T> {}

impl<T: Linear> fmt::Debug for FirstK<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FirstK")
            .field("k", &self.k)
            .field("done", &self.done.len())
            .finish_non_exhaustive()
    }
}

impl<T: Linear> fmt::Debug for FinishedK<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let done: Vec<usize> = self.done.iter().map(|(index, _)| *index).collect();
        let rest: Vec<usize> = self.rest.iter().map(|(index, _)| *index).collect();
        f.debug_struct("FinishedK")
            .field("done", &done)
            .field("rest", &rest)
            .finish()
    }
}

impl<T: Linear> fmt::Debug for CancelAll<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let left = self.values.iter().flatten().count();
        f.debug_struct("CancelAll")
            .field("left", &left)
            .finish_non_exhaustive()
    }
}
