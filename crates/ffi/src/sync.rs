//! Events, semaphores, barriers and condition variables.

use std::ffi::c_char;

use shmkit::{Barrier, BarrierError, BoundedSemaphore, Condvar, Event, Semaphore};

use crate::data::{Locked, shmkit_mutex};
use crate::handle::{self, object};
use crate::shmkit_status::{self, *};
use crate::{Fail, How, Outcome, Wait, call, name_arg, need, options, put, shmkit_options};

/// An event flag shared by name (Rust `shmkit::Event`). Thread-safe.
pub struct shmkit_event {
    _private: [u8; 0],
}

/// A counting semaphore shared by name (Rust `shmkit::Semaphore`, or
/// `shmkit::BoundedSemaphore` when made bounded). Thread-safe.
pub struct shmkit_semaphore {
    _private: [u8; 0],
}

/// A barrier for a fixed number of parties shared by name (Rust
/// `shmkit::Barrier`). Thread-safe.
pub struct shmkit_barrier {
    _private: [u8; 0],
}

/// A condition variable shared by name (Rust `shmkit::Condvar`), used with
/// a `shmkit_mutex`. Thread-safe.
pub struct shmkit_condvar {
    _private: [u8; 0],
}

pub(crate) enum Sem {
    Plain(Semaphore),
    Bounded(BoundedSemaphore),
}

object! {
    shmkit_event => Event, 20;
    shmkit_semaphore => Sem, 21;
    shmkit_barrier => Barrier, 22;
    shmkit_condvar => Condvar, 23;
}

/// Runs `$body` with `$s` bound to either kind of semaphore.
macro_rules! sem {
    ($e:expr, $s:ident => $body:expr) => {
        match $e {
            Sem::Plain($s) => $body,
            Sem::Bounded($s) => $body,
        }
    };
}

// ---------------------------------------------------------------- event

/// Creates, opens or open-or-creates (`how`) the event `name` (created
/// clear). Ownership, thread-safety and errors as `shmkit_value_new`.
///
/// # Safety
/// Every pointer argument is NULL or valid as described above; a handle is
/// one this library returned and that was not freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmkit_event_new(
    name: *const c_char,
    how: u32,
    opts: *const shmkit_options,
    out: *mut *mut shmkit_event,
) -> shmkit_status {
    call(|| {
        need(out, "out")?;
        // SAFETY: the caller's promises, passed on.
        let (name, (opts, strategy)) = unsafe { (name_arg(name)?, options(opts)?) };
        let e = match crate::how(how)? {
            How::Create => Event::create_with(name, &opts)?,
            How::Open => Event::open_with(name, &opts)?,
            How::OpenOrCreate => Event::open_or_create_with(name, &opts)?,
        };
        // SAFETY: `out` is writable (checked; the caller's promise).
        unsafe { handle::export(out, e.with_wait_strategy(strategy)) }
    })
}

/// Sets the flag and wakes every waiter. Never blocks.
///
/// # Safety
/// Every pointer argument is NULL or valid as described above; a handle is
/// one this library returned and that was not freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmkit_event_set(e: *const shmkit_event) -> shmkit_status {
    call(|| {
        // SAFETY: a live handle or NULL.
        unsafe { handle::get(e)? }.set();
        Ok(SHMKIT_OK)
    })
}

/// Clears the flag. Never blocks.
///
/// # Safety
/// Every pointer argument is NULL or valid as described above; a handle is
/// one this library returned and that was not freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmkit_event_clear(e: *const shmkit_event) -> shmkit_status {
    call(|| {
        // SAFETY: a live handle or NULL.
        unsafe { handle::get(e)? }.clear();
        Ok(SHMKIT_OK)
    })
}

/// Writes whether the flag is set to `*is_set`. Never blocks.
///
/// # Safety
/// Every pointer argument is NULL or valid as described above; a handle is
/// one this library returned and that was not freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmkit_event_is_set(e: *const shmkit_event, is_set: *mut bool) -> shmkit_status {
    call(|| {
        // SAFETY: a live handle or NULL; `is_set` writable or NULL.
        unsafe { put(is_set, "is_set", handle::get(e)?.is_set())? };
        Ok(SHMKIT_OK)
    })
}

