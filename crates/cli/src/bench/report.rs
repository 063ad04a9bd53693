//! The table a person reads: one section per pattern, ratios to `pipe` and
//! to the raw floor measured in the same run.

use std::fmt::Write;

use super::rounds::Range;
use super::{Record, Report};

/// `8 B`, `64 KiB`, `1 MiB`.
pub fn size_label(bytes: u64) -> String {
    match bytes {
        b if b >= 1 << 20 && b % (1 << 20) == 0 => format!("{} MiB", b >> 20),
        b if b >= 1 << 10 && b % (1 << 10) == 0 => format!("{} KiB", b >> 10),
        b => format!("{b} B"),
    }
}

/// `312 ns`, `12.3 µs`, `1.23 ms`.
pub fn duration_label(ns: f64) -> String {
    if !ns.is_finite() {
        "-".into()
    } else if ns < 1e3 {
        format!("{ns:.0} ns")
    } else if ns < 1e6 {
        format!("{:.1} µs", ns / 1e3)
    } else if ns < 1e9 {
        format!("{:.2} ms", ns / 1e6)
    } else {
        format!("{:.2} s", ns / 1e9)
    }
}

/// `1.23 M`, `456 k`.
fn count_label(n: f64) -> String {
    if n >= 1e9 {
        format!("{:.2} G", n / 1e9)
    } else if n >= 1e6 {
        format!("{:.2} M", n / 1e6)
    } else if n >= 1e3 {
        format!("{:.1} k", n / 1e3)
    } else {
        format!("{n:.0} ")
    }
}

/// `12.3 GB/s` (decimal units).
fn bytes_label(n: f64) -> String {
    if n >= 1e9 {
        format!("{:.2} GB/s", n / 1e9)
    } else if n >= 1e6 {
        format!("{:.1} MB/s", n / 1e6)
    } else if n >= 1e3 {
        format!("{:.1} kB/s", n / 1e3)
    } else {
        format!("{n:.0} B/s")
    }
}

fn ratio_label(r: Option<f64>) -> String {
    match r {
        Some(r) if r.is_finite() && r > 0.0 => {
            if r >= 10.0 {
                format!("{r:.0}x")
            } else if r >= 0.1 {
                format!("{r:.2}x")
            } else {
                format!("{r:.3}x")
            }
        }
        _ => "-".into(),
    }
}

/// A ratio cell: with rounds, the median of the per-round ratios and their
/// range; otherwise the ratio of this run's rows.
fn ratio_cell(row: &Record, base: Option<&Record>, spread: Option<Range>) -> String {
    match spread {
        Some(r) => {
            format!("{} ({}–{})", ratio_label(Some(r.median)), ratio_label(Some(r.min)), ratio_label(Some(r.max)))
        }
        None => ratio_label(speedup(row, base)),
    }
}

/// The range of the row's figure over the rounds (`-` if it has none).
fn spread_cell(row: &Record, label: impl Fn(f64) -> String) -> String {
    row.spread.as_ref().map_or("-".into(), |s| format!("{}–{}", label(s.figure.min), label(s.figure.max)))
}

/// A table of a single-round run has no range column (the fifth).
fn drop_range_column(t: &mut [Vec<String>], multi: bool) {
    if !multi {
        t.iter_mut().filter(|row| row.len() > 4).for_each(|row| {
            row.remove(4);
        });
    }
}

fn find<'a>(rows: &'a [Record], transport: &str, pattern: &str, size: u64) -> Option<&'a Record> {
    rows.iter().find(|r| r.transport == transport && r.pattern == pattern && r.size == size)
}

/// Speed relative to `base` (> 1: faster than base): by p50 for
/// ping-pong, by rate otherwise.
fn speedup(row: &Record, base: Option<&Record>) -> Option<f64> {
    let base = base?;
    if row.pattern == "pingpong" { Some(base.p50_ns? / row.p50_ns?) } else { Some(row.msgs_per_s / base.msgs_per_s) }
}

/// Pads cells to column widths; columns listed in `right` are right-aligned.
pub(super) fn grid(out: &mut String, rows: &[Vec<String>], right: &[usize]) {
    let cols = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> =
        (0..cols).map(|c| rows.iter().filter_map(|r| r.get(c)).map(|s| s.chars().count()).max().unwrap_or(0)).collect();
    for row in rows {
        if row.is_empty() {
            out.push('\n');
            continue;
        }
        let cells: Vec<String> =
            row.iter()
                .enumerate()
                .map(|(c, s)| {
                    if right.contains(&c) {
                        format!("{s:>w$}", w = widths[c])
                    } else {
                        format!("{s:<w$}", w = widths[c])
                    }
                })
                .collect();
        let _ = writeln!(out, "  {}", cells.join("  ").trim_end());
    }
}

