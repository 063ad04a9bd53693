//! Queue<T> across real processes: delivery, order, disconnection, crashes.

mod common;

use std::time::{Duration, Instant};

use common::{Child, Names, say, watchdog};
use shmkit::{Queue, RecvTimeoutError, TryRecvError, TrySendError, failpoint};

#[test]
fn child() {
    common::child_main(run_role);
}

/// A message whose fields check each other: a torn write cannot pass.
fn message(sender: u64, seq: u64) -> [u64; 4] {
    [sender, seq, !seq, seq.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ sender]
}

fn intact(m: &[u64; 4]) -> bool {
    *m == message(m[0], m[1])
}

fn run_role(role: &str, args: &[String]) -> i32 {
    match role {
        "send" => {
            let q = Queue::<u64>::open(&args[0]).expect("open queue");
            let id: u64 = args[1].parse().expect("id");
            let n: u64 = args[2].parse().expect("n");
            let tx = q.sender().unwrap();
            for seq in 0..n {
                tx.send((id << 32) | seq).expect("receivers are there");
            }
            0
        }
        "recv" => {
            let q = Queue::<u64>::open(&args[0]).expect("open queue");
            let rx = q.receiver().unwrap();
            say("READY");
            let (mut count, mut sum, mut hash, mut last) = ([0u64; 2], [0u64; 2], [0u64; 2], [None::<u64>; 2]);
            while let Ok(v) = rx.recv() {
                let (id, seq) = ((v >> 32) as usize, v & 0xffff_ffff);
                assert!(id < 2, "sender id {id}");
                assert!(last[id].is_none_or(|l| seq > l), "out of order from sender {id}: {seq} after {last:?}");
                last[id] = Some(seq);
                count[id] += 1;
                sum[id] += seq;
                hash[id] ^= common::mix(seq);
            }
            say(&format!("RESULT {} {} {} {} {} {}", count[0], sum[0], hash[0], count[1], sum[1], hash[1]));
            0
        }
        "flood" => {
            let q = Queue::<[u64; 4]>::open(&args[0]).expect("open queue");
            let id: u64 = args[1].parse().expect("id");
            let tx = q.sender().unwrap();
            say("READY");
            let mut seq = 0;
            loop {
                if tx.send_timeout(message(id, seq), Duration::from_secs(60)).is_ok() {
                    seq += 1;
                }
            }
        }
        "park-send" => {
            let q = Queue::<[u64; 4]>::open(&args[0]).expect("open queue");
            let tx = q.sender().unwrap();
            failpoint::set(args[1].parse().expect("failpoint"));
            say("PARKING");
            let _ = tx.send(message(7, 7));
            1
        }
        "park-recv" => {
            let q = Queue::<[u64; 4]>::open(&args[0]).expect("open queue");
            let rx = q.receiver().unwrap();
            failpoint::set(failpoint::QUEUE_AFTER_READ_CLAIM);
            say("PARKING");
            let _ = rx.recv();
            1
        }
        "work" => {
            let q = Queue::<u64>::open(&args[0]).expect("open queue");
            let rx = q.receiver().unwrap();
            for _ in 0..args[1].parse::<u32>().expect("count") {
                rx.recv().expect("message");
                std::thread::sleep(Duration::from_millis(2));
                rx.task_done().expect("task_done");
            }
            0
        }
        "hold-recv" => {
            let q = Queue::<u64>::open(&args[0]).expect("open queue");
            let _rx = q.receiver().unwrap();
            say("READY");
            std::thread::sleep(Duration::from_secs(600));
            0
        }
        "park-spsc" => {
            let q = Queue::<u64>::open(&args[0]).expect("open queue");
            let _tx = q.sender().expect("the sending end");
            say("READY");
            std::thread::sleep(Duration::from_secs(600));
            0
        }
        "spsc-drain" => {
            let q = Queue::<u64>::open(&args[0]).expect("open queue");
            let rx = q.receiver().expect("the receiving end");
            say("READY");
            loop {
                match rx.recv() {
                    Ok(v) => say(&format!("GOT {v}")),
                    Err(_) => return 1,
                }
            }
        }
        "spsc-flood" => {
            let q = Queue::<[u64; 4]>::open(&args[0]).expect("open queue");
            let from: u64 = args[1].parse().expect("from");
            let tx = q.sender().expect("the sending end");
            say("READY");
            for seq in from.. {
                if tx.send_timeout(message(0, seq), Duration::from_secs(60)).is_err() {
                    return 1;
                }
            }
            0
        }
        "spsc-send" => {
            let q = Queue::<u64>::open(&args[0]).expect("open queue");
            assert!(q.is_spsc());
            let n: u64 = args[1].parse().expect("n");
            let tx = q.sender().expect("the sending end");
            let mut seq = 0;
            while seq < n {
                // Alternate single sends and batches of up to 100.
                let k = (common::mix(seq) % 100 + 1).min(n - seq);
                if seq % 2 == 0 {
                    let batch: Vec<u64> = (seq..seq + k).collect();
                    tx.send_batch(&batch).expect("receiver is there");
                } else {
                    for v in seq..seq + k {
                        tx.send(v).expect("receiver is there");
                    }
                }
                seq += k;
            }
            0
        }
        "lin" => {
            // One party of the crossbeam-style loops: `recv` sends then
            // polls, `send` polls to send then receives; every poll must
            // succeed. Prints how many it made.
            let q = Queue::<[u64; 512]>::open(&args[0]).expect("open queue");
            let n: u64 = args[2].parse().expect("count");
            let (tx, rx) = (q.sender().unwrap(), q.receiver().unwrap());
            say("READY");
            for i in 0..n {
                if args[1] == "recv" {
                    tx.send(big(i)).expect("receivers are there");
                    if let Err(e) = rx.try_recv() {
                        say(&format!("FAILED try_recv {e:?} at {i}, len {}", q.len()));
                        return 1;
                    }
                } else {
                    if let Err(e) = tx.try_send(big(i)) {
                        say(&format!("FAILED try_send {e:?} at {i}, len {}", q.len()));
                        return 1;
                    }
                    rx.recv().expect("senders are there");
                }
            }
            say("DONE");
            0
        }
        "recv-some" => {
            // Receives `args[1]` messages, then drops its end and exits.
            let q = Queue::<u64>::open(&args[0]).expect("open queue");
            let rx = q.receiver().expect("the receiving end");
            for _ in 0..args[1].parse::<u32>().expect("count") {
                rx.recv().expect("a message");
            }
            say("DONE");
            0
        }
        other => panic!("unknown role {other}"),
    }
}

