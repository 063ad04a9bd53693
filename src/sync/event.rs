//! [`Event`]: a flag that processes wait for, shared by name, and the
//! embeddable [`EventCell`].
//!
//! # The event word (32 bits)
//!
//! | bits    | name     | meaning                                                        |
//! |---------|----------|----------------------------------------------------------------|
//! | 0       | `SET`    | the flag                                                       |
//! | 1       | `PARKED` | a waiter may be asleep on the futex: `set` must wake them all  |
//! | 2..=31  | epoch    | how many times the flag went from clear to set (wrapping)      |
//!
//! `0` is clear with nobody asleep. Every bit pattern is a valid state, so a
//! corrupted word can make waiters return early or sleep until the next
//! `set`, never misbehave otherwise.
//!
//! A waiter notes the word when it starts. It returns once `SET` is seen, or
//! once the epoch differs from the one it noted: a `set` followed at once by
//! a `clear` still releases everyone who was waiting (no lost wake-up).
//! Before sleeping, a waiter puts `PARKED` into the word by CAS and then
//! sleeps only while the word still holds that exact value, so a `set` either
//! comes before the CAS (the CAS or the futex check fails and the waiter
//! re-checks) or after it (the `set` sees `PARKED` and wakes everyone).
//! `set` clears `PARKED`: it wakes every sleeper, and a waiter that had set
//! the bit but not yet slept finds the word changed. A `set` that finds
//! `PARKED` clear makes no syscall. Sleeps last at most 200 ms between two
//! looks at the word, so a setter that dies between its CAS and its wake
//! delays the sleepers by that much at worst.

use std::fmt;
use std::time::{Duration, Instant};

use crate::handle::{Handle, handle_api, simple_state};
use crate::primitive::{AtomicU32, Ordering, const_unless_loom, futex_wake};
use crate::segment::ShmSafe;
use crate::wait::{BACKSTOP, Deadline, Naps, Step, Turn, WaitStrategy, Waiter};

const SET: u32 = 1;
const PARKED: u32 = 1 << 1;
const EPOCH_ONE: u32 = 1 << 2;
const EPOCH_MASK: u32 = !(SET | PARKED);

/// An event's shared state: one word, laid out to be embedded in a user's
/// own `#[repr(C)]` state placed with [`Segment`](crate::Segment).
///
/// All-zero is a clear event with no waiters. It needs no liveness checks, so
/// it works on any shared memory.
///
/// ```
/// use shmkit::{EventCell, Segment};
/// # let name = format!("doc-rawevent-{}", std::process::id());
/// let seg = Segment::create(&name, [EventCell::new(), EventCell::new()])?;
/// seg[1].set();
/// assert!(!seg[0].is_set());
/// assert!(seg[1].wait_timeout(std::time::Duration::from_millis(1)));
/// # Ok::<(), shmkit::Error>(())
/// ```
#[derive(Default)]
#[repr(C)]
pub struct EventCell {
    word: AtomicU32,
}

// SAFETY: repr(C) around one atomic word; every bit pattern is a valid state
// (see the module's state table); no pointers; no drop glue.
unsafe impl ShmSafe for EventCell {}

impl EventCell {
    const_unless_loom! {
        /// A clear event.
        pub fn new() -> EventCell {
            EventCell { word: AtomicU32::new(0) }
        }
    }

    /// Sets the flag and wakes every waiter, in every process. Makes no
    /// syscall when nobody sleeps.
    pub fn set(&self) {
        let mut cur = self.word.load(Ordering::Relaxed);
        loop {
            let new = if cur & SET != 0 { cur & !PARKED } else { (cur & EPOCH_MASK).wrapping_add(EPOCH_ONE) | SET };
            // Release: what the caller wrote before `set` is visible to a
            // waiter whose Acquire load sees this value or a later one (a
            // `clear` is an RMW, so it continues the release sequence).
            // Even an already-set flag is written again, for that reason.
            match self.word.compare_exchange_weak(cur, new, Ordering::Release, Ordering::Relaxed) {
                Ok(_) => break,
                Err(actual) => cur = actual,
            }
        }
        if cur & PARKED != 0 {
            futex_wake(&self.word, u32::MAX);
        }
    }

    /// Clears the flag. Waiters that started before a `set` that came
    /// before this `clear` still return `true`.
    pub fn clear(&self) {
        // Release keeps the release sequence of the last `set` intact.
        self.word.fetch_and(!SET, Ordering::Release);
    }

    /// Whether the flag is set now (a snapshot).
    pub fn is_set(&self) -> bool {
        // Acquire: pairs with `set`, like a wait that returns at once.
        self.word.load(Ordering::Acquire) & SET != 0
    }

    /// Waits until the flag is set (or was set since the call began).
    ///
    /// It blocks for as long as nobody sets the event: if the process that
    /// should set it has died, it never returns. Use
    /// [`EventCell::wait_timeout`] when that matters.
    pub fn wait(&self) {
        self.wait_until(Deadline::Never, WaitStrategy::Adaptive);
    }

