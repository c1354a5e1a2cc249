//! [`deadline`]: a whole-operation deadline for any linear value.

use std::fmt;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use super::Linear;
use crate::token::{CancelOutcome, Sleep};

/// Completes `value`, or cancels it if `timer` fires first: a deadline for a whole
/// operation, composite ones included (a [`WriteAll`](crate::WriteAll) of a large
/// buffer, a [`Copying`](crate::Copying), a request handler of your own).
///
/// Resolves to `Ok(output)` if the value finished in time (also when it finished
/// while its cancel was on its way: a result is never thrown away), or to
/// `Err(Expired { residue })` with what the cancel handed back (the buffer, the
/// progress made). [`Expired`] converts into an `io::Error` of kind
/// [`TimedOut`](io::ErrorKind::TimedOut), so `?` works where the residue is not
/// needed.
///
/// For a single op, a linked timeout ([`Prepared::timeout`](crate::Prepared::timeout))
/// does the same inside the kernel; a deadline also covers ops not submitted yet.
///
/// # Cancellation
///
/// Dropping the future before it resolves drops the value: the drop policy applies.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use linear_uring::net::UnixStream;
/// use linear_uring::{deadline, Ring};
///
/// let ring = Ring::new()?;
/// let (a, _b) = UnixStream::pair(&ring)?;
/// ring.block_on(async {
///     // Nobody reads `_b`: 16 MiB cannot all fit in the socket's buffers.
///     let big = vec![7u8; 16 << 20];
///     match deadline(a.send_all(big), ring.sleep(Duration::from_millis(20))).await {
///         Ok((result, _buf)) => result?,
///         Err(expired) => {
///             let progress = expired.residue;
///             assert!(progress.done < progress.buf.len(), "some bytes are still unsent");
///         }
///     }
///     Ok::<(), std::io::Error>(())
/// })?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn deadline<T: Linear + Unpin>(value: T, timer: Sleep) -> Deadline<T> {
    Deadline {
        value: Some(value),
        timer: Some(timer),
    }
}

/// The future of [`deadline`].
#[must_use = "a deadline does nothing unless awaited; dropping it abandons the value"]
pub struct Deadline<T> {
    value: Option<T>,
    /// `None` once the timer fired: the value is being cancelled.
    timer: Option<Sleep>,
}

/// A [`deadline`] passed: the value was cancelled, and this is what it handed back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expired<R> {
    /// The value's residue: its buffer, the progress it made.
    pub residue: R,
}

impl<R> fmt::Display for Expired<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the deadline passed; the operation was cancelled")
    }
}

impl<R: fmt::Debug> std::error::Error for Expired<R> {}

impl<R> From<Expired<R>> for io::Error {
    /// An error of kind [`TimedOut`](io::ErrorKind::TimedOut); the residue is dropped.
    fn from(_: Expired<R>) -> io::Error {
        io::Error::new(
            io::ErrorKind::TimedOut,
            "the deadline passed; the operation was cancelled",
        )
    }
}

impl<T: Linear + Unpin> Future for Deadline<T> {
    type Output = Result<T::Output, Expired<T::Residue>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let value = this
            .value
            .as_mut()
            .expect("a Deadline polled after it resolved");
        if let Some(timer) = this.timer.as_mut() {
            if let Poll::Ready(output) = value.poll_complete(cx) {
                // The timer is dropped quietly: a timer owns nothing.
                this.timer = None;
                this.value = None;
                return Poll::Ready(Ok(output));
            }
            if Pin::new(timer).poll(cx).is_pending() {
                return Poll::Pending;
            }
            this.timer = None;
            value.start_cancel();
        }
        let outcome = std::task::ready!(value.poll_cancel(cx));
        this.value = None;
        Poll::Ready(match outcome {
            CancelOutcome::Completed(output) => Ok(output),
            CancelOutcome::Cancelled(residue) => Err(Expired { residue }),
        })
    }
}

// Nothing is pinned structurally: the value is `Unpin` where it is polled, and
// `Sleep` is `Unpin`.
impl<T> Unpin for Deadline<T> {}

impl<T> fmt::Debug for Deadline<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Deadline")
            .field("cancelling", &self.timer.is_none())
            .finish_non_exhaustive()
    }
}
