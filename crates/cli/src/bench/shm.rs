//! Shared-memory transports: the raw floors (`raw-flag`, `raw-ring`: no
//! library in the hot path, only a segment to map) and `shmkit-event`.

use std::io;
use std::os::fd::OwnedFd;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU64, Ordering};

use super::link::{Link, Patience, SLICE};
use super::transport::{Ctx, Entry, Handoff, Outcome, Transport, err, strategy};
use super::{Pattern, Session};
use shmkit::__bench::{copy, copy_out};
use shmkit::{Event, Segment, SharedMemory};

/// Bytes of ring space per direction that `raw-ring` aims for (as much as
/// the eventfd ring and shmkit-queue get).
const RING_BYTES: usize = 1 << 20;
/// Most slots of a `raw-ring` direction.
const RING_SLOTS: usize = 4096;

/// The largest power of two at most `n` (at least 1).
fn floor_pow2(n: usize) -> usize {
    if n <= 1 { 1 } else { 1 << (usize::BITS - 1 - n.leading_zeros()) }
}

/// Layout of one direction: the producer's index on one cache line, the
/// consumer's on the next, then `cap` slots of `stride` bytes.
#[derive(Debug, Clone, Copy)]
struct RingLayout {
    cap: usize,
    stride: usize,
    dir_size: usize,
}

impl RingLayout {
    fn new(size: usize, cap: usize) -> io::Result<RingLayout> {
        if !cap.is_power_of_two() || size == 0 {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "ring capacity must be a power of two"));
        }
        let stride = size.next_multiple_of(8);
        let dir_size = cap
            .checked_mul(stride)
            .and_then(|b| b.checked_add(128))
            .map(|b| b.next_multiple_of(64))
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "ring too large"))?;
        Ok(RingLayout { cap, stride, dir_size })
    }

    /// Bytes of the segment: two directions.
    fn segment_size(&self) -> usize {
        2 * self.dir_size
    }
}

/// One direction's view: the two index words and the slots.
#[derive(Debug)]
struct Half {
    head: NonNull<AtomicU64>,
    tail: NonNull<AtomicU64>,
    slots: NonNull<u8>,
    mask: u64,
    stride: usize,
    /// Our own index (head for the producer, tail for the consumer).
    pos: u64,
    /// Last seen value of the other side's index.
    seen: u64,
}

impl Half {
    /// # Safety
    /// `base` must point to a live, 64-aligned direction of `lay` that
    /// outlives the `Half`.
    unsafe fn at(base: *mut u8, lay: &RingLayout) -> Half {
        // SAFETY: the caller guarantees the direction is mapped: index words
        // at 0 and 64, slots from 128, all inside `dir_size`.
        unsafe {
            Half {
                head: NonNull::new_unchecked(base.cast()),
                tail: NonNull::new_unchecked(base.add(64).cast()),
                slots: NonNull::new_unchecked(base.add(128)),
                mask: lay.cap as u64 - 1,
                stride: lay.stride,
                pos: 0,
                seen: 0,
            }
        }
    }

    fn head(&self) -> &AtomicU64 {
        // SAFETY: points into the mapping (Half::at's contract).
        unsafe { self.head.as_ref() }
    }

    fn tail(&self) -> &AtomicU64 {
        // SAFETY: as above.
        unsafe { self.tail.as_ref() }
    }

    fn slot(&self, pos: u64) -> *mut u8 {
        // SAFETY: `pos & mask` < cap, and cap slots of `stride` bytes follow
        // the index words inside the mapping.
        unsafe { self.slots.as_ptr().add((pos & self.mask) as usize * self.stride) }
    }

    /// Producer: whether a slot is free.
    #[inline]
    fn can_push(&mut self) -> bool {
        if self.pos.wrapping_sub(self.seen) <= self.mask {
            return true;
        }
        // Acquire: the consumer's reads of the slot happen before we
        // overwrite it.
        self.seen = self.tail().load(Ordering::Acquire);
        self.pos.wrapping_sub(self.seen) <= self.mask
    }

    /// Producer: copies `msg` into the next slot and publishes it. Only
    /// after `can_push` returned true.
    #[inline]
    fn push(&mut self, msg: &[u8]) {
        debug_assert!(msg.len() <= self.stride);
        // SAFETY: the slot is free (can_push: the consumer has moved past
        // it) and holds `stride >= msg.len()` bytes; only we write it now.
        unsafe { copy(msg.as_ptr(), self.slot(self.pos), msg.len()) };
        self.pos = self.pos.wrapping_add(1);
        // Release: the slot's bytes are visible before the new head.
        self.head().store(self.pos, Ordering::Release);
    }

    /// Consumer: whether a message is ready.
    #[inline]
    fn can_pop(&mut self) -> bool {
        if self.seen != self.pos {
            return true;
        }
        // Acquire: pairs with the producer's Release store of head.
        self.seen = self.head().load(Ordering::Acquire);
        self.seen != self.pos
    }

