//! The single-producer, single-consumer byte ring behind
//! [`ByteQueue`](crate::ByteQueue) and [`Pipe`](crate::Pipe).
//!
//! # Records
//!
//! The ring is `cap` bytes (a power of two). Each message is a *record*: an
//! 8-byte header (`len: u32`, `flags: u32`, native endian) and the payload,
//! padded to a multiple of 8 bytes. A record never wraps: when the next one
//! does not fit before the end of the ring, the producer fills the rest with
//! a *padding record* (flag `PAD`) and starts again at offset 0, as Aeron
//! does.
//!
//! # Indices
//!
//! `tail` (written by the producer) and `head` (written by the consumer) are
//! 64-bit byte positions that only grow, each on its own cache line. The
//! producer writes records past `tail`, then publishes them all with one
//! Release store of `tail`; the consumer reads records up to the `tail` it
//! loaded with Acquire, then frees them with one Release store of `head`.
//! Each side keeps the other's index cached and reloads it only when the
//! cached value says the ring is full (or empty), so the fast path has no
//! CAS and touches the other side's line once per lap at most.
//!
//! # Crashes
//!
//! Nothing is visible until `tail` moves, so a producer killed mid-write
//! leaves no torn record: the next producer starts over at the published
//! `tail`. A consumer killed mid-read has not moved `head`, so its record is
//! read again by the next consumer (at-least-once for that one record).
//! Only one process may hold each end: the *role words* carry the holder's
//! liveness token, and an end whose holder is dead is taken over.
//!
//! # Trust
//!
//! The ring lives in memory other processes can write. Every index, length
//! and flag read from it is range-checked before use: a corrupted ring
//! yields [`Corrupt`], never an access outside the ring or an endless loop.

use std::ptr::NonNull;

use super::Index;
use super::endpoint::{End, PeerCheck, claim_role, release_role, role_gone, role_released};
use super::waits::{Waited, Waits, wait_for};
use crate::primitive::{AtomicU32, AtomicU64, Ordering, asym};
use crate::segment::registry::{Liveness, Token};
use crate::select::sealed::Park;
use crate::wait::{Deadline, WaitStrategy};

/// Bytes of a record header.
pub(crate) const HEADER: u64 = 8;
/// Header flag: the record only fills the ring up to its end.
const PAD: u32 = 1;

/// Smallest ring, in bytes.
pub const MIN_CAPACITY: u64 = 64;
/// Largest ring, in bytes.
pub const MAX_CAPACITY: u64 = 1 << 31;

/// The ring's size for a message of `len` bytes.
pub(crate) fn record_len(len: u64) -> u64 {
    HEADER + len.div_ceil(8) * 8
}

/// The longest message a ring of `cap` bytes carries.
pub(crate) fn max_message(cap: u64) -> u64 {
    cap - HEADER
}

/// The wait line of a ring: how its ends sleep, and who holds them.
#[repr(C, align(64))]
pub(crate) struct Control {
    /// Futex words and sleeper counts of both ends.
    waits: Waits,
    /// `HELD | token` of the producer, or 0.
    sender: AtomicU32,
    /// `HELD | token` of the consumer, or 0.
    receiver: AtomicU32,
    /// Non-zero once a producer (consumer) ever held its end.
    ever_sender: AtomicU32,
    ever_receiver: AtomicU32,
}

// The layout is shared memory: these offsets are the format (loom's
// atomics are larger: not checked there).
#[cfg(not(loom))]
const _: () = {
    assert!(std::mem::offset_of!(Control, sender) == 16);
    assert!(std::mem::offset_of!(Control, ever_receiver) == 28);
    assert!(std::mem::size_of::<Control>() == 64);
};

/// The shared state of one ring: three cache lines, then `cap` data bytes.
#[repr(C)]
pub(crate) struct RingState {
    tail: Index,
    head: Index,
    ctl: Control,
}

/// Bytes before a ring's data, which starts 64-byte aligned.
pub(crate) const STATE_SIZE: usize = std::mem::size_of::<RingState>();
const _: () = assert!(STATE_SIZE % 64 == 0);

/// A ring's state or indices are impossible: the memory was corrupted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Corrupt(pub String);

