//! Provided buffer rings: a group of buffers the ring owns, from which the kernel
//! picks one per receive, and which each picked buffer returns to exactly once.

use std::alloc::{self, Layout};
use std::cell::{Cell, RefCell};
use std::fmt;
use std::io;
use std::ops::Deref;
use std::ptr::NonNull;
use std::rc::Rc;
use std::sync::atomic::{AtomicU16, Ordering};

use crate::buf::IoBuf;
use crate::ring::Inner;
use crate::Ring;

/// `IORING_CQE_F_BUFFER`: the completion names the buffer the kernel picked.
const CQE_F_BUFFER: u32 = 1;
/// The bits of a completion's flags above which the buffer id sits.
const CQE_BUFFER_SHIFT: u32 = 16;
/// The kernel maps a buffer ring from page-aligned memory.
fn page_size() -> usize {
    // SAFETY: sysconf(3) takes no pointer.
    let size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    usize::try_from(size)
        .ok()
        .filter(|size| size.is_power_of_two())
        .unwrap_or(4096)
}

/// One entry of the ring the kernel reads: `struct io_uring_buf`. The `resv` field of
/// entry 0 is the ring's tail, which only the application writes.
#[repr(C)]
struct RawEntry {
    addr: u64,
    len: u32,
    bid: u16,
    resv: u16,
}

/// A group of equal buffers lent to the kernel (`IORING_REGISTER_PBUF_RING`): a
/// receive that selects from the group ([`TcpStream::recv_provided`],
/// [`TcpStream::recv_multi`]) takes whichever buffer is free when data arrives, and
/// its output is a [`ProvidedBuf`], a handle to that buffer that gives it back to the
/// group when dropped. A bundle ([`TcpStream::recv_bundle`], Linux 6.10) fills as
/// many buffers as the data needs in one receive.
///
/// No buffer has to be set aside per connection before data arrives: a thousand
/// idle connections with a receive each in flight hold no memory, and the group's
/// `entries` buffers serve whichever connections have data.
///
/// When every buffer is out (held by [`ProvidedBuf`]s), a receive fails with
/// `ENOBUFS` (`io::Error::raw_os_error() == Some(libc::ENOBUFS)`), and a multishot
/// receive ends with that error: drop some buffers, then receive again.
///
/// The group's memory lives as long as the group, every op that selects from it and
/// every [`ProvidedBuf`] taken from it; the registration ends when the last of them
/// goes.
///
/// [`TcpStream::recv_provided`]: crate::net::TcpStream::recv_provided
/// [`TcpStream::recv_multi`]: crate::net::TcpStream::recv_multi
/// [`TcpStream::recv_bundle`]: crate::net::TcpStream::recv_bundle
///
/// # Examples
///
/// ```
/// use linear_uring::buf::BufRing;
/// use linear_uring::net::UnixStream;
/// use linear_uring::Ring;
///
/// let ring = Ring::new()?;
/// let group = BufRing::new(&ring, 8, 4096)?;
/// let (a, b) = UnixStream::pair(&ring)?;
/// ring.block_on(async {
///     b.send(b"picked by the kernel").submit().complete().await.0?;
///     // `None` would be the end of the stream.
///     let buf = a.recv_provided(&group).submit().complete().await?.expect("bytes");
///     assert_eq!(&buf[..], b"picked by the kernel");
///     assert_eq!(group.available(), 7);
///     drop(buf); // back to the group
///     assert_eq!(group.available(), 8);
///     Ok::<(), std::io::Error>(())
/// })?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # References
///
/// `io_uring_register_buf_ring(3)`, `io_uring_setup_buf_ring(3)`. Linux 5.19.
#[derive(Clone)]
pub struct BufRing {
    shared: Rc<Shared>,
}

/// The group: its memory, its registration, and which buffers are out.
pub(crate) struct Shared {
    ring: Rc<Inner>,
    bgid: u16,
    entries: u16,
    buf_len: u32,
    /// `entries` [`RawEntry`]s, page-aligned, registered with the kernel.
    entries_mem: NonNull<RawEntry>,
    /// `entries * buf_len` bytes: buffer `i` is `[i * buf_len, (i + 1) * buf_len)`.
    data: NonNull<u8>,
    /// The next tail value to publish.
    tail: Cell<u16>,
    /// Which buffers are out of the ring (picked by the kernel, not given back).
    out: RefCell<Vec<bool>>,
    /// The buffer written at each ring index, and the tail value each buffer was
    /// written at: a bundle's completion names its first buffer only, and the
    /// others are the ones after it in the ring.
    order: RefCell<Vec<u16>>,
    written_at: RefCell<Vec<u16>>,
}

