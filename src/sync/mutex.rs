//! [`Mutex<T>`]: a robust mutex shared by name between processes, its guard,
//! and the embeddable [`MutexCell<T>`].

use std::cell::UnsafeCell;
use std::fmt;
use std::marker::PhantomData;
use std::mem::ManuallyDrop;
use std::ops::{Deref, DerefMut};
use std::ptr::NonNull;
use std::time::{Duration, Instant};

use bytemuck::Pod;

use crate::handle::{Handle, handle_api, simple_state};
use crate::segment::fork;
use crate::segment::{RawSegment, Segment, ShmSafe};
use crate::shm_type::{ShmLayout, ShmType, TypeDesc};
use crate::sync::raw_mutex::{LockFail, RawMutex};
use crate::wait::{Deadline, WaitStrategy};

/// The result of a blocking lock: the guard, or the guard wrapped in
/// [`LockError::OwnerDied`].
pub type LockResult<G> = Result<G, LockError<G>>;

/// The result of `try_lock` or `lock_timeout`.
pub type TryLockResult<G> = Result<G, TryLockError<G>>;

/// A lock was acquired, but its previous holder died holding it.
///
/// You hold the lock now. The data may be half-updated: repair it, then drop
/// the guard; from then on the lock works as before. If you drop the guard
/// without looking, the next locker is told nothing more.
pub enum LockError<G> {
    /// The previous holder died while holding the lock.
    OwnerDied(G),
}

impl<G> LockError<G> {
    /// The guard, whatever happened.
    pub fn into_inner(self) -> G {
        match self {
            LockError::OwnerDied(g) => g,
        }
    }
}

impl<G> fmt::Debug for LockError<G> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("OwnerDied(..)")
    }
}

impl<G> fmt::Display for LockError<G> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the previous holder of the lock died holding it; the data may need repair")
    }
}

impl<G> std::error::Error for LockError<G> {}

/// Why `try_lock` or `lock_timeout` did not return a clean guard.
pub enum TryLockError<G> {
    /// Acquired, but the previous holder died holding it (see [`LockError`]).
    OwnerDied(G),
    /// `try_lock`: held by a live holder.
    WouldBlock,
    /// `lock_timeout`: still held by a live holder when the time ran out.
    TimedOut,
}

impl<G> fmt::Debug for TryLockError<G> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TryLockError::OwnerDied(_) => "OwnerDied(..)",
            TryLockError::WouldBlock => "WouldBlock",
            TryLockError::TimedOut => "TimedOut",
        })
    }
}

impl<G> fmt::Display for TryLockError<G> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TryLockError::OwnerDied(_) => "the previous holder of the lock died holding it",
            TryLockError::WouldBlock => "the lock is held by another live holder",
            TryLockError::TimedOut => "timed out waiting for the lock",
        })
    }
}

impl<G> std::error::Error for TryLockError<G> {}

impl<G> From<LockError<G>> for TryLockError<G> {
    fn from(e: LockError<G>) -> Self {
        TryLockError::OwnerDied(e.into_inner())
    }
}

/// RAII guard of a shmkit lock: derefs to the protected data, unlocks on drop.
#[must_use = "if unused the lock is released immediately"]
pub struct MutexGuard<'a, T: ?Sized> {
    raw: &'a RawMutex,
    data: NonNull<T>,
    /// Unlock leaving the DIRTY mark (internal readers that did not repair).
    keep_dirty: bool,
    /// What taking the lock again needs (see [`MutexGuard::unlocked`]).
    relock: Relock<'a>,
    /// The fork generation the lock was taken in: a copy of the guard in a
    /// `fork()`ed child does not hold the lock (its parent does) and never
    /// releases it.
    born: u32,
    _not_send: PhantomData<*const ()>,
}

/// What re-taking a released lock needs: the segment whose liveness registry
/// names the holders, and how the handle waits.
#[derive(Clone, Copy)]
pub(crate) struct Relock<'a> {
    pub seg: &'a RawSegment,
    pub strategy: WaitStrategy,
}

