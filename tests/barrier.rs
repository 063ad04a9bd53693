//! Barrier across real processes: leaders per generation, a party killed
//! while others wait, a timeout, reset.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{Child, Names, say, watchdog};
use shmkit::{Array, Barrier, BarrierArrival, BarrierError, BarrierWaitResult, Error, RwLock};

#[test]
fn child() {
    common::child_main(run_role);
}

const LONG: Duration = Duration::from_secs(60);

fn run_role(role: &str, args: &[String]) -> i32 {
    match role {
        // Waits `gens` times; a leader marks its generation in the array.
        "rounds" => {
            let b = Barrier::open(&args[0]).expect("open barrier");
            let marks = Array::<u32>::open(&args[1]).expect("open array");
            let gens: usize = args[2].parse().expect("generations");
            let mut leaders = 0;
            for g in 0..gens {
                let r = b.wait_timeout(LONG).expect("no party dies or times out here");
                if r.is_leader() {
                    leaders += 1;
                    marks.lock().unwrap_or_else(|e| e.into_inner())[g] += 1;
                }
            }
            say(&format!("LEADERS {leaders}"));
            0
        }
        // Arrives and waits forever (until killed).
        "park" => {
            let b = Barrier::open(&args[0]).expect("open barrier");
            say("ARRIVING");
            let _ = b.wait();
            2
        }
        // Waits and expects the barrier to break; after a reset, waits again.
        "witness" => {
            let b = Barrier::open(&args[0]).expect("open barrier");
            say("ARRIVING");
            let r = b.wait_timeout(LONG);
            if r != Err(BarrierError::Broken) {
                eprintln!("witness: expected Broken, got {r:?}");
                return 1;
            }
            // Checked before telling the parent, which resets it next.
            if b.wait() != Err(BarrierError::Broken) {
                eprintln!("witness: a broken barrier must stay broken");
                return 1;
            }
            say("BROKEN");
            if args.get(1).is_some_and(|a| a == "again") {
                let start = Instant::now();
                while b.is_broken() {
                    if start.elapsed() > LONG {
                        return 1;
                    }
                    std::thread::sleep(Duration::from_millis(1));
                }
                let r = b.wait_timeout(LONG).expect("works after reset");
                say(&format!("ROUND2 {}", u32::from(r.is_leader())));
            }
            0
        }
        // Arrives, then waits in pieces of 1 ms (as the Python module does
        // between its signal checks) until the generation ends.
        "poll" => {
            let b = Barrier::open(&args[0]).expect("open barrier");
            let mut me = b.arrive().expect("not broken yet");
            say("ARRIVING");
            let r = loop {
                match me.poll(Duration::from_millis(1)) {
                    Ok(None) => {}
                    Ok(Some(r)) => break Ok(r),
                    Err(e) => break Err(e),
                }
            };
            say(&format!("POLLED {r:?}"));
            0
        }
        // One wait after a reset.
        "once" => {
            let b = Barrier::open(&args[0]).expect("open barrier");
            let r = b.wait_timeout(LONG).expect("works after reset");
            say(&format!("ROUND2 {}", u32::from(r.is_leader())));
            0
        }
        other => panic!("unknown role {other}"),
    }
}

/// A thread that waits at `b` (with no timeout), returned once it has
/// arrived.
fn party_in_a_thread(b: &Arc<Barrier>) -> std::thread::JoinHandle<Result<BarrierWaitResult, BarrierError>> {
    let before = b.arrived();
    let waiter = {
        let b = b.clone();
        std::thread::spawn(move || b.wait())
    };
    while b.arrived() <= before {
        std::thread::sleep(Duration::from_millis(1));
    }
    waiter
}

fn parse_after(child: &mut Child, marker: &str) -> u32 {
    child.expect_line(marker).trim().parse().expect("a number")
}

