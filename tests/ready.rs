//! ReadyFd and the async forms: a descriptor an event loop polls, and
//! futures any executor can run, both woken by the background waiter.

mod common;

#[cfg(feature = "async")]
use std::future::Future;
use std::os::fd::AsRawFd;
#[cfg(feature = "async")]
use std::pin::pin;
#[cfg(feature = "async")]
use std::sync::Arc;
#[cfg(feature = "async")]
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

use common::{Child, Names, say, watchdog};
#[cfg(feature = "async")]
use shmkit::{Broadcast, BroadcastRecvError, Mutex, Policy, RecvError, Semaphore};
use shmkit::{Event, Queue, ReadyFd};

#[test]
fn child() {
    common::child_main(run_role);
}

const LIMIT: Duration = Duration::from_secs(60);

fn run_role(role: &str, args: &[String]) -> i32 {
    match role {
        "send-later" => {
            let q = Queue::<u64>::open(&args[0]).expect("open");
            let tx = q.sender().expect("sender");
            say("READY");
            std::thread::sleep(Duration::from_millis(50));
            tx.send(7).expect("send");
            // Linger (the sender stays), until killed.
            loop {
                std::thread::sleep(Duration::from_secs(1));
            }
        }
        // Holds the mutex until told (a line on stdin is not available:
        // it holds it for 100 ms), then exits; or is killed holding it.
        "hold-lock" => {
            let m = shmkit::Mutex::<u64>::open(&args[0]).expect("open");
            let mut g = m.lock().expect("lock");
            *g = 41;
            say("HOLDING");
            let ms: u64 = args[1].parse().expect("ms");
            std::thread::sleep(Duration::from_millis(ms));
            *g = 42;
            drop(g);
            0
        }
        // Waits at the barrier after `ms` milliseconds; exits 0 if it led.
        "barrier-wait" => {
            let b = shmkit::Barrier::open(&args[0]).expect("open");
            say("READY");
            std::thread::sleep(Duration::from_millis(args[1].parse().expect("ms")));
            if b.wait().expect("the generation completes").is_leader() { 0 } else { 1 }
        }
        // Arrives at the barrier and waits there until killed.
        "barrier-stuck" => {
            let b = shmkit::Barrier::open(&args[0]).expect("open");
            let _arrival = b.arrive().expect("arrive");
            say("ARRIVED");
            loop {
                std::thread::sleep(Duration::from_secs(1));
            }
        }
        // Subscribes to a lossless broadcast and reads `n` messages slowly.
        #[cfg(feature = "async")]
        "subscribe-slowly" => {
            let b = Broadcast::<u64>::open(&args[0]).expect("open");
            let mut sub = b.subscribe().expect("subscribe");
            say("READY");
            for i in 0..args[1].parse::<u64>().expect("n") {
                std::thread::sleep(Duration::from_millis(2));
                assert_eq!(sub.recv().expect("recv"), i, "in order, none missing");
            }
            0
        }
        // Receives `n` byte messages slowly, checking each.
        "drain-bytes-slowly" => {
            let q = shmkit::ByteQueue::open(&args[0]).expect("open");
            let mut rx = q.receiver().expect("receiver");
            say("READY");
            let n: u64 = args[1].parse().expect("n");
            for i in 0..n {
                std::thread::sleep(Duration::from_millis(2));
                assert_eq!(rx.recv().expect("recv"), byte_message(i), "message {i}");
            }
            0
        }
        // Receives `n` messages slowly.
        "drain-slowly" => {
            let q = Queue::<u64>::open(&args[0]).expect("open");
            let rx = q.receiver().expect("receiver");
            say("READY");
            let n: u64 = args[1].parse().expect("n");
            for _ in 0..n {
                std::thread::sleep(Duration::from_millis(2));
                rx.recv().expect("recv");
            }
            0
        }
        _ => 2,
    }
}

/// Byte message `i`: 1 to 100 bytes, so that a small ring pads and wraps.
fn byte_message(i: u64) -> Vec<u8> {
    vec![i as u8; (common::mix(i) % 100 + 1) as usize]
}

