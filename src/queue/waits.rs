//! Sleeping and waking the two sides of a queue: the futex words and sleeper
//! counts every ring keeps ([`Waits`]), and the wait of an end held by one
//! endpoint ([`wait_for`], on the parking layer of `wait.rs`).
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

use super::endpoint::End;
use crate::primitive::{AtomicU32, Ordering, fence, futex_wake};
use crate::wait::{Announce, Deadline, Handshake, Naps, Sleepers, Step, Turn, WaitStrategy, Waiter};

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
/// (called only before sleeping, as it may cost a syscall), on the parking
/// layer: spins per `strategy` (not at all for `Deadline::Now`), then sleeps
/// on the futex word `seq_word`, counted in `sleepers`, in the polling naps
/// of [`Naps::polling`]. The waker stores what `ready` reads, makes the hot
/// barrier of [`asym`](crate::primitive::asym) and wakes `seq_word` if
/// `sleepers` is not zero ([`Handshake::Asym`]).
pub(crate) fn wait_for(
    seq_word: &AtomicU32,
    sleepers: &AtomicU32,
    mut peer_gone: impl FnMut() -> bool,
    strategy: WaitStrategy,
    deadline: Deadline,
    mut ready: impl FnMut() -> bool,
) -> Waited {
    // Room or a message often comes while the caller got here: answer that
    // before the waiter is set up.
    if ready() {
        return Waited::Ready;
    }
    let sleepers = Sleepers { word: seq_word, announce: Announce::Count(sleepers, Handshake::Asym) };
    Waiter::new(deadline, strategy, Naps::polling())
        .sleep_counted(&sleepers, |turn| match turn {
            Turn::Look { .. } | Turn::Announced(_) => {
                if ready() {
                    Step::Done(Waited::Ready)
                } else {
                    Step::Wait
                }
            }
            // A last message may have landed before the peer left.
            Turn::Stuck if peer_gone() => Step::Done(if ready() { Waited::Ready } else { Waited::PeerGone }),
            Turn::Stuck => Step::Wait,
        })
        .unwrap_or(Waited::TimedOut)
}
