//! [`Barrier`]: a reusable barrier for a fixed number of parties, shared by
//! name between processes, that breaks instead of hanging when a party dies
//! or times out; and the embeddable [`BarrierCell`].
//!
//! # The state word (32 bits)
//!
//! | bits     | name     | meaning                                                  |
//! |----------|----------|----------------------------------------------------------|
//! | 26..=31  | epoch    | bumped by every `reset()` (6 bits, wraps)                |
//! | 13..=25  | gen      | bumped when a generation completes (13 bits, wraps)      |
//! | 12       | `PARKED` | someone may sleep on the futex: a transition must wake   |
//! | 11       | `BROKEN` | this generation is broken: every waiter leaves with an error |
//! | 0..=10   | count    | parties arrived in this generation (`< parties`)         |
//!
//! `epoch` and `gen` together form the *round* (the word shifted right by
//! 13). A party arrives by CAS `count -> count + 1`; the one that would make
//! `count == parties` is the leader: it CASes to `gen + 1, count 0` instead
//! and wakes the sleepers. A waiter waits for its round to change:
//!
//! - round unchanged, `BROKEN` set: the generation broke (`Broken`);
//! - `gen` changed: its generation completed (`Ok`);
//! - only `epoch` changed: `reset()` ended its generation (`Broken`).
//!
//! The last rule relies on the barrier's contract that at most `parties`
//! parties use it at once: a generation after ours cannot complete while we
//! are still inside ours, so a changed `gen` means ours completed.
//!
//! # Arrival table and dead parties
//!
//! A party that arrives as the `i`th (`i = count` before its CAS) writes its
//! liveness token and round into `arrivals[i]`, and clears the round when it
//! leaves. The arrival that would complete the generation first asks the
//! registry about every recorded arrival of its round: if one is dead, it
//! breaks the generation and leaves with `Broken` instead of passing (a
//! dead party's arrival does not count). A sleeping waiter polls (1 ms, doubling to 16 ms): it asks the
//! segment's liveness registry about a few recorded arrivals of its round
//! (rotating through them); a dead one breaks the barrier, so nobody waits
//! for a party that can never come back. A party that dies *before* it
//! arrives cannot be told from a slow one: use
//! [`wait_timeout`](Barrier::wait_timeout) to bound that case. A party that
//! dies between its arrival CAS and writing its table entry is likewise not
//! seen (that window is a few instructions long).
//!
//! # Waiting in pieces
//!
//! [`Barrier::arrive`] splits a wait in two: the arrival (the CAS and the
//! table entry) and the wait for the round to change, which a
//! [`BarrierArrival`] makes in pieces. A piece whose time runs out
//! ([`OnExpiry::Keep`]) returns with the party still counted and recorded;
//! the next piece waits for the same round. An arrival is never withdrawn:
//! giving up breaks the round ([`Core::abandon`]), dying is found by the
//! others' liveness checks (see `barrier/arrival.rs`).
//!
//! Every value read from the state is range-checked: a count at or above
//! `parties` (a corrupted word) breaks the barrier, an index never leaves the
//! table, and a corrupted `parties` makes every wait fail with `Broken`.

mod arrival;

use std::fmt;
use std::time::{Duration, Instant};

use crate::error::Error;
use crate::handle::{Handle, SegmentState, handle_api};
use crate::primitive::{AtomicU32, Ordering, futex_wake};
use crate::segment::header::{Fingerprint, Header, ObjectKind};
use crate::segment::registry::{Liveness, Token};
use crate::segment::{Segment, ShmSafe};
use crate::shm_type::ShmLayout;
use crate::wait::{Deadline, Naps, Step, Turn, WaitStrategy, Waiter};

pub use arrival::BarrierArrival;

/// Most parties a barrier may have.
pub const MAX_PARTIES: u32 = 1024;

const COUNT_MASK: u32 = (1 << 11) - 1;
const BROKEN: u32 = 1 << 11;
const PARKED: u32 = 1 << 12;
const ROUND_SHIFT: u32 = 13;
const GEN_ONE: u32 = 1 << ROUND_SHIFT;
const GEN_MASK: u32 = ((1 << 13) - 1) << ROUND_SHIFT;
const EPOCH_ONE: u32 = 1 << 26;
/// Round value of an arrival entry that names nobody (rounds have 19 bits).
const VACANT: u32 = u32::MAX;
const _: () = assert!(MAX_PARTIES <= COUNT_MASK);

