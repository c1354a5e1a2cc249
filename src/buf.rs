//! Owned buffers: memory the kernel reads from or writes into while an op is in
//! flight.
//!
//! A buffer is moved into the op that uses it and comes back with the op's output
//! (`(io::Result<T>, B)`), after an error, and from `cancel()` (`Cancelled(buf)`).
//! While the op is in flight the ring's table owns it, so neither the caller nor a
//! dropped token can touch or free memory the kernel may still access.
//!
//! # The buffer contract
//!
//! It is std's `read_buf` contract, the same for every op:
//!
//! - A write or send transfers the **initialised** bytes,
//!   `[0, bytes_init())`.
//! - A read or receive fills the **spare capacity** after them,
//!   `[bytes_init(), bytes_total())`, and grows the initialised length by the count
//!   it returns. It never overwrites an initialised byte: a receive of `"abc"` into a
//!   `Vec` holding `"HEADER:"` gives `"HEADER:abc"`, and a receive of 2 bytes into
//!   `Vec::with_capacity(16)` gives a `Vec` of length 2, ready to be sent back.
//! - A read or receive into a buffer with no spare capacity fails at once with
//!   [`io::ErrorKind::InvalidInput`], before it reaches the kernel, and the buffer
//!   comes back: an `Ok(0)` always means end of stream, never "there was no room".
//!   A deliberate 0-byte read (a readiness wait) takes [`Empty`].
//!
//! So `vec![0u8; 16]`, which has no spare capacity, is the wrong buffer for a
//! receive: pass `Vec::with_capacity(16)`, or `clear()` a buffer you reuse. To send
//! or read only part of a buffer without copying, take a [`Slice`] of it with
//! [`IoBuf::slice`].
//!
//! # Implementations
//!
//! | type | `IoBuf` (write, send) | `IoBufMut` (read, receive) |
//! |---|---|---|
//! | `Vec<u8>` | its `len()` bytes | its spare capacity, `capacity() - len()` |
//! | [`Slice<B>`] | the initialised part of the view | the view's spare part |
//! | `Box<[u8]>` | all of it | no: always full, it has no spare room |
//! | `&'static [u8]`, `&'static [u8; N]` (a literal `b".."`), `&'static str` | all of it | no: shared |
//! | [`Empty`] | nothing | a 0-byte read, on purpose |
//! | `bytes::Bytes` (feature `bytes`) | all of it | no: shared |
//! | `bytes::BytesMut` (feature `bytes`) | its `len()` bytes | its spare capacity |
//!
//! An array by value (`[u8; N]`, such as `id.to_be_bytes()`) is not a buffer: its
//! bytes move with it, and a buffer's address must stay the same while the op that
//! owns it moves into the ring. Copy it into a `Vec` with `.to_vec()`.

use std::any::TypeId;
use std::io;

mod empty;
mod ring;
mod slice;

#[cfg(feature = "bytes")]
mod bytes;

pub use empty::Empty;
pub(crate) use ring::Shared as BufGroup;
pub use ring::{BufRing, ProvidedBuf};
pub use slice::Slice;

