//! The crash-safe ring of slots behind [`Queue`](crate::Queue): claimed by
//! CAS by any number of producers and consumers (`mpmc.rs`), or written and
//! read without one by a single producer and consumer (`spsc.rs`).
//!
//! # Slot states
//!
//! Each slot has one 64-bit state word: the high 32 bits are the *lap
//! position* it is for (the low 32 bits of a queue position), the low 32 bits
//! a tag and, while it is claimed, the claimer's liveness token.
//!
//! | tag       | meaning at position `p`                                       |
//! |-----------|---------------------------------------------------------------|
//! | `FREE`    | empty, ready for the producer of `p`                          |
//! | `WRITING` | claimed by the producer whose token is in the word            |
//! | `READY`   | holds the message of `p`                                      |
//! | `SKIP`    | the producer of `p` died mid-write: nothing to deliver        |
//! | `READING` | claimed by the consumer whose token is in the word            |
//!
//! A producer at position `p` claims by CAS `(p, FREE) -> (p, WRITING|me)`,
//! writes the message, then publishes `(p, READY)` with Release. A consumer
//! claims by CAS `(p, READY) -> (p, READING|me)`, copies the message out, then
//! frees the slot for the next lap: `(p + cap, FREE)`. `tail` and `head` are
//! hints that anyone may advance once the slot at that position is claimed,
//! so a producer or consumer that dies between its claim and the index bump
//! stalls nobody.
//!
//! Because the claim and the claimer's token change in one CAS, a claim
//! always names its owner: a consumer that finds `(p, WRITING|t)` with `t`
//! dead (per the liveness registry; never by a timeout, so a stopped but live
//! producer keeps its claim) turns it into `(p, SKIP)`, and a producer that
//! finds the previous lap's `(p - cap, READING|t)` with `t` dead frees it.
//! A receiver therefore never sees a torn or partial message, and no slot
//! stays lost.
//!
//! Positions are 64-bit; the lap position kept in a slot is 32 bits, enough
//! as long as the capacity is below 2^30.
//!
//! # Single producer
//!
//! A [single-producer queue](crate::Queue::create_spsc) uses the same slots
//! with no CAS: its one producer stamps `(p, READY)` and stores `tail`, its
//! one consumer reads and stores `head` (`put_at`, `take_at`, `consumed`).
//! Those accessors are `unsafe fn`s: they are sound only for the holder of
//! the end, and are reached only through the cursors of `spsc.rs`, which
//! exist only while their endpoint holds its end.
//!
//! # Slot layouts
//!
//! The ring is a base pointer and a stride: slot `i` starts `i * stride`
//! bytes after the base, its state word first, its data at a fixed offset
//! after it. A [`SlotLayout`] gives the two numbers: for `Queue<T>` they are
//! constants of `T` ([`Typed`], the layout of [`Slot<T>`]), so the typed
//! path computes a slot's address as indexing a `[Slot<T>]` does; a
//! [`MessageQueue`](crate::MessageQueue) or a described
//! [`DynQueue`](crate::dynamic::DynQueue) carries them at run time
//! ([`Stride`]). What a send writes into a claimed slot is a [`Message`],
//! what a receive does with a claimed slot's data a [`Reader`]; the state
//! words and the protocol above are the same for all.

use std::cell::UnsafeCell;
use std::marker::PhantomData;
use std::ptr::NonNull;

use crate::failpoint;
use crate::primitive::{AtomicU32, AtomicU64, Ordering, fence};
use crate::segment::registry::Token;

use super::Index;
use super::waits::Waits;

const FREE: u32 = 0;
const WRITING: u32 = 1 << 29;
const READY: u32 = 2 << 29;
const SKIP: u32 = 3 << 29;
const READING: u32 = 4 << 29;
const TAG_MASK: u32 = 7 << 29;
const _: () = assert!(Token::MASK < WRITING);

/// Largest capacity a queue may have.
pub const MAX_CAPACITY: u64 = 1 << 30;

fn pack(lap: u64, low: u32) -> u64 {
    (lap << 32) | u64::from(low)
}

fn lap_of(state: u64) -> u32 {
    (state >> 32) as u32
}

/// One message slot of a `Queue<T>`: the layout [`Typed<T>`] describes.
#[repr(C)]
pub(crate) struct Slot<T> {
    state: AtomicU64,
    data: UnsafeCell<T>,
}

/// Where a ring's slots lie: the bytes from one slot's start to the next,
/// and the offset of a slot's data after its state word (which is at the
/// slot's start).
pub(crate) trait SlotLayout: Copy {
    /// Bytes from the start of one slot to the next: a multiple of the
    /// slot's alignment, at least the data's end.
    fn stride(self) -> usize;
    /// Offset of a slot's data from the slot's start.
    fn data_offset(self) -> usize;
    /// Alignment of a slot.
    fn align(self) -> usize;
}

/// The layout of [`Slot<T>`]: both numbers are constants of `T`, so
/// a typed ring's addresses compile as indexing a `[Slot<T>]` does.
pub(crate) struct Typed<T>(PhantomData<fn() -> T>);

impl<T> Typed<T> {
    pub(crate) const fn new() -> Self {
        Typed(PhantomData)
    }
}

impl<T> Clone for Typed<T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T> Copy for Typed<T> {}

impl<T> SlotLayout for Typed<T> {
    #[inline(always)]
    fn stride(self) -> usize {
        std::mem::size_of::<Slot<T>>()
    }

