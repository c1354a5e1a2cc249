//! `bytes::Bytes` and `bytes::BytesMut` as owned buffers (feature `bytes`).

use bytes::{Bytes, BytesMut};

use super::{IoBuf, IoBufMut};

// SAFETY: a `Bytes` refers to memory it keeps alive (a shared heap allocation, or
// static memory) that does not move when the handle moves; its `len()` bytes are
// initialised and never mutated while a `Bytes` refers to them; its pointer and
// length change only through `&mut` (`advance`, `truncate`...).
unsafe impl IoBuf for Bytes {
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

// SAFETY: a `BytesMut` owns the range `capacity()` bytes long at its pointer, in a
// heap allocation that does not move when the handle moves (other handles split
// from the same allocation own disjoint ranges); its first `len()` bytes are
// initialised; pointer, length and capacity change only through `&mut`.
unsafe impl IoBuf for BytesMut {
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

// SAFETY: as for `IoBuf`. The pointer is the start of the spare capacity (from
// `spare_capacity_mut`, so writable for all of it) moved back by `len()`: the same
// address as `stable_ptr`, and the spare capacity is writable through it.
unsafe impl IoBufMut for BytesMut {
    fn stable_mut_ptr(&mut self) -> *mut u8 {
        let len = self.len();
        self.spare_capacity_mut()
            .as_mut_ptr()
            .cast::<u8>()
            .wrapping_sub(len)
    }

    unsafe fn set_init(&mut self, len: usize) {
        if self.len() < len {
            // SAFETY: the caller promises `len <= capacity()` and that the first `len`
            // bytes were initialised.
            unsafe { self.set_len(len) };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::buf::{check_spare, Spare};
    use crate::net::UnixStream;
    use crate::Ring;

    #[test]
    fn bytes_mut_read_appends_to_spare_capacity() {
        let mut buf = BytesMut::with_capacity(16);
        buf.extend_from_slice(b"HEADER:");
        let base = buf.as_ptr();
        let spare = Spare::of(&mut buf);
        assert_eq!(spare.ptr.cast_const(), base.wrapping_add(7));
        // SAFETY: 3 bytes into the spare capacity, then exactly those recorded.
        unsafe {
            spare.ptr.copy_from_nonoverlapping(b"abc".as_ptr(), 3);
            buf.set_init(spare.filled(3));
        }
        assert_eq!(&buf[..], b"HEADER:abc");
        assert_eq!(buf.as_ptr(), base);
    }

    #[test]
    fn bytes_mut_without_room_is_refused() {
        let mut buf = BytesMut::with_capacity(4);
        buf.extend_from_slice(b"full");
        let err = check_spare(&buf, "Recv").unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
        check_spare(&BytesMut::with_capacity(4), "Recv").unwrap();
    }

    #[test]
    fn bytes_pointer_is_stable_across_moves_and_fully_initialised() {
        let buf = Bytes::from(b"hello".to_vec());
        let before = buf.stable_ptr();
        let moved = Box::new(buf);
        assert_eq!(moved.stable_ptr(), before);
        assert_eq!((moved.bytes_init(), moved.bytes_total()), (5, 5));
    }

    #[test]
    fn bytes_send_and_bytes_mut_recv_round_trip_through_the_kernel() {
        let ring = Ring::new().unwrap();
        let (a, b) = UnixStream::pair(&ring).unwrap();
        ring.block_on(async {
            let (sent, back) = a
                .send(Bytes::from_static(b"hello, bytes"))
                .submit()
                .complete()
                .await;
            assert_eq!(sent.unwrap(), 12);
            // `Bytes::slice`, the inherent method, shadows `IoBuf::slice`; both views
            // are free. The trait's hands the whole buffer back.
            let (sent, view) = a.send(IoBuf::slice(back, 7..)).submit().complete().await;
            assert_eq!(sent.unwrap(), 5);
            assert_eq!(&view.into_inner()[..], b"hello, bytes");

            let mut buf = BytesMut::with_capacity(64);
            buf.extend_from_slice(b">");
            while buf.len() < 18 {
                let (n, back) = b.recv(buf).submit().complete().await;
                buf = back;
                assert!(n.unwrap() > 0, "end of stream");
            }
            assert_eq!(&buf[..], b">hello, bytesbytes");
        });
    }
}
