//! Chaos: hostile writes into the live state of every kind of object while
//! several processes use it, and SIGKILLs of those processes.
//!
//! For each kind, this process creates the object, maps its segment file
//! read-write a second time (as any process of the same user could), and
//! for the length of the run writes random 1, 2, 4 or 8-byte values —
//! random, 0, all ones, the value there ±1, small or index-shaped — at
//! random aligned offsets of the object's state, while three worker
//! processes use the object with timed calls; now and then it SIGKILLs a
//! worker and starts another.
//!
//! Passing means: no worker panics (every failure came back as an error
//! value), none dies of a signal it was not sent (no SIGSEGV, SIGBUS,
//! SIGABRT), and no call outlives its timeout by more than [`MARGIN`] (a
//! watchdog thread in each worker checks). What the calls return is not
//! checked: the state is garbage on purpose.
//!
//! Each kind runs `SHMKIT_CHAOS_SECS` seconds (default 3); `scripts/chaos.sh`
//! runs it for minutes in release mode. Each kind prints one summary line
//! (`chaos <kind>: ...`).

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicU16, AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use common::{Names, say, watchdog};
use shmkit::{Barrier, ByteQueue, Event, Mutex, Pipe, Queue, RwLock, Semaphore, TryLockError};

/// Worker processes per kind (also the barrier's parties).
const WORKERS: usize = 3;
/// The longest timeout a worker's call is given.
const CALL_TIMEOUT: Duration = Duration::from_millis(20);
/// How much longer than its timeout (at most 10 × [`CALL_TIMEOUT`]) a call
/// may take before it counts as a hang (a loaded 2-CPU machine running debug
/// builds).
const MARGIN: Duration = Duration::from_secs(5);

#[test]
fn child() {
    common::child_main(run_role);
}

fn run_secs() -> f64 {
    std::env::var("SHMKIT_CHAOS_SECS").ok().and_then(|s| s.parse().ok()).unwrap_or(3.0)
}

/// xorshift64*.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed | 1)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

// ---------------------------------------------------------------- workers

/// The call a worker is in, and since when: a watchdog thread turns a call
/// that outlives its timeout by [`MARGIN`] into exit code 3.
struct Watch {
    since_ms: AtomicU64,
    what: std::sync::Mutex<&'static str>,
    t0: Instant,
    /// The longest call so far: milliseconds, and which.
    longest: std::sync::Mutex<(u64, &'static str)>,
}

impl Watch {
    fn start() -> Arc<Watch> {
        let w = Arc::new(Watch {
            since_ms: AtomicU64::new(0),
            what: std::sync::Mutex::new(""),
            t0: Instant::now(),
            longest: std::sync::Mutex::new((0, "")),
        });
        let dog = w.clone();
        std::thread::spawn(move || {
            let limit = (CALL_TIMEOUT * 10 + MARGIN).as_millis() as u64;
            let mut told = 0;
            loop {
                std::thread::sleep(Duration::from_millis(50));
                let (ms, what) = *dog.longest.lock().unwrap_or_else(|e| e.into_inner());
                if ms > told {
                    told = ms;
                    say(&format!("LONGEST {ms} {what}"));
                }
                let since = dog.since_ms.load(Ordering::Acquire);
                let now = dog.t0.elapsed().as_millis() as u64 + 1;
                if since != 0 && now.saturating_sub(since) > limit {
                    let what = *dog.what.lock().unwrap_or_else(|e| e.into_inner());
                    say(&format!("HANG {what} for {} ms", now - since));
                    std::process::exit(3);
                }
            }
        });
        w
    }

    /// Runs one call under the watch.
    fn call<R>(&self, what: &'static str, f: impl FnOnce() -> R) -> R {
        *self.what.lock().unwrap_or_else(|e| e.into_inner()) = what;
        let start = self.t0.elapsed().as_millis() as u64 + 1;
        self.since_ms.store(start, Ordering::Release);
        let r = f();
        self.since_ms.store(0, Ordering::Release);
        let took = self.t0.elapsed().as_millis() as u64 + 1 - start;
        let mut longest = self.longest.lock().unwrap_or_else(|e| e.into_inner());
        if took > longest.0 {
            *longest = (took, what);
        }
        r
    }
}

/// Outcomes of a worker's calls, reported every 100 ms (`TALLY ok err`,
/// so that a worker killed by the test has its figures counted too) and
/// at the end.
#[derive(Default)]
struct Tally {
    ok: u64,
    err: u64,
    /// Failures in a row.
    streak: u32,
    reported: Option<Instant>,
}

impl Tally {
    fn count<T, E>(&mut self, r: &Result<T, E>) {
        self.flag(r.is_ok());
    }