#[test]
fn two_senders_two_receivers_exactly_once_in_order() {
    let names = Names::new("q-mpmc", 1);
    let name = names.get(0).to_owned();
    watchdog(Duration::from_secs(240), "two_senders_two_receivers", move || {
        const N: u64 = 200_000;
        let _q = Queue::<u64>::create(&name, 1024).unwrap();
        let mut receivers: Vec<Child> = (0..2).map(|_| Child::spawn_piped("recv", &[&name])).collect();
        for r in &mut receivers {
            r.expect_line("READY");
        }
        let n = N.to_string();
        let senders: Vec<Child> = (0..2).map(|id| Child::spawn("send", &[&name, &id.to_string(), &n])).collect();
        for s in senders {
            s.expect_success(Duration::from_secs(200));
        }
        let (mut count, mut sum, mut hash) = ([0u64; 2], [0u64; 2], [0u64; 2]);
        for mut r in receivers {
            let line = r.expect_line("RESULT ");
            let f: Vec<u64> = line.split_whitespace().map(|x| x.parse().unwrap()).collect();
            for id in 0..2 {
                count[id] += f[3 * id];
                sum[id] += f[3 * id + 1];
                hash[id] ^= f[3 * id + 2];
            }
            // Receivers end with Disconnected once the senders have exited.
            r.expect_success(Duration::from_secs(30));
        }
        let want_hash = (0..N).fold(0, |h, s| h ^ common::mix(s));
        for id in 0..2 {
            assert_eq!(count[id], N, "sender {id}: every item delivered once");
            assert_eq!(sum[id], N * (N - 1) / 2, "sender {id}: no item duplicated or lost");
            assert_eq!(hash[id], want_hash, "sender {id}: the very items sent");
        }
    });
}

#[test]
fn killed_senders_never_tear_and_lose_no_capacity() {
    let names = Names::new("q-crash", 1);
    let name = names.get(0).to_owned();
    watchdog(Duration::from_secs(280), "killed_senders", move || {
        let rounds: u32 = std::env::var("SHMKIT_CRASH_ROUNDS").ok().and_then(|s| s.parse().ok()).unwrap_or(1000);
        let q = Queue::<[u64; 4]>::create(&name, 64).unwrap();
        let rx = q.receiver().unwrap();
        let mut seed = 0x2545_f491_4f6c_dd1du64 ^ u64::from(std::process::id());
        eprintln!("seed {seed:#x}, {rounds} rounds");
        let mut received = 0u64;
        // Takes at most `max` messages (the sender may outpace us).
        let drain = |rx: &shmkit::Receiver<[u64; 4]>, received: &mut u64, max: u64| {
            for _ in 0..max {
                let Ok(m) = rx.try_recv() else { break };
                assert!(intact(&m), "torn message {m:x?}");
                *received += 1;
            }
        };
        for round in 0..rounds {
            let mut c = Child::spawn_piped("flood", &[&name, &round.to_string()]);
            c.expect_line("READY");
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            // Receive while the sender runs, then kill it at a random moment.
            let until = Instant::now() + Duration::from_micros(seed % 2000);
            while Instant::now() < until {
                drain(&rx, &mut received, 64);
            }
            c.kill();
            drain(&rx, &mut received, u64::MAX);
        }
        // Everything a dead sender claimed is skipped once seen dead: the
        // queue drains completely and takes its full capacity again.
        let deadline = Instant::now() + Duration::from_secs(30);
        while !q.is_empty() && Instant::now() < deadline {
            match rx.recv_timeout(Duration::from_millis(50)) {
                Ok(m) => assert!(intact(&m), "torn message {m:x?}"),
                Err(RecvTimeoutError::Timeout) | Err(RecvTimeoutError::Disconnected) => {}
            }
        }
        assert!(q.is_empty(), "dead claims were not reclaimed");
        let tx = q.sender().unwrap();
        for i in 0..q.capacity() as u64 {
            assert!(tx.try_send(message(99, i)).is_ok(), "capacity lost: slot {i} of {}", q.capacity());
        }
        assert!(matches!(tx.try_send(message(99, 0)), Err(TrySendError::Full(_))));
        for i in 0..q.capacity() as u64 {
            assert_eq!(rx.try_recv(), Ok(message(99, i)));
        }
        eprintln!("{rounds} senders killed, {received} intact messages received");
    });
}

#[test]
fn stopped_sender_keeps_its_claim_and_a_dead_one_is_skipped() {
    for point in [failpoint::QUEUE_AFTER_CLAIM, failpoint::QUEUE_BEFORE_COMMIT] {
        let names = Names::new("q-claim", 1);
        let name = names.get(0).to_owned();
        watchdog(Duration::from_secs(60), "stopped_sender", move || {
            let q = Queue::<[u64; 4]>::create(&name, 8).unwrap();
            let rx = q.receiver().unwrap();
            let tx = q.sender().unwrap();
            let mut c = Child::spawn_piped("park-send", &[&name, &point.to_string()]);
            c.expect_line("PARKING");
            // Wait until the child holds its claim (the queue shows it).
            let start = Instant::now();
            while q.is_empty() && start.elapsed() < Duration::from_secs(10) {
                std::thread::sleep(Duration::from_millis(1));
            }
            assert_eq!(q.len(), 1, "the child claimed a slot");
            c.signal(libc::SIGSTOP);
            tx.send(message(1, 1)).unwrap();
            // A stopped sender is alive: its claim is not stolen, and the
            // message behind it waits.
            assert_eq!(rx.recv_timeout(Duration::from_millis(200)), Err(RecvTimeoutError::Timeout));
            c.kill();
            // Dead: its claim is skipped, and nothing torn comes out.
            assert_eq!(rx.recv_timeout(Duration::from_secs(10)), Ok(message(1, 1)));
            assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
        });
    }
}

#[test]
fn dead_reader_claim_is_freed_for_senders() {
    let names = Names::new("q-reader", 1);
    let name = names.get(0).to_owned();
    watchdog(Duration::from_secs(60), "dead_reader", move || {
        let q = Queue::<[u64; 4]>::create(&name, 4).unwrap();
        let tx = q.sender().unwrap();
        let mut c = Child::spawn_piped("park-recv", &[&name]);
        c.expect_line("PARKING");
        tx.send(message(1, 0)).unwrap();
        // Fill up: the child holds slot 0 in READING until it dies.
        for i in 1..4 {
            tx.send(message(1, i)).unwrap();
        }
        assert!(tx.send_timeout(message(1, 9), Duration::from_millis(100)).is_err());
        c.kill();
        let rx = q.receiver().unwrap();
        assert_eq!(rx.recv_timeout(Duration::from_secs(5)), Ok(message(1, 1)));
        // Two free slots now: the one just read and the dead reader's.
        tx.send_timeout(message(1, 4), Duration::from_secs(5)).expect("slot freed");
        tx.send_timeout(message(1, 5), Duration::from_secs(5)).expect("dead reader's slot reclaimed");
    });
}

