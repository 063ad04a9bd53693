//! The multi-producer, multi-consumer flavour of [`Queue`](crate::Queue):
//! any number of senders and receivers in any processes, each message's
//! slot claimed by CAS (see `slot_ring.rs`).
//!
//! Endpoints are counted (see `endpoint.rs`): a receiver on an empty queue
//! is told `Disconnected` once every sender is gone, a sender on a full
//! queue once every receiver is. A sender or receiver that died holding a
//! slot's claim is found by its token and its claim undone.

use std::sync::Arc;

use crate::ShmType;

use super::endpoint::{End, PeerCheck};
use super::errors::{RecvTimeoutError, SendTimeoutError};
use super::slot_ring::{Put, Ring, Take};
use super::typed::Shared;
use crate::primitive::Ordering;
use crate::segment::registry::{Liveness, Token};
use crate::wait::{Announce, Deadline, Handshake, Naps, Sleepers, Step, Turn, WaitStrategy, Waiter};

/// A sending endpoint of a multi-producer queue: counted in the queue while
/// it lives.
pub(super) struct Sender<T: ShmType> {
    pub(super) shared: Arc<Shared<T>>,
    pub(super) strategy: WaitStrategy,
    /// How often a `try_send` on a full queue checks the receivers'
    /// liveness.
    peer: PeerCheck,
}

impl<T: ShmType> Sender<T> {
    /// Counts a new sender on `shared`'s queue.
    pub(super) fn attach(shared: Arc<Shared<T>>, strategy: WaitStrategy) -> Self {
        shared.count_in(End::Sender);
        Sender { shared, strategy, peer: PeerCheck::default() }
    }