/// Arrivals a waiter checks per poll (bounds the syscalls of large barriers).
const CHECKS_PER_POLL: u32 = 4;

/// Why a barrier wait failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BarrierError {
    /// The barrier is broken: a party timed out or died, the generation was
    /// [`reset`](Barrier::reset) while this party waited, or the shared state
    /// is corrupted. Every wait fails this way until `reset()`.
    Broken,
    /// This party's own timeout ran out. The barrier is now broken for the
    /// others.
    TimedOut,
}

impl fmt::Display for BarrierError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            BarrierError::Broken => "the barrier is broken (a party died, timed out, or it was reset)",
            BarrierError::TimedOut => "timed out waiting at the barrier; the barrier is now broken",
        })
    }
}

impl std::error::Error for BarrierError {}

/// What a successful [`Barrier::wait`] returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BarrierWaitResult {
    leader: bool,
}

impl BarrierWaitResult {
    /// True for exactly one party of each generation: the one that arrived
    /// last.
    pub fn is_leader(&self) -> bool {
        self.leader
    }
}

/// One entry of the arrival table: who arrived `i`th, in which round.
#[derive(Debug)]
#[repr(C)]
pub(crate) struct Arrival {
    token: AtomicU32,
    round: AtomicU32,
}

impl Arrival {
    fn vacant() -> Arrival {
        Arrival { token: AtomicU32::new(0), round: AtomicU32::new(VACANT) }
    }
}

/// The barrier logic over a state word and an arrival table, wherever they
/// live (a [`BarrierCell`], or a small table in a loom model).
pub(crate) struct Core<'a> {
    pub state: &'a AtomicU32,
    pub arrivals: &'a [Arrival],
    pub parties: u32,
}

fn wake_all(word: &AtomicU32) {
    futex_wake(word, i32::MAX as u32);
}

/// Where a party stands once it has arrived: what [`Core::arrive`] returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Arrived {
    /// It completed the generation.
    Leader,
    /// It is counted and recorded in the arrival table: wait with
    /// [`Core::wait_for`], then [`Core::leave`].
    Waiting(Seat),
}

/// A counted arrival: the `index`th of `round`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Seat {
    round: u32,
    index: u32,
}

/// What a waiter does when its deadline passes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OnExpiry {
    /// Break the generation it waits in (a timed wait): `TimedOut`.
    Break,
    /// Say "not yet" and stay counted: the party waits again later
    /// ([`BarrierArrival::poll`]).
    Keep,
}

