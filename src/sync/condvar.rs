//! [`Condvar`]: a condition variable shared by name that works with
//! shmkit's [`Mutex`](crate::Mutex), and the embeddable [`CondvarCell`].
//!
//! # The state (two 32-bit words)
//!
//! | word      | meaning                                                              |
//! |-----------|----------------------------------------------------------------------|
//! | `seq`     | bumped (wrapping) by every notify; sleepers wait on it (the futex)  |
//! | `waiters` | how many waits are between announcing themselves and finishing      |
//!
//! All-zero is a condvar nobody waits on. Every bit pattern is valid: a
//! wrong `waiters` only costs a needless wake syscall (too high) or skips a
//! wake until the next notify (too low, i.e. corrupted), a wrong `seq` is
//! only a number.
//!
//! # Protocol
//! A waiter, *holding the mutex*, adds itself to `waiters`, reads `seq` with
//! a read-modify-write, unlocks the mutex and sleeps while `seq` still holds
//! what it read. A notifier bumps `seq` with a read-modify-write, then wakes
//! one or all sleepers if `waiters` is not zero; with nobody waiting it makes
//! no syscall. Both sides touch `seq` by RMW, so the two are ordered: either
//! the waiter's read comes later and sees the bump (it does not sleep), or
//! the notifier's bump comes later, synchronizes with the waiter's RMW and so
//! sees its `waiters` increment (it wakes). A notifier that changed the
//! predicate under the mutex before notifying therefore never loses a
//! wake-up against a waiter that checked the predicate under the mutex.
//!
//! After waking, a waiter leaves `waiters` and re-takes the mutex the robust
//! way: if the holder died, it gets [`LockError::OwnerDied`] like `lock()`.
//! A waiter that dies while waiting leaves `waiters` one too high for good:
//! every later notify then makes a (harmless) wake syscall.
//!
//! Sleeps last at most 200 ms between two looks at `seq`: a notifier that
//! died between its bump and its wake (or a corrupted `waiters`) delays its
//! waiters by that much at worst, never strands them. A wait for a notify
//! that never comes still lasts forever; the `_timeout` forms bound it.
//!
//! Wake-ups may be spurious (another notify, a `seq` that wrapped); use
//! [`Condvar::wait_while`] or re-check the predicate in a loop.

use std::fmt;
use std::time::{Duration, Instant};

use crate::handle::{Handle, handle_api, simple_state};
use crate::primitive::{AtomicU32, Ordering, const_unless_loom, futex_wake};
use crate::segment::ShmSafe;
use crate::sync::mutex::{LockError, LockResult, MutexGuard};
use crate::wait::{Announce, BACKSTOP, Deadline, Naps, Sleepers, Step, Turn, WaitStrategy, Waiter};

/// Whether a timed condvar wait returned because its time ran out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WaitTimeoutResult(bool);

impl WaitTimeoutResult {
    /// `true` if the wait ended because the timeout elapsed (for the
    /// `_while` forms: and the condition still held).
    pub fn timed_out(&self) -> bool {
        self.0
    }
}

/// A condvar's shared state, laid out to be embedded in a user's own
/// `#[repr(C)]` state next to the [`MutexCell`](crate::MutexCell) it is used
/// with.
///
/// All-zero is a condvar nobody waits on.
///
/// ```
/// # #[cfg(feature = "derive")] {
/// use shmkit::{MutexCell, CondvarCell, Segment, ShmSafe, ShmType};
///
/// #[derive(ShmType)]
/// #[repr(C)]
/// struct Mailbox {
///     slot: MutexCell<u64>,
///     filled: CondvarCell,
/// }
/// // SAFETY: repr(C), and every field is ShmSafe.
/// unsafe impl ShmSafe for Mailbox {}
///
/// # let name = format!("doc-rawcv-{}", std::process::id());
/// let seg = Segment::create(&name, Mailbox { slot: MutexCell::new(0), filled: CondvarCell::new() })?;
/// *seg.slot.lock(&seg).unwrap() = 42;
/// seg.filled.notify_all();
/// let guard = seg.filled.wait_while(seg.slot.lock(&seg).unwrap(), |v| *v == 0).unwrap();
/// assert_eq!(*guard, 42);
/// # }
/// # Ok::<(), shmkit::Error>(())
/// ```
#[derive(Default)]
#[repr(C)]
pub struct CondvarCell {
    seq: AtomicU32,
    waiters: AtomicU32,
}

