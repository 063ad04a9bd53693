//! `shmkit bench`: real runs of the harness (the CLI and the library), each
//! tiny (`--iters`), checking that the numbers are sane and the outputs
//! well-formed, never how fast anything is.

#[path = "../../../tests/common/mod.rs"]
mod common;

use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::watchdog;
use serde_json::Value;

const LIMIT: Duration = Duration::from_secs(90);
const FIELDS: [&str; 11] = [
    "transport",
    "pattern",
    "size",
    "p50_ns",
    "p99_ns",
    "p999_ns",
    "max_ns",
    "mean_ns",
    "msgs_per_s",
    "bytes_per_s",
    "wait",
];

fn shmkit(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_shmkit")).args(args).stdin(Stdio::null()).output().expect("run shmkit")
}

fn temp_file(tag: &str, ext: &str) -> PathBuf {
    std::env::temp_dir().join(format!("shmkit-bench-test-{tag}-{}.{ext}", std::process::id()))
}

/// Segment files a run of process `pid` left behind.
fn leftovers(pid: u32) -> Vec<String> {
    let prefix = format!("shmkit.bench.{pid}.");
    let temp = format!("shmkit.~tmp.{pid}.");
    std::fs::read_dir("/dev/shm")
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with(&prefix) || n.starts_with(&temp))
                .collect()
        })
        .unwrap_or_default()
}

fn num(row: &Value, key: &str) -> Option<f64> {
    row.get(key).and_then(Value::as_f64)
}

/// Every row has every field; numbers are finite and positive, and the
/// percentiles are ordered.
fn check_rows(json: &Value) -> Vec<Value> {
    let machine = &json["machine"];
    assert!(machine["cpus"].as_u64().is_some_and(|c| c >= 1), "machine: {machine}");
    assert!(machine["kernel"].is_string() && machine["cpu_model"].is_string(), "machine: {machine}");
    assert!(machine.get("pinned_cpus").is_some(), "machine: {machine}");
    let rows = json["results"].as_array().expect("results array").clone();
    assert!(!rows.is_empty(), "no results");
    for row in &rows {
        for f in FIELDS {
            assert!(row.get(f).is_some(), "row lacks {f}: {row}");
        }
        let name = row["transport"].as_str().expect("transport name");
        assert!(
            ["shmkit", "raw", "pipe", "unix", "eventfd", "iceoryx2", "python", "c-"]
                .iter()
                .any(|p| name.starts_with(p)),
            "transport name {name}"
        );
        let pattern = row["pattern"].as_str().expect("pattern");
        assert!(["pingpong", "stream", "op"].contains(&pattern), "pattern {pattern}");
        assert!(row["wait"].is_string(), "{row}");
        let rate = num(row, "msgs_per_s").expect("msgs_per_s");
        assert!(rate.is_finite() && rate > 0.0, "msgs_per_s: {row}");
        let mean = num(row, "mean_ns").expect("mean_ns");
        assert!(mean.is_finite() && mean > 0.0, "mean_ns: {row}");
        if pattern != "stream" {
            let p: Vec<f64> =
                ["p50_ns", "p99_ns", "p999_ns", "max_ns"].iter().map(|k| num(row, k).expect("percentile")).collect();
            assert!(p.iter().all(|v| v.is_finite() && *v > 0.0), "percentiles: {row}");
            assert!(p[0] <= p[1] && p[1] <= p[2] && p[2] <= p[3], "percentiles out of order: {row}");
        } else {
            let bytes = num(row, "bytes_per_s").expect("bytes_per_s");
            assert!(bytes.is_finite() && bytes > 0.0, "bytes_per_s: {row}");
        }
    }
    rows
}

