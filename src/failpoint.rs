//! Test hooks that park the calling thread at chosen points of a protocol,
//! so a test can kill or stop a process exactly there.
//!
//! Not part of the API: hidden from the docs, and a no-op unless a test sets
//! a point. The check on the hot path is one relaxed load.

use std::sync::atomic::{AtomicU32, Ordering};

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

static ACTIVE: AtomicU32 = AtomicU32::new(NONE);

/// Arms `point`: the next thread of this process that reaches it parks
/// there forever (until the process is killed).
pub fn set(point: u32) {
    ACTIVE.store(point, Ordering::Relaxed);
}

/// Parks forever if `point` is armed.
#[inline]
pub(crate) fn hit(point: u32) {
    if ACTIVE.load(Ordering::Relaxed) == point && point != NONE {
        park_forever();
    }
}

#[cold]
fn park_forever() -> ! {
    loop {
        std::thread::park();
    }
}
