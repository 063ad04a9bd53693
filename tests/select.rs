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
        assert_eq!(shmkit::wait_any(&[&sem, &ev]), Some(1));
        assert_eq!(shmkit::wait_any(&[]), None, "nothing to wait for");
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

#[test]
fn every_kind_of_receiver_wakes_the_wait_and_keeps_its_message() {
    let names = Names::new("sel-recv", 6);
    let n: Vec<String> = (0..6).map(|i| names.get(i).to_owned()).collect();
    watchdog(LIMIT, "receivers", move || {
        use shmkit::{ByteQueue, MessageQueue, Pipe, Queue};
        let stop = Event::create(&n[0]).unwrap();
        let mpmc = Queue::<u64>::create(&n[1], 8).unwrap();
        let spsc = Queue::<u64>::create_spsc(&n[2], 8).unwrap();
        let bytes = ByteQueue::create(&n[3], 4096).unwrap();
        let pipe = Pipe::create(&n[4]).unwrap();
        let msgs = MessageQueue::create(&n[5], 8, 64).unwrap();
        let (mpmc_rx, spsc_rx, mut bytes_rx, mut conn, msgs_rx) = (
            mpmc.receiver().unwrap(),
            spsc.receiver().unwrap(),
            bytes.receiver().unwrap(),
            pipe.connect().unwrap(),
            msgs.receiver().unwrap(),
        );
        // Each sender in turn, from another thread; the wait names it, and
        // the message is still there for the receive. The senders live
        // until the end (a gone sender would make its receiver ready).
        let mut mpmc_tx = Some(mpmc.sender().unwrap());
        let mut spsc_tx = Some(spsc.sender().unwrap());
        let mut bytes_tx = Some(bytes.sender().unwrap());
        let mut far = Some(Pipe::open(&n[4]).unwrap().connect().unwrap());
        let mut msgs_tx = Some(msgs.sender().unwrap());
        let later = |f: Box<dyn FnOnce() + Send>| {
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(30));
                f();
            })
        };
        for which in 1..=5 {
            let sender = match which {
                1 => {
                    let tx = mpmc_tx.take().unwrap();
                    later(Box::new(move || tx.send(1).unwrap()))
                }
                2 => {
                    let tx = spsc_tx.take().unwrap();
                    later(Box::new(move || tx.send(2).unwrap()))
                }
                3 => {
                    let mut tx = bytes_tx.take().unwrap();
                    later(Box::new(move || tx.send(b"three").unwrap()))
                }
                4 => {
                    let mut tx = far.take().unwrap();
                    later(Box::new(move || tx.send(b"four").unwrap()))
                }
                _ => {
                    let tx = msgs_tx.take().unwrap();
                    later(Box::new(move || tx.send(b"five").unwrap()))
                }
            };
            // The stop event, and the receivers from this round's on (those
            // of earlier rounds are at the end of their streams: ready).
            let mut objects: Vec<&dyn Selectable> = vec![&stop];
            objects.extend(
                [&mpmc_rx as &dyn Selectable, &spsc_rx, &bytes_rx, &conn, &msgs_rx].into_iter().skip(which - 1),
            );
            let got = shmkit::wait_any_timeout(&objects, Duration::from_secs(20));
            sender.join().unwrap(); // the sender is dropped with the closure
            assert_eq!(got, Some(1), "sender {which}");
            match which {
                1 => assert_eq!(mpmc_rx.try_recv(), Ok(1)),
                2 => assert_eq!(spsc_rx.try_recv(), Ok(2)),
                3 => assert_eq!(bytes_rx.try_recv().unwrap(), b"three"),
                4 => assert_eq!(conn.try_recv().unwrap(), b"four"),
                _ => assert_eq!(msgs_rx.try_recv().unwrap(), b"five"),
            }
            // Dropped with its thread: from now on this receiver is at the
            // end of its stream, which the next rounds must not mistake
            // for the next sender: look only at the ones still to come.
            let rest: Vec<&dyn Selectable> =
                [&mpmc_rx as &dyn Selectable, &spsc_rx, &bytes_rx, &conn, &msgs_rx].into_iter().skip(which).collect();
            assert_eq!(shmkit::try_wait_any(&rest), None, "nothing yet after round {which}");
        }
        // Senders that came and went: the end of each stream is ready too
        // (each was dropped after its send above).
        let objects: [&dyn Selectable; 5] = [&mpmc_rx, &spsc_rx, &bytes_rx, &conn, &msgs_rx];
        assert_eq!(shmkit::try_wait_any(&objects), Some(0));
        assert_eq!(shmkit::try_wait_any(&objects[1..]), Some(0));
        assert_eq!(shmkit::try_wait_any(&objects[2..]), Some(0));
        assert_eq!(shmkit::try_wait_any(&objects[3..]), Some(0));
        assert_eq!(shmkit::try_wait_any(&objects[4..]), Some(0));
    });
}

#[test]
fn a_described_mutex_or_sender_is_ready_when_its_call_would_not_wait() {
    use shmkit::ShmLayout;
    use shmkit::dynamic::{DynMutex, DynQueue};
    let names = Names::new("select-dyn", 2);
    let (m, q) = (names.get(0).to_owned(), names.get(1).to_owned());
    watchdog(Duration::from_secs(60), "described mutex and sender", move || {
        let ty = u64::type_desc();
        let mutex = DynMutex::create(&m, &ty, &[0; 8]).unwrap();
        let queue = DynQueue::create(&q, &ty, 1).unwrap();
        let (tx, rx) = (queue.sender().unwrap(), queue.receiver().unwrap());
        tx.try_send(&1u64.to_ne_bytes()).unwrap();
        let (locked_tx, locked_rx) = std::sync::mpsc::channel();
        let (go_tx, go_rx) = std::sync::mpsc::channel::<()>();
        std::thread::scope(|s| {
            // Another handle holds the lock until told to let go.
            let (m, ty) = (&m, &ty);
            s.spawn(move || {
                let holder = DynMutex::open(m, ty).unwrap();
                let mut g = holder.lock().unwrap();
                g.copy_from_slice(&5u64.to_ne_bytes());
                locked_tx.send(()).unwrap();
                go_rx.recv().unwrap();
            });
            locked_rx.recv().unwrap();
            assert_eq!(shmkit::try_wait_any(&[&mutex, &tx]), None, "locked, and the queue is full");
            assert_eq!(shmkit::wait_any_timeout(&[&mutex, &tx], Duration::from_millis(20)), None);
            go_tx.send(()).unwrap();
            assert_eq!(shmkit::wait_any(&[&tx, &mutex]), Some(1), "the unlock wakes the wait");
        });
        assert_eq!(&*mutex.try_lock().expect("the wait took nothing"), &5u64.to_ne_bytes());
        let mut got = [0; 8];
        rx.try_recv(&mut got).unwrap();
        assert_eq!(shmkit::try_wait_any(&[&mutex, &tx]), Some(0), "free, and room to send");
        assert_eq!(shmkit::try_wait_any(&[&tx]), Some(0));
    });
}