// SAFETY: repr(C) around two atomic words; every bit pattern is a valid
// state (see the module's table); no pointers; no drop glue.
unsafe impl ShmSafe for CondvarCell {}

impl CondvarCell {
    const_unless_loom! {
        /// A condvar nobody waits on.
        pub fn new() -> CondvarCell {
            CondvarCell { seq: AtomicU32::new(0), waiters: AtomicU32::new(0) }
        }
    }

    /// Wakes one waiter (at least one, if any wait). No syscall when nobody
    /// waits.
    pub fn notify_one(&self) {
        self.notify(1);
    }

    /// Wakes every waiter, in every process. No syscall when nobody waits.
    pub fn notify_all(&self) {
        self.notify(u32::MAX);
    }

    fn notify(&self, count: u32) {
        // An RMW: ordered against every waiter's RMW on `seq` (see the module
        // docs). Acquire: if a waiter's RMW came first, its `waiters`
        // increment is visible below. Release: a waiter that reads the new
        // value sees what we wrote before notifying.
        self.seq.fetch_add(1, Ordering::AcqRel);
        if self.waiters.load(Ordering::Relaxed) != 0 {
            futex_wake(&self.seq, count);
        }
    }

    /// Announces a waiter; called holding the mutex. Returns the `seq` to
    /// sleep on.
    fn begin_wait(&self) -> u32 {
        self.waiters.fetch_add(1, Ordering::Relaxed);
        // An RMW, not a load: see `notify`. Release publishes the increment
        // above to a notifier whose bump reads this value.
        self.seq.fetch_add(0, Ordering::AcqRel)
    }

    /// Sleeps while `seq` is still `seen`; `true` if it changed (notified, or
    /// spuriously), `false` if the deadline passed first. The sleeper-count
    /// helper of the parking layer, announced already (`begin_wait`), in
    /// naps of at most [`BACKSTOP`].
    fn sleep(&self, seen: u32, deadline: Deadline, strategy: WaitStrategy) -> bool {
        let sleepers = Sleepers { word: &self.seq, announce: Announce::Caller(seen) };
        let mut waiter = Waiter::new(deadline, strategy, Naps::backstop(BACKSTOP));
        let woke = waiter.sleep_counted(&sleepers, |turn| match turn {
            // Acquire: pairs with the notifier's Release bump.
            Turn::Look { .. } if self.seq.load(Ordering::Acquire) != seen => Step::Done(()),
            _ => Step::Wait,
        });
        woke.is_ok()
    }

    /// Leaves the waiters.
    fn end_wait(&self) {
        // Wrapping on a corrupted zero only costs wake syscalls later.
        self.waiters.fetch_sub(1, Ordering::Relaxed);
    }

