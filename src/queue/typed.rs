//! [`Queue<T>`]: a bounded queue of `T: Pod` shared by name, any number of
//! senders and receivers in any processes.

use std::cell::Cell;
use std::fmt;
use std::marker::PhantomData;
use std::ptr::NonNull;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytemuck::Pod;

use super::byte_ring::{End, PeerCheck, Waited, claim_role, release_role, role_gone, role_released, wait_for};
use super::errors::{
    RecvError, RecvTimeoutError, SendError, SendTimeoutError, TaskDoneError, TryRecvError, TrySendError,
};
use super::slot_ring::{EndpointEntry, JOINABLE, MAX_CAPACITY, Put, QueueState, Ring, Slot, Take};
use crate::error::Error;
use crate::primitive::{AtomicU32, Ordering, asym, fence, futex_wait, futex_wake};
use crate::segment::header::{Fingerprint, Header, ObjectKind};
use crate::segment::registry::{Liveness, token_slot};
use crate::segment::{OpenOptions, RawSegment, Spec, open_or_create_with};
use crate::wait::{Deadline, SpinWait, WaitStrategy};

const POLL_MIN: Duration = Duration::from_millis(1);
const POLL_MAX: Duration = Duration::from_millis(16);

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

/// The mapping and pointers into it, shared by a queue's handle and its
/// endpoints in this process.
struct Shared<T> {
    seg: RawSegment,
    state: NonNull<QueueState>,
    endpoints: NonNull<EndpointEntry>,
    n_endpoints: usize,
    slots: NonNull<Slot<T>>,
    capacity: usize,
    /// A single-producer queue ([`ObjectKind::SpscQueue`]).
    spsc: bool,
}

// SAFETY: the pointers point into the mapping owned by `seg`; the state is
// designed for concurrent use from any thread of any process (atomics and
// the slot claim protocol of ring.rs).
unsafe impl<T: Pod> Send for Shared<T> {}
// SAFETY: as above.
unsafe impl<T: Pod> Sync for Shared<T> {}

