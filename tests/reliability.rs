//! What an attack found (issue 12), across real processes: a barrier whose
//! dead parties' arrivals must not count, handles used in a `fork()`ed
//! child, segments too large for the machine, and a truncated segment.

mod common;

use std::panic::AssertUnwindSafe;
use std::time::{Duration, Instant};

use common::{Child, Names, say, watchdog};
use shmkit::{Array, Barrier, BarrierError, Error, LockError, Mutex, Queue};

const LIMIT: Duration = Duration::from_secs(60);

#[test]
fn child() {
    common::child_main(run_role);
}

fn run_role(role: &str, args: &[String]) -> i32 {
    match role {
        // Arrives at the barrier and waits until killed.
        "arrive" => {
            let b = Barrier::open(&args[0]).expect("open barrier");
            say("ARRIVING");
            let _ = b.wait();
            2
        }
        // Installs the SIGBUS guard, maps the segment, waits for the parent
        // to truncate it, then touches it.
        "touch-truncated" => {
            shmkit::sigbus_guard().expect("install the guard");
            let a = Array::<u64>::open(&args[0]).expect("open array");
            say("MAPPED");
            let mut line = String::new();
            std::io::stdin().read_line(&mut line).expect("read go");
            // The last element lies in a page past the new end of the file.
            let _ = a.get(a.len() - 1);
            eprintln!("touched a truncated segment and lived");
            3
        }
        other => panic!("unknown role {other}"),
    }
}

#[test]
fn dead_parties_break_the_barrier_for_the_last_arrival() {
    watchdog(LIMIT, "dead_parties_break_the_barrier_for_the_last_arrival", || {
        let names = Names::new("rel-barrier", 1);
        let b = Barrier::create(&names[0], 3).unwrap();
        let mut parties: Vec<Child> = (0..2).map(|_| Child::spawn_piped("arrive", &[&names[0]])).collect();
        for p in &mut parties {
            p.expect_line("ARRIVING");
        }
        let start = Instant::now();
        while b.arrived() < 2 {
            assert!(start.elapsed() < LIMIT, "the two parties never arrived");
            std::thread::sleep(Duration::from_millis(1));
        }
        // Let them record their arrivals, then stop them (so that neither
        // sees the other die and breaks the barrier itself) and kill them.
        std::thread::sleep(Duration::from_millis(50));
        for p in &parties {
            p.signal(libc::SIGSTOP);
        }
        for p in parties {
            p.kill();
        }
        assert!(!b.is_broken(), "nobody has looked yet");
        // The last arrival must not pass as leader of dead parties...
        assert_eq!(b.wait_timeout(Duration::from_secs(30)), Err(BarrierError::Broken));
        // ...nor hang in a next generation.
        assert_eq!(b.wait(), Err(BarrierError::Broken));
        b.reset();
        assert_eq!(b.arrived(), 0);
    });
}

/// A forked child, SIGKILLed and reaped on drop (also when a test fails).
struct Forked(libc::pid_t);

impl Drop for Forked {
    fn drop(&mut self) {
        kill_and_reap(self.0);
    }
}

/// Forks; the child runs `body` and `_exit`s with its result (101 if it
/// panics). Only the calling thread exists in the child.
fn fork_child(body: impl FnOnce() -> i32) -> Forked {
    // SAFETY: the child runs `body`, which only uses shmkit handles, a
    // pipe and raw syscalls, then leaves with `_exit` (no destructor or
    // atexit handler of the parent's runs twice).
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork failed");
    if pid == 0 {
        let code = std::panic::catch_unwind(AssertUnwindSafe(body)).unwrap_or(101);
        // SAFETY: ends the child at once.
        unsafe { libc::_exit(code) };
    }
    Forked(pid)
}

/// A pipe `(read end, write end)`.
fn pipe() -> (libc::c_int, libc::c_int) {
    let mut fds = [0; 2];
    // SAFETY: `fds` is a writable array of two ints.
    assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
    (fds[0], fds[1])
}

/// Writes one byte to `fd`.
fn signal_byte(fd: libc::c_int, byte: u8) {
    // SAFETY: one readable byte.
    unsafe { libc::write(fd, [byte].as_ptr().cast(), 1) };
}