/// Whether `fd` becomes readable within `ms` milliseconds.
fn readable(fd: &ReadyFd, ms: i32) -> bool {
    let mut pfd = libc::pollfd { fd: fd.as_raw_fd(), events: libc::POLLIN, revents: 0 };
    // SAFETY: one valid pollfd for the duration of the call.
    let n = unsafe { libc::poll(&mut pfd, 1, ms) };
    n == 1 && pfd.revents & libc::POLLIN != 0
}

#[cfg(feature = "async")]
/// A minimal executor: polls `f` on this thread, parking between wakes.
fn block_on<F: Future>(f: F) -> F::Output {
    struct Unpark(std::thread::Thread);
    impl Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    let mut f = pin!(f);
    loop {
        if let Poll::Ready(v) = f.as_mut().poll(&mut cx) {
            return v;
        }
        std::thread::park();
    }
}

#[test]
fn a_ready_fd_is_readable_while_something_is_ready_until_cleared() {
    let names = Names::new("rfd", 2);
    let (q, e) = (names.get(0).to_owned(), names.get(1).to_owned());
    watchdog(LIMIT, "ReadyFd", move || {
        let queue = Queue::<u64>::create(&q, 8).unwrap();
        let (tx, rx) = (queue.sender().unwrap(), queue.receiver().unwrap());
        let stop = Event::create(&e).unwrap();
        let fd = ReadyFd::new().unwrap();
        fd.watch(&rx).unwrap();
        fd.watch(&stop).unwrap();
        assert!(!readable(&fd, 50), "nothing ready yet");
        tx.send(1).unwrap();
        assert!(readable(&fd, 10_000), "a message makes it readable");
        assert!(readable(&fd, 0), "and it stays readable");
        assert!(fd.clear());
        // Still ready (the message is there): readable again at once.
        assert!(readable(&fd, 10_000));
        assert!(fd.clear());
        assert_eq!(rx.try_recv(), Ok(1));
        // A signal the waiter sent for the message before the receive may
        // still land: let it, and clear it; after that nothing is ready, and
        // nothing makes the descriptor readable.
        fd.clear();
        std::thread::sleep(Duration::from_millis(20));
        fd.clear();
        assert!(!readable(&fd, 50), "drained: not readable");
        stop.set();
        assert!(readable(&fd, 10_000), "the event too");
        drop(fd);
    });
}

#[test]
fn a_ready_fd_sees_a_message_from_another_process() {
    let names = Names::new("rfd-proc", 1);
    let q = names.get(0).to_owned();
    watchdog(LIMIT, "ReadyFd across processes", move || {
        let queue = Queue::<u64>::create_spsc(&q, 8).unwrap();
        let rx = queue.receiver().unwrap();
        let fd = ReadyFd::new().unwrap();
        fd.watch(&rx).unwrap();
        let mut c = Child::spawn_piped("send-later", &[&q]);
        c.expect_line("READY");
        assert!(readable(&fd, 20_000));
        fd.clear();
        assert_eq!(rx.try_recv(), Ok(7));
        // The sender dies: end of stream is ready too. (The descriptor may
        // still carry the signal of the message: wait, clear, look, as an
        // event loop does, until the end of the stream shows.)
        c.kill();
        loop {
            assert!(readable(&fd, 20_000), "a dead sender makes the end of the stream ready");
            fd.clear();
            match rx.try_recv() {
                Err(shmkit::TryRecvError::Disconnected) => break,
                Err(shmkit::TryRecvError::Empty) => {}
                other => panic!("{other:?}"),
            }
        }
    });
}

