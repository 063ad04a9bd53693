//! The primitives section: uncontended lock+unlock and acquire+release, in
//! one process, shmkit against the process-shared libc objects.
//!
//! Timed in batches of [`BATCH`] operations (one clock read per batch); the
//! percentiles are over the batches' per-operation means.

use std::hint::black_box;
use std::io;
use std::time::Instant;

use super::link::Plan;
use super::transport::err;
use super::{Record, Session};
use crate::sys;
#[cfg(feature = "peers")]
use raw_sync::locks::LockInit;
use shmkit::{Mutex, Semaphore, SharedMemory};

/// Operations per timed batch.
pub const BATCH: usize = 256;

/// Names of the rows this section makes, in order.
#[cfg(not(feature = "peers"))]
pub const NAMES: &[&str] = &["shmkit-mutex", "raw-pthread-mutex", "shmkit-semaphore", "raw-sem_t"];
/// Names of the rows this section makes, in order (with the `raw_sync`
/// crate's mutex, a peer).
#[cfg(feature = "peers")]
pub const NAMES: &[&str] = &["shmkit-mutex", "raw-pthread-mutex", "raw-sync-mutex", "shmkit-semaphore", "raw-sem_t"];

fn failed(what: &str) -> io::Error {
    io::Error::other(format!("{what} failed"))
}

/// Runs `op` in batches for `plan` and makes a row of it.
fn time_ops(name: &str, plan: &Plan, mut op: impl FnMut() -> bool) -> io::Result<Record> {
    let warm = Instant::now();
    for i in 0..plan.warmup_max.max(1) {
        if !op() {
            return Err(failed(name));
        }
        if i % BATCH == 0 && warm.elapsed() >= plan.warmup {
            break;
        }
    }
    let batches_max = plan.max.div_ceil(BATCH).max(1);
    let batches_min = plan.min.div_ceil(BATCH).max(1);
    let mut per_op = Vec::with_capacity(batches_max);
    let start = Instant::now();
    let mut t0 = start;
    while per_op.len() < batches_max {
        for _ in 0..BATCH {
            if !black_box(op()) {
                return Err(failed(name));
            }
        }
        let t1 = Instant::now();
        per_op.push(t1.duration_since(t0).as_nanos() as f64 / BATCH as f64);
        t0 = t1;
        if per_op.len() >= batches_min && t1.duration_since(start) >= plan.budget {
            break;
        }
        if sys::interrupted() {
            return Err(io::Error::new(io::ErrorKind::Interrupted, "interrupted"));
        }
    }
    let ops = (per_op.len() * BATCH) as f64;
    let secs = t0.duration_since(start).as_secs_f64().max(1e-9);
    Ok(Record::from_samples(name, "op", 0, "-", &mut per_op, ops / secs, super::clock::step_ns() / BATCH as f64))
}

/// A libc object of `T` placed in a fresh segment (shared memory, as the
/// process-shared attribute requires).
fn libc_cell<T>(name: &str) -> io::Result<SharedMemory> {
    let size = std::mem::size_of::<T>().next_multiple_of(64);
    SharedMemory::create(name, size).map_err(err)
}

/// Measures the row `name` (one of [`NAMES`]).
pub fn measure(s: &mut Session, name: &str) -> io::Result<Record> {
    let plan = s.op_plan();
    let seg_name = format!("{}.{}", s.next_prefix(), name.replace('_', "-"));
    match name {
        "shmkit-mutex" => {
            let m = Mutex::create(&seg_name, 0u64).map_err(err)?;
            time_ops(name, &plan, || m.lock().map(drop).is_ok())
        }
        "raw-pthread-mutex" => {
            let seg = libc_cell::<libc::pthread_mutex_t>(&seg_name)?;
            let m = seg.as_ptr().cast::<libc::pthread_mutex_t>();
            // SAFETY: the segment's data is zeroed, 64-aligned, large enough
            // for a pthread_mutex_t, and nobody else uses it.
            unsafe { sys::pthread_mutex_init_shared(m)? };
            // SAFETY: initialized just above; the segment outlives the loop.
            time_ops("raw-pthread-mutex", &plan, || unsafe { sys::pthread_mutex_lock_unlock(m) })
        }
        "shmkit-semaphore" => {
            let sem = Semaphore::create(&seg_name, 1).map_err(err)?;
            time_ops(name, &plan, || {
                sem.acquire();
                sem.release().is_ok()
            })
        }
        "raw-sem_t" => {
            let seg = libc_cell::<libc::sem_t>(&seg_name)?;
            let sem = seg.as_ptr().cast::<libc::sem_t>();
            // SAFETY: as for the mutex: zeroed, aligned, large enough, ours.
            unsafe { sys::sem_init_shared(sem, 1)? };
            // SAFETY: initialized with value 1, so each wait returns at once.
            time_ops("raw-sem_t", &plan, || unsafe { sys::sem_wait_post(sem) })
        }
        #[cfg(feature = "peers")]
        "raw-sync-mutex" => {
            let seg = libc_cell::<[u64; 16]>(&seg_name)?;
            let base = seg.as_ptr();
            // SAFETY: the segment's 128 zeroed, 64-aligned bytes hold the
            // lock (a pthread mutex and its attributes, at most 64 bytes here)
            // then the data word at offset 64; nobody else uses them.
            let (lock, _) = unsafe {
                if raw_sync::locks::Mutex::size_of(Some(base)) > 64 {
                    return Err(failed("raw_sync::Mutex size"));
                }
                raw_sync::locks::Mutex::new(base, base.add(64))
            }
            .map_err(|e| io::Error::other(e.to_string()))?;
            time_ops(name, &plan, || lock.lock().map(drop).is_ok())
        }
        other => Err(io::Error::new(io::ErrorKind::InvalidInput, format!("no primitive {other}"))),
    }
}
