//! The storm's bookkeeping, free of I/O: a seeded generator, checksummed streams and
//! their verifiers, and a buffer type that proves each buffer is dropped exactly once
//! and never written after its drop.
//!
//! A stream's byte at position `p` is a keyed hash of `p`, so any received byte can be
//! checked against the position it claims, wherever the stream was cut. Abandoned
//! operations make positions uncertain, and the verifiers carry that uncertainty as a
//! set of candidate positions: a received chunk must fit one of them.

use std::cell::{Cell, RefCell};
use std::collections::BTreeSet;
use std::rc::Rc;
use std::time::Duration;

use linear_uring::{IoBuf, IoBufMut};

const GOLDEN: u64 = 0x9e37_79b9_7f4a_7c15;

/// SplitMix64's finaliser: a bijective mix of 64 bits.
pub(crate) fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A small seeded generator (SplitMix64). Every random choice of the storm comes from
/// one of these, derived from the seed and the chooser's identity, so that a choice
/// does not depend on how many choices other units made before it.
#[derive(Debug, Clone)]
pub(crate) struct Rng(u64);

impl Rng {
    /// The generator of the unit named by `labels` under `seed`.
    pub(crate) fn derive(seed: u64, labels: &[u64]) -> Rng {
        let state = labels
            .iter()
            .fold(mix(seed ^ GOLDEN), |acc, &label| mix(acc ^ mix(label)));
        Rng(state)
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(GOLDEN);
        mix(self.0)
    }

    /// Uniform in `0..n` (`n > 0`).
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }

    /// True with probability `percent / 100`.
    pub(crate) fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    /// A size in `1..=max`, log-uniform: as many tiny sizes as large ones.
    pub(crate) fn size(&mut self, max: usize) -> usize {
        let bits = usize::BITS - max.leading_zeros();
        let limit = 1usize << self.below(u64::from(bits) + 1);
        1 + (self.below(limit.min(max) as u64) as usize)
    }

    /// A duration in `0..max_us` microseconds.
    pub(crate) fn micros(&mut self, max_us: u64) -> Duration {
        Duration::from_micros(self.below(max_us))
    }
}

/// Byte `pos` of the stream `key`.
pub(crate) fn stream_byte(key: u64, pos: u64) -> u8 {
    let word = mix(key ^ (pos >> 3).wrapping_mul(GOLDEN));
    (word >> ((pos & 7) * 8)) as u8
}

/// Bytes `start..start + len` of the stream `key`.
pub(crate) fn stream_bytes(key: u64, start: u64, len: usize) -> Vec<u8> {
    (start..start + len as u64)
        .map(|pos| stream_byte(key, pos))
        .collect()
}

/// Whether `bytes` are the stream `key` from `pos` on.
fn fits(key: u64, pos: u64, bytes: &[u8]) -> bool {
    bytes
        .iter()
        .zip(pos..)
        .all(|(&byte, p)| stream_byte(key, p) == byte)
}

/// How many bytes of `bytes` match the stream `key` from `pos` on.
fn prefix_fit(key: u64, pos: u64, bytes: &[u8]) -> usize {
    bytes
        .iter()
        .zip(pos..)
        .take_while(|&(&byte, p)| stream_byte(key, p) == byte)
        .count()
}

/// Checks what a reader received from a stream sent whole, when some of its reads were
/// abandoned: each abandoned read may have taken any number of bytes up to its
/// capacity, unseen. Every byte that a completed read delivered must sit at a position
/// consistent with everything before it.
#[derive(Debug)]
pub(crate) struct ReadCheck {
    key: u64,
    /// Where the next received byte may come from: disjoint ranges, inclusive.
    candidates: Vec<(u64, u64)>,
    delivered: u64,
}

impl ReadCheck {
    pub(crate) fn new(key: u64) -> ReadCheck {
        ReadCheck {
            key,
            candidates: vec![(0, 0)],
            delivered: 0,
        }
    }

    /// Bytes delivered to completed reads so far.
    pub(crate) fn delivered(&self) -> u64 {
        self.delivered
    }

    /// An abandoned read of capacity `max` took between 0 and `max` bytes.
    pub(crate) fn gap(&mut self, max: u64) {
        let mut merged: Vec<(u64, u64)> = Vec::new();
        for &(lo, hi) in &self.candidates {
            let hi = hi + max;
            match merged.last_mut() {
                Some(last) if lo <= last.1 + 1 => last.1 = last.1.max(hi),
                _ => merged.push((lo, hi)),
            }
        }
        self.candidates = merged;
    }