/// A view of one ring in a mapping that outlives it.
#[derive(Clone, Copy)]
pub(crate) struct ByteRing {
    state: NonNull<RingState>,
    data: NonNull<u8>,
    cap: u64,
}

impl ByteRing {
    /// A view of the ring whose state is at `base` and data right after it.
    ///
    /// # Safety
    /// `base` must be 64-byte aligned and point to `STATE_SIZE + cap`
    /// writable bytes that stay mapped while the view (or a copy) is used;
    /// `cap` must be a power of two in `MIN_CAPACITY..=MAX_CAPACITY`.
    pub(crate) unsafe fn new(base: NonNull<u8>, cap: u64) -> ByteRing {
        debug_assert!(cap.is_power_of_two() && (MIN_CAPACITY..=MAX_CAPACITY).contains(&cap));
        // SAFETY: per the contract, the data follows the state in the mapping.
        let data = unsafe { base.add(STATE_SIZE) };
        ByteRing { state: base.cast(), data, cap }
    }

    fn state(&self) -> &RingState {
        // SAFETY: per `new`'s contract the state stays mapped; it is only
        // accessed through atomics.
        unsafe { self.state.as_ref() }
    }

    pub(crate) fn capacity(&self) -> u64 {
        self.cap
    }

    /// Bytes published and not yet freed (a snapshot).
    pub(crate) fn used(&self) -> u64 {
        let s = self.state();
        let head = s.head.pos.load(Ordering::Acquire);
        s.tail.pos.load(Ordering::Acquire).wrapping_sub(head).min(self.cap)
    }

    fn role(&self, end: End) -> (&AtomicU32, &AtomicU32) {
        let c = &self.state().ctl;
        match end {
            End::Sender => (&c.sender, &c.ever_sender),
            End::Receiver => (&c.receiver, &c.ever_receiver),
        }
    }

    /// Takes `end` for the holder of `me`: free, or held by a dead holder.
    /// `Err(())` if a live holder (this one included) has it.
    pub(crate) fn claim(&self, end: End, me: Token, live: &impl Liveness) -> Result<(), ()> {
        let (word, ever) = self.role(end);
        claim_role(word, ever, me, live)
    }

    /// Gives `end` up (it must be held by `me`) and wakes the other end,
    /// which may now be disconnected.
    pub(crate) fn release(&self, end: End, me: Token) {
        let (word, _) = self.role(end);
        release_role(word, me);
        self.state().ctl.waits.notify(end.peer(), true);
    }

    /// Whether `end` is gone, per `check` (see [`PeerCheck::gone`]).
    pub(crate) fn gone_lazily(&self, end: End, live: &impl Liveness, check: &PeerCheck) -> bool {
        let (word, ever) = self.role(end);
        check.gone(word, ever, live)
    }

    /// Whether `end` was held once and is not held by a live holder now.
    pub(crate) fn gone(&self, end: End, live: &impl Liveness) -> bool {
        let (word, ever) = self.role(end);
        role_gone(word, ever, live)
    }

    /// For [`wait_any`](crate::wait_any), as the receiving end: a record
    /// (or the end of the stream) to receive now, and where to sleep.
    pub(crate) fn select_parts(&self, live: &impl Liveness, thorough: bool) -> (bool, Park<'_>) {
        let (seq, sleepers) = self.state().ctl.waits.words(End::Receiver);
        let park = Park::Counted { word: seq, count: sleepers, asym: true, wakes_one: true };
        let ready = self.used() != 0 || {
            let (word, ever) = self.role(End::Sender);
            if thorough { role_gone(word, ever, live) } else { role_released(word, ever) }
        };
        (ready, park)
    }

    /// Stores `pos` into `index` and wakes `end` if it sleeps: the publish
    /// of new records (or the free of read ones). The barrier between the
    /// store and the sleeper check is the asymmetric one of
    /// [`asym`](crate::primitive::asym): free here, paid by the sleeper.
    #[inline]
    fn store_and_wake(&self, index: &AtomicU64, pos: u64, end: End) {
        index.store(pos, Ordering::Release);
        asym::hot();
        self.state().ctl.waits.wake_sleepers(end, false);
    }

