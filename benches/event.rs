//! Event wake-up latency across processes, against an eventfd peer.
//!
//! Each benchmark is a ping-pong between this process and a peer process
//! (this bench binary re-executed with a role in the environment): one
//! iteration is a round trip, i.e. two "signal -> the other side wakes".
//!
//! - `event_pingpong/spin`: two Events, both sides `WaitStrategy::Spin`.
//! - `event_pingpong/adaptive`: the default (spin briefly, then sleep).
//! - `event_pingpong/park`: both sides sleep at once (futex wait/wake).
//! - `condvar_pingpong/{adaptive,park}`: a `Mutex<u64>` turn counter and a
//!   `Condvar`, each side waiting for its turn with `wait_while`.
//! - `eventfd_pingpong`: two eventfds, blocking read/write (the peer).
//! - `event_set_clear_no_waiters`: `set` + `clear` with nobody waiting (no
//!   syscall).
//!
//! Run with `cargo bench --bench event`.

use std::hint::black_box;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use criterion::Criterion;
use shmkit::{Condvar, Event, LockError, Mutex, WaitStrategy};

const ROLE_VAR: &str = "SHMKIT_EVENT_BENCH_PEER";

fn strategy_of(s: &str) -> WaitStrategy {
    match s {
        "spin" => WaitStrategy::Spin,
        "park" => WaitStrategy::Park,
        _ => WaitStrategy::Adaptive,
    }
}

/// The peer process: answers each ping with a pong until told to quit.
fn peer(spec: &str) {
    let parts: Vec<&str> = spec.split(',').collect();
    match parts.as_slice() {
        ["event", strategy, ping, pong, quit] => {
            let s = strategy_of(strategy);
            let ping = Event::open(ping).expect("open ping").with_wait_strategy(s);
            let pong = Event::open(pong).expect("open pong");
            let quit = Event::open(quit).expect("open quit");
            loop {
                ping.wait();
                ping.clear();
                if quit.is_set() {
                    return;
                }
                pong.set();
            }
        }
        ["condvar", strategy, turn, cv] => {
            let s = strategy_of(strategy);
            let turn = Mutex::<u64>::open(turn).expect("open turn").with_wait_strategy(s);
            let cv = Condvar::open(cv).expect("open condvar").with_wait_strategy(s);
            loop {
                let lock = turn.lock().unwrap_or_else(LockError::into_inner);
                let mut g = cv.wait_while(lock, |v| *v % 2 == 0).unwrap_or_else(LockError::into_inner);
                if *g == u64::MAX {
                    return;
                }
                *g += 1;
                drop(g);
                cv.notify_one();
            }
        }
        ["eventfd", ping, pong] => {
            let (ping, pong): (i32, i32) = (ping.parse().expect("fd"), pong.parse().expect("fd"));
            loop {
                let n = efd_read(ping);
                if n != 1 {
                    return; // the quit value
                }
                efd_write(pong, 1);
            }
        }
        _ => panic!("bad peer spec {spec}"),
    }
}

fn efd_read(fd: i32) -> u64 {
    let mut v = 0u64;
    // SAFETY: reads 8 bytes into a live u64; fd is an eventfd we own.
    let n = unsafe { libc::read(fd, (&mut v as *mut u64).cast(), 8) };
    assert_eq!(n, 8, "eventfd read");
    v
}

fn efd_write(fd: i32, v: u64) {
    // SAFETY: writes 8 bytes from a live u64; fd is an eventfd we own.
    let n = unsafe { libc::write(fd, (&v as *const u64).cast(), 8) };
    assert_eq!(n, 8, "eventfd write");
}

/// A peer process, killed and reaped on drop.
struct Peer(Child);