#[test]
fn every_transport_gives_sane_numbers() {
    watchdog(LIMIT, "smoke run of every transport", || {
        let out = shmkit(&["bench", "--iters", "100", "--size", "8", "--json"]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "stderr:\n{stderr}");
        let json: Value = serde_json::from_slice(&out.stdout).expect("JSON on stdout");
        let rows = check_rows(&json);
        let two_cpus = json["machine"]["cpus"].as_u64().unwrap_or(1) >= 2;
        let has =
            |t: &str, w: &str, p: &str| rows.iter().any(|r| r["transport"] == t && r["wait"] == w && r["pattern"] == p);
        let mut wanted = vec![
            ("pipe", "block"),
            ("unix-stream", "block"),
            ("unix-dgram", "block"),
            ("eventfd", "block"),
            ("shmkit-queue", "adaptive"),
            ("shmkit-queue", "park"),
        ];
        if two_cpus {
            wanted.extend([("raw-flag", "spin"), ("raw-ring", "spin"), ("shmkit-queue", "spin")]);
            // Two-process rows carry the machine's state of their moment
            // (not one whose probes before and after it disagreed).
            let probe = json["machine"]["xcore_ns"]["median"].as_f64();
            assert!(probe.is_some_and(|ns| ns > 0.0), "no cross-core probe: {}", json["machine"]);
            let states: Vec<f64> = rows.iter().filter_map(|r| r["xcore_ns"].as_f64()).collect();
            assert!(!states.is_empty() && states.iter().all(|&ns| ns > 0.0), "row states: {states:?}");
            // The one-process primitives are not probed (Python's rows,
            // measured in one batch, share the batch's state).
            let primitive =
                |r: &&Value| r["pattern"] == "op" && !r["transport"].as_str().unwrap_or("").starts_with("python");
            assert!(rows.iter().filter(primitive).all(|r| r["xcore_ns"].is_null()), "a primitive with a state");
        }
        for (t, w) in wanted {
            assert!(has(t, w, "pingpong") && has(t, w, "stream"), "no {t}/{w} rows; stderr:\n{stderr}");
        }
        for (t, w) in [("shmkit-event", "park"), ("shmkit-semaphore", "adaptive"), ("raw-sem_t", "block")] {
            assert!(has(t, w, "pingpong"), "no {t}/{w} wake row; stderr:\n{stderr}");
        }
        // Two senders and two receivers on one queue: streaming, 8 B only.
        assert!(has("shmkit-queue-2x2", "adaptive", "stream"), "no shmkit-queue-2x2 row; stderr:\n{stderr}");
        assert!(!has("shmkit-queue-2x2", "adaptive", "pingpong"), "shmkit-queue-2x2 streams only");
        // The copy bandwidth: streaming only, in the measuring process.
        assert!(has("raw-memcpy", "-", "stream") && !has("raw-memcpy", "-", "pingpong"), "raw-memcpy rows");
        for p in ["shmkit-mutex", "raw-pthread-mutex", "shmkit-semaphore", "raw-sem_t"] {
            assert!(has(p, "-", "op"), "no {p} row");
        }
        if json["machine"]["python"].is_string() {
            assert!(has("python-pipe", "block", "pingpong") && has("python-queue", "block", "stream"));
        }
        // The table went to stderr, the JSON alone to stdout.
        assert!(stderr.contains("Ping-pong round trip"), "stderr:\n{stderr}");
    });
}

#[test]
fn json_file_and_plot_are_written() {
    watchdog(LIMIT, "run with --json FILE and --plot", || {
        let (json_path, svg_path) = (temp_file("json", "json"), temp_file("plot", "svg"));
        let out = shmkit(&[
            "bench",
            "--iters",
            "50",
            "--size",
            "8,4096",
            "--filter",
            "pipe,raw-ring,shmkit-queue/park",
            "--no-python",
            "--json",
            json_path.to_str().unwrap(),
            "--plot",
            svg_path.to_str().unwrap(),
        ]);
        let json = std::fs::read_to_string(&json_path);
        let svg = std::fs::read_to_string(&svg_path);
        let _ = (std::fs::remove_file(&json_path), std::fs::remove_file(&svg_path));
        assert_eq!(out.status.code(), Some(0), "stderr:\n{}", String::from_utf8_lossy(&out.stderr));
        let table = String::from_utf8_lossy(&out.stdout);
        assert!(table.contains("Streaming") && table.contains("shmkit-queue"), "table:\n{table}");
        let json: Value = serde_json::from_str(&json.expect("JSON file")).expect("JSON parses");
        let rows = check_rows(&json);
        assert!(rows.iter().all(|r| r["pattern"] != "op"), "the filter keeps only pipe, raw-ring and the queue");
        let obj = json.as_object().expect("object");
        assert_eq!(obj.keys().collect::<Vec<_>>(), ["machine", "results"]);
        let svg = svg.expect("SVG file");
        assert!(svg.contains("<svg") && svg.contains("</svg>"), "not an SVG");
    });
}

