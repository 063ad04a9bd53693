//! [`Queue<T>`]: a bounded queue of `T: Pod` shared by name, any number of
//! senders and receivers in any processes — the handle: the queue's layout
//! in its segment, the state its ends share in this process, and the
//! constructors. The ends are in `channel.rs`.

use std::fmt;
use std::ptr::NonNull;
use std::sync::Arc;
use std::time::Duration;

use bytemuck::Pod;

use super::channel::{Receiver, Sender};
use super::endpoint::{End, EndpointEntry};
use super::errors::SendTimeoutError;
use super::slot_ring::{JOINABLE, MAX_CAPACITY, QueueState, Ring, Slot};
use super::waits::{POLL_MAX, POLL_MIN};
use crate::error::Error;
use crate::primitive::{Ordering, fence, futex_wait, futex_wake};
use crate::segment::header::{Fingerprint, Header, ObjectKind};
use crate::segment::{OpenOptions, RawSegment, Spec, open_or_create_with};
use crate::wait::{Deadline, WaitStrategy};

/// Where the parts of a queue's state lie, from the start of its data.
struct Layout {
    endpoints: usize,
    slots: usize,
    size: usize,
}

/// Both kinds, [`ObjectKind::Queue`] and [`ObjectKind::SpscQueue`], have the
/// same layout: the state, the endpoint table, then the ring of slots.
fn layout<T>(capacity: u64, registry_slots: u32) -> Option<Layout> {
    let endpoints = std::mem::size_of::<QueueState>();
    let align = std::mem::align_of::<Slot<T>>().max(64);
    let after = endpoints + registry_slots as usize * std::mem::size_of::<EndpointEntry>();
    let slots = after.div_ceil(align) * align;
    let ring = (capacity as usize).checked_mul(std::mem::size_of::<Slot<T>>())?;
    Some(Layout { endpoints, slots, size: ring.checked_add(slots)? })
}

fn spec<T>(kind: ObjectKind, capacity: u64, registry_slots: u32) -> Result<(Spec, Layout), Error> {
    let lay = layout::<T>(capacity, registry_slots)
        .ok_or_else(|| Error::InvalidArgument(format!("a queue of {capacity} elements is too large")))?;
    let align = std::mem::align_of::<Slot<T>>().max(std::mem::align_of::<QueueState>());
    Ok((Spec::new(kind, Fingerprint::of::<T>(capacity), lay.size, align), lay))
}

/// Which algorithm a queue runs, fixed by its kind at create.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Flavor {
    /// [`ObjectKind::Queue`]: `mpmc.rs`.
    Mpmc,
    /// [`ObjectKind::SpscQueue`]: `spsc.rs`.
    Spsc,
}

/// The mapping and pointers into it, shared by a queue's handle and its
/// endpoints in this process.
pub(super) struct Shared<T> {
    pub(super) seg: RawSegment,
    state: NonNull<QueueState>,
    endpoints: NonNull<EndpointEntry>,
    n_endpoints: usize,
    slots: NonNull<Slot<T>>,
    pub(super) capacity: usize,
    pub(super) flavor: Flavor,
}

// SAFETY: the pointers point into the mapping owned by `seg`; the state is
// designed for concurrent use from any thread of any process (atomics and
// the slot claim protocol of slot_ring.rs).
unsafe impl<T: Pod> Send for Shared<T> {}
// SAFETY: as above.
unsafe impl<T: Pod> Sync for Shared<T> {}

impl<T: Pod> Shared<T> {
    fn new(seg: RawSegment, lay: &Layout) -> Self {
        let base = seg.data_ptr();
        let h = seg.header();
        let (n_endpoints, capacity) = (h.registry_slots as usize, h.capacity as usize);
        let flavor = if h.kind == ObjectKind::SpscQueue as u32 { Flavor::Spsc } else { Flavor::Mpmc };
        // SAFETY: the layout was computed from the header's capacity and slot
        // count and checked against the data size at open (or made at
        // create); every offset is inside the data region and aligned.
        let shared = unsafe {
            Shared {
                state: NonNull::new_unchecked(base.cast()),
                endpoints: NonNull::new_unchecked(base.add(lay.endpoints).cast()),
                n_endpoints,
                slots: NonNull::new_unchecked(base.add(lay.slots).cast()),
                capacity,
                flavor,
                seg,
            }
        };
        shared.claim_entry();
        shared
    }

    pub(super) fn state(&self) -> &QueueState {
        // SAFETY: points into our mapping, which lives as long as self.
        unsafe { self.state.as_ref() }
    }

    pub(super) fn endpoints(&self) -> &[EndpointEntry] {
        // SAFETY: n_endpoints entries after the state, inside the mapping.
        unsafe { std::slice::from_raw_parts(self.endpoints.as_ptr(), self.n_endpoints) }
    }

