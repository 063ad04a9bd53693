//! Publish–subscribe: [`Broadcast<T>`] and [`ByteBroadcast`], one publisher
//! and any number of subscribers in any processes, each subscriber with a
//! cursor of its own, so that every subscriber sees every message.
//!
//! # The ring
//!
//! `capacity` slots (a power of two); the message at position `p` goes to
//! slot `p % capacity`, and the shared `tail` is the next position to
//! publish. Each slot starts with a sequence word, a seqlock per slot:
//!
//! | slot sequence | meaning                                         |
//! |---------------|-------------------------------------------------|
//! | `2p + 1`      | the publisher is writing the message of `p`     |
//! | `2p + 2`      | the slot holds the message of `p`               |
//!
//! The publisher stores `2p + 1`, a release fence, the message, `2p + 2`
//! (release), then `tail = p + 1` (release), and wakes subscribers that
//! sleep. A subscriber at cursor `c < tail` reads the sequence (acquire),
//! copies the message out, makes an acquire fence and reads the sequence
//! again: the copy is the message of `c` only if both reads gave `2c + 2`.
//! A later sequence means the publisher has lapped the subscriber: the
//! message is gone, and the subscriber is told how many it missed
//! ([`BroadcastRecvError::Lagged`]) and goes on from the oldest message
//! still in the ring. A publisher killed mid-write leaves `2p + 1` and a
//! `tail` of `p`: nobody reads that slot, so no torn message is ever seen;
//! the next publisher writes `p` again.
//!
//! # Policies
//!
//! - [`Policy::Lossy`]: the publisher never waits; slow subscribers lag.
//! - [`Policy::Lossless`]: the publisher does not overwrite a message that a
//!   live subscriber has not read: before it writes `p` it waits until every
//!   subscriber's cursor is past `p - capacity`. Subscribers publish their
//!   cursor in a table entry of their own (one cache line each), claimed
//!   with their liveness token; the publisher drops the entry of a dead
//!   subscriber (the liveness registry says so), so a killed subscriber
//!   never stalls it.
//!
//! A subscriber joins at the tail (or `k` messages before it, if they are
//! still in the ring). Subscribers hold at most
//! [`OpenOptions::registry_slots`](crate::OpenOptions::registry_slots)
//! entries at a time (256 by default).
//!
//! When the publisher is gone (dropped, or its process died) a subscriber
//! that has read everything gets [`BroadcastRecvError::Disconnected`]; a new
//! publisher may attach and go on.

use std::cell::Cell;
use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;

use super::Index;
use super::SharedHandle;
use super::byte_ends::byte_forms;
use super::endpoint::{End, PeerCheck, claim_role, release_role, role_gone, role_released};
use super::waits::{Waited, Waits, wait_for};
use crate::ShmType;
use crate::error::Error;
use crate::handle::{Handle, SegmentState, StateLayout, handle_api};
use crate::primitive::{AtomicU32, AtomicU64, Ordering, asym, fence};
use crate::segment::header::{Fingerprint, Header, ObjectKind};
use crate::segment::registry::{Liveness, Token};
use crate::segment::{RawSegment, ShmSafe};
use crate::wait::{Deadline, WaitStrategy};

/// What a publisher does when the ring is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Policy {
    /// Never wait: overwrite the oldest message. A subscriber that falls a
    /// whole ring behind is told how many messages it missed.
    #[default]
    Lossy,
    /// Wait for the slowest live subscriber: nothing is lost.
    Lossless,
}

impl Policy {
    fn to_word(self) -> u32 {
        match self {
            Policy::Lossy => 1,
            Policy::Lossless => 2,
        }
    }

    fn from_word(w: u32) -> Option<Policy> {
        match w {
            1 => Some(Policy::Lossy),
            2 => Some(Policy::Lossless),
            _ => None,
        }
    }
}

/// A publish failed; nothing was published.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum BroadcastSendError {
    /// [`Policy::Lossless`]: a live subscriber has not read the message
    /// this one would overwrite (`try_` forms).
    Full,
    /// [`Policy::Lossless`]: no room before the deadline (`_timeout` forms).
    Timeout,
    /// The message is longer than the broadcast carries.
    TooLarge {
        /// The message length.
        len: usize,
        /// The longest message this broadcast carries.
        max: usize,
    },
}

impl fmt::Display for BroadcastSendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BroadcastSendError::Full => f.write_str("publishing on a full lossless broadcast"),
            BroadcastSendError::Timeout => f.write_str("timed out publishing on a full lossless broadcast"),
            BroadcastSendError::TooLarge { len, max } => {
                write!(f, "a message of {len} bytes is longer than the broadcast carries ({max} bytes)")
            }
        }
    }
}

impl std::error::Error for BroadcastSendError {}

/// A receive on a subscriber failed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum BroadcastRecvError {
    /// Nothing new now (`try_` forms).
    Empty,
    /// Nothing new before the deadline (`_timeout` forms).
    Timeout,
    /// The publisher overwrote this many messages before this subscriber
    /// read them; the next receive gives the oldest message still there.
    Lagged(u64),
    /// Nothing new, and the publisher is gone (dropped, or its process
    /// exited or died).
    Disconnected,
    /// The buffer given to a `recv_into` form is shorter than the next
    /// message, which stays unread.
    BufferTooSmall {
        /// The length of the next message.
        len: usize,
    },
    /// A slot or index is impossible: the memory was corrupted.
    Corrupt(String),
}

impl fmt::Display for BroadcastRecvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BroadcastRecvError::Empty => f.write_str("no new message"),
            BroadcastRecvError::Timeout => f.write_str("timed out waiting for a new message"),
            BroadcastRecvError::Lagged(n) => write!(f, "lagged behind the publisher: {n} message(s) missed"),
            BroadcastRecvError::Disconnected => f.write_str("no new message and the publisher has gone"),
            BroadcastRecvError::BufferTooSmall { len } => {
                write!(f, "the next message has {len} bytes, more than the buffer holds")
            }
            BroadcastRecvError::Corrupt(why) => write!(f, "corrupted broadcast: {why}"),
        }
    }
}

impl std::error::Error for BroadcastRecvError {}

/// Largest capacity of a broadcast ring, in messages.
pub const MAX_BROADCAST_CAPACITY: u64 = 1 << 30;
/// Longest message of a [`ByteBroadcast`].
pub const MAX_BROADCAST_MESSAGE: usize = 1 << 30;

/// Bytes before a slot's message in a byte broadcast: the sequence word
/// and the length. A broadcast of one type has the sequence word only.
const SLOT_HEAD: usize = 16;

/// The control line: how each side sleeps, the publisher's role, the
/// policy. One cache line.
#[repr(C, align(64))]
struct Control {
    /// Subscribers sleep on `items_seq` (counted in `recv_sleepers`); a
    /// lossless publisher on `space_seq` (`send_sleepers`).
    waits: Waits,
    /// `HELD | token` of the publisher, 0 when there is none.
    publisher: AtomicU32,
    /// Non-zero once a publisher attached.
    ever_publisher: AtomicU32,
    /// [`Policy`] as a word (1 lossy, 2 lossless).
    policy: AtomicU32,
}

/// The state at the start of a broadcast segment; the subscriber table and
/// the slots follow it.
#[repr(C)]
struct BroadcastState {
    ctl: Control,
    tail: Index,
}

/// A subscriber's entry: who holds it, and the next position it reads.
#[repr(C, align(64))]
struct SubEntry {
    owner: AtomicU32,
    _pad: u32,
    cursor: AtomicU64,
}

fn align_up(n: usize, align: usize) -> usize {
    n.div_ceil(align) * align
}

/// Where the message starts in a slot, and the distance between slots.
fn slot_geometry<F: Form>(msg_size: usize, msg_align: usize) -> (usize, usize) {
    let data = align_up(F::HEAD, msg_align);
    (data, align_up(data + msg_size, msg_align.max(8)))
}

/// Where the slots start, from the start of the state.
fn slots_offset(entries: u32, msg_align: usize) -> usize {
    let table = std::mem::size_of::<BroadcastState>() + entries as usize * std::mem::size_of::<SubEntry>();
    align_up(table, msg_align.max(64))
}

