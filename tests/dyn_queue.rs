//! DynQueue: a queue of a type described at run time shares its segment
//! with a Rust `Queue<T>` of the same layout, in both modes, across
//! processes; sizes are checked, every blocking form exists.

mod common;
#[path = "common/job.rs"]
mod job;

use std::time::{Duration, Instant};

use common::{Child, Names, say, watchdog};
use job::Job;
use shmkit::bytemuck::{Pod, Zeroable, bytes_of, pod_read_unaligned};
use shmkit::dynamic::DynQueue;
use shmkit::{ByteRecvError, ByteSendError, Error, Field, Queue, ShmLayout, ShmType, TypeDesc};

/// An alignment past the state word's, so the slot's data is padded.
#[derive(Clone, Copy, Debug, PartialEq, Pod, Zeroable, ShmType)]
#[repr(C, align(32))]
struct Wide {
    a: [u64; 4],
    b: [u64; 4],
    c: u8,
    _pad: [u8; 31],
}

/// What a C or Python program would describe for `Job`.
fn job_desc() -> TypeDesc {
    TypeDesc::structure(
        "Job",
        16,
        8,
        vec![
            Field::new("id", 0, u64::type_desc()),
            Field::new("weight", 8, f32::type_desc()),
            Field::new("flags", 12, u32::type_desc()),
        ],
    )
}

fn job(i: u64) -> Job {
    Job { id: i, weight: i as f32 / 2.0, flags: (i as u32).wrapping_mul(7) }
}

#[test]
fn child() {
    common::child_main(run_role);
}

fn run_role(role: &str, args: &[String]) -> i32 {
    match role {
        // A described party: receives `n` jobs, answers each with id + 1000.
        "echo" => {
            let q_in = DynQueue::open(&args[0], &job_desc()).expect("open in");
            let q_out = DynQueue::open(&args[1], &job_desc()).expect("open out");
            let (rx, tx) = (q_in.receiver().unwrap(), q_out.sender().unwrap());
            say("READY");
            let mut buf = [0u8; 16];
            for _ in 0..args[2].parse::<u64>().expect("n") {
                rx.recv(&mut buf).expect("a job");
                let mut j: Job = pod_read_unaligned(&buf);
                j.id += 1000;
                tx.send(bytes_of(&j)).expect("the receiver is there");
            }
            0
        }
        other => panic!("unknown role {other}"),
    }
}

#[test]
fn typed_and_described_share_one_queue_both_ways_in_both_modes() {
    let names = Names::new("dynq-share", 4);
    let names_owned: Vec<String> = (0..4).map(|i| names.get(i).to_owned()).collect();
    watchdog(Duration::from_secs(60), "typed_and_described", move || {
        // Created typed, used described; and the other way round.
        let typed = Queue::<Job>::create(&names_owned[0], 8).unwrap();
        let dynq = DynQueue::open(&names_owned[0], &job_desc()).unwrap();
        assert_eq!((dynq.elem_size(), dynq.capacity(), dynq.is_spsc()), (16, 8, false));
        let dynq2 = DynQueue::create(&names_owned[1], &job_desc(), 8).unwrap();
        let typed2 = Queue::<Job>::open(&names_owned[1]).unwrap();
        let sq = DynQueue::create_spsc(&names_owned[2], &job_desc(), 4).unwrap();
        let styped = Queue::<Job>::open(&names_owned[2]).unwrap();
        assert!(sq.is_spsc() && styped.is_spsc());
        for (t, d) in [(&typed, &dynq), (&typed2, &dynq2), (&styped, &sq)] {
            // Rust to described.
            let (ttx, drx) = (t.sender().unwrap(), d.receiver().unwrap());
            for i in 0..3 {
                ttx.send(job(i)).unwrap();
            }
            let mut buf = [0u8; 16];
            for i in 0..3 {
                drx.recv(&mut buf).unwrap();
                assert_eq!(pod_read_unaligned::<Job>(&buf), job(i));
            }
            drop((ttx, drx));
            // Described to Rust.
            let (dtx, trx) = (d.sender().unwrap(), t.receiver().unwrap());
            for i in 10..13 {
                dtx.send(bytes_of(&job(i))).unwrap();
            }
            for i in 10..13 {
                assert_eq!(trx.recv(), Ok(job(i)));
            }
        }
        // A padded slot: data after the state word at the type's alignment.
        let wide = Queue::<Wide>::create(&names_owned[3], 2).unwrap();
        let wdyn = DynQueue::open(&names_owned[3], &Wide::type_desc()).unwrap();
        let w = Wide { a: [1, 2, 3, 4], b: [5, 6, 7, 8], c: 9, _pad: [0; 31] };
        let (wtx, wrx) = (wide.sender().unwrap(), wide.receiver().unwrap());
        let (dtx, drx) = (wdyn.sender().unwrap(), wdyn.receiver().unwrap());
        wtx.send(w).unwrap();
        let mut buf = vec![0u8; std::mem::size_of::<Wide>()];
        drx.recv(&mut buf).unwrap();
        assert_eq!(pod_read_unaligned::<Wide>(&buf), w);
        dtx.send(bytes_of(&w)).unwrap();
        assert_eq!(wrx.recv(), Ok(w));
    });
}