#[test]
fn a_filter_matching_nothing_is_a_clear_error() {
    watchdog(LIMIT, "bad filter", || {
        let out = shmkit(&["bench", "--filter", "no-such-transport"]);
        assert_eq!(out.status.code(), Some(2));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
        assert!(stderr.starts_with("shmkit: ") && stderr.contains("no-such-transport"), "{stderr}");
        assert!(out.stdout.is_empty());
    });
}

/// Children of `pid`, from /proc.
fn children_of(pid: u32) -> Vec<u32> {
    let mut kids = Vec::new();
    for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(child) = e.file_name().to_string_lossy().parse::<u32>() else { continue };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{child}/stat")) else { continue };
        // Fields after the command name in parentheses: state, ppid, …
        let after = stat.rsplit_once(')').map_or("", |(_, r)| r);
        if after.split_whitespace().nth(1).and_then(|p| p.parse::<u32>().ok()) == Some(pid) {
            kids.push(child);
        }
    }
    kids
}

#[test]
fn sigint_kills_the_peer_and_removes_every_segment() {
    watchdog(LIMIT, "interrupted run", || {
        let mut run = Command::new(env!("CARGO_BIN_EXE_shmkit"))
            .args(["bench", "--filter", "raw,shmkit-queue", "--no-python"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start shmkit bench");
        let pid = run.id();
        // Wait until a measurement is under way: a segment and a peer exist.
        let start = Instant::now();
        let peers = loop {
            let kids = children_of(pid);
            if !leftovers(pid).is_empty() && !kids.is_empty() {
                break kids;
            }
            assert!(start.elapsed() < Duration::from_secs(30), "no measurement started");
            assert!(run.try_wait().expect("poll shmkit").is_none(), "shmkit ended early");
            std::thread::sleep(Duration::from_millis(2));
        };
        // SAFETY: kill touches no memory; `pid` is our unreaped child.
        unsafe { libc::kill(pid as i32, libc::SIGINT) };
        let out = run.wait_with_output().expect("wait for shmkit");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(130), "stderr:\n{stderr}");
        assert!(stderr.contains("interrupted"), "{stderr}");
        assert_eq!(leftovers(pid), Vec::<String>::new(), "segments left behind");
        for peer in peers {
            let stat = std::fs::read_to_string(format!("/proc/{peer}/stat")).unwrap_or_default();
            let after = stat.rsplit_once(')').map_or("", |(_, r)| r).to_owned();
            let ppid = after.split_whitespace().nth(1).and_then(|p| p.parse::<u32>().ok());
            assert_ne!(ppid, Some(pid), "peer {peer} still exists");
            assert!(ppid.is_none() || !after.contains(" R "), "peer {peer} still running");
        }
    });
}

/// Runs `shmkit bench --iters ARGS… --no-python --json` with peers that
/// exit after `die_after` messages: it must still exit 0, with no row (none
/// can complete). Returns the table output (stderr).
fn run_with_dying_peer(args: &[&str], die_after: u32) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_shmkit"))
        .args(["bench", "--iters"])
        .args(args)
        .args(["--no-python", "--json"])
        .env(shmkit_cli::bench::DIE_AFTER_VAR, die_after.to_string())
        .stdin(Stdio::null())
        .output()
        .expect("run shmkit");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(0), "stderr:\n{stderr}");
    let json: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert!(json["results"].as_array().is_some_and(|r| r.is_empty()), "no row can complete: {json}");
    stderr
}