#[test]
fn disconnection_timeouts_and_full() {
    let names = Names::new("q-disc", 1);
    let name = names.get(0).to_owned();
    watchdog(Duration::from_secs(60), "disconnection", move || {
        let q = Queue::<u64>::create(&name, 2).unwrap();
        let rx = q.receiver().unwrap();
        // No sender ever attached: wait, do not report Disconnected.
        assert_eq!(rx.recv_timeout(Duration::from_millis(20)), Err(RecvTimeoutError::Timeout));
        assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
        let tx = q.sender().unwrap();
        tx.try_send(1).unwrap();
        tx.try_send(2).unwrap();
        assert_eq!(tx.try_send(3), Err(TrySendError::Full(3)));
        let t0 = Instant::now();
        assert!(tx.send_timeout(3, Duration::from_millis(30)).is_err());
        assert!(t0.elapsed() >= Duration::from_millis(30));
        assert_eq!(rx.recv(), Ok(1));
        drop(tx);
        // Senders gone: what was sent still arrives, then Disconnected.
        assert_eq!(rx.recv(), Ok(2));
        assert_eq!(rx.recv(), Err(shmkit::RecvError));
        assert_eq!(rx.try_recv(), Err(TryRecvError::Disconnected));
        // Receivers gone: send hands the value back.
        let tx = q.sender().unwrap();
        drop(rx);
        assert_eq!(tx.send(5), Err(shmkit::SendError::Disconnected(5)));
    });
}

#[test]
fn killed_receiver_is_noticed_by_a_blocked_sender() {
    let names = Names::new("q-krecv", 1);
    let name = names.get(0).to_owned();
    watchdog(Duration::from_secs(60), "killed_receiver", move || {
        let q = Queue::<u64>::create(&name, 2).unwrap();
        let mut c = Child::spawn_piped("hold-recv", &[&name]);
        c.expect_line("READY");
        let tx = q.sender().unwrap();
        tx.send(1).unwrap();
        tx.send(2).unwrap();
        c.kill();
        assert_eq!(tx.send(3), Err(shmkit::SendError::Disconnected(3)));
    });
}

#[test]
fn killed_sender_disconnects_receivers() {
    let names = Names::new("q-ksend", 1);
    let name = names.get(0).to_owned();
    watchdog(Duration::from_secs(60), "killed_sender", move || {
        let q = Queue::<[u64; 4]>::create(&name, 1024).unwrap();
        let rx = q.receiver().unwrap();
        let mut c = Child::spawn_piped("flood", &[&name, "1"]);
        c.expect_line("READY");
        assert!(intact(&rx.recv().unwrap()));
        c.kill();
        let t0 = Instant::now();
        while let Ok(m) = rx.recv() {
            assert!(intact(&m));
        }
        eprintln!("Disconnected {:?} after the last sender was killed (after draining)", t0.elapsed());
    });
}

#[test]
fn join_waits_for_task_done_across_processes() {
    let names = Names::new("q-join", 2);
    let (name, spsc_name) = (names.get(0).to_owned(), names.get(1).to_owned());
    watchdog(Duration::from_secs(60), "join", move || {
        for (name, spsc) in [(&name, false), (&spsc_name, true)] {
            let q = if spsc {
                Queue::<u64>::create_spsc_joinable(name, 16).unwrap()
            } else {
                Queue::<u64>::create_joinable(name, 16).unwrap()
            };
            let tx = q.sender().unwrap();
            // A batch counts each of its messages.
            tx.send_batch(&[0, 1, 2, 3]).unwrap();
            for i in 4..10 {
                tx.send(i).unwrap();
            }
            assert_eq!(q.unfinished(), 10, "spsc: {spsc}");
            assert!(!q.join_timeout(Duration::from_millis(20)), "nothing was marked done yet");
            let worker = Child::spawn("work", &[name, "10"]);
            let t0 = Instant::now();
            q.join();
            eprintln!("join (spsc: {spsc}) returned {:?} after the worker started", t0.elapsed());
            assert_eq!(q.unfinished(), 0);
            worker.expect_success(Duration::from_secs(30));
            // One task_done too many is an error, as in Python.
            assert_eq!(q.receiver().unwrap().task_done(), Err(shmkit::TaskDoneError));
        }
        // A plain queue is never joinable.
        let plain = Names::new("q-plain", 2);
        for (i, p) in
            [Queue::<u64>::create(plain.get(0), 4), Queue::<u64>::create_spsc(plain.get(1), 4)].into_iter().enumerate()
        {
            let p = p.unwrap();
            p.sender().unwrap().send(1).unwrap();
            assert_eq!(p.unfinished(), 0, "plain queue {i}");
            p.join();
            assert_eq!(p.receiver().unwrap().task_done(), Err(shmkit::TaskDoneError));
        }
    });
}

#[test]
fn spin_strategy_still_times_out_and_disconnects() {
    let names = Names::new("q-spin", 1);
    let name = names.get(0).to_owned();
    watchdog(Duration::from_secs(60), "queue spin strategy", move || {
        let q = Queue::<u64>::create(&name, 2).unwrap();
        let rx = q.receiver().unwrap().with_wait_strategy(shmkit::WaitStrategy::Spin);
        let tx = q.sender().unwrap().with_wait_strategy(shmkit::WaitStrategy::Spin);
        assert_eq!(rx.recv_timeout(Duration::from_millis(20)), Err(RecvTimeoutError::Timeout));
        tx.send(1).unwrap();
        tx.send(2).unwrap();
        assert!(tx.send_timeout(3, Duration::from_millis(20)).is_err());
        drop(tx);
        assert_eq!(rx.recv(), Ok(1));
        assert_eq!(rx.recv(), Ok(2));
        assert_eq!(rx.recv(), Err(shmkit::RecvError));
    });
}

#[test]
fn join_returns_after_a_sender_dies_mid_send() {
    let names = Names::new("q-joindead", 1);
    let name = names.get(0).to_owned();
    watchdog(Duration::from_secs(60), "join after a dead sender", move || {
        let q = Queue::<[u64; 4]>::create_joinable(&name, 8).unwrap();
        let rx = q.receiver().unwrap();
        let mut c = Child::spawn_piped("park-send", &[&name, &failpoint::QUEUE_AFTER_CLAIM.to_string()]);
        c.expect_line("PARKING");
        let start = Instant::now();
        // Wait for the claim itself (the count comes just before it).
        while q.is_empty() && start.elapsed() < Duration::from_secs(10) {
            std::thread::sleep(Duration::from_millis(1));
        }
        assert_eq!((q.len(), q.unfinished()), (1, 1), "the parked send is claimed and counted");
        c.kill();
        // The receiver skips the dead claim; its count goes with it.
        assert!(rx.recv_timeout(Duration::from_millis(200)).is_err());
        assert!(q.join_timeout(Duration::from_secs(5)), "join must not wait for a message that will never come");
    });
}