    #[inline(always)]
    fn data_offset(self) -> usize {
        std::mem::offset_of!(Slot<T>, data)
    }

    #[inline(always)]
    fn align(self) -> usize {
        std::mem::align_of::<Slot<T>>()
    }
}

/// A slot layout chosen at run time: the layout a [`Slot<T>`] has for a
/// `T` of `size` bytes aligned to `align` (a `#[repr(C)]` struct of the
/// state word and the data), so a described element type's slots are a
/// `Queue<T>`'s byte for byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Stride {
    stride: usize,
    data_offset: usize,
    size: usize,
    align: usize,
}

impl Stride {
    /// The layout for data of `size` bytes aligned to `align` (a power of
    /// two); `None` if it overflows.
    pub(crate) fn new(size: usize, align: usize) -> Option<Stride> {
        if !align.is_power_of_two() {
            return None;
        }
        let word = std::mem::size_of::<AtomicU64>();
        let slot_align = align.max(std::mem::align_of::<AtomicU64>());
        let data_offset = word.checked_next_multiple_of(align)?;
        let stride = data_offset.checked_add(size)?.checked_next_multiple_of(slot_align)?;
        Some(Stride { stride, data_offset, size, align: slot_align })
    }

    /// Bytes of a slot's data.
    pub(crate) fn size(self) -> usize {
        self.size
    }
}

impl SlotLayout for Stride {
    #[inline]
    fn stride(self) -> usize {
        self.stride
    }

    #[inline]
    fn data_offset(self) -> usize {
        self.data_offset
    }

    #[inline]
    fn align(self) -> usize {
        self.align
    }
}

/// What a send writes into a slot of layout `L`.
pub(crate) trait Message<L>: Copy {
    /// Writes this message into a slot's data.
    ///
    /// # Safety
    /// `data` is the data of a slot of `layout` that the caller has claimed
    /// (nobody else reads or writes it until the caller publishes it): as
    /// long as the layout's data and aligned for it.
    unsafe fn write(self, layout: L, data: *mut u8);
}

impl<T: Copy> Message<Typed<T>> for T {
    #[inline(always)]
    unsafe fn write(self, _layout: Typed<T>, data: *mut u8) {
        // SAFETY: the data of a `Slot<T>` the caller claimed (the
        // caller's contract): aligned for `T`, and nobody else's.
        unsafe { data.cast::<T>().write(self) }
    }
}

/// What a receive does with the data of a slot of layout `L` it claimed.
pub(crate) trait Reader<L> {
    /// What the receive gives.
    type Out;

    /// Before the multi-consumer [`Ring::try_take`] claims the published
    /// message at `data`: `Some(answer)` to leave the message queued and
    /// answer that instead (a buffer too small for it). The message may be
    /// taken and the slot written again meanwhile, so this reads only
    /// atomics of the slot; the answer is given only if the slot did not
    /// change meanwhile. The single-consumer accessors do not ask.
    #[inline(always)]
    fn refuse(&mut self, _layout: L, _data: *const u8) -> Option<Self::Out> {
        None
    }

    /// Reads the message out of a claimed slot's data.
    ///
    /// # Safety
    /// `data` is the data of a slot of `layout` holding a published message
    /// that the caller has claimed (no one writes it until it frees it).
    unsafe fn read(&mut self, layout: L, data: *const u8) -> Self::Out;
}

/// The [`Reader`] of a `Queue<T>`: copies the `T` out.
pub(crate) struct ReadValue;

impl<T: Copy> Reader<Typed<T>> for ReadValue {
    type Out = T;

    #[inline(always)]
    unsafe fn read(&mut self, _layout: Typed<T>, data: *const u8) -> T {
        // SAFETY: the data of a claimed `Slot<T>` holding a published `T`
        // (the caller's contract).
        unsafe { data.cast::<T>().read() }
    }
}

/// The [`Reader`] of a `Queue<T>` receive by value: copies the `T` straight
/// into the caller's `out`, which the receive then returns, so the value
/// is copied once on its way out of the ring rather than through each
/// enum it is wrapped in on the way (`Option`, then `Result`).
pub(crate) struct ReadInto<'a, T>(pub(crate) &'a mut std::mem::MaybeUninit<T>);

impl<T: Copy> Reader<Typed<T>> for ReadInto<'_, T> {
    type Out = ();

    #[inline(always)]
    unsafe fn read(&mut self, _layout: Typed<T>, data: *const u8) {
        // SAFETY: the data of a claimed `Slot<T>` holding a published `T`
        // (the caller's contract), into our own `MaybeUninit<T>`.
        unsafe { std::ptr::copy_nonoverlapping(data.cast::<T>(), self.0.as_mut_ptr(), 1) }
    }
}

/// The [`Message`] of an in-place send: `f` writes the value into the
/// claimed slot itself, with no copy of a `T` on the way (a closure that
/// borrows what it writes is `Copy`, so a send that finds no room keeps it).
#[derive(Clone, Copy)]
pub(crate) struct WriteWith<F>(pub(crate) F);

impl<T: bytemuck::Pod, F: Fn(&mut T) + Copy> Message<Typed<T>> for WriteWith<F> {
    #[inline(always)]
    unsafe fn write(self, _layout: Typed<T>, data: *mut u8) {
        // SAFETY: the data of a `Slot<T>` the caller claimed (the caller's
        // contract): aligned for `T`, nobody else's, and a valid `T`
        // whatever its bytes (`Pod`; the ring starts zeroed).
        (self.0)(unsafe { &mut *data.cast::<T>() })
    }
}