fn event_wait(e: &Event, wait: Wait) -> Outcome {
    let set = match wait {
        Wait::Forever => {
            e.wait();
            true
        }
        Wait::Now => e.try_wait(),
        Wait::Until(t) => e.wait_deadline(t),
    };
    match (set, wait) {
        (true, _) => Ok(SHMKIT_OK),
        (false, Wait::Now) => Err(Fail::fixed(SHMKIT_WOULD_BLOCK, c"the event is not set")),
        (false, _) => Err(Fail::fixed(SHMKIT_TIMEOUT, c"timed out waiting for the event")),
    }
}

/// Blocks until the flag is set.
///
/// # Safety
/// Every pointer argument is NULL or valid as described above; a handle is
/// one this library returned and that was not freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmkit_event_wait(e: *const shmkit_event) -> shmkit_status {
    // SAFETY: a live handle or NULL.
    call(|| event_wait(unsafe { handle::get(e)? }, Wait::Forever))
}

/// SHMKIT_OK if the flag is set, SHMKIT_WOULD_BLOCK if not.
///
/// # Safety
/// Every pointer argument is NULL or valid as described above; a handle is
/// one this library returned and that was not freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmkit_event_try_wait(e: *const shmkit_event) -> shmkit_status {
    // SAFETY: a live handle or NULL.
    call(|| event_wait(unsafe { handle::get(e)? }, Wait::Now))
}

/// `shmkit_event_wait` waiting at most `timeout_ns` (SHMKIT_TIMEOUT).
///
/// # Safety
/// Every pointer argument is NULL or valid as described above; a handle is
/// one this library returned and that was not freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmkit_event_wait_timeout(e: *const shmkit_event, timeout_ns: u64) -> shmkit_status {
    // SAFETY: a live handle or NULL.
    call(|| event_wait(unsafe { handle::get(e)? }, Wait::timeout(timeout_ns)))
}

/// `shmkit_event_wait` waiting until CLOCK_MONOTONIC `deadline_ns`.
///
/// # Safety
/// Every pointer argument is NULL or valid as described above; a handle is
/// one this library returned and that was not freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmkit_event_wait_deadline(e: *const shmkit_event, deadline_ns: u64) -> shmkit_status {
    // SAFETY: a live handle or NULL.
    call(|| event_wait(unsafe { handle::get(e)? }, Wait::deadline(deadline_ns)))
}

/// Keeps the name after this (creating) handle is freed.
///
/// # Safety
/// Every pointer argument is NULL or valid as described above; a handle is
/// one this library returned and that was not freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmkit_event_persist(e: *const shmkit_event) -> shmkit_status {
    call(|| {
        // SAFETY: a live handle or NULL.
        unsafe { handle::get(e)? }.persist();
        Ok(SHMKIT_OK)
    })
}

/// Frees the handle. As `shmkit_value_free`.
///
/// # Safety
/// Every pointer argument is NULL or valid as described above; a handle is
/// one this library returned and that was not freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmkit_event_free(e: *mut shmkit_event) -> shmkit_status {
    // SAFETY: the caller passes a handle of this kind or NULL.
    unsafe { handle::free(e) }
}

// ----------------------------------------------------------- semaphores

/// Creates, opens or open-or-creates (`how`) the semaphore `name` with
/// `initial` permits. `bounded`: a bounded semaphore, whose count may not
/// exceed `initial` (a release past it is SHMKIT_INVALID_ARGUMENT); opening
/// one kind as the other is SHMKIT_WRONG_KIND. Ownership, thread-safety
/// and errors as `shmkit_value_new`.
///
/// # Safety
/// Every pointer argument is NULL or valid as described above; a handle is
/// one this library returned and that was not freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmkit_semaphore_new(
    name: *const c_char,
    how: u32,
    initial: u32,
    bounded: bool,
    opts: *const shmkit_options,
    out: *mut *mut shmkit_semaphore,
) -> shmkit_status {
    call(|| {
        need(out, "out")?;
        // SAFETY: the caller's promises, passed on.
        let (name, (opts, strategy)) = unsafe { (name_arg(name)?, options(opts)?) };
        let how = crate::how(how)?;
        let sem = if bounded {
            Sem::Bounded(
                match how {
                    How::Create => BoundedSemaphore::create_with(name, initial, &opts)?,
                    How::Open => BoundedSemaphore::open_with(name, &opts)?,
                    How::OpenOrCreate => BoundedSemaphore::open_or_create_with(name, initial, &opts)?,
                }
                .with_wait_strategy(strategy),
            )
        } else {
            Sem::Plain(
                match how {
                    How::Create => Semaphore::create_with(name, initial, &opts)?,
                    How::Open => Semaphore::open_with(name, &opts)?,
                    How::OpenOrCreate => Semaphore::open_or_create_with(name, initial, &opts)?,
                }
                .with_wait_strategy(strategy),
            )
        };
        // SAFETY: `out` is writable (checked; the caller's promise).
        unsafe { handle::export(out, sem) }
    })
}

