//! Many rounds of one run, and A/B comparison of two runs.
//!
//! A single pass per row cannot tell a change from a slow minute on a shared
//! machine. `--repeat N` measures every row once per round, in a shuffled
//! order each round, so a slow minute hits all rows alike; each row then
//! reports the median of its rounds and their spread (min–max), and each
//! ratio is taken per round before its median and spread are taken: against
//! the reference as measured in the same state of the machine (see
//! [`probe`](super::probe)), in whichever rounds that was.
//!
//! `--compare BEFORE AFTER` reads two JSON reports and prints, per row
//! present in both, the speed of AFTER relative to BEFORE and the range that
//! ratio can take within the two runs' spreads; a row is marked changed only
//! when the two runs' ranges do not overlap.

use std::collections::HashMap;
use std::fmt::Write;

use super::probe;
use super::report::{duration_label, size_label};
use super::{Record, Report};

/// A median with the least and greatest value it was taken from.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Range {
    /// Median.
    pub median: f64,
    /// Smallest.
    pub min: f64,
    /// Largest.
    pub max: f64,
}

impl Range {
    /// The median and extremes of `v` (`None` if it is empty).
    pub fn of(v: &[f64]) -> Option<Range> {
        let mut v: Vec<f64> = v.iter().copied().filter(|x| x.is_finite()).collect();
        if v.is_empty() {
            return None;
        }
        v.sort_by(f64::total_cmp);
        let n = v.len();
        let median = if n % 2 == 1 { v[n / 2] } else { (v[n / 2 - 1] + v[n / 2]) / 2.0 };
        Some(Range { median, min: v[0], max: v[n - 1] })
    }

    /// `a – b` of the extremes.
    pub fn span(&self, label: impl Fn(f64) -> String) -> String {
        format!("{}–{}", label(self.min), label(self.max))
    }
}

/// How a row varied over the rounds of a `--repeat` run.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Spread {
    /// Rounds that measured this row.
    pub rounds: usize,
    /// The figure rows are compared by: p50 in ns for ping-pong, mean in ns
    /// for operations, messages/s for streaming.
    pub figure: Range,
    /// Speed against `pipe` of the same round and size (> 1: faster).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vs_pipe: Option<Range>,
    /// Speed against the raw floor of the same round and size.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vs_floor: Option<Range>,
    /// Rounds left out of a ratio because the state the row was measured
    /// in is unknown (it changed meanwhile) or no round measured the
    /// reference in it (see [`probe`](super::probe)); all rounds count, as
    /// measured, when that leaves none.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub other_state: usize,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

/// The key of a row: transport, pattern, size, wait.
type Key = (String, String, u64, String);

fn key(r: &Record) -> Key {
    (r.transport.clone(), r.pattern.clone(), r.size, r.wait.clone())
}

/// The figure rows are compared by, and whether lower is better.
fn figure(r: &Record) -> Option<(f64, bool)> {
    match r.pattern.as_str() {
        "pingpong" => r.p50_ns.map(|v| (v, true)),
        "op" => r.mean_ns.map(|v| (v, true)),
        _ => Some((r.msgs_per_s, false)),
    }
}

/// Speed of `row` relative to `base` (> 1: `row` is faster).
fn speed(row: &Record, base: &Record) -> Option<f64> {
    speed_against(row, figure(base)?.0)
}

/// Speed of `row` relative to a row whose figure is `base`.
fn speed_against(row: &Record, base: f64) -> Option<f64> {
    let (a, lower) = figure(row)?;
    let s = if lower { base / a } else { a / base };
    (s.is_finite() && s > 0.0).then_some(s)
}

/// The reference rows of ratios, by pattern: (`pipe`, floor).
fn references(pattern: &str) -> Option<(&'static str, &'static str)> {
    match pattern {
        "pingpong" => Some(("pipe", "raw-flag")),
        "stream" => Some(("pipe", "raw-ring")),
        _ => None,
    }
}

