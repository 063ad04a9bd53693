//! Condvar with shmkit's Mutex across real processes: a bounded ring moved
//! in order between two processes, notify_all waking three processes, timed
//! waits, and a waiter whose mutex holder is SIGKILLed.

mod common;

use std::time::{Duration, Instant};

use bytemuck::{Pod, Zeroable};
use common::{Child, Names, say, watchdog};
use shmkit::{Condvar, LockError, Mutex, WaitStrategy};

const RING: usize = 64;
const ITEMS: u64 = 100_000;

/// The shared ring: `head` items were produced, `tail` consumed.
#[derive(Clone, Copy, Pod, Zeroable)]
#[repr(C)]
struct Ring {
    head: u64,
    tail: u64,
    buf: [u64; RING],
}

shm_layout!(Ring { head: u64, tail: u64, buf: [u64; RING] });

impl Ring {
    fn len(&self) -> u64 {
        self.head.wrapping_sub(self.tail)
    }
}

#[test]
fn child() {
    common::child_main(run_role);
}

fn run_role(role: &str, args: &[String]) -> i32 {
    match role {
        "produce" => {
            let ring = Mutex::<Ring>::open(&args[0]).expect("open ring");
            let not_empty = Condvar::open(&args[1]).expect("open not_empty");
            let not_full = Condvar::open(&args[2]).expect("open not_full");
            for i in 0..ITEMS {
                let mut g = not_full.wait_while(ring.lock().expect("lock"), |r| r.len() >= RING as u64).expect("wait");
                let at = (g.head % RING as u64) as usize;
                g.buf[at] = i;
                g.head += 1;
                drop(g);
                not_empty.notify_one();
            }
            0
        }
        "wait_flag" => {
            let flag = Mutex::<u64>::open(&args[0]).expect("open flag");
            let cv = Condvar::open(&args[1]).expect("open condvar");
            let g = flag.lock().expect("lock");
            // Said while holding the mutex: once the parent gets the mutex,
            // this process is inside `wait` (it released the mutex there).
            say("WAITING");
            let g = cv.wait_while(g, |v| *v == 0).expect("wait");
            assert_eq!(*g, 1);
            say("WOKE");
            0
        }
        "hold_and_notify" => {
            let m = Mutex::<[u64; 2]>::open(&args[0]).expect("open mutex");
            let cv = Condvar::open(&args[1]).expect("open condvar");
            let mut g = m.lock().unwrap_or_else(LockError::into_inner);
            g[0] = 1; // half an update: the other half never comes
            cv.notify_all();
            say("LOCKED");
            std::thread::sleep(Duration::from_secs(600));
            0
        }
        other => panic!("unknown role {other}"),
    }
}

#[test]
fn handles_are_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<Condvar>();
    check::<shmkit::CondvarCell>();
}

#[test]
fn producer_consumer_across_processes_in_order() {
    let names = Names::new("cv-ring", 3);
    let n: Vec<String> = (0..3).map(|i| names.get(i).to_owned()).collect();
    watchdog(Duration::from_secs(120), "producer_consumer_across_processes_in_order", move || {
        let ring = Mutex::create(&n[0], Ring::zeroed()).unwrap();
        let not_empty = Condvar::create(&n[1]).unwrap();
        let not_full = Condvar::create(&n[2]).unwrap();
        let start = Instant::now();
        let producer = Child::spawn("produce", &[&n[0], &n[1], &n[2]]);
        for expected in 0..ITEMS {
            let mut g = not_empty.wait_while(ring.lock().unwrap(), |r| r.len() == 0).unwrap();
            assert!(g.len() <= RING as u64, "the ring overflowed: {} items", g.len());
            let at = (g.tail % RING as u64) as usize;
            assert_eq!(g.buf[at], expected, "items out of order or lost");
            g.tail += 1;
            drop(g);
            not_full.notify_one();
        }
        producer.expect_success(Duration::from_secs(60));
        let g = ring.lock().unwrap();
        assert_eq!((g.head, g.tail), (ITEMS, ITEMS));
        eprintln!("{ITEMS} items through a ring of {RING} in {:?}", start.elapsed());
    });
}