impl<T: Pod> Shared<T> {
    fn new(seg: RawSegment, lay: &Layout) -> Self {
        let base = seg.data_ptr();
        let h = seg.header();
        let (n_endpoints, capacity) = (h.registry_slots as usize, h.capacity as usize);
        let spsc = h.kind == ObjectKind::SpscQueue as u32;
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
                spsc,
                seg,
            }
        };
        // Claim our endpoint entry: our registry slot is ours alone, so
        // whatever counts a dead previous holder left are reset first.
        if let Some(entry) = shared.endpoints().get(token_slot(shared.seg.token()) as usize) {
            entry.senders.store(0, Ordering::Relaxed);
            entry.receivers.store(0, Ordering::Relaxed);
            entry.token.store(shared.seg.token(), Ordering::Release);
        }
        shared
    }

    fn state(&self) -> &QueueState {
        // SAFETY: points into our mapping, which lives as long as self.
        unsafe { self.state.as_ref() }
    }

    fn endpoints(&self) -> &[EndpointEntry] {
        // SAFETY: n_endpoints entries after the state, inside the mapping.
        unsafe { std::slice::from_raw_parts(self.endpoints.as_ptr(), self.n_endpoints) }
    }

    fn ring(&self) -> Ring<'_, T> {
        // SAFETY: `capacity` slots (a power of two, checked at open) inside
        // the mapping.
        let slots = unsafe { std::slice::from_raw_parts(self.slots.as_ptr(), self.capacity) };
        Ring::new(self.state(), slots)
    }

    fn my_entry(&self) -> Option<&EndpointEntry> {
        self.endpoints().get(token_slot(self.seg.token()) as usize)
    }

    /// Whether some registered endpoint of the kind `count` selects is alive.
    fn any_alive(&self, count: impl Fn(&EndpointEntry) -> &AtomicU32) -> bool {
        self.endpoints().iter().enumerate().any(|(slot, e)| {
            if count(e).load(Ordering::Acquire) == 0 {
                return false;
            }
            let token = e.token.load(Ordering::Acquire);
            token_slot(token) as usize == slot && self.seg.is_alive(token)
        })
    }

    fn senders_gone(&self) -> bool {
        let w = &self.state().waits;
        w.ever_sender.load(Ordering::Acquire) != 0
            && (w.senders.load(Ordering::Acquire) == 0 || !self.any_alive(|e| &e.senders))
    }

    fn receivers_gone(&self, thorough: bool) -> bool {
        let w = &self.state().waits;
        w.ever_receiver.load(Ordering::Acquire) != 0
            && (w.receivers.load(Ordering::Acquire) == 0 || (thorough && !self.any_alive(|e| &e.receivers)))
    }

    fn joinable(&self) -> bool {
        self.state().waits.flags.load(Ordering::Relaxed) & JOINABLE != 0
    }

    /// Marks one message finished; wakes joiners when none is left.
    fn finish_one(&self) -> bool {
        let w = &self.state().waits;
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
        let w = &self.state().waits;
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

    /// Single-producer queues: the role word and `ever` flag of `end`.
    fn role(&self, end: End) -> (&AtomicU32, &AtomicU32) {
        let w = &self.state().waits;
        match end {
            End::Sender => (&w.sender_role, &w.ever_sender),
            End::Receiver => (&w.receiver_role, &w.ever_receiver),
        }
    }

    /// Registers a new endpoint of `end`. On a single-producer queue it
    /// takes the end and returns the position it resumes at; otherwise it
    /// counts the endpoint (in the queue and in this handle's entry).
    fn attach(&self, end: End) -> Result<Option<u64>, Error> {
        if self.spsc {
            self.claim(end)?;
            let ring = self.ring();
            return Ok(Some(match end {
                End::Sender => ring.resume_put(),
                End::Receiver => ring.resume_take(),
            }));
        }
        let w = &self.state().waits;
        let (count, ever) = match end {
            End::Sender => (&w.senders, &w.ever_sender),
            End::Receiver => (&w.receivers, &w.ever_receiver),
        };
        if let Some(e) = self.my_entry() {
            match end {
                End::Sender => e.senders.fetch_add(1, Ordering::AcqRel),
                End::Receiver => e.receivers.fetch_add(1, Ordering::AcqRel),
            };
        }
        count.fetch_add(1, Ordering::AcqRel);
        ever.store(1, Ordering::Release);
        Ok(None)
    }

    /// Single-producer queues: takes `end` for this handle.
    fn claim(&self, end: End) -> Result<(), Error> {
        asym::register();
        let (word, ever) = self.role(end);
        claim_role(word, ever, self.seg.token(), &self.seg)
            .map_err(|()| Error::Busy { name: self.seg.name().to_owned(), end: end.name() })
    }

    /// Single-producer queues: after moving an index with a Release store,
    /// wakes `end` if it sleeps. The barrier is the asymmetric one: free
    /// here, paid by the side about to sleep.
    #[inline]
    fn wake(&self, end: End) {
        let w = &self.state().waits;
        let (seq, sleepers) = match end {
            End::Receiver => (&w.items_seq, &w.recv_sleepers),
            End::Sender => (&w.space_seq, &w.send_sleepers),
        };
        asym::hot();
        if sleepers.load(Ordering::Relaxed) != 0 {
            seq.fetch_add(1, Ordering::Release);
            futex_wake(seq, u32::MAX);
        }
    }

    /// Single-producer queues: waits, as `end`, until `ready()` holds, the
    /// deadline passes, or the other end is gone. A `try_` call (deadline
    /// `Now`) checks the other end's liveness (a syscall) once in
    /// [`PEER_CHECK_EVERY`](super::byte_ring::PEER_CHECK_EVERY) calls; a released end is seen at once.
    fn wait(
        &self,
        end: End,
        strategy: WaitStrategy,
        deadline: Deadline,
        peer_check: &PeerCheck,
        mut ready: impl FnMut() -> bool,
    ) -> Waited {
        let peer = match end {
            End::Sender => End::Receiver,
            End::Receiver => End::Sender,
        };
        let (word, ever) = self.role(peer);
        if deadline == Deadline::Now {
            let gone = peer_check.gone(word, ever, &self.seg);
            return if ready() {
                Waited::Ready
            } else if gone {
                Waited::PeerGone
            } else {
                Waited::TimedOut
            };
        }
        let w = &self.state().waits;
        let (seq_word, sleepers) = match end {
            End::Receiver => (&w.items_seq, &w.recv_sleepers),
            End::Sender => (&w.space_seq, &w.send_sleepers),
        };
        wait_for(seq_word, sleepers, || role_gone(word, ever, &self.seg), strategy, deadline, ready)
    }

    /// After a publish: wake a receiver if any sleeps.
    fn notify_receivers(&self, all: bool) {
        let w = &self.state().waits;
        // Pairs with the sleeper's SeqCst increment and re-check: either it
        // sees our message, or we see it sleeping.
        fence(Ordering::SeqCst);
        if w.recv_sleepers.load(Ordering::Relaxed) != 0 {
            w.items_seq.fetch_add(1, Ordering::Release);
            futex_wake(&w.items_seq, if all { u32::MAX } else { 1 });
        }
    }

    /// After freeing a slot: wake a sender if any sleeps.
    fn notify_senders(&self, all: bool) {
        let w = &self.state().waits;
        fence(Ordering::SeqCst);
        if w.send_sleepers.load(Ordering::Relaxed) != 0 {
            w.space_seq.fetch_add(1, Ordering::Release);
            futex_wake(&w.space_seq, if all { u32::MAX } else { 1 });
        }
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
            state.waits.flags.store(flags, Ordering::Relaxed);
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
        self.shared.spsc
    }

    /// Whether the queue looks empty now.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
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
        self.shared.state().waits.unfinished.load(Ordering::Acquire) as usize
    }

    /// A new sending endpoint.
    ///
    /// # Errors
    /// Only for a [single-producer queue](Queue::create_spsc):
    /// [`Error::Busy`] while a live endpoint holds the sending end,
    /// [`Error::Corrupt`] if its indices are impossible.
    pub fn sender(&self) -> Result<Sender<T>, Error> {
        Sender::attach(self.shared.clone())
    }

    /// A new receiving endpoint.
    ///
    /// # Errors
    /// As [`Queue::sender`], for the receiving end.
    pub fn receiver(&self) -> Result<Receiver<T>, Error> {
        Receiver::attach(self.shared.clone())
    }
}