impl Core<'_> {
    /// Waits for the others. `Ok(true)` for the leader. With `poll == false`
    /// (loom models) sleeps are not bounded and dead parties are not sought.
    pub fn wait(
        &self,
        live: &impl Liveness,
        deadline: Deadline,
        strategy: WaitStrategy,
        poll: bool,
    ) -> Result<bool, BarrierError> {
        let seat = match self.arrive(live, poll)? {
            Arrived::Leader => return Ok(true),
            Arrived::Waiting(seat) => seat,
        };
        let outcome = self.wait_for(seat, live, deadline, strategy, poll, OnExpiry::Break);
        self.leave(seat);
        // `Break` never answers "not yet".
        outcome.unwrap_or(Err(BarrierError::TimedOut)).map(|()| false)
    }

    /// Arrives: counts this party in the current generation and records it
    /// in the arrival table, or completes the generation (the leader).
    pub fn arrive(&self, live: &impl Liveness, poll: bool) -> Result<Arrived, BarrierError> {
        let parties = self.parties;
        if parties == 0 || parties > MAX_PARTIES || parties as usize > self.arrivals.len() {
            return Err(BarrierError::Broken);
        }
        // Acquire/Release on the arrival CAS: every party's writes before the
        // barrier are published by its Release RMW; they form one release
        // sequence that the leader's AcqRel CAS, and then every waiter's
        // Acquire load of the leader's value, synchronize with.
        let mut cur = self.state.load(Ordering::Acquire);
        let (round, index) = loop {
            if cur & BROKEN != 0 {
                return Err(BarrierError::Broken);
            }
            let count = cur & COUNT_MASK;
            if count >= parties {
                // Corrupted: more arrivals than parties. Break it.
                self.break_round(cur);
                return Err(BarrierError::Broken);
            }
            if count + 1 == parties {
                // The last arrival completes the generation only if every
                // party that arrived before it is alive: a dead party's
                // arrival must break the barrier, not count.
                if poll && self.dead_among_arrivals(cur, count, live) {
                    if self.break_round(cur) {
                        return Err(BarrierError::Broken);
                    }
                    cur = self.state.load(Ordering::Acquire);
                    continue;
                }
                let next = ((cur & !GEN_MASK) | (cur.wrapping_add(GEN_ONE) & GEN_MASK)) & !(COUNT_MASK | PARKED);
                match self.state.compare_exchange(cur, next, Ordering::AcqRel, Ordering::Acquire) {
                    Ok(_) => {
                        if cur & PARKED != 0 {
                            wake_all(self.state);
                        }
                        return Ok(Arrived::Leader);
                    }
                    Err(actual) => cur = actual,
                }
                continue;
            }
            match self.state.compare_exchange(cur, cur + 1, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => break (cur >> ROUND_SHIFT, count),
                Err(actual) => cur = actual,
            }
        };
        // `index < parties <= arrivals.len()` (checked above).
        let entry = &self.arrivals[index as usize];
        entry.token.store(live.token().to_bits(), Ordering::Relaxed);
        // Release: a checker that sees our round also sees our token.
        entry.round.store(round, Ordering::Release);
        Ok(Arrived::Waiting(Seat { round, index }))
    }

    /// Leaves after waiting: our entry no longer names a waiter (unless a
    /// later party of the same index already took it over).
    pub fn leave(&self, seat: Seat) {
        if let Some(entry) = self.arrivals.get(seat.index as usize) {
            let _ = entry.round.compare_exchange(seat.round, VACANT, Ordering::Relaxed, Ordering::Relaxed);
        }
    }

    /// Waits for the round to change: the parked-bit helper of the parking
    /// layer on the state word. Its liveness hook breaks the round if a
    /// recorded arrival died. Running out of time breaks it too
    /// ([`OnExpiry::Break`]), or returns `None` with the party still
    /// counted ([`OnExpiry::Keep`]).
    pub fn wait_for(
        &self,
        seat: Seat,
        live: &impl Liveness,
        deadline: Deadline,
        strategy: WaitStrategy,
        poll: bool,
        expiry: OnExpiry,
    ) -> Option<Result<(), BarrierError>> {
        let Seat { round, index } = seat;
        let naps = if poll { Naps::polling() } else { Naps::unbounded() };
        let mut waiter = Waiter::new(deadline, strategy, naps);
        let mut cursor = index.wrapping_add(1);
        loop {
            // Acquire: the leader's value, and with it every party's writes.
            let seen = waiter.park_bit(self.state, PARKED, Ordering::Acquire, |turn, cur| {
                if cur >> ROUND_SHIFT != round {
                    // Gen moved: our generation completed. Only epoch moved: reset.
                    let completed = (cur ^ (round << ROUND_SHIFT)) & GEN_MASK != 0;
                    return Step::Done(if completed { Ok(()) } else { Err(BarrierError::Broken) });
                }
                if cur & BROKEN != 0 {
                    return Step::Done(Err(BarrierError::Broken));
                }
                match turn {
                    Turn::Stuck if poll && self.dead_arrival(cur, round, index, &mut cursor, live) => {
                        self.break_round(cur);
                        Step::Retry
                    }
                    _ => Step::Wait,
                }
            });
            match seen {
                Ok(outcome) => return Some(outcome),
                // Out of time, still counted: the round was unchanged at
                // the last look; the next wait looks again.
                Err(_) if expiry == OnExpiry::Keep => return None,
                // Out of time: break the round we saw, unless it moved.
                Err(gave_up) if self.break_round(gave_up.word) => return Some(Err(BarrierError::TimedOut)),
                Err(_) => {}
            }
        }
    }

    /// Breaks the generation `seat` waits in if it is still current and not
    /// yet broken (a party that gives up). Returns whether this call broke it.
    pub fn abandon(&self, seat: Seat) -> bool {
        let mut cur = self.state.load(Ordering::Relaxed);
        loop {
            if cur >> ROUND_SHIFT != seat.round || cur & BROKEN != 0 {
                return false;
            }
            // Relaxed load: `break_round`'s CAS is on the exact value, and
            // a lost CAS (an arrival, a parked bit) looks again.
            if self.break_round(cur) {
                return true;
            }
            cur = self.state.load(Ordering::Relaxed);
        }
    }

    /// Breaks the current generation without arriving (unless it is broken
    /// already). Returns whether this call broke it.
    pub fn abort(&self) -> bool {
        let mut cur = self.state.load(Ordering::Relaxed);
        while cur & BROKEN == 0 {
            if self.break_round(cur) {
                return true;
            }
            cur = self.state.load(Ordering::Relaxed);
        }
        false
    }

    /// Whether one of a few recorded arrivals of `round` is dead.
    fn dead_arrival(&self, cur: u32, round: u32, index: u32, cursor: &mut u32, live: &impl Liveness) -> bool {
        let count = (cur & COUNT_MASK).min(self.parties).min(self.arrivals.len() as u32);
        for _ in 0..CHECKS_PER_POLL.min(count) {
            let i = *cursor % count;
            *cursor = cursor.wrapping_add(1);
            if i == index {
                continue;
            }
            let entry = &self.arrivals[i as usize];
            // Acquire pairs with the arriving party's Release of its round.
            if entry.round.load(Ordering::Acquire) == round
                && !live.is_alive(Token::from_bits(entry.token.load(Ordering::Relaxed)))
            {
                return true;
            }
        }
        false
    }

    /// Whether one of the `count` recorded arrivals of the round in `cur` is
    /// dead: the check of the arrival that would complete the generation.
    /// An entry not (yet) written for this round is taken as alive (its
    /// party is between its arrival CAS and its entry write).
    fn dead_among_arrivals(&self, cur: u32, count: u32, live: &impl Liveness) -> bool {
        let round = cur >> ROUND_SHIFT;
        let count = count.min(self.arrivals.len() as u32) as usize;
        self.arrivals[..count].iter().any(|entry| {
            // Acquire pairs with the arriving party's Release of its round.
            entry.round.load(Ordering::Acquire) == round
                && !live.is_alive(Token::from_bits(entry.token.load(Ordering::Relaxed)))
        })
    }

    /// Breaks the generation seen in `cur` if it is still current and not
    /// yet broken. Returns whether this call broke it.
    fn break_round(&self, cur: u32) -> bool {
        let broken = (cur | BROKEN) & !PARKED;
        if self.state.compare_exchange(cur, broken, Ordering::AcqRel, Ordering::Relaxed).is_ok() {
            if cur & PARKED != 0 {
                wake_all(self.state);
            }
            return true;
        }
        false
    }

    /// Starts a fresh generation: not broken, nobody arrived. Parties still
    /// waiting in the old one leave with `Broken`.
    pub fn reset(&self) {
        let mut cur = self.state.load(Ordering::Relaxed);
        loop {
            let next = (cur & GEN_MASK) | (cur.wrapping_add(EPOCH_ONE) & !(GEN_MASK | (GEN_ONE - 1)));
            match self.state.compare_exchange(cur, next, Ordering::AcqRel, Ordering::Relaxed) {
                Ok(_) => {
                    if cur & PARKED != 0 {
                        wake_all(self.state);
                    }
                    return;
                }
                Err(actual) => cur = actual,
            }
        }
    }

    pub fn is_broken(&self) -> bool {
        self.state.load(Ordering::Relaxed) & BROKEN != 0
    }
}