#[cfg(feature = "async")]
#[test]
fn async_receives_wait_without_blocking_and_end_with_the_stream() {
    let names = Names::new("async", 3);
    let (q, b, s) = (names.get(0).to_owned(), names.get(1).to_owned(), names.get(2).to_owned());
    watchdog(LIMIT, "async", move || {
        let queue = Queue::<u64>::create(&q, 8).unwrap();
        let rx = queue.receiver().unwrap();
        let bc = Broadcast::<u64>::create(&b, 8, Policy::Lossless).unwrap();
        let mut sub = bc.subscribe().unwrap();
        let sem = Semaphore::create(&s, 0).unwrap();
        let producer = {
            let (q, b, s) = (q.clone(), b.clone(), s.clone());
            std::thread::spawn(move || {
                let tx = Queue::<u64>::open(&q).unwrap().sender().unwrap();
                let bc = Broadcast::<u64>::open(&b).unwrap();
                let mut p = bc.publisher().unwrap();
                for i in 0..100 {
                    std::thread::sleep(Duration::from_micros(200));
                    tx.send(i).unwrap();
                    p.send(i).unwrap();
                }
                std::thread::sleep(Duration::from_millis(20));
                Semaphore::open(&s).unwrap().release().unwrap();
            })
        };
        let (sum_q, sum_b) = block_on(async {
            let (mut a, mut b) = (0, 0);
            for _ in 0..100 {
                a += rx.recv_async().await.unwrap();
                b += sub.recv_async().await.unwrap();
            }
            sem.acquire_async().await.unwrap();
            (a, b)
        });
        producer.join().unwrap();
        assert_eq!((sum_q, sum_b), (4950, 4950));
        // Every sender and the publisher are gone: the streams end.
        assert_eq!(block_on(rx.recv_async()), Err(RecvError));
        assert_eq!(block_on(sub.recv_async()), Err(BroadcastRecvError::Disconnected));
    });
}

#[cfg(feature = "async")]
#[test]
fn an_async_event_wait_completes_on_a_set_from_another_thread() {
    let names = Names::new("async-ev", 1);
    let e = names.get(0).to_owned();
    watchdog(LIMIT, "async event", move || {
        let ev = Event::create(&e).unwrap();
        let setter = {
            let e = e.clone();
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(50));
                Event::open(&e).unwrap().set();
            })
        };
        block_on(ev.wait_async()).unwrap();
        assert!(ev.is_set());
        setter.join().unwrap();
        // A dropped future leaves nothing behind: a new one still works.
        ev.clear();
        let fut = shmkit::ready(&ev).unwrap();
        drop(fut);
        ev.set();
        block_on(shmkit::ready(&ev).unwrap());
    });
}

#[cfg(feature = "async")]
/// tokio: `recv_async` in a task of a current-thread runtime, and a
/// `ReadyFd` watched by `AsyncFd`, side by side.
#[test]
fn tokio_runs_the_futures_and_watches_the_fd() {
    let names = Names::new("tokio", 2);
    let (q, e) = (names.get(0).to_owned(), names.get(1).to_owned());
    watchdog(LIMIT, "tokio", move || {
        let queue = Queue::<u64>::create(&q, 64).unwrap();
        let rx = queue.receiver().unwrap();
        let stop = Event::create(&e).unwrap();
        let fd = ReadyFd::new().unwrap();
        fd.watch(&stop).unwrap();
        let producer = {
            let (q, e) = (q.clone(), e.clone());
            std::thread::spawn(move || {
                let tx = Queue::<u64>::open(&q).unwrap().sender().unwrap();
                for i in 1..=50 {
                    std::thread::sleep(Duration::from_micros(300));
                    tx.send(i).unwrap();
                }
                std::thread::sleep(Duration::from_millis(20));
                Event::open(&e).unwrap().set();
            })
        };
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let sum = rt.block_on(async {
            // SAFETY: the AsyncFd owns the ReadyFd, which owns its eventfd:
            // the descriptor stays open and the same while it is registered.
            let fd = unsafe { tokio::io::unix::AsyncFd::register(fd) }.unwrap();
            let receiving = async {
                let mut sum = 0;
                for _ in 0..50 {
                    sum += rx.recv_async().await.unwrap();
                }
                sum
            };
            let stopping = async {
                let mut guard = fd.readable().await.unwrap();
                guard.get_inner().clear();
                guard.clear_ready();
            };
            let (sum, ()) = tokio::join!(receiving, stopping);
            sum
        });
        producer.join().unwrap();
        assert_eq!(sum, 50 * 51 / 2);
        assert!(stop.is_set());
    });
}