/// The [`Reader`] of an in-place receive: `f` reads the value in its slot
/// while the slot is claimed, with no copy of a `T`.
pub(crate) struct ReadWith<F>(pub(crate) Option<F>);

impl<T: bytemuck::Pod, R, F: FnOnce(&T) -> R> Reader<Typed<T>> for ReadWith<F> {
    type Out = Option<R>;

    #[inline(always)]
    unsafe fn read(&mut self, _layout: Typed<T>, data: *const u8) -> Option<R> {
        // SAFETY: the data of a claimed `Slot<T>` holding a published `T`
        // (the caller's contract); the reference lives while `f` runs,
        // inside the claim.
        let value = unsafe { &*data.cast::<T>() };
        // A reader reads once per receive: `None` never comes back.
        self.0.take().map(|f| f(value))
    }
}

/// The wait line of a queue: how its sides sleep, which endpoints it has,
/// and the joinable count. One cache line.
#[repr(C, align(64))]
pub(crate) struct Control {
    /// Futex words and sleeper counts of both sides.
    pub(crate) waits: Waits,
    /// Senders created and not yet dropped (a killed sender stays counted).
    pub(crate) senders: AtomicU32,
    /// Receivers created and not yet dropped (likewise).
    pub(crate) receivers: AtomicU32,
    /// Non-zero once any sender was created.
    pub(crate) ever_sender: AtomicU32,
    /// Non-zero once any receiver was created.
    pub(crate) ever_receiver: AtomicU32,
    /// `JOINABLE` if the queue tracks unfinished messages (set at create).
    pub(crate) flags: AtomicU32,
    /// Joinable queues: messages sent and not yet marked done.
    pub(crate) unfinished: AtomicU32,
    /// Bumped when `unfinished` drops to zero and joiners sleep.
    pub(crate) done_seq: AtomicU32,
    /// Joiners asleep (or about to be) on `done_seq`.
    pub(crate) join_sleepers: AtomicU32,
    /// Single-producer queues: `HELD | token` of the sending end's holder.
    pub(crate) sender_role: AtomicU32,
    /// Single-producer queues: `HELD | token` of the receiving end's holder.
    pub(crate) receiver_role: AtomicU32,
}

// The layout is shared memory: these offsets are the format (loom's
// atomics are larger: not checked there).
#[cfg(not(loom))]
const _: () = {
    use std::mem::offset_of;
    assert!(offset_of!(Control, senders) == 16);
    assert!(offset_of!(Control, ever_sender) == 24);
    assert!(offset_of!(Control, flags) == 32);
    assert!(offset_of!(Control, sender_role) == 48);
    assert!(offset_of!(Control, receiver_role) == 52);
    assert!(std::mem::size_of::<Control>() == 64);
};

/// `Control::flags` bit: `task_done` / `join` are in use.
pub const JOINABLE: u32 = 1;

impl Control {
    /// All zero: no endpoint yet, nobody asleep, not joinable.
    #[cfg(any(test, fuzzing))]
    pub(crate) fn new() -> Control {
        let z = || AtomicU32::new(0);
        Control {
            waits: Waits::new(),
            senders: z(),
            receivers: z(),
            ever_sender: z(),
            ever_receiver: z(),
            flags: z(),
            unfinished: z(),
            done_seq: z(),
            join_sleepers: z(),
            sender_role: z(),
            receiver_role: z(),
        }
    }
}

/// The fixed part of a queue's state: indices, then the wait line.
#[repr(C)]
pub(crate) struct QueueState {
    pub(crate) tail: Index,
    pub(crate) head: Index,
    pub(crate) ctl: Control,
}

/// Outcome of one non-blocking receive attempt.
pub(crate) enum Take<T> {
    Got(T),
    /// Nothing published at the head.
    Empty,
    /// The head message, at this position, is being written by `token`.
    InFlight(Token, u64),
    /// A dead producer's skipped claim was removed and its slot freed: try
    /// again (and tell senders there is room).
    Skipped,
}

/// Outcome of one non-blocking send attempt.
pub(crate) enum Put {
    Done,
    /// The slot still holds the previous lap's message.
    Full,
    /// The slot of the tail, at this position, is being read by `token`
    /// (previous lap): the queue holds fewer than `cap` messages.
    Reading(Token, u64),
}

/// A view of a ring in some memory: the state, and `cap` slots of layout
/// `L` from `base`.
pub(crate) struct Ring<'a, L> {
    state: &'a QueueState,
    base: NonNull<u8>,
    mask: u64,
    layout: L,
    _slots: PhantomData<&'a [u8]>,
}

/// A slot of a ring: its state word and where its data starts.
struct SlotRef<'a> {
    state: &'a AtomicU64,
    data: *mut u8,
}

/// Stores `next` into a claimed slot's state word when dropped: the
/// consumer's free, made on unwinding too.
struct FreeOnDrop<'a> {
    state: &'a AtomicU64,
    next: u64,
}

impl Drop for FreeOnDrop<'_> {
    #[inline]
    fn drop(&mut self) {
        self.state.store(self.next, Ordering::Release);
    }
}

