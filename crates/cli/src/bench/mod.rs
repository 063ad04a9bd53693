//! The multi-process benchmark harness behind `shmkit bench`.
//!
//! Measures, on this machine and in one run, shmkit against pipes, Unix
//! sockets, eventfd, Python's `multiprocessing` and a raw shared-memory
//! floor: ping-pong round trips (p50/p99/p99.9/max/mean) and saturated
//! streaming (messages/s, bytes/s) at sizes from 8 B to 64 KiB (1 MiB with
//! `full`), plus uncontended lock/semaphore operations.
//!
//! Two processes per measurement: the caller's side runs on one CPU (a
//! worker thread pinned there); the peer is a re-executed binary
//! ([`PeerCommand`]: the `shmkit` CLI passes itself and `__bench-peer`,
//! which calls [`peer_main`]) pinned to another CPU. Every wait is bounded:
//! a peer that dies or hangs gives an error note, never a hang, and an
//! interrupt ([`catch_interrupts`]) stops the run, kills the peer and
//! removes every segment of the run (names `bench.<pid>.*`).
//!
//! Transports implement [`Link`] and [`Transport`] and are listed in
//! [`registry`] (see the [`transport`] module docs to add one).

mod broadcast;
mod bytes;
mod c;
mod clock;
mod fanin;
mod fanout;
mod filter;
#[cfg(feature = "peers")]
mod iceoryx2;
mod kernel;
mod link;
mod peer;
mod primitives;
mod probe;
mod python;
mod queue;
mod report;
pub mod rounds;
mod sem;
mod shm;
pub mod transport;

pub mod plot;

use std::ffi::OsString;
use std::io;
use std::process::{Command, Stdio};
use std::time::Duration;

pub use filter::Filter;
pub use link::{DIE_AFTER_VAR, Link, Patience, Plan, SLICE, STALL, STOP, SYNC, pingpong, serve, stream};
pub use peer::peer_main;
pub(crate) use peer::peer_ready;
pub use transport::{Ctx, Entry, Handoff, Outcome, Transport, registry};

use peer::Peer;

use crate::sys;

/// 1 KiB.
pub const KIB: usize = 1024;
/// 1 MiB.
pub const MIB: usize = 1024 * 1024;

/// Message sizes of a quick run.
pub const QUICK_SIZES: [usize; 5] = [8, 64, KIB, 4 * KIB, 64 * KIB];
/// Message sizes of a full run.
pub const FULL_SIZES: [usize; 6] = [8, 64, KIB, 4 * KIB, 64 * KIB, MIB];
/// Rounds of a quick run unless `--repeat` says otherwise: the median of
/// three short interleaved passes varies less than one pass three times as
/// long (a slow minute hits one round, not the result).
pub const QUICK_ROUNDS: usize = 3;

/// How long a peer may take to open its side and say so.
const READY_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a peer may take to exit after the last message.
const EXIT_TIMEOUT: Duration = Duration::from_secs(3);
/// Stack of the measuring threads (a `Queue<[u8; 1 MiB]>` moves messages
/// by value).
const STACK: usize = 64 << 20;

/// A measurement pattern.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Pattern {
    /// Round trips: send, wait for the echo.
    PingPong,
    /// Saturated one-way streaming, acknowledged at the end.
    Stream,
}

impl Pattern {
    /// `"pingpong"` or `"stream"`.
    pub fn name(self) -> &'static str {
        match self {
            Pattern::PingPong => "pingpong",
            Pattern::Stream => "stream",
        }
    }

    fn parse(s: &str) -> Option<Pattern> {
        match s {
            "pingpong" => Some(Pattern::PingPong),
            "stream" => Some(Pattern::Stream),
            _ => None,
        }
    }
}

/// How long a run takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// About a minute on 2 cores: sizes up to 64 KiB, short measurements.
    Quick,
    /// Adds 1 MiB messages; longer warm-up and measurements.
    Full,
}

