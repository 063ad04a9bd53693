//! The single-producer flavour of [`Queue`](crate::Queue)
//! ([`Queue::create_spsc`](crate::Queue::create_spsc)): one sender and one
//! receiver at a time, on the same ring of slots as the multi-producer
//! flavour, with no read-modify-write and no fence on the fast path.
//!
//! Each end is a role word (see `endpoint.rs`) that one endpoint holds. The
//! holder of the sending end owns a [`SendCursor`], the holder of the
//! receiving end a [`RecvCursor`]: only they touch the slots (through the
//! ring's `unsafe` single-producer accessors), so the exclusivity those
//! accessors need is the cursor's existence. The side about to sleep pays
//! for the wake-up handshake (the asymmetric barrier of
//! [`asym`](crate::primitive::asym)).

use std::cell::Cell;
use std::sync::Arc;

use crate::ShmType;

use super::endpoint::{End, PeerCheck, role_gone, role_released};
use super::errors::{RecvTimeoutError, SendError, SendTimeoutError};
use super::slot_ring::{Message, ReadValue, Reader, Ring, Typed};
use super::typed::{Format, Shared};
use super::waits::{Waited, wait_for};
use crate::error::Error;
use crate::primitive::{Ordering, asym};
use crate::segment::fork;
use crate::wait::{Deadline, WaitStrategy};

/// The sending endpoint of a single-producer queue: holds the sending end
/// while it lives.
pub(super) struct Sender<F: Format> {
    pub(super) shared: Arc<Shared<F>>,
    pub(super) strategy: WaitStrategy,
    cursor: SendCursor,
    /// The fork generation the end was taken in: a copy in a `fork()`ed
    /// child must not drive it (see `endpoint.rs`).
    born: u32,
    /// How often a `try_send` on a full queue checks the receiver's
    /// liveness.
    peer: PeerCheck,
}

impl<F: Format> Sender<F> {
    /// Takes the sending end of `shared`'s queue.
    ///
    /// # Errors
    /// [`Error::Busy`] while a live endpoint holds it.
    pub(super) fn attach(shared: Arc<Shared<F>>, strategy: WaitStrategy) -> Result<Self, Error> {
        shared.claim(End::Sender)?;
        let ring = shared.ring();
        // We hold the sending end from here until drop: the cursor is the
        // capability to write slots.
        let cursor = SendCursor {
            next: Cell::new(ring.resume_put()),
            seen_head: Cell::new(ring.head().load(Ordering::Acquire)),
        };
        Ok(Sender { shared, strategy, cursor, peer: PeerCheck::default(), born: fork::generation() })
    }

    /// Publishes at the next position, with no read-modify-write, waiting
    /// per `deadline` while the queue is full. The first attempt is inlined
    /// into the caller and the wait is not: a send and receive of 8 bytes
    /// in one thread took 7.1 ns through calls, 4.0 inlined, and streaming
    /// between two processes 125 -> 183 M messages/s.
    #[inline(always)]
    pub(super) fn put<M: Message<F>>(&self, value: M, deadline: Deadline) -> Result<(), SendTimeoutError<M>> {
        let sh = &*self.shared;
        let (word, ever) = sh.role(End::Receiver);
        if role_released(word, ever) || fork::forked_since(self.born) {
            return Err(SendTimeoutError::Disconnected(value));
        }
        let ring = sh.ring();
        if self.cursor.put(&ring, value) {
            self.cursor.publish(&ring, sh);
            return Ok(());
        }
        self.put_waiting(value, deadline)
    }

    /// [`put`](Self::put) once the queue was full at the first attempt.
    #[inline(never)]
    fn put_waiting<M: Message<F>>(&self, value: M, deadline: Deadline) -> Result<(), SendTimeoutError<M>> {
        let sh = &*self.shared;
        let cur = &self.cursor;
        let ring = sh.ring();
        let strategy = if deadline == Deadline::Now { WaitStrategy::Park } else { self.strategy };
        // The caller has just found no room: wait first, then try.
        loop {
            let pos = cur.next.get();
            match sh.wait(End::Sender, strategy, deadline, &self.peer, || ring.room_at(pos)) {
                Waited::Ready => {}
                Waited::TimedOut => return Err(SendTimeoutError::Timeout(value)),
                Waited::PeerGone => return Err(SendTimeoutError::Disconnected(value)),
            }
            if cur.put(&ring, value) {
                cur.publish(&ring, sh);
                return Ok(());
            }
        }
    }
}

