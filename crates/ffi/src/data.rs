//! Values, mutexes and arrays of described types.

use std::ffi::{c_char, c_void};
use std::sync::Mutex as StdMutex;

use shmkit::dynamic::{Described, DynArray, DynMutex, DynValue, UnderMutex};
use shmkit::{MutexGuard, OpenOptions, TryLockError, WaitStrategy};

use crate::handle::{self, object};
use crate::shmkit_status::{self, *};
use crate::types::{desc, shmkit_type};
use crate::{Fail, How, Outcome, Wait, bytes_in, bytes_out, call, how, name_arg, need, options, put, shmkit_options};

/// A `Value` (one element with its own robust lock) shared by name; the
/// same object as a Rust `shmkit::Value<T>` of the same layout.
pub struct shmkit_value {
    _private: [u8; 0],
}

/// A robust `Mutex` around one element shared by name; the same object as a
/// Rust `shmkit::Mutex<T>` of the same layout.
pub struct shmkit_mutex {
    _private: [u8; 0],
}

/// An `Array` of elements under one robust lock, shared by name; the same
/// object as a Rust `shmkit::Array<T>` of the same layout.
pub struct shmkit_array {
    _private: [u8; 0],
}

object! {
    shmkit_value => Locked<shmkit::dynamic::ValueKind>, 2;
    shmkit_mutex => Locked<shmkit::dynamic::MutexKind>, 3;
    shmkit_array => Locked<shmkit::dynamic::ArrayKind>, 4;
}

/// A described object and the guard of its lock while C holds it.
pub(crate) struct Locked<K: UnderMutex> {
    /// Declared first so that it drops (unlocks) before the object goes.
    guard: StdMutex<Option<MutexGuard<'static, [u8]>>>,
    obj: Described<K>,
}

impl<K: UnderMutex> Locked<K> {
    fn new(mut obj: Described<K>, strategy: WaitStrategy) -> Self {
        obj.set_wait_strategy(strategy);
        Locked { guard: StdMutex::new(None), obj }
    }

    fn slot(&self) -> std::sync::MutexGuard<'_, Option<MutexGuard<'static, [u8]>>> {
        self.guard.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn lock(&self, wait: Wait, data: *mut *mut c_void) -> Outcome {
        need(data, "data")?;
        let (mut guard, died) = match wait {
            Wait::Forever => match self.obj.lock() {
                Ok(g) => (g, false),
                Err(died) => (died.into_inner(), true),
            },
            Wait::Now => try_lock(self.obj.try_lock())?,
            Wait::Until(t) => try_lock(self.obj.lock_deadline(t))?,
        };
        let ptr = guard.as_mut_ptr().cast::<c_void>();
        // SAFETY: the guard borrows `self.obj`, which lives in the same
        // boxed handle and is dropped after the slot holding the guard (field
        // order); the box never moves. The lifetime is only widened to store
        // the guard beside what it borrows.
        let guard: MutexGuard<'static, [u8]> = unsafe { std::mem::transmute(guard) };
        let old = self.slot().replace(guard);
        // A lock taken through this handle while it held the lock already
        // (another thread of the caller) replaced nothing: the lock excludes.
        debug_assert!(old.is_none());
        drop(old);
        // SAFETY: `data` is non-NULL and writable (checked; the caller's
        // promise).
        unsafe { data.write(ptr) };
        Ok(if died { SHMKIT_OWNER_DIED } else { SHMKIT_OK })
    }

    fn unlock(&self) -> Outcome {
        match self.slot().take() {
            Some(guard) => {
                drop(guard);
                Ok(SHMKIT_OK)
            }
            None => Err(Fail::arg(format!("'{}' is not locked through this handle", self.obj.name()))),
        }
    }

    /// The object as something to wait on, unless this handle holds its
    /// lock (it would never be ready).
    pub(crate) fn waitable(&self) -> Result<&Described<K>, Fail> {
        self.idle()?;
        Ok(&self.obj)
    }

    fn idle(&self) -> Result<(), Fail> {
        if self.slot().is_some() {
            return Err(Fail::new(
                SHMKIT_BUSY,
                format!("this handle holds the lock of '{}': use the data pointer, then unlock", self.obj.name()),
            ));
        }
        Ok(())
    }
}

pub(crate) fn try_lock<G>(r: Result<G, TryLockError<G>>) -> Result<(G, bool), Fail> {
    match r {
        Ok(g) => Ok((g, false)),
        Err(TryLockError::OwnerDied(g)) => Ok((g, true)),
        Err(TryLockError::WouldBlock) => Err(Fail::fixed(SHMKIT_WOULD_BLOCK, crate::texts::LOCK_HELD)),
        Err(TryLockError::TimedOut) => Err(Fail::fixed(SHMKIT_TIMEOUT, crate::texts::LOCK_TIMEOUT)),
    }
}

/// Everything a `_new` function of a described object takes.
pub(crate) struct NewArgs<'a> {
    pub name: &'a str,
    pub how: How,
    pub ty: shmkit::TypeDesc,
    pub init: Option<&'a [u8]>,
    pub opts: OpenOptions,
    pub strategy: WaitStrategy,
}