impl<T: Pod> fmt::Debug for Queue<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Queue").field("name", &self.name()).field("capacity", &self.capacity()).finish_non_exhaustive()
    }
}

/// The sending end of a [`Queue`]. `Send`, not `Sync`-shared for sending:
/// [`try_clone`](Sender::try_clone) it for another thread.
pub struct Sender<T: Pod> {
    shared: Arc<Shared<T>>,
    strategy: WaitStrategy,
    /// Single-producer queues: where this endpoint publishes next.
    spsc: Option<SendCursor>,
    /// How often a `try_send` on a full queue checks the receivers'
    /// liveness.
    peer: PeerCheck,
    _not_sync: PhantomData<std::cell::Cell<()>>,
}

impl<T: Pod> Sender<T> {
    fn attach(shared: Arc<Shared<T>>) -> Result<Self, Error> {
        let spsc = shared.attach(End::Sender)?.map(|next| SendCursor {
            next: Cell::new(next),
            seen_head: Cell::new(shared.ring().index(false).load(Ordering::Acquire)),
        });
        Ok(Sender {
            shared,
            strategy: WaitStrategy::Adaptive,
            spsc,
            peer: PeerCheck::default(),
            _not_sync: PhantomData,
        })
    }

    /// Sets how this endpoint waits when the queue is full.
    pub fn with_wait_strategy(mut self, strategy: WaitStrategy) -> Self {
        self.strategy = strategy;
        self
    }

    /// Another sending endpoint on the same queue, with the same wait
    /// strategy.
    ///
    /// # Errors
    /// [`Error::Busy`] on a [single-producer queue](Queue::create_spsc),
    /// whose sending end this endpoint holds.
    pub fn try_clone(&self) -> Result<Self, Error> {
        Ok(Sender::attach(self.shared.clone())?.with_wait_strategy(self.strategy))
    }

    /// Sends every value of `values` in order, waiting for room as needed.
    /// On a [single-producer queue](Queue::create_spsc) the index update and
    /// the wake-up check are made once per batch (or per run that fits)
    /// instead of once per message.
    ///
    /// # Errors
    /// [`SendError::Disconnected`] with the number of values sent before
    /// every receiver was gone.
    pub fn send_batch(&self, values: &[T]) -> Result<(), SendError<usize>> {
        let Some(cur) = &self.spsc else {
            for (i, &v) in values.iter().enumerate() {
                self.send(v).map_err(|_| SendError::Disconnected(i))?;
            }
            return Ok(());
        };
        let sh = &*self.shared;
        if sh.joinable() {
            sh.state().waits.unfinished.fetch_add(values.len() as u32, Ordering::AcqRel);
        }
        let ring = sh.ring();
        for (i, &v) in values.iter().enumerate() {
            if cur.put(&ring, v) {
                continue;
            }
            // Full: let the receiver have what is published, then wait.
            cur.publish(&ring, sh);
            if self.put(v, Deadline::Never).is_err() {
                if sh.joinable() {
                    for _ in i..values.len() {
                        sh.finish_one();
                    }
                }
                return Err(SendError::Disconnected(i));
            }
        }
        cur.publish(&ring, sh);
        Ok(())
    }

