//! Semaphore and BoundedSemaphore across real processes: blocking and waking,
//! timeouts, the bound under a release race, and what happens to the permits
//! of a process that is SIGKILLed (owned mode: returned; plain mode: lost).

mod common;

use std::io::{Read, Seek, SeekFrom, Write};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use common::{Child, Names, say, watchdog};
use shmkit::{BoundedSemaphore, Error, ReleaseError, Segment, Semaphore, WaitStrategy};

const MAX_PERMITS: u32 = Semaphore::MAX_PERMITS;

#[test]
fn child() {
    common::child_main(run_role);
}

fn run_role(role: &str, args: &[String]) -> i32 {
    match role {
        "acquire_one" => {
            let sem = Semaphore::open(&args[0]).expect("open semaphore");
            say("OPENED");
            sem.acquire();
            say("ACQUIRED");
            0
        }
        "hold" => {
            let sem = Semaphore::open(&args[0]).expect("open semaphore");
            let n: u32 = args[1].parse().expect("count");
            for _ in 0..n {
                sem.acquire();
            }
            say("HELD");
            std::thread::sleep(Duration::from_secs(600));
            0
        }
        "race_release" => {
            // ctl[0]: round the parent started; ctl[1]: releases tried;
            // ctl[2]: releases that succeeded.
            let sem = BoundedSemaphore::open(&args[0]).expect("open semaphore");
            let ctl = Segment::<[AtomicU32; 3]>::open(&args[1]).expect("open control");
            let rounds: u32 = args[2].parse().expect("rounds");
            for round in 1..=rounds {
                while ctl[0].load(Ordering::Acquire) < round {
                    std::thread::yield_now();
                }
                match sem.release() {
                    Ok(()) => {
                        ctl[2].fetch_add(1, Ordering::AcqRel);
                    }
                    Err(ReleaseError::Full) => {}
                    Err(other) => {
                        eprintln!("unexpected release error {other:?}");
                        return 2;
                    }
                }
                ctl[1].fetch_add(1, Ordering::AcqRel);
            }
            0
        }
        "churn_owned" => {
            let sem = Semaphore::open(&args[0]).expect("open semaphore");
            say("READY");
            loop {
                sem.acquire();
                std::hint::black_box(sem.held());
                sem.release().expect("release a permit we hold");
            }
        }
        "bounded_work" => {
            // ctl[0]: holders inside now; ctl[1]: most ever inside.
            let strategy = if args[3] == "park" { WaitStrategy::Park } else { WaitStrategy::Adaptive };
            let sem = Semaphore::open(&args[0]).expect("open semaphore").with_wait_strategy(strategy);
            let ctl = Segment::<[AtomicU32; 2]>::open(&args[1]).expect("open control");
            let rounds: u32 = args[2].parse().expect("rounds");
            for i in 0..rounds {
                if i % 2 == 0 {
                    sem.acquire();
                } else {
                    while !sem.acquire_timeout(Duration::from_micros(50)) {}
                }
                let inside = ctl[0].fetch_add(1, Ordering::AcqRel) + 1;
                ctl[1].fetch_max(inside, Ordering::AcqRel);
                for _ in 0..(i % 64) {
                    std::hint::spin_loop();
                }
                ctl[0].fetch_sub(1, Ordering::AcqRel);
                sem.release().expect("release");
            }
            0
        }
        other => panic!("unknown role {other}"),
    }
}

#[test]
fn three_blocked_children_get_exactly_three_permits() {
    let names = Names::new("sem3", 1);
    let name = names.get(0).to_owned();
    watchdog(Duration::from_secs(60), "three_blocked_children_get_exactly_three_permits", move || {
        let sem = Semaphore::create(&name, 0).unwrap();
        let mut children: Vec<Child> = (0..3).map(|_| Child::spawn_piped("acquire_one", &[&name])).collect();
        for c in &mut children {
            c.expect_line("OPENED");
        }
        // Give them time to block (not required for correctness: a child
        // that has not blocked yet simply takes its permit at once).
        std::thread::sleep(Duration::from_millis(50));
        assert!(!sem.try_acquire(), "nobody released yet");
        for _ in 0..3 {
            sem.release().unwrap();
        }
        for c in &mut children {
            c.expect_line("ACQUIRED");
        }
        for c in children {
            c.expect_success(Duration::from_secs(30));
        }
        assert_eq!(sem.value(), 0, "three permits made, three taken");
        assert!(!sem.acquire_timeout(Duration::from_millis(50)), "a fourth acquire must not get through");
    });
}

