//! Event across real processes: one set wakes every waiting process, timed
//! waits time out, set/clear/is_set semantics.

mod common;

use std::time::{Duration, Instant};

use common::{Child, Names, say, watchdog};
use shmkit::{Error, Event, Mutex, WaitStrategy};

#[test]
fn child() {
    common::child_main(run_role);
}

fn run_role(role: &str, args: &[String]) -> i32 {
    match role {
        "wait" => {
            let strategy = match args[1].as_str() {
                "spin" => WaitStrategy::Spin,
                "park" => WaitStrategy::Park,
                _ => WaitStrategy::Adaptive,
            };
            let ev = Event::open(&args[0]).expect("open event").with_wait_strategy(strategy);
            // Printed before the wait begins: the parent may set the event
            // before we sleep, which the wait must also handle.
            say("WAITING");
            ev.wait();
            say("WOKE");
            if let Some(done) = args.get(2) {
                Event::open(done).expect("open done event").set();
            }
            0
        }
        "set" => {
            Event::open(&args[0]).expect("open event").set();
            0
        }
        other => panic!("unknown role {other}"),
    }
}

#[test]
fn handles_are_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<Event>();
    check::<shmkit::EventCell>();
}

#[test]
fn one_set_wakes_three_waiting_processes() {
    let names = Names::new("ev-three", 1);
    let name = names.get(0).to_owned();
    watchdog(Duration::from_secs(60), "one_set_wakes_three_waiting_processes", move || {
        let ev = Event::create(&name).unwrap();
        let mut children: Vec<Child> =
            ["adaptive", "park", "spin"].iter().map(|s| Child::spawn_piped("wait", &[&name, s])).collect();
        for c in &mut children {
            c.expect_line("WAITING");
        }
        // Give them time to fall asleep, so that the wake path is the one
        // tested (not required for correctness).
        std::thread::sleep(Duration::from_millis(50));
        assert!(!ev.is_set());
        ev.set();
        for mut c in children {
            c.expect_line("WOKE");
            c.expect_success(Duration::from_secs(30));
        }
        assert!(ev.is_set());
    });
}

#[test]
fn set_from_another_process_wakes_this_one() {
    let names = Names::new("ev-remote", 1);
    let name = names.get(0).to_owned();
    watchdog(Duration::from_secs(60), "set_from_another_process_wakes_this_one", move || {
        let ev = Event::create(&name).unwrap();
        let setter = Child::spawn("set", &[&name]);
        assert!(ev.wait_timeout(Duration::from_secs(30)), "a set from a child must wake us");
        setter.expect_success(Duration::from_secs(30));
    });
}

#[test]
fn wait_timeout_on_a_clear_event_times_out() {
    let names = Names::new("ev-timeout", 1);
    let name = names.get(0).to_owned();
    watchdog(Duration::from_secs(30), "wait_timeout_on_a_clear_event_times_out", move || {
        let ev = Event::create(&name).unwrap();
        for strategy in [WaitStrategy::Adaptive, WaitStrategy::Park, WaitStrategy::Spin] {
            let ev = Event::open(&name).unwrap().with_wait_strategy(strategy);
            let timeout = Duration::from_millis(40);
            let start = Instant::now();
            assert!(!ev.wait_timeout(timeout));
            let waited = start.elapsed();
            eprintln!("{strategy:?}: wait_timeout({timeout:?}) returned false after {waited:?}");
            assert!(waited >= timeout, "returned after {waited:?}, before the timeout");
            let start = Instant::now();
            assert!(!ev.wait_deadline(start + timeout));
            assert!(start.elapsed() >= timeout);
        }
        assert!(!ev.wait_timeout(Duration::ZERO));
    });
}

#[test]
fn set_clear_is_set() {
    let names = Names::new("ev-flag", 1);
    let name = names.get(0).to_owned();
    watchdog(Duration::from_secs(30), "set_clear_is_set", move || {
        let a = Event::create(&name).unwrap();
        let b = Event::open(&name).unwrap();
        assert!(!a.is_set() && !b.is_set());
        a.set();
        assert!(a.is_set() && b.is_set());
        a.set(); // idempotent
        assert!(b.is_set());
        assert!(b.wait_timeout(Duration::ZERO), "a set event does not block");
        b.wait();
        b.clear();
        assert!(!a.is_set());
        b.clear(); // idempotent
        assert!(!a.wait_timeout(Duration::from_millis(5)));
        a.set();
        assert!(b.wait_timeout(Duration::from_millis(5)));
    });
}

#[test]
fn a_set_clear_pulse_releases_a_sleeping_waiter() {
    let names = Names::new("ev-pulse", 2);
    let (name, done_name) = (names.get(0).to_owned(), names.get(1).to_owned());
    watchdog(Duration::from_secs(60), "a_set_clear_pulse_releases_a_sleeping_waiter", move || {
        let ev = Event::create(&name).unwrap();
        let done = Event::create(&done_name).unwrap();
        let mut c = Child::spawn_piped("wait", &[&name, "park", &done_name]);
        c.expect_line("WAITING");
        // The child printed its marker just before waiting; a pulse that
        // came before its wait began would not count, so pulse again until
        // it reports. A lost pulse would leave it asleep through all of them.
        let mut pulses = 0;
        loop {
            std::thread::sleep(Duration::from_millis(50));
            ev.set();
            ev.clear();
            pulses += 1;
            if done.wait_timeout(Duration::from_millis(500)) {
                break;
            }
            assert!(pulses < 20, "a waiter slept through {pulses} set/clear pulses");
        }
        eprintln!("waiter released after {pulses} pulse(s)");
        c.expect_line("WOKE");
        c.expect_success(Duration::from_secs(30));
        assert!(!ev.is_set());
    });
}

#[test]
fn open_checks_kind_and_names() {
    let names = Names::new("ev-open", 2);
    let (a, b) = (names.get(0).to_owned(), names.get(1).to_owned());
    let ev = Event::open_or_create(&a).unwrap();
    let again = Event::open_or_create(&a).unwrap();
    assert_eq!(again.name(), a);
    ev.set();
    assert!(again.is_set());
    assert!(matches!(Event::create(&a), Err(Error::AlreadyExists { .. })));
    let _m = Mutex::create(&b, 0u32).unwrap();
    assert!(matches!(Event::open(&b), Err(Error::WrongKind { .. })));
    assert!(matches!(shmkit::Condvar::open(&a), Err(Error::WrongKind { .. })));
}
