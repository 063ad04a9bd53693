//! Broadcast and ByteBroadcast: every subscriber sees every message (or is
//! told how many it missed), across threads and real processes, with
//! publishers and subscribers killed.

mod common;

use std::time::{Duration, Instant};

use common::{Child, Names, say, watchdog};
use shmkit::{
    Broadcast, BroadcastRecvError, BroadcastSendError, ByteBroadcast, Error, OpenOptions, Policy, WaitStrategy,
    failpoint,
};

#[test]
fn child() {
    common::child_main(run_role);
}

/// A message whose words check each other: a torn copy cannot pass.
fn message(seq: u64) -> [u64; 8] {
    let mut m = [seq; 8];
    for (i, w) in m.iter_mut().enumerate().skip(1) {
        *w = seq.wrapping_mul(0x9e37_79b9_7f4a_7c15).rotate_left(i as u32) ^ i as u64;
    }
    m
}

fn intact(m: &[u64; 8]) -> bool {
    *m == message(m[0])
}

const LIMIT: Duration = Duration::from_secs(60);

fn run_role(role: &str, args: &[String]) -> i32 {
    match role {
        // Publishes `n` messages, then parks at the commit of the next one.
        "park-publish" => {
            let b = Broadcast::<[u64; 8]>::open(&args[0]).expect("open");
            let n: u64 = args[1].parse().expect("n");
            let mut p = b.publisher().expect("publisher");
            for i in 0..n {
                p.send(message(i)).expect("lossy send");
            }
            failpoint::set(failpoint::BROADCAST_BEFORE_COMMIT);
            say("PARKING");
            let _ = p.send(message(n));
            1
        }
        // Publishes `n` messages, then parks before the tail of the next
        // one, which is complete in its slot.
        "park-before-tail" => {
            let b = Broadcast::<[u64; 8]>::open(&args[0]).expect("open");
            let n: u64 = args[1].parse().expect("n");
            let mut p = b.publisher().expect("publisher");
            for i in 0..n {
                p.send(message(i)).expect("lossy send");
            }
            failpoint::set(failpoint::BROADCAST_BEFORE_TAIL);
            say("PARKING");
            let _ = p.send(message(n));
            1
        }
        // A try_recv that found nothing is held before it looks whether
        // the publisher is gone, while the publisher sends its last
        // message and leaves: the receive must give that message.
        // (In-process: the pause is process-wide.)
        "last-message-before-gone" => {
            let b = Broadcast::<u64>::open(&args[0]).expect("open");
            let mut p = b.publisher().expect("publisher");
            let mut sub = b.subscribe().expect("subscribe");
            failpoint::pause_at(failpoint::BROADCAST_EMPTY_BEFORE_GONE);
            let receiving = std::thread::spawn(move || sub.try_recv());
            while !failpoint::reached() {
                std::thread::sleep(Duration::from_millis(1));
            }
            p.send(42).expect("send");
            drop(p);
            failpoint::resume();
            let got = receiving.join().expect("the receiving thread");
            say(&format!("GOT {got:?}"));
            if got == Ok(42) { 0 } else { 1 }
        }
        // Subscribes, says so, and never reads.
        "idle-subscriber" => {
            let b = Broadcast::<u64>::open(&args[0]).expect("open");
            let _sub = b.subscribe().expect("subscribe");
            say("SUBSCRIBED");
            loop {
                std::thread::sleep(Duration::from_secs(1));
            }
        }
        // Reads every message until Disconnected, and reports.
        "subscriber" => {
            let b = Broadcast::<u64>::open(&args[0]).expect("open");
            let mut sub = b.subscribe().expect("subscribe");
            say("SUBSCRIBED");
            let (mut count, mut sum, mut next) = (0u64, 0u64, 0u64);
            loop {
                match sub.recv() {
                    Ok(v) => {
                        assert_eq!(v, next, "in order, none missing");
                        next += 1;
                        count += 1;
                        sum += v;
                    }
                    Err(BroadcastRecvError::Disconnected) => break,
                    Err(e) => panic!("subscriber: {e}"),
                }
            }
            say(&format!("RESULT {count} {sum}"));
            0
        }
        "publish" => {
            let b = Broadcast::<u64>::open(&args[0]).expect("open");
            let n: u64 = args[1].parse().expect("n");
            let mut p = b.publisher().expect("publisher");
            say("PUBLISHING");
            for i in 0..n {
                p.send(i).expect("send");
            }
            0
        }
        _ => 2,
    }
}

