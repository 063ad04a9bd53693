//! The single-producer, single-consumer byte ring behind
//! [`ByteQueue`](crate::ByteQueue) and [`Pipe`](crate::Pipe).
//!
//! # Records
//!
//! The ring is `cap` bytes (a power of two). Each message is a *record*: an
//! 8-byte header (`len: u32`, then a `stamp: u32`, native endian, read and
//! written as one atomic word) and the payload, padded to a multiple of 8
//! bytes. A record never wraps: when the next one does not fit before the
//! end of the ring, the producer fills the rest with a *padding record*
//! (stamp bit `PAD`) and starts again at offset 0, as Aeron does.
//!
//! A message longer than [`ALIGN_FROM`] bytes has its payload on a cache
//! line boundary: the producer puts a padding record of 8-56 bytes before
//! its header when needed. Copies into and out of the ring then move whole
//! lines: between two processes, 4 KiB messages streamed at 34 GB/s
//! through payloads 8 bytes off a line and 58-63 GB/s through aligned ones
//! (`rep movsb`), 192 B-1 KiB messages 1.3-1.7x faster. At 64 bytes and
//! below aligning costs more than it gains (a second line per record).
//! The consumer skips any padding record that fits before the end of the
//! ring; at most two precede a record (one to the end, one at offset 0).
//!
//! # Publishing: the stamp on the record's own line
//!
//! A record is published by its header: the producer writes the payload,
//! then stores the header with Release, its stamp naming the record's
//! position ([`ByteRing::stamp`]: bit `PUBLISHED` and the lap, `pos / cap`).
//! The consumer polls the header at its read position: a stamp for that
//! position means a whole record (Acquire: its payload is visible); the
//! stamp of an earlier lap, or an unstamped header still being written,
//! means none yet. So the consumer finds a message and its bytes on the
//! same cache line, and never reads the producer's index: a round trip
//! moves one line per direction, as the slot ring's per-slot state does.
//!
//! # Indices
//!
//! `tail` (written by the producer) and `head` (written by the consumer) are
//! 64-bit byte positions that only grow, each on its own cache line. After
//! stamping records the producer also stores `tail` (Release): it is what a
//! new producer resumes from, what `len()` counts and what a waker bumps;
//! the consumer's fast path does not read it. The consumer frees records
//! with one Release store of `head`; the producer keeps `head` cached and
//! reloads it only when the cached value says the ring is full, so the fast
//! path has no CAS and touches the other side's line once per lap at most.
//!
//! # Crashes
//!
//! Nothing is visible until its header is stamped, and the stamp is stored
//! after the payload, so a producer killed mid-write leaves no torn record.
//! It may die between stamping and storing `tail`: the stamped records are
//! whole, and the consumer may have read them already, so a new producer
//! starts after the last record stamped in sequence from `tail`
//! ([`Producer::new`]). A consumer killed mid-read has not moved `head`, so
//! its record is read again by the next consumer (at-least-once for that
//! one record).
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
/// Stamp bit: the record only fills the ring up to its end.
const PAD: u32 = 1;
/// Stamp bit: the header is stamped (published); never set in a header
/// still being written, nor in zeroed memory.
const PUBLISHED: u32 = 2;

/// A record header, as one word shared with the other end. Under loom it
/// is std's atomic (the ring's bytes are raw memory, which loom's atomics
/// cannot overlay): the models check the index and sleep protocol, not the
/// ordering of the header itself.
#[cfg(not(loom))]
type HeaderWord = AtomicU64;
#[cfg(loom)]
type HeaderWord = std::sync::atomic::AtomicU64;

