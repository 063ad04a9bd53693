//! RwLock across real processes: readers and a writer with a data
//! invariant, a writer or a reader killed while holding, writer preference.

mod common;

use std::time::{Duration, Instant};

use common::{Child, Names, say, watchdog};
use shmkit::{Barrier, LockError, RwLock, TryLockError};

type Data = [u64; 8];

#[test]
fn child() {
    common::child_main(run_role);
}

fn run_role(role: &str, args: &[String]) -> i32 {
    match role {
        // Checks on every read that all eight words are equal.
        "reader" => {
            let l = RwLock::<Data>::open(&args[0]).expect("open rwlock");
            let start = Barrier::open(&args[3]).expect("open barrier");
            start.wait().expect("start together");
            // Reads until the writer's last value shows up (or `n` reads),
            // and reports how many different values it saw.
            let n: u64 = args[1].parse().expect("count");
            let last: u64 = args[2].parse().expect("final value");
            let (mut prev, mut changes) = (u64::MAX, 0u64);
            for _ in 0..n {
                let g = l.read().expect("no writer dies here");
                if g.iter().any(|&x| x != g[0]) {
                    eprintln!("reader saw a torn update: {:?}", *g);
                    return 1;
                }
                if g[0] != prev {
                    prev = g[0];
                    changes += 1;
                }
                if g[0] == last {
                    break;
                }
            }
            say(&format!("SEEN {changes}"));
            0
        }
        // Bumps all eight words, one at a time, under the write lock.
        "writer" => {
            let l = RwLock::<Data>::open(&args[0]).expect("open rwlock");
            let start = Barrier::open(&args[2]).expect("open barrier");
            start.wait().expect("start together");
            let n: u64 = args[1].parse().expect("count");
            for _ in 0..n {
                let mut g = l.write().expect("no writer dies here");
                for i in 0..8 {
                    g[i] += 1;
                    std::hint::black_box(&mut *g);
                }
                drop(g);
                // Some work outside the lock, so readers get their turns
                // (a writer that relocks at once may starve readers: the
                // lock prefers writers).
                for _ in 0..200 {
                    std::hint::spin_loop();
                }
            }
            0
        }
        "hold_write" => {
            let l = RwLock::<Data>::open(&args[0]).expect("open rwlock");
            let mut g = l.write().unwrap_or_else(LockError::into_inner);
            g[0] += 1; // half an update: the rest never comes
            say("LOCKED");
            std::thread::sleep(Duration::from_secs(600));
            0
        }
        "hold_read" => {
            let l = RwLock::<Data>::open(&args[0]).expect("open rwlock");
            let _g = l.read().unwrap_or_else(LockError::into_inner);
            say("READING");
            std::thread::sleep(Duration::from_secs(600));
            0
        }
        "wait_write" => {
            let l = RwLock::<Data>::open(&args[0]).expect("open rwlock");
            say("WRITING");
            let mut g = l.write().expect("clean");
            g[7] = 77;
            0
        }
        // Writes (keeping all words equal at every unlock) and reads, forever.
        "churn" => {
            let l = RwLock::<Data>::open(&args[0]).expect("open rwlock");
            say("READY");
            loop {
                let mut g = l.write().unwrap_or_else(|died| {
                    let mut g = died.into_inner();
                    let v = g[0];
                    g.fill(v);
                    g
                });
                for i in 0..8 {
                    g[i] += 1;
                    std::hint::black_box(&mut *g);
                }
                drop(g);
                let g = l.read().unwrap_or_else(LockError::into_inner);
                std::hint::black_box(&*g);
            }
        }
        other => panic!("unknown role {other}"),
    }
}

#[test]
fn readers_in_two_processes_and_a_writer_never_see_torn_data() {
    let names = Names::new("rw-inv", 2);
    let (name, bname) = (names.get(0).to_owned(), names.get(1).to_owned());
    watchdog(Duration::from_secs(120), "readers_and_a_writer", move || {
        let l = RwLock::create(&name, [0u64; 8]).unwrap();
        // The three children start their loops together.
        let _start = Barrier::create(&bname, 3).unwrap();
        let start = Instant::now();
        let mut r1 = Child::spawn_piped("reader", &[&name, "2000000", "5000", &bname]);
        let mut r2 = Child::spawn_piped("reader", &[&name, "2000000", "5000", &bname]);
        let w = Child::spawn("writer", &[&name, "5000", &bname]);
        w.expect_success(Duration::from_secs(100));
        let seen = [r1.expect_line("SEEN "), r2.expect_line("SEEN ")];
        r1.expect_success(Duration::from_secs(100));
        r2.expect_success(Duration::from_secs(100));
        eprintln!("2 readers + 1 writer x 5000 in {:?}; readers saw {seen:?} distinct values", start.elapsed());
        assert_eq!(*l.read().unwrap(), [5000; 8]);
    });
}