    /// Sends `value`, waiting while the queue is full.
    ///
    /// # Errors
    /// [`SendError::Disconnected`] with the value if every receiver is gone.
    pub fn send(&self, value: T) -> Result<(), SendError<T>> {
        self.send_until(value, Deadline::Never).map_err(|e| SendError::Disconnected(e.into_inner()))
    }

    /// Sends `value` if there is room now.
    ///
    /// # Errors
    /// [`TrySendError::Full`] or [`TrySendError::Disconnected`], with the value.
    pub fn try_send(&self, value: T) -> Result<(), TrySendError<T>> {
        self.send_until(value, Deadline::Now).map_err(|e| match e {
            SendTimeoutError::Timeout(v) => TrySendError::Full(v),
            SendTimeoutError::Disconnected(v) => TrySendError::Disconnected(v),
        })
    }

    /// Sends `value`, waiting at most `timeout` for room.
    ///
    /// # Errors
    /// [`SendTimeoutError::Timeout`] or `Disconnected`, with the value.
    pub fn send_timeout(&self, value: T, timeout: Duration) -> Result<(), SendTimeoutError<T>> {
        self.send_until(value, Deadline::after(timeout))
    }

    /// Sends `value`, waiting until `deadline` at most for room.
    ///
    /// # Errors
    /// [`SendTimeoutError::Timeout`] or `Disconnected`, with the value.
    pub fn send_deadline(&self, value: T, deadline: Instant) -> Result<(), SendTimeoutError<T>> {
        self.send_until(value, Deadline::At(deadline))
    }

    fn send_until(&self, value: T, deadline: Deadline) -> Result<(), SendTimeoutError<T>> {
        let sh = &*self.shared;
        if !sh.joinable() {
            return self.put(value, deadline);
        }
        // Counted before it can be received, so task_done never runs ahead.
        sh.state().waits.unfinished.fetch_add(1, Ordering::AcqRel);
        let sent = self.put(value, deadline);
        if sent.is_err() {
            sh.finish_one();
        }
        sent
    }

    fn put(&self, value: T, deadline: Deadline) -> Result<(), SendTimeoutError<T>> {
        let sh = &*self.shared;
        if let Some(cur) = &self.spsc {
            return self.put_exclusive(cur, value, deadline);
        }
        if sh.receivers_gone(false) {
            return Err(SendTimeoutError::Disconnected(value));
        }
        let ring = sh.ring();
        let me = sh.seg.token();
        let mut spin = SpinWait::new(if deadline == Deadline::Now { WaitStrategy::Park } else { self.strategy });
        let mut poll = POLL_MIN;
        loop {
            let reading = match ring.try_put(value, me) {
                Put::Done => {
                    sh.notify_receivers(false);
                    return Ok(());
                }
                Put::Full => None,
                Put::Reading(token) => Some(token),
            };
            if deadline == Deadline::Now && !self.peer.due() {
                // A poll: no liveness syscall this time.
                return Err(SendTimeoutError::Timeout(value));
            }
            if spin.spin() {
                continue;
            }
            if let Some(token) = reading.filter(|&t| !sh.seg.is_alive(t)) {
                if ring.free_dead_reader(token) {
                    sh.notify_senders(true);
                }
                continue;
            }
            if sh.receivers_gone(true) {
                return Err(SendTimeoutError::Disconnected(value));
            }
            if !spin.parks() {
                if deadline.sleep_for(poll).is_none() {
                    return Err(SendTimeoutError::Timeout(value));
                }
                continue;
            }
            let w = &sh.state().waits;
            w.send_sleepers.fetch_add(1, Ordering::SeqCst);
            // Pairs with the fence in notify_senders (see recv).
            fence(Ordering::SeqCst);
            let seq = w.space_seq.load(Ordering::SeqCst);
            if let Put::Done = ring.try_put(value, me) {
                w.send_sleepers.fetch_sub(1, Ordering::SeqCst);
                sh.notify_receivers(false);
                return Ok(());
            }
            let Some(nap) = deadline.sleep_for(poll) else {
                w.send_sleepers.fetch_sub(1, Ordering::SeqCst);
                return Err(SendTimeoutError::Timeout(value));
            };
            futex_wait(&w.space_seq, seq, Some(nap));
            w.send_sleepers.fetch_sub(1, Ordering::SeqCst);
            poll = (poll * 2).min(POLL_MAX);
        }
    }
}