/// One row per key, the per-round medians of every figure, with a
/// [`Spread`]; rows in the order of the first round that has them.
pub fn combine(rounds: &[Vec<Record>]) -> Vec<Record> {
    let mut order: Vec<Key> = Vec::new();
    let mut by_key: HashMap<Key, Vec<(usize, &Record)>> = HashMap::new();
    for (i, round) in rounds.iter().enumerate() {
        for r in round {
            let k = key(r);
            let seen = by_key.entry(k.clone()).or_default();
            if seen.is_empty() {
                order.push(k);
            }
            seen.push((i, r));
        }
    }
    // The reference row of a round: `find` in report.rs ignores the wait,
    // and so does this.
    let reference = |round: usize, transport: &str, pattern: &str, size: u64| {
        rounds[round].iter().find(|r| r.transport == transport && r.pattern == pattern && r.size == size)
    };
    order
        .iter()
        .map(|k| {
            let rows = &by_key[k];
            let med = |f: &dyn Fn(&Record) -> Option<f64>| {
                Range::of(&rows.iter().filter_map(|(_, r)| f(r)).collect::<Vec<_>>()).map(|r| r.median)
            };
            let first = rows[0].1;
            // Per round: the speed against the reference as measured in the
            // same state of the machine, in whichever rounds it was (states
            // come and go within a round): the median of those. A round
            // with no such reference, or whose own state is unknown, is
            // left out, unless every round is.
            let mut other_state = 0;
            let mut ratio = |name: Option<&str>| {
                let name = name?;
                let (mut same, mut all, mut left_out) = (Vec::new(), Vec::new(), 0);
                for &(i, r) in rows {
                    let Some(own) = reference(i, name, &r.pattern, r.size) else { continue };
                    let Some(plain) = speed(r, own) else { continue };
                    all.push(plain);
                    if r.transport == name {
                        same.push(plain);
                        continue;
                    }
                    if r.xcore_ns.is_none() {
                        // The state changed while the row was measured (or
                        // nothing was probed): no state to pair it in.
                        left_out += 1;
                        continue;
                    }
                    let figures: Vec<f64> = (0..rounds.len())
                        .filter_map(|j| reference(j, name, &r.pattern, r.size))
                        .filter(|b| b.xcore_ns.is_some() && probe::agree(r.xcore_ns, b.xcore_ns))
                        .filter_map(|b| figure(b).map(|f| f.0))
                        .collect();
                    match Range::of(&figures).and_then(|base| speed_against(r, base.median)) {
                        Some(v) => same.push(v),
                        None => left_out += 1,
                    }
                }
                if same.is_empty() {
                    return Range::of(&all);
                }
                other_state = other_state.max(left_out);
                Range::of(&same)
            };
            let (vs_pipe, vs_floor) = {
                let refs = references(&first.pattern);
                (ratio(refs.map(|r| r.0)), ratio(refs.map(|r| r.1)))
            };
            let figures: Vec<f64> = rows.iter().filter_map(|(_, r)| figure(r).map(|f| f.0)).collect();
            let msgs_per_s = med(&|r| Some(r.msgs_per_s)).unwrap_or(0.0);
            Record {
                transport: first.transport.clone(),
                pattern: first.pattern.clone(),
                size: first.size,
                p50_ns: med(&|r| r.p50_ns),
                p99_ns: med(&|r| r.p99_ns),
                p999_ns: med(&|r| r.p999_ns),
                max_ns: med(&|r| r.max_ns),
                mean_ns: med(&|r| r.mean_ns),
                msgs_per_s,
                bytes_per_s: msgs_per_s * first.size as f64,
                wait: first.wait.clone(),
                spread: Range::of(&figures).map(|figure| Spread {
                    rounds: rows.len(),
                    figure,
                    vs_pipe,
                    vs_floor,
                    other_state,
                }),
                xcore_ns: med(&|r| r.xcore_ns),
            }
        })
        .collect()
}