    /// Waits, as `end`, until `ready()` holds, the deadline passes, or the
    /// other end is gone: spins per `strategy`, then sleeps on the futex
    /// with bounded naps so a dead peer is noticed.
    pub(crate) fn wait(
        &self,
        end: End,
        live: &impl Liveness,
        strategy: WaitStrategy,
        deadline: Deadline,
        ready: impl FnMut() -> bool,
    ) -> Waited {
        let (seq, sleepers) = self.state().ctl.waits.words(end);
        wait_for(seq, sleepers, || self.gone(end.peer(), live), strategy, deadline, ready)
    }

    /// Pointer to byte `off` of the data (`off < cap`).
    fn at(&self, off: u64) -> *mut u8 {
        debug_assert!(off < self.cap);
        // SAFETY: off < cap: inside the data region.
        unsafe { self.data.as_ptr().add(off as usize) }
    }

    fn write_header(&self, off: u64, len: u32, flags: u32) {
        let word = u64::from(len) | u64::from(flags) << 32;
        // SAFETY: off is a multiple of 8 below cap - 8 (every record starts
        // 8-aligned with its header inside the ring); the producer owns the
        // unpublished bytes past tail.
        unsafe { self.at(off).cast::<u64>().write(word) };
    }

    fn read_header(&self, off: u64) -> (u32, u32) {
        // SAFETY: off is a multiple of 8 below cap, so 8 bytes fit; the
        // bytes are published (below the tail the consumer loaded with
        // Acquire) and the producer does not touch them until head passes.
        let word = unsafe { self.at(off).cast::<u64>().read() };
        (word as u32, (word >> 32) as u32)
    }

    fn check_span(&self, from: u64, to: u64, what: &str) -> Result<(), Corrupt> {
        let span = to.wrapping_sub(from);
        if span > self.cap || span % 8 != 0 || from % 8 != 0 {
            return Err(Corrupt(format!(
                "{what}: head {from} and tail {to} are not a valid span of a {} byte ring",
                self.cap
            )));
        }
        Ok(())
    }
}

/// The producer's private cursor: what it wrote, published and last saw of
/// the head.
pub(crate) struct Producer {
    ring: ByteRing,
    /// Published position (what `tail` holds).
    tail: u64,
    /// Written position: records between `tail` and here are not published.
    write: u64,
    /// Last `head` seen.
    head: u64,
}

/// Where a reserved record's payload is.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Reserved {
    off: u64,
    len: usize,
}

impl Producer {
    /// The producer of `ring`, starting at its published tail. The caller
    /// holds the sender end.
    pub(crate) fn new(ring: ByteRing) -> Result<Producer, Corrupt> {
        let s = ring.state();
        let tail = s.tail.pos.load(Ordering::Acquire);
        let head = s.head.pos.load(Ordering::Acquire);
        ring.check_span(head, tail, "ring")?;
        Ok(Producer { ring, tail, write: tail, head })
    }

    pub(crate) fn ring(&self) -> &ByteRing {
        &self.ring
    }

    /// Free bytes past `write`, reloading the head if `need` do not fit.
    fn room(&mut self, need: u64) -> Result<bool, Corrupt> {
        let cap = self.ring.cap;
        // Saturating: a cached head may lie past `write` (a hostile head
        // read while unpublished records were written, which `rollback` then
        // gave back); that is "no room", and the reload below reports it.
        if self.write.wrapping_sub(self.head).saturating_add(need) <= cap {
            return Ok(true);
        }
        // Acquire: the consumer's reads of the freed bytes happen before we
        // overwrite them.
        self.head = self.ring.state().head.pos.load(Ordering::Acquire);
        self.ring.check_span(self.head, self.write, "producer")?;
        Ok(self.write.wrapping_sub(self.head) + need <= cap)
    }

    /// Reserves room for a `len`-byte message past the written position and
    /// writes its header (and a padding record before it, if it must start
    /// over at offset 0). `None` if it does not fit now; a padding record
    /// may have been published then, so the consumer can free the end of
    /// the ring. `len` must be at most `max_message(cap)`.
    pub(crate) fn try_reserve(&mut self, len: usize) -> Result<Option<Reserved>, Corrupt> {
        let cap = self.ring.cap;
        let rec = record_len(len as u64);
        debug_assert!(rec <= cap);
        let off = self.write & (cap - 1);
        let to_end = cap - off;
        if rec > to_end {
            // Pad to the end of the ring, then start the record at 0.
            if !self.room(to_end)? {
                return Ok(None);
            }
            self.ring.write_header(off, (to_end - HEADER) as u32, PAD);
            self.write = self.write.wrapping_add(to_end);
            if !self.room(rec)? {
                // Publish the padding alone: once the consumer passes it,
                // the whole ring is ours to start over.
                self.publish();
                return Ok(None);
            }
            return Ok(Some(self.place(0, len)));
        }
        if !self.room(rec)? {
            return Ok(None);
        }
        Ok(Some(self.place(off, len)))
    }