/// How a broadcast's messages look: a typed value, or bytes up to a bound.
pub(crate) trait Form: 'static {
    const KIND: ObjectKind;
    /// Whether the element type is described at run time (in the
    /// parameters, which an opener must then bring).
    const DESCRIBED: bool = false;
    /// Bytes before a slot's message: the sequence word, and for messages
    /// of varying length the length.
    const HEAD: usize = 8;
    /// The alignment of a message in its slot.
    fn align(params: &Params) -> usize;
    fn fingerprint(params: &Params) -> Fingerprint;
}

/// Messages of `T`.
pub(crate) struct Typed<T>(PhantomData<fn() -> T>);

impl<T: ShmType> Form for Typed<T> {
    const KIND: ObjectKind = ObjectKind::Broadcast;
    fn align(_: &Params) -> usize {
        std::mem::align_of::<T>()
    }
    fn fingerprint(params: &Params) -> Fingerprint {
        Fingerprint::of::<T>(params.capacity)
    }
}

/// Byte messages up to a bound.
pub(crate) struct Bytes;

impl Form for Bytes {
    const KIND: ObjectKind = ObjectKind::ByteBroadcast;
    const HEAD: usize = SLOT_HEAD;
    fn align(_: &Params) -> usize {
        8
    }
    fn fingerprint(params: &Params) -> Fingerprint {
        Fingerprint::of::<u8>(params.capacity)
    }
}

/// What a broadcast is created with, and what an opener learns.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Params {
    capacity: u64,
    /// Bytes a slot holds: `size_of::<T>()`, or a byte broadcast's longest
    /// message.
    msg_size: usize,
    policy: Policy,
    /// The element type of a described broadcast (its capacity aside);
    /// `None` for the others.
    desc: Option<Fingerprint>,
}

impl Params {
    fn new(capacity: usize, msg_size: usize, policy: Policy) -> Result<Params, Error> {
        if capacity == 0 || capacity as u64 > MAX_BROADCAST_CAPACITY {
            return Err(Error::InvalidArgument(format!("broadcast capacity {capacity} is not in 1..=2^30")));
        }
        Ok(Params { capacity: (capacity as u64).next_power_of_two(), msg_size, policy, desc: None })
    }
}

/// The state of a broadcast of form `F`.
#[repr(transparent)]
pub(crate) struct Head<F> {
    st: BroadcastState,
    _form: PhantomData<fn() -> F>,
}

// SAFETY: repr(transparent) over repr(C) atomics (any bits valid, no
// pointers, no drop glue); the table and slots after it are atomics and
// plain bytes, reached only through the protocol of this module, which
// checks every index it reads from them.
unsafe impl<F: Form> ShmSafe for Head<F> {}

impl<F: Form> SegmentState for Head<F> {
    const KINDS: &'static [ObjectKind] = &[F::KIND];
    type Params = Params;
    type Init<'a> = ();

    fn fingerprint(params: &Params) -> Fingerprint {
        F::fingerprint(params)
    }

    fn layout(params: &Params, registry_slots: u32) -> Result<StateLayout, Error> {
        let (_, stride) = slot_geometry::<F>(params.msg_size, F::align(params));
        let size = usize::try_from(params.capacity)
            .ok()
            .and_then(|n| n.checked_mul(stride))
            .and_then(|n| n.checked_add(slots_offset(registry_slots, F::align(params))))
            .ok_or_else(|| {
                Error::InvalidArgument(format!("a broadcast of {} messages is too large", params.capacity))
            })?;
        Ok(StateLayout { size, align: F::align(params).max(64) })
    }

    fn init(&mut self, _tail: &mut [u8], params: &Params, _slots: u32, (): ()) {
        // Zeroed slots read as "never written" (sequence 0 < 2p + 2).
        self.st.ctl.policy.store(params.policy.to_word(), Ordering::Relaxed);
    }

    fn params_of(name: &str, header: &Header) -> Result<Params, Error> {
        let corrupt = |reason: String| Error::Corrupt { name: name.to_owned(), reason };
        let capacity = header.capacity;
        if !capacity.is_power_of_two() || capacity > MAX_BROADCAST_CAPACITY {
            return Err(corrupt(format!("broadcast capacity {capacity}")));
        }
        let msg_size = if F::KIND == ObjectKind::ByteBroadcast {
            // The slot size follows from the state's size.
            let align = F::align(&Params::default());
            let slots = header.data_size.checked_sub(slots_offset(header.registry_slots, align) as u64);
            let stride = slots.filter(|s| s % capacity == 0).map(|s| s / capacity);
            match stride {
                Some(s) if s > SLOT_HEAD as u64 && s - (SLOT_HEAD as u64) <= MAX_BROADCAST_MESSAGE as u64 => {
                    (s as usize) - SLOT_HEAD
                }
                _ => return Err(corrupt(format!("a state of {} bytes for {capacity} slots", header.data_size))),
            }
        } else {
            header.elem_size as usize
        };
        Ok(Params { capacity, msg_size, policy: Policy::Lossy, desc: None })
    }

    /// A described broadcast: the element type is the opener's (the
    /// fingerprint check compares it with the stored one next).
    fn params_for_open(name: &str, header: &Header, template: Option<&Params>) -> Result<Params, Error> {
        let mut params = Self::params_of(name, header)?;
        if F::DESCRIBED {
            let Some(desc) = template.and_then(|t| t.desc.clone()) else {
                return Err(Error::InvalidArgument(format!("opening '{name}' needs its element type described")));
            };
            params.desc = Some(desc);
        }
        Ok(params)
    }

    fn check_opened(&self, name: &str, params: &mut Params) -> Result<(), Error> {
        let word = self.st.ctl.policy.load(Ordering::Relaxed);
        params.policy = Policy::from_word(word)
            .ok_or_else(|| Error::Corrupt { name: name.to_owned(), reason: format!("broadcast policy {word}") })?;
        Ok(())
    }

    fn check_existing(name: &str, header: &Header, asked: &Params, found: &Params) -> Result<(), Error> {
        header.expect(name, F::KIND, &F::fingerprint(asked))?;
        if asked.policy != found.policy || asked.msg_size != found.msg_size {
            return Err(Error::InvalidArgument(format!(
                "broadcast '{name}' exists as {:?} with messages of up to {} bytes, not {:?} with {}",
                found.policy, found.msg_size, asked.policy, asked.msg_size
            )));
        }
        Ok(())
    }
}

/// The process-local view of a broadcast that its handle, publisher and
/// subscribers share.
struct Shared<F: Form> {
    handle: Handle<Head<F>>,
    capacity: u64,
    msg_size: usize,
    data_off: usize,
    stride: usize,
    entries: usize,
    slots_off: usize,
}

impl<F: Form> AsRef<RawSegment> for Shared<F> {
    fn as_ref(&self) -> &RawSegment {
        self.handle.segment()
    }
}

impl<F: Form> Shared<F> {
    fn new(handle: Handle<Head<F>>) -> Shared<F> {
        let p = handle.params();
        let (data_off, stride) = slot_geometry::<F>(p.msg_size, F::align(p));
        let entries = handle.segment().header().registry_slots as usize;
        Shared {
            capacity: p.capacity,
            msg_size: p.msg_size,
            data_off,
            stride,
            entries,
            slots_off: slots_offset(entries as u32, F::align(p)),
            handle,
        }
    }

    #[inline]
    fn st(&self) -> &BroadcastState {
        &self.handle.state().st
    }

    #[inline]
    fn seg(&self) -> &RawSegment {
        self.handle.segment()
    }

    fn policy(&self) -> Policy {
        self.handle.params().policy
    }

    fn entry(&self, i: usize) -> &SubEntry {
        debug_assert!(i < self.entries);
        // SAFETY: the layout puts `entries` SubEntry after the state, each
        // 64-byte aligned (the state is 128 bytes at a 64-aligned start),
        // inside the mapping; they are atomics (any bits valid).
        unsafe { &*self.handle.data_ptr().add(std::mem::size_of::<BroadcastState>()).cast::<SubEntry>().add(i) }
    }

