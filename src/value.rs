//! [`Value<T>`]: one `T: Pod` shared by name, with its own robust lock.

use std::fmt;
use std::time::Duration;

use bytemuck::Pod;

use crate::error::Error;
use crate::segment::OpenOptions;
use crate::segment::header::ObjectKind;
use crate::sync::mutex::{LockResult, LockedCell, MutexGuard, TryLockError, TryLockResult};
use crate::wait::Deadline;

/// Guard of a [`Value`]'s lock: `DerefMut<Target = T>`.
pub type ValueGuard<'a, T> = MutexGuard<'a, T>;

/// One `T: Pod` shared by name between processes, with its own robust lock
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
pub struct Value<T: Pod>(LockedCell<T>);

impl<T: Pod> Value<T> {
    /// Creates the value `name` holding `init`. Exclusive.
    ///
    /// # Errors
    /// [`Error::AlreadyExists`], [`Error::InvalidName`], or an OS error.
    pub fn create(name: &str, init: T) -> Result<Self, Error> {
        Self::create_with(name, init, &OpenOptions::default())
    }

    /// [`Value::create`] with options.
    ///
    /// # Errors
    /// As [`Value::create`].
    pub fn create_with(name: &str, init: T, opts: &OpenOptions) -> Result<Self, Error> {
        LockedCell::create(ObjectKind::Value, name, init, opts).map(Value)
    }

    /// Opens the existing value `name`, which must hold a `T`.
    ///
    /// # Errors
    /// [`Error::NotFound`], [`Error::WrongKind`], [`Error::WrongType`], and
    /// the other open checks.
    pub fn open(name: &str) -> Result<Self, Error> {
        Self::open_with(name, &OpenOptions::default())
    }

    /// [`Value::open`] with options.
    ///
    /// # Errors
    /// As [`Value::open`].
    pub fn open_with(name: &str, opts: &OpenOptions) -> Result<Self, Error> {
        LockedCell::open(ObjectKind::Value, name, opts).map(Value)
    }

    /// Opens `name`, or creates it holding `init`: safe when processes race.
    ///
    /// # Errors
    /// As [`Value::open`] and [`Value::create`].
    pub fn open_or_create(name: &str, init: T) -> Result<Self, Error> {
        LockedCell::open_or_create(ObjectKind::Value, name, init, &OpenOptions::default()).map(Value)
    }

    /// The segment name.
    pub fn name(&self) -> &str {
        self.0.seg().name()
    }

    /// Keeps the name after this (creating) handle is dropped.
    pub fn persist(&self) {
        self.0.seg().persist();
    }

    /// A copy of the value.
    pub fn load(&self) -> T {
        match self.0.lock() {
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
        *self.0.lock().unwrap_or_else(|died| died.into_inner()) = value;
    }

    /// Locks the value for read-modify-write.
    ///
    /// # Errors
    /// [`LockError::OwnerDied`](crate::LockError::OwnerDied) with the guard
    /// if the previous holder died holding the lock.
    pub fn lock(&self) -> LockResult<ValueGuard<'_, T>> {
        self.0.lock()
    }

    /// Locks if that is possible without waiting.
    ///
    /// # Errors
    /// [`TryLockError::WouldBlock`], or `OwnerDied` with the guard.
    pub fn try_lock(&self) -> TryLockResult<ValueGuard<'_, T>> {
        self.0.lock_until(Deadline::Now)
    }

    /// Locks, waiting at most `timeout`.
    ///
    /// # Errors
    /// [`TryLockError::TimedOut`], or `OwnerDied` with the guard.
    pub fn lock_timeout(&self, timeout: Duration) -> Result<ValueGuard<'_, T>, TryLockError<ValueGuard<'_, T>>> {
        self.0.lock_until(Deadline::after(timeout))
    }
}

impl<T: Pod + fmt::Debug> fmt::Debug for Value<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Value").field("name", &self.name()).field("value", &self.load()).finish()
    }
}