// SAFETY: a guard gives `&T` to whoever holds `&guard`; that is sound to share
// between threads when `T: Sync`, as for `std::sync::MutexGuard`.
unsafe impl<T: ?Sized + Sync> Sync for MutexGuard<'_, T> {}

impl<'a, T: ?Sized> MutexGuard<'a, T> {
    /// A guard of `raw`, which lives in `relock.seg` (whose registry names
    /// its holders, so that [`MutexGuard::unlocked`] re-locks robustly).
    ///
    /// # Safety
    /// The caller holds `raw`, and `data` is valid for reads and writes for
    /// `'a` and only accessed by holders of `raw`.
    pub(crate) unsafe fn new(raw: &'a RawMutex, data: NonNull<T>, relock: Relock<'a>) -> Self {
        MutexGuard { raw, data, keep_dirty: false, relock, born: fork::generation(), _not_send: PhantomData }
    }

    /// Releases the lock, runs `f`, then takes the lock again (waiting as
    /// long as it takes) and returns `f`'s result with the new guard.
    ///
    /// Re-locking is robust like `lock()`: if a holder died meanwhile, the
    /// guard comes back in [`LockError::OwnerDied`].
    ///
    /// A guard its parent made, in a `fork()`ed child, holds nothing: it
    /// releases nothing, and the lock is then taken in the child's name.
    pub(crate) fn unlocked<R>(guard: Self, f: impl FnOnce() -> R) -> (R, LockResult<Self>) {
        // The guard must not unlock a second time when it goes: its fields
        // move into the new guard below.
        let guard = ManuallyDrop::new(guard);
        let (raw, data, relock) = (guard.raw, guard.data, guard.relock);
        if !fork::forked_since(guard.born) {
            raw.unlock(guard.keep_dirty);
        }
        let result = f();
        let died = raw.lock_forever(relock.seg, relock.strategy);
        let guard =
            MutexGuard { raw, data, keep_dirty: false, relock, born: fork::generation(), _not_send: PhantomData };
        (result, wrap_blocking(died, || guard))
    }

    /// Unlocks so that the next locker still gets `OwnerDied`.
    pub(crate) fn leave_dirty(mut guard: Self) {
        guard.keep_dirty = true;
    }
}

impl<T: ?Sized> Deref for MutexGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: we hold the lock, so nobody else accesses the data (new()).
        unsafe { self.data.as_ref() }
    }
}

impl<T: ?Sized> DerefMut for MutexGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: we hold the lock and `&mut self` is unique.
        unsafe { self.data.as_mut() }
    }
}

impl<T: ?Sized> Drop for MutexGuard<'_, T> {
    /// Unlocks; in a `fork()`ed child, the copy of its parent's guard
    /// leaves the parent's lock alone.
    #[inline]
    fn drop(&mut self) {
        if !fork::forked_since(self.born) {
            self.raw.unlock(self.keep_dirty);
        }
    }
}

impl<T: ?Sized> fmt::Debug for MutexGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MutexGuard").finish_non_exhaustive()
    }
}

/// Turns "acquired; was the holder dead?" into the public result type.
pub(crate) fn wrap_blocking<G>(owner_died: bool, guard: impl FnOnce() -> G) -> LockResult<G> {
    if owner_died { Err(LockError::OwnerDied(guard())) } else { Ok(guard()) }
}

/// Turns a raw lock outcome with a deadline into the public result type.
pub(crate) fn wrap_try<G>(outcome: Result<bool, LockFail>, guard: impl FnOnce() -> G) -> TryLockResult<G> {
    match outcome {
        Ok(false) => Ok(guard()),
        Ok(true) => Err(TryLockError::OwnerDied(guard())),
        Err(LockFail::WouldBlock) => Err(TryLockError::WouldBlock),
        Err(LockFail::TimedOut) => Err(TryLockError::TimedOut),
    }
}