#[test]
fn sigkilled_writer_gives_owner_died_to_readers_then_writer() {
    let names = Names::new("rw-wdied", 1);
    let name = names.get(0).to_owned();
    watchdog(Duration::from_secs(60), "sigkilled_writer", move || {
        let l = RwLock::create(&name, [0u64; 8]).unwrap();
        let mut holder = Child::spawn_piped("hold_write", &[&name]);
        holder.expect_line("LOCKED");
        assert!(matches!(l.try_read(), Err(TryLockError::WouldBlock)));
        assert!(matches!(l.try_write(), Err(TryLockError::WouldBlock)));
        assert!(matches!(l.read_timeout(Duration::from_millis(30)), Err(TryLockError::TimedOut)));
        let killed = Instant::now();
        holder.kill();
        let g = match l.read() {
            Err(LockError::OwnerDied(g)) => g,
            Ok(_) => panic!("a read after the writer died must report OwnerDied"),
        };
        eprintln!("OwnerDied (read) reported {:?} after SIGKILL", killed.elapsed());
        assert_eq!(g[0], 1, "the half-update is visible");
        drop(g);
        // A reader cannot repair: readers are told until a writer has been in.
        assert!(matches!(l.try_read(), Err(TryLockError::OwnerDied(_))));
        let mut w = match l.write() {
            Err(LockError::OwnerDied(w)) => w,
            Ok(_) => panic!("the first writer after the death must report OwnerDied"),
        };
        *w = [1; 8];
        drop(w);
        assert_eq!(*l.read().expect("clean after repair"), [1; 8]);
        assert!(l.try_write().is_ok());
    });
}

#[test]
fn sigkilled_writer_gives_owner_died_to_the_next_writer() {
    let names = Names::new("rw-wdied2", 1);
    let name = names.get(0).to_owned();
    watchdog(Duration::from_secs(60), "sigkilled_writer_next_writer", move || {
        let l = RwLock::create(&name, [0u64; 8]).unwrap();
        let mut holder = Child::spawn_piped("hold_write", &[&name]);
        holder.expect_line("LOCKED");
        assert!(matches!(l.write_timeout(Duration::from_millis(30)), Err(TryLockError::TimedOut)));
        let killed = Instant::now();
        holder.kill();
        let mut w = match l.write() {
            Err(LockError::OwnerDied(w)) => w,
            Ok(_) => panic!("must report OwnerDied"),
        };
        eprintln!("OwnerDied (write) reported {:?} after SIGKILL", killed.elapsed());
        w[1..].fill(1);
        drop(w);
        assert_eq!(*l.read().expect("clean after repair"), [1; 8]);
    });
}

#[test]
fn sigkilled_reader_does_not_block_writers() {
    let names = Names::new("rw-rdied", 1);
    let name = names.get(0).to_owned();
    watchdog(Duration::from_secs(60), "sigkilled_reader", move || {
        let l = RwLock::create(&name, [0u64; 8]).unwrap();
        let mut reader = Child::spawn_piped("hold_read", &[&name]);
        reader.expect_line("READING");
        assert!(matches!(l.try_write(), Err(TryLockError::WouldBlock)), "try_write fails while read-held");
        assert!(matches!(l.write_timeout(Duration::from_millis(30)), Err(TryLockError::TimedOut)));
        let g = l.try_read().expect("readers share");
        drop(g);
        let killed = Instant::now();
        reader.kill();
        let mut w = l.write().expect("a dead reader is not a dead writer: no OwnerDied");
        eprintln!("writer got in {:?} after the reader's SIGKILL", killed.elapsed());
        w[0] = 5;
        drop(w);
        assert_eq!(l.read().unwrap()[0], 5);
    });
}

