//! `fork()` without `exec`: a child never acts under its parent's identity.
//!
//! A handle's liveness is an OFD lock on its own open file description of
//! the segment file. A forked child inherits the parent's descriptors, and
//! with them the parent's *descriptions*: its locks would be the parent's,
//! and its lock words would name the parent. So, in the child:
//!
//! 1. At the fork, a `pthread_atfork` child handler bumps this process's
//!    fork generation and gives every tracked segment descriptor a fresh
//!    description of the same file ([`sys::reopen_fresh`]: a new `open` of
//!    `/proc/self/fd/N`, `dup3`ed over the descriptor). The child then no
//!    longer holds the parent's locks, so a parent that dies is seen dead
//!    even while the child lives. The handler does only async-signal-safe
//!    work: atomics, `open`, `fstat`, `dup3`, `close`.
//! 2. A handle compares the fork generation it registered in with the
//!    current one before it uses its token (one relaxed load of a global
//!    on the hot path); in a child they differ, and the handle claims a
//!    registry slot of its own on its fresh description before it acts
//!    ([`RawSegment`](super::RawSegment)'s identity).
//!
//! Descriptors are tracked in a fixed table that the handler reads without
//! locks. A segment opened while the table is full is not tracked: its
//! handle gives its descriptor a fresh description itself when it first
//! notices the fork (until then the child keeps the parent's lock alive).

use std::os::fd::RawFd;
use std::sync::Once;
use std::sync::atomic::{AtomicI32, AtomicU32, Ordering};

use crate::sys;

/// Bumped in the child by every `fork()` (see the module docs).
static GENERATION: AtomicU32 = AtomicU32::new(0);

/// Descriptors of the segments open in this process; -1 is a free entry.
const TRACKED: usize = 1024;
static FDS: [AtomicI32; TRACKED] = [const { AtomicI32::new(-1) }; TRACKED];

static INSTALL: Once = Once::new();

/// This process's fork generation: 0 in a process that was never forked
/// from one using shmkit, bumped in the child by each `fork()`.
#[inline]
pub(crate) fn generation() -> u32 {
    // Relaxed: the value only changes in a freshly forked, single-threaded
    // child, before any of its code runs.
    GENERATION.load(Ordering::Relaxed)
}

/// Whether this process is a `fork()`ed child of the one whose
/// [`generation`] was `born`: one relaxed load. What a process-local
/// object that acts under its maker's identity (a lock guard, the end of a
/// single-producer queue) checks before it acts.
#[inline]
pub(crate) fn forked_since(born: u32) -> bool {
    generation() != born
}

/// The `fork()` child handler: see the module docs. Async-signal-safe.
extern "C" fn on_fork_child() {
    GENERATION.fetch_add(1, Ordering::Relaxed);
    for entry in &FDS {
        let fd = entry.load(Ordering::Relaxed);
        if fd >= 0 {
            // On failure the handle's lazy fix-up tries again and reports.
            let _ = sys::reopen_fresh(fd);
        }
    }
}

/// Installs the child handler (once per process) and tracks `fd`. Returns
/// the entry to [`untrack`] when the descriptor is closed, or `None` if the
/// table is full (the handle then fixes its descriptor itself).
pub(crate) fn track(fd: RawFd) -> Option<usize> {
    INSTALL.call_once(|| {
        // pthread_atfork fails only for lack of memory; a child then goes
        // unnoticed, as before this module existed.
        let _ = sys::at_fork_child(on_fork_child);
    });
    FDS.iter().position(|e| e.compare_exchange(-1, fd, Ordering::Relaxed, Ordering::Relaxed).is_ok())
}

/// Stops tracking the entry `track` returned, before the descriptor closes.
pub(crate) fn untrack(entry: usize) {
    if let Some(e) = FDS.get(entry) {
        // SeqCst: visible before the close that follows, so a fork in
        // between never reopens a descriptor number that is reused.
        e.store(-1, Ordering::SeqCst);
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn track_and_untrack_reuse_entries() {
        let a = track(1_000_000).unwrap();
        let b = track(1_000_001).unwrap();
        assert_ne!(a, b);
        untrack(a);
        untrack(b);
        assert_eq!(FDS[a].load(Ordering::Relaxed), -1);
    }
}
