//! MessageQueue across real processes and threads: delivery, order, every
//! error, zero copy, joinable, crashes.

mod common;

use std::time::{Duration, Instant};

use common::{Child, Names, say, watchdog};
use shmkit::{ByteRecvError, ByteSendError, Error, MessageQueue, failpoint};

#[test]
fn child() {
    common::child_main(run_role);
}

/// A message of a length chosen by `(sender, seq)` (0 to 299 bytes) whose
/// bytes all derive from them: a torn or mixed-up message cannot pass.
fn message(sender: u64, seq: u64) -> Vec<u8> {
    let len = (common::mix(sender << 32 | seq) % 300) as usize;
    let mut m = Vec::with_capacity(len.max(16));
    m.extend_from_slice(&sender.to_le_bytes());
    m.extend_from_slice(&seq.to_le_bytes());
    let mut x = common::mix(seq ^ sender.rotate_left(17));
    while m.len() < len {
        x = common::mix(x);
        m.push(x as u8);
    }
    m.truncate(len.max(16));
    m
}

/// The sender and sequence of an intact message.
fn decode(m: &[u8]) -> Option<(u64, u64)> {
    let sender = u64::from_le_bytes(m.get(..8)?.try_into().ok()?);
    let seq = u64::from_le_bytes(m.get(8..16)?.try_into().ok()?);
    (message(sender, seq) == m).then_some((sender, seq))
}

fn run_role(role: &str, args: &[String]) -> i32 {
    match role {
        "send" => {
            let q = MessageQueue::open(&args[0]).expect("open queue");
            let id: u64 = args[1].parse().expect("id");
            let n: u64 = args[2].parse().expect("n");
            let tx = q.sender().unwrap();
            for seq in 0..n {
                tx.send(&message(id, seq)).expect("receivers are there");
            }
            0
        }
        "recv" => {
            let q = MessageQueue::open(&args[0]).expect("open queue");
            let rx = q.receiver().unwrap();
            say("READY");
            let (mut count, mut sum, mut last) = ([0u64; 3], [0u64; 3], [None::<u64>; 3]);
            let mut buf = vec![0u8; 512];
            loop {
                // Every receive form in turn.
                let got = match count.iter().sum::<u64>() % 3 {
                    0 => rx.recv(),
                    1 => rx.recv_into(&mut buf).map(|n| buf[..n].to_vec()),
                    _ => rx.recv_with(|m| m.to_vec()),
                };
                let Ok(m) = got else { break };
                let (id, seq) = decode(&m).expect("intact message");
                let id = id as usize;
                assert!(last[id].is_none_or(|l| seq > l), "out of order from sender {id}: {seq} after {last:?}");
                last[id] = Some(seq);
                count[id] += 1;
                sum[id] += seq;
            }
            say(&format!("RESULT {} {} {} {} {} {}", count[0], sum[0], count[1], sum[1], count[2], sum[2]));
            0
        }
        "flood" => {
            let q = MessageQueue::open(&args[0]).expect("open queue");
            let id: u64 = args[1].parse().expect("id");
            let tx = q.sender().unwrap();
            say("READY");
            let mut seq = 0;
            loop {
                if tx.send_timeout(&message(id, seq), Duration::from_secs(60)).is_ok() {
                    seq += 1;
                }
            }
        }
        "park-send" => {
            let q = MessageQueue::open(&args[0]).expect("open queue");
            let tx = q.sender().unwrap();
            failpoint::set(args[1].parse().expect("failpoint"));
            say("PARKING");
            let _ = tx.send(&message(7, 7));
            1
        }
        "park-recv" => {
            let q = MessageQueue::open(&args[0]).expect("open queue");
            let rx = q.receiver().unwrap();
            failpoint::set(failpoint::QUEUE_AFTER_READ_CLAIM);
            say("PARKING");
            let _ = rx.recv();
            1
        }
        "work" => {
            let q = MessageQueue::open(&args[0]).expect("open queue");
            let rx = q.receiver().unwrap();
            for _ in 0..args[1].parse::<u32>().expect("count") {
                rx.recv().expect("message");
                std::thread::sleep(Duration::from_millis(2));
                rx.task_done().expect("task_done");
            }
            0
        }
        "hold-recv" => {
            let q = MessageQueue::open(&args[0]).expect("open queue");
            let _rx = q.receiver().unwrap();
            say("READY");
            std::thread::sleep(Duration::from_secs(600));
            0
        }
        other => panic!("unknown role {other}"),
    }
}