#[test]
fn three_processes_one_leader_per_generation() {
    const GENS: usize = 1000;
    let names = Names::new("bar-gens", 2);
    let (bn, an) = (names.get(0).to_owned(), names.get(1).to_owned());
    watchdog(Duration::from_secs(120), "three_processes_one_leader_per_generation", move || {
        let _b = Barrier::create(&bn, 3).unwrap();
        let marks = Array::<u32>::create(&an, GENS).unwrap();
        let gens = GENS.to_string();
        let start = Instant::now();
        let mut kids: Vec<Child> = (0..3).map(|_| Child::spawn_piped("rounds", &[&bn, &an, &gens])).collect();
        let total: u32 = kids.iter_mut().map(|c| parse_after(c, "LEADERS ")).sum();
        for c in kids {
            c.expect_success(Duration::from_secs(60));
        }
        eprintln!("3 processes x {GENS} generations in {:?}", start.elapsed());
        assert_eq!(total as usize, GENS, "leaders summed over the children");
        let per_gen = marks.to_vec();
        assert!(per_gen.iter().all(|&n| n == 1), "exactly one leader in every generation");
    });
}

#[test]
fn killed_party_breaks_the_barrier_and_reset_restores_it() {
    kill_a_waiting_party_then_reset("bar-kill", "park");
}

/// Three parties: a victim running `victim_role` (it arrives and waits), a
/// witness, and this test. The victim is killed once both have arrived: the
/// witness sees the barrier broken; after a reset a full round of three
/// (witness, a new party, this test) has one leader, so the count is right.
fn kill_a_waiting_party_then_reset(tag: &str, victim_role: &'static str) {
    let names = Names::new(tag, 1);
    let name = names.get(0).to_owned();
    let what = format!("a killed '{victim_role}' party breaks the barrier");
    watchdog(Duration::from_secs(60), &what, move || {
        let b = Barrier::create(&name, 3).unwrap();
        let mut victim = Child::spawn_piped(victim_role, &[&name]);
        victim.expect_line("ARRIVING");
        let mut witness = Child::spawn_piped("witness", &[&name, "again"]);
        witness.expect_line("ARRIVING");
        // Both must have arrived (not merely be about to) before the kill:
        // a party that dies before arriving looks like a slow one.
        while b.arrived() < 2 {
            std::thread::sleep(Duration::from_millis(1));
        }
        // A party records itself in the arrival table two stores after it is
        // counted; let the victim finish those (a settle delay, not a bound).
        std::thread::sleep(Duration::from_millis(20));
        let killed = Instant::now();
        victim.kill();
        witness.expect_line("BROKEN");
        eprintln!("the waiting party saw the barrier broken {:?} after the SIGKILL", killed.elapsed());
        assert!(b.is_broken());
        assert_eq!(b.wait(), Err(BarrierError::Broken), "stays broken until reset");

        b.reset();
        assert!(!b.is_broken());
        let mut third = Child::spawn_piped("once", &[&name]);
        let me = b.wait_timeout(LONG).expect("a new round works after reset");
        let leaders =
            u32::from(me.is_leader()) + parse_after(&mut witness, "ROUND2 ") + parse_after(&mut third, "ROUND2 ");
        assert_eq!(leaders, 1, "one leader in the round after reset");
        witness.expect_success(Duration::from_secs(30));
        third.expect_success(Duration::from_secs(30));
    });
}

#[test]
fn a_timeout_breaks_the_barrier_for_the_others() {
    let names = Names::new("bar-timeout", 1);
    let name = names.get(0).to_owned();
    watchdog(Duration::from_secs(60), "a_timeout_breaks_the_barrier", move || {
        let b = Barrier::create(&name, 3).unwrap();
        let mut witness = Child::spawn_piped("witness", &[&name]);
        witness.expect_line("ARRIVING");
        while b.arrived() < 1 {
            std::thread::sleep(Duration::from_millis(1));
        }
        assert_eq!(b.wait_timeout(Duration::from_millis(50)), Err(BarrierError::TimedOut));
        witness.expect_line("BROKEN");
        witness.expect_success(Duration::from_secs(30));
        assert_eq!(b.wait_timeout(Duration::from_millis(50)), Err(BarrierError::Broken));
        b.reset();
        assert!(!b.is_broken());
        assert_eq!(b.arrived(), 0);
    });
}

