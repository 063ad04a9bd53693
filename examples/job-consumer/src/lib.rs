//! The consuming half of the job example: a `Job` of its own (the same
//! layout as `job-producer`'s, defined independently) and the checks that
//! every field arrives intact.

use std::time::Duration;

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

/// Elements of the array.
const ARRAY_LEN: usize = 16;
/// The id the Value starts with.
const VALUE_ID: u64 = 1 << 40;
/// The id stored in the Value once everything is checked.
const ACK_ID: u64 = u64::MAX;

/// Opens the objects under `prefix` (as `job-producer` names them), checks
/// the value and the array, receives `count` jobs from each queue in order,
/// then acknowledges in the Value. Returns what it checked.
///
/// # Errors
/// The first thing that did not arrive intact, in words.
pub fn consume(prefix: &str, count: u64, wait: Duration) -> Result<String, String> {
    let e = |what: &'static str| move |e: shmkit::Error| format!("{what}: {e}");
    let value = Value::<Job>::open(&format!("{prefix}.value")).map_err(e("open the value"))?;
    let got = value.load();
    if got != job(VALUE_ID) {
        return Err(format!("value: {got:?}, expected {:?}", job(VALUE_ID)));
    }
    let array = Array::<Job>::open(&format!("{prefix}.array")).map_err(e("open the array"))?;
    let items = array.to_vec();
    let expected: Vec<Job> = (0..ARRAY_LEN as u64).map(|i| job(1000 + i)).collect();
    if items != expected {
        return Err(format!("array: {items:?}, expected {expected:?}"));
    }
    for kind in ["mpmc", "spsc"] {
        let queue = Queue::<Job>::open(&format!("{prefix}.{kind}")).map_err(e("open a queue"))?;
        let receiver = queue.receiver().map_err(e("receiver"))?;
        for i in 0..count {
            let got = receiver.recv_timeout(wait).map_err(|err| format!("{kind} queue, job {i}: {err}"))?;
            if got != job(i) {
                return Err(format!("{kind} queue: {got:?}, expected {:?}", job(i)));
            }
        }
    }
    value.store(Job { id: ACK_ID, weight: 0.0, flags: 0 });
    Ok(format!("value, {ARRAY_LEN} array elements and {count} jobs from each queue intact"))
}