#[test]
fn four_processes_never_exceed_two_permits() {
    let names = Names::new("semwork", 2);
    let (sname, cname) = (names.get(0).to_owned(), names.get(1).to_owned());
    watchdog(Duration::from_secs(240), "four_processes_never_exceed_two_permits", move || {
        let sem = Semaphore::create(&sname, 2).unwrap();
        let ctl = Segment::create(&cname, [AtomicU32::new(0), AtomicU32::new(0)]).unwrap();
        let start = Instant::now();
        let kids: Vec<Child> = ["park", "park", "adaptive", "adaptive"]
            .iter()
            .map(|strategy| Child::spawn("bounded_work", &[&sname, &cname, "20000", strategy]))
            .collect();
        for k in kids {
            k.expect_success(Duration::from_secs(200));
        }
        eprintln!("4 processes x 20000 acquire/release on 2 permits: {:?}", start.elapsed());
        let most = ctl[1].load(Ordering::Acquire);
        eprintln!("most holders inside at once: {most}");
        assert!((1..=2).contains(&most), "at most two inside at once, saw {most}");
        assert_eq!(sem.value(), 2, "every permit came back");
    });
}

#[test]
fn acquire_timeout_on_empty_waits_at_least_the_timeout() {
    let names = Names::new("semto", 1);
    let name = names.get(0).to_owned();
    watchdog(Duration::from_secs(30), "acquire_timeout", move || {
        let sem = Semaphore::create(&name, 0).unwrap();
        for strategy in [WaitStrategy::Adaptive, WaitStrategy::Park, WaitStrategy::Spin] {
            let other = Semaphore::open(&name).unwrap().with_wait_strategy(strategy);
            let timeout = Duration::from_millis(100);
            let start = Instant::now();
            assert!(!other.acquire_timeout(timeout));
            let waited = start.elapsed();
            eprintln!("acquire_timeout({timeout:?}) with {strategy:?} gave up after {waited:?}");
            assert!(waited >= timeout, "gave up early: {waited:?}");
            let deadline = Instant::now() + Duration::from_millis(20);
            assert!(!other.acquire_deadline(deadline));
            assert!(Instant::now() >= deadline);
        }
        assert!(!sem.try_acquire());
        sem.release().unwrap();
        assert!(sem.acquire_timeout(Duration::from_secs(5)));
    });
}

#[test]
fn bounded_over_release_is_refused_and_leaves_the_count() {
    let names = Names::new("bsem", 2);
    let bsem = BoundedSemaphore::create(&names[0], 2).unwrap();
    assert_eq!(bsem.bound(), 2);
    assert_eq!(bsem.release(), Err(ReleaseError::Full));
    assert_eq!(bsem.value(), 2);
    bsem.acquire();
    assert_eq!(bsem.release_n(2), Err(ReleaseError::Full), "all or nothing");
    assert_eq!(bsem.value(), 1);
    bsem.release().unwrap();
    assert_eq!(bsem.value(), 2);

    // A plain semaphore is bounded only by MAX_PERMITS.
    let sem = Semaphore::create(&names[1], MAX_PERMITS - 1).unwrap();
    sem.release().unwrap();
    assert_eq!(sem.release(), Err(ReleaseError::Full));
    assert_eq!(sem.value(), MAX_PERMITS);
    assert!(sem.release_n(0).is_ok());
}