/// Longest message whose payload may start anywhere (a multiple of 8);
/// longer ones start on a cache line when the ring holds them there.
pub(crate) const ALIGN_FROM: usize = 128;
/// Bytes of a cache line: where long payloads start.
const LINE: u64 = 64;

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
    /// `log2(cap)`: a position's lap is `pos >> shift`.
    shift: u32,
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
        ByteRing { state: base.cast(), data, cap, shift: cap.trailing_zeros() }
    }

    fn state(&self) -> &RingState {
        // SAFETY: per `new`'s contract the state stays mapped; it is only
        // accessed through atomics.
        unsafe { self.state.as_ref() }
    }

    pub(crate) fn capacity(&self) -> u64 {
        self.cap
    }

    /// Bytes published and not yet freed (a snapshot). A producer killed
    /// after stamping records and before moving `tail` leaves `head` past
    /// `tail` until the next producer comes: that is 0.
    pub(crate) fn used(&self) -> u64 {
        let s = self.state();
        let head = s.head.pos.load(Ordering::Acquire);
        let used = s.tail.pos.load(Ordering::Acquire).wrapping_sub(head);
        if used > u64::MAX / 2 { 0 } else { used.min(self.cap) }
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
    #[inline]
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
        let head = self.state().head.pos.load(Ordering::Acquire);
        let ready = self.published(head).is_some() || {
            let (word, ever) = self.role(End::Sender);
            if thorough { role_gone(word, ever, live) } else { role_released(word, ever) }
        };
        (ready, park)
    }

    /// For an async send of `len` bytes, as the sending end with nothing
    /// unpublished (its write position is the tail): room for the record
    /// now, or for the padding before it (what `Producer::fits` says), or
    /// the receiving end gone; and where to sleep.
    #[cfg_attr(not(feature = "async"), allow(dead_code))]
    pub(crate) fn send_parts(&self, len: usize, live: &impl Liveness, thorough: bool) -> (bool, Park<'_>) {
        let (seq, sleepers) = self.state().ctl.waits.words(End::Sender);
        let park = Park::Counted { word: seq, count: sleepers, asym: true, wakes_one: true };
        let s = self.state();
        let head = s.head.pos.load(Ordering::Acquire);
        let tail = s.tail.pos.load(Ordering::Acquire);
        let used = tail.wrapping_sub(head);
        let room = used <= self.cap && used + self.next_step(tail, len) <= self.cap;
        let ready = room || {
            let (word, ever) = self.role(End::Receiver);
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

    /// The header word of the record at position `pos` (its offset taken
    /// modulo the ring and down to a multiple of 8, so that even a position
    /// read from a corrupted index stays inside the ring).
    fn header(&self, pos: u64) -> &HeaderWord {
        // SAFETY: the offset is a multiple of 8 below cap and the data is
        // 64-aligned, so the word lies inside the ring, aligned; both ends
        // access headers only atomically.
        unsafe { &*self.at(pos & (self.cap - 1) & !7).cast::<HeaderWord>() }
    }

    /// The stamp of a record at position `pos`: `PUBLISHED` and the lap
    /// (its low 30 bits: the consumer is never a lap behind).
    #[inline]
    fn stamp(&self, pos: u64) -> u32 {
        ((pos >> self.shift) as u32) << 2 | PUBLISHED
    }

    /// The record published at position `pos`, as `(len, padding)`: `None`
    /// unless its header carries the stamp of `pos`. Acquire: the payload
    /// written before the stamp is visible.
    #[inline]
    fn published(&self, pos: u64) -> Option<(u32, bool)> {
        let word = self.header(pos).load(Ordering::Acquire);
        let stamp = (word >> 32) as u32;
        (stamp & !PAD == self.stamp(pos)).then_some((word as u32, stamp & PAD != 0))
    }

    /// Padding before a record of `len` bytes written at offset `off`:
    /// what puts a long message's payload on a line, if the ring holds it
    /// so (bytes, a multiple of 8 below `LINE`; 0 for the others).
    #[inline]
    fn lead(&self, off: u64, len: usize) -> u64 {
        let aligned = len > ALIGN_FROM && record_len(len as u64) + (LINE - HEADER) <= self.cap;
        if aligned { (LINE - HEADER).wrapping_sub(off) % LINE } else { 0 }
    }

    /// Free bytes the producer needs, written up to `pos`, to make progress
    /// on a record of `len` bytes: its padding and itself if they fit
    /// before the end of the ring, otherwise the padding to the end.
    fn next_step(&self, pos: u64, len: usize) -> u64 {
        let off = pos & (self.cap - 1);
        let here = self.lead(off, len) + record_len(len as u64);
        here.min(self.cap - off)
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
    /// The header of the last record written, not in the ring yet: its
    /// position and word. Held back so that a lone record's header line is
    /// written once, stamped, after its payload; a consumer polling that
    /// line sees it change once.
    held: Option<(u64, u64)>,
}

/// Where a reserved record's payload is.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Reserved {
    off: u64,
    len: usize,
}

impl Producer {
    /// The producer of `ring`, starting after the last record stamped in
    /// sequence from its `tail` (a producer killed between stamping records
    /// and moving `tail` left them whole, and they may be read already);
    /// `tail` is moved there. The caller holds the sender end.
    pub(crate) fn new(ring: ByteRing) -> Result<Producer, Corrupt> {
        let s = ring.state();
        let tail = s.tail.pos.load(Ordering::Acquire);
        let head = s.head.pos.load(Ordering::Acquire);
        if tail % 8 != 0 {
            return Err(Corrupt(format!("tail {tail} of a {} byte ring is not 8-aligned", ring.cap)));
        }
        let mut end = tail;
        // At most a ring's worth: beyond that a stamp cannot be current.
        while end.wrapping_sub(tail) < ring.cap
            && let Some((len, _)) = ring.published(end)
        {
            end = end.wrapping_add(record_len(u64::from(len)));
        }
        ring.check_span(head, end, "ring")?;
        if end != tail {
            s.tail.pos.store(end, Ordering::Release);
        }
        Ok(Producer { ring, tail: end, write: end, head, held: None })
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
    #[inline]
    pub(crate) fn try_reserve(&mut self, len: usize) -> Result<Option<Reserved>, Corrupt> {
        match self.spot_here(len) {
            Some(off) => Ok(Some(self.place(off, len))),
            None => self.try_reserve_further(len),
        }
    }

    /// The common case of a record of `len` bytes: a message placed
    /// anywhere ([`ALIGN_FROM`] bytes at most) whose record fits where the
    /// producer stands, before the end of the ring, in room the cached head
    /// already shows. Its offset, or `None` for the long way.
    #[inline(always)]
    fn spot_here(&self, len: usize) -> Option<u64> {
        let cap = self.ring.cap;
        let rec = record_len(len as u64);
        let off = self.write & (cap - 1);
        let here =
            len <= ALIGN_FROM && rec <= cap - off && self.write.wrapping_sub(self.head).saturating_add(rec) <= cap;
        here.then_some(off)
    }

    /// Writes and publishes `msg` in one go if it takes the common path:
    /// nothing written and unpublished, and [`spot_here`](Self::spot_here).
    /// The payload and its stamped header are stored back to back, with
    /// nothing held in between. `false` (nothing done) sends the caller the
    /// long way: reserve, fill, publish.
    #[inline(always)]
    pub(crate) fn send_now(&mut self, msg: &[u8]) -> bool {
        let (len, pos) = (msg.len(), self.write);
        let Some(off) = self.spot_here(len).filter(|_| pos == self.tail) else {
            return false;
        };
        let rec = record_len(len as u64);
        debug_assert!(self.held.is_none());
        if len != 0 {
            // SAFETY: the record fits before the end of the ring (checked),
            // in room the consumer has freed (the cached head), so its
            // payload lies in the ring and nobody reads it until stamped.
            unsafe { crate::copy::copy(msg.as_ptr(), self.ring.at(off + HEADER), len) };
        }
        // Release: the payload is visible to whoever sees the stamp.
        self.ring.header(pos).store(len as u64 | u64::from(self.ring.stamp(pos)) << 32, Ordering::Release);
        self.write = pos.wrapping_add(rec);
        self.published_to_write();
        true
    }

    /// [`try_reserve`](Self::try_reserve) past its common case: padding,
    /// or a look at the consumer's head.
    #[inline(never)]
    fn try_reserve_further(&mut self, len: usize) -> Result<Option<Reserved>, Corrupt> {
        let cap = self.ring.cap;
        let rec = record_len(len as u64);
        debug_assert!(rec <= cap);
        let mut off = self.write & (cap - 1);
        let mut lead = self.ring.lead(off, len);
        let to_end = cap - off;
        if lead + rec > to_end {
            // Pad to the end of the ring, then start the record at 0.
            if !self.room(to_end)? {
                return Ok(None);
            }
            self.pad(to_end);
            (off, lead) = (0, self.ring.lead(0, len));
            if !self.room(lead + rec)? {
                // Publish the padding alone: once the consumer passes it,
                // the whole ring is ours to start over.
                self.publish();
                return Ok(None);
            }
        } else if !self.room(lead + rec)? {
            return Ok(None);
        }
        if lead != 0 {
            self.pad(lead);
        }
        Ok(Some(self.place(off + lead, len)))
    }

    /// Writes a padding record of `span` bytes (its header included) at the
    /// written position.
    fn pad(&mut self, span: u64) {
        self.hold_header((span - HEADER) as u32, PAD);
        self.write = self.write.wrapping_add(span);
    }

    #[inline]
    fn place(&mut self, off: u64, len: usize) -> Reserved {
        self.hold_header(len as u32, 0);
        self.write = self.write.wrapping_add(record_len(len as u64));
        Reserved { off: off + HEADER, len }
    }

    /// Holds back the header of a record at the written position, writing
    /// the one held before (unstamped) into the ring.
    #[inline]
    fn hold_header(&mut self, len: u32, flags: u32) {
        if let Some((pos, word)) = self.held.take() {
            self.ring.header(pos).store(word, Ordering::Relaxed);
        }
        self.held = Some((self.write, u64::from(len) | u64::from(flags) << 32));
    }

    /// The payload bytes of a reservation, as a raw slice: valid to use
    /// while `r` is neither published nor rolled back.
    #[inline]
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
        if let Some((_, word)) = &mut self.held {
            *word = len as u64;
        }
        self.write = self.write.wrapping_sub(record_len(r.len as u64)).wrapping_add(record_len(len as u64));
    }

    /// Forgets what was written and not published.
    #[inline]
    pub(crate) fn rollback(&mut self) {
        self.held = None;
        self.write = self.tail;
    }

    /// Makes every written record visible (stamps their headers, in order)
    /// and wakes the consumer if asleep.
    #[inline]
    pub(crate) fn publish(&mut self) {
        // The common case inline: one record, its header held.
        if let Some((at, word)) = self.held
            && at == self.tail
            && word >> 32 == 0
            && record_len(word & 0xffff_ffff) == self.write.wrapping_sub(at)
        {
            self.held = None;
            // Release: the payload is visible to whoever sees the stamp.
            self.ring.header(at).store(word | u64::from(self.ring.stamp(at)) << 32, Ordering::Release);
            self.published_to_write();
            return;
        }
        self.publish_all();
    }

    /// [`publish`](Self::publish) of any run of records.
    #[inline(never)]
    fn publish_all(&mut self) {
        let span = self.write.wrapping_sub(self.tail);
        if span == 0 {
            return;
        }
        let ring = &self.ring;
        let mut done = 0;
        // Our own headers, the last one held back and the others read back
        // for their lengths: each step is at least 8 bytes, so even headers
        // a hostile process rewrote end the loop (the consumer checks what
        // it reads).
        let held = self.held.take();
        while done < span {
            let pos = self.tail.wrapping_add(done);
            let header = ring.header(pos);
            let word = match held {
                Some((at, word)) if at == pos => word,
                _ => header.load(Ordering::Relaxed),
            };
            let (len, pad) = (word as u32, (word >> 32) as u32 & PAD);
            // Release: the payload is visible to whoever sees the stamp.
            header.store(u64::from(len) | u64::from(pad | ring.stamp(pos)) << 32, Ordering::Release);
            done += record_len(u64::from(len));
        }
        self.published_to_write();
    }

    /// Moves the tail to the written position, every record up to it
    /// stamped.
    #[inline]
    fn published_to_write(&mut self) {
        crate::failpoint::hit(crate::failpoint::BYTES_BEFORE_TAIL);
        self.tail = self.write;
        // For a new producer, len() and the waker; the consumer does not
        // wait for it.
        self.ring.store_and_wake(&self.ring.state().tail.pos, self.tail, End::Receiver);
    }

    /// Whether `try_reserve(len)` would make progress now (for waiting):
    /// the record fits, or at least the padding before it does.
    pub(crate) fn fits(&mut self, len: usize) -> Result<bool, Corrupt> {
        self.room(self.ring.next_step(self.write, len))
    }
}

/// The consumer's private cursor.
pub(crate) struct Consumer {
    ring: ByteRing,
    /// Freed position (what `head` holds).
    head: u64,
    /// Read position: records between `head` and here are read, not freed.
    read: u64,
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
        let head = ring.state().head.pos.load(Ordering::Acquire);
        if head % 8 != 0 {
            return Err(Corrupt(format!("head {head} of a {} byte ring is not 8-aligned", ring.cap)));
        }
        Ok(Consumer { ring, head, read: head })
    }

    pub(crate) fn ring(&self) -> &ByteRing {
        &self.ring
    }

    /// Whether a record is published at the read position.
    #[inline]
    pub(crate) fn has_data(&self) -> bool {
        self.ring.published(self.read).is_some()
    }

    /// The record at the read position if it is published, not padding and
    /// well formed: the common case of [`peek`](Self::peek), inlined into
    /// the receive (a record returned through `peek`'s nested enums is
    /// read back from memory with a wider load than it was stored with,
    /// which waits for the stores to drain). `None` leaves the rest to
    /// `peek`.
    #[inline(always)]
    pub(crate) fn peek_plain(&self) -> Option<Record> {
        let (len, pad) = self.ring.published(self.read)?;
        let off = self.read & (self.ring.cap - 1);
        (!pad && record_len(u64::from(len)) <= self.ring.cap - off)
            .then_some(Record { off: off + HEADER, len: len as usize })
    }

    /// The next record past the read position, skipping padding; `None` if
    /// none is published.
    pub(crate) fn peek(&mut self) -> Result<Option<Record>, Corrupt> {
        let cap = self.ring.cap;
        // Padding to the end of the ring, then padding that puts a payload
        // on a line, then the record: three turns at most.
        for _ in 0..3 {
            let Some((len, pad)) = self.ring.published(self.read) else {
                return Ok(None);
            };
            let off = self.read & (cap - 1);
            let to_end = cap - off;
            if pad {
                let span = u64::from(len) + HEADER;
                if len % 8 != 0 || span > to_end {
                    return Err(Corrupt(format!("padding record of {len} bytes at offset {off}")));
                }
                self.read = self.read.wrapping_add(span);
                if span == to_end {
                    // Free it now: the producer may be waiting for exactly
                    // this room before it can start over at offset 0.
                    self.release();
                }
                continue;
            }
            if record_len(u64::from(len)) > to_end {
                return Err(Corrupt(format!("record of {len} bytes at offset {off} runs past the end")));
            }
            return Ok(Some(Record { off: off + HEADER, len: len as usize }));
        }
        Err(Corrupt(format!("three padding records in a row before offset {}", self.read & (cap - 1))))
    }

    /// The payload of `r`.
    ///
    /// # Safety
    /// `r` must come from this consumer's last `peek`, and the slice must
    /// not be used after the record is consumed and freed.
    #[inline]
    pub(crate) unsafe fn payload(&self, r: Record) -> &[u8] {
        if r.len == 0 {
            return &[];
        }
        // SAFETY: peek checked the record lies inside the ring and below the
        // published tail; the producer does not write it until head passes.
        unsafe { std::slice::from_raw_parts(self.ring.at(r.off), r.len) }
    }

    /// Moves the read position past `r` (the record `peek` returned).
    #[inline]
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
            // Half the rounds: plausible records stamped for one of the
            // first laps around a base of 0, so deeper paths run.
            if round % 2 == 0 {
                data[2..10].fill(0);
                for (i, chunk) in data[26..].chunks_mut(8).enumerate() {
                    if i % 3 == 0 {
                        let stamp = ((x >> i) as u32 & 7) << 2 | PUBLISHED | u32::from(i % 7 == 0);
                        chunk[..4].copy_from_slice(&((x >> i) as u32 % 64).to_ne_bytes());
                        chunk[4..].copy_from_slice(&stamp.to_ne_bytes());
                    }
                }
            }
            fuzz_byte_ring(&data[..26 + (x as usize % 512)]);
        }
    }

    /// A zeroed ring of `cap` bytes (and its state) on the heap, freed when
    /// dropped, a failed assertion included.
    struct HeapRing {
        base: NonNull<u8>,
        layout: std::alloc::Layout,
    }

    impl HeapRing {
        fn new(cap: u64) -> HeapRing {
            let layout = std::alloc::Layout::from_size_align(STATE_SIZE + cap as usize, 64).unwrap();
            // SAFETY: non-zero size.
            let base = NonNull::new(unsafe { std::alloc::alloc_zeroed(layout) }).unwrap();
            HeapRing { base, layout }
        }

        /// A view of the ring (valid while `self` lives).
        fn ring(&self) -> ByteRing {
            // SAFETY: the allocation holds a zeroed state and the ring's
            // bytes, 64-aligned; views are used only while it lives.
            unsafe { ByteRing::new(self.base, (self.layout.size() - STATE_SIZE) as u64) }
        }
    }

    impl Drop for HeapRing {
        fn drop(&mut self) {
            // SAFETY: allocated in `new` with this layout.
            unsafe { std::alloc::dealloc(self.base.as_ptr(), self.layout) };
        }
    }

    /// Reads every record published, checking each against the next of
    /// `sent` (in order), and frees them.
    fn receive(c: &mut Consumer, sent: &mut std::collections::VecDeque<Vec<u8>>) {
        while let Some(rec) = c.peek().unwrap() {
            // SAFETY: rec is the record peek just returned.
            assert_eq!(unsafe { c.payload(rec) }, &sent.pop_front().unwrap()[..]);
            c.consume(rec);
            c.release();
        }
    }

    /// Writes a header stamped for position `pos`, as a producer publishes.
    fn stamped(ring: &ByteRing, pos: u64, len: u32, flags: u32) {
        let word = u64::from(len) | u64::from(flags | ring.stamp(pos)) << 32;
        ring.header(pos).store(word, Ordering::Relaxed);
    }

    /// A stamped record or padding running past the end of the ring,
    /// padding of an odd length, three paddings in a row and impossible
    /// indices are `Corrupt`; a header stamped for another lap is no
    /// record.
    #[test]
    fn impossible_records_are_corrupt() {
        let heap = HeapRing::new(64);
        let ring = heap.ring();
        let consumer_at = |pos: u64| {
            ring.state().head.pos.store(pos, Ordering::Relaxed);
            Consumer::new(ring).unwrap()
        };
        stamped(&ring, 48, 40, 0);
        assert!(consumer_at(48).peek().is_err(), "a 40-byte record at offset 48 of 64");
        stamped(&ring, 48, 16, PAD);
        assert!(consumer_at(48).peek().is_err(), "padding running past the end");
        stamped(&ring, 48, 4, PAD);
        assert!(consumer_at(48).peek().is_err(), "padding of a length not a multiple of 8");
        for pos in [64, 72, 80] {
            stamped(&ring, pos, 0, PAD);
        }
        assert!(consumer_at(64).peek().is_err(), "three padding records in a row");
        // Padding that stops short of the end (before a long payload) is
        // skipped, at offset 0 too.
        stamped(&ring, 128, 8, PAD);
        stamped(&ring, 144, 8, 0);
        assert!(matches!(consumer_at(128).peek(), Ok(Some(Record { off: 24, len: 8 }))));
        stamped(&ring, 0, 8, 0);
        assert!(matches!(consumer_at(64).peek(), Ok(None)), "a record of the previous lap");
        assert!(matches!(consumer_at(0).peek(), Ok(Some(Record { off: 8, len: 8 }))));
        ring.state().head.pos.store(12, Ordering::Relaxed);
        assert!(Consumer::new(ring).is_err(), "a head that is not 8-aligned");
        ring.state().head.pos.store(0, Ordering::Relaxed);
        ring.state().tail.pos.store(72, Ordering::Relaxed);
        assert!(Producer::new(ring).is_err(), "more published than the ring holds");
    }

    /// A producer that died after stamping records and before moving
    /// `tail`: the next one starts after them, and moves `tail` there.
    #[test]
    fn a_new_producer_starts_after_records_stamped_past_the_tail() {
        let heap = HeapRing::new(256);
        let ring = heap.ring();
        let mut p = Producer::new(ring).unwrap();
        for len in [8, 20] {
            let r = p.try_reserve(len).unwrap().unwrap();
            p.fill(r, &vec![7; len]);
        }
        // Stamped, as publish does, but `tail` left at 0: the producer died.
        let mut pos = 0;
        for len in [8, 20] {
            stamped(&ring, pos, len, 0);
            pos += record_len(u64::from(len));
        }
        // The consumer reads one of them meanwhile.
        let mut c = Consumer::new(ring).unwrap();
        let r = c.peek().unwrap().unwrap();
        c.consume(r);
        c.release();
        assert_eq!(ring.used(), 0, "head past tail is nothing published");
        let p = Producer::new(ring).unwrap();
        assert_eq!((p.tail, p.write), (pos, pos));
        assert_eq!(ring.state().tail.pos.load(Ordering::Relaxed), pos);
        assert_eq!(ring.used(), pos - 16);
        let r = c.peek().unwrap().unwrap();
        // SAFETY: r is the record peek just returned.
        assert_eq!(unsafe { c.payload(r) }, &[7; 20][..]);
    }

    /// A message longer than `ALIGN_FROM` has its payload on a cache line
    /// wherever the producer stands, across the end of the ring; shorter
    /// ones, and one too long to align, are placed as before; a producer
    /// that waits on `fits` makes progress; everything arrives whole and in
    /// order.
    #[test]
    fn long_payloads_start_on_a_line() {
        const CAP: u64 = 8192;
        let heap = HeapRing::new(CAP);
        let ring = heap.ring();
        let (mut p, mut c) = (Producer::new(ring).unwrap(), Consumer::new(ring).unwrap());
        let too_long = max_message(CAP) as usize - 8;
        let lens = [8, 1500, 24, 1025, ALIGN_FROM, 3000, 16, 2000, too_long, 136, 4000, 40, ALIGN_FROM + 8];
        let mut sent = std::collections::VecDeque::<Vec<u8>>::new();
        for (i, &len) in lens.iter().cycle().take(300).enumerate() {
            let msg: Vec<u8> = (0..len).map(|j| (i * 7 + j / 3) as u8).collect();
            let (r, from) = loop {
                let from = p.write & (CAP - 1);
                if p.fits(len).unwrap()
                    && let Some(r) = p.try_reserve(len).unwrap()
                {
                    break (r, from);
                }
                // Full: the consumer reads what is published. Skipping a
                // padding record published alone may be all it finds; then
                // the producer has room.
                let Some(rec) = c.peek().unwrap() else {
                    assert!(p.fits(len).unwrap(), "message {i}: neither room nor data");
                    continue;
                };
                // SAFETY: rec is the record peek just returned.
                assert_eq!(unsafe { c.payload(rec) }, &sent.pop_front().unwrap()[..]);
                c.consume(rec);
                c.release();
            };
            let at = ring.at(r.off) as usize;
            if len > ALIGN_FROM && len != too_long {
                assert_eq!(at % 64, 0, "message {i} of {len} bytes at offset {}", r.off);
            } else {
                // Where the producer stood, or at 0 after padding to the end.
                assert!(
                    [from, 0].contains(&(r.off - HEADER)),
                    "message {i} of {len} bytes moved from {from} to {}",
                    r.off
                );
            }
            p.fill(r, &msg);
            p.publish();
            sent.push_back(msg);
        }
        receive(&mut c, &mut sent);
        assert!(sent.is_empty(), "{} messages never arrived", sent.len());
    }

    /// `send_now` sends short messages placed where the producer stands,
    /// and declines (leaving the ring as it was) what takes the long way:
    /// a message to align, one that must start over at offset 0, no room
    /// by the cached head, records written and not yet published. Mixed
    /// with reservations, everything arrives whole and in order.
    #[test]
    fn sends_in_one_go_or_decline() {
        const CAP: u64 = 512;
        let heap = HeapRing::new(CAP);
        let ring = heap.ring();
        let (mut p, mut c) = (Producer::new(ring).unwrap(), Consumer::new(ring).unwrap());
        let mut sent = std::collections::VecDeque::<Vec<u8>>::new();
        let lens = [0, 1, 8, 13, 64, ALIGN_FROM, ALIGN_FROM + 1, 200, 40, 7];
        let (mut quick, mut declined) = (0, 0);
        for (i, &len) in lens.iter().cycle().take(400).enumerate() {
            let msg: Vec<u8> = (0..len).map(|j| (i * 13 + j) as u8).collect();
            let before = (p.write, p.tail);
            let off = p.write & (CAP - 1);
            let fits_here = record_len(len as u64) <= CAP - off && p.write - p.head + record_len(len as u64) <= CAP;
            // Every third message first reserves another, unpublished.
            let pending = (i % 3 == 0).then(|| p.try_reserve(8).unwrap()).flatten();
            if let Some(r) = pending {
                assert!(!p.send_now(&msg), "message {i}: sent past an unpublished record");
                p.fill(r, b"pending!");
                p.publish();
                sent.push_back(b"pending!".to_vec());
            } else if p.send_now(&msg) {
                assert!(len <= ALIGN_FROM && fits_here, "message {i} of {len} bytes at {off} sent in one go");
                assert_eq!(c.ring().header(before.0).load(Ordering::Relaxed) as u32, len as u32);
                sent.push_back(msg);
                quick += 1;
                receive(&mut c, &mut sent);
                continue;
            } else {
                assert_eq!((p.write, p.tail), before, "message {i}: declined, yet the ring moved");
                declined += 1;
            }
            let r = loop {
                if let Some(r) = p.try_reserve(len).unwrap() {
                    break r;
                }
                receive(&mut c, &mut sent);
            };
            p.fill(r, &msg);
            p.publish();
            sent.push_back(msg);
            receive(&mut c, &mut sent);
        }
        receive(&mut c, &mut sent);
        assert!(sent.is_empty(), "{} messages never arrived", sent.len());
        assert!(quick > 100 && declined > 20, "{quick} sent in one go, {declined} declined");
    }
}
