//! C and Rust processes sharing objects: the C peer (`tests/c/peer.c`) and
//! the C example are compiled here with gcc against include/shmkit.h and
//! the built libshmkit_ffi.so, and run as separate processes beside this
//! Rust test process. The header must also compile as C11 and C++17 with
//! every warning an error; under valgrind a C program that creates, uses
//! and frees every object kind must leak nothing.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use shmkit::bytemuck::{Pod, Zeroable};
use shmkit::{ByteQueue, Event, Mutex, Queue, RecvTimeoutError, RwLock, ShmLayout, ShmType, Value};

/// How long any one child may take before the test fails (a hang is a
/// failure, never a stalled CI).
const LIMIT: Duration = Duration::from_secs(60);

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The directory holding libshmkit_ffi.so: the test binary's
/// `target/<profile>/deps/..`.
fn lib_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    exe.parent().and_then(Path::parent).expect("target/<profile>").to_path_buf()
}

/// Where the compiled C programs go.
fn out_dir() -> PathBuf {
    let dir = lib_dir().join("c-tests");
    std::fs::create_dir_all(&dir).expect("create the C build directory");
    dir
}

fn gcc(args: &[&str]) -> Output {
    Command::new("gcc").args(args).output().expect("gcc runs (is it installed?)")
}

/// Compiles `src` to `out` against the header and the shared library.
fn compile(src: &Path, out: &Path) {
    let lib = lib_dir();
    assert!(
        lib.join("libshmkit_ffi.so").exists(),
        "{} has no libshmkit_ffi.so (build the shmkit-ffi cdylib first)",
        lib.display()
    );
    let include = root().join("include");
    let args = [
        "-std=c11",
        "-Wall",
        "-Wextra",
        "-Werror",
        "-O2",
        "-g",
        "-D_DEFAULT_SOURCE",
        "-pthread",
        "-I",
        include.to_str().unwrap(),
        src.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
        "-L",
        lib.to_str().unwrap(),
        "-lshmkit_ffi",
        &format!("-Wl,-rpath,{}", lib.display()),
    ];
    let r = gcc(&args);
    assert!(r.status.success(), "gcc {src:?} failed:\n{}", String::from_utf8_lossy(&r.stderr));
}

/// The C peer, compiled once per test run.
fn peer() -> &'static Path {
    static PEER: OnceLock<PathBuf> = OnceLock::new();
    PEER.get_or_init(|| {
        let out = out_dir().join(format!("peer-{}", std::process::id()));
        compile(&Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/c/peer.c"), &out);
        out
    })
}

/// A unique segment name, removed when dropped.
struct Name(String);

impl Name {
    fn new(tag: &str) -> Name {
        static SEQ: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let seq = SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Name(format!("test-ffi-{tag}-{}-{seq}", std::process::id()))
    }
}

impl Drop for Name {
    /// Removes the name and every name the C peer made under it as a prefix
    /// (`NAME-v`, `NAME-q`, ...), also when the peer failed half-way.
    fn drop(&mut self) {
        let Ok(dir) = std::fs::read_dir("/dev/shm") else { return };
        let (exact, prefix) = (format!("shmkit.{}", self.0), format!("shmkit.{}-", self.0));
        for entry in dir.flatten() {
            let file = entry.file_name().to_string_lossy().into_owned();
            if file == exact || file.starts_with(&prefix) {
                let _ = std::fs::remove_file(entry.path());
            }
        }
    }
}

/// A child process, killed if the test ends without waiting for it.
struct Kid {
    child: Child,
    out: Option<BufReader<ChildStdout>>,
}

impl Kid {
    fn spawn(program: &Path, args: &[&str]) -> Kid {
        let mut child = Command::new(program)
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {program:?}: {e}"));
        let out = child.stdout.take().map(BufReader::new);
        Kid { child, out }
    }

    fn peer(args: &[&str]) -> Kid {
        Kid::spawn(peer(), args)
    }

    /// The next line of the child's output (its end of file fails the test).
    fn line(&mut self) -> String {
        let mut line = String::new();
        let n = self.out.as_mut().expect("stdout").read_line(&mut line).expect("read the child's output");
        assert!(n > 0, "the child ended without a line");
        line.trim_end().to_owned()
    }

    /// Waits for the child (failing after LIMIT) and checks it succeeded.
    fn success(mut self) {
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                assert!(status.success(), "the C peer failed: {status}");
                return;
            }
            assert!(start.elapsed() < LIMIT, "the C peer hung for {LIMIT:?}");
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Kid {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            self.kill();
        }
    }
}

