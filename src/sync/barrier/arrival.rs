//! [`BarrierArrival`]: a party that has arrived at a barrier and waits for
//! its generation in pieces, so that its caller can do something between
//! them (check for signals, as the Python module does for Ctrl-C) without
//! breaking the barrier or leaving it.
//!
//! # Why a party stays counted
//!
//! An arrival is a count in the state word and an entry (liveness token,
//! round) in the arrival table, at the index the count gave it. Taking one
//! back cannot be done safely: the count of a later arrival's index would
//! then name a table entry that another party may overwrite, and the
//! liveness checks would lose that party. So a pending arrival never
//! withdraws. Between two [`poll`](BarrierArrival::poll)s it stays counted
//! and recorded; if it is dropped or [aborted](BarrierArrival::abort) it
//! breaks its generation, as a timed wait whose time ran out does; if its
//! process dies, the others' liveness checks find its entry and break the
//! generation. No way of leaving makes the count wrong for the others.

use std::fmt;
use std::time::{Duration, Instant};

use super::{Arrived, BarrierCell, BarrierError, BarrierWaitResult, OnExpiry, Seat};
use crate::segment::RawSegment;
use crate::wait::{Deadline, WaitStrategy};

/// A party that has arrived at a [`Barrier`](crate::Barrier) (made by
/// [`Barrier::arrive`](crate::Barrier::arrive) or
/// [`BarrierCell::arrive`]) and waits for its generation in pieces.
///
/// [`poll`](BarrierArrival::poll) waits a bounded time and answers
/// `Ok(None)` ("not yet") when it runs out, *without* breaking the barrier:
/// the party stays counted, and the next `poll` resumes the same wait. The
/// others see no difference from a party blocked in
/// [`Barrier::wait`](crate::Barrier::wait). The wait ends as `wait` would:
/// the generation completes (`Ok`), or breaks or is reset (`Err(Broken)`).
///
/// Giving up breaks the generation: [`abort`](BarrierArrival::abort), or
/// dropping the arrival before its wait ended (as a timed wait whose time
/// ran out, and as Python's `threading.Barrier` does when a wait is
/// interrupted). A process that dies with a pending arrival is found by the
/// others' liveness checks, which break the generation. An arrival is never
/// withdrawn (see the module docs for why), so no way of leaving corrupts
/// the count for the other parties.
///
/// It borrows the barrier; it is `Send` (a thread may hand it on) and
/// `Sync`.
///
/// ```
/// use std::time::Duration;
/// use shmkit::Barrier;
/// # let name = format!("doc-barrier-arrival-{}", std::process::id());
/// let b = Barrier::create(&name, 2)?;
/// let mut me = b.arrive().unwrap();
/// // Nobody else yet: "not yet", and the barrier is not broken.
/// assert_eq!(me.poll(Duration::from_millis(10)), Ok(None));
/// assert!(!b.is_broken());
/// assert_eq!(b.arrived(), 1);
///
/// let other = Barrier::open(&name)?;
/// let t = std::thread::spawn(move || other.wait().unwrap().is_leader());
/// let mine = loop {
///     // Between polls the caller may check for signals, or give up.
///     if let Some(r) = me.poll(Duration::from_millis(50)).unwrap() {
///         break r;
///     }
/// };
/// assert!(t.join().unwrap() && !mine.is_leader()); // the later arrival leads
/// # Ok::<(), shmkit::Error>(())
/// ```
#[must_use = "dropping a pending arrival breaks the barrier"]
pub struct BarrierArrival<'a> {
    cell: &'a BarrierCell,
    seg: &'a RawSegment,
    strategy: WaitStrategy,
    stage: Stage,
}

#[derive(Debug, Clone, Copy)]
enum Stage {
    /// Counted and recorded in the arrival table.
    Waiting(Seat),
    /// The wait ended (also: this party was the leader).
    Over(Result<BarrierWaitResult, BarrierError>),
}

