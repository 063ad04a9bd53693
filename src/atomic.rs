//! [`Atomic<T>`]: a lock-free integer shared by name.

use std::fmt;
use std::ops::Deref;
use std::sync::atomic;

use crate::handle::{Handle, handle_api, simple_state};
use crate::segment::ShmSafe;

mod sealed {
    pub trait Sealed {}
}

/// Integers that have a lock-free atomic form usable in shared memory.
pub trait AtomicInt: sealed::Sealed + crate::ShmType + 'static {
    /// The std atomic type (`AtomicU64` for `u64`, …).
    type Atomic: ShmSafe + fmt::Debug;
    /// A new atomic holding `v`.
    fn new_atomic(v: Self) -> Self::Atomic;
}

macro_rules! atomic_int {
    ($($t:ty => $a:ty),* $(,)?) => { $(
        impl sealed::Sealed for $t {}
        impl AtomicInt for $t {
            type Atomic = $a;
            fn new_atomic(v: Self) -> $a {
                <$a>::new(v)
            }
        }
    )* };
}

atomic_int!(
    u32 => atomic::AtomicU32,
    i32 => atomic::AtomicI32,
    u64 => atomic::AtomicU64,
    i64 => atomic::AtomicI64,
);

/// An integer shared by name between processes and updated lock-free.
///
/// It derefs to the std atomic (`AtomicU64` for `Atomic<u64>`), so the whole
/// std API is there: `load`, `store`, `fetch_add`, `compare_exchange`, ….
/// The operations are the CPU's own atomic instructions on the shared word,
/// with no lock and no syscall.
///
/// ```
/// use shmkit::Atomic;
/// use std::sync::atomic::Ordering;
/// # let name = format!("doc-atomic-{}", std::process::id());
/// let hits = Atomic::<u64>::create(&name, 0)?;
/// let other = Atomic::<u64>::open(&name)?;
/// other.fetch_add(3, Ordering::Relaxed);
/// assert_eq!(hits.compare_exchange(3, 10, Ordering::AcqRel, Ordering::Acquire), Ok(3));
/// assert_eq!(other.load(Ordering::Acquire), 10);
/// # Ok::<(), shmkit::Error>(())
/// ```
pub struct Atomic<T: AtomicInt>(Handle<AtomicCell<T>>);

/// An [`Atomic`]'s state: the std atomic, stored as an object of its own
/// kind.
#[repr(transparent)]
pub(crate) struct AtomicCell<T: AtomicInt>(T::Atomic);

// SAFETY: a transparent wrapper of a ShmSafe atomic.
unsafe impl<T: AtomicInt> ShmSafe for AtomicCell<T> {}

simple_state!(impl[T: AtomicInt] AtomicCell<T>: Atomic, of T, init |cell, value: T| cell.0 = T::new_atomic(value));

handle_api! { impl[T: AtomicInt] Atomic<T>, "atomic", " holding `init`"; create(init: T) => ((), init); }

impl<T: AtomicInt> Deref for Atomic<T> {
    type Target = T::Atomic;
    fn deref(&self) -> &T::Atomic {
        &self.0.state().0
    }
}

impl<T: AtomicInt> fmt::Debug for Atomic<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Atomic").field("name", &self.name()).field("value", &**self).finish()
    }
}
