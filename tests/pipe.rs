//! Pipe across real processes: duplex messages, values, poll, end of stream
//! when the peer closes or dies, exclusive ends.

mod common;

use std::time::Duration;

use common::{Child, Names, say, watchdog};
use shmkit::{ByteRecvError, ByteSendError, Error, Pipe};

#[test]
fn child() {
    common::child_main(run_role);
}

fn run_role(role: &str, args: &[String]) -> i32 {
    let pipe = Pipe::open(&args[0]).expect("open pipe");
    // A second argument names the end to take.
    let mut conn = match args.get(1) {
        Some(end) => pipe.connect_end(end.parse().expect("an end")).expect("that end is free"),
        None => pipe.connect().expect("a free end"),
    };
    say("READY");
    match role {
        "echo" => {
            // Echoes every message, doubling u64 values, until end of stream.
            loop {
                match conn.recv() {
                    Ok(m) if m.len() == 8 => {
                        let v = u64::from_ne_bytes(m.try_into().unwrap());
                        conn.send_value(&(v * 2)).expect("peer is there");
                    }
                    Ok(m) => conn.send(&m).expect("peer is there"),
                    Err(ByteRecvError::Disconnected) => return 0,
                    Err(e) => panic!("{e}"),
                }
            }
        }
        "send-and-hang" => {
            for i in 0..3u64 {
                conn.send_value(&i).unwrap();
            }
            say("SENT");
            std::thread::sleep(Duration::from_secs(600));
            0
        }
        "send-and-exit" => {
            for i in 0..3u64 {
                conn.send_value(&i).unwrap();
            }
            0
        }
        "hold" => {
            std::thread::sleep(Duration::from_secs(600));
            0
        }
        other => panic!("unknown role {other}"),
    }
}

#[test]
fn duplex_messages_and_values_between_processes() {
    let names = Names::new("pipe-duplex", 1);
    let name = names.get(0).to_owned();
    watchdog(Duration::from_secs(60), "duplex", move || {
        let pipe = Pipe::create(&name).unwrap();
        let mut a = pipe.connect().unwrap();
        assert_eq!(a.end(), 0);
        let echo = Child::spawn("echo", &[&name]);
        for i in 0..10_000u64 {
            a.send_value(&i).unwrap();
            assert_eq!(a.recv_value::<u64>(), Ok(2 * i));
        }
        let big: Vec<u8> = (0..60_000u32).map(|i| i as u8).collect();
        a.send(&big).unwrap();
        let mut buf = vec![0; 60_000];
        assert_eq!(a.recv_into(&mut buf), Ok(60_000));
        assert_eq!(buf, big);
        assert_eq!(a.send(&vec![0; 70_000]), Err(ByteSendError::TooLarge { len: 70_000, max: 64 * 1024 - 8 }));
        drop(a);
        echo.expect_success(Duration::from_secs(10));
    });
}

#[test]
fn a_killed_peer_is_end_of_stream_after_what_it_sent() {
    let names = Names::new("pipe-killed", 1);
    let name = names.get(0).to_owned();
    watchdog(Duration::from_secs(60), "killed_peer", move || {
        let pipe = Pipe::create(&name).unwrap();
        let mut a = pipe.connect().unwrap();
        // Before the peer ever connected: waiting, not the end.
        assert_eq!(a.poll(Duration::from_millis(20)), Ok(false));
        assert_eq!(a.recv_timeout(Duration::from_millis(5)), Err(ByteRecvError::Timeout));
        let mut peer = Child::spawn_piped("send-and-hang", &[&name]);
        peer.expect_line("SENT");
        assert_eq!(a.poll(Duration::ZERO), Ok(true));
        peer.kill();
        for i in 0..3u64 {
            assert_eq!(a.recv_value::<u64>(), Ok(i), "what the peer sent before dying is delivered");
        }
        assert_eq!(a.recv(), Err(ByteRecvError::Disconnected), "then end of stream");
        assert_eq!(a.poll(Duration::from_secs(1)), Err(ByteRecvError::Disconnected));
        // A dead receiver is noticed within a bounded number of sends.
        let mut queued = 0;
        let refused = loop {
            match a.send(b"anyone?") {
                Ok(()) => queued += 1,
                Err(e) => break e,
            }
            assert!(queued < 2 * 1024, "a dead peer was not noticed");
        };
        assert_eq!(refused, ByteSendError::Disconnected);

        // The dead peer's end is free: a new process connects to it, and
        // gets what was queued for the end.
        let mut echo = Child::spawn_piped("echo", &[&name]);
        echo.expect_line("READY");
        a.send(b"hello again").expect("a new peer took the end");
        for _ in 0..queued {
            assert_eq!(a.recv().unwrap(), b"anyone?");
        }
        assert_eq!(a.recv().unwrap(), b"hello again");
        drop(a);
        echo.expect_success(Duration::from_secs(10));
    });
}