    /// The sequence word of the slot of position `p`, and where its length
    /// and message are.
    #[inline]
    fn slot(&self, p: u64) -> (&AtomicU64, *mut u8) {
        let i = (p & (self.capacity - 1)) as usize;
        // SAFETY: `i < capacity`; the layout has `capacity` slots of
        // `stride` bytes at `slots_off`, 8-aligned (stride and offset are
        // multiples of 8), inside the mapping. The slot starts with its
        // sequence word.
        unsafe {
            let base = self.handle.data_ptr().add(self.slots_off + i * self.stride);
            (&*base.cast::<AtomicU64>(), base)
        }
    }

    /// The slot's stored length, read within the seqlock: a byte
    /// broadcast's is in the slot head; every message of a typed one is
    /// `msg_size` long.
    #[inline]
    fn stored_len(&self, base: *mut u8) -> u32 {
        if F::HEAD != SLOT_HEAD {
            return self.msg_size as u32;
        }
        // SAFETY: the slot head has the length at offset 8, 4-aligned.
        unsafe { base.add(8).cast::<AtomicU32>().as_ref().map_or(0, |a| a.load(Ordering::Relaxed)) }
    }

    #[inline]
    fn data(&self, base: *mut u8) -> *mut u8 {
        // SAFETY: the message area lies within the slot.
        unsafe { base.add(self.data_off) }
    }

    /// Whether the publisher is gone; with `thorough`, a dead holder counts
    /// as gone (a syscall).
    fn publisher_gone(&self, thorough: bool) -> bool {
        let c = &self.st().ctl;
        if thorough {
            role_gone(&c.publisher, &c.ever_publisher, self.seg())
        } else {
            role_released(&c.publisher, &c.ever_publisher)
        }
    }

    /// Subscribers attached now (live or not yet found dead).
    fn subscriber_count(&self) -> usize {
        (0..self.entries).filter(|&i| self.entry(i).owner.load(Ordering::Relaxed) != 0).count()
    }
}

/// The publishing end: one at a time per broadcast.
struct Pub<F: Form> {
    shared: Arc<Shared<F>>,
    /// The next position to publish.
    next: u64,
    /// Lossless: every live subscriber's cursor was at least this when last
    /// looked at.
    floor: u64,
    strategy: WaitStrategy,
    /// How often a failing `try_` publish checks subscribers' liveness.
    reap: PeerCheck,
    /// The policy is lossless: the publisher waits for room.
    lossless: bool,
}

impl<F: Form> Pub<F> {
    fn attach(shared: Arc<Shared<F>>, strategy: WaitStrategy) -> Result<Self, Error> {
        asym::register();
        let c = &shared.st().ctl;
        claim_role(&c.publisher, &c.ever_publisher, shared.seg().token(), shared.seg())
            .map_err(|()| Error::Busy { name: shared.seg().name().to_owned(), end: "publisher" })?;
        let tail = shared.st().tail.pos.load(Ordering::Acquire);
        // Messages a publisher killed before it moved the tail completed
        // are whole, and subscribers that look at the slots' sequences may
        // have read them: go on after them (at most a ring's worth).
        let mut next = tail;
        while next - tail < shared.capacity && shared.slot(next).0.load(Ordering::Acquire) == 2 * next + 2 {
            next += 1;
        }
        if next != tail {
            shared.st().tail.pos.store(next, Ordering::Release);
        }
        let lossless = shared.policy() == Policy::Lossless;
        Ok(Pub { shared, next, floor: 0, strategy, reap: PeerCheck::default(), lossless })
    }

    /// Lossless: the least cursor of the subscribers (dropping the entries
    /// of dead ones when `reap`), or `next` if there are none.
    fn min_cursor(&self, reap: bool) -> u64 {
        self.shared.min_cursor(self.next, reap)
    }

    /// Lossless: waits until the `count` positions from `next` may be
    /// written (every live subscriber is past the messages they replace).
    #[inline]
    fn make_room(&mut self, count: u64, deadline: Deadline) -> Result<(), BroadcastSendError> {
        let last = self.next + count - 1;
        if !self.lossless || last < self.floor + self.shared.capacity {
            return Ok(());
        }
        self.wait_for_room(last, count, deadline)
    }

    /// The slow path of [`Pub::make_room`]: look at the subscribers'
    /// cursors, and wait.
    #[cold]
    fn wait_for_room(&mut self, last: u64, count: u64, deadline: Deadline) -> Result<(), BroadcastSendError> {
        let sh = Arc::clone(&self.shared);
        let cap = sh.capacity;
        // A blocking publish that finds the ring nearly full waits until an
        // eighth of it is free, so that a publisher running ahead of its
        // slowest subscriber looks at the subscribers' cursors (a cache
        // miss each) once per many messages, not once per message. A poll
        // takes any room there is.
        let slack = if deadline == Deadline::Now { 0 } else { (cap / 8).min(cap - count.min(cap)) };
        let w = &sh.st().ctl.waits;
        let floor = Cell::new(self.floor);
        let this = &*self;
        let waited = wait_for(
            &w.space_seq,
            &w.send_sleepers,
            || {
                // The liveness hook: dead subscribers' entries go.
                floor.set(this.min_cursor(true));
                false
            },
            if deadline == Deadline::Now { WaitStrategy::Park } else { self.strategy },
            deadline,
            || {
                floor.set(floor.get().max(this.min_cursor(false)));
                last + slack < floor.get() + cap
            },
        );
        self.floor = floor.get();
        match waited {
            Waited::Ready => Ok(()),
            Waited::TimedOut | Waited::PeerGone if deadline == Deadline::Now => {
                // A poll does not sleep, so the liveness hook did not run:
                // look for dead subscribers once in a while.
                if self.reap.due() {
                    self.floor = self.min_cursor(true);
                    if last < self.floor + cap {
                        return Ok(());
                    }
                }
                Err(BroadcastSendError::Full)
            }
            Waited::TimedOut | Waited::PeerGone => Err(BroadcastSendError::Timeout),
        }
    }

    /// Writes the message of position `p` with `write`, which fills the
    /// slot's message area and returns the stored length.
    #[inline]
    fn write_slot(&self, p: u64, write: impl FnOnce(*mut u8) -> u32) {
        let sh = &*self.shared;
        let (seq, base) = sh.slot(p);
        seq.store(2 * p + 1, Ordering::Relaxed);
        // Orders the odd sequence before the message: a reader that sees
        // any of the new bytes then sees the odd sequence on its re-check.
        fence(Ordering::Release);
        let len = write(sh.data(base));
        if F::HEAD == SLOT_HEAD {
            // SAFETY: the length word of the slot head (see `stored_len`).
            unsafe { (*base.add(8).cast::<AtomicU32>()).store(len, Ordering::Relaxed) };
        }
        crate::failpoint::hit(crate::failpoint::BROADCAST_BEFORE_COMMIT);
        seq.store(2 * p + 2, Ordering::Release);
    }

    /// Makes the messages up to `next` visible and wakes sleeping
    /// subscribers.
    #[inline]
    fn publish(&self) {
        crate::failpoint::hit(crate::failpoint::BROADCAST_BEFORE_TAIL);
        let st = self.shared.st();
        st.tail.pos.store(self.next, Ordering::Release);
        asym::hot();
        st.ctl.waits.wake_sleepers(End::Receiver, true);
    }

    /// Publishes `n` messages, the `i`th written by `write(i, dst)`, in
    /// runs of at most a ring each made visible together (one tail store,
    /// one wake-up): how many were published, all unless a lossless wait
    /// ran out of time. `Err` only if none was.
    fn batch_until(
        &mut self,
        n: usize,
        deadline: Deadline,
        write: impl Fn(usize, *mut u8) -> u32,
    ) -> Result<usize, BroadcastSendError> {
        let cap = self.shared.capacity as usize;
        let mut done = 0;
        while done < n {
            let chunk = (n - done).min(cap);
            if let Err(e) = self.make_room(chunk as u64, deadline) {
                return if done > 0 { Ok(done) } else { Err(e) };
            }
            for i in done..done + chunk {
                self.write_slot(self.next, |dst| write(i, dst));
                self.next += 1;
            }
            self.publish();
            done += chunk;
        }
        Ok(done)
    }

