//! [`Array<T>`]: a fixed-length array of `T: ShmType` shared by name, with its
//! own robust lock.

use std::fmt;
use std::ptr::NonNull;

use bytemuck::Pod;

use crate::shm_type::ShmType;

use crate::error::Error;
use crate::handle::{Handle, SegmentState, StateLayout, handle_api};
use crate::segment::header::{Fingerprint, Header, ObjectKind};
use crate::segment::{OpenOptions, ShmSafe};
use crate::sync::mutex::{LockResult, MutexGuard, Relock, TryLockResult, lock_forms, wrap_blocking, wrap_try};
use crate::sync::raw_mutex::RawMutex;
use crate::wait::Deadline;

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

/// A fixed-length array of `T: ShmType` shared by name between processes, with
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
pub struct Array<T: ShmType>(Handle<ArrayHead<T>>);

/// The head of an [`Array`]'s state: the lock word, then (as its tail) the
/// elements, from `size_of::<ArrayHead<T>>()` on.
#[repr(C)]
pub(crate) struct ArrayHead<T> {
    lock: RawMutex,
    /// Aligns the head (and so the first element) for `T`.
    _elems: [T; 0],
}

// SAFETY: the head holds a lock word; the elements after it are only
// reached through a guard, which requires holding the lock.
unsafe impl<T: Pod> Sync for ArrayHead<T> {}
// SAFETY: repr(C); every bit pattern of the lock word is a valid (if
// possibly "dead holder") state, the elements are Pod; no pointers; no drop
// glue.
unsafe impl<T: Pod> ShmSafe for ArrayHead<T> {}

impl<T: ShmType> SegmentState for ArrayHead<T> {
    const KINDS: &'static [ObjectKind] = &[ObjectKind::Array];
    /// The length.
    type Params = u64;
    /// Items to copy in (their count is the length), or `None` for zeroes.
    type Init<'a> = Option<&'a [T]>;

    fn fingerprint(len: &u64) -> Fingerprint {
        Fingerprint::of::<T>(*len)
    }

    fn layout(&len: &u64, _slots: u32) -> Result<StateLayout, Error> {
        let size = usize::try_from(len)
            .ok()
            .and_then(|n| n.checked_mul(std::mem::size_of::<T>()))
            .and_then(|n| n.checked_add(std::mem::size_of::<Self>()))
            .filter(|&n| n <= isize::MAX as usize)
            .ok_or_else(|| Error::InvalidArgument(format!("an array of {len} elements is too large")))?;
        Ok(StateLayout { size, align: std::mem::align_of::<Self>() })
    }

    /// Zeroed memory is an unlocked lock and zeroed elements.
    fn init(&mut self, tail: &mut [u8], _len: &u64, _slots: u32, items: Option<&[T]>) {
        if let Some(items) = items {
            let bytes: &[u8] = bytemuck::cast_slice(items);
            tail[..bytes.len()].copy_from_slice(bytes);
        }
    }

    fn params_of(_name: &str, header: &Header) -> Result<u64, Error> {
        Ok(header.capacity)
    }
}

handle_api! {
    impl[T: ShmType] Array<T>, "array", " of `len` zeroed elements";
    create(len: usize) => (len as u64, None);
    open_or_create(len: usize) => (len as u64, None);
    waits;
}

impl<T: ShmType> Array<T> {
    /// Creates the array `name` holding a copy of `items`. Exclusive.
    ///
    /// # Errors
    /// As [`Array::create`].
    pub fn create_from(name: &str, items: &[T]) -> Result<Self, Error> {
        Self::create_from_with(name, items, &OpenOptions::default())
    }

    /// [`Array::create_from`] with options.
    ///
    /// # Errors
    /// As [`Array::create`].
    pub fn create_from_with(name: &str, items: &[T], opts: &OpenOptions) -> Result<Self, Error> {
        Handle::create_with(name, items.len() as u64, Some(items), opts).map(Array)
    }

    /// Number of elements.
    #[inline]
    pub fn len(&self) -> usize {
        *self.0.params() as usize
    }

    /// Whether the array has no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn guard(&self) -> ArrayGuard<'_, T> {
        let head = self.0.state();
        // SAFETY: `len` elements follow the head at its size (the layout,
        // checked against the header at open), aligned for T and inside the
        // mapping; called only while holding the lock.
        unsafe {
            let first = self.0.data_ptr().add(std::mem::size_of::<ArrayHead<T>>()).cast::<T>();
            let slice = std::ptr::slice_from_raw_parts_mut(first, self.len());
            MutexGuard::new(
                &head.lock,
                NonNull::new_unchecked(slice),
                Relock { seg: self.0.segment(), strategy: self.0.strategy() },
            )
        }
    }

    #[inline]
    fn lock_forever(&self) -> LockResult<ArrayGuard<'_, T>> {
        wrap_blocking(self.0.state().lock.lock_forever(self.0.segment(), self.0.strategy()), || self.guard())
    }

    #[inline]
    fn lock_until(&self, deadline: Deadline) -> TryLockResult<ArrayGuard<'_, T>> {
        wrap_try(self.0.state().lock.lock(self.0.segment(), deadline, self.0.strategy()), || self.guard())
    }

    lock_forms!("the lock", ArrayGuard<'_, T>; lock / try_lock / lock_timeout / lock_deadline => lock_forever / lock_until);

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
        if index >= self.len() {
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
        if index >= self.len() {
            return Err(IndexOutOfBounds { index, len: self.len() });
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

impl<T: ShmType> fmt::Debug for Array<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Array").field("name", &self.name()).field("len", &self.len()).finish_non_exhaustive()
    }
}