/// The command that starts a peer: an executable and the arguments before
/// the harness's own (`shmkit` and `["__bench-peer"]` for the CLI).
#[derive(Debug, Clone)]
pub struct PeerCommand {
    /// The executable.
    pub exe: OsString,
    /// Arguments put before the peer's job description.
    pub args: Vec<OsString>,
}

/// What to run.
#[derive(Debug, Clone)]
pub struct Config {
    /// How to start peers.
    pub peer: PeerCommand,
    /// Quick or full.
    pub mode: Mode,
    /// Exactly this many measured iterations (round trips, messages, or
    /// operations) per row, with a tiny warm-up: for smoke tests.
    pub iters: Option<usize>,
    /// Only these message sizes (default: by mode).
    pub sizes: Option<Vec<usize>>,
    /// Only rows matching this filter.
    pub filter: Option<Filter>,
    /// Run the Python rows if `python3` is on PATH.
    pub python: bool,
    /// Rounds: every row is measured once per round, rows shuffled each
    /// round; rows report the median and spread of their rounds.
    pub repeat: usize,
}

impl Config {
    /// A quick run of everything.
    pub fn new(peer: PeerCommand) -> Config {
        Config { peer, mode: Mode::Quick, iters: None, sizes: None, filter: None, python: true, repeat: 1 }
    }
}

/// The machine a run measured.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Machine {
    /// CPUs this process may use.
    pub cpus: usize,
    /// Kernel release.
    pub kernel: String,
    /// CPU model name.
    pub cpu_model: String,
    /// CPUs of the measuring side and of the peer (`None`: not pinned,
    /// one CPU).
    pub pinned_cpus: Option<[usize; 2]>,
    /// `"quick"` or `"full"` (`"smoke"` with a fixed iteration count).
    pub mode: String,
    /// The python3 used, if any.
    pub python: Option<String>,
    /// Rounds measured (`--repeat`).
    #[serde(default = "one")]
    pub rounds: usize,
    /// The cross-core round trip (ns) over the run's probes (see
    /// [`probe`]): its median and extremes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub xcore_ns: Option<rounds::Range>,
}

fn one() -> usize {
    1
}

/// One result row. Ping-pong rows: latencies of round trips, `msgs_per_s`
/// = round trips per second. Stream rows: the four percentile fields are
/// `None` and `mean_ns` is the mean time per message (1 / rate). `op` rows
/// (primitives, `size` 0): percentiles over batches of operations.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Record {
    /// Transport (or primitive) name.
    pub transport: String,
    /// `"pingpong"`, `"stream"` or `"op"`.
    pub pattern: String,
    /// Message size in bytes (0 for `op`).
    pub size: u64,
    /// Median.
    pub p50_ns: Option<f64>,
    /// 99th percentile.
    pub p99_ns: Option<f64>,
    /// 99.9th percentile.
    pub p999_ns: Option<f64>,
    /// Largest.
    pub max_ns: Option<f64>,
    /// Mean.
    pub mean_ns: Option<f64>,
    /// Messages (round trips, operations) per second.
    pub msgs_per_s: f64,
    /// `msgs_per_s * size` (for a round trip: bytes each way).
    pub bytes_per_s: f64,
    /// Wait strategy (`spin`, `adaptive`, `park`, `block`; `-` for ops).
    pub wait: String,
    /// With `--repeat`: how the row varied over the rounds (the fields
    /// above are then medians of the rounds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spread: Option<rounds::Spread>,
    /// The machine's state while the row was measured: the cross-core
    /// round trip (ns) probed just before and after it, if the two agree
    /// (see [`probe::held`]; with `--repeat`, the median of the rounds').
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub xcore_ns: Option<f64>,
}