    fn place(&mut self, off: u64, len: usize) -> Reserved {
        self.ring.write_header(off, len as u32, 0);
        self.write = self.write.wrapping_add(record_len(len as u64));
        Reserved { off: off + HEADER, len }
    }

    /// The payload bytes of a reservation, as a raw slice: valid to use
    /// while `r` is neither published nor rolled back.
    pub(crate) fn payload_ptr(&self, r: Reserved) -> *mut [u8] {
        if r.len == 0 {
            return std::ptr::slice_from_raw_parts_mut(NonNull::<u8>::dangling().as_ptr(), 0);
        }
        // place() only hands out payloads whose record fits before the end
        // of the ring, so off + len <= cap.
        std::ptr::slice_from_raw_parts_mut(self.ring.at(r.off), r.len)
    }

    /// Copies `msg` into a reservation.
    pub(crate) fn fill(&mut self, r: Reserved, msg: &[u8]) {
        debug_assert_eq!(r.len, msg.len());
        if r.len == 0 {
            return;
        }
        // SAFETY: r was just reserved by us, inside the ring; we copy at
        // most its length.
        unsafe { crate::copy::copy(msg.as_ptr(), self.ring.at(r.off), msg.len().min(r.len)) };
    }

    /// Shrinks the last reservation `r` to `len` bytes (`len <= r.len`).
    pub(crate) fn shrink(&mut self, r: Reserved, len: usize) {
        let len = len.min(r.len);
        let off = r.off - HEADER;
        self.ring.write_header(off, len as u32, 0);
        self.write = self.write.wrapping_sub(record_len(r.len as u64)).wrapping_add(record_len(len as u64));
    }

    /// Forgets what was written and not published.
    pub(crate) fn rollback(&mut self) {
        self.write = self.tail;
    }

    /// Makes every written record visible and wakes the consumer if asleep.
    #[inline]
    pub(crate) fn publish(&mut self) {
        if self.write == self.tail {
            return;
        }
        self.tail = self.write;
        // The swap releases the records' bytes to whoever sees the tail.
        self.ring.store_and_wake(&self.ring.state().tail.pos, self.tail, End::Receiver);
    }

    /// Whether `try_reserve(len)` would make progress now (for waiting):
    /// the record fits, or at least the padding before it does.
    pub(crate) fn fits(&mut self, len: usize) -> Result<bool, Corrupt> {
        let cap = self.ring.cap;
        let rec = record_len(len as u64);
        let to_end = cap - (self.write & (cap - 1));
        self.room(if rec > to_end { to_end } else { rec })
    }
}

/// The consumer's private cursor.
pub(crate) struct Consumer {
    ring: ByteRing,
    /// Freed position (what `head` holds).
    head: u64,
    /// Read position: records between `head` and here are read, not freed.
    read: u64,
    /// Last `tail` seen.
    tail: u64,
}

/// A record found by [`Consumer::peek`]: its payload's place in the ring.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Record {
    off: u64,
    pub(crate) len: usize,
}

impl Consumer {
    /// The consumer of `ring`, starting at its head. The caller holds the
    /// receiver end.
    pub(crate) fn new(ring: ByteRing) -> Result<Consumer, Corrupt> {
        let s = ring.state();
        let head = s.head.pos.load(Ordering::Acquire);
        let tail = s.tail.pos.load(Ordering::Acquire);
        ring.check_span(head, tail, "ring")?;
        Ok(Consumer { ring, head, read: head, tail })
    }

    pub(crate) fn ring(&self) -> &ByteRing {
        &self.ring
    }