    /// Waits at most `timeout`; `true` if the flag was set (or was set since
    /// the call began), `false` on timeout.
    pub fn wait_timeout(&self, timeout: Duration) -> bool {
        self.wait_until(Deadline::after(timeout), WaitStrategy::Adaptive)
    }

    /// Waits until `deadline` at most; `true` if the flag was set (or was set
    /// since the call began), `false` on timeout.
    pub fn wait_deadline(&self, deadline: Instant) -> bool {
        self.wait_until(Deadline::At(deadline), WaitStrategy::Adaptive)
    }

    /// Waits until `deadline`, spinning as `strategy` allows, then sleeping.
    pub(crate) fn wait_until(&self, deadline: Deadline, strategy: WaitStrategy) -> bool {
        self.wait_from(self.begin(), deadline, strategy)
    }

    /// The word at the start of a wait.
    fn begin(&self) -> u32 {
        // Acquire: pairs with `set`'s Release.
        self.word.load(Ordering::Acquire)
    }

    /// The wait, for a wait that began when the word was `start`: the
    /// parked-bit helper of the parking layer, in naps of at most
    /// [`BACKSTOP`] (a `set` whose process died between its CAS and its
    /// wake leaves sleepers that nobody wakes; the word tells the truth, so
    /// they notice on their next look; under loom sleeps are unbounded, so
    /// that the models show that no wake-up is lost without this poll).
    fn wait_from(&self, start: u32, deadline: Deadline, strategy: WaitStrategy) -> bool {
        if start & SET != 0 {
            return true;
        }
        let fired = |cur: u32| cur & SET != 0 || (cur ^ start) & EPOCH_MASK != 0;
        let mut waiter = Waiter::new(deadline, strategy, Naps::backstop(BACKSTOP));
        // Acquire: pairs with `set`'s Release.
        let woke = waiter.park_bit(&self.word, PARKED, Ordering::Acquire, |turn, cur| match turn {
            Turn::Look { .. } if fired(cur) => Step::Done(()),
            _ => Step::Wait,
        });
        woke.is_ok()
    }
}

impl fmt::Debug for EventCell {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EventCell").field("set", &self.is_set()).finish()
    }
}

/// A flag shared by name between processes: some processes wait until it is
/// set, another sets it (what Python's `multiprocessing.Event` is).
///
/// `set` wakes every waiter in every process; `clear` lowers the flag again.
/// A waiter returns once the flag is set, or once it has been set since the
/// wait began (even if it was cleared again meanwhile): a short set/clear
/// pulse is never missed. Waiting spins briefly, then sleeps on a futex; a
/// `set` with nobody asleep costs no syscall. [`Event::with_wait_strategy`]
/// chooses spin, sleep or both.
///
/// The handle is `Send` and `Sync`.
///
/// ```
/// use shmkit::Event;
/// use std::time::Duration;
/// # let name = format!("doc-event-{}", std::process::id());
/// let ready = Event::create(&name)?;           // in one process
/// let seen = Event::open(&name)?;              // in another
/// assert!(!seen.wait_timeout(Duration::from_millis(1)));
/// ready.set();
/// seen.wait();
/// assert!(seen.is_set());
/// # Ok::<(), shmkit::Error>(())
/// ```
pub struct Event(Handle<EventCell>);

// Zero is a clear event.
simple_state!(impl[] EventCell: Event, of EventCell, init |_cell, _none: ()| ());

handle_api! { impl[] Event, "event", ", clear"; create() => ((), ()); waits; }

impl Event {
    fn wait_until(&self, deadline: Deadline) -> bool {
        self.0.state().wait_until(deadline, self.0.strategy())
    }

    /// Sets the flag and wakes every waiter in every process.
    pub fn set(&self) {
        self.0.state().set();
    }

    /// Clears the flag.
    pub fn clear(&self) {
        self.0.state().clear();
    }

    /// Whether the flag is set now.
    pub fn is_set(&self) -> bool {
        self.0.state().is_set()
    }

    /// Waits until the flag is set (or was set since the call began).
    ///
    /// It blocks for as long as nobody sets the event: if the process that
    /// should set it has died, it never returns. Use [`Event::wait_timeout`]
    /// when that matters.
    pub fn wait(&self) {
        self.wait_until(Deadline::Never);
    }

    /// Whether the flag is set, without waiting (the non-blocking form of
    /// [`Event::wait`]).
    pub fn try_wait(&self) -> bool {
        self.wait_until(Deadline::Now)
    }

    /// Waits at most `timeout`; `true` if the flag was set (or was set since
    /// the call began), `false` on timeout.
    pub fn wait_timeout(&self, timeout: Duration) -> bool {
        self.wait_until(Deadline::after(timeout))
    }

    /// Waits until `deadline` at most; `true` if the flag was set (or was set
    /// since the call began), `false` on timeout.
    pub fn wait_deadline(&self, deadline: Instant) -> bool {
        self.wait_until(Deadline::At(deadline))
    }
}