    #[inline]
    fn send_with(
        &mut self,
        len: usize,
        deadline: Deadline,
        write: impl FnOnce(*mut u8) -> u32,
    ) -> Result<(), BroadcastSendError> {
        if len > self.shared.msg_size {
            return Err(BroadcastSendError::TooLarge { len, max: self.shared.msg_size });
        }
        self.make_room(1, deadline)?;
        self.write_slot(self.next, write);
        self.next += 1;
        self.publish();
        Ok(())
    }
}

impl<F: Form> Drop for Pub<F> {
    fn drop(&mut self) {
        let sh = &*self.shared;
        release_role(&sh.st().ctl.publisher, sh.seg().token());
        sh.st().ctl.waits.notify(End::Receiver, true);
    }
}

/// A subscribing end.
struct Sub<F: Form> {
    shared: Arc<Shared<F>>,
    /// The next position to read.
    cursor: u64,
    /// This subscriber's entry in the table.
    entry: usize,
    token: Token,
    strategy: WaitStrategy,
    peer: PeerCheck,
    /// Lossless: from this position on the publisher cannot overwrite a
    /// message before this subscriber's cursor passes it, so it may be read
    /// in place (`u64::MAX`: never; see `attach`).
    in_place_from: u64,
    /// The policy is lossless: a moved cursor may free a waiting publisher.
    lossless: bool,
}

/// What one look at the cursor's slot found. The message itself goes
/// where the reader puts it: a value wrapped in an enum here (or in an
/// `Option`) would sit at byte offset 1 for a `[u8; N]`, and moving it out
/// costs a failed store-to-load forward per message.
enum Look {
    Got,
    Empty,
    Lagged(u64),
}

impl<F: Form> Sub<F> {
    /// Joins at `tail - back` (clamped to what the ring holds).
    fn attach(shared: Arc<Shared<F>>, back: u64, strategy: WaitStrategy) -> Result<Self, Error> {
        asym::register();
        let me = shared.seg().token();
        let tail = shared.st().tail.pos.load(Ordering::Acquire);
        let cursor = tail - back.min(shared.capacity).min(tail);
        let dummy = AtomicU32::new(0);
        // A free entry first; then one whose holder died (a liveness check,
        // a syscall, per held entry).
        for reclaim in [false, true] {
            for i in 0..shared.entries {
                let e = shared.entry(i);
                if (e.owner.load(Ordering::Relaxed) != 0) != reclaim
                    || claim_role(&e.owner, &dummy, me, shared.seg()).is_err()
                {
                    continue;
                }
                // Held, with a cursor at or before what we read: a lossless
                // publisher that looks now waits for it. Then the cursor
                // moves to the tail as it is now: the publisher's last look
                // came before it, so it may overwrite only messages before
                // that tail (the `back` ones we asked for may be lost as we
                // join, which is then reported as lagged, never read torn).
                e.cursor.store(cursor, Ordering::SeqCst);
                // Pairs with the publisher's hot barrier after each tail
                // store: either its next look at the table sees us, or we
                // see its tail (so its floor is at most our tail).
                let paired = asym::cold();
                let tail = shared.st().tail.pos.load(Ordering::SeqCst);
                let cursor = tail - back.min(shared.capacity).min(tail);
                e.cursor.store(cursor, Ordering::Release);
                // From `tail` on, a lossless publisher waits for us: its
                // floor is at most `tail` (it saw our entry, or we saw its
                // tail), so it writes `tail + capacity` only once our cursor
                // is past `tail`. Not so for the `back` messages before it,
                // nor if the barrier could not pair with the publisher's.
                let lossless = shared.policy() == Policy::Lossless;
                let in_place_from = if lossless && paired { tail } else { u64::MAX };
                let peer = PeerCheck::default();
                return Ok(Sub { shared, cursor, entry: i, token: me, strategy, peer, in_place_from, lossless });
            }
        }
        Err(Error::RegistryFull { name: shared.seg().name().to_owned(), slots: shared.entries as u32 })
    }

    /// One look at the slot of the cursor: the message read by `read`
    /// (given the message area and the stored length; `Err` to leave it
    /// unread; a read the sequence check then rejects is read again),
    /// nothing new, or how many messages were lost.
    #[inline]
    fn look(
        &mut self,
        read: &mut impl FnMut(*const u8, u32) -> Result<(), BroadcastRecvError>,
    ) -> Result<Look, BroadcastRecvError> {
        loop {
            match self.read_here(read) {
                Ok(got) => return got.map(|()| Look::Got),
                Err(seq) => match self.look_further(self.cursor, seq)? {
                    Some(look) => return Ok(look),
                    None => continue,
                },
            }
        }
    }

    /// Reads the message at the cursor with `read` if its slot holds it,
    /// moving the cursor past it unless `read` failed; `Err` with the
    /// sequence found if the slot holds something else, or a copy the
    /// publisher tore (lapping the subscriber). Only message `c` leaves its
    /// slot's sequence at `2c + 2`, and the publisher completes a slot
    /// before it moves the tail: a message found there needs no look at
    /// the tail's line, whether this subscriber keeps up or runs behind.
    #[inline(always)]
    fn read_here(
        &mut self,
        read: &mut impl FnMut(*const u8, u32) -> Result<(), BroadcastRecvError>,
    ) -> Result<Result<(), BroadcastRecvError>, u64> {
        let c = self.cursor;
        let sh = &*self.shared;
        let (seq, base) = sh.slot(c);
        let s1 = seq.load(Ordering::Acquire);
        if s1 != 2 * c + 2 {
            return Err(s1);
        }
        let got = read(sh.data(base), sh.stored_len(base));
        fence(Ordering::Acquire);
        let s2 = seq.load(Ordering::Relaxed);
        if s2 != s1 {
            return Err(s2);
        }
        if got.is_ok() {
            self.advance(c + 1);
        }
        Ok(got)
    }

    /// The cursor's slot holds sequence `s1`, not message `c`'s: nothing
    /// new, a lag, or a corrupted ring, as the tail says (`None`: the
    /// message landed meanwhile, look again).
    #[cold]
    fn look_further(&mut self, c: u64, s1: u64) -> Result<Option<Look>, BroadcastRecvError> {
        let sh = &*self.shared;
        let tail = sh.st().tail.pos.load(Ordering::Acquire);
        if s1 > 2 * c + 2 && c < tail {
            // Lapped: the message is gone. (A later message than `c` in
            // its slot with the tail at or before `c` is corruption, said
            // below.)
            let oldest = tail.saturating_sub(sh.capacity);
            return Ok(Some(Look::Lagged(self.skip_to(oldest.max(c + 1)))));
        }
        if c >= tail {
            // A cursor moved by the slots' sequences may be ahead of a
            // tail the publisher has not stored yet, by a batch at most.
            if c - tail > sh.capacity {
                return Err(BroadcastRecvError::Corrupt(format!("tail {tail} behind a cursor at {c}")));
            }
            if s1 > 2 * c + 2 {
                return Err(BroadcastRecvError::Corrupt(format!(
                    "slot of message {c} holds a later one though the tail is {tail}"
                )));
            }
            return Ok(Some(Look::Empty));
        }
        if tail - c > sh.capacity {
            return Ok(Some(Look::Lagged(self.skip_to(tail - sh.capacity))));
        }
        // The tail is past `c`: the slot was completed before it moved,
        // after our first look at the sequence, or never (corruption).
        if sh.slot(c).0.load(Ordering::Acquire) != s1 {
            return Ok(None);
        }
        Err(BroadcastRecvError::Corrupt(format!("slot of message {c} not written though the tail is {tail}")))
    }

    /// Moves the cursor to `to` (past lost messages), returning how many.
    fn skip_to(&mut self, to: u64) -> u64 {
        let n = to - self.cursor;
        self.advance(to);
        n
    }

    #[inline]
    fn advance(&mut self, to: u64) {
        self.cursor = to;
        let sh = &*self.shared;
        // The entry's cursor is what a lossless publisher waits for, and
        // what a `ReadyFd` or async wait on this subscriber looks at (a
        // store to this subscriber's own line).
        sh.entry(self.entry).cursor.store(to, Ordering::Release);
        if self.lossless {
            asym::hot();
            sh.st().ctl.waits.wake_sleepers(End::Sender, false);
        }
    }