#[test]
fn every_subscriber_sees_every_message_in_order_when_lossless() {
    let names = Names::new("bc-lossless", 1);
    let name = names.get(0).to_owned();
    watchdog(LIMIT, "lossless fan-out", move || {
        const N: u64 = 100_000;
        let b = Broadcast::<u64>::create(&name, 64, Policy::Lossless).unwrap();
        let subs: Vec<_> = (0..3)
            .map(|_| {
                Broadcast::<u64>::open(&name).unwrap().with_wait_strategy(WaitStrategy::Adaptive).subscribe().unwrap()
            })
            .collect();
        assert_eq!(b.subscriber_count(), 3);
        let readers: Vec<_> = subs
            .into_iter()
            .map(|mut s| {
                std::thread::spawn(move || {
                    let mut sum = 0u64;
                    for i in 0..N {
                        let v = s.recv().expect("lossless: nothing lost");
                        assert_eq!(v, i);
                        sum += v;
                    }
                    sum
                })
            })
            .collect();
        let mut p = b.publisher().unwrap();
        for i in 0..N {
            p.send(i).unwrap();
        }
        for r in readers {
            assert_eq!(r.join().unwrap(), N * (N - 1) / 2);
        }
        assert_eq!(b.published(), N);
    });
}

#[test]
fn a_lossy_subscriber_that_falls_behind_is_told_how_many_it_missed() {
    let names = Names::new("bc-lag", 1);
    let name = names.get(0).to_owned();
    watchdog(LIMIT, "lag", move || {
        let b = Broadcast::<u64>::create(&name, 8, Policy::Lossy).unwrap();
        let mut sub = b.subscribe().unwrap();
        let mut p = b.publisher().unwrap();
        for i in 0..20 {
            p.send(i).unwrap(); // never waits
        }
        assert_eq!(sub.pending(), 20);
        assert_eq!(sub.try_recv(), Err(BroadcastRecvError::Lagged(12)));
        for i in 12..20 {
            assert_eq!(sub.try_recv(), Ok(i));
        }
        assert_eq!(sub.try_recv(), Err(BroadcastRecvError::Empty));
        assert_eq!(sub.recv_timeout(Duration::from_millis(20)), Err(BroadcastRecvError::Timeout));
    });
}

#[test]
fn late_joiners_catch_up_with_what_the_ring_still_holds() {
    let names = Names::new("bc-late", 1);
    let name = names.get(0).to_owned();
    watchdog(LIMIT, "late join", move || {
        let b = Broadcast::<u64>::create(&name, 8, Policy::Lossy).unwrap();
        let mut p = b.publisher().unwrap();
        for i in 0..5 {
            p.send(i).unwrap();
        }
        let mut last3 = b.subscribe_from_last(3).unwrap();
        let mut lapped = b.subscribe_from_last(3).unwrap();
        let got: Vec<u64> = std::iter::from_fn(|| last3.try_recv().ok()).collect();
        assert_eq!(got, [2, 3, 4]);
        let mut fresh = b.subscribe().unwrap();
        for i in 5..20 {
            p.send(i).unwrap();
        }
        let mut all = b.subscribe_from_last(1000).unwrap();
        let got: Vec<u64> = std::iter::from_fn(|| all.try_recv().ok()).collect();
        assert_eq!(got, (12..20).collect::<Vec<_>>(), "the whole ring, no more");
        assert_eq!(lapped.try_recv(), Err(BroadcastRecvError::Lagged(10)), "lapped before it read");
        assert_eq!(lapped.try_recv(), Ok(12));
        assert_eq!(fresh.try_recv(), Err(BroadcastRecvError::Lagged(7)));
        assert_eq!(fresh.try_recv(), Ok(12));
    });
}