/// The C peer's struct Job, defined independently here.
#[derive(Clone, Copy, Debug, PartialEq, Pod, Zeroable, ShmType)]
#[repr(C)]
struct Job {
    id: u64,
    weight: f32,
    flags: u32,
}

#[test]
fn header_compiles_as_c11_and_cpp17() {
    let include = root().join("include");
    let src = out_dir().join(format!("header-{}.c", std::process::id()));
    std::fs::write(&src, "#include \"shmkit.h\"\nint main(void) { return shmkit_now_ns() > 0 ? 0 : 1; }\n").unwrap();
    for (compiler, std) in [("gcc", "-std=c11"), ("g++", "-std=c++17")] {
        let lang = if compiler == "g++" { "c++" } else { "c" };
        let r = Command::new(compiler)
            .args([std, "-Wall", "-Wextra", "-Werror", "-pedantic", "-fsyntax-only", "-x", lang, "-I"])
            .arg(&include)
            .arg(&src)
            .output()
            .unwrap_or_else(|e| panic!("{compiler} runs: {e}"));
        assert!(r.status.success(), "{compiler} {std}:\n{}", String::from_utf8_lossy(&r.stderr));
    }
    let _ = std::fs::remove_file(src);
}

#[test]
fn c_sends_200000_values_rust_receives_each_once_in_order() {
    let name = Name::new("queue");
    let q = Queue::<u64>::create(&name.0, 1024).unwrap();
    let rx = q.receiver().unwrap();
    let kid = Kid::peer(&["queue_send", &name.0, "200000"]);
    let deadline = Instant::now() + LIMIT;
    for expected in 0..200_000u64 {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(v) => assert_eq!(v, expected, "out of order or lost"),
            Err(e) => panic!("after {expected} values: {e}"),
        }
    }
    kid.success();
    assert_eq!(rx.recv_timeout(Duration::from_secs(10)), Err(RecvTimeoutError::Disconnected));
}

#[test]
fn c_and_rust_increment_under_a_c_made_mutex_to_an_exact_total() {
    const N: u64 = 20_000;
    let name = Name::new("mutex");
    let mut creator = Kid::peer(&["mutex_create", &name.0, &N.to_string()]);
    assert_eq!(creator.line(), "READY");
    let other = Kid::peer(&["mutex_inc", &name.0, &N.to_string()]);
    let m = Mutex::<u64>::open(&name.0).unwrap();
    for _ in 0..N {
        *m.lock().unwrap() += 1;
    }
    creator.success();
    other.success();
    assert_eq!(*m.lock().unwrap(), 3 * N);
}

#[test]
fn a_c_holder_killed_holding_the_mutex_gives_rust_owner_died() {
    let name = Name::new("died");
    let m = Mutex::create(&name.0, 0u64).unwrap();
    let mut holder = Kid::peer(&["mutex_hold", &name.0]);
    assert_eq!(holder.line(), "HOLDING");
    assert!(m.try_lock().is_err(), "the C holder holds it");
    holder.kill();
    match m.lock_timeout(LIMIT) {
        Err(shmkit::TryLockError::OwnerDied(mut g)) => {
            assert_eq!(*g, 999_999, "the half update is visible");
            *g = 0;
        }
        other => panic!("expected OwnerDied, got {:?}", other.map(|g| *g)),
    }
    assert_eq!(*m.lock().unwrap(), 0, "after the repair the lock works as before");
}

#[test]
fn a_c_struct_and_a_rust_derive_share_a_value_and_a_changed_field_is_refused() {
    let name = Name::new("value");
    let mut creator = Kid::peer(&["value_create", &name.0]);
    let fp = creator.line();
    creator.success();
    assert_eq!(fp, format!("FP {:016x}", Job::type_desc().fingerprint()), "C and the derive agree");
    let v = Value::<Job>::open(&name.0).unwrap();
    assert_eq!(v.load(), Job { id: 7, weight: 0.5, flags: 3 });
    v.store(Job { id: 42, weight: 2.5, flags: 9 });
    let mut check = Kid::peer(&["value_check", &name.0, "42"]);
    assert_eq!(check.line(), "OK");
    check.success();
    let mut bad = Kid::peer(&["value_bad", &name.0]);
    let refused = bad.line();
    bad.success();
    assert!(refused.contains("field 'weight' is f32 at offset 8 there, u32 at offset 8 here"), "{refused}");
}

