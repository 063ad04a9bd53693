//! The `shmkit` command-line tool: list, inspect and remove shmkit segments,
//! and measure them against the alternatives (`shmkit bench`).
//!
//! Every failure prints one line, `shmkit: <reason>`, on stderr and exits
//! non-zero (1 for a failed operation, 2 for a usage error, 130 for a
//! benchmark stopped by Ctrl-C).

use std::io::{self, Write};
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use shmkit::inspect::{self, SegmentInfo};
use shmkit::{ObjectKind, OpenOptions};
use shmkit_cli::bench;

/// Arrays up to this length are shown whole by `info`.
const SHOW_WHOLE: u64 = 64;
/// Elements `info` shows of a longer array, followed by a count of the rest.
const SHOW_PREFIX: usize = 16;

/// Inspect and manage shmkit shared-memory segments.
#[derive(Parser)]
#[command(name = "shmkit", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// List segments: what each holds, its size, its creator, live handles.
    Ls {
        /// Print a JSON array instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Show a segment's header and, for small objects, its contents.
    Info {
        /// The segment name (without the file prefix).
        name: String,
        /// Print a JSON object instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Remove segments by name. Processes that have one mapped keep using it.
    Rm {
        /// The segment names.
        #[arg(required = true)]
        names: Vec<String>,
    },
    /// Remove segments whose creator is gone and that no live handle uses.
    ///
    /// Segments a program kept with `persist()` are left alone unless
    /// `--include-persisted` is given.
    Gc {
        /// Remove them; without this, only list what would be removed.
        #[arg(long)]
        yes: bool,
        /// Only consider segments whose name starts with this.
        #[arg(long, value_name = "PREFIX", default_value = "")]
        prefix: String,
        /// Also remove persisted segments (kept on purpose with `persist()`).
        #[arg(long)]
        include_persisted: bool,
    },
    /// Measure shmkit against pipes, sockets, eventfd, Python, raw shared memory
    ///
    /// Ping-pong latency and streaming throughput between two processes
    /// pinned to two CPUs, every transport in the same run, with ratios to a
    /// pipe and to a raw shared-memory floor. See BENCHMARKS.md.
    Bench(BenchArgs),
    /// The other process of a `bench` measurement (internal).
    #[command(name = "__bench-peer", hide = true)]
    BenchPeer {
        /// The job, as the measuring process passes it.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true, num_args = 0..)]
        args: Vec<String>,
    },
}

#[derive(Args)]
struct BenchArgs {
    /// A quick run, about 80 s on 2 cores (the default): 3 interleaved
    /// rounds of short measurements.
    #[arg(long, conflicts_with = "full")]
    quick: bool,
    /// A full run: adds 1 MiB messages, longer warm-up and measurements.
    #[arg(long)]
    full: bool,
    /// Also write the results as JSON to FILE (`-` or no value: to stdout,
    /// and the table goes to stderr).
    #[arg(long, value_name = "FILE", num_args = 0..=1, default_missing_value = "-")]
    json: Option<String>,
    /// Only rows matching PATTERN: comma-separated transport name parts
    /// (`pipe`, `shmkit-queue/spin`, `raw`) and/or patterns (`pingpong`,
    /// `stream`, `primitives`).
    #[arg(long, value_name = "PATTERN")]
    filter: Option<String>,
    /// Draw p50 latency and throughput against message size to FILE.svg.
    #[arg(long, value_name = "FILE.svg")]
    plot: Option<std::path::PathBuf>,
    /// Exactly N measured iterations per row, tiny warm-up (smoke tests).
    #[arg(long, value_name = "N")]
    iters: Option<usize>,
    /// Only these message sizes in bytes (comma-separated, at least 8).
    #[arg(long, value_name = "BYTES", value_delimiter = ',')]
    size: Option<Vec<usize>>,
    /// Skip the Python multiprocessing rows.
    #[arg(long)]
    no_python: bool,
    /// Measure every row N times, in interleaved rounds (rows shuffled each
    /// round); report medians, ranges, and ratios taken per round. Default:
    /// 3 for a quick run, 1 for a full run or with `--iters`.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=1000))]
    repeat: Option<u32>,
    /// Measure nothing: compare two reports written by `--json` (AFTER
    /// against BEFORE), marking only changes outside both runs' ranges.
    #[arg(long, num_args = 2, value_names = ["BEFORE.json", "AFTER.json"], conflicts_with_all = ["full", "quick", "filter", "plot", "iters", "size", "repeat", "json"])]
    compare: Option<Vec<std::path::PathBuf>>,
}

/// Why a command failed.
enum Failure {
    /// One line for stderr, exit code 1.
    Failed(String),
    /// Already reported (or the reader of stdout went away): exit code 1.
    Quiet,
}

impl From<io::Error> for Failure {
    fn from(e: io::Error) -> Self {
        if e.kind() == io::ErrorKind::BrokenPipe { Failure::Quiet } else { Failure::Failed(format!("output: {e}")) }
    }
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return usage_error(&e),
    };
    let mut out = io::stdout().lock();
    let result = match cli.command {
        Command::Ls { json } => ls(&mut out, json),
        Command::Info { name, json } => info(&mut out, &name, json),
        Command::Rm { names } => rm(&mut out, &names),
        Command::Gc { yes, prefix, include_persisted } => gc(&mut out, yes, &prefix, include_persisted),
        Command::Bench(args) => {
            drop(out);
            return bench_cmd(args);
        }
        Command::BenchPeer { args } => {
            drop(out);
            return ExitCode::from(bench::peer_main(&args).clamp(0, 255) as u8);
        }
    };
    let result = result.and_then(|()| out.flush().map_err(Failure::from));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Failed(reason)) => {
            complain(&reason);
            ExitCode::FAILURE
        }
        Err(Failure::Quiet) => ExitCode::FAILURE,
    }
}