/// A barrier's whole shared state, laid out to be embedded in a user's own
/// `#[repr(C)]` state placed with [`Segment`] (what [`Barrier`] keeps in its
/// segment). About 8 KiB: the state word, the party count, and an arrival
/// table of [`MAX_PARTIES`] entries.
///
/// ```
/// # #[cfg(feature = "derive")] {
/// use shmkit::{BarrierCell, Segment, ShmSafe, ShmType};
///
/// #[derive(ShmType)]
/// #[repr(C)]
/// struct Stage {
///     step: BarrierCell,
/// }
/// // SAFETY: repr(C), and every field is ShmSafe.
/// unsafe impl ShmSafe for Stage {}
///
/// # let name = format!("doc-barrier-cell-{}", std::process::id());
/// let seg = Segment::create(&name, Stage { step: BarrierCell::new(1)? })?;
/// assert!(seg.step.wait(&seg).unwrap().is_leader());
/// # }
/// # Ok::<(), shmkit::Error>(())
/// ```
#[repr(C, align(64))]
pub struct BarrierCell {
    state: AtomicU32,
    parties: AtomicU32,
    arrivals: [Arrival; MAX_PARTIES as usize],
}

// SAFETY: repr(C) of atomics only: every bit pattern is a valid state (values
// are range-checked on use), no pointers, no drop glue.
unsafe impl ShmSafe for BarrierCell {}

