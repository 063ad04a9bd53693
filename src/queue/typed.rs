//! [`Queue<T>`]: a bounded queue of `T: ShmType` shared by name, any number of
//! senders and receivers in any processes — the handle: the queue's state
//! in its segment (a [`SegmentState`] of either kind), the state its ends
//! share in this process, and the constructors. The ends are in
//! `channel.rs`.

use std::fmt;
use std::marker::PhantomData;
use std::ptr::NonNull;
use std::time::{Duration, Instant};

use crate::ShmType;

use super::SharedHandle;
use super::channel::{Receiver, Sender};
use super::endpoint::{End, EndpointEntry};
use super::errors::SendTimeoutError;
use super::slot_ring::{JOINABLE, MAX_CAPACITY, QueueState, Ring, SlotLayout, Typed};
use crate::error::Error;
use crate::handle::{Handle, SegmentState, StateLayout, handle_api};
use crate::primitive::{Ordering, fence, futex_wake};
use crate::segment::header::{Fingerprint, Header, ObjectKind};
use crate::segment::{OpenOptions, RawSegment, ShmSafe};
use crate::wait::{Announce, Deadline, Handshake, Naps, Sleepers, Step, Turn, WaitStrategy, Waiter};

/// Which algorithm a queue runs, fixed by its kind at create.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum Flavor {
    /// [`ObjectKind::Queue`]: `mpmc.rs`.
    #[default]
    Mpmc,
    /// [`ObjectKind::SpscQueue`]: `spsc.rs`.
    Spsc,
}

/// What a queue's slots carry, and how its segment records it: a Rust
/// type `T` ([`Typed<T>`], whose layout is all constants), or a layout
/// chosen at run time (a [`MessageQueue`](crate::MessageQueue)'s framed
/// bytes, a [`DynQueue`](crate::dynamic::DynQueue)'s described type).
pub(crate) trait Format: SlotLayout + Send + Sync + 'static {
    /// The kinds its segments are stored as: the multi-producer one first,
    /// then the single-producer one if there is one.
    const KINDS: &'static [ObjectKind];

    /// What the creator chooses beside the capacity and mode, and an
    /// opener learns (from the header, or brings: a described type).
    type Desc: Clone + Default + PartialEq + fmt::Debug + Send + Sync + 'static;

    /// What two programs must agree on for `capacity` slots.
    fn fingerprint(desc: &Self::Desc, capacity: u64) -> Fingerprint;

    /// The layout of the slots (`desc` was checked when it was made).
    fn slots(desc: &Self::Desc) -> Self;

    /// What an opener of `header` uses, given what it brings (`template`).
    ///
    /// # Errors
    /// [`Error::Corrupt`] for impossible header values,
    /// [`Error::InvalidArgument`] if the opener must bring a description.
    fn desc_for_open(name: &str, header: &Header, template: Option<&Self::Desc>) -> Result<Self::Desc, Error>;
}

impl<T: ShmType> Format for Typed<T> {
    const KINDS: &'static [ObjectKind] = &[ObjectKind::Queue, ObjectKind::SpscQueue];
    type Desc = ();

    fn fingerprint((): &(), capacity: u64) -> Fingerprint {
        Fingerprint::of::<T>(capacity)
    }

    #[inline(always)]
    fn slots((): &()) -> Self {
        Typed::new()
    }

    fn desc_for_open(_name: &str, _header: &Header, _template: Option<&()>) -> Result<(), Error> {
        Ok(())
    }
}

/// What a queue is created with, and what an opener learns: the capacity
/// and flavour from the header, whether it is joinable from the state, and
/// what its slots carry.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct QueueParams<D> {
    capacity: u64,
    flavor: Flavor,
    joinable: bool,
    pub(crate) desc: D,
}

impl<D> QueueParams<D> {
    /// A queue of at least `capacity` messages (rounded up to a power of
    /// two).
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for a zero capacity or one past 2^30.
    pub(crate) fn new(capacity: usize, flavor: Flavor, joinable: bool, desc: D) -> Result<Self, Error> {
        if capacity == 0 || capacity as u64 > MAX_CAPACITY {
            return Err(Error::InvalidArgument(format!("queue capacity {capacity} is not in 1..=2^30")));
        }
        Ok(QueueParams { capacity: (capacity as u64).next_power_of_two(), flavor, joinable, desc })
    }
}