    /// Whether a record is published past the read position (reloads the
    /// tail if the cached one says no).
    pub(crate) fn has_data(&mut self) -> bool {
        if self.read != self.tail {
            return true;
        }
        // Acquire: the records' bytes are visible once we see the tail.
        self.tail = self.ring.state().tail.pos.load(Ordering::Acquire);
        self.read != self.tail
    }

    /// The next record past the read position, skipping padding; `None` if
    /// none is published.
    pub(crate) fn peek(&mut self) -> Result<Option<Record>, Corrupt> {
        let cap = self.ring.cap;
        loop {
            if !self.has_data() {
                return Ok(None);
            }
            self.ring.check_span(self.read, self.tail, "consumer")?;
            let avail = self.tail.wrapping_sub(self.read);
            let off = self.read & (cap - 1);
            let to_end = cap - off;
            let (len, flags) = self.ring.read_header(off);
            if flags == PAD {
                if u64::from(len) + HEADER != to_end || avail < to_end {
                    return Err(Corrupt(format!("padding record of {len} bytes at offset {off}")));
                }
                self.read = self.read.wrapping_add(to_end);
                // Free it now: the producer may be waiting for exactly this
                // room before it can start over at offset 0.
                self.release();
                continue;
            }
            let rec = record_len(u64::from(len));
            if flags != 0 || rec > to_end || rec > avail {
                return Err(Corrupt(format!(
                    "record of {len} bytes (flags {flags:#x}) at offset {off}, {avail} bytes published"
                )));
            }
            return Ok(Some(Record { off: off + HEADER, len: len as usize }));
        }
    }

    /// The payload of `r`.
    ///
    /// # Safety
    /// `r` must come from this consumer's last `peek`, and the slice must
    /// not be used after the record is consumed and freed.
    pub(crate) unsafe fn payload(&self, r: Record) -> &[u8] {
        if r.len == 0 {
            return &[];
        }
        // SAFETY: peek checked the record lies inside the ring and below the
        // published tail; the producer does not write it until head passes.
        unsafe { std::slice::from_raw_parts(self.ring.at(r.off), r.len) }
    }

    /// Moves the read position past `r` (the record `peek` returned).
    pub(crate) fn consume(&mut self, r: Record) {
        let off = self.read & (self.ring.cap - 1);
        debug_assert_eq!(off + HEADER, r.off);
        self.read = self.read.wrapping_add(record_len(r.len as u64));
    }

    /// Frees everything read and wakes the producer if it sleeps.
    #[inline]
    pub(crate) fn release(&mut self) {
        if self.read == self.head {
            return;
        }
        self.head = self.read;
        // The swap releases: our reads of the freed bytes happen before the
        // producer overwrites them.
        self.ring.store_and_wake(&self.ring.state().head.pos, self.head, End::Sender);
    }
}

#[cfg(all(test, loom))]
mod loom_models {
    use super::*;
    use crate::loom_support::{Alive, model};
    use loom::sync::Arc;

    struct Mem {
        ptr: NonNull<u8>,
        layout: std::alloc::Layout,
    }
    // SAFETY: the memory is shared between loom threads as between
    // processes; the ring protocol guards it.
    unsafe impl Send for Mem {}
    // SAFETY: as above.
    unsafe impl Sync for Mem {}
    impl Mem {
        fn new(cap: u64) -> Arc<Mem> {
            let layout = std::alloc::Layout::from_size_align(STATE_SIZE + cap as usize, 64).unwrap();
            // SAFETY: non-zero size.
            let ptr = NonNull::new(unsafe { std::alloc::alloc_zeroed(layout) }).unwrap();
            // SAFETY: zeroed memory is a valid initial RingState; loom
            // atomics need construction, so write them in.
            unsafe {
                ptr.cast::<RingState>().as_ptr().write(RingState {
                    tail: Index { pos: AtomicU64::new(0) },
                    head: Index { pos: AtomicU64::new(0) },
                    ctl: Control {
                        waits: Waits::new(),
                        sender: AtomicU32::new(0),
                        receiver: AtomicU32::new(0),
                        ever_sender: AtomicU32::new(0),
                        ever_receiver: AtomicU32::new(0),
                    },
                })
            };
            Arc::new(Mem { ptr, layout })
        }
        fn ring(&self) -> ByteRing {
            // SAFETY: allocated above with the state and cap bytes.
            unsafe { ByteRing::new(self.ptr, (self.layout.size() - STATE_SIZE) as u64) }
        }
    }
    impl Drop for Mem {
        fn drop(&mut self) {
            // SAFETY: allocated with this layout; the state is dropped in place.
            unsafe {
                std::ptr::drop_in_place(self.ptr.cast::<RingState>().as_ptr());
                std::alloc::dealloc(self.ptr.as_ptr(), self.layout);
            }
        }
    }