    /// The whole wait: announce, unlock, sleep, re-lock. The flag is
    /// whether the deadline passed without a notify.
    pub(crate) fn wait_until<'a, T: ?Sized>(
        &self,
        guard: MutexGuard<'a, T>,
        deadline: Deadline,
        strategy: WaitStrategy,
    ) -> LockResult<(MutexGuard<'a, T>, bool)> {
        let seen = self.begin_wait();
        let (woke, relocked) = MutexGuard::unlocked(guard, || {
            let woke = self.sleep(seen, deadline, strategy);
            self.end_wait();
            woke
        });
        match relocked {
            Ok(g) => Ok((g, !woke)),
            Err(LockError::OwnerDied(g)) => Err(LockError::OwnerDied((g, !woke))),
        }
    }

    /// The `_while` forms: wait while `condition` holds, until `deadline`.
    pub(crate) fn wait_while_until<'a, T: ?Sized>(
        &self,
        mut guard: MutexGuard<'a, T>,
        deadline: Deadline,
        strategy: WaitStrategy,
        mut condition: impl FnMut(&mut T) -> bool,
    ) -> LockResult<(MutexGuard<'a, T>, bool)> {
        loop {
            if !condition(&mut *guard) {
                return Ok((guard, false));
            }
            let timed_out;
            (guard, timed_out) = self.wait_until(guard, deadline, strategy)?;
            if timed_out {
                let still = condition(&mut *guard);
                return Ok((guard, still));
            }
        }
    }

    /// Unlocks `guard`'s mutex, waits for a notify, and locks it again.
    ///
    /// Waiting does not end because the notifier died: a wait with no
    /// notify ever coming blocks forever (use [`CondvarCell::wait_timeout`]
    /// if that matters). Wake-ups may be spurious.
    ///
    /// # Errors
    /// [`LockError::OwnerDied`] with the guard if, when re-locking, a holder
    /// of the mutex had died holding it.
    pub fn wait<'a, T: ?Sized>(&self, guard: MutexGuard<'a, T>) -> LockResult<MutexGuard<'a, T>> {
        strip(self.wait_until(guard, Deadline::Never, WaitStrategy::Adaptive))
    }

    /// As [`CondvarCell::wait`], giving up after `timeout` (the mutex is
    /// re-locked in any case).
    ///
    /// # Errors
    /// As [`CondvarCell::wait`].
    pub fn wait_timeout<'a, T: ?Sized>(
        &self,
        guard: MutexGuard<'a, T>,
        timeout: Duration,
    ) -> LockResult<(MutexGuard<'a, T>, WaitTimeoutResult)> {
        timed(self.wait_until(guard, Deadline::after(timeout), WaitStrategy::Adaptive))
    }

    /// Waits while `condition` returns `true`, absorbing spurious wake-ups.
    ///
    /// # Errors
    /// As [`CondvarCell::wait`]; the condition is not checked again then.
    pub fn wait_while<'a, T: ?Sized>(
        &self,
        guard: MutexGuard<'a, T>,
        condition: impl FnMut(&mut T) -> bool,
    ) -> LockResult<MutexGuard<'a, T>> {
        strip(self.wait_while_until(guard, Deadline::Never, WaitStrategy::Adaptive, condition))
    }

    /// As [`CondvarCell::wait_while`], giving up after `timeout`; the result
    /// says `timed_out()` if the condition still held then.
    ///
    /// # Errors
    /// As [`CondvarCell::wait`].
    pub fn wait_timeout_while<'a, T: ?Sized>(
        &self,
        guard: MutexGuard<'a, T>,
        timeout: Duration,
        condition: impl FnMut(&mut T) -> bool,
    ) -> LockResult<(MutexGuard<'a, T>, WaitTimeoutResult)> {
        timed(self.wait_while_until(guard, Deadline::after(timeout), WaitStrategy::Adaptive, condition))
    }
}

impl fmt::Debug for CondvarCell {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CondvarCell").finish_non_exhaustive()
    }
}

fn strip<G>(r: LockResult<(G, bool)>) -> LockResult<G> {
    match r {
        Ok((g, _)) => Ok(g),
        Err(LockError::OwnerDied((g, _))) => Err(LockError::OwnerDied(g)),
    }
}

fn timed<G>(r: LockResult<(G, bool)>) -> LockResult<(G, WaitTimeoutResult)> {
    match r {
        Ok((g, t)) => Ok((g, WaitTimeoutResult(t))),
        Err(LockError::OwnerDied((g, t))) => Err(LockError::OwnerDied((g, WaitTimeoutResult(t)))),
    }
}