#[cfg(any(test, fuzzing))]
impl<'a, T> Ring<'a, Typed<T>> {
    /// A view of `slots`, whose length must be a power of two.
    pub fn new(state: &'a QueueState, slots: &'a [Slot<T>]) -> Self {
        debug_assert!(slots.len().is_power_of_two());
        // SAFETY: `slots.len()` slots of `Typed<T>`'s layout, alive and
        // borrowed for 'a; their data is in `UnsafeCell`s, written only by
        // the claim protocol.
        unsafe { Ring::from_raw(state, NonNull::from(slots).cast(), slots.len(), Typed::new()) }
    }
}

impl<'a, L: SlotLayout> Ring<'a, L> {
    /// A view of `cap` slots of `layout` from `base`.
    ///
    /// # Safety
    /// `cap` is a power of two; `base` points to `cap * layout.stride()`
    /// bytes aligned for the slots, alive for 'a, written by no one but
    /// this protocol (each slot's state word an atomic, its data behind
    /// the claims), each slot's state word initialized.
    #[inline]
    pub unsafe fn from_raw(state: &'a QueueState, base: NonNull<u8>, cap: usize, layout: L) -> Self {
        debug_assert!(cap.is_power_of_two());
        Ring { state, base, mask: cap as u64 - 1, layout, _slots: PhantomData }
    }

    fn cap(&self) -> u64 {
        self.mask + 1
    }

    /// Writes the initial state into zeroed memory: slot `i` free for lap `i`.
    pub fn init(&self) {
        for i in 0..self.cap() {
            self.slot(i).state.store(pack(i, FREE), Ordering::Relaxed);
        }
    }