#[test]
fn subscribers_are_told_when_the_publisher_is_gone_and_a_new_one_goes_on() {
    let names = Names::new("bc-gone", 1);
    let name = names.get(0).to_owned();
    watchdog(LIMIT, "disconnect", move || {
        let b = Broadcast::<u64>::create(&name, 8, Policy::Lossless).unwrap();
        let mut sub = b.subscribe().unwrap();
        // No publisher yet: wait for one, not disconnected.
        assert_eq!(sub.try_recv(), Err(BroadcastRecvError::Empty));
        let mut p = b.publisher().unwrap();
        assert!(matches!(b.publisher(), Err(Error::Busy { end: "publisher", .. })));
        p.send_batch(&[1, 2, 3]).unwrap();
        drop(p);
        assert_eq!(sub.recv(), Ok(1), "what was published is still read");
        assert_eq!(sub.recv(), Ok(2));
        assert_eq!(sub.recv(), Ok(3));
        assert_eq!(sub.recv(), Err(BroadcastRecvError::Disconnected));
        assert_eq!(sub.try_recv(), Err(BroadcastRecvError::Disconnected));
        let mut again = b.publisher().unwrap();
        again.send(4).unwrap();
        assert_eq!(sub.recv(), Ok(4), "a new publisher goes on at the tail");
    });
}

#[test]
fn a_lossless_publisher_waits_for_the_slowest_subscriber() {
    let names = Names::new("bc-full", 1);
    let name = names.get(0).to_owned();
    watchdog(LIMIT, "full", move || {
        let b = Broadcast::<u64>::create(&name, 4, Policy::Lossless).unwrap();
        let mut fast = b.subscribe().unwrap();
        let mut slow = b.subscribe().unwrap();
        let mut p = b.publisher().unwrap();
        for i in 0..4 {
            p.try_send(i).unwrap();
            assert_eq!(fast.try_recv(), Ok(i));
        }
        assert_eq!(p.try_send(4), Err(BroadcastSendError::Full));
        assert_eq!(p.send_timeout(4, Duration::from_millis(20)), Err(BroadcastSendError::Timeout));
        assert_eq!(slow.try_recv(), Ok(0));
        p.try_send(4).unwrap();
        assert_eq!(p.send_batch_timeout(&[5, 6, 7], Duration::from_millis(20)), Err(BroadcastSendError::Timeout));
        drop(slow);
        // The slow one left: only `fast` counts now.
        assert_eq!(p.send_batch(&[5, 6, 7]), Ok(3));
        let got: Vec<u64> = std::iter::from_fn(|| fast.try_recv().ok()).collect();
        assert_eq!(got, [4, 5, 6, 7]);
    });
}

#[test]
fn byte_messages_of_any_length_up_to_the_bound() {
    let names = Names::new("bc-bytes", 1);
    let name = names.get(0).to_owned();
    watchdog(LIMIT, "bytes", move || {
        let b = ByteBroadcast::create(&name, 16, 100, Policy::Lossless).unwrap();
        assert_eq!(b.max_message_len(), 104, "rounded up to a multiple of 8");
        let opened = ByteBroadcast::open(&name).unwrap();
        assert_eq!((opened.max_message_len(), opened.capacity(), opened.policy()), (104, 16, Policy::Lossless));
        let mut sub = opened.subscribe().unwrap();
        let mut p = b.publisher().unwrap();
        let msgs: Vec<Vec<u8>> = (0..10u8).map(|i| vec![i; usize::from(i) * 10]).collect();
        for m in &msgs {
            p.send(m).unwrap();
        }
        assert_eq!(p.send(&[0; 105]), Err(BroadcastSendError::TooLarge { len: 105, max: 104 }));
        assert_eq!(sub.recv().unwrap(), msgs[0]);
        let mut small = [0u8; 5];
        assert_eq!(sub.try_recv_into(&mut small), Err(BroadcastRecvError::BufferTooSmall { len: 10 }));
        let mut buf = [0u8; 104];
        assert_eq!(sub.try_recv_into(&mut buf), Ok(10), "the message stayed unread");
        assert_eq!(&buf[..10], &msgs[1][..]);
        assert_eq!(sub.recv_with(|m| m.to_vec()).unwrap(), msgs[2]);
        for m in &msgs[3..] {
            assert_eq!(&sub.try_recv().unwrap(), m);
        }
        assert_eq!(sub.try_recv_with(|m| m.len()), Err(BroadcastRecvError::Empty));
    });
}