#[test]
fn single_producer_queue_delivers_in_order_and_holds_its_ends() {
    let names = Names::new("q-spsc", 1);
    let name = names.get(0).to_owned();
    watchdog(Duration::from_secs(120), "spsc", move || {
        const N: u64 = 300_000;
        let q = Queue::<u64>::create_spsc(&name, 256).unwrap();
        assert!(q.is_spsc());
        let rx = q.receiver().unwrap();
        assert!(matches!(q.receiver(), Err(shmkit::Error::Busy { .. })));
        assert!(matches!(rx.try_clone(), Err(shmkit::Error::Busy { .. })));
        let err = Queue::<u32>::open(&name).unwrap_err();
        assert!(matches!(err, shmkit::Error::WrongType { .. }), "{err}");

        let sender = Child::spawn("spsc-send", &[&name, &N.to_string()]);
        let mut next = 0;
        let mut buf = [0u64; 64];
        while next < N {
            if next % 3 == 0 {
                let k = rx.recv_batch(&mut buf).expect("messages");
                for &v in &buf[..k] {
                    assert_eq!(v, next, "batched receive out of order");
                    next += 1;
                }
            } else {
                assert_eq!(rx.recv(), Ok(next));
                next += 1;
            }
        }
        assert_eq!(rx.recv(), Err(shmkit::RecvError), "the sender exited: disconnected");
        sender.expect_success(Duration::from_secs(30));

        // A dead sender's end is taken over; a live one's is not.
        let mut holder = Child::spawn_piped("park-spsc", &[&name]);
        holder.expect_line("READY");
        assert!(matches!(q.sender(), Err(shmkit::Error::Busy { .. })));
        holder.kill();
        let tx = q.sender().expect("a dead sender's end is taken over");
        assert_eq!(tx.try_send(5), Ok(()));
        assert_eq!(rx.try_recv(), Ok(5));
        while tx.try_send(1).is_ok() {}
        assert_eq!(q.len(), q.capacity());
        assert_eq!(tx.try_send(9), Err(TrySendError::Full(9)));
    });
}

/// A single-producer queue's receivers killed at random points: each
/// successor goes on where the dead one's received messages end. A message
/// is never delivered twice, and the only one that can go missing is the
/// one a receiver had in hand when it died (received, not yet reported).
#[test]
fn single_producer_receivers_killed_at_random_points_resume_in_order() {
    let rounds: u64 = std::env::var("SHMKIT_CRASH_ROUNDS").ok().and_then(|v| v.parse().ok()).unwrap_or(1000) / 20;
    let names = Names::new("q-spsc-rcrash", 1);
    let name = names.get(0).to_owned();
    watchdog(Duration::from_secs(60 + rounds), "spsc receiver kills", move || {
        let q = Queue::<u64>::create_spsc(&name, 64).unwrap();
        let tx = q.sender().unwrap();
        let mut sent = 0u64;
        let top_up = |sent: &mut u64| {
            while tx.try_send(*sent).is_ok() {
                *sent += 1;
            }
        };
        let (mut next, mut slack) = (0u64, 0u64);
        let check = |got: &[u64], next: &mut u64, slack: &mut u64| {
            if let Some(&first) = got.first() {
                assert!(first >= *next, "message {first} delivered again (next was {next})");
                assert!(first <= *next + *slack, "messages {next}..{first} lost (at most {slack} in dead hands)");
                for w in got.windows(2) {
                    assert_eq!(w[1], w[0] + 1, "out of order or lost: {got:?}");
                }
                *next = got[got.len() - 1] + 1;
                *slack = 0;
            }
        };
        for round in 0..rounds {
            top_up(&mut sent);
            let mut child = Child::spawn_piped("spsc-drain", &[&name]);
            child.expect_line("READY");
            let mut got = Vec::new();
            for _ in 0..common::mix(round) % 150 {
                let line = child.read_line();
                got.push(line.strip_prefix("GOT ").and_then(|v| v.parse().ok()).expect("a GOT line"));
                top_up(&mut sent);
            }
            child.signal(libc::SIGKILL);
            // The lines it wrote before it died.
            loop {
                let line = child.read_line();
                let Some(v) = line.strip_prefix("GOT ") else { break };
                got.push(v.parse().expect("a number"));
            }
            assert_eq!(child.wait(Duration::from_secs(10)), None, "killed by the signal");
            check(&got, &mut next, &mut slack);
            slack += 1;
        }
        // A last receiver takes the rest, whole and in order.
        let rx = q.receiver().unwrap();
        let mut rest = Vec::new();
        while let Ok(v) = rx.try_recv() {
            rest.push(v);
        }
        check(&rest, &mut next, &mut slack);
        assert!(next <= sent && sent - next <= slack, "received up to {next} of {sent}");
        eprintln!("{rounds} receiver kills, {sent} messages");
    });
}

#[test]
fn single_producer_senders_killed_at_random_points_never_tear_or_lose() {
    let rounds: u64 = std::env::var("SHMKIT_CRASH_ROUNDS").ok().and_then(|v| v.parse().ok()).unwrap_or(1000) / 4;
    let names = Names::new("q-spsc-crash", 1);
    let name = names.get(0).to_owned();
    watchdog(Duration::from_secs(60 + rounds / 2), "spsc_random_kills", move || {
        let q = Queue::<[u64; 4]>::create_spsc(&name, 64).unwrap();
        let rx = q.receiver().unwrap();
        let mut next = 0;
        for round in 0..rounds {
            let mut child = Child::spawn_piped("spsc-flood", &[&name, &next.to_string()]);
            child.expect_line("READY");
            for _ in 0..common::mix(round) % 200 {
                let m = rx.recv().expect("a message");
                assert!(intact(&m) && m[1] == next, "message {next}: got {m:?}");
                next += 1;
            }
            child.kill();
            // Whatever the dead sender published arrives whole and in
            // order, then the end of the stream.
            loop {
                match rx.recv_timeout(Duration::from_secs(10)) {
                    Ok(m) => {
                        assert!(intact(&m) && m[1] == next, "message {next}: got {m:?}");
                        next += 1;
                    }
                    Err(RecvTimeoutError::Disconnected) => break,
                    Err(e) => panic!("after a kill: {e:?}"),
                }
            }
        }
        // No slot lost: the whole capacity fills again.
        let tx = q.sender().unwrap();
        let mut n = 0;
        while tx.try_send(message(1, n)).is_ok() {
            n += 1;
        }
        assert_eq!(n as usize, q.capacity());
        eprintln!("{rounds} kills, {next} messages checked");
    });
}

/// A `T` with no `Debug`: the queue's types must not need one.
#[derive(Clone, Copy, PartialEq, Eq, bytemuck::Pod, bytemuck::Zeroable)]
#[repr(C)]
struct NoDebug(u32);

impl shmkit::ShmLayout for NoDebug {
    fn type_desc() -> shmkit::TypeDesc {
        let field = shmkit::Field::new("0", 0, <u32 as shmkit::ShmLayout>::type_desc());
        shmkit::TypeDesc::structure("NoDebug", 4, 4, vec![field])
    }
}

