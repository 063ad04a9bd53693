//! Uncontended RwLock read and write lock+unlock, against a process-shared
//! `pthread_rwlock_t` in a `MAP_SHARED` mapping, measured in the same run.

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use shmkit::RwLock;

/// A process-shared pthread rwlock in its own shared anonymous mapping.
struct PthreadRwLock {
    lock: *mut libc::pthread_rwlock_t,
}

impl PthreadRwLock {
    fn new() -> PthreadRwLock {
        let len = std::mem::size_of::<libc::pthread_rwlock_t>();
        // SAFETY: a fresh anonymous shared mapping; no existing memory is
        // touched. The result is checked below.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        assert!(p != libc::MAP_FAILED, "mmap failed");
        let lock = p.cast::<libc::pthread_rwlock_t>();
        // SAFETY: `attr` is initialized by pthread_rwlockattr_init before use
        // and destroyed after; `lock` points to writable, suitably aligned
        // (page-aligned) memory of the right size.
        unsafe {
            let mut attr: libc::pthread_rwlockattr_t = std::mem::zeroed();
            assert_eq!(libc::pthread_rwlockattr_init(&mut attr), 0);
            assert_eq!(libc::pthread_rwlockattr_setpshared(&mut attr, libc::PTHREAD_PROCESS_SHARED), 0);
            assert_eq!(libc::pthread_rwlock_init(lock, &attr), 0);
            libc::pthread_rwlockattr_destroy(&mut attr);
        }
        PthreadRwLock { lock }
    }

    fn read_cycle(&self) {
        // SAFETY: the lock was initialized in `new` and lives until drop;
        // every lock is paired with an unlock on this thread.
        unsafe {
            libc::pthread_rwlock_rdlock(self.lock);
            libc::pthread_rwlock_unlock(self.lock);
        }
    }

    fn write_cycle(&self) {
        // SAFETY: as in `read_cycle`.
        unsafe {
            libc::pthread_rwlock_wrlock(self.lock);
            libc::pthread_rwlock_unlock(self.lock);
        }
    }
}

impl Drop for PthreadRwLock {
    fn drop(&mut self) {
        // SAFETY: the lock is initialized and not held; the mapping is ours
        // and nothing refers to it after this.
        unsafe {
            libc::pthread_rwlock_destroy(self.lock);
            libc::munmap(self.lock.cast(), std::mem::size_of::<libc::pthread_rwlock_t>());
        }
    }
}

fn uncontended(c: &mut Criterion) {
    let name = format!("bench-rwlock-{}", std::process::id());
    let lock = RwLock::create(&name, [0u64; 8]).expect("create rwlock");
    let small_name = format!("bench-rwlock16-{}", std::process::id());
    let small = RwLock::create_with(&small_name, [0u64; 8], &shmkit::OpenOptions::new().registry_slots(16))
        .expect("create rwlock");
    let peer = PthreadRwLock::new();

    let mut g = c.benchmark_group("rwlock_read_lock_unlock");
    g.bench_function("shmkit", |b| b.iter(|| black_box(lock.read().map(|g| g[0]).unwrap_or(0))));
    g.bench_function("pthread_rwlock_pshared", |b| b.iter(|| peer.read_cycle()));
    g.finish();

    let mut g = c.benchmark_group("rwlock_write_lock_unlock");
    g.bench_function("shmkit", |b| {
        b.iter(|| {
            if let Ok(mut w) = lock.write() {
                w[0] += 1;
            }
        })
    });
    g.bench_function("shmkit_16_slots", |b| {
        b.iter(|| {
            if let Ok(mut w) = small.write() {
                w[0] += 1;
            }
        })
    });
    g.bench_function("pthread_rwlock_pshared", |b| b.iter(|| peer.write_cycle()));
    g.finish();
}

fn short() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(1))
        .sample_size(30)
}

criterion_group! {
    name = benches;
    config = short();
    targets = uncontended
}
criterion_main!(benches);