#[test]
fn a_dying_peer_gives_a_note_not_a_hang() {
    watchdog(LIMIT, "run with dying peers", || {
        let stderr = run_with_dying_peer(
            &["100", "--size", "64", "--filter", "raw-flag,pipe,shmkit-queue/spin,eventfd,2sub"],
            5,
        );
        assert!(stderr.contains("Notes:") && stderr.contains("raw-flag/spin pingpong"), "stderr:\n{stderr}");
        assert!(stderr.contains("pipe/block stream"), "stderr:\n{stderr}");
        // Two subscriber processes, both dying: a note, not a hang.
        assert!(stderr.contains("shmkit-broadcast-2sub/adaptive stream"), "stderr:\n{stderr}");
    });
}

#[test]
fn the_two_by_two_queue_row_runs_alone_and_fails_cleanly() {
    watchdog(LIMIT, "shmkit-queue-2x2 runs", || {
        let out = shmkit(&["bench", "--iters", "2000", "--size", "8,64", "--filter", "2x2", "--no-python", "--json"]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "stderr:\n{stderr}");
        let json: Value = serde_json::from_slice(&out.stdout).expect("JSON");
        let rows = check_rows(&json);
        assert_eq!(rows.len(), 1, "one row (8 B, stream): {rows:?}");
        let row = &rows[0];
        assert_eq!(
            (&row["transport"], &row["wait"], &row["pattern"]),
            (&"shmkit-queue-2x2".into(), &"adaptive".into(), &"stream".into())
        );
        assert_eq!(row["size"], 8);
        assert!(!stderr.contains("Notes:"), "stderr:\n{stderr}");

        // A sender that dies mid-run fails the row with a note, never a hang,
        // and the other three peers are gone with it.
        let stderr = run_with_dying_peer(&["100000", "--size", "8", "--filter", "2x2"], 50);
        assert!(
            stderr.contains("shmkit-queue-2x2/adaptive stream") && stderr.contains("sender 1"),
            "stderr:\n{stderr}"
        );
    });
}

#[test]
fn the_library_harness_runs_from_a_test() {
    watchdog(LIMIT, "library run", || {
        use shmkit_cli::bench;
        let peer = bench::PeerCommand { exe: env!("CARGO_BIN_EXE_shmkit").into(), args: vec!["__bench-peer".into()] };
        let mut cfg = bench::Config::new(peer);
        cfg.iters = Some(50);
        cfg.sizes = Some(vec![64]);
        cfg.python = false;
        cfg.filter = Some(bench::Filter::parse("raw-ring,unix-stream,shmkit-queue/adaptive,pingpong").unwrap());
        let report = bench::run(&cfg, &mut bench::Quiet).expect("run");
        let names: Vec<&str> = report.results.iter().map(|r| r.transport.as_str()).collect();
        assert!(names.contains(&"unix-stream") && names.contains(&"shmkit-queue"), "{names:?} {:?}", report.notes);
        for r in &report.results {
            assert_eq!(r.pattern, "pingpong");
            let (p50, max) = (r.p50_ns.unwrap(), r.max_ns.unwrap());
            assert!(p50 > 0.0 && p50 <= max && r.msgs_per_s > 0.0, "{r:?}");
        }
        assert!(report.table().contains("unix-stream"));
        assert!(leftovers(std::process::id()).is_empty());
    });
}