impl Record {
    /// A row from per-iteration samples in nanoseconds (sorted here), which
    /// the clock rounded to multiples of `step` ns (see [`clock`]).
    pub fn from_samples(
        name: &str,
        pattern: &str,
        size: usize,
        wait: &str,
        ns: &mut [f64],
        rate: f64,
        step: f64,
    ) -> Record {
        ns.sort_by(f64::total_cmp);
        let mean = ns.iter().sum::<f64>() / ns.len().max(1) as f64;
        let quantile = |q| clock::quantile(ns, q, step);
        let (p50, p99, p999, max) = if ns.is_empty() {
            (None, None, None, None)
        } else {
            (Some(quantile(0.5)), Some(quantile(0.99)), Some(quantile(0.999)), ns.last().copied())
        };
        Record {
            transport: name.to_owned(),
            pattern: pattern.to_owned(),
            size: size as u64,
            p50_ns: p50,
            p99_ns: p99,
            p999_ns: p999,
            max_ns: max,
            mean_ns: (!ns.is_empty()).then_some(mean),
            msgs_per_s: rate,
            bytes_per_s: rate * size as f64,
            wait: wait.to_owned(),
            spread: None,
            xcore_ns: None,
        }
    }

    fn from_outcome(entry: &Entry, size: usize, outcome: Outcome) -> Record {
        match outcome {
            Outcome::PingPong(pp) => {
                let rate = pp.rtt_ns.len() as f64 / pp.elapsed.as_secs_f64().max(1e-9);
                let mut ns: Vec<f64> = pp.rtt_ns.iter().map(|&n| n as f64).collect();
                Record::from_samples(entry.name, "pingpong", size, entry.wait, &mut ns, rate, clock::step_ns())
            }
            Outcome::Stream(st) => {
                let rate = st.messages as f64 / st.elapsed.as_secs_f64().max(1e-9);
                Record {
                    transport: entry.name.to_owned(),
                    pattern: "stream".into(),
                    size: size as u64,
                    p50_ns: None,
                    p99_ns: None,
                    p999_ns: None,
                    max_ns: None,
                    mean_ns: Some(1e9 / rate),
                    msgs_per_s: rate,
                    bytes_per_s: rate * size as f64,
                    wait: entry.wait.to_owned(),
                    spread: None,
                    xcore_ns: None,
                }
            }
        }
    }
}

/// What a run gave.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Report {
    /// The machine.
    pub machine: Machine,
    /// The rows, in table order.
    pub results: Vec<Record>,
    /// What was skipped or failed, and why (not in the JSON).
    #[serde(skip, default)]
    pub notes: Vec<String>,
}

impl Report {
    /// The human-readable table.
    pub fn table(&self) -> String {
        report::render(self)
    }
}

/// Why a run did not produce a report.
#[derive(Debug)]
pub enum RunError {
    /// Interrupted (SIGINT/SIGTERM): the peer was killed and the run's
    /// segments removed.
    Interrupted,
    /// The filter matches nothing; the message names what exists.
    Filter(String),
    /// Something else (cannot start the worker thread, …).
    Failed(String),
}

