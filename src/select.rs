//! Waiting on many objects at once: [`wait_any`] and its `try_`,
//! `_timeout` and `_deadline` forms.
//!
//! A worker that must stop on a shutdown [`Event`](crate::Event) while it
//! waits for messages waits on both, in one call, without polling:
//!
//! ```no_run
//! use shmkit::{Broadcast, Event, Policy};
//!
//! let stop = Event::open("stop")?;
//! let mut ticks = Broadcast::<u64>::open("ticks")?.subscribe()?;
//! loop {
//!     match shmkit::wait_any(&[&ticks, &stop]) {
//!         Some(0) => match ticks.try_recv() {
//!             Ok(t) => println!("tick {t}"),
//!             Err(e) => println!("{e}"), // lagged, or the publisher is gone
//!         },
//!         _ => break, // stop was set
//!     }
//! }
//! # Ok::<(), shmkit::Error>(())
//! ```
//!
//! Readiness, not receipt: `wait_any` returns the index of an object whose
//! operation would not block now (a message or end of stream to receive, a
//! set event, a free permit), and consumes nothing; the caller then makes
//! the `try_` call. Another process may take the message or permit first,
//! so that `try_` call may still find nothing (wait again).
//!
//! # How it sleeps
//!
//! The parking layer's protocol (see `src/wait.rs`), over many words: look
//! at every object; spin briefly; ask each whether its peer is alive (a
//! dead peer makes a receive ready: end of stream); then announce on every
//! object (count ourselves as a sleeper, or set its parked bit), make the
//! handshake, look again, and sleep on all the words at once with
//! `futex_waitv` (Linux 5.16), in bounded naps so that a dead peer is
//! noticed. Without `futex_waitv` (an older kernel, or more than 128
//! objects) the same loop sleeps the naps (1 ms doubling to 16 ms) and
//! looks again: latency, never a hang. [`futex_waitv_available`] says which.

use std::time::{Duration, Instant};

use crate::primitive::{AtomicU32, Ordering, fence, futex_wake};
use crate::wait::{Deadline, Handshake, Naps, POLL_MAX, POLL_MIN, SpinWait, WaitStrategy};

pub(crate) mod sealed {
    use crate::primitive::AtomicU32;

    /// How a waiter sleeps on one object (the two helpers of the parking
    /// layer).
    #[derive(Debug)]
    pub enum Park<'a> {
        /// A sleeper count and a futex word the waker changes before it
        /// wakes (helper b).
        Counted {
            word: &'a AtomicU32,
            count: &'a AtomicU32,
            /// The waker's half of the handshake is the asymmetric barrier
            /// (`Handshake::Asym`); otherwise a fence or `SeqCst` accesses.
            asym: bool,
            /// The waker wakes one sleeper: a select that was woken passes a
            /// wake on to the object's other sleepers, which the wake may
            /// have been meant for.
            wakes_one: bool,
        },
        /// A word with a parked bit that every waker's RMW tests (helper a).
        Bit { word: &'a AtomicU32, bit: u32 },
    }

    /// An object [`wait_any`](super::wait_any) can wait on.
    pub trait Source {
        /// What the object looks like as a wait starts (an event's epoch).
        fn arm(&self) -> u32 {
            0
        }
        /// Whether the call the caller waits for would not block now; with
        /// `thorough`, a peer's death is looked for too (may be a syscall).
        fn ready(&self, armed: u32, thorough: bool) -> bool;
        /// Where to sleep.
        fn park(&self) -> Park<'_>;
        /// An owned copy of this readiness check, for the background waiter
        /// of [`ReadyFd`](crate::ReadyFd) and the async forms: queue ends
        /// share their state; events and semaphores are opened again by
        /// name.
        fn probe(&self) -> Result<std::sync::Arc<dyn Source + Send + Sync>, crate::Error>;
    }
}

use sealed::{Park, Source};

/// An object [`wait_any`] can wait on: queue receivers, byte receivers,
/// pipe connections, broadcast subscribers, events and semaphores (ready
/// to receive, set, a free permit), queue senders, typed, message and
/// described (ready when there is room, or no receiver left), and mutexes,
/// also of a described type (when a lock would not wait).
pub trait Selectable: Source {}

impl<S: Source> Selectable for S {}

/// Whether this kernel has `futex_waitv` (Linux 5.16): `wait_any` then
/// sleeps on all its objects at once; otherwise it sleeps in short naps and
/// looks again.
pub fn futex_waitv_available() -> bool {
    #[cfg(not(loom))]
    {
        // Waiting on a word that already differs returns at once.
        let w = AtomicU32::new(0);
        crate::sys::futex_waitv(&[(&w, 1)], Some(Duration::ZERO))
    }
    #[cfg(loom)]
    false
}

/// Waits until one of `objects` is ready and returns its index (the first
/// ready one, in the order given); `None` at once if `objects` is empty
/// (nothing could ever be ready).
pub fn wait_any(objects: &[&dyn Selectable]) -> Option<usize> {
    if objects.is_empty() {
        return None;
    }
    wait_any_until(objects, Deadline::Never)
}

