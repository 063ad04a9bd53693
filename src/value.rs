//! [`Value<T>`]: one `T: ShmType` shared by name, with its own robust lock.

use std::fmt;

use crate::handle::{Handle, handle_api, simple_state};
use crate::segment::ShmSafe;
use crate::shm_type::ShmType;
use crate::sync::mutex::{LockResult, MutexCell, MutexGuard, TryLockResult, lock_forms};
use crate::wait::Deadline;

/// Guard of a [`Value`]'s lock: `DerefMut<Target = T>`.
pub type ValueGuard<'a, T> = MutexGuard<'a, T>;

/// One `T: ShmType` shared by name between processes, with its own robust lock
/// (what Python's `multiprocessing.Value` is with `lock=True`).
///
/// [`load`](Value::load) and [`store`](Value::store) take the lock for the
/// copy, so a `T` of any size is never torn. For read-modify-write, hold
/// [`lock`](Value::lock). If a process dies holding the lock, the next
/// `lock()` returns [`LockError::OwnerDied`](crate::LockError::OwnerDied);
/// `load()` does not consume that report, `store()` (which overwrites the
/// whole value) does.
///
/// ```
/// use shmkit::Value;
/// # let name = format!("doc-value-{}", std::process::id());
/// let v = Value::create(&name, 1.5f64)?;
/// let w = Value::<f64>::open(&name)?;
/// w.store(2.5);
/// *v.lock().unwrap() *= 2.0;
/// assert_eq!(w.load(), 5.0);
/// # Ok::<(), shmkit::Error>(())
/// ```
pub struct Value<T: ShmType>(Handle<ValueCell<T>>);

/// A [`Value`]'s state: a [`MutexCell`] stored as an object of its own kind.
#[repr(transparent)]
pub(crate) struct ValueCell<T>(MutexCell<T>);

// SAFETY: a transparent wrapper of a ShmSafe MutexCell.
unsafe impl<T: ShmType> ShmSafe for ValueCell<T> {}

simple_state!(impl[T: ShmType] ValueCell<T>: Value, of T, init |cell, value: T| *cell.0.get_mut() = value);

handle_api! { impl[T: ShmType] Value<T>, "value", " holding `init`"; create(init: T) => ((), init); waits; }

impl<T: ShmType> Value<T> {
    #[inline]
    fn lock_forever(&self) -> LockResult<ValueGuard<'_, T>> {
        self.0.state().0.lock_in(self.0.segment(), self.0.strategy())
    }

    #[inline]
    fn lock_until(&self, deadline: Deadline) -> TryLockResult<ValueGuard<'_, T>> {
        self.0.state().0.lock_until_in(self.0.segment(), deadline, self.0.strategy())
    }

    lock_forms!("the lock", ValueGuard<'_, T>; lock / try_lock / lock_timeout / lock_deadline => lock_forever / lock_until);

    /// A copy of the value.
    pub fn load(&self) -> T {
        match self.lock() {
            Ok(guard) => *guard,
            Err(died) => {
                let guard = died.into_inner();
                let value = *guard;
                // We did not repair anything: the next lock() still reports
                // that a holder died.
                MutexGuard::leave_dirty(guard);
                value
            }
        }
    }

    /// Replaces the value (the whole of it, which also repairs what a dead
    /// holder left).
    pub fn store(&self, value: T) {
        *self.lock().unwrap_or_else(|died| died.into_inner()) = value;
    }
}

impl<T: ShmType> fmt::Debug for Value<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Value").field("name", &self.name()).finish_non_exhaustive()
    }
}
