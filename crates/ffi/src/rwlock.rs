//! Reader-writer locks over one element of a built-in type.

use std::any::Any;
use std::ffi::{c_char, c_void};
use std::sync::Mutex as StdMutex;

use shmkit::{OpenOptions, RwLock, Shape, ShmType, TryLockError, WaitStrategy};

use crate::handle::{self, object};
use crate::shmkit_status::{self, *};
use crate::types::{desc, shmkit_type};
use crate::{Fail, How, Outcome, Wait, bytes_in, call, name_arg, need, options, shmkit_options};

/// A robust, writer-preferring reader-writer lock around one element of a
/// built-in type, shared by name (Rust `shmkit::RwLock<T>`). Thread-safe:
/// several threads may hold read locks through one handle.
pub struct shmkit_rwlock {
    _private: [u8; 0],
}

object! { shmkit_rwlock => RwH, 24; }

pub(crate) enum AnyRwLock {
    U8(RwLock<u8>),
    I8(RwLock<i8>),
    U16(RwLock<u16>),
    I16(RwLock<i16>),
    U32(RwLock<u32>),
    I32(RwLock<i32>),
    U64(RwLock<u64>),
    I64(RwLock<i64>),
    F32(RwLock<f32>),
    F64(RwLock<f64>),
}

/// Runs `$body` with `$x` bound to the inner lock and `T` its element type.
macro_rules! dispatch {
    ($e:expr, $x:ident => $body:expr) => {
        match $e {
            AnyRwLock::U8($x) => {
                #[allow(dead_code)]
                type T = u8;
                $body
            }
            AnyRwLock::I8($x) => {
                #[allow(dead_code)]
                type T = i8;
                $body
            }
            AnyRwLock::U16($x) => {
                #[allow(dead_code)]
                type T = u16;
                $body
            }
            AnyRwLock::I16($x) => {
                #[allow(dead_code)]
                type T = i16;
                $body
            }
            AnyRwLock::U32($x) => {
                #[allow(dead_code)]
                type T = u32;
                $body
            }
            AnyRwLock::I32($x) => {
                #[allow(dead_code)]
                type T = i32;
                $body
            }
            AnyRwLock::U64($x) => {
                #[allow(dead_code)]
                type T = u64;
                $body
            }
            AnyRwLock::I64($x) => {
                #[allow(dead_code)]
                type T = i64;
                $body
            }
            AnyRwLock::F32($x) => {
                #[allow(dead_code)]
                type T = f32;
                $body
            }
            AnyRwLock::F64($x) => {
                #[allow(dead_code)]
                type T = f64;
                $body
            }
        }
    };
}

/// The lock and the guards C holds through this handle (dropping one
/// releases it).
pub(crate) struct RwH {
    /// Declared first so that they drop (unlock) before the lock goes.
    guards: StdMutex<Vec<Box<dyn Any>>>,
    lock: AnyRwLock,
}

fn open_rwlock<T: ShmType>(name: &str, how: How, init: Option<&[u8]>, opts: &OpenOptions) -> Result<RwLock<T>, Fail> {
    let value = || match init {
        Some(bytes) if bytes.len() == std::mem::size_of::<T>() => Ok(bytemuck::pod_read_unaligned::<T>(bytes)),
        Some(bytes) => Err(Fail::arg(format!("{} initial bytes for {} bytes", bytes.len(), std::mem::size_of::<T>()))),
        None => Ok(T::zeroed()),
    };
    Ok(match how {
        How::Create => RwLock::create_with(name, value()?, opts)?,
        How::Open => RwLock::open_with(name, opts)?,
        How::OpenOrCreate => RwLock::open_or_create_with(name, value()?, opts)?,
    })
}

fn make_rwlock(
    elem: &str,
    name: &str,
    how: How,
    init: Option<&[u8]>,
    opts: &OpenOptions,
    strategy: WaitStrategy,
) -> Result<AnyRwLock, Fail> {
    Ok(match elem {
        "u8" => AnyRwLock::U8(open_rwlock::<u8>(name, how, init, opts)?.with_wait_strategy(strategy)),
        "i8" => AnyRwLock::I8(open_rwlock::<i8>(name, how, init, opts)?.with_wait_strategy(strategy)),
        "u16" => AnyRwLock::U16(open_rwlock::<u16>(name, how, init, opts)?.with_wait_strategy(strategy)),
        "i16" => AnyRwLock::I16(open_rwlock::<i16>(name, how, init, opts)?.with_wait_strategy(strategy)),
        "u32" => AnyRwLock::U32(open_rwlock::<u32>(name, how, init, opts)?.with_wait_strategy(strategy)),
        "i32" => AnyRwLock::I32(open_rwlock::<i32>(name, how, init, opts)?.with_wait_strategy(strategy)),
        "u64" => AnyRwLock::U64(open_rwlock::<u64>(name, how, init, opts)?.with_wait_strategy(strategy)),
        "i64" => AnyRwLock::I64(open_rwlock::<i64>(name, how, init, opts)?.with_wait_strategy(strategy)),
        "f32" => AnyRwLock::F32(open_rwlock::<f32>(name, how, init, opts)?.with_wait_strategy(strategy)),
        "f64" => AnyRwLock::F64(open_rwlock::<f64>(name, how, init, opts)?.with_wait_strategy(strategy)),
        other => {
            return Err(Fail::arg(format!(
                "reader-writer locks of '{other}' are not supported by the C ABI yet: use a built-in type code"
            )));
        }
    })
}

