//! Python `multiprocessing` Queue, Pipe and Lock, and the same over the
//! shmkit module (`crates/python`), when `python3` is on PATH.
//!
//! The script (`python_peer.py`, embedded) runs its own two processes
//! (fork context, pinned like ours) and prints one flat JSON object per
//! line: a row, or `{"note": ...}`.

use std::io::{self, Read};
use std::os::fd::AsFd;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::link::SLICE;
use super::{Record, Session};
use crate::sys;

const SCRIPT: &str = include_str!("python_peer.py");

/// Row names the script makes: `multiprocessing`'s, then the shmkit
/// module's (skipped, with one note, where python3 lacks the module).
pub const NAMES: [&str; 7] = [
    "python-queue",
    "python-pipe",
    "python-lock",
    "python-shmkit-queue",
    "python-shmkit-bytequeue",
    "python-shmkit-pipe",
    "python-shmkit-lock",
];

/// The message rows (ping-pong and streaming), in the order they run.
pub const LINK_NAMES: [&str; 5] =
    ["python-queue", "python-pipe", "python-shmkit-queue", "python-shmkit-bytequeue", "python-shmkit-pipe"];

/// The one-process rows (acquire+release).
pub const OP_NAMES: [&str; 2] = ["python-lock", "python-shmkit-lock"];

/// The `python3` on PATH, as the run found it.
#[derive(Debug, Clone, PartialEq)]
pub struct Python {
    /// Its version line (`Python 3.11.2`).
    pub version: String,
    /// Whether it imports the shmkit module (`crates/python`).
    pub has_shmkit: bool,
}

/// Asks `python3` its version and whether it can `import shmkit` (one
/// process); `None` if there is no usable python3.
pub fn probe() -> Option<Python> {
    const ASK: &str = "import importlib, platform\nprint('Python', platform.python_version())\n\
        try: importlib.import_module('shmkit'); print('shmkit')\nexcept Exception: print('-')";
    let out = Command::new("python3").arg("-c").arg(ASK).stdin(Stdio::null()).output().ok()?;
    if !out.status.success() {
        return None;
    }
    parse_probe(&String::from_utf8_lossy(&out.stdout))
}

/// The probe's answer: the version line, then `shmkit` or `-`.
fn parse_probe(text: &str) -> Option<Python> {
    let mut lines = text.lines().map(str::trim);
    let version = lines.next().filter(|v| v.starts_with("Python "))?.to_owned();
    Some(Python { version, has_shmkit: lines.next() == Some("shmkit") })
}

/// Whether `name` is a row of the shmkit module (needs `import shmkit`).
pub fn needs_shmkit(name: &str) -> bool {
    name.starts_with("python-shmkit-")
}

/// A JSON value as the script prints them (flat objects only).
#[derive(Debug, Clone, PartialEq)]
enum Val {
    Num(f64),
    Str(String),
    Null,
}

/// Parses one flat JSON object of numbers, strings and nulls.
fn parse_flat(line: &str) -> Option<Vec<(String, Val)>> {
    let mut chars = line.trim().chars().peekable();
    let mut out = Vec::new();
    let skip_ws = |c: &mut std::iter::Peekable<std::str::Chars<'_>>| {
        while c.peek().is_some_and(|c| c.is_whitespace()) {
            c.next();
        }
    };
    let string = |c: &mut std::iter::Peekable<std::str::Chars<'_>>| -> Option<String> {
        if c.next()? != '"' {
            return None;
        }
        let mut s = String::new();
        loop {
            match c.next()? {
                '"' => return Some(s),
                '\\' => match c.next()? {
                    'n' => s.push('\n'),
                    't' => s.push('\t'),
                    'u' => {
                        let hex: String = (0..4).filter_map(|_| c.next()).collect();
                        s.push(u32::from_str_radix(&hex, 16).ok().and_then(char::from_u32).unwrap_or('?'));
                    }
                    other => s.push(other),
                },
                ch => s.push(ch),
            }
        }
    };
    skip_ws(&mut chars);
    if chars.next()? != '{' {
        return None;
    }
    loop {
        skip_ws(&mut chars);
        if chars.peek() == Some(&'}') {
            return Some(out);
        }
        let key = string(&mut chars)?;
        skip_ws(&mut chars);
        if chars.next()? != ':' {
            return None;
        }
        skip_ws(&mut chars);
        let val = match chars.peek()? {
            '"' => Val::Str(string(&mut chars)?),
            _ => {
                let mut tok = String::new();
                while chars.peek().is_some_and(|c| !matches!(c, ',' | '}') && !c.is_whitespace()) {
                    tok.push(chars.next()?);
                }
                if tok == "null" { Val::Null } else { Val::Num(tok.parse().ok()?) }
            }
        };
        out.push((key, val));
        skip_ws(&mut chars);
        match chars.next()? {
            ',' => continue,
            '}' => return Some(out),
            _ => return None,
        }
    }
}