#[test]
fn two_processes_racing_an_over_release_exactly_one_wins_each_round() {
    const ROUNDS: u32 = 1000;
    let names = Names::new("bsrace", 2);
    let (sname, cname) = (names.get(0).to_owned(), names.get(1).to_owned());
    watchdog(Duration::from_secs(240), "bounded release race", move || {
        let sem = BoundedSemaphore::create(&sname, 1).unwrap();
        let ctl = Segment::create(&cname, [AtomicU32::new(0), AtomicU32::new(0), AtomicU32::new(0)]).unwrap();
        sem.acquire();
        let rounds = ROUNDS.to_string();
        let a = Child::spawn("race_release", &[&sname, &cname, &rounds]);
        let b = Child::spawn("race_release", &[&sname, &cname, &rounds]);
        for round in 1..=ROUNDS {
            assert_eq!(sem.value(), 0);
            ctl[0].store(round, Ordering::Release);
            while ctl[1].load(Ordering::Acquire) < 2 * round {
                std::thread::yield_now();
            }
            assert_eq!(ctl[2].load(Ordering::Acquire), round, "round {round}: exactly one release must succeed");
            assert_eq!(sem.value(), 1, "round {round}: the count never passes the bound");
            assert!(sem.try_acquire());
        }
        a.expect_success(Duration::from_secs(60));
        b.expect_success(Duration::from_secs(60));
    });
}

#[test]
fn owned_mode_returns_the_permits_of_a_killed_holder() {
    let names = Names::new("semown", 1);
    let name = names.get(0).to_owned();
    watchdog(Duration::from_secs(60), "owned mode recovery", move || {
        let sem = Semaphore::create_owned(&name, 2).unwrap();
        assert!(sem.is_owned());
        let mut holder = Child::spawn_piped("hold", &[&name, "2"]);
        holder.expect_line("HELD");
        assert_eq!(sem.value(), 0);
        assert!(!sem.try_acquire(), "the holder is alive: its permits are its own");
        assert_eq!(sem.release(), Err(ReleaseError::NotHeld), "we hold nothing to release");
        assert_eq!(sem.value(), 0);
        std::thread::scope(|scope| {
            // Blocked in acquire (asleep) before the holder dies.
            let waiter = scope.spawn(|| {
                sem.acquire();
                sem.acquire();
                Instant::now()
            });
            std::thread::sleep(Duration::from_millis(50));
            assert!(!waiter.is_finished(), "the holder is alive: the waiter must still wait");
            let killed = Instant::now();
            holder.kill();
            let back = waiter.join().unwrap();
            eprintln!("owned: both permits of the killed holder back after {:?}", back - killed);
        });
        assert_eq!(sem.held(), 2);
        assert_eq!(sem.value(), 0);
        sem.release_n(2).unwrap();
        assert_eq!(sem.value(), 2);
        assert_eq!(sem.held(), 0);
    });
}

#[test]
fn owned_mode_random_kills_neither_lose_nor_create_permits() {
    const PERMITS: u32 = 2;
    let names = Names::new("semchurn", 1);
    let name = names.get(0).to_owned();
    watchdog(Duration::from_secs(300), "owned random kills", move || {
        let sem = Semaphore::create_owned(&name, PERMITS).unwrap();
        let mut seed = 0x2545_f491_4f6c_dd1du64 ^ u64::from(std::process::id());
        for round in 0..150 {
            let mut kids: Vec<Child> = (0..3).map(|_| Child::spawn_piped("churn_owned", &[&name])).collect();
            for k in &mut kids {
                k.expect_line("READY");
            }
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            std::thread::sleep(Duration::from_micros(seed % 3000));
            for k in kids {
                k.kill();
            }
            // The children are reaped, so their liveness locks are gone: one
            // scan (inside try_acquire) returns everything they held.
            let mut got = 0;
            while sem.try_acquire() {
                got += 1;
                assert!(got <= PERMITS, "round {round}: permits were created");
            }
            assert_eq!(got, PERMITS, "round {round}: permits were lost");
            assert_eq!(sem.held(), got);
            sem.release_n(got).unwrap();
        }
        eprintln!("owned random kills: all {PERMITS} permits back after each of 150 rounds of 3 kills");
    });
}

#[test]
fn plain_mode_loses_the_permits_of_a_killed_holder() {
    let names = Names::new("semplain", 1);
    let name = names.get(0).to_owned();
    watchdog(Duration::from_secs(60), "plain mode loss", move || {
        let sem = Semaphore::create(&name, 2).unwrap();
        assert!(!sem.is_owned());
        let mut holder = Child::spawn_piped("hold", &[&name, "2"]);
        holder.expect_line("HELD");
        holder.kill();
        // Documented behaviour: nobody owns a plain permit, so nothing
        // brings them back until someone releases on the dead one's behalf.
        assert!(!sem.try_acquire());
        assert!(!sem.acquire_timeout(Duration::from_millis(100)));
        assert_eq!(sem.value(), 0);
        sem.release_n(2).unwrap();
        assert!(sem.try_acquire());
    });
}