fn acquire(s: &Sem, wait: Wait) -> Outcome {
    let got = sem!(s, s => match wait {
        Wait::Forever => {
            s.acquire();
            true
        }
        Wait::Now => s.try_acquire(),
        Wait::Until(t) => s.acquire_deadline(t),
    });
    match (got, wait) {
        (true, _) => Ok(SHMKIT_OK),
        (false, Wait::Now) => Err(Fail::fixed(SHMKIT_WOULD_BLOCK, c"no permit is free")),
        (false, _) => Err(Fail::fixed(SHMKIT_TIMEOUT, c"timed out waiting for a permit")),
    }
}

/// Takes a permit, blocking until one is free.
///
/// # Safety
/// Every pointer argument is NULL or valid as described above; a handle is
/// one this library returned and that was not freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmkit_semaphore_acquire(s: *const shmkit_semaphore) -> shmkit_status {
    // SAFETY: a live handle or NULL.
    call(|| acquire(unsafe { handle::get(s)? }, Wait::Forever))
}

/// Takes a permit if one is free now (SHMKIT_WOULD_BLOCK if not).
///
/// # Safety
/// Every pointer argument is NULL or valid as described above; a handle is
/// one this library returned and that was not freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmkit_semaphore_try_acquire(s: *const shmkit_semaphore) -> shmkit_status {
    // SAFETY: a live handle or NULL.
    call(|| acquire(unsafe { handle::get(s)? }, Wait::Now))
}

/// `shmkit_semaphore_acquire` waiting at most `timeout_ns` (SHMKIT_TIMEOUT).
///
/// # Safety
/// Every pointer argument is NULL or valid as described above; a handle is
/// one this library returned and that was not freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmkit_semaphore_acquire_timeout(
    s: *const shmkit_semaphore,
    timeout_ns: u64,
) -> shmkit_status {
    // SAFETY: a live handle or NULL.
    call(|| acquire(unsafe { handle::get(s)? }, Wait::timeout(timeout_ns)))
}

/// `shmkit_semaphore_acquire` waiting until CLOCK_MONOTONIC `deadline_ns`.
///
/// # Safety
/// Every pointer argument is NULL or valid as described above; a handle is
/// one this library returned and that was not freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmkit_semaphore_acquire_deadline(
    s: *const shmkit_semaphore,
    deadline_ns: u64,
) -> shmkit_status {
    // SAFETY: a live handle or NULL.
    call(|| acquire(unsafe { handle::get(s)? }, Wait::deadline(deadline_ns)))
}

/// Returns a permit, waking a waiter. SHMKIT_INVALID_ARGUMENT: a bounded
/// semaphore is full already. Never blocks.
///
/// # Safety
/// Every pointer argument is NULL or valid as described above; a handle is
/// one this library returned and that was not freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmkit_semaphore_release(s: *const shmkit_semaphore) -> shmkit_status {
    call(|| {
        // SAFETY: a live handle or NULL.
        let s = unsafe { handle::get(s)? };
        sem!(s, s => s.release()).map_err(Fail::arg)?;
        Ok(SHMKIT_OK)
    })
}