#[test]
fn a_described_process_answers_a_typed_one() {
    let names = Names::new("dynq-proc", 2);
    let (a, b) = (names.get(0).to_owned(), names.get(1).to_owned());
    watchdog(Duration::from_secs(60), "described_process", move || {
        let (q_in, q_out) = (Queue::<Job>::create(&a, 16).unwrap(), Queue::<Job>::create(&b, 16).unwrap());
        let (tx, rx) = (q_in.sender().unwrap(), q_out.receiver().unwrap());
        let mut c = Child::spawn_piped("echo", &[&a, &b, "100"]);
        c.expect_line("READY");
        for i in 0..100 {
            tx.send(job(i)).unwrap();
            let mut want = job(i);
            want.id += 1000;
            assert_eq!(rx.recv_timeout(Duration::from_secs(10)), Ok(want));
        }
        c.expect_success(Duration::from_secs(10));
    });
}

#[test]
fn sizes_types_and_forms_are_checked() {
    let names = Names::new("dynq-check", 2);
    let (a, b) = (names.get(0).to_owned(), names.get(1).to_owned());
    watchdog(Duration::from_secs(60), "sizes_and_forms", move || {
        let q = DynQueue::create_joinable(&a, &job_desc(), 2).unwrap();
        assert!(q.is_joinable());
        let (tx, rx) = (q.sender().unwrap(), q.receiver().unwrap());
        assert_eq!(tx.send(&[0; 15]), Err(ByteSendError::WrongSize { len: 15, expected: 16 }));
        assert_eq!(tx.try_send(&[0; 17]), Err(ByteSendError::WrongSize { len: 17, expected: 16 }));
        assert_eq!(rx.try_recv(&mut [0; 8]), Err(ByteRecvError::WrongSize { len: 8, expected: 16 }));
        assert_eq!(rx.try_recv(&mut [0; 16]), Err(ByteRecvError::Empty));
        assert_eq!(rx.recv_timeout(&mut [0; 16], Duration::from_millis(10)), Err(ByteRecvError::Timeout));
        tx.try_send(bytes_of(&job(1))).unwrap();
        tx.send_timeout(bytes_of(&job(2)), Duration::from_secs(1)).unwrap();
        assert_eq!(tx.try_send(bytes_of(&job(3))), Err(ByteSendError::Full));
        assert_eq!(tx.send_deadline(bytes_of(&job(3)), Instant::now()), Err(ByteSendError::Timeout));
        assert_eq!(q.unfinished(), 2);
        let mut buf = [0u8; 16];
        rx.recv_deadline(&mut buf, Instant::now() + Duration::from_secs(1)).unwrap();
        rx.task_done().unwrap();
        assert!(!q.try_join());
        rx.recv(&mut buf).unwrap();
        rx.task_done().unwrap();
        assert!(q.join_timeout(Duration::from_secs(1)));
        drop(tx);
        assert_eq!(rx.recv(&mut buf), Err(ByteRecvError::Disconnected));
        // Another description is refused, naming the difference.
        let mut other = job_desc();
        other.name = "Task".into();
        assert!(matches!(DynQueue::open(&a, &other), Err(Error::WrongType { .. })));
        assert!(matches!(Queue::<u64>::open(&a), Err(Error::WrongType { .. })));
        // open_or_create takes the existing queue as it is.
        let again = DynQueue::open_or_create(&a, &job_desc(), 64).unwrap();
        assert_eq!(again.capacity(), 2);
        // A single-producer queue has one end of each side.
        let s = DynQueue::create_spsc(&b, &job_desc(), 2).unwrap().with_wait_strategy(shmkit::WaitStrategy::Park);
        let stx = s.sender().unwrap();
        assert!(matches!(s.sender(), Err(Error::Busy { .. })));
        assert!(matches!(stx.try_clone(), Err(Error::Busy { .. })));
        let srx = s.receiver().unwrap();
        stx.send(bytes_of(&job(5))).unwrap();
        srx.recv(&mut buf).unwrap();
        assert_eq!(pod_read_unaligned::<Job>(&buf), job(5));
        assert!(format!("{s:?} {stx:?} {srx:?}").contains("DynQueue"));
        // Descriptions that cannot be a layout are refused at create.
        let bad = TypeDesc::structure("Bad", 6, 4, vec![]);
        assert!(matches!(DynQueue::create(&b, &bad, 2), Err(Error::InvalidArgument(_))));
    });
}