impl BarrierCell {
    /// A fresh barrier for `parties` parties (1 to [`MAX_PARTIES`]).
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] if `parties` is out of range.
    pub fn new(parties: u32) -> Result<BarrierCell, Error> {
        check_parties(parties)?;
        Ok(BarrierCell {
            state: AtomicU32::new(0),
            parties: AtomicU32::new(parties),
            arrivals: std::array::from_fn(|_| Arrival::vacant()),
        })
    }

    fn core(&self) -> Core<'_> {
        Core { state: &self.state, arrivals: &self.arrivals, parties: self.parties.load(Ordering::Relaxed) }
    }

    fn check_in<S: ShmSafe + ShmLayout>(&self, seg: &Segment<S>) {
        let inside = seg.raw().contains((self as *const Self).cast(), std::mem::size_of::<Self>());
        assert!(inside, "BarrierCell: the cell is not inside the segment given for liveness checks");
    }

    /// The number of parties (as stored; a corrupted value is reported as is).
    pub fn parties(&self) -> u32 {
        self.parties.load(Ordering::Relaxed)
    }

    /// Waits until all parties have called `wait` in this generation.
    ///
    /// # Errors
    /// [`BarrierError::Broken`] if the barrier is or becomes broken.
    ///
    /// # Panics
    /// If the cell does not lie inside `seg`.
    pub fn wait<S: ShmSafe + ShmLayout>(&self, seg: &Segment<S>) -> Result<BarrierWaitResult, BarrierError> {
        self.wait_deadline_in(seg, Deadline::Never)
    }

    /// As [`BarrierCell::wait`], giving up (and breaking the barrier) after
    /// `timeout`.
    ///
    /// # Errors
    /// [`BarrierError::TimedOut`], or `Broken`.
    ///
    /// # Panics
    /// As [`BarrierCell::wait`].
    pub fn wait_timeout<S: ShmSafe + ShmLayout>(
        &self,
        seg: &Segment<S>,
        timeout: Duration,
    ) -> Result<BarrierWaitResult, BarrierError> {
        self.wait_deadline_in(seg, Deadline::after(timeout))
    }

    fn wait_deadline_in<S: ShmSafe + ShmLayout>(
        &self,
        seg: &Segment<S>,
        deadline: Deadline,
    ) -> Result<BarrierWaitResult, BarrierError> {
        self.check_in(seg);
        let leader = self.core().wait(seg.raw(), deadline, WaitStrategy::Adaptive, true)?;
        Ok(BarrierWaitResult { leader })
    }

    /// Arrives and returns at once, still counted: the party then waits in
    /// pieces with [`BarrierArrival::poll`] (see [`Barrier::arrive`]).
    ///
    /// # Errors
    /// [`BarrierError::Broken`] if the barrier is broken.
    ///
    /// # Panics
    /// As [`BarrierCell::wait`].
    pub fn arrive<'a, S: ShmSafe + ShmLayout>(
        &'a self,
        seg: &'a Segment<S>,
    ) -> Result<BarrierArrival<'a>, BarrierError> {
        self.check_in(seg);
        BarrierArrival::arrive(self, seg.raw(), WaitStrategy::Adaptive)
    }

    /// Breaks the current generation without arriving (see
    /// [`Barrier::abort`]).
    pub fn abort(&self) -> bool {
        self.core().abort()
    }

    /// Starts a fresh, unbroken generation (see [`Barrier::reset`]).
    pub fn reset(&self) {
        self.core().reset();
    }

    /// Whether the barrier is broken.
    pub fn is_broken(&self) -> bool {
        self.core().is_broken()
    }
}

fn check_parties(parties: u32) -> Result<(), Error> {
    if parties == 0 || parties > MAX_PARTIES {
        return Err(Error::InvalidArgument(format!("a barrier needs 1 to {MAX_PARTIES} parties, not {parties}")));
    }
    Ok(())
}