    /// A completed read delivered `bytes`.
    pub(crate) fn chunk(&mut self, bytes: &[u8]) -> Result<(), String> {
        if bytes.is_empty() {
            return Ok(());
        }
        let len = bytes.len() as u64;
        let mut next: Vec<(u64, u64)> = Vec::new();
        for &(lo, hi) in &self.candidates {
            for pos in lo..=hi {
                if fits(self.key, pos, bytes) {
                    match next.last_mut() {
                        Some(last) if pos + len == last.1 + 1 => last.1 = pos + len,
                        _ => next.push((pos + len, pos + len)),
                    }
                }
            }
        }
        if next.is_empty() {
            return Err(format!(
                "stream {:#x}: {} received bytes after {} delivered fit no possible position \
                 {:?} (first bytes {:02x?})",
                self.key,
                bytes.len(),
                self.delivered,
                self.candidates,
                &bytes[..bytes.len().min(8)]
            ));
        }
        self.candidates = next;
        self.delivered += len;
        Ok(())
    }

    /// End of stream after the sender sent `total` bytes: every byte is accounted for,
    /// either delivered (and checked) or taken by an abandoned read.
    pub(crate) fn end(&self, total: u64) -> Result<(), String> {
        if self
            .candidates
            .iter()
            .any(|&(lo, hi)| (lo..=hi).contains(&total))
        {
            return Ok(());
        }
        Err(format!(
            "stream {:#x}: end of stream at one of {:?}, but {total} bytes were sent \
             ({} delivered)",
            self.key, self.candidates, self.delivered
        ))
    }
}

/// What a sender knows about a run of its stream.
#[derive(Debug, Clone, Copy)]
enum Segment {
    /// Sent for certain: a completed send took these bytes.
    Sure { start: u64, len: u64 },
    /// An abandoned send of these bytes: some prefix of them (maybe none) went out.
    Maybe { start: u64, len: u64 },
}

/// What a sender with abandoned sends put on the wire, to check the receiver's copy.
#[derive(Debug)]
pub(crate) struct SendLog {
    key: u64,
    segments: Vec<Segment>,
    next: u64,
}

impl SendLog {
    pub(crate) fn new(key: u64) -> SendLog {
        SendLog {
            key,
            segments: Vec::new(),
            next: 0,
        }
    }

    pub(crate) fn key(&self) -> u64 {
        self.key
    }

    /// The stream position of the next send.
    pub(crate) fn next(&self) -> u64 {
        self.next
    }

    /// A completed send took `len` bytes at the current position.
    pub(crate) fn sent(&mut self, len: u64) {
        if len > 0 {
            self.segments.push(Segment::Sure {
                start: self.next,
                len,
            });
            self.next += len;
        }
    }

    /// An abandoned send offered `len` bytes at the current position; the sender
    /// moves past them.
    pub(crate) fn abandoned(&mut self, len: u64) {
        self.segments.push(Segment::Maybe {
            start: self.next,
            len,
        });
        self.next += len;
    }

    /// Bytes certainly sent.
    pub(crate) fn sure_bytes(&self) -> u64 {
        self.segments
            .iter()
            .map(|segment| match segment {
                Segment::Sure { len, .. } => *len,
                Segment::Maybe { .. } => 0,
            })
            .sum()
    }

    /// Checks that `received` is what this log allows: every certain segment whole and
    /// in order, and of each abandoned one a prefix. With `whole` the receiver saw the
    /// sender's end of stream; otherwise the connection was reset and `received` may
    /// stop anywhere.
    pub(crate) fn verify(&self, received: &[u8], whole: bool) -> Result<(), String> {
        let total = received.len();
        // Indexes into `received` where the current segment may start.
        let mut at: BTreeSet<usize> = BTreeSet::from([0]);
        let mut cut_short = false;
        for segment in &self.segments {
            let mut next = BTreeSet::new();
            for &i in &at {
                match *segment {
                    Segment::Sure { start, len } => {
                        let end = i + len as usize;
                        let available = &received[i..end.min(total)];
                        if fits(self.key, start, available) {
                            if end <= total {
                                next.insert(end);
                            } else {
                                cut_short = true;
                            }
                        }
                    }
                    Segment::Maybe { start, len } => {
                        let window = &received[i..(i + len as usize).min(total)];
                        let fit = prefix_fit(self.key, start, window);
                        next.extend((0..=fit).map(|k| i + k));
                    }
                }
            }
            if next.is_empty() {
                if cut_short && !whole {
                    return Ok(());
                }
                return Err(format!(
                    "stream {:#x}: the receiver's {total} bytes do not match segment \
                     {segment:?} from any of the offsets {:?}",
                    self.key,
                    at.iter().take(8).collect::<Vec<_>>()
                ));
            }
            at = next;
        }
        if at.contains(&total) || !whole {
            return Ok(());
        }
        Err(format!(
            "stream {:#x}: the receiver got {total} bytes, more than was sent (the log \
             ends at offsets {:?})",
            self.key,
            at.iter().take(8).collect::<Vec<_>>()
        ))
    }
}