#[test]
fn owned_handles_release_only_their_own_and_return_them_on_drop() {
    let names = Names::new("semdrop", 1);
    let sem = Semaphore::create_owned(&names[0], 3).unwrap();
    let other = Semaphore::open(&names[0]).unwrap();
    assert!(other.is_owned());
    other.acquire();
    other.acquire();
    sem.acquire();
    assert_eq!((sem.held(), other.held(), sem.value()), (1, 2, 0));
    assert_eq!(sem.release_n(2), Err(ReleaseError::NotHeld));
    assert_eq!(sem.value(), 0, "refused release leaves the count");
    drop(other);
    assert_eq!(sem.value(), 2);
    sem.release().unwrap();
    assert_eq!(sem.value(), 3);
    assert!(matches!(Semaphore::create_owned("semdrop-too-many", 1 << 20), Err(Error::InvalidArgument(_))));
}

#[test]
fn kinds_are_checked_on_open() {
    let names = Names::new("semkind", 2);
    let _s = Semaphore::create(&names[0], 1).unwrap();
    let _b = BoundedSemaphore::create(&names[1], 1).unwrap();
    assert!(matches!(BoundedSemaphore::open(&names[0]), Err(Error::WrongKind { .. })));
    assert!(matches!(Semaphore::open(&names[1]), Err(Error::WrongKind { .. })));
    assert!(matches!(Semaphore::create(&names[0], 1), Err(Error::AlreadyExists { .. })));
    let again = Semaphore::open_or_create(&names[0], 7).unwrap();
    assert_eq!(again.value(), 1, "open_or_create opens the existing one");
}

/// Overwrites the state word `index` of the semaphore behind `path`.
fn corrupt_word(path: &str, index: u64, value: u32) {
    let mut f = std::fs::OpenOptions::new().read(true).write(true).open(path).unwrap();
    let mut off = [0u8; 8];
    f.seek(SeekFrom::Start(40)).unwrap(); // header: data_offset
    f.read_exact(&mut off).unwrap();
    f.seek(SeekFrom::Start(u64::from_le_bytes(off) + 4 * index)).unwrap();
    f.write_all(&value.to_le_bytes()).unwrap();
}

#[test]
fn corrupted_counts_give_errors_not_panics() {
    let names = Names::new("semcorrupt", 2);
    let bsem = BoundedSemaphore::create(&names[0], 3).unwrap();
    corrupt_word(&names.path(0), 0, u32::MAX); // count far past the bound
    assert_eq!(bsem.value(), 3, "reported clamped to the bound");
    assert_eq!(bsem.release(), Err(ReleaseError::Full));
    assert!(bsem.try_acquire());
    corrupt_word(&names.path(0), 3, u32::MAX); // bound past MAX_PERMITS
    assert_eq!(bsem.bound(), MAX_PERMITS);
    corrupt_word(&names.path(0), 1, u32::MAX); // a wildly wrong sleeper count
    corrupt_word(&names.path(0), 0, 0);
    bsem.release().unwrap(); // a useless wake, nothing worse

    // Owned table entries for tokens nobody holds: returned (saturating),
    // never out of bounds.
    let sem = Semaphore::create_owned(&names[1], 1).unwrap();
    for slot in [5u64, 1023] {
        corrupt_word(&names.path(1), 5 + slot, u32::MAX);
    }
    assert!(sem.try_acquire());
    assert_eq!(sem.value(), 0, "never more than the total");
    sem.release().unwrap();
    // The owned-mode lock word held by a token that cannot be alive: taken
    // over, and the count recomputed from the table.
    corrupt_word(&names.path(1), 4, (1 << 30) | 999);
    corrupt_word(&names.path(1), 0, 0);
    assert!(sem.acquire_timeout(Duration::from_secs(10)));
    assert_eq!(sem.held(), 1);
}

#[test]
fn handles_are_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<Semaphore>();
    check::<BoundedSemaphore>();
    check::<shmkit::SemaphoreCell>();
}
