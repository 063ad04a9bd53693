//! ByteQueue across real processes: variable-size delivery, zero-copy grants,
//! exclusive ends, disconnection and crashes.

mod common;

use std::time::{Duration, Instant};

use common::{Child, Names, say, watchdog};
use shmkit::{ByteQueue, ByteRecvError, ByteSendError, Error};

#[test]
fn child() {
    common::child_main(run_role);
}

/// Message `seq`: 0 to 4096 bytes, every byte determined by `seq`, so the
/// receiver checks each message whole, not just a checksum of it.
fn message(seq: u64) -> Vec<u8> {
    let len = (common::mix(seq) % 4097) as usize;
    let seed = common::mix(seq ^ 0x5555);
    (0..len).map(|i| (seed >> (8 * (i % 8))) as u8 ^ i as u8).collect()
}

fn run_role(role: &str, args: &[String]) -> i32 {
    let q = ByteQueue::open(&args[0]).expect("open queue");
    match role {
        "send" => {
            let (from, n): (u64, u64) = (args[1].parse().unwrap(), args[2].parse().unwrap());
            let mut tx = q.sender().expect("sender end");
            say("READY");
            for seq in from..from + n {
                tx.send(&message(seq)).expect("receiver is there");
            }
            0
        }
        "send-batches" => {
            let n: u64 = args[1].parse().unwrap();
            let mut tx = q.sender().expect("sender end");
            let mut seq = 0;
            while seq < n {
                let k = (common::mix(seq) % 32 + 1).min(n - seq);
                let batch: Vec<Vec<u8>> = (seq..seq + k).map(message).collect();
                assert_eq!(tx.send_batch(&batch), Ok(k as usize));
                seq += k;
            }
            0
        }
        "grant-send" => {
            let mut tx = q.sender().expect("sender end");
            say("READY");
            for seq in 0..args[1].parse::<u64>().unwrap() {
                let m = message(seq);
                let mut g = tx.reserve(m.len()).expect("room");
                g.copy_from_slice(&m);
                g.commit();
            }
            0
        }
        // Sends "a", then parks in the send of "b" after stamping it,
        // before moving the tail.
        #[cfg(feature = "failpoints")]
        "stamp-and-park" => {
            let mut tx = q.sender().expect("sender end");
            tx.send(b"a").unwrap();
            shmkit::failpoint::set(shmkit::failpoint::BYTES_BEFORE_TAIL);
            say("PARKING");
            let _ = tx.send(b"b");
            1
        }
        "reserve-and-stall" => {
            let mut tx = q.sender().expect("sender end");
            tx.send(b"before").unwrap();
            let mut g = tx.reserve(100).expect("room");
            g[..50].fill(0xEE);
            say("RESERVED");
            std::thread::sleep(Duration::from_secs(600));
            0
        }
        "flood" => {
            let from: u64 = args[1].parse().unwrap();
            let mut tx = q.sender().expect("sender end");
            say("READY");
            for seq in from.. {
                if tx.send_timeout(&message(seq), Duration::from_secs(60)).is_err() {
                    return 1;
                }
            }
            0
        }
        "hold-send" => {
            let _tx = q.sender().expect("sender end");
            say("READY");
            std::thread::sleep(Duration::from_secs(600));
            0
        }
        "hold-recv" => {
            let _rx = q.receiver().expect("receiver end");
            say("READY");
            std::thread::sleep(Duration::from_secs(600));
            0
        }
        "read-and-stall" => {
            let mut rx = q.receiver().expect("receiver end");
            let g = rx.recv_ref().expect("message");
            say(&format!("GOT {}", String::from_utf8_lossy(&g)));
            std::thread::sleep(Duration::from_secs(600));
            0
        }
        other => panic!("unknown role {other}"),
    }
}

/// Receives messages `from..from + n` (or until end of stream when `n` is
/// `None`) and checks each one whole; returns the next sequence number.
fn expect_messages(rx: &mut shmkit::ByteReceiver, from: u64, n: Option<u64>) -> u64 {
    let mut seq = from;
    let mut buf = vec![0u8; 4096];
    while n.is_none_or(|n| seq < from + n) {
        match rx.recv_into(&mut buf) {
            Ok(len) => {
                assert!(buf[..len] == message(seq)[..], "message {seq} torn or out of order ({len} bytes)");
                seq += 1;
            }
            Err(ByteRecvError::Disconnected) if n.is_none() => break,
            Err(e) => panic!("receive {seq}: {e}"),
        }
    }
    seq
}