/// A condition variable shared by name between processes, used with a
/// shmkit [`Mutex`](crate::Mutex) (what Python's `multiprocessing.Condition`
/// is, split as in std into a mutex and a condvar).
///
/// A waiter holds the mutex, checks its condition, and calls
/// [`wait`](Condvar::wait) (or better [`wait_while`](Condvar::wait_while)),
/// which unlocks the mutex, sleeps until a notify, and locks it again. A
/// notifier changes the data under the mutex, then calls
/// [`notify_one`](Condvar::notify_one) or [`notify_all`](Condvar::notify_all);
/// with nobody waiting, a notify costs no syscall.
///
/// Re-locking after a wait is robust: if a process died holding the mutex,
/// the waiter gets [`LockError::OwnerDied`] with the guard, as from
/// `lock()`. A condvar cannot tell that the process expected to *notify* has
/// died: a plain `wait` then blocks forever. Use the `_timeout` forms when
/// that matters.
///
/// One condvar may be used with any number of mutexes (it is only a
/// sequence number), though each wait should pair it with the mutex that
/// guards the condition. The handle is `Send` and `Sync`.
///
/// ```
/// use shmkit::{Condvar, Mutex};
/// # let (mn, cn) = (format!("doc-cv-m-{}", std::process::id()), format!("doc-cv-c-{}", std::process::id()));
/// let jobs = Mutex::create(&mn, 0u32)?;
/// let more = Condvar::create(&cn)?;
/// // another process: add a job and notify
/// *Mutex::<u32>::open(&mn)?.lock().unwrap() += 1;
/// Condvar::open(&cn)?.notify_one();
/// // this process: wait until there is a job
/// let mut n = more.wait_while(jobs.lock().unwrap(), |n| *n == 0).unwrap();
/// *n -= 1;
/// # Ok::<(), shmkit::Error>(())
/// ```
pub struct Condvar(Handle<CondvarCell>);

// Zero is a condvar nobody waits on.
simple_state!(impl[] CondvarCell: Condvar, of CondvarCell, init |_cell, _none: ()| ());

handle_api! { impl[] Condvar, "condvar", ""; create() => ((), ()); waits; }

impl Condvar {
    fn raw(&self) -> &CondvarCell {
        self.0.state()
    }

    fn wait_until<'a, T: ?Sized>(
        &self,
        guard: MutexGuard<'a, T>,
        deadline: Deadline,
    ) -> LockResult<(MutexGuard<'a, T>, bool)> {
        self.raw().wait_until(guard, deadline, self.0.strategy())
    }

    fn wait_while_until<'a, T: ?Sized>(
        &self,
        guard: MutexGuard<'a, T>,
        deadline: Deadline,
        condition: impl FnMut(&mut T) -> bool,
    ) -> LockResult<(MutexGuard<'a, T>, bool)> {
        self.raw().wait_while_until(guard, deadline, self.0.strategy(), condition)
    }

    /// Wakes one waiter (at least one, if any wait).
    pub fn notify_one(&self) {
        self.raw().notify_one();
    }

    /// Wakes every waiter, in every process.
    pub fn notify_all(&self) {
        self.raw().notify_all();
    }

    /// Unlocks `guard`'s mutex, waits for a notify, and locks it again.
    ///
    /// Blocks forever if no notify ever comes (for instance because the
    /// process that should notify died); see [`Condvar::wait_timeout`].
    /// Wake-ups may be spurious: prefer [`Condvar::wait_while`]. (The mutex
    /// is re-locked with the mutex handle's own wait strategy.)
    ///
    /// # Errors
    /// [`LockError::OwnerDied`] with the guard if, when re-locking, a holder
    /// of the mutex had died holding it: repair the data as after `lock()`.
    pub fn wait<'a, T: ?Sized>(&self, guard: MutexGuard<'a, T>) -> LockResult<MutexGuard<'a, T>> {
        strip(self.wait_until(guard, Deadline::Never))
    }

    /// As [`Condvar::wait`], giving up after `timeout`; the mutex is locked
    /// again in any case.
    ///
    /// # Errors
    /// As [`Condvar::wait`].
    pub fn wait_timeout<'a, T: ?Sized>(
        &self,
        guard: MutexGuard<'a, T>,
        timeout: Duration,
    ) -> LockResult<(MutexGuard<'a, T>, WaitTimeoutResult)> {
        timed(self.wait_until(guard, Deadline::after(timeout)))
    }

    /// As [`Condvar::wait`], giving up at `deadline`.
    ///
    /// # Errors
    /// As [`Condvar::wait`].
    pub fn wait_deadline<'a, T: ?Sized>(
        &self,
        guard: MutexGuard<'a, T>,
        deadline: Instant,
    ) -> LockResult<(MutexGuard<'a, T>, WaitTimeoutResult)> {
        timed(self.wait_until(guard, Deadline::At(deadline)))
    }

    /// Waits while `condition` returns `true`, absorbing spurious wake-ups.
    ///
    /// # Errors
    /// As [`Condvar::wait`]; the condition is not checked again then.
    pub fn wait_while<'a, T: ?Sized, F: FnMut(&mut T) -> bool>(
        &self,
        guard: MutexGuard<'a, T>,
        condition: F,
    ) -> LockResult<MutexGuard<'a, T>> {
        strip(self.wait_while_until(guard, Deadline::Never, condition))
    }

    /// As [`Condvar::wait_while`], giving up after `timeout`; the result
    /// says `timed_out()` if the condition still held then.
    ///
    /// # Errors
    /// As [`Condvar::wait`].
    pub fn wait_timeout_while<'a, T: ?Sized, F: FnMut(&mut T) -> bool>(
        &self,
        guard: MutexGuard<'a, T>,
        timeout: Duration,
        condition: F,
    ) -> LockResult<(MutexGuard<'a, T>, WaitTimeoutResult)> {
        timed(self.wait_while_until(guard, Deadline::after(timeout), condition))
    }

    /// As [`Condvar::wait_while`], giving up at `deadline`; the result says
    /// `timed_out()` if the condition still held then.
    ///
    /// # Errors
    /// As [`Condvar::wait`].
    pub fn wait_deadline_while<'a, T: ?Sized, F: FnMut(&mut T) -> bool>(
        &self,
        guard: MutexGuard<'a, T>,
        deadline: Instant,
        condition: F,
    ) -> LockResult<(MutexGuard<'a, T>, WaitTimeoutResult)> {
        timed(self.wait_while_until(guard, Deadline::At(deadline), condition))
    }
}

