//! The library's own failures: a small error type with a kind.
//!
//! Failed kernel operations are plain [`io::Error`]s carrying the kernel's errno. This
//! type covers what the library itself detects: a ring that cannot be set up, an
//! opcode the kernel lacks, a ring that has shut down. It converts into [`io::Error`]
//! (kept as the source, so it can be downcast), which is how ops report it.

use std::fmt;
use std::io;

/// What went wrong, for matching.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// `io_uring_setup(2)` failed: io_uring is unavailable, disabled or refused the
    /// parameters.
    Setup,
    /// The running kernel does not implement the operation's opcode.
    Unsupported,
    /// The ring was shut down before the operation could be submitted.
    ShutDown,
    /// The operation's linked timeout fired before it completed, and the kernel
    /// cancelled it (see [`Prepared::timeout`](crate::Prepared::timeout)). Converted
    /// into an [`io::Error`] of kind [`TimedOut`](io::ErrorKind::TimedOut).
    TimedOut,
}

/// An error detected by linear-uring itself, with a message that says what to do.
#[derive(Debug)]
pub struct Error {
    kind: ErrorKind,
    message: String,
    source: Option<io::Error>,
}

impl Error {
    /// What kind of failure this is.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The operating-system error behind it, if there was one.
    pub fn os_error(&self) -> Option<&io::Error> {
        self.source.as_ref()
    }

    pub(crate) fn setup(source: io::Error, entries: u32) -> Self {
        let hint = match source.raw_os_error() {
            Some(libc::EPERM) => {
                "io_uring may be disabled by the sysctl kernel.io_uring_disabled, or \
                 blocked by a seccomp filter (common in containers)"
                    .to_owned()
            }
            Some(libc::ENOSYS) => "this kernel lacks io_uring or a feature linear-uring needs \
                 (CONFIG_IO_URING, IORING_FEAT_EXT_ARG); it needs Linux 5.11 or later"
                .to_owned(),
            Some(libc::ENOMEM) => format!(
                "the kernel could not allocate a ring of {entries} entries; lower the \
                 entries or raise the locked-memory limit (ulimit -l)"
            ),
            Some(libc::EINVAL) => format!(
                "the parameters were rejected: entries must be between 2 and 32768 \
                 (asked for {entries}), and some setup flags need a newer kernel"
            ),
            Some(libc::EMFILE) | Some(libc::ENFILE) => {
                "no file descriptor is left for the ring; close some or raise \
                 RLIMIT_NOFILE"
                    .to_owned()
            }
            _ => "see io_uring_setup(2) for what this error means".to_owned(),
        };
        Error {
            kind: ErrorKind::Setup,
            message: format!("io_uring_setup failed: {source}; {hint}"),
            source: Some(source),
        }
    }

    pub(crate) fn unsupported(op: &'static str, opcode: u8) -> Self {
        Error {
            kind: ErrorKind::Unsupported,
            message: format!(
                "the running kernel does not support the {op} operation (io_uring opcode \
                 {opcode}); upgrade the kernel or avoid this operation"
            ),
            source: None,
        }
    }

    pub(crate) fn kernel_too_old(op: &'static str, since: (u32, u32), running: (u32, u32)) -> Self {
        Error {
            kind: ErrorKind::Unsupported,
            message: format!(
                "the {op} operation needs Linux {}.{} or later, and the running kernel is \
                 {}.{}; upgrade the kernel or use the single-shot operation instead",
                since.0, since.1, running.0, running.1
            ),
            source: None,
        }
    }

    pub(crate) fn shut_down(op: &'static str) -> Self {
        Error {
            kind: ErrorKind::ShutDown,
            message: format!(
                "cannot submit a {op} operation: its ring has shut down (the Ring that \
                 owned it was dropped or shut down)"
            ),
            source: None,
        }
    }
}

impl Error {
    pub(crate) fn timed_out(op: &'static str) -> Self {
        Error {
            kind: ErrorKind::TimedOut,
            message: format!(
                "the {op} operation timed out: its linked timeout fired first, and the \
                 kernel cancelled it before it did anything"
            ),
            source: Some(io::Error::from_raw_os_error(libc::ECANCELED)),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_ref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}

impl From<Error> for io::Error {
    fn from(err: Error) -> io::Error {
        let kind = match err.kind {
            ErrorKind::Setup => err
                .source
                .as_ref()
                .map_or(io::ErrorKind::Other, io::Error::kind),
            ErrorKind::Unsupported => io::ErrorKind::Unsupported,
            ErrorKind::ShutDown => io::ErrorKind::NotConnected,
            ErrorKind::TimedOut => io::ErrorKind::TimedOut,
        };
        io::Error::new(kind, err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_setup_eperm_names_the_sysctl() {
        let err = Error::setup(io::Error::from_raw_os_error(libc::EPERM), 8);
        assert_eq!(err.kind(), ErrorKind::Setup);
        let msg = err.to_string();
        assert!(msg.starts_with("io_uring_setup failed: "), "{msg}");
        assert!(msg.contains("kernel.io_uring_disabled"), "{msg}");
    }

    #[test]
    fn error_unsupported_converts_to_io_unsupported() {
        let io: io::Error = Error::unsupported("Nop", 0).into();
        assert_eq!(io.kind(), io::ErrorKind::Unsupported);
        let inner = io.get_ref().and_then(|e| e.downcast_ref::<Error>());
        assert_eq!(inner.map(Error::kind), Some(ErrorKind::Unsupported));
    }
}
