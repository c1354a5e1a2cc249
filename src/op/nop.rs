//! `IORING_OP_NOP`: an operation that does nothing and completes at once.

use std::io;

use io_uring::{opcode, squeue};

use super::{Completion, OpKind, Prepared, Sealed};
use crate::Ring;

/// An operation that does nothing; it measures the ring's own overhead and exercises
/// every path of a token.
///
/// # Cancellation
///
/// A nop completes as soon as the kernel sees it, so `cancel()` almost always reports
/// `Completed(Ok(()))`. Nothing is lost by dropping one, but the drop policy applies.
///
/// # References
///
/// `io_uring_prep_nop(3)`.
#[doc(alias = "io_uring_prep_nop")]
#[derive(Debug)]
pub struct Nop {
    _private: (),
}

impl Nop {
    /// Describes a nop on `ring`.
    #[allow(clippy::new_ret_no_self)]
    pub fn new(ring: &Ring) -> Prepared<Nop> {
        Prepared::new(ring.inner().clone(), Nop { _private: () })
    }
}

impl Sealed for Nop {}

impl OpKind for Nop {
    type Output = io::Result<()>;
    type Residue = ();
    const NAME: &'static str = "Nop";
    const OPCODE: u8 = opcode::Nop::CODE;

    #[inline]
    fn sqe(&mut self) -> squeue::Entry {
        opcode::Nop::new().build()
    }

    #[inline]
    fn complete(self, completion: Completion) -> io::Result<()> {
        completion.result.map(drop)
    }

    fn residue(self) {}
}