/// A reusable barrier for a fixed number of parties, shared by name between
/// processes (Python's `multiprocessing.Barrier`).
///
/// Each [`wait`](Barrier::wait) blocks until `parties` calls have arrived in
/// the current generation; then all return and exactly one of them
/// [is the leader](BarrierWaitResult::is_leader). The barrier is reused for
/// the next generation at once.
///
/// If a waiting party dies, or a party's timeout runs out, the barrier
/// *breaks*: every waiter returns [`BarrierError::Broken`] (the one that
/// timed out gets `TimedOut`) instead of hanging, and every later wait fails
/// until [`reset`](Barrier::reset). A dead party's arrival does not count:
/// the party that arrives last checks that the others are alive and, if
/// one died, gets `Broken` rather than completing the generation. A party that dies before it arrives
/// looks like a slow one; bound that with [`wait_timeout`](Barrier::wait_timeout).
///
/// The handle is `Send` and `Sync`; threads may share one handle (each
/// waiting thread counts as one party).
///
/// ```
/// use shmkit::Barrier;
/// # let name = format!("doc-barrier-{}", std::process::id());
/// let b = Barrier::create(&name, 2)?;
/// let other = Barrier::open(&name)?;
/// let t = std::thread::spawn(move || other.wait().unwrap().is_leader());
/// let me = b.wait().unwrap().is_leader();
/// assert!(me ^ t.join().unwrap()); // exactly one leader
/// # Ok::<(), shmkit::Error>(())
/// ```
pub struct Barrier(Handle<BarrierCell>);

impl SegmentState for BarrierCell {
    const KINDS: &'static [ObjectKind] = &[ObjectKind::Barrier];
    /// The number of parties, kept in the state.
    type Params = u32;
    type Init<'a> = ();

    /// No element type: the state's own canonical name (`BarrierCell`),
    /// which messages never show.
    fn fingerprint(_parties: &u32) -> Fingerprint {
        Fingerprint::of::<BarrierCell>(1)
    }

    fn check_init(&parties: &u32, (): &()) -> Result<(), Error> {
        check_parties(parties)
    }

    fn init(&mut self, _tail: &mut [u8], &parties: &u32, _slots: u32, (): ()) {
        self.parties = AtomicU32::new(parties);
        for arrival in &mut self.arrivals {
            *arrival = Arrival::vacant();
        }
    }

    fn check_opened(&self, name: &str, params: &mut u32) -> Result<(), Error> {
        let parties = self.parties();
        if check_parties(parties).is_err() {
            return Err(Error::Corrupt { name: name.to_owned(), reason: format!("barrier of {parties} parties") });
        }
        *params = parties;
        Ok(())
    }

    fn check_existing(name: &str, _header: &Header, &asked: &u32, &found: &u32) -> Result<(), Error> {
        if asked != found {
            return Err(Error::InvalidArgument(format!("barrier '{name}' exists with {found} parties, not {asked}")));
        }
        Ok(())
    }
}

handle_api! {
    impl[] Barrier, "barrier", " for `parties` parties (1 to [`MAX_PARTIES`])";
    create(parties: u32) => (parties, ());
    open_or_create(parties: u32) => (parties, ());
    waits;
}

impl Barrier {
    fn cell(&self) -> &BarrierCell {
        self.0.state()
    }

    /// The number of parties.
    pub fn parties(&self) -> u32 {
        self.cell().parties()
    }

    fn wait_until(&self, deadline: Deadline) -> Result<BarrierWaitResult, BarrierError> {
        let leader = self.cell().core().wait(self.0.segment(), deadline, self.0.strategy(), true)?;
        Ok(BarrierWaitResult { leader })
    }

    /// Waits until all parties have arrived in this generation.
    ///
    /// # Errors
    /// [`BarrierError::Broken`] if the barrier is broken, or breaks while
    /// waiting (a waiting party died or timed out, or it was reset).
    pub fn wait(&self) -> Result<BarrierWaitResult, BarrierError> {
        self.wait_until(Deadline::Never)
    }

    /// Arrives and returns at once unless this party completes the
    /// generation: the non-blocking form of [`Barrier::wait`], as a wait
    /// whose time has already run out (so it breaks the barrier for the
    /// others unless it is the last to arrive).
    ///
    /// # Errors
    /// As [`Barrier::wait_timeout`].
    pub fn try_wait(&self) -> Result<BarrierWaitResult, BarrierError> {
        self.wait_until(Deadline::Now)
    }

    /// Waits at most `timeout`; if it runs out, breaks the barrier.
    ///
    /// # Errors
    /// [`BarrierError::TimedOut`] for this party (the others get `Broken`),
    /// or `Broken`.
    pub fn wait_timeout(&self, timeout: Duration) -> Result<BarrierWaitResult, BarrierError> {
        self.wait_until(Deadline::after(timeout))
    }

