//! Semaphore benchmark: shmkit's [`Semaphore`] and [`BoundedSemaphore`]
//! against glibc's process-shared `sem_t` (`sem_init(ptr, 1, 1)` in a
//! `MAP_SHARED` mapping), in the same group so the result is a ratio.
//!
//! `cargo bench --bench semaphore`. Groups:
//! - `semaphore_uncontended`: one thread takes a permit and puts it back
//!   (nobody sleeps, so neither side makes a syscall).
//! - `semaphore_pingpong_2t`: two threads hand a permit back and forth
//!   through two semaphores (each round: two releases, two acquires, and
//!   usually a wake); time per round trip.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use shmkit::{BoundedSemaphore, Semaphore, WaitStrategy};

/// A unique segment name for this run (the creating handle unlinks it).
fn seg_name(what: &str) -> String {
    format!("bench-{what}-{}", std::process::id())
}

/// A glibc semaphore initialised process-shared in an anonymous
/// `MAP_SHARED` mapping.
struct GlibcSem {
    sem: *mut libc::sem_t,
}

// SAFETY: a sem_t is made to be used from many threads (and processes) at
// once; the pointer stays valid until drop.
unsafe impl Sync for GlibcSem {}

impl GlibcSem {
    fn new(initial: u32) -> GlibcSem {
        let len = std::mem::size_of::<libc::sem_t>();
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
        let sem = ptr.cast::<libc::sem_t>();
        // SAFETY: `sem` points to a writable, page-aligned sem_t-sized
        // region that nothing else uses; pshared = 1.
        let rc = unsafe { libc::sem_init(sem, 1, initial) };
        assert_eq!(rc, 0, "sem_init: {}", std::io::Error::last_os_error());
        GlibcSem { sem }
    }

    fn wait(&self) {
        // SAFETY: `sem` was initialised by sem_init and lives until drop.
        while unsafe { libc::sem_wait(self.sem) } != 0 {}
    }

    fn post(&self) {
        // SAFETY: as in `wait`.
        unsafe { libc::sem_post(self.sem) };
    }
}

impl Drop for GlibcSem {
    fn drop(&mut self) {
        // SAFETY: nobody waits on it any more; the mapping is ours to unmap.
        unsafe {
            libc::sem_destroy(self.sem);
            libc::munmap(self.sem.cast(), std::mem::size_of::<libc::sem_t>());
        }
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
    let mut g = c.benchmark_group("semaphore_uncontended");
    g.throughput(Throughput::Elements(1));

    let sem = Semaphore::create(&seg_name("sem"), 1).expect("create semaphore");
    g.bench_function("shmkit_semaphore_acquire_release", |b| {
        b.iter(|| {
            sem.acquire();
            black_box(&sem).release().expect("release");
        })
    });
    g.bench_function("shmkit_semaphore_try_acquire_release", |b| {
        b.iter(|| {
            assert!(sem.try_acquire());
            black_box(&sem).release().expect("release");
        })
    });

    let bsem = BoundedSemaphore::create(&seg_name("bsem"), 1).expect("create bounded semaphore");
    g.bench_function("shmkit_bounded_acquire_release", |b| {
        b.iter(|| {
            bsem.acquire();
            black_box(&bsem).release().expect("release");
        })
    });

    let owned = Semaphore::create_owned(&seg_name("osem"), 1).expect("create owned semaphore");
    g.bench_function("shmkit_owned_acquire_release", |b| {
        b.iter(|| {
            owned.acquire();
            black_box(&owned).release().expect("release");
        })
    });

    let glibc = GlibcSem::new(1);
    g.bench_function("glibc_sem_wait_post", |b| {
        b.iter(|| {
            glibc.wait();
            black_box(&glibc).post();
        })
    });
    g.finish();
}

/// Round trips between the caller and a helper thread: `ping(i)` /
/// `pong(i)` release semaphore `i`, `wait(i)` acquires it.
fn round_trips<S: Sync>(sems: &S, iters: u64, post: fn(&S, usize), wait: fn(&S, usize)) -> Duration {
    std::thread::scope(|scope| {
        scope.spawn(|| {
            for _ in 0..iters {
                wait(sems, 0);
                post(sems, 1);
            }
        });
        let start = Instant::now();
        for _ in 0..iters {
            post(sems, 0);
            wait(sems, 1);
        }
        start.elapsed()
    })
}

fn pingpong(c: &mut Criterion) {
    let mut g = c.benchmark_group("semaphore_pingpong_2t");
    g.throughput(Throughput::Elements(1));

    let shm = [
        Semaphore::create(&seg_name("ping"), 0).expect("create semaphore"),
        Semaphore::create(&seg_name("pong"), 0).expect("create semaphore"),
    ];
    g.bench_function("shmkit_semaphore", |b| {
        b.iter_custom(|iters| round_trips(&shm, iters, |s, i| s[i].release().expect("release"), |s, i| s[i].acquire()))
    });

    let parked = [
        Semaphore::open(&seg_name("ping")).expect("open semaphore").with_wait_strategy(WaitStrategy::Park),
        Semaphore::open(&seg_name("pong")).expect("open semaphore").with_wait_strategy(WaitStrategy::Park),
    ];
    g.bench_function("shmkit_semaphore_park", |b| {
        b.iter_custom(|iters| {
            round_trips(&parked, iters, |s, i| s[i].release().expect("release"), |s, i| s[i].acquire())
        })
    });

    let glibc = [GlibcSem::new(0), GlibcSem::new(0)];
    g.bench_function("glibc_sem_t", |b| {
        b.iter_custom(|iters| round_trips(&glibc, iters, |s, i| s[i].post(), |s, i| s[i].wait()))
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = config();
    targets = uncontended, pingpong
}
criterion_main!(benches);