/// The number of free permits now (a snapshot), written to `*value`.
///
/// # Safety
/// Every pointer argument is NULL or valid as described above; a handle is
/// one this library returned and that was not freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmkit_semaphore_value(s: *const shmkit_semaphore, value: *mut u32) -> shmkit_status {
    call(|| {
        // SAFETY: a live handle or NULL.
        let s = unsafe { handle::get(s)? };
        // SAFETY: writable or NULL (the caller's promise).
        unsafe { put(value, "value", sem!(s, s => s.value()))? };
        Ok(SHMKIT_OK)
    })
}

/// Keeps the name after this (creating) handle is freed.
///
/// # Safety
/// Every pointer argument is NULL or valid as described above; a handle is
/// one this library returned and that was not freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmkit_semaphore_persist(s: *const shmkit_semaphore) -> shmkit_status {
    call(|| {
        // SAFETY: a live handle or NULL.
        let s = unsafe { handle::get(s)? };
        sem!(s, s => s.persist());
        Ok(SHMKIT_OK)
    })
}

/// Frees the handle. As `shmkit_value_free`.
///
/// # Safety
/// Every pointer argument is NULL or valid as described above; a handle is
/// one this library returned and that was not freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmkit_semaphore_free(s: *mut shmkit_semaphore) -> shmkit_status {
    // SAFETY: the caller passes a handle of this kind or NULL.
    unsafe { handle::free(s) }
}

// -------------------------------------------------------------- barrier

/// Creates, opens or open-or-creates (`how`) the barrier `name` for
/// `parties` parties (1 to 64). Ownership, thread-safety and errors as
/// `shmkit_value_new`.
///
/// # Safety
/// Every pointer argument is NULL or valid as described above; a handle is
/// one this library returned and that was not freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmkit_barrier_new(
    name: *const c_char,
    how: u32,
    parties: u32,
    opts: *const shmkit_options,
    out: *mut *mut shmkit_barrier,
) -> shmkit_status {
    call(|| {
        need(out, "out")?;
        // SAFETY: the caller's promises, passed on.
        let (name, (opts, strategy)) = unsafe { (name_arg(name)?, options(opts)?) };
        let b = match crate::how(how)? {
            How::Create => Barrier::create_with(name, parties, &opts)?,
            How::Open => Barrier::open_with(name, &opts)?,
            How::OpenOrCreate => Barrier::open_or_create_with(name, parties, &opts)?,
        };
        // SAFETY: `out` is writable (checked; the caller's promise).
        unsafe { handle::export(out, b.with_wait_strategy(strategy)) }
    })
}

fn barrier_wait(b: &Barrier, wait: Wait, is_leader: *mut bool) -> Outcome {
    let r = match wait {
        Wait::Forever => b.wait(),
        Wait::Now => b.try_wait(),
        Wait::Until(t) => b.wait_deadline(t),
    };
    match r {
        Ok(r) => {
            if !is_leader.is_null() {
                // SAFETY: non-NULL and writable (the caller's promise).
                unsafe { is_leader.write(r.is_leader()) };
            }
            Ok(SHMKIT_OK)
        }
        Err(e @ BarrierError::Broken) => Err(Fail::new(SHMKIT_BROKEN, e)),
        Err(e @ BarrierError::TimedOut) => Err(Fail::new(SHMKIT_TIMEOUT, e)),
    }
}

/// Waits until every party has arrived; `*is_leader` (may be NULL) is true
/// for exactly one party of each round. SHMKIT_BROKEN: a party died, timed
/// out, or the barrier was reset.
///
/// # Safety
/// Every pointer argument is NULL or valid as described above; a handle is
/// one this library returned and that was not freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmkit_barrier_wait(b: *const shmkit_barrier, is_leader: *mut bool) -> shmkit_status {
    // SAFETY: a live handle or NULL.
    call(|| barrier_wait(unsafe { handle::get(b)? }, Wait::Forever, is_leader))
}

/// Arrives without waiting: SHMKIT_OK only for the last party of a round;
/// otherwise SHMKIT_TIMEOUT, and the barrier is broken (as Rust's
/// `try_wait`).
///
/// # Safety
/// Every pointer argument is NULL or valid as described above; a handle is
/// one this library returned and that was not freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmkit_barrier_try_wait(b: *const shmkit_barrier, is_leader: *mut bool) -> shmkit_status {
    // SAFETY: a live handle or NULL.
    call(|| barrier_wait(unsafe { handle::get(b)? }, Wait::Now, is_leader))
}

