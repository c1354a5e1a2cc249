//! `Slice`: a view of part of an owned buffer, owning it.

use std::ops::{Bound, RangeBounds};

use super::{IoBuf, IoBufMut};

/// A view of the bytes `begin..end` of an owned buffer, which it owns: made by
/// [`IoBuf::slice`].
///
/// A write or send of the slice transfers the initialised bytes in it,
/// `begin..min(end, bytes_init())` of the buffer: the way to continue a short send
/// from where it stopped, without copying. A read or receive into it fills its spare
/// part, after the buffer's initialised bytes and never past `end`, and grows the
/// buffer's initialised length: the way to cap how much a read may add. The op hands
/// the slice back; [`into_inner`](Slice::into_inner) gives the whole buffer.
///
/// A slice always measures its view against the buffer as it is now: if the buffer
/// changed through [`get_mut`](Slice::get_mut), the view shrinks to what is still
/// there, and if its initialised bytes now end before `begin`, a read into the slice
/// fills the gap with zeroes when it records its bytes, so that the buffer never
/// holds uninitialised bytes.
///
/// # Examples
///
/// Read at most 4 more bytes after a header, into a buffer with more room:
///
/// ```
/// use linear_uring::{net::UnixStream, IoBuf, Ring};
///
/// let ring = Ring::new()?;
/// let (a, b) = UnixStream::pair(&ring)?;
/// ring.block_on(async {
///     let (sent, _) = b.send(b"abcdefgh").submit().complete().await;
///     sent?;
///     let mut buf = Vec::with_capacity(64);
///     buf.extend_from_slice(b"HEADER:");
///     let end = buf.len() + 4;
///     let (n, slice) = a.recv(buf.slice(..end)).submit().complete().await;
///     assert_eq!(n?, 4);
///     assert_eq!(slice.into_inner(), b"HEADER:abcd");
///     Ok::<(), std::io::Error>(())
/// })?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct Slice<B> {
    buf: B,
    begin: usize,
    end: usize,
}

impl<B: IoBuf> Slice<B> {
    /// The view `range` of `buf`; see [`IoBuf::slice`] for the bounds it checks.
    #[track_caller]
    pub(super) fn new(buf: B, range: impl RangeBounds<usize>) -> Slice<B> {
        let (init, total) = (buf.bytes_init(), buf.bytes_total());
        let begin = match range.start_bound() {
            Bound::Included(&begin) => begin,
            Bound::Excluded(&begin) => begin
                .checked_add(1)
                .expect("slice range starts past usize::MAX"),
            Bound::Unbounded => 0,
        };
        let end = match range.end_bound() {
            Bound::Included(&end) => end
                .checked_add(1)
                .expect("slice range ends past usize::MAX"),
            Bound::Excluded(&end) => end,
            Bound::Unbounded => total,
        };
        assert!(
            begin <= end,
            "slice range starts at {begin} but ends at {end}"
        );
        assert!(
            end <= total,
            "slice range ends at {end}, past the end of the buffer ({total} bytes, its \
             capacity)"
        );
        assert!(
            begin <= init,
            "slice range starts at {begin}, past the buffer's {init} initialised bytes: a \
             write sends initialised bytes and a read appends right after them, so a slice \
             starts at or before `bytes_init()`"
        );
        Slice { buf, begin, end }
    }
}

impl<B> Slice<B> {
    /// Where the view starts in the buffer.
    pub fn begin(&self) -> usize {
        self.begin
    }

    /// Where the view ends in the buffer (exclusive).
    pub fn end(&self) -> usize {
        self.end
    }

    /// The whole buffer.
    pub fn get_ref(&self) -> &B {
        &self.buf
    }

    /// The whole buffer, mutably. The view keeps its bounds; see the type's docs for
    /// what happens if the buffer shrinks under it.
    pub fn get_mut(&mut self) -> &mut B {
        &mut self.buf
    }

