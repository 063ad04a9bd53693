//! The multi-producer, multi-consumer flavour of [`Queue`](crate::Queue):
//! any number of senders and receivers in any processes, each message's
//! slot claimed by CAS (see `slot_ring.rs`). Generic over the slots'
//! format, it also runs [`MessageQueue`](crate::MessageQueue) and the
//! multi-producer [`DynQueue`](crate::dynamic::DynQueue): what a send
//! writes is a `Message`, what a receive does with its slot a `Reader`.
//!
//! Endpoints are counted (see `endpoint.rs`): a receiver on an empty queue
//! is told `Disconnected` once every sender is gone, a sender on a full
//! queue once every receiver is. A sender or receiver that died holding a
//! slot's claim is found by its token and its claim undone.
//!
//! # What `try_send` and `try_recv` promise
//!
//! As crossbeam-channel's bounded channel: `try_recv` says `Empty` only
//! when nothing lies between head and tail, and `try_send` says `Full` only
//! when the queue holds `capacity` messages (published or being written).
//! Two states in between are not an answer yet, and a poll waits for them
//! on the parking layer, for at most [`IN_FLIGHT_WAIT`]:
//!
//! - the head slot is claimed by a sender that has not published it yet
//!   (`try_recv`): messages are taken in slot order, never around an
//!   in-flight one, so FIFO per sender and the order of the ring hold;
//! - the tail slot is still being read by a receiver of the previous lap
//!   (`try_send`).
//!
//! The claimer is normally between two stores, or descheduled: the wait
//! ends as soon as it publishes (or frees). A claimer found dead is undone
//! at once. A claimer stopped for longer (SIGSTOP, a debugger) makes the
//! poll answer `Empty` / `Full` after the bound; the endpoint remembers that
//! claim, and later polls that meet the same claim answer at once, as they
//! did before this wait existed. Blocking calls are unchanged: they wait as
//! long as their deadline allows.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32 as LocalU32, AtomicU64 as LocalU64, Ordering::Relaxed};
use std::time::Duration;

use crate::ShmType;

use super::endpoint::{End, PeerCheck};
use super::errors::{RecvTimeoutError, SendTimeoutError};
use super::slot_ring::{Message, Put, ReadValue, Reader, Ring, Take, Typed};
use super::typed::{Format, Shared};
use crate::primitive::Ordering;
use crate::segment::registry::{Liveness, Token};
use crate::wait::{Announce, Deadline, Handshake, Naps, Sleepers, Step, Turn, WaitStrategy, Waiter};

/// Longest a `try_send` or `try_recv` waits for a claim in progress (see the
/// module docs): long enough for a claimer that lost its CPU between its
/// claim and its publish to be scheduled again on a busy machine, short
/// enough that a stopped one costs a poll little, once.
pub(crate) const IN_FLIGHT_WAIT: Duration = Duration::from_millis(20);

/// A slot claim: the claimer's token and the position.
type Claim = (Token, u64);

/// The claim a poll last waited for in vain (see the module docs): a hint
/// local to the endpoint, in Relaxed atomics so that an endpoint may be
/// shared by threads (a torn pair only makes a poll wait once more).
#[derive(Default)]
struct Stalled {
    /// The claimer's token bits plus one; 0 for none.
    token: LocalU32,
    pos: LocalU64,
}

impl Stalled {
    /// How long a poll that met `claim` may wait for it: [`IN_FLIGHT_WAIT`],
    /// or not at all if a poll already waited for it in vain.
    #[inline]
    fn deadline(&self, claim: Claim) -> Deadline {
        if self.get() == Some(claim) { Deadline::Now } else { Deadline::after(IN_FLIGHT_WAIT) }
    }

    #[inline]
    fn get(&self) -> Option<Claim> {
        let token = self.token.load(Relaxed);
        (token != 0).then(|| (Token::from_bits(token - 1), self.pos.load(Relaxed)))
    }

    #[inline]
    fn remember(&self, claim: Option<Claim>) {
        if let Some((token, pos)) = claim {
            self.pos.store(pos, Relaxed);
            self.token.store(token.to_bits() + 1, Relaxed);
        }
    }
}