impl BufRing {
    /// Registers a group of `entries` buffers of `buf_len` bytes each with `ring`.
    ///
    /// # Errors
    ///
    /// `InvalidInput` if `entries` is not a power of two between 1 and 32768 or
    /// `buf_len` is 0 or above `u32::MAX`; `Unsupported` on a kernel before 5.19;
    /// `ShutDown` after the ring shut down; the kernel's error if it refuses the
    /// registration (`ENOMEM` when the memory cannot be pinned).
    pub fn new(ring: &Ring, entries: u16, buf_len: usize) -> io::Result<BufRing> {
        if !entries.is_power_of_two() || entries > 32768 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("a buffer ring's size must be a power of two up to 32768, not {entries}"),
            ));
        }
        let buf_len = u32::try_from(buf_len)
            .ok()
            .filter(|&len| len > 0)
            .ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!(
                        "a provided buffer must hold 1 to {} bytes, not {buf_len}",
                        u32::MAX
                    ),
                )
            })?;
        let entries_layout = entries_layout(entries);
        let data_layout = data_layout(entries, buf_len)?;
        // SAFETY: the layout has a non-zero size (entries >= 1).
        let Some(entries_mem) =
            NonNull::new(unsafe { alloc::alloc_zeroed(entries_layout) }.cast::<RawEntry>())
        else {
            alloc::handle_alloc_error(entries_layout);
        };
        // Zeroed too: a handle only ever shows bytes a receive wrote, but if the
        // bookkeeping were ever wrong it would show stale bytes, never uninitialised
        // memory.
        // SAFETY: the layout has a non-zero size (entries >= 1, buf_len >= 1).
        let Some(data) = NonNull::new(unsafe { alloc::alloc_zeroed(data_layout) }) else {
            // SAFETY: allocated just above with this layout, never shared.
            unsafe { alloc::dealloc(entries_mem.as_ptr().cast(), entries_layout) };
            alloc::handle_alloc_error(data_layout);
        };
        // SAFETY: `entries_mem` holds `entries` zeroed entries, page-aligned; the
        // `Shared` built below owns it and frees it only after unregistering (its
        // `Drop`), and writes it only through `give_back`'s tail protocol.
        let registered = unsafe {
            ring.inner()
                .register_buf_ring(entries_mem.as_ptr() as u64, entries)
        };
        let bgid = match registered {
            Ok(bgid) => bgid,
            Err(err) => {
                // Never registered: nothing reads the memory.
                // SAFETY: allocated above with these layouts, never shared.
                unsafe {
                    alloc::dealloc(entries_mem.as_ptr().cast(), entries_layout);
                    alloc::dealloc(data.as_ptr(), data_layout);
                }
                return Err(err);
            }
        };
        let shared = Rc::new(Shared {
            ring: ring.inner().clone(),
            bgid,
            entries,
            buf_len,
            entries_mem,
            data,
            tail: Cell::new(0),
            out: RefCell::new(vec![true; usize::from(entries)]),
            order: RefCell::new(vec![0; usize::from(entries)]),
            written_at: RefCell::new(vec![0; usize::from(entries)]),
        });
        for bid in 0..entries {
            shared.give_back(bid);
        }
        Ok(BufRing { shared })
    }

    /// How many buffers the kernel can pick from now.
    pub fn available(&self) -> usize {
        self.shared.out.borrow().iter().filter(|&&out| !out).count()
    }

    /// How many buffers the group has.
    pub fn entries(&self) -> usize {
        usize::from(self.shared.entries)
    }

    /// The size of each buffer.
    pub fn buf_len(&self) -> usize {
        self.shared.buf_len as usize
    }

    pub(crate) fn shared(&self) -> &Rc<Shared> {
        &self.shared
    }

    pub(crate) fn from_shared(shared: Rc<Shared>) -> BufRing {
        BufRing { shared }
    }
}

impl fmt::Debug for BufRing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BufRing")
            .field("group", &self.shared.bgid)
            .field("entries", &self.shared.entries)
            .field("buf_len", &self.shared.buf_len)
            .field("available", &self.available())
            .finish()
    }
}

fn entries_layout(entries: u16) -> Layout {
    let page = page_size();
    let size = (usize::from(entries) * std::mem::size_of::<RawEntry>()).max(page);
    Layout::from_size_align(size.next_multiple_of(page), page)
        .expect("at most 32768 entries of 16 bytes, in whole pages")
}

