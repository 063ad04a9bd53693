//! [`RwLock<T>`]: a robust, writer-preferring reader-writer lock shared by
//! name between processes, its guards, and the embeddable [`RwLockCell<T>`].
//!
//! # The state
//!
//! | field         | bits    | meaning                                                   |
//! |---------------|---------|-----------------------------------------------------------|
//! | `word`        | 31      | `PARKED`: someone may sleep on `word`; unlock wakes all    |
//! |               | 30      | `LOCKED`: a writer holds it, or waits for readers to leave |
//! |               | 29      | `DIRTY`: a writer died holding it (see below)              |
//! |               | 0..=28  | the writer's liveness token                                |
//! | `drain`       | 32      | 1 while a writer sleeps until the readers have left        |
//! | `readers[s]`  | 19..=31 | read holds of the handle in registry slot `s` (13 bits)    |
//! |               | 0..=18  | that handle's token generation                             |
//!
//! `word` is a `RawMutex`, the robust lock word of [`Mutex`](crate::Mutex),
//! taken by writers (with `SeqCst`, and unlocked waking every sleeper, since
//! readers sleep on it too). Readers do not share one counter: each handle counts its own read
//! holds in the entry of its liveness slot, tagged with its generation, so a
//! dead reader's holds can be told apart and dropped (`readers` is a
//! [`SlotTable`]).
//!
//! - **Read**: add one to our entry, then look at `word`. If no writer is
//!   there, we hold a read lock. Otherwise step back (subtract again) and
//!   wait on `word` until the writer leaves. A waiting writer holds `LOCKED`
//!   too, so new readers wait behind it: writers are not starved.
//! - **Write**: take `word` (as a mutex), then wait until every entry has a
//!   zero count. Both sides "announce, then look at the other side" with
//!   `SeqCst` accesses (a Dekker pair), so a reader and a writer never both
//!   go ahead.
//!
//! Both waits go through the parking layer (`crate::wait`): a reader waits
//! for the writer with the parked-bit helper on `word`; a writer waits for
//! the readers with the sleeper helper, raising `drain` as a flag
//! (`Announce::Flag`) that a leaving reader lowers before it wakes.
//!
//! # Death
//!
//! - A writer that dies holding (or waiting with) `word` is noticed by the
//!   next locker, which polls the registry (sleeps of 1 ms doubling to
//!   16 ms): a writer takes `word` over with `DIRTY` and gets `OwnerDied`; a
//!   reader releases `word` leaving `DIRTY` set.
//! - While `DIRTY` is set, readers get their guard as
//!   [`LockError::OwnerDied`]: a reader cannot repair the data, so every
//!   reader is told until a writer has taken the lock (it gets `OwnerDied`
//!   too); when that write guard drops, `DIRTY` is cleared.
//! - A reader that dies holding read locks: a writer waiting for the readers
//!   asks the registry about every entry with a non-zero count; a dead one
//!   is reset to zero by CAS, so its holds are dropped exactly once. A new
//!   handle that claims the dead one's slot also drops them (the generation
//!   differs).
//!
//! Corrupted state never leads to undefined behaviour or a panic: indexes
//! are range-checked and a stale or foreign entry is ignored. It can make
//! the lock look held by a live holder (as with `Mutex`); the timeout forms
//! bound such a wait.
//!
//! The token names a handle, not a thread: a thread that takes a read lock
//! and then a write lock through any handle deadlocks, as with std's lock.

use std::cell::UnsafeCell;
use std::fmt;
use std::marker::PhantomData;
use std::ops::{Deref, DerefMut};
use std::ptr::NonNull;

use bytemuck::Pod;

