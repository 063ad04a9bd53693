//! Test hooks that park the calling thread at chosen points of a protocol,
//! so a test can kill or stop a process exactly there.
//!
//! Not part of the API: only the `failpoints` cargo feature (which the
//! crash tests turn on) makes the module public and [`set`] exist, hidden
//! from the docs. Without it, [`hit`] is an empty inline function and the
//! call sites compile to nothing; with it, the check on the hot path is one
//! relaxed load.

#![cfg_attr(not(feature = "failpoints"), allow(dead_code))]

/// No failpoint.
pub const NONE: u32 = 0;
/// Queue send: after the slot is claimed, before the message is written.
pub const QUEUE_AFTER_CLAIM: u32 = 1;
/// Queue send: after the message is written, before it is published.
pub const QUEUE_BEFORE_COMMIT: u32 = 2;
/// Queue receive: after the slot is claimed for reading, before it is freed.
pub const QUEUE_AFTER_READ_CLAIM: u32 = 3;

/// Segment create: initialized and published under its temporary name,
/// before it is linked in under its real name.
pub const SEGMENT_BEFORE_LINK: u32 = 4;

/// Broadcast publish: the message is written, its slot still says "being
/// written", the tail not moved.
pub const BROADCAST_BEFORE_COMMIT: u32 = 5;

/// `inspect::collect` (what `shmkit gc` does for a segment): the segment
/// found unused, before its name is moved aside to be checked again.
pub const COLLECT_BEFORE_MOVE_ASIDE: u32 = 6;

/// Byte ring publish: the records' headers are stamped (readable), the
/// tail not moved.
pub const BYTES_BEFORE_TAIL: u32 = 7;

/// Broadcast publish: the message's sequence is complete (readable by a
/// subscriber that looks at the slot), the tail not moved.
pub const BROADCAST_BEFORE_TAIL: u32 = 8;

/// Broadcast `try_` receive: nothing found at the cursor, before it looks
/// whether the publisher is gone.
pub const BROADCAST_EMPTY_BEFORE_GONE: u32 = 9;

#[cfg(feature = "failpoints")]
static ACTIVE: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(NONE);
/// Whether the armed point pauses (until [`resume`]) rather than parks.
#[cfg(feature = "failpoints")]
static PAUSING: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
/// Whether a thread has reached the armed pausing point.
#[cfg(feature = "failpoints")]
static REACHED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Arms `point` as a pause: the next thread of this process that reaches
/// it waits there until [`resume`] (for a test that changes something at
/// that moment and lets the protocol go on). [`reached`] tells when.
#[cfg(feature = "failpoints")]
pub fn pause_at(point: u32) {
    use std::sync::atomic::Ordering::SeqCst;
    REACHED.store(false, SeqCst);
    PAUSING.store(true, SeqCst);
    ACTIVE.store(point, SeqCst);
}

/// Whether a thread waits at the point armed by [`pause_at`].
#[cfg(feature = "failpoints")]
pub fn reached() -> bool {
    REACHED.load(std::sync::atomic::Ordering::SeqCst)
}

/// Disarms the point armed by [`pause_at`] and lets the paused thread go.
#[cfg(feature = "failpoints")]
pub fn resume() {
    use std::sync::atomic::Ordering::SeqCst;
    ACTIVE.store(NONE, SeqCst);
    PAUSING.store(false, SeqCst);
}

/// Arms `point`: the next thread of this process that reaches it parks
/// there forever (until the process is killed).
#[cfg(feature = "failpoints")]
pub fn set(point: u32) {
    ACTIVE.store(point, std::sync::atomic::Ordering::Relaxed);
}

/// Parks forever if `point` is armed.
#[cfg(feature = "failpoints")]
#[inline]
pub(crate) fn hit(point: u32) {
    if ACTIVE.load(std::sync::atomic::Ordering::Relaxed) == point && point != NONE {
        stop(point);
    }
}

/// Waits at `point` until [`resume`] if it was armed by [`pause_at`];
/// parks forever otherwise.
#[cfg(feature = "failpoints")]
#[cold]
fn stop(point: u32) {
    use std::sync::atomic::Ordering::SeqCst;
    if !PAUSING.load(SeqCst) {
        park_forever();
    }
    REACHED.store(true, SeqCst);
    while ACTIVE.load(SeqCst) == point {
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
}

/// Does nothing: failpoints are compiled in only with the `failpoints`
/// feature.
#[cfg(not(feature = "failpoints"))]
#[inline(always)]
pub(crate) fn hit(_point: u32) {}

#[cfg(feature = "failpoints")]
#[cold]
fn park_forever() -> ! {
    loop {
        std::thread::park();
    }
}