fn to_record(fields: &[(String, Val)]) -> Option<Record> {
    let get = |k: &str| fields.iter().find(|(key, _)| key == k).map(|(_, v)| v);
    let num = |k: &str| match get(k) {
        Some(Val::Num(n)) if n.is_finite() => Some(*n),
        _ => None,
    };
    let text = |k: &str| match get(k) {
        Some(Val::Str(s)) => Some(s.clone()),
        _ => None,
    };
    Some(Record {
        transport: text("transport")?,
        pattern: text("pattern")?,
        size: num("size")? as u64,
        p50_ns: num("p50_ns"),
        p99_ns: num("p99_ns"),
        p999_ns: num("p999_ns"),
        max_ns: num("max_ns"),
        mean_ns: num("mean_ns"),
        msgs_per_s: num("msgs_per_s")?,
        bytes_per_s: num("bytes_per_s").unwrap_or(0.0),
        wait: text("wait").unwrap_or_else(|| "block".into()),
        spread: None,
        xcore_ns: None,
    })
}

/// Runs the Python jobs (`(name, pattern, size)`) in one python3 process;
/// returns its rows and notes. Stops (killing python) on interrupt or when
/// it takes far longer than planned.
pub fn run(s: &Session, jobs: &[(&str, &str, usize)]) -> io::Result<(Vec<Record>, Vec<String>)> {
    let plan = s.plan(super::Pattern::PingPong, 8);
    let (cpu, peer_cpu) = match s.cpus {
        Some((a, b)) => (a.to_string(), b.to_string()),
        None => ("null".into(), "null".into()),
    };
    let list: Vec<String> = jobs.iter().map(|(n, p, z)| format!("[\"{n}\",\"{p}\",{z}]")).collect();
    let args = format!(
        "{{\"cpu\":{cpu},\"peer_cpu\":{peer_cpu},\"warmup\":{},\"warmup_max\":{},\"budget\":{},\"min\":{},\"max\":{},\"jobs\":[{}]}}",
        plan.warmup.as_secs_f64(),
        plan.warmup_max,
        plan.budget.as_secs_f64(),
        plan.min,
        plan.max.min(1_000_000),
        list.join(",")
    );
    let mut cmd = Command::new("python3");
    cmd.arg("-c").arg(SCRIPT).arg(args).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    // Its own process group, so that stopping it stops the peers it forked
    // too (a forked peer busy draining a queue would not notice its parent
    // died).
    std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
    let mut child = sys::spawn_with_fds(&mut cmd, &[])?;
    // Far more than planned (each job: warm-up, budget, process start).
    let per_job = plan.warmup + plan.budget + Duration::from_secs(2);
    let limit = Duration::from_secs(20) + per_job * jobs.len() as u32 * 4;
    let mut stdout = child.stdout.take().ok_or_else(|| io::Error::other("no python stdout"))?;
    let start = Instant::now();
    let mut text = Vec::new();
    let mut buf = [0u8; 4096];
    let outcome = loop {
        if sys::interrupted() {
            break Err(io::Error::new(io::ErrorKind::Interrupted, "interrupted"));
        }
        if start.elapsed() > limit {
            break Err(io::Error::new(io::ErrorKind::TimedOut, "python did not finish in time"));
        }
        if !sys::poll_one(stdout.as_fd(), libc::POLLIN, SLICE)? {
            continue;
        }
        match stdout.read(&mut buf) {
            Ok(0) => break Ok(()),
            Ok(n) => text.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => break Err(e),
        }
    };
    if outcome.is_err() {
        sys::kill_group(child.id());
        let _ = child.kill();
    }
    let status = child.wait()?;
    outcome?;
    let mut rows = Vec::new();
    let mut notes = Vec::new();
    for line in String::from_utf8_lossy(&text).lines().filter(|l| !l.trim().is_empty()) {
        match parse_flat(line) {
            Some(fields) => match fields.iter().find(|(k, _)| k == "note") {
                Some((_, Val::Str(note))) => notes.push(format!("python: {note}")),
                _ => match to_record(&fields) {
                    Some(r) => rows.push(r),
                    None => notes.push(format!("python: incomplete row: {line}")),
                },
            },
            None => notes.push(format!("python: unreadable line: {line}")),
        }
    }
    if !status.success() {
        let mut err = String::new();
        if let Some(mut e) = child.stderr.take() {
            let _ = e.read_to_string(&mut err);
        }
        let last = err.lines().last().unwrap_or("no message").to_owned();
        notes.push(format!("python exited with {status}: {last}"));
    }
    Ok((rows, notes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_probe_reads_version_and_module() {
        let with = parse_probe("Python 3.11.2\nshmkit\n").unwrap();
        assert_eq!(with, Python { version: "Python 3.11.2".into(), has_shmkit: true });
        let without = parse_probe("Python 3.12.0\n-\n").unwrap();
        assert!(!without.has_shmkit && without.version == "Python 3.12.0");
        // A python3 that printed nothing usable is no python3.
        assert_eq!(parse_probe(""), None);
        assert_eq!(parse_probe("something else\nshmkit\n"), None);
        assert!(needs_shmkit("python-shmkit-lock") && !needs_shmkit("python-lock"));
    }

    #[test]
    fn parses_flat_objects() {
        let f = parse_flat(r#"{"a": 1.5, "b": null, "c": "x\"y", "d": -2e3}"#).unwrap();
        assert_eq!(f[0], ("a".into(), Val::Num(1.5)));
        assert_eq!(f[1], ("b".into(), Val::Null));
        assert_eq!(f[2], ("c".into(), Val::Str("x\"y".into())));
        assert_eq!(f[3], ("d".into(), Val::Num(-2000.0)));
        assert!(parse_flat("{\"a\": }").is_none());
        assert!(parse_flat("not json").is_none());
        assert_eq!(parse_flat("{}"), Some(vec![]));
    }
}
