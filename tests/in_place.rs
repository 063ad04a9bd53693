//! Queue<T> in place: `send_with` writes into the slot, `recv_with` reads
//! from it; a closure that panics leaves the queue working.

mod common;

use std::time::Duration;

use common::{Names, watchdog};
use shmkit::{Queue, RecvError, RecvTimeoutError, SendError, SendTimeoutError, TryRecvError, TrySendError};

const LIMIT: Duration = Duration::from_secs(60);
const PAGE: usize = 65536;

fn make(name: &str, spsc: bool, cap: usize) -> Queue<[u8; PAGE]> {
    if spsc { Queue::create_spsc(name, cap).unwrap() } else { Queue::create(name, cap).unwrap() }
}

#[test]
fn large_messages_go_in_and_out_in_place_in_both_modes() {
    for spsc in [false, true] {
        let names = Names::new("inplace", 1);
        let name = names.get(0).to_owned();
        watchdog(LIMIT, "in place", move || {
            let q = make(&name, spsc, 4);
            let (tx, rx) = (q.sender().unwrap(), q.receiver().unwrap());
            let consumer = std::thread::spawn(move || {
                let mut sums = Vec::new();
                for _ in 0..100 {
                    let s = rx.recv_with(|page| page.iter().map(|&b| u64::from(b)).sum::<u64>()).unwrap();
                    sums.push(s);
                }
                assert_eq!(rx.try_recv_with(|p| p[0]), Err(TryRecvError::Empty));
                sums
            });
            for i in 0..100u8 {
                let fill = vec![i; PAGE];
                tx.send_with(|slot| slot.copy_from_slice(&fill)).unwrap();
            }
            let sums = consumer.join().unwrap();
            assert_eq!(sums, (0..100u64).map(|i| i * PAGE as u64).collect::<Vec<_>>(), "spsc: {spsc}");
        });
    }
}

#[test]
fn full_empty_timeouts_and_disconnected_without_calling_the_closure() {
    for spsc in [false, true] {
        let names = Names::new("inplace-err", 1);
        let name = names.get(0).to_owned();
        watchdog(LIMIT, "in place errors", move || {
            let q = make(&name, spsc, 1);
            let (tx, rx) = (q.sender().unwrap(), q.receiver().unwrap());
            let never = |_: &mut [u8; PAGE]| panic!("not called when there is no room");
            tx.try_send_with(|slot| slot[0] = 1).unwrap();
            assert_eq!(tx.try_send_with(never), Err(TrySendError::Full(())));
            assert_eq!(tx.send_with_timeout(never, Duration::from_millis(10)), Err(SendTimeoutError::Timeout(())));
            assert_eq!(rx.recv_with_timeout(|p| p[0], Duration::from_millis(10)), Ok(1));
            assert_eq!(rx.recv_with_timeout(|p| p[0], Duration::from_millis(10)), Err(RecvTimeoutError::Timeout));
            drop(rx);
            assert_eq!(tx.send_with(never), Err(SendError::Disconnected(())));
            drop(q);
        });
    }
}

#[test]
fn the_stream_ends_for_in_place_receives() {
    let names = Names::new("inplace-end", 1);
    let name = names.get(0).to_owned();
    watchdog(LIMIT, "in place end", move || {
        let q = Queue::<u64>::create(&name, 4).unwrap();
        let rx = q.receiver().unwrap();
        let tx = q.sender().unwrap();
        tx.send_with(|v| *v = 9).unwrap();
        drop(tx);
        drop(q);
        assert_eq!(rx.recv_with(|v| *v), Ok(9));
        assert_eq!(rx.recv_with(|v| *v), Err(RecvError));
    });
}

#[test]
fn a_panicking_writer_or_reader_leaves_the_queue_working() {
    for spsc in [false, true] {
        let names = Names::new("inplace-panic", 1);
        let name = names.get(0).to_owned();
        watchdog(LIMIT, "in place panics", move || {
            let q = if spsc {
                Queue::<u64>::create_spsc(&name, 4).unwrap()
            } else {
                Queue::<u64>::create(&name, 4).unwrap()
            };
            let (tx, rx) = (q.sender().unwrap(), q.receiver().unwrap());
            let writer = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                let _ = tx.send_with(|_| panic!("writer"));
            }));
            assert!(writer.is_err());
            tx.send(1).unwrap();
            assert_eq!(rx.recv(), Ok(1), "a half-written message is never delivered (spsc: {spsc})");
            tx.send(2).unwrap();
            tx.send(3).unwrap();
            let reader = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                let _ = rx.recv_with(|_| -> u64 { panic!("reader") });
            }));
            assert!(reader.is_err());
            // The queue goes on: the message the reader held is gone on a
            // multi-producer queue (as for a killed receiver), and comes
            // again on a single-producer one.
            let rest: Vec<u64> = std::iter::from_fn(|| rx.try_recv().ok()).collect();
            assert_eq!(rest, if spsc { vec![2, 3] } else { vec![3] }, "spsc: {spsc}");
            for i in 0..8 {
                tx.send(i).unwrap();
                assert_eq!(rx.recv(), Ok(i));
            }
        });
    }
}