#[test]
fn random_sizes_arrive_whole_and_in_order_across_processes() {
    let names = Names::new("bq-sizes", 1);
    let name = names.get(0).to_owned();
    watchdog(Duration::from_secs(120), "random_sizes", move || {
        const N: u64 = 100_000;
        let q = ByteQueue::create(&name, 64 * 1024).unwrap();
        let mut rx = q.receiver().unwrap();
        let sender = Child::spawn("send", &[&name, "0", &N.to_string()]);
        assert_eq!(expect_messages(&mut rx, 0, None), N);
        sender.expect_success(Duration::from_secs(60));
        assert!(q.is_empty());
    });
}

#[test]
fn batches_and_grants_across_processes() {
    let names = Names::new("bq-batch", 1);
    let name = names.get(0).to_owned();
    watchdog(Duration::from_secs(120), "batches_and_grants", move || {
        const N: u64 = 20_000;
        let q = ByteQueue::create(&name, 32 * 1024).unwrap();
        let mut rx = q.receiver().unwrap();

        // Batched sends, batched zero-copy receives.
        let sender = Child::spawn("send-batches", &[&name, &N.to_string()]);
        let mut seq = 0;
        loop {
            let got = rx.recv_batch(64, |m| {
                assert!(m == &message(seq)[..], "batched message {seq}");
                seq += 1;
            });
            match got {
                Ok(k) => assert!((1..=64).contains(&k)),
                Err(ByteRecvError::Disconnected) => break,
                Err(e) => panic!("{e}"),
            }
        }
        assert_eq!(seq, N);
        sender.expect_success(Duration::from_secs(30));

        // Zero-copy sends, zero-copy receives.
        let mut sender = Child::spawn_piped("grant-send", &[&name, &N.to_string()]);
        sender.expect_line("READY");
        for seq in 0..N {
            let g = rx.recv_ref().expect("message");
            assert!(*g == message(seq)[..], "granted message {seq}");
        }
        assert_eq!(rx.recv_ref().map(|g| g.len()), Err(ByteRecvError::Disconnected));
        sender.expect_success(Duration::from_secs(30));
    });
}

#[test]
fn an_end_is_held_by_one_live_endpoint_and_a_dead_ones_is_taken_over() {
    let names = Names::new("bq-ends", 1);
    let name = names.get(0).to_owned();
    watchdog(Duration::from_secs(60), "exclusive_ends", move || {
        let q = ByteQueue::create(&name, 4096).unwrap();
        let tx = q.sender().unwrap();
        assert!(matches!(q.sender(), Err(Error::Busy { end: "sender", .. })), "a second sender in one process");
        drop(tx);
        let mut holder = Child::spawn_piped("hold-send", &[&name]);
        holder.expect_line("READY");
        let busy = ByteQueue::open(&name).unwrap().sender().unwrap_err();
        assert!(matches!(busy, Error::Busy { .. }), "{busy}");
        assert!(busy.to_string().contains("sender"), "{busy}");
        // Stopped is alive: its end is not stolen.
        holder.signal(libc::SIGSTOP);
        assert!(matches!(q.sender(), Err(Error::Busy { .. })));
        holder.signal(libc::SIGCONT);
        holder.kill();
        let mut tx = q.sender().expect("a dead holder's end is taken over");
        tx.send(b"after").unwrap();
        let mut rx = q.receiver().unwrap();
        assert_eq!(rx.recv().unwrap(), b"after");
        assert!(matches!(q.receiver(), Err(Error::Busy { end: "receiver", .. })));
    });
}

#[test]
fn a_sender_killed_mid_message_leaves_nothing_torn() {
    let names = Names::new("bq-midwrite", 1);
    let name = names.get(0).to_owned();
    watchdog(Duration::from_secs(60), "killed_mid_message", move || {
        let q = ByteQueue::create(&name, 4096).unwrap();
        let mut rx = q.receiver().unwrap();
        let mut child = Child::spawn_piped("reserve-and-stall", &[&name]);
        child.expect_line("RESERVED");
        child.kill();
        assert_eq!(rx.recv().unwrap(), b"before");
        assert_eq!(rx.recv(), Err(ByteRecvError::Disconnected), "the reserved message is never seen");
        let mut tx = q.sender().unwrap();
        tx.send(b"next").unwrap();
        assert_eq!(rx.recv().unwrap(), b"next");
        assert_eq!(q.used_bytes(), 0, "no room lost");
    });
}

