//! The `shmkit` command-line tool, run as a separate process on segments
//! this test creates with the library.

#[path = "../../../tests/common/mod.rs"]
mod common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::{Child, Names, say, watchdog};
use shmkit::{Array, LockError, Mutex, Queue, Value};

const LIMIT: Duration = Duration::from_secs(60);

#[test]
fn child() {
    common::child_main(run_role);
}

fn run_role(role: &str, args: &[String]) -> i32 {
    match role {
        "hold" => {
            let m = Mutex::<[u64; 2]>::open(&args[0]).expect("open mutex");
            let mut g = m.lock().unwrap_or_else(LockError::into_inner);
            g[0] = 9; // half an update
            say("LOCKED");
            std::thread::sleep(Duration::from_secs(600));
            0
        }
        // Creates a Value and waits to be killed: its name is left behind,
        // not persisted, with no live handle.
        "create" => {
            let _v = Value::create(&args[0], 1u64).expect("create value");
            say("CREATED");
            std::thread::sleep(Duration::from_secs(600));
            0
        }
        other => panic!("unknown role {other}"),
    }
}

/// The value of `key:` in `info` output.
fn field(run: &Run, key: &str) -> String {
    let prefix = format!("{key}:");
    let line = run.stdout.lines().find(|l| l.starts_with(&prefix));
    line.unwrap_or_else(|| panic!("no {key} in:\n{}", run.stdout))[prefix.len()..].trim().to_owned()
}

/// What one run of the tool gave.
struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