/// The index of an object of `objects` that is ready now, if any.
pub fn try_wait_any(objects: &[&dyn Selectable]) -> Option<usize> {
    wait_any_until(objects, Deadline::Now)
}

/// [`wait_any`], waiting at most `timeout`: `None` if nothing was ready by
/// then (or `objects` is empty).
pub fn wait_any_timeout(objects: &[&dyn Selectable], timeout: Duration) -> Option<usize> {
    wait_any_until(objects, Deadline::after(timeout))
}

/// [`wait_any`], waiting until `deadline` at most.
pub fn wait_any_deadline(objects: &[&dyn Selectable], deadline: Instant) -> Option<usize> {
    wait_any_until(objects, Deadline::At(deadline))
}

fn wait_any_until(objects: &[&dyn Selectable], deadline: Deadline) -> Option<usize> {
    let sources: Vec<&dyn Source> = objects.iter().map(|&o| o as &dyn Source).collect();
    wait_sources(&sources, deadline, WaitStrategy::Adaptive)
}

/// [`wait_any`] over the crate's own sources (the background waiter's
/// probes among them).
pub(crate) fn wait_sources(objects: &[&dyn Source], deadline: Deadline, strategy: WaitStrategy) -> Option<usize> {
    if objects.is_empty() {
        if let Some(nap) = deadline.sleep_for(Duration::MAX) {
            std::thread::sleep(nap);
        }
        return None;
    }
    let armed: Vec<u32> = objects.iter().map(|o| o.arm()).collect();
    let look = |thorough: bool| objects.iter().zip(&armed).position(|(o, &a)| o.ready(a, thorough));
    if let Some(i) = look(false) {
        return Some(i);
    }
    let mut spin = SpinWait::new(if deadline == Deadline::Now { WaitStrategy::Park } else { strategy }).until(deadline);
    while spin.spin() {
        if let Some(i) = look(false) {
            return Some(i);
        }
    }
    let mut naps = Naps::polling();
    let mut words: Vec<(&AtomicU32, u32)> = Vec::with_capacity(objects.len());
    loop {
        // The liveness hook: a dead peer makes a receive ready; the `try_`
        // calls of this process then check liveness at once.
        if let Some(i) = look(true) {
            // Ready only by the thorough look: a peer found dead.
            if !objects[i].ready(armed[i], false) {
                crate::queue::note_death_seen();
            }
            return Some(i);
        }
        let nap = naps.next(deadline)?;
        // Announce on every object.
        words.clear();
        let (mut asym, mut moved) = (false, false);
        for o in objects {
            match o.park() {
                Park::Counted { word, count, asym: a, .. } => {
                    // SeqCst: the sleeper's store of the handshake.
                    count.fetch_add(1, Ordering::SeqCst);
                    asym |= a;
                    words.push((word, 0)); // read after the handshake
                }
                Park::Bit { word, bit } => {
                    let cur = word.load(Ordering::Relaxed);
                    // Relaxed: ordered with the waker's RMW by the word's
                    // modification order (helper a). A lost CAS means the
                    // word moved: look again rather than sleep.
                    if cur & bit == 0
                        && word.compare_exchange(cur, cur | bit, Ordering::Relaxed, Ordering::Relaxed).is_err()
                    {
                        moved = true;
                    }
                    words.push((word, cur | bit));
                }
            }
        }
        // The handshake, once for all: either each waker sees us counted,
        // or we see its change below. If the asymmetric barrier failed,
        // a waker may have skipped its fence: sleep short.
        let short = if asym { !Handshake::Asym.cold() } else { fence_all() };
        for (i, o) in objects.iter().enumerate() {
            if let Park::Counted { word, .. } = o.park() {
                // SeqCst: the sleeper's load of the handshake.
                words[i].1 = word.load(Ordering::SeqCst);
            }
        }
        let found = look(false);
        let mut slept = false;
        if found.is_none() && !moved {
            let nap = nap.unwrap_or(POLL_MAX);
            slept = sleep_on(&words, if short { nap.min(POLL_MIN) } else { nap });
        }
        // Withdraw, and pass on a wake that may have been another's.
        for o in objects {
            if let Park::Counted { word, count, wakes_one, .. } = o.park() {
                // Relaxed: the count is only a hint to wakers (see wait.rs).
                let others = count.fetch_sub(1, Ordering::Relaxed) - 1;
                if slept && wakes_one && others > 0 {
                    futex_wake(word, 1);
                }
            }
        }
        if let Some(i) = found.or_else(|| look(false)) {
            return Some(i);
        }
        naps.grow();
    }
}

/// The plain handshake: a `SeqCst` fence. Never short.
fn fence_all() -> bool {
    fence(Ordering::SeqCst);
    false
}

/// Sleeps until a word differs from its value or is woken, at most `nap`
/// (without `futex_waitv`: the whole nap); `true` if it may have consumed
/// a wake-up.
fn sleep_on(words: &[(&AtomicU32, u32)], nap: Duration) -> bool {
    #[cfg(not(loom))]
    if crate::sys::futex_waitv(words, Some(nap)) {
        return true;
    }
    let _ = words;
    std::thread::sleep(nap);
    false
}