/// Reads one byte from `fd` (0 at end of file).
fn read_byte(fd: libc::c_int) -> u8 {
    let mut b = [0u8];
    // SAFETY: one writable byte.
    let n = unsafe { libc::read(fd, b.as_mut_ptr().cast(), 1) };
    if n == 1 { b[0] } else { 0 }
}

/// SIGKILLs and reaps the forked child `pid` (nothing if reaped already).
fn kill_and_reap(pid: libc::pid_t) {
    if pid <= 0 {
        return;
    }
    // SAFETY: `pid` is our own child; once reaped, the pid is not reused
    // for a child of ours before we fork again, and waitpid then fails.
    unsafe {
        libc::kill(pid, libc::SIGKILL);
        libc::waitpid(pid, std::ptr::null_mut(), 0);
    }
}

/// Sleeps until killed.
fn park() -> ! {
    loop {
        // SAFETY: pause only waits for a signal.
        unsafe { libc::pause() };
    }
}

#[test]
fn a_forked_child_that_dies_holding_the_lock_is_owner_died() {
    watchdog(LIMIT, "a_forked_child_that_dies_holding_the_lock_is_owner_died", || {
        let names = Names::new("rel-fork-mutex", 1);
        let m = Mutex::create(&names[0], 0u64).unwrap();
        *m.lock().unwrap() = 1;
        let (rd, wr) = pipe();
        let pid = fork_child(|| {
            let mut g = m.lock().unwrap_or_else(LockError::into_inner);
            *g = 2; // half an update
            std::mem::forget(g);
            signal_byte(wr, b'L');
            park()
        });
        assert_eq!(read_byte(rd), b'L', "the child locked");
        // The child acts as a party of its own: two live handles now.
        assert_eq!(shmkit::inspect::info(&names[0]).unwrap().live_handles, 2);
        assert!(matches!(m.try_lock(), Err(shmkit::TryLockError::WouldBlock)), "held by the live child");
        drop(pid);
        match m.lock() {
            Err(LockError::OwnerDied(g)) => assert_eq!(*g, 2),
            Ok(_) => panic!("the dead child's lock was not reported"),
        }
        assert_eq!(*m.lock().unwrap(), 2, "after OwnerDied the lock works as before");
        // SAFETY: closing our pipe ends.
        unsafe {
            libc::close(rd);
            libc::close(wr);
        }
    });
}

#[test]
fn a_forked_child_does_not_unlink_its_parents_name() {
    watchdog(LIMIT, "a_forked_child_does_not_unlink_its_parents_name", || {
        let names = Names::new("rel-fork-name", 1);
        // Never dropped in this process: only the child's copy is.
        let m = std::mem::ManuallyDrop::new(Mutex::create(&names[0], 0u64).unwrap());
        let pid = fork_child(move || {
            // The creating handle, dropped in the child: the name stays.
            let m = std::mem::ManuallyDrop::into_inner(m);
            *m.lock().unwrap() += 1;
            drop(m);
            0
        });
        let mut status = 0;
        // SAFETY: `pid` is our own child; `status` is writable.
        unsafe { libc::waitpid(pid.0, &mut status, 0) };
        std::mem::forget(pid);
        assert!(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0, "child status {status:#x}");
        assert!(std::path::Path::new(&names.path(0)).exists(), "the child unlinked the parent's segment");
        let _ = Mutex::<u64>::open(&names[0]).unwrap();
        drop(names);
    });
}

#[cfg(feature = "failpoints")]
#[test]
fn a_forked_childs_dead_claim_in_a_queue_is_skipped() {
    use shmkit::{RecvTimeoutError, failpoint};
    watchdog(LIMIT, "a_forked_childs_dead_claim_in_a_queue_is_skipped", || {
        let names = Names::new("rel-fork-queue", 1);
        let q = Queue::<u64>::create(&names[0], 4).unwrap();
        let (tx, rx) = (q.sender().unwrap(), q.receiver().unwrap());
        let (rd, wr) = pipe();
        let pid = fork_child(|| {
            // The parent's sender, used in the child: its claim must name
            // the child, not the parent.
            failpoint::set(failpoint::QUEUE_AFTER_CLAIM);
            signal_byte(wr, b'S');
            let _ = tx.send(7);
            1
        });
        assert_eq!(read_byte(rd), b'S');
        let start = Instant::now();
        while q.is_empty() {
            assert!(start.elapsed() < LIMIT, "the child never claimed a slot");
            std::thread::sleep(Duration::from_millis(1));
        }
        // A live child keeps its claim; the message behind it waits.
        tx.send(8).unwrap();
        assert_eq!(rx.recv_timeout(Duration::from_millis(100)), Err(RecvTimeoutError::Timeout));
        drop(pid);
        // Dead, its claim is skipped: it does not look like the live parent.
        assert_eq!(rx.recv_timeout(Duration::from_secs(30)), Ok(8));
        // SAFETY: closing our pipe ends.
        unsafe {
            libc::close(rd);
            libc::close(wr);
        }
    });
}