/// A buffer the kernel may read from: a stable address and an initialised length.
///
/// A write or send transfers the first [`bytes_init`](IoBuf::bytes_init) bytes; see
/// [the buffer contract](crate::buf#the-buffer-contract).
///
/// # Safety
///
/// Implementors promise that:
///
/// - [`stable_ptr`](IoBuf::stable_ptr) points to at least
///   [`bytes_total`](IoBuf::bytes_total) bytes of one allocation, of which the first
///   [`bytes_init`](IoBuf::bytes_init) are initialised;
/// - the pointer and that memory stay valid, and the pointer stays the same, when the
///   value is moved, for as long as the value is neither dropped nor accessed through
///   `&mut` (the op table holds it untouched while the kernel uses it);
/// - `bytes_init() <= bytes_total()`.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be lent to the kernel as an owned buffer: move in a `Vec<u8>` (`.to_vec()` copies bytes into one)",
    note = "owned buffers are `Vec<u8>`, `Box<[u8]>`, `&'static [u8]`, `&'static [u8; N]` (a literal `b\"..\"`), `&'static str` and a `Slice` of one (`buf.slice(n..)`); the op owns the buffer until the kernel is done with it and hands it back",
    note = "an array by value (such as `id.to_be_bytes()`) moves, and a buffer must stay put while the kernel uses it: copy it into a `Vec` with `.to_vec()`"
)]
pub unsafe trait IoBuf: 'static {
    /// Where the bytes start. Never dangling for a non-zero `bytes_total`.
    fn stable_ptr(&self) -> *const u8;

    /// How many bytes are initialised: what a write or send transfers.
    fn bytes_init(&self) -> usize;

    /// How many bytes the allocation holds. A read or receive fills
    /// `bytes_total() - bytes_init()` bytes at most, after the initialised ones.
    fn bytes_total(&self) -> usize;

    /// A view of `range` of this buffer, owning it: to send or write from an offset,
    /// or to cap how much a read may add, without copying.
    ///
    /// The view's bytes are `begin..end` of the buffer; an open end is
    /// [`bytes_total`](IoBuf::bytes_total). A write or send of the view transfers the
    /// initialised bytes in it, `begin..min(end, bytes_init())`; a read or receive
    /// into it fills its spare part, after the buffer's initialised bytes and never
    /// past `end`, and grows the buffer's initialised length. [`Slice::into_inner`]
    /// gives the whole buffer back.
    ///
    /// # Panics
    ///
    /// If the range is out of bounds: its start is past its end, past the buffer's
    /// initialised bytes (a read could not append there, and a write would find
    /// nothing to send), or its end is past [`bytes_total`](IoBuf::bytes_total).
    ///
    /// # Examples
    ///
    /// A short send continued from where it stopped:
    ///
    /// ```
    /// use linear_uring::{net::UnixStream, IoBuf, Ring};
    ///
    /// let ring = Ring::new()?;
    /// let (a, b) = UnixStream::pair(&ring)?;
    /// ring.block_on(async {
    ///     let buf = b"hello, world".to_vec();
    ///     let (sent, buf) = a.send(buf).submit().complete().await;
    ///     let n = sent?;
    ///     // The kernel may take fewer bytes than offered: send the rest, no copy.
    ///     let (rest, slice) = a.send(buf.slice(n..)).submit().complete().await;
    ///     assert_eq!(n + rest?, 12);
    ///     let buf = slice.into_inner();
    ///     assert_eq!(buf, b"hello, world");
    ///
    ///     let (received, got) = b.recv(Vec::with_capacity(64)).submit().complete().await;
    ///     assert!(received? > 0 && got.starts_with(b"hello"));
    ///     Ok::<(), std::io::Error>(())
    /// })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[track_caller]
    fn slice(self, range: impl std::ops::RangeBounds<usize>) -> Slice<Self>
    where
        Self: Sized,
    {
        Slice::new(self, range)
    }
}

/// A buffer the kernel may write into: a read or receive fills its spare capacity,
/// after the initialised bytes.
///
/// The op writes at `stable_mut_ptr() + bytes_init()`, at most
/// `bytes_total() - bytes_init()` bytes, then calls `set_init(bytes_init() + n)`; see
/// [the buffer contract](crate::buf#the-buffer-contract). A buffer with no spare
/// capacity makes the op fail with `InvalidInput` before it reaches the kernel.
///
/// # Safety
///
/// Everything [`IoBuf`] promises, and [`stable_mut_ptr`](IoBufMut::stable_mut_ptr)
/// returns the same address as `stable_ptr`, through which the spare capacity, the
/// bytes from `bytes_init()` to `bytes_total()`, is writable (a read writes nowhere
/// else).
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be read into: a read or receive needs an owned buffer with spare capacity",
    label = "not an owned buffer with room to append to",
    note = "the kernel may write into the buffer until the op completes, even after its token or your function is gone, so the op owns it; it writes after the initialised bytes (std's `read_buf` contract), so it needs room there: pass `Vec::with_capacity(n)`, a `Vec` you `clear()`, or a `Slice` of one (`buf.slice(..end)`); it comes back with the output, `(io::Result<usize>, buf)`",
    note = "`Box<[u8]>` and arrays are always full: they have no spare capacity to read into"
)]
pub unsafe trait IoBufMut: IoBuf {
    /// Where the buffer starts; the kernel writes after its initialised bytes.
    fn stable_mut_ptr(&mut self) -> *mut u8;

