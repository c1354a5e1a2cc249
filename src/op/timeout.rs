//! `IORING_OP_TIMEOUT`: a relative timer run by the kernel.

use std::io;
use std::time::Duration;

use io_uring::{opcode, squeue, types::Timespec};

use super::{Completion, OpKind, Prepared, Sealed};
use crate::Ring;

/// A relative timer: completes after a duration.
///
/// The output is `Ok(())` when the timer fired (the kernel reports `ETIME`, which is
/// success here).
///
/// # Cancellation
///
/// `cancel()` removes the timer from the kernel and resolves to `Cancelled(())`, or
/// to `Completed(Ok(()))` if it had already fired. Dropping the token removes the
/// timer too, then applies the drop policy.
///
/// # References
///
/// `io_uring_prep_timeout(3)`.
#[doc(alias = "io_uring_prep_timeout")]
#[derive(Debug)]
pub struct Timeout {
    /// Read by the kernel when the entry is submitted; it lives at a fixed heap
    /// address in the op table until the final completion.
    spec: Timespec,
}

impl Timeout {
    /// Describes a timer on `ring` that fires after `duration`.
    #[allow(clippy::new_ret_no_self)]
    pub fn new(ring: &Ring, duration: Duration) -> Prepared<Timeout> {
        Prepared::new(
            ring.inner().clone(),
            Timeout {
                spec: crate::driver::timespec(duration),
            },
        )
    }
}

impl Sealed for Timeout {}

impl OpKind for Timeout {
    type Output = io::Result<()>;
    type Residue = ();
    const NAME: &'static str = "Timeout";
    const OPCODE: u8 = opcode::Timeout::CODE;

    #[inline]
    fn sqe(&mut self) -> squeue::Entry {
        opcode::Timeout::new(&self.spec).build()
    }

    #[inline]
    fn complete(self, completion: Completion) -> io::Result<()> {
        match completion.result {
            Ok(_) => Ok(()),
            Err(e) if e.raw_os_error() == Some(libc::ETIME) => Ok(()),
            Err(e) => Err(e),
        }
    }

    fn residue(self) {}
}