#[test]
fn the_c_peer_rows_run_beside_their_rust_rows() {
    watchdog(LIMIT, "C peer rows", || {
        let filter = "c-spsc,c-bytequeue,shmkit-spsc/adaptive,shmkit-spsc-batch,shmkit-bytequeue/adaptive";
        let out = shmkit(&["bench", "--iters", "200", "--size", "8,64", "--filter", filter, "--no-python", "--json"]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "stderr:\n{stderr}");
        if stderr.contains("built without a C compiler") {
            eprintln!("skipped: shmkit was built without a C compiler");
            return;
        }
        let json: Value = serde_json::from_slice(&out.stdout).expect("JSON on stdout");
        let rows = check_rows(&json);
        let two_cpus = json["machine"]["cpus"].as_u64().unwrap_or(1) >= 2;
        let has = |t: &str, w: &str, p: &str, size: u64| {
            rows.iter().any(|r| r["transport"] == t && r["wait"] == w && r["pattern"] == p && r["size"] == size)
        };
        let mut wanted =
            vec![("c-spsc", "adaptive", 8), ("c-bytequeue", "adaptive", 8), ("c-bytequeue", "adaptive", 64)];
        if two_cpus {
            // The batch rows spin, so they run with two CPUs only.
            wanted.extend([("c-spsc", "spin", 8), ("c-spsc-batch", "spin", 8), ("c-bytequeue", "spin", 64)]);
        }
        for (t, w, size) in wanted {
            for p in ["pingpong", "stream"] {
                assert!(has(t, w, p, size), "no {t}/{w} {p} {size} B row; stderr:\n{stderr}");
            }
        }
        // Queue<u64>: 8-byte messages only, silently.
        assert!(!has("c-spsc", "adaptive", "pingpong", 64), "c-spsc at 64 B");
        assert!(!stderr.contains("Notes:"), "stderr:\n{stderr}");
        // Their ratios to the Rust rows of the same run.
        assert!(stderr.contains("C peer vs Rust peer"), "stderr:\n{stderr}");
        assert!(stderr.lines().any(|l| l.contains("c-spsc") && l.contains("shmkit-spsc")), "stderr:\n{stderr}");
        if two_cpus {
            let batch = |l: &str| l.contains("c-spsc-batch") && l.contains("shmkit-spsc-batch");
            assert!(stderr.lines().any(batch), "no c-spsc-batch ratio; stderr:\n{stderr}");
        }
    });
}

#[test]
fn repeated_rounds_give_spreads_and_two_runs_compare() {
    watchdog(LIMIT, "--repeat runs and --compare", || {
        let (before, after) = (temp_file("before", "json"), temp_file("after", "json"));
        let run = |path: &PathBuf| {
            shmkit(&[
                "bench",
                "--iters",
                "50",
                "--repeat",
                "3",
                "--size",
                "8",
                "--filter",
                "pipe,raw-flag,raw-ring",
                "--no-python",
                "--json",
                path.to_str().unwrap(),
            ])
        };
        let (a, b) = (run(&before), run(&after));
        let texts = (std::fs::read_to_string(&before), std::fs::read_to_string(&after));
        let cmp = shmkit(&["bench", "--compare", before.to_str().unwrap(), after.to_str().unwrap()]);
        let missing = shmkit(&["bench", "--compare", before.to_str().unwrap(), "/nonexistent/after.json"]);
        let _ = (std::fs::remove_file(&before), std::fs::remove_file(&after));
        for out in [&a, &b] {
            assert_eq!(out.status.code(), Some(0), "stderr:\n{}", String::from_utf8_lossy(&out.stderr));
        }
        let table = String::from_utf8_lossy(&a.stdout);
        assert!(table.contains("3 rounds") && table.contains("p50 range"), "table:\n{table}");
        let json: Value = serde_json::from_str(&texts.0.expect("JSON file")).expect("JSON parses");
        assert_eq!(json["machine"]["rounds"], 3);
        for row in check_rows(&json) {
            let spread = &row["spread"];
            assert_eq!(spread["rounds"], 3, "row {row}");
            let (lo, mid, hi) = (
                num(&spread["figure"], "min").unwrap(),
                num(&spread["figure"], "median").unwrap(),
                num(&spread["figure"], "max").unwrap(),
            );
            assert!(lo <= mid && mid <= hi, "row {row}");
            if row["transport"] == "pipe" {
                assert_eq!(num(&spread["vs_pipe"], "median"), Some(1.0), "a row against itself: {row}");
            }
        }
        assert_eq!(cmp.status.code(), Some(0), "stderr:\n{}", String::from_utf8_lossy(&cmp.stderr));
        let text = String::from_utf8_lossy(&cmp.stdout);
        assert!(text.contains("pipe pingpong 8 B block") && text.contains("within the noise"), "{text}");
        assert_eq!(missing.status.code(), Some(1));
        let stderr = String::from_utf8_lossy(&missing.stderr);
        assert!(stderr.starts_with("shmkit: cannot read /nonexistent/after.json"), "{stderr}");
    });
}