/// The ends of a multi-producer queue clone like crossbeam's: a clone is
/// one more endpoint, so the queue is disconnected only when the last
/// clone of a side is dropped.
#[test]
fn multi_producer_ends_clone_and_each_clone_counts() {
    let names = Names::new("q-clone", 1);
    let name = names.get(0).to_owned();
    watchdog(Duration::from_secs(60), "clone", move || {
        let q = Queue::<NoDebug>::create(&name, 4).unwrap();
        let (tx, rx) = (q.sender().unwrap(), q.receiver().unwrap());
        let (tx2, rx2) = (tx.clone(), rx.clone());
        tx2.send(NoDebug(1)).unwrap();
        assert!(rx2.recv() == Ok(NoDebug(1)));
        // A clone carries its original's wait strategy and is a sender of
        // its own: dropping the original leaves the queue connected.
        drop(tx);
        assert!(rx.try_recv() == Err(TryRecvError::Empty), "a cloned sender is still there");
        let tx3 = std::thread::spawn(move || {
            tx2.send(NoDebug(2)).unwrap();
            tx2
        })
        .join()
        .unwrap();
        assert!(rx.recv() == Ok(NoDebug(2)), "a clone sends from another thread");
        drop(tx3);
        assert!(rx.try_recv() == Err(TryRecvError::Disconnected), "the last sender is gone");
        assert!(rx2.recv_timeout(Duration::from_millis(10)) == Err(RecvTimeoutError::Disconnected));

        // Receivers likewise.
        let tx = q.sender().unwrap();
        drop(rx);
        assert!(tx.try_send(NoDebug(3)).is_ok(), "a cloned receiver is still there");
        drop(rx2);
        assert!(matches!(tx.try_send(NoDebug(4)), Err(TrySendError::Disconnected(NoDebug(4)))));
    });
}

/// A single-producer queue's ends hold their end alone: `try_clone` says
/// `Busy`, and `clone` panics (there cannot be a second holder) without
/// harming the end.
#[test]
fn single_producer_ends_do_not_clone() {
    let names = Names::new("q-spsc-clone", 1);
    let q = Queue::<u64>::create_spsc(names.get(0), 4).unwrap();
    let (tx, rx) = (q.sender().unwrap(), q.receiver().unwrap());
    assert!(matches!(tx.try_clone(), Err(shmkit::Error::Busy { .. })));
    assert!(matches!(rx.try_clone(), Err(shmkit::Error::Busy { .. })));
    let tx_clone = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| tx.clone()));
    assert!(tx_clone.is_err(), "a single-producer sender has no clone");
    let rx_clone = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| rx.clone()));
    assert!(rx_clone.is_err(), "a single-producer receiver has no clone");
    tx.send(7).unwrap();
    assert_eq!(rx.recv(), Ok(7), "the ends still work");
}

/// Endpoints answer `len`, `capacity`, `is_empty` and `is_full`
/// themselves, in both flavours.
#[test]
fn endpoints_answer_len_capacity_empty_and_full() {
    let names = Names::new("q-len", 2);
    for (i, spsc) in [false, true].into_iter().enumerate() {
        let q = if spsc { Queue::<u64>::create_spsc(&names[i], 3) } else { Queue::<u64>::create(&names[i], 3) };
        let q = q.unwrap();
        let (tx, rx) = (q.sender().unwrap(), q.receiver().unwrap());
        assert_eq!((tx.capacity(), rx.capacity()), (4, 4), "rounded up to a power of two");
        assert!(tx.is_empty() && rx.is_empty() && !tx.is_full() && !rx.is_full() && !q.is_full());
        for v in 0..4 {
            tx.send(v).unwrap();
            assert_eq!((tx.len(), rx.len()), (v as usize + 1, v as usize + 1), "spsc {spsc}");
        }
        assert!(tx.is_full() && rx.is_full() && q.is_full() && !rx.is_empty(), "spsc {spsc}");
        assert_eq!(rx.recv(), Ok(0));
        assert!(!tx.is_full() && !rx.is_full());
        assert_eq!(rx.len(), 3);
    }
}

/// `try_iter` takes what is there and stops; `iter` (and `for v in &rx`)
/// waits for more and stops once every sender is gone.
#[test]
fn receiver_iterators_end_as_documented() {
    let names = Names::new("q-iter", 2);
    let mut queues = Vec::new();
    for (i, spsc) in [false, true].into_iter().enumerate() {
        let q = if spsc { Queue::<u64>::create_spsc(&names[i], 8) } else { Queue::<u64>::create(&names[i], 8) };
        queues.push(q.unwrap());
    }
    watchdog(Duration::from_secs(60), "iter", move || {
        for q in &queues {
            let (tx, rx) = (q.sender().unwrap(), q.receiver().unwrap());
            tx.send_batch(&[1, 2, 3]).unwrap();
            assert_eq!(rx.try_iter().collect::<Vec<_>>(), [1, 2, 3], "try_iter ends when empty");
            assert_eq!(rx.try_iter().next(), None);
            let producer = std::thread::spawn(move || {
                for v in 4..20 {
                    tx.send(v).unwrap();
                }
            });
            assert_eq!(rx.iter().take(2).collect::<Vec<_>>(), [4, 5]);
            let mut rest = Vec::new();
            for v in &rx {
                rest.push(v);
            }
            assert_eq!(rest, (6..20).collect::<Vec<_>>(), "iter ends once the sender is gone");
            producer.join().unwrap();
            assert_eq!(rx.try_iter().next(), None, "try_iter ends when disconnected");
        }
    });
}

/// Every queue type is `Debug` without `T: Debug`, and names its queue.
#[test]
fn queue_types_are_debug_without_t_debug() {
    let names = Names::new("q-debug", 1);
    let q = Queue::<NoDebug>::create(names.get(0), 2).unwrap();
    let (tx, rx) = (q.sender().unwrap(), q.receiver().unwrap());
    for text in [format!("{q:?}"), format!("{tx:?}"), format!("{rx:?}"), format!("{:?}", rx.iter())] {
        assert!(text.contains(names.get(0)), "{text}");
    }
    assert!(format!("{:?}", rx.try_iter()).starts_with("TryIter"));
    assert_eq!(format!("{:?}", tx.try_send(NoDebug(1))), "Ok(())");
}

/// The modes' options forms, and `open_or_create(_with)`: an existing queue
/// of `T` is opened as it is, whatever its capacity and mode. The joinable
/// modes count in each flavour, and `join` has all four forms.
#[test]
fn mode_constructors_take_options_and_open_or_create_opens_as_is() {
    let names = Names::new("q-ctor", 4);
    let opts = shmkit::OpenOptions::new().registry_slots(8);
    let spsc = Queue::<u64>::create_spsc_with(names.get(0), 4, &opts).unwrap();
    assert!(spsc.is_spsc());
    let joinable = Queue::<u64>::create_joinable_with(names.get(1), 4, &opts).unwrap();
    let both = Queue::<u64>::create_spsc_joinable_with(names.get(2), 4, &opts).unwrap();
    assert!(!joinable.is_spsc() && both.is_spsc());
    for q in [&joinable, &both] {
        let (tx, rx) = (q.sender().unwrap(), q.receiver().unwrap());
        tx.send(1).unwrap();
        assert_eq!(q.unfinished(), 1);
        assert!(!q.try_join() && !q.join_deadline(Instant::now() + Duration::from_millis(5)));
        assert_eq!(rx.recv(), Ok(1));
        rx.task_done().unwrap();
        assert!(q.try_join() && q.join_deadline(Instant::now()) && q.join_timeout(Duration::ZERO));
    }
    let made = Queue::<u64>::open_or_create_with(names.get(3), 5, &opts).unwrap();
    assert_eq!(made.capacity(), 8);
    assert_eq!(Queue::<u64>::open_or_create(names.get(3), 2).unwrap().capacity(), 8, "opened as it is");
    assert!(Queue::<u64>::open_or_create(names.get(0), 2).unwrap().is_spsc(), "opened in its mode");
    let other = Queue::<u32>::open_or_create(names.get(3), 8);
    assert!(matches!(other, Err(shmkit::Error::WrongType { .. })), "{other:?}");
}

