//! DynBroadcast: a broadcast of a type described at run time is the
//! segment of a Rust `Broadcast<T>` of the same layout, both ways, across
//! processes; a changed description is refused naming the field; sizes
//! that are not the element's are errors, not reads or writes past it.

mod common;
#[path = "common/job.rs"]
mod job;

use std::time::Duration;

use common::{Child, Names, say, watchdog};
use job::Job;
use shmkit::bytemuck::{bytes_of, pod_read_unaligned};
use shmkit::dynamic::DynBroadcast;
use shmkit::{Broadcast, BroadcastRecvError, BroadcastSendError, Error, Policy, Shape, ShmLayout};

fn job(i: u64) -> Job {
    Job { id: i, weight: i as f32 / 4.0, flags: i as u32 ^ 0x55 }
}

#[test]
fn child() {
    common::child_main(run_role);
}

fn run_role(role: &str, args: &[String]) -> i32 {
    match role {
        // Subscribes through a description, reads `n` jobs, checks each.
        "described_subscriber" => {
            let b = DynBroadcast::open(&args[0], &Job::type_desc()).expect("open described broadcast");
            let mut sub = b.subscribe().expect("subscribe");
            say("SUBSCRIBED");
            let mut buf = [0u8; std::mem::size_of::<Job>()];
            for i in 0..args[1].parse::<u64>().expect("n") {
                sub.recv_into_timeout(&mut buf, Duration::from_secs(30)).expect("a job");
                assert_eq!(pod_read_unaligned::<Job>(&buf), job(i), "job {i}");
            }
            0
        }
        other => panic!("unknown role {other}"),
    }
}

#[test]
fn a_typed_publisher_and_a_described_subscriber_in_another_process() {
    let names = Names::new("dynbc-proc", 1);
    let name = names.get(0).to_owned();
    watchdog(Duration::from_secs(60), "described subscriber", move || {
        const N: u64 = 10_000;
        let b = Broadcast::<Job>::create(&name, 16, Policy::Lossless).unwrap();
        let mut publisher = b.publisher().unwrap();
        let mut kid = Child::spawn_piped("described_subscriber", &[&name, &N.to_string()]);
        kid.expect_line("SUBSCRIBED");
        for i in 0..N {
            publisher.send_timeout(job(i), Duration::from_secs(30)).expect("the subscriber reads");
        }
        kid.expect_success(Duration::from_secs(30));
    });
}

#[test]
fn a_described_publisher_and_a_typed_subscriber_share_one_broadcast() {
    let names = Names::new("dynbc", 1);
    let b = DynBroadcast::create(names.get(0), &Job::type_desc(), 8, Policy::Lossy).unwrap();
    assert_eq!((b.elem_size(), b.capacity(), b.policy()), (16, 8, Policy::Lossy));
    let typed = Broadcast::<Job>::open(names.get(0)).unwrap();
    let mut sub = typed.subscribe().unwrap();
    let mut publisher = b.publisher().unwrap();
    for i in 0..3 {
        publisher.send(bytes_of(&job(i))).unwrap();
    }
    assert_eq!((0..3).map(|_| sub.try_recv().unwrap()).collect::<Vec<_>>(), [job(0), job(1), job(2)]);
    // Lossy: a described subscriber a ring behind is told how many it missed.
    let mut late = b.subscribe().unwrap();
    for i in 3..20 {
        publisher.send(bytes_of(&job(i))).unwrap();
    }
    let mut buf = [0u8; 16];
    assert_eq!(late.try_recv_into(&mut buf), Err(BroadcastRecvError::Lagged(9)));
    late.try_recv_into(&mut buf).unwrap();
    assert_eq!(pod_read_unaligned::<Job>(&buf), job(12));
    assert_eq!(late.pending(), 7);
}

#[test]
fn wrong_descriptions_and_sizes_are_errors() {
    let names = Names::new("dynbc-bad", 2);
    let _typed = Broadcast::<Job>::create(names.get(0), 4, Policy::Lossless).unwrap();
    let mut changed = Job::type_desc();
    let Shape::Struct(fields) = &mut changed.shape else { panic!("Job is a struct") };
    fields[1].ty = u32::type_desc();
    let err = DynBroadcast::open(names.get(0), &changed).unwrap_err();
    assert!(matches!(err, Error::WrongType { .. }) && err.to_string().contains("field 'weight'"), "{err}");
    let bytes = shmkit::ByteBroadcast::create(names.get(1), 4, 16, Policy::Lossy).unwrap();
    assert!(matches!(DynBroadcast::open(bytes.name(), &Job::type_desc()), Err(Error::WrongKind { .. })));

    let b = DynBroadcast::open(names.get(0), &Job::type_desc()).unwrap();
    assert_eq!(b.policy(), Policy::Lossless);
    let mut sub = b.subscribe().unwrap();
    let mut publisher = b.publisher().unwrap();
    assert_eq!(publisher.try_send(&[0; 15]), Err(BroadcastSendError::TooLarge { len: 15, max: 16 }));
    assert_eq!(publisher.try_send(&[0; 17]), Err(BroadcastSendError::TooLarge { len: 17, max: 16 }));
    publisher.try_send(bytes_of(&job(5))).unwrap();
    let mut short = [0u8; 8];
    assert_eq!(sub.try_recv_into(&mut short), Err(BroadcastRecvError::BufferTooSmall { len: 16 }));
    let mut long = [0xEEu8; 20];
    sub.try_recv_into(&mut long).unwrap();
    assert_eq!(pod_read_unaligned::<Job>(&long[..16]), job(5));
    assert_eq!(long[16..], [0xEE; 4], "nothing written past the element");
    assert!(matches!(
        DynBroadcast::open_or_create(names.get(0), &Job::type_desc(), 4, Policy::Lossy),
        Err(Error::InvalidArgument(_))
    ));
}