/// tokio across processes: `lock_async` waits for a holder in another
/// process (and takes over a killed one's lock with `OwnerDied`), and
/// `send_async` waits for room a receiver in another process makes.
#[cfg(feature = "async")]
#[test]
fn tokio_lock_and_send_wait_for_other_processes() {
    let names = Names::new("tokio-procs", 2);
    let (m, q) = (names.get(0).to_owned(), names.get(1).to_owned());
    watchdog(LIMIT, "tokio across processes", move || {
        let mutex = Mutex::<u64>::create(&m, 0).unwrap();
        let queue = Queue::<u64>::create(&q, 2).unwrap();
        let tx = queue.sender().unwrap();
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        // A live holder: the lock comes when it lets go.
        let mut holder = Child::spawn_piped("hold-lock", &[&m, "100"]);
        holder.expect_line("HOLDING");
        let seen = rt.block_on(async { *mutex.lock_async().await.unwrap() });
        assert_eq!(seen, 42);
        holder.expect_success(LIMIT);
        // A killed holder: taken over, with OwnerDied.
        let mut holder = Child::spawn_piped("hold-lock", &[&m, "60000"]);
        holder.expect_line("HOLDING");
        holder.kill();
        let died = rt.block_on(async { matches!(mutex.lock_async().await, Err(shmkit::LockError::OwnerDied(_))) });
        assert!(died, "the next locker is told the holder died");
        // A full queue: sends wait for room the other process makes (our
        // receiver, which takes nothing, keeps the queue connected after).
        let rx = queue.receiver().unwrap();
        let mut drain = Child::spawn_piped("drain-slowly", &[&q, "20"]);
        drain.expect_line("READY");
        rt.block_on(async {
            for i in 0..20 {
                tx.send_async(i).await.unwrap();
            }
        });
        drain.expect_success(LIMIT);
        // A dropped, pending send sends nothing and loses nothing.
        tx.send(100).unwrap();
        tx.send(101).unwrap();
        rt.block_on(async {
            let pending = tokio::time::timeout(Duration::from_millis(20), tx.send_async(102)).await;
            assert!(pending.is_err(), "no room: still pending when dropped");
        });
        assert_eq!((rx.try_recv(), rx.try_recv(), rx.try_recv()), (Ok(100), Ok(101), Err(shmkit::TryRecvError::Empty)));
    });
}

/// tokio: `send_async` of a byte queue's sender waits for room a receiver
/// in another process makes (messages of varying sizes through a small
/// ring, so that it pads and wraps), and a pipe end's for its peer; a
/// dropped pending send sends nothing.
#[cfg(feature = "async")]
#[test]
fn tokio_byte_sends_wait_for_room() {
    let names = Names::new("tokio-bytes", 2);
    let (bq, pipe) = (names.get(0).to_owned(), names.get(1).to_owned());
    watchdog(LIMIT, "tokio byte sends", move || {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let queue = shmkit::ByteQueue::create(&bq, 256).unwrap();
        let mut tx = queue.sender().unwrap();
        let mut drain = Child::spawn_piped("drain-bytes-slowly", &[&bq, "60"]);
        drain.expect_line("READY");
        rt.block_on(async {
            for i in 0..60 {
                tx.send_async(&byte_message(i)).await.unwrap();
            }
        });
        drain.expect_success(LIMIT);
        // The receiver is gone: a send that waits for room is told so.
        assert_eq!(rt.block_on(tx.send_async(&[0; 200])), Err(shmkit::ByteSendError::Disconnected));

        let p = shmkit::Pipe::create_with(&pipe, 256, &shmkit::OpenOptions::default()).unwrap();
        let (mut a, mut b) = (p.connect().unwrap(), p.connect().unwrap());
        while a.try_send(&[1; 40]).is_ok() {}
        rt.block_on(async {
            let pending = tokio::time::timeout(Duration::from_millis(20), a.send_async(&[2; 40])).await;
            assert!(pending.is_err(), "no room: still pending when dropped");
        });
        let mut queued = 0;
        while let Ok(m) = b.try_recv() {
            assert_eq!(m, [1; 40], "the dropped send sent nothing");
            queued += 1;
        }
        assert!(queued > 0);
        // Room made by a thread while the send waits.
        let mut full = 0;
        while a.try_send(&[1; 40]).is_ok() {
            full += 1;
        }
        let reader = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            let mut got = Vec::new();
            while got.last() != Some(&vec![3u8; 40]) {
                got.push(b.recv().unwrap());
            }
            got.len()
        });
        rt.block_on(a.send_async(&[3; 40])).unwrap();
        assert_eq!(reader.join().unwrap(), full + 1, "every message once, the waiting one last");
    });
}