/// Batches in every form and flavour: a `try_` or timed send sends what
/// fits and says how many; a timed receive gives up; `Disconnected` counts
/// what was sent.
#[test]
fn batch_forms_send_what_fits_and_wait_as_told() {
    let names = Names::new("q-batch", 2);
    for (i, spsc) in [false, true].into_iter().enumerate() {
        let q = if spsc { Queue::<u64>::create_spsc(&names[i], 4) } else { Queue::<u64>::create(&names[i], 4) };
        let q = q.unwrap().with_wait_strategy(shmkit::WaitStrategy::Park);
        let (tx, rx) = (q.sender().unwrap(), q.receiver().unwrap());
        let soon = || Instant::now() + Duration::from_millis(10);
        assert_eq!(tx.try_send_batch(&[1, 2, 3, 4, 5, 6]), Ok(4), "spsc {spsc}");
        assert_eq!(tx.try_send_batch(&[7]), Ok(0));
        assert_eq!(tx.send_batch_timeout(&[7], Duration::from_millis(10)), Ok(0));
        assert_eq!(tx.send_batch_deadline(&[7], soon()), Ok(0));
        let mut buf = [0u64; 8];
        assert_eq!(rx.try_recv_batch(&mut buf), Ok(4));
        assert_eq!(buf[..4], [1, 2, 3, 4]);
        assert_eq!(rx.try_recv_batch(&mut buf), Err(TryRecvError::Empty));
        assert_eq!(rx.recv_batch_timeout(&mut buf, Duration::from_millis(10)), Err(RecvTimeoutError::Timeout));
        assert_eq!(rx.recv_batch_deadline(&mut buf, soon()), Err(RecvTimeoutError::Timeout));
        assert_eq!(tx.send_batch_timeout(&[8, 9], Duration::from_secs(5)), Ok(2));
        assert_eq!(rx.recv_batch_deadline(&mut buf, Instant::now() + Duration::from_secs(5)), Ok(2));
        assert_eq!(buf[..2], [8, 9]);
        assert_eq!(rx.recv_batch_timeout(&mut [], Duration::ZERO), Ok(0));
        drop(rx);
        assert_eq!(tx.try_send_batch(&[1]), Err(shmkit::SendError::Disconnected(0)), "spsc {spsc}");
        assert_eq!(tx.send_batch_timeout(&[1], Duration::from_secs(5)), Err(shmkit::SendError::Disconnected(0)));
    }
}

/// The queue kinds the crossbeam-style tests run on.
#[derive(Clone, Copy, Debug)]
enum Mode {
    Mpmc,
    Joinable,
    Spsc,
    SpscJoinable,
}

impl Mode {
    const ALL: [Mode; 4] = [Mode::Mpmc, Mode::Joinable, Mode::Spsc, Mode::SpscJoinable];

    fn create<T: shmkit::ShmType>(self, name: &str, capacity: usize) -> Queue<T> {
        match self {
            Mode::Mpmc => Queue::create(name, capacity),
            Mode::Joinable => Queue::create_joinable(name, capacity),
            Mode::Spsc => Queue::create_spsc(name, capacity),
            Mode::SpscJoinable => Queue::create_spsc_joinable(name, capacity),
        }
        .unwrap()
    }

    fn single_producer(self) -> bool {
        matches!(self, Mode::Spsc | Mode::SpscJoinable)
    }
}

/// crossbeam-channel's `linearizable` (`send_first`) and its sending-side
/// counterpart, with capacity 4 and four threads (one holding both ends on
/// a single-producer queue), each doing `count` rounds: either send, then
/// poll to receive — a send that returned has published its message, so
/// the poll always finds one (maybe another thread's) — or poll to send,
/// then receive — at most three messages are queued (one per other
/// thread), so the poll always finds room, even while the slot next in
/// line is still being read. Messages of `T` are `msg(i)`: large ones
/// widen the window in which a slot is claimed but not yet published or
/// freed.
fn linearizable<T: shmkit::ShmType>(send_first: bool, count: u64, msg: fn(u64) -> T, modes: &[Mode]) {
    for &mode in modes {
        let names = Names::new("q-lin", 1);
        let name = names.get(0).to_owned();
        watchdog(Duration::from_secs(120), "linearizable", move || {
            let q = mode.create::<T>(&name, 4);
            let threads = if mode.single_producer() { 1 } else { 4 };
            std::thread::scope(|scope| {
                for _ in 0..threads {
                    let (tx, rx) = (q.sender().unwrap(), q.receiver().unwrap());
                    let q = &q;
                    scope.spawn(move || {
                        for i in 0..count {
                            if send_first {
                                tx.send(msg(i)).unwrap();
                                if let Err(e) = rx.try_recv() {
                                    panic!("{mode:?}: try_recv {e:?} after a completed send (len {})", q.len());
                                }
                            } else {
                                if let Err(e) = tx.try_send(msg(i)) {
                                    panic!("{mode:?}: try_send {e:?} below capacity (len {})", q.len());
                                }
                                rx.recv().unwrap();
                            }
                        }
                    });
                }
            });
            assert!(q.is_empty());
        });
    }
}

/// A 4 KiB message.
fn big(i: u64) -> [u64; 512] {
    [i; 512]
}

#[test]
fn try_recv_after_a_completed_send_never_says_empty() {
    linearizable(true, 25_000, |i| i, &Mode::ALL);
    linearizable(true, 5_000, big, &[Mode::Mpmc, Mode::Joinable]);
}

#[test]
fn try_send_below_capacity_never_says_full() {
    linearizable(false, 25_000, |i| i, &Mode::ALL);
    linearizable(false, 5_000, big, &[Mode::Mpmc, Mode::Joinable]);
}