use crate::handle::{Handle, handle_api, simple_state};
use crate::primitive::{AtomicU32, Ordering, futex_wake, model_fence};
use crate::segment::fork;
use crate::segment::registry::{Liveness, MAX_SLOTS, Token};
use crate::segment::token::{Holds, SlotTable};
use crate::segment::{RawSegment, Segment, ShmSafe};
use crate::shm_type::{ShmLayout, ShmType, TypeDesc};
use crate::sync::mutex::{LockError, LockResult, TryLockError, TryLockResult, lock_forms, wrap_try};
use crate::sync::raw_mutex::{DIRTY, LOCKED, LockFail, PARKED, RawMutex};
use crate::wait::{Announce, Deadline, Handshake, Naps, POLL_MAX, Sleepers, Step, Turn, WaitStrategy, Waiter};

fn wake_all(word: &AtomicU32) {
    futex_wake(word, i32::MAX as u32);
}

/// How a wait of the lock sleeps: polling liveness, or (loom models,
/// `poll == false`) unbounded.
fn naps(poll: bool) -> Naps {
    if poll { Naps::polling() } else { Naps::unbounded() }
}

/// Removes a read hold from a handle's entry, and wakes a writer waiting on
/// `drain` for it.
#[inline]
fn release_read(holds: Holds<'_>, drain: &AtomicU32) {
    // SeqCst (so Release): our reads of the data happen-before the writer's
    // scan that sees the smaller count; and a Dekker pair with the writer's
    // `drain = 1` and re-scan. An entry that is not ours any more (a
    // corrupted one) has nothing to give back.
    holds.remove_one(Ordering::SeqCst);
    // Either the writer's re-scan sees our smaller count, or we see its
    // `drain` flag (see `model_fence`).
    model_fence();
    if drain.load(Ordering::SeqCst) != 0 && drain.swap(0, Ordering::Relaxed) != 0 {
        wake_all(drain);
    }
}

/// Releases the write lock held in `word`, waking every sleeper (readers
/// sleep on the word too).
fn unlock_write(word: &RawMutex, keep_dirty: bool) {
    word.unlock_all(keep_dirty);
}

/// The lock logic over the three parts of the state, wherever they live.
#[derive(Clone, Copy)]
pub(crate) struct Core<'a> {
    pub word: &'a RawMutex,
    pub drain: &'a AtomicU32,
    /// The read holds of the registry slots in use (at most the table).
    pub readers: SlotTable<'a>,
}