impl std::fmt::Display for RunError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RunError::Interrupted => f.write_str("interrupted"),
            RunError::Filter(m) | RunError::Failed(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for RunError {}

/// Told what the run is doing (the CLI draws a progress bar).
pub trait Progress {
    /// The run has `total` steps.
    fn begin(&mut self, _total: u64) {}
    /// A step starts.
    fn step(&mut self, _what: &str) {}
    /// The run is over.
    fn end(&mut self) {}
}

/// No progress display.
#[derive(Debug, Default)]
pub struct Quiet;

impl Progress for Quiet {}

/// Makes SIGINT and SIGTERM stop a run cleanly (the run returns
/// [`RunError::Interrupted`]) instead of killing the process.
///
/// # Errors
/// If `sigaction` fails.
pub fn catch_interrupts() -> io::Result<()> {
    sys::catch_interrupts()
}

/// Whether an interrupt arrived (or [`request_stop`] was called).
pub fn interrupted() -> bool {
    sys::interrupted()
}

/// Stops the current run as an interrupt would.
pub fn request_stop() {
    sys::set_interrupted(true);
}

/// One planned row.
#[derive(Debug, Clone)]
enum Job {
    Link { entry: usize, pattern: Pattern, size: usize },
    Primitive(&'static str),
    Python { name: &'static str, pattern: &'static str, size: usize },
}

impl Job {
    fn label(&self, entries: &[Entry]) -> String {
        match self {
            Job::Link { entry, pattern, size } => {
                format!("{} {} {}", entries[*entry].key(), pattern.name(), report::size_label(*size as u64))
            }
            Job::Primitive(n) => format!("{n} op"),
            Job::Python { name, pattern, size } => format!("{name} {pattern} {}", report::size_label(*size as u64)),
        }
    }
}

/// State of a run on the measuring side.
pub struct Session {
    cfg: Config,
    /// (measuring side, peer) CPUs.
    cpus: Option<(usize, usize)>,
    seq: u64,
}

impl Session {
    /// A unique segment name prefix for one channel: `bench.<pid>.<n>`.
    pub fn next_prefix(&mut self) -> String {
        self.seq += 1;
        format!("{}.{}", run_prefix(), self.seq)
    }

    /// The cross-core round trip of the moment (see [`probe`]); `None`
    /// with one CPU or if the peer's CPU did not answer.
    fn probe(&self) -> Option<f64> {
        self.cpus.and_then(|(_, peer)| probe::cross_core_ns(peer))
    }

    /// Runs `measure` between two probes: its outcome, and the state it
    /// ran in (see [`probe::held`]).
    fn in_state<T>(&mut self, measure: impl FnOnce(&mut Session) -> T) -> (T, Option<f64>) {
        let before = self.probe();
        let outcome = measure(self);
        (outcome, probe::held(before, self.probe()))
    }

    /// The plan of a measurement.
    pub fn plan(&self, pattern: Pattern, size: usize) -> Plan {
        if let Some(n) = self.cfg.iters {
            let n = n.max(1);
            return Plan { warmup: Duration::ZERO, warmup_max: n / 10 + 1, budget: Duration::ZERO, min: n, max: n };
        }
        // Big messages get fewer iterations at most (memory for timings is
        // not the limit; time is).
        let full = self.cfg.mode == Mode::Full;
        let (warmup, budget) = if full {
            (Duration::from_millis(300), Duration::from_millis(1000))
        } else {
            // Quick: short, as it runs `QUICK_ROUNDS` rounds by default.
            (Duration::from_millis(10), Duration::from_millis(40))
        };
        let max = match pattern {
            Pattern::PingPong if full => 2_000_000,
            Pattern::PingPong => 300_000,
            Pattern::Stream => usize::MAX / 2,
        };
        let min = if size >= MIB { 20 } else { 200 };
        Plan { warmup, warmup_max: 1_000_000, budget, min, max }
    }

    fn op_plan(&self) -> Plan {
        let mut p = self.plan(Pattern::PingPong, 0);
        if self.cfg.iters.is_none() {
            p.max = 1 << 28;
            p.min = 1 << 14;
        }
        p
    }

    /// Starts the peer for `entry` and waits until it has opened its side.
    fn spawn_peer(&mut self, entry: &Entry, ctx: &Ctx, handoff: Handoff) -> io::Result<Peer> {
        let mut cmd = Command::new(&self.cfg.peer.exe);
        cmd.args(&self.cfg.peer.args)
            .arg(entry.key())
            .arg(ctx.pattern.name())
            .arg(ctx.size.to_string())
            .arg(self.cpus.map_or("-".to_owned(), |(_, b)| b.to_string()))
            .arg(std::process::id().to_string())
            .arg(handoff.fds.len().to_string())
            .args(&handoff.args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let child = sys::spawn_with_fds(&mut cmd, &handoff.fds)?;
        // Our copies of the peer's descriptors close here, so that the
        // peer's exit shows as end-of-file.
        drop(handoff);
        link::watch_child(Some(child.id()));
        let mut peer = Peer::new(child);
        peer.wait_ready()?;
        Ok(peer)
    }
}

/// `bench.<pid>`: every segment name of this process's runs starts with it.
pub fn run_prefix() -> String {
    format!("bench.{}", std::process::id())
}

/// Removes every segment file of this process's runs (and temporary files
/// of segments being created), whatever state they are in.
pub fn remove_run_segments() -> usize {
    let pid = std::process::id();
    let name_prefix = format!("{}{}.", shmkit::name::FILE_PREFIX, run_prefix());
    let temp_prefix = format!("{}~tmp.{pid}.", shmkit::name::FILE_PREFIX);
    let needle = format!(".{}.", run_prefix());
    let Ok(dir) = std::fs::read_dir(sys::SHM_DIR) else { return 0 };
    let mut removed = 0;
    for e in dir.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let ours = name.starts_with(&name_prefix) || (name.starts_with(&temp_prefix) && name.contains(&needle));
        if ours && std::fs::remove_file(e.path()).is_ok() {
            removed += 1;
        }
    }
    removed
}

fn machine(cfg: &Config, cpus: Option<(usize, usize)>, python: Option<String>) -> Machine {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let cpu_model = cpuinfo
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split_once(':'))
        .map_or_else(|| "unknown".to_owned(), |(_, m)| m.trim().to_owned());
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").map_or("unknown".into(), |k| k.trim().into());
    let mode = match (cfg.iters, cfg.mode) {
        (Some(_), _) => "smoke",
        (None, Mode::Quick) => "quick",
        (None, Mode::Full) => "full",
    };
    Machine {
        cpus: sys::cpu_count(),
        kernel,
        cpu_model,
        pinned_cpus: cpus.map(|(a, b)| [a, b]),
        mode: mode.into(),
        python,
        rounds: cfg.repeat.max(1),
        xcore_ns: None,
    }
}

/// Plans the rows; errors if the filter matches nothing (or a term of it
/// matches no transport).
fn plan_jobs(cfg: &Config, entries: &[Entry], python: bool) -> Result<Vec<Job>, RunError> {
    let sizes: Vec<usize> = match &cfg.sizes {
        Some(s) => s.clone(),
        None if cfg.mode == Mode::Full => FULL_SIZES.to_vec(),
        None => QUICK_SIZES.to_vec(),
    };
    if let Some(bad) = sizes.iter().find(|&&s| s < 8) {
        return Err(RunError::Filter(format!("message size {bad} is below 8 bytes")));
    }
    let sel =
        |name: &str, wait: &str, pattern: &str| cfg.filter.as_ref().is_none_or(|f| f.selects(name, wait, pattern));
    let mut jobs = Vec::new();
    for pattern in [Pattern::PingPong, Pattern::Stream] {
        for &size in &sizes {
            for (i, e) in entries.iter().enumerate() {
                if e.runs(pattern) && sel(e.name, e.wait, pattern.name()) {
                    jobs.push(Job::Link { entry: i, pattern, size });
                }
            }
            for name in python::LINK_NAMES {
                if sel(name, "block", pattern.name()) {
                    jobs.push(Job::Python { name, pattern: pattern.name(), size });
                }
            }
        }
    }
    for &name in primitives::NAMES {
        if sel(name, "-", "op") {
            jobs.push(Job::Primitive(name));
        }
    }
    for name in python::OP_NAMES {
        if sel(name, "-", "op") {
            jobs.push(Job::Python { name, pattern: "op", size: 0 });
        }
    }
    if let Some(f) = &cfg.filter {
        let mut known: Vec<&str> = entries.iter().map(|e| e.name).collect();
        known.extend(primitives::NAMES.iter().copied());
        known.extend(python::NAMES);
        known.dedup();
        let waits: Vec<String> = entries.iter().map(Entry::key).collect();
        for term in &f.names {
            if !known.iter().any(|k| k.contains(term.as_str())) && !waits.iter().any(|k| k.contains(term.as_str())) {
                return Err(RunError::Filter(format!(
                    "--filter: '{term}' matches no transport (transports: {}; patterns: pingpong, stream, op)",
                    known.join(", ")
                )));
            }
        }
        if jobs.is_empty() {
            return Err(RunError::Filter("--filter selects nothing (no transport runs that pattern)".into()));
        }
    }
    if !python {
        jobs.retain(|j| !matches!(j, Job::Python { .. }));
    }
    Ok(jobs)
}

/// Runs the benchmark: plans the rows, measures each (in a worker thread
/// pinned to the first allowed CPU, peers on the second), and returns the
/// report. Rows that cannot run become notes.
///
/// # Errors
/// [`RunError::Filter`] if the filter selects nothing,
/// [`RunError::Interrupted`] after an interrupt (the peer is killed and the
/// run's segments are removed first).
pub fn run(cfg: &Config, progress: &mut (dyn Progress + Send)) -> Result<Report, RunError> {
    let python = if cfg.python { python::probe() } else { None };
    let python_version = python.as_ref().map(|p| p.version.clone());
    let entries = registry();
    let mut jobs = plan_jobs(cfg, &entries, python.is_some())?;
    let allowed = sys::allowed_cpus().unwrap_or_default();
    let cpus = if allowed.len() >= 2 { Some((allowed[0], allowed[1])) } else { None };
    let mut session = Session { cfg: cfg.clone(), cpus, seq: 0 };
    let mut report = Report { machine: machine(cfg, cpus, python_version.clone()), results: Vec::new(), notes: vec![] };
    if cfg.python && python_version.is_none() {
        report.notes.push("python3 not found on PATH: Python rows skipped".into());
    }
    if let Some(p) = python.as_ref().filter(|p| !p.has_shmkit) {
        let needs = |j: &Job| matches!(j, Job::Python { name, .. } if python::needs_shmkit(name));
        if jobs.iter().any(needs) {
            jobs.retain(|j| !needs(j));
            report.notes.push(format!(
                "python3 ({}) has no shmkit module: python-shmkit-* rows skipped (`pip install ./crates/python`, \
                 or `scripts/python-env` and then `PATH=target/pyenv/bin:$PATH`)",
                p.version
            ));
        }
    }
    let is_c = |j: &Job| matches!(j, Job::Link { entry, .. } if entries[*entry].name.starts_with("c-"));
    if !c::BUILT && jobs.iter().any(is_c) {
        jobs.retain(|j| !is_c(j));
        report.notes.push("built without a C compiler: C peer rows (c-spsc, c-spsc-batch, c-bytequeue) skipped".into());
    }
    let result = std::thread::scope(|scope| {
        std::thread::Builder::new()
            .name("bench".into())
            .stack_size(STACK)
            .spawn_scoped(scope, || measure_rounds(&mut session, &entries, &jobs, &mut report, progress))
            .map_err(|e| RunError::Failed(format!("cannot start the measuring thread: {e}")))?
            .join()
            .unwrap_or_else(|_| Err(RunError::Failed("the measuring thread panicked".into())))
    });
    remove_run_segments();
    result.map(|()| report)
}

/// Measures every job once per round (in a shuffled order after the first
/// round when there are several) and puts the rows, or with several rounds
/// their medians and spreads, into `report`.
fn measure_rounds(
    s: &mut Session,
    entries: &[Entry],
    jobs: &[Job],
    report: &mut Report,
    progress: &mut (dyn Progress + Send),
) -> Result<(), RunError> {
    match s.cpus {
        Some((a, _)) => {
            if let Err(e) = sys::pin_to_cpu(a) {
                report.notes.push(format!("could not pin to CPU {a}: {e}"));
            }
        }
        None => report
            .notes
            .push("one CPU: processes not pinned; spinning transports skipped (both sides would share the CPU)".into()),
    }
    let n = s.cfg.repeat.max(1);
    // One step per row, and one for all the Python rows of a round.
    let python = jobs.iter().filter(|j| matches!(j, Job::Python { .. })).count();
    progress.begin(((jobs.len() - python + usize::from(python > 0)) * n) as u64);
    let mut rounds = Vec::with_capacity(n);
    for round in 0..n {
        let order: Vec<usize> =
            if n == 1 { (0..jobs.len()).collect() } else { rounds::shuffled(jobs.len(), round as u64 + 1) };
        let mut rows = vec![Vec::new(); jobs.len()];
        let outcome = measure_all(s, entries, jobs, &order, &mut rows, &mut report.notes, progress);
        if let Err(e) = outcome {
            progress.end();
            return Err(e);
        }
        // Rows in the planned order, whatever order they were measured in.
        rounds.push(rows.into_iter().flatten().collect::<Vec<_>>());
    }
    progress.end();
    let probes: Vec<f64> = rounds.iter().flatten().filter_map(|r| r.xcore_ns).collect();
    report.machine.xcore_ns = rounds::Range::of(&probes);
    let mut results = if n == 1 { rounds.pop().unwrap_or_default() } else { rounds::combine(&rounds) };
    results.sort_by_key(|r| (pattern_rank(&r.pattern), r.size));
    report.results = results;
    // A size skipped for both patterns (or in every round) is said once.
    let mut seen = std::collections::HashSet::new();
    report.notes.retain(|n| seen.insert(n.clone()));
    Ok(())
}

/// Measures `jobs` in the `order` given (indices into `jobs`), putting the
/// rows of job `i` into `rows[i]` (all the Python rows, measured together
/// last, go to the first Python job's place).
fn measure_all(
    s: &mut Session,
    entries: &[Entry],
    jobs: &[Job],
    order: &[usize],
    rows: &mut [Vec<Record>],
    notes: &mut Vec<String>,
    progress: &mut (dyn Progress + Send),
) -> Result<(), RunError> {
    let mut python_jobs = Vec::new();
    for &i in order {
        let job = &jobs[i];
        if sys::interrupted() {
            return Err(RunError::Interrupted);
        }
        if !matches!(job, Job::Python { .. }) {
            progress.step(&job.label(entries));
        }
        let outcome = match job {
            Job::Link { entry, pattern, size } => {
                let before = rows[i].len();
                let (outcome, state) =
                    s.in_state(|s| measure_link(s, &entries[*entry], *pattern, *size, &mut rows[i], notes));
                rows[i][before..].iter_mut().for_each(|r| r.xcore_ns = state);
                outcome
            }
            Job::Primitive(name) => primitives::measure(s, name).map(|r| rows[i].push(r)),
            Job::Python { name, pattern, size } => {
                python_jobs.push((*name, *pattern, *size));
                Ok(())
            }
        };
        if let Err(e) = outcome {
            if e.kind() == io::ErrorKind::Interrupted || sys::interrupted() {
                return Err(RunError::Interrupted);
            }
            notes.push(format!("{}: {e}", job.label(entries)));
        }
        // Segments of a failed measurement must not outlive it.
        if s.seq > 0 {
            remove_run_segments();
        }
    }
    if let Some(first) = jobs.iter().position(|j| matches!(j, Job::Python { .. })) {
        progress.step("python (multiprocessing)");
        let (outcome, state) = s.in_state(|s| python::run(s, &python_jobs));
        match outcome {
            Ok((more_rows, more)) => {
                rows[first].extend(more_rows.into_iter().map(|r| Record { xcore_ns: state, ..r }));
                notes.extend(more);
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => return Err(RunError::Interrupted),
            Err(e) => notes.push(format!("python: {e}")),
        }
    }
    Ok(())
}

fn pattern_rank(p: &str) -> u8 {
    match p {
        "pingpong" => 0,
        "stream" => 1,
        _ => 2,
    }
}

fn measure_link(
    s: &mut Session,
    e: &Entry,
    pattern: Pattern,
    size: usize,
    results: &mut Vec<Record>,
    notes: &mut Vec<String>,
) -> io::Result<()> {
    if !e.only_sizes.is_empty() && !e.only_sizes.contains(&size) {
        if e.only_sizes.len() == 1 {
            return Ok(()); // a single-size row (e.g. shmkit-event): no note per size
        }
        notes.push(format!("{} {} B: no instance for this size", e.key(), size));
        return Ok(());
    }
    if size > e.max_size {
        notes.push(format!("{} {}: skipped, {}", e.key(), report::size_label(size as u64), e.size_note));
        return Ok(());
    }
    if e.spins && s.cpus.is_none() {
        return Ok(());
    }
    let ctx = Ctx { size, wait: e.wait, pattern, prefix: s.next_prefix() };
    let outcome = (e.measure)(s, e, &ctx)?;
    results.push(Record::from_outcome(e, size, outcome));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_are_nearest_rank_on_a_nanosecond_clock() {
        let v: Vec<f64> = (1..=1000).map(f64::from).collect();
        assert_eq!(clock::quantile(&v, 0.5, 1.0), 500.0);
        assert_eq!(clock::quantile(&v, 0.99, 1.0), 990.0);
        assert_eq!(clock::quantile(&v, 0.999, 1.0), 999.0);
        assert_eq!(clock::quantile(&[7.0], 0.999, 1.0), 7.0);
        let mut ns = vec![5.0, 1.0, 3.0];
        let r = Record::from_samples("x", "pingpong", 8, "spin", &mut ns, 10.0, 1.0);
        assert_eq!((r.p50_ns, r.max_ns, r.mean_ns), (Some(3.0), Some(5.0), Some(3.0)));
        assert_eq!(r.bytes_per_s, 80.0);
        // On a clock of 10 ns steps, three rounds of 110 and one of 120:
        // the p50 lies two thirds of the way up the step shown as 110.
        let mut ns = vec![110.0, 120.0, 110.0, 110.0];
        let r = Record::from_samples("x", "pingpong", 8, "spin", &mut ns, 10.0, 10.0);
        assert_eq!(r.p50_ns, Some(105.0 + 10.0 * 2.0 / 3.0));
    }

    #[test]
    fn filter_terms_select_patterns_and_names() {
        let f = Filter::parse("pipe, shmkit-queue/spin,stream").unwrap();
        assert!(f.selects("pipe", "block", "stream"));
        assert!(!f.selects("pipe", "block", "pingpong"));
        assert!(f.selects("shmkit-queue", "spin", "stream"));
        assert!(!f.selects("shmkit-queue", "park", "stream"));
        let f = Filter::parse("primitives").unwrap();
        assert!(f.selects("shmkit-mutex", "-", "op") && !f.selects("pipe", "block", "pingpong"));
        assert!(Filter::parse(" , ").is_err());
    }

    #[test]
    fn a_filter_term_matching_nothing_is_refused() {
        let mut cfg = Config::new(PeerCommand { exe: "unused".into(), args: vec![] });
        cfg.filter = Some(Filter::parse("nothing-like-this").unwrap());
        assert!(matches!(plan_jobs(&cfg, &registry(), true), Err(RunError::Filter(_))));
        cfg.filter = Some(Filter::parse("raw-flag,pingpong").unwrap());
        cfg.sizes = Some(vec![8, 64]);
        let jobs = plan_jobs(&cfg, &registry(), true).unwrap();
        assert_eq!(jobs.len(), 2);
    }
}