/// A queue's state in its segment, for slots of format `F`. Every kind
/// ([`ObjectKind::Queue`], [`ObjectKind::SpscQueue`],
/// [`ObjectKind::MessageQueue`]) has the same layout: this state, the
/// endpoint table (one [`EndpointEntry`] per registry slot), then the ring
/// of slots, aligned for them and to a cache line.
#[repr(transparent)]
pub(crate) struct QueueHead<F> {
    state: QueueState,
    _slots: PhantomData<fn() -> F>,
}

// SAFETY: repr(transparent) over the queue's state, which is repr(C)
// atomics only (any bits valid, no pointers, no drop glue); the endpoint
// table and the slots after it are atomics and plain data, reached only
// through the slot protocol of slot_ring.rs.
unsafe impl<F: Format> ShmSafe for QueueHead<F> {}

/// Where the ring of slots of `layout` starts, from the start of the state.
fn slots_offset(layout: impl SlotLayout, registry_slots: u32) -> usize {
    let align = layout.align().max(64);
    let after = std::mem::size_of::<QueueState>() + registry_slots as usize * std::mem::size_of::<EndpointEntry>();
    after.div_ceil(align) * align
}

impl<F: Format> SegmentState for QueueHead<F> {
    const KINDS: &'static [ObjectKind] = F::KINDS;
    type Params = QueueParams<F::Desc>;
    type Init<'a> = ();

    fn kind(params: &Self::Params) -> ObjectKind {
        match params.flavor {
            Flavor::Mpmc => F::KINDS[0],
            Flavor::Spsc => *F::KINDS.get(1).unwrap_or(&F::KINDS[0]),
        }
    }

    fn fingerprint(params: &Self::Params) -> Fingerprint {
        F::fingerprint(&params.desc, params.capacity)
    }

    fn layout(params: &Self::Params, registry_slots: u32) -> Result<StateLayout, Error> {
        let slots = F::slots(&params.desc);
        let size = usize::try_from(params.capacity)
            .ok()
            .and_then(|n| n.checked_mul(slots.stride()))
            .and_then(|n| n.checked_add(slots_offset(slots, registry_slots)))
            .filter(|&n| n <= isize::MAX as usize)
            .ok_or_else(|| Error::InvalidArgument(format!("a queue of {} elements is too large", params.capacity)))?;
        let align = slots.align().max(std::mem::align_of::<QueueState>());
        Ok(StateLayout { size, align })
    }

    /// The endpoint table stays zero (no endpoint yet); each slot is made
    /// free for its first lap.
    fn init(&mut self, tail: &mut [u8], params: &Self::Params, registry_slots: u32, (): ()) {
        self.state.ctl.flags.store(if params.joinable { JOINABLE } else { 0 }, Ordering::Relaxed);
        let slots = F::slots(&params.desc);
        let at = slots_offset(slots, registry_slots) - std::mem::size_of::<Self>();
        debug_assert!(tail.len() >= at + params.capacity as usize * slots.stride());
        // SAFETY: the layout puts `capacity` slots at `at` in the tail,
        // aligned for them (the state's start is aligned to the layout's
        // alignment, and their offset is a multiple of theirs); zeroed
        // memory is a valid slot, which `init` then stamps.
        let ring = unsafe {
            let base = NonNull::new_unchecked(tail.as_mut_ptr().add(at));
            Ring::from_raw(&self.state, base, params.capacity as usize, slots)
        };
        ring.init();
    }

    fn params_of(name: &str, header: &Header) -> Result<Self::Params, Error> {
        Self::params_for_open(name, header, None)
    }