/// Both promises with the ends on different threads, in every mode:
/// a receiver polls only for a message whose send completed and that no
/// other receiver has reserved; a sender polls only when the messages
/// sent and not yet received leave room. Every poll must succeed.
#[test]
fn polls_are_linearizable_with_separate_senders_and_receivers() {
    use std::sync::atomic::{AtomicU64, Ordering::SeqCst};
    const PER: u64 = 20_000;
    for mode in Mode::ALL {
        let names = Names::new("q-lin-ends", 1);
        let name = names.get(0).to_owned();
        watchdog(Duration::from_secs(120), "linearizable ends", move || {
            let q = mode.create(&name, 4);
            let cap = q.capacity() as u64;
            let each = if mode.single_producer() { 1 } else { 2 };
            let total = PER * each;
            // Sends completed / receives reserved (try_recv side), sends
            // reserved / receives completed (try_send side).
            let (sent, rx_reserved) = (AtomicU64::new(0), AtomicU64::new(0));
            let (tx_reserved, received) = (AtomicU64::new(0), AtomicU64::new(0));
            let reserve = |counter: &AtomicU64, limit: u64| {
                let cur = counter.load(SeqCst);
                cur < limit && counter.compare_exchange(cur, cur + 1, SeqCst, SeqCst).is_ok()
            };
            std::thread::scope(|scope| {
                for _ in 0..each {
                    // A sender: half of its messages by `send`, half by a
                    // poll that must find room.
                    let tx = q.sender().unwrap();
                    let (sent, tx_reserved, received) = (&sent, &tx_reserved, &received);
                    scope.spawn(move || {
                        let mut mine = 0;
                        while mine < PER {
                            if mine % 2 == 0 {
                                if !reserve(tx_reserved, received.load(SeqCst) + cap) {
                                    std::thread::yield_now();
                                    continue;
                                }
                                if let Err(e) = tx.try_send(mine) {
                                    panic!("{mode:?}: try_send {e:?} with room reserved");
                                }
                            } else {
                                // Reserve a place as well, so that the polls'
                                // count of what is queued stays exact.
                                while !reserve(tx_reserved, received.load(SeqCst) + cap) {
                                    std::thread::yield_now();
                                }
                                tx.send(mine).unwrap();
                            }
                            sent.fetch_add(1, SeqCst);
                            mine += 1;
                        }
                    });
                }
                for _ in 0..each {
                    // A receiver: polls for reserved messages, and receives
                    // by `recv` when it wins no reservation.
                    let rx = q.receiver().unwrap();
                    let (sent, rx_reserved, received) = (&sent, &rx_reserved, &received);
                    scope.spawn(move || {
                        while rx_reserved.load(SeqCst) < total {
                            if !reserve(rx_reserved, sent.load(SeqCst)) {
                                std::thread::yield_now();
                                continue;
                            }
                            if let Err(e) = rx.try_recv() {
                                panic!("{mode:?}: try_recv {e:?} for a completed, reserved send");
                            }
                            received.fetch_add(1, SeqCst);
                        }
                    });
                }
            });
            assert_eq!(received.load(SeqCst), total);
            assert!(q.is_empty());
        });
    }
}

/// The loops of [`linearizable`] across processes, with 4 KiB messages:
/// three processes on one queue, two sending then polling, one polling to
/// send then receiving.
#[test]
fn polls_are_linearizable_across_processes() {
    let names = Names::new("q-lin-proc", 1);
    let name = names.get(0).to_owned();
    watchdog(Duration::from_secs(180), "linearizable across processes", move || {
        let _q = Queue::<[u64; 512]>::create(&name, 4).unwrap();
        let n = "10000";
        let mut kids: Vec<Child> =
            ["recv", "recv", "send"].iter().map(|side| Child::spawn_piped("lin", &[&name, side, n])).collect();
        for k in &mut kids {
            k.expect_line("READY");
        }
        for mut k in kids {
            let line = loop {
                let line = k.read_line();
                if line.is_empty() || line.contains("DONE") || line.contains("FAILED") {
                    break line;
                }
            };
            assert!(line.contains("DONE"), "a poll failed: {line}");
            k.expect_success(Duration::from_secs(60));
        }
    });
}

