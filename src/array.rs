//! [`Array<T>`]: a fixed-length array of `T: Pod` shared by name, with its
//! own robust lock.

use std::fmt;
use std::ptr::NonNull;
use std::time::Duration;

use bytemuck::Pod;

use crate::error::Error;
use crate::segment::header::{Fingerprint, ObjectKind};
use crate::segment::{OpenOptions, RawSegment, Spec};
use crate::sync::mutex::{LockResult, MutexGuard, Relock, TryLockResult, wrap_blocking, wrap_try};
use crate::sync::raw_mutex::RawMutex;
use crate::wait::{Deadline, WaitStrategy};

/// Guard of an [`Array`]'s lock: `DerefMut<Target = [T]>`.
pub type ArrayGuard<'a, T> = MutexGuard<'a, [T]>;

/// `set` was given an index past the end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IndexOutOfBounds {
    /// The index asked for.
    pub index: usize,
    /// The array's length.
    pub len: usize,
}

impl fmt::Display for IndexOutOfBounds {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "index {} is out of bounds for an array of length {}", self.index, self.len)
    }
}

impl std::error::Error for IndexOutOfBounds {}

/// A fixed-length array of `T: Pod` shared by name between processes, with
/// its own robust lock (Python's `multiprocessing.Array` with `lock=True`).
///
/// The state is the lock word followed by the elements. `get`, `set` and
/// `to_vec` take the lock for the copy; hold [`lock`](Array::lock) to work
/// on the whole slice.
///
/// ```
/// use shmkit::Array;
/// # let name = format!("doc-array-{}", std::process::id());
/// let a = Array::<f32>::create(&name, 4)?;          // zeroed
/// let b = Array::<f32>::open(&name)?;
/// b.set(2, 1.5).unwrap();
/// a.lock().unwrap()[3] = 2.0;
/// assert_eq!(b.to_vec(), [0.0, 0.0, 1.5, 2.0]);
/// assert_eq!(a.get(4), None);
/// # Ok::<(), shmkit::Error>(())
/// ```
pub struct Array<T: Pod> {
    seg: RawSegment,
    len: usize,
    strategy: WaitStrategy,
    _marker: std::marker::PhantomData<T>,
}

// SAFETY: the handle owns its mapping; the state it points into is made for
// concurrent access from any thread of any process, the elements only
// through the lock.
unsafe impl<T: Pod> Send for Array<T> {}
// SAFETY: as above.
unsafe impl<T: Pod> Sync for Array<T> {}

/// Offset of the first element: after the lock word, aligned for T.
const fn elems_offset<T>() -> usize {
    let align = std::mem::align_of::<T>();
    std::mem::size_of::<RawMutex>().div_ceil(align) * align
}

impl<T: Pod> Array<T> {
    fn spec(len: u64) -> Result<Spec, Error> {
        let size = (len as usize)
            .checked_mul(std::mem::size_of::<T>())
            .and_then(|n| n.checked_add(elems_offset::<T>()))
            .filter(|&n| n <= isize::MAX as usize && len <= usize::MAX as u64)
            .ok_or_else(|| Error::InvalidArgument(format!("an array of {len} elements is too large")))?;
        let align = std::mem::align_of::<T>().max(std::mem::align_of::<RawMutex>());
        Ok(Spec::new(ObjectKind::Array, Fingerprint::of::<T>(len), size, align))
    }

    fn wrap(seg: RawSegment) -> Self {
        let len = seg.header().capacity as usize;
        Array { seg, len, strategy: WaitStrategy::Adaptive, _marker: std::marker::PhantomData }
    }

    /// Creates the array `name` of `len` zeroed elements. Exclusive.
    ///
    /// # Errors
    /// [`Error::AlreadyExists`], [`Error::InvalidName`],
    /// [`Error::InvalidArgument`] if too large, or an OS error.
    pub fn create(name: &str, len: usize) -> Result<Self, Error> {
        Self::create_with(name, len, &OpenOptions::default())
    }

    /// [`Array::create`] with options.
    ///
    /// # Errors
    /// As [`Array::create`].
    pub fn create_with(name: &str, len: usize, opts: &OpenOptions) -> Result<Self, Error> {
        // Zeroed memory is an unlocked lock and zeroed elements.
        RawSegment::create(name, &Self::spec(len as u64)?, opts, |_| {}).map(Self::wrap)
    }

