//! SharedMemory across real processes: a block created in one is seen, at
//! its size, by another that opens it by name; kinds and sizes are checked;
//! the name's lifetime is the creator's unless persisted.

mod common;

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use common::{Child, Names, say, watchdog};
use shmkit::{Array, Error, OpenOptions, SharedMemory};

const LIMIT: Duration = Duration::from_secs(60);

/// Compile-time check that the handle may be shared between threads.
const _: fn() = || {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<SharedMemory>();
};

#[test]
fn child() {
    common::child_main(run_role);
}

/// The counter word at the start of a test block.
fn counter(shm: &SharedMemory) -> &AtomicU64 {
    assert!(shm.len() >= 8);
    // SAFETY: the block is 64-aligned, at least 8 bytes long, and lives as
    // long as `shm`; every process touches this word only atomically.
    unsafe { &*shm.as_ptr().cast::<AtomicU64>() }
}

fn run_role(role: &str, args: &[String]) -> i32 {
    match role {
        "add-and-fill" => {
            // Opens the parent's block, checks it is zeroed past the
            // counter, adds to the counter and fills the tail with a pattern.
            let mut shm = SharedMemory::open(&args[0]).expect("open");
            let n: u64 = args[1].parse().expect("count");
            assert_eq!(shm.len(), args[2].parse::<usize>().expect("size"));
            for _ in 0..n {
                counter(&shm).fetch_add(1, Ordering::Relaxed);
            }
            // SAFETY: the parent does not touch the bytes past the counter
            // until we say DONE.
            let tail = unsafe { &mut shm.as_mut_slice()[8..] };
            assert!(tail.iter().all(|&b| b == 0), "a new block is zeroed");
            for (i, b) in tail.iter_mut().enumerate() {
                *b = (i % 251) as u8;
            }
            say("DONE");
            0
        }
        other => panic!("unknown role {other}"),
    }
}

#[test]
fn two_processes_share_the_bytes() {
    watchdog(LIMIT, "two_processes_share_the_bytes", || {
        let names = Names::new("shm-share", 1);
        let size = 100_000usize;
        let shm = SharedMemory::create(&names[0], size).unwrap();
        assert_eq!((shm.name(), shm.len(), shm.is_empty()), (&names[0], size, false));
        assert_eq!(shm.as_ptr() as usize % 64, 0, "64-aligned");
        let mut child = Child::spawn_piped("add-and-fill", &[&names[0], "1000", &size.to_string()]);
        for _ in 0..1000 {
            counter(&shm).fetch_add(1, Ordering::Relaxed);
        }
        child.expect_line("DONE");
        let start = Instant::now();
        while counter(&shm).load(Ordering::Relaxed) != 2000 {
            assert!(start.elapsed() < LIMIT, "counter stuck at {}", counter(&shm).load(Ordering::Relaxed));
            std::thread::sleep(Duration::from_millis(1));
        }
        // SAFETY: the child wrote the tail before saying DONE and no longer
        // writes; the counter is not read through this slice.
        let tail = unsafe { &shm.as_slice()[8..] };
        assert!(tail.iter().enumerate().all(|(i, &b)| b == (i % 251) as u8), "the child's bytes arrived");
        child.kill();
    });
}

#[test]
fn open_checks_kind_and_open_or_create_checks_size() {
    let names = Names::new("shm-checks", 2);
    assert!(matches!(SharedMemory::open(&names[0]), Err(Error::NotFound { .. })));
    let _array = Array::<u8>::create(&names[0], 16).unwrap();
    assert!(matches!(SharedMemory::open(&names[0]), Err(Error::WrongKind { .. })));
    assert!(matches!(Array::<u8>::open(&names[1]), Err(Error::NotFound { .. })));

    let a = SharedMemory::open_or_create(&names[1], 4096).unwrap();
    let b = SharedMemory::open_or_create(&names[1], 4096).unwrap();
    assert_eq!(b.len(), 4096);
    assert!(matches!(SharedMemory::open_or_create(&names[1], 4097), Err(Error::WrongType { .. })));
    assert!(matches!(SharedMemory::create(&names[1], 4096), Err(Error::AlreadyExists { .. })));
    assert!(matches!(Array::<u8>::open(&names[1]), Err(Error::WrongKind { .. })));
    drop((a, b));
    assert!(matches!(SharedMemory::create("no/slash", 8), Err(Error::InvalidName { .. })));
    assert!(matches!(SharedMemory::create(&names[0], usize::MAX), Err(Error::InvalidArgument(_))));
}

#[test]
fn an_empty_block_is_allowed() {
    let names = Names::new("shm-empty", 1);
    let shm = SharedMemory::create(&names[0], 0).unwrap();
    assert!(shm.is_empty());
    // SAFETY: an empty slice reads nothing.
    assert!(unsafe { shm.as_slice() }.is_empty());
    assert!(SharedMemory::open(&names[0]).unwrap().is_empty());
}

#[test]
fn the_creator_removes_the_name_unless_persisted() {
    let names = Names::new("shm-life", 2);
    let shm = SharedMemory::create(&names[0], 64).unwrap();
    let opener = SharedMemory::open(&names[0]).unwrap();
    drop(opener);
    assert!(std::path::Path::new(&names.path(0)).exists(), "an opener never removes the name");
    drop(shm);
    assert!(!std::path::Path::new(&names.path(0)).exists(), "the creator does");

    let shm = SharedMemory::create_with(&names[1], 64, &OpenOptions::new().mode(0o600)).unwrap();
    shm.persist();
    drop(shm);
    let again = SharedMemory::open_with(&names[1], &OpenOptions::new()).unwrap();
    assert_eq!(again.len(), 64);
    shmkit::unlink(&names[1]).unwrap();
}
