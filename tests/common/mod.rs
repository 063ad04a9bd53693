//! Shared test support: unique names that are removed even on failure, a
//! watchdog that turns a hang into a failure, and child processes that run
//! a role of the test binary itself (real processes that open by name).
//!
//! A test file using children defines the entry point
//! ```ignore
//! #[test]
//! fn child() { common::child_main(run_role) }
//! fn run_role(role: &str, args: &[String]) -> i32 { ... }
//! ```
//! and starts them with [`Child::spawn`].
#![allow(dead_code)]

use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// PIDs of children not yet reaped, for the watchdog to kill.
static LIVE_CHILDREN: std::sync::Mutex<Vec<i32>> = std::sync::Mutex::new(Vec::new());

fn forget_child(pid: i32) {
    LIVE_CHILDREN.lock().unwrap_or_else(|e| e.into_inner()).retain(|&p| p != pid);
}

/// A well-mixed 64-bit function of `x` (splitmix64's finaliser): test data
/// and lengths that look random yet are the same in every process.
pub fn mix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

const ROLE_VAR: &str = "SHMKIT_TEST_ROLE";
const ARGS_VAR: &str = "SHMKIT_TEST_ARGS";

/// Segment names used by one test; each is unlinked when this is dropped,
/// so a failing test leaves nothing behind in /dev/shm.
pub struct Names {
    names: Vec<String>,
}

impl Names {
    /// `count` fresh names for the test `tag`, unique across processes and
    /// runs.
    pub fn new(tag: &str, count: usize) -> Names {
        static SEQ: AtomicU32 = AtomicU32::new(0);
        let nanos =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().subsec_nanos();
        let names = (0..count)
            .map(|i| {
                let seq = SEQ.fetch_add(1, Ordering::Relaxed);
                format!("test-{tag}-{}-{seq}-{nanos:x}-{i}", std::process::id())
            })
            .collect();
        Names { names }
    }

    /// The `i`th name.
    pub fn get(&self, i: usize) -> &str {
        &self.names[i]
    }

    /// Path of the file behind the `i`th name.
    pub fn path(&self, i: usize) -> String {
        format!("/dev/shm/shmkit.{}", self.names[i])
    }
}

impl std::ops::Index<usize> for Names {
    type Output = str;
    fn index(&self, i: usize) -> &str {
        &self.names[i]
    }
}

impl Drop for Names {
    fn drop(&mut self) {
        for n in &self.names {
            let _ = std::fs::remove_file(format!("/dev/shm/shmkit.{n}"));
        }
    }
}

/// Runs `f` on a thread and fails the test with `what` if it does not finish
/// within `limit`. A panic inside `f` fails the test as usual.
pub fn watchdog<R: Send + 'static>(limit: Duration, what: &str, f: impl FnOnce() -> R + Send + 'static) -> R {
    let (tx, rx) = mpsc::channel();
    let worker = std::thread::spawn(move || {
        let r = f();
        let _ = tx.send(());
        r
    });
    match rx.recv_timeout(limit) {
        Ok(()) | Err(mpsc::RecvTimeoutError::Disconnected) => match worker.join() {
            Ok(r) => r,
            Err(panic) => std::panic::resume_unwind(panic),
        },
        Err(mpsc::RecvTimeoutError::Timeout) => {
            // Exiting skips the Child guards: kill the children here, then
            // fail loudly rather than hang CI.
            eprintln!("WATCHDOG: {what} did not finish within {limit:?}");
            for pid in LIVE_CHILDREN.lock().unwrap_or_else(|e| e.into_inner()).iter() {
                // SAFETY: kill touches no memory; a PID of a child we have
                // not reaped cannot have been reused.
                unsafe { libc::kill(*pid, libc::SIGKILL) };
            }
            std::process::exit(101);
        }
    }
}

/// A child process running a role of this test binary. Killed on drop.
pub struct Child {
    inner: std::process::Child,
    role: String,
}

impl Child {
    /// Starts this test binary as a child that runs `role` with `args`
    /// (through the file's `child` test).
    pub fn spawn(role: &str, args: &[&str]) -> Child {
        Child::spawn_with(role, args, Stdio::null())
    }

    /// As [`Child::spawn`], with the child's stdout piped to us.
    pub fn spawn_piped(role: &str, args: &[&str]) -> Child {
        Child::spawn_with(role, args, Stdio::piped())
    }

    fn spawn_with(role: &str, args: &[&str], stdout: Stdio) -> Child {
        let exe = std::env::current_exe().expect("test binary path");
        let inner = Command::new(exe)
            .args(["--exact", "child", "--nocapture", "--test-threads=1"])
            .env(ROLE_VAR, role)
            .env(ARGS_VAR, args.join("\u{1f}"))
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn child test process");
        LIVE_CHILDREN.lock().unwrap_or_else(|e| e.into_inner()).push(inner.id() as i32);
        Child { inner, role: role.to_owned() }
    }

