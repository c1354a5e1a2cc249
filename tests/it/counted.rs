//! An owned buffer that counts its drops, shared by the tests that prove when the
//! ring frees a buffer.

use std::cell::Cell;
use std::rc::Rc;

use linear_uring::{IoBuf, IoBufMut};

/// An owned buffer that counts its drops, to see when the ring lets go of it.
pub(crate) struct CountedBuf {
    bytes: Vec<u8>,
    drops: Rc<Cell<usize>>,
    /// User code run by the drop, after counting it.
    on_drop: Option<Box<dyn FnOnce()>>,
}

/// The payload of a [`CountedBuf::panicking`] buffer's drop.
pub(crate) const BUFFER_PANIC: &str = "a buffer's drop panicked";

impl CountedBuf {
    pub(crate) fn new(capacity: usize) -> (CountedBuf, Rc<Cell<usize>>) {
        let drops = Rc::new(Cell::new(0));
        let buf = CountedBuf {
            bytes: Vec::with_capacity(capacity),
            drops: drops.clone(),
            on_drop: None,
        };
        (buf, drops)
    }

    /// A buffer whose drop counts itself and then runs `on_drop`, as a pooled buffer
    /// returning itself to its pool would.
    pub(crate) fn with_drop(
        capacity: usize,
        on_drop: impl FnOnce() + 'static,
    ) -> (CountedBuf, Rc<Cell<usize>>) {
        let (mut buf, drops) = CountedBuf::new(capacity);
        buf.on_drop = Some(Box::new(on_drop));
        (buf, drops)
    }

    /// A buffer whose drop counts itself and then panics with [`BUFFER_PANIC`], as a
    /// pooled buffer that finds its pool borrowed might.
    pub(crate) fn panicking(capacity: usize) -> (CountedBuf, Rc<Cell<usize>>) {
        CountedBuf::with_drop(capacity, || std::panic::panic_any(BUFFER_PANIC))
    }
}

impl Drop for CountedBuf {
    fn drop(&mut self) {
        self.drops.set(self.drops.get() + 1);
        if let Some(on_drop) = self.on_drop.take() {
            on_drop();
        }
    }
}

// SAFETY: every method forwards to the `Vec<u8>`, whose implementation keeps the
// promises; the counter is not part of the memory lent to the kernel, and moving a
// `CountedBuf` moves the Vec's pointer, not its heap buffer.
unsafe impl IoBuf for CountedBuf {
    fn stable_ptr(&self) -> *const u8 {
        self.bytes.stable_ptr()
    }

    fn bytes_init(&self) -> usize {
        self.bytes.bytes_init()
    }

    fn bytes_total(&self) -> usize {
        self.bytes.bytes_total()
    }
}

// SAFETY: as for `IoBuf`: forwards to the Vec's implementation.
unsafe impl IoBufMut for CountedBuf {
    fn stable_mut_ptr(&mut self) -> *mut u8 {
        self.bytes.stable_mut_ptr()
    }

    unsafe fn set_init(&mut self, len: usize) {
        // SAFETY: the caller's promise is passed on unchanged.
        unsafe { self.bytes.set_init(len) }
    }
}