/// A message is published by its stamped header; the tail follows. A
/// sender killed between the two: the message is delivered once, and the
/// next sender goes on after it.
#[cfg(feature = "failpoints")]
#[test]
fn a_sender_killed_between_stamp_and_tail_delivers_once() {
    let names = Names::new("bq-stamp", 1);
    let name = names.get(0).to_owned();
    watchdog(Duration::from_secs(60), "killed_before_tail", move || {
        let q = ByteQueue::create(&name, 4096).unwrap();
        let mut rx = q.receiver().unwrap();
        let mut child = Child::spawn_piped("stamp-and-park", &[&name]);
        child.expect_line("PARKING");
        assert_eq!(rx.recv().unwrap(), b"a");
        assert_eq!(rx.recv().unwrap(), b"b", "a stamped message is there before the tail moves");
        child.kill();
        assert_eq!(rx.recv(), Err(ByteRecvError::Disconnected));
        assert_eq!(q.used_bytes(), 0, "the receiver is past the tail the sender left");
        let mut tx = q.sender().unwrap();
        tx.send(b"c").unwrap();
        assert_eq!(q.used_bytes(), 16, "one 1-byte record: the new sender started after \"b\"");
        assert_eq!(rx.recv().unwrap(), b"c");
        assert_eq!(rx.try_recv(), Err(ByteRecvError::Empty));
        assert_eq!(q.used_bytes(), 0);
    });
}

#[test]
fn senders_killed_at_random_points_never_tear_a_message() {
    let rounds: u64 = std::env::var("SHMKIT_CRASH_ROUNDS").ok().and_then(|v| v.parse().ok()).unwrap_or(1000);
    let names = Names::new("bq-crash", 1);
    let name = names.get(0).to_owned();
    watchdog(Duration::from_secs(60 + rounds / 5), "random_kills", move || {
        let q = ByteQueue::create(&name, 16 * 1024).unwrap();
        let mut rx = q.receiver().unwrap();
        let mut next = 0;
        for round in 0..rounds {
            let mut child = Child::spawn_piped("flood", &[&name, &next.to_string()]);
            child.expect_line("READY");
            // Take some, then kill it wherever it is, then drain to the end
            // of the stream: every message whole and in order.
            next = expect_messages(&mut rx, next, Some(common::mix(round) % 64));
            child.kill();
            next = expect_messages(&mut rx, next, None);
        }
        assert!(q.is_empty());
        // No room lost: the longest message fits once the ring's end is
        // padded off (the padding is published even when the message does
        // not fit behind it) and the receiver passed the padding.
        let mut tx = q.sender().unwrap();
        let big = vec![7u8; q.max_message_len()];
        if tx.try_send(&big) == Err(ByteSendError::Full) {
            assert_eq!(rx.try_recv(), Err(ByteRecvError::Empty));
            tx.try_send(&big).expect("the whole ring is free again");
        }
        assert_eq!(rx.recv().unwrap(), big);
        eprintln!("{rounds} kills, {next} messages checked");
    });
}

#[test]
fn a_receiver_killed_holding_a_read_grant_loses_nothing() {
    let names = Names::new("bq-reader", 1);
    let name = names.get(0).to_owned();
    watchdog(Duration::from_secs(60), "killed_reader", move || {
        let q = ByteQueue::create(&name, 4096).unwrap();
        let mut tx = q.sender().unwrap();
        tx.send(b"precious").unwrap();
        let mut child = Child::spawn_piped("read-and-stall", &[&name]);
        assert_eq!(child.expect_line("GOT "), "precious");
        child.kill();
        let mut rx = q.receiver().expect("the dead reader's end is free");
        assert_eq!(rx.recv().unwrap(), b"precious", "a message read but not released is delivered again");
    });
}

#[test]
fn disconnection_both_ways_including_kills() {
    let names = Names::new("bq-disc", 1);
    let name = names.get(0).to_owned();
    watchdog(Duration::from_secs(60), "disconnection", move || {
        let q = ByteQueue::create(&name, 16 * 1024).unwrap();
        // Before any sender: a receive waits (times out), it is not the end.
        let mut rx = q.receiver().unwrap();
        assert_eq!(rx.recv_timeout(Duration::from_millis(20)), Err(ByteRecvError::Timeout));
        assert_eq!(rx.try_recv(), Err(ByteRecvError::Empty));
        assert_eq!(rx.poll(Duration::from_millis(5)), Ok(false));

        // A killed sender: end of stream after what it sent.
        let child = Child::spawn("send", &[&name, "0", "2"]);
        assert!(rx.poll(Duration::from_secs(10)).unwrap());
        child.expect_success(Duration::from_secs(10));
        expect_messages(&mut rx, 0, None);
        let mut holder = Child::spawn_piped("hold-send", &[&name]);
        holder.expect_line("READY");
        holder.kill();
        assert_eq!(rx.recv(), Err(ByteRecvError::Disconnected));

        // A dropped receiver, then a killed one: sends are refused.
        let mut tx = q.sender().unwrap();
        drop(rx);
        assert_eq!(tx.send(b"x"), Err(ByteSendError::Disconnected));
        let mut holder = Child::spawn_piped("hold-recv", &[&name]);
        holder.expect_line("READY");
        while tx.try_send(b"fill").is_ok() {}
        assert_eq!(tx.try_send(b"fill"), Err(ByteSendError::Full));
        assert_eq!(tx.send_timeout(b"fill", Duration::from_millis(20)), Err(ByteSendError::Timeout));
        holder.kill();
        assert_eq!(tx.send(b"fill"), Err(ByteSendError::Disconnected), "a killed receiver is noticed");
    });
}