    /// The child's PID.
    pub fn pid(&self) -> i32 {
        self.inner.id() as i32
    }

    /// Sends `signal` (e.g. `libc::SIGKILL`). A SIGSTOP returns once the
    /// child is stopped (the signal is delivered asynchronously: until then
    /// the child may run on).
    pub fn signal(&self, signal: i32) {
        // SAFETY: kill has no memory-safety requirements; the PID is our own
        // unreaped child, so it cannot have been reused.
        unsafe { libc::kill(self.pid(), signal) };
        if signal == libc::SIGSTOP {
            let stat = format!("/proc/{}/stat", self.pid());
            let start = Instant::now();
            // The state is the field after the parenthesized command name.
            while std::fs::read_to_string(&stat)
                .ok()
                .and_then(|s| s.rsplit(')').next().and_then(|rest| rest.split_whitespace().next()).map(str::to_owned))
                .is_some_and(|state| state != "T" && state != "t")
            {
                assert!(start.elapsed() < Duration::from_secs(10), "child '{}' did not stop", self.role);
                std::thread::sleep(Duration::from_millis(1));
            }
        }
    }

    /// SIGKILLs the child and reaps it.
    pub fn kill(mut self) {
        self.signal(libc::SIGKILL);
        let _ = self.inner.wait();
        forget_child(self.pid());
    }

    /// Waits for the child and returns its exit code (`None` if a signal
    /// ended it). Fails the test if it takes longer than `limit`.
    pub fn wait(mut self, limit: Duration) -> Option<i32> {
        let start = Instant::now();
        loop {
            if let Some(status) = self.inner.try_wait().expect("wait for child") {
                forget_child(self.pid());
                return status.code();
            }
            if start.elapsed() > limit {
                self.signal(libc::SIGKILL);
                panic!("child '{}' did not exit within {limit:?}", self.role);
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    /// Waits for the child, requires exit code 0.
    pub fn expect_success(self, limit: Duration) {
        let role = self.role.clone();
        assert_eq!(self.wait(limit), Some(0), "child '{role}' failed");
    }

    /// Reads one line of the child's piped stdout (without the newline).
    pub fn read_line(&mut self) -> String {
        let out = self.inner.stdout.as_mut().expect("child spawned with spawn_piped");
        // One byte at a time: a BufReader would swallow later lines.
        let mut line = Vec::new();
        let mut byte = [0u8; 1];
        loop {
            match std::io::Read::read(out, &mut byte) {
                Ok(0) => break,
                Ok(_) if byte[0] == b'\n' => break,
                Ok(_) => line.push(byte[0]),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => panic!("read child stdout: {e}"),
            }
        }
        String::from_utf8_lossy(&line).into_owned()
    }

    /// Reads lines until one contains `marker` (the test harness may print
    /// its banner on the same line); returns what follows the marker.
    pub fn expect_line(&mut self, marker: &str) -> String {
        for _ in 0..1000 {
            let line = self.read_line();
            if let Some(at) = line.find(marker) {
                return line[at + marker.len()..].to_owned();
            }
        }
        panic!("child '{}' never printed {marker:?}", self.role);
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        if let Ok(None) = self.inner.try_wait() {
            self.signal(libc::SIGKILL);
            let _ = self.inner.wait();
        }
        forget_child(self.pid());
    }
}

/// Entry point of the `child` test: runs the role named in the environment
/// and exits with its code; does nothing when run as a normal test.
pub fn child_main(run: impl FnOnce(&str, &[String]) -> i32) {
    let Ok(role) = std::env::var(ROLE_VAR) else { return };
    let args: Vec<String> = std::env::var(ARGS_VAR)
        .unwrap_or_default()
        .split('\u{1f}')
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    let code = run(&role, &args);
    use std::io::Write;
    let _ = std::io::stdout().flush();
    std::process::exit(code);
}

/// Prints a line for the parent to read (flushed at once).
pub fn say(line: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

/// Implements `shmkit::ShmLayout` by hand for a `#[repr(C)]` struct of
/// named fields, as `#[derive(ShmType)]` would (the `derive` feature may be
/// off): `shm_layout!(Ring { head: u64, tail: u64 });`.
#[macro_export]
macro_rules! shm_layout {
    ($t:ident { $($f:ident: $ty:ty),* $(,)? }) => {
        impl shmkit::ShmLayout for $t {
            fn type_desc() -> shmkit::TypeDesc {
                shmkit::TypeDesc::structure(
                    stringify!($t),
                    std::mem::size_of::<$t>(),
                    std::mem::align_of::<$t>(),
                    vec![$(shmkit::Field::new(
                        stringify!($f),
                        std::mem::offset_of!($t, $f),
                        <$ty as shmkit::ShmLayout>::type_desc(),
                    )),*],
                )
            }
        }
    };
}