#[test]
fn c_takes_the_write_lock_of_a_rust_rwlock_of_a_struct_and_rust_reads_it() {
    let name = Name::new("rwlock");
    let l = RwLock::create(&name.0, Job { id: 7, weight: 0.5, flags: 3 }).unwrap();
    let read = l.read().unwrap();
    let mut writer = Kid::peer(&["rwlock_write", &name.0]);
    assert_eq!(writer.line(), "BLOCKED", "the C writer waits behind our read lock");
    assert_eq!(read.id, 7, "nothing written while we read");
    drop(read);
    assert_eq!(writer.line(), "WROTE");
    writer.success();
    assert_eq!(*l.read().unwrap(), Job { id: 42, weight: 2.5, flags: 9 });
    assert!(!l.is_write_locked(), "the C writer unlocked");
}

#[test]
fn a_c_wait_over_two_queues_and_an_event_names_what_rust_made_ready() {
    let name = Name::new("waitany");
    let (a, b) = (format!("{}-a", name.0), format!("{}-b", name.0));
    let (qa, qb) = (Queue::<u64>::create(&a, 4).unwrap(), Queue::<u64>::create(&b, 4).unwrap());
    let (ta, tb) = (qa.sender().unwrap(), qb.sender().unwrap());
    let stop = Event::create(&format!("{}-e", name.0)).unwrap();
    let mut waiter = Kid::peer(&["wait_any", &name.0]);
    assert_eq!(waiter.line(), "WAITING");
    tb.send(5).unwrap();
    assert_eq!(waiter.line(), "READY 1 5", "a message on the second queue");
    ta.send(6).unwrap();
    assert_eq!(waiter.line(), "READY 0 6", "a message on the first queue");
    stop.set();
    assert_eq!(waiter.line(), "READY 2", "the event");
    waiter.success();
    assert!(stop.is_set(), "the wait consumed nothing");
}

/// The C peer's generator (xorshift64*).
fn rng_next(x: &mut u64) -> u64 {
    *x ^= *x >> 12;
    *x ^= *x << 25;
    *x ^= *x >> 27;
    x.wrapping_mul(0x2545_F491_4F6C_DD1D)
}

#[test]
fn byte_queue_from_a_zero_copy_c_sender_with_random_sizes() {
    const N: u64 = 5_000;
    const SEED: u64 = 0x1234_5678_9abc_def1;
    let name = Name::new("bytes");
    let q = ByteQueue::create(&name.0, 16 * 1024).unwrap();
    let mut rx = q.receiver().unwrap();
    let kid = Kid::peer(&["bytes_send", &name.0, &N.to_string(), &SEED.to_string()]);
    let mut x = SEED;
    let deadline = Instant::now() + LIMIT;
    for i in 0..N {
        let len = (rng_next(&mut x) % 3001) as usize;
        let fill = rng_next(&mut x);
        let msg = rx.recv_timeout(deadline.saturating_duration_since(Instant::now())).unwrap();
        assert_eq!(msg.len(), len, "message {i}");
        for (j, &b) in msg.iter().enumerate() {
            assert_eq!(b, fill.wrapping_add(j as u64 * 31) as u8, "message {i} byte {j}");
        }
    }
    kid.success();
    assert_eq!(rx.recv_timeout(Duration::from_secs(10)), Err(shmkit::ByteRecvError::Disconnected));
}

/// Two C threads send through one byte sender at once: a call that finds
/// the other thread inside the end is `SHMKIT_BUSY` and is retried, so each
/// message arrives once, whole, in its thread's order (two threads inside
/// at once would corrupt or lose records).
#[test]
fn two_c_threads_sharing_one_byte_sender_deliver_each_message_once() {
    const N: u64 = 20_000;
    let name = Name::new("bthreads");
    let q = ByteQueue::create(&name.0, 4096).unwrap();
    let mut rx = q.receiver().unwrap();
    let mut kid = Kid::peer(&["bytes_threads", &name.0, &N.to_string()]);
    let deadline = Instant::now() + LIMIT;
    let mut next = [0u64; 2];
    for _ in 0..2 * N {
        let msg = rx.recv_timeout(deadline.saturating_duration_since(Instant::now())).unwrap();
        assert_eq!(msg.len(), 16, "a whole message");
        let word = |i: usize| u64::from_ne_bytes(msg[8 * i..8 * i + 8].try_into().unwrap());
        let (id, seq) = (word(0) as usize, word(1));
        assert!(id < 2, "sender thread {id}");
        assert_eq!(seq, next[id], "thread {id}'s messages in order, none lost");
        next[id] += 1;
    }
    let busy = kid.line();
    assert!(busy.starts_with("busy "), "the peer's count: {busy:?}");
    kid.success();
    assert_eq!(rx.recv_timeout(Duration::from_secs(10)), Err(shmkit::ByteRecvError::Disconnected));
}

