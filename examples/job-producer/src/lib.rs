//! The producing half of the job example: it defines its own `Job` and
//! creates the shared objects; `job-consumer`, a crate of its own with its
//! own `Job`, opens them. The two types share nothing but their layout,
//! which is all shmkit compares (`Job{id:u64@0,weight:f32@8,flags:u32@12}#16/8`).

use std::time::{Duration, Instant};

use bytemuck::{Pod, Zeroable};
use shmkit::{Array, Queue, ShmType, Value};

/// One unit of work, as this program defines it.
#[derive(Clone, Copy, Debug, PartialEq, Pod, Zeroable, ShmType)]
#[repr(C)]
pub struct Job {
    pub id: u64,
    pub weight: f32,
    pub flags: u32,
}

/// The job numbered `i`, by the formula both programs agree on.
pub fn job(i: u64) -> Job {
    Job { id: i, weight: i as f32 * 0.25 - 3.0, flags: (i as u32).rotate_left(7) ^ 0xa5a5_0000 }
}

/// Capacity of both queues.
pub const CAPACITY: usize = 64;
/// Elements of the array.
pub const ARRAY_LEN: usize = 16;
/// The id the Value starts with.
pub const VALUE_ID: u64 = 1 << 40;
/// The id the consumer stores in the Value once it has checked everything.
pub const ACK_ID: u64 = u64::MAX;

/// The names of the four objects under `prefix`: an MPMC queue, a
/// single-producer queue, a value and an array.
pub fn names(prefix: &str) -> [String; 4] {
    ["mpmc", "spsc", "value", "array"].map(|what| format!("{prefix}.{what}"))
}

/// Creates the objects under `prefix`, calls `created`, sends `count` jobs
/// on each queue, then waits (at most `limit`) for the consumer's
/// acknowledgement in the Value before the objects are removed.
///
/// # Errors
/// What went wrong, in words.
pub fn produce(prefix: &str, count: u64, limit: Duration, created: impl FnOnce()) -> Result<(), String> {
    let [mpmc, spsc, value, array] = names(prefix);
    let e = |what: &'static str| move |e: shmkit::Error| format!("{what}: {e}");
    let mpmc = Queue::<Job>::create(&mpmc, CAPACITY).map_err(e("create the MPMC queue"))?;
    let spsc = Queue::<Job>::create_spsc(&spsc, CAPACITY).map_err(e("create the single-producer queue"))?;
    let value = Value::create(&value, job(VALUE_ID)).map_err(e("create the value"))?;
    let items: Vec<Job> = (0..ARRAY_LEN as u64).map(|i| job(1000 + i)).collect();
    let _array = Array::create_from(&array, &items).map_err(e("create the array"))?;
    let senders = [mpmc.sender().map_err(e("MPMC sender"))?, spsc.sender().map_err(e("single-producer sender"))?];
    created();
    for sender in &senders {
        for i in 0..count {
            sender.send(job(i)).map_err(|_| format!("the consumer went away before job {i}"))?;
        }
    }
    let start = Instant::now();
    while value.load().id != ACK_ID {
        if start.elapsed() > limit {
            return Err(format!("no acknowledgement within {limit:?}"));
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    Ok(())
}