/// # Safety
/// The pointers are NULL or valid as the header says.
pub(crate) unsafe fn new_args<'a>(
    name: *const c_char,
    how_: u32,
    ty: *const shmkit_type,
    init: *const c_void,
    init_len: usize,
    opts: *const shmkit_options,
) -> Result<NewArgs<'a>, Fail> {
    // SAFETY: the caller's promises, passed on.
    let (name, ty, (opts, strategy)) = unsafe { (name_arg(name)?, desc(ty)?, options(opts)?) };
    let init = if init.is_null() && init_len == 0 {
        None
    } else {
        // SAFETY: `init` holds `init_len` bytes (the caller's promise).
        Some(unsafe { bytes_in(init, init_len, "init")? })
    };
    Ok(NewArgs { name, how: how(how_)?, ty, init, opts, strategy })
}

pub(crate) fn zeroes_or(init: Option<&[u8]>, len: usize) -> std::borrow::Cow<'_, [u8]> {
    init.map_or_else(|| vec![0; len].into(), Into::into)
}

// ---------------------------------------------------------------- value

/// Creates, opens or open-or-creates (`how`: `SHMKIT_CREATE`, `SHMKIT_OPEN`,
/// `SHMKIT_OPEN_OR_CREATE`) the value `name` of element type `ty`, holding
/// `init` (`init_len` = the type's size; NULL and 0 for zeroes) if it
/// creates it. The handle is the caller's (`shmkit_value_free`); a creating
/// handle removes the name when freed unless `shmkit_value_persist` was
/// called. Thread-safe, never blocks (an open waits briefly for a creator
/// that is still filling the segment in).
///
/// Errors: SHMKIT_NULL_POINTER, SHMKIT_INVALID_NAME, SHMKIT_ALREADY_EXISTS,
/// SHMKIT_NOT_FOUND, SHMKIT_WRONG_KIND, SHMKIT_WRONG_TYPE (the message names
/// the first differing field), SHMKIT_INVALID_ARGUMENT, SHMKIT_CORRUPT,
/// SHMKIT_PERMISSION_DENIED, SHMKIT_NO_SPACE, SHMKIT_IO.
///
/// # Safety
/// Every pointer argument is NULL or valid as described above; a handle is
/// one this library returned and that was not freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmkit_value_new(
    name: *const c_char,
    how: u32,
    ty: *const shmkit_type,
    init: *const c_void,
    init_len: usize,
    opts: *const shmkit_options,
    out: *mut *mut shmkit_value,
) -> shmkit_status {
    call(|| {
        need(out, "out")?;
        // SAFETY: the caller's promises, passed on.
        let a = unsafe { new_args(name, how, ty, init, init_len, opts)? };
        let init = zeroes_or(a.init, a.ty.size as usize);
        let obj = match a.how {
            How::Create => DynValue::create_with(a.name, &a.ty, &init, &a.opts)?,
            How::Open => DynValue::open_with(a.name, &a.ty, &a.opts)?,
            How::OpenOrCreate => DynValue::open_or_create_with(a.name, &a.ty, &init, &a.opts)?,
        };
        // SAFETY: `out` is writable (checked; the caller's promise).
        unsafe { handle::export(out, Locked::new(obj, a.strategy)) }
    })
}