/// `shmkit_barrier_wait` waiting at most `timeout_ns` (SHMKIT_TIMEOUT, and
/// the barrier is broken for every party).
///
/// # Safety
/// Every pointer argument is NULL or valid as described above; a handle is
/// one this library returned and that was not freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmkit_barrier_wait_timeout(
    b: *const shmkit_barrier,
    timeout_ns: u64,
    is_leader: *mut bool,
) -> shmkit_status {
    // SAFETY: a live handle or NULL.
    call(|| barrier_wait(unsafe { handle::get(b)? }, Wait::timeout(timeout_ns), is_leader))
}

/// `shmkit_barrier_wait` waiting until CLOCK_MONOTONIC `deadline_ns`.
///
/// # Safety
/// Every pointer argument is NULL or valid as described above; a handle is
/// one this library returned and that was not freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmkit_barrier_wait_deadline(
    b: *const shmkit_barrier,
    deadline_ns: u64,
    is_leader: *mut bool,
) -> shmkit_status {
    // SAFETY: a live handle or NULL.
    call(|| barrier_wait(unsafe { handle::get(b)? }, Wait::deadline(deadline_ns), is_leader))
}

/// Repairs a broken barrier for a new round. Never blocks.
///
/// # Safety
/// Every pointer argument is NULL or valid as described above; a handle is
/// one this library returned and that was not freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmkit_barrier_reset(b: *const shmkit_barrier) -> shmkit_status {
    call(|| {
        // SAFETY: a live handle or NULL.
        unsafe { handle::get(b)? }.reset();
        Ok(SHMKIT_OK)
    })
}

/// Keeps the name after this (creating) handle is freed.
///
/// # Safety
/// Every pointer argument is NULL or valid as described above; a handle is
/// one this library returned and that was not freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmkit_barrier_persist(b: *const shmkit_barrier) -> shmkit_status {
    call(|| {
        // SAFETY: a live handle or NULL.
        unsafe { handle::get(b)? }.persist();
        Ok(SHMKIT_OK)
    })
}

/// Frees the handle. As `shmkit_value_free`.
///
/// # Safety
/// Every pointer argument is NULL or valid as described above; a handle is
/// one this library returned and that was not freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmkit_barrier_free(b: *mut shmkit_barrier) -> shmkit_status {
    // SAFETY: the caller passes a handle of this kind or NULL.
    unsafe { handle::free(b) }
}

// -------------------------------------------------------------- condvar

/// Creates, opens or open-or-creates (`how`) the condition variable
/// `name`. Ownership, thread-safety and errors as `shmkit_value_new`.
///
/// # Safety
/// Every pointer argument is NULL or valid as described above; a handle is
/// one this library returned and that was not freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmkit_condvar_new(
    name: *const c_char,
    how: u32,
    opts: *const shmkit_options,
    out: *mut *mut shmkit_condvar,
) -> shmkit_status {
    call(|| {
        need(out, "out")?;
        // SAFETY: the caller's promises, passed on.
        let (name, (opts, strategy)) = unsafe { (name_arg(name)?, options(opts)?) };
        let c = match crate::how(how)? {
            How::Create => Condvar::create_with(name, &opts)?,
            How::Open => Condvar::open_with(name, &opts)?,
            How::OpenOrCreate => Condvar::open_or_create_with(name, &opts)?,
        };
        // SAFETY: `out` is writable (checked; the caller's promise).
        unsafe { handle::export(out, c.with_wait_strategy(strategy)) }
    })
}