#[test]
fn a_segment_larger_than_memory_is_no_space() {
    watchdog(LIMIT, "a_segment_larger_than_memory_is_no_space", || {
        let names = Names::new("rel-nospace", 2);
        match Array::<u64>::create(&names[0], 1 << 40) {
            Err(Error::NoSpace { bytes, .. }) => assert!(bytes >= 8 << 40),
            other => panic!("expected NoSpace, got {other:?}"),
        }
        match Queue::<[u64; 64]>::create(&names[1], 1 << 30) {
            Err(e @ Error::NoSpace { .. }) => assert!(e.to_string().contains("memory"), "{e}"),
            other => panic!("expected NoSpace, got {other:?}"),
        }
        assert!(!std::path::Path::new(&names.path(0)).exists());
        assert!(!std::path::Path::new(&names.path(1)).exists());
        // A reasonable size still works.
        drop(Array::<u64>::create(&names[0], 1 << 18).unwrap());
    });
}

#[test]
fn names_may_not_start_with_a_dash() {
    for name in ["-x", "--help", "-"] {
        match Mutex::create(name, 0u32) {
            Err(e @ Error::InvalidName { .. }) => assert!(e.to_string().contains("may not start with '-'"), "{e}"),
            other => panic!("{name}: {other:?}"),
        }
    }
}

#[test]
fn a_truncated_segment_dies_legibly_with_the_guard() {
    use std::io::Write;
    use std::os::unix::process::ExitStatusExt;
    use std::process::{Command, Stdio};
    watchdog(LIMIT, "a_truncated_segment_dies_legibly_with_the_guard", || {
        let names = Names::new("rel-sigbus", 1);
        let _a = Array::<u64>::create(&names[0], 4096).unwrap();
        let exe = std::env::current_exe().unwrap();
        let mut child = Command::new(exe)
            .args(["--exact", "child", "--nocapture", "--test-threads=1"])
            .env("SHMKIT_TEST_ROLE", "touch-truncated")
            .env("SHMKIT_TEST_ARGS", &names[0])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut out = child.stdout.take().unwrap();
        let mut seen = Vec::new();
        let mut byte = [0u8];
        while !String::from_utf8_lossy(&seen).contains("MAPPED") {
            assert_eq!(std::io::Read::read(&mut out, &mut byte).unwrap(), 1, "child ended before mapping");
            seen.push(byte[0]);
        }
        // Another process of the same user truncates it.
        std::fs::OpenOptions::new().write(true).open(names.path(0)).unwrap().set_len(0).unwrap();
        child.stdin.take().unwrap().write_all(b"go\n").unwrap();
        let output = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.signal(), Some(libc::SIGABRT), "status {:?}; stderr:\n{stderr}", output.status);
        let line = stderr.lines().find(|l| l.starts_with("shmkit: SIGBUS")).unwrap_or_else(|| panic!("{stderr}"));
        assert!(line.contains(&format!("segment '{}'", &names[0])) && line.contains("truncated"), "{line}");
    });
}

#[test]
fn persist_is_recorded_in_the_header_and_opens_still_check() {
    let names = Names::new("rel-persist", 1);
    let v = shmkit::Value::create(&names[0], 5u64).unwrap();
    assert!(!shmkit::inspect::info(&names[0]).unwrap().persisted);
    v.persist();
    assert!(shmkit::inspect::info(&names[0]).unwrap().persisted);
    // The flag lies outside the checksum: the segment still opens.
    assert_eq!(shmkit::Value::<u64>::open(&names[0]).unwrap().load(), 5);
    drop(v);
    assert!(std::path::Path::new(&names.path(0)).exists(), "persisted: the name stays");
}

