//! Reader-writer locks over one element of a described type.

use std::ffi::{c_char, c_void};
use std::sync::Mutex as StdMutex;

use shmkit::dynamic::DynRwLock;
use shmkit::{RwLockReadGuard, RwLockWriteGuard};

use crate::data::{NewArgs, new_args, try_lock, zeroes_or};
use crate::handle::{self, object};
use crate::shmkit_status::{self, *};
use crate::types::shmkit_type;
use crate::{Fail, How, Outcome, Wait, call, need, shmkit_options};

/// A robust, writer-preferring reader-writer lock around one element,
/// shared by name; the same object as a Rust `shmkit::RwLock<T>` of the
/// same layout. Thread-safe: several threads may hold read locks through
/// one handle.
pub struct shmkit_rwlock {
    _private: [u8; 0],
}

object! { shmkit_rwlock => RwH, 24; }

/// A lock C holds through a handle, kept only to be dropped: that
/// releases it.
#[allow(dead_code)]
enum Held {
    Read(RwLockReadGuard<'static, [u8]>),
    Write(RwLockWriteGuard<'static, [u8]>),
}

/// The lock and the guards C holds through this handle (dropping one
/// releases it).
pub(crate) struct RwH {
    /// Declared first so that they drop (unlock) before the lock goes.
    guards: StdMutex<Vec<Held>>,
    lock: DynRwLock,
}

impl RwH {
    fn slot(&self) -> std::sync::MutexGuard<'_, Vec<Held>> {
        self.guards.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn lock(&self, write: bool, wait: Wait, data: *mut *mut c_void) -> Outcome {
        need(data, "data")?;
        let l = &self.lock;
        let (held, ptr, died) = if write {
            let (mut g, died) = match wait {
                Wait::Forever => match l.write() {
                    Ok(g) => (g, false),
                    Err(e) => (e.into_inner(), true),
                },
                Wait::Now => try_lock(l.try_write())?,
                Wait::Until(t) => try_lock(l.write_deadline(t))?,
            };
            let ptr = g.as_mut_ptr().cast::<c_void>();
            // SAFETY: the guard borrows `self.lock`, which lives in the same
            // boxed handle and is dropped after the guards (field order);
            // the box never moves. Only the lifetime is widened, to keep the
            // guard beside what it borrows.
            let g: RwLockWriteGuard<'static, [u8]> = unsafe { std::mem::transmute(g) };
            (Held::Write(g), ptr, died)
        } else {
            let (g, died) = match wait {
                Wait::Forever => match l.read() {
                    Ok(g) => (g, false),
                    Err(e) => (e.into_inner(), true),
                },
                Wait::Now => try_lock(l.try_read())?,
                Wait::Until(t) => try_lock(l.read_deadline(t))?,
            };
            let ptr = g.as_ptr().cast_mut().cast::<c_void>();
            // SAFETY: as for the write guard.
            let g: RwLockReadGuard<'static, [u8]> = unsafe { std::mem::transmute(g) };
            (Held::Read(g), ptr, died)
        };
        self.slot().push(held);
        // SAFETY: `data` is non-NULL and writable (checked; the caller's
        // promise).
        unsafe { data.write(ptr) };
        Ok(if died { SHMKIT_OWNER_DIED } else { SHMKIT_OK })
    }

    fn unlock(&self) -> Outcome {
        let guard = self.slot().pop().ok_or_else(|| Fail::arg("no lock is held through this handle"))?;
        drop(guard);
        Ok(SHMKIT_OK)
    }
}

/// Creates, opens or open-or-creates (`how`) the reader-writer lock `name`
/// around one element of type `ty` (a built-in type, or a struct or array
/// described with the `shmkit_type_*` calls), holding `init` (`init_len` =
/// the type's size; NULL and 0 for zeroes) if it creates it. The same
/// object as a Rust `shmkit::RwLock<T>` of the same layout (an open with
/// another description is SHMKIT_WRONG_TYPE, naming the first differing
/// field). Ownership, thread-safety and errors as `shmkit_value_new`.
///
/// # Safety
/// Every pointer argument is NULL or valid as described above; a handle is
/// one this library returned and that was not freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmkit_rwlock_new(
    name: *const c_char,
    how: u32,
    ty: *const shmkit_type,
    init: *const c_void,
    init_len: usize,
    opts: *const shmkit_options,
    out: *mut *mut shmkit_rwlock,
) -> shmkit_status {
    call(|| {
        need(out, "out")?;
        // SAFETY: the caller's promises, passed on.
        let NewArgs { name, how, ty, init, opts, strategy } = unsafe { new_args(name, how, ty, init, init_len, opts)? };
        let init = zeroes_or(init, ty.size as usize);
        let mut lock = match how {
            How::Create => DynRwLock::create_with(name, &ty, &init, &opts)?,
            How::Open => DynRwLock::open_with(name, &ty, &opts)?,
            How::OpenOrCreate => DynRwLock::open_or_create_with(name, &ty, &init, &opts)?,
        };
        lock.set_wait_strategy(strategy);
        // SAFETY: `out` is writable (checked; the caller's promise).
        unsafe { handle::export(out, RwH { guards: StdMutex::new(Vec::new()), lock }) }
    })
}

/// Takes a read lock, blocking while a writer holds or waits for the lock,
/// and writes a pointer to the element to `*data` (read it only) until
/// `shmkit_rwlock_unlock`. SHMKIT_OWNER_DIED: a writer died holding the lock
/// and no writer has repaired it since (the read lock is held).
///
/// # Safety
/// Every pointer argument is NULL or valid as described above; a handle is
/// one this library returned and that was not freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmkit_rwlock_read(r: *const shmkit_rwlock, data: *mut *mut c_void) -> shmkit_status {
    // SAFETY: the caller's promises, passed on.
    call(|| unsafe { handle::get(r)? }.lock(false, Wait::Forever, data))
}