    #[inline]
    fn slot(&self, pos: u64) -> SlotRef<'a> {
        let index = (pos & self.mask) as usize;
        // SAFETY: masked by `cap - 1`, so `index < cap`, and `cap` slots of
        // `stride` bytes are inside one allocation (`from_raw`'s contract):
        // the product does not overflow (which, said to the compiler, lets
        // it index as a slice does), and slot `index` is one of them, its
        // state word an initialized atomic at its start, aligned.
        unsafe {
            let slot = self.base.as_ptr().add(index.unchecked_mul(self.layout.stride()));
            SlotRef { state: &*slot.cast::<AtomicU64>(), data: slot.add(self.layout.data_offset()) }
        }
    }

    /// Messages published or in flight (a snapshot).
    pub fn len(&self) -> u64 {
        let tail = self.state.tail.pos.load(Ordering::Acquire);
        let head = self.state.head.pos.load(Ordering::Acquire);
        tail.saturating_sub(head).min(self.cap())
    }

    /// Whether a receive would find a published message now, without
    /// waiting for a sender mid-write: one of the first few positions from
    /// the head holds one (a longer queue counts as ready).
    pub fn any_ready(&self) -> bool {
        let head = self.state.head.pos.load(Ordering::Acquire);
        let tail = self.state.tail.pos.load(Ordering::Acquire);
        match tail.saturating_sub(head) {
            0 => false,
            n if n > 8 => true,
            _ => (head..tail).any(|p| {
                let st = self.slot(p).state.load(Ordering::Acquire);
                lap_of(st) == p as u32 && st as u32 & TAG_MASK == READY
            }),
        }
    }

    /// Most rounds of one attempt. Each round that does not return makes
    /// progress (an index moves, or another party won a CAS), and a lagging
    /// index jumps to the slot's lap at once, so this bounds only the work a
    /// corrupted ring can cause.
    fn rounds(&self) -> u64 {
        64 + 4 * self.cap().min(1024)
    }

    /// Moves `index` from `from` on to `to` unless someone already did.
    fn advance(index: &Index, from: u64, to: u64) {
        let _ = index.pos.compare_exchange(from, to, Ordering::Release, Ordering::Relaxed);
    }

    /// Where an index at `pos` may move, given the slot there shows lap
    /// `lap` ahead of it. A slot on lap `L` was freed for `L`, so position
    /// `L - cap` was taken (claimed, and consumed): the index is past it.
    /// `None` if the lap is ahead by less than a lap (a corrupted ring).
    fn jump(&self, pos: u64, lap: u32) -> Option<u64> {
        let ahead = u64::from(lap.wrapping_sub(pos as u32));
        (ahead >= self.cap()).then(|| pos.wrapping_add(ahead - self.cap() + 1))
    }

    /// One attempt to publish `msg`, as the holder of `token`.
    pub fn try_put<M: Message<L>>(&self, msg: M, token: Token) -> Put {
        let cap = self.cap();
        let tail = &self.state.tail;
        for _ in 0..self.rounds() {
            let pos = tail.pos.load(Ordering::Acquire);
            let slot = self.slot(pos);
            let st = slot.state.load(Ordering::Acquire);
            let lap = lap_of(st);
            let low = st as u32;
            if lap == pos as u32 {
                if low != FREE {
                    // Someone claimed this position: help the tail on.
                    Self::advance(tail, pos, pos.wrapping_add(1));
                    continue;
                }
                let claim = pack(pos, WRITING | token.to_bits());
                if slot.state.compare_exchange(st, claim, Ordering::Acquire, Ordering::Relaxed).is_ok() {
                    Self::advance(tail, pos, pos.wrapping_add(1));
                    failpoint::hit(failpoint::QUEUE_AFTER_CLAIM);
                    // An in-place writer that panics gives its claim up as a
                    // dead producer's would be: nothing to deliver.
                    let abandon = FreeOnDrop { state: slot.state, next: pack(pos, SKIP) };
                    // SAFETY: our WRITING claim gives us the slot's data
                    // exclusively until we publish.
                    unsafe { msg.write(self.layout, slot.data) };
                    std::mem::forget(abandon);
                    failpoint::hit(failpoint::QUEUE_BEFORE_COMMIT);
                    // Release: the message is visible to whoever sees READY.
                    slot.state.store(pack(pos, READY), Ordering::Release);
                    return Put::Done;
                }
                continue;
            }
            if lap == pos.wrapping_sub(cap) as u32 {
                // Previous lap not consumed yet.
                if low & TAG_MASK == READING {
                    return Put::Reading(Token::from_bits(low), pos);
                }
                if tail.pos.load(Ordering::Acquire) == pos {
                    return Put::Full;
                }
                continue;
            }
            if (lap.wrapping_sub(pos as u32) as i32) > 0 {
                // The slot is ahead of our view of the tail: catch up.
                let Some(to) = self.jump(pos, lap) else { return Put::Full };
                Self::advance(tail, pos, to);
                continue;
            }
            // Inconsistent (corrupted) state: behave as full, never spin.
            return Put::Full;
        }
        Put::Full
    }

    /// One attempt to take the head message, as the holder of `token`,
    /// read by `reader` (which may refuse it: then its answer is given as
    /// [`Take::Got`] and the message stays queued).
    pub fn try_take<R: Reader<L>>(&self, token: Token, reader: &mut R) -> Take<R::Out> {
        let cap = self.cap();
        let head = &self.state.head;
        for _ in 0..self.rounds() {
            let pos = head.pos.load(Ordering::Acquire);
            let slot = self.slot(pos);
            let st = slot.state.load(Ordering::Acquire);
            let lap = lap_of(st);
            let low = st as u32;
            if (lap.wrapping_sub(pos as u32) as i32) > 0 {
                // Consumed already (lap ahead): catch the head up.
                let Some(to) = self.jump(pos, lap) else { return Take::Empty };
                Self::advance(head, pos, to);
                continue;
            }
            if lap != pos as u32 {
                // Behind (previous lap still free) or corrupted: nothing here.
                return Take::Empty;
            }
            match low & TAG_MASK {
                READY => {
                    if let Some(answer) = reader.refuse(self.layout, slot.data) {
                        // As a seqlock reader: the reader's loads happen
                        // before this re-load (Acquire fence), so if the
                        // slot still holds the message of `pos`, what it
                        // read was that message's.
                        fence(Ordering::Acquire);
                        if slot.state.load(Ordering::Relaxed) == st {
                            return Take::Got(answer);
                        }
                        continue;
                    }
                    let claim = pack(pos, READING | token.to_bits());
                    if slot.state.compare_exchange(st, claim, Ordering::Acquire, Ordering::Relaxed).is_ok() {
                        Self::advance(head, pos, pos.wrapping_add(1));
                        // Frees the slot for the next lap when the read is
                        // done, or if the reader unwinds (a user's closure
                        // reading in place). Release: our read is done before
                        // the producer of the next lap may write.
                        let free = FreeOnDrop { state: slot.state, next: pack(pos.wrapping_add(cap), FREE) };
                        // SAFETY: our READING claim gives us the slot
                        // exclusively; the producer's Release store of
                        // READY, seen by our Acquire, published the data.
                        let value = unsafe { reader.read(self.layout, slot.data) };
                        failpoint::hit(failpoint::QUEUE_AFTER_READ_CLAIM);
                        drop(free);
                        return Take::Got(value);
                    }
                }
                SKIP => {
                    let free = pack(pos.wrapping_add(cap), FREE);
                    if slot.state.compare_exchange(st, free, Ordering::AcqRel, Ordering::Relaxed).is_ok() {
                        Self::advance(head, pos, pos.wrapping_add(1));
                        return Take::Skipped;
                    }
                }
                WRITING => return Take::InFlight(Token::from_bits(low), pos),
                FREE => return Take::Empty,
                // READING: another consumer has it; corrupted tags too.
                _ => Self::advance(head, pos, pos.wrapping_add(1)),
            }
        }
        Take::Empty
    }

    /// The position the next message is sent at (a hint for multiple
    /// producers; a single producer's published position).
    pub fn tail(&self) -> &AtomicU64 {
        &self.state.tail.pos
    }

    /// The position the next message is taken from (a hint for multiple
    /// consumers; a single consumer's published position).
    pub fn head(&self) -> &AtomicU64 {
        &self.state.head.pos
    }

    /// Single producer: publishes `value` at position `pos` if the consumer
    /// has moved past the slot's previous lap, with no read-modify-write
    /// (the caller holds the sending end). `seen_head` caches the consumer's
    /// published head and is reloaded only when the cached one shows no
    /// room, so the producer reads the consumer's line once per run of free
    /// slots, not per message. A producer killed between its write and its
    /// Release store leaves the slot's stamp on the previous lap: nothing
    /// torn is ever seen.
    ///
    /// # Safety
    /// The caller is the ring's only producer: it holds the sending end of
    /// a single-producer queue (its sending cursor), so no other thread or
    /// process writes a slot of this ring, and `seen_head` was loaded from
    /// this ring's head.
    #[inline]
    pub unsafe fn put_at<M: Message<L>>(&self, pos: u64, msg: M, seen_head: &mut u64) -> bool {
        if pos.wrapping_sub(*seen_head) >= self.cap() {
            // Acquire: the consumer's reads of the slot happen before we
            // overwrite it.
            *seen_head = self.state.head.pos.load(Ordering::Acquire);
            if pos.wrapping_sub(*seen_head) >= self.cap() {
                return false;
            }
        }
        let slot = self.slot(pos);
        // SAFETY: the consumer has published a head past `pos - cap`, so it
        // is done with this slot, and we are its only producer (the
        // caller's contract): nobody reads or writes its data until we
        // publish.
        unsafe { msg.write(self.layout, slot.data) };
        slot.state.store(pack(pos, READY), Ordering::Release);
        true
    }

    /// Whether the consumer has moved past the previous lap of `pos`.
    pub fn room_at(&self, pos: u64) -> bool {
        pos.wrapping_sub(self.state.head.pos.load(Ordering::Acquire)) < self.cap()
    }

    /// Single consumer: the message at `pos` if it is published (the caller
    /// holds the receiving end). The slot stays as it is: the caller frees
    /// it, and those before it, by [`consumed`](Ring::consumed). A consumer
    /// killed before that leaves the message for the next.
    ///
    /// # Safety
    /// The caller is the ring's only consumer: it holds the receiving end
    /// of a single-producer queue (its receiving cursor), so nobody else
    /// publishes a head for this ring.
    #[inline]
    pub unsafe fn take_at<R: Reader<L>>(&self, pos: u64, reader: &mut R) -> Option<R::Out> {
        let slot = self.slot(pos);
        if slot.state.load(Ordering::Acquire) != pack(pos, READY) {
            return None;
        }
        // SAFETY: READY for `pos` (Acquire pairs with the producer's Release
        // store), and the producer does not write the slot again before a
        // head past `pos` is published, which only we do (the caller's
        // contract).
        Some(unsafe { reader.read(self.layout, slot.data) })
    }

    /// Single consumer: publishes that every message before `pos` was taken.
    ///
    /// # Safety
    /// As for [`take_at`](Ring::take_at), and the caller is done reading
    /// every slot before `pos`: the producer may write them from now on.
    #[inline]
    pub unsafe fn consumed(&self, pos: u64) {
        // Release: our reads of those slots happen before the producer, which
        // loads the head with Acquire, writes them again.
        self.state.head.pos.store(pos, Ordering::Release);
    }

    /// Whether the message of `pos` is published.
    pub fn ready_at(&self, pos: u64) -> bool {
        self.slot(pos).state.load(Ordering::Acquire) == pack(pos, READY)
    }

    /// Where a new single producer starts: at the published tail, past any
    /// message a dead predecessor published without moving the tail (a slot
    /// stamped READY for its position). Bounded by the capacity.
    pub fn resume_put(&self) -> u64 {
        let mut pos = self.state.tail.pos.load(Ordering::Acquire);
        for _ in 0..self.cap() {
            if !self.ready_at(pos) {
                break;
            }
            pos = pos.wrapping_add(1);
        }
        pos
    }

    /// Where a new single consumer starts: at the published head. Messages
    /// a dead predecessor took without publishing a head past them are
    /// delivered again.
    pub fn resume_take(&self) -> u64 {
        self.state.head.pos.load(Ordering::Acquire)
    }

    /// Turns the claim of dead producer `token` at the head into a skip.
    /// Returns whether it did.
    pub fn skip_dead_writer(&self, token: Token) -> bool {
        let pos = self.state.head.pos.load(Ordering::Acquire);
        let slot = self.slot(pos);
        let claimed = pack(pos, WRITING | token.to_bits());
        slot.state.compare_exchange(claimed, pack(pos, SKIP), Ordering::AcqRel, Ordering::Relaxed).is_ok()
    }

    /// Frees the slot at the tail that dead consumer `token` was reading.
    /// Returns whether it did.
    pub fn free_dead_reader(&self, token: Token) -> bool {
        let pos = self.state.tail.pos.load(Ordering::Acquire);
        let prev = pos.wrapping_sub(self.cap());
        let slot = self.slot(pos);
        let claimed = pack(prev, READING | token.to_bits());
        slot.state.compare_exchange(claimed, pack(pos, FREE), Ordering::AcqRel, Ordering::Relaxed).is_ok()
    }
}