/// Copies the value into `out` (`len` = the type's size), under the lock.
/// Blocks while another handle holds the lock; must not be called while
/// this handle holds it (SHMKIT_BUSY). Thread-safe.
///
/// # Safety
/// Every pointer argument is NULL or valid as described above; a handle is
/// one this library returned and that was not freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmkit_value_load(v: *const shmkit_value, out: *mut c_void, len: usize) -> shmkit_status {
    call(|| {
        // SAFETY: a live handle or NULL, and `out` writable for `len` bytes.
        let (v, out) = unsafe { (handle::get(v)?, bytes_out(out, len, "out")?) };
        v.idle()?;
        v.obj.load(out)?;
        Ok(SHMKIT_OK)
    })
}

/// Replaces the value with `len` bytes at `value` (`len` = the type's
/// size), under the lock; this repairs what a dead holder left. Blocks as
/// `shmkit_value_load`. Thread-safe.
///
/// # Safety
/// Every pointer argument is NULL or valid as described above; a handle is
/// one this library returned and that was not freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmkit_value_store(v: *const shmkit_value, value: *const c_void, len: usize) -> shmkit_status {
    call(|| {
        // SAFETY: a live handle or NULL, and `value` readable for `len` bytes.
        let (v, value) = unsafe { (handle::get(v)?, bytes_in(value, len, "value")?) };
        v.idle()?;
        v.obj.store(value)?;
        Ok(SHMKIT_OK)
    })
}

/// Takes the value's lock, blocking as long as it takes, and writes a
/// pointer to the data (the type's size, aligned for it) to `*data`: valid
/// until `shmkit_value_unlock`. SHMKIT_OWNER_DIED: the lock is held and its
/// previous holder died holding it (repair the data). The lock belongs to
/// the handle: do not lock the same handle twice without unlocking.
///
/// # Safety
/// Every pointer argument is NULL or valid as described above; a handle is
/// one this library returned and that was not freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmkit_value_lock(v: *const shmkit_value, data: *mut *mut c_void) -> shmkit_status {
    // SAFETY: the caller's promises, passed on.
    call(|| unsafe { handle::get(v)? }.lock(Wait::Forever, data))
}

/// `shmkit_value_lock` if the lock is free now (SHMKIT_WOULD_BLOCK if not).
///
/// # Safety
/// Every pointer argument is NULL or valid as described above; a handle is
/// one this library returned and that was not freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmkit_value_try_lock(v: *const shmkit_value, data: *mut *mut c_void) -> shmkit_status {
    // SAFETY: the caller's promises, passed on.
    call(|| unsafe { handle::get(v)? }.lock(Wait::Now, data))
}

/// `shmkit_value_lock` waiting at most `timeout_ns` (SHMKIT_TIMEOUT).
///
/// # Safety
/// Every pointer argument is NULL or valid as described above; a handle is
/// one this library returned and that was not freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmkit_value_lock_timeout(
    v: *const shmkit_value,
    timeout_ns: u64,
    data: *mut *mut c_void,
) -> shmkit_status {
    // SAFETY: the caller's promises, passed on.
    call(|| unsafe { handle::get(v)? }.lock(Wait::timeout(timeout_ns), data))
}

/// `shmkit_value_lock` waiting until CLOCK_MONOTONIC `deadline_ns` at most.
///
/// # Safety
/// Every pointer argument is NULL or valid as described above; a handle is
/// one this library returned and that was not freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmkit_value_lock_deadline(
    v: *const shmkit_value,
    deadline_ns: u64,
    data: *mut *mut c_void,
) -> shmkit_status {
    // SAFETY: the caller's promises, passed on.
    call(|| unsafe { handle::get(v)? }.lock(Wait::deadline(deadline_ns), data))
}

/// Releases the lock taken through this handle (SHMKIT_INVALID_ARGUMENT if
/// it holds none). Never blocks.
///
/// # Safety
/// Every pointer argument is NULL or valid as described above; a handle is
/// one this library returned and that was not freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmkit_value_unlock(v: *const shmkit_value) -> shmkit_status {
    // SAFETY: the caller's promises, passed on.
    call(|| unsafe { handle::get(v)? }.unlock())
}

/// Keeps the name after this (creating) handle is freed. Never blocks.
///
/// # Safety
/// Every pointer argument is NULL or valid as described above; a handle is
/// one this library returned and that was not freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmkit_value_persist(v: *const shmkit_value) -> shmkit_status {
    call(|| {
        // SAFETY: a live handle or NULL.
        unsafe { handle::get(v)? }.obj.persist();
        Ok(SHMKIT_OK)
    })
}