#[test]
fn a_full_described_queue_sender_is_ready_once_there_is_room() {
    let names = Names::new("rfd-dyn-send", 1);
    let q = names.get(0).to_owned();
    watchdog(LIMIT, "a full described queue's sender", move || {
        let ty = <u64 as shmkit::ShmLayout>::type_desc();
        let queue = shmkit::dynamic::DynQueue::create(&q, &ty, 2).unwrap();
        let (tx, rx) = (queue.sender().unwrap(), queue.receiver().unwrap());
        for i in 0..queue.capacity() as u64 {
            tx.try_send(&i.to_ne_bytes()).unwrap();
        }
        let fd = ReadyFd::new().unwrap();
        fd.watch(&tx).unwrap();
        assert!(!readable(&fd, 50), "full: a send would block");
        assert_eq!(shmkit::try_wait_any(&[&tx]), None);
        let taker = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            let mut buf = [0u8; 8];
            rx.recv_timeout(&mut buf, LIMIT).unwrap();
            rx // a receiver stays, or the sender would be ready as disconnected
        });
        assert_eq!(shmkit::wait_any_timeout(&[&tx], LIMIT), Some(0), "room made by another thread");
        assert!(readable(&fd, 10_000), "and the descriptor says so");
        let rx = taker.join().unwrap();
        assert!(tx.try_send(&9u64.to_ne_bytes()).is_ok(), "the room is there");
        // Full again, and every receiver gone: ready too (the send fails).
        drop(rx);
        assert_eq!(shmkit::wait_any_timeout(&[&tx], LIMIT), Some(0));
    });
}

/// tokio: `Barrier::wait_async` completes with a party in another process;
/// a party killed while it waits breaks the generation (the background
/// waiter's liveness look); dropping a pending wait breaks it too.
#[cfg(feature = "async")]
#[test]
fn tokio_barrier_waits_with_other_processes() {
    let names = Names::new("tokio-barrier", 2);
    let (two, three) = (names.get(0).to_owned(), names.get(1).to_owned());
    watchdog(LIMIT, "tokio barrier", move || {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let b = shmkit::Barrier::create(&two, 2).unwrap();
        for round in 0..3 {
            let mut other = Child::spawn_piped("barrier-wait", &[&two, "30"]);
            other.expect_line("READY");
            let mine = rt.block_on(b.wait_async()).expect("completes").is_leader();
            let theirs = other.wait(LIMIT) == Some(0);
            assert!(mine ^ theirs, "round {round}: exactly one leader");
        }
        // Dropped while pending: the generation breaks.
        rt.block_on(async {
            let pending = tokio::time::timeout(Duration::from_millis(20), b.wait_async()).await;
            assert!(pending.is_err(), "alone: still pending when dropped");
        });
        assert!(b.is_broken(), "a dropped wait gives up its arrival");
        b.reset();

        // A party that arrived and was killed: found dead, the round breaks.
        let b3 = shmkit::Barrier::create(&three, 3).unwrap();
        let mut stuck = Child::spawn_piped("barrier-stuck", &[&three]);
        stuck.expect_line("ARRIVED");
        let waiting = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(30));
            stuck.kill();
        });
        let outcome = rt.block_on(b3.wait_async());
        waiting.join().unwrap();
        assert_eq!(outcome.map(|r| r.is_leader()), Err(shmkit::BarrierError::Broken));
    });
}

/// tokio: a lossless publisher's `send_async` waits for room a subscriber
/// in another process makes; a dropped pending one publishes nothing.
#[cfg(feature = "async")]
#[test]
fn tokio_publisher_waits_for_the_slowest_subscriber() {
    let names = Names::new("tokio-publish", 1);
    let name = names.get(0).to_owned();
    watchdog(LIMIT, "tokio publish", move || {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let b = Broadcast::<u64>::create(&name, 4, Policy::Lossless).unwrap();
        let mut publisher = b.publisher().unwrap();
        let mut slow = Child::spawn_piped("subscribe-slowly", &[&name, "40"]);
        slow.expect_line("READY");
        rt.block_on(async {
            for i in 0..40 {
                publisher.send_async(i).await.unwrap();
            }
        });
        slow.expect_success(LIMIT);

        let mut sub = b.subscribe().unwrap();
        for i in 100..104 {
            publisher.try_send(i).unwrap();
        }
        rt.block_on(async {
            let pending = tokio::time::timeout(Duration::from_millis(20), publisher.send_async(104)).await;
            assert!(pending.is_err(), "full: still pending when dropped");
        });
        let got: Vec<u64> = (0..4).map(|_| sub.try_recv().unwrap()).collect();
        assert_eq!(got, [100, 101, 102, 103]);
        assert_eq!(sub.try_recv(), Err(BroadcastRecvError::Empty), "the dropped send published nothing");
    });
}