    /// Records that the first `len` bytes are now initialised. Never shrinks the
    /// initialised length.
    ///
    /// # Safety
    ///
    /// The first `len` bytes must have been initialised (written by the kernel, or
    /// already initialised), and `len <= bytes_total()`.
    unsafe fn set_init(&mut self, len: usize);
}

/// The most one read, write, send or receive transfers: the kernel's
/// `MAX_RW_COUNT` (`INT_MAX` rounded down to a page). `read(2)` and `send(2)` cap a
/// longer length at it; io_uring rejects it with `EINVAL`, so every op caps it here
/// and reports a partial transfer, as the system calls do.
pub(crate) const MAX_IO_LEN: usize = 0x7fff_f000;

/// A buffer length as an entry's `len`, capped at [`MAX_IO_LEN`].
pub(crate) fn io_len(len: usize) -> u32 {
    len.min(MAX_IO_LEN) as u32
}

/// Where a read or receive writes: the spare capacity after the initialised bytes.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Spare {
    /// `stable_mut_ptr() + init`.
    pub(crate) ptr: *mut u8,
    /// The initialised length when the entry was built; the op records `init + n`.
    pub(crate) init: usize,
    /// How many bytes the kernel may write, capped at [`MAX_IO_LEN`].
    pub(crate) len: usize,
}

impl Spare {
    /// The spare capacity of `buf`, for an entry built now.
    pub(crate) fn of<B: IoBufMut>(buf: &mut B) -> Spare {
        // Asked once each: the methods are user code, and the entry must agree with
        // what the completion records.
        let init = buf.bytes_init();
        let total = buf.bytes_total();
        let len = total.saturating_sub(init).min(MAX_IO_LEN);
        // `wrapping_add` keeps this safe code: the pointer is only dereferenced by the
        // kernel, for `len` bytes, which are inside the allocation when `len > 0`.
        let ptr = buf.stable_mut_ptr().wrapping_add(init);
        Spare { ptr, init, len }
    }

    /// The initialised length once the kernel has written `n` bytes here: at most
    /// `init + len`, whatever the completion says.
    pub(crate) fn filled(&self, n: usize) -> usize {
        self.init + n.min(self.len)
    }
}

/// Fails a read or receive whose buffer has no spare capacity, before it reaches the
/// kernel, so that an `Ok(0)` only ever means end of stream. [`Empty`] passes: it asks
/// for a 0-byte read on purpose.
pub(crate) fn check_spare<B: IoBufMut>(buf: &B, op: &str) -> io::Result<()> {
    // A type check, not a trait method: only the library's own `Empty` can opt in,
    // so no buffer type brings back the `Ok(0)` that looks like end of stream.
    if TypeId::of::<B>() == TypeId::of::<Empty>() {
        return Ok(());
    }
    let (init, total) = (buf.bytes_init(), buf.bytes_total());
    if init < total {
        return Ok(());
    }
    Err(io::Error::new(
        io::ErrorKind::InvalidInput,
        format!(
            "{op}: the buffer has no spare capacity (len {init} == capacity {total}): a read \
             appends after the initialised bytes; pass `Vec::with_capacity(n)`, or \
             `clear()`/`reserve(n)` it first (for a 0-byte read on purpose, pass \
             `buf::Empty`)"
        ),
    ))
}

/// The most buffers one vectored read or write takes: the kernel's `UIO_MAXIOV`
/// (`IOV_MAX`), past which `readv(2)` and `writev(2)` fail with `EINVAL`.
pub(crate) const MAX_IOVECS: usize = 1024;

/// Fails a vectored read or write of more than [`MAX_IOVECS`] buffers, before it
/// reaches the kernel, saying why.
pub(crate) fn check_iovecs(count: usize, op: &str) -> io::Result<()> {
    if count <= MAX_IOVECS {
        return Ok(());
    }
    Err(io::Error::new(
        io::ErrorKind::InvalidInput,
        format!(
            "{op}: {count} buffers, more than the {MAX_IOVECS} one vectored op takes \
             (IOV_MAX); split them over several ops"
        ),
    ))
}