/// Prints `shmkit: <reason>` on stderr; a closed stderr is ignored.
fn complain(reason: &str) {
    let _ = writeln!(io::stderr().lock(), "shmkit: {reason}");
}

/// Help and version go to stdout with success; anything else is one line.
fn usage_error(e: &clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) {
        let _ = write!(io::stdout().lock(), "{}", e.render());
        return ExitCode::SUCCESS;
    }
    if e.kind() == ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand {
        complain("a command is required: ls, info, rm, gc or bench (see `shmkit --help`)");
        return ExitCode::from(2);
    }
    // clap's message is its first paragraph (it may span lines, e.g. a list
    // of missing arguments); the usage and hints after it are dropped.
    let rendered = e.render().to_string();
    let paragraph: Vec<&str> =
        rendered.lines().map(str::trim).skip_while(|l| l.is_empty()).take_while(|l| !l.is_empty()).collect();
    let joined = paragraph.join(" ");
    let reason = joined.strip_prefix("error: ").unwrap_or(&joined);
    let reason = if reason.is_empty() { "invalid arguments" } else { reason };
    complain(&format!("{reason} (see `shmkit --help`)"));
    ExitCode::from(2)
}

fn list_options() -> OpenOptions {
    OpenOptions::new()
}

/// A segment name with what inspecting it gave.
type Surveyed = (String, Result<SegmentInfo, shmkit::Error>);

/// Every segment name with what inspecting it gave.
fn survey() -> Result<Vec<Surveyed>, Failure> {
    let names = inspect::names().map_err(|e| Failure::Failed(format!("cannot read the shm directory: {e}")))?;
    let opts = list_options();
    Ok(names.into_iter().map(|n| (n.clone(), inspect::info_with(&n, &opts))).collect())
}

