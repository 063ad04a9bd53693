//! Value, Array and Atomic across real processes: data moves, bounds are
//! checked, counts are exact, a dead holder is reported.

mod common;

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use common::{Child, Names, say, watchdog};
use shmkit::{Array, Atomic, IndexOutOfBounds, LockError, Mutex, Segment, Value};

const LIMIT: Duration = Duration::from_secs(120);

/// Compile-time check that the handles may be shared between threads.
fn assert_send_sync<T: Send + Sync>() {}

const _: fn() = || {
    assert_send_sync::<Value<u64>>();
    assert_send_sync::<Array<u64>>();
    assert_send_sync::<Mutex<u64>>();
    assert_send_sync::<Atomic<u64>>();
    assert_send_sync::<Segment<u64>>();
    assert_send_sync::<Segment<AtomicU64>>();
};

#[test]
fn handles_are_send_and_sync() {
    assert_send_sync::<Value<u64>>();
    assert_send_sync::<Array<u64>>();
    assert_send_sync::<Mutex<u64>>();
    assert_send_sync::<Atomic<u64>>();
    assert_send_sync::<Segment<u64>>();
}

#[test]
fn child() {
    common::child_main(run_role);
}

fn run_role(role: &str, args: &[String]) -> i32 {
    match role {
        "array-create-from" => {
            // Creates, lets the parent read and write, checks the parent's
            // write, then exits (its drop removes the name).
            let items: Vec<u64> = (1..=8).map(|i| i * 11).collect();
            let a = Array::create_from(&args[0], &items).expect("create array");
            say("CREATED");
            let start = Instant::now();
            while a.get(0) != Some(1000) {
                if start.elapsed() > Duration::from_secs(60) {
                    return 1;
                }
                std::thread::sleep(Duration::from_millis(1));
            }
            assert_eq!(a.to_vec()[1..], items[1..], "only element 0 changed");
            0
        }
        "array-fill-squares" => {
            let a = Array::<u64>::open(&args[0]).expect("open array");
            for i in 0..a.len() {
                a.set(i, (i * i) as u64).expect("in bounds");
            }
            assert_eq!(a.set(a.len(), 0), Err(IndexOutOfBounds { index: a.len(), len: a.len() }));
            0
        }
        "atomic-add" => {
            let a = Atomic::<u64>::open(&args[0]).expect("open atomic");
            let n: u64 = args[1].parse().expect("count");
            for _ in 0..n {
                a.fetch_add(1, Ordering::Relaxed);
            }
            0
        }
        "value-hold" => {
            let v = Value::<u64>::open(&args[0]).expect("open value");
            let mut g = v.lock().unwrap_or_else(LockError::into_inner);
            *g = args[1].parse().expect("value");
            say("LOCKED");
            std::thread::sleep(Duration::from_secs(600));
            0
        }
        "array-hold" => {
            let a = Array::<u64>::open(&args[0]).expect("open array");
            let mut g = a.lock().unwrap_or_else(LockError::into_inner);
            g[0] = 99;
            say("LOCKED");
            std::thread::sleep(Duration::from_secs(600));
            0
        }
        other => panic!("unknown role {other}"),
    }
}

#[test]
fn an_array_created_by_one_process_is_read_by_another() {
    let names = Names::new("arrxp", 1);
    let name = names.get(0).to_owned();
    let path = names.path(0);
    watchdog(LIMIT, "array across processes", move || {
        let mut c = Child::spawn_piped("array-create-from", &[&name]);
        c.expect_line("CREATED");
        let a = Array::<u64>::open(&name).unwrap();
        assert_eq!(a.len(), 8);
        assert_eq!(a.to_vec(), (1..=8).map(|i| i * 11).collect::<Vec<u64>>());
        assert_eq!(a.get(7), Some(88));
        assert_eq!(a.get(8), None);
        assert_eq!(a.get(usize::MAX), None);
        assert_eq!(a.set(8, 1), Err(IndexOutOfBounds { index: 8, len: 8 }));
        assert_eq!(a.set(usize::MAX, 1), Err(IndexOutOfBounds { index: usize::MAX, len: 8 }));
        a.set(0, 1000).unwrap();
        c.expect_success(LIMIT);
        assert!(std::fs::symlink_metadata(&path).is_err(), "the creating child's exit removed the name");
        assert_eq!(a.get(0), Some(1000), "our mapping outlives the name");
    });
}