    /// Sends `value`, waiting per `deadline` while the queue is full. Not
    /// inlined into the flavour dispatch of `channel.rs`: a single-producer
    /// send through the same function would pay for this one's size.
    #[inline(never)]
    pub(super) fn put(&self, value: T, deadline: Deadline) -> Result<(), SendTimeoutError<T>> {
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
    /// parking layer, freeing the slot of a reader that died on the way.
    #[inline(never)]
    fn put_slow(&self, value: T, deadline: Deadline, first: Put) -> Result<(), SendTimeoutError<T>> {
        let sh = &*self.shared;
        let (ring, me) = (sh.ring(), sh.seg().token());
        let w = &sh.state().ctl.waits;
        // The fences pair with the one in notify_senders (see recv).
        let sleepers = Sleepers { word: &w.space_seq, announce: Announce::Count(&w.send_sleepers, Handshake::Fence) };
        let (mut first, mut reading) = (Some(first), None);
        let sent = Waiter::new(deadline, self.strategy, Naps::polling()).sleep_counted(&sleepers, |turn| match turn {
            Turn::Look { .. } => {
                reading = match first.take().unwrap_or_else(|| ring.try_put(value, me)) {
                    Put::Done => return Step::Done(Ok(())),
                    Put::Full => None,
                    Put::Reading(token) => Some(token),
                };
                if deadline == Deadline::Now && !self.peer.due() {
                    // A poll: no liveness syscall this time.
                    return Step::Done(Err(SendTimeoutError::Timeout(value)));
                }
                Step::Wait
            }
            Turn::Stuck => {
                if let Some(token) = reading.filter(|&t| !sh.seg().is_alive(t)) {
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
                _ => Step::Wait,
            },
        });
        match sent {
            Ok(Ok(())) => {
                sh.notify_receivers(false);
                Ok(())
            }
            Ok(Err(e)) => Err(e),
            Err(_) => Err(SendTimeoutError::Timeout(value)),
        }
    }
}

impl<T: ShmType> Drop for Sender<T> {
    fn drop(&mut self) {
        // Receivers asleep on an empty queue may now be disconnected.
        self.shared.count_out(End::Sender);
    }
}

/// A receiving endpoint of a multi-producer queue: counted in the queue
/// while it lives.
pub(super) struct Receiver<T: ShmType> {
    pub(super) shared: Arc<Shared<T>>,
    pub(super) strategy: WaitStrategy,
    /// How often a `try_recv` on an empty queue checks the senders'
    /// liveness.
    peer: PeerCheck,
}

impl<T: ShmType> Receiver<T> {
    /// Counts a new receiver on `shared`'s queue.
    pub(super) fn attach(shared: Arc<Shared<T>>, strategy: WaitStrategy) -> Self {
        shared.count_in(End::Receiver);
        Receiver { shared, strategy, peer: PeerCheck::default() }
    }

    /// One receive attempt; removes skipped dead claims on the way.
    #[inline]
    fn take(&self, ring: &Ring<'_, T>, me: Token) -> Take<T> {
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

    /// Receives a message, waiting per `deadline` while the queue is empty
    /// (not inlined into the flavour dispatch, as `Sender::put`).
    #[inline(never)]
    pub(super) fn recv_until(&self, deadline: Deadline) -> Result<T, RecvTimeoutError> {
        let sh = &*self.shared;
        match self.take(&sh.ring(), sh.seg().token()) {
            Take::Got(v) => Ok(v),
            first => self.recv_slow(deadline, first),
        }
    }

    /// The queue was empty (`first` says how): waits for a message on the
    /// parking layer, skipping the claim of a sender that died on the way.
    #[inline(never)]
    fn recv_slow(&self, deadline: Deadline, first: Take<T>) -> Result<T, RecvTimeoutError> {
        let sh = &*self.shared;
        let (ring, me) = (sh.ring(), sh.seg().token());
        let mut writer = match first {
            Take::InFlight(token) => Some(token),
            _ => None,
        };
        if deadline == Deadline::Now && !self.peer.due() {
            // A poll: no liveness syscall this time; senders that were
            // dropped are still seen at once.
            let c = &sh.state().ctl;
            let dropped = c.ever_sender.load(Ordering::Acquire) != 0 && c.senders.load(Ordering::Acquire) == 0;
            return match self.take(&ring, me) {
                Take::Got(v) => Ok(v),
                _ if dropped && writer.is_none() => Err(RecvTimeoutError::Disconnected),
                _ => Err(RecvTimeoutError::Timeout),
            };
        }
        let w = &sh.state().ctl.waits;
        // The fences pair with the one in notify_receivers: either the
        // sender sees us counted, or we see its message when announced.
        let sleepers = Sleepers { word: &w.items_seq, announce: Announce::Count(&w.recv_sleepers, Handshake::Fence) };
        let mut looked = false;
        Waiter::new(deadline, self.strategy, Naps::polling())
            .sleep_counted(&sleepers, |turn| match turn {
                // The first look is the caller's attempt.
                Turn::Look { .. } if !std::mem::replace(&mut looked, true) => Step::Wait,
                Turn::Look { .. } => match self.take(&ring, me) {
                    Take::Got(v) => Step::Done(Ok(v)),
                    Take::InFlight(token) => {
                        writer = Some(token);
                        Step::Wait
                    }
                    Take::Empty | Take::Skipped => {
                        writer = None;
                        Step::Wait
                    }
                },
                Turn::Stuck => {
                    if let Some(token) = writer.filter(|&t| !sh.seg().is_alive(t)) {
                        ring.skip_dead_writer(token);
                        return Step::Retry;
                    }
                    if writer.is_none() && sh.senders_gone() {
                        // A last message may have landed since the look.
                        return Step::Done(match self.take(&ring, me) {
                            Take::Got(v) => Ok(v),
                            _ => Err(RecvTimeoutError::Disconnected),
                        });
                    }
                    Step::Wait
                }
                Turn::Announced(_) => match self.take(&ring, me) {
                    Take::Got(v) => Step::Done(Ok(v)),
                    _ => Step::Wait,
                },
            })
            .unwrap_or(Err(RecvTimeoutError::Timeout))
    }
}

impl<T: ShmType> Drop for Receiver<T> {
    fn drop(&mut self) {
        // Senders asleep on a full queue may now be disconnected.
        self.shared.count_out(End::Receiver);
    }
}
