//! An implementation of `Linear` that says how the work finishes, and not how it
//! stops: no `poll_cancel`.
//! Lesson: a linear type must say how it stops. `poll_cancel` has no default,
//! because only the type knows what its ops had done when the cancel came: the
//! bytes sent, the reply received so far. `start_cancel` alone asks; `poll_cancel`
//! reports.
use std::io;
use std::task::{Context, Poll};

use linear_uring::net::UnixStream;
use linear_uring::op::Recv;
use linear_uring::{Linear, Op};

/// Receives a reply line: one receive after another until a newline.
struct Reply<'a> {
    stream: &'a UnixStream,
    recv: Op<Recv<Vec<u8>>>,
}

impl Linear for Reply<'_> {
    type Output = (io::Result<usize>, Vec<u8>);
    type Residue = Vec<u8>;

    fn poll_complete(&mut self, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let (result, mut reply) = std::task::ready!(self.recv.poll_complete(cx));
        if result.is_ok() && !reply.contains(&b'\n') {
            reply.reserve(64);
            self.recv = self.stream.recv(reply).submit();
            return self.poll_complete(cx);
        }
        Poll::Ready((result, reply))
    }

    fn start_cancel(&mut self) {
        self.recv.start_cancel();
    }
}

fn main() {}
