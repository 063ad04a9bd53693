//! The in-segment state of a semaphore ([`SemaphoreCell`]) and the table of
//! permits held per liveness slot used in owned mode.
//!
//! # The state (four 32-bit words, `#[repr(C)]`)
//!
//! | word | name       | meaning                                                            |
//! |------|------------|--------------------------------------------------------------------|
//! | 0    | `count`    | permits available now; the futex word acquirers sleep on            |
//! | 1    | `sleepers` | acquirers that announced they may sleep and have not yet left       |
//! | 2    | `flags`    | bit 0 `BOUNDED`, bit 1 `OWNED`; set at creation, other bits ignored |
//! | 3    | `bound`    | with `BOUNDED`: the most `count` may reach by releases              |
//!
//! All zeros is a valid, empty, unbounded, plain semaphore.
//!
//! Acquire is one CAS `count -> count - 1` when `count > 0`; release is one
//! CAS `count -> count + n` (refused past the bound) followed by a load of
//! `sleepers`; the wake syscall is made only when that load is non-zero, and
//! then for at most `n` sleepers.
//!
//! ## No lost wake-up
//! An acquirer about to sleep increments `sleepers`, then re-reads `count`,
//! and sleeps only on `count == 0` (the futex re-checks that atomically). A
//! releaser adds to `count`, then reads `sleepers`. All four accesses are
//! `SeqCst`, so they fall in one total order: either the acquirer's re-read
//! sees the new permits (it does not sleep), or the releaser's read sees the
//! acquirer announced (it wakes). A woken acquirer always tries to take a
//! permit before it looks at its deadline, so a wake is never wasted on a
//! waiter that gives up while permits remain.
//!
//! ## A sleeper that dies
//! A process killed while announced in `sleepers` never takes itself off:
//! the word stays one too high for good, and every later release then makes
//! a wake syscall for nobody (about a microsecond) — a cost, not a fault:
//! wakes are only ever extra, never missing.
//!
//! ## Untrusted values
//! Every word may have been written by a buggy or hostile process. A `count`
//! past [`Semaphore::MAX_PERMITS`](crate::Semaphore::MAX_PERMITS) can still be acquired from, but releases into it are
//! refused; [`value`](SemaphoreCell::value) clamps it. A `bound` above
//! `MAX_PERMITS` is taken as `MAX_PERMITS`. A `sleepers` too high costs a
//! useless wake syscall; one too low could keep a release from waking a
//! sleeper, so no sleep lasts longer than [`LONGEST_NAP`] (1 s) before the
//! sleeper looks again: corruption costs latency, never a hang.
//!
//! # The owned table (owned mode only)
//!
//! An owned semaphore is created with `OWNED | BOUNDED` and `bound` = its
//! total number of permits. After the cell come a robust lock word (see
//! `raw_mutex.rs`) and one word per liveness slot, for the handle holding
//! the slot (a [`SlotTable`]):
//!
//! | bits    | meaning                                                   |
//! |---------|-----------------------------------------------------------|
//! | 0..=18  | generation of the token that the count belongs to          |
//! | 19..=31 | permits that token holds (at most `Semaphore::MAX_OWNED_PERMITS`)   |
//!
//! Invariant, whenever the lock is free: `count + sum(held) = bound`.
//! Every change to `count` or the table in owned mode (take and record,
//! unrecord and return, reclaim) is made under the lock, so a process killed
//! half-way leaves the lock marked dirty, and the next locker recomputes
//! `count` from the invariant: a kill never loses nor creates a permit.
//! Waiting happens outside the lock, on `count` as in plain mode.
//!
//! A blocked acquirer scans the table before it sleeps and every poll
//! interval (1 ms doubling to 16 ms): for an entry whose token is known dead
//! (asked outside the lock), it takes the lock and, if the entry is still
//! what it saw, zeroes it and returns its permits, so they are returned
//! exactly once. An entry with another generation in the acquirer's own slot
//! belonged to an earlier holder of that slot, which is gone: it is returned
//! when the acquirer records its permit.

use std::time::Duration;

use crate::primitive::{AtomicU32, Ordering, const_unless_loom, futex_wake, model_fence};
use crate::segment::ShmSafe;
use crate::segment::registry::Liveness;
use crate::segment::token::SlotTable;
use crate::sync::raw_mutex::RawMutex;
use crate::wait::{Announce, Deadline, Handshake, Naps, Sleepers, Step, Turn, WaitStrategy, Waiter};