/// Test support: a queue state with the indices at `tail` and `head`.
#[cfg(test)]
pub(crate) fn test_state(tail: u64, head: u64) -> QueueState {
    QueueState {
        tail: Index { pos: AtomicU64::new(tail) },
        head: Index { pos: AtomicU64::new(head) },
        ctl: Control::new(),
    }
}

/// Test support: the state word of slot data for position `lap` as
/// published (`ready`) or free.
#[cfg(all(test, not(loom)))]
pub(crate) fn test_word(lap: u64, ready: bool) -> u64 {
    pack(lap, if ready { READY } else { FREE })
}

/// Test support: a fresh ring of `cap` slots of `u64`.
#[cfg(test)]
fn ring_state(cap: usize) -> (QueueState, Vec<Slot<u64>>) {
    let state = test_state(0, 0);
    let slots =
        (0..cap).map(|i| Slot { state: AtomicU64::new(pack(i as u64, FREE)), data: UnsafeCell::new(0) }).collect();
    (state, slots)
}

#[cfg(all(test, loom))]
mod loom_models {
    use super::*;
    use crate::loom_support::model;
    use loom::sync::Arc;

    struct Model {
        state: QueueState,
        slots: Vec<Slot<u64>>,
    }

    // SAFETY: the model shares the ring between loom threads exactly as
    // processes share it; the slot protocol guards the data cells.
    unsafe impl Sync for Model {}
    // SAFETY: as above.
    unsafe impl Send for Model {}