/// A quick run measures 3 interleaved rounds unless told otherwise; a run
/// with `--iters` (or `--full`) one.
#[test]
fn a_quick_run_makes_three_rounds_by_default() {
    watchdog(LIMIT, "default rounds", || {
        let rounds = |extra: &[&str]| {
            let mut args = vec!["bench", "--size", "8", "--filter", "raw-flag,pingpong", "--no-python", "--json"];
            args.extend_from_slice(extra);
            let out = shmkit(&args);
            assert_eq!(out.status.code(), Some(0), "stderr:\n{}", String::from_utf8_lossy(&out.stderr));
            let json: Value = serde_json::from_slice(&out.stdout).expect("JSON");
            json["machine"]["rounds"].clone()
        };
        assert_eq!(rounds(&[]), 3);
        assert_eq!(rounds(&["--iters", "100"]), 1);
        assert_eq!(rounds(&["--repeat", "2"]), 2);
    });
}

/// The first `python3` on PATH, if any.
fn python3_on_path() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|d| d.join("python3")).find(|p| p.is_file())
}

#[test]
fn a_python3_without_the_module_skips_its_rows_in_one_note() {
    let Some(real) = python3_on_path() else {
        // Nothing to wrap: the run must say that python3 is missing.
        let out = shmkit(&["bench", "--iters", "200", "--filter", "python-lock"]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("python3 not found on PATH"), "stderr:\n{stderr}");
        return;
    };
    watchdog(LIMIT, "run with a python3 lacking the shmkit module", move || {
        // A python3 that cannot see installed packages (-S: no site), so
        // not the shmkit module either, whatever this machine has.
        let dir = std::env::temp_dir().join(format!("shmkit-bench-test-py-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("make temp dir");
        let wrapper = dir.join("python3");
        std::fs::write(&wrapper, format!("#!/bin/sh\nexec '{}' -S \"$@\"\n", real.display())).expect("write wrapper");
        std::fs::set_permissions(&wrapper, std::os::unix::fs::PermissionsExt::from_mode(0o755)).expect("chmod");
        let path = std::env::join_paths(
            std::iter::once(dir.clone()).chain(std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())),
        )
        .expect("PATH");
        let out = Command::new(env!("CARGO_BIN_EXE_shmkit"))
            .args(["bench", "--iters", "200", "--size", "8", "--json"])
            .args(["--filter", "python-shmkit-queue,python-shmkit-pipe,python-shmkit-lock,python-lock"])
            .env("PATH", path)
            .stdin(Stdio::null())
            .output()
            .expect("run shmkit");
        let _ = std::fs::remove_dir_all(&dir);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "stderr:\n{stderr}");
        // Five rows needed the module: one note says so, and none failed.
        assert_eq!(stderr.matches("has no shmkit module").count(), 1, "stderr:\n{stderr}");
        assert!(!stderr.contains("RuntimeError"), "stderr:\n{stderr}");
        let json: Value = serde_json::from_slice(&out.stdout).expect("JSON on stdout");
        let rows = json["results"].as_array().expect("results");
        assert!(rows.iter().any(|r| r["transport"] == "python-lock"), "no python-lock row; stderr:\n{stderr}");
        assert!(!rows.iter().any(|r| r["transport"].as_str().is_some_and(|t| t.starts_with("python-shmkit"))));
    });
}
