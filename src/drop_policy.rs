//! What happens when a token is dropped before it was consumed.
//!
//! This is the one place that decides it. By the time the policy runs, the I/O-safe
//! part has already happened (see [`Op`](crate::Op)'s drop): the op is orphaned in the
//! table, which keeps its buffers until the kernel's final completion, an async cancel
//! is on its way, and a descriptor produced by a late completion will be closed.

use std::fmt;
use std::io::{self, Write};
use std::panic::Location;

use crate::op::Completion;

/// What a ring does, beyond the always-on I/O-safe cleanup, when an operation's token
/// is dropped before `complete()` or `cancel()` consumed it.
///
/// | policy | I/O-safe cleanup | counted in [`Stats::abandoned`](crate::Stats) | then |
/// |---|---|---|---|
/// | [`Panic`](DropPolicy::Panic) (default with `debug_assertions`) | yes | yes | panics, naming the op kind and the line that submitted it |
/// | [`Reclaim`](DropPolicy::Reclaim) (default otherwise) | yes | yes | nothing |
/// | [`Abort`](DropPolicy::Abort) | yes | yes | prints the same message and aborts the process |
///
/// `Panic` does not panic while the thread is already panicking (that would abort),
/// nor while the ring is shutting down (dropping a ring with ops in flight is not a
/// mistake: they are all cancelled and reaped), nor when the cleanup itself ran user
/// code that panicked (a buffer's `Drop`): that panic is the one the caller sees.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DropPolicy {
    /// Panic with a message naming the op and where it was submitted.
    Panic,
    /// Clean up quietly; the drop is only counted.
    Reclaim,
    /// Print the message and abort: strict linearity in production.
    Abort,
}

impl Default for DropPolicy {
    /// [`Panic`](DropPolicy::Panic) with `debug_assertions`, otherwise
    /// [`Reclaim`](DropPolicy::Reclaim).
    fn default() -> Self {
        if cfg!(debug_assertions) {
            DropPolicy::Panic
        } else {
            DropPolicy::Reclaim
        }
    }
}

impl DropPolicy {
    /// Applies the policy to an op of kind `op` submitted at `location`, after its
    /// cleanup has been arranged. `panic_pending`: user code run by that cleanup
    /// panicked, and the caller resumes that panic, which the policy's would hide.
    pub(crate) fn abandoned(
        self,
        op: &'static str,
        location: &Location<'static>,
        shutting_down: bool,
        panic_pending: bool,
    ) {
        match self {
            DropPolicy::Reclaim => {}
            DropPolicy::Panic => {
                if !shutting_down && !panic_pending && !std::thread::panicking() {
                    panic!("{}", message(op, location, self));
                }
            }
            DropPolicy::Abort => {
                if !shutting_down {
                    let mut stderr = std::io::stderr().lock();
                    let _ = writeln!(stderr, "{}", message(op, location, self));
                    let _ = stderr.flush();
                    std::process::abort();
                }
            }
        }
    }
}

/// An abandoned op, as the hook of
/// [`Ring::on_abandon`](crate::Ring::on_abandon) sees it once its
/// fate is final.
///
/// Its `Display` is a sentence for a log: which op, where it was submitted, and
/// whether its result was lost.
#[derive(Debug)]
#[non_exhaustive]
pub struct Abandoned<'a> {
    /// The op's kind, as the kernel names it (`"Recv"`, `"Accept"`, ...).
    pub op: &'static str,
    /// Where the op was submitted.
    pub location: &'static Location<'static>,
    /// The op's final result: `Ok(n)` if it did its work anyway (`n` bytes
    /// transferred, or the number of a descriptor it produced, which the ring closes
    /// right after the hook returns), or the error it ended with (`ECANCELED`, or
    /// `EINTR` for an op interrupted in a kernel worker, when the ring's cancel caught
    /// it in time).
    pub result: Result<u32, &'a io::Error>,
    /// For a multishot op, the items it produced that nobody took (connections the
    /// ring closed, buffers it gave back); `None` for an op with one output.
    pub items: Option<usize>,
}

impl<'a> Abandoned<'a> {
    pub(crate) fn new(
        op: &'static str,
        location: &'static Location<'static>,
        completion: &'a Completion,
        items: Option<usize>,
    ) -> Self {
        // An op with one output and two completions (a zero-copy send) reports the
        // first, which carries its result; the second only says the kernel let go.
        let result = match items {
            None => completion.earlier().first().unwrap_or(completion).result(),
            Some(_) => completion.result(),
        };
        Abandoned {
            op,
            location,
            result,
            items,
        }
    }

    /// Whether the op completed anyway, so that its result (bytes received, a
    /// connection accepted, bytes sent) went to nobody, or a multishot op produced
    /// items nobody took. False when the cancel caught it or it failed.
    pub fn lost_result(&self) -> bool {
        match self.items {
            Some(items) => items > 0,
            None => self.result.is_ok(),
        }
    }
}

impl fmt::Display for Abandoned<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "the {} operation submitted at {} was abandoned; ",
            self.op, self.location
        )?;
        if let Some(items) = self.items {
            return match items {
                0 => f.write_str("it had produced nothing that nobody took"),
                1 => f.write_str("1 item it produced went to nobody (the ring released it)"),
                n => write!(
                    f,
                    "{n} items it produced went to nobody (the ring released them)"
                ),
            };
        }
        match self.result {
            Ok(n) => write!(
                f,
                "it completed anyway (result {n}), and that result was lost"
            ),
            Err(err) if crate::table::is_cancel(err.raw_os_error()) => {
                f.write_str("the kernel cancelled it before it did anything")
            }
            Err(err) => write!(f, "it failed: {err}"),
        }
    }
}

fn message(op: &str, location: &Location<'_>, policy: DropPolicy) -> String {
    format!(
        "linear-uring: the {op} operation submitted at {location} was dropped before \
         it was completed or cancelled.\n\
         The ring cancelled it in the kernel and keeps its buffers until the kernel lets \
         go, so nothing leaks, but its result (if it finished) is lost.\n\
         Consume every operation: `.complete().await` for its result, or \
         `.cancel().await` to stop it and get back whatever it finished first.\n\
         (DropPolicy::{policy:?}; DropPolicy::Reclaim only counts abandoned operations \
         in Ring::stats)"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drop_policy_default_follows_debug_assertions() {
        let expected = if cfg!(debug_assertions) {
            DropPolicy::Panic
        } else {
            DropPolicy::Reclaim
        };
        assert_eq!(DropPolicy::default(), expected);
    }

    #[test]
    fn drop_policy_message_names_op_location_and_remedy() {
        let location = Location::caller();
        let msg = message("Timeout", location, DropPolicy::Panic);
        assert!(msg.contains("the Timeout operation"), "{msg}");
        assert!(
            msg.contains(&format!("src/drop_policy.rs:{}", location.line())),
            "{msg}"
        );
        assert!(msg.contains(".cancel().await"), "{msg}");
    }

    #[test]
    fn drop_policy_panic_is_silent_while_shutting_down() {
        // Would panic (failing the test) if the shutdown exemption were missing.
        DropPolicy::Panic.abandoned("Nop", Location::caller(), true, false);
    }

    #[test]
    fn drop_policy_panic_gives_way_to_a_pending_panic() {
        // The cleanup's own panic is resumed by the caller: no second one here.
        DropPolicy::Panic.abandoned("Nop", Location::caller(), false, true);
    }
}