    /// Creates the array `name` holding a copy of `items`. Exclusive.
    ///
    /// # Errors
    /// As [`Array::create`].
    pub fn create_from(name: &str, items: &[T]) -> Result<Self, Error> {
        let spec = Self::spec(items.len() as u64)?;
        RawSegment::create(name, &spec, &OpenOptions::default(), |p| {
            let bytes: &[u8] = bytemuck::cast_slice(items);
            // SAFETY: the data region holds elems_offset + len*size bytes,
            // writable and not yet visible to others; the source is a
            // separate local slice.
            unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), p.add(elems_offset::<T>()), bytes.len()) }
        })
        .map(Self::wrap)
    }

    /// Opens the existing array `name` of `T`, whatever its length.
    ///
    /// # Errors
    /// [`Error::NotFound`], [`Error::WrongKind`], [`Error::WrongType`], and
    /// the other open checks.
    pub fn open(name: &str) -> Result<Self, Error> {
        Self::open_with(name, &OpenOptions::default())
    }

    /// [`Array::open`] with options.
    ///
    /// # Errors
    /// As [`Array::open`].
    pub fn open_with(name: &str, opts: &OpenOptions) -> Result<Self, Error> {
        let wanted = format!("Array<{}>", std::any::type_name::<T>());
        RawSegment::open_sized(name, opts, ObjectKind::Array, &wanted, |h| Self::spec(h.capacity)).map(Self::wrap)
    }

    /// Opens `name`, or creates it with `len` zeroed elements: safe when
    /// processes race. An existing array of another length is an error.
    ///
    /// # Errors
    /// As [`Array::open`] and [`Array::create`].
    pub fn open_or_create(name: &str, len: usize) -> Result<Self, Error> {
        RawSegment::open_or_create(name, &Self::spec(len as u64)?, &OpenOptions::default(), |_| {}).map(Self::wrap)
    }

    /// Sets how this handle waits for the lock.
    pub fn with_wait_strategy(mut self, strategy: WaitStrategy) -> Self {
        self.strategy = strategy;
        self
    }

    /// The segment name.
    pub fn name(&self) -> &str {
        self.seg.name()
    }

    /// Keeps the name after this (creating) handle is dropped.
    pub fn persist(&self) {
        self.seg.persist();
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the array has no elements.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    fn raw(&self) -> &RawMutex {
        // SAFETY: the state starts with the lock word, aligned (checked at
        // open), living as long as the mapping.
        unsafe { &*self.seg.data_ptr().cast::<RawMutex>() }
    }

    fn guard(&self) -> ArrayGuard<'_, T> {
        // SAFETY: the elements follow the lock word at elems_offset, `len`
        // of them (data size checked against the header capacity), aligned
        // for T; called only while holding the lock.
        unsafe {
            let first = self.seg.data_ptr().add(elems_offset::<T>()).cast::<T>();
            let slice = std::ptr::slice_from_raw_parts_mut(first, self.len);
            MutexGuard::new(
                self.raw(),
                NonNull::new_unchecked(slice),
                Relock { seg: &self.seg, strategy: self.strategy },
            )
        }
    }

    /// Locks the whole array.
    ///
    /// # Errors
    /// [`LockError::OwnerDied`](crate::LockError::OwnerDied) with the guard
    /// if the previous holder died holding the lock.
    pub fn lock(&self) -> LockResult<ArrayGuard<'_, T>> {
        wrap_blocking(self.raw().lock_forever(&self.seg, self.strategy), || self.guard())
    }

    /// Locks if that is possible without waiting.
    ///
    /// # Errors
    /// [`TryLockError::WouldBlock`](crate::TryLockError::WouldBlock), or
    /// `OwnerDied` with the guard.
    pub fn try_lock(&self) -> TryLockResult<ArrayGuard<'_, T>> {
        wrap_try(self.raw().lock(&self.seg, Deadline::Now, self.strategy), || self.guard())
    }

    /// Locks, waiting at most `timeout`.
    ///
    /// # Errors
    /// [`TryLockError::TimedOut`](crate::TryLockError::TimedOut), or
    /// `OwnerDied` with the guard.
    pub fn lock_timeout(&self, timeout: Duration) -> TryLockResult<ArrayGuard<'_, T>> {
        wrap_try(self.raw().lock(&self.seg, Deadline::after(timeout), self.strategy), || self.guard())
    }

    /// Runs `f` on the locked slice without consuming a dead-holder report.
    fn peek<R>(&self, f: impl FnOnce(&[T]) -> R) -> R {
        match self.lock() {
            Ok(guard) => f(&guard),
            Err(died) => {
                let guard = died.into_inner();
                let r = f(&guard);
                MutexGuard::leave_dirty(guard);
                r
            }
        }
    }

    /// A copy of element `index`, or `None` past the end.
    pub fn get(&self, index: usize) -> Option<T> {
        if index >= self.len {
            return None;
        }
        self.peek(|s| s.get(index).copied())
    }

    /// Sets element `index`.
    ///
    /// # Errors
    /// [`IndexOutOfBounds`] past the end.
    #[inline]
    pub fn set(&self, index: usize, value: T) -> Result<(), IndexOutOfBounds> {
        if index >= self.len {
            return Err(IndexOutOfBounds { index, len: self.len });
        }
        match self.lock() {
            Ok(mut guard) => guard[index] = value,
            Err(died) => {
                let mut guard = died.into_inner();
                guard[index] = value;
                // One element is not a repair of the whole array.
                MutexGuard::leave_dirty(guard);
            }
        }
        Ok(())
    }

    /// A copy of every element.
    pub fn to_vec(&self) -> Vec<T> {
        self.peek(|s| s.to_vec())
    }
}

impl<T: Pod> fmt::Debug for Array<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Array").field("name", &self.name()).field("len", &self.len).finish_non_exhaustive()
    }
}