#[test]
fn opening_as_something_else_is_a_clear_error() {
    let names = Names::new("bc-kind", 2);
    let (typed, bytes) = (names.get(0).to_owned(), names.get(1).to_owned());
    watchdog(LIMIT, "kinds", move || {
        let _t = Broadcast::<u32>::create(&typed, 8, Policy::Lossy).unwrap();
        let _b = ByteBroadcast::create(&bytes, 8, 64, Policy::Lossy).unwrap();
        assert!(matches!(Broadcast::<u64>::open(&typed), Err(Error::WrongType { .. })));
        assert!(matches!(ByteBroadcast::open(&typed), Err(Error::WrongKind { .. })));
        assert!(matches!(Broadcast::<u8>::open(&bytes), Err(Error::WrongKind { .. })));
        assert!(matches!(shmkit::Queue::<u32>::open(&typed), Err(Error::WrongKind { .. })));
        let other_policy = Broadcast::<u32>::open_or_create(&typed, 8, Policy::Lossless);
        assert!(matches!(other_policy, Err(Error::InvalidArgument(_))), "{other_policy:?}");
        let other_len = ByteBroadcast::open_or_create(&bytes, 8, 128, Policy::Lossy);
        assert!(matches!(other_len, Err(Error::InvalidArgument(_))), "{other_len:?}");
        assert!(ByteBroadcast::open_or_create(&bytes, 8, 64, Policy::Lossy).is_ok());
        assert!(matches!(Broadcast::<u32>::create(&typed, 0, Policy::Lossy), Err(Error::InvalidArgument(_))));
    });
}

#[test]
fn subscribers_beyond_the_table_are_refused_and_a_left_entry_is_reused() {
    let names = Names::new("bc-table", 1);
    let name = names.get(0).to_owned();
    watchdog(LIMIT, "table", move || {
        let opts = OpenOptions::default().registry_slots(2);
        let b = Broadcast::<u64>::create_with(&name, 8, Policy::Lossless, &opts).unwrap();
        assert_eq!(b.max_subscribers(), 2);
        let s1 = b.subscribe().unwrap();
        let _s2 = b.subscribe().unwrap();
        assert!(matches!(b.subscribe(), Err(Error::RegistryFull { .. })));
        drop(s1);
        assert!(b.subscribe().is_ok());
    });
}

#[test]
fn lossy_readers_never_see_a_torn_message_while_lapped() {
    let names = Names::new("bc-torn", 1);
    let name = names.get(0).to_owned();
    watchdog(LIMIT, "torn", move || {
        const N: u64 = 200_000;
        let b = Broadcast::<[u64; 8]>::create(&name, 4, Policy::Lossy).unwrap();
        let readers: Vec<_> = (0..2)
            .map(|_| {
                let mut s = b.subscribe().unwrap();
                std::thread::spawn(move || {
                    let (mut got, mut lost, mut last) = (0u64, 0u64, None::<u64>);
                    loop {
                        match s.recv() {
                            Ok(m) => {
                                assert!(intact(&m), "torn: {m:?}");
                                assert!(last.is_none_or(|l| m[0] > l), "order");
                                last = Some(m[0]);
                                got += 1;
                            }
                            Err(BroadcastRecvError::Lagged(n)) => lost += n,
                            Err(BroadcastRecvError::Disconnected) => return (got, lost, last),
                            Err(e) => panic!("{e}"),
                        }
                    }
                })
            })
            .collect();
        let mut p = b.publisher().unwrap();
        for i in 0..N {
            p.send(message(i)).unwrap();
            if i % 1024 == 0 {
                std::thread::yield_now();
            }
        }
        drop(p);
        for r in readers {
            let (got, lost, last) = r.join().unwrap();
            assert_eq!(got + lost, N, "every message received or counted as missed");
            assert_eq!(last, Some(N - 1));
        }
    });
}

#[test]
fn a_publisher_killed_mid_publish_leaves_no_torn_message() {
    let names = Names::new("bc-kill-pub", 1);
    let name = names.get(0).to_owned();
    watchdog(LIMIT, "publisher killed", move || {
        let b = Broadcast::<[u64; 8]>::create(&name, 8, Policy::Lossy).unwrap();
        let mut sub = b.subscribe().unwrap();
        let mut c = Child::spawn_piped("park-publish", &[&name, "3"]);
        c.expect_line("PARKING");
        for i in 0..3 {
            assert_eq!(sub.recv_timeout(Duration::from_secs(10)), Ok(message(i)));
        }
        // Parked with the fourth half-published: nothing to read.
        assert_eq!(sub.recv_timeout(Duration::from_millis(50)), Err(BroadcastRecvError::Timeout));
        c.kill();
        assert_eq!(sub.recv_timeout(Duration::from_secs(10)), Err(BroadcastRecvError::Disconnected));
        // A new publisher writes that position again.
        let mut p = b.publisher().expect("the dead publisher's role is taken over");
        p.send(message(100)).unwrap();
        assert_eq!(sub.recv_timeout(Duration::from_secs(10)), Ok(message(100)));
    });
}