/// tokio: the described (C- and Python-facing) ends wait as the typed ones
/// do: a `DynReceiver` and a `DynSubscriber` for what a typed sender and
/// publisher in another thread send, a `DynSender` for room; a buffer of
/// the wrong size is refused at once, and the streams end with their
/// senders.
#[cfg(feature = "async")]
#[test]
fn tokio_described_ends_wait_as_typed_ones() {
    let names = Names::new("tokio-dyn", 2);
    let (q, b) = (names.get(0).to_owned(), names.get(1).to_owned());
    watchdog(LIMIT, "tokio described ends", move || {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let ty = <u64 as shmkit::ShmLayout>::type_desc();
        let queue = shmkit::dynamic::DynQueue::create(&q, &ty, 2).unwrap();
        let (tx, rx) = (queue.sender().unwrap(), queue.receiver().unwrap());
        let bc = shmkit::dynamic::DynBroadcast::create(&b, &ty, 4, Policy::Lossless).unwrap();
        let mut sub = bc.subscribe().unwrap();
        let peer = {
            let (q, b) = (q.clone(), b.clone());
            std::thread::spawn(move || {
                let queue = Queue::<u64>::open(&q).unwrap();
                let (ttx, trx) = (queue.sender().unwrap(), queue.receiver().unwrap());
                let bc = Broadcast::<u64>::open(&b).unwrap();
                let mut p = bc.publisher().unwrap();
                for i in 0..50 {
                    std::thread::sleep(Duration::from_micros(200));
                    ttx.send(i).unwrap();
                    p.send(i).unwrap();
                }
                // Then take what the async sender sends, slowly.
                let mut got = Vec::new();
                for _ in 0..20 {
                    std::thread::sleep(Duration::from_micros(500));
                    got.push(trx.recv_timeout(LIMIT).unwrap());
                }
                got
            })
        };
        let (sum_q, sum_b) = rt.block_on(async {
            let (mut a, mut b) = (0, 0);
            let mut buf = [0u8; 8];
            for _ in 0..50 {
                rx.recv_async(&mut buf).await.unwrap();
                a += u64::from_ne_bytes(buf);
                sub.recv_into_async(&mut buf).await.unwrap();
                b += u64::from_ne_bytes(buf);
            }
            (a, b)
        });
        assert_eq!((sum_q, sum_b), (1225, 1225));
        let mut short = [0u8; 4];
        assert_eq!(
            rt.block_on(rx.recv_async(&mut short)),
            Err(shmkit::ByteRecvError::WrongSize { len: 4, expected: 8 }),
            "refused at once, not waited for"
        );
        assert_eq!(rt.block_on(sub.recv_into_async(&mut short)), Err(BroadcastRecvError::BufferTooSmall { len: 8 }));
        // Two slots: the sends wait for the room the peer makes.
        rt.block_on(async {
            for i in 100..120u64 {
                tx.send_async(&i.to_ne_bytes()).await.unwrap();
            }
        });
        assert_eq!(peer.join().unwrap(), (100..120).collect::<Vec<u64>>());
        // The publisher is gone: the subscriber's stream ends.
        let mut buf = [0u8; 8];
        assert_eq!(rt.block_on(sub.recv_into_async(&mut buf)), Err(BroadcastRecvError::Disconnected));
        // A dropped, pending receive takes nothing.
        rt.block_on(async {
            let pending = tokio::time::timeout(Duration::from_millis(20), rx.recv_async(&mut buf)).await;
            assert!(pending.is_err(), "empty: still pending when dropped");
        });
        tx.send(&7u64.to_ne_bytes()).unwrap();
        rx.try_recv(&mut buf).unwrap();
        assert_eq!(u64::from_ne_bytes(buf), 7);
    });
}