impl fmt::Debug for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Event").field("name", &self.name()).field("set", &self.is_set()).finish()
    }
}

#[cfg(all(test, loom))]
mod loom_tests {
    use super::EventCell;
    use crate::loom_support::model;
    use crate::primitive::{AtomicU32, Ordering};
    use crate::wait::{Deadline, WaitStrategy};
    use loom::sync::Arc;

    /// A waiter that sleeps is woken by a later `set`: a lost wake-up would
    /// block the model forever.
    #[test]
    fn loom_set_wakes_waiter() {
        model(3, || {
            let ev = Arc::new(EventCell::new());
            let e = ev.clone();
            let waiter = loom::thread::spawn(move || assert!(e.wait_until(Deadline::Never, WaitStrategy::Park)));
            ev.set();
            waiter.join().unwrap();
            assert!(ev.is_set());
        });
    }

    /// A set/clear pulse releases every waiter that had begun waiting before
    /// it: each sees either the flag or the new epoch.
    #[test]
    fn loom_pulse_wakes_two_waiters() {
        model(2, || {
            let ev = Arc::new(EventCell::new());
            let started = Arc::new(AtomicU32::new(0));
            let waiters: Vec<_> = (0..2)
                .map(|_| {
                    let (e, s) = (ev.clone(), started.clone());
                    loom::thread::spawn(move || {
                        let start = e.begin();
                        s.fetch_add(1, Ordering::Release);
                        assert!(e.wait_from(start, Deadline::Never, WaitStrategy::Park));
                    })
                })
                .collect();
            while started.load(Ordering::Acquire) < 2 {
                loom::thread::yield_now();
            }
            ev.set();
            ev.clear();
            for w in waiters {
                w.join().unwrap();
            }
        });
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn every_word_is_a_valid_state() {
        let short = Duration::from_millis(1);
        for w in [u32::MAX, PARKED, SET | PARKED, EPOCH_MASK | PARKED, EPOCH_MASK, 0xdead_beef, 0xdead_beee] {
            let ev = EventCell { word: AtomicU32::new(w) };
            assert_eq!(ev.is_set(), w & SET != 0);
            assert_eq!(ev.wait_timeout(short), w & SET != 0);
            ev.set();
            assert!(ev.is_set());
            assert!(ev.wait_timeout(Duration::ZERO));
            ev.clear();
            assert!(!ev.is_set());
            assert!(!ev.wait_timeout(short));
        }
    }

    /// A setter that died after its CAS but before its wake: the sleeper
    /// finds the flag on its next look.
    #[test]
    fn a_set_whose_wake_never_came_is_noticed() {
        let ev = EventCell::new();
        std::thread::scope(|s| {
            let waiter = s.spawn(|| ev.wait_until(Deadline::Never, WaitStrategy::Park));
            while ev.word.load(Ordering::Relaxed) & PARKED == 0 {
                std::thread::sleep(Duration::from_millis(1));
            }
            ev.word.store(EPOCH_ONE | SET, Ordering::Release);
            assert!(waiter.join().unwrap());
        });
    }
}

/// Ready once set, or set and cleared again, since the wait began (as
/// [`Event::wait`] returns then).
impl crate::select::sealed::Source for Event {
    fn arm(&self) -> u32 {
        self.0.state().word.load(Ordering::Acquire)
    }
    fn ready(&self, armed: u32, _thorough: bool) -> bool {
        fired(self.0.state().word.load(Ordering::Acquire), armed)
    }
    fn park(&self) -> crate::select::sealed::Park<'_> {
        crate::select::sealed::Park::Bit { word: &self.0.state().word, bit: PARKED }
    }
    /// The event opened again by name; it reports "set" (a pulse since the
    /// probe was made counts too, once).
    fn probe(&self) -> Result<std::sync::Arc<dyn crate::select::sealed::Source + Send + Sync>, crate::Error> {
        let again = Event::open(self.name())?;
        let since = self.0.state().word.load(Ordering::Acquire);
        Ok(std::sync::Arc::new(EventProbe { event: again, since }))
    }
}

/// Whether an event whose word was `armed` when a wait began has fired by
/// the time it reads `cur` (as `wait` decides).
fn fired(cur: u32, armed: u32) -> bool {
    cur & SET != 0 || (cur ^ armed) & EPOCH_MASK != 0
}

/// An event's readiness for the background waiter: set, or pulsed since
/// `since`.
struct EventProbe {
    event: Event,
    since: u32,
}

impl crate::select::sealed::Source for EventProbe {
    fn arm(&self) -> u32 {
        self.since
    }
    fn ready(&self, armed: u32, thorough: bool) -> bool {
        crate::select::sealed::Source::ready(&self.event, armed, thorough)
    }
    fn park(&self) -> crate::select::sealed::Park<'_> {
        crate::select::sealed::Source::park(&self.event)
    }
    fn probe(&self) -> Result<std::sync::Arc<dyn crate::select::sealed::Source + Send + Sync>, crate::Error> {
        crate::select::sealed::Source::probe(&self.event)
    }
}