/// A shuffled copy of `0..n`, the same for the same `seed`.
pub fn shuffled(n: usize, seed: u64) -> Vec<usize> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let mut v: Vec<usize> = (0..n).collect();
    for i in (1..n).rev() {
        let j = (next() % (i as u64 + 1)) as usize;
        v.swap(i, j);
    }
    v
}

/// Why two reports cannot be compared.
#[derive(Debug, PartialEq, Eq)]
pub struct CompareError(pub String);

impl std::fmt::Display for CompareError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for CompareError {}

/// Reads a JSON report written by `shmkit bench --json`.
///
/// # Errors
/// If the file cannot be read or is not such a report.
pub fn load(path: &std::path::Path) -> Result<Report, CompareError> {
    let text =
        std::fs::read_to_string(path).map_err(|e| CompareError(format!("cannot read {}: {e}", path.display())))?;
    serde_json::from_str(&text)
        .map_err(|e| CompareError(format!("{} is not a report of `shmkit bench --json` ({e})", path.display())))
}

/// What a comparison says of one row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// AFTER is faster beyond both runs' spreads.
    Faster,
    /// AFTER is slower beyond both runs' spreads.
    Slower,
    /// The ranges overlap: no change that the noise can't explain.
    Same,
}

/// One row of a comparison.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    /// `transport pattern size wait`.
    pub row: String,
    /// BEFORE's figure (median).
    pub before: f64,
    /// AFTER's figure (median).
    pub after: f64,
    /// Speed of AFTER relative to BEFORE (> 1: faster), and its least and
    /// greatest value within the two spreads.
    pub speed: Range,
    /// The verdict.
    pub verdict: Verdict,
    /// Whether lower figures are better (times) or higher (rates).
    pub lower_is_better: bool,
}

/// The figure of a row and its range (a single value when the run had one
/// round).
fn figure_range(r: &Record) -> Option<(Range, bool)> {
    let (v, lower) = figure(r)?;
    let range = r.spread.as_ref().map_or(Range { median: v, min: v, max: v }, |s| s.figure);
    Some((range, lower))
}

/// Compares two reports row by row.
///
/// # Errors
/// If they have no row in common.
pub fn compare(before: &Report, after: &Report) -> Result<(Vec<Change>, Vec<String>), CompareError> {
    let mut changes = Vec::new();
    let mut notes = Vec::new();
    let index: HashMap<Key, &Record> = before.results.iter().map(|r| (key(r), r)).collect();
    for a in &after.results {
        let label = format!("{} {} {} {}", a.transport, a.pattern, size_label(a.size), a.wait);
        let Some(b) = index.get(&key(a)) else {
            notes.push(format!("{label}: only in AFTER"));
            continue;
        };
        let (Some((rb, lower)), Some((ra, _))) = (figure_range(b), figure_range(a)) else {
            notes.push(format!("{label}: no figure to compare"));
            continue;
        };
        let to_speed = |before: f64, after: f64| if lower { before / after } else { after / before };
        let speed = Range {
            median: to_speed(rb.median, ra.median),
            min: to_speed(if lower { rb.min } else { rb.max }, if lower { ra.max } else { ra.min }),
            max: to_speed(if lower { rb.max } else { rb.min }, if lower { ra.min } else { ra.max }),
        };
        let verdict = if ra.min > rb.max {
            if lower { Verdict::Slower } else { Verdict::Faster }
        } else if ra.max < rb.min {
            if lower { Verdict::Faster } else { Verdict::Slower }
        } else {
            Verdict::Same
        };
        changes.push(Change {
            row: label,
            before: rb.median,
            after: ra.median,
            speed,
            verdict,
            lower_is_better: lower,
        });
    }
    let after_keys: std::collections::HashSet<Key> = after.results.iter().map(key).collect();
    for b in &before.results {
        if !after_keys.contains(&key(b)) {
            notes.push(format!("{} {} {} {}: only in BEFORE", b.transport, b.pattern, size_label(b.size), b.wait));
        }
    }
    if changes.is_empty() {
        return Err(CompareError("the two reports have no row in common".into()));
    }
    if before.results.iter().chain(&after.results).all(|r| r.spread.is_none()) {
        notes.push("single-round runs: no spread, so every difference is marked; run both with --repeat".into());
    }
    Ok((changes, notes))
}