#[test]
fn three_senders_two_receivers_exactly_once_in_order() {
    let names = Names::new("mq-mpmc", 1);
    let name = names.get(0).to_owned();
    watchdog(Duration::from_secs(240), "three_senders_two_receivers", move || {
        const N: u64 = 20_000;
        let _q = MessageQueue::create(&name, 64, 300).unwrap();
        let mut receivers: Vec<Child> = (0..2).map(|_| Child::spawn_piped("recv", &[&name])).collect();
        for r in &mut receivers {
            r.expect_line("READY");
        }
        let n = N.to_string();
        let senders: Vec<Child> = (0..3).map(|id| Child::spawn("send", &[&name, &id.to_string(), &n])).collect();
        for s in senders {
            s.expect_success(Duration::from_secs(200));
        }
        let (mut count, mut sum) = ([0u64; 3], [0u64; 3]);
        for mut r in receivers {
            let line = r.expect_line("RESULT ");
            let f: Vec<u64> = line.split_whitespace().map(|x| x.parse().unwrap()).collect();
            for id in 0..3 {
                count[id] += f[2 * id];
                sum[id] += f[2 * id + 1];
            }
            r.expect_success(Duration::from_secs(30));
        }
        for id in 0..3 {
            assert_eq!(count[id], N, "sender {id}: every message delivered once");
            assert_eq!(sum[id], N * (N - 1) / 2, "sender {id}: none duplicated or lost");
        }
    });
}

#[test]
fn threads_share_one_sender_and_one_receiver() {
    let names = Names::new("mq-threads", 1);
    let name = names.get(0).to_owned();
    watchdog(Duration::from_secs(120), "threads_share_ends", move || {
        const N: u64 = 5_000;
        let q = MessageQueue::create(&name, 16, 300).unwrap();
        let (tx, rx) = (q.sender().unwrap(), q.receiver().unwrap());
        let got = std::thread::scope(|s| {
            for id in 0..3 {
                let tx = &tx;
                s.spawn(move || {
                    for seq in 0..N {
                        tx.send(&message(id, seq)).unwrap();
                    }
                });
            }
            let consumers: Vec<_> = (0..2)
                .map(|_| {
                    let rx = &rx;
                    s.spawn(move || {
                        let mut mine = Vec::new();
                        while let Ok(m) = rx.recv_timeout(Duration::from_secs(2)) {
                            mine.push(decode(&m).expect("intact"));
                        }
                        mine
                    })
                })
                .collect();
            consumers.into_iter().flat_map(|c| c.join().unwrap()).collect::<Vec<_>>()
        });
        let mut got = got;
        got.sort_unstable();
        let want: Vec<(u64, u64)> = (0..3).flat_map(|id| (0..N).map(move |s| (id, s))).collect();
        assert_eq!(got, want, "every message exactly once");
    });
}

#[test]
fn errors_full_empty_timeouts_disconnected_too_large() {
    let names = Names::new("mq-errors", 1);
    let name = names.get(0).to_owned();
    watchdog(Duration::from_secs(60), "errors", move || {
        let q = MessageQueue::create(&name, 2, 10).unwrap();
        assert_eq!((q.capacity(), q.max_message_len(), q.is_joinable()), (2, 10, false));
        let rx = q.receiver().unwrap();
        // No sender ever attached: wait, do not report Disconnected.
        assert_eq!(rx.recv_timeout(Duration::from_millis(20)), Err(ByteRecvError::Timeout));
        assert_eq!(rx.try_recv(), Err(ByteRecvError::Empty));
        let tx = q.sender().unwrap();
        assert_eq!(tx.send(&[0; 11]), Err(ByteSendError::TooLarge { len: 11, max: 10 }));
        tx.try_send(b"0123456789").unwrap();
        tx.try_send(b"").unwrap();
        assert!(q.is_full());
        assert_eq!(tx.try_send(b"x"), Err(ByteSendError::Full));
        let t0 = Instant::now();
        assert_eq!(tx.send_timeout(b"x", Duration::from_millis(30)), Err(ByteSendError::Timeout));
        assert!(t0.elapsed() >= Duration::from_millis(30));
        assert_eq!(tx.send_deadline(b"x", Instant::now()), Err(ByteSendError::Timeout));
        assert_eq!(rx.recv().unwrap(), b"0123456789");
        drop(tx);
        // Senders gone: what was sent still arrives, then Disconnected.
        assert_eq!(rx.recv_deadline(Instant::now() + Duration::from_secs(5)).unwrap(), b"");
        assert_eq!(rx.recv(), Err(ByteRecvError::Disconnected));
        assert_eq!(rx.try_recv_into(&mut [0; 10]), Err(ByteRecvError::Disconnected));
        // Receivers gone: a send says so.
        let tx = q.sender().unwrap();
        drop(rx);
        assert_eq!(tx.send(b"y"), Err(ByteSendError::Disconnected));
        assert_eq!(q.len(), 0, "a refused send leaves nothing");
    });
}