    /// The whole buffer back, with what a read into the slice added.
    pub fn into_inner(self) -> B {
        self.buf
    }
}

// SAFETY: every length is measured against the buffer as it is now (`min` with its
// own lengths), so whatever `begin` and `end` say, the view stays inside the buffer:
// - the pointer is the buffer's stable pointer plus a fixed offset, so it is as
//   stable across moves as the buffer's, and when `bytes_total() > 0` it is
//   `begin < min(end, total)` bytes into the buffer's allocation, so not dangling;
// - `bytes_total() = min(end, total) - begin` bytes from it are inside the buffer's
//   `total`, and the first `min(end, init) - begin` of them are inside its
//   initialised bytes (the saturating subtractions give 0 when `begin` is past them);
// - `init <= total` makes `bytes_init() <= bytes_total()`.
unsafe impl<B: IoBuf> IoBuf for Slice<B> {
    fn stable_ptr(&self) -> *const u8 {
        // `wrapping_add`: only dereferenced within `bytes_total()`, which is 0 when
        // the offset is out of the allocation.
        self.buf.stable_ptr().wrapping_add(self.begin)
    }

    fn bytes_init(&self) -> usize {
        self.buf
            .bytes_init()
            .min(self.end)
            .saturating_sub(self.begin)
    }

    fn bytes_total(&self) -> usize {
        self.buf
            .bytes_total()
            .min(self.end)
            .saturating_sub(self.begin)
    }
}

// SAFETY: as for `IoBuf`: the buffer's mutable pointer (the same address as its
// `stable_ptr`) plus the same offset. The view's spare part starts at
// `max(begin, min(init, end))`, which is at or past the buffer's `init` whenever the
// part is not empty, and ends inside the buffer's `total`: it lies in the buffer's
// spare capacity, which is writable through that pointer.
unsafe impl<B: IoBufMut> IoBufMut for Slice<B> {
    fn stable_mut_ptr(&mut self) -> *mut u8 {
        self.buf.stable_mut_ptr().wrapping_add(self.begin)
    }