impl fmt::Debug for Condvar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Condvar").field("name", &self.name()).finish_non_exhaustive()
    }
}

#[cfg(all(test, loom))]
mod loom_tests {
    use super::CondvarCell;
    use crate::loom_support::{Alive, model};
    use crate::primitive::{AtomicU32, Ordering};
    use crate::sync::raw_mutex::RawMutex;
    use crate::wait::{Deadline, WaitStrategy};
    use loom::sync::Arc;

    /// An item count guarded by the real robust lock word, and the condvar.
    struct Shared {
        lock: RawMutex,
        items: AtomicU32,
        cv: CondvarCell,
    }

    /// The wait of `CondvarCell::wait_while_until`, with the lock word
    /// driven directly (a `MutexGuard` needs a segment): wait for an item,
    /// take it.
    fn take_item(s: &Shared, me: &Alive) {
        s.lock.lock_forever(me, WaitStrategy::Park);
        while s.items.load(Ordering::Relaxed) == 0 {
            let seen = s.cv.begin_wait();
            s.lock.unlock(false);
            s.cv.sleep(seen, Deadline::Never, WaitStrategy::Park);
            s.cv.end_wait();
            s.lock.lock_forever(me, WaitStrategy::Park);
        }
        s.items.fetch_sub(1, Ordering::Relaxed);
        s.lock.unlock(false);
    }

    fn add_item(s: &Shared, me: &Alive, all: bool) {
        s.lock.lock_forever(me, WaitStrategy::Park);
        s.items.fetch_add(1, Ordering::Relaxed);
        s.lock.unlock(false);
        if all {
            s.cv.notify_all();
        } else {
            s.cv.notify_one();
        }
    }

    /// As `take_item`, with loom's own mutex: the robust lock word retries
    /// with timed futex waits, which loom explores as spinning, too many
    /// branches for three threads.
    fn take_item_simple(items: &loom::sync::Mutex<u32>, cv: &CondvarCell) {
        let mut guard = items.lock().unwrap();
        while *guard == 0 {
            let seen = cv.begin_wait();
            drop(guard);
            cv.sleep(seen, Deadline::Never, WaitStrategy::Park);
            cv.end_wait();
            guard = items.lock().unwrap();
        }
        *guard -= 1;
    }

    fn add_item_simple(items: &loom::sync::Mutex<u32>, cv: &CondvarCell, all: bool) {
        *items.lock().unwrap() += 1;
        if all {
            cv.notify_all();
        } else {
            cv.notify_one();
        }
    }

    fn shared() -> Arc<Shared> {
        Arc::new(Shared { lock: RawMutex::new(), items: AtomicU32::new(0), cv: CondvarCell::new() })
    }