    /// Receives with `read` (given the message area and the stored length;
    /// `Err` leaves the message unread), waiting until `deadline`. A
    /// message found at the cursor is read inline, in the caller.
    #[inline(always)]
    fn recv_with(
        &mut self,
        deadline: Deadline,
        mut read: impl FnMut(*const u8, u32) -> Result<(), BroadcastRecvError>,
    ) -> Result<(), BroadcastRecvError> {
        match self.read_here(&mut read) {
            Ok(got) => got,
            Err(_) => self.recv_further(deadline, read),
        }
    }

    /// [`recv_with`](Self::recv_with) past its common case: a lag, nothing
    /// new yet (a wait), or a copy torn by a lapping publisher.
    #[inline(never)]
    fn recv_further(
        &mut self,
        deadline: Deadline,
        mut read: impl FnMut(*const u8, u32) -> Result<(), BroadcastRecvError>,
    ) -> Result<(), BroadcastRecvError> {
        loop {
            match self.look(&mut read)? {
                Look::Got => return Ok(()),
                Look::Lagged(n) => return Err(BroadcastRecvError::Lagged(n)),
                Look::Empty => {}
            }
            let sh = Arc::clone(&self.shared);
            if deadline == Deadline::Now {
                crate::failpoint::hit(crate::failpoint::BROADCAST_EMPTY_BEFORE_GONE);
                if !sh.publisher_gone(self.peer.due()) {
                    return Err(BroadcastRecvError::Empty);
                }
                // The publisher's last message may have landed after our
                // look and before it left.
                return match self.look(&mut read)? {
                    Look::Got => Ok(()),
                    Look::Lagged(n) => Err(BroadcastRecvError::Lagged(n)),
                    Look::Empty => Err(BroadcastRecvError::Disconnected),
                };
            }
            let w = &sh.st().ctl.waits;
            let c = self.cursor;
            let mut looks = 0u32;
            match wait_for(
                &w.items_seq,
                &w.recv_sleepers,
                || sh.publisher_gone(true),
                self.strategy,
                deadline,
                // The cursor's slot written (or overwritten: a lag), as
                // `look` sees it, on the line the message is on; now and
                // then the tail too (past the cursor: something to look at,
                // which a corrupted slot would otherwise hide).
                || {
                    looks = looks.wrapping_add(1);
                    sh.slot(c).0.load(Ordering::Acquire) >= 2 * c + 2
                        || (looks % 64 == 0 && sh.st().tail.pos.load(Ordering::Acquire) > c)
                },
            ) {
                Waited::Ready => {}
                Waited::TimedOut => return Err(BroadcastRecvError::Timeout),
                Waited::PeerGone => return Err(BroadcastRecvError::Disconnected),
            }
        }
    }
}

impl<F: Form> Drop for Sub<F> {
    fn drop(&mut self) {
        let sh = &*self.shared;
        release_role(&sh.entry(self.entry).owner, self.token);
        if self.lossless {
            // The publisher may have waited for us.
            sh.st().ctl.waits.notify(End::Sender, true);
        }
    }
}

/// Copies `len` bytes out of a slot whose publisher may be overwriting it;
/// the caller keeps the copy only if the slot's sequence did not move.
///
/// # Safety
/// `src` is valid for `len` bytes of reads (a slot's message area) and
/// `dst` for `len` bytes of writes.
#[inline]
unsafe fn copy_racy(src: *const u8, dst: *mut u8, len: usize) {
    // The bytes are plain data (any bits valid) in shared memory that
    // another process may be writing; a torn copy is detected by the
    // sequence check and thrown away. The copy is volatile-free by design,
    // as crossbeam's and the Linux kernel's seqlock readers are: the result
    // is only used after the check.
    // SAFETY: as the caller promises.
    unsafe { crate::copy::copy(src, dst, len) };
}

macro_rules! common_handle_methods {
    () => {
        /// Messages the ring holds (a power of two).
        pub fn capacity(&self) -> usize {
            self.0.shared.capacity as usize
        }

        /// What the publisher does when the ring is full.
        pub fn policy(&self) -> Policy {
            self.0.shared.policy()
        }

        /// Messages published so far (over the broadcast's life).
        pub fn published(&self) -> u64 {
            self.0.shared.st().tail.pos.load(Ordering::Acquire)
        }

        /// Subscribers attached now (one that died counts until a lossless
        /// publisher or a new subscriber finds it dead).
        pub fn subscriber_count(&self) -> usize {
            self.0.shared.subscriber_count()
        }

        /// Most subscribers at a time (the segment's registry slots).
        pub fn max_subscribers(&self) -> usize {
            self.0.shared.entries
        }
    };
}

// ----------------------------------------------------------------- typed

/// A publish–subscribe channel of `T` shared by name: one publisher, any
/// number of subscribers in any processes, each with a cursor of its own,
/// so that each sees every message.
///
/// The [`Policy`] chosen at create says what a full ring does: a lossy
/// publisher never waits and overwrites the oldest message (a subscriber a
/// whole ring behind gets [`BroadcastRecvError::Lagged`] with the count it
/// missed, then goes on from the oldest message left); a lossless one waits
/// for the slowest *live* subscriber (one that died is dropped, so it never
/// stalls the publisher). Each slot is a seqlock: a reader never keeps a
/// torn message, even from a publisher killed mid-write. When the publisher
/// is gone, a subscriber that has read everything gets
/// [`BroadcastRecvError::Disconnected`]; a new publisher may take over. The
/// slot layout and protocol are in `docs/FORMAT.md` (§5.10).
///
/// ```no_run
/// use shmkit::{Broadcast, Policy};
///
/// let prices = Broadcast::<[f64; 2]>::create("prices", 1024, Policy::Lossy)?;
/// let mut publisher = prices.publisher()?;
/// let mut sub = Broadcast::<[f64; 2]>::open("prices")?.subscribe()?;
/// publisher.send([101.5, 101.75])?;
/// assert_eq!(sub.recv()?, [101.5, 101.75]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Broadcast<T: ShmType>(SharedHandle<Shared<Typed<T>>>);

impl<T: ShmType> Broadcast<T> {
    fn from_handle(handle: Handle<Head<Typed<T>>>) -> Self {
        Broadcast(SharedHandle::new(Shared::new(handle)))
    }

    /// Takes the publishing end.
    ///
    /// # Errors
    /// [`Error::Busy`] while a live publisher holds it.
    pub fn publisher(&self) -> Result<Publisher<T>, Error> {
        Ok(Publisher { inner: Pub::attach(Arc::clone(&self.0.shared), self.0.strategy)?, _t: PhantomData })
    }

    /// A new subscriber, which receives the messages published from now on.
    ///
    /// # Errors
    /// [`Error::RegistryFull`] when every subscriber entry is held.
    pub fn subscribe(&self) -> Result<Subscriber<T>, Error> {
        self.subscribe_from_last(0)
    }

    /// A new subscriber that first receives the last `k` messages, as far as
    /// the ring still holds them (a late joiner catching up).
    ///
    /// # Errors
    /// As [`Broadcast::subscribe`].
    pub fn subscribe_from_last(&self, k: usize) -> Result<Subscriber<T>, Error> {
        let inner = Sub::attach(Arc::clone(&self.0.shared), k as u64, self.0.strategy)?;
        Ok(Subscriber { inner, _t: PhantomData })
    }

    common_handle_methods!();
}

handle_api! {
    impl[T: ShmType] Broadcast<T>, "broadcast", " with a ring of `capacity` messages (rounded up to a power of two) and the publisher's `policy` when it is full";
    wrap(Self::from_handle);
    create(capacity: usize, policy: Policy) => (Params::new(capacity, std::mem::size_of::<T>(), policy)?, ());
    waits;
}

impl<T: ShmType> fmt::Debug for Broadcast<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Broadcast")
            .field("name", &self.name())
            .field("capacity", &self.capacity())
            .field("policy", &self.policy())
            .finish()
    }
}

