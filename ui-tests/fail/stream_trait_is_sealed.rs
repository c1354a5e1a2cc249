//! Misuse: implementing `net::Stream` outside linear-uring, to make `accept` or
//! `connect` produce a stream type of your own.
//!
//! Lesson: `Stream` is sealed. An accept that completes after its token was dropped
//! produces a descriptor nobody asked for, and the library must be able to close
//! it; that only holds for its own stream types. Accept a `TcpStream` or
//! `UnixStream` and convert it (`into_std`, `AsFd`) or wrap it in your own type.

use std::io;
use std::os::fd::OwnedFd;

use linear_uring::net::Stream;
use linear_uring::Ring;

struct Tls {
    _fd: OwnedFd,
}

impl Stream for Tls {
    type Addr = ();

    fn from_connected(_ring: Ring, fd: OwnedFd) -> Self {
        Tls { _fd: fd }
    }

    fn from_accepted(
        _ring: Ring,
        fd: OwnedFd,
        _addr: &libc::sockaddr_storage,
        _len: libc::socklen_t,
    ) -> io::Result<(Self, ())> {
        Ok((Tls { _fd: fd }, ()))
    }
}

fn main() {}