    fn params_for_open(name: &str, header: &Header, template: Option<&Self::Params>) -> Result<Self::Params, Error> {
        if !header.capacity.is_power_of_two() || header.capacity > MAX_CAPACITY {
            return Err(Error::Corrupt {
                name: name.to_owned(),
                reason: format!("queue capacity {}", header.capacity),
            });
        }
        let spsc = F::KINDS.get(1).is_some_and(|&k| header.kind == k as u32);
        let flavor = if spsc { Flavor::Spsc } else { Flavor::Mpmc };
        let desc = F::desc_for_open(name, header, template.map(|t| &t.desc))?;
        Ok(QueueParams { capacity: header.capacity, flavor, joinable: false, desc })
    }

    fn check_opened(&self, _name: &str, params: &mut Self::Params) -> Result<(), Error> {
        params.joinable = self.state.ctl.flags.load(Ordering::Relaxed) & JOINABLE != 0;
        Ok(())
    }

    /// `open_or_create` takes an existing queue of `T` as it is, whatever
    /// its capacity and mode, as [`Queue::open`] does.
    fn check_existing(
        _name: &str,
        _header: &Header,
        _asked: &Self::Params,
        _found: &Self::Params,
    ) -> Result<(), Error> {
        Ok(())
    }
}

/// The mapping and pointers into it, shared by a queue's handle and its
/// endpoints in this process.
pub(crate) struct Shared<F: Format> {
    handle: Handle<QueueHead<F>>,
    endpoints: NonNull<EndpointEntry>,
    n_endpoints: usize,
    slots: NonNull<u8>,
    layout: F,
    pub(super) capacity: usize,
    pub(super) flavor: Flavor,
}

// SAFETY: the pointers point into the mapping owned by `handle`; the state
// is designed for concurrent use from any thread of any process (atomics and
// the slot claim protocol of slot_ring.rs); `F` is Send and Sync.
unsafe impl<F: Format> Send for Shared<F> {}
// SAFETY: as above.
unsafe impl<F: Format> Sync for Shared<F> {}

impl<F: Format> Shared<F> {
    pub(crate) fn new(handle: Handle<QueueHead<F>>) -> Self {
        let base = handle.data_ptr();
        let n_endpoints = handle.segment().header().registry_slots as usize;
        let QueueParams { capacity, flavor, ref desc, .. } = *handle.params();
        let layout = F::slots(desc);
        // SAFETY: the handle checked the data region's size against the
        // layout of this capacity, slot format and slot count (or made it
        // so at create); every offset is inside it and aligned.
        let shared = unsafe {
            Shared {
                endpoints: NonNull::new_unchecked(base.add(std::mem::size_of::<QueueState>()).cast()),
                n_endpoints,
                slots: NonNull::new_unchecked(base.add(slots_offset(layout, n_endpoints as u32))),
                layout,
                capacity: capacity as usize,
                flavor,
                handle,
            }
        };
        shared.claim_entry();
        shared
    }

    /// The segment: this process's liveness token, the peers' liveness.
    #[inline]
    pub(super) fn seg(&self) -> &RawSegment {
        self.handle.segment()
    }

    #[inline]
    pub(super) fn state(&self) -> &QueueState {
        &self.handle.state().state
    }

    pub(super) fn endpoints(&self) -> &[EndpointEntry] {
        // SAFETY: n_endpoints entries after the state, inside the mapping.
        unsafe { std::slice::from_raw_parts(self.endpoints.as_ptr(), self.n_endpoints) }
    }

