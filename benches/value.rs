//! Data benchmarks: `Value<u64>` load/store and `Array<u64>` get/set (each a
//! lock, a copy and an unlock), and `Atomic<u64>` operations, with a plain
//! process-private `std::sync::atomic::AtomicU64` as the floor.
//!
//! `cargo bench --bench value`. One group, `data_uncontended`, one thread.

use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use shmkit::{Array, Atomic, Value};

/// A unique segment name for this run (the creating handle unlinks it).
fn seg_name(what: &str) -> String {
    format!("bench-{what}-{}", std::process::id())
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(2))
        .sample_size(20)
        .configure_from_args()
}

fn data(c: &mut Criterion) {
    let value = Value::create(&seg_name("value"), 0u64).expect("create value");
    let array = Array::<u64>::create(&seg_name("array"), 16).expect("create array");
    let atomic = Atomic::<u64>::create(&seg_name("atomic"), 0).expect("create atomic");
    // On the heap, as a counter shared between threads would be.
    let floor = Box::new(AtomicU64::new(0));

    let mut g = c.benchmark_group("data_uncontended");
    g.throughput(Throughput::Elements(1));
    g.bench_function("value_load", |b| b.iter(|| black_box(&value).load()));
    g.bench_function("value_store", |b| {
        let mut i = 0u64;
        b.iter(|| {
            i = i.wrapping_add(1);
            black_box(&value).store(i)
        })
    });
    g.bench_function("array_get", |b| b.iter(|| black_box(&array).get(black_box(3))));
    g.bench_function("array_set", |b| {
        let mut i = 0u64;
        b.iter(|| {
            i = i.wrapping_add(1);
            black_box(&array).set(black_box(3), i)
        })
    });
    g.bench_function("atomic_fetch_add_relaxed", |b| b.iter(|| black_box(&atomic).fetch_add(1, Ordering::Relaxed)));
    g.bench_function("atomic_fetch_add_seqcst", |b| b.iter(|| black_box(&atomic).fetch_add(1, Ordering::SeqCst)));
    g.bench_function("atomic_load_acquire", |b| b.iter(|| black_box(&atomic).load(Ordering::Acquire)));
    g.bench_function("std_atomic_fetch_add_relaxed", |b| b.iter(|| black_box(&*floor).fetch_add(1, Ordering::Relaxed)));
    g.finish();
}

criterion_group! {
    name = benches;
    config = config();
    targets = data
}
criterion_main!(benches);
