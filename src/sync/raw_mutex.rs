//! The robust lock word shared by [`Mutex`](crate::Mutex), `Value` and `Array`.
//!
//! # The lock word (32 bits)
//!
//! | bits   | name     | meaning                                                     |
//! |--------|----------|-------------------------------------------------------------|
//! | 31     | `PARKED` | someone may be asleep on the futex: unlock must wake one     |
//! | 30     | `LOCKED` | held                                                        |
//! | 29     | `DIRTY`  | a holder died holding it; the next lock() reports OwnerDied |
//! | 0..=28 | token    | holder's liveness token (registry slot and generation)      |
//!
//! `0` is unlocked, clean, nobody asleep: the uncontended lock is one CAS
//! `0 -> LOCKED|token` and the unlock one swap, with no syscall.
//!
//! # Owner death
//! A waiter that is about to sleep first asks the segment's liveness registry
//! whether the token in the word is alive. If not, it takes the lock over by
//! CAS, setting `DIRTY`, and the caller gets `OwnerDied`. Sleeps are bounded
//! (1 ms, doubling to 16 ms), so a holder that dies while others sleep is
//! noticed within one poll; so is an unlocker that died between its swap and
//! its wake. `set_robust_list` is never used: glibc owns that list.
//!
//! The token identifies a *handle* (an open file description), not a thread:
//! two threads locking through one handle exclude each other as usual, and a
//! thread that locks twice deadlocks, as with `std::sync::Mutex`.

use crate::primitive::{AtomicU32, Ordering, futex_wait, futex_wake};
use crate::segment::registry::{Liveness, TOKEN_MASK};
use crate::wait::{Deadline, SpinWait, WaitStrategy};
use std::time::Duration;

const PARKED: u32 = 1 << 31;
const LOCKED: u32 = 1 << 30;
const DIRTY: u32 = 1 << 29;
const _: () = assert!(TOKEN_MASK < DIRTY);

/// Shortest and longest sleep between two liveness checks of the holder.
const POLL_MIN: Duration = Duration::from_millis(1);
const POLL_MAX: Duration = Duration::from_millis(16);

/// Why a lock attempt failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LockFail {
    /// Held by a live holder and the caller would not wait.
    WouldBlock,
    /// Held by a live holder until the deadline passed.
    TimedOut,
}

/// A robust, process-shared lock word. All-zero is an unlocked lock, so
/// zeroed shared memory holds valid unlocked mutexes.
#[derive(Debug, Default)]
#[repr(C)]
pub struct RawMutex {
    word: AtomicU32,
}

impl RawMutex {
    /// An unlocked mutex.
    #[cfg(not(loom))]
    pub const fn new() -> RawMutex {
        RawMutex { word: AtomicU32::new(0) }
    }

    /// An unlocked mutex.
    #[cfg(loom)]
    pub fn new() -> RawMutex {
        RawMutex { word: AtomicU32::new(0) }
    }

    /// Whether some handle holds it now (a snapshot).
    pub fn is_locked(&self) -> bool {
        self.word.load(Ordering::Relaxed) & LOCKED != 0
    }

    /// Takes the lock. `Ok(true)` means a previous holder died holding it
    /// (or a take-over was not yet acknowledged): the protected data may be
    /// inconsistent.
    #[inline]
    pub(crate) fn lock(
        &self,
        live: &impl Liveness,
        deadline: Deadline,
        strategy: WaitStrategy,
    ) -> Result<bool, LockFail> {
        let me = LOCKED | live.token();
        // Acquire: the previous holder's writes, published by its Release
        // unlock, are visible once we hold the lock.
        if self.word.compare_exchange(0, me, Ordering::Acquire, Ordering::Relaxed).is_ok() {
            return Ok(false);
        }
        self.lock_slow(me, live, deadline, strategy)
    }

    /// Takes the lock, waiting as long as it takes. Returns whether the
    /// previous holder died holding it.
    #[inline]
    pub(crate) fn lock_forever(&self, live: &impl Liveness, strategy: WaitStrategy) -> bool {
        loop {
            // Without a deadline `lock` only returns once it holds the lock.
            if let Ok(dirty) = self.lock(live, Deadline::Never, strategy) {
                return dirty;
            }
        }
    }

    #[cold]
    fn lock_slow(
        &self,
        me: u32,
        live: &impl Liveness,
        deadline: Deadline,
        strategy: WaitStrategy,
    ) -> Result<bool, LockFail> {
        let mut spin = SpinWait::new(if deadline == Deadline::Now { WaitStrategy::Park } else { strategy });
        let mut slept = false;
        let mut poll = POLL_MIN;
        loop {
            let cur = self.word.load(Ordering::Relaxed);
            if cur & LOCKED == 0 {
                // Keep PARKED if set (others sleep); set it if we slept, since
                // our wake may have been the only one and others may sleep.
                let parked = if slept { PARKED } else { cur & PARKED };
                let new = me | parked | (cur & DIRTY);
                if self.word.compare_exchange_weak(cur, new, Ordering::Acquire, Ordering::Relaxed).is_ok() {
                    return Ok(cur & DIRTY != 0);
                }
                continue;
            }
            if spin.spin() {
                continue;
            }
            // About to give up or sleep: is the holder still alive?
            if !live.is_alive(cur & TOKEN_MASK) {
                let new = me | DIRTY | (cur & PARKED);
                // Acquire pairs with whatever the dead holder last published.
                if self.word.compare_exchange(cur, new, Ordering::Acquire, Ordering::Relaxed).is_ok() {
                    return Ok(true);
                }
                continue;
            }
            let Some(nap) = deadline.sleep_for(poll) else {
                if slept {
                    // The wake we may have consumed was meant for one of the
                    // sleepers: an unlock clears PARKED, so pass it on.
                    futex_wake(&self.word, 1);
                }
                return Err(if deadline == Deadline::Now { LockFail::WouldBlock } else { LockFail::TimedOut });
            };
            if !spin.parks() {
                continue;
            }
            if cur & PARKED == 0
                && self.word.compare_exchange_weak(cur, cur | PARKED, Ordering::Relaxed, Ordering::Relaxed).is_err()
            {
                continue;
            }
            futex_wait(&self.word, cur | PARKED, Some(nap));
            slept = true;
            poll = (poll * 2).min(POLL_MAX);
        }
    }

    /// Releases the lock. With `keep_dirty`, the next locker is still told
    /// that a holder died (used when the caller did not repair the data).
    ///
    /// Only the current holder may call this.
    #[inline]
    pub(crate) fn unlock(&self, keep_dirty: bool) {
        let new = if keep_dirty { DIRTY } else { 0 };
        // Release: our writes to the protected data happen-before the next
        // holder's Acquire.
        let old = self.word.swap(new, Ordering::Release);
        if old & PARKED != 0 {
            futex_wake(&self.word, 1);
        }
    }
}