    #[inline]
    pub(super) fn ring(&self) -> Ring<'_, F> {
        // SAFETY: `capacity` slots of `layout` (a power of two, checked at
        // open) inside the mapping, initialized at create.
        unsafe { Ring::from_raw(self.state(), self.slots, self.capacity, self.layout) }
    }

    /// The parameters the queue was created with (learnt at open).
    pub(crate) fn params(&self) -> &QueueParams<F::Desc> {
        self.handle.params()
    }

    /// Whether every message sent has been marked done by `deadline`.
    pub(crate) fn join_by(&self, deadline: Deadline) -> bool {
        self.join_until(deadline)
    }

    pub(super) fn joinable(&self) -> bool {
        self.state().ctl.flags.load(Ordering::Relaxed) & JOINABLE != 0
    }

    /// Marks one message finished; wakes joiners when none is left.
    pub(super) fn finish_one(&self) -> bool {
        let w = &self.state().ctl;
        let mut cur = w.unfinished.load(Ordering::Acquire);
        loop {
            if cur == 0 {
                return false;
            }
            match w.unfinished.compare_exchange_weak(cur, cur - 1, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => break,
                Err(actual) => cur = actual,
            }
        }
        if cur == 1 {
            fence(Ordering::SeqCst);
            if w.join_sleepers.load(Ordering::Relaxed) != 0 {
                w.done_seq.fetch_add(1, Ordering::Release);
                futex_wake(&w.done_seq, u32::MAX);
            }
        }
        true
    }

    /// Waits until no message is unfinished: polls, and sleeps at once
    /// (no spinning) on the parking layer.
    fn join_until(&self, deadline: Deadline) -> bool {
        let w = &self.state().ctl;
        // The fences pair with the one in finish_one.
        let sleepers = Sleepers { word: &w.done_seq, announce: Announce::Count(&w.join_sleepers, Handshake::Fence) };
        Waiter::new(deadline, WaitStrategy::Park, Naps::polling())
            .sleep_counted(&sleepers, |turn| {
                // SeqCst once announced: the sleeper's load of the handshake.
                let order = if let Turn::Announced(_) = turn { Ordering::SeqCst } else { Ordering::Acquire };
                match turn {
                    Turn::Stuck => Step::Wait,
                    _ if w.unfinished.load(order) == 0 => Step::Done(()),
                    _ => Step::Wait,
                }
            })
            .is_ok()
    }

    /// Sends `value` with `put`, counting it as unfinished first on a
    /// joinable queue (and not, if the send fails).
    #[inline]
    pub(super) fn counted<M>(
        &self,
        value: M,
        put: impl FnOnce(M) -> Result<(), SendTimeoutError<M>>,
    ) -> Result<(), SendTimeoutError<M>> {
        if !self.joinable() {
            return put(value);
        }
        // Counted before it can be received, so task_done never runs ahead.
        self.state().ctl.unfinished.fetch_add(1, Ordering::AcqRel);
        let sent = put(value);
        if sent.is_err() {
            self.finish_one();
        }
        sent
    }

    /// After a publish: wake a receiver if any sleeps.
    pub(super) fn notify_receivers(&self, all: bool) {
        self.state().ctl.waits.notify(End::Receiver, all);
    }

    /// After freeing a slot: wake a sender if any sleeps.
    pub(super) fn notify_senders(&self, all: bool) {
        self.state().ctl.waits.notify(End::Sender, all);
    }
}

/// A bounded queue of `T: ShmType` shared by name between processes: any number
/// of [`Sender`]s and [`Receiver`]s in any processes, FIFO per sender.
///
/// Lock-free: a send or receive is a few atomic operations on the shared
/// ring, with no syscall unless the other side sleeps. A sender killed at any
/// point never makes a receiver see a torn message, and its claimed slot is
/// reclaimed once it is known dead (by the liveness registry, never by a
/// timeout: a stopped sender keeps its claim).
///
/// That last point has a cost in the multi-producer mode: messages are
/// received in the order their slots were claimed, so a *live* sender
/// stopped between its claim and its commit (by `SIGSTOP`, a debugger, a
/// page fault on a loaded machine) holds up every receiver behind its slot
/// until it resumes. Where one producer suffices, use the single-producer
/// mode ([`Queue::create_spsc`]) or a [`ByteQueue`](crate::ByteQueue),
/// whose sender publishes with one store and holds up nobody.
///
/// The queue's slots are memory (a tmpfs file in `/dev/shm`), reserved
/// whole at create: a create larger than the shm filesystem's free space
/// or the available memory fails with
/// [`Error::NoSpace`](crate::Error::NoSpace).
///
/// A receive on an empty queue whose senders have all gone — dropped, exited
/// or killed — returns `Disconnected` instead of hanging; before any sender
/// ever attached it waits. A send whose receivers have all been dropped
/// returns `Disconnected(value)`; receivers that were killed are noticed when
/// the queue is full (a send would otherwise wait).
///
/// [`Queue::open`] opens a queue of `T` in either mode and learns its
/// capacity from the segment; [`Queue::open_or_create`] likewise takes an
/// existing queue as it is.
///
/// ```
/// use shmkit::Queue;
/// # let name = format!("doc-queue-{}", std::process::id());
/// let q = Queue::<u64>::create(&name, 1024)?;
/// let tx = Queue::<u64>::open(&name)?.sender()?;   // in a producer process
/// let rx = q.receiver()?;                           // in a consumer process
/// tx.send(7).unwrap();
/// assert_eq!(rx.recv(), Ok(7));
/// drop(tx);
/// assert!(rx.recv().is_err()); // every sender gone: Disconnected, not a hang
/// # Ok::<(), shmkit::Error>(())
/// ```
pub struct Queue<T: ShmType>(SharedHandle<Shared<Typed<T>>>);