/// Frees the handle (releasing its lock if it holds it; removing the name
/// if it created it and did not persist it). NULL is fine; a second free is
/// SHMKIT_INVALID_HANDLE. No other thread may use the handle meanwhile.
///
/// # Safety
/// Every pointer argument is NULL or valid as described above; a handle is
/// one this library returned and that was not freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmkit_value_free(v: *mut shmkit_value) -> shmkit_status {
    // SAFETY: the caller passes a handle of this kind or NULL.
    unsafe { handle::free(v) }
}

// ---------------------------------------------------------------- mutex

/// Creates, opens or open-or-creates (`how`) the mutex `name` around one
/// element of type `ty` (for a payload of N opaque bytes,
/// `shmkit_type_new_bytes(N)`), holding `init` (`init_len` = the type's
/// size; NULL and 0 for zeroes) if it creates it. Ownership, thread-safety
/// and errors as `shmkit_value_new`.
///
/// # Safety
/// Every pointer argument is NULL or valid as described above; a handle is
/// one this library returned and that was not freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmkit_mutex_new(
    name: *const c_char,
    how: u32,
    ty: *const shmkit_type,
    init: *const c_void,
    init_len: usize,
    opts: *const shmkit_options,
    out: *mut *mut shmkit_mutex,
) -> shmkit_status {
    call(|| {
        need(out, "out")?;
        // SAFETY: the caller's promises, passed on.
        let a = unsafe { new_args(name, how, ty, init, init_len, opts)? };
        let init = zeroes_or(a.init, a.ty.size as usize);
        let obj = match a.how {
            How::Create => DynMutex::create_with(a.name, &a.ty, &init, &a.opts)?,
            How::Open => DynMutex::open_with(a.name, &a.ty, &a.opts)?,
            How::OpenOrCreate => DynMutex::open_or_create_with(a.name, &a.ty, &init, &a.opts)?,
        };
        // SAFETY: `out` is writable (checked; the caller's promise).
        unsafe { handle::export(out, Locked::new(obj, a.strategy)) }
    })
}

/// Takes the lock, blocking until that is possible or its holder is known
/// dead (within milliseconds of its death), and writes a pointer to the
/// payload to `*data`, valid until `shmkit_mutex_unlock`. SHMKIT_OWNER_DIED:
/// the lock is held and its previous holder died holding it (repair the
/// payload, then unlock; the next locker is told nothing more). The lock
/// belongs to the handle: do not lock the same handle twice without
/// unlocking (threads that each lock should each open a handle).
///
/// # Safety
/// Every pointer argument is NULL or valid as described above; a handle is
/// one this library returned and that was not freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmkit_mutex_lock(m: *const shmkit_mutex, data: *mut *mut c_void) -> shmkit_status {
    // SAFETY: the caller's promises, passed on.
    call(|| unsafe { handle::get(m)? }.lock(Wait::Forever, data))
}

/// `shmkit_mutex_lock` if the lock is free now (SHMKIT_WOULD_BLOCK if not).
///
/// # Safety
/// Every pointer argument is NULL or valid as described above; a handle is
/// one this library returned and that was not freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmkit_mutex_try_lock(m: *const shmkit_mutex, data: *mut *mut c_void) -> shmkit_status {
    // SAFETY: the caller's promises, passed on.
    call(|| unsafe { handle::get(m)? }.lock(Wait::Now, data))
}

/// `shmkit_mutex_lock` waiting at most `timeout_ns` (SHMKIT_TIMEOUT).
///
/// # Safety
/// Every pointer argument is NULL or valid as described above; a handle is
/// one this library returned and that was not freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmkit_mutex_lock_timeout(
    m: *const shmkit_mutex,
    timeout_ns: u64,
    data: *mut *mut c_void,
) -> shmkit_status {
    // SAFETY: the caller's promises, passed on.
    call(|| unsafe { handle::get(m)? }.lock(Wait::timeout(timeout_ns), data))
}

/// `shmkit_mutex_lock` waiting until CLOCK_MONOTONIC `deadline_ns` at most.
///
/// # Safety
/// Every pointer argument is NULL or valid as described above; a handle is
/// one this library returned and that was not freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmkit_mutex_lock_deadline(
    m: *const shmkit_mutex,
    deadline_ns: u64,
    data: *mut *mut c_void,
) -> shmkit_status {
    // SAFETY: the caller's promises, passed on.
    call(|| unsafe { handle::get(m)? }.lock(Wait::deadline(deadline_ns), data))
}