impl Peer {
    fn spawn(spec: &str) -> Peer {
        let exe = std::env::current_exe().expect("bench binary path");
        let child = Command::new(exe)
            .env(ROLE_VAR, spec)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
            .expect("spawn peer");
        Peer(child)
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(2);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.0.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn bench_event_pingpong(c: &mut Criterion) {
    let mut group = c.benchmark_group("event_pingpong");
    for strategy in ["spin", "adaptive", "park"] {
        let base = format!("bench-event-{}-{strategy}", std::process::id());
        let (pname, qname, xname) = (format!("{base}-ping"), format!("{base}-pong"), format!("{base}-quit"));
        let ping = Event::create(&pname).expect("create ping");
        let pong = Event::create(&qname).expect("create pong").with_wait_strategy(strategy_of(strategy));
        let quit = Event::create(&xname).expect("create quit");
        let peer = Peer::spawn(&format!("event,{strategy},{pname},{qname},{xname}"));
        group.bench_function(strategy, |b| {
            b.iter_custom(|iters| {
                let start = Instant::now();
                for _ in 0..iters {
                    ping.set();
                    pong.wait();
                    pong.clear();
                }
                start.elapsed()
            })
        });
        quit.set();
        ping.set();
        drop(peer);
    }
    group.finish();
}

fn bench_condvar_pingpong(c: &mut Criterion) {
    let mut group = c.benchmark_group("condvar_pingpong");
    for strategy in ["adaptive", "park"] {
        let s = strategy_of(strategy);
        let base = format!("bench-condvar-{}-{strategy}", std::process::id());
        let (tname, cname) = (format!("{base}-turn"), format!("{base}-cv"));
        let turn = Mutex::create(&tname, 0u64).expect("create turn").with_wait_strategy(s);
        let cv = Condvar::create(&cname).expect("create condvar").with_wait_strategy(s);
        let peer = Peer::spawn(&format!("condvar,{strategy},{tname},{cname}"));
        group.bench_function(strategy, |b| {
            b.iter_custom(|iters| {
                let start = Instant::now();
                for _ in 0..iters {
                    *turn.lock().unwrap_or_else(LockError::into_inner) += 1; // odd: the peer's turn
                    cv.notify_one();
                    let lock = turn.lock().unwrap_or_else(LockError::into_inner);
                    drop(cv.wait_while(lock, |v| *v % 2 == 1).unwrap_or_else(LockError::into_inner));
                }
                start.elapsed()
            })
        });
        *turn.lock().unwrap_or_else(LockError::into_inner) = u64::MAX;
        cv.notify_all();
        drop(peer);
    }
    group.finish();
}

fn bench_eventfd_pingpong(c: &mut Criterion) {
    // Without EFD_CLOEXEC: the peer inherits both descriptors.
    // SAFETY: eventfd has no memory-safety requirements.
    let (ping, pong) = unsafe { (libc::eventfd(0, 0), libc::eventfd(0, 0)) };
    assert!(ping >= 0 && pong >= 0, "eventfd");
    let peer = Peer::spawn(&format!("eventfd,{ping},{pong}"));
    c.bench_function("eventfd_pingpong", |b| {
        b.iter_custom(|iters| {
            let start = Instant::now();
            for _ in 0..iters {
                efd_write(ping, 1);
                black_box(efd_read(pong));
            }
            start.elapsed()
        })
    });
    efd_write(ping, 1000);
    drop(peer);
    // SAFETY: closing descriptors we created and no longer use.
    unsafe {
        libc::close(ping);
        libc::close(pong);
    }
}

fn bench_set_clear(c: &mut Criterion) {
    let name = format!("bench-event-{}-setclear", std::process::id());
    let ev = Event::create(&name).expect("create");
    c.bench_function("event_set_clear_no_waiters", |b| {
        b.iter(|| {
            ev.set();
            ev.clear();
        })
    });
}

fn main() {
    if let Ok(spec) = std::env::var(ROLE_VAR) {
        peer(&spec);
        return;
    }
    let mut c = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(20)
        .configure_from_args();
    bench_event_pingpong(&mut c);
    bench_condvar_pingpong(&mut c);
    bench_eventfd_pingpong(&mut c);
    bench_set_clear(&mut c);
    c.final_summary();
}