    /// Messages of varying sizes through a 64-byte ring that must pad and
    /// wrap: each arrives once, whole, in order; a sleeping end is woken.
    fn exchange(sizes: &'static [usize], strategy: WaitStrategy) {
        model(2, move || {
            let mem = Mem::new(64);
            let m2 = mem.clone();
            let producer = loom::thread::spawn(move || {
                let mut p = Producer::new(m2.ring()).unwrap();
                for (i, &len) in sizes.iter().enumerate() {
                    let msg = vec![i as u8 + 1; len];
                    loop {
                        if let Some(r) = p.try_reserve(len).unwrap() {
                            p.fill(r, &msg);
                            p.publish();
                            break;
                        }
                        let ring = *p.ring();
                        let w = ring.wait(End::Sender, &Alive(1), strategy, Deadline::Never, || p.fits(len).unwrap());
                        assert_eq!(w, Waited::Ready);
                    }
                }
            });
            let mut c = Consumer::new(mem.ring()).unwrap();
            for (i, &len) in sizes.iter().enumerate() {
                let r = loop {
                    if let Some(r) = c.peek().unwrap() {
                        break r;
                    }
                    let ring = *c.ring();
                    let w = ring.wait(End::Receiver, &Alive(1), strategy, Deadline::Never, || c.has_data());
                    assert_eq!(w, Waited::Ready);
                };
                // SAFETY: r is the record peek just returned.
                let got = unsafe { c.payload(r) }.to_vec();
                assert_eq!(got, vec![i as u8 + 1; len]);
                c.consume(r);
                c.release();
            }
            producer.join().unwrap();
        });
    }

    /// Spinning ends: the index handoff alone.
    #[test]
    fn loom_spsc_bytes_wrap() {
        exchange(&[20, 20, 20], WaitStrategy::Spin);
    }

    /// Parking ends: no lost wake-up on either side (the model blocks for
    /// ever on a futex wait without a timeout; ours are timed, so a lost
    /// wake-up shows as an exhausted model instead — kept small).
    #[test]
    fn loom_spsc_bytes_park() {
        exchange(&[40, 8], WaitStrategy::Park);
    }
}