impl<'a> BarrierArrival<'a> {
    /// Arrives at `cell`, whose segment is `seg`.
    pub(super) fn arrive(
        cell: &'a BarrierCell,
        seg: &'a RawSegment,
        strategy: WaitStrategy,
    ) -> Result<BarrierArrival<'a>, BarrierError> {
        let stage = match cell.core().arrive(seg, true)? {
            Arrived::Leader => Stage::Over(Ok(BarrierWaitResult { leader: true })),
            Arrived::Waiting(seat) => Stage::Waiting(seat),
        };
        Ok(BarrierArrival { cell, seg, strategy, stage })
    }

    /// Waits until `deadline` for the generation to end; `None` if it did
    /// not (with `expiry == Keep`), the outcome otherwise.
    fn wait_until(&mut self, deadline: Deadline, expiry: OnExpiry) -> Option<Result<BarrierWaitResult, BarrierError>> {
        let seat = match self.stage {
            Stage::Over(outcome) => return Some(outcome),
            Stage::Waiting(seat) => seat,
        };
        let core = self.cell.core();
        let outcome = core.wait_for(seat, self.seg, deadline, self.strategy, true, expiry)?;
        core.leave(seat);
        let outcome = outcome.map(|()| BarrierWaitResult { leader: false });
        self.stage = Stage::Over(outcome);
        Some(outcome)
    }

    /// Waits at most `timeout` for the generation to end: `Ok(Some(_))`
    /// when it completed (the leader is the party that arrived last),
    /// `Ok(None)` if it has not yet. "Not yet" breaks nothing: this party
    /// is still counted and the next `poll` (or `wait`) resumes the wait.
    /// Once the wait ended, every call returns its outcome again.
    ///
    /// # Errors
    /// [`BarrierError::Broken`] if the generation broke (a party died,
    /// timed out or gave up, or the barrier was aborted or reset).
    pub fn poll(&mut self, timeout: Duration) -> Result<Option<BarrierWaitResult>, BarrierError> {
        self.wait_until(Deadline::after(timeout), OnExpiry::Keep).transpose()
    }

    /// As [`poll`](BarrierArrival::poll), waiting until `deadline` at most.
    ///
    /// # Errors
    /// As [`poll`](BarrierArrival::poll).
    pub fn poll_deadline(&mut self, deadline: Instant) -> Result<Option<BarrierWaitResult>, BarrierError> {
        self.wait_until(Deadline::At(deadline), OnExpiry::Keep).transpose()
    }

    /// Waits until the generation ends, as long as it takes (as
    /// [`Barrier::wait`](crate::Barrier::wait)).
    ///
    /// # Errors
    /// As [`poll`](BarrierArrival::poll).
    pub fn wait(mut self) -> Result<BarrierWaitResult, BarrierError> {
        self.finish(Deadline::Never)
    }

    /// Waits until `deadline` at most, then gives up and breaks the
    /// generation (as [`Barrier::wait_deadline`](crate::Barrier::wait_deadline)),
    /// unless it ended first. A deadline already past decides at once:
    /// the outcome if the generation ended, else `TimedOut`.
    ///
    /// # Errors
    /// [`BarrierError::TimedOut`] if this call broke the generation, else
    /// as [`poll`](BarrierArrival::poll).
    pub fn wait_deadline(mut self, deadline: Instant) -> Result<BarrierWaitResult, BarrierError> {
        self.finish(Deadline::At(deadline))
    }

    /// As [`wait_deadline`](BarrierArrival::wait_deadline), after `timeout`.
    ///
    /// # Errors
    /// As [`wait_deadline`](BarrierArrival::wait_deadline).
    pub fn wait_timeout(mut self, timeout: Duration) -> Result<BarrierWaitResult, BarrierError> {
        self.finish(Deadline::after(timeout))
    }

    fn finish(&mut self, deadline: Deadline) -> Result<BarrierWaitResult, BarrierError> {
        // `Break` never answers "not yet".
        self.wait_until(deadline, OnExpiry::Break).unwrap_or(Err(BarrierError::TimedOut))
    }

    /// Gives up: breaks this party's generation for every other party
    /// (they get [`BarrierError::Broken`]) if it is still pending, as
    /// dropping the arrival does. Returns whether this call broke it;
    /// `false` if the generation had already ended (completed, broken or
    /// reset) — then nothing changes.
    pub fn abort(mut self) -> bool {
        self.give_up()
    }

    /// The round this party waits in, while its wait has not ended.
    #[cfg_attr(not(feature = "async"), allow(dead_code))]
    pub(crate) fn round(&self) -> Option<u32> {
        match self.stage {
            Stage::Waiting(seat) => Some(seat.round),
            Stage::Over(_) => None,
        }
    }

    fn give_up(&mut self) -> bool {
        let Stage::Waiting(seat) = self.stage else { return false };
        let core = self.cell.core();
        let broke = core.abandon(seat);
        core.leave(seat);
        self.stage = Stage::Over(Err(BarrierError::Broken));
        broke
    }
}

impl Drop for BarrierArrival<'_> {
    fn drop(&mut self) {
        self.give_up();
    }
}

impl fmt::Debug for BarrierArrival<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BarrierArrival").field("stage", &self.stage).finish_non_exhaustive()
    }
}
