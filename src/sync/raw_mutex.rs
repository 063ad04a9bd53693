//! The robust lock word shared by [`Mutex`](crate::Mutex), `Value` and `Array`.
//!
//! # The lock word (32 bits)
//!
//! | bits   | name     | meaning                                                                    |
//! |--------|----------|----------------------------------------------------------------------------|
//! | 31     | `PARKED` | someone may be asleep on the futex: unlock must wake one (the rwlock: all) |
//! | 30     | `LOCKED` | held                                                                       |
//! | 29     | `DIRTY`  | a holder died holding it; the next lock() reports OwnerDied                |
//! | 0..=28 | token    | holder's liveness token (registry slot and generation)                     |
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
//! Waiting is the parked-bit helper of the parking layer
//! ([`Waiter::park_bit`]): `lock_slow` states only how to take the word and
//! how to take it over from a dead holder.
//!
//! The token identifies a *handle* (an open file description), not a thread:
//! two threads locking through one handle exclude each other as usual, and a
//! thread that locks twice deadlocks, as with `std::sync::Mutex`.

use crate::primitive::{AtomicU32, Ordering, const_unless_loom, futex_wake};
use crate::segment::registry::{Liveness, Token};
use crate::wait::{Deadline, Naps, Step, Turn, WaitStrategy, Waiter};

pub(crate) const PARKED: u32 = 1 << 31;
pub(crate) const LOCKED: u32 = 1 << 30;
pub(crate) const DIRTY: u32 = 1 << 29;
const _: () = assert!(Token::MASK < DIRTY);
/// A wake count that wakes every sleeper.
const WAKE_ALL: u32 = i32::MAX as u32;

/// Why a lock attempt failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LockFail {
    /// Held by a live holder and the caller would not wait.
    WouldBlock,
    /// Held by a live holder until the deadline passed.
    TimedOut,
}

impl LockFail {
    /// How a wait until `deadline` that gave up failed.
    pub(crate) fn expired(deadline: Deadline) -> LockFail {
        if deadline == Deadline::Now { LockFail::WouldBlock } else { LockFail::TimedOut }
    }
}

/// A robust, process-shared lock word. All-zero is an unlocked lock, so
/// zeroed shared memory holds valid unlocked mutexes.
#[derive(Debug, Default)]
#[repr(C)]
pub struct RawMutex {
    word: AtomicU32,
}

// SAFETY: repr(C) of one atomic word; every bit pattern is a valid (if
// possibly "dead holder") lock state; no pointers; no drop glue.
unsafe impl crate::segment::ShmSafe for RawMutex {}

impl RawMutex {
    const_unless_loom! {
        /// An unlocked mutex.
        pub fn new() -> RawMutex {
            RawMutex { word: AtomicU32::new(0) }
        }
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
        // Acquire: the previous holder's writes, published by its Release
        // unlock, are visible once we hold the lock.
        self.lock_with(Ordering::Acquire, live, true, deadline, strategy)
    }