    impl Model {
        fn new(cap: usize) -> Arc<Model> {
            let (state, slots) = ring_state(cap);
            Arc::new(Model { state, slots })
        }
        fn ring(&self) -> Ring<'_, Typed<u64>> {
            Ring::new(&self.state, &self.slots)
        }
    }

    /// Sends `per` messages from each of `producers` threads through a ring
    /// of `cap` slots to one consumer; checks exactly-once, per-producer order.
    fn exchange(cap: usize, producers: u64, per: u64) {
        model(2, move || {
            let m = Model::new(cap);
            let handles: Vec<_> = (0..producers)
                .map(|id| {
                    let m = m.clone();
                    loom::thread::spawn(move || {
                        for seq in 0..per {
                            while !matches!(m.ring().try_put(id * 10 + seq, Token::from_bits(id as u32 + 1)), Put::Done)
                            {
                                loom::thread::yield_now();
                            }
                        }
                    })
                })
                .collect();
            let mut got = Vec::new();
            while got.len() < (producers * per) as usize {
                match m.ring().try_take(Token::from_bits(9), &mut ReadValue) {
                    Take::Got(v) => got.push(v),
                    _ => loom::thread::yield_now(),
                }
            }
            for h in handles {
                h.join().unwrap();
            }
            for id in 0..producers {
                let mine: Vec<u64> = got.iter().copied().filter(|v| v / 10 == id).collect();
                let want: Vec<u64> = (0..per).map(|s| id * 10 + s).collect();
                assert_eq!(mine, want);
            }
        });
    }

    /// Two producers race for positions: each message arrives exactly once.
    #[test]
    fn loom_mpmc_claim_commit() {
        exchange(2, 2, 1);
    }

    /// One slot, two laps: the consumer's free and the producer's next claim
    /// of the same slot are ordered.
    #[test]
    fn loom_ring_wraps() {
        exchange(1, 1, 2);
    }

    /// Single producer, single consumer, no read-modify-write: three
    /// messages through two slots (a wrap), each exactly once, in order.
    #[test]
    fn loom_spsc_slots_exclusive() {
        model(2, || {
            let m = Model::new(2);
            let producer = {
                let m = m.clone();
                loom::thread::spawn(move || {
                    let mut seen_head = 0;
                    for pos in 0..3u64 {
                        // SAFETY: this thread is the ring's only producer.
                        while !unsafe { m.ring().put_at(pos, 100 + pos, &mut seen_head) } {
                            loom::thread::yield_now();
                        }
                        m.ring().tail().store(pos + 1, Ordering::Release);
                    }
                })
            };
            for pos in 0..3u64 {
                let v = loop {
                    // SAFETY: this thread is the ring's only consumer.
                    if let Some(v) = unsafe { m.ring().take_at(pos, &mut ReadValue) } {
                        break v;
                    }
                    loom::thread::yield_now();
                };
                assert_eq!(v, 100 + pos);
                // SAFETY: as above; the read of `pos` is done.
                unsafe { m.ring().consumed(pos + 1) };
            }
            producer.join().unwrap();
            // A successor of either side resumes where it left off.
            assert_eq!(m.ring().resume_put(), 3);
            assert_eq!(m.ring().resume_take(), 3);
        });
    }

    /// A producer that dies after its claim: once the consumer knows it is
    /// dead and skips the claim, a live producer's message still arrives,
    /// and nothing half-written is delivered.
    #[test]
    fn loom_dead_claim_is_skipped() {
        model(2, || {
            let m = Model::new(2);
            let dead_token = Token::from_bits(5);
            // The dying producer: claims position 0 and stops forever.
            let st = pack(0, FREE);
            m.slots[0]
                .state
                .compare_exchange(st, pack(0, WRITING | dead_token.to_bits()), Ordering::Acquire, Ordering::Relaxed)
                .unwrap();
            m.state.tail.pos.store(1, Ordering::Release);
            let live = {
                let m = m.clone();
                loom::thread::spawn(move || {
                    while !matches!(m.ring().try_put(42, Token::from_bits(7)), Put::Done) {
                        loom::thread::yield_now();
                    }
                })
            };
            loop {
                match m.ring().try_take(Token::from_bits(9), &mut ReadValue) {
                    Take::Got(v) => {
                        assert_eq!(v, 42, "only the live producer's message is delivered");
                        break;
                    }
                    Take::InFlight(t, _) if t == dead_token => {
                        assert!(m.ring().skip_dead_writer(t));
                    }
                    _ => loom::thread::yield_now(),
                }
            }
            live.join().unwrap();
        });
    }
}