fn condvar_wait(c: &Condvar, m: &Locked<shmkit::dynamic::MutexKind>, wait: Wait) -> Outcome {
    let guard = crate::data::mutex_guard_slot(m)
        .take()
        .ok_or_else(|| Fail::arg("the mutex is not locked through this handle: lock it before waiting"))?;
    let (guard, timed_out, died) = match wait {
        Wait::Forever => match c.wait(guard) {
            Ok(g) => (g, false, false),
            Err(e) => (e.into_inner(), false, true),
        },
        Wait::Now => (guard, true, false),
        Wait::Until(t) => match c.wait_deadline(guard, t) {
            Ok((g, r)) => (g, r.timed_out(), false),
            Err(e) => {
                let (g, r) = e.into_inner();
                (g, r.timed_out(), true)
            }
        },
    };
    *crate::data::mutex_guard_slot(m) = Some(guard);
    if died {
        Ok(SHMKIT_OWNER_DIED)
    } else if timed_out {
        Err(Fail::new(SHMKIT_TIMEOUT, "timed out waiting on the condition variable (the mutex is locked again)"))
    } else {
        Ok(SHMKIT_OK)
    }
}

/// Releases the mutex `m` (locked through this handle), sleeps until
/// notified, then locks `m` again (it is held again on return, whatever
/// the status). Spurious wake-ups happen: wait in a loop over your
/// condition. SHMKIT_OWNER_DIED: a holder of `m` died meanwhile.
///
/// # Safety
/// Every pointer argument is NULL or valid as described above; a handle is
/// one this library returned and that was not freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmkit_condvar_wait(c: *const shmkit_condvar, m: *const shmkit_mutex) -> shmkit_status {
    // SAFETY: live handles or NULL.
    call(|| condvar_wait(unsafe { handle::get(c)? }, unsafe { handle::get(m)? }, Wait::Forever))
}

/// `shmkit_condvar_wait` waiting at most `timeout_ns` (SHMKIT_TIMEOUT; `m`
/// is locked again).
///
/// # Safety
/// Every pointer argument is NULL or valid as described above; a handle is
/// one this library returned and that was not freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmkit_condvar_wait_timeout(
    c: *const shmkit_condvar,
    m: *const shmkit_mutex,
    timeout_ns: u64,
) -> shmkit_status {
    // SAFETY: live handles or NULL.
    call(|| condvar_wait(unsafe { handle::get(c)? }, unsafe { handle::get(m)? }, Wait::timeout(timeout_ns)))
}

/// `shmkit_condvar_wait` waiting until CLOCK_MONOTONIC `deadline_ns`.
///
/// # Safety
/// Every pointer argument is NULL or valid as described above; a handle is
/// one this library returned and that was not freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmkit_condvar_wait_deadline(
    c: *const shmkit_condvar,
    m: *const shmkit_mutex,
    deadline_ns: u64,
) -> shmkit_status {
    // SAFETY: live handles or NULL.
    call(|| condvar_wait(unsafe { handle::get(c)? }, unsafe { handle::get(m)? }, Wait::deadline(deadline_ns)))
}

/// Wakes one waiter. Never blocks.
///
/// # Safety
/// Every pointer argument is NULL or valid as described above; a handle is
/// one this library returned and that was not freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmkit_condvar_notify_one(c: *const shmkit_condvar) -> shmkit_status {
    call(|| {
        // SAFETY: a live handle or NULL.
        unsafe { handle::get(c)? }.notify_one();
        Ok(SHMKIT_OK)
    })
}

/// Wakes every waiter, in every process. Never blocks.
///
/// # Safety
/// Every pointer argument is NULL or valid as described above; a handle is
/// one this library returned and that was not freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmkit_condvar_notify_all(c: *const shmkit_condvar) -> shmkit_status {
    call(|| {
        // SAFETY: a live handle or NULL.
        unsafe { handle::get(c)? }.notify_all();
        Ok(SHMKIT_OK)
    })
}

/// Keeps the name after this (creating) handle is freed.
///
/// # Safety
/// Every pointer argument is NULL or valid as described above; a handle is
/// one this library returned and that was not freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmkit_condvar_persist(c: *const shmkit_condvar) -> shmkit_status {
    call(|| {
        // SAFETY: a live handle or NULL.
        unsafe { handle::get(c)? }.persist();
        Ok(SHMKIT_OK)
    })
}

/// Frees the handle. As `shmkit_value_free`.
///
/// # Safety
/// Every pointer argument is NULL or valid as described above; a handle is
/// one this library returned and that was not freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmkit_condvar_free(c: *mut shmkit_condvar) -> shmkit_status {
    // SAFETY: the caller passes a handle of this kind or NULL.
    unsafe { handle::free(c) }
}