/// A subscriber reads a complete message by its slot's sequence, before
/// the tail moves. A publisher killed between the two: the message is read
/// once, then the end of the stream, and a new publisher goes on after it
/// (its first message is not lost to that subscriber).
#[test]
fn a_publisher_killed_before_its_tail_moves_loses_and_repeats_nothing() {
    let names = Names::new("bc-kill-tail", 1);
    let name = names.get(0).to_owned();
    watchdog(LIMIT, "publisher killed before the tail", move || {
        let b = Broadcast::<[u64; 8]>::create(&name, 8, Policy::Lossy).unwrap();
        let mut sub = b.subscribe().unwrap();
        let mut c = Child::spawn_piped("park-before-tail", &[&name, "3"]);
        c.expect_line("PARKING");
        for i in 0..4 {
            assert_eq!(sub.recv_timeout(Duration::from_secs(10)), Ok(message(i)), "message {i}");
        }
        assert_eq!(b.published(), 3, "the tail has not moved past the fourth");
        c.kill();
        assert_eq!(sub.recv_timeout(Duration::from_secs(10)), Err(BroadcastRecvError::Disconnected));
        let mut p = b.publisher().expect("the dead publisher's role is taken over");
        assert_eq!(b.published(), 4, "the new publisher starts after the complete message");
        p.send(message(100)).unwrap();
        assert_eq!(sub.recv_timeout(Duration::from_secs(10)), Ok(message(100)));
        assert_eq!(sub.try_recv(), Err(BroadcastRecvError::Empty));
    });
}

#[test]
fn a_killed_subscriber_never_stalls_a_lossless_publisher() {
    let names = Names::new("bc-kill-sub", 1);
    let name = names.get(0).to_owned();
    watchdog(LIMIT, "subscriber killed", move || {
        let b = Broadcast::<u64>::create(&name, 4, Policy::Lossless).unwrap();
        let mut c = Child::spawn_piped("idle-subscriber", &[&name]);
        c.expect_line("SUBSCRIBED");
        let mut p = b.publisher().unwrap();
        for i in 0..4 {
            p.send(i).unwrap();
        }
        assert_eq!(p.send_timeout(4, Duration::from_millis(50)), Err(BroadcastSendError::Timeout), "waits for it");
        c.kill();
        let t = Instant::now();
        p.send_timeout(4, Duration::from_secs(10)).expect("the dead subscriber is dropped");
        eprintln!("publisher went on {:?} after the kill", t.elapsed());
        assert_eq!(b.subscriber_count(), 0);
    });
}

#[test]
fn subscribers_in_other_processes_get_everything_then_disconnected() {
    let names = Names::new("bc-procs", 1);
    let name = names.get(0).to_owned();
    watchdog(LIMIT, "processes", move || {
        const N: u64 = 50_000;
        let _b = Broadcast::<u64>::create(&name, 256, Policy::Lossless).unwrap();
        let mut subs: Vec<Child> = (0..2).map(|_| Child::spawn_piped("subscriber", &[&name])).collect();
        for s in &mut subs {
            s.expect_line("SUBSCRIBED");
        }
        let mut publisher = Child::spawn_piped("publish", &[&name, &N.to_string()]);
        publisher.expect_line("PUBLISHING");
        publisher.expect_success(LIMIT);
        for mut s in subs {
            let result = s.expect_line("RESULT ");
            assert_eq!(result, format!("{N} {}", N * (N - 1) / 2));
            s.expect_success(LIMIT);
        }
    });
}