/// Batches, for a `Queue<T>`.
impl<T: ShmType> Sender<Typed<T>> {
    /// Sends every value of `values` in order, waiting per `deadline` for
    /// room as needed; the index update and the wake-up check are made once
    /// per batch (or per run that fits). How many were sent (fewer than
    /// `values.len()` only if the time ran out).
    pub(super) fn send_batch_until(&self, values: &[T], deadline: Deadline) -> Result<usize, SendError<usize>> {
        let sh = &*self.shared;
        let cur = &self.cursor;
        let (word, ever) = sh.role(End::Receiver);
        if role_released(word, ever) || fork::forked_since(self.born) {
            // As `put`: a receiver that let go is seen at once, once a batch.
            return Err(SendError::Disconnected(0));
        }
        if sh.joinable() {
            sh.state().ctl.unfinished.fetch_add(values.len() as u32, Ordering::AcqRel);
        }
        let ring = sh.ring();
        for (i, &v) in values.iter().enumerate() {
            if cur.put(&ring, v) {
                continue;
            }
            // Full: let the receiver have what is published, then wait.
            cur.publish(&ring, sh);
            if let Err(e) = self.put(v, deadline) {
                if sh.joinable() {
                    for _ in i..values.len() {
                        sh.finish_one();
                    }
                }
                return match e {
                    SendTimeoutError::Timeout(_) => Ok(i),
                    SendTimeoutError::Disconnected(_) => Err(SendError::Disconnected(i)),
                };
            }
        }
        cur.publish(&ring, sh);
        Ok(values.len())
    }
}

impl<F: Format> Drop for Sender<F> {
    fn drop(&mut self) {
        self.shared.release(End::Sender);
    }
}

/// Where the holder of the sending end publishes next, and the receiver's
/// head as it last read it. Made only by [`Sender::attach`] once the end
/// is held: the capability to write the ring's slots.
struct SendCursor {
    next: Cell<u64>,
    seen_head: Cell<u64>,
}

impl SendCursor {
    /// Publishes `value` at the next position if there is room.
    #[inline]
    fn put<F: Format, M: Message<F>>(&self, ring: &Ring<'_, F>, value: M) -> bool {
        let pos = self.next.get();
        let mut seen = self.seen_head.get();
        // SAFETY: this cursor exists only while its endpoint holds the
        // sending end (see `Sender::attach`): we are the ring's only
        // producer, and `seen` came from its head.
        let done = unsafe { ring.put_at(pos, value, &mut seen) };
        self.seen_head.set(seen);
        if done {
            self.next.set(pos.wrapping_add(1));
        }
        done
    }

    /// Stores the tail up to here (Release: `len()` and a successor's
    /// `resume_put` see the messages) and wakes the receiver if it sleeps.
    #[inline]
    fn publish<F: Format>(&self, ring: &Ring<'_, F>, sh: &Shared<F>) {
        ring.tail().store(self.next.get(), Ordering::Release);
        sh.wake(End::Receiver);
    }
}

/// The receiving endpoint of a single-producer queue: holds the receiving
/// end while it lives.
pub(super) struct Receiver<F: Format> {
    pub(super) shared: Arc<Shared<F>>,
    pub(super) strategy: WaitStrategy,
    cursor: RecvCursor,
    /// As the sender's.
    born: u32,
    /// How often a `try_recv` on an empty queue checks the sender's
    /// liveness.
    peer: PeerCheck,
}

impl<F: Format> Receiver<F> {
    /// Takes the receiving end of `shared`'s queue.
    ///
    /// # Errors
    /// [`Error::Busy`] while a live endpoint holds it.
    pub(super) fn attach(shared: Arc<Shared<F>>, strategy: WaitStrategy) -> Result<Self, Error> {
        shared.claim(End::Receiver)?;
        // We hold the receiving end from here until drop: the cursor is the
        // capability to read slots and free them.
        let cursor = RecvCursor { next: Cell::new(shared.ring().resume_take()) };
        Ok(Receiver { shared, strategy, cursor, peer: PeerCheck::default(), born: fork::generation() })
    }

    /// Receives a message read by `reader`, waiting per `deadline` while
    /// the queue is empty. The first attempt is inlined into the caller, as
    /// [`Sender::put`]'s, and the wait is not.
    #[inline(always)]
    pub(super) fn recv_until<R: Reader<F>>(
        &self,
        mut reader: R,
        deadline: Deadline,
    ) -> Result<R::Out, RecvTimeoutError> {
        // A copy of the end in a forked child never drives it.
        if fork::forked_since(self.born) {
            return Err(RecvTimeoutError::Disconnected);
        }
        let sh = &*self.shared;
        let ring = sh.ring();
        if let Some(v) = self.cursor.take(&ring, &mut reader) {
            self.cursor.release(&ring);
            sh.wake(End::Sender);
            return Ok(v);
        }
        self.recv_waiting(reader, deadline)
    }