/// Waits for the forked child to exit; its exit code (panics on a signal).
fn exit_code(child: Forked) -> i32 {
    let mut status = 0;
    // SAFETY: `child.0` is our own child; `status` is writable.
    unsafe { libc::waitpid(child.0, &mut status, 0) };
    std::mem::forget(child);
    assert!(libc::WIFEXITED(status), "child status {status:#x}");
    libc::WEXITSTATUS(status)
}

/// In a forked child, the child's own copy of `x`, to drop or keep.
fn copy<T>(x: &T) -> T {
    // SAFETY: called only in a forked child, whose memory is a copy of the
    // parent's: the original is never used nor dropped again in the child
    // (it leaves with `_exit`), so the copy is the only owner there.
    unsafe { std::ptr::read(x) }
}

/// In a forked child: 0 if every check held, else the number of the first
/// that failed (printed).
fn checks(list: &[(&str, bool)]) -> i32 {
    for (i, (what, ok)) in list.iter().enumerate() {
        if !ok {
            eprintln!("child check {} failed: {what}", i + 1);
            return i as i32 + 1;
        }
    }
    0
}

#[test]
fn endpoints_a_forked_child_drops_do_not_uncount_the_parents() {
    use shmkit::{RecvTimeoutError, TryRecvError};
    watchdog(LIMIT, "endpoints_a_forked_child_drops_do_not_uncount_the_parents", || {
        let names = Names::new("rel-fork-ends-drop", 1);
        let q = Queue::<u64>::create(&names[0], 8).unwrap();
        let (tx, rx) = (q.sender().unwrap(), q.receiver().unwrap());
        let child = fork_child(|| {
            // The copies, dropped in the child, and a clone made here.
            let extra = tx.clone();
            drop(extra);
            drop(copy(&tx));
            drop(copy(&rx));
            0
        });
        assert_eq!(exit_code(child), 0);
        // The parent's sender and receiver are still counted.
        assert_eq!(rx.try_recv(), Err(TryRecvError::Empty), "a false Disconnected");
        assert_eq!(rx.recv_timeout(Duration::from_millis(50)), Err(RecvTimeoutError::Timeout));
        tx.send(1).unwrap();
        assert_eq!(rx.recv(), Ok(1));
        // The last real sender gone: a true Disconnected.
        drop(tx);
        assert_eq!(rx.try_recv(), Err(TryRecvError::Disconnected));
        drop(q);
    });
}

#[test]
fn endpoints_a_forked_child_used_are_its_own_alive_or_dead() {
    use shmkit::RecvTimeoutError;
    for kill in [false, true] {
        watchdog(LIMIT, "endpoints_a_forked_child_used_are_its_own_alive_or_dead", move || {
            let names = Names::new("rel-fork-ends-use", 1);
            let q = Queue::<u64>::create(&names[0], 8).unwrap();
            let (tx, rx) = (q.sender().unwrap(), q.receiver().unwrap());
            tx.send(5).unwrap();
            let (rd, wr) = pipe();
            let child = fork_child(|| {
                // The copies used in the child: a receive, then sends.
                let got = rx.recv_timeout(Duration::from_secs(30));
                tx.send(10).unwrap();
                tx.send(11).unwrap();
                signal_byte(wr, if got == Ok(5) { b'S' } else { b'X' });
                if kill {
                    park()
                }
                // Exits holding its copies (no destructor runs in `_exit`).
                0
            });
            assert_eq!(read_byte(rd), b'S', "the child received the parent's message and sent");
            assert_eq!(rx.recv(), Ok(10));
            assert_eq!(rx.recv(), Ok(11));
            // The parent's own sender is alive: no Disconnected.
            assert_eq!(rx.recv_timeout(Duration::from_millis(50)), Err(RecvTimeoutError::Timeout));
            drop(tx);
            if kill {
                // The child's live copy of the sender counts (its own).
                assert_eq!(rx.recv_timeout(Duration::from_millis(100)), Err(RecvTimeoutError::Timeout));
                drop(child);
            } else {
                assert_eq!(exit_code(child), 0);
            }
            // Every sender gone (the child's with the child).
            assert_eq!(rx.recv_timeout(Duration::from_secs(30)), Err(RecvTimeoutError::Disconnected));
            // The parent's receiver is still counted: a new sender can send.
            let tx = q.sender().unwrap();
            tx.send(12).unwrap();
            assert_eq!(rx.recv(), Ok(12));
            // SAFETY: closing our pipe ends.
            unsafe {
                libc::close(rd);
                libc::close(wr);
            }
        });
    }
}