/// A sending endpoint of a multi-producer queue: counted in the queue while
/// it lives.
pub(super) struct Sender<F: Format> {
    pub(super) shared: Arc<Shared<F>>,
    pub(super) strategy: WaitStrategy,
    /// How often a `try_send` on a full queue checks the receivers'
    /// liveness.
    peer: PeerCheck,
    /// The reader's claim a `try_send` last waited for in vain.
    stalled: Stalled,
}

impl<F: Format> Sender<F> {
    /// Counts a new sender on `shared`'s queue.
    pub(super) fn attach(shared: Arc<Shared<F>>, strategy: WaitStrategy) -> Self {
        shared.count_in(End::Sender);
        Sender { shared, strategy, peer: PeerCheck::default(), stalled: Stalled::default() }
    }

    /// Sends `value`, waiting per `deadline` while the queue is full. Not
    /// inlined into the flavour dispatch of `channel.rs`: a single-producer
    /// send through the same function would pay for this one's size.
    #[inline(never)]
    pub(super) fn put<M: Message<F>>(&self, value: M, deadline: Deadline) -> Result<(), SendTimeoutError<M>> {
        let sh = &*self.shared;
        if sh.receivers_gone(false) {
            return Err(SendTimeoutError::Disconnected(value));
        }
        match sh.ring().try_put(value, sh.seg().token()) {
            Put::Done => {
                sh.notify_receivers(false);
                Ok(())
            }
            first => self.put_slow(value, deadline, first),
        }
    }

    /// The queue was full (`first` says how): waits for room on the
    /// parking layer, freeing the slot of a reader that died on the way. A
    /// poll (`Deadline::Now`) that found the tail slot still being read waits
    /// for that reader briefly (see the module docs).
    #[inline]
    fn put_slow<M: Message<F>>(&self, value: M, deadline: Deadline, first: Put) -> Result<(), SendTimeoutError<M>> {
        if deadline == Deadline::Now {
            self.put_wait::<true, M>(value, deadline, first)
        } else {
            self.put_wait::<false, M>(value, deadline, first)
        }
    }

    /// [`Sender::put_slow`] for a poll (`POLL`) or a blocking call, as
    /// [`Receiver::recv_wait`].
    #[inline(never)]
    fn put_wait<const POLL: bool, M: Message<F>>(
        &self,
        value: M,
        deadline: Deadline,
        first: Put,
    ) -> Result<(), SendTimeoutError<M>> {
        let sh = &*self.shared;
        let (ring, me) = (sh.ring(), sh.seg().token());
        let w = &sh.state().ctl.waits;
        // The fences pair with the one in notify_senders (see recv).
        let sleepers = Sleepers { word: &w.space_seq, announce: Announce::Count(&w.send_sleepers, Handshake::Fence) };
        let poll = POLL;
        let until = match first {
            Put::Reading(token, pos) if poll => self.stalled.deadline((token, pos)),
            _ => deadline,
        };
        // As in `Receiver::recv_wait`: a blocking wait's first look is the
        // caller's attempt.
        let mut reading = match first {
            Put::Reading(token, pos) if !POLL => Some((token, pos)),
            _ => None,
        };
        let mut first = if POLL { Some(first) } else { None };
        let mut looked = POLL;
        let sent = Waiter::new(until, self.strategy, Naps::polling()).sleep_counted(&sleepers, |turn| match turn {
            Turn::Look { .. } if !std::mem::replace(&mut looked, true) => Step::Wait,
            Turn::Look { .. } => {
                reading = match first.take().unwrap_or_else(|| ring.try_put(value, me)) {
                    Put::Done => return Step::Done(Ok(())),
                    Put::Full => None,
                    Put::Reading(token, pos) => Some((token, pos)),
                };
                if poll && (until == Deadline::Now || reading.is_none()) {
                    // Full (or a reader already waited for in vain): the
                    // answer is now, with no liveness syscall unless due.
                    if !self.peer.due() {
                        return Step::Done(Err(SendTimeoutError::Timeout(value)));
                    }
                    if let Some((token, _)) = reading.filter(|&(t, _)| !sh.seg().is_alive(t)) {
                        if ring.free_dead_reader(token) {
                            sh.notify_senders(true);
                        }
                        return Step::Retry;
                    }
                    return Step::Done(Err(if sh.receivers_gone(true) {
                        SendTimeoutError::Disconnected(value)
                    } else {
                        SendTimeoutError::Timeout(value)
                    }));
                }
                Step::Wait
            }
            Turn::Stuck => {
                if let Some((token, _)) = reading.filter(|&(t, _)| !sh.seg().is_alive(t)) {
                    if ring.free_dead_reader(token) {
                        sh.notify_senders(true);
                    }
                    return Step::Retry;
                }
                if sh.receivers_gone(true) {
                    return Step::Done(Err(SendTimeoutError::Disconnected(value)));
                }
                Step::Wait
            }
            Turn::Announced(_) => match ring.try_put(value, me) {
                Put::Done => Step::Done(Ok(())),
                // A poll whose reader is done, the queue full after all:
                // answer on the next look.
                Put::Full if poll => Step::Retry,
                _ => Step::Wait,
            },
        });
        match sent {
            Ok(Ok(())) => {
                sh.notify_receivers(false);
                Ok(())
            }
            Ok(Err(e)) => Err(e),
            Err(_) => {
                if poll {
                    self.stalled.remember(reading);
                }
                Err(SendTimeoutError::Timeout(value))
            }
        }
    }
}