    /// [`recv_until`](Self::recv_until) once the queue was empty at the
    /// first attempt.
    #[inline(never)]
    fn recv_waiting<R: Reader<F>>(&self, mut reader: R, deadline: Deadline) -> Result<R::Out, RecvTimeoutError> {
        let sh = &*self.shared;
        let cur = &self.cursor;
        let ring = sh.ring();
        let strategy = if deadline == Deadline::Now { WaitStrategy::Park } else { self.strategy };
        // The caller has just found nothing: wait first, then take.
        loop {
            let pos = cur.next.get();
            match sh.wait(End::Receiver, strategy, deadline, &self.peer, || ring.ready_at(pos)) {
                Waited::Ready => {}
                Waited::TimedOut => return Err(RecvTimeoutError::Timeout),
                Waited::PeerGone => return Err(RecvTimeoutError::Disconnected),
            }
            if let Some(v) = cur.take(&ring, &mut reader) {
                cur.release(&ring);
                sh.wake(End::Sender);
                return Ok(v);
            }
        }
    }
}

/// Batches, for a `Queue<T>`.
impl<T: ShmType> Receiver<Typed<T>> {
    /// Waits per `deadline` for a message, then moves the messages there
    /// (up to `buf.len()`) into `buf`, freeing them with one index update;
    /// returns how many. `buf` is not empty.
    pub(super) fn recv_batch_until(&self, buf: &mut [T], deadline: Deadline) -> Result<usize, RecvTimeoutError> {
        let sh = &*self.shared;
        let cur = &self.cursor;
        let ring = sh.ring();
        let strategy = if deadline == Deadline::Now { WaitStrategy::Park } else { self.strategy };
        if fork::forked_since(self.born) {
            return Err(RecvTimeoutError::Disconnected);
        }
        loop {
            let mut n = 0;
            while n < buf.len() {
                let Some(v) = cur.take(&ring, &mut ReadValue) else { break };
                buf[n] = v;
                n += 1;
            }
            if n > 0 {
                cur.release(&ring);
                sh.wake(End::Sender);
                return Ok(n);
            }
            let pos = cur.next.get();
            match sh.wait(End::Receiver, strategy, deadline, &self.peer, || ring.ready_at(pos)) {
                Waited::Ready => {}
                Waited::TimedOut => return Err(RecvTimeoutError::Timeout),
                Waited::PeerGone => return Err(RecvTimeoutError::Disconnected),
            }
        }
    }
}

impl<F: Format> Drop for Receiver<F> {
    fn drop(&mut self) {
        self.shared.release(End::Receiver);
    }
}

/// The next position the holder of the receiving end takes from. Made only
/// by [`Receiver::attach`] once the end is held: the capability to read
/// the ring's slots and free them.
struct RecvCursor {
    next: Cell<u64>,
}

impl RecvCursor {
    /// The message at the next position if it is published; moves past it
    /// (the slot stays taken until [`release`](RecvCursor::release)).
    #[inline]
    fn take<F: Format, R: Reader<F>>(&self, ring: &Ring<'_, F>, reader: &mut R) -> Option<R::Out> {
        let pos = self.next.get();
        // SAFETY: this cursor exists only while its endpoint holds the
        // receiving end (see `Receiver::attach`): we are the ring's only
        // consumer.
        let v = unsafe { ring.take_at(pos, reader) }?;
        self.next.set(pos.wrapping_add(1));
        Some(v)
    }

    /// Publishes that every message before the next position was taken.
    #[inline]
    fn release<F: Format>(&self, ring: &Ring<'_, F>) {
        // SAFETY: as in `take`; the messages before `next` were read.
        unsafe { ring.consumed(self.next.get()) };
    }
}

/// Sleeping and waking the two ends of a single-producer queue.
impl<F: Format> Shared<F> {
    /// After moving an index with a Release store, wakes `end` if it
    /// sleeps. The barrier is the asymmetric one: free here, paid by the
    /// side about to sleep.
    #[inline]
    fn wake(&self, end: End) {
        asym::hot();
        self.state().ctl.waits.wake_sleepers(end, true);
    }

    /// Waits, as `end`, until `ready()` holds, the deadline passes, or the
    /// other end is gone. A `try_` call (deadline `Now`) checks the other
    /// end's liveness (a syscall) once in
    /// [`PEER_CHECK_EVERY`](super::endpoint::PEER_CHECK_EVERY) calls; a
    /// released end is seen at once.
    fn wait(
        &self,
        end: End,
        strategy: WaitStrategy,
        deadline: Deadline,
        peer_check: &PeerCheck,
        mut ready: impl FnMut() -> bool,
    ) -> Waited {
        let (word, ever) = self.role(end.peer());
        if deadline == Deadline::Now {
            let gone = peer_check.gone(word, ever, self.seg());
            return if ready() {
                Waited::Ready
            } else if gone {
                Waited::PeerGone
            } else {
                Waited::TimedOut
            };
        }
        let (seq_word, sleepers) = self.state().ctl.waits.words(end);
        wait_for(seq_word, sleepers, || role_gone(word, ever, self.seg()), strategy, deadline, ready)
    }
}