#[test]
fn a_forked_copy_of_a_single_producer_end_does_not_drive_it() {
    use shmkit::{ByteQueue, ByteRecvError, ByteSendError, Pipe, RecvTimeoutError, SendError, TryRecvError};
    watchdog(LIMIT, "a_forked_copy_of_a_single_producer_end_does_not_drive_it", || {
        let names = Names::new("rel-fork-spsc", 3);
        let q = Queue::<u64>::create_spsc(&names[0], 8).unwrap();
        let (tx, rx) = (q.sender().unwrap(), q.receiver().unwrap());
        tx.send(1).unwrap();
        let bq = ByteQueue::create(&names[1], 4096).unwrap();
        let (mut btx, mut brx) = (bq.sender().unwrap(), bq.receiver().unwrap());
        btx.send(b"one").unwrap();
        let pipe = Pipe::create(&names[2]).unwrap();
        let (mut a, mut b) = (pipe.connect().unwrap(), pipe.connect().unwrap());
        let child = fork_child(|| {
            let res = checks(&[
                ("spsc send", tx.send(2) == Err(SendError::Disconnected(2))),
                ("spsc batch", tx.send_batch(&[3, 4]) == Err(SendError::Disconnected(0))),
                ("spsc recv", rx.try_recv() == Err(TryRecvError::Disconnected)),
                ("spsc recv_timeout", rx.recv_timeout(Duration::from_millis(1)) == Err(RecvTimeoutError::Disconnected)),
                ("spsc new sender", matches!(q.sender(), Err(Error::Busy { .. }))),
                ("bytes send", btx.send(b"two") == Err(ByteSendError::Forked)),
                ("bytes recv", brx.try_recv() == Err(ByteRecvError::Forked)),
                ("pipe send", a.send(b"x") == Err(ByteSendError::Forked)),
                ("pipe recv", b.try_recv() == Err(ByteRecvError::Forked)),
            ]);
            // Dropped in the child: the parent keeps its ends.
            drop((copy(&tx), copy(&rx), copy(&btx), copy(&brx), copy(&a), copy(&b)));
            res
        });
        assert_eq!(exit_code(child), 0);
        assert!(matches!(q.sender(), Err(Error::Busy { .. })), "the parent still holds the sending end");
        tx.send(5).unwrap();
        assert_eq!(rx.recv(), Ok(1));
        assert_eq!(rx.recv(), Ok(5));
        assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
        btx.send(b"three").unwrap();
        assert_eq!(brx.recv().unwrap(), b"one");
        assert_eq!(brx.recv().unwrap(), b"three");
        a.send(b"ab").unwrap();
        assert_eq!(b.recv().unwrap(), b"ab");
        assert!(ByteSendError::Forked.to_string().contains("fork()ed"));
    });
}