    /// Consumer: copies the next message out and frees its slot. Only
    /// after `can_pop` returned true.
    #[inline]
    fn pop(&mut self, buf: &mut [u8]) {
        debug_assert!(buf.len() <= self.stride);
        // SAFETY: the slot is published (can_pop) and holds `stride >=
        // buf.len()` bytes; the producer does not touch it until we move
        // the tail past it.
        unsafe { copy_out(self.slot(self.pos), buf.as_mut_ptr(), buf.len()) };
        self.pos = self.pos.wrapping_add(1);
        // Release: our reads of the slot happen before the producer reuses it.
        self.tail().store(self.pos, Ordering::Release);
    }
}

/// Two SPSC rings (one per direction) in one segment.
pub(crate) struct ShmRing {
    tx: Half,
    rx: Half,
    _seg: SharedMemory,
}

// SAFETY: the pointers point into the mapping owned by `_seg`, which moves
// with the ring; each Half is used by one thread at a time (&mut self).
unsafe impl Send for ShmRing {}

impl ShmRing {
    fn split(seg: SharedMemory, lay: &RingLayout, parent: bool) -> ShmRing {
        let base = seg.as_ptr();
        // SAFETY: the block is 64-aligned and holds two directions of `lay`
        // (its size was checked at create/open); it lives as long as the
        // ring.
        let (p2c, c2p) = unsafe { (Half::at(base, lay), Half::at(base.add(lay.dir_size), lay)) };
        let (tx, rx) = if parent { (p2c, c2p) } else { (c2p, p2c) };
        ShmRing { tx, rx, _seg: seg }
    }

    /// Parent side: creates the segment `name` for messages of `size`
    /// bytes, `cap` (a power of two) per direction.
    pub(crate) fn create(name: &str, size: usize, cap: usize) -> io::Result<ShmRing> {
        let lay = RingLayout::new(size, cap)?;
        let seg = SharedMemory::create(name, lay.segment_size()).map_err(err)?;
        Ok(ShmRing::split(seg, &lay, true))
    }

    /// Peer side.
    pub(crate) fn open(name: &str, size: usize, cap: usize) -> io::Result<ShmRing> {
        let lay = RingLayout::new(size, cap)?;
        let seg = SharedMemory::open(name).map_err(err)?;
        if seg.len() != lay.segment_size() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{name} holds {} bytes, not a ring of {} bytes", seg.len(), lay.segment_size()),
            ));
        }
        Ok(ShmRing::split(seg, &lay, false))
    }

    /// Sends, busy-waiting while the ring is full.
    #[inline]
    fn send_spin(&mut self, msg: &[u8]) -> io::Result<()> {
        if !self.tx.can_push() {
            let mut p = Patience::new();
            while !self.tx.can_push() {
                p.spin()?;
            }
        }
        self.tx.push(msg);
        Ok(())
    }

    /// Receives, busy-waiting while the ring is empty.
    #[inline]
    fn recv_spin(&mut self, buf: &mut [u8]) -> io::Result<()> {
        if !self.rx.can_pop() {
            let mut p = Patience::new();
            while !self.rx.can_pop() {
                p.spin()?;
            }
        }
        self.rx.pop(buf);
        Ok(())
    }

    /// Pushes without waiting; the caller knows a slot is free.
    pub(crate) fn push_free(&mut self, msg: &[u8]) -> io::Result<()> {
        if !self.tx.can_push() {
            return Err(io::Error::new(io::ErrorKind::InvalidData, "ring full although counted free"));
        }
        self.tx.push(msg);
        Ok(())
    }

    /// Pops without waiting; the caller knows a message is there.
    pub(crate) fn pop_ready(&mut self, buf: &mut [u8]) -> io::Result<()> {
        if !self.rx.can_pop() {
            return Err(io::Error::new(io::ErrorKind::InvalidData, "ring empty although counted ready"));
        }
        self.rx.pop(buf);
        Ok(())
    }
}

fn arg(args: &[String], i: usize) -> io::Result<&str> {
    args.get(i).map(String::as_str).ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "missing peer argument"))
}

fn num(args: &[String], i: usize) -> io::Result<usize> {
    arg(args, i)?.parse().map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "bad number in peer arguments"))
}

/// A busy-waiting link over a [`ShmRing`].
pub struct SpinRing(ShmRing);

impl Link for SpinRing {
    #[inline]
    fn send(&mut self, msg: &[u8]) -> io::Result<()> {
        self.0.send_spin(msg)
    }

    #[inline]
    fn recv(&mut self, buf: &mut [u8]) -> io::Result<()> {
        self.0.recv_spin(buf)
    }
}

fn ring_create(ctx: &Ctx, cap: usize) -> io::Result<(SpinRing, Handoff)> {
    let name = format!("{}.ring", ctx.prefix);
    let ring = ShmRing::create(&name, ctx.size, cap)?;
    Ok((SpinRing(ring), Handoff { args: vec![name, cap.to_string()], fds: Vec::new() }))
}

fn ring_open(ctx: &Ctx, args: &[String]) -> io::Result<SpinRing> {
    Ok(SpinRing(ShmRing::open(arg(args, 0)?, ctx.size, num(args, 1)?)?))
}