fn data_layout(entries: u16, buf_len: u32) -> io::Result<Layout> {
    usize::from(entries)
        .checked_mul(buf_len as usize)
        .and_then(|size| Layout::from_size_align(size, 64).ok())
        .ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                "a buffer ring's buffers must fit in memory",
            )
        })
}

impl Shared {
    /// Whether the group is registered with `ring`: a receive on another ring
    /// would pick from that ring's group of the same id.
    pub(crate) fn belongs_to(&self, ring: &Ring) -> bool {
        Rc::ptr_eq(&self.ring, ring.inner())
    }

    /// The error of a receive that names a group of another ring.
    pub(crate) fn foreign_error() -> io::Error {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            "the buffer ring belongs to another ring than the stream's: create the \
             BufRing with the ring that runs the receive",
        )
    }

    /// The group id the kernel knows the ring by.
    pub(crate) fn bgid(&self) -> u16 {
        self.bgid
    }

    /// The size of each buffer, as the kernel reads it.
    pub(crate) fn buf_len(&self) -> u32 {
        self.buf_len
    }

    /// The buffer a completion names, if it names one: the handle that gives it
    /// back. `len` bytes of it were written.
    pub(crate) fn picked(self: &Rc<Self>, flags: u32, len: u32) -> Option<ProvidedBuf> {
        if flags & CQE_F_BUFFER == 0 {
            return None;
        }
        let bid = (flags >> CQE_BUFFER_SHIFT) as u16;
        Some(self.take(bid, len))
    }

    /// The buffers a bundle's completion names (`IORING_RECVSEND_BUNDLE`): `len`
    /// bytes in consecutive ring entries, starting at the buffer in its flags, each
    /// full but the last. A bundle that received nothing (end of stream, an error)
    /// consumed no buffer, even if its flags name one.
    ///
    /// The entries after the first are read from `order`, which a buffer given
    /// back overwrites once the tail comes round to them again. That cannot happen
    /// before this call as long as completions are reaped in the order the kernel
    /// took their buffers, which holds while the kernel takes and fills them in
    /// one pass (a receive run inline or from its poll wake-up). It could fail for
    /// a receive handed to one of the kernel's workers, which commits its buffers
    /// when it selects them and may complete after a receive that selected later:
    /// this crate never asks for that (`IOSQE_ASYNC`), and the kernel does it on
    /// its own only for a receive woken many times without data (128 on Linux
    /// 6.18; not seen in testing). The first buffer is the one the completion
    /// names either way, and each other is checked against the tail value it was
    /// written at: a reused entry panics rather than hand out a buffer the kernel
    /// may write.
    pub(crate) fn picked_bundle(self: &Rc<Self>, flags: u32, len: u32) -> Vec<ProvidedBuf> {
        if flags & CQE_F_BUFFER == 0 || len == 0 {
            return Vec::new();
        }
        let first = (flags >> CQE_BUFFER_SHIFT) as u16;
        let count = len.div_ceil(self.buf_len);
        assert!(
            count <= u32::from(self.entries),
            "the kernel filled {count} buffers of group {}, which has {}",
            self.bgid,
            self.entries
        );
        let start = *self
            .written_at
            .borrow()
            .get(usize::from(first))
            .expect("the kernel picked a buffer id outside the group");
        let mut bufs = Vec::with_capacity(count as usize);
        let mut left = len;
        for k in 0..count as u16 {
            let bid = if k == 0 {
                first
            } else {
                let at = start.wrapping_add(k);
                let bid = self.order.borrow()[usize::from(at & (self.entries - 1))];
                // The record still names the buffer written at that tail value, not
                // one given back since into the same entry (which the kernel may be
                // about to fill): handing that one out would alias the kernel's
                // writes. Checked, because it rests on the kernel's completion order.
                assert_eq!(
                    self.written_at.borrow()[usize::from(bid)],
                    at,
                    "group {}: the ring entry of a bundle's buffer was reused before \
                     its completion was reaped",
                    self.bgid
                );
                bid
            };
            let this = left.min(self.buf_len);
            left -= this;
            bufs.push(self.take(bid, this));
        }
        bufs
    }

    /// Marks buffer `bid` out of the ring, holding `len` received bytes.
    fn take(self: &Rc<Self>, bid: u16, len: u32) -> ProvidedBuf {
        let mut out = self.out.borrow_mut();
        let slot = out
            .get_mut(usize::from(bid))
            .expect("the kernel picked a buffer id outside the group");
        assert!(
            !*slot,
            "the kernel picked buffer {bid} of group {}, which was not in the ring",
            self.bgid
        );
        *slot = true;
        ProvidedBuf {
            group: self.clone(),
            bid,
            len: len.min(self.buf_len) as usize,
        }
    }

    /// Gives buffer `bid` back to the kernel: writes its entry at the tail, then
    /// publishes the new tail.
    fn give_back(&self, bid: u16) {
        {
            let mut out = self.out.borrow_mut();
            let slot = &mut out[usize::from(bid)];
            assert!(
                *slot,
                "buffer {bid} of group {} given back twice",
                self.bgid
            );
            *slot = false;
        }
        let tail = self.tail.get();
        let index = usize::from(tail & (self.entries - 1));
        self.order.borrow_mut()[index] = bid;
        self.written_at.borrow_mut()[usize::from(bid)] = tail;
        // SAFETY: `index < entries`, inside the entries allocation; the kernel reads
        // an entry only once the tail below covers it, and this one is not covered
        // until then (the ring holds at most `entries` buffers, and this one was out).
        unsafe {
            let entry = self.entries_mem.as_ptr().add(index);
            (&raw mut (*entry).addr).write(self.buffer_ptr(bid) as u64);
            (&raw mut (*entry).len).write(self.buf_len);
            (&raw mut (*entry).bid).write(bid);
        }
        let tail = tail.wrapping_add(1);
        self.tail.set(tail);
        // SAFETY: entry 0's `resv` is the ring's tail, a naturally aligned u16 inside
        // the allocation, which the kernel reads concurrently: it is only ever written
        // through this atomic, with release ordering so that the entry written above
        // is visible to the kernel before the tail that covers it.
        let tail_ptr = unsafe { &raw mut (*self.entries_mem.as_ptr()).resv };
        // SAFETY: as above; `AtomicU16` has the layout of `u16`.
        unsafe { AtomicU16::from_ptr(tail_ptr) }.store(tail, Ordering::Release);
    }

    fn buffer_ptr(&self, bid: u16) -> *mut u8 {
        // `wrapping_add` keeps this safe: the offset is within the data allocation
        // for every `bid < entries`.
        self.data
            .as_ptr()
            .wrapping_add(usize::from(bid) * self.buf_len as usize)
    }
}