/// The A/B table of [`compare`].
pub fn render_compare(before: &str, after: &str, changes: &[Change], notes: &[String]) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "shmkit bench --compare: AFTER = {after}, BEFORE = {before}");
    let _ = writeln!(
        out,
        "speed = AFTER/BEFORE (> 1: faster; ping-pong by p50, streaming by msgs/s, ops by mean); a row is marked only\n\
         when the two runs' ranges do not overlap"
    );
    let figure = |c: &Change, v: f64| {
        if c.lower_is_better { duration_label(v) } else { format!("{:.3} M/s", v / 1e6) }
    };
    let mut t = vec![["row", "before", "after", "speed", "range", ""].map(String::from).to_vec()];
    for c in changes {
        t.push(vec![
            c.row.clone(),
            figure(c, c.before),
            figure(c, c.after),
            format!("{:.2}x", c.speed.median),
            c.speed.span(|v| format!("{v:.2}")),
            match c.verdict {
                Verdict::Faster => "faster".into(),
                Verdict::Slower => "SLOWER".into(),
                Verdict::Same => String::new(),
            },
        ]);
    }
    super::report::grid(&mut out, &t, &[1, 2, 3, 4]);
    let (f, s) = changes.iter().fold((0, 0), |(f, s), c| match c.verdict {
        Verdict::Faster => (f + 1, s),
        Verdict::Slower => (f, s + 1),
        Verdict::Same => (f, s),
    });
    let _ =
        writeln!(out, "\n{} rows: {f} faster, {s} slower, {} within the noise", changes.len(), changes.len() - f - s);
    if !notes.is_empty() {
        let _ = writeln!(out, "\nNotes:");
        for n in notes {
            let _ = writeln!(out, "  - {n}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::Machine;

    fn row(transport: &str, pattern: &str, p50: f64, rate: f64) -> Record {
        Record {
            transport: transport.into(),
            pattern: pattern.into(),
            size: 8,
            p50_ns: (pattern != "stream").then_some(p50),
            p99_ns: None,
            p999_ns: None,
            max_ns: None,
            mean_ns: Some(p50),
            msgs_per_s: rate,
            bytes_per_s: rate * 8.0,
            wait: "spin".into(),
            spread: None,
            xcore_ns: None,
        }
    }

    fn report(results: Vec<Record>) -> Report {
        let machine = Machine {
            cpus: 2,
            kernel: "k".into(),
            cpu_model: "c".into(),
            pinned_cpus: None,
            mode: "quick".into(),
            python: None,
            rounds: 1,
            xcore_ns: None,
        };
        Report { machine, results, notes: vec![] }
    }

    #[test]
    fn ranges_are_medians_and_extremes() {
        assert_eq!(Range::of(&[3.0, 1.0, 2.0]), Some(Range { median: 2.0, min: 1.0, max: 3.0 }));
        assert_eq!(Range::of(&[4.0, 1.0, 2.0, 3.0]).map(|r| r.median), Some(2.5));
        assert_eq!(Range::of(&[f64::NAN]), None);
        assert_eq!(Range::of(&[]), None);
    }

    #[test]
    fn a_shuffle_is_a_permutation_that_varies_by_seed() {
        let a = shuffled(20, 1);
        let mut sorted = a.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, (0..20).collect::<Vec<_>>());
        assert_ne!(a, shuffled(20, 2));
        assert_eq!(a, shuffled(20, 1));
    }

    #[test]
    fn ratios_are_taken_per_round_before_the_median() {
        // The pipe is 10x slower than the queue in every round, though both
        // halve in speed in the second round: the ratio does not move.
        let rounds = vec![
            vec![row("q", "pingpong", 100.0, 0.0), row("pipe", "pingpong", 1000.0, 0.0)],
            vec![row("pipe", "pingpong", 2000.0, 0.0), row("q", "pingpong", 200.0, 0.0)],
            vec![row("q", "pingpong", 150.0, 0.0), row("pipe", "pingpong", 1500.0, 0.0)],
        ];
        let rows = combine(&rounds);
        assert_eq!(rows.len(), 2);
        let q = &rows[0];
        assert_eq!(q.transport, "q");
        assert_eq!(q.p50_ns, Some(150.0));
        let s = q.spread.as_ref().unwrap();
        assert_eq!(s.rounds, 3);
        assert_eq!(s.figure, Range { median: 150.0, min: 100.0, max: 200.0 });
        assert_eq!(s.vs_pipe, Some(Range { median: 10.0, min: 10.0, max: 10.0 }));
        assert_eq!(s.vs_floor, None);
    }

    #[test]
    fn ratios_leave_out_rounds_whose_row_and_reference_saw_different_states() {
        let probed = |t: &str, p50: f64, xcore: f64| Record { xcore_ns: Some(xcore), ..row(t, "pingpong", p50, 0.0) };
        // Round 3: the row ran in a slow state (the probe 5x), the floor
        // never did. That round (0.2 against any floor) says nothing and
        // is left out; rounds 1 and 2 pair with the floor of all three
        // rounds (all probed at 100-110 ns).
        let rounds = vec![
            vec![probed("q", 110.0, 100.0), probed("raw-flag", 100.0, 100.0)],
            vec![probed("raw-flag", 100.0, 110.0), probed("q", 120.0, 105.0)],
            vec![probed("q", 500.0, 500.0), probed("raw-flag", 100.0, 100.0)],
        ];
        let q = combine(&rounds).into_iter().find(|r| r.transport == "q").unwrap();
        let s = q.spread.unwrap();
        assert_eq!(s.other_state, 1);
        let floor = s.vs_floor.unwrap();
        assert!((floor.min - 100.0 / 120.0).abs() < 1e-12 && (floor.max - 100.0 / 110.0).abs() < 1e-12, "{floor:?}");
        // The figure itself still has every round.
        assert_eq!(s.figure, Range { median: 120.0, min: 110.0, max: 500.0 });
        assert_eq!(q.xcore_ns, Some(105.0));

        // Each round's row and floor in different states, but each state
        // has the floor in the other round: the row is paired with that
        // one (here as fast as the floor in both states).
        let rounds = vec![
            vec![probed("q", 500.0, 500.0), probed("raw-flag", 100.0, 100.0)],
            vec![probed("q", 100.0, 100.0), probed("raw-flag", 500.0, 500.0)],
        ];
        let s = combine(&rounds).into_iter().find(|r| r.transport == "q").unwrap().spread.unwrap();
        assert_eq!((s.other_state, s.vs_floor.map(|f| (f.min, f.max))), (0, Some((1.0, 1.0))));

        // No round has the floor in the row's state: every round counts as
        // it was measured, and none is said left out.
        let rounds = vec![
            vec![probed("q", 500.0, 500.0), probed("raw-flag", 100.0, 100.0)],
            vec![probed("q", 520.0, 520.0), probed("raw-flag", 100.0, 100.0)],
        ];
        let s = combine(&rounds).into_iter().find(|r| r.transport == "q").unwrap().spread.unwrap();
        assert_eq!((s.other_state, s.vs_floor.map(|f| (f.min, f.max))), (0, Some((100.0 / 520.0, 0.2))));
        // A round whose state changed while the row was measured (no
        // probe to pair it by) is left out like one with no reference.
        let mut unsure = probed("q", 300.0, 100.0);
        unsure.xcore_ns = None;
        let rounds = vec![
            vec![probed("q", 110.0, 100.0), probed("raw-flag", 100.0, 100.0)],
            vec![unsure, probed("raw-flag", 100.0, 100.0)],
        ];
        let s = combine(&rounds).into_iter().find(|r| r.transport == "q").unwrap().spread.unwrap();
        assert_eq!((s.other_state, s.vs_floor.map(|f| (f.min, f.max))), (1, Some((100.0 / 110.0, 100.0 / 110.0))));
        // The floor's own ratio stays 1, round by round.
        let floor = combine(&rounds).into_iter().find(|r| r.transport == "raw-flag").unwrap().spread.unwrap();
        assert_eq!(floor.vs_floor, Some(Range { median: 1.0, min: 1.0, max: 1.0 }));
    }

    #[test]
    fn a_comparison_marks_only_changes_beyond_both_spreads() {
        let spread = |r: &mut Record, lo: f64, hi: f64| {
            let v = figure(r).unwrap().0;
            r.spread = Some(Spread {
                rounds: 3,
                figure: Range { median: v, min: lo, max: hi },
                vs_pipe: None,
                vs_floor: None,
                other_state: 0,
            });
        };
        let mut b1 = row("a", "pingpong", 100.0, 0.0);
        spread(&mut b1, 95.0, 105.0);
        let mut a1 = row("a", "pingpong", 50.0, 0.0);
        spread(&mut a1, 45.0, 55.0);
        let mut b2 = row("b", "stream", 0.0, 1e6);
        spread(&mut b2, 0.9e6, 1.1e6);
        let mut a2 = row("b", "stream", 0.0, 1.05e6);
        spread(&mut a2, 1.0e6, 1.2e6);
        let mut b3 = row("c", "stream", 0.0, 2e6);
        spread(&mut b3, 1.9e6, 2.1e6);
        let mut a3 = row("c", "stream", 0.0, 1e6);
        spread(&mut a3, 0.9e6, 1.1e6);
        let before = report(vec![b1, b2, b3, row("gone", "stream", 0.0, 1.0)]);
        let after = report(vec![a1, a2, a3, row("new", "stream", 0.0, 1.0)]);
        let (changes, notes) = compare(&before, &after).unwrap();
        let verdicts: Vec<(&str, Verdict)> = changes.iter().map(|c| (&c.row[..1], c.verdict)).collect();
        assert_eq!(verdicts, [("a", Verdict::Faster), ("b", Verdict::Same), ("c", Verdict::Slower)]);
        assert_eq!(changes[0].speed, Range { median: 2.0, min: 95.0 / 55.0, max: 105.0 / 45.0 });
        assert!((changes[2].speed.median - 0.5).abs() < 1e-12);
        assert!(notes.iter().any(|n| n.starts_with("new") && n.ends_with("only in AFTER")));
        assert!(notes.iter().any(|n| n.starts_with("gone") && n.ends_with("only in BEFORE")));
        let text = render_compare("b.json", "a.json", &changes, &notes);
        assert!(text.contains("SLOWER") && text.contains("faster"), "{text}");
        assert!(text.contains("3 rows: 1 faster, 1 slower, 1 within the noise"), "{text}");
    }

    #[test]
    fn reports_without_common_rows_or_bad_files_are_clear_errors() {
        let a = report(vec![row("a", "stream", 0.0, 1.0)]);
        let b = report(vec![row("b", "stream", 0.0, 1.0)]);
        assert_eq!(compare(&a, &b).unwrap_err().0, "the two reports have no row in common");
        let dir = std::env::temp_dir().join(format!("shmkit-compare-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let bad = dir.join("bad.json");
        std::fs::write(&bad, "{\"not\": \"a report\"}").unwrap();
        let err = load(&bad).unwrap_err().0;
        assert!(err.contains("is not a report of `shmkit bench --json`"), "{err}");
        let err = load(&dir.join("missing.json")).unwrap_err().0;
        assert!(err.starts_with("cannot read"), "{err}");
        // A report written as JSON reads back the same.
        let good = dir.join("good.json");
        std::fs::write(&good, serde_json::to_string(&a).unwrap()).unwrap();
        assert_eq!(load(&good).unwrap().results, a.results);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