handle_api! {
    impl[T: ShmType] Queue<T>, "queue", " holding up to `capacity` messages (rounded up to a power of two, at most 2^30), for any number of senders and receivers";
    wrap(Self::from_handle);
    create(capacity: usize) => (QueueParams::new(capacity, Flavor::Mpmc, false, ())?, ());
    waits;
}

impl<T: ShmType> Queue<T> {
    fn from_handle(handle: Handle<QueueHead<Typed<T>>>) -> Self {
        Queue(SharedHandle::new(Shared::new(handle)))
    }

    fn create_mode(
        name: &str,
        capacity: usize,
        flavor: Flavor,
        joinable: bool,
        opts: &OpenOptions,
    ) -> Result<Self, Error> {
        Handle::create_with(name, QueueParams::new(capacity, flavor, joinable, ())?, (), opts).map(Self::from_handle)
    }

    /// Creates a queue for one sender and one receiver at a time, at the
    /// speed of a single-producer ring: the same slots as a multi-producer
    /// queue, but with no atomic read-modify-write and no fence on the fast
    /// path (the side about to sleep pays for the wake-up handshake). The
    /// sender stores the message and its slot's state; the receiver polls
    /// that state, so a hand-off costs one cache-line transfer each way, and
    /// never writes to a slot: it publishes its index, which the sender
    /// reads only when its last copy of it shows the queue full.
    ///
    /// [`Queue::sender`] and [`Queue::receiver`] then fail with
    /// [`Error::Busy`] while a live endpoint holds that end, and take over
    /// the end of one that died. Crash safety is the same as for the other
    /// queues: a sender killed mid-message leaves nothing torn; a receiver
    /// killed mid-receive leaves the message for the next receiver.
    ///
    /// # Errors
    /// As [`Queue::create`].
    pub fn create_spsc(name: &str, capacity: usize) -> Result<Self, Error> {
        Self::create_spsc_with(name, capacity, &OpenOptions::default())
    }

    /// [`Queue::create_spsc`] with options.
    ///
    /// # Errors
    /// As [`Queue::create`].
    pub fn create_spsc_with(name: &str, capacity: usize, opts: &OpenOptions) -> Result<Self, Error> {
        Self::create_mode(name, capacity, Flavor::Spsc, false, opts)
    }

    /// Creates a queue that tracks delivery, like Python's `JoinableQueue`:
    /// every message sent counts as unfinished until a receiver calls
    /// [`Receiver::task_done`] for it, and [`Queue::join`] waits until none
    /// is left. (Plain queues skip the counting, which costs one shared
    /// atomic operation per message.)
    ///
    /// # Errors
    /// As [`Queue::create`].
    pub fn create_joinable(name: &str, capacity: usize) -> Result<Self, Error> {
        Self::create_joinable_with(name, capacity, &OpenOptions::default())
    }

    /// [`Queue::create_joinable`] with options.
    ///
    /// # Errors
    /// As [`Queue::create`].
    pub fn create_joinable_with(name: &str, capacity: usize, opts: &OpenOptions) -> Result<Self, Error> {
        Self::create_mode(name, capacity, Flavor::Mpmc, true, opts)
    }

