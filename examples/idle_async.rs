//! How much CPU an idle `recv_async` uses: a task on a tokio runtime waits
//! two seconds for a message that comes only at the end, and the process's
//! CPU time over those seconds is printed (`getrusage`). The background
//! waiter sleeps on the futex words, so the figure is a fraction of a
//! percent of a core, not a spinning core.
//!
//! `cargo run --release --features async --example idle_async`

use std::time::{Duration, Instant};

fn cpu_time() -> Duration {
    // SAFETY: getrusage writes one rusage into the zeroed struct.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: a valid pointer to a rusage.
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(usage.ru_utime) + tv(usage.ru_stime)
}

fn main() -> Result<(), shmkit::Error> {
    let name = format!("example-idle-async-{}", std::process::id());
    let queue = shmkit::Queue::<u64>::create(&name, 16)?;
    let (tx, rx) = (queue.sender()?, queue.receiver()?);
    let idle = Duration::from_secs(2);
    let sender = std::thread::spawn(move || {
        std::thread::sleep(idle);
        tx.send(7)
    });
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a tokio runtime");
    let (start, cpu) = (Instant::now(), cpu_time());
    let got = runtime.block_on(rx.recv_async()).expect("the message");
    let (wall, used) = (start.elapsed(), cpu_time() - cpu);
    sender.join().expect("the sender thread").expect("send");
    assert_eq!(got, 7);
    println!(
        "recv_async waited {:.2} s and the process used {:.1} ms of CPU meanwhile ({:.2}% of a core)",
        wall.as_secs_f64(),
        used.as_secs_f64() * 1e3,
        100.0 * used.as_secs_f64() / wall.as_secs_f64()
    );
    Ok(())
}