/// The publishing end of a [`Broadcast`]; one at a time.
pub struct Publisher<T: ShmType> {
    inner: Pub<Typed<T>>,
    _t: PhantomData<fn(T)>,
}

impl<T: ShmType> Publisher<T> {
    byte_forms! { &mut self, "[`BroadcastSendError::Full`] (lossless only)", "[`BroadcastSendError::Timeout`] (lossless only)";
        /// Publishes `value` to every subscriber. A lossy broadcast never
        /// waits; a lossless one waits while a live subscriber has not read
        /// the message this one replaces.
        ///
        /// # Errors
        /// None for a lossy broadcast.
        send / try_send / send_timeout / send_deadline (value: T) -> Result<(), BroadcastSendError>
            = |d| self.inner.send_with(std::mem::size_of::<T>(), d, |dst| {
                // SAFETY: the slot's message area holds a T, aligned for it.
                unsafe { std::ptr::write(dst.cast::<T>(), value) };
                std::mem::size_of::<T>() as u32
            });

        /// Publishes `values` in order, making them visible together (one
        /// wake-up): returns how many were published, all of them unless a
        /// lossless wait ran out of time.
        ///
        /// # Errors
        /// When not even the first could be published.
        send_batch / try_send_batch / send_batch_timeout / send_batch_deadline (values: &[T]) -> Result<usize, BroadcastSendError>
            = |d| self.send_batch_until(values, d);
    }

    fn send_batch_until(&mut self, values: &[T], deadline: Deadline) -> Result<usize, BroadcastSendError> {
        self.inner.batch_until(values.len(), deadline, |i, dst| {
            // SAFETY: as in `send`.
            unsafe { std::ptr::write(dst.cast::<T>(), values[i]) };
            std::mem::size_of::<T>() as u32
        })
    }
}

impl<T: ShmType> fmt::Debug for Publisher<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Publisher")
            .field("name", &self.inner.shared.seg().name())
            .field("next", &self.inner.next)
            .finish()
    }
}

/// A subscriber of a [`Broadcast`]: its own cursor over the messages.
pub struct Subscriber<T: ShmType> {
    inner: Sub<Typed<T>>,
    _t: PhantomData<fn() -> T>,
}

impl<T: ShmType> Subscriber<T> {
    byte_forms! { &mut self, "[`BroadcastRecvError::Empty`]", "[`BroadcastRecvError::Timeout`]";
        /// Receives the next message, waiting for one.
        ///
        /// # Errors
        /// [`BroadcastRecvError::Lagged`] when messages were overwritten
        /// before this subscriber read them (the next call gives the oldest
        /// one left), [`BroadcastRecvError::Disconnected`] when nothing is
        /// new and the publisher is gone.
        recv / try_recv / recv_timeout / recv_deadline () -> Result<T, BroadcastRecvError>
            = |d| self.recv_until_copy(d);
    }

    /// Calls `f` with the next message and returns what it returns: in
    /// place in a lossless broadcast (no copy of a `T`; see
    /// [`ByteSubscriber::recv_with`] for when), a checked copy otherwise.
    ///
    /// # Errors
    /// As [`Subscriber::recv`]; `f` is not called then.
    pub fn recv_with<R, F: FnOnce(&T) -> R>(&mut self, f: F) -> Result<R, BroadcastRecvError> {
        self.recv_with_until(Deadline::Never, f)
    }

    /// [`recv_with`](Self::recv_with) if a message is there now.
    ///
    /// # Errors
    /// [`BroadcastRecvError::Empty`], and those of `recv_with`.
    pub fn try_recv_with<R, F: FnOnce(&T) -> R>(&mut self, f: F) -> Result<R, BroadcastRecvError> {
        self.recv_with_until(Deadline::Now, f)
    }

    /// [`recv_with`](Self::recv_with), waiting at most `timeout`.
    ///
    /// # Errors
    /// [`BroadcastRecvError::Timeout`], and those of `recv_with`.
    pub fn recv_with_timeout<R, F: FnOnce(&T) -> R>(
        &mut self,
        timeout: std::time::Duration,
        f: F,
    ) -> Result<R, BroadcastRecvError> {
        self.recv_with_until(Deadline::after(timeout), f)
    }

    /// [`recv_with`](Self::recv_with), waiting until `deadline` at most.
    ///
    /// # Errors
    /// [`BroadcastRecvError::Timeout`], and those of `recv_with`.
    pub fn recv_with_deadline<R, F: FnOnce(&T) -> R>(
        &mut self,
        deadline: std::time::Instant,
        f: F,
    ) -> Result<R, BroadcastRecvError> {
        self.recv_with_until(Deadline::At(deadline), f)
    }

    fn recv_with_until<R, F: FnOnce(&T) -> R>(&mut self, d: Deadline, f: F) -> Result<R, BroadcastRecvError> {
        if self.inner.cursor >= self.inner.in_place_from {
            let (mut f, mut out) = (Some(f), None);
            self.inner.recv_with(d, |src, _| {
                // SAFETY: the slot holds a T, aligned, which the publisher
                // does not write until our cursor passes it (lossless).
                let v = unsafe { &*src.cast::<T>() };
                let f = f.take().ok_or_else(|| BroadcastRecvError::Corrupt("a message read twice".into()))?;
                out = Some(f(v));
                Ok(())
            })?;
            return out.ok_or_else(|| BroadcastRecvError::Corrupt("a message not read".into()));
        }
        let v = self.recv_until_copy(d)?;
        Ok(f(&v))
    }

    /// Receives a copy of the next message.
    #[inline]
    fn recv_until_copy(&mut self, d: Deadline) -> Result<T, BroadcastRecvError> {
        let mut v = T::zeroed();
        self.inner.recv_with(d, |src, _| {
            // SAFETY: the slot's message area holds size_of::<T>() bytes;
            // `v` is a T (any bits valid: Pod). A torn copy is overwritten
            // by the next look, and `v` only returned after a clean one.
            unsafe { copy_racy(src, (&raw mut v).cast::<u8>(), std::mem::size_of::<T>()) };
            Ok(())
        })?;
        Ok(v)
    }

    /// Messages published and not yet received by this subscriber (more
    /// than the capacity means it lags).
    pub fn pending(&self) -> u64 {
        self.inner.shared.st().tail.pos.load(Ordering::Acquire).saturating_sub(self.inner.cursor)
    }
}

impl<T: ShmType> fmt::Debug for Subscriber<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Subscriber")
            .field("name", &self.inner.shared.seg().name())
            .field("cursor", &self.inner.cursor)
            .finish()
    }
}

// ----------------------------------------------------------------- bytes

/// A publish–subscribe channel of byte messages of up to a bound, shared
/// by name: as [`Broadcast`], with messages of any length up to
/// [`ByteBroadcast::max_message_len`].
pub struct ByteBroadcast(SharedHandle<Shared<Bytes>>);

fn byte_params(capacity: usize, max_message_len: usize, policy: Policy) -> Result<Params, Error> {
    if max_message_len == 0 || max_message_len > MAX_BROADCAST_MESSAGE {
        return Err(Error::InvalidArgument(format!(
            "broadcast message bound {max_message_len} is not in 1..={MAX_BROADCAST_MESSAGE}"
        )));
    }
    // Rounded so that the slot size (and with it the bound) can be read
    // back from the state's size.
    Params::new(capacity, align_up(max_message_len, 8), policy)
}

handle_api! {
    impl[] ByteBroadcast, "byte broadcast", " with a ring of `capacity` messages (rounded up to a power of two) of up to `max_message_len` bytes (rounded up to a multiple of 8), and the publisher's `policy` when it is full";
    wrap(ByteBroadcast::from_handle);
    create(capacity: usize, max_message_len: usize, policy: Policy) => (byte_params(capacity, max_message_len, policy)?, ());
    waits;
}

impl ByteBroadcast {
    fn from_handle(handle: Handle<Head<Bytes>>) -> Self {
        ByteBroadcast(SharedHandle::new(Shared::new(handle)))
    }

    /// The longest message.
    pub fn max_message_len(&self) -> usize {
        self.0.shared.msg_size
    }