    /// A [single-producer queue](Queue::create_spsc) that tracks delivery
    /// like [`Queue::create_joinable`]. The count costs the sender one
    /// shared atomic add per message, or per batch with
    /// [`Sender::send_batch`].
    ///
    /// # Errors
    /// As [`Queue::create`].
    pub fn create_spsc_joinable(name: &str, capacity: usize) -> Result<Self, Error> {
        Self::create_spsc_joinable_with(name, capacity, &OpenOptions::default())
    }

    /// [`Queue::create_spsc_joinable`] with options.
    ///
    /// # Errors
    /// As [`Queue::create`].
    pub fn create_spsc_joinable_with(name: &str, capacity: usize, opts: &OpenOptions) -> Result<Self, Error> {
        Self::create_mode(name, capacity, Flavor::Spsc, true, opts)
    }

    fn shared(&self) -> &Shared<Typed<T>> {
        &self.0.shared
    }

    /// How many messages the queue holds at most.
    pub fn capacity(&self) -> usize {
        self.shared().capacity
    }

    /// Messages in the queue now (a snapshot; includes ones being written).
    pub fn len(&self) -> usize {
        self.shared().ring().len() as usize
    }

    /// Whether this queue serves one sender and one receiver at a time
    /// (made with [`Queue::create_spsc`]).
    pub fn is_spsc(&self) -> bool {
        self.shared().flavor == Flavor::Spsc
    }

    /// Whether the queue looks empty now.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether the queue looks full now.
    pub fn is_full(&self) -> bool {
        self.len() >= self.capacity()
    }

    /// Waits until every message sent has been marked done with
    /// [`Receiver::task_done`]. Returns at once on a queue not created with
    /// [`Queue::create_joinable`].
    ///
    /// A receiver that dies between receiving a message and marking it done
    /// leaves it unfinished for ever (as in Python): use
    /// [`Queue::join_timeout`] when that matters.
    pub fn join(&self) {
        self.shared().join_until(Deadline::Never);
    }

    /// Whether every message sent has been marked done now (`true` on a
    /// queue that is not joinable).
    pub fn try_join(&self) -> bool {
        self.shared().join_until(Deadline::Now)
    }

    /// [`Queue::join`], waiting at most `timeout`; `true` if every message
    /// was marked done.
    pub fn join_timeout(&self, timeout: Duration) -> bool {
        self.shared().join_until(Deadline::after(timeout))
    }

    /// [`Queue::join`], waiting until `deadline` at most; `true` if every
    /// message was marked done.
    pub fn join_deadline(&self, deadline: Instant) -> bool {
        self.shared().join_until(Deadline::At(deadline))
    }

    /// Messages sent and not yet marked done (0 for a plain queue).
    pub fn unfinished(&self) -> usize {
        self.shared().state().ctl.unfinished.load(Ordering::Acquire) as usize
    }

    /// A new sending endpoint, with this handle's wait strategy.
    ///
    /// # Errors
    /// Only for a [single-producer queue](Queue::create_spsc):
    /// [`Error::Busy`] while a live endpoint holds the sending end,
    /// [`Error::Corrupt`] if its indices are impossible.
    pub fn sender(&self) -> Result<Sender<T>, Error> {
        Sender::attach(self.0.shared.clone(), self.0.strategy)
    }

    /// A new receiving endpoint, with this handle's wait strategy.
    ///
    /// # Errors
    /// As [`Queue::sender`], for the receiving end.
    pub fn receiver(&self) -> Result<Receiver<T>, Error> {
        Receiver::attach(self.0.shared.clone(), self.0.strategy)
    }
}

impl<T: ShmType> fmt::Debug for Queue<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Queue").field("name", &self.name()).field("capacity", &self.capacity()).finish_non_exhaustive()
    }
}

impl<F: Format> AsRef<RawSegment> for Shared<F> {
    fn as_ref(&self) -> &RawSegment {
        self.seg()
    }
}