fn ls(out: &mut impl Write, json: bool) -> Result<(), Failure> {
    let rows = survey()?;
    if json {
        let items: Vec<String> = rows
            .iter()
            .map(|(name, r)| match r {
                Ok(info) => info_json(info, None),
                Err(e) => format!("{{\"name\":{},\"error\":{}}}", json_str(name), json_str(&e.to_string())),
            })
            .collect();
        writeln!(out, "[{}]", items.join(","))?;
        return Ok(());
    }
    if rows.is_empty() {
        writeln!(out, "no shmkit segments")?;
        return Ok(());
    }
    let header = ["NAME", "KIND", "HOLDS", "SIZE", "CREATOR", "HANDLES"];
    let mut table: Vec<Vec<String>> = vec![header.iter().map(|s| s.to_string()).collect()];
    let mut errors = Vec::new();
    for (name, r) in &rows {
        match r {
            Ok(i) => table.push(vec![
                name.clone(),
                kind_name(i),
                i.holds.clone(),
                human_size(i.size),
                format!("{} ({})", i.creator_pid, if i.creator_alive { "alive" } else { "gone" }),
                i.live_handles.to_string(),
            ]),
            Err(e) => errors.push((table.len(), name.clone(), e.to_string())),
        }
    }
    let widths: Vec<usize> =
        (0..header.len()).map(|c| table.iter().map(|row| row[c].chars().count()).max().unwrap_or(0)).collect();
    // Error rows keep their place in the sorted order.
    let mut errors = errors.into_iter().peekable();
    for (at, row) in table.iter().enumerate() {
        while let Some((_, name, e)) = errors.next_if(|(before, ..)| *before == at) {
            writeln!(out, "{name:<w$}  error: {e}", w = widths[0])?;
        }
        let cells: Vec<String> = row
            .iter()
            .zip(&widths)
            .enumerate()
            .map(|(c, (cell, &w))| if c == 3 { format!("{cell:>w$}") } else { format!("{cell:<w$}") })
            .collect();
        writeln!(out, "{}", cells.join("  ").trim_end())?;
    }
    for (_, name, e) in errors {
        writeln!(out, "{name:<w$}  error: {e}", w = widths[0])?;
    }
    Ok(())
}

fn info(out: &mut impl Write, name: &str, json: bool) -> Result<(), Failure> {
    let i = inspect::info(name).map_err(|e| Failure::Failed(e.to_string()))?;
    let contents = match i.kind {
        Some(ObjectKind::Value | ObjectKind::Mutex | ObjectKind::Atomic | ObjectKind::Array) => {
            let shown = if i.capacity <= SHOW_WHOLE { SHOW_WHOLE as usize } else { SHOW_PREFIX };
            Some(inspect::contents(name, shown).map_err(|e| e.to_string()))
        }
        _ => None,
    };
    let contents = match contents {
        Some(Ok(Some(text))) => Some(Ok(text)),
        Some(Ok(None)) | None => None,
        Some(Err(e)) => Some(Err(e)),
    };
    if json {
        writeln!(out, "{}", info_json(&i, contents.as_ref()))?;
        return Ok(());
    }
    let path = inspect::file_path(name).map(|p| p.display().to_string()).unwrap_or_default();
    let lines = [
        ("name", i.name.clone()),
        ("file", path),
        ("kind", kind_name(&i)),
        ("holds", i.holds.clone()),
        ("element", format!("{} ({} bytes, align {})", i.type_name, i.elem_size, i.elem_align)),
        ("layout", format!("{} (fingerprint {:#018x})", i.type_description, i.type_hash)),
        ("capacity", i.capacity.to_string()),
        ("size", format!("{} bytes ({})", i.size, human_size(i.size))),
        ("version", i.version.to_string()),
        ("creator", format!("pid {} ({})", i.creator_pid, if i.creator_alive { "alive" } else { "gone" })),
        ("handles", format!("{} live of {} slots", i.live_handles, i.registry_slots)),
        ("persisted", if i.persisted { "yes (shmkit gc leaves it alone)" } else { "no" }.to_owned()),
        ("state", format!("{} bytes at offset {}", i.data.1, i.data.0)),
    ];
    for (key, value) in lines {
        writeln!(out, "{:<10}{value}", format!("{key}:"))?;
    }
    match contents {
        Some(Ok(text)) => writeln!(out, "{:<10}{text}", "contents:")?,
        Some(Err(e)) => writeln!(out, "{:<10}unavailable: {e}", "contents:")?,
        None => {}
    }
    Ok(())
}

fn rm(out: &mut impl Write, names: &[String]) -> Result<(), Failure> {
    let mut failed = false;
    for name in names {
        match shmkit::unlink(name) {
            Ok(()) => writeln!(out, "removed {name}")?,
            Err(e) => {
                complain(&e.to_string());
                failed = true;
            }
        }
    }
    if failed { Err(Failure::Quiet) } else { Ok(()) }
}