#[test]
fn a_closed_peer_is_end_of_stream_and_ends_are_exclusive() {
    let names = Names::new("pipe-closed", 1);
    let name = names.get(0).to_owned();
    watchdog(Duration::from_secs(60), "closed_peer", move || {
        let pipe = Pipe::create(&name).unwrap();
        let mut a = pipe.connect().unwrap();
        let mut holder = Child::spawn_piped("hold", &[&name]);
        holder.expect_line("READY");
        let err = Pipe::open(&name).unwrap().connect().unwrap_err();
        assert!(matches!(err, Error::Busy { .. }), "a third connection: {err}");
        holder.kill();

        let mut b = Pipe::open(&name).unwrap().connect().unwrap();
        assert_eq!(b.end(), 1);
        b.send(b"last words").unwrap();
        drop(b);
        assert_eq!(a.recv().unwrap(), b"last words");
        assert_eq!(a.recv(), Err(ByteRecvError::Disconnected));
        assert_eq!(a.try_recv(), Err(ByteRecvError::Disconnected));
        assert_eq!(a.send(b"x"), Err(ByteSendError::Disconnected));
    });
}

/// The pipe and its connections are `Debug` and name the pipe.
#[test]
fn pipe_types_are_debug() {
    let names = Names::new("pipe-debug", 1);
    let pipe = Pipe::create(names.get(0)).unwrap();
    let a = pipe.connect().unwrap();
    let b = pipe.connect().unwrap();
    for text in [format!("{pipe:?}"), format!("{a:?}"), format!("{b:?}")] {
        assert!(text.contains(names.get(0)), "{text}");
    }
    assert!(format!("{b:?}").contains("end: 1"));
}

/// `open_or_create(_with)` opens an existing pipe as it is; the deadline
/// forms, the value forms and `try_poll` of a connection.
#[test]
fn open_or_create_and_every_form() {
    use std::time::Instant;
    let names = Names::new("pipe-forms", 1);
    let opts = shmkit::OpenOptions::new().registry_slots(4);
    let made = Pipe::open_or_create_with(names.get(0), 128, &opts).unwrap();
    let opened = Pipe::open_or_create(names.get(0)).unwrap().with_wait_strategy(shmkit::WaitStrategy::Park);
    assert_eq!(opened.capacity(), 128, "opened as it is");
    let (mut a, mut b) = (made.connect().unwrap(), opened.connect().unwrap());
    let later = || Instant::now() + Duration::from_secs(5);
    let soon = || Instant::now() + Duration::from_millis(10);
    a.send_deadline(b"hi", later()).unwrap();
    assert_eq!(b.recv_deadline(later()).unwrap(), b"hi");
    a.try_send_value(&5u32).unwrap();
    assert_eq!(b.recv_value_deadline::<u32>(later()), Ok(5));
    assert_eq!(b.try_poll(), Ok(false));
    assert_eq!(b.poll_deadline(soon()), Ok(false));
    let mut buf = [0u8; 8];
    assert_eq!(b.recv_into_deadline(&mut buf, soon()), Err(ByteRecvError::Timeout));
    a.send_value_timeout(&7u64, Duration::from_secs(5)).unwrap();
    assert_eq!(b.try_poll(), Ok(true));
    assert_eq!(b.try_recv_value::<u64>(), Ok(7));
    a.send_value_deadline(&8u64, later()).unwrap();
    assert_eq!(b.recv_value_timeout::<u64>(Duration::from_secs(5)), Ok(8));
    b.send_deadline(b"back", later()).unwrap();
    assert_eq!(a.recv_into_deadline(&mut buf, later()), Ok(4));
    drop(a);
    assert_eq!(b.recv_deadline(later()), Err(ByteRecvError::Disconnected));
    assert_eq!(b.send_deadline(b"x", later()), Err(ByteSendError::Disconnected));
}