    /// One waiter, one notify_one after the change: the waiter always wakes
    /// (a lost wake-up would block the model).
    #[test]
    fn loom_notify_one_wakes_waiter() {
        model(3, || {
            let s = shared();
            let s2 = s.clone();
            let waiter = loom::thread::spawn(move || take_item(&s2, &Alive(2)));
            add_item(&s, &Alive(1), false);
            waiter.join().unwrap();
        });
    }

    /// Two consumers, two items each followed by notify_one (or notify_all):
    /// both consumers finish; no notify is lost.
    #[test]
    fn loom_two_waiters() {
        for all in [false, true] {
            model(2, move || {
                let s = Arc::new((loom::sync::Mutex::new(0u32), CondvarCell::new()));
                let waiters: Vec<_> = (0..2)
                    .map(|_| {
                        let s = s.clone();
                        loom::thread::spawn(move || take_item_simple(&s.0, &s.1))
                    })
                    .collect();
                add_item_simple(&s.0, &s.1, all);
                add_item_simple(&s.0, &s.1, all);
                for w in waiters {
                    w.join().unwrap();
                }
                assert_eq!(*s.0.lock().unwrap(), 0);
            });
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::{MutexCell, Segment};

    #[repr(C)]
    struct Shared {
        value: MutexCell<u32>,
        cv: CondvarCell,
    }
    // SAFETY: repr(C), and every field is ShmSafe.
    unsafe impl ShmSafe for Shared {}

    impl crate::ShmLayout for Shared {
        fn type_desc() -> crate::TypeDesc {
            crate::TypeDesc::primitive("Shared", std::mem::size_of::<Self>(), std::mem::align_of::<Self>())
        }
    }

    fn segment(tag: &str) -> Segment<Shared> {
        let name = format!("unit-cv-{tag}-{}", std::process::id());
        Segment::create(&name, Shared { value: MutexCell::new(0), cv: CondvarCell::new() }).unwrap()
    }

    /// The waiter is asleep once `waiters` counts it and the mutex is free.
    fn wait_until_asleep(seg: &Segment<Shared>) {
        while seg.cv.waiters.load(Ordering::Relaxed) == 0 || seg.value.try_lock(seg).is_err() {
            std::thread::sleep(Duration::from_millis(1));
        }
        std::thread::sleep(Duration::from_millis(5));
    }

    /// A notifier that died after bumping `seq` but before its wake: the
    /// sleeper notices on its next look.
    #[test]
    fn a_notify_whose_wake_never_came_is_noticed() {
        let seg = segment("nowake");
        wake_sleeping_waiter(&seg, |seg| {
            *seg.value.lock(seg).unwrap() = 1;
            seg.cv.seq.fetch_add(1, Ordering::AcqRel);
        });
    }

    /// Runs `wake` once a waiter for a non-zero value sleeps, and checks
    /// that the waiter returns with the value 1 that `wake` must store.
    fn wake_sleeping_waiter(seg: &Segment<Shared>, wake: impl FnOnce(&Segment<Shared>)) {
        std::thread::scope(|s| {
            let waiter = s.spawn(|| *seg.cv.wait_while(seg.value.lock(seg).unwrap(), |v| *v == 0).unwrap());
            wait_until_asleep(seg);
            wake(seg);
            assert_eq!(waiter.join().unwrap(), 1);
        });
    }

    /// Corrupted words: a zeroed waiter count skips the wake syscall, the
    /// poll still ends the wait; a huge one only costs syscalls.
    #[test]
    fn corrupted_words_do_no_harm() {
        let seg = segment("corrupt");
        wake_sleeping_waiter(&seg, |seg| {
            seg.cv.waiters.store(0, Ordering::Relaxed);
            *seg.value.lock(seg).unwrap() = 1;
            seg.cv.notify_one();
        });
        seg.cv.waiters.store(u32::MAX, Ordering::Relaxed);
        seg.cv.seq.store(u32::MAX, Ordering::Relaxed);
        seg.cv.notify_all();
        let (g, r) = seg.cv.wait_timeout(seg.value.lock(&seg).unwrap(), Duration::from_millis(2)).unwrap();
        assert!(r.timed_out());
        assert_eq!(*g, 1);
    }
}