impl<T: Pod> Sender<T> {
    /// Single-producer queues: publishes at the next position, with no
    /// read-modify-write.
    fn put_exclusive(&self, cur: &SendCursor, value: T, deadline: Deadline) -> Result<(), SendTimeoutError<T>> {
        let sh = &*self.shared;
        let (word, ever) = sh.role(End::Receiver);
        if role_released(word, ever) {
            return Err(SendTimeoutError::Disconnected(value));
        }
        let ring = sh.ring();
        let strategy = if deadline == Deadline::Now { WaitStrategy::Park } else { self.strategy };
        loop {
            if cur.put(&ring, value) {
                cur.publish(&ring, sh);
                return Ok(());
            }
            let pos = cur.next.get();
            match sh.wait(End::Sender, strategy, deadline, &self.peer, || ring.room_at(pos)) {
                Waited::Ready => {}
                Waited::TimedOut => return Err(SendTimeoutError::Timeout(value)),
                Waited::PeerGone => return Err(SendTimeoutError::Disconnected(value)),
            }
        }
    }
}

/// Single-producer queues: where a sender publishes next, and the
/// receiver's head as it last read it.
struct SendCursor {
    next: Cell<u64>,
    seen_head: Cell<u64>,
}

impl SendCursor {
    /// Publishes `value` at the next position if there is room.
    #[inline]
    fn put<T: Copy>(&self, ring: &Ring<'_, T>, value: T) -> bool {
        let pos = self.next.get();
        let mut seen = self.seen_head.get();
        let done = ring.put_at(pos, value, &mut seen);
        self.seen_head.set(seen);
        if done {
            self.next.set(pos.wrapping_add(1));
        }
        done
    }

    /// Stores the tail up to here (Release: `len()` and a successor's
    /// `resume_put` see the messages) and wakes the receiver if it sleeps.
    #[inline]
    fn publish<T: Pod>(&self, ring: &Ring<'_, T>, sh: &Shared<T>) {
        ring.index(true).store(self.next.get(), Ordering::Release);
        sh.wake(End::Receiver);
    }
}

impl<T: Pod> Drop for Sender<T> {
    fn drop(&mut self) {
        if self.spsc.is_some() {
            release_role(&self.shared.state().waits.sender_role, self.shared.seg.token());
            self.shared.notify_receivers(true);
            return;
        }
        if let Some(e) = self.shared.my_entry() {
            e.senders.fetch_sub(1, Ordering::AcqRel);
        }
        self.shared.state().waits.senders.fetch_sub(1, Ordering::AcqRel);
        // Receivers asleep on an empty queue may now be disconnected.
        self.shared.notify_receivers(true);
    }
}

impl<T: Pod> fmt::Debug for Sender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sender").field("queue", &self.shared.seg.name()).finish_non_exhaustive()
    }
}

/// The receiving end of a [`Queue`]. [`try_clone`](Receiver::try_clone) it
/// for another thread.
pub struct Receiver<T: Pod> {
    shared: Arc<Shared<T>>,
    strategy: WaitStrategy,
    /// Single-producer queues: the next position to take from.
    spsc: Option<Cell<u64>>,
    /// How often a `try_recv` on an empty queue checks the senders'
    /// liveness.
    peer: PeerCheck,
    _not_sync: PhantomData<std::cell::Cell<()>>,
}

impl<T: Pod> Receiver<T> {
    fn attach(shared: Arc<Shared<T>>) -> Result<Self, Error> {
        let spsc = shared.attach(End::Receiver)?.map(Cell::new);
        Ok(Receiver {
            shared,
            strategy: WaitStrategy::Adaptive,
            spsc,
            peer: PeerCheck::default(),
            _not_sync: PhantomData,
        })
    }