#[test]
fn in_place_reads_and_byte_batches() {
    let names = Names::new("bc-inplace", 2);
    let (lossless, lossy) = (names.get(0).to_owned(), names.get(1).to_owned());
    watchdog(LIMIT, "in place and batches", move || {
        for (name, policy) in [(&lossless, Policy::Lossless), (&lossy, Policy::Lossy)] {
            let b = ByteBroadcast::create(name, 8, 64, policy).unwrap();
            let mut sub = b.subscribe().unwrap();
            let mut p = b.publisher().unwrap();
            let msgs: Vec<Vec<u8>> = (0..5u8).map(|i| vec![i; usize::from(i) * 3]).collect();
            assert_eq!(
                p.send_batch(&[vec![0u8; 65]]),
                Err(BroadcastSendError::TooLarge { len: 65, max: 64 }),
                "a batch with a message too large publishes nothing"
            );
            assert_eq!(p.send_batch(&msgs), Ok(5));
            for m in &msgs {
                assert_eq!(sub.recv_with(|got| got.to_vec()).unwrap(), *m, "{policy:?}");
            }
            assert_eq!(sub.try_recv_with(|got| got.len()), Err(BroadcastRecvError::Empty));
        }
        // Typed, in place, a late joiner's catch-up messages included.
        let names = Names::new("bc-inplace-typed", 1);
        let b = Broadcast::<[u64; 8]>::create(names.get(0), 8, Policy::Lossless).unwrap();
        let mut p = b.publisher().unwrap();
        p.send_batch(&[message(0), message(1)]).unwrap();
        let mut late = b.subscribe_from_last(2).unwrap();
        p.send(message(2)).unwrap();
        for i in 0..3 {
            assert_eq!(late.recv_with(|m| intact(m) && m[0] == i), Ok(true));
        }
    });
}

/// Overwrites the sequence word of the slot that holds `value` (the eight
/// bytes before it in a typed broadcast's slot) in the segment's file.
fn scribble_sequence_before(path: &str, value: u64, seq: u64) {
    use std::io::{Read, Seek, SeekFrom, Write};
    let mut seg = std::fs::OpenOptions::new().read(true).write(true).open(path).unwrap();
    let mut bytes = Vec::new();
    seg.read_to_end(&mut bytes).unwrap();
    let at = bytes.windows(8).position(|w| w == value.to_ne_bytes()).expect("the message in the segment");
    seg.seek(SeekFrom::Start(at as u64 - 8)).unwrap();
    seg.write_all(&seq.to_ne_bytes()).unwrap();
}

#[test]
fn a_corrupted_slot_sequence_is_reported_not_read() {
    let names = Names::new("bc-corrupt", 1);
    let name = names.get(0).to_owned();
    let path = names.path(0);
    watchdog(LIMIT, "corrupted broadcast", move || {
        const MARK: u64 = 0x5EED_0000_0000_0000;
        let b = Broadcast::<u64>::create(&name, 4, Policy::Lossy).unwrap();
        let mut p = b.publisher().unwrap();
        let mut s = b.subscribe().unwrap();
        // Message 1's slot looks never written though the tail is past it.
        for i in 0..3 {
            p.send(MARK + i).unwrap();
        }
        assert_eq!(s.try_recv(), Ok(MARK));
        scribble_sequence_before(&path, MARK + 1, 1);
        assert!(matches!(s.try_recv(), Err(BroadcastRecvError::Corrupt(_))), "an unwritten slot behind the tail");
        assert!(matches!(s.recv(), Err(BroadcastRecvError::Corrupt(_))), "a blocking receive too, no wait");
        // The slot of position 4 (message 0's) claims a later message while
        // the tail is at 4: a subscriber that has read everything is told,
        // not sent ahead.
        p.send(MARK + 3).unwrap();
        let mut caught_up = b.subscribe().unwrap();
        assert_eq!(caught_up.try_recv(), Err(BroadcastRecvError::Empty));
        scribble_sequence_before(&path, MARK, 2 * 9 + 2);
        assert!(matches!(caught_up.try_recv(), Err(BroadcastRecvError::Corrupt(_))), "a later message at the tail");
    });
}

#[test]
fn a_last_message_sent_as_the_publisher_leaves_is_received_not_lost() {
    let names = Names::new("bc-last", 1);
    let name = names.get(0).to_owned();
    watchdog(LIMIT, "last message before the publisher left", move || {
        let _b = Broadcast::<u64>::create(&name, 8, Policy::Lossless).unwrap();
        let mut c = Child::spawn_piped("last-message-before-gone", &[&name]);
        assert_eq!(c.expect_line("GOT"), " Ok(42)", "the message sent as the publisher left");
        c.expect_success(LIMIT);
    });
}