    /// Takes the publishing end.
    ///
    /// # Errors
    /// [`Error::Busy`] while a live publisher holds it.
    pub fn publisher(&self) -> Result<BytePublisher, Error> {
        Ok(BytePublisher { inner: Pub::attach(Arc::clone(&self.0.shared), self.0.strategy)? })
    }

    /// A new subscriber, which receives the messages published from now on.
    ///
    /// # Errors
    /// [`Error::RegistryFull`] when every subscriber entry is held.
    pub fn subscribe(&self) -> Result<ByteSubscriber, Error> {
        self.subscribe_from_last(0)
    }

    /// A new subscriber that first receives the last `k` messages still in
    /// the ring.
    ///
    /// # Errors
    /// As [`ByteBroadcast::subscribe`].
    pub fn subscribe_from_last(&self, k: usize) -> Result<ByteSubscriber, Error> {
        Ok(ByteSubscriber {
            inner: Sub::attach(Arc::clone(&self.0.shared), k as u64, self.0.strategy)?,
            scratch: Vec::new(),
        })
    }

    common_handle_methods!();
}

impl fmt::Debug for ByteBroadcast {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ByteBroadcast")
            .field("name", &self.name())
            .field("capacity", &self.capacity())
            .field("max_message_len", &self.max_message_len())
            .field("policy", &self.policy())
            .finish()
    }
}

/// The publishing end of a [`ByteBroadcast`]; one at a time.
pub struct BytePublisher {
    inner: Pub<Bytes>,
}

impl BytePublisher {
    byte_forms! { &mut self, "[`BroadcastSendError::Full`] (lossless only)", "[`BroadcastSendError::Timeout`] (lossless only)";
        /// Publishes a copy of `msg` to every subscriber (see
        /// [`Publisher::send`]).
        ///
        /// # Errors
        /// [`BroadcastSendError::TooLarge`] past the bound.
        send / try_send / send_timeout / send_deadline (msg: &[u8]) -> Result<(), BroadcastSendError>
            = |d| self.inner.send_with(msg.len(), d, |dst| {
                // SAFETY: the slot's message area holds `max_message_len`
                // bytes, and `msg` is no longer (checked by send_with).
                unsafe { crate::copy::copy(msg.as_ptr(), dst, msg.len()) };
                msg.len() as u32
            });
    }

    byte_forms! { &mut self, "[`BroadcastSendError::Full`] (lossless only)", "[`BroadcastSendError::Timeout`] (lossless only)";
        /// Publishes `msgs` in order, made visible together (one wake-up per
        /// run of at most a ring): how many were published, all of them
        /// unless a lossless wait ran out of time.
        ///
        /// # Errors
        /// [`BroadcastSendError::TooLarge`] if any message is (nothing is
        /// published then), or when not even the first could be published.
        send_batch / try_send_batch / send_batch_timeout / send_batch_deadline [M: AsRef<[u8]>] (msgs: &[M]) -> Result<usize, BroadcastSendError>
            = |d| {
                let max = self.inner.shared.msg_size;
                if let Some(m) = msgs.iter().find(|m| m.as_ref().len() > max) {
                    return Err(BroadcastSendError::TooLarge { len: m.as_ref().len(), max });
                }
                self.inner.batch_until(msgs.len(), d, |i, dst| {
                    let m = msgs[i].as_ref();
                    // SAFETY: the slot holds `max` bytes and `m` is no
                    // longer (checked above).
                    unsafe { crate::copy::copy(m.as_ptr(), dst, m.len()) };
                    m.len() as u32
                })
            };
    }

    /// The longest message.
    pub fn max_message_len(&self) -> usize {
        self.inner.shared.msg_size
    }
}

impl fmt::Debug for BytePublisher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BytePublisher").field("name", &self.inner.shared.seg().name()).finish()
    }
}

/// A subscriber of a [`ByteBroadcast`].
pub struct ByteSubscriber {
    inner: Sub<Bytes>,
    /// The copy of the message `recv_with` reads.
    scratch: Vec<u8>,
}

impl ByteSubscriber {
    byte_forms! { &mut self, "[`BroadcastRecvError::Empty`]", "[`BroadcastRecvError::Timeout`]";
        /// Receives a copy of the next message (see [`Subscriber::recv`]).
        ///
        /// # Errors
        /// As [`Subscriber::recv`].
        recv / try_recv / recv_timeout / recv_deadline () -> Result<Vec<u8>, BroadcastRecvError>
            = |d| {
                let max = self.inner.shared.msg_size;
                let mut out = vec![0u8; max];
                let mut n = 0;
                self.inner.recv_with(d, |src, len| {
                    n = checked_len(len, max)?;
                    // SAFETY: the slot holds `max` bytes, `n <= max`.
                    unsafe { copy_racy(src, out.as_mut_ptr(), n) };
                    Ok(())
                })?;
                out.truncate(n);
                Ok(out)
            };

        /// Receives the next message into `buf`, returning its length; a
        /// message longer than `buf` stays unread
        /// ([`BroadcastRecvError::BufferTooSmall`] says how long it is).
        ///
        /// # Errors
        /// As [`Subscriber::recv`].
        recv_into / try_recv_into / recv_into_timeout / recv_into_deadline (buf: &mut [u8]) -> Result<usize, BroadcastRecvError>
            = |d| {
                let max = self.inner.shared.msg_size;
                let mut n = 0;
                self.inner.recv_with(d, |src, len| {
                    n = checked_len(len, max)?;
                    if n > buf.len() {
                        return Err(BroadcastRecvError::BufferTooSmall { len: n });
                    }
                    // SAFETY: the slot holds `n` bytes, `buf` has room.
                    unsafe { copy_racy(src, buf.as_mut_ptr(), n) };
                    Ok(())
                })?;
                Ok(n)
            };
    }

    /// Calls `f` with the next message and returns what it returns, without
    /// allocating. In a lossless broadcast `f` reads the message in place:
    /// the publisher does not overwrite it before this subscriber moves on
    /// (except the catch-up messages of `subscribe_from_last`, which are
    /// copied). A lossy publisher may overwrite a slot while it is read, so
    /// there `f` reads a checked copy, in a buffer this subscriber reuses.
    ///
    /// # Errors
    /// As [`Subscriber::recv`]; `f` is not called then.
    pub fn recv_with<R, F: FnOnce(&[u8]) -> R>(&mut self, f: F) -> Result<R, BroadcastRecvError> {
        self.recv_with_until(Deadline::Never, f)
    }

    /// [`recv_with`](Self::recv_with) if a message is there now.
    ///
    /// # Errors
    /// [`BroadcastRecvError::Empty`], and those of `recv_with`.
    pub fn try_recv_with<R, F: FnOnce(&[u8]) -> R>(&mut self, f: F) -> Result<R, BroadcastRecvError> {
        self.recv_with_until(Deadline::Now, f)
    }

    /// [`recv_with`](Self::recv_with), waiting at most `timeout`.
    ///
    /// # Errors
    /// [`BroadcastRecvError::Timeout`], and those of `recv_with`.
    pub fn recv_with_timeout<R, F: FnOnce(&[u8]) -> R>(
        &mut self,
        timeout: std::time::Duration,
        f: F,
    ) -> Result<R, BroadcastRecvError> {
        self.recv_with_until(Deadline::after(timeout), f)
    }

    /// [`recv_with`](Self::recv_with), waiting until `deadline` at most.
    ///
    /// # Errors
    /// [`BroadcastRecvError::Timeout`], and those of `recv_with`.
    pub fn recv_with_deadline<R, F: FnOnce(&[u8]) -> R>(
        &mut self,
        deadline: std::time::Instant,
        f: F,
    ) -> Result<R, BroadcastRecvError> {
        self.recv_with_until(Deadline::At(deadline), f)
    }

