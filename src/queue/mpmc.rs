//! The multi-producer, multi-consumer flavour of [`Queue`](crate::Queue):
//! any number of senders and receivers in any processes, each message's
//! slot claimed by CAS (see `slot_ring.rs`).
//!
//! Endpoints are counted (see `endpoint.rs`): a receiver on an empty queue
//! is told `Disconnected` once every sender is gone, a sender on a full
//! queue once every receiver is. A sender or receiver that died holding a
//! slot's claim is found by its token and its claim undone.

use std::sync::Arc;

use bytemuck::Pod;

use super::endpoint::{End, PeerCheck};
use super::errors::{RecvTimeoutError, SendTimeoutError};
use super::slot_ring::{Put, Ring, Take};
use super::typed::Shared;
use super::waits::{POLL_MAX, POLL_MIN};
use crate::primitive::{Ordering, fence, futex_wait};
use crate::segment::registry::{Liveness, Token};
use crate::wait::{Deadline, SpinWait, WaitStrategy};

/// A sending endpoint of a multi-producer queue: counted in the queue while
/// it lives.
pub(super) struct Sender<T: Pod> {
    pub(super) shared: Arc<Shared<T>>,
    pub(super) strategy: WaitStrategy,
    /// How often a `try_send` on a full queue checks the receivers'
    /// liveness.
    peer: PeerCheck,
}

impl<T: Pod> Sender<T> {
    /// Counts a new sender on `shared`'s queue.
    pub(super) fn attach(shared: Arc<Shared<T>>, strategy: WaitStrategy) -> Self {
        shared.count_in(End::Sender);
        Sender { shared, strategy, peer: PeerCheck::default() }
    }

    /// Sends `value`, waiting per `deadline` while the queue is full.
    pub(super) fn put(&self, value: T, deadline: Deadline) -> Result<(), SendTimeoutError<T>> {
        let sh = &*self.shared;
        if sh.receivers_gone(false) {
            return Err(SendTimeoutError::Disconnected(value));
        }
        let ring = sh.ring();
        let me = sh.seg().token();
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
            if let Some(token) = reading.filter(|&t| !sh.seg().is_alive(t)) {
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
            let w = &sh.state().ctl.waits;
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

impl<T: Pod> Drop for Sender<T> {
    fn drop(&mut self) {
        // Receivers asleep on an empty queue may now be disconnected.
        self.shared.count_out(End::Sender);
    }
}

/// A receiving endpoint of a multi-producer queue: counted in the queue
/// while it lives.
pub(super) struct Receiver<T: Pod> {
    pub(super) shared: Arc<Shared<T>>,
    pub(super) strategy: WaitStrategy,
    /// How often a `try_recv` on an empty queue checks the senders'
    /// liveness.
    peer: PeerCheck,
}

impl<T: Pod> Receiver<T> {
    /// Counts a new receiver on `shared`'s queue.
    pub(super) fn attach(shared: Arc<Shared<T>>, strategy: WaitStrategy) -> Self {
        shared.count_in(End::Receiver);
        Receiver { shared, strategy, peer: PeerCheck::default() }
    }

    /// One receive attempt; removes skipped dead claims on the way.
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

    /// Receives a message, waiting per `deadline` while the queue is empty.
    pub(super) fn recv_until(&self, deadline: Deadline) -> Result<T, RecvTimeoutError> {
        let sh = &*self.shared;
        let ring = sh.ring();
        let me = sh.seg().token();
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
                let c = &sh.state().ctl;
                let dropped = c.ever_sender.load(Ordering::Acquire) != 0 && c.senders.load(Ordering::Acquire) == 0;
                return match self.take(&ring, me) {
                    Take::Got(v) => Ok(v),
                    _ if dropped && writer.is_none() => Err(RecvTimeoutError::Disconnected),
                    _ => Err(RecvTimeoutError::Timeout),
                };
            }
            if spin.spin() {
                continue;
            }
            if let Some(token) = writer.filter(|&t| !sh.seg().is_alive(t)) {
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
            let w = &sh.state().ctl.waits;
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
        // Senders asleep on a full queue may now be disconnected.
        self.shared.count_out(End::Receiver);
    }
}
