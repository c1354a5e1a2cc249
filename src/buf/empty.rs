//! `Empty`: the buffer of a 0-byte read, asked for on purpose.

use std::ptr::NonNull;

use super::{IoBuf, IoBufMut};

/// A buffer of no bytes: a read or receive that transfers nothing, on purpose.
///
/// Every other buffer with no spare capacity makes a read or receive fail with
/// `InvalidInput`, so that an `Ok(0)` always means end of stream (see
/// [the buffer contract](crate::buf#the-buffer-contract)). `Empty` is the explicit
/// way to ask for a 0-byte operation:
///
/// - on a stream socket (TCP, Unix), a 0-byte receive is a **readiness wait**: it
///   completes with `Ok(0)` once data is waiting, and takes none of it, or at end of
///   stream (the result alone cannot tell those apart: the next real receive does);
/// - on a datagram socket it takes the next datagram and discards it, as `recv(2)`
///   with a 0-byte buffer does;
/// - on a pipe or a file, a 0-byte read completes at once with `Ok(0)`.
///
/// As a buffer to send or write, it is simply no bytes.
///
/// # Examples
///
/// Wait until a peer has something to say, then allocate the buffer to read it:
///
/// ```
/// use linear_uring::{buf::Empty, net::UnixStream, Ring};
///
/// let ring = Ring::new()?;
/// let (a, b) = UnixStream::pair(&ring)?;
/// ring.block_on(async {
///     let ready = a.recv(Empty).submit();
///     let (sent, _) = b.send(b"ping").submit().complete().await;
///     sent?;
///     // Completes once "ping" is waiting, without taking it.
///     let (n, Empty) = ready.complete().await;
///     assert_eq!(n?, 0);
///     let (n, buf) = a.recv(Vec::with_capacity(64)).submit().complete().await;
///     assert_eq!(&buf[..n?], b"ping");
///     Ok::<(), std::io::Error>(())
/// })?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Empty;

// SAFETY: zero bytes: a dangling, non-null pointer is valid for a read of none, and
// it does not depend on where `Empty` is.
unsafe impl IoBuf for Empty {
    fn stable_ptr(&self) -> *const u8 {
        NonNull::<u8>::dangling().as_ptr()
    }

    fn bytes_init(&self) -> usize {
        0
    }

    fn bytes_total(&self) -> usize {
        0
    }
}

// SAFETY: as for `IoBuf`: the same pointer, writable for its zero bytes.
unsafe impl IoBufMut for Empty {
    fn stable_mut_ptr(&mut self) -> *mut u8 {
        NonNull::<u8>::dangling().as_ptr()
    }

    unsafe fn set_init(&mut self, _len: usize) {
        // Zero bytes, all of them initialised.
    }
}