/// Most permits a semaphore may count (glibc's `SEM_VALUE_MAX`).
pub(crate) const MAX_PERMITS: u32 = i32::MAX as u32;
/// Most permits an owned semaphore may have (they must fit an owned-table
/// entry).
pub(crate) const MAX_OWNED_PERMITS: u32 = SlotTable::MAX_COUNT;

pub(crate) const BOUNDED: u32 = 1;
pub(crate) const OWNED: u32 = 1 << 1;

/// Longest futex sleep of a plain-mode acquirer (see "Untrusted values"), a
/// [`Naps::backstop`]: under loom the wait is unbounded, so that the model
/// catches a lost wake-up as a deadlock. Owned mode polls instead
/// ([`Naps::polling`]).
const LONGEST_NAP: Duration = Duration::from_secs(1);

/// Why a release was refused. The count is unchanged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ReleaseError {
    /// The count would pass its bound: the initial value of a
    /// [`BoundedSemaphore`](crate::BoundedSemaphore), [`Semaphore::MAX_PERMITS`](crate::Semaphore::MAX_PERMITS) for
    /// any semaphore.
    Full,
    /// Owned mode: this handle holds fewer permits than it tried to release.
    NotHeld,
}

impl std::fmt::Display for ReleaseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ReleaseError::Full => "release would raise the semaphore past its bound",
            ReleaseError::NotHeld => "release of a permit this handle does not hold (owned semaphore)",
        })
    }
}

impl std::error::Error for ReleaseError {}

/// A counting semaphore's shared state, laid out to be placed in shared
/// memory, alone or embedded in a user's own `#[repr(C)]` state placed with
/// [`Segment`](crate::Segment). Its layout is the state table in the
/// module docs; all zeros is an empty, unbounded semaphore.
///
/// The cell works on its own (no liveness registry needed): it is the plain
/// mode of [`Semaphore`](crate::Semaphore), in which any process may release
/// and the permits of a process that dies are lost.
///
/// ```
/// use shmkit::{Segment, SemaphoreCell};
/// # let name = format!("doc-semcell-{}", std::process::id());
/// let seg = Segment::create(&name, SemaphoreCell::new(1))?;
/// assert!(seg.try_acquire());
/// assert!(!seg.try_acquire());
/// seg.release().unwrap();
/// assert_eq!(seg.value(), 1);
/// # Ok::<(), shmkit::Error>(())
/// ```
#[derive(Debug, Default)]
#[repr(C)]
pub struct SemaphoreCell {
    count: AtomicU32,
    sleepers: AtomicU32,
    flags: AtomicU32,
    bound: AtomicU32,
}

// SAFETY: repr(C) of four 32-bit atomics: every bit pattern is a valid state
// (see "Untrusted values"), no pointers, no drop glue, all changes atomic.
unsafe impl ShmSafe for SemaphoreCell {}

impl SemaphoreCell {
    /// For [`wait_any`](crate::wait_any): a permit is there now, and where
    /// a waiter sleeps (the count, with its sleeper count).
    pub(crate) fn select_parts(&self) -> (bool, crate::select::sealed::Park<'_>) {
        let park = crate::select::sealed::Park::Counted {
            word: &self.count,
            count: &self.sleepers,
            asym: false,
            wakes_one: true,
        };
        (self.count.load(Ordering::SeqCst) != 0, park)
    }

    const_unless_loom! {
        /// A plain, unbounded semaphore holding `initial` permits (clamped to
        /// [`Semaphore::MAX_PERMITS`](crate::Semaphore::MAX_PERMITS)).
        pub fn new(initial: u32) -> SemaphoreCell {
            SemaphoreCell::with_flags(initial, 0, 0)
        }

        /// A semaphore holding `initial` permits whose releases may not raise it
        /// past `initial` (clamped to [`Semaphore::MAX_PERMITS`](crate::Semaphore::MAX_PERMITS)).
        pub fn bounded(initial: u32) -> SemaphoreCell {
            SemaphoreCell::with_flags(initial, BOUNDED, initial)
        }

        pub(crate) fn with_flags(initial: u32, flags: u32, bound: u32) -> SemaphoreCell {
            let initial = if initial > MAX_PERMITS { MAX_PERMITS } else { initial };
            SemaphoreCell {
                count: AtomicU32::new(initial),
                sleepers: AtomicU32::new(0),
                flags: AtomicU32::new(flags),
                bound: AtomicU32::new(bound),
            }
        }
    }

