//! Owned buffers: memory the kernel reads from or writes into while an op is in
//! flight.
//!
//! A buffer is moved into the op that uses it and comes back with the op's output
//! (`(io::Result<T>, B)`), after an error, and from `cancel()` (`Cancelled(buf)`).
//! While the op is in flight the ring's table owns it, so neither the caller nor a
//! dropped token can touch or free memory the kernel may still access.

/// A buffer the kernel may read from: a stable address and an initialised length.
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
    message = "`{Self}` cannot be lent to the kernel as an owned buffer",
    note = "owned buffers are `Vec<u8>`, `Box<[u8]>`, `&'static [u8]` and `&'static str`; the op owns the buffer until the kernel is done with it and hands it back"
)]
pub unsafe trait IoBuf: 'static {
    /// Where the bytes start. Never dangling for a non-zero `bytes_total`.
    fn stable_ptr(&self) -> *const u8;

    /// How many bytes are initialised: what a write or send transfers.
    fn bytes_init(&self) -> usize;

    /// How many bytes the allocation holds: what a read or receive may fill.
    fn bytes_total(&self) -> usize;
}

/// A buffer the kernel may write into.
///
/// # Safety
///
/// Everything [`IoBuf`] promises, and [`stable_mut_ptr`](IoBufMut::stable_mut_ptr)
/// returns the same address as `stable_ptr`, writable for `bytes_total()` bytes.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be lent to the kernel as an owned buffer to write into",
    label = "the op must own this buffer while the kernel may write into it",
    note = "the kernel may write into the buffer until the op completes, even after its token or your function is gone, so the op owns it: pass a `Vec<u8>` (its spare capacity is filled) or a `Box<[u8]>`; it comes back with the output, `(io::Result<usize>, buf)`"
)]
pub unsafe trait IoBufMut: IoBuf {
    /// Where the kernel may write.
    fn stable_mut_ptr(&mut self) -> *mut u8;

    /// Records that the first `len` bytes are now initialised. Never shrinks the
    /// initialised length.
    ///
    /// # Safety
    ///
    /// The first `len` bytes must have been initialised (written by the kernel), and
    /// `len <= bytes_total()`.
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

// SAFETY: as for `IoBuf`; the same memory is writable through `&mut`.
unsafe impl IoBufMut for Box<[u8]> {
    fn stable_mut_ptr(&mut self) -> *mut u8 {
        self.as_mut_ptr()
    }

    unsafe fn set_init(&mut self, _len: usize) {
        // Always fully initialised.
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
}