/// A robust mutex and the data it protects, laid out to be embedded in a
/// user's own `#[repr(C)]` state placed with [`Segment`].
///
/// ```
/// # #[cfg(feature = "derive")] {
/// use shmkit::{MutexCell, Segment, ShmSafe, ShmType};
///
/// #[derive(ShmType)]
/// #[repr(C)]
/// struct Jobs {
///     counters: MutexCell<[u64; 4]>,
/// }
/// // SAFETY: repr(C), and every field is ShmSafe.
/// unsafe impl ShmSafe for Jobs {}
///
/// # let name = format!("doc-cell-{}", std::process::id());
/// let seg = Segment::create(&name, Jobs { counters: MutexCell::new([0; 4]) })?;
/// seg.counters.lock(&seg).unwrap_or_else(|e| e.into_inner())[2] += 1;
/// assert_eq!(seg.counters.lock(&seg).unwrap()[2], 1);
/// # }
/// # Ok::<(), shmkit::Error>(())
/// ```
#[repr(C)]
pub struct MutexCell<T> {
    raw: RawMutex,
    data: UnsafeCell<T>,
}

// SAFETY: the data is only reached through a guard, which requires holding
// the lock; T: Pod has no thread affinity.
unsafe impl<T: Pod> Sync for MutexCell<T> {}
// SAFETY: all-zero is an unlocked RawMutex and a valid T; any bit pattern of
// the word is a valid (if possibly "dead holder") lock state, and T: Pod
// accepts any bits; no pointers; no drop glue.
unsafe impl<T: Pod> ShmSafe for MutexCell<T> {}

impl<T> fmt::Debug for MutexCell<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MutexCell").field("locked", &self.raw.is_locked()).finish_non_exhaustive()
    }
}

/// `MutexCell{data:T@4}#8/4` for a `u32`: the data and where it lies; the
/// lock word before it is fixed by the format version.
impl<T: ShmLayout> ShmLayout for MutexCell<T> {
    fn type_desc() -> TypeDesc {
        TypeDesc::cell::<Self, T>("MutexCell", std::mem::offset_of!(Self, data))
    }
}

impl<T: Pod> MutexCell<T> {
    /// An unlocked cell holding `value`.
    pub fn new(value: T) -> Self {
        MutexCell { raw: RawMutex::new(), data: UnsafeCell::new(value) }
    }

    /// The data, without locking: `&mut self` proves that nobody else
    /// reaches it (as [`std::sync::Mutex::get_mut`]).
    pub fn get_mut(&mut self) -> &mut T {
        self.data.get_mut()
    }

    fn check_in<S: ShmSafe + ShmLayout>(&self, seg: &Segment<S>) {
        let inside = seg.raw().contains((self as *const Self).cast(), std::mem::size_of::<Self>());
        assert!(inside, "MutexCell::lock: the cell is not inside the segment given for liveness checks");
    }

    fn guard<'a>(&'a self, seg: &'a RawSegment, strategy: WaitStrategy) -> MutexGuard<'a, T> {
        // SAFETY: called only once the lock is held; the data lives as long
        // as `self` and is only reached by holders of `self.raw`.
        unsafe { MutexGuard::new(&self.raw, NonNull::new_unchecked(self.data.get()), Relock { seg, strategy }) }
    }

    /// Locks robustly in `seg` (which the cell lies in), waiting as
    /// `strategy` says.
    #[inline]
    pub(crate) fn lock_in<'a>(&'a self, seg: &'a RawSegment, strategy: WaitStrategy) -> LockResult<MutexGuard<'a, T>> {
        wrap_blocking(self.raw.lock_forever(seg, strategy), || self.guard(seg, strategy))
    }

