//! What the one generic handle gives every object: the `_with` and
//! `open_or_create` forms, the wait strategy, and the blocking forms that
//! were added with it, exercised in one process.

mod common;

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use common::{Names, watchdog};
use shmkit::{
    Array, Atomic, Barrier, BarrierError, BoundedSemaphore, Condvar, Error, Event, Mutex, OpenOptions, RwLock, Segment,
    Semaphore, TryLockError, Value, WaitStrategy,
};

const LIMIT: Duration = Duration::from_secs(60);
const SHORT: Duration = Duration::from_millis(5);

#[test]
fn open_or_create_with_creates_once_then_opens() {
    let names = Names::new("oocw", 11);
    let opts = OpenOptions::new().registry_slots(8);
    let v = Value::open_or_create_with(names.get(0), 7u64, &opts).unwrap();
    assert_eq!(Value::<u64>::open_or_create_with(names.get(0), 9, &opts).unwrap().load(), 7);
    let a = Array::<u32>::open_or_create_with(names.get(1), 3, &opts).unwrap();
    assert_eq!(Array::<u32>::open_or_create_with(names.get(1), 3, &opts).unwrap().len(), 3);
    assert!(matches!(Array::<u32>::open_or_create_with(names.get(1), 4, &opts), Err(Error::WrongType { .. })));
    let at = Atomic::<u64>::open_or_create_with(names.get(2), 5, &opts).unwrap();
    assert_eq!(Atomic::<u64>::open_or_create_with(names.get(2), 6, &opts).unwrap().load(Ordering::Relaxed), 5);
    let m = Mutex::open_or_create_with(names.get(3), 1u32, &opts).unwrap();
    let rw = RwLock::open_or_create_with(names.get(4), 2u32, &opts).unwrap();
    let s = Semaphore::open_or_create_with(names.get(5), 2, &opts).unwrap();
    assert_eq!(Semaphore::open_or_create_with(names.get(5), 9, &opts).unwrap().value(), 2);
    let bs = BoundedSemaphore::open_or_create_with(names.get(6), 1, &opts).unwrap();
    assert_eq!(BoundedSemaphore::open(names.get(6)).unwrap().bound(), 1);
    let e = Event::open_or_create_with(names.get(7), &opts).unwrap();
    let c = Condvar::open_or_create_with(names.get(8), &opts).unwrap();
    let b = Barrier::open_or_create_with(names.get(9), 2, &opts).unwrap();
    assert!(matches!(Barrier::open_or_create_with(names.get(9), 3, &opts), Err(Error::InvalidArgument(_))));
    let seg = Segment::open_or_create_with(names.get(10), || AtomicU64::new(4), &opts).unwrap();
    assert_eq!(Segment::<AtomicU64>::open(names.get(10)).unwrap().load(Ordering::Relaxed), 4);
    // Every name is the one asked for.
    let got = [
        v.name(),
        a.name(),
        at.name(),
        m.name(),
        rw.name(),
        s.name(),
        bs.name(),
        e.name(),
        c.name(),
        b.name(),
        seg.name(),
    ];
    for (i, name) in got.iter().enumerate() {
        assert_eq!(*name, names.get(i));
    }
}

#[test]
fn value_and_array_have_every_lock_form() {
    let names = Names::new("vaforms", 2);
    let v = Value::create(names.get(0), 1u64).unwrap().with_wait_strategy(WaitStrategy::Park);
    let v2 = Value::<u64>::open(names.get(0)).unwrap().with_wait_strategy(WaitStrategy::Spin);
    let a = Array::<u8>::create_from(names.get(1), &[1, 2]).unwrap().with_wait_strategy(WaitStrategy::Park);
    let a2 = Array::<u8>::open(names.get(1)).unwrap();
    watchdog(LIMIT, "value and array lock forms", move || {
        {
            let _held = v.lock().unwrap();
            assert!(matches!(v2.try_lock(), Err(TryLockError::WouldBlock)));
            assert!(matches!(v2.lock_timeout(SHORT), Err(TryLockError::TimedOut)));
            assert!(matches!(v2.lock_deadline(Instant::now() + SHORT), Err(TryLockError::TimedOut)));
        }
        *v2.lock_deadline(Instant::now() + LIMIT).unwrap() += 1;
        assert_eq!(v.load(), 2);
        {
            let _held = a.lock().unwrap();
            assert!(matches!(a2.try_lock(), Err(TryLockError::WouldBlock)));
            assert!(matches!(a2.lock_deadline(Instant::now() + SHORT), Err(TryLockError::TimedOut)));
        }
        a2.lock_deadline(Instant::now() + LIMIT).unwrap()[1] = 5;
        assert_eq!(a.to_vec(), [1, 5]);
    });
}

#[test]
fn event_barrier_and_condvar_forms() {
    let names = Names::new("waitforms", 5);
    let e = Event::create(names.get(0)).unwrap();
    assert!(!e.try_wait());
    e.set();
    assert!(e.try_wait());
    let solo = Barrier::create(names.get(1), 1).unwrap();
    assert!(solo.try_wait().unwrap().is_leader());
    let pair = Barrier::create(names.get(2), 2).unwrap();
    assert_eq!(pair.try_wait(), Err(BarrierError::TimedOut));
    assert!(pair.is_broken());
    let m = Mutex::create(names.get(3), 0u32).unwrap();
    let c = Condvar::create(names.get(4)).unwrap();
    let (g, r) = c.wait_deadline_while(m.lock().unwrap(), Instant::now() + SHORT, |n| *n == 0).unwrap();
    assert!(r.timed_out());
    drop(g);
    *m.lock().unwrap() = 1;
    let (g, r) = c.wait_deadline_while(m.lock().unwrap(), Instant::now() + SHORT, |n| *n == 0).unwrap();
    assert!(!r.timed_out());
    assert_eq!(*g, 1);
}

#[test]
fn debug_names_the_object() {
    let names = Names::new("debug", 2);
    #[derive(Clone, Copy)]
    #[repr(C)]
    struct NotDebug(u64);
    // SAFETY: repr(C) of one u64: no padding, any bits valid.
    unsafe impl shmkit::bytemuck::Zeroable for NotDebug {}
    // SAFETY: as above.
    unsafe impl shmkit::bytemuck::Pod for NotDebug {}
    impl shmkit::ShmLayout for NotDebug {
        fn type_desc() -> shmkit::TypeDesc {
            let field = shmkit::Field::new("0", 0, <u64 as shmkit::ShmLayout>::type_desc());
            shmkit::TypeDesc::structure("NotDebug", 8, 8, vec![field])
        }
    }
    let v = Value::create(names.get(0), NotDebug(1)).unwrap();
    assert!(format!("{v:?}").contains(names.get(0)));
    let m = Mutex::create(names.get(1), NotDebug(2)).unwrap();
    assert!(format!("{:?}", m.lock().unwrap()).contains("MutexGuard"));
}