/// The latency floor: a one-slot ring, i.e. a two-flag handoff (the
/// producer's and the consumer's counters on their own cache lines) with the
/// message copied through a shared buffer.
pub struct RawFlag;

impl Transport for RawFlag {
    type Link = SpinRing;
    fn create(ctx: &Ctx) -> io::Result<(SpinRing, Handoff)> {
        ring_create(ctx, 1)
    }
    fn open(ctx: &Ctx, args: &[String], _fds: Vec<OwnedFd>) -> io::Result<SpinRing> {
        ring_open(ctx, args)
    }
}

/// The streaming floor: a bare SPSC ring, copy in and out.
pub struct RawRing;

/// Slots per direction of a ring for `size`-byte messages.
pub(crate) fn ring_slots(size: usize, bytes: usize, most: usize) -> usize {
    floor_pow2(bytes / size.next_multiple_of(8)).clamp(2, most)
}

impl Transport for RawRing {
    type Link = SpinRing;
    fn create(ctx: &Ctx) -> io::Result<(SpinRing, Handoff)> {
        ring_create(ctx, ring_slots(ctx.size, RING_BYTES, RING_SLOTS))
    }
    fn open(ctx: &Ctx, args: &[String], _fds: Vec<OwnedFd>) -> io::Result<SpinRing> {
        ring_open(ctx, args)
    }
}

/// Bytes of each buffer of the `raw-memcpy` row: four times a queue
/// direction, as in the single-core memcpy figure of BASELINES.md (2–32
/// MiB).
const COPY_SPAN: usize = 4 << 20;

/// The `raw-memcpy` row: one core copying messages between two buffers, the
/// bandwidth large-message streaming is compared with. It runs in this
/// process, with no peer.
pub fn memcpy_entry() -> Entry {
    Entry::new("raw-memcpy", "-", measure_copy, serve_nothing)
        .patterns(&[Pattern::Stream])
        .describe("one core copying each message between two 4 MiB buffers, no peer: the copy bandwidth")
}

fn measure_copy(s: &mut Session, _entry: &Entry, ctx: &Ctx) -> io::Result<Outcome> {
    let plan = s.plan(Pattern::Stream, ctx.size);
    super::link::copy_stream(ctx.size, COPY_SPAN, &plan).map(Outcome::Stream)
}

fn serve_nothing(_ctx: &Ctx, _args: &[String], _fds: Vec<OwnedFd>) -> io::Result<()> {
    Err(io::Error::new(io::ErrorKind::Unsupported, "the raw-memcpy row has no peer"))
}

/// An 8-byte slot per direction signalled by a shmkit [`Event`]: the wake
/// round trip of Event.
pub struct ShmkitEvent;

/// One side of a [`ShmkitEvent`] channel.
pub struct EventLink {
    mine: Event,
    theirs: Event,
    slots: Segment<[AtomicU64; 2]>,
    out: usize,
}

impl Transport for ShmkitEvent {
    type Link = EventLink;
    fn create(ctx: &Ctx) -> io::Result<(EventLink, Handoff)> {
        let names = [format!("{}.ping", ctx.prefix), format!("{}.pong", ctx.prefix), format!("{}.slots", ctx.prefix)];
        let s = strategy(ctx.wait);
        let ping = Event::create(&names[0]).map_err(err)?;
        let pong = Event::create(&names[1]).map_err(err)?.with_wait_strategy(s);
        let slots = Segment::create(&names[2], [AtomicU64::new(0), AtomicU64::new(0)]).map_err(err)?;
        let link = EventLink { mine: pong, theirs: ping, slots, out: 0 };
        Ok((link, Handoff { args: names.to_vec(), fds: Vec::new() }))
    }

    fn open(ctx: &Ctx, args: &[String], _fds: Vec<OwnedFd>) -> io::Result<EventLink> {
        let s = strategy(ctx.wait);
        let ping = Event::open(arg(args, 0)?).map_err(err)?.with_wait_strategy(s);
        let pong = Event::open(arg(args, 1)?).map_err(err)?;
        let slots = Segment::open(arg(args, 2)?).map_err(err)?;
        Ok(EventLink { mine: ping, theirs: pong, slots, out: 1 })
    }
}

impl Link for EventLink {
    fn send(&mut self, msg: &[u8]) -> io::Result<()> {
        let word: [u8; 8] = msg.try_into().map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "8-byte only"))?;
        self.slots[self.out].store(u64::from_le_bytes(word), Ordering::Release);
        self.theirs.set();
        Ok(())
    }

    fn recv(&mut self, buf: &mut [u8]) -> io::Result<()> {
        if !self.mine.wait_timeout(SLICE) {
            let mut p = Patience::new();
            while !self.mine.wait_timeout(SLICE) {
                p.check()?;
            }
        }
        // The peer sets our event again only after our next message, so
        // clearing here loses nothing.
        self.mine.clear();
        let word = self.slots[1 - self.out].load(Ordering::Acquire);
        buf.copy_from_slice(&word.to_le_bytes());
        Ok(())
    }
}