    pub(super) fn ring(&self) -> Ring<'_, T> {
        // SAFETY: `capacity` slots (a power of two, checked at open) inside
        // the mapping.
        let slots = unsafe { std::slice::from_raw_parts(self.slots.as_ptr(), self.capacity) };
        Ring::new(self.state(), slots)
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

    fn join_until(&self, deadline: Deadline) -> bool {
        let w = &self.state().ctl;
        let mut poll = POLL_MIN;
        loop {
            if w.unfinished.load(Ordering::Acquire) == 0 {
                return true;
            }
            w.join_sleepers.fetch_add(1, Ordering::SeqCst);
            fence(Ordering::SeqCst);
            let seq = w.done_seq.load(Ordering::SeqCst);
            let done = w.unfinished.load(Ordering::SeqCst) == 0;
            let nap = if done { None } else { deadline.sleep_for(poll) };
            if let Some(nap) = nap {
                futex_wait(&w.done_seq, seq, Some(nap));
            }
            w.join_sleepers.fetch_sub(1, Ordering::SeqCst);
            if done {
                return true;
            }
            if nap.is_none() {
                return false;
            }
            poll = (poll * 2).min(POLL_MAX);
        }
    }

    /// Sends `value` with `put`, counting it as unfinished first on a
    /// joinable queue (and not, if the send fails).
    #[inline]
    pub(super) fn counted(
        &self,
        value: T,
        put: impl FnOnce(T) -> Result<(), SendTimeoutError<T>>,
    ) -> Result<(), SendTimeoutError<T>> {
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

/// A bounded queue of `T: Pod` shared by name between processes: any number
/// of [`Sender`]s and [`Receiver`]s in any processes, FIFO per sender.
///
/// Lock-free: a send or receive is a few atomic operations on the shared
/// ring, with no syscall unless the other side sleeps. A sender killed at any
/// point never makes a receiver see a torn message, and its claimed slot is
/// reclaimed once it is known dead (by the liveness registry, never by a
/// timeout: a stopped sender keeps its claim).
///
/// A receive on an empty queue whose senders have all gone — dropped, exited
/// or killed — returns `Disconnected` instead of hanging; before any sender
/// ever attached it waits. A send whose receivers have all been dropped
/// returns `Disconnected(value)`; receivers that were killed are noticed when
/// the queue is full (a send would otherwise wait).
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
pub struct Queue<T: Pod> {
    shared: Arc<Shared<T>>,
}

impl<T: Pod> Queue<T> {
    /// Creates the queue `name` holding up to `capacity` messages (rounded up
    /// to a power of two, at most 2^30). Exclusive.
    ///
    /// # Errors
    /// [`Error::AlreadyExists`], [`Error::InvalidName`],
    /// [`Error::InvalidArgument`] for a zero or too large capacity.
    pub fn create(name: &str, capacity: usize) -> Result<Self, Error> {
        Self::create_with(name, capacity, &OpenOptions::default())
    }

    fn capacity_for(capacity: usize) -> Result<u64, Error> {
        if capacity == 0 || capacity as u64 > MAX_CAPACITY {
            return Err(Error::InvalidArgument(format!("queue capacity {capacity} is not in 1..=2^30")));
        }
        Ok((capacity as u64).next_power_of_two())
    }

    /// [`Queue::create`] with options.
    ///
    /// # Errors
    /// As [`Queue::create`].
    pub fn create_with(name: &str, capacity: usize, opts: &OpenOptions) -> Result<Self, Error> {
        Self::create_inner(name, capacity, opts, ObjectKind::Queue, 0)
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
        Self::create_inner(name, capacity, &OpenOptions::default(), ObjectKind::SpscQueue, 0)
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
        Self::create_inner(name, capacity, &OpenOptions::default(), ObjectKind::Queue, JOINABLE)
    }

    /// A [single-producer queue](Queue::create_spsc) that tracks delivery
    /// like [`Queue::create_joinable`]. The count costs the sender one
    /// shared atomic add per message, or per batch with
    /// [`Sender::send_batch`].
    ///
    /// # Errors
    /// As [`Queue::create`].
    pub fn create_spsc_joinable(name: &str, capacity: usize) -> Result<Self, Error> {
        Self::create_inner(name, capacity, &OpenOptions::default(), ObjectKind::SpscQueue, JOINABLE)
    }

    fn create_inner(
        name: &str,
        capacity: usize,
        opts: &OpenOptions,
        kind: ObjectKind,
        flags: u32,
    ) -> Result<Self, Error> {
        let cap = Self::capacity_for(capacity)?;
        let (spec, lay) = spec::<T>(kind, cap, opts.slots())?;
        let slots_at = lay.slots;
        let seg = RawSegment::create(name, &spec, opts, |p| {
            // SAFETY: the data region is zeroed, writable and aligned, and
            // starts with the state.
            let state = unsafe { &*p.cast::<QueueState>() };
            state.ctl.flags.store(flags, Ordering::Relaxed);
            // SAFETY: the layout holds `cap` slots at this offset.
            let slots = unsafe { std::slice::from_raw_parts(p.add(slots_at).cast::<Slot<T>>(), cap as usize) };
            Ring::new(state, slots).init();
        })?;
        Ok(Queue { shared: Arc::new(Shared::new(seg, &lay)) })
    }

    /// Opens the existing queue `name` of `T`, whatever its capacity.
    ///
    /// # Errors
    /// [`Error::NotFound`], [`Error::WrongKind`], [`Error::WrongType`],
    /// [`Error::Corrupt`] for an impossible capacity, and the other checks.
    pub fn open(name: &str) -> Result<Self, Error> {
        Self::open_with(name, &OpenOptions::default())
    }

    /// [`Queue::open`] with options.
    ///
    /// # Errors
    /// As [`Queue::open`].
    pub fn open_with(name: &str, opts: &OpenOptions) -> Result<Self, Error> {
        let wanted = format!("Queue<{}>", std::any::type_name::<T>());
        let mut lay = None;
        let kinds = [ObjectKind::Queue, ObjectKind::SpscQueue];
        let seg = RawSegment::open_sized_kinds(name, opts, &kinds, &wanted, |h: &Header| {
            if !h.capacity.is_power_of_two() || h.capacity > MAX_CAPACITY {
                return Err(Error::Corrupt { name: name.to_owned(), reason: format!("queue capacity {}", h.capacity) });
            }
            let kind = if h.kind == ObjectKind::SpscQueue as u32 { ObjectKind::SpscQueue } else { ObjectKind::Queue };
            let (spec, l) = spec::<T>(kind, h.capacity, h.registry_slots)?;
            lay = Some(l);
            Ok(spec)
        })?;
        let lay = lay.ok_or_else(|| Error::Corrupt { name: name.to_owned(), reason: "no layout".into() })?;
        Ok(Queue { shared: Arc::new(Shared::new(seg, &lay)) })
    }

    /// Opens `name`, or creates it with `capacity`: safe when processes race.
    ///
    /// # Errors
    /// As [`Queue::open`] and [`Queue::create`].
    pub fn open_or_create(name: &str, capacity: usize) -> Result<Self, Error> {
        open_or_create_with(name, || Self::create(name, capacity), || Self::open(name))
    }

    /// The segment name.
    pub fn name(&self) -> &str {
        self.shared.seg.name()
    }

    /// Keeps the name after this (creating) handle is dropped.
    pub fn persist(&self) {
        self.shared.seg.persist();
    }

    /// How many messages the queue holds at most.
    pub fn capacity(&self) -> usize {
        self.shared.capacity
    }

    /// Messages in the queue now (a snapshot; includes ones being written).
    pub fn len(&self) -> usize {
        self.shared.ring().len() as usize
    }

    /// Whether this queue serves one sender and one receiver at a time
    /// (made with [`Queue::create_spsc`]).
    pub fn is_spsc(&self) -> bool {
        self.shared.flavor == Flavor::Spsc
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
        self.shared.join_until(Deadline::Never);
    }

    /// [`Queue::join`], waiting at most `timeout`; `true` if every message
    /// was marked done.
    pub fn join_timeout(&self, timeout: Duration) -> bool {
        self.shared.join_until(Deadline::after(timeout))
    }

    /// Messages sent and not yet marked done (0 for a plain queue).
    pub fn unfinished(&self) -> usize {
        self.shared.state().ctl.unfinished.load(Ordering::Acquire) as usize
    }

    /// A new sending endpoint.
    ///
    /// # Errors
    /// Only for a [single-producer queue](Queue::create_spsc):
    /// [`Error::Busy`] while a live endpoint holds the sending end,
    /// [`Error::Corrupt`] if its indices are impossible.
    pub fn sender(&self) -> Result<Sender<T>, Error> {
        Sender::attach(self.shared.clone(), WaitStrategy::Adaptive)
    }

    /// A new receiving endpoint.
    ///
    /// # Errors
    /// As [`Queue::sender`], for the receiving end.
    pub fn receiver(&self) -> Result<Receiver<T>, Error> {
        Receiver::attach(self.shared.clone(), WaitStrategy::Adaptive)
    }
}

impl<T: Pod> fmt::Debug for Queue<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Queue").field("name", &self.name()).field("capacity", &self.capacity()).finish_non_exhaustive()
    }
}