#[test]
fn notify_all_wakes_three_processes() {
    let names = Names::new("cv-all", 2);
    let (fname, cname) = (names.get(0).to_owned(), names.get(1).to_owned());
    watchdog(Duration::from_secs(60), "notify_all_wakes_three_processes", move || {
        let flag = Mutex::create(&fname, 0u64).unwrap();
        let cv = Condvar::create(&cname).unwrap();
        let mut children: Vec<Child> = (0..3).map(|_| Child::spawn_piped("wait_flag", &[&fname, &cname])).collect();
        for c in &mut children {
            c.expect_line("WAITING");
        }
        // Each child printed while holding the mutex and releases it only
        // inside `wait`: holding it now means all three are waiting.
        *flag.lock().unwrap() = 1;
        cv.notify_all(); // one call for all three
        for mut c in children {
            c.expect_line("WOKE");
            c.expect_success(Duration::from_secs(30));
        }
    });
}

#[test]
fn wait_timeout_times_out() {
    let names = Names::new("cv-timeout", 2);
    let (mname, cname) = (names.get(0).to_owned(), names.get(1).to_owned());
    watchdog(Duration::from_secs(30), "wait_timeout_times_out", move || {
        let m = Mutex::create(&mname, 7u32).unwrap();
        for strategy in [WaitStrategy::Adaptive, WaitStrategy::Park, WaitStrategy::Spin] {
            let cv = Condvar::open_or_create(&cname).unwrap().with_wait_strategy(strategy);
            let timeout = Duration::from_millis(40);
            let start = Instant::now();
            let (g, r) = cv.wait_timeout(m.lock().unwrap(), timeout).unwrap();
            let waited = start.elapsed();
            eprintln!("{strategy:?}: wait_timeout({timeout:?}) timed out after {waited:?}");
            assert!(r.timed_out());
            assert!(waited >= timeout, "returned after {waited:?}, before the timeout");
            assert_eq!(*g, 7, "the mutex is held again after the wait");
            assert!(m.is_locked());
            drop(g);
            let start = Instant::now();
            let (g, r) = cv.wait_timeout_while(m.lock().unwrap(), timeout, |v| *v == 7).unwrap();
            assert!(r.timed_out() && start.elapsed() >= timeout);
            // A condition that does not hold returns at once, not timed out.
            let (_g, r) = cv.wait_timeout_while(g, timeout, |v| *v != 7).unwrap();
            assert!(!r.timed_out());
        }
    });
}

#[test]
fn notify_with_nobody_waiting_is_not_remembered() {
    let names = Names::new("cv-nowait", 2);
    let m = Mutex::create(names.get(0), 0u32).unwrap();
    let cv = Condvar::create(names.get(1)).unwrap();
    cv.notify_one();
    cv.notify_all();
    let (_g, r) = cv.wait_timeout(m.lock().unwrap(), Duration::from_millis(10)).unwrap();
    assert!(r.timed_out(), "a notify before the wait must not wake it");
}

#[test]
fn waiter_gets_owner_died_when_the_holder_is_killed() {
    let names = Names::new("cv-died", 2);
    let (mname, cname) = (names.get(0).to_owned(), names.get(1).to_owned());
    watchdog(Duration::from_secs(60), "waiter_gets_owner_died_when_the_holder_is_killed", move || {
        let m = Mutex::create(&mname, [0u64; 2]).unwrap();
        let cv = Condvar::create(&cname).unwrap();
        let g = m.lock().unwrap();
        // The child blocks on the mutex until we wait; then it takes it,
        // half-updates the data, notifies us, and never unlocks.
        let mut holder = Child::spawn_piped("hold_and_notify", &[&mname, &cname]);
        let killer = std::thread::spawn(move || {
            holder.expect_line("LOCKED");
            std::thread::sleep(Duration::from_millis(20));
            let killed = Instant::now();
            holder.kill();
            killed
        });
        let result = cv.wait_while(g, |v| v[0] == 0);
        let killed = killer.join().unwrap();
        let mut g = match result {
            Err(LockError::OwnerDied(g)) => g,
            Ok(_) => panic!("re-locking after the holder died must report OwnerDied"),
        };
        eprintln!("OwnerDied reported {:?} after SIGKILL", killed.elapsed());
        assert_eq!(*g, [1, 0], "the dead holder's half-update is visible for repair");
        g[1] = 1;
        drop(g);
        assert_eq!(*m.lock().expect("clean after repair"), [1, 1]);
    });
}