#[test]
fn threads_sharing_one_handle() {
    let names = Names::new("bar-threads", 1);
    let name = names.get(0).to_owned();
    watchdog(Duration::from_secs(60), "threads_sharing_one_handle", move || {
        let b = Arc::new(Barrier::create(&name, 4).unwrap());
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let b = b.clone();
                std::thread::spawn(move || (0..200).filter(|_| b.wait().expect("not broken").is_leader()).count())
            })
            .collect();
        let leaders: usize = threads.into_iter().map(|t| t.join().unwrap()).sum();
        assert_eq!(leaders, 200);
    });
}

#[test]
fn reset_releases_current_waiters_with_broken() {
    let names = Names::new("bar-reset", 1);
    let name = names.get(0).to_owned();
    watchdog(Duration::from_secs(60), "reset_releases_current_waiters", move || {
        let b = Arc::new(Barrier::create(&name, 3).unwrap());
        let waiter = party_in_a_thread(&b);
        b.reset();
        assert_eq!(waiter.join().unwrap(), Err(BarrierError::Broken));
        assert!(!b.is_broken(), "a reset barrier is usable");
    });
}

#[test]
fn bad_party_counts_and_kinds_are_errors() {
    let names = Names::new("bar-args", 2);
    assert!(matches!(Barrier::create(&names[0], 0), Err(Error::InvalidArgument(_))));
    assert!(matches!(Barrier::create(&names[0], shmkit::MAX_PARTIES + 1), Err(Error::InvalidArgument(_))));
    let b = Barrier::create(&names[0], 2).unwrap();
    assert_eq!(b.parties(), 2);
    assert_eq!(Barrier::open(&names[0]).unwrap().parties(), 2);
    assert!(matches!(Barrier::open_or_create(&names[0], 3), Err(Error::InvalidArgument(_))));
    assert_eq!(Barrier::open_or_create(&names[0], 2).unwrap().parties(), 2);
    let _l = RwLock::create(&names[1], 0u32).unwrap();
    assert!(matches!(Barrier::open(&names[1]), Err(Error::WrongKind { .. })));
    let one = Barrier::create(&format!("{}-one", &names[0]), 1).unwrap();
    assert!(one.wait().unwrap().is_leader());
    assert!(one.wait().unwrap().is_leader());
}

#[test]
fn handles_are_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<Barrier>();
    check::<BarrierArrival<'static>>();
}

#[test]
fn a_spinning_party_still_times_out() {
    let names = Names::new("bar-spin", 1);
    let name = names.get(0).to_owned();
    watchdog(Duration::from_secs(60), "a_spinning_party_still_times_out", move || {
        let b = Barrier::create(&name, 2).unwrap().with_wait_strategy(shmkit::WaitStrategy::Spin);
        assert_eq!(b.wait_timeout(Duration::from_millis(20)), Err(BarrierError::TimedOut));
        assert!(b.is_broken());
    });
}

#[test]
fn a_pending_arrival_stays_counted_between_polls() {
    let names = Names::new("bar-poll", 1);
    let name = names.get(0).to_owned();
    watchdog(Duration::from_secs(60), "a_pending_arrival_stays_counted_between_polls", move || {
        let b = Barrier::create(&name, 2).unwrap();
        let mut me = b.arrive().expect("a fresh barrier");
        for _ in 0..5 {
            assert_eq!(me.poll(Duration::from_millis(5)), Ok(None), "nobody else arrived yet");
            assert_eq!(b.arrived(), 1, "still counted after a poll ran out");
            assert!(!b.is_broken(), "a poll that runs out breaks nothing");
        }
        // The other party, in another process, completes the generation.
        let mut other = Child::spawn_piped("once", &[&name]);
        let mine = loop {
            if let Some(r) = me.poll(Duration::from_millis(5)).expect("not broken") {
                break r;
            }
        };
        let theirs = parse_after(&mut other, "ROUND2 ");
        other.expect_success(Duration::from_secs(30));
        assert!(!mine.is_leader() && theirs == 1, "the party that arrived last leads");
        assert_eq!(me.poll(Duration::ZERO), Ok(Some(mine)), "an ended wait keeps its outcome");
        drop(me);
        assert!(!b.is_broken(), "dropping an ended arrival breaks nothing");
        assert_eq!(b.arrived(), 0);
        // The next generation counts from zero.
        let one = b.arrive().unwrap();
        let t = std::thread::spawn({
            let b = Barrier::open(&name).unwrap();
            move || b.wait().map(|r| r.is_leader())
        });
        assert_eq!(one.wait().map(|r| r.is_leader()).unwrap() as u32 + t.join().unwrap().unwrap() as u32, 1);
    });
}