fn try_lock<G>(r: Result<G, TryLockError<G>>) -> Result<(G, bool), Fail> {
    match r {
        Ok(g) => Ok((g, false)),
        Err(TryLockError::OwnerDied(g)) => Ok((g, true)),
        Err(TryLockError::WouldBlock) => Err(Fail::fixed(SHMKIT_WOULD_BLOCK, crate::texts::LOCK_HELD)),
        Err(TryLockError::TimedOut) => Err(Fail::fixed(SHMKIT_TIMEOUT, crate::texts::LOCK_TIMEOUT)),
    }
}

impl RwH {
    fn slot(&self) -> std::sync::MutexGuard<'_, Vec<Box<dyn Any>>> {
        self.guards.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn lock(&self, write: bool, wait: Wait, data: *mut *mut c_void) -> Outcome {
        need(data, "data")?;
        let (guard, ptr, died): (Box<dyn Any>, *mut c_void, bool) = dispatch!(&self.lock, l => {
            if write {
                let (mut g, died) = match wait {
                    Wait::Forever => match l.write() {
                        Ok(g) => (g, false),
                        Err(e) => (e.into_inner(), true),
                    },
                    Wait::Now => try_lock(l.try_write())?,
                    Wait::Until(t) => try_lock(l.write_deadline(t))?,
                };
                let ptr = (&mut *g as *mut T).cast::<c_void>();
                // SAFETY: the guard borrows `self.lock`, which lives in the
                // same boxed handle and is dropped after the guards (field
                // order); the box never moves. Only the lifetime is widened,
                // to keep the guard beside what it borrows.
                let g: shmkit::RwLockWriteGuard<'static, T> = unsafe { std::mem::transmute(g) };
                (Box::new(g) as Box<dyn Any>, ptr, died)
            } else {
                let (g, died) = match wait {
                    Wait::Forever => match l.read() {
                        Ok(g) => (g, false),
                        Err(e) => (e.into_inner(), true),
                    },
                    Wait::Now => try_lock(l.try_read())?,
                    Wait::Until(t) => try_lock(l.read_deadline(t))?,
                };
                let ptr = (&*g as *const T).cast_mut().cast::<c_void>();
                // SAFETY: as for the write guard.
                let g: shmkit::RwLockReadGuard<'static, T> = unsafe { std::mem::transmute(g) };
                (Box::new(g) as Box<dyn Any>, ptr, died)
            }
        });
        self.slot().push(guard);
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
/// around one element of the built-in type `elem`, holding `init`
/// (`init_len` = its size; NULL and 0 for zero) if it creates it.
/// Ownership, thread-safety and errors as `shmkit_value_new`.
///
/// # Safety
/// Every pointer argument is NULL or valid as described above; a handle is
/// one this library returned and that was not freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmkit_rwlock_new(
    name: *const c_char,
    how: u32,
    elem: *const shmkit_type,
    init: *const c_void,
    init_len: usize,
    opts: *const shmkit_options,
    out: *mut *mut shmkit_rwlock,
) -> shmkit_status {
    call(|| {
        need(out, "out")?;
        // SAFETY: the caller's promises, passed on.
        let (name, ty, (opts, strategy)) = unsafe { (name_arg(name)?, desc(elem)?, options(opts)?) };
        let init = if init.is_null() && init_len == 0 {
            None
        } else {
            // SAFETY: `init` holds `init_len` bytes (the caller's promise).
            Some(unsafe { bytes_in(init, init_len, "init")? })
        };
        if !matches!(ty.shape, Shape::Primitive) {
            return Err(Fail::arg(format!(
                "reader-writer locks of '{}' are not supported by the C ABI yet: use a built-in type code",
                ty.name
            )));
        }
        let lock = make_rwlock(&ty.name, name, crate::how(how)?, init, &opts, strategy)?;
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
        let r = unsafe { handle::get(r)? };
        dispatch!(&r.lock, l => l.persist());
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