/// A connection writes and reads in place, as a byte queue's ends do: a
/// committed grant is sent (shrunk by `commit_len`), a dropped one is not;
/// a read grant frees its message when dropped; a peer that left is the end
/// of the stream for `recv_ref` too.
#[test]
fn connections_write_and_read_in_place() {
    let names = Names::new("pipe-grants", 1);
    let pipe = Pipe::create_with(names.get(0), 256, &shmkit::OpenOptions::default()).unwrap();
    let (mut a, mut b) = (pipe.connect().unwrap(), pipe.connect().unwrap());
    let mut g = a.try_reserve(5).unwrap();
    g.copy_from_slice(b"hello");
    g.commit();
    a.reserve_timeout(3, Duration::from_secs(5)).unwrap()[..].copy_from_slice(b"not"); // dropped: not sent
    let mut g = a.reserve(64).unwrap();
    g[..4].copy_from_slice(b"four");
    g.commit_len(4);
    assert_eq!(&*b.try_recv_ref().unwrap(), b"hello");
    assert_eq!(&*b.recv_ref_timeout(Duration::from_secs(5)).unwrap(), b"four");
    assert_eq!(b.try_recv_ref().err(), Some(ByteRecvError::Empty));
    // Both ways, and every message freed: more than the ring holds in all.
    for i in 0..100u8 {
        let mut g = b.reserve(40).unwrap();
        g.fill(i);
        g.commit();
        let m = a.recv_ref().unwrap();
        assert_eq!((m.len(), m[0], m[39]), (40, i, i));
    }
    drop(a);
    assert_eq!(b.recv_ref().err(), Some(ByteRecvError::Disconnected));
    assert_eq!(b.try_reserve(8).err(), Some(ByteSendError::Disconnected));
}

#[test]
fn an_end_taken_by_number_sees_the_end_of_a_peer_that_came_and_went() {
    let names = Names::new("pipe-handoff", 2);
    let (name, fresh) = (names.get(0).to_owned(), names.get(1).to_owned());
    watchdog(Duration::from_secs(60), "an_end_taken_by_number", move || {
        let pipe = Pipe::create(&name).unwrap();
        // The peer takes the first free end, sends and exits before this
        // side connects: connect() then takes the peer's freed end and
        // waits on the direction nobody writes (the trap connect_end avoids).
        let peer = Child::spawn("send-and-exit", &[&name]);
        peer.expect_success(Duration::from_secs(30));
        let mut wrong = pipe.connect().unwrap();
        assert_eq!(wrong.end(), 0, "the end the peer used and left");
        assert_eq!(wrong.recv_timeout(Duration::from_millis(50)), Err(ByteRecvError::Timeout));
        drop(wrong);
        let mut right = pipe.connect_end(1).unwrap();
        for i in 0..3u64 {
            assert_eq!(right.recv_value::<u64>(), Ok(i), "what the peer sent on end 0");
        }
        assert_eq!(right.recv(), Err(ByteRecvError::Disconnected));

        // Agreed ends, in either order: the peer on end 1 first, then end 0.
        let pipe = Pipe::create(&fresh).unwrap();
        let peer = Child::spawn("send-and-exit", &[&fresh, "1"]);
        peer.expect_success(Duration::from_secs(30));
        let mut mine = pipe.connect_end(0).unwrap();
        for i in 0..3u64 {
            assert_eq!(mine.recv_value::<u64>(), Ok(i));
        }
        assert_eq!(mine.recv(), Err(ByteRecvError::Disconnected));
        assert_eq!(mine.send(b"gone"), Err(ByteSendError::Disconnected));
    });
}

#[test]
fn connect_end_checks_its_end() {
    let names = Names::new("pipe-end-args", 1);
    let pipe = Pipe::create(&names[0]).unwrap();
    assert!(matches!(pipe.connect_end(2), Err(Error::InvalidArgument(_))));
    let one = pipe.connect_end(1).unwrap();
    assert_eq!(one.end(), 1);
    assert!(matches!(pipe.connect_end(1), Err(Error::Busy { .. })));
    let zero = pipe.connect().unwrap();
    assert_eq!(zero.end(), 0, "connect takes the end left");
    drop(one);
    assert_eq!(pipe.connect_end(1).unwrap().end(), 1, "a closed end is free again");
}