/// The Rust row a C-peer row is compared with.
fn rust_twin(c_transport: &str) -> Option<&'static str> {
    match c_transport {
        "c-spsc" => Some("shmkit-spsc"),
        "c-spsc-batch" => Some("shmkit-spsc-batch"),
        "c-bytequeue" => Some("shmkit-bytequeue"),
        _ => None,
    }
}

/// The C-peer rows against the Rust rows of the same channel, wait and
/// size: p50 for ping-pong, messages/s for streaming.
fn c_vs_rust(out: &mut String, rows: &[Record]) {
    let mut t =
        vec![["size", "pattern", "C row", "Rust row", "wait", "C", "Rust", "C/Rust"].map(String::from).to_vec()];
    for r in rows {
        let Some(twin) = rust_twin(&r.transport) else { continue };
        let Some(rust) =
            rows.iter().find(|b| b.transport == twin && b.wait == r.wait && b.pattern == r.pattern && b.size == r.size)
        else {
            continue;
        };
        let (c, base) = if r.pattern == "pingpong" {
            (r.p50_ns.map_or("-".into(), duration_label), rust.p50_ns.map_or("-".into(), duration_label))
        } else {
            (
                format!("{} msg/s", count_label(r.msgs_per_s).trim_end()),
                format!("{} msg/s", count_label(rust.msgs_per_s).trim_end()),
            )
        };
        t.push(vec![
            size_label(r.size),
            r.pattern.clone(),
            r.transport.clone(),
            twin.into(),
            r.wait.clone(),
            c,
            base,
            ratio_label(speedup(r, Some(rust))),
        ]);
    }
    if t.len() > 1 {
        let _ =
            writeln!(out, "\nC peer vs Rust peer (same channel; ping-pong by p50, streaming by msgs/s; >1 = C faster)");
        grid(out, &t, &[5, 6, 7]);
    }
}