impl<F: Format> Drop for Sender<F> {
    fn drop(&mut self) {
        // Receivers asleep on an empty queue may now be disconnected.
        self.shared.count_out(End::Sender);
    }
}

/// A receiving endpoint of a multi-producer queue: counted in the queue
/// while it lives.
pub(super) struct Receiver<F: Format> {
    pub(super) shared: Arc<Shared<F>>,
    pub(super) strategy: WaitStrategy,
    /// How often a `try_recv` on an empty queue checks the senders'
    /// liveness.
    peer: PeerCheck,
    /// The sender's claim a `try_recv` last waited for in vain.
    stalled: Stalled,
}

impl<F: Format> Receiver<F> {
    /// Counts a new receiver on `shared`'s queue.
    pub(super) fn attach(shared: Arc<Shared<F>>, strategy: WaitStrategy) -> Self {
        shared.count_in(End::Receiver);
        Receiver { shared, strategy, peer: PeerCheck::default(), stalled: Stalled::default() }
    }

    /// One receive attempt; removes skipped dead claims on the way.
    #[inline]
    fn take<R: Reader<F>>(&self, ring: &Ring<'_, F>, me: Token, reader: &mut R) -> Take<R::Out> {
        let sh = &*self.shared;
        loop {
            match ring.try_take(me, reader) {
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

    /// Receives a message read by `reader`, waiting per `deadline` while
    /// the queue is empty (not inlined into the flavour dispatch, as
    /// `Sender::put`).
    #[inline(never)]
    pub(super) fn recv_until<R: Reader<F>>(
        &self,
        mut reader: R,
        deadline: Deadline,
    ) -> Result<R::Out, RecvTimeoutError> {
        let sh = &*self.shared;
        match self.take(&sh.ring(), sh.seg().token(), &mut reader) {
            Take::Got(v) => Ok(v),
            first => self.recv_slow(deadline, first, reader),
        }
    }

    /// The queue was empty (`first` says how): waits for a message on the
    /// parking layer, skipping the claim of a sender that died on the way.
    /// A poll (`Deadline::Now`) that found the head message in flight waits
    /// for it briefly (see the module docs).
    #[inline]
    fn recv_slow<R: Reader<F>>(
        &self,
        deadline: Deadline,
        first: Take<R::Out>,
        reader: R,
    ) -> Result<R::Out, RecvTimeoutError> {
        if deadline == Deadline::Now {
            self.recv_wait::<true, R>(deadline, first, reader)
        } else {
            self.recv_wait::<false, R>(deadline, first, reader)
        }
    }

    /// [`Receiver::recv_slow`] for a poll (`POLL`) or a blocking call: two
    /// instances, so that a blocking wait's spin loop carries none of the
    /// poll's branches; each a call of its own, so that the parking layer's
    /// loop inlines into it.
    #[inline(never)]
    fn recv_wait<const POLL: bool, R: Reader<F>>(
        &self,
        deadline: Deadline,
        first: Take<R::Out>,
        mut reader: R,
    ) -> Result<R::Out, RecvTimeoutError> {
        let sh = &*self.shared;
        let (ring, me) = (sh.ring(), sh.seg().token());
        let w = &sh.state().ctl.waits;
        // The fences pair with the one in notify_receivers: either the
        // sender sees us counted, or we see its message when announced.
        let sleepers = Sleepers { word: &w.items_seq, announce: Announce::Count(&w.recv_sleepers, Handshake::Fence) };
        let poll = POLL;
        let until = match first {
            Take::InFlight(token, pos) if poll => self.stalled.deadline((token, pos)),
            _ => deadline,
        };
        // A blocking wait's first look is the caller's attempt: it only
        // names the writer. A poll looks at that attempt's outcome first.
        let mut writer = match first {
            Take::InFlight(token, pos) if !POLL => Some((token, pos)),
            _ => None,
        };
        let mut first = if POLL { Some(first) } else { None };
        let mut looked = POLL;
        let got = Waiter::new(until, self.strategy, Naps::polling()).sleep_counted(&sleepers, |turn| match turn {
            Turn::Look { .. } if !std::mem::replace(&mut looked, true) => Step::Wait,
            Turn::Look { .. } => {
                writer = match first.take().unwrap_or_else(|| self.take(&ring, me, &mut reader)) {
                    Take::Got(v) => return Step::Done(Ok(v)),
                    Take::InFlight(token, pos) => Some((token, pos)),
                    Take::Empty | Take::Skipped => None,
                };
                if poll && (until == Deadline::Now || writer.is_none()) {
                    // Empty (or a claim already waited for in vain): the
                    // answer is now. Senders that were dropped are seen at
                    // once, dead ones (a syscall) when the check is due.
                    let due = self.peer.due();
                    if due {
                        if let Some((token, _)) = writer.filter(|&(t, _)| !sh.seg().is_alive(t)) {
                            ring.skip_dead_writer(token);
                            return Step::Retry;
                        }
                    }
                    let c = &sh.state().ctl;
                    let gone = writer.is_none()
                        && if due {
                            sh.senders_gone()
                        } else {
                            c.ever_sender.load(Ordering::Acquire) != 0 && c.senders.load(Ordering::Acquire) == 0
                        };
                    // A last message may have landed since the look.
                    return Step::Done(match self.take(&ring, me, &mut reader) {
                        Take::Got(v) => Ok(v),
                        _ if gone => Err(RecvTimeoutError::Disconnected),
                        _ => Err(RecvTimeoutError::Timeout),
                    });
                }
                Step::Wait
            }
            Turn::Stuck => {
                if let Some((token, _)) = writer.filter(|&(t, _)| !sh.seg().is_alive(t)) {
                    ring.skip_dead_writer(token);
                    return Step::Retry;
                }
                if writer.is_none() && sh.senders_gone() {
                    // A last message may have landed since the look.
                    return Step::Done(match self.take(&ring, me, &mut reader) {
                        Take::Got(v) => Ok(v),
                        _ => Err(RecvTimeoutError::Disconnected),
                    });
                }
                Step::Wait
            }
            Turn::Announced(_) => match self.take(&ring, me, &mut reader) {
                Take::Got(v) => Step::Done(Ok(v)),
                // A poll whose message was taken by another receiver:
                // answer on the next look.
                Take::Empty if poll => Step::Retry,
                _ => Step::Wait,
            },
        });
        got.unwrap_or_else(|_| {
            if poll {
                self.stalled.remember(writer);
            }
            Err(RecvTimeoutError::Timeout)
        })
    }
}

/// The rest of a batch, for a `Queue<T>`.
impl<T: ShmType> Receiver<Typed<T>> {
    /// Moves the messages published at the head now (up to `buf.len()`)
    /// into `buf`, waiting for none; returns how many.
    pub(super) fn take_ready(&self, buf: &mut [T]) -> usize {
        let sh = &*self.shared;
        let (ring, me) = (sh.ring(), sh.seg().token());
        for (n, slot) in buf.iter_mut().enumerate() {
            match self.take(&ring, me, &mut ReadValue) {
                Take::Got(v) => *slot = v,
                _ => return n,
            }
        }
        buf.len()
    }
}

impl<F: Format> Drop for Receiver<F> {
    fn drop(&mut self) {
        // Senders asleep on a full queue may now be disconnected.
        self.shared.count_out(End::Receiver);
    }
}