impl Core<'_> {
    /// Adds a read hold to our entry, dropping holds a dead previous owner
    /// of the slot left. `false` if the entry is full
    /// ([`SlotTable::MAX_COUNT`] holds).
    #[inline]
    fn enter(holds: Holds<'_>) -> bool {
        // SeqCst: this announcement and the caller's following look at
        // `word` form a Dekker pair with a writer's take and scan.
        holds.add_one(Ordering::SeqCst)
    }

    /// Removes a read hold of `token` and wakes a writer waiting for it
    /// (what a read guard's drop does).
    #[cfg(loom)]
    fn leave(&self, token: Token) {
        if let Some(holds) = self.readers.holds(token) {
            release_read(holds, self.drain);
        }
    }

    /// Takes a read lock. `Ok(true)`: a writer died holding the lock and no
    /// writer has repaired the data since.
    #[inline]
    pub fn read(
        &self,
        live: &impl Liveness,
        deadline: Deadline,
        strategy: WaitStrategy,
        poll: bool,
    ) -> Result<bool, LockFail> {
        let Some(holds) = self.readers.holds(live.token()) else {
            // Our slot lies past the table: cannot happen with a checked
            // header; never block on it.
            return Err(LockFail::WouldBlock);
        };
        if Self::enter(holds) {
            // Either a writer's scan sees our hold, or we see its `LOCKED`
            // (see `model_fence`). SeqCst is also Acquire: the last
            // writer's Release unlock.
            model_fence();
            let w = self.word.word().load(Ordering::SeqCst);
            if w & LOCKED == 0 {
                return Ok(w & DIRTY != 0);
            }
            release_read(holds, self.drain);
        }
        self.read_slow(holds, live, deadline, strategy, poll)
    }

    #[cold]
    fn read_slow(
        &self,
        holds: Holds<'_>,
        live: &impl Liveness,
        deadline: Deadline,
        strategy: WaitStrategy,
        poll: bool,
    ) -> Result<bool, LockFail> {
        let mut waiter = Waiter::new(deadline, strategy, naps(poll));
        let gave_up = |_| LockFail::expired(deadline);
        loop {
            if !Self::enter(holds) {
                // This handle already has the most read holds an entry
                // counts (or its entry is corrupted): wait for one to end,
                // in bounded naps.
                waiter.doze().map_err(gave_up)?;
                continue;
            }
            // As in `read`.
            model_fence();
            let w = self.word.word().load(Ordering::SeqCst);
            if w & LOCKED == 0 {
                return Ok(w & DIRTY != 0);
            }
            release_read(holds, self.drain);
            // Wait for the writer to leave. Relaxed looks: we go back to
            // `enter` and its SeqCst look before reading anything.
            let left = waiter.park_bit(self.word.word(), PARKED, Ordering::Relaxed, |turn, w| match turn {
                Turn::Look { .. } if w & LOCKED == 0 => Step::Done(()),
                // The writer died: release the word on its behalf.
                Turn::Stuck if poll && !live.is_alive(Token::from_bits(w)) => {
                    if self.word.release_dead(w) {
                        Step::Done(())
                    } else {
                        Step::Retry
                    }
                }
                _ => Step::Wait,
            });
            left.map_err(gave_up)?;
        }
    }

    /// Takes the write lock. `Ok(true)`: a writer died holding it.
    #[inline]
    pub fn write(
        &self,
        live: &impl Liveness,
        deadline: Deadline,
        strategy: WaitStrategy,
        poll: bool,
    ) -> Result<bool, LockFail> {
        // SeqCst (so Acquire: the previous writer's Release unlock): one
        // half of the Dekker pair with a reader's announcement, see `read`.
        let dirty = self.word.lock_with(Ordering::SeqCst, live, poll, deadline, strategy)?;
        match self.drain_readers(live, deadline, strategy, poll) {
            Ok(()) => Ok(dirty),
            Err(fail) => {
                // Give the word back as we found it.
                self.write_unlock(dirty);
                Err(fail)
            }
        }
    }

    /// Whether some entry holds read locks. With `live`, entries of dead
    /// handles are zeroed (each by one CAS, so their holds go exactly once)
    /// and do not count.
    fn readers_present(&self, live: Option<&dyn Fn(Token) -> bool>) -> bool {
        let Some(is_alive) = live else {
            // The common case, a write lock with no readers: one OR of all
            // entries, with no branch per entry. SeqCst loads are also
            // Acquire: a reader's Release of its hold makes its data reads
            // happen-before our writes.
            return self.readers.any_held(Ordering::SeqCst);
        };
        let mut present = false;
        // SeqCst: see above.
        for holder in self.readers.holders(Ordering::SeqCst) {
            if is_alive(holder.token) {
                present = true;
            } else {
                self.readers.clear(&holder);
            }
        }
        present
    }

    /// Waits, holding `word`, until no live reader holds a read lock. The
    /// writer sleeps on `drain` raised to 1; a leaving reader that sees it
    /// lowers it and wakes (see `release_read`).
    fn drain_readers(
        &self,
        live: &impl Liveness,
        deadline: Deadline,
        strategy: WaitStrategy,
        poll: bool,
    ) -> Result<(), LockFail> {
        let check = |token: Token| live.is_alive(token);
        // A Dekker pair with a leaving reader (see `release_read`): the SeqCst
        // store of the flag, then a SeqCst scan.
        let sleepers = Sleepers { word: self.drain, announce: Announce::Flag(Handshake::SeqCst) };
        // We hold `word` (taken with SeqCst): a Dekker pair with a reader's
        // announcement and look at `word` (see `read`).
        model_fence();
        let drained = Waiter::new(deadline, strategy, naps(poll)).sleep_counted(&sleepers, |turn| match turn {
            Turn::Look { .. } | Turn::Announced(_) if !self.readers_present(None) => Step::Done(()),
            // Entries of dead readers are dropped, and do not count.
            Turn::Stuck if poll && !self.readers_present(Some(&check)) => Step::Done(()),
            _ => Step::Wait,
        });
        drained.map_err(|_| LockFail::expired(deadline))
    }

    /// Releases the write lock; with `keep_dirty` the mark stays for the
    /// next locker.
    pub fn write_unlock(&self, keep_dirty: bool) {
        unlock_write(self.word, keep_dirty);
    }
}