#[test]
fn bad_sizes_and_buffers_are_errors() {
    let names = Names::new("bq-sizes-bad", 1);
    let q = ByteQueue::create(names.get(0), 100).unwrap();
    assert_eq!(q.capacity(), 128, "rounded up to a power of two");
    assert!(matches!(ByteQueue::create(names.get(0), 64), Err(Error::AlreadyExists { .. })));
    assert!(matches!(ByteQueue::create("bq-zero", 0), Err(Error::InvalidArgument(_))));
    let mut tx = q.sender().unwrap();
    let mut rx = q.receiver().unwrap();
    assert_eq!(tx.send(&[0; 121]), Err(ByteSendError::TooLarge { len: 121, max: 120 }));
    tx.send(&[1; 120]).expect("the longest message fits an empty ring");
    assert_eq!(tx.try_send(b""), Err(ByteSendError::Full));
    let mut small = [0u8; 10];
    assert_eq!(rx.try_recv_into(&mut small), Err(ByteRecvError::BufferTooSmall { len: 120 }));
    assert_eq!(rx.recv().unwrap(), vec![1; 120], "a message too big for the buffer stays queued");
    tx.send(b"").expect("empty messages are messages");
    assert_eq!(rx.recv().unwrap(), b"");
    tx.send_value(&0xdead_beef_u32).unwrap();
    assert_eq!(rx.recv_value::<u64>(), Err(ByteRecvError::WrongSize { len: 4, expected: 8 }));
    tx.send_value(&7u64).unwrap();
    assert_eq!(rx.recv_value::<u64>(), Ok(7));
    // An abandoned grant sends nothing; a shrunk one sends its prefix.
    drop(tx.reserve(50).unwrap());
    let mut g = tx.reserve(50).unwrap();
    g[..3].copy_from_slice(b"abc");
    g.commit_len(3);
    assert_eq!(rx.recv().unwrap(), b"abc");
    assert_eq!(rx.try_recv(), Err(ByteRecvError::Empty));
    // Wrong kind.
    let err = shmkit::Queue::<u8>::open(names.get(0)).unwrap_err();
    assert!(matches!(err, Error::WrongKind { .. }), "{err}");
}

/// The ends answer `capacity`, `used_bytes` and `is_empty` themselves.
#[test]
fn ends_answer_capacity_and_use() {
    let names = Names::new("bq-ends-len", 1);
    let q = ByteQueue::create(names.get(0), 100).unwrap();
    let (mut tx, rx) = (q.sender().unwrap(), q.receiver().unwrap());
    assert_eq!((tx.capacity(), rx.capacity()), (128, 128));
    assert!(tx.is_empty() && rx.is_empty());
    tx.send(b"abc").unwrap();
    assert_eq!((tx.used_bytes(), rx.used_bytes(), q.used_bytes()), (16, 16, 16), "8-byte header, padded payload");
    assert!(!tx.is_empty() && !rx.is_empty());
}

/// `try_iter` takes what is there and stops; `iter` waits for more and
/// stops at the end of the stream.
#[test]
fn receiver_iterators_end_as_documented() {
    let names = Names::new("bq-iter", 1);
    let name = names.get(0).to_owned();
    watchdog(Duration::from_secs(60), "byte iter", move || {
        let q = ByteQueue::create(&name, 256).unwrap();
        let (mut tx, mut rx) = (q.sender().unwrap(), q.receiver().unwrap());
        tx.send_batch(&[&b"a"[..], b"bc"]).unwrap();
        assert_eq!(rx.try_iter().collect::<Vec<_>>(), [b"a".to_vec(), b"bc".to_vec()]);
        assert_eq!(rx.try_iter().next(), None, "try_iter ends when empty");
        let producer = std::thread::spawn(move || {
            for i in 0..50u32 {
                tx.send(&i.to_le_bytes()).unwrap();
            }
        });
        let got: Vec<u32> = rx.iter().map(|m| u32::from_le_bytes(m.try_into().unwrap())).collect();
        assert_eq!(got, (0..50).collect::<Vec<_>>(), "iter ends at the end of the stream");
        producer.join().unwrap();
        assert_eq!(rx.try_iter().next(), None);
    });
}

