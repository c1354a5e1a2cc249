//! Misuse: implementing `OpKind` outside linear-uring, to submit an opcode of your
//! own (here an fsync built with the `io-uring` crate).
//!
//! Lesson: `OpKind` is sealed. The kernel-facing half of an op (its submission
//! entry, what memory the kernel may touch and until when, what a late completion
//! must release) is the library's responsibility, because getting it wrong is
//! undefined behaviour or a leaked descriptor. Compose the provided ops instead.

use std::io;

use io_uring::{opcode, squeue, types};
use linear_uring::op::Completion;
use linear_uring::OpKind;

struct Fsync {
    fd: i32,
}

impl OpKind for Fsync {
    type Output = io::Result<()>;
    type Residue = ();
    const NAME: &'static str = "Fsync";
    const OPCODE: u8 = opcode::Fsync::CODE;

    fn sqe(&mut self) -> squeue::Entry {
        opcode::Fsync::new(types::Fd(self.fd)).build()
    }

    fn complete(self, _completion: Completion) -> io::Result<()> {
        Ok(())
    }

    fn residue(self) {}
}

fn main() {}