/// The lock words of a reader-writer lock, without its data: a lock word,
/// a drain word, and one reader entry per possible liveness slot (about
/// 4 KiB). [`RwLockCell`] keeps one before its data; a lock of a type
/// described at run time ([`DynRwLock`](crate::dynamic::DynRwLock)) keeps
/// one before its bytes, at the same offsets.
#[repr(C)]
pub struct RawRwLock {
    word: RawMutex,
    drain: AtomicU32,
    readers: [AtomicU32; MAX_SLOTS as usize],
}

// SAFETY: repr(C) of atomic words; all-zero is an unlocked lock with no
// readers; every bit pattern is a valid (if possibly stale or dead) state
// that is range-checked on use; no pointers; no drop glue.
unsafe impl ShmSafe for RawRwLock {}

impl RawRwLock {
    fn new() -> Self {
        RawRwLock {
            word: RawMutex::new(),
            drain: AtomicU32::new(0),
            readers: std::array::from_fn(|_| AtomicU32::new(0)),
        }
    }

    /// The lock over the reader entries of the first `slots` liveness slots.
    fn core(&self, slots: u32) -> Core<'_> {
        let n = (slots.min(MAX_SLOTS)) as usize;
        Core { word: &self.word, drain: &self.drain, readers: SlotTable::new(&self.readers[..n]) }
    }

    /// Takes a read lock in `seg` (whose registry names the holders and
    /// whose header says how many reader entries are in use), guarding
    /// `data`.
    ///
    /// # Safety
    /// `data` is valid for reads for `'a`, and changed only by holders of
    /// this lock's write lock.
    pub(crate) unsafe fn read_in<'a, T: ?Sized>(
        &'a self,
        seg: &RawSegment,
        deadline: Deadline,
        strategy: WaitStrategy,
        data: NonNull<T>,
    ) -> TryLockResult<RwLockReadGuard<'a, T>> {
        let core = self.core(seg.header().registry_slots);
        // Our own slot, so always in the table of a checked segment.
        let Some(holds) = core.readers.holds(Liveness::token(seg)) else {
            return Err(TryLockError::WouldBlock);
        };
        let outcome = core.read(seg, deadline, strategy, true);
        wrap_try(outcome, || RwLockReadGuard {
            lock: self,
            holds,
            data,
            born: fork::generation(),
            _not_send: PhantomData,
        })
    }

    /// Takes the write lock in `seg`, guarding `data`.
    ///
    /// # Safety
    /// `data` is valid for reads and writes for `'a`, and reached only by
    /// holders of this lock.
    pub(crate) unsafe fn write_in<'a, T: ?Sized>(
        &'a self,
        seg: &RawSegment,
        deadline: Deadline,
        strategy: WaitStrategy,
        data: NonNull<T>,
    ) -> TryLockResult<RwLockWriteGuard<'a, T>> {
        let outcome = self.core(seg.header().registry_slots).write(seg, deadline, strategy, true);
        wrap_try(outcome, || RwLockWriteGuard {
            word: &self.word,
            data,
            born: fork::generation(),
            _not_send: PhantomData,
        })
    }

    /// Whether a writer holds or waits for the lock now (a snapshot).
    pub(crate) fn is_write_locked(&self) -> bool {
        self.word.is_locked()
    }
}