/// Accounts for every [`CountedBuf`]: how many were made, how many dropped, and the
/// memory of the dropped ones, poisoned, to check that nothing wrote to it afterwards.
#[derive(Debug, Default)]
pub(crate) struct Ledger {
    created: Cell<u64>,
    dropped: Cell<u64>,
    live: RefCell<BTreeSet<u64>>,
    double_drops: Cell<u64>,
    retired: RefCell<Vec<Vec<u8>>>,
    /// Called by every buffer's drop after its accounting.
    drop_hook: Cell<Option<fn()>>,
}

/// What a dropped buffer's memory is filled with.
const POISON: u8 = 0xa5;

impl Ledger {
    pub(crate) fn new() -> Rc<Ledger> {
        Rc::new(Ledger::default())
    }

    /// A buffer of `capacity` bytes holding nothing yet (for reads).
    pub(crate) fn empty(self: &Rc<Self>, capacity: usize) -> CountedBuf {
        self.wrap(Vec::with_capacity(capacity))
    }

    /// A buffer holding `bytes` (for writes).
    pub(crate) fn filled(self: &Rc<Self>, bytes: Vec<u8>) -> CountedBuf {
        self.wrap(bytes)
    }

    fn wrap(self: &Rc<Self>, bytes: Vec<u8>) -> CountedBuf {
        let id = self.created.get();
        self.created.set(id + 1);
        self.live.borrow_mut().insert(id);
        CountedBuf {
            id,
            bytes,
            ledger: self.clone(),
            dropped: Rc::new(Cell::new(false)),
        }
    }

    /// Has every later buffer drop call `hook` once its accounting is done, so that a
    /// hook that panics leaves the ledger right.
    pub(crate) fn set_drop_hook(&self, hook: fn()) {
        self.drop_hook.set(Some(hook));
    }

    pub(crate) fn created(&self) -> u64 {
        self.created.get()
    }

    pub(crate) fn dropped(&self) -> u64 {
        self.dropped.get()
    }

    /// Buffers not dropped yet.
    pub(crate) fn live(&self) -> usize {
        self.live.borrow().len()
    }

    /// Checks every buffer made so far was dropped exactly once and that none was
    /// written after its drop, then frees the memory kept for that check.
    pub(crate) fn audit(&self) -> Result<(), String> {
        let retired = std::mem::take(&mut *self.retired.borrow_mut());
        let written = retired
            .iter()
            .filter(|bytes| bytes.iter().any(|&b| b != POISON))
            .count();
        let live = self.live();
        let problems = [
            (live > 0).then(|| format!("{live} buffers were never dropped")),
            (self.double_drops.get() > 0)
                .then(|| format!("{} buffers were dropped twice", self.double_drops.get())),
            (written > 0)
                .then(|| format!("{written} buffers were written after the ring dropped them")),
            (self.created() != self.dropped())
                .then(|| format!("{} buffers made, {} drops", self.created(), self.dropped())),
        ];
        let problems: Vec<String> = problems.into_iter().flatten().collect();
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems.join("; "))
        }
    }
}

/// An owned buffer that reports its drop to a [`Ledger`], and whose memory is kept,
/// poisoned, after the drop so that a late write by the kernel would show.
#[derive(Debug)]
pub(crate) struct CountedBuf {
    id: u64,
    bytes: Vec<u8>,
    ledger: Rc<Ledger>,
    dropped: Rc<Cell<bool>>,
}

impl CountedBuf {
    /// A flag that turns true when this buffer is dropped.
    pub(crate) fn drop_flag(&self) -> Rc<Cell<bool>> {
        self.dropped.clone()
    }

