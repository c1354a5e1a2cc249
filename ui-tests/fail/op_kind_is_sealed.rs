//! Misuse: implementing `OpKind` outside linear-uring, to submit an opcode of your
//! own (here an `epoll_ctl` built with the `io-uring` crate).
//!
//! Lesson: `OpKind` is sealed. The kernel-facing half of an op (its submission
//! entry, what memory the kernel may touch and until when, what a late completion
//! must release) is the library's responsibility, because getting it wrong is
//! undefined behaviour or a leaked descriptor. Compose the provided ops instead.

use std::io;

use io_uring::{opcode, squeue, types};
use linear_uring::op::Completion;
use linear_uring::OpKind;

struct EpollCtl {
    epfd: i32,
    fd: i32,
    event: Box<libc::epoll_event>,
}

impl OpKind for EpollCtl {
    type Output = io::Result<()>;
    type Residue = ();
    const NAME: &'static str = "EpollCtl";
    const OPCODE: u8 = opcode::EpollCtl::CODE;

    fn sqe(&mut self) -> squeue::Entry {
        let event: *const libc::epoll_event = &*self.event;
        opcode::EpollCtl::new(
            types::Fd(self.epfd),
            types::Fd(self.fd),
            libc::EPOLL_CTL_ADD,
            event.cast(),
        )
        .build()
    }

    fn complete(self, _completion: Completion) -> io::Result<()> {
        Ok(())
    }

    fn residue(self) {}
}

fn main() {}