impl fmt::Debug for RawRwLock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RawRwLock").field("write_locked", &self.is_write_locked()).finish_non_exhaustive()
    }
}

/// A robust reader-writer lock and the data it protects, laid out to be
/// embedded in a user's own `#[repr(C)]` state placed with [`Segment`]
/// (what [`RwLock`] keeps in its segment). About 4 KiB plus the data: a
/// lock word, a drain word, and one reader entry per possible liveness slot.
///
/// ```
/// # #[cfg(feature = "derive")] {
/// use shmkit::{RwLockCell, Segment, ShmSafe, ShmType};
///
/// #[derive(ShmType)]
/// #[repr(C)]
/// struct Table {
///     rows: RwLockCell<[u32; 8]>,
/// }
/// // SAFETY: repr(C), and every field is ShmSafe.
/// unsafe impl ShmSafe for Table {}
///
/// # let name = format!("doc-rwcell-{}", std::process::id());
/// let seg = Segment::create(&name, Table { rows: RwLockCell::new([0; 8]) })?;
/// seg.rows.write(&seg).unwrap()[3] = 7;
/// assert_eq!(seg.rows.read(&seg).unwrap()[3], 7);
/// # }
/// # Ok::<(), shmkit::Error>(())
/// ```
#[repr(C, align(64))]
pub struct RwLockCell<T> {
    raw: RawRwLock,
    data: UnsafeCell<T>,
}

// SAFETY: the data is only reached through guards, which require holding the
// lock (shared for reads, exclusive for writes); T: Pod has no thread affinity.
unsafe impl<T: Pod> Sync for RwLockCell<T> {}
// SAFETY: repr(C) of the lock words (ShmSafe) and a T: Pod, which accepts
// any bits; no pointers; no drop glue.
unsafe impl<T: Pod> ShmSafe for RwLockCell<T> {}

/// `RwLockCell{data:T@N}#size/align`: the data and where it lies; the lock
/// words before it are fixed by the format version.
impl<T: ShmLayout> ShmLayout for RwLockCell<T> {
    fn type_desc() -> TypeDesc {
        TypeDesc::cell::<Self, T>("RwLockCell", std::mem::offset_of!(Self, data))
    }
}

impl<T: Pod> RwLockCell<T> {
    /// An unlocked cell holding `value`.
    pub fn new(value: T) -> Self {
        RwLockCell { raw: RawRwLock::new(), data: UnsafeCell::new(value) }
    }

    /// The data, as the guards reach it (`UnsafeCell<T>` has `T`'s layout).
    fn data(&self) -> NonNull<T> {
        NonNull::from(&self.data).cast()
    }

    fn check_in<S: ShmSafe + ShmLayout>(&self, seg: &Segment<S>) {
        let inside = seg.raw().contains((self as *const Self).cast(), std::mem::size_of::<Self>());
        assert!(inside, "RwLockCell: the cell is not inside the segment given for liveness checks");
    }