impl Drop for Shared {
    fn drop(&mut self) {
        // No op selects from the group any more (each holds the `Rc`) and no
        // buffer is out: end the registration, then free. If the kernel refused to
        // end it, it may still read the entries: leak.
        if self.ring.unregister_buf_ring(self.bgid).is_err() {
            return;
        }
        self.ring.release_buf_group(self.bgid);
        // SAFETY: allocated in `BufRing::new` with these layouts; the kernel no
        // longer reads the entries, and no op or handle can reach the data.
        unsafe {
            alloc::dealloc(
                self.entries_mem.as_ptr().cast(),
                entries_layout(self.entries),
            );
            alloc::dealloc(
                self.data.as_ptr(),
                data_layout(self.entries, self.buf_len).expect("validated at creation"),
            );
        }
    }
}

/// A buffer the kernel picked from a [`BufRing`] for a receive, holding the bytes it
/// received. Dropping it gives the buffer back to the group, exactly once.
///
/// It derefs to the received bytes, and it is an [`IoBuf`]: send it back as it is
/// (an echo), and the buffer returns to the group when the send hands it back and
/// it is dropped.
pub struct ProvidedBuf {
    group: Rc<Shared>,
    bid: u16,
    len: usize,
}

impl ProvidedBuf {
    /// The buffer's id in its group.
    pub fn id(&self) -> u16 {
        self.bid
    }
}

impl Deref for ProvidedBuf {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        // SAFETY: the buffer is out of the ring (the kernel picked it and cannot pick
        // it again until this handle gives it back), `len` of its bytes were written
        // by the receive, and the group's memory lives as long as `group`.
        unsafe { std::slice::from_raw_parts(self.group.buffer_ptr(self.bid), self.len) }
    }
}

impl Drop for ProvidedBuf {
    fn drop(&mut self) {
        self.group.give_back(self.bid);
    }
}

impl fmt::Debug for ProvidedBuf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProvidedBuf")
            .field("group", &self.group.bgid)
            .field("id", &self.bid)
            .field("len", &self.len)
            .finish()
    }
}

// SAFETY: the bytes sit in the group's allocation, which does not move and lives as
// long as `group`; `len` bytes are initialised; the buffer is out of the ring while
// this handle exists, so the kernel writes into it only if it is lent again.
unsafe impl IoBuf for ProvidedBuf {
    fn stable_ptr(&self) -> *const u8 {
        self.group.buffer_ptr(self.bid)
    }

    fn bytes_init(&self) -> usize {
        self.len
    }

    fn bytes_total(&self) -> usize {
        self.len
    }
}