#[test]
fn lock_guards_dropped_in_a_forked_child_leave_the_parents_lock_held() {
    use shmkit::{RwLock, TryLockError};
    watchdog(LIMIT, "lock_guards_dropped_in_a_forked_child_leave_the_parents_lock_held", || {
        let names = Names::new("rel-fork-guards", 3);
        let m = Mutex::create(&names[0], 0u64).unwrap();
        let w = RwLock::create(&names[1], 0u64).unwrap();
        let r = RwLock::create(&names[2], 0u64).unwrap();
        let (mut mg, wg, rg) = (m.lock().unwrap(), w.write().unwrap(), r.read().unwrap());
        *mg = 1;
        let child = fork_child(|| {
            drop(copy(&mg));
            drop(copy(&wg));
            drop(copy(&rg));
            checks(&[
                ("mutex still held", matches!(m.try_lock(), Err(TryLockError::WouldBlock))),
                ("write lock still held", matches!(w.try_read(), Err(TryLockError::WouldBlock))),
                ("read lock still held", matches!(r.try_write(), Err(TryLockError::WouldBlock))),
                // The child's own read hold comes and goes as usual.
                ("a read of the child's own", r.try_read().is_ok()),
            ])
        });
        assert_eq!(exit_code(child), 0);
        let (m2, w2, r2) = (
            Mutex::<u64>::open(&names[0]).unwrap(),
            RwLock::<u64>::open(&names[1]).unwrap(),
            RwLock::<u64>::open(&names[2]).unwrap(),
        );
        assert!(matches!(m2.try_lock(), Err(TryLockError::WouldBlock)), "the child released the parent's mutex");
        assert!(matches!(w2.try_read(), Err(TryLockError::WouldBlock)), "the child released the parent's write lock");
        assert!(matches!(r2.try_write(), Err(TryLockError::WouldBlock)), "the child gave back the parent's read hold");
        assert_eq!(*mg, 1);
        drop((mg, wg, rg));
        assert_eq!(*m2.try_lock().unwrap(), 1);
        drop(w2.try_write().unwrap());
        drop(r2.try_write().unwrap());
    });
}

#[test]
fn a_condvar_wait_with_a_guard_from_the_parent_takes_the_lock_in_the_childs_name() {
    use shmkit::{Condvar, TryLockError};
    watchdog(LIMIT, "a_condvar_wait_with_a_guard_from_the_parent_takes_the_lock_in_the_childs_name", || {
        let names = Names::new("rel-fork-condvar", 2);
        let m = Mutex::create(&names[0], 0u64).unwrap();
        let cv = Condvar::create(&names[1]).unwrap();
        let g = m.lock().unwrap();
        let (rd, wr) = pipe();
        let child = fork_child(|| {
            signal_byte(wr, b'W');
            // Releases nothing of the parent's; returns holding the lock in
            // the child's own name, once the parent let go.
            let (g, _) = cv.wait_timeout(copy(&g), Duration::from_millis(10)).unwrap_or_else(LockError::into_inner);
            let held = matches!(m.try_lock(), Err(TryLockError::WouldBlock));
            drop(g);
            checks(&[("held by the child", held), ("released by the child", m.try_lock().is_ok())])
        });
        assert_eq!(read_byte(rd), b'W');
        std::thread::sleep(Duration::from_millis(50));
        // The parent still holds its lock while the child waits.
        assert!(matches!(Mutex::<u64>::open(&names[0]).unwrap().try_lock(), Err(TryLockError::WouldBlock)));
        drop(g);
        assert_eq!(exit_code(child), 0);
        drop(m.try_lock().unwrap());
        // SAFETY: closing our pipe ends.
        unsafe {
            libc::close(rd);
            libc::close(wr);
        }
    });
}

