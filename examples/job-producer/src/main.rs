//! `job-producer PREFIX [COUNT]`: creates the objects and sends COUNT jobs;
//! run `job-consumer PREFIX [COUNT]` in another terminal.

use std::time::Duration;

fn main() -> std::process::ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let prefix = args.first().map_or("jobs", String::as_str);
    let count = args.get(1).and_then(|c| c.parse().ok()).unwrap_or(1000);
    let announce = || println!("created the objects under '{prefix}'; start job-consumer {prefix} {count}");
    match job_producer::produce(prefix, count, Duration::from_secs(600), announce) {
        Ok(()) => {
            println!("sent {count} jobs on each queue; the consumer acknowledged");
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("job-producer: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