    /// Sets how this endpoint waits when the queue is empty.
    pub fn with_wait_strategy(mut self, strategy: WaitStrategy) -> Self {
        self.strategy = strategy;
        self
    }

    /// Another receiving endpoint on the same queue, with the same wait
    /// strategy.
    ///
    /// # Errors
    /// [`Error::Busy`] on a [single-producer queue](Queue::create_spsc).
    pub fn try_clone(&self) -> Result<Self, Error> {
        Ok(Receiver::attach(self.shared.clone())?.with_wait_strategy(self.strategy))
    }

    /// Waits for a message, then moves the messages there (up to
    /// `buf.len()`) into `buf`; returns how many. On a
    /// [single-producer queue](Queue::create_spsc) the index update and the
    /// wake-up check are made once for them all.
    ///
    /// # Errors
    /// [`RecvError`] if the queue is empty and every sender is gone.
    pub fn recv_batch(&self, buf: &mut [T]) -> Result<usize, RecvError> {
        if buf.is_empty() {
            return Ok(0);
        }
        let Some(next) = &self.spsc else {
            buf[0] = self.recv()?;
            let mut n = 1;
            while n < buf.len() {
                match self.try_recv() {
                    Ok(v) => buf[n] = v,
                    Err(_) => break,
                }
                n += 1;
            }
            return Ok(n);
        };
        let sh = &*self.shared;
        let ring = sh.ring();
        loop {
            let mut n = 0;
            while n < buf.len() {
                let pos = next.get();
                let Some(v) = ring.take_at(pos) else { break };
                buf[n] = v;
                next.set(pos.wrapping_add(1));
                n += 1;
            }
            if n > 0 {
                ring.consumed(next.get());
                sh.wake(End::Sender);
                return Ok(n);
            }
            let pos = next.get();
            match sh.wait(End::Receiver, self.strategy, Deadline::Never, &self.peer, || ring.ready_at(pos)) {
                Waited::Ready | Waited::TimedOut => {}
                Waited::PeerGone => return Err(RecvError),
            }
        }
    }

    /// Receives a message, waiting while the queue is empty.
    ///
    /// # Errors
    /// [`RecvError`] if the queue is empty and every sender is gone.
    pub fn recv(&self) -> Result<T, RecvError> {
        self.recv_until(Deadline::Never).map_err(|_| RecvError)
    }

    /// Receives a message if one is there now. On an empty queue this is
    /// cheap: senders that were dropped give `Disconnected` at once, senders
    /// that died on one call in 1024 (that check is a syscall).
    ///
    /// # Errors
    /// [`TryRecvError::Empty`], or `Disconnected` if every sender is gone.
    pub fn try_recv(&self) -> Result<T, TryRecvError> {
        self.recv_until(Deadline::Now).map_err(|e| match e {
            RecvTimeoutError::Timeout => TryRecvError::Empty,
            RecvTimeoutError::Disconnected => TryRecvError::Disconnected,
        })
    }

    /// Receives a message, waiting at most `timeout`.
    ///
    /// # Errors
    /// [`RecvTimeoutError::Timeout`], or `Disconnected`.
    pub fn recv_timeout(&self, timeout: Duration) -> Result<T, RecvTimeoutError> {
        self.recv_until(Deadline::after(timeout))
    }

    /// Receives a message, waiting until `deadline` at most.
    ///
    /// # Errors
    /// [`RecvTimeoutError::Timeout`], or `Disconnected`.
    pub fn recv_deadline(&self, deadline: Instant) -> Result<T, RecvTimeoutError> {
        self.recv_until(Deadline::At(deadline))
    }

    /// Marks one received message as finished (joinable queues).
    ///
    /// # Errors
    /// [`TaskDoneError`] if more messages were marked done than were sent,
    /// or the queue is not joinable.
    pub fn task_done(&self) -> Result<(), TaskDoneError> {
        if self.shared.joinable() && self.shared.finish_one() { Ok(()) } else { Err(TaskDoneError) }
    }

    /// One receive attempt; removes skipped dead claims on the way.
    fn take(&self, ring: &Ring<'_, T>, me: u32) -> Take<T> {
        let sh = &*self.shared;
        loop {
            match ring.try_take(me) {
                Take::Skipped => {
                    // A dead sender's claim: it was counted as unfinished,
                    // and it held a slot that is free now.
                    if sh.joinable() {
                        sh.finish_one();
                    }
                    sh.notify_senders(true);
                    sh.notify_receivers(true);
                }
                t @ Take::Got(_) => {
                    sh.notify_senders(false);
                    return t;
                }
                t => return t,
            }
        }
    }

