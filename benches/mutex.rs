//! Lock benchmarks: shmkit's robust [`Mutex`] against glibc's process-shared
//! pthread mutexes (robust and plain) and the `raw_sync` crate's mutex, all
//! placed in shared mappings.
//!
//! `cargo bench --bench mutex`. Groups:
//! - `mutex_uncontended`: lock, increment a `u64`, unlock, on one thread.
//! - `mutex_contended_2t`: two threads of one process hammer the same lock
//!   (shmkit through two handles opened by name); throughput is the total
//!   number of lock+increment+unlock operations per second.

use std::cell::{Cell, UnsafeCell};
use std::hint::black_box;
use std::sync::Barrier;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use raw_sync::locks::{LockImpl, LockInit};
use shmkit::{LockError, Mutex, TryLockError};

/// A unique segment name for this run (the creating handle unlinks it).
fn seg_name(what: &str) -> String {
    format!("bench-{what}-{}", std::process::id())
}

/// An anonymous `MAP_SHARED` mapping: the memory kind that process-shared
/// locks live in (shared with children across fork; no name to clean up).
struct SharedMap {
    ptr: *mut u8,
    len: usize,
}

impl SharedMap {
    fn new(len: usize) -> SharedMap {
        // SAFETY: a fresh anonymous mapping; no existing memory is touched.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        assert!(ptr != libc::MAP_FAILED, "mmap: {}", std::io::Error::last_os_error());
        SharedMap { ptr: ptr.cast(), len }
    }
}

impl Drop for SharedMap {
    fn drop(&mut self) {
        // SAFETY: unmaps exactly the mapping made in new(); every user of it
        // borrows `self`, so none is left.
        unsafe { libc::munmap(self.ptr.cast(), self.len) };
    }
}

/// A glibc process-shared mutex and the `u64` it protects, in a shared map.
#[repr(C)]
struct PthreadCell {
    mutex: UnsafeCell<libc::pthread_mutex_t>,
    data: UnsafeCell<u64>,
}

/// Owner of one [`PthreadCell`] in its own shared mapping.
struct PthreadMutex {
    map: SharedMap,
}

// SAFETY: the cell is a process-shared pthread mutex made for concurrent use
// from any thread; the data is only touched while holding it.
unsafe impl Sync for PthreadMutex {}

impl PthreadMutex {
    fn new(robust: bool) -> PthreadMutex {
        let map = SharedMap::new(4096);
        let cell = map.ptr.cast::<PthreadCell>();
        // SAFETY: the mapping is page-aligned, 4096 bytes (larger than a
        // PthreadCell), writable and not yet shared with anyone; the attr is
        // initialised before use and destroyed after.
        unsafe {
            let mut attr = std::mem::MaybeUninit::<libc::pthread_mutexattr_t>::uninit();
            assert_eq!(libc::pthread_mutexattr_init(attr.as_mut_ptr()), 0);
            assert_eq!(libc::pthread_mutexattr_setpshared(attr.as_mut_ptr(), libc::PTHREAD_PROCESS_SHARED), 0);
            if robust {
                assert_eq!(libc::pthread_mutexattr_setrobust(attr.as_mut_ptr(), libc::PTHREAD_MUTEX_ROBUST), 0);
            }
            assert_eq!(libc::pthread_mutex_init((*cell).mutex.get(), attr.as_ptr()), 0);
            libc::pthread_mutexattr_destroy(attr.as_mut_ptr());
            (*cell).data.get().write(0);
        }
        PthreadMutex { map }
    }

    fn cell(&self) -> &PthreadCell {
        // SAFETY: initialised in new(); lives as long as the mapping.
        unsafe { &*self.map.ptr.cast::<PthreadCell>() }
    }

    /// Lock, add one, unlock: the same work as `*m.lock() += 1`.
    #[inline]
    fn increment(&self) {
        let cell = self.cell();
        // SAFETY: an initialised process-shared mutex; the data is written
        // only between lock and unlock by this thread.
        unsafe {
            let rc = libc::pthread_mutex_lock(cell.mutex.get());
            if rc == libc::EOWNERDEAD {
                // Same contract as shmkit's OwnerDied: we hold it, repair.
                libc::pthread_mutex_consistent(cell.mutex.get());
            } else if rc != 0 {
                panic!("pthread_mutex_lock: {rc}");
            }
            *cell.data.get() += 1;
            libc::pthread_mutex_unlock(cell.mutex.get());
        }
    }

    fn value(&self) -> u64 {
        let cell = self.cell();
        // SAFETY: as in increment().
        unsafe {
            libc::pthread_mutex_lock(cell.mutex.get());
            let v = *cell.data.get();
            libc::pthread_mutex_unlock(cell.mutex.get());
            v
        }
    }
}

impl Drop for PthreadMutex {
    fn drop(&mut self) {
        // SAFETY: nobody holds or uses the mutex any more (`&mut self`).
        unsafe { libc::pthread_mutex_destroy(self.cell().mutex.get()) };
    }
}

/// The `raw_sync` crate's mutex (a plain process-shared pthread mutex behind
/// a boxed trait object) over a `u64`, in a shared mapping.
struct RawSyncMutex {
    lock: Box<dyn LockImpl>,
    _map: SharedMap,
}