    /// [`RawMutex::lock`] whose successful CASes use `order` (at least
    /// Acquire; the rwlock's writer uses `SeqCst`, one half of its Dekker
    /// pair with readers). Without `poll` (loom models) the holder's
    /// liveness is not asked and sleeps are unbounded.
    #[inline(always)]
    pub(crate) fn lock_with(
        &self,
        order: Ordering,
        live: &impl Liveness,
        poll: bool,
        deadline: Deadline,
        strategy: WaitStrategy,
    ) -> Result<bool, LockFail> {
        let me = LOCKED | live.token().to_bits();
        if self.word.compare_exchange(0, me, order, Ordering::Relaxed).is_ok() {
            return Ok(false);
        }
        self.lock_slow(me, live, order, poll, deadline, strategy)
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
        order: Ordering,
        poll: bool,
        deadline: Deadline,
        strategy: WaitStrategy,
    ) -> Result<bool, LockFail> {
        let naps = if poll { Naps::polling() } else { Naps::unbounded() };
        let mut waiter = Waiter::new(deadline, strategy, naps);
        // Relaxed looks: the CAS that takes the word is what acquires.
        let taken = waiter.park_bit(&self.word, PARKED, Ordering::Relaxed, |turn, cur| match turn {
            Turn::Look { slept } if cur & LOCKED == 0 => {
                // Keep PARKED if set (others sleep); set it if we slept, since
                // our wake may have been the only one and others may sleep.
                let parked = if slept { PARKED } else { cur & PARKED };
                let new = me | parked | (cur & DIRTY);
                // `order` is at least Acquire: the previous holder's Release.
                match self.word.compare_exchange_weak(cur, new, order, Ordering::Relaxed) {
                    Ok(_) => Step::Done(cur & DIRTY != 0),
                    Err(_) => Step::Retry,
                }
            }
            // About to give up or sleep: is the holder still alive?
            Turn::Stuck if poll && !live.is_alive(Token::from_bits(cur)) => {
                let new = me | DIRTY | (cur & PARKED);
                // Acquire (at least) pairs with whatever the dead holder
                // last published.
                match self.word.compare_exchange(cur, new, order, Ordering::Relaxed) {
                    Ok(_) => Step::Done(true),
                    Err(_) => Step::Retry,
                }
            }
            _ => Step::Wait,
        });
        taken.map_err(|gave_up| {
            if gave_up.slept {
                // The wake we may have consumed was meant for one of the
                // sleepers: an unlock clears PARKED, so pass it on.
                futex_wake(&self.word, 1);
            }
            LockFail::expired(deadline)
        })
    }

    /// For [`wait_any`](crate::wait_any): free (or, `thorough`, held by a
    /// dead holder: a lock takes it over), and where a waiter sleeps.
    pub(crate) fn select_parts(&self, live: &impl Liveness, thorough: bool) -> (bool, crate::select::sealed::Park<'_>) {
        let cur = self.word.load(Ordering::Relaxed);
        let free = cur & LOCKED == 0 || (thorough && !live.is_alive(Token::from_bits(cur)));
        (free, crate::select::sealed::Park::Bit { word: &self.word, bit: PARKED })
    }

    /// The word, for a protocol built around it (the rwlock's readers).
    pub(crate) fn word(&self) -> &AtomicU32 {
        &self.word
    }

    /// Releases, on behalf of its holder, a lock seen as `seen` whose holder
    /// is dead, leaving `DIRTY` for the next locker, and wakes every
    /// sleeper. `false` if the word changed meanwhile.
    pub(crate) fn release_dead(&self, seen: u32) -> bool {
        // AcqRel: Acquire of what the dead holder published; Release to the
        // next locker, which sees DIRTY.
        if self.word.compare_exchange(seen, DIRTY, Ordering::AcqRel, Ordering::Relaxed).is_err() {
            return false;
        }
        if seen & PARKED != 0 {
            futex_wake(&self.word, WAKE_ALL);
        }
        true
    }

    /// Releases the lock. With `keep_dirty`, the next locker is still told
    /// that a holder died (used when the caller did not repair the data).
    ///
    /// Only the current holder may call this.
    #[inline]
    pub(crate) fn unlock(&self, keep_dirty: bool) {
        self.unlock_waking(keep_dirty, 1);
    }

    /// [`RawMutex::unlock`] that wakes every sleeper (the rwlock: readers
    /// sleep on the word too, and all of them may go on).
    #[inline]
    pub(crate) fn unlock_all(&self, keep_dirty: bool) {
        self.unlock_waking(keep_dirty, WAKE_ALL);
    }

    #[inline(always)]
    fn unlock_waking(&self, keep_dirty: bool, wake: u32) {
        let new = if keep_dirty { DIRTY } else { 0 };
        // Release: our writes to the protected data happen-before the next
        // holder's Acquire.
        let old = self.word.swap(new, Ordering::Release);
        if old & PARKED != 0 {
            futex_wake(&self.word, wake);
        }
    }
}