    pub(crate) fn as_slice(&self) -> &[u8] {
        &self.bytes
    }

    pub(crate) fn capacity(&self) -> usize {
        self.bytes.capacity()
    }
}

impl Drop for CountedBuf {
    fn drop(&mut self) {
        let ledger = &self.ledger;
        ledger.dropped.set(ledger.dropped.get() + 1);
        if !ledger.live.borrow_mut().remove(&self.id) {
            ledger.double_drops.set(ledger.double_drops.get() + 1);
        }
        self.dropped.set(true);
        // Keep the allocation alive (the kernel cannot fault on it) and poisoned.
        let mut bytes = std::mem::take(&mut self.bytes);
        let capacity = bytes.capacity();
        bytes.clear();
        bytes.resize(capacity, POISON);
        ledger.retired.borrow_mut().push(bytes);
        if let Some(hook) = ledger.drop_hook.get() {
            hook();
        }
    }
}

// SAFETY: every method forwards to the `Vec<u8>`, whose implementation keeps the
// promises: its heap memory does not move when a `CountedBuf` moves and changes only
// through `&mut`. The counters and flag are not part of the memory lent to the kernel.
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

#[test]
fn storm_read_check_gap_then_chunk_finds_position() {
    let key = 7;
    let mut check = ReadCheck::new(key);
    check.chunk(&stream_bytes(key, 0, 10)).unwrap();
    // An abandoned read of capacity 100 took 37 bytes nobody saw.
    check.gap(100);
    check.chunk(&stream_bytes(key, 47, 20)).unwrap();
    check.end(67).unwrap();
    assert!(check.end(66).is_err(), "a missing byte went unnoticed");
    assert_eq!(check.delivered(), 30);
}

#[test]
fn storm_read_check_duplicate_or_skipped_bytes_fail() {
    let key = 11;
    let mut check = ReadCheck::new(key);
    check.chunk(&stream_bytes(key, 0, 10)).unwrap();
    assert!(check.chunk(&stream_bytes(key, 5, 10)).is_err(), "duplicate");
    let mut check = ReadCheck::new(key);
    check.chunk(&stream_bytes(key, 0, 10)).unwrap();
    assert!(check.chunk(&stream_bytes(key, 11, 10)).is_err(), "skipped");
}

#[test]
fn storm_send_log_prefix_of_abandoned_segment_verifies() {
    let key = 3;
    let mut log = SendLog::new(key);
    log.sent(16);
    log.abandoned(50);
    log.sent(30);
    // The abandoned send put 12 of its 50 bytes on the wire.
    let mut received = stream_bytes(key, 0, 28);
    received.extend(stream_bytes(key, 66, 30));
    log.verify(&received, true).unwrap();
    // A lost byte of a certain segment, or bytes of the abandoned one after a gap, fail.
    assert!(log.verify(&received[..received.len() - 1], true).is_err());
    let mut gapped = stream_bytes(key, 0, 16);
    gapped.extend(stream_bytes(key, 20, 5));
    gapped.extend(stream_bytes(key, 66, 30));
    assert!(log.verify(&gapped, true).is_err());
    // A reset may cut the stream anywhere.
    log.verify(&received[..40], false).unwrap();
}

#[test]
fn storm_ledger_counts_drops_and_sees_late_writes() {
    let ledger = Ledger::new();
    let buf = ledger.filled(vec![1, 2, 3]);
    let flag = buf.drop_flag();
    assert!(ledger.audit().is_err(), "a live buffer went unnoticed");
    drop(buf);
    assert!(flag.get());
    ledger.audit().unwrap();
    let buf = ledger.empty(16);
    drop(buf);
    // A write after the drop, as the kernel would do into a buffer freed too early.
    ledger.retired.borrow_mut()[0][3] = 0;
    assert!(ledger.audit().is_err(), "a late write went unnoticed");
}

#[test]
fn storm_ledger_drop_hook_that_panics_runs_after_the_accounting() {
    let ledger = Ledger::new();
    ledger.set_drop_hook(|| std::panic::panic_any("a buffer's drop panicked"));
    let buf = ledger.filled(vec![1, 2, 3]);
    let flag = buf.drop_flag();
    let dropped = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| drop(buf)));
    assert!(dropped.is_err(), "the hook did not run");
    assert!(flag.get());
    ledger.audit().unwrap();
}