    /// Permits available now (a snapshot), clamped to [`Semaphore::MAX_PERMITS`](crate::Semaphore::MAX_PERMITS) and,
    /// when bounded, to the bound: a corrupted count is never reported past
    /// them.
    pub fn value(&self) -> u32 {
        self.count.load(Ordering::Relaxed).min(self.limit())
    }

    /// The bound of a bounded semaphore (`None` for a plain one).
    pub fn bound(&self) -> Option<u32> {
        (self.flags() & BOUNDED != 0).then(|| self.limit())
    }

    #[inline]
    pub(crate) fn flags(&self) -> u32 {
        // Relaxed: written once before the segment is published (or the
        // cell is shared), and never again.
        self.flags.load(Ordering::Relaxed)
    }

    /// The most the count may reach by releases.
    #[inline]
    fn limit(&self) -> u32 {
        if self.flags() & BOUNDED != 0 { self.bound.load(Ordering::Relaxed).min(MAX_PERMITS) } else { MAX_PERMITS }
    }

    /// Takes a permit, blocking as long as it takes.
    pub fn acquire(&self) {
        self.acquire_until(Deadline::Never, WaitStrategy::Adaptive);
    }

    /// Takes a permit if one is available now.
    pub fn try_acquire(&self) -> bool {
        self.acquire_until(Deadline::Now, WaitStrategy::Adaptive)
    }

    /// Takes a permit, waiting at most `timeout`; `false` if none came.
    pub fn acquire_timeout(&self, timeout: Duration) -> bool {
        self.acquire_until(Deadline::after(timeout), WaitStrategy::Adaptive)
    }

    /// Returns one permit, waking one sleeper if any.
    ///
    /// # Errors
    /// [`ReleaseError::Full`] if the count is at its bound (it is unchanged).
    pub fn release(&self) -> Result<(), ReleaseError> {
        self.release_n(1)
    }

    /// Returns `n` permits at once, waking at most `n` sleepers. All or
    /// nothing.
    ///
    /// # Errors
    /// [`ReleaseError::Full`] if the count would pass its bound (it is
    /// unchanged).
    pub fn release_n(&self, n: u32) -> Result<(), ReleaseError> {
        self.add(n, false)
    }

    /// One CAS that takes a permit if there is one.
    #[inline]
    fn try_take(&self) -> bool {
        let mut c = self.count.load(Ordering::Relaxed);
        while c != 0 {
            // Acquire: whatever the releaser wrote before its release is
            // visible to us once we hold the permit.
            match self.count.compare_exchange_weak(c, c - 1, Ordering::Acquire, Ordering::Relaxed) {
                Ok(_) => return true,
                Err(now) => c = now,
            }
        }
        false
    }

    /// Takes a permit before `deadline` (plain mode).
    #[inline]
    pub(crate) fn acquire_until(&self, deadline: Deadline, strategy: WaitStrategy) -> bool {
        self.try_take() || self.acquire_slow(deadline, strategy, None)
    }

    /// The wait: the sleeper-count helper of the parking layer, sleeping
    /// on `count` itself. `hooks` (owned mode) replaces the take and is
    /// asked to reclaim before each sleep; its presence bounds each sleep to
    /// a poll interval, so a holder that dies while we sleep is noticed.
    #[cold]
    fn acquire_slow(&self, deadline: Deadline, strategy: WaitStrategy, mut hooks: Option<&mut dyn Hooks>) -> bool {
        let naps = if hooks.is_some() { Naps::polling() } else { Naps::backstop(LONGEST_NAP) };
        // Announce in `sleepers`, then re-check `count` (see "No lost
        // wake-up"): SeqCst accesses on both sides.
        let sleepers = Sleepers { word: &self.count, announce: Announce::Count(&self.sleepers, Handshake::SeqCst) };
        let took = Waiter::new(deadline, strategy, naps).sleep_counted(&sleepers, |turn| match turn {
            // Every look tries, and a look comes before the deadline is
            // looked at: a woken sleeper that gave up while a permit waited
            // for it would strand it.
            Turn::Look { .. } => {
                let took = match hooks.as_mut() {
                    Some(h) => h.take(),
                    None => self.try_take(),
                };
                if took { Step::Done(()) } else { Step::Wait }
            }
            Turn::Stuck if hooks.as_mut().is_some_and(|h| h.reclaim()) => Step::Retry,
            // Sleep only on an empty count (the futex re-checks it
            // atomically); permits came meanwhile: go and take one.
            Turn::Announced(count) if count != 0 => Step::Retry,
            _ => Step::Wait,
        });
        took.is_ok()
    }