/// Runs the send and receive paths on a ring whose state is taken from
/// `data`, as a corrupted or hostile segment could hold it: indices, slot
/// state words and contents are arbitrary. Every path must return (the loops
/// are bounded) without panicking or touching memory outside the ring.
///
/// The layout of `data`: byte 0 picks the capacity (1 to 16, power of two)
/// and bytes 1..3 a sequence of operations; then 8 bytes each for the tail,
/// the head, and every slot's state word. Missing bytes are zero.
#[cfg(all(any(test, fuzzing), not(loom)))]
pub fn fuzz_ring(data: &[u8]) {
    let byte = |i: usize| data.get(i).copied().unwrap_or(0);
    let word = |i: usize| (0..8).fold(0u64, |w, k| w | u64::from(byte(i + k)) << (8 * k));
    let cap = 1usize << (byte(0) % 5);
    let ops = u16::from(byte(1)) | u16::from(byte(2)) << 8;
    let state = QueueState {
        tail: Index { pos: AtomicU64::new(word(3)) },
        head: Index { pos: AtomicU64::new(word(11)) },
        ctl: Control::new(),
    };
    let slots: Vec<Slot<u64>> =
        (0..cap).map(|i| Slot { state: AtomicU64::new(word(19 + 8 * i)), data: UnsafeCell::new(word(i)) }).collect();
    let ring = Ring::new(&state, &slots);
    for k in 0..16 {
        let token = Token::from_bits(u32::from(byte(k)));
        match (ops >> k) & 1 {
            0 => match ring.try_take(token, &mut ReadValue) {
                Take::InFlight(t, _) => {
                    ring.skip_dead_writer(t);
                }
                Take::Got(_) | Take::Empty | Take::Skipped => {}
            },
            _ => {
                if let Put::Reading(t, _) = ring.try_put(k as u64, token) {
                    ring.free_dead_reader(t);
                }
            }
        }
        let _ = ring.len();
    }
    // The single-producer paths on the same state.
    let (put, take) = (ring.resume_put(), ring.resume_take());
    let mut seen_head = word(11);
    // SAFETY: this function is the ring's only producer and consumer; the
    // calls are sequential, so no slot is written while it is read.
    unsafe {
        let _ = ring.put_at(put, 7, &mut seen_head) || ring.room_at(put);
        let _ = ring.take_at(take, &mut ReadValue).is_some() || ring.ready_at(take);
        ring.consumed(take.wrapping_add(1));
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    /// The single-producer path: the producer waits for the consumer's
    /// published head, not its reads; successors resume past published
    /// messages, and messages taken without a published head come again.
    #[test]
    fn single_producer_successors_resume() {
        let (state, slots) = ring_state(4);
        let ring = Ring::new(&state, &slots);
        // SAFETY: this test is the ring's only producer and consumer, and
        // its calls are sequential.
        unsafe {
            let mut seen_head = 0;
            for pos in 0..4 {
                assert!(ring.put_at(pos, 10 + pos, &mut seen_head));
            }
            // Full until the consumer publishes a head: taking is not enough.
            assert_eq!(ring.take_at(0, &mut ReadValue), Some(10));
            assert!(!ring.put_at(4, 14, &mut seen_head));
            assert!(!ring.room_at(4));
            ring.consumed(1);
            assert!(ring.room_at(4));
            assert!(ring.put_at(4, 14, &mut seen_head));
            assert_eq!(seen_head, 1);
            // The producer died before storing its tail: a successor starts
            // after its last published message.
            ring.tail().store(2, Ordering::Release);
            assert_eq!(ring.resume_put(), 5);
            // The consumer took 1 and 2 and died before publishing: they come
            // again, and a lap-old stamp is not mistaken for a message.
            assert_eq!(ring.take_at(1, &mut ReadValue), Some(11));
            assert_eq!(ring.take_at(2, &mut ReadValue), Some(12));
            assert_eq!(ring.resume_take(), 1);
            assert_eq!(ring.take_at(1, &mut ReadValue), Some(11));
            assert_eq!(ring.take_at(5, &mut ReadValue), None);
            assert!(!ring.ready_at(8));
        }
    }

    /// A run-time layout is the layout of `Slot<T>` for the same size and
    /// alignment: a described queue's slots are a typed queue's.
    #[test]
    fn stride_matches_the_typed_slot() {
        fn check<T>() {
            let (size, align) = (std::mem::size_of::<T>(), std::mem::align_of::<T>());
            let s = Stride::new(size, align).unwrap();
            let t = Typed::<T>::new();
            assert_eq!(
                (s.stride(), s.data_offset(), s.align()),
                (t.stride(), t.data_offset(), t.align()),
                "{size}/{align}"
            );
        }
        #[repr(C, align(32))]
        struct A32([u8; 40]);
        #[repr(C, align(128))]
        struct A128(u8);
        check::<()>();
        check::<u8>();
        check::<u32>();
        check::<[u8; 13]>();
        check::<u64>();
        check::<[u64; 4]>();
        check::<u128>();
        check::<A32>();
        check::<A128>();
        assert_eq!(Stride::new(usize::MAX - 4, 8), None);
        assert_eq!(Stride::new(8, 3), None);
    }

    /// Random ring states through every path ([`fuzz_ring`]): no panic, no
    /// endless loop.
    #[test]
    fn random_ring_states_never_panic() {
        let mut seed = 0x0fed_cba9_8765_4321u64;
        let mut data = [0u8; 19 + 8 * 16];
        for round in 0..20_000 {
            let x = crate::queue::fill_random(&mut data, &mut seed);
            // Half the rounds: small indices and plausible slot states.
            if round % 2 == 0 {
                for i in 0..18 {
                    let at = 3 + 8 * i;
                    let lap = u64::from(data[at] % 32);
                    let word = if i < 2 { lap } else { pack(lap, u32::from(data[at + 1] % 5) << 29) };
                    data[at..at + 8].copy_from_slice(&word.to_le_bytes());
                }
            }
            fuzz_ring(&data[..x as usize % data.len()]);
        }
    }
}
