//! Robust Mutex across real processes: exclusion, owner death, random kills.

mod common;

use std::time::{Duration, Instant};

use common::{Child, Names, say, watchdog};
use shmkit::{LockError, Mutex, TryLockError, Value};

#[test]
fn child() {
    common::child_main(run_role);
}

fn run_role(role: &str, args: &[String]) -> i32 {
    match role {
        "increment" => {
            let v = Value::<u64>::open(&args[0]).expect("open value");
            let n: u64 = args[1].parse().expect("count");
            for _ in 0..n {
                *v.lock().unwrap_or_else(LockError::into_inner) += 1;
            }
            0
        }
        "hold" => {
            let m = Mutex::<[u64; 2]>::open(&args[0]).expect("open mutex");
            let mut g = m.lock().unwrap_or_else(LockError::into_inner);
            g[0] = 1; // half an update: the other half never comes
            say("LOCKED");
            std::thread::sleep(Duration::from_secs(600));
            0
        }
        "churn" => {
            // Keeps the invariant a[0] == a[1] at every unlock.
            let m = Mutex::<[u64; 2]>::open(&args[0]).expect("open mutex");
            say("READY");
            loop {
                let mut g = match m.lock() {
                    Ok(g) => g,
                    Err(LockError::OwnerDied(mut g)) => {
                        g[1] = g[0];
                        g
                    }
                };
                let next = g[0] + 1;
                g[0] = next;
                std::hint::black_box(&mut *g);
                g[1] = next;
            }
        }
        other => panic!("unknown role {other}"),
    }
}

#[test]
fn two_processes_increment_exactly() {
    let names = Names::new("incr", 1);
    let name = names.get(0).to_owned();
    watchdog(Duration::from_secs(120), "two_processes_increment_exactly", move || {
        let v = Value::create(&name, 0u64).unwrap();
        let a = Child::spawn("increment", &[&name, "20000"]);
        let b = Child::spawn("increment", &[&name, "20000"]);
        a.expect_success(Duration::from_secs(100));
        b.expect_success(Duration::from_secs(100));
        assert_eq!(v.load(), 40_000);
    });
}

#[test]
fn sigkilled_holder_gives_owner_died() {
    let names = Names::new("died", 1);
    let name = names.get(0).to_owned();
    watchdog(Duration::from_secs(60), "sigkilled_holder_gives_owner_died", move || {
        let m = Mutex::create(&name, [0u64; 2]).unwrap();
        let mut holder = Child::spawn_piped("hold", &[&name]);
        holder.expect_line("LOCKED");
        assert!(matches!(m.try_lock(), Err(TryLockError::WouldBlock)));
        assert!(matches!(m.lock_timeout(Duration::from_millis(30)), Err(TryLockError::TimedOut)));
        let killed = Instant::now();
        holder.kill();
        let mut g = match m.lock() {
            Err(LockError::OwnerDied(g)) => g,
            Ok(_) => panic!("lock after the holder died must report OwnerDied"),
        };
        eprintln!("OwnerDied reported {:?} after SIGKILL", killed.elapsed());
        assert_eq!(*g, [1, 0], "the dead holder's half-update is visible for repair");
        g[1] = 1;
        drop(g);
        // Repaired and released: the lock works as before.
        assert_eq!(*m.lock().expect("clean after repair"), [1, 1]);
        assert_eq!(*m.try_lock().expect("clean after repair"), [1, 1]);
    });
}

#[test]
fn random_kills_never_hang_and_clean_locks_are_consistent() {
    let names = Names::new("churn", 1);
    let name = names.get(0).to_owned();
    watchdog(Duration::from_secs(300), "random_kills", move || {
        let m = Mutex::create(&name, [0u64; 2]).unwrap();
        let mut seed = 0x9e37_79b9_7f4a_7c15u64 ^ u64::from(std::process::id());
        let (mut died, mut clean) = (0, 0);
        for _ in 0..200 {
            let mut c = Child::spawn_piped("churn", &[&name]);
            c.expect_line("READY");
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            std::thread::sleep(Duration::from_micros(seed % 3000));
            c.kill();
            match m.lock() {
                Ok(g) => {
                    assert_eq!(g[0], g[1], "a lock reported clean must find consistent data");
                    clean += 1;
                }
                Err(LockError::OwnerDied(mut g)) => {
                    g[1] = g[0];
                    died += 1;
                }
            }
        }
        eprintln!("200 kills: {died} while holding, {clean} while not");
        assert!(m.lock().is_ok());
    });
}

#[test]
fn spin_strategy_still_times_out_and_detects_a_dead_holder() {
    let names = Names::new("spin", 1);
    let name = names.get(0).to_owned();
    watchdog(Duration::from_secs(60), "spin_strategy", move || {
        let m = Mutex::create(&name, [0u64; 2]).unwrap().with_wait_strategy(shmkit::WaitStrategy::Spin);
        let mut holder = Child::spawn_piped("hold", &[&name]);
        holder.expect_line("LOCKED");
        let t0 = Instant::now();
        assert!(matches!(m.lock_timeout(Duration::from_millis(30)), Err(TryLockError::TimedOut)));
        assert!(t0.elapsed() >= Duration::from_millis(30));
        holder.kill();
        assert!(matches!(m.lock(), Err(LockError::OwnerDied(_))), "a spinning locker must notice the death");
    });
}