    /// Adds `n` permits: refused past the limit, or, with `saturate`,
    /// clamped to it (returning permits of the dead, which must not fail).
    #[inline]
    pub(crate) fn add(&self, n: u32, saturate: bool) -> Result<(), ReleaseError> {
        if n == 0 {
            return Ok(());
        }
        let limit = self.limit();
        let mut c = self.count.load(Ordering::Relaxed);
        let added = loop {
            let new = match c.checked_add(n).filter(|&v| v <= limit) {
                Some(v) => v,
                None if saturate && c < limit => limit,
                None => return if saturate { Ok(()) } else { Err(ReleaseError::Full) },
            };
            // SeqCst: ordered before the load of `sleepers` below (see "No
            // lost wake-up"); it is also a Release of our writes to whoever
            // takes the permit.
            match self.count.compare_exchange_weak(c, new, Ordering::SeqCst, Ordering::Relaxed) {
                Ok(_) => break new - c,
                Err(now) => c = now,
            }
        };
        model_fence();
        let sleepers = self.sleepers.load(Ordering::SeqCst);
        if sleepers != 0 {
            futex_wake(&self.count, added.min(sleepers));
        }
        Ok(())
    }
}

/// What owned mode plugs into the waiting loop.
trait Hooks {
    /// Takes a permit (and records it); `false` if none.
    fn take(&mut self) -> bool;
    /// Returns the permits of dead holders; `true` if any came back.
    fn reclaim(&mut self) -> bool;
}

/// Owned mode: the table of permits held per liveness slot and the robust
/// lock that makes each change of `count` and the table one step (see the
/// module docs).
pub(crate) struct Owners<'a> {
    pub lock: &'a RawMutex,
    pub words: &'a [AtomicU32],
}

struct OwnedAcquire<'o, 'a, L: Liveness> {
    owners: &'o Owners<'a>,
    sem: &'o SemaphoreCell,
    live: &'o L,
    deadline: Deadline,
    strategy: WaitStrategy,
}

impl<L: Liveness> Hooks for OwnedAcquire<'_, '_, L> {
    fn take(&mut self) -> bool {
        // An empty count is not worth the lock.
        if self.sem.count.load(Ordering::Relaxed) == 0 {
            return false;
        }
        self.owners
            .locked(self.sem, self.live, self.deadline, self.strategy, || {
                self.sem.try_take() && {
                    self.owners.record(self.sem, self.live);
                    true
                }
            })
            .unwrap_or(false)
    }

    fn reclaim(&mut self) -> bool {
        self.owners.reclaim(self.sem, self.live, self.deadline, self.strategy)
    }
}