#[test]
fn a_forked_child_that_cannot_register_gets_an_error_not_a_panic() {
    use shmkit::{ByteQueue, OpenOptions, Semaphore, TryRecvError};
    watchdog(LIMIT, "a_forked_child_that_cannot_register_gets_an_error_not_a_panic", || {
        let names = Names::new("rel-fork-full", 3);
        let one = OpenOptions::new().registry_slots(1);
        // The parent's handles hold the only slot of each.
        let q = Queue::<u64>::create_with(&names[0], 8, &one).unwrap();
        let (tx, rx) = (q.sender().unwrap(), q.receiver().unwrap());
        let bq = ByteQueue::create_with(&names[1], 4096, &one).unwrap();
        let sem = Semaphore::create_owned_with(&names[2], 2, &one).unwrap();
        sem.acquire();
        let child = fork_child(|| {
            let full = |r: Result<(), Error>| match r {
                Err(e @ Error::RegistryFull { .. }) => e.to_string().contains("liveness slots"),
                other => {
                    eprintln!("{other:?}");
                    false
                }
            };
            let res = checks(&[
                ("queue sender", full(q.sender().map(drop))),
                ("queue receiver", full(q.receiver().map(drop))),
                ("clone of a copy", full(tx.try_clone().map(drop))),
                ("byte queue sender", full(bq.sender().map(drop))),
            ]);
            // Dropping the copies neither waits nor panics nor uncounts the
            // parent's endpoints, nor gives back the parent's permit.
            drop((copy(&tx), copy(&rx), copy(&q), copy(&bq), copy(&sem)));
            res
        });
        assert_eq!(exit_code(child), 0);
        assert_eq!(rx.try_recv(), Err(TryRecvError::Empty), "the child uncounted the parent's sender");
        tx.send(3).unwrap();
        assert_eq!(rx.recv(), Ok(3));
        assert_eq!((sem.held(), sem.value()), (1, 1), "the child gave back the parent's permit");
        drop(tx);
        assert_eq!(rx.try_recv(), Err(TryRecvError::Disconnected));

        // With two slots the child registers in the other one.
        let names = Names::new("rel-fork-two", 1);
        let q = Queue::<u64>::create_with(&names[0], 8, &OpenOptions::new().registry_slots(2)).unwrap();
        let (tx, rx) = (q.sender().unwrap(), q.receiver().unwrap());
        let child = fork_child(|| {
            let ok = tx.send(9).is_ok() && q.sender().is_ok();
            let third = Queue::<u64>::open(&names[0]);
            checks(&[("sends", ok), ("a third handle", matches!(third, Err(Error::RegistryFull { .. })))])
        });
        assert_eq!(exit_code(child), 0);
        assert_eq!(rx.recv(), Ok(9));
        drop(tx);
        assert_eq!(rx.recv_timeout(Duration::from_secs(30)), Err(shmkit::RecvTimeoutError::Disconnected));
    });
}

/// `shmkit gc`'s removal (`inspect::collect`) puts a segment back under its
/// name when, moved aside, it turns out to be in use or not the one it
/// looked at: the collector is paused between its first look and the move.
#[cfg(feature = "failpoints")]
#[test]
fn gc_puts_back_a_segment_that_changed_while_it_was_collected() {
    use shmkit::inspect::{self, Collected};
    use shmkit::{Value, failpoint};
    watchdog(LIMIT, "gc_puts_back_a_segment_that_changed_while_it_was_collected", || {
        let names = Names::new("rel-gc-putback", 1);
        let name = names[0].to_owned();
        let orphan = |value: u64| {
            // Persisted, so that the name outlives its creator: no live
            // handle, collectable with `include_persisted`.
            let v = Value::create(&name, value).unwrap();
            v.persist();
        };
        let collect_paused = |meanwhile: &dyn Fn()| {
            failpoint::pause_at(failpoint::COLLECT_BEFORE_MOVE_ASIDE);
            let n = name.clone();
            let collector = std::thread::spawn(move || inspect::collect(&n, true));
            let start = Instant::now();
            while !failpoint::reached() {
                assert!(start.elapsed() < LIMIT, "the collector never reached the failpoint");
                std::thread::sleep(Duration::from_millis(1));
            }
            meanwhile();
            failpoint::resume();
            collector.join().unwrap()
        };

        // A handle attached after the first look: in use, put back.
        orphan(1);
        let attached = std::cell::RefCell::new(None);
        let got = collect_paused(&|| *attached.borrow_mut() = Some(Value::<u64>::open(&name).unwrap()));
        assert_eq!(got.unwrap(), Collected::InUse);
        let v = attached.into_inner().unwrap();
        assert!(std::path::Path::new(&names.path(0)).exists(), "not put back");
        v.store(2);
        assert_eq!(Value::<u64>::open(&name).unwrap().load(), 2, "put back is the same segment");
        drop(v);

        // The name given to a new segment after the first look: the new one
        // is moved aside, found to be another file, and put back.
        let replaced = || {
            shmkit::unlink(&name).unwrap();
            orphan(3);
        };
        assert_eq!(collect_paused(&replaced).unwrap(), Collected::Changed);
        assert_eq!(Value::<u64>::open(&name).unwrap().load(), 3, "the new segment was not put back");

        // Unchanged, it is removed.
        assert_eq!(inspect::collect(&name, true).unwrap(), Collected::Removed);
        assert!(!std::path::Path::new(&names.path(0)).exists());
        assert!(
            !inspect::names().unwrap().iter().any(|n| n.contains("rel-gc-putback")),
            "a moved-aside file was left behind"
        );
    });
}