/// Fails a vectored read that has nowhere to write, before it reaches the kernel:
/// no buffer at all, or no spare capacity in any of them (see [`check_spare`]). A
/// full buffer among others with room is skipped, as a 0-length `iovec`.
pub(crate) fn check_spare_vectored<B: IoBufMut>(bufs: &[B], op: &str) -> io::Result<()> {
    let Some(first) = bufs.first() else {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "{op}: no buffers: a vectored read needs at least one buffer with spare \
                 capacity (`Vec::with_capacity(n)`)"
            ),
        ));
    };
    if TypeId::of::<B>() == TypeId::of::<Empty>() {
        return Ok(());
    }
    if bufs.iter().any(|buf| buf.bytes_init() < buf.bytes_total()) {
        return Ok(());
    }
    if bufs.len() == 1 {
        return check_spare(first, op);
    }
    Err(io::Error::new(
        io::ErrorKind::InvalidInput,
        format!(
            "{op}: none of the {} buffers has spare capacity (each one's len == its \
             capacity): a read appends after the initialised bytes; pass \
             `Vec::with_capacity(n)`, or `clear()`/`reserve(n)` them first",
            bufs.len()
        ),
    ))
}

// SAFETY: a Vec's heap buffer does not move when the Vec does, holds `capacity()`
// bytes of which `len()` are initialised, and changes only through `&mut`.
unsafe impl IoBuf for Vec<u8> {
    fn stable_ptr(&self) -> *const u8 {
        self.as_ptr()
    }

    fn bytes_init(&self) -> usize {
        self.len()
    }

    fn bytes_total(&self) -> usize {
        self.capacity()
    }
}

// SAFETY: as for `IoBuf`; `as_mut_ptr` is the same address, writable for capacity.
unsafe impl IoBufMut for Vec<u8> {
    fn stable_mut_ptr(&mut self) -> *mut u8 {
        self.as_mut_ptr()
    }

    unsafe fn set_init(&mut self, len: usize) {
        if self.len() < len {
            // SAFETY: the caller promises `len <= capacity()` and that the first `len`
            // bytes were initialised.
            unsafe { self.set_len(len) };
        }
    }
}

// SAFETY: a boxed slice's heap memory does not move with the box; all of it is
// initialised.
//
// Not `IoBufMut`: a read appends after the initialised bytes, and a boxed slice has
// none spare, so every read into one would fail.
unsafe impl IoBuf for Box<[u8]> {
    fn stable_ptr(&self) -> *const u8 {
        self.as_ptr()
    }

    fn bytes_init(&self) -> usize {
        self.len()
    }

    fn bytes_total(&self) -> usize {
        self.len()
    }
}

// SAFETY: 'static shared memory never moves, is never freed, and is never mutated.
unsafe impl IoBuf for &'static [u8] {
    fn stable_ptr(&self) -> *const u8 {
        self.as_ptr()
    }

    fn bytes_init(&self) -> usize {
        self.len()
    }

    fn bytes_total(&self) -> usize {
        self.len()
    }
}

// SAFETY: as for `&'static [u8]`: the reference is copied when moved, never the
// array it points to.
unsafe impl<const N: usize> IoBuf for &'static [u8; N] {
    fn stable_ptr(&self) -> *const u8 {
        self.as_ptr()
    }

    fn bytes_init(&self) -> usize {
        N
    }

    fn bytes_total(&self) -> usize {
        N
    }
}