impl<'a> Owners<'a> {
    /// The permits held per token. Every change to it is made under `lock`,
    /// so it is written with its `_locked` forms.
    fn table(&self) -> SlotTable<'a> {
        SlotTable::new(self.words)
    }

    /// Runs `f` under the lock, first repairing what a holder that died
    /// under it may have left half done. `None` if the lock stayed held by
    /// a live holder (say, a stopped process) until `deadline`.
    fn locked<R>(
        &self,
        sem: &SemaphoreCell,
        live: &impl Liveness,
        deadline: Deadline,
        strategy: WaitStrategy,
        f: impl FnOnce() -> R,
    ) -> Option<R> {
        if self.lock.lock(live, deadline, strategy).ok()? {
            self.repair(sem);
        }
        let r = f();
        self.lock.unlock(false);
        Some(r)
    }

    /// Recomputes `count` from the invariant `count + sum(held) = total`.
    fn repair(&self, sem: &SemaphoreCell) {
        let held = self.table().total_held(Ordering::Relaxed);
        let count = sem.limit().saturating_sub(held);
        sem.count.store(count, Ordering::SeqCst);
        model_fence();
        let sleepers = sem.sleepers.load(Ordering::SeqCst);
        if count != 0 && sleepers != 0 {
            futex_wake(&sem.count, count.min(sleepers));
        }
    }

    /// Takes a permit for `live` before `deadline`, recording it.
    pub fn acquire(
        &self,
        sem: &SemaphoreCell,
        live: &impl Liveness,
        deadline: Deadline,
        strategy: WaitStrategy,
    ) -> bool {
        let mut hooks = OwnedAcquire { owners: self, sem, live, deadline, strategy };
        hooks.take() || sem.acquire_slow(deadline, strategy, Some(&mut hooks))
    }

    /// Returns `n` permits that `live` holds.
    pub fn release(
        &self,
        sem: &SemaphoreCell,
        live: &impl Liveness,
        n: u32,
        strategy: WaitStrategy,
    ) -> Result<(), ReleaseError> {
        if n == 0 {
            return Ok(());
        }
        // Without a deadline the lock is always taken, so `None` cannot come.
        self.locked(sem, live, Deadline::Never, strategy, || {
            if !self.unrecord(live, n) {
                return Err(ReleaseError::NotHeld);
            }
            sem.add(n, true)
        })
        .unwrap_or(Err(ReleaseError::NotHeld))
    }

    /// Records one permit taken by `live`'s token, returning to `sem` what
    /// an earlier, gone holder of the same slot left in the entry. Called
    /// under the lock.
    ///
    /// An entry that cannot record (slot out of range, count at its maximum:
    /// only a corrupted segment does that) leaves the permit unrecorded.
    fn record(&self, sem: &SemaphoreCell, live: &impl Liveness) {
        let Some(holds) = self.table().holds(live.token()) else { return };
        // An entry of another generation: we hold this slot, so its token
        // is gone, and what it held comes back.
        if let Some(stale @ 1..) = holds.add_locked(1) {
            let _ = sem.add(stale, true);
        }
    }

    /// Takes `n` permits off `live`'s entry; `false` if it holds fewer.
    /// Called under the lock.
    fn unrecord(&self, live: &impl Liveness, n: u32) -> bool {
        self.table().holds(live.token()).is_some_and(|holds| holds.remove_locked(n))
    }

    /// Permits `live`'s token holds.
    pub fn held_by(&self, live: &impl Liveness) -> u32 {
        self.table().holds(live.token()).map_or(0, |holds| holds.count(Ordering::Relaxed))
    }

    /// Returns to `sem` the permits of every holder known dead. `true` if
    /// any came back. The liveness checks (syscalls) are made outside the
    /// lock; under it, an entry is returned only if it did not change since.
    fn reclaim(&self, sem: &SemaphoreCell, live: &impl Liveness, deadline: Deadline, strategy: WaitStrategy) -> bool {
        let mine = live.token();
        let table = self.table();
        let dead: Vec<_> =
            table.holders(Ordering::Relaxed).filter(|h| h.token != mine && !live.is_alive(h.token)).collect();
        if dead.is_empty() {
            return false;
        }
        self.locked(sem, live, deadline, strategy, || {
            let mut any = false;
            for holder in dead {
                // Under the lock nobody else changes the table, so an entry
                // equal to what we saw is still the dead holder's: it is
                // returned once, by whoever gets here first. The generation
                // stays, so the entry does not come back to life.
                if table.clear(&holder) {
                    let _ = sem.add(holder.count, true);
                    any = true;
                }
            }
            any
        })
        .unwrap_or(false)
    }

    /// Returns every permit `live`'s token holds (its handle is closing).
    pub fn release_all(&self, sem: &SemaphoreCell, live: &impl Liveness) {
        let held = self.held_by(live);
        if held != 0 {
            let _ = self.release(sem, live, held, WaitStrategy::Adaptive);
        }
    }
}

/// Loom models: `RUSTFLAGS="--cfg loom" CARGO_TARGET_DIR=target/loom cargo test --release --lib loom`.
/// A blocking acquire without a deadline really blocks in the model, so a
/// lost wake-up shows up as a deadlock.
#[cfg(all(test, loom))]
mod loom_models {
    use super::*;
    use crate::segment::registry::Token;
    use loom::sync::Arc;
    use loom::thread;

    /// Explores `f` on a semaphore made by `cell`.
    fn model(cell: fn() -> SemaphoreCell, f: fn(&Arc<SemaphoreCell>)) {
        crate::loom_support::model(3, move || f(&Arc::new(cell())));
    }

    /// An empty plain semaphore.
    fn empty() -> SemaphoreCell {
        SemaphoreCell::new(0)
    }

    /// A bounded semaphore with its one permit.
    fn one_permit() -> SemaphoreCell {
        SemaphoreCell::bounded(1)
    }

    fn acquire(sem: &SemaphoreCell) {
        assert!(sem.acquire_until(Deadline::Never, WaitStrategy::Park));
    }