impl RawSyncMutex {
    fn new() -> RawSyncMutex {
        let map = SharedMap::new(4096);
        let lock_len = raw_sync::locks::Mutex::size_of(Some(map.ptr));
        let data_off = lock_len.next_multiple_of(8);
        // SAFETY: data_off + 8 <= 4096: the u64 lies inside the mapping,
        // 8-aligned; the lock's memory is the mapping's start, not yet shared.
        let (lock, _) = unsafe {
            let data = map.ptr.add(data_off);
            data.cast::<u64>().write(0);
            raw_sync::locks::Mutex::new(map.ptr, data).expect("raw_sync::Mutex::new")
        };
        RawSyncMutex { lock, _map: map }
    }

    #[inline]
    fn increment(&self) {
        let guard = self.lock.lock().expect("raw_sync lock");
        // SAFETY: the guard's pointer is the u64 set up in new(), which we
        // may write while holding the lock.
        unsafe { *(*guard).cast::<u64>() += 1 };
    }
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(2))
        .sample_size(20)
        .configure_from_args()
}

fn uncontended(c: &mut Criterion) {
    let shm = Mutex::create(&seg_name("mutex-u"), 0u64).expect("create shmkit mutex");
    let robust = PthreadMutex::new(true);
    let plain = PthreadMutex::new(false);
    let raw = RawSyncMutex::new();
    let std_mutex = std::sync::Mutex::new(0u64);

    let mut g = c.benchmark_group("mutex_uncontended");
    g.throughput(Throughput::Elements(1));
    g.bench_function("shmkit", |b| {
        b.iter(|| {
            *black_box(&shm).lock().unwrap_or_else(LockError::into_inner) += 1;
        })
    });
    g.bench_function("glibc_robust_pshared", |b| b.iter(|| black_box(&robust).increment()));
    g.bench_function("glibc_plain_pshared", |b| b.iter(|| black_box(&plain).increment()));
    g.bench_function("raw_sync", |b| b.iter(|| black_box(&raw).increment()));
    g.bench_function("std_mutex_private", |b| {
        b.iter(|| *black_box(&std_mutex).lock().unwrap_or_else(|e| e.into_inner()) += 1)
    });
    g.bench_function("shmkit_try_lock", |b| {
        b.iter(|| match black_box(&shm).try_lock() {
            Ok(mut guard) | Err(TryLockError::OwnerDied(mut guard)) => *guard += 1,
            Err(e) => panic!("uncontended try_lock failed: {e}"),
        })
    });
    g.finish();
}

/// Runs `op` `iters` times in total, split over two threads started
/// together; returns the wall time of the whole.
fn two_threads(iters: u64, op_a: &(dyn Fn() + Sync), op_b: &(dyn Fn() + Sync)) -> Duration {
    let start = Barrier::new(3);
    let half = iters / 2;
    std::thread::scope(|s| {
        let a = s.spawn(|| {
            start.wait();
            for _ in 0..half {
                op_a();
            }
        });
        let b = s.spawn(|| {
            start.wait();
            for _ in 0..iters - half {
                op_b();
            }
        });
        start.wait();
        let t0 = Instant::now();
        a.join().expect("bench thread");
        b.join().expect("bench thread");
        t0.elapsed()
    })
}

fn contended(c: &mut Criterion) {
    let name = seg_name("mutex-c");
    let owner = Mutex::create(&name, 0u64).expect("create shmkit mutex");
    let h1 = Mutex::<u64>::open(&name).expect("open shmkit mutex");
    let h2 = Mutex::<u64>::open(&name).expect("open shmkit mutex");
    let robust = PthreadMutex::new(true);
    let plain = PthreadMutex::new(false);

    // Operations run per contender, to check afterwards that none was lost.
    let (shm_ops, robust_ops, plain_ops) = (Cell::new(0u64), Cell::new(0u64), Cell::new(0u64));

    let mut g = c.benchmark_group("mutex_contended_2t");
    g.throughput(Throughput::Elements(1));
    g.bench_function("shmkit", |b| {
        let op1 = || *h1.lock().unwrap_or_else(LockError::into_inner) += 1;
        let op2 = || *h2.lock().unwrap_or_else(LockError::into_inner) += 1;
        b.iter_custom(|iters| {
            shm_ops.set(shm_ops.get() + iters);
            two_threads(iters, &op1, &op2)
        })
    });
    g.bench_function("glibc_robust_pshared", |b| {
        let op = || robust.increment();
        b.iter_custom(|iters| {
            robust_ops.set(robust_ops.get() + iters);
            two_threads(iters, &op, &op)
        })
    });
    g.bench_function("glibc_plain_pshared", |b| {
        let op = || plain.increment();
        b.iter_custom(|iters| {
            plain_ops.set(plain_ops.get() + iters);
            two_threads(iters, &op, &op)
        })
    });
    g.finish();

    // Every increment was made under the lock: none may be lost.
    assert_eq!(*owner.lock().unwrap_or_else(LockError::into_inner), shm_ops.get(), "shmkit lost updates");
    assert_eq!(robust.value(), robust_ops.get(), "glibc robust lost updates");
    assert_eq!(plain.value(), plain_ops.get(), "glibc plain lost updates");
}

criterion_group! {
    name = benches;
    config = config();
    targets = uncontended, contended
}
criterion_main!(benches);