    unsafe fn set_init(&mut self, len: usize) {
        if len == 0 {
            return;
        }
        let init = self.buf.bytes_init();
        if init < self.begin {
            // The buffer shrank under the view (through `get_mut`): initialise the
            // gap so that the buffer's initialised bytes stay one prefix.
            let gap = self.buf.stable_mut_ptr().wrapping_add(init);
            // SAFETY: `init < begin < begin + len <= min(end, total)` (the caller
            // promises `len <= bytes_total()`), so the gap is inside the buffer's
            // spare capacity, which `IoBufMut` makes writable through this pointer.
            unsafe { gap.write_bytes(0, self.begin - init) };
        }
        // SAFETY: the buffer's bytes `0..begin` are initialised (they were, or were
        // just zeroed), the caller promises the view's first `len` bytes, that is the
        // buffer's `begin..begin + len`, are, and `begin + len <= total`.
        unsafe { self.buf.set_init(self.begin + len) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::buf::Spare;

    /// What the kernel does for a read: writes `bytes` at the spare capacity and the
    /// op records them.
    fn kernel_read<B: IoBufMut>(buf: &mut B, bytes: &[u8]) -> usize {
        let spare = Spare::of(buf);
        let n = bytes.len().min(spare.len);
        // SAFETY: `n <= spare.len` bytes at the spare pointer are inside the buffer,
        // writable; then exactly those are recorded.
        unsafe {
            spare.ptr.copy_from_nonoverlapping(bytes.as_ptr(), n);
            buf.set_init(spare.filled(n));
        }
        n
    }

    fn header(capacity: usize) -> Vec<u8> {
        let mut buf = Vec::with_capacity(capacity);
        buf.extend_from_slice(b"HEADER:");
        buf
    }

    #[test]
    fn slice_short_send_continued_from_offset_gives_whole_buffer_back() {
        let buf = b"hello, world".to_vec();
        let base = buf.as_ptr();
        // The kernel took 5 bytes: the rest starts at 5 and is 7 bytes long.
        let rest = buf.slice(5..);
        assert_eq!(rest.stable_ptr(), base.wrapping_add(5));
        assert_eq!(rest.bytes_init(), 7);
        assert_eq!((rest.begin(), rest.end()), (5, rest.get_ref().capacity()));
        let buf = rest.into_inner();
        assert_eq!(buf.as_ptr(), base, "the same buffer, not a copy");
        assert_eq!(buf, b"hello, world");
    }

    #[test]
    fn slice_write_transfers_only_initialised_bytes_in_the_view() {
        let buf = header(64);
        let view = buf.slice(2..20);
        assert_eq!(view.bytes_init(), 5, "`ADER:`, bytes 2..7");
        assert_eq!(view.bytes_total(), 18);
        let view = view.into_inner().slice(1..=3);
        assert_eq!((view.begin(), view.end()), (1, 4));
        assert_eq!((view.bytes_init(), view.bytes_total()), (3, 3));
    }

    #[test]
    fn slice_read_appends_and_stops_at_end() {
        let mut view = header(64).slice(..10);
        assert_eq!(
            kernel_read(&mut view, b"abcdefgh"),
            3,
            "room for 3 before end"
        );
        assert_eq!(view.into_inner(), b"HEADER:abc");
    }

    #[test]
    fn slice_read_from_offset_grows_the_inner_buffer() {
        let mut view = header(64).slice(4..);
        assert_eq!(view.bytes_init(), 3);
        assert_eq!(kernel_read(&mut view, b"xyz"), 3);
        assert_eq!(view.bytes_init(), 6);
        assert_eq!(view.into_inner(), b"HEADER:xyz");
    }

    #[test]
    fn slice_full_view_has_no_spare_room() {
        let view = header(64).slice(..7);
        assert_eq!(view.bytes_init(), view.bytes_total());
        assert!(crate::buf::check_spare(&view, "Recv").is_err());
    }

    #[test]
    #[should_panic(expected = "slice range ends at 65, past the end of the buffer")]
    fn slice_end_past_capacity_panics() {
        let buf = Vec::<u8>::with_capacity(64);
        let total = buf.capacity();
        let _ = buf.slice(..total + 1);
    }

    #[test]
    #[should_panic(expected = "slice range starts at 3, past the buffer's 2 initialised bytes")]
    fn slice_start_past_initialised_bytes_panics() {
        let mut buf = Vec::with_capacity(8);
        buf.extend_from_slice(b"ab");
        let _ = buf.slice(3..);
    }

    #[test]
    #[should_panic(expected = "slice range starts at 2 but ends at 1")]
    fn slice_reversed_range_panics() {
        #[allow(clippy::reversed_empty_ranges)]
        let _ = b"abc".to_vec().slice(2..1);
    }

    #[test]
    fn slice_buffer_shortened_through_get_mut_zero_fills_the_gap_on_read() {
        let mut view = header(64).slice(5..);
        view.get_mut().truncate(2);
        assert_eq!(view.bytes_init(), 0);
        assert_eq!(kernel_read(&mut view, b"xy"), 2);
        assert_eq!(view.into_inner(), b"HE\0\0\0xy");
    }

    #[test]
    fn slice_buffer_replaced_through_get_mut_shrinks_the_view_to_nothing() {
        let mut view = header(64).slice(5..40);
        *view.get_mut() = Vec::new();
        assert_eq!((view.bytes_init(), view.bytes_total()), (0, 0));
        assert!(crate::buf::check_spare(&view, "Read").is_err());
    }

    #[test]
    fn slice_of_static_bytes_sends_from_offset() {
        let view = (&b"hello"[..]).slice(1..);
        assert_eq!(view.bytes_init(), 4);
        assert_eq!(view.into_inner(), b"hello");
    }
}