/// Runs the receive and send paths of a byte ring whose state and contents
/// are taken from `data`, as a corrupted or hostile segment could hold
/// them: indices, record headers and padding are arbitrary. Every path must
/// return an error or an answer (the loops are bounded) without panicking or
/// touching memory outside the ring.
///
/// The layout of `data`: byte 0 picks the capacity (64 to 512 bytes), byte 1
/// a sequence of operations, then 8 bytes each for the head and the tail
/// (their low 12 bits, around a base that may wrap), then the ring's bytes.
/// A send whose length byte has its high bit set is given back instead of
/// published, after a hostile head (read from the ring's bytes) was stored
/// and seen.
#[cfg(all(any(test, fuzzing), not(loom)))]
pub fn fuzz_byte_ring(data: &[u8]) {
    let byte = |i: usize| data.get(i).copied().unwrap_or(0);
    let word = |i: usize| (0..8).fold(0u64, |w, k| w | u64::from(byte(i + k)) << (8 * k));
    let cap = MIN_CAPACITY << (byte(0) % 4);
    let ops = byte(1);
    let base = word(2) & !0xfff;
    let head = base.wrapping_add(word(10) & 0xfff);
    let tail = base.wrapping_add(word(18) & 0xfff);
    let layout = std::alloc::Layout::from_size_align(STATE_SIZE + cap as usize, 64).expect("layout");
    // SAFETY: non-zero size.
    let Some(base_ptr) = NonNull::new(unsafe { std::alloc::alloc_zeroed(layout) }) else { return };
    // SAFETY: the allocation holds the state (all-zero atomics are valid)
    // and `cap` bytes after it; it outlives the ring views below.
    let ring = unsafe { ByteRing::new(base_ptr, cap) };
    for (i, b) in data.iter().skip(26).take(cap as usize).enumerate() {
        // SAFETY: i < cap.
        unsafe { ring.at(i as u64).write(*b) };
    }
    ring.state().head.pos.store(head, Ordering::Relaxed);
    ring.state().tail.pos.store(tail, Ordering::Relaxed);
    if let (Ok(mut p), Ok(mut c)) = (Producer::new(ring), Consumer::new(ring)) {
        for k in 0..8 {
            if (ops >> k) & 1 == 0 {
                for _ in 0..4 {
                    match c.peek() {
                        Ok(Some(r)) => {
                            // SAFETY: r is the record peek just returned.
                            let _ = unsafe { c.payload(r) }.iter().fold(0u8, |a, b| a ^ b);
                            c.consume(r);
                            c.release();
                        }
                        Ok(None) | Err(_) => break,
                    }
                }
            } else {
                let len = usize::from(byte(2 + k)) % (cap as usize - HEADER as usize + 1);
                if let Ok(Some(r)) = p.try_reserve(len) {
                    p.fill(r, &vec![k as u8; len]);
                    if byte(2 + k) & 0x80 == 0 {
                        p.publish();
                    } else {
                        // A hostile head written while the record is not
                        // published yet, seen by a reload (a full-ring
                        // check), then the record given back.
                        ring.state().head.pos.store(tail.wrapping_add(word(26 + 8 * k) & 0x1ff), Ordering::Relaxed);
                        let _ = p.fits(cap as usize - HEADER as usize);
                        p.rollback();
                    }
                }
                let _ = p.fits(len);
            }
        }
    }
    // SAFETY: allocated above with this layout; the views are gone.
    unsafe { std::alloc::dealloc(base_ptr.as_ptr(), layout) };
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    /// The fuzz entry point over many pseudo-random states, so CI runs it
    /// too (the fuzz crate explores far more).
    #[test]
    fn random_ring_states_never_panic() {
        let mut seed = 0x1234_5678_9abc_def0u64;
        let mut data = vec![0u8; 26 + 512];
        for round in 0..20_000 {
            let x = crate::queue::fill_random(&mut data, &mut seed);
            // Half the rounds: plausible records, so deeper paths run.
            if round % 2 == 0 {
                for (i, chunk) in data[26..].chunks_mut(8).enumerate() {
                    if i % 3 == 0 {
                        chunk[..4].copy_from_slice(&((x >> i) as u32 % 64).to_ne_bytes());
                        chunk[4..].copy_from_slice(&(u32::from(i % 7 == 0)).to_ne_bytes());
                    }
                }
            }
            fuzz_byte_ring(&data[..26 + (x as usize % 512)]);
        }
    }

    /// A record header claiming more bytes than are published, or padding
    /// that does not reach the end of the ring, is `Corrupt`.
    #[test]
    fn impossible_records_are_corrupt() {
        let layout = std::alloc::Layout::from_size_align(STATE_SIZE + 64, 64).unwrap();
        // SAFETY: non-zero size.
        let base = NonNull::new(unsafe { std::alloc::alloc_zeroed(layout) }).unwrap();
        // SAFETY: the allocation holds a zeroed state and 64 bytes.
        let ring = unsafe { ByteRing::new(base, 64) };
        ring.write_header(0, 40, 0);
        ring.state().tail.pos.store(16, Ordering::Relaxed);
        let mut c = Consumer::new(ring).unwrap();
        assert!(c.peek().is_err(), "a 40-byte record in 16 published bytes");
        ring.write_header(0, 8, PAD);
        let mut c = Consumer::new(ring).unwrap();
        assert!(c.peek().is_err(), "padding that stops short of the end");
        ring.state().tail.pos.store(72, Ordering::Relaxed);
        assert!(Consumer::new(ring).is_err(), "more published than the ring holds");
        assert!(Producer::new(ring).is_err());
        ring.state().tail.pos.store(12, Ordering::Relaxed);
        assert!(Consumer::new(ring).is_err(), "a tail that is not 8-aligned");
        // SAFETY: allocated above with this layout.
        unsafe { std::alloc::dealloc(base.as_ptr(), layout) };
    }
}