    fn read_in(
        &self,
        seg: &RawSegment,
        deadline: Deadline,
        strategy: WaitStrategy,
    ) -> TryLockResult<RwLockReadGuard<'_, T>> {
        // SAFETY: the data lives as long as the cell and is only reached
        // through the guards of its lock.
        unsafe { self.raw.read_in(seg, deadline, strategy, self.data()) }
    }

    fn write_in(
        &self,
        seg: &RawSegment,
        deadline: Deadline,
        strategy: WaitStrategy,
    ) -> TryLockResult<RwLockWriteGuard<'_, T>> {
        // SAFETY: as in `read_in`.
        unsafe { self.raw.write_in(seg, deadline, strategy, self.data()) }
    }

    /// Takes a read lock, blocking while a writer holds or waits for the lock.
    ///
    /// # Errors
    /// [`LockError::OwnerDied`] with the guard if a writer died holding the
    /// lock and no writer has taken it since.
    ///
    /// # Panics
    /// If the cell does not lie inside `seg`.
    pub fn read<'a, S: ShmSafe + ShmLayout>(&'a self, seg: &'a Segment<S>) -> LockResult<RwLockReadGuard<'a, T>> {
        self.check_in(seg);
        blocking(|| self.read_in(seg.raw(), Deadline::Never, WaitStrategy::Adaptive))
    }

    /// Takes a read lock if that is possible without waiting.
    ///
    /// # Errors
    /// [`TryLockError::WouldBlock`], or `OwnerDied` with the guard.
    ///
    /// # Panics
    /// As [`RwLockCell::read`].
    pub fn try_read<'a, S: ShmSafe + ShmLayout>(
        &'a self,
        seg: &'a Segment<S>,
    ) -> TryLockResult<RwLockReadGuard<'a, T>> {
        self.check_in(seg);
        self.read_in(seg.raw(), Deadline::Now, WaitStrategy::Park)
    }

    /// Takes the write lock, blocking while others hold it.
    ///
    /// # Errors
    /// [`LockError::OwnerDied`] with the guard if a writer died holding it.
    ///
    /// # Panics
    /// As [`RwLockCell::read`].
    pub fn write<'a, S: ShmSafe + ShmLayout>(&'a self, seg: &'a Segment<S>) -> LockResult<RwLockWriteGuard<'a, T>> {
        self.check_in(seg);
        blocking(|| self.write_in(seg.raw(), Deadline::Never, WaitStrategy::Adaptive))
    }

    /// Takes the write lock if that is possible without waiting.
    ///
    /// # Errors
    /// [`TryLockError::WouldBlock`], or `OwnerDied` with the guard.
    ///
    /// # Panics
    /// As [`RwLockCell::read`].
    pub fn try_write<'a, S: ShmSafe + ShmLayout>(
        &'a self,
        seg: &'a Segment<S>,
    ) -> TryLockResult<RwLockWriteGuard<'a, T>> {
        self.check_in(seg);
        self.write_in(seg.raw(), Deadline::Now, WaitStrategy::Park)
    }
}

/// Runs a lock attempt without deadline until it holds the lock.
pub(crate) fn blocking<G>(mut attempt: impl FnMut() -> TryLockResult<G>) -> LockResult<G> {
    loop {
        match attempt() {
            Ok(g) => return Ok(g),
            Err(TryLockError::OwnerDied(g)) => return Err(LockError::OwnerDied(g)),
            // Without a deadline an attempt only fails if our liveness slot
            // lies outside the reader table, which a checked header rules
            // out; wait a little rather than spin.
            Err(_) => std::thread::sleep(POLL_MAX),
        }
    }
}

/// RAII guard of a shared read lock: derefs to the data, unlocks on drop.
#[must_use = "if unused the lock is released immediately"]
pub struct RwLockReadGuard<'a, T: ?Sized> {
    lock: &'a RawRwLock,
    /// This handle's read holds.
    holds: Holds<'a>,
    data: NonNull<T>,
    /// The fork generation the read lock was taken in: a copy of the guard
    /// in a `fork()`ed child holds nothing and gives nothing back.
    born: u32,
    _not_send: PhantomData<(*const (), &'a T)>,
}

// SAFETY: the guard only gives `&T`; sharing it between threads is sound when
// `T: Sync`, as for `std::sync::RwLockReadGuard`.
unsafe impl<T: ?Sized + Sync> Sync for RwLockReadGuard<'_, T> {}

impl<T: ?Sized> Deref for RwLockReadGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: we hold a read lock, so no writer changes the data while
        // the guard lives; the data outlives 'a (`RawRwLock::read_in`).
        unsafe { self.data.as_ref() }
    }
}