fn gc(out: &mut impl Write, yes: bool, prefix: &str, include_persisted: bool) -> Result<(), Failure> {
    use inspect::Collected;
    let mut rows = survey()?;
    rows.retain(|(name, _)| name.starts_with(prefix));
    let orphan = |i: &SegmentInfo| !i.creator_alive && i.live_handles == 0;
    let mut failed = false;
    let mut found = 0;
    let mut persisted_left = 0;
    for (name, r) in &rows {
        let Ok(i) = r else { continue };
        if !orphan(i) {
            continue;
        }
        if i.persisted && !include_persisted {
            persisted_left += 1;
            continue;
        }
        found += 1;
        let persisted = if i.persisted { ", persisted" } else { "" };
        if !yes {
            writeln!(
                out,
                "would remove {name} ({}, creator pid {} gone, no live handles{persisted})",
                i.holds, i.creator_pid
            )?;
            continue;
        }
        // The library looks again, with the name moved aside, so that a
        // handle attached since the survey, or a segment created anew under
        // the name, is never removed.
        match inspect::collect(name, include_persisted) {
            Ok(Collected::Removed) => writeln!(out, "removed {name} ({})", i.holds)?,
            Ok(Collected::InUse) => writeln!(out, "kept {name}: a handle attached while collecting")?,
            Ok(Collected::Persisted) => writeln!(out, "kept {name}: it was persisted while collecting")?,
            Ok(_) | Err(shmkit::Error::NotFound { .. }) => writeln!(out, "kept {name}: it changed while collecting")?,
            Err(e) => {
                complain(&e.to_string());
                failed = true;
            }
        }
    }
    let unreadable = rows.iter().filter(|(_, r)| r.is_err()).count();
    if found == 0 {
        writeln!(out, "nothing to collect")?;
    } else if !yes {
        let scope = if prefix.is_empty() { String::new() } else { format!(" --prefix {prefix}") };
        writeln!(out, "run `shmkit gc --yes{scope}` to remove {found} segment(s)")?;
    }
    if persisted_left > 0 {
        writeln!(
            out,
            "left alone {persisted_left} persisted segment(s) whose creator is gone (add --include-persisted to \
             remove them)"
        )?;
    }
    if unreadable > 0 {
        writeln!(out, "left alone {unreadable} segment(s) that could not be opened (see `shmkit ls`)")?;
    }
    if failed { Err(Failure::Quiet) } else { Ok(()) }
}

fn kind_name(i: &SegmentInfo) -> String {
    i.kind.map(|k| k.name().to_owned()).unwrap_or_else(|| "unknown".to_owned())
}

/// `4096` → `4.0 KiB`.
fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut v = bytes as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    format!("{v:.1} {}", UNITS[unit])
}

fn info_json(i: &SegmentInfo, contents: Option<&Result<String, String>>) -> String {
    let mut fields = vec![
        ("name", json_str(&i.name)),
        ("kind", json_str(&kind_name(i))),
        ("holds", json_str(&i.holds)),
        ("type", json_str(&i.type_name)),
        ("layout", json_str(&i.type_description)),
        ("fingerprint", i.type_hash.to_string()),
        ("elem_size", i.elem_size.to_string()),
        ("elem_align", i.elem_align.to_string()),
        ("capacity", i.capacity.to_string()),
        ("size", i.size.to_string()),
        ("version", i.version.to_string()),
        ("creator_pid", i.creator_pid.to_string()),
        ("creator_alive", i.creator_alive.to_string()),
        ("live_handles", i.live_handles.to_string()),
        ("registry_slots", i.registry_slots.to_string()),
        ("persisted", i.persisted.to_string()),
        ("data_offset", i.data.0.to_string()),
        ("data_size", i.data.1.to_string()),
    ];
    match contents {
        Some(Ok(text)) => fields.push(("contents", json_str(text))),
        Some(Err(e)) => fields.push(("contents_error", json_str(e))),
        None => {}
    }
    let body: Vec<String> = fields.into_iter().map(|(k, v)| format!("\"{k}\":{v}")).collect();
    format!("{{{}}}", body.join(","))
}