    /// Waits until `deadline` at most; then breaks the barrier.
    ///
    /// # Errors
    /// As [`Barrier::wait_timeout`].
    pub fn wait_deadline(&self, deadline: Instant) -> Result<BarrierWaitResult, BarrierError> {
        self.wait_until(Deadline::At(deadline))
    }

    /// Arrives and returns at once: the party is counted in the current
    /// generation (or completes it) and then waits in pieces with
    /// [`BarrierArrival::poll`], which answers "not yet" when its time runs
    /// out *without* breaking the barrier. For a caller that must do
    /// something while it waits (the Python module checks for Ctrl-C
    /// between pieces) and still be one party of the generation. Dropping
    /// or [aborting](BarrierArrival::abort) the arrival before its wait
    /// ended breaks the generation; see [`BarrierArrival`].
    ///
    /// # Errors
    /// [`BarrierError::Broken`] if the barrier is broken (or its shared
    /// state corrupted).
    pub fn arrive(&self) -> Result<BarrierArrival<'_>, BarrierError> {
        BarrierArrival::arrive(self.cell(), self.0.segment(), self.0.strategy())
    }

    /// Breaks the barrier without arriving: every party waiting in the
    /// current generation, and every later wait, gets
    /// [`BarrierError::Broken`] until [`reset`](Barrier::reset) (Python's
    /// `Barrier.abort`). Returns whether this call broke it (`false`: it
    /// was broken already).
    ///
    /// Unlike [`try_wait`](Barrier::try_wait), it never completes a
    /// generation that lacks only one party.
    pub fn abort(&self) -> bool {
        self.cell().abort()
    }

    /// Returns the barrier to a fresh, unbroken generation with nobody
    /// arrived. Parties waiting in the current generation leave with
    /// [`BarrierError::Broken`].
    pub fn reset(&self) {
        self.cell().reset();
    }

    /// Whether the barrier is broken (a snapshot).
    pub fn is_broken(&self) -> bool {
        self.cell().is_broken()
    }

    /// How many parties have arrived in the current generation and wait (a
    /// snapshot, for diagnostics).
    pub fn arrived(&self) -> u32 {
        self.cell().state.load(Ordering::Relaxed) & COUNT_MASK
    }
}

impl fmt::Debug for Barrier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Barrier").field("name", &self.name()).field("parties", &self.parties()).finish_non_exhaustive()
    }
}

impl fmt::Debug for BarrierCell {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BarrierCell")
            .field("parties", &self.parties())
            .field("broken", &self.is_broken())
            .finish_non_exhaustive()
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    /// The holder of slot `me`; the holders of the slots in `dead` are dead.
    struct Mock {
        me: u32,
        dead: &'static [u32],
    }

    impl Liveness for Mock {
        fn token(&self) -> Token {
            Token::from_slot_generation(self.me, 1)
        }

        fn is_alive(&self, token: Token) -> bool {
            !self.dead.contains(&token.slot())
        }
    }

    /// A barrier of `parties` where the parties of slots `1..parties` have
    /// arrived (and wait) in round 0.
    fn arrived(parties: u32) -> (AtomicU32, Vec<Arrival>) {
        let arrivals: Vec<Arrival> = (0..parties).map(|_| Arrival::vacant()).collect();
        for (i, entry) in arrivals.iter().enumerate().take(parties as usize - 1) {
            entry.token.store(Token::from_slot_generation(i as u32 + 1, 1).to_bits(), Ordering::Relaxed);
            entry.round.store(0, Ordering::Relaxed);
        }
        (AtomicU32::new(parties - 1), arrivals)
    }

    #[test]
    fn the_last_arrival_does_not_count_dead_ones() {
        let (state, arrivals) = arrived(3);
        let core = Core { state: &state, arrivals: &arrivals, parties: 3 };
        let live = Mock { me: 0, dead: &[1, 2] };
        let r = core.wait(&live, Deadline::after(Duration::from_secs(5)), WaitStrategy::Park, true);
        assert_eq!(r, Err(BarrierError::Broken));
        assert!(core.is_broken());
        // And it stays broken for the next arrival, rather than hanging.
        let r = core.wait(&live, Deadline::after(Duration::from_secs(5)), WaitStrategy::Park, true);
        assert_eq!(r, Err(BarrierError::Broken));
    }

