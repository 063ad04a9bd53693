//! Two real processes share a `Value<u64>` and a `Mutex<[u64; 2]>` by name.
//!
//! ```text
//! cargo run --example two_processes [-- ITERATIONS]
//! ```
//!
//! 1. The parent creates both objects; a child (this program run again with
//!    a role argument) opens them by name. Both increment the counter under
//!    its lock and bump both halves of the pair under the Mutex, many times.
//!    The counts come out exact.
//! 2. Another child takes the Mutex, writes half an update, and is killed
//!    with SIGKILL while holding it. The parent's next `lock()` returns
//!    `LockError::OwnerDied`; it rolls the half update back, and the lock
//!    works as before.
//!
//! Segment names include the parent's pid; the parent's handles remove them
//! when dropped, also on an error, and children are killed on the way out.

use std::io::{BufRead, BufReader};
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use shmkit::{LockError, Mutex, Value};

const DEFAULT_ITERATIONS: u64 = 100_000;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("--worker") => worker(&args[1..]),
        Some("--holder") => holder(&args[1..]),
        _ => parent(args.first()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(reason) => {
            eprintln!("two_processes: {reason}");
            ExitCode::FAILURE
        }
    }
}

/// The two segment names of a run, unique per parent process.
fn names(pid: u32) -> (String, String) {
    (format!("two-processes-{pid}-counter"), format!("two-processes-{pid}-pair"))
}

fn parent(iterations: Option<&String>) -> Result<(), String> {
    let n: u64 = match iterations {
        Some(s) => s.parse().map_err(|_| format!("ITERATIONS must be a number, not {s:?}"))?,
        None => DEFAULT_ITERATIONS,
    };
    let pid = std::process::id();
    let (counter_name, pair_name) = names(pid);
    // The creating handles remove both names when dropped, error or not.
    let counter = Value::create(&counter_name, 0u64).map_err(|e| e.to_string())?;
    let pair = Mutex::create(&pair_name, [0u64; 2]).map_err(|e| e.to_string())?;
    println!("parent {pid} created '{counter_name}' (Value<u64>) and '{pair_name}' (Mutex<[u64; 2]>)");

    // Part 1: two processes, same work, exact totals.
    let mut worker = Kid::spawn("--worker", &[&counter_name, &pair_name, &n.to_string()], true)?;
    // Start together: the child says READY once it has opened both objects.
    expect_line(&mut worker, "READY")?;
    let start = Instant::now();
    work(&counter, &pair, n)?;
    worker.finish()?;
    let elapsed = start.elapsed();
    let (total, p) = (counter.load(), *pair.lock().map_err(|_| "a worker died holding the pair's lock")?);
    println!(
        "parent {pid} and child {} each did {n} locked increments of both objects in {:.1} ms",
        worker.pid,
        elapsed.as_secs_f64() * 1e3
    );
    check("counter", total, 2 * n)?;
    check("pair", p, [2 * n, 2 * n])?;
    println!("counter = {total}, pair = {p:?}: exact");

    // Part 2: a holder dies; the next locker is told and repairs.
    let mut holder = Kid::spawn("--holder", &[&pair_name], true)?;
    expect_line(&mut holder, "HOLDING")?;
    println!("child {} locked the pair and wrote half an update; killing it with SIGKILL", holder.pid);
    // Lock at once, without waiting for the child to be gone: lock() itself
    // finds out that the holder died.
    holder.sigkill()?;
    let start = Instant::now();
    let locked = pair.lock();
    let waited = start.elapsed();
    holder.reap()?;
    match locked {
        Ok(_) => return Err("lock() after the holder's death did not report OwnerDied".into()),
        Err(LockError::OwnerDied(mut g)) => {
            let seen = *g;
            // The invariant is pair[0] == pair[1]: roll the half update back.
            g[0] = g[1];
            println!(
                "parent's lock() returned OwnerDied after {:.3} ms; pair was {seen:?}, repaired to {:?}",
                waited.as_secs_f64() * 1e3,
                *g
            );
        }
    }
    match pair.lock() {
        Ok(mut g) => {
            g[0] += 1;
            g[1] += 1;
        }
        Err(_) => return Err("the lock still reported OwnerDied after the repair".into()),
    }
    let p = *pair.lock().map_err(|_| "the lock reported OwnerDied again")?;
    check("pair", p, [2 * n + 1, 2 * n + 1])?;
    println!("the lock works as before: one more update gives pair = {p:?}");
    check("counter", counter.load(), 2 * n)?;
    println!("final: counter = {}, pair = {p:?} (both exact)", counter.load());
    Ok(())
}