    /// [`MutexCell::lock_in`] giving up at `deadline`.
    #[inline]
    pub(crate) fn lock_until_in<'a>(
        &'a self,
        seg: &'a RawSegment,
        deadline: Deadline,
        strategy: WaitStrategy,
    ) -> TryLockResult<MutexGuard<'a, T>> {
        wrap_try(self.raw.lock(seg, deadline, strategy), || self.guard(seg, strategy))
    }

    /// Locks, blocking until the lock is free or its holder is known dead.
    ///
    /// `seg` is the segment the cell lives in; its liveness registry tells
    /// whether a holder died.
    ///
    /// # Errors
    /// [`LockError::OwnerDied`] with the guard if the previous holder died.
    ///
    /// # Panics
    /// If the cell does not lie inside `seg` (liveness answers from another
    /// segment could hand the lock to two holders).
    pub fn lock<'a, S: ShmSafe + ShmLayout>(&'a self, seg: &'a Segment<S>) -> LockResult<MutexGuard<'a, T>> {
        self.check_in(seg);
        wrap_blocking(self.raw.lock_forever(seg.raw(), WaitStrategy::Adaptive), || {
            self.guard(seg.raw(), WaitStrategy::Adaptive)
        })
    }

    /// Locks if the lock is free now (or its holder is dead).
    ///
    /// # Errors
    /// [`TryLockError::WouldBlock`], or `OwnerDied` with the guard.
    ///
    /// # Panics
    /// As [`MutexCell::lock`].
    pub fn try_lock<'a, S: ShmSafe + ShmLayout>(&'a self, seg: &'a Segment<S>) -> TryLockResult<MutexGuard<'a, T>> {
        self.lock_deadline_in(seg, Deadline::Now)
    }

    /// Locks, waiting at most `timeout`.
    ///
    /// # Errors
    /// [`TryLockError::TimedOut`], or `OwnerDied` with the guard.
    ///
    /// # Panics
    /// As [`MutexCell::lock`].
    pub fn lock_timeout<'a, S: ShmSafe + ShmLayout>(
        &'a self,
        seg: &'a Segment<S>,
        timeout: Duration,
    ) -> TryLockResult<MutexGuard<'a, T>> {
        self.lock_deadline_in(seg, Deadline::after(timeout))
    }

    /// Locks, waiting until `deadline` at most.
    ///
    /// # Errors
    /// [`TryLockError::TimedOut`], or `OwnerDied` with the guard.
    ///
    /// # Panics
    /// As [`MutexCell::lock`].
    pub fn lock_deadline<'a, S: ShmSafe + ShmLayout>(
        &'a self,
        seg: &'a Segment<S>,
        deadline: Instant,
    ) -> TryLockResult<MutexGuard<'a, T>> {
        self.lock_deadline_in(seg, Deadline::At(deadline))
    }

    fn lock_deadline_in<'a, S: ShmSafe + ShmLayout>(
        &'a self,
        seg: &'a Segment<S>,
        deadline: Deadline,
    ) -> TryLockResult<MutexGuard<'a, T>> {
        self.check_in(seg);
        self.lock_until_in(seg.raw(), deadline, WaitStrategy::Adaptive)
    }
}

// Zero is an unlocked lock word: only the data is written.
simple_state!(impl[T: ShmType] MutexCell<T>: Mutex, of T, init |cell, value: T| *cell.get_mut() = value);