    fn recv_with_until<R>(&mut self, d: Deadline, f: impl FnOnce(&[u8]) -> R) -> Result<R, BroadcastRecvError> {
        let max = self.inner.shared.msg_size;
        if self.inner.cursor >= self.inner.in_place_from {
            // Lossless, and the publisher waits for us: in place.
            let (mut f, mut out) = (Some(f), None);
            self.inner.recv_with(d, |src, len| {
                let len = checked_len(len, max)?;
                // SAFETY: the slot holds `len <= max` bytes, which the
                // publisher does not write until our cursor passes them.
                let msg = unsafe { std::slice::from_raw_parts(src, len) };
                // Read once: the slot cannot change under a lossless read,
                // so no second look comes (it would mean corruption).
                let f = f.take().ok_or_else(|| BroadcastRecvError::Corrupt("a message read twice".into()))?;
                out = Some(f(msg));
                Ok(())
            })?;
            return out.ok_or_else(|| BroadcastRecvError::Corrupt("a message not read".into()));
        }
        let scratch = &mut self.scratch;
        scratch.resize(max, 0);
        let mut n = 0;
        self.inner.recv_with(d, |src, len| {
            n = checked_len(len, max)?;
            // SAFETY: the slot holds `max` bytes, `n <= max`.
            unsafe { copy_racy(src, scratch.as_mut_ptr(), n) };
            Ok(())
        })?;
        Ok(f(&self.scratch[..n]))
    }

    /// Messages published and not yet received by this subscriber.
    pub fn pending(&self) -> u64 {
        self.inner.shared.st().tail.pos.load(Ordering::Acquire).saturating_sub(self.inner.cursor)
    }
}

/// A stored length, checked against the bound (a torn read may show any
/// value: the caller's sequence check then discards the result).
fn checked_len(len: u32, max: usize) -> Result<usize, BroadcastRecvError> {
    let len = len as usize;
    if len > max {
        return Err(BroadcastRecvError::Corrupt(format!("a message of {len} bytes in slots of {max}")));
    }
    Ok(len)
}

impl fmt::Debug for ByteSubscriber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ByteSubscriber")
            .field("name", &self.inner.shared.seg().name())
            .field("cursor", &self.inner.cursor)
            .finish()
    }
}

impl<F: Form> Shared<F> {
    /// Lossless: the least cursor of the subscribers (dropping the entries
    /// of dead ones when `reap`), or `next` if there are none.
    fn min_cursor(&self, next: u64, reap: bool) -> u64 {
        let mut min = next;
        for i in 0..self.entries {
            let e = self.entry(i);
            let owner = e.owner.load(Ordering::Acquire);
            if owner == 0 {
                continue;
            }
            if reap && !self.seg().is_alive(Token::from_bits(owner)) {
                // A dead subscriber: its entry goes, and it stalls nobody.
                let _ = e.owner.compare_exchange(owner, 0, Ordering::AcqRel, Ordering::Relaxed);
                continue;
            }
            min = min.min(e.cursor.load(Ordering::Acquire));
        }
        min
    }
}

impl<F: Form> Shared<F> {
    /// For [`wait_any`](crate::wait_any): a message, a lag or the end of
    /// the stream for the subscriber at `cursor`.
    fn select_ready(&self, cursor: u64, thorough: bool) -> bool {
        self.slot(cursor).0.load(Ordering::Acquire) >= 2 * cursor + 2
            || self.st().tail.pos.load(Ordering::Acquire) > cursor
            || self.publisher_gone(thorough)
    }

    fn select_park(&self) -> crate::select::sealed::Park<'_> {
        let w = &self.st().ctl.waits;
        crate::select::sealed::Park::Counted {
            word: &w.items_seq,
            count: &w.recv_sleepers,
            asym: true,
            wakes_one: false,
        }
    }
}

impl<F: Form> Sub<F> {
    fn select_ready(&self, thorough: bool) -> bool {
        self.shared.select_ready(self.cursor, thorough)
    }

    fn probe(&self) -> std::sync::Arc<dyn crate::select::sealed::Source + Send + Sync> {
        std::sync::Arc::new(SubProbe { shared: Arc::clone(&self.shared), entry: self.entry })
    }
}

/// A subscriber's readiness for the background waiter: its cursor as the
/// subscriber last stored it in its entry.
struct SubProbe<F: Form> {
    shared: Arc<Shared<F>>,
    entry: usize,
}

impl<F: Form> crate::select::sealed::Source for SubProbe<F> {
    fn ready(&self, _armed: u32, thorough: bool) -> bool {
        let cursor = self.shared.entry(self.entry).cursor.load(Ordering::Acquire);
        self.shared.select_ready(cursor, thorough)
    }
    fn park(&self) -> crate::select::sealed::Park<'_> {
        self.shared.select_park()
    }
    fn probe(&self) -> Result<std::sync::Arc<dyn crate::select::sealed::Source + Send + Sync>, Error> {
        Ok(std::sync::Arc::new(SubProbe { shared: Arc::clone(&self.shared), entry: self.entry }))
    }
}

/// `Source` for the two subscriber types, over their `inner` end.
macro_rules! subscriber_source {
    ($(impl[$($gen:tt)*] $ty:ty;)*) => {$(
        impl<$($gen)*> crate::select::sealed::Source for $ty {
            fn ready(&self, _armed: u32, thorough: bool) -> bool {
                self.inner.select_ready(thorough)
            }
            fn park(&self) -> crate::select::sealed::Park<'_> {
                self.inner.shared.select_park()
            }
            fn probe(&self) -> Result<std::sync::Arc<dyn crate::select::sealed::Source + Send + Sync>, Error> {
                Ok(self.inner.probe())
            }
        }
    )*};
}

subscriber_source! {
    impl[T: ShmType] Subscriber<T>;
    impl[] ByteSubscriber;
}

/// A lossless publisher's room for its next message, for the background
/// waiter (`send_async`): every live subscriber is past the message it
/// replaces (a thorough look drops dead subscribers' entries, as a blocking
/// publish's liveness hook does). A lossy publisher always has room.
#[cfg(feature = "async")]
pub(crate) struct PubRoom<F: Form> {
    shared: Arc<Shared<F>>,
    next: u64,
}

#[cfg(feature = "async")]
impl<F: Form> crate::select::sealed::Source for PubRoom<F> {
    fn ready(&self, _armed: u32, thorough: bool) -> bool {
        let sh = &*self.shared;
        sh.policy() == Policy::Lossy || self.next < sh.min_cursor(self.next, thorough) + sh.capacity
    }
    fn park(&self) -> crate::select::sealed::Park<'_> {
        let w = &self.shared.st().ctl.waits;
        crate::select::sealed::Park::Counted {
            word: &w.space_seq,
            count: &w.send_sleepers,
            asym: true,
            wakes_one: true,
        }
    }
    fn probe(&self) -> Result<std::sync::Arc<dyn crate::select::sealed::Source + Send + Sync>, Error> {
        Ok(std::sync::Arc::new(PubRoom { shared: Arc::clone(&self.shared), next: self.next }))
    }
}

#[cfg(feature = "async")]
impl<F: Form> Pub<F> {
    /// Room for the next message, as a probe.
    pub(crate) fn room(&self) -> PubRoom<F> {
        PubRoom { shared: Arc::clone(&self.shared), next: self.next }
    }
}

#[cfg(feature = "async")]
impl<T: ShmType> Publisher<T> {
    /// Publishes `value` as an async call: a lossless publisher waits for
    /// room without blocking the thread, as `send` waits (a lossy one never
    /// waits). Dropping the future before it completes publishes nothing.
    ///
    /// # Errors
    /// As [`send`](Publisher::send).
    pub async fn send_async(&mut self, value: T) -> Result<(), BroadcastSendError> {
        loop {
            match self.try_send(value) {
                Err(BroadcastSendError::Full) => crate::notify::until_ready(&self.inner.room()).await,
                other => return other,
            }
        }
    }
}

#[cfg(feature = "async")]
impl BytePublisher {
    /// Publishes a copy of `msg` as an async call, as
    /// [`Publisher::send_async`].
    ///
    /// # Errors
    /// As [`send`](BytePublisher::send).
    pub async fn send_async(&mut self, msg: &[u8]) -> Result<(), BroadcastSendError> {
        loop {
            match self.try_send(msg) {
                Err(BroadcastSendError::Full) => crate::notify::until_ready(&self.inner.room()).await,
                other => return other,
            }
        }
    }
}

mod described;
pub use described::{DynBroadcast, DynPublisher, DynSubscriber};

subscriber_source! {
    impl[] DynSubscriber;
}
