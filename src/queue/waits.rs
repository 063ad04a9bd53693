//! Sleeping and waking the two sides of a queue: the futex words and sleeper
//! counts every ring keeps ([`Waits`]), and the wait loop of an end held by
//! one endpoint ([`wait_for`]).
//!
//! # Protocol
//!
//! A waiter counts itself in `recv_sleepers` (`send_sleepers`) with SeqCst,
//! passes a barrier, loads the sequence word `items_seq` (`space_seq`),
//! re-checks its condition, and only then sleeps on the sequence word. A
//! waker changes what the condition reads, passes a barrier, and bumps and
//! wakes the sequence word only if the sleeper count is not zero: no syscall
//! when nobody sleeps. Either the waiter sees the change in its re-check, or
//! the waker sees the waiter counted.

use std::time::Duration;

use super::endpoint::End;
use crate::primitive::{AtomicU32, Ordering, asym, fence, futex_wait, futex_wake};
use crate::wait::{Deadline, SpinWait, WaitStrategy};

/// Shortest and longest sleep between liveness checks of a waiting end.
pub(crate) const POLL_MIN: Duration = Duration::from_millis(1);
pub(crate) const POLL_MAX: Duration = Duration::from_millis(16);

/// Futex words and sleeper counts of the two sides of a ring. The first
/// 16 bytes of every queue's wait line (the layout is shared memory).
#[repr(C)]
pub(crate) struct Waits {
    /// Bumped when messages are published and receivers sleep.
    pub(crate) items_seq: AtomicU32,
    /// Receivers asleep (or about to be) on `items_seq`.
    pub(crate) recv_sleepers: AtomicU32,
    /// Bumped when room is freed and senders sleep.
    pub(crate) space_seq: AtomicU32,
    /// Senders asleep (or about to be) on `space_seq`.
    pub(crate) send_sleepers: AtomicU32,
}

// The layout is shared memory (loom's atomics are larger: not checked there).
#[cfg(not(loom))]
const _: () = assert!(std::mem::size_of::<Waits>() == 16);

impl Waits {
    /// Nobody asleep.
    #[cfg(any(test, fuzzing))]
    pub(crate) fn new() -> Waits {
        Waits {
            items_seq: AtomicU32::new(0),
            recv_sleepers: AtomicU32::new(0),
            space_seq: AtomicU32::new(0),
            send_sleepers: AtomicU32::new(0),
        }
    }

    /// The sequence word `end` sleeps on, and its sleeper count.
    pub(crate) fn words(&self, end: End) -> (&AtomicU32, &AtomicU32) {
        match end {
            End::Receiver => (&self.items_seq, &self.recv_sleepers),
            End::Sender => (&self.space_seq, &self.send_sleepers),
        }
    }

    /// Wakes `end` (one sleeper, or all) if it sleeps. The caller has made
    /// the barrier between its change and this check.
    #[inline]
    pub(crate) fn wake_sleepers(&self, end: End, all: bool) {
        let (seq, sleepers) = self.words(end);
        if sleepers.load(Ordering::Relaxed) != 0 {
            seq.fetch_add(1, Ordering::Release);
            futex_wake(seq, if all { u32::MAX } else { 1 });
        }
    }

    /// Wakes `end` if it sleeps; call after publishing (or freeing).
    #[inline]
    pub(crate) fn notify(&self, end: End, all: bool) {
        // Pairs with the sleeper's SeqCst count and re-check: either it
        // sees our change, or we see it counted.
        fence(Ordering::SeqCst);
        self.wake_sleepers(end, all);
    }
}

/// How a wait ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Waited {
    Ready,
    TimedOut,
    /// The other end is gone (released, or its holder died) and the
    /// condition still does not hold.
    PeerGone,
}

/// Waits until `ready()` holds, the deadline passes, or `peer_gone()`
/// (called only before sleeping, as it may cost a syscall): spins per
/// `strategy` (not at all for `Deadline::Now`), then sleeps on the futex
/// word `seq`, counted in `sleepers`, in naps of 1 ms doubling to 16 ms.
/// The waker stores what `ready` reads, makes the hot barrier of
/// [`asym`] and wakes `seq` if `sleepers` is not zero.
pub(crate) fn wait_for(
    seq_word: &AtomicU32,
    sleepers: &AtomicU32,
    mut peer_gone: impl FnMut() -> bool,
    strategy: WaitStrategy,
    deadline: Deadline,
    mut ready: impl FnMut() -> bool,
) -> Waited {
    let mut spin = SpinWait::new(if deadline == Deadline::Now { WaitStrategy::Park } else { strategy });
    let mut poll = POLL_MIN;
    loop {
        if ready() {
            return Waited::Ready;
        }
        if spin.spin() {
            continue;
        }
        if peer_gone() {
            // A last message may have landed before the peer left.
            return if ready() { Waited::Ready } else { Waited::PeerGone };
        }
        if !spin.parks() {
            if deadline.sleep_for(poll).is_none() {
                return Waited::TimedOut;
            }
            continue;
        }
        sleepers.fetch_add(1, Ordering::SeqCst);
        // Pairs with the waker's barrier.
        if !asym::cold() {
            // The peer may publish without a barrier we could force: sleep
            // in short naps only.
            poll = POLL_MIN;
        }
        let seq = seq_word.load(Ordering::SeqCst);
        if ready() {
            sleepers.fetch_sub(1, Ordering::SeqCst);
            return Waited::Ready;
        }
        let Some(nap) = deadline.sleep_for(poll) else {
            sleepers.fetch_sub(1, Ordering::SeqCst);
            return Waited::TimedOut;
        };
        futex_wait(seq_word, seq, Some(nap));
        sleepers.fetch_sub(1, Ordering::SeqCst);
        poll = (poll * 2).min(POLL_MAX);
    }
}