/// Releases the lock taken through this handle (SHMKIT_INVALID_ARGUMENT if
/// it holds none). Never blocks.
///
/// # Safety
/// Every pointer argument is NULL or valid as described above; a handle is
/// one this library returned and that was not freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmkit_mutex_unlock(m: *const shmkit_mutex) -> shmkit_status {
    // SAFETY: the caller's promises, passed on.
    call(|| unsafe { handle::get(m)? }.unlock())
}

/// Keeps the name after this (creating) handle is freed. Never blocks.
///
/// # Safety
/// Every pointer argument is NULL or valid as described above; a handle is
/// one this library returned and that was not freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmkit_mutex_persist(m: *const shmkit_mutex) -> shmkit_status {
    call(|| {
        // SAFETY: a live handle or NULL.
        unsafe { handle::get(m)? }.obj.persist();
        Ok(SHMKIT_OK)
    })
}

/// Frees the handle (releasing its lock if it holds it). As
/// `shmkit_value_free`.
///
/// # Safety
/// Every pointer argument is NULL or valid as described above; a handle is
/// one this library returned and that was not freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmkit_mutex_free(m: *mut shmkit_mutex) -> shmkit_status {
    // SAFETY: the caller passes a handle of this kind or NULL.
    unsafe { handle::free(m) }
}

// ---------------------------------------------------------------- array

/// Creates, opens or open-or-creates (`how`) the array `name` of `len`
/// elements of type `ty`, holding `init` (`init_len` = `len` times the
/// type's size; NULL and 0 for zeroes) if it creates it. An open learns the
/// length (`len` is then ignored); an open-or-create that finds an array of
/// another length fails with SHMKIT_WRONG_TYPE. Ownership, thread-safety
/// and errors as `shmkit_value_new`.
///
/// # Safety
/// Every pointer argument is NULL or valid as described above; a handle is
/// one this library returned and that was not freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmkit_array_new(
    name: *const c_char,
    how: u32,
    ty: *const shmkit_type,
    len: usize,
    init: *const c_void,
    init_len: usize,
    opts: *const shmkit_options,
    out: *mut *mut shmkit_array,
) -> shmkit_status {
    call(|| {
        need(out, "out")?;
        // SAFETY: the caller's promises, passed on.
        let a = unsafe { new_args(name, how, ty, init, init_len, opts)? };
        let obj = match a.how {
            How::Create => DynArray::create_with(a.name, &a.ty, len, a.init, &a.opts)?,
            How::Open => DynArray::open_with(a.name, &a.ty, &a.opts)?,
            How::OpenOrCreate if a.init.is_some() => {
                return Err(Fail::arg("an open-or-create of an array starts it zeroed: pass init NULL and 0"));
            }
            How::OpenOrCreate => DynArray::open_or_create_with(a.name, &a.ty, len, &a.opts)?,
        };
        // SAFETY: `out` is writable (checked; the caller's promise).
        unsafe { handle::export(out, Locked::new(obj, a.strategy)) }
    })
}

/// The number of elements, written to `*len`. Never blocks.
///
/// # Safety
/// Every pointer argument is NULL or valid as described above; a handle is
/// one this library returned and that was not freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmkit_array_len(a: *const shmkit_array, len: *mut usize) -> shmkit_status {
    call(|| {
        // SAFETY: a live handle or NULL; `len` writable or NULL.
        unsafe { put(len, "len", handle::get(a)?.obj.len())? };
        Ok(SHMKIT_OK)
    })
}

/// Copies element `index` into `out` (`len` = the type's size), under the
/// lock. SHMKIT_INVALID_ARGUMENT past the end. Blocks as
/// `shmkit_value_load`.
///
/// # Safety
/// Every pointer argument is NULL or valid as described above; a handle is
/// one this library returned and that was not freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmkit_array_get(
    a: *const shmkit_array,
    index: usize,
    out: *mut c_void,
    len: usize,
) -> shmkit_status {
    call(|| {
        // SAFETY: a live handle or NULL, `out` writable for `len` bytes.
        let (a, out) = unsafe { (handle::get(a)?, bytes_out(out, len, "out")?) };
        a.idle()?;
        a.obj.get(index, out)?;
        Ok(SHMKIT_OK)
    })
}