fn shmkit(args: &[&str]) -> Run {
    let out = Command::new(env!("CARGO_BIN_EXE_shmkit")).args(args).output().expect("run shmkit");
    Run {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

impl Run {
    fn success(self) -> Run {
        assert_eq!(self.code, Some(0), "shmkit failed; stderr:\n{}", self.stderr);
        self
    }

    /// Fails with exactly one line `shmkit: ...` on stderr; returns it.
    fn one_line_failure(&self) -> &str {
        assert!(self.code.is_some_and(|c| c != 0), "expected failure, got {:?}; stdout:\n{}", self.code, self.stdout);
        let lines: Vec<&str> = self.stderr.lines().collect();
        assert_eq!(lines.len(), 1, "stderr should be one line: {:?}", self.stderr);
        assert!(lines[0].starts_with("shmkit: "), "{:?}", lines[0]);
        lines[0]
    }

    /// The `ls` line of segment `name`.
    fn line_of(&self, name: &str) -> &str {
        let prefix = format!("{name} ");
        self.stdout
            .lines()
            .find(|l| l.starts_with(&prefix))
            .unwrap_or_else(|| panic!("{name} not listed in:\n{}", self.stdout))
    }
}

#[test]
fn ls_lists_kind_type_creator_and_handles() {
    watchdog(LIMIT, "ls_lists_kind_type_creator_and_handles", || {
        let names = Names::new("cli-ls", 3);
        let _v = Value::create(&names[0], 7u64).unwrap();
        let _a = Array::<f32>::create(&names[1], 1024).unwrap();
        let _m = Mutex::create(&names[2], [0u32; 4]).unwrap();
        let _m2 = Mutex::<[u32; 4]>::open(&names[2]).unwrap();

        let run = shmkit(&["ls"]).success();
        let pid = std::process::id().to_string();
        let v = run.line_of(&names[0]);
        assert!(v.contains(" Value ") && v.contains("Value<u64>"), "{v}");
        assert!(v.contains(&format!("{pid} (alive)")), "{v}");
        let a = run.line_of(&names[1]);
        assert!(a.contains(" Array ") && a.contains("Array<f32>[1024]"), "{a}");
        let m = run.line_of(&names[2]);
        assert!(m.contains(" Mutex ") && m.contains("Mutex<[u32; 4]>"), "{m}");
        // Two handles open here: the creator and the second opener.
        assert!(m.trim_end().ends_with(" 2"), "{m}");

        let json = shmkit(&["ls", "--json"]).success();
        let out = json.stdout.trim();
        assert!(out.starts_with('[') && out.ends_with(']'), "{out}");
        assert!(out.contains(&format!("\"name\":\"{}\",\"kind\":\"Value\",\"holds\":\"Value<u64>\"", &names[0])));
        assert!(out.contains("\"holds\":\"Array<f32>[1024]\""));
    });
}

#[test]
fn info_shows_header_and_contents() {
    watchdog(LIMIT, "info_shows_header_and_contents", || {
        let names = Names::new("cli-info", 3);
        let v = Value::create(&names[0], 41u64).unwrap();
        *v.lock().unwrap() += 1;
        let _a = Array::create_from(&names[1], &[1.5f32, -2.0, 3.25]).unwrap();
        let _m = Mutex::create(&names[2], [5u16, 6]).unwrap();

        let run = shmkit(&["info", &names[0]]).success();
        assert_eq!(field(&run, "holds"), "Value<u64>");
        assert_eq!(field(&run, "kind"), "Value");
        assert_eq!(field(&run, "contents"), "42");
        assert_eq!(field(&run, "creator"), format!("pid {} (alive)", std::process::id()));
        assert_eq!(field(&run, "file"), names.path(0));

        let run = shmkit(&["info", &names[1]]).success();
        assert_eq!(field(&run, "holds"), "Array<f32>[3]");
        assert_eq!(field(&run, "contents"), "[1.5, -2, 3.25]");

        let run = shmkit(&["info", &names[2]]).success();
        assert_eq!(field(&run, "contents"), "[5, 6]");

        let json = shmkit(&["info", "--json", &names[0]]).success();
        assert!(json.stdout.contains("\"contents\":\"42\""), "{}", json.stdout);
    });
}

#[test]
fn info_shows_a_prefix_of_a_long_array() {
    watchdog(LIMIT, "info_shows_a_prefix_of_a_long_array", || {
        let names = Names::new("cli-long", 1);
        let items: Vec<u8> = (0..100).collect();
        let _a = Array::create_from(&names[0], &items).unwrap();
        let run = shmkit(&["info", &names[0]]).success();
        let shown: Vec<String> = (0..16).map(|i| i.to_string()).collect();
        assert_eq!(field(&run, "contents"), format!("[{}] … (84 more)", shown.join(", ")));
    });
}

#[test]
fn info_of_a_busy_or_abandoned_lock() {
    watchdog(LIMIT, "info_of_a_busy_or_abandoned_lock", || {
        let names = Names::new("cli-lock", 1);
        let m = Mutex::create(&names[0], [0u64; 2]).unwrap();

        // Held by a live holder (this process): the header is shown, the
        // contents are not, and that is not a failure.
        let guard = m.lock().unwrap();
        let run = shmkit(&["info", &names[0]]).success();
        let contents = field(&run, "contents");
        assert!(contents.starts_with("unavailable") && contents.contains("locked"), "{contents}");
        assert_eq!(field(&run, "holds"), "Mutex<[u64; 2]>");
        drop(guard);

        // Held by a process that died: the contents are shown with a warning,
        // and the next real locker is still told.
        let mut holder = Child::spawn_piped("hold", &[&names[0]]);
        holder.expect_line("LOCKED");
        holder.kill();
        let run = shmkit(&["info", &names[0]]).success();
        let contents = field(&run, "contents");
        assert!(contents.starts_with("[9, 0]") && contents.contains("died"), "{contents}");
        assert!(matches!(m.lock(), Err(LockError::OwnerDied(_))));
    });
}

#[test]
fn rm_removes_and_a_second_rm_fails_with_one_line() {
    watchdog(LIMIT, "rm_removes_and_a_second_rm_fails_with_one_line", || {
        let names = Names::new("cli-rm", 2);
        let v = Value::create(&names[0], 1u64).unwrap();
        v.persist();
        drop(v);
        assert!(Path::new(&names.path(0)).exists());

        shmkit(&["rm", &names[0]]).success();
        assert!(!Path::new(&names.path(0)).exists());

        let again = shmkit(&["rm", &names[0]]);
        let line = again.one_line_failure();
        assert!(line.contains(&names[0]) && line.contains("does not exist"), "{line}");

        // One failure among several names: the others are still removed.
        let w = Value::create(&names[1], 1u64).unwrap();
        w.persist();
        drop(w);
        let mixed = shmkit(&["rm", &names[0], &names[1]]);
        mixed.one_line_failure();
        assert!(!Path::new(&names.path(1)).exists());
    });
}

#[test]
fn info_of_missing_or_invalid_name_fails_with_one_line() {
    watchdog(LIMIT, "info_of_missing_or_invalid_name_fails_with_one_line", || {
        let names = Names::new("cli-missing", 1);
        let missing = shmkit(&["info", &names[0]]);
        assert!(missing.one_line_failure().contains("does not exist"));
        assert!(missing.stdout.is_empty());

        let invalid = shmkit(&["info", "no/such name"]);
        assert!(invalid.one_line_failure().contains("invalid segment name"));

        let usage = shmkit(&["frobnicate"]);
        assert_eq!(usage.code, Some(2));
        usage.one_line_failure();
        shmkit(&[]).one_line_failure();
    });
}

#[test]
fn corrupted_segment_is_an_error_line_and_the_listing_goes_on() {
    watchdog(LIMIT, "corrupted_segment_is_an_error_line_and_the_listing_goes_on", || {
        let names = Names::new("cli-corrupt", 2);
        let bad = Value::create(&names[0], 1u64).unwrap();
        let _good = Value::create(&names[1], 2u64).unwrap();
        {
            use std::io::Write;
            let mut f = std::fs::OpenOptions::new().write(true).open(names.path(0)).unwrap();
            f.write_all(b"garbage!").unwrap();
        }

        let run = shmkit(&["ls"]).success();
        let line = run.line_of(&names[0]);
        assert!(line.contains("error:") && line.contains("magic"), "{line}");
        assert!(run.line_of(&names[1]).contains("Value<u64>"));

        let json = shmkit(&["ls", "--json"]).success();
        assert!(json.stdout.contains(&format!("{{\"name\":\"{}\",\"error\":", &names[0])), "{}", json.stdout);

        let info = shmkit(&["info", &names[0]]);
        assert!(info.one_line_failure().contains("magic"));
        drop(bad);
    });
}

#[test]
fn gc_lists_then_removes_orphans_only() {
    watchdog(LIMIT, "gc_lists_then_removes_orphans_only", || {
        let names = Names::new("cli-gc", 3);
        // A creator killed: the name stays, not persisted, nobody attached.
        let mut creator = Child::spawn_piped("create", &[&names[0]]);
        creator.expect_line("CREATED");
        creator.kill();
        let _kept = Value::create(&names[1], 2u64).unwrap();
        // Creator gone, but another handle still attached: not an orphan.
        let used = Value::create(&names[2], 3u64).unwrap();
        used.persist();
        let _user = Value::<u64>::open(&names[2]).unwrap();
        drop(used);

        // Scoped to this test's names: other programs' orphans may be in
        // the shm directory too.
        let prefix = names[0].strip_suffix("-0").unwrap();
        // Another test thread's fork (to spawn a process) briefly holds a
        // copy of every descriptor, the dropped creator's too, until its
        // exec: the creator may look alive for a moment. Retry, bounded.
        let wanted = format!("would remove {} ", &names[0]);
        let mut dry = shmkit(&["gc", "--prefix", prefix]).success();
        for _ in 0..50 {
            if dry.stdout.contains(&wanted) {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
            dry = shmkit(&["gc", "--prefix", prefix]).success();
        }
        assert!(dry.stdout.contains(&wanted), "{}", dry.stdout);
        assert!(!dry.stdout.contains(&names[1]) && !dry.stdout.contains(&names[2]), "{}", dry.stdout);
        assert!(Path::new(&names.path(0)).exists());

        let run = shmkit(&["gc", "--yes", "--prefix", prefix]).success();
        assert!(run.stdout.contains(&format!("removed {} ", &names[0])), "{}", run.stdout);
        assert!(!Path::new(&names.path(0)).exists());
        assert!(Path::new(&names.path(1)).exists() && Path::new(&names.path(2)).exists());

        let again = shmkit(&["gc", "--prefix", prefix]).success();
        assert!(again.stdout.contains("nothing to collect"), "{}", again.stdout);
    });
}

/// Waits (bounded) until `gc` over `prefix` no longer sees a live handle of
/// a dropped one: another test thread's fork briefly holds a copy of every
/// descriptor (see `gc_lists_then_removes_orphans_only`).
fn gc_until(args: &[&str], wanted: &str) -> Run {
    let mut run = shmkit(args).success();
    for _ in 0..50 {
        if run.stdout.contains(wanted) {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
        run = shmkit(args).success();
    }
    run
}

#[test]
fn gc_leaves_persisted_segments_unless_asked() {
    watchdog(LIMIT, "gc_leaves_persisted_segments_unless_asked", || {
        let names = Names::new("cli-gcp", 1);
        // A queue with unread messages, kept on purpose by its creator.
        {
            let q = Queue::<u64>::create(&names[0], 16).unwrap();
            let tx = q.sender().unwrap();
            for i in 0..10 {
                tx.send(i).unwrap();
            }
            q.persist();
        }
        let info = shmkit(&["info", &names[0]]).success();
        assert!(field(&info, "persisted").starts_with("yes"), "{}", info.stdout);

        let prefix = &names[0];
        let left = "left alone 1 persisted segment(s)";
        let dry = gc_until(&["gc", "--prefix", prefix], left);
        assert!(dry.stdout.contains(left), "{}", dry.stdout);
        assert!(!dry.stdout.contains("would remove"), "{}", dry.stdout);
        let run = shmkit(&["gc", "--yes", "--prefix", prefix]).success();
        assert!(!run.stdout.contains("removed"), "{}", run.stdout);
        assert!(Path::new(&names.path(0)).exists());
        // The messages are still there.
        let q = Queue::<u64>::open(&names[0]).unwrap();
        assert_eq!(q.len(), 10);
        drop(q);

        let wanted = format!("would remove {} ", &names[0]);
        let dry = gc_until(&["gc", "--include-persisted", "--prefix", prefix], &wanted);
        assert!(dry.stdout.contains(&wanted) && dry.stdout.contains("persisted)"), "{}", dry.stdout);
        let run = shmkit(&["gc", "--yes", "--include-persisted", "--prefix", prefix]).success();
        assert!(run.stdout.contains(&format!("removed {} ", &names[0])), "{}", run.stdout);
        assert!(!Path::new(&names.path(0)).exists());
    });
}

#[test]
fn names_that_look_like_options_are_refused() {
    watchdog(LIMIT, "names_that_look_like_options_are_refused", || {
        assert!(matches!(Value::create("-x", 1u64), Err(shmkit::Error::InvalidName { .. })));
        let run = shmkit(&["info", "--", "-x"]);
        let line = run.one_line_failure();
        assert!(line.contains("invalid segment name") && line.contains("may not start with '-'"), "{line}");
    });
}