/// `shmkit_rwlock_read` if that is possible now (SHMKIT_WOULD_BLOCK if not).
///
/// # Safety
/// Every pointer argument is NULL or valid as described above; a handle is
/// one this library returned and that was not freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmkit_rwlock_try_read(r: *const shmkit_rwlock, data: *mut *mut c_void) -> shmkit_status {
    // SAFETY: the caller's promises, passed on.
    call(|| unsafe { handle::get(r)? }.lock(false, Wait::Now, data))
}

/// `shmkit_rwlock_read` waiting at most `timeout_ns` (SHMKIT_TIMEOUT).
///
/// # Safety
/// Every pointer argument is NULL or valid as described above; a handle is
/// one this library returned and that was not freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmkit_rwlock_read_timeout(
    r: *const shmkit_rwlock,
    timeout_ns: u64,
    data: *mut *mut c_void,
) -> shmkit_status {
    // SAFETY: the caller's promises, passed on.
    call(|| unsafe { handle::get(r)? }.lock(false, Wait::timeout(timeout_ns), data))
}

/// `shmkit_rwlock_read` waiting until CLOCK_MONOTONIC `deadline_ns`.
///
/// # Safety
/// Every pointer argument is NULL or valid as described above; a handle is
/// one this library returned and that was not freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmkit_rwlock_read_deadline(
    r: *const shmkit_rwlock,
    deadline_ns: u64,
    data: *mut *mut c_void,
) -> shmkit_status {
    // SAFETY: the caller's promises, passed on.
    call(|| unsafe { handle::get(r)? }.lock(false, Wait::deadline(deadline_ns), data))
}

/// Takes the write lock, blocking while readers or a writer hold it, and
/// writes a pointer to the element to `*data` until `shmkit_rwlock_unlock`.
/// SHMKIT_OWNER_DIED: a writer died holding it (the lock is held: repair the
/// data).
///
/// # Safety
/// Every pointer argument is NULL or valid as described above; a handle is
/// one this library returned and that was not freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmkit_rwlock_write(r: *const shmkit_rwlock, data: *mut *mut c_void) -> shmkit_status {
    // SAFETY: the caller's promises, passed on.
    call(|| unsafe { handle::get(r)? }.lock(true, Wait::Forever, data))
}

/// `shmkit_rwlock_write` if that is possible now (SHMKIT_WOULD_BLOCK if not).
///
/// # Safety
/// Every pointer argument is NULL or valid as described above; a handle is
/// one this library returned and that was not freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmkit_rwlock_try_write(r: *const shmkit_rwlock, data: *mut *mut c_void) -> shmkit_status {
    // SAFETY: the caller's promises, passed on.
    call(|| unsafe { handle::get(r)? }.lock(true, Wait::Now, data))
}

/// `shmkit_rwlock_write` waiting at most `timeout_ns` (SHMKIT_TIMEOUT).
///
/// # Safety
/// Every pointer argument is NULL or valid as described above; a handle is
/// one this library returned and that was not freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmkit_rwlock_write_timeout(
    r: *const shmkit_rwlock,
    timeout_ns: u64,
    data: *mut *mut c_void,
) -> shmkit_status {
    // SAFETY: the caller's promises, passed on.
    call(|| unsafe { handle::get(r)? }.lock(true, Wait::timeout(timeout_ns), data))
}

/// `shmkit_rwlock_write` waiting until CLOCK_MONOTONIC `deadline_ns`.
///
/// # Safety
/// Every pointer argument is NULL or valid as described above; a handle is
/// one this library returned and that was not freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmkit_rwlock_write_deadline(
    r: *const shmkit_rwlock,
    deadline_ns: u64,
    data: *mut *mut c_void,
) -> shmkit_status {
    // SAFETY: the caller's promises, passed on.
    call(|| unsafe { handle::get(r)? }.lock(true, Wait::deadline(deadline_ns), data))
}

/// Releases the lock taken last through this handle (a read lock or the
/// write lock; SHMKIT_INVALID_ARGUMENT if it holds none). Never blocks.
///
/// # Safety
/// Every pointer argument is NULL or valid as described above; a handle is
/// one this library returned and that was not freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmkit_rwlock_unlock(r: *const shmkit_rwlock) -> shmkit_status {
    // SAFETY: the caller's promises, passed on.
    call(|| unsafe { handle::get(r)? }.unlock())
}

/// Keeps the name after this (creating) handle is freed.
///
/// # Safety
/// Every pointer argument is NULL or valid as described above; a handle is
/// one this library returned and that was not freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmkit_rwlock_persist(r: *const shmkit_rwlock) -> shmkit_status {
    call(|| {
        // SAFETY: a live handle or NULL.
        unsafe { handle::get(r)? }.lock.persist();
        Ok(SHMKIT_OK)
    })
}

/// Frees the handle (releasing the locks it holds). As `shmkit_value_free`.
///
/// # Safety
/// Every pointer argument is NULL or valid as described above; a handle is
/// one this library returned and that was not freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmkit_rwlock_free(r: *mut shmkit_rwlock) -> shmkit_status {
    // SAFETY: the caller passes a handle of this kind or NULL.
    unsafe { handle::free(r) }
}