/// Writes the four forms of a robust lock call, e.g. `lock`, `try_lock`,
/// `lock_timeout` and `lock_deadline`, for a handle type whose
/// `$forever(&self) -> LockResult<G>` and
/// `$until(&self, Deadline) -> TryLockResult<G>` take it, `G` being
/// `$guard` and `$noun` what they take ("the lock", "a read lock").
macro_rules! lock_forms {
    ($noun:literal, $guard:ty; $lock:ident / $try_:ident / $timeout:ident / $deadline:ident => $forever:ident / $until:ident) => {
        #[doc = concat!("Takes ", $noun, ", blocking until that is possible or its holder is known dead.")]
        ///
        /// # Errors
        /// [`LockError::OwnerDied`](crate::LockError::OwnerDied) with the
        /// guard if a holder died holding the lock (the data may need
        /// repair).
        #[inline]
        pub fn $lock(&self) -> crate::LockResult<$guard> {
            self.$forever()
        }

        #[doc = concat!("Takes ", $noun, " if that is possible without waiting.")]
        ///
        /// # Errors
        /// [`TryLockError::WouldBlock`](crate::TryLockError::WouldBlock) if
        /// a live holder is in the way, or `OwnerDied` with the guard.
        #[inline]
        pub fn $try_(&self) -> crate::TryLockResult<$guard> {
            self.$until(crate::wait::Deadline::Now)
        }

        #[doc = concat!("Takes ", $noun, ", waiting at most `timeout`.")]
        ///
        /// # Errors
        /// [`TryLockError::TimedOut`](crate::TryLockError::TimedOut), or
        /// `OwnerDied` with the guard.
        pub fn $timeout(&self, timeout: std::time::Duration) -> crate::TryLockResult<$guard> {
            self.$until(crate::wait::Deadline::after(timeout))
        }

        #[doc = concat!("Takes ", $noun, ", waiting until `deadline` at most.")]
        ///
        /// # Errors
        /// [`TryLockError::TimedOut`](crate::TryLockError::TimedOut), or
        /// `OwnerDied` with the guard.
        pub fn $deadline(&self, deadline: std::time::Instant) -> crate::TryLockResult<$guard> {
            self.$until(crate::wait::Deadline::At(deadline))
        }
    };
}
pub(crate) use lock_forms;

/// A robust mutex around a `T: ShmType`, shared by name between processes.
///
/// If the process holding it dies, the next locker gets the lock with
/// [`LockError::OwnerDied`] within milliseconds, never a hang.
///
/// The handle is `Send` and `Sync`: threads may share one handle; they
/// exclude each other as they would with `std::sync::Mutex`.
///
/// ```
/// use shmkit::Mutex;
/// # let name = format!("doc-mutex-{}", std::process::id());
/// let m = Mutex::create(&name, 0u64)?;        // in one process
/// let other = Mutex::<u64>::open(&name)?;    // in another
/// *other.lock().unwrap() += 5;
/// assert_eq!(*m.lock().unwrap(), 5);
/// # Ok::<(), shmkit::Error>(())
/// ```
pub struct Mutex<T: ShmType>(Handle<MutexCell<T>>);

handle_api! { impl[T: ShmType] Mutex<T>, "mutex", " holding `value`"; create(value: T) => ((), value); waits; }

impl<T: ShmType> Mutex<T> {
    #[inline]
    fn lock_forever(&self) -> LockResult<MutexGuard<'_, T>> {
        self.0.state().lock_in(self.0.segment(), self.0.strategy())
    }

    #[inline]
    fn lock_until(&self, deadline: Deadline) -> TryLockResult<MutexGuard<'_, T>> {
        self.0.state().lock_until_in(self.0.segment(), deadline, self.0.strategy())
    }

    lock_forms!("the lock", MutexGuard<'_, T>; lock / try_lock / lock_timeout / lock_deadline => lock_forever / lock_until);

    /// Whether some handle holds the lock now (a snapshot, for diagnostics).
    pub fn is_locked(&self) -> bool {
        self.0.state().raw.is_locked()
    }
}

impl<T: ShmType> fmt::Debug for Mutex<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Mutex").field("name", &self.name()).finish_non_exhaustive()
    }
}

/// A mutex is ready when a lock would not wait: it is free, or its holder
/// died (the lock then takes it over, with `OwnerDied`).
impl<T: ShmType> crate::select::sealed::Source for Mutex<T> {
    fn ready(&self, _armed: u32, thorough: bool) -> bool {
        self.0.state().raw.select_parts(self.0.segment(), thorough).0
    }
    fn park(&self) -> crate::select::sealed::Park<'_> {
        self.0.state().raw.select_parts(self.0.segment(), false).1
    }
    /// The mutex opened again by name.
    fn probe(&self) -> Result<std::sync::Arc<dyn crate::select::sealed::Source + Send + Sync>, crate::Error> {
        Ok(std::sync::Arc::new(Mutex::<T>::open(self.name())?))
    }
}