/// Renders the whole report.
pub fn render(rep: &Report) -> String {
    let m = &rep.machine;
    let mut out = String::new();
    let pin = match m.pinned_cpus {
        Some([a, b]) => format!("measuring side pinned to CPU {a}, peer process to CPU {b}"),
        None => "not pinned (one CPU)".into(),
    };
    let cpus = if m.cpus == 1 { "1 CPU".to_owned() } else { format!("{} CPUs", m.cpus) };
    let rounds = if m.rounds > 1 {
        format!(", {} rounds: medians, ranges min–max, ratios taken per round and state", m.rounds)
    } else {
        String::new()
    };
    let _ = writeln!(out, "shmkit bench ({} run{rounds}) on {cpus}: {pin}", m.mode);
    let _ = writeln!(out, "kernel {}, {}", m.kernel, m.cpu_model);
    let _ = writeln!(out, "Every row copies the message in and out, except shmkit-grant (zero-copy: written and read");
    let _ = writeln!(out, "in place). Ratios compare with rows of this same run.");
    if let Some(x) = m.xcore_ns {
        let _ = writeln!(
            out,
            "Cross-core round trip, probed around each row: {} ({})",
            duration_label(x.median),
            x.span(duration_label)
        );
        if x.max > x.min * super::probe::AGREE {
            let left_out = rep.results.iter().filter(|r| r.spread.as_ref().is_some_and(|s| s.other_state > 0)).count();
            let what = if m.rounds > 1 {
                format!(
                    "each row's rounds are compared with its reference measured in the same state \
                     ({left_out} rows had rounds left out: no such reference, or the state changed during \
                     the row)"
                )
            } else {
                "a ratio of rows measured in different states misleads (--repeat pairs them by state)".into()
            };
            let _ = writeln!(
                out,
                "The machine changed speed during the run (probes over {}x apart): {what}.",
                super::probe::AGREE
            );
        }
    }
    let rows = &rep.results;
    let multi = m.rounds > 1;
    let pp: Vec<&Record> = rows.iter().filter(|r| r.pattern == "pingpong").collect();
    if !pp.is_empty() {
        let _ =
            writeln!(out, "\nPing-pong round trip (lower is better; vs pipe / vs floor: speed by p50, >1 = faster)");
        let mut t = vec![
            [
                "size",
                "transport",
                "wait",
                "p50",
                "p50 range",
                "p99",
                "p99.9",
                "max",
                "mean",
                "trips/s",
                "vs pipe",
                "vs floor",
            ]
            .map(String::from)
            .to_vec(),
        ];
        let mut last = None;
        for r in pp {
            if last.is_some_and(|s| s != r.size) {
                t.push(Vec::new());
            }
            last = Some(r.size);
            let d = |v: Option<f64>| v.map_or("-".into(), duration_label);
            t.push(vec![
                size_label(r.size),
                r.transport.clone(),
                r.wait.clone(),
                d(r.p50_ns),
                spread_cell(r, duration_label),
                d(r.p99_ns),
                d(r.p999_ns),
                d(r.max_ns),
                d(r.mean_ns),
                count_label(r.msgs_per_s),
                ratio_cell(r, find(rows, "pipe", "pingpong", r.size), r.spread.as_ref().and_then(|s| s.vs_pipe)),
                ratio_cell(r, find(rows, "raw-flag", "pingpong", r.size), r.spread.as_ref().and_then(|s| s.vs_floor)),
            ]);
        }
        drop_range_column(&mut t, multi);
        grid(&mut out, &t, &(3..t[0].len()).collect::<Vec<_>>());
    }
    let st: Vec<&Record> = rows.iter().filter(|r| r.pattern == "stream").collect();
    if !st.is_empty() {
        let _ = writeln!(out, "\nStreaming, one way (higher is better; vs pipe / vs floor: by messages/s)");
        let mut t = vec![
            ["size", "transport", "wait", "msgs/s", "msgs/s range", "bytes/s", "per msg", "vs pipe", "vs floor"]
                .map(String::from)
                .to_vec(),
        ];
        let mut last = None;
        for r in st {
            if last.is_some_and(|s| s != r.size) {
                t.push(Vec::new());
            }
            last = Some(r.size);
            t.push(vec![
                size_label(r.size),
                r.transport.clone(),
                r.wait.clone(),
                count_label(r.msgs_per_s),
                spread_cell(r, |v| count_label(v).trim_end().to_owned()),
                bytes_label(r.bytes_per_s),
                r.mean_ns.map_or("-".into(), duration_label),
                ratio_cell(r, find(rows, "pipe", "stream", r.size), r.spread.as_ref().and_then(|s| s.vs_pipe)),
                ratio_cell(r, find(rows, "raw-ring", "stream", r.size), r.spread.as_ref().and_then(|s| s.vs_floor)),
            ]);
        }
        drop_range_column(&mut t, multi);
        grid(&mut out, &t, &(3..t[0].len()).collect::<Vec<_>>());
    }
    c_vs_rust(&mut out, rows);
    let ops: Vec<&Record> = rows.iter().filter(|r| r.pattern == "op").collect();
    if !ops.is_empty() {
        let _ = writeln!(
            out,
            "\nPrimitives: one process, uncontended, per operation (vs libc: speed by mean, >1 = faster)"
        );
        let mut t =
            vec![["primitive", "operation", "p50", "p99", "mean", "ops/s", "vs libc"].map(String::from).to_vec()];
        for r in ops {
            let (what, libc) = match r.transport.as_str() {
                "shmkit-mutex" => ("lock+unlock", Some("raw-pthread-mutex")),
                "raw-pthread-mutex" => ("lock+unlock (robust, pshared)", None),
                "raw-sync-mutex" => ("lock+unlock (raw_sync crate)", None),
                "shmkit-semaphore" => ("acquire+release", Some("raw-sem_t")),
                "raw-sem_t" => ("sem_wait+sem_post (pshared)", None),
                "python-lock" => ("acquire+release", Some("raw-pthread-mutex")),
                "python-shmkit-lock" => ("acquire+release (robust)", Some("raw-pthread-mutex")),
                _ => ("", None),
            };
            let vs = libc.and_then(|l| find(rows, l, "op", 0)).and_then(|b| Some(b.mean_ns? / r.mean_ns?));
            let d = |v: Option<f64>| v.map_or("-".into(), duration_label);
            t.push(vec![
                r.transport.clone(),
                what.into(),
                d(r.p50_ns),
                d(r.p99_ns),
                d(r.mean_ns),
                count_label(r.msgs_per_s),
                ratio_label(vs),
            ]);
        }
        grid(&mut out, &t, &[2, 3, 4, 5, 6]);
    }
    if !rep.notes.is_empty() {
        let _ = writeln!(out, "\nNotes:");
        for n in &rep.notes {
            let _ = writeln!(out, "  - {n}");
        }
    }
    out
}