/// The byte queue's types are `Debug` and name their queue.
#[test]
fn byte_queue_types_are_debug() {
    let names = Names::new("bq-debug", 1);
    let q = ByteQueue::create(names.get(0), 64).unwrap();
    let (mut tx, mut rx) = (q.sender().unwrap(), q.receiver().unwrap());
    for text in [format!("{q:?}"), format!("{tx:?}"), format!("{rx:?}"), format!("{:?}", rx.iter())] {
        assert!(text.contains(names.get(0)), "{text}");
    }
    assert!(format!("{:?}", rx.try_iter()).starts_with("ByteTryIter"));
    let g = tx.reserve(3).unwrap();
    assert!(format!("{g:?}").contains("len: 3"));
    g.commit();
    let r = rx.recv_ref().unwrap();
    assert!(format!("{r:?}").contains("len: 3"));
}

/// `open_or_create(_with)` opens an existing queue as it is; every blocking
/// call answers in its `try_`, `_timeout` and `_deadline` forms.
#[test]
fn every_form_of_each_call() {
    let names = Names::new("bq-forms", 1);
    let opts = shmkit::OpenOptions::new().registry_slots(4);
    let q = ByteQueue::open_or_create_with(names.get(0), 64, &opts).unwrap();
    assert_eq!(ByteQueue::open_or_create(names.get(0), 4096).unwrap().capacity(), 64, "opened as it is");
    let q = q.with_wait_strategy(shmkit::WaitStrategy::Park);
    let (mut tx, mut rx) = (q.sender().unwrap(), q.receiver().unwrap());
    let later = || Instant::now() + Duration::from_secs(5);
    let soon = || Instant::now() + Duration::from_millis(10);
    let long = Duration::from_secs(5);
    tx.try_send_value(&1u64).unwrap();
    tx.send_value_timeout(&2u64, long).unwrap();
    tx.send_value_deadline(&3u64, later()).unwrap();
    assert_eq!(rx.try_recv_value::<u64>(), Ok(1));
    assert_eq!(rx.recv_value_timeout::<u64>(long), Ok(2));
    assert_eq!(rx.recv_value_deadline::<u64>(later()), Ok(3));
    assert_eq!(rx.try_poll(), Ok(false));
    assert_eq!(rx.poll_deadline(soon()), Ok(false));
    assert_eq!(rx.recv_value_timeout::<u64>(Duration::from_millis(10)), Err(ByteRecvError::Timeout));
    tx.send_deadline(b"abc", later()).unwrap();
    assert_eq!(rx.try_poll(), Ok(true));
    let mut buf = [0u8; 8];
    assert_eq!(rx.recv_into_deadline(&mut buf, later()), Ok(3));
    assert_eq!(&buf[..3], b"abc");
    let mut grant = tx.reserve_deadline(2, later()).unwrap();
    grant.copy_from_slice(b"xy");
    grant.commit();
    assert_eq!(&*rx.recv_ref_deadline(later()).unwrap(), b"xy");
    assert!(matches!(rx.recv_ref_deadline(soon()), Err(ByteRecvError::Timeout)));
    // Four records of 16 bytes fill the 64-byte ring: the timed batch sends
    // those and says so when the time runs out.
    assert_eq!(tx.send_batch_timeout(&[[7u8; 8]; 6], Duration::from_millis(10)), Ok(4));
    assert!(matches!(tx.reserve_deadline(8, soon()), Err(ByteSendError::Timeout)));
    let mut seen = 0;
    assert_eq!(rx.recv_batch_deadline(10, |m| seen += m.len(), later()), Ok(4));
    assert_eq!(seen, 32);
    assert_eq!(rx.recv_batch_timeout(10, |_| {}, Duration::from_millis(10)), Err(ByteRecvError::Timeout));
    assert_eq!(tx.send_batch_deadline(&[b"z"], later()), Ok(1));
    assert_eq!(rx.recv_deadline(later()).unwrap(), b"z");
    drop(tx);
    assert_eq!(rx.recv_value_deadline::<u64>(later()), Err(ByteRecvError::Disconnected));
}