#[test]
fn buffer_too_small_keeps_the_message_and_recv_with_reads_in_place() {
    let names = Names::new("mq-buf", 1);
    let name = names.get(0).to_owned();
    watchdog(Duration::from_secs(60), "buffer_too_small", move || {
        let q = MessageQueue::create(&name, 4, 100).unwrap();
        let (tx, rx) = (q.sender().unwrap(), q.receiver().unwrap());
        tx.send(b"hello world").unwrap();
        tx.send(b"second").unwrap();
        let mut small = [0u8; 5];
        assert_eq!(rx.try_recv_into(&mut small), Err(ByteRecvError::BufferTooSmall { len: 11 }));
        assert_eq!(rx.recv_into(&mut small), Err(ByteRecvError::BufferTooSmall { len: 11 }));
        assert_eq!(
            rx.recv_into_timeout(&mut small, Duration::from_millis(10)),
            Err(ByteRecvError::BufferTooSmall { len: 11 })
        );
        assert_eq!(q.len(), 2, "the message stays queued");
        let mut buf = [0u8; 11];
        assert_eq!(rx.recv_into(&mut buf), Ok(11));
        assert_eq!(&buf, b"hello world");
        // In place: the closure sees the bytes in the queue's memory.
        assert!(rx.recv_with(|m| m == b"second").unwrap(), "read in place");
        assert_eq!(rx.try_recv_with(|m| m.len()), Err(ByteRecvError::Empty));
        assert_eq!(rx.recv_with_timeout(|m| m.len(), Duration::from_millis(10)), Err(ByteRecvError::Timeout));
        // A closure that panics consumes its message and frees the slot.
        tx.send(b"boom").unwrap();
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| rx.recv_with(|_| panic!("reader panics"))));
        assert!(r.is_err());
        for i in 0..4u8 {
            tx.try_send(&[i]).expect("every slot free again");
        }
        for i in 0..4u8 {
            assert_eq!(rx.try_recv().unwrap(), [i]);
        }
    });
}

#[test]
fn constructors_check_arguments_and_open_learns_the_shape() {
    let names = Names::new("mq-ctor", 3);
    let (a, b, c) = (names.get(0).to_owned(), names.get(1).to_owned(), names.get(2).to_owned());
    watchdog(Duration::from_secs(60), "constructors", move || {
        assert!(matches!(MessageQueue::create(&a, 0, 10), Err(Error::InvalidArgument(_))));
        assert!(matches!(MessageQueue::create(&a, 4, (1 << 30) + 1), Err(Error::InvalidArgument(_))));
        let q = MessageQueue::create(&a, 5, 33).unwrap();
        assert_eq!(q.capacity(), 8, "rounded up to a power of two");
        let o = MessageQueue::open(&a).unwrap();
        assert_eq!((o.capacity(), o.max_message_len(), o.is_joinable()), (8, 33, false));
        let o = MessageQueue::open_or_create(&a, 2, 5).unwrap();
        assert_eq!((o.capacity(), o.max_message_len()), (8, 33), "an existing queue is taken as it is");
        assert!(matches!(shmkit::Queue::<u64>::open(&a), Err(Error::WrongKind { .. })));
        let _typed = shmkit::Queue::<u64>::create(&b, 4).unwrap();
        assert!(matches!(MessageQueue::open(&b), Err(Error::WrongKind { .. })));
        let j = MessageQueue::create_joinable_with(&c, 4, 8, &shmkit::OpenOptions::default()).unwrap();
        assert!(j.is_joinable() && MessageQueue::open(&c).unwrap().is_joinable());
        assert!(format!("{j:?}").contains("MessageQueue"));
        let tx = j.sender().unwrap().with_wait_strategy(shmkit::WaitStrategy::Park);
        let tx2 = tx.try_clone().unwrap();
        assert_eq!((tx2.capacity(), tx2.max_message_len(), tx2.len()), (4, 8, 0));
        assert!(format!("{tx2:?}").contains("MessageSender"));
    });
}