impl<T: ?Sized> Drop for RwLockReadGuard<'_, T> {
    /// Gives the read hold back; in a `fork()`ed child, the copy of its
    /// parent's guard leaves the parent's hold alone.
    fn drop(&mut self) {
        if !fork::forked_since(self.born) {
            release_read(self.holds, &self.lock.drain);
        }
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for RwLockReadGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

/// RAII guard of the exclusive write lock: derefs mutably to the data,
/// unlocks on drop.
#[must_use = "if unused the lock is released immediately"]
pub struct RwLockWriteGuard<'a, T: ?Sized> {
    word: &'a RawMutex,
    data: NonNull<T>,
    /// The fork generation the write lock was taken in: a copy of the guard
    /// in a `fork()`ed child does not hold the lock and never releases it.
    born: u32,
    _not_send: PhantomData<(*const (), &'a mut T)>,
}

// SAFETY: as for `std::sync::RwLockWriteGuard`: `&guard` only gives `&T`.
unsafe impl<T: ?Sized + Sync> Sync for RwLockWriteGuard<'_, T> {}

impl<T: ?Sized> Deref for RwLockWriteGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: we hold the write lock: nobody else reaches the data
        // (`RawRwLock::write_in`).
        unsafe { self.data.as_ref() }
    }
}

impl<T: ?Sized> DerefMut for RwLockWriteGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: we hold the write lock and `&mut self` is unique.
        unsafe { self.data.as_mut() }
    }
}

impl<T: ?Sized> Drop for RwLockWriteGuard<'_, T> {
    /// Unlocks; in a `fork()`ed child, the copy of its parent's guard
    /// leaves the parent's lock alone.
    fn drop(&mut self) {
        if !fork::forked_since(self.born) {
            unlock_write(self.word, false);
        }
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for RwLockWriteGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

/// A robust reader-writer lock around a `T: ShmType`, shared by name between
/// processes.
///
/// Many readers or one writer. Writer-preferring: once a writer waits, new
/// readers wait behind it, so a stream of readers cannot starve it (the
/// other side of that choice: writers that re-lock back to back, with no
/// pause, can keep readers out for as long as they do so).
///
/// Robust like [`Mutex`](crate::Mutex): if a writer dies holding the lock,
/// the next locker gets [`LockError::OwnerDied`] — a writer, which repairs
/// the data and clears the mark when its guard drops; or a reader, which is
/// told but cannot repair, so readers keep getting `OwnerDied` until a
/// writer has had the lock. If a *reader* dies holding a read lock, its hold
/// is dropped once a waiting writer finds it dead (within milliseconds).
///
/// The handle is `Send` and `Sync`. Read holds are counted per handle: a
/// thread must not take the write lock while it (or any thread of the same
/// handle) holds a read lock through it.
///
/// ```
/// use shmkit::RwLock;
/// # let name = format!("doc-rwlock-{}", std::process::id());
/// let lock = RwLock::create(&name, [0u64; 4])?;
/// let other = RwLock::<[u64; 4]>::open(&name)?;
/// other.write().unwrap()[1] = 9;
/// let (a, b) = (lock.read().unwrap(), other.read().unwrap()); // many readers
/// assert_eq!(a[1] + b[1], 18);
/// # Ok::<(), shmkit::Error>(())
/// ```
pub struct RwLock<T: ShmType>(Handle<RwLockCell<T>>);

// Zero is an unlocked state with no readers: only the data is written.
simple_state!(impl[T: ShmType] RwLockCell<T>: RwLock, of T, init |cell, value: T| *cell.data.get_mut() = value);

handle_api! { impl[T: ShmType] RwLock<T>, "lock", " holding `value`"; create(value: T) => ((), value); waits; }

impl<T: ShmType> RwLock<T> {
    fn cell(&self) -> &RwLockCell<T> {
        self.0.state()
    }

    fn read_until(&self, deadline: Deadline) -> TryLockResult<RwLockReadGuard<'_, T>> {
        self.cell().read_in(self.0.segment(), deadline, self.0.strategy())
    }

    fn write_until(&self, deadline: Deadline) -> TryLockResult<RwLockWriteGuard<'_, T>> {
        self.cell().write_in(self.0.segment(), deadline, self.0.strategy())
    }

    fn read_forever(&self) -> LockResult<RwLockReadGuard<'_, T>> {
        blocking(|| self.read_until(Deadline::Never))
    }

    fn write_forever(&self) -> LockResult<RwLockWriteGuard<'_, T>> {
        blocking(|| self.write_until(Deadline::Never))
    }

    // A reader waits while a writer holds or waits for the lock; a reader
    // told `OwnerDied` cannot repair the data (see the type's docs); a
    // writer waits for readers and writers, and drops dead readers' holds.
    lock_forms!("a read lock", RwLockReadGuard<'_, T>; read / try_read / read_timeout / read_deadline => read_forever / read_until);
    lock_forms!("the write lock", RwLockWriteGuard<'_, T>; write / try_write / write_timeout / write_deadline => write_forever / write_until);

    /// Whether a writer holds or waits for the lock now (a snapshot).
    pub fn is_write_locked(&self) -> bool {
        self.cell().raw.is_write_locked()
    }
}

impl<T: ShmType> fmt::Debug for RwLock<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RwLock").field("name", &self.name()).finish_non_exhaustive()
    }
}