/// A JSON string literal.
fn json_str(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A progress bar on stderr, drawn only when stderr is a terminal.
struct Bar(indicatif::ProgressBar);

impl bench::Progress for Bar {
    fn begin(&mut self, total: u64) {
        self.0.set_length(total);
    }
    fn step(&mut self, what: &str) {
        if self.0.position() < self.0.length().unwrap_or(0) && !self.0.message().is_empty() {
            self.0.inc(1);
        }
        self.0.set_message(what.to_owned());
    }
    fn end(&mut self) {
        self.0.finish_and_clear();
    }
}

/// `shmkit bench --compare BEFORE AFTER`.
fn compare_cmd(before: &std::path::Path, after: &std::path::Path) -> ExitCode {
    use bench::rounds;
    let loaded = rounds::load(before).and_then(|b| Ok((b, rounds::load(after)?)));
    let result = loaded.and_then(|(b, a)| rounds::compare(&b, &a));
    match result {
        Ok((changes, notes)) => {
            let text =
                rounds::render_compare(&before.display().to_string(), &after.display().to_string(), &changes, &notes);
            match write!(io::stdout().lock(), "{text}") {
                Ok(()) => ExitCode::SUCCESS,
                Err(_) => ExitCode::FAILURE,
            }
        }
        Err(e) => {
            complain(&e.to_string());
            ExitCode::FAILURE
        }
    }
}

fn bench_cmd(args: BenchArgs) -> ExitCode {
    use std::io::IsTerminal;
    if let Some([before, after]) = args.compare.as_deref() {
        return compare_cmd(before, after);
    }
    let filter = match args.filter.as_deref().map(bench::Filter::parse).transpose() {
        Ok(f) => f,
        Err(e) => {
            complain(&e);
            return ExitCode::from(2);
        }
    };
    let exe = match std::env::current_exe() {
        Ok(exe) => exe,
        Err(e) => {
            complain(&format!("cannot find this program's path to start peers: {e}"));
            return ExitCode::FAILURE;
        }
    };
    if let Err(e) = bench::catch_interrupts() {
        complain(&format!("cannot catch Ctrl-C: {e}"));
        return ExitCode::FAILURE;
    }
    let mut cfg = bench::Config::new(bench::PeerCommand { exe: exe.into(), args: vec!["__bench-peer".into()] });
    cfg.mode = if args.full { bench::Mode::Full } else { bench::Mode::Quick };
    cfg.iters = args.iters;
    cfg.sizes = args.size;
    cfg.filter = filter;
    cfg.python = !args.no_python;
    cfg.repeat = match args.repeat {
        Some(n) => n as usize,
        None if args.full || args.iters.is_some() => 1,
        None => bench::QUICK_ROUNDS,
    };
    let target = if io::stderr().is_terminal() {
        indicatif::ProgressDrawTarget::stderr()
    } else {
        indicatif::ProgressDrawTarget::hidden()
    };
    let style = indicatif::ProgressStyle::with_template("{bar:30} {pos}/{len} {elapsed} {wide_msg}")
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar());
    let mut bar = Bar(indicatif::ProgressBar::with_draw_target(Some(0), target).with_style(style));
    let report = match bench::run(&cfg, &mut bar) {
        Ok(r) => r,
        Err(bench::RunError::Interrupted) => {
            complain("interrupted: peer stopped, segments removed");
            return ExitCode::from(130);
        }
        Err(bench::RunError::Filter(m)) => {
            complain(&m);
            return ExitCode::from(2);
        }
        Err(e) => {
            complain(&e.to_string());
            return ExitCode::FAILURE;
        }
    };
    let json_to_stdout = args.json.as_deref() == Some("-");
    let table = report.table();
    let shown = if json_to_stdout {
        write!(io::stderr().lock(), "{table}")
    } else {
        write!(io::stdout().lock(), "{table}").and_then(|()| io::stdout().lock().flush())
    };
    if let Err(e) = shown {
        if e.kind() != io::ErrorKind::BrokenPipe {
            complain(&format!("output: {e}"));
        }
        return ExitCode::FAILURE;
    }
    if let Some(dest) = &args.json {
        let text = match serde_json::to_string_pretty(&report) {
            Ok(t) => t,
            Err(e) => {
                complain(&format!("cannot encode JSON: {e}"));
                return ExitCode::FAILURE;
            }
        };
        let written = if json_to_stdout {
            writeln!(io::stdout().lock(), "{text}").and_then(|()| io::stdout().lock().flush())
        } else {
            std::fs::write(dest, format!("{text}\n"))
        };
        if let Err(e) = written {
            complain(&format!("cannot write JSON to {dest}: {e}"));
            return ExitCode::FAILURE;
        }
    }
    if let Some(path) = &args.plot
        && let Err(e) = bench::plot::write_svg(&report, path)
    {
        complain(&format!("plot: {e}"));
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}