#[test]
fn c_sends_structs_on_a_queue_a_rust_derive_receives() {
    const N: u64 = 5_000;
    let name = Name::new("jobq");
    let q = Queue::<Job>::create(&name.0, 64).unwrap();
    let rx = q.receiver().unwrap();
    let kid = Kid::peer(&["jobq_send", &name.0, &N.to_string()]);
    let deadline = Instant::now() + LIMIT;
    for i in 0..N {
        let left = deadline.saturating_duration_since(Instant::now());
        let want = Job { id: i, weight: i as f32 / 2.0, flags: i as u32 * 7 };
        assert_eq!(rx.recv_timeout(left), Ok(want), "job {i}");
    }
    kid.success();
    assert_eq!(rx.recv_timeout(Duration::from_secs(10)), Err(RecvTimeoutError::Disconnected));
}

/// A typed broadcast: C publishes `Job`s on a Rust `Broadcast<Job>`, the
/// Rust subscriber gets each in order, then the end of the stream; a
/// changed field and a message of the wrong size are refused in C.
#[test]
fn c_publishes_structs_on_a_broadcast_a_rust_derive_subscribes_to() {
    const N: u64 = 20_000;
    let name = Name::new("jobbc");
    let b = shmkit::Broadcast::<Job>::create(&name.0, 16, shmkit::Policy::Lossless).unwrap();
    let mut sub = b.subscribe().unwrap();
    let kid = Kid::peer(&["jobbc_pub", &name.0, &N.to_string()]);
    for i in 0..N {
        let want = Job { id: i, weight: i as f32 / 2.0, flags: i as u32 * 7 };
        assert_eq!(sub.recv_timeout(LIMIT), Ok(want), "job {i}");
    }
    kid.success();
    assert_eq!(sub.recv_timeout(Duration::from_secs(10)), Err(shmkit::BroadcastRecvError::Disconnected));
}

/// The C peer's `mq_message`: `{id, seq}` then bytes derived from them.
fn mq_message(id: u64, seq: u64) -> Vec<u8> {
    let mut x = (id << 32 | seq) + 1;
    let len = 16 + (rng_next(&mut x) % 185) as usize;
    let mut m = Vec::with_capacity(len);
    m.extend_from_slice(&id.to_ne_bytes());
    m.extend_from_slice(&seq.to_ne_bytes());
    while m.len() < len {
        m.push((rng_next(&mut x) >> 56) as u8);
    }
    m
}

