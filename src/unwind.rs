//! Running user code that may panic: a buffer's or an output's `Drop`, a waker, a
//! task, the `on_abandon` hook.
//!
//! The ring catches such a panic, finishes what it was doing, and only then resumes
//! the first one. A panic while the thread is already unwinding would abort the
//! process, so it is never resumed then; and a payload that is not resumed is
//! discarded in a way that cannot panic either.

use std::any::Any;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};

/// A panic payload of user code that the ring ran.
pub(crate) type Payload = Box<dyn Any + Send + 'static>;

/// Runs user code, keeping the first panic in `first` so that the caller can finish
/// what it was doing before resuming it.
pub(crate) fn catch_user(first: &mut Option<Payload>, f: impl FnOnce()) {
    if let Err(payload) = catch_unwind(AssertUnwindSafe(f)) {
        keep_first(first, payload);
    }
}

/// Keeps `payload` in `first` unless a panic is already kept there.
pub(crate) fn keep_first(first: &mut Option<Payload>, payload: Payload) {
    match first {
        Some(_) => discard(payload),
        None => *first = Some(payload),
    }
}

/// Resumes the first panic of user code, once the ring is consistent again. While the
/// thread is already unwinding, it is discarded instead: the panic under way
/// continues, and a second one would abort.
pub(crate) fn resume_first(first: Option<Payload>) {
    if let Some(payload) = first {
        if std::thread::panicking() {
            discard(payload);
        } else {
            resume_unwind(payload);
        }
    }
}

/// Drops a payload that will not be resumed. A payload is user data too: if its own
/// drop panics, that panic's payload is leaked rather than dropped.
pub(crate) fn discard(payload: Payload) {
    if let Err(again) = catch_unwind(AssertUnwindSafe(|| drop(payload))) {
        std::mem::forget(again);
    }
}