// SAFETY: as for `&'static [u8]`.
unsafe impl IoBuf for &'static str {
    fn stable_ptr(&self) -> *const u8 {
        self.as_ptr()
    }

    fn bytes_init(&self) -> usize {
        self.len()
    }

    fn bytes_total(&self) -> usize {
        self.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vec_set_init_grows_but_never_shrinks() {
        let mut buf = Vec::with_capacity(16);
        buf.extend_from_slice(b"abcd");
        let ptr = buf.stable_mut_ptr();
        // SAFETY: writes within capacity, then records what was written.
        unsafe {
            ptr.copy_from_nonoverlapping(b"0123456789".as_ptr(), 10);
            buf.set_init(10);
        }
        assert_eq!(buf, b"0123456789");
        // SAFETY: 2 <= len: a no-op.
        unsafe { buf.set_init(2) };
        assert_eq!(buf.len(), 10);
    }

    #[test]
    fn vec_pointer_is_stable_across_moves() {
        let buf: Vec<u8> = Vec::with_capacity(64);
        let before = buf.stable_ptr();
        let moved = Box::new(buf);
        assert_eq!(moved.stable_ptr(), before);
        assert_eq!(moved.bytes_total(), 64);
        assert_eq!(moved.bytes_init(), 0);
    }

    #[test]
    fn static_str_is_fully_initialised() {
        let buf: &'static str = "hello";
        assert_eq!(buf.bytes_init(), 5);
        assert_eq!(buf.bytes_total(), 5);
    }

    #[test]
    fn static_array_ref_is_its_bytes() {
        let buf: &'static [u8; 6] = b"hello\n";
        assert_eq!(buf.stable_ptr(), buf.as_ptr());
        assert_eq!((buf.bytes_init(), buf.bytes_total()), (6, 6));
    }

    #[test]
    fn spare_of_vec_starts_after_the_initialised_bytes() {
        let mut buf = Vec::with_capacity(16);
        buf.extend_from_slice(b"HEADER:");
        let base = buf.as_ptr();
        let spare = Spare::of(&mut buf);
        assert_eq!(spare.ptr.cast_const(), base.wrapping_add(7));
        assert_eq!(spare.init, 7);
        assert_eq!(spare.len, buf.capacity() - 7);
        assert_eq!(spare.filled(3), 10);
        assert_eq!(
            spare.filled(usize::MAX),
            buf.capacity(),
            "capped at the spare room"
        );
    }

    #[test]
    fn check_spare_full_vec_is_invalid_input_naming_the_fix() {
        let buf = vec![0u8; 16];
        let err = check_spare(&buf, "Recv").unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
        let message = err.to_string();
        assert!(message.contains("len 16 == capacity 16"), "{message}");
        assert!(message.contains("Vec::with_capacity(n)"), "{message}");
        assert!(message.starts_with("Recv: "), "{message}");
    }

    #[test]
    fn check_spare_new_vec_is_invalid_input() {
        let err = check_spare(&Vec::new(), "Read").unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
    }

    #[test]
    fn check_spare_vec_with_room_passes() {
        let mut buf = Vec::with_capacity(8);
        buf.push(1);
        check_spare(&buf, "Recv").unwrap();
    }

    #[test]
    fn check_spare_vectored_refuses_no_buffers_and_all_full() {
        let none: Vec<Vec<u8>> = Vec::new();
        let err = check_spare_vectored(&none, "Readv").unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
        assert!(err.to_string().contains("no buffers"), "{err}");
        let full = vec![vec![1u8; 4], vec![2u8; 8]];
        let err = check_spare_vectored(&full, "Readv").unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
        assert!(err.to_string().contains("none of the 2 buffers"), "{err}");
        let one = vec![vec![1u8; 4]];
        let err = check_spare_vectored(&one, "Readv").unwrap_err();
        assert!(err.to_string().contains("len 4 == capacity 4"), "{err}");
    }

    #[test]
    fn check_spare_vectored_passes_when_any_buffer_has_room() {
        let bufs = vec![vec![1u8; 4], Vec::with_capacity(8)];
        check_spare_vectored(&bufs, "Readv").unwrap();
        check_spare_vectored(&[Empty, Empty], "Readv").unwrap();
    }

    #[test]
    fn check_iovecs_refuses_more_than_iov_max() {
        check_iovecs(MAX_IOVECS, "Writev").unwrap();
        let err = check_iovecs(MAX_IOVECS + 1, "Writev").unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
        assert!(err.to_string().contains("1025 buffers"), "{err}");
    }

    #[test]
    fn check_spare_empty_passes_on_purpose() {
        check_spare(&Empty, "Recv").unwrap();
    }
}