#[test]
fn message_queue_from_two_c_senders_to_two_rust_receivers() {
    const N: u64 = 20_000;
    let name = Name::new("mq");
    let q = shmkit::MessageQueue::create(&name.0, 64, 200).unwrap();
    let rx = q.receiver().unwrap();
    let kids: Vec<Kid> = (0..2).map(|id| Kid::peer(&["mq_send", &name.0, &N.to_string(), &id.to_string()])).collect();
    let deadline = Instant::now() + LIMIT;
    // Two receiving threads share one receiver; each checks per-sender order.
    let got: Vec<[u64; 2]> = std::thread::scope(|s| {
        let workers: Vec<_> = (0..2)
            .map(|_| {
                let rx = &rx;
                s.spawn(move || {
                    let (mut count, mut last) = ([0u64; 2], [None::<u64>; 2]);
                    let mut buf = [0u8; 200];
                    loop {
                        let left = deadline.saturating_duration_since(Instant::now());
                        let n = match rx.recv_into_timeout(&mut buf, left) {
                            Ok(n) => n,
                            Err(shmkit::ByteRecvError::Disconnected) => return count,
                            Err(e) => panic!("after {count:?} messages: {e}"),
                        };
                        let id = u64::from_ne_bytes(buf[..8].try_into().unwrap());
                        let seq = u64::from_ne_bytes(buf[8..16].try_into().unwrap());
                        assert_eq!(buf[..n], mq_message(id, seq)[..], "message {seq} of sender {id} intact");
                        assert!(last[id as usize].is_none_or(|l| seq > l), "sender {id}: {seq} out of order");
                        last[id as usize] = Some(seq);
                        count[id as usize] += 1;
                    }
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join().unwrap()).collect()
    });
    for kid in kids {
        kid.success();
    }
    for id in 0..2 {
        assert_eq!(got.iter().map(|c| c[id]).sum::<u64>(), N, "sender {id}: every message once");
    }
}

#[test]
fn a_c_subscriber_polls_a_readiness_descriptor_for_a_rust_publisher() {
    const N: u64 = 50_000;
    let name = Name::new("bc");
    let b = shmkit::ByteBroadcast::create(&name.0, 64, 8, shmkit::Policy::Lossless).unwrap();
    let mut kid = Kid::peer(&["bc_poll", &name.0]);
    assert_eq!(kid.line(), "SUBSCRIBED");
    let mut p = b.publisher().unwrap();
    for i in 0..N {
        p.send_timeout(&i.to_ne_bytes(), LIMIT).expect("the C subscriber reads");
    }
    drop(p);
    assert_eq!(kid.line(), format!("RESULT {N} {}", N * (N - 1) / 2));
    kid.success();
}

#[test]
fn every_error_path_returns_its_status_and_message() {
    let name = Name::new("errors");
    let mut kid = Kid::peer(&["errors", &name.0]);
    assert_eq!(kid.line(), "OK");
    kid.success();
    assert_no_segments(&name.0);
}

#[test]
fn every_object_kind_is_created_used_and_freed() {
    let name = Name::new("all");
    let mut kid = Kid::peer(&["all", &name.0]);
    assert_eq!(kid.line(), "OK");
    kid.success();
    assert_no_segments(&name.0);
}

#[test]
fn every_object_kind_under_valgrind_leaks_nothing() {
    if Command::new("valgrind").arg("--version").output().is_err() {
        println!("skipped: valgrind is not installed");
        return;
    }
    let name = Name::new("valgrind");
    let start = Instant::now();
    let r = Command::new("valgrind")
        .args([
            "--quiet",
            "--leak-check=full",
            "--show-leak-kinds=definite,indirect,possible",
            "--errors-for-leak-kinds=definite,indirect,possible",
            "--error-exitcode=99",
        ])
        .arg(peer())
        .args(["all", &name.0])
        .output()
        .expect("valgrind runs");
    let err = String::from_utf8_lossy(&r.stderr);
    assert!(r.status.success(), "valgrind reports ({:?}):\n{err}", r.status);
    assert!(String::from_utf8_lossy(&r.stdout).contains("OK"));
    assert!(start.elapsed() < LIMIT * 2);
    assert_no_segments(&name.0);
}

#[test]
fn the_c_example_runs() {
    let src = root().join("examples/c/two_processes.c");
    let exe = out_dir().join(format!("two_processes-{}", std::process::id()));
    compile(&src, &exe);
    let mut kid = Kid::spawn(&exe, &["2000"]);
    let mut lines = Vec::new();
    while let Some(out) = kid.out.as_mut() {
        let mut line = String::new();
        if out.read_line(&mut line).unwrap_or(0) == 0 {
            break;
        }
        lines.push(line);
    }
    kid.success();
    let text = lines.concat();
    assert!(text.contains("exact"), "{text}");
    assert!(text.contains("OWNER_DIED"), "{text}");
    let _ = std::fs::remove_file(exe);
}

#[test]
fn the_static_library_links() {
    let dir = out_dir();
    let (src, exe) =
        (dir.join(format!("static-{}.c", std::process::id())), dir.join(format!("static-{}", std::process::id())));
    std::fs::write(
        &src,
        r#"#include "shmkit.h"
#include <stdio.h>
int main(void) {
    shmkit_type *t = NULL;
    uint64_t fp = 0;
    if (shmkit_type_new_primitive(SHMKIT_U64, &t) != SHMKIT_OK) return 1;
    if (shmkit_type_fingerprint(t, &fp) != SHMKIT_OK || shmkit_type_free(t) != SHMKIT_OK) return 2;
    printf("%016llx\n", (unsigned long long)fp);
    return shmkit_unlink("x/y") == SHMKIT_INVALID_NAME ? 0 : 3;
}
"#,
    )
    .unwrap();
    let include = root().join("include");
    let r = gcc(&[
        "-std=c11",
        "-Wall",
        "-Wextra",
        "-Werror",
        "-I",
        include.to_str().unwrap(),
        src.to_str().unwrap(),
        lib_dir().join("libshmkit_ffi.a").to_str().unwrap(),
        "-lpthread",
        "-ldl",
        "-lm",
        "-o",
        exe.to_str().unwrap(),
    ]);
    assert!(r.status.success(), "linking the static library:\n{}", String::from_utf8_lossy(&r.stderr));
    let out = Command::new(&exe).output().unwrap();
    assert!(out.status.success(), "{:?}", out.status);
    // docs/FORMAT.md's fingerprint of u64.
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "4d35d3193e8d66f2");
    let _ = std::fs::remove_file(src);
    let _ = std::fs::remove_file(exe);
}

/// Nothing under `prefix` is left in /dev/shm.
fn assert_no_segments(prefix: &str) {
    let left: Vec<_> = std::fs::read_dir("/dev/shm")
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(prefix))
        .collect();
    assert!(left.is_empty(), "left behind: {left:?}");
}