#[test]
fn a_waiting_writer_blocks_new_readers() {
    let names = Names::new("rw-pref", 1);
    let name = names.get(0).to_owned();
    watchdog(Duration::from_secs(60), "writer_preference", move || {
        let l = RwLock::create(&name, [0u64; 8]).unwrap();
        let mut reader = Child::spawn_piped("hold_read", &[&name]);
        reader.expect_line("READING");
        assert!(l.try_read().is_ok(), "no writer yet: readers share");
        let mut writer = Child::spawn_piped("wait_write", &[&name]);
        writer.expect_line("WRITING");
        while !l.is_write_locked() {
            std::thread::sleep(Duration::from_millis(1));
        }
        // The writer waits for the reader; a new reader must wait behind it.
        assert!(matches!(l.try_read(), Err(TryLockError::WouldBlock)), "writer preference");
        assert!(matches!(l.read_timeout(Duration::from_millis(20)), Err(TryLockError::TimedOut)));
        reader.kill();
        writer.expect_success(Duration::from_secs(30));
        assert_eq!(l.read().expect("clean").get(7), Some(&77));
    });
}

#[test]
fn threads_share_read_locks_through_one_handle() {
    let names = Names::new("rw-threads", 1);
    let name = names.get(0).to_owned();
    watchdog(Duration::from_secs(60), "threads_share", move || {
        let l = std::sync::Arc::new(RwLock::create(&name, [0u64; 8]).unwrap());
        let a = l.read().unwrap();
        let b = l.read().unwrap();
        assert!(matches!(l.try_write(), Err(TryLockError::WouldBlock)));
        drop((a, b));
        let ts: Vec<_> = (0..4)
            .map(|_| {
                let l = l.clone();
                std::thread::spawn(move || {
                    for _ in 0..2000 {
                        let mut g = l.write().unwrap();
                        for x in g.iter_mut() {
                            *x += 1;
                        }
                        drop(g);
                        let g = l.read().unwrap();
                        assert!(g.iter().all(|&x| x == g[0]));
                    }
                })
            })
            .collect();
        for t in ts {
            t.join().unwrap();
        }
        assert_eq!(*l.read().unwrap(), [8000; 8]);
    });
}

#[test]
fn handles_are_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<RwLock<[u64; 8]>>();
}

#[test]
fn spinning_handles_still_time_out() {
    let names = Names::new("rw-spin", 1);
    let name = names.get(0).to_owned();
    watchdog(Duration::from_secs(60), "spinning_handles_still_time_out", move || {
        let l = RwLock::create(&name, [0u64; 8]).unwrap();
        let spinner = RwLock::<Data>::open(&name).unwrap().with_wait_strategy(shmkit::WaitStrategy::Spin);
        let g = l.read().unwrap();
        assert!(matches!(spinner.write_timeout(Duration::from_millis(20)), Err(TryLockError::TimedOut)));
        drop(g);
        let w = l.write().unwrap();
        assert!(matches!(spinner.read_timeout(Duration::from_millis(20)), Err(TryLockError::TimedOut)));
        assert!(matches!(spinner.write_timeout(Duration::from_millis(20)), Err(TryLockError::TimedOut)));
        drop(w);
        assert!(spinner.write().is_ok());
    });
}

#[test]
fn random_kills_never_hang_and_clean_locks_are_consistent() {
    let names = Names::new("rw-churn", 1);
    let name = names.get(0).to_owned();
    watchdog(Duration::from_secs(300), "rwlock random_kills", move || {
        let l = RwLock::create(&name, [0u64; 8]).unwrap();
        let mut seed = 0x9e37_79b9_7f4a_7c15u64 ^ u64::from(std::process::id());
        let (mut died, mut clean) = (0, 0);
        for _ in 0..100 {
            let mut c = Child::spawn_piped("churn", &[&name]);
            c.expect_line("READY");
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            std::thread::sleep(Duration::from_micros(seed % 3000));
            c.kill();
            // Whether it died reading, writing or neither, a writer gets in.
            match l.write() {
                Ok(g) => {
                    assert!(g.iter().all(|&x| x == g[0]), "a clean lock must find consistent data");
                    clean += 1;
                }
                Err(LockError::OwnerDied(mut g)) => {
                    let v = g[0];
                    g.fill(v);
                    died += 1;
                }
            }
            let g = l.read().expect("clean after a write");
            assert!(g.iter().all(|&x| x == g[0]));
        }
        eprintln!("100 kills: {died} while writing, {clean} otherwise");
    });
}