#[test]
fn join_waits_for_task_done_across_processes() {
    let names = Names::new("mq-join", 1);
    let name = names.get(0).to_owned();
    watchdog(Duration::from_secs(60), "join", move || {
        let q = MessageQueue::create_joinable(&name, 16, 8).unwrap();
        let tx = q.sender().unwrap();
        assert!(q.try_join());
        for i in 0..10u8 {
            tx.send(&[i]).unwrap();
        }
        assert_eq!(q.unfinished(), 10);
        assert!(!q.join_timeout(Duration::from_millis(10)));
        let c = Child::spawn("work", &[&name, "10"]);
        q.join();
        assert_eq!(q.unfinished(), 0);
        c.expect_success(Duration::from_secs(30));
        let rx = q.receiver().unwrap();
        assert!(rx.task_done().is_err(), "more task_done than messages");
        let plain_names = Names::new("mq-join-plain", 1);
        let plain = MessageQueue::create(plain_names.get(0), 2, 2).unwrap();
        assert!(plain.receiver().unwrap().task_done().is_err(), "not joinable");
        assert!(plain.join_deadline(Instant::now()));
    });
}

#[test]
fn killed_senders_never_tear_and_lose_no_capacity() {
    let names = Names::new("mq-crash", 1);
    let name = names.get(0).to_owned();
    watchdog(Duration::from_secs(280), "killed_senders", move || {
        let rounds: u32 = std::env::var("SHMKIT_CRASH_ROUNDS").ok().and_then(|s| s.parse().ok()).unwrap_or(300);
        let q = MessageQueue::create(&name, 64, 300).unwrap();
        let rx = q.receiver().unwrap();
        let mut seed = 0x2545_f491_4f6c_dd1du64 ^ u64::from(std::process::id());
        eprintln!("seed {seed:#x}, {rounds} rounds");
        let mut received = 0u64;
        let drain = |received: &mut u64, max: u64| {
            for _ in 0..max {
                let Ok(m) = rx.try_recv() else { break };
                assert!(decode(&m).is_some(), "torn message {m:x?}");
                *received += 1;
            }
        };
        for round in 0..rounds {
            let mut c = Child::spawn_piped("flood", &[&name, &round.to_string()]);
            c.expect_line("READY");
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let until = Instant::now() + Duration::from_micros(seed % 2000);
            while Instant::now() < until {
                drain(&mut received, 64);
            }
            c.kill();
            drain(&mut received, u64::MAX);
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        while !q.is_empty() && Instant::now() < deadline {
            if let Ok(m) = rx.recv_timeout(Duration::from_millis(50)) {
                assert!(decode(&m).is_some(), "torn message {m:x?}");
            }
        }
        assert!(q.is_empty(), "dead claims were not reclaimed");
        let tx = q.sender().unwrap();
        for i in 0..q.capacity() as u64 {
            tx.try_send(&message(99, i)).unwrap_or_else(|e| panic!("capacity lost at slot {i}: {e}"));
        }
        assert_eq!(tx.try_send(b"x"), Err(ByteSendError::Full));
        for i in 0..q.capacity() as u64 {
            assert_eq!(rx.try_recv().unwrap(), message(99, i));
        }
        eprintln!("{rounds} senders killed, {received} intact messages received");
    });
}

#[test]
fn stopped_sender_keeps_its_claim_and_a_dead_one_is_skipped() {
    for point in [failpoint::QUEUE_AFTER_CLAIM, failpoint::QUEUE_BEFORE_COMMIT] {
        let names = Names::new("mq-claim", 1);
        let name = names.get(0).to_owned();
        watchdog(Duration::from_secs(60), "stopped_sender", move || {
            let q = MessageQueue::create(&name, 8, 300).unwrap();
            let rx = q.receiver().unwrap();
            let tx = q.sender().unwrap();
            let mut c = Child::spawn_piped("park-send", &[&name, &point.to_string()]);
            c.expect_line("PARKING");
            let start = Instant::now();
            while q.is_empty() && start.elapsed() < Duration::from_secs(10) {
                std::thread::sleep(Duration::from_millis(1));
            }
            assert_eq!(q.len(), 1, "the child claimed a slot");
            c.signal(libc::SIGSTOP);
            tx.send(&message(1, 1)).unwrap();
            // A stopped sender is alive: its claim is not stolen.
            assert_eq!(rx.recv_timeout(Duration::from_millis(200)), Err(ByteRecvError::Timeout));
            c.kill();
            // Dead: its claim is skipped, and nothing torn comes out.
            assert_eq!(rx.recv_timeout(Duration::from_secs(10)).unwrap(), message(1, 1));
            assert_eq!(rx.try_recv(), Err(ByteRecvError::Empty));
        });
    }
}

#[test]
fn dead_reader_claim_is_freed_for_senders() {
    let names = Names::new("mq-reader", 1);
    let name = names.get(0).to_owned();
    watchdog(Duration::from_secs(60), "dead_reader", move || {
        let q = MessageQueue::create(&name, 4, 300).unwrap();
        let tx = q.sender().unwrap();
        let mut c = Child::spawn_piped("park-recv", &[&name]);
        c.expect_line("PARKING");
        tx.send(&message(1, 0)).unwrap();
        for i in 1..4 {
            tx.send(&message(1, i)).unwrap();
        }
        assert_eq!(tx.send_timeout(&message(1, 9), Duration::from_millis(100)), Err(ByteSendError::Timeout));
        c.kill();
        let rx = q.receiver().unwrap();
        assert_eq!(rx.recv_timeout(Duration::from_secs(5)).unwrap(), message(1, 1));
        tx.send_timeout(&message(1, 4), Duration::from_secs(5)).expect("slot freed");
        tx.send_timeout(&message(1, 5), Duration::from_secs(5)).expect("dead reader's slot reclaimed");
    });
}

#[test]
fn killed_receiver_is_noticed_by_a_blocked_sender() {
    let names = Names::new("mq-krecv", 1);
    let name = names.get(0).to_owned();
    watchdog(Duration::from_secs(60), "killed_receiver", move || {
        let q = MessageQueue::create(&name, 2, 8).unwrap();
        let mut c = Child::spawn_piped("hold-recv", &[&name]);
        c.expect_line("READY");
        let tx = q.sender().unwrap();
        tx.send(b"1").unwrap();
        tx.send(b"2").unwrap();
        c.kill();
        assert_eq!(tx.send(b"3"), Err(ByteSendError::Disconnected));
    });
}

#[test]
fn killed_sender_disconnects_receivers() {
    let names = Names::new("mq-ksend", 1);
    let name = names.get(0).to_owned();
    watchdog(Duration::from_secs(60), "killed_sender", move || {
        let q = MessageQueue::create(&name, 256, 300).unwrap();
        let rx = q.receiver().unwrap();
        let mut c = Child::spawn_piped("flood", &[&name, "1"]);
        c.expect_line("READY");
        assert!(decode(&rx.recv().unwrap()).is_some());
        c.kill();
        loop {
            match rx.recv() {
                Ok(m) => assert!(decode(&m).is_some()),
                Err(e) => {
                    assert_eq!(e, ByteRecvError::Disconnected);
                    break;
                }
            }
        }
    });
}

#[test]
fn corrupted_length_is_reported_not_read() {
    let names = Names::new("mq-corrupt", 1);
    let name = names.get(0).to_owned();
    watchdog(Duration::from_secs(60), "corrupted_length", move || {
        let q = MessageQueue::create(&name, 2, 16).unwrap();
        let (tx, rx) = (q.sender().unwrap(), q.receiver().unwrap());
        tx.send(b"abc").unwrap();
        // Find the length word of the message in the file and break it.
        let mut seg = std::fs::OpenOptions::new().read(true).write(true).open(names.path(0)).unwrap();
        let mut bytes = Vec::new();
        use std::io::{Read, Seek, Write};
        seg.read_to_end(&mut bytes).unwrap();
        let at = bytes.windows(7).position(|w| w == [3, 0, 0, 0, b'a', b'b', b'c']).expect("the framed message");
        seg.seek(std::io::SeekFrom::Start(at as u64)).unwrap();
        seg.write_all(&u32::MAX.to_le_bytes()).unwrap();
        assert!(matches!(rx.try_recv_into(&mut [0; 4]), Err(ByteRecvError::Corrupt(_))));
        // Consumed: the queue goes on.
        tx.send(b"next").unwrap();
        assert_eq!(rx.recv_with(|m| m.to_vec()).unwrap(), b"next");
        tx.send(b"abc").unwrap();
        seg.seek(std::io::SeekFrom::Start(0)).unwrap();
        bytes.clear();
        seg.read_to_end(&mut bytes).unwrap();
        let at = bytes.windows(7).position(|w| w == [3, 0, 0, 0, b'a', b'b', b'c']).expect("the framed message");
        seg.seek(std::io::SeekFrom::Start(at as u64)).unwrap();
        seg.write_all(&17u32.to_le_bytes()).unwrap();
        assert!(matches!(rx.recv(), Err(ByteRecvError::Corrupt(_))));
    });
}