/// Waits until `cond` holds (at most 10 s).
fn until(mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() && start.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// A sender parked between claim and commit holds the head: a poll waits
/// for it a bounded time, then says `Empty` (a stopped sender keeps its
/// claim, and the published message behind it is not taken out of order);
/// the next poll says so at once. Once the claimer is dead, polls skip its
/// claim and the message behind it arrives.
#[test]
fn try_recv_waits_briefly_for_a_live_claim_and_skips_a_dead_one() {
    let names = Names::new("q-poll-claim", 1);
    let name = names.get(0).to_owned();
    watchdog(Duration::from_secs(60), "poll with a parked claimer", move || {
        let q = Queue::<[u64; 4]>::create(&name, 8).unwrap();
        let (tx, rx) = (q.sender().unwrap(), q.receiver().unwrap());
        let mut c = Child::spawn_piped("park-send", &[&name, &failpoint::QUEUE_BEFORE_COMMIT.to_string()]);
        c.expect_line("PARKING");
        until(|| !q.is_empty());
        assert_eq!(q.len(), 1, "the child claimed the head slot");
        tx.send(message(1, 1)).unwrap();
        assert_eq!(q.len(), 2);
        let t0 = Instant::now();
        assert_eq!(rx.try_recv(), Err(TryRecvError::Empty), "not around the claim, and not torn");
        eprintln!("first poll behind a parked claim: {:?}", t0.elapsed());
        assert!(t0.elapsed() >= Duration::from_millis(10), "the poll waited for the claim");
        for _ in 0..10 {
            assert_eq!(rx.try_recv(), Err(TryRecvError::Empty), "the same stalled claim");
        }
        assert_eq!(q.len(), 2);
        c.kill();
        // Dead: a poll finds it out (the liveness check is due once in a
        // while) and skips the claim.
        let mut polls = 0;
        let got = loop {
            polls += 1;
            match rx.try_recv() {
                Ok(m) => break m,
                Err(TryRecvError::Empty) if polls < 5000 => {}
                Err(e) => panic!("after {polls} polls: {e:?}"),
            }
        };
        assert_eq!(got, message(1, 1), "after {polls} polls");
        assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
        assert!(q.is_empty());
    });
}

/// A receiver parked while it reads the slot next in line for the tail: the
/// queue holds three messages in four slots, and a `try_send` waits for
/// the read a bounded time, then says `Full` (the stopped reader keeps its
/// claim); the next poll says so at once. Once the reader is dead, a poll
/// frees its slot and sends.
#[test]
fn try_send_waits_briefly_for_a_live_reader_and_frees_a_dead_ones_slot() {
    let names = Names::new("q-poll-reader", 1);
    let name = names.get(0).to_owned();
    watchdog(Duration::from_secs(60), "poll with a parked reader", move || {
        let q = Queue::<[u64; 4]>::create(&name, 4).unwrap();
        let tx = q.sender().unwrap();
        let mut c = Child::spawn_piped("park-recv", &[&name]);
        c.expect_line("PARKING");
        tx.send(message(1, 0)).unwrap();
        until(|| q.is_empty());
        assert!(q.is_empty(), "the child claimed the message for reading");
        for i in 1..4 {
            tx.try_send(message(1, i)).unwrap();
        }
        assert_eq!(q.len(), 3);
        let t0 = Instant::now();
        assert!(matches!(tx.try_send(message(1, 4)), Err(TrySendError::Full(_))), "the stopped reader keeps its slot");
        eprintln!("first poll behind a parked reader: {:?}", t0.elapsed());
        assert!(t0.elapsed() >= Duration::from_millis(10), "the poll waited for the reader");
        for _ in 0..10 {
            assert!(matches!(tx.try_send(message(1, 4)), Err(TrySendError::Full(_))));
        }
        c.kill();
        let mut polls = 0;
        loop {
            polls += 1;
            match tx.try_send(message(1, 4)) {
                Ok(()) => break,
                Err(TrySendError::Full(_)) if polls < 5000 => {}
                Err(e) => panic!("after {polls} polls: {e:?}"),
            }
        }
        assert_eq!(q.len(), 4, "after {polls} polls");
        let rx = q.receiver().unwrap();
        for i in 1..5 {
            assert_eq!(rx.try_recv(), Ok(message(1, i)));
        }
    });
}

/// Once every receiver is gone, a send — single or batch, in every form
/// and mode — is `Disconnected`, queues nothing, and leaves nothing counted
/// as unfinished.
#[test]
fn sends_after_the_receivers_left_queue_nothing() {
    let names = Names::new("q-gone-batch", Mode::ALL.len());
    for (i, mode) in Mode::ALL.into_iter().enumerate() {
        let q = mode.create(&names[i], 8);
        let (tx, rx) = (q.sender().unwrap(), q.receiver().unwrap());
        tx.send(1).unwrap();
        assert_eq!(rx.recv(), Ok(1));
        if matches!(mode, Mode::Joinable | Mode::SpscJoinable) {
            rx.task_done().unwrap();
        }
        drop(rx);
        let gone = shmkit::SendError::<usize>::Disconnected;
        assert_eq!(tx.send(4), Err(shmkit::SendError::Disconnected(4)), "{mode:?}");
        assert_eq!(tx.try_send(4), Err(TrySendError::Disconnected(4)), "{mode:?}");
        assert_eq!(tx.send_batch(&[5, 6, 7]), Err(gone(0)), "{mode:?}");
        assert_eq!(tx.try_send_batch(&[5, 6, 7]), Err(gone(0)), "{mode:?}");
        assert_eq!(tx.send_batch_timeout(&[5, 6, 7], Duration::from_secs(1)), Err(gone(0)), "{mode:?}");
        assert_eq!((q.len(), q.unfinished()), (0, 0), "{mode:?}: nothing queued, nothing counted");
        assert!(q.try_join(), "{mode:?}");
    }
}

/// The same with the receiver in another process: one that exits (its end
/// released) is seen at once; one that is killed is seen once the queue is
/// full, and a batch sends what fits before, counting only that.
#[test]
fn single_producer_batches_after_the_receiving_process_left() {
    let names = Names::new("q-gone-proc", 2);
    let (a, b) = (names.get(0).to_owned(), names.get(1).to_owned());
    watchdog(Duration::from_secs(60), "batches after the receiver left", move || {
        // Exited.
        let q = Queue::<u64>::create_spsc_joinable(&a, 8).unwrap();
        let tx = q.sender().unwrap();
        tx.send_batch(&[1, 2]).unwrap();
        let mut c = Child::spawn_piped("recv-some", &[&a, "2"]);
        c.expect_line("DONE");
        c.expect_success(Duration::from_secs(10));
        assert_eq!(tx.send_batch(&[5, 6, 7]), Err(shmkit::SendError::Disconnected(0)));
        // The two received were never marked done: they stay counted.
        assert_eq!((q.len(), q.unfinished()), (0, 2));

        // Killed while holding the end.
        let q = Queue::<u64>::create_spsc_joinable(&b, 4).unwrap();
        let tx = q.sender().unwrap();
        let c = Child::spawn("recv-some", &[&b, "1000"]);
        tx.send(1).unwrap();
        until(|| q.is_empty());
        c.signal(libc::SIGSTOP);
        assert_eq!(tx.send_batch_timeout(&[10, 11], Duration::from_secs(5)), Ok(2));
        c.kill();
        assert_eq!(tx.send_batch(&[12, 13, 14, 15]), Err(shmkit::SendError::Disconnected(2)));
        assert_eq!(q.len(), 4, "what fitted stays queued");
        assert_eq!(q.unfinished(), 1 + 4, "the sent ones are counted, the refused ones are not");
    });
}

/// A message by value whose bytes depend on its number and position: a
/// byte moved, dropped or left from an earlier message shows.
fn pattern<const N: usize>(k: u64) -> [u8; N] {
    std::array::from_fn(|i| common::mix(k ^ ((i as u64) << 20)) as u8)
}

/// Receives message `k` of `rx` by one of the four forms, by `k`.
fn recv_by_form<T: shmkit::ShmType>(rx: &shmkit::Receiver<T>, k: u64) -> T {
    let soon = Duration::from_secs(5);
    match k % 4 {
        0 => rx.recv().unwrap(),
        1 => rx.try_recv().unwrap(),
        2 => rx.recv_timeout(soon).unwrap(),
        _ => rx.recv_deadline(Instant::now() + soon).unwrap(),
    }
}

/// Every by-value receive returns the message sent, byte for byte, in both
/// modes, for types of alignment 1 (odd and small sizes) and of alignment
/// 8 (the value is copied out of its slot straight into the call's
/// result).
#[test]
fn every_receive_form_returns_the_value_whole() {
    fn bytes<const N: usize>(names: &[String], at: usize) {
        for (i, spsc) in [(at, true), (at + 1, false)] {
            let q = if spsc {
                Queue::<[u8; N]>::create_spsc(&names[i], 8).unwrap()
            } else {
                Queue::<[u8; N]>::create(&names[i], 8).unwrap()
            };
            let (tx, rx) = (q.sender().unwrap(), q.receiver().unwrap());
            for k in 0..40u64 {
                tx.send(pattern::<N>(k)).unwrap();
                let got = recv_by_form(&rx, k);
                assert!(got == pattern::<N>(k), "message {k} of {N} bytes (spsc: {spsc}) changed on the way");
            }
            assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
        }
    }
    let names = Names::new("q-forms", 6);
    let owned: Vec<String> = (0..6).map(|i| names.get(i).to_owned()).collect();
    watchdog(Duration::from_secs(60), "every_receive_form", move || {
        bytes::<1001>(&owned, 0);
        bytes::<24>(&owned, 2);
        for (i, spsc) in [(4, true), (5, false)] {
            let q = if spsc {
                Queue::<[u64; 9]>::create_spsc(&owned[i], 8).unwrap()
            } else {
                Queue::<[u64; 9]>::create(&owned[i], 8).unwrap()
            };
            let (tx, rx) = (q.sender().unwrap(), q.receiver().unwrap());
            for k in 0..40u64 {
                let v: [u64; 9] = std::array::from_fn(|j| common::mix(k * 9 + j as u64));
                tx.send(v).unwrap();
                assert_eq!(recv_by_form(&rx, k), v, "message {k} (spsc: {spsc})");
            }
        }
    });
}