impl<T> fmt::Debug for RwLockCell<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RwLockCell").finish_non_exhaustive()
    }
}

#[cfg(all(test, loom))]
mod loom_models {
    use super::*;
    use crate::loom_support::{Alive, model as check};
    use loom::cell::UnsafeCell as LoomUnsafeCell;
    use loom::sync::Arc;

    struct Shared {
        word: RawMutex,
        drain: AtomicU32,
        readers: [AtomicU32; 3],
        data: LoomUnsafeCell<[u32; 2]>,
    }

    impl Shared {
        fn core(&self) -> Core<'_> {
            Core { word: &self.word, drain: &self.drain, readers: SlotTable::new(&self.readers) }
        }
    }

    /// Thread `i` is the handle in slot `i` (see `Alive`).
    fn writer(s: &Shared, i: u32) {
        let core = s.core();
        let dirty = core.write(&Alive(i), Deadline::Never, WaitStrategy::Park, false);
        assert_eq!(dirty, Ok(false));
        // A conflicting access by a reader or writer makes loom fail.
        s.data.with_mut(|d| {
            // SAFETY: we hold the write lock (that is what the model checks).
            let d = unsafe { &mut *d };
            d[0] += 1;
            d[1] += 1;
        });
        core.write_unlock(false);
    }

    fn reader(s: &Shared, i: u32) {
        let core = s.core();
        let dirty = core.read(&Alive(i), Deadline::Never, WaitStrategy::Park, false);
        assert_eq!(dirty, Ok(false));
        s.data.with(|d| {
            // SAFETY: we hold a read lock.
            let d = unsafe { &*d };
            assert_eq!(d[0], d[1]);
        });
        core.leave(Alive(i).token());
    }

    fn model(roles: [fn(&Shared, u32); 3]) {
        check(3, move || {
            let s = Arc::new(Shared {
                word: RawMutex::new(),
                drain: AtomicU32::new(0),
                readers: [AtomicU32::new(0), AtomicU32::new(0), AtomicU32::new(0)],
                data: LoomUnsafeCell::new([0, 0]),
            });
            let hs: Vec<_> = (1..3)
                .map(|i| {
                    let s = s.clone();
                    loom::thread::spawn(move || roles[i as usize](&s, i))
                })
                .collect();
            roles[0](&s, 0);
            for h in hs {
                h.join().unwrap();
            }
            assert!(!s.word.is_locked());
        });
    }

    #[test]
    fn loom_rwlock_writer_and_two_readers() {
        model([writer, reader, reader]);
    }

    #[test]
    fn loom_rwlock_two_writers_and_a_reader() {
        model([writer, writer, reader]);
    }
}
