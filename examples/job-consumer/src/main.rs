//! `job-consumer PREFIX [COUNT]`: opens what `job-producer PREFIX` created
//! and checks that every field arrives intact.

use std::time::Duration;

fn main() -> std::process::ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let prefix = args.first().map_or("jobs", String::as_str);
    let count = args.get(1).and_then(|c| c.parse().ok()).unwrap_or(1000);
    match job_consumer::consume(prefix, count, Duration::from_secs(60)) {
        Ok(report) => {
            println!("{report}");
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("job-consumer: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