#[test]
fn a_party_killed_between_polls_breaks_the_barrier_and_leaves_the_count_right() {
    // The victim polls in 1 ms pieces: the kill lands inside a piece or
    // between two, and either way its table entry names it.
    kill_a_waiting_party_then_reset("bar-poll-kill", "poll");
}

#[test]
fn giving_up_a_pending_arrival_breaks_the_generation() {
    let names = Names::new("bar-giveup", 1);
    let name = names.get(0).to_owned();
    watchdog(Duration::from_secs(60), "giving_up_a_pending_arrival_breaks_the_generation", move || {
        let b = Arc::new(Barrier::create(&name, 3).unwrap());
        for how in ["abort", "drop"] {
            let witness = party_in_a_thread(&b);
            let mut me = b.arrive().unwrap();
            assert_eq!(me.poll(Duration::from_millis(5)), Ok(None));
            if how == "abort" {
                assert!(me.abort(), "abort broke the pending generation");
            } else {
                drop(me);
            }
            assert_eq!(witness.join().unwrap(), Err(BarrierError::Broken), "{how}: the other party is told");
            assert!(b.is_broken(), "{how}");
            assert!(matches!(b.arrive(), Err(BarrierError::Broken)), "{how}: stays broken until reset");
            b.reset();
        }
        // An arrival whose generation was broken by another: its poll says
        // so, and aborting it changes nothing.
        let mut me = b.arrive().unwrap();
        assert!(b.abort());
        assert_eq!(me.poll(Duration::from_secs(5)), Err(BarrierError::Broken));
        assert!(!me.abort(), "the generation had already ended");
        b.reset();
        // A reset while an arrival is pending ends it with Broken, and the
        // fresh generation stays usable.
        let mut me = b.arrive().unwrap();
        b.reset();
        assert_eq!(me.poll(Duration::from_secs(5)), Err(BarrierError::Broken));
        drop(me);
        assert!(!b.is_broken(), "a reset generation is not broken by the old arrival's drop");
        // A deadline that passes breaks it (a timed wait), once only.
        let me = b.arrive().unwrap();
        assert_eq!(me.wait_deadline(Instant::now()), Err(BarrierError::TimedOut));
        assert!(b.is_broken());
    });
}

#[test]
fn abort_breaks_without_arriving() {
    let names = Names::new("bar-abort", 1);
    let name = names.get(0).to_owned();
    watchdog(Duration::from_secs(60), "abort_breaks_without_arriving", move || {
        let b = Arc::new(Barrier::create(&name, 2).unwrap());
        let waiter = party_in_a_thread(&b);
        // One party short: try_wait would complete the generation; abort
        // breaks it.
        assert!(b.abort());
        assert_eq!(waiter.join().unwrap(), Err(BarrierError::Broken));
        assert!(!b.abort(), "already broken");
        b.reset();
        assert!(!b.is_broken());
        // The last party to arrive is the leader at once.
        let one = Barrier::create(&format!("{name}-one"), 1).unwrap();
        let mut me = one.arrive().unwrap();
        assert!(me.poll(Duration::ZERO).unwrap().expect("complete").is_leader());
        assert!(!me.abort(), "nothing to give up");
        assert!(!one.is_broken());
    });
}
