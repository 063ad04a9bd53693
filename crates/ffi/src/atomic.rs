//! Lock-free integers shared by name.

use std::ffi::c_char;
use std::sync::atomic::Ordering;

use shmkit::Atomic;

use crate::handle::{self, object};
use crate::shmkit_status::{self, *};
use crate::{How, Outcome, call, how, name_arg, need, options, put, shmkit_options};

/// A lock-free `uint64_t` shared by name (Rust `shmkit::Atomic<u64>`).
pub struct shmkit_atomic_u64 {
    _private: [u8; 0],
}

/// A lock-free `uint32_t` shared by name (Rust `shmkit::Atomic<u32>`).
pub struct shmkit_atomic_u32 {
    _private: [u8; 0],
}

object! {
    shmkit_atomic_u64 => Atomic<u64>, 5;
    shmkit_atomic_u32 => Atomic<u32>, 6;
}

/// # Safety
/// The pointers are NULL or valid as the header says.
unsafe fn atomic_new<T: shmkit::AtomicInt, O: handle::Object<Inner = Atomic<T>>>(
    name: *const c_char,
    how_: u32,
    init: T,
    opts: *const shmkit_options,
    out: *mut *mut O,
) -> Outcome {
    need(out, "out")?;
    // SAFETY: the caller's promises, passed on.
    let (name, (opts, _)) = unsafe { (name_arg(name)?, options(opts)?) };
    let obj = match how(how_)? {
        How::Create => Atomic::create_with(name, init, &opts)?,
        How::Open => Atomic::open_with(name, &opts)?,
        How::OpenOrCreate => Atomic::open_or_create_with(name, init, &opts)?,
    };
    // SAFETY: `out` is writable (checked; the caller's promise).
    unsafe { handle::export(out, obj) }
}

/// Creates, opens or open-or-creates (`how`) the atomic `name`, holding
/// `init` if it creates it. Ownership, thread-safety and errors as
/// `shmkit_value_new`. The operations below are lock-free, never block, are
/// thread-safe, and are sequentially consistent.
///
/// # Safety
/// Every pointer argument is NULL or valid as described above; a handle is
/// one this library returned and that was not freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmkit_atomic_u64_new(
    name: *const c_char,
    how: u32,
    init: u64,
    opts: *const shmkit_options,
    out: *mut *mut shmkit_atomic_u64,
) -> shmkit_status {
    // SAFETY: the caller's promises, passed on.
    call(|| unsafe { atomic_new(name, how, init, opts, out) })
}

/// Writes the current value to `*value`.
///
/// # Safety
/// Every pointer argument is NULL or valid as described above; a handle is
/// one this library returned and that was not freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmkit_atomic_u64_load(a: *const shmkit_atomic_u64, value: *mut u64) -> shmkit_status {
    call(|| {
        // SAFETY: a live handle or NULL; `value` writable or NULL.
        unsafe { put(value, "value", handle::get(a)?.load(Ordering::SeqCst))? };
        Ok(SHMKIT_OK)
    })
}

/// Stores `value`.
///
/// # Safety
/// Every pointer argument is NULL or valid as described above; a handle is
/// one this library returned and that was not freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmkit_atomic_u64_store(a: *const shmkit_atomic_u64, value: u64) -> shmkit_status {
    call(|| {
        // SAFETY: a live handle or NULL.
        unsafe { handle::get(a)? }.store(value, Ordering::SeqCst);
        Ok(SHMKIT_OK)
    })
}

/// Adds `delta` (wrapping) and writes the previous value to `*previous`
/// (which may be NULL).
///
/// # Safety
/// Every pointer argument is NULL or valid as described above; a handle is
/// one this library returned and that was not freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmkit_atomic_u64_fetch_add(
    a: *const shmkit_atomic_u64,
    delta: u64,
    previous: *mut u64,
) -> shmkit_status {
    call(|| {
        // SAFETY: a live handle or NULL.
        let prev = unsafe { handle::get(a)? }.fetch_add(delta, Ordering::SeqCst);
        if !previous.is_null() {
            // SAFETY: non-NULL and writable (the caller's promise).
            unsafe { previous.write(prev) };
        }
        Ok(SHMKIT_OK)
    })
}

/// Stores `desired` if the value is `expected`. Writes the value found to
/// `*actual` (may be NULL); the exchange happened iff it equals `expected`.
///
/// # Safety
/// Every pointer argument is NULL or valid as described above; a handle is
/// one this library returned and that was not freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmkit_atomic_u64_compare_exchange(
    a: *const shmkit_atomic_u64,
    expected: u64,
    desired: u64,
    actual: *mut u64,
) -> shmkit_status {
    call(|| {
        // SAFETY: a live handle or NULL.
        let r = unsafe { handle::get(a)? }.compare_exchange(expected, desired, Ordering::SeqCst, Ordering::SeqCst);
        if !actual.is_null() {
            // SAFETY: non-NULL and writable (the caller's promise).
            unsafe { actual.write(r.unwrap_or_else(|v| v)) };
        }
        Ok(SHMKIT_OK)
    })
}

