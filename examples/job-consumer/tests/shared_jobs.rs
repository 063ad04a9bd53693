//! The two example crates, each with its own `Job`, in two processes: one
//! creates a Queue<Job> (MPMC and single-producer), a Value<Job> and an
//! Array<Job>, the other opens them and checks every field.

#[path = "../../../tests/common/mod.rs"]
mod common;

use std::time::Duration;

use common::{Child, Names, say, watchdog};

const LIMIT: Duration = Duration::from_secs(120);

#[test]
fn child() {
    common::child_main(run_role);
}

fn run_role(role: &str, args: &[String]) -> i32 {
    let (prefix, count) = (&args[0], args[1].parse().unwrap());
    let outcome = match role {
        "produce" => job_producer::produce(prefix, count, LIMIT, || say("CREATED")).map(|()| "sent".to_owned()),
        "consume" => job_consumer::consume(prefix, count, LIMIT),
        other => panic!("unknown role {other}"),
    };
    match outcome {
        Ok(report) => {
            say(&format!("OK {report}"));
            0
        }
        Err(e) => {
            say(&format!("ERR {e}"));
            1
        }
    }
}

#[test]
fn two_crates_share_queues_a_value_and_an_array() {
    // Only the prefix's file names are removed by Names: the objects are
    // named `<prefix>.<what>`.
    let names = Names::new("jobs", 1);
    let prefix = names.get(0).to_owned();
    let cleanup = ObjectNames(job_producer::names(&prefix));
    watchdog(LIMIT, "two example crates", move || {
        let mut producer = Child::spawn_piped("produce", &[&prefix, "5000"]);
        producer.expect_line("CREATED");
        let mut consumer = Child::spawn_piped("consume", &[&prefix, "5000"]);
        let report = consumer.read_line_with("OK ", "ERR ");
        assert!(report.contains("intact"), "consumer: {report}");
        consumer.expect_success(LIMIT);
        assert_eq!(producer.read_line_with("OK ", "ERR "), "sent");
        producer.expect_success(LIMIT);
    });
    drop(cleanup);
}

#[test]
fn the_two_jobs_have_one_layout_and_two_paths() {
    use shmkit::ShmLayout;
    let (a, b) = (job_producer::Job::type_desc(), job_consumer::Job::type_desc());
    assert_eq!(a.encode(), "Job{id:u64@0,weight:f32@8,flags:u32@12}#16/8");
    assert_eq!(a, b);
    assert_ne!(std::any::type_name::<job_producer::Job>(), std::any::type_name::<job_consumer::Job>());
}

/// Removes the example's objects even if the test fails.
struct ObjectNames([String; 4]);

impl Drop for ObjectNames {
    fn drop(&mut self) {
        for n in &self.0 {
            let _ = shmkit::unlink(n);
        }
    }
}

trait ReadOutcome {
    fn read_line_with(&mut self, ok: &str, err: &str) -> String;
}

impl ReadOutcome for Child {
    /// Reads lines until one has `ok` (returns what follows) or `err` (fails
    /// the test with it).
    fn read_line_with(&mut self, ok: &str, err: &str) -> String {
        for _ in 0..1000 {
            let line = self.read_line();
            if let Some(at) = line.find(err) {
                panic!("child failed: {}", &line[at + err.len()..]);
            }
            if let Some(at) = line.find(ok) {
                return line[at + ok.len()..].to_owned();
            }
        }
        panic!("child never reported");
    }
}