/// Sets element `index` to `len` bytes at `value` (`len` = the type's
/// size), under the lock. Blocks as `shmkit_value_load`.
///
/// # Safety
/// Every pointer argument is NULL or valid as described above; a handle is
/// one this library returned and that was not freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmkit_array_set(
    a: *const shmkit_array,
    index: usize,
    value: *const c_void,
    len: usize,
) -> shmkit_status {
    call(|| {
        // SAFETY: a live handle or NULL, `value` readable for `len` bytes.
        let (a, value) = unsafe { (handle::get(a)?, bytes_in(value, len, "value")?) };
        a.idle()?;
        a.obj.set(index, value)?;
        Ok(SHMKIT_OK)
    })
}

/// Takes the array's lock and writes a pointer to its first element to
/// `*data` (valid until `shmkit_array_unlock`). As `shmkit_value_lock`.
///
/// # Safety
/// Every pointer argument is NULL or valid as described above; a handle is
/// one this library returned and that was not freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmkit_array_lock(a: *const shmkit_array, data: *mut *mut c_void) -> shmkit_status {
    // SAFETY: the caller's promises, passed on.
    call(|| unsafe { handle::get(a)? }.lock(Wait::Forever, data))
}

/// `shmkit_array_lock` if the lock is free now (SHMKIT_WOULD_BLOCK if not).
///
/// # Safety
/// Every pointer argument is NULL or valid as described above; a handle is
/// one this library returned and that was not freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmkit_array_try_lock(a: *const shmkit_array, data: *mut *mut c_void) -> shmkit_status {
    // SAFETY: the caller's promises, passed on.
    call(|| unsafe { handle::get(a)? }.lock(Wait::Now, data))
}

/// `shmkit_array_lock` waiting at most `timeout_ns` (SHMKIT_TIMEOUT).
///
/// # Safety
/// Every pointer argument is NULL or valid as described above; a handle is
/// one this library returned and that was not freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmkit_array_lock_timeout(
    a: *const shmkit_array,
    timeout_ns: u64,
    data: *mut *mut c_void,
) -> shmkit_status {
    // SAFETY: the caller's promises, passed on.
    call(|| unsafe { handle::get(a)? }.lock(Wait::timeout(timeout_ns), data))
}

/// `shmkit_array_lock` waiting until CLOCK_MONOTONIC `deadline_ns` at most.
///
/// # Safety
/// Every pointer argument is NULL or valid as described above; a handle is
/// one this library returned and that was not freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmkit_array_lock_deadline(
    a: *const shmkit_array,
    deadline_ns: u64,
    data: *mut *mut c_void,
) -> shmkit_status {
    // SAFETY: the caller's promises, passed on.
    call(|| unsafe { handle::get(a)? }.lock(Wait::deadline(deadline_ns), data))
}

/// Releases the lock taken through this handle. Never blocks.
///
/// # Safety
/// Every pointer argument is NULL or valid as described above; a handle is
/// one this library returned and that was not freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmkit_array_unlock(a: *const shmkit_array) -> shmkit_status {
    // SAFETY: the caller's promises, passed on.
    call(|| unsafe { handle::get(a)? }.unlock())
}

/// Keeps the name after this (creating) handle is freed. Never blocks.
///
/// # Safety
/// Every pointer argument is NULL or valid as described above; a handle is
/// one this library returned and that was not freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmkit_array_persist(a: *const shmkit_array) -> shmkit_status {
    call(|| {
        // SAFETY: a live handle or NULL.
        unsafe { handle::get(a)? }.obj.persist();
        Ok(SHMKIT_OK)
    })
}

/// Frees the handle. As `shmkit_value_free`.
///
/// # Safety
/// Every pointer argument is NULL or valid as described above; a handle is
/// one this library returned and that was not freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmkit_array_free(a: *mut shmkit_array) -> shmkit_status {
    // SAFETY: the caller passes a handle of this kind or NULL.
    unsafe { handle::free(a) }
}

/// The mutex handle's lock slot, for the condition variable.
pub(crate) fn mutex_guard_slot(
    m: &Locked<shmkit::dynamic::MutexKind>,
) -> std::sync::MutexGuard<'_, Option<MutexGuard<'static, [u8]>>> {
    m.slot()
}