    fn flag(&mut self, ok: bool) {
        if ok {
            self.ok += 1;
            self.streak = 0;
        } else {
            self.err += 1;
            self.streak += 1;
        }
        let now = Instant::now();
        if self.reported.is_none_or(|at| now.duration_since(at) >= Duration::from_millis(100)) {
            self.reported = Some(now);
            say(&format!("TALLY {} {}", self.ok, self.err));
        }
    }

    /// Whether to let go of the ends and take them anew: now and then, so
    /// that others take them, and after a run of failures (an end whose
    /// cursor no longer agrees with the state after a write or a heal).
    fn renew(&mut self, rng: &mut Rng) -> bool {
        let renew = self.streak > 30 || rng.below(500) == 0;
        if renew {
            self.streak = 0;
        }
        renew
    }
}

/// Opens the object with `open` until it works or the run is over
/// (an open may fail on a corrupted state: that is an error, not a crash).
fn open_retry<H, E>(w: &Watch, t: &mut Tally, end: Instant, mut open: impl FnMut() -> Result<H, E>) -> Option<H> {
    while Instant::now() < end {
        let r = w.call("open", &mut open);
        t.count(&r);
        if let Ok(h) = r {
            return Some(h);
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    None
}

/// A call's timeout: under a millisecond half the time, else up to
/// [`CALL_TIMEOUT`].
fn timeout(rng: &mut Rng) -> Duration {
    let most = if rng.below(2) == 0 { 1000 } else { CALL_TIMEOUT.as_micros() as u64 };
    Duration::from_micros(rng.below(most))
}

fn run_role(role: &str, args: &[String]) -> i32 {
    assert_eq!(role, "use", "unknown role {role}");
    let (kind, name) = (args[0].as_str(), args[1].as_str());
    let seed: u64 = args[2].parse().expect("seed");
    let end = Instant::now() + Duration::from_secs_f64(args[3].parse().expect("secs"));
    let w = Watch::start();
    let mut rng = Rng::new(seed);
    let mut t = Tally::default();
    say("READY");
    match kind {
        "queue" | "queue-spsc" => use_queue(&w, &mut t, &mut rng, name, end),
        "bytequeue" => use_bytequeue(&w, &mut t, &mut rng, name, end),
        "pipe" => use_pipe(&w, &mut t, &mut rng, name, end),
        "mutex" => use_mutex(&w, &mut t, &mut rng, name, end),
        "rwlock" => use_rwlock(&w, &mut t, &mut rng, name, end),
        "semaphore" => use_semaphore(&w, &mut t, &mut rng, name, end),
        "barrier" => use_barrier(&w, &mut t, &mut rng, name, end),
        "event" => use_event(&w, &mut t, &mut rng, name, end),
        other => panic!("unknown kind {other}"),
    }
    let (ms, what) = *w.longest.lock().unwrap_or_else(|e| e.into_inner());
    say(&format!("LONGEST {ms} {what}"));
    say(&format!("TALLY {} {}", t.ok, t.err));
    0
}

fn use_queue(w: &Watch, t: &mut Tally, rng: &mut Rng, name: &str, end: Instant) {
    let Some(q) = open_retry(w, t, end, || Queue::<u64>::open(name)) else { return };
    let (mut tx, mut rx) = (None, None);
    let mut buf = [0u64; 8];
    while Instant::now() < end {
        // Single-producer ends are held by one worker at a time: try to
        // take them now and then (a dead holder's end is taken over).
        if tx.is_none() && rng.below(8) == 0 {
            let r = w.call("sender", || q.sender());
            t.count(&r);
            tx = r.ok();
        }
        if rx.is_none() && rng.below(8) == 0 {
            let r = w.call("receiver", || q.receiver());
            t.count(&r);
            rx = r.ok();
        }
        let d = timeout(rng);
        match (rng.below(10), &tx, &rx) {
            (0, Some(tx), _) => t.count(&w.call("send_timeout", || tx.send_timeout(rng.next(), d))),
            (1, Some(tx), _) => t.count(&w.call("try_send", || tx.try_send(7))),
            (2, Some(tx), _) => t.count(&w.call("send_batch", || tx.send_batch_timeout(&[1, 2, 3], d))),
            (3, _, Some(rx)) => t.count(&w.call("recv_timeout", || rx.recv_timeout(d))),
            (4, _, Some(rx)) => t.count(&w.call("try_recv", || rx.try_recv())),
            (5, _, Some(rx)) => t.count(&w.call("recv_batch", || rx.recv_batch_timeout(&mut buf, d))),
            (6, _, Some(rx)) => t.count(&w.call("task_done", || rx.task_done())),
            (7, _, _) if rng.below(10) == 0 => t.flag(w.call("join_timeout", || q.join_timeout(d))),
            (8, _, _) => {
                let _ = w.call("len", || std::hint::black_box(q.len()));
            }
            _ => {}
        }
        if t.renew(rng) {
            tx = None;
            rx = None;
        }
        if tx.is_none() && rx.is_none() {
            std::thread::sleep(Duration::from_millis(1));
        }
    }
}

fn use_bytequeue(w: &Watch, t: &mut Tally, rng: &mut Rng, name: &str, end: Instant) {
    let Some(q) = open_retry(w, t, end, || ByteQueue::open(name)) else { return };
    let (mut tx, mut rx) = (None, None);
    let mut buf = [0u8; 256];
    while Instant::now() < end {
        if tx.is_none() && rng.below(8) == 0 {
            let r = w.call("sender", || q.sender());
            t.count(&r);
            tx = r.ok();
        }
        if rx.is_none() && rng.below(8) == 0 {
            let r = w.call("receiver", || q.receiver());
            t.count(&r);
            rx = r.ok();
        }
        let d = timeout(rng);
        let len = rng.below(200) as usize;
        match (rng.below(8), &mut tx, &mut rx) {
            (0, Some(tx), _) => t.count(&w.call("send_timeout", || tx.send_timeout(&buf[..len], d))),
            (1, Some(tx), _) => t.count(&w.call("try_send", || tx.try_send(&buf[..len]))),
            (2, Some(tx), _) => t.count(&w.call("send_batch", || tx.send_batch_timeout(&[&buf[..3], &buf[..9]], d))),
            (3, _, Some(rx)) => t.count(&w.call("recv_timeout", || rx.recv_timeout(d))),
            (4, _, Some(rx)) => t.count(&w.call("try_recv_into", || rx.try_recv_into(&mut buf))),
            (5, _, Some(rx)) => t.count(&w.call("poll", || rx.poll(d))),
            (6, _, _) => {
                let _ = w.call("used_bytes", || std::hint::black_box(q.used_bytes()));
            }
            _ => {}
        }
        if t.renew(rng) {
            tx = None;
            rx = None;
        }
        if tx.is_none() && rx.is_none() {
            std::thread::sleep(Duration::from_millis(1));
        }
    }
}

fn use_pipe(w: &Watch, t: &mut Tally, rng: &mut Rng, name: &str, end: Instant) {
    let Some(p) = open_retry(w, t, end, || Pipe::open(name)) else { return };
    let mut conn = None;
    let mut buf = [0u8; 256];
    while Instant::now() < end {
        let Some(c) = &mut conn else {
            let r = w.call("connect", || p.connect());
            t.count(&r);
            conn = r.ok();
            if conn.is_none() {
                std::thread::sleep(Duration::from_millis(1));
            }
            continue;
        };
        let d = timeout(rng);
        let len = rng.below(200) as usize;
        match rng.below(6) {
            0 => t.count(&w.call("send_timeout", || c.send_timeout(&buf[..len], d))),
            1 => t.count(&w.call("try_send", || c.try_send(&buf[..len]))),
            2 => t.count(&w.call("recv_timeout", || c.recv_timeout(d))),
            3 => t.count(&w.call("recv_into_timeout", || c.recv_into_timeout(&mut buf, d))),
            4 => t.count(&w.call("try_poll", || c.try_poll())),
            _ => {}
        }
        if t.renew(rng) {
            conn = None;
        }
    }
}

/// Counts a lock outcome: taken (even from a dead holder) or not.
fn lock_outcome<G>(t: &mut Tally, r: Result<G, TryLockError<G>>, mut with: impl FnMut(G)) {
    match r {
        Ok(g) | Err(TryLockError::OwnerDied(g)) => {
            t.flag(true);
            with(g);
        }
        Err(_) => t.flag(false),
    }
}

fn use_mutex(w: &Watch, t: &mut Tally, rng: &mut Rng, name: &str, end: Instant) {
    let Some(m) = open_retry(w, t, end, || Mutex::<[u64; 4]>::open(name)) else { return };
    while Instant::now() < end {
        let d = timeout(rng);
        let hold = rng.below(3) == 0;
        let r = if rng.below(2) == 0 {
            w.call("lock_timeout", || m.lock_timeout(d))
        } else {
            w.call("try_lock", || m.try_lock())
        };
        lock_outcome(t, r, |mut g| {
            g[0] = g[0].wrapping_add(1);
            if hold {
                std::thread::sleep(Duration::from_micros(200));
            }
            w.call("unlock", || drop(g));
        });
        w.call("is_locked", || std::hint::black_box(m.is_locked()));
    }
}

fn use_rwlock(w: &Watch, t: &mut Tally, rng: &mut Rng, name: &str, end: Instant) {
    let Some(l) = open_retry(w, t, end, || RwLock::<[u64; 4]>::open(name)) else { return };
    while Instant::now() < end {
        let d = timeout(rng);
        match rng.below(4) {
            0 => lock_outcome(t, w.call("read_timeout", || l.read_timeout(d)), |g| {
                std::hint::black_box(g[1]);
                w.call("read_unlock", || drop(g));
            }),
            1 => lock_outcome(t, w.call("try_read", || l.try_read()), |g| w.call("read_unlock", || drop(g))),
            2 => lock_outcome(t, w.call("write_timeout", || l.write_timeout(d)), |mut g| {
                g[1] = g[1].wrapping_add(1);
                w.call("write_unlock", || drop(g));
            }),
            _ => lock_outcome(t, w.call("try_write", || l.try_write()), |g| w.call("write_unlock", || drop(g))),
        }
    }
}

fn use_semaphore(w: &Watch, t: &mut Tally, rng: &mut Rng, name: &str, end: Instant) {
    let Some(s) = open_retry(w, t, end, || Semaphore::open(name)) else { return };
    while Instant::now() < end {
        let d = timeout(rng);
        match rng.below(5) {
            0 => t.flag(w.call("acquire_timeout", || s.acquire_timeout(d))),
            1 => t.flag(w.call("try_acquire", || s.try_acquire())),
            2 => t.count(&w.call("release", || s.release())),
            3 => t.count(&w.call("release_n", || s.release_n(rng.below(3) as u32))),
            _ => {
                let _ = w.call("value", || std::hint::black_box((s.value(), s.held())));
            }
        }
    }
}

fn use_barrier(w: &Watch, t: &mut Tally, rng: &mut Rng, name: &str, end: Instant) {
    let Some(b) = open_retry(w, t, end, || Barrier::open(name)) else { return };
    while Instant::now() < end {
        let d = timeout(rng);
        match rng.below(6) {
            // Long enough for the three to meet now and then.
            0..=3 => t.count(&w.call("wait_timeout", || b.wait_timeout(d * 10))),
            4 => t.count(&w.call("try_wait", || b.try_wait())),
            _ => {
                if w.call("is_broken", || b.is_broken()) {
                    w.call("reset", || b.reset());
                }
                t.flag(w.call("arrived", || b.arrived() <= b.parties()));
            }
        }
    }
}

fn use_event(w: &Watch, t: &mut Tally, rng: &mut Rng, name: &str, end: Instant) {
    let Some(e) = open_retry(w, t, end, || Event::open(name)) else { return };
    while Instant::now() < end {
        let d = timeout(rng);
        match rng.below(5) {
            0 => w.call("set", || e.set()),
            1 => w.call("clear", || e.clear()),
            2 => t.flag(w.call("wait_timeout", || e.wait_timeout(d))),
            3 => t.flag(w.call("try_wait", || e.try_wait())),
            _ => t.flag(w.call("is_set", || e.is_set())),
        }
    }
}

// ---------------------------------------------------------------- chaos

/// Keeps the object a kind's run is about alive (its creating handle).
#[allow(dead_code)]
enum Made {
    Queue(Queue<u64>),
    Bytes(ByteQueue),
    Pipe(Pipe),
    Mutex(Mutex<[u64; 4]>),
    RwLock(RwLock<[u64; 4]>),
    Semaphore(Semaphore),
    Barrier(Barrier),
    Event(Event),
}

fn make(kind: &str, name: &str) -> Made {
    match kind {
        "queue" => Made::Queue(Queue::create_joinable(name, 8).unwrap()),
        "queue-spsc" => Made::Queue(Queue::create_spsc(name, 8).unwrap()),
        "bytequeue" => Made::Bytes(ByteQueue::create(name, 1024).unwrap()),
        "pipe" => Made::Pipe(Pipe::create_with(name, 1024, &shmkit::OpenOptions::default()).unwrap()),
        "mutex" => Made::Mutex(Mutex::create(name, [0u64; 4]).unwrap()),
        "rwlock" => Made::RwLock(RwLock::create(name, [0u64; 4]).unwrap()),
        "semaphore" => Made::Semaphore(Semaphore::create_owned(name, 2).unwrap()),
        "barrier" => Made::Barrier(Barrier::create(name, WORKERS as u32).unwrap()),
        "event" => Made::Event(Event::create(name).unwrap()),
        other => panic!("unknown kind {other}"),
    }
}

/// A value to write over `cur`, `width` bytes wide.
fn hostile(rng: &mut Rng, cur: u64, width: u32) -> u64 {
    let mask = if width == 8 { u64::MAX } else { (1u64 << (8 * width)) - 1 };
    let v = match rng.below(7) {
        0 => rng.next(),
        1 => 0,
        2 => u64::MAX,
        3 => cur.wrapping_add(1),
        4 => cur.wrapping_sub(1),
        // Small: counts, indices, tags.
        5 => rng.below(64),
        // Index-shaped: near the value there, or a position a lap away.
        _ => cur.wrapping_add(rng.below(4096)).wrapping_sub(2048) ^ (rng.below(2) << rng.below(64)),
    };
    v & mask
}

/// Writes `v` at `at` as an atomic of `width` bytes.
///
/// # Safety
/// `at` is valid for `width` bytes and aligned to `width`, in a live shared
/// mapping (other processes use these bytes through atomics too).
unsafe fn store(at: *mut u8, width: u32, v: u64) {
    // SAFETY: per the contract, each cast pointer is aligned and valid.
    unsafe {
        match width {
            1 => (*at.cast::<AtomicU8>()).store(v as u8, Ordering::Relaxed),
            2 => (*at.cast::<AtomicU16>()).store(v as u16, Ordering::Relaxed),
            4 => (*at.cast::<AtomicU32>()).store(v as u32, Ordering::Relaxed),
            _ => (*at.cast::<AtomicU64>()).store(v, Ordering::Relaxed),
        }
    }
}

/// Reads `width` bytes at `at` atomically.
///
/// # Safety
/// As for [`store`].
unsafe fn load(at: *mut u8, width: u32) -> u64 {
    // SAFETY: as in `store`.
    unsafe {
        match width {
            1 => u64::from((*at.cast::<AtomicU8>()).load(Ordering::Relaxed)),
            2 => u64::from((*at.cast::<AtomicU16>()).load(Ordering::Relaxed)),
            4 => u64::from((*at.cast::<AtomicU32>()).load(Ordering::Relaxed)),
            _ => (*at.cast::<AtomicU64>()).load(Ordering::Relaxed),
        }
    }
}

/// A worker process: this test binary run again with the role `use`, as
/// `common::Child` starts one, but kept here so that the way a worker
/// ended — exit code or signal — is known, also for one that ended before
/// the SIGKILL meant to replace it.
struct Worker {
    child: std::process::Child,
    out: std::process::ChildStdout,
}

impl Worker {
    fn spawn(kind: &str, name: &str, seed: u64, secs: f64) -> Worker {
        let args = [kind, name, &seed.to_string(), &format!("{secs:.3}")].join("\u{1f}");
        let mut child = std::process::Command::new(std::env::current_exe().expect("test binary"))
            .args(["--exact", "child", "--nocapture", "--test-threads=1"])
            .env("SHMKIT_TEST_ROLE", "use")
            .env("SHMKIT_TEST_ARGS", args)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::inherit())
            .spawn()
            .expect("spawn a worker");
        let out = child.stdout.take().expect("piped stdout");
        let mut w = Worker { child, out };
        let line = w.line_with(&["READY"]);
        assert!(line.contains("READY"), "worker did not start: {line:?}");
        w
    }

    /// Reads lines until one contains one of `marks` (or the end: "").
    fn line_with(&mut self, marks: &[&str]) -> String {
        loop {
            let mut line = Vec::new();
            let mut byte = [0u8; 1];
            loop {
                match std::io::Read::read(&mut self.out, &mut byte) {
                    Ok(0) => return String::from_utf8_lossy(&line).into_owned(),
                    Ok(_) if byte[0] == b'\n' => break,
                    Ok(_) => line.push(byte[0]),
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(e) => panic!("read a worker's stdout: {e}"),
                }
            }
            let line = String::from_utf8_lossy(&line).into_owned();
            if marks.iter().any(|m| line.contains(m)) {
                return line;
            }
        }
    }

    /// SIGKILLs it and returns its figures. A worker that ended before the
    /// signal must have finished its run (exit code 0): a panic (101), a
    /// hang (3) or a crash (another signal) fails the test.
    fn kill(mut self, kind: &str) -> Figures {
        use std::os::unix::process::ExitStatusExt;
        if let Some(st) = self.child.try_wait().expect("wait for a worker") {
            assert!(st.success(), "chaos {kind}: a worker ended before its kill: {st}");
        } else {
            let _ = self.child.kill();
            let st = self.child.wait().expect("wait for a worker");
            assert!(
                st.success() || st.signal() == Some(libc::SIGKILL),
                "chaos {kind}: a worker ended before its kill: {st}"
            );
        }
        self.figures(kind)
    }

    /// Waits for the end of its run (exit code 0) and returns its figures.
    fn finish(mut self, kind: &str) -> Figures {
        let figures = self.figures(kind);
        let st = self.child.wait().expect("wait for a worker");
        assert!(st.success(), "chaos {kind}: a worker failed: {st} (101: a panic, 3: a hang, a signal: a crash)");
        figures
    }

    /// Reads what it printed, to the end of its output.
    fn figures(&mut self, kind: &str) -> Figures {
        let mut f = Figures::default();
        loop {
            let line = self.line_with(&["TALLY", "HANG", "LONGEST"]);
            assert!(!line.contains("HANG"), "chaos {kind}: a call hung: {line}");
            if line.is_empty() {
                return f;
            }
            let words: Vec<&str> = line.split_whitespace().collect();
            let at = words.iter().position(|w| *w == "TALLY" || *w == "LONGEST").unwrap_or(0);
            match words[at..] {
                ["TALLY", ok, err] => {
                    f.ok = ok.parse().unwrap_or(f.ok);
                    f.err = err.parse().unwrap_or(f.err);
                }
                ["LONGEST", ms, what] => f.longest = (ms.parse().unwrap_or(0), what.to_owned()),
                _ => {}
            }
        }
    }
}

/// What a worker reported: calls that succeeded, calls that failed with an
/// error, and its longest call (milliseconds, which).
#[derive(Default)]
struct Figures {
    ok: u64,
    err: u64,
    longest: (u64, String),
}

impl Figures {
    fn add(&mut self, other: Figures) {
        self.ok += other.ok;
        self.err += other.err;
        if other.longest.0 > self.longest.0 {
            self.longest = other.longest;
        }
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// One kind's run; prints its summary line.
fn chaos(kind: &'static str) {
    let secs = run_secs();
    let names = Names::new(&format!("chaos-{kind}"), 1);
    let name = names.get(0).to_owned();
    let path = names.path(0);
    let limit = Duration::from_secs_f64(secs) + MARGIN * 4 + Duration::from_secs(60);
    watchdog(limit, kind, move || {
        let _made = make(kind, &name);
        let (off, size) = shmkit::inspect::info(&name).expect("info").data;
        let file = std::fs::OpenOptions::new().read(true).write(true).open(&path).expect("open the segment file");
        let map = memmap2::MmapOptions::new().map_raw(&file).expect("map the segment file");
        assert!(off + size <= map.len() as u64, "state inside the file");
        let base = map.as_mut_ptr();
        let mut rng = Rng::new(0x9e37_79b9_7f4a_7c15 ^ u64::from(std::process::id()) ^ kind.len() as u64);
        eprintln!("chaos {kind}: seed {:#x}, state {size} bytes at {off}", rng.0);

        // The state as created: restored now and then ("healed"), so that
        // the workers get back to work and the next writes hit a state in
        // use rather than one already wrecked.
        // SAFETY: the state lies inside the mapping (asserted above).
        let fresh: Vec<u8> = (0..size).map(|i| unsafe { load(base.add((off + i) as usize), 1) } as u8).collect();
        let heal = || {
            let mut i = 0;
            while i < size {
                let width = if i % 8 == 0 && i + 8 <= size { 8 } else { 1 };
                let mut v = [0u8; 8];
                v[..width as usize].copy_from_slice(&fresh[i as usize..(i + width) as usize]);
                // SAFETY: in the state, aligned to its width (`off` is).
                unsafe { store(base.add((off + i) as usize), width as u32, u64::from_le_bytes(v)) };
                i += width;
            }
        };

        let t0 = Instant::now();
        let end = t0 + Duration::from_secs_f64(secs);
        let mut workers: Vec<Worker> = (0..WORKERS).map(|_| Worker::spawn(kind, &name, rng.next(), secs)).collect();
        let (mut writes, mut kills, mut heals) = (0u64, 0u64, 0u64);
        let mut all = Figures::default();
        let mut next_kill = t0 + Duration::from_millis(100 + rng.below(300));
        let mut next_heal = t0 + Duration::from_millis(200 + rng.below(400));
        while Instant::now() < end {
            for _ in 0..1 + rng.below(4) {
                let width = 1u32 << rng.below(4);
                // Half the writes land in the first 256 bytes (the control
                // words), half anywhere in the state.
                let span = if rng.below(2) == 0 { size.min(256) } else { size };
                let at = off + rng.below(span / u64::from(width)) * u64::from(width);
                // SAFETY: `at` is in the state, inside the mapping, and a
                // multiple of `width` from the page-aligned start of the map.
                unsafe {
                    let p = base.add(at as usize);
                    store(p, width, hostile(&mut rng, load(p, width), width));
                }
                writes += 1;
            }
            std::thread::sleep(Duration::from_micros(500 + rng.below(5000)));
            if Instant::now() >= next_heal {
                heal();
                heals += 1;
                next_heal = Instant::now() + Duration::from_millis(200 + rng.below(400));
            }
            if Instant::now() >= next_kill {
                let i = rng.below(WORKERS as u64) as usize;
                let left = end.saturating_duration_since(Instant::now()).as_secs_f64();
                let fresh = Worker::spawn(kind, &name, rng.next(), left);
                all.add(std::mem::replace(&mut workers[i], fresh).kill(kind));
                kills += 1;
                next_kill = Instant::now() + Duration::from_millis(100 + rng.below(400));
            }
        }
        for w in workers {
            all.add(w.finish(kind));
        }
        eprintln!(
            "chaos {kind}: {:.1} s, {writes} writes, {kills} kills, {} calls ok, {} failed as errors, {heals} heals, 0 panics, 0 crashes, 0 hangs, longest call {} ms ({})",
            t0.elapsed().as_secs_f64(),
            all.ok,
            all.err,
            all.longest.0,
            all.longest.1
        );
        drop(map);
    });
}

#[test]
fn chaos_queue() {
    chaos("queue");
}

#[test]
fn chaos_queue_single_producer() {
    chaos("queue-spsc");
}

#[test]
fn chaos_byte_queue() {
    chaos("bytequeue");
}

#[test]
fn chaos_pipe() {
    chaos("pipe");
}

#[test]
fn chaos_mutex() {
    chaos("mutex");
}

#[test]
fn chaos_rwlock() {
    chaos("rwlock");
}

#[test]
fn chaos_semaphore_owned() {
    chaos("semaphore");
}

#[test]
fn chaos_barrier() {
    chaos("barrier");
}

#[test]
fn chaos_event() {
    chaos("event");
}