    #[test]
    fn the_last_arrival_passes_when_all_are_alive() {
        let (state, arrivals) = arrived(3);
        let core = Core { state: &state, arrivals: &arrivals, parties: 3 };
        let r = core.wait(&Mock { me: 0, dead: &[] }, Deadline::Now, WaitStrategy::Park, true);
        assert_eq!(r, Ok(true));
        assert!(!core.is_broken());
        assert_eq!(state.load(Ordering::Relaxed) >> ROUND_SHIFT, 1, "the generation completed");
    }

    #[test]
    fn an_entry_not_written_yet_counts_as_alive() {
        let (state, arrivals) = arrived(3);
        // Party 2 did its arrival CAS but has not written its entry yet.
        arrivals[1].round.store(VACANT, Ordering::Relaxed);
        let core = Core { state: &state, arrivals: &arrivals, parties: 3 };
        let r = core.wait(&Mock { me: 0, dead: &[2] }, Deadline::Now, WaitStrategy::Park, true);
        assert_eq!(r, Ok(true));
    }
}

#[cfg(all(test, loom))]
mod loom_models {
    use super::*;
    use crate::loom_support::{Alive, model as check};
    use loom::sync::Arc;

    struct Shared {
        state: AtomicU32,
        arrivals: Vec<Arrival>,
        leaders: [AtomicU32; 2],
    }

    fn model(parties: u32, preemptions: usize) {
        check(preemptions, move || {
            let shared = Arc::new(Shared {
                state: AtomicU32::new(0),
                arrivals: (0..parties).map(|_| Arrival::vacant()).collect(),
                leaders: [AtomicU32::new(0), AtomicU32::new(0)],
            });
            let run = move |s: Arc<Shared>, id: u32| {
                let core = Core { state: &s.state, arrivals: &s.arrivals, parties };
                for generation in 0..2 {
                    let leader = core.wait(&Alive(id), Deadline::Never, WaitStrategy::Park, false).expect("not broken");
                    if leader {
                        s.leaders[generation].fetch_add(1, Ordering::Relaxed);
                    }
                }
            };
            let handles: Vec<_> = (1..parties)
                .map(|id| {
                    let s = shared.clone();
                    loom::thread::spawn(move || run(s, id))
                })
                .collect();
            run(shared.clone(), 0);
            for h in handles {
                h.join().unwrap();
            }
            for g in &shared.leaders {
                assert_eq!(g.load(Ordering::Relaxed), 1, "exactly one leader per generation");
            }
        });
    }

    #[test]
    fn loom_barrier_two_parties_two_generations() {
        model(2, 3);
    }

    #[test]
    fn loom_barrier_three_parties_two_generations() {
        // Two preemptions take minutes with three parties; one explores
        // every arrival order of both generations.
        model(3, 1);
    }
}

/// A wait in one round of a barrier, for the background waiter of
/// [`Barrier::wait_async`]: ready once the round has ended (completed,
/// broken or reset). A thorough look (the waiter's periodic one) also
/// breaks the round if one of its recorded arrivals is dead, as a sleeping
/// waiter's poll does. The probe opens the barrier again by name, as an
/// event's does.
#[cfg(feature = "async")]
pub(crate) struct RoundOf<B> {
    pub(crate) barrier: B,
    pub(crate) round: u32,
}

#[cfg(feature = "async")]
impl<B: std::borrow::Borrow<Barrier>> crate::select::sealed::Source for RoundOf<B> {
    fn arm(&self) -> u32 {
        self.round << ROUND_SHIFT
    }
    fn ready(&self, _armed: u32, thorough: bool) -> bool {
        let barrier = self.barrier.borrow();
        let core = barrier.cell().core();
        let cur = core.state.load(Ordering::Acquire);
        if cur >> ROUND_SHIFT != self.round || cur & BROKEN != 0 {
            return true;
        }
        if thorough && core.dead_among_arrivals(cur, cur & COUNT_MASK, barrier.0.segment()) {
            core.break_round(cur);
            return true;
        }
        false
    }
    fn park(&self) -> crate::select::sealed::Park<'_> {
        crate::select::sealed::Park::Bit { word: &self.barrier.borrow().cell().state, bit: PARKED }
    }
    fn probe(&self) -> Result<std::sync::Arc<dyn crate::select::sealed::Source + Send + Sync>, crate::Error> {
        let again = Barrier::open(self.barrier.borrow().name())?;
        Ok(std::sync::Arc::new(RoundOf { barrier: again, round: self.round }))
    }
}