#[test]
fn an_array_written_by_a_child_is_read_by_the_parent() {
    let names = Names::new("arrfill", 1);
    let name = names.get(0).to_owned();
    watchdog(LIMIT, "array written by a child", move || {
        let a = Array::<u64>::create(&name, 100).unwrap();
        assert!(a.to_vec().iter().all(|&x| x == 0), "created zeroed");
        Child::spawn("array-fill-squares", &[&name]).expect_success(LIMIT);
        assert_eq!(a.to_vec(), (0..100u64).map(|i| i * i).collect::<Vec<_>>());
    });
}

#[test]
fn create_from_round_trips() {
    let names = Names::new("arrrt", 3);
    let items: Vec<f64> = (0..1000).map(|i| f64::from(i) * 0.5 - 17.25).collect();
    let a = Array::create_from(names.get(0), &items).unwrap();
    assert_eq!(a.to_vec(), items);
    let b = Array::<f64>::open(names.get(0)).unwrap();
    assert_eq!(b.len(), 1000);
    assert_eq!(b.to_vec(), items);
    assert_eq!(&*b.lock().unwrap(), &items[..]);

    let pairs = [[1u8, 2, 3], [4, 5, 6]];
    let _p = Array::create_from(names.get(1), &pairs).unwrap();
    assert_eq!(Array::<[u8; 3]>::open(names.get(1)).unwrap().to_vec(), pairs);

    let e = Array::<u32>::create_from(names.get(2), &[]).unwrap();
    assert!(e.is_empty());
    assert_eq!(e.get(0), None);
    assert_eq!(e.set(0, 1), Err(IndexOutOfBounds { index: 0, len: 0 }));
    assert!(Array::<u32>::open(names.get(2)).unwrap().to_vec().is_empty());
}

#[test]
fn atomic_fetch_add_from_two_processes_is_exact() {
    let names = Names::new("atomadd", 1);
    let name = names.get(0).to_owned();
    watchdog(LIMIT, "atomic fetch_add", move || {
        let a = Atomic::<u64>::create(&name, 0).unwrap();
        let x = Child::spawn("atomic-add", &[&name, "100000"]);
        let y = Child::spawn("atomic-add", &[&name, "100000"]);
        x.expect_success(LIMIT);
        y.expect_success(LIMIT);
        assert_eq!(a.load(Ordering::SeqCst), 200_000);
    });
}

#[test]
fn value_load_keeps_the_owner_died_report_and_store_repairs() {
    let names = Names::new("valdied", 1);
    let name = names.get(0).to_owned();
    watchdog(LIMIT, "Value after a holder died", move || {
        let v = Value::create(&name, 5u64).unwrap();

        // A holder dies: load() reads the value without consuming the report.
        let mut holder = Child::spawn_piped("value-hold", &[&name, "9"]);
        holder.expect_line("LOCKED");
        holder.kill();
        assert_eq!(v.load(), 9);
        assert_eq!(v.load(), 9, "a second load still works");
        match v.lock() {
            Err(LockError::OwnerDied(g)) => assert_eq!(*g, 9),
            Ok(_) => panic!("load() consumed the OwnerDied report"),
        }
        // That guard's drop took the report: the lock is clean again.
        assert_eq!(*v.lock().expect("clean after the report was taken"), 9);

        // Another holder dies: store() overwrites the whole value and so
        // repairs it; the next lock is clean.
        let mut holder = Child::spawn_piped("value-hold", &[&name, "11"]);
        holder.expect_line("LOCKED");
        holder.kill();
        v.store(3);
        match v.lock() {
            Ok(g) => assert_eq!(*g, 3),
            Err(_) => panic!("store() should have repaired the value"),
        }
        assert_eq!(Value::<u64>::open(&name).unwrap().load(), 3);
    });
}

#[test]
fn array_reads_keep_the_owner_died_report() {
    let names = Names::new("arrdied", 1);
    let name = names.get(0).to_owned();
    watchdog(LIMIT, "Array after a holder died", move || {
        let a = Array::<u64>::create(&name, 4).unwrap();
        let mut holder = Child::spawn_piped("array-hold", &[&name]);
        holder.expect_line("LOCKED");
        holder.kill();
        assert_eq!(a.get(0), Some(99));
        assert_eq!(a.to_vec(), [99, 0, 0, 0]);
        a.set(1, 1).unwrap(); // one element is not a repair of the whole array
        match a.lock() {
            Err(LockError::OwnerDied(g)) => assert_eq!(*g, [99, 1, 0, 0]),
            Ok(_) => panic!("get/to_vec/set consumed the OwnerDied report"),
        }
        assert!(a.lock().is_ok());
    });
}