    fn recv_until(&self, deadline: Deadline) -> Result<T, RecvTimeoutError> {
        let sh = &*self.shared;
        if let Some(next) = &self.spsc {
            let ring = sh.ring();
            let strategy = if deadline == Deadline::Now { WaitStrategy::Park } else { self.strategy };
            loop {
                let pos = next.get();
                if let Some(v) = ring.take_at(pos) {
                    next.set(pos.wrapping_add(1));
                    ring.consumed(pos.wrapping_add(1));
                    sh.wake(End::Sender);
                    return Ok(v);
                }
                match sh.wait(End::Receiver, strategy, deadline, &self.peer, || ring.ready_at(pos)) {
                    Waited::Ready => {}
                    Waited::TimedOut => return Err(RecvTimeoutError::Timeout),
                    Waited::PeerGone => return Err(RecvTimeoutError::Disconnected),
                }
            }
        }
        let ring = sh.ring();
        let me = sh.seg.token();
        let mut spin = SpinWait::new(if deadline == Deadline::Now { WaitStrategy::Park } else { self.strategy });
        let mut poll = POLL_MIN;
        loop {
            let writer = match self.take(&ring, me) {
                Take::Got(v) => return Ok(v),
                Take::InFlight(token) => Some(token),
                Take::Empty | Take::Skipped => None,
            };
            if deadline == Deadline::Now && !self.peer.due() {
                // A poll: no liveness syscall this time; senders that were
                // dropped are still seen at once.
                let w = &sh.state().waits;
                let dropped = w.ever_sender.load(Ordering::Acquire) != 0 && w.senders.load(Ordering::Acquire) == 0;
                return match self.take(&ring, me) {
                    Take::Got(v) => Ok(v),
                    _ if dropped && writer.is_none() => Err(RecvTimeoutError::Disconnected),
                    _ => Err(RecvTimeoutError::Timeout),
                };
            }
            if spin.spin() {
                continue;
            }
            if let Some(token) = writer.filter(|&t| !sh.seg.is_alive(t)) {
                ring.skip_dead_writer(token);
                continue;
            }
            if writer.is_none() && sh.senders_gone() {
                // A last message may have landed since the check above.
                return match self.take(&ring, me) {
                    Take::Got(v) => Ok(v),
                    _ => Err(RecvTimeoutError::Disconnected),
                };
            }
            if !spin.parks() {
                if deadline.sleep_for(poll).is_none() {
                    return Err(RecvTimeoutError::Timeout);
                }
                continue;
            }
            let w = &sh.state().waits;
            w.recv_sleepers.fetch_add(1, Ordering::SeqCst);
            // Pairs with the fence in notify_receivers: either the sender
            // sees us counted, or we see its message below.
            fence(Ordering::SeqCst);
            let seq = w.items_seq.load(Ordering::SeqCst);
            if let Take::Got(v) = self.take(&ring, me) {
                w.recv_sleepers.fetch_sub(1, Ordering::SeqCst);
                return Ok(v);
            }
            let Some(nap) = deadline.sleep_for(poll) else {
                w.recv_sleepers.fetch_sub(1, Ordering::SeqCst);
                return Err(RecvTimeoutError::Timeout);
            };
            futex_wait(&w.items_seq, seq, Some(nap));
            w.recv_sleepers.fetch_sub(1, Ordering::SeqCst);
            poll = (poll * 2).min(POLL_MAX);
        }
    }
}

impl<T: Pod> Drop for Receiver<T> {
    fn drop(&mut self) {
        if self.spsc.is_some() {
            release_role(&self.shared.state().waits.receiver_role, self.shared.seg.token());
            self.shared.notify_senders(true);
            return;
        }
        if let Some(e) = self.shared.my_entry() {
            e.receivers.fetch_sub(1, Ordering::AcqRel);
        }
        self.shared.state().waits.receivers.fetch_sub(1, Ordering::AcqRel);
        self.shared.notify_senders(true);
    }
}

impl<T: Pod> fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Receiver").field("queue", &self.shared.seg.name()).finish_non_exhaustive()
    }
}
