//! Composite operations: several ops in sequence, as one [`Linear`](crate::Linear)
//! value.
//!
//! A composite op ([`WriteAll`], [`ReadExact`], [`Copying`]) is built only from
//! tokens. Like a token, it is submitted when it is made (its first op is in the ring
//! when the constructor returns), it is a debt (`#[must_use]`), and it can be
//! completed (`.await`, [`complete`](WriteAll::complete)), raced against a timer or
//! another op ([`race`](crate::race), [`select`](crate::select)), given a deadline
//! ([`deadline`](crate::deadline)) or cancelled ([`cancel`](WriteAll::cancel)). A
//! cancel stops the op in flight and reports the progress made, handing everything
//! back: nothing is lost.
//!
//! Dropping one unfinished drops the token of its op in flight: the ring's
//! [`DropPolicy`](crate::DropPolicy) applies, naming the line where the composite op
//! was created.

use std::io;
use std::panic::Location;

use crate::buf::{IoBuf, IoBufMut};
use crate::fd::SharedFd;
use crate::op::{Read, Recv, Send, Write};
use crate::{Op, Ring};

mod copy;
mod read_exact;
mod write_all;

pub(crate) use copy::sealed::Endpoints;
pub use copy::{copy, Copied, Copying, Sink, Source};
pub use read_exact::ReadExact;
pub use write_all::WriteAll;

/// What a cancelled composite transfer hands back: how many bytes it had moved, and
/// the buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Progress<B> {
    /// Bytes transferred before the cancel took effect.
    pub done: usize,
    /// The buffer, whole.
    pub buf: B,
}

/// Where a composite op's steps go: a socket (sends and receives) or a file (writes
/// and reads at its position, or at an offset).
///
/// `pub` but unnameable (this module is private): the sealed supertrait of
/// [`Source`] and [`Sink`] returns it.
#[derive(Clone)]
pub struct Endpoint {
    ring: Ring,
    fd: SharedFd,
    kind: EndpointKind,
}

/// How an [`Endpoint`] transfers bytes.
#[derive(Debug, Clone, Copy)]
pub(crate) enum EndpointKind {
    Socket,
    /// A file at its current position (`None`), or from an offset.
    File(Option<u64>),
}

/// The file offset that means "the current position" to the kernel.
const CURRENT_POSITION: u64 = u64::MAX;

impl Endpoint {
    pub(crate) fn socket(ring: &Ring, fd: &SharedFd) -> Endpoint {
        Endpoint {
            ring: ring.clone(),
            fd: fd.clone(),
            kind: EndpointKind::Socket,
        }
    }

    pub(crate) fn file(ring: &Ring, fd: &SharedFd, offset: Option<u64>) -> Endpoint {
        Endpoint {
            ring: ring.clone(),
            fd: fd.clone(),
            kind: EndpointKind::File(offset),
        }
    }

    /// The file offset `done` bytes into the transfer, or an error if it overflows.
    fn offset(&self, done: usize) -> io::Result<Option<u64>> {
        match self.kind {
            EndpointKind::Socket => Ok(None),
            EndpointKind::File(None) => Ok(Some(CURRENT_POSITION)),
            // `CURRENT_POSITION` is not a file offset: landing on it is overflow too.
            EndpointKind::File(Some(offset)) => (done as u64)
                .checked_add(offset)
                .filter(|&at| at != CURRENT_POSITION)
                .map(Some)
                .ok_or_else(|| {
                    io::Error::new(
                        io::ErrorKind::InvalidInput,
                        "the file offset of the transfer overflows u64",
                    )
                }),
        }
    }

    /// Submits a write of `buf[done..]`.
    fn write<B: IoBuf>(
        &self,
        buf: B,
        done: usize,
        location: &'static Location<'static>,
    ) -> Result<WriteStep<B>, (io::Error, B)> {
        Ok(match self.offset(done) {
            Err(err) => return Err((err, buf)),
            Ok(None) => {
                WriteStep::Send(Send::prepare(&self.ring, &self.fd, buf, done).submit_at(location))
            }
            Ok(Some(at)) => WriteStep::Write(
                Write::prepare(&self.ring, &self.fd, buf, done, at).submit_at(location),
            ),
        })
    }

    /// Submits a read into `buf`'s spare capacity, `done` bytes into the transfer.
    fn read<B: IoBufMut>(
        &self,
        buf: B,
        done: usize,
        location: &'static Location<'static>,
    ) -> Result<ReadStep<B>, (io::Error, B)> {
        Ok(match self.offset(done) {
            Err(err) => return Err((err, buf)),
            Ok(None) => {
                ReadStep::Recv(Recv::prepare(&self.ring, &self.fd, buf).submit_at(location))
            }
            Ok(Some(at)) => {
                ReadStep::Read(Read::prepare(&self.ring, &self.fd, buf, at).submit_at(location))
            }
        })
    }
}

impl std::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Endpoint")
            .field("fd", &self.fd)
            .field("kind", &self.kind)
            .finish()
    }
}

/// One step of a composite op: a token whose output is a byte count and a buffer.
/// The enums below hold one of two kinds of token, and forward to it.
macro_rules! step {
    ($name:ident, $bound:ident, $a:ident($ka:ident), $b:ident($kb:ident)) => {
        #[derive(Debug)]
        pub(crate) enum $name<B: $bound> {
            $a(Op<$ka<B>>),
            $b(Op<$kb<B>>),
        }

        impl<B: $bound> $name<B> {
            fn poll_complete(
                &mut self,
                cx: &mut std::task::Context<'_>,
            ) -> std::task::Poll<(io::Result<usize>, B)> {
                use crate::Linear;
                match self {
                    $name::$a(op) => op.poll_complete(cx),
                    $name::$b(op) => op.poll_complete(cx),
                }
            }

            fn start_cancel(&mut self) {
                use crate::Linear;
                match self {
                    $name::$a(op) => op.start_cancel(),
                    $name::$b(op) => op.start_cancel(),
                }
            }

            fn poll_cancel(
                &mut self,
                cx: &mut std::task::Context<'_>,
            ) -> std::task::Poll<crate::CancelOutcome<(io::Result<usize>, B), B>> {
                use crate::Linear;
                match self {
                    $name::$a(op) => op.poll_cancel(cx),
                    $name::$b(op) => op.poll_cancel(cx),
                }
            }
        }
    };
}

step!(WriteStep, IoBuf, Send(Send), Write(Write));
step!(ReadStep, IoBufMut, Recv(Recv), Read(Read));