/// Keeps the name after this (creating) handle is freed.
///
/// # Safety
/// Every pointer argument is NULL or valid as described above; a handle is
/// one this library returned and that was not freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmkit_atomic_u64_persist(a: *const shmkit_atomic_u64) -> shmkit_status {
    call(|| {
        // SAFETY: a live handle or NULL.
        unsafe { handle::get(a)? }.persist();
        Ok(SHMKIT_OK)
    })
}

/// Frees the handle. As `shmkit_value_free`.
///
/// # Safety
/// Every pointer argument is NULL or valid as described above; a handle is
/// one this library returned and that was not freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmkit_atomic_u64_free(a: *mut shmkit_atomic_u64) -> shmkit_status {
    // SAFETY: the caller passes a handle of this kind or NULL.
    unsafe { handle::free(a) }
}

/// As `shmkit_atomic_u64_new`, for a `uint32_t`.
///
/// # Safety
/// Every pointer argument is NULL or valid as described above; a handle is
/// one this library returned and that was not freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmkit_atomic_u32_new(
    name: *const c_char,
    how: u32,
    init: u32,
    opts: *const shmkit_options,
    out: *mut *mut shmkit_atomic_u32,
) -> shmkit_status {
    // SAFETY: the caller's promises, passed on.
    call(|| unsafe { atomic_new(name, how, init, opts, out) })
}

/// As `shmkit_atomic_u64_load`.
///
/// # Safety
/// Every pointer argument is NULL or valid as described above; a handle is
/// one this library returned and that was not freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmkit_atomic_u32_load(a: *const shmkit_atomic_u32, value: *mut u32) -> shmkit_status {
    call(|| {
        // SAFETY: a live handle or NULL; `value` writable or NULL.
        unsafe { put(value, "value", handle::get(a)?.load(Ordering::SeqCst))? };
        Ok(SHMKIT_OK)
    })
}

/// As `shmkit_atomic_u64_store`.
///
/// # Safety
/// Every pointer argument is NULL or valid as described above; a handle is
/// one this library returned and that was not freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmkit_atomic_u32_store(a: *const shmkit_atomic_u32, value: u32) -> shmkit_status {
    call(|| {
        // SAFETY: a live handle or NULL.
        unsafe { handle::get(a)? }.store(value, Ordering::SeqCst);
        Ok(SHMKIT_OK)
    })
}

/// As `shmkit_atomic_u64_fetch_add`.
///
/// # Safety
/// Every pointer argument is NULL or valid as described above; a handle is
/// one this library returned and that was not freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmkit_atomic_u32_fetch_add(
    a: *const shmkit_atomic_u32,
    delta: u32,
    previous: *mut u32,
) -> shmkit_status {
    call(|| {
        // SAFETY: a live handle or NULL.
        let prev = unsafe { handle::get(a)? }.fetch_add(delta, Ordering::SeqCst);
        if !previous.is_null() {
            // SAFETY: non-NULL and writable (the caller's promise).
            unsafe { previous.write(prev) };
        }
        Ok(SHMKIT_OK)
    })
}

/// As `shmkit_atomic_u64_compare_exchange`.
///
/// # Safety
/// Every pointer argument is NULL or valid as described above; a handle is
/// one this library returned and that was not freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmkit_atomic_u32_compare_exchange(
    a: *const shmkit_atomic_u32,
    expected: u32,
    desired: u32,
    actual: *mut u32,
) -> shmkit_status {
    call(|| {
        // SAFETY: a live handle or NULL.
        let r = unsafe { handle::get(a)? }.compare_exchange(expected, desired, Ordering::SeqCst, Ordering::SeqCst);
        if !actual.is_null() {
            // SAFETY: non-NULL and writable (the caller's promise).
            unsafe { actual.write(r.unwrap_or_else(|v| v)) };
        }
        Ok(SHMKIT_OK)
    })
}

/// Keeps the name after this (creating) handle is freed.
///
/// # Safety
/// Every pointer argument is NULL or valid as described above; a handle is
/// one this library returned and that was not freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmkit_atomic_u32_persist(a: *const shmkit_atomic_u32) -> shmkit_status {
    call(|| {
        // SAFETY: a live handle or NULL.
        unsafe { handle::get(a)? }.persist();
        Ok(SHMKIT_OK)
    })
}

/// Frees the handle. As `shmkit_value_free`.
///
/// # Safety
/// Every pointer argument is NULL or valid as described above; a handle is
/// one this library returned and that was not freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmkit_atomic_u32_free(a: *mut shmkit_atomic_u32) -> shmkit_status {
    // SAFETY: the caller passes a handle of this kind or NULL.
    unsafe { handle::free(a) }
}
