//! wait_any: one wait over events, semaphores and broadcast subscribers,
//! woken by other threads and processes, never consuming what it reports.

mod common;

use std::time::{Duration, Instant};

use common::{Child, Names, say, watchdog};
use shmkit::{Broadcast, BroadcastRecvError, Event, Policy, Selectable, Semaphore};

#[test]
fn child() {
    common::child_main(run_role);
}

const LIMIT: Duration = Duration::from_secs(60);

fn run_role(role: &str, args: &[String]) -> i32 {
    match role {
        // Publishes one message after a moment, then lingers until killed.
        "publish-later" => {
            let b = Broadcast::<u64>::open(&args[0]).expect("open");
            let mut p = b.publisher().expect("publisher");
            say("READY");
            std::thread::sleep(Duration::from_millis(100));
            p.send(42).expect("send");
            loop {
                std::thread::sleep(Duration::from_secs(1));
            }
        }
        "release-later" => {
            let s = Semaphore::open(&args[0]).expect("open");
            say("READY");
            std::thread::sleep(Duration::from_millis(100));
            s.release().expect("release");
            0
        }
        _ => 2,
    }
}

#[test]
fn nothing_ready_times_out_and_a_poll_answers_at_once() {
    let names = Names::new("sel-none", 3);
    let (e, s, b) = (names.get(0).to_owned(), names.get(1).to_owned(), names.get(2).to_owned());
    watchdog(LIMIT, "nothing ready", move || {
        let ev = Event::create(&e).unwrap();
        let sem = Semaphore::create(&s, 0).unwrap();
        let bc = Broadcast::<u64>::create(&b, 8, Policy::Lossy).unwrap();
        let sub = bc.subscribe().unwrap();
        let objects: [&dyn Selectable; 3] = [&ev, &sem, &sub];
        assert_eq!(shmkit::try_wait_any(&objects), None);
        let t = Instant::now();
        assert_eq!(shmkit::wait_any_timeout(&objects, Duration::from_millis(50)), None);
        assert!(t.elapsed() >= Duration::from_millis(50), "waited the timeout");
        assert_eq!(shmkit::wait_any_deadline(&objects, Instant::now()), None);
        sem.release().unwrap();
        assert_eq!(shmkit::try_wait_any(&objects), Some(1));
        ev.set();
        assert_eq!(shmkit::try_wait_any(&objects), Some(0), "the first ready one, in order");
        assert!(sem.try_acquire(), "readiness took nothing");
        eprintln!("futex_waitv here: {}", shmkit::futex_waitv_available());
    });
}

#[test]
fn an_event_set_by_another_thread_wakes_the_wait() {
    let names = Names::new("sel-event", 2);
    let (e, s) = (names.get(0).to_owned(), names.get(1).to_owned());
    watchdog(LIMIT, "event wakes", move || {
        let ev = Event::create(&e).unwrap();
        let sem = Semaphore::create(&s, 0).unwrap();
        let setter = {
            let e = e.clone();
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(50));
                Event::open(&e).unwrap().set();
            })
        };
        assert_eq!(shmkit::wait_any(&[&sem, &ev]), 1);
        setter.join().unwrap();
        // A pulse (set, then clear) that came during the wait still counts.
        ev.clear();
        let pulser = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            let ev = Event::open(&e).unwrap();
            ev.set();
            ev.clear();
        });
        assert_eq!(shmkit::wait_any_timeout(&[&sem, &ev], Duration::from_secs(20)), Some(1));
        pulser.join().unwrap();
    });
}

#[test]
fn a_message_or_permit_from_another_process_wakes_the_wait() {
    let names = Names::new("sel-procs", 2);
    let (b, s) = (names.get(0).to_owned(), names.get(1).to_owned());
    watchdog(LIMIT, "process wakes", move || {
        let bc = Broadcast::<u64>::create(&b, 8, Policy::Lossless).unwrap();
        let sem = Semaphore::create(&s, 0).unwrap();
        let mut sub = bc.subscribe().unwrap();
        let mut publisher = Child::spawn_piped("publish-later", &[&b]);
        publisher.expect_line("READY");
        assert_eq!(shmkit::wait_any_timeout(&[&sem, &sub], Duration::from_secs(20)), Some(1));
        assert_eq!(sub.try_recv(), Ok(42), "the message is still there");
        let mut releaser = Child::spawn_piped("release-later", &[&s]);
        releaser.expect_line("READY");
        assert_eq!(shmkit::wait_any_timeout(&[&sem, &sub], Duration::from_secs(20)), Some(0));
        releaser.expect_success(LIMIT);
        assert!(sem.try_acquire());
        // The publisher dies: the subscriber is ready (end of stream).
        publisher.kill();
        assert_eq!(shmkit::wait_any_timeout(&[&sem, &sub], Duration::from_secs(20)), Some(1));
        assert_eq!(sub.try_recv(), Err(BroadcastRecvError::Disconnected));
    });
}

#[test]
fn a_blocked_acquirer_is_not_starved_by_a_wait_that_took_its_wake() {
    let names = Names::new("sel-pass", 1);
    let s = names.get(0).to_owned();
    watchdog(LIMIT, "wake passed on", move || {
        let sem = Semaphore::create(&s, 0).unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let acquirer = {
            let s = s.clone();
            std::thread::spawn(move || {
                let sem = Semaphore::open(&s).unwrap();
                sem.acquire();
                tx.send(()).unwrap();
            })
        };
        let waiter = {
            let s = s.clone();
            std::thread::spawn(move || {
                let sem = Semaphore::open(&s).unwrap();
                shmkit::wait_any_timeout(&[&sem], Duration::from_secs(20))
            })
        };
        std::thread::sleep(Duration::from_millis(50));
        sem.release().unwrap();
        rx.recv_timeout(Duration::from_secs(20)).expect("the acquirer got the permit");
        acquirer.join().unwrap();
        // The wait may have seen that permit before the acquirer took it;
        // if not, this one ends it.
        sem.release().unwrap();
        assert_eq!(waiter.join().unwrap(), Some(0));
    });
}