    /// Runs `f` on the semaphore in a new model thread.
    fn spawn<R: Send + 'static>(
        sem: &Arc<SemaphoreCell>,
        f: impl FnOnce(&SemaphoreCell) -> R + Send + 'static,
    ) -> thread::JoinHandle<R> {
        let sem = sem.clone();
        thread::spawn(move || f(&sem))
    }

    /// Two threads that each acquire a permit; `release` gives them theirs.
    fn two_acquirers(sem: &Arc<SemaphoreCell>, release: impl FnOnce(&SemaphoreCell)) {
        let waiters = [spawn(sem, acquire), spawn(sem, acquire)];
        release(sem);
        for w in waiters {
            w.join().unwrap();
        }
        assert_eq!(sem.count.load(Ordering::SeqCst), 0);
    }

    #[test]
    fn loom_two_sleepers_two_releases_no_lost_wakeup() {
        model(empty, |sem| {
            two_acquirers(sem, |sem| {
                sem.release().unwrap();
                sem.release().unwrap();
            });
            assert_eq!(sem.sleepers.load(Ordering::SeqCst), 0);
        });
    }

    #[test]
    fn loom_stolen_permit_sleeper_still_woken_later() {
        model(empty, |sem| {
            let sleeper = spawn(sem, acquire);
            let thief = spawn(sem, SemaphoreCell::try_acquire);
            sem.release().unwrap();
            if thief.join().unwrap() {
                // The sleeper may have been woken for the permit the thief
                // took: it must sleep again and take this one.
                sem.release().unwrap();
            }
            sleeper.join().unwrap();
            assert_eq!(sem.count.load(Ordering::SeqCst), 0);
        });
    }

    #[test]
    fn loom_release_n_wakes_enough() {
        model(empty, |sem| two_acquirers(sem, |sem| sem.release_n(2).unwrap()));
    }

    #[test]
    fn loom_contended_permit_is_conserved() {
        model(one_permit, |sem| {
            let other = spawn(sem, |sem| {
                acquire(sem);
                sem.release().unwrap();
            });
            acquire(sem);
            sem.release().unwrap();
            other.join().unwrap();
            assert_eq!(sem.count.load(Ordering::SeqCst), 1);
        });
    }

    #[test]
    fn loom_bounded_release_race_one_wins() {
        model(one_permit, |sem| {
            assert!(sem.try_acquire());
            let other = spawn(sem, |sem| sem.release().is_ok());
            let mine = sem.release().is_ok();
            let theirs = other.join().unwrap();
            assert!(mine ^ theirs, "exactly one release fits under the bound");
            assert_eq!(sem.count.load(Ordering::SeqCst), 1);
        });
    }

    /// A handle's token and a registry in which one token is dead.
    struct Mock {
        token: Token,
        dead: Token,
    }

    impl Liveness for Mock {
        fn token(&self) -> Token {
            self.token
        }
        fn is_alive(&self, token: Token) -> bool {
            token != self.dead
        }
    }

    const fn token(slot: u32, generation: u32) -> Token {
        Token::from_slot_generation(slot, generation)
    }

    #[test]
    fn loom_owned_dead_holders_permit_returns_exactly_once() {
        crate::loom_support::model(3, || {
            // One permit, held by a dead token in slot 2; two live handles
            // (slots 0 and 1) each acquire and release it.
            let sem = Arc::new(SemaphoreCell::with_flags(0, OWNED | BOUNDED, 1));
            let lock = Arc::new(RawMutex::new());
            let table = Arc::new([AtomicU32::new(0), AtomicU32::new(0), AtomicU32::new(0)]);
            let dead = token(2, 1);
            SlotTable::new(&table[..]).holds(dead).unwrap().add_locked(1);
            let run = |sem: &SemaphoreCell, lock: &RawMutex, table: &[AtomicU32], me: Mock| {
                let owners = Owners { lock, words: table };
                assert!(owners.acquire(sem, &me, Deadline::Never, WaitStrategy::Park));
                assert_eq!(owners.held_by(&me), 1);
                owners.release(sem, &me, 1, WaitStrategy::Park).unwrap();
            };
            let other = {
                let (sem, lock, table) = (sem.clone(), lock.clone(), table.clone());
                thread::spawn(move || run(&sem, &lock, &table[..], Mock { token: token(1, 1), dead }))
            };
            run(&sem, &lock, &table[..], Mock { token: token(0, 1), dead });
            other.join().unwrap();
            assert_eq!(sem.count.load(Ordering::SeqCst), 1, "returned once, not twice");
            assert_eq!(SlotTable::new(&table[..]).total_held(Ordering::SeqCst), 0);
        });
    }
}