/// The shared work: `n` times, one increment of the counter under its lock
/// and one of both halves of the pair under the Mutex.
fn work(counter: &Value<u64>, pair: &Mutex<[u64; 2]>, n: u64) -> Result<(), String> {
    for _ in 0..n {
        *counter.lock().map_err(|_| "a process died holding the counter's lock")? += 1;
        let mut g = pair.lock().map_err(|_| "a process died holding the pair's lock")?;
        g[0] += 1;
        g[1] += 1;
    }
    Ok(())
}

fn worker(args: &[String]) -> Result<(), String> {
    let [counter, pair, n] = args else { return Err("usage: --worker COUNTER PAIR N".into()) };
    let n: u64 = n.parse().map_err(|_| format!("bad count {n:?}"))?;
    let counter = Value::<u64>::open(counter).map_err(|e| e.to_string())?;
    let pair = Mutex::<[u64; 2]>::open(pair).map_err(|e| e.to_string())?;
    say("READY");
    work(&counter, &pair, n)
}

fn holder(args: &[String]) -> Result<(), String> {
    let [pair] = args else { return Err("usage: --holder PAIR".into()) };
    let pair = Mutex::<[u64; 2]>::open(pair).map_err(|e| e.to_string())?;
    let mut g = pair.lock().map_err(|_| "a process died holding the pair's lock")?;
    g[0] += 1; // half an update: the other half never comes
    say("HOLDING");
    std::thread::sleep(Duration::from_secs(60));
    Err("holder was not killed within 60 s".into())
}

/// Prints a line for the parent and flushes it at once.
fn say(line: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}").and_then(|()| out.flush());
}

fn expect_line(kid: &mut Kid, want: &str) -> Result<(), String> {
    let said = kid.read_line()?;
    if said == want { Ok(()) } else { Err(format!("child {} said {said:?}, not {want}", kid.pid)) }
}

fn check<T: PartialEq + std::fmt::Debug>(what: &str, got: T, want: T) -> Result<(), String> {
    if got == want { Ok(()) } else { Err(format!("{what} is {got:?}, expected {want:?}")) }
}

/// A child process of this program; killed and reaped if still running when
/// dropped.
struct Kid {
    child: std::process::Child,
    pid: u32,
    out: Option<BufReader<std::process::ChildStdout>>,
}

impl Kid {
    fn spawn(role: &str, args: &[&str], piped: bool) -> Result<Kid, String> {
        let exe = std::env::current_exe().map_err(|e| format!("cannot find this program: {e}"))?;
        let mut child = Command::new(exe)
            .arg(role)
            .args(args)
            .stdin(Stdio::null())
            .stdout(if piped { Stdio::piped() } else { Stdio::inherit() })
            .spawn()
            .map_err(|e| format!("cannot start a child: {e}"))?;
        let out = child.stdout.take().map(BufReader::new);
        Ok(Kid { pid: child.id(), child, out })
    }

    fn read_line(&mut self) -> Result<String, String> {
        let out = self.out.as_mut().ok_or("child stdout is not piped")?;
        let mut line = String::new();
        out.read_line(&mut line).map_err(|e| format!("reading child {}: {e}", self.pid))?;
        Ok(line.trim_end().to_owned())
    }

    /// Waits for the child; its failure is ours.
    fn finish(&mut self) -> Result<(), String> {
        let status = self.child.wait().map_err(|e| format!("waiting for child {}: {e}", self.pid))?;
        if status.success() { Ok(()) } else { Err(format!("child {} failed: {status}", self.pid)) }
    }

    /// Sends SIGKILL (the child is reaped by [`Kid::reap`] or on drop).
    fn sigkill(&self) -> Result<(), String> {
        // SAFETY: kill touches no memory of ours; the pid is our own child,
        // not yet reaped, so it cannot name another process.
        if unsafe { libc::kill(self.pid as libc::pid_t, libc::SIGKILL) } != 0 {
            return Err(format!("kill {}: {}", self.pid, std::io::Error::last_os_error()));
        }
        Ok(())
    }

    /// Waits for a child that was killed.
    fn reap(&mut self) -> Result<(), String> {
        self.child.wait().map(drop).map_err(|e| format!("waiting for child {}: {e}", self.pid))
    }
}

impl Drop for Kid {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
