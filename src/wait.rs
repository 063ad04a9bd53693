//! The parking layer: how a blocked call waits — spin, look after the
//! other side, then sleep on a futex without losing a wake-up.
//!
//! Every blocking slow path of the synchronization primitives goes through
//! one [`Waiter`] (spin budget, deadline, nap schedule) and one of its two
//! helpers; a primitive only states its own condition, in one closure that
//! is handed a [`Turn`] and answers a [`Step`].
//!
//! # The lost-wake-up protocol
//!
//! One wait, in the order a [`Waiter`] runs it:
//!
//! | step     | the waiter                                              | why                                                   |
//! |----------|---------------------------------------------------------|-------------------------------------------------------|
//! | look     | [`Turn::Look`]: is the condition met? (take the lock, the permit, the message) | the fast answer; after every spin and every sleep |
//! | spin     | [`SpinWait::spin`] while the budget of the strategy lasts | a peer that answers within microseconds costs no syscall |
//! | check    | [`Turn::Stuck`], the *liveness hook*: is whoever we wait for alive? (take a dead holder's lock over, free a dead peer's slot, break a barrier) | a process may die at any moment; asked only before a sleep, as it may cost a syscall |
//! | deadline | [`Naps`] + [`Deadline`]: the nap, or give up ([`Expired`]) | `Deadline::Now` never spins and never sleeps      |
//! | announce | set the word's parked bit (helper a), or count ourselves as a sleeper (helper b) | so the waker knows a wake syscall is needed |
//! | barrier  | (b) the [`Handshake`] between announce and re-check      | either the waker sees us announced, or we see its store |
//! | re-check | (b) [`Turn::Announced`] with the futex word read then     | the condition may have come between look and announce |
//! | sleep    | `futex_wait(word, expected, nap)`                        | the kernel compares `word` with `expected` atomically with the waker's wake |
//! | withdraw | (b) uncount ourselves; grow the nap                       | wakes are only ever extra, never missing |
//!
//! The waker's side: change the state (release the lock, add permits,
//! publish), then wake only if someone is announced (a) the swap/CAS that
//! changed the word saw the parked bit set, or (b) after its half of the
//! handshake it reads a non-zero sleeper count (and, for a sequence word,
//! bumps it first).
//!
//! Sleeps are *naps*: bounded, so that a waiter notices on its next look a
//! holder that died holding, or a waker that died between its store and its
//! wake. [`Naps::polling`] (1 ms doubling to 16 ms) is for waits that poll
//! liveness; [`Naps::backstop`] a fixed bound for waits that cannot (event,
//! condvar: 200 ms; semaphore: 1 s); [`Naps::unbounded`] sleeps as long as it
//! takes. Under loom a backstop is unbounded, so that a lost wake-up shows
//! up as a deadlock of the model instead of a poll that hides it.
//!
//! # Helper (a): the parked bit — [`Waiter::park_bit`]
//!
//! The state word itself has a `PARKED` bit (mutex, rwlock writer word,
//! event, barrier). The waiter sets it by CAS on the exact value `cur` it
//! looked at, then sleeps while the word is `cur | PARKED`; every waker
//! changes the word by an RMW and wakes if the old value had `PARKED`. The
//! two are ordered by the word's modification order alone, so no fence is
//! needed: either the waker's RMW comes first (our CAS or the futex compare
//! fails and we look again) or it sees `PARKED`. The closure gets the word
//! on every turn. A waker that clears `PARKED` but wakes only one (the
//! mutex) leaves other sleepers to the one it woke: that one sets `PARKED`
//! again when it takes the lock (`Turn::Look { slept: true }`) and passes
//! the wake on if it gives up ([`Expired::slept`]).
//!
//! # Helper (b): sleeper count and sequence — [`Waiter::sleep_counted`]
//!
//! The futex word ([`Sleepers::word`]) is one every waker changes before it
//! wakes (a sequence it bumps, or the semaphore's count itself); who may
//! sleep is announced apart from it ([`Announce`]): a count of sleepers, a
//! flag of a single sleeper, or an announcement the caller made itself (the
//! condvar, under its mutex). After announcing, the waiter makes its half
//! of the [`Handshake`], reads the futex word, re-checks the condition
//! ([`Turn::Announced`]) and sleeps on the value it read. The waker
//! publishes, makes its half of the handshake, reads the sleeper count and
//! only then bumps and wakes: of two store-then-load sequences, one sees the
//! other's store.
//!
//! # How the queues map onto helper (b)
//!
//! The queues wait through helper (b) as well: `queue/waits.rs`
//! `wait_for` (the single-producer typed and byte rings),
//! `queue/mpmc.rs` `Sender::put_slow` and `Receiver::recv_slow`, and
//! `queue/typed.rs` `Shared::join_until`. Their send and receive fast
//! paths make one attempt before they build a [`Waiter`], which they hand
//! that attempt's outcome.
//!
//! | queue wait | [`Sleepers`] | `Turn::Look` | `Turn::Stuck` (liveness hook) | `Turn::Announced(_)` |
//! |---|---|---|---|---|
//! | `waits::wait_for` (single-producer typed and byte rings) | `word: seq_word`, `Announce::Count(sleepers, Handshake::Asym)` | `ready()` → `Done(Waited::Ready)` | `peer_gone()` → `Done(if ready() { Ready } else { PeerGone })` | `ready()` → `Done(Waited::Ready)` |
//! | `mpmc::Sender::put_slow` | `word: &w.space_seq`, `Announce::Count(&w.send_sleepers, Handshake::Fence)` | `try_put`: `Done` → `Done(Ok(()))`, `Reading(t, pos)` → remember it; a poll (`Deadline::Now`) that is full, or meets a reader it already waited for in vain, answers now (`Timeout`; the liveness checks when `peer.due()`), else `Wait` (a poll that met a reader waits for it until `IN_FLIGHT_WAIT`) | remembered reader dead → `free_dead_reader` (notify senders if freed), `Retry`; `receivers_gone(true)` → `Done(Err(Disconnected))` | `try_put`: `Done` → `Done(Ok(()))` |
//! | `mpmc::Receiver::recv_slow` | `word: &w.items_seq`, `Announce::Count(&w.recv_sleepers, Handshake::Fence)` | `take`: `Got(v)` → `Done(Ok(v))`, `InFlight(t, pos)` → remember it; a poll that is empty, or meets a claim it already waited for in vain, answers now (`Timeout` or `Disconnected`; the liveness checks when `peer.due()`), else `Wait` (a poll that met a claim waits for it until `IN_FLIGHT_WAIT`) | remembered writer dead → `skip_dead_writer`, `Retry`; none and `senders_gone()` → `Done(take or Disconnected)` | `take`: `Got(v)` → `Done(Ok(v))` |
//! | `Shared::join_until` | `word: &w.done_seq`, `Announce::Count(&w.join_sleepers, Handshake::Fence)`, strategy `Park` | `unfinished == 0` → `Done(())` | `Wait` | `unfinished == 0` (`SeqCst`) → `Done(())` |
//!
//! "Remember" is a local `Option<Token>` the closure sets on `Look` and
//! reads on `Stuck`. A sender that put its message calls
//! `notify_receivers(false)` once the helper returned `Ok(Ok(()))`. All use
//! [`Naps::polling`]; `Err(Expired)` is the timeout. The wakers
//! (`notify_receivers`, `notify_senders`, `wake`, `finish_one`) are the
//! waker's side described above. Compared with the loops they replaced:
//! the deadline is looked at before announcing rather than after the
//! re-check (a `try_` that fails costs no RMW on the sleeper count), the
//! sleeper count is withdrawn with `Relaxed` (see `Sleepers::withdraw`),
//! and the nap grows only after a sleep. The `asym::cold` failure case
//! (short naps) is [`Handshake::Asym`]'s.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use crate::primitive::{AtomicU32, Ordering, asym, fence, futex_wait, model_fence, spin_loop};
use crate::sys;

/// How a handle waits when it must block.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum WaitStrategy {
    /// Only spin (yielding the CPU when it has to share one): lowest latency,
    /// burns a core while waiting.
    Spin,
    /// Spin briefly, then sleep in the kernel. The default. On a machine with
    /// one CPU it never spins: the peer could not run meanwhile.
    #[default]
    Adaptive,
    /// Sleep at once.
    Park,
}

/// Whether a wait with `strategy` spins before it sleeps.
pub(crate) fn spins(strategy: WaitStrategy) -> bool {
    match strategy {
        WaitStrategy::Spin => true,
        WaitStrategy::Adaptive => multi_cpu(),
        WaitStrategy::Park => false,
    }
}

/// Whether this process can run on more than one CPU (cached: asking the
/// kernel costs a syscall and a cgroup read).
pub(crate) fn multi_cpu() -> bool {
    static MULTI: OnceLock<bool> = OnceLock::new();
    *MULTI.get_or_init(|| sys::cpu_count() > 1)
}

/// When a blocking call gives up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Deadline {
    /// Do not block at all.
    Now,
    /// Block until this instant.
    At(Instant),
    /// Block as long as it takes.
    Never,
}

impl Deadline {
    /// `Now + timeout`; a timeout too large to represent waits forever.
    pub fn after(timeout: Duration) -> Deadline {
        Instant::now().checked_add(timeout).map_or(Deadline::Never, Deadline::At)
    }

    /// How long to sleep: at most `cap`, and never past the deadline.
    /// `None` when the deadline has passed.
    pub fn sleep_for(self, cap: Duration) -> Option<Duration> {
        match self {
            Deadline::Now => None,
            Deadline::Never => Some(cap),
            Deadline::At(at) => at.checked_duration_since(Instant::now()).filter(|d| !d.is_zero()).map(|d| d.min(cap)),
        }
    }
}

/// Calls to [`SpinWait::spin`] between two of a `Spin` waiter's checks.
const SPIN_CHECK_EVERY: u32 = 1024;
/// How long an `Adaptive` waiter spins before it sleeps. On the machines this
/// was tuned on, 2 µs was too short (a peer that answers within tens of
/// microseconds then costs a sleep and a wake-up); 50 µs keeps the p99 round
/// trip near the spinning one.
const ADAPTIVE_BUDGET: Duration = Duration::from_micros(50);
/// Calls between two clock reads of an `Adaptive` spinner.
const CLOCK_EVERY: u32 = 64;
/// Calls between two yields of the CPU by a spinner on a machine with
/// several CPUs (a few microseconds): if the peer it waits for runs on the
/// same CPU (both pinned there, or an oversubscribed machine), the peer gets
/// the CPU within that time instead of after a whole time slice; if not,
/// the yield costs a fraction of a microsecond once the wait is long anyway.
const YIELD_EVERY: u32 = 64;

#[derive(Clone, Copy, PartialEq, Eq)]
enum SpinMode {
    /// Do not spin: sleep at once.
    None,
    /// Spin until the budget is spent, then sleep.
    Budget,
    /// Spin for ever, stopping now and then for the caller's checks.
    Forever,
}

/// Spinning before a sleep: polls often (one PAUSE between polls, or a
/// yield when the CPU must be shared), for a bounded time.
///
/// `spin` returns `false` when the caller should make its slow checks (the
/// deadline, whether a peer died) and then sleep. A `Spin` waiter never
/// sleeps, but it still stops every [`SPIN_CHECK_EVERY`] calls so that its
/// caller checks; [`SpinWait::parks`] tells the caller not to sleep then.
pub(crate) struct SpinWait {
    mode: SpinMode,
    calls: u32,
    started: Option<Instant>,
    /// Stop spinning for good once this instant has passed (see
    /// [`SpinWait::until`]).
    until: Option<Instant>,
}

impl SpinWait {
    /// A spinner for `strategy`; `Park`, and `Adaptive` on one CPU, never spin.
    #[inline]
    pub fn new(strategy: WaitStrategy) -> SpinWait {
        let mode = match strategy {
            _ if !spins(strategy) => SpinMode::None,
            WaitStrategy::Spin => SpinMode::Forever,
            _ => SpinMode::Budget,
        };
        SpinWait { mode, calls: 0, started: None, until: None }
    }

    /// Also stops spinning (for good) once `deadline` has passed, looked at
    /// every [`CLOCK_EVERY`] calls, so that a timed wait does not spin past
    /// its deadline by a whole budget or check period.
    #[inline]
    pub fn until(mut self, deadline: Deadline) -> SpinWait {
        if let Deadline::At(at) = deadline {
            self.until = Some(at);
        }
        self
    }

    /// Whether `now` is past the deadline given to [`SpinWait::until`].
    #[inline]
    fn late(&self, now: Instant) -> bool {
        self.until.is_some_and(|at| now >= at)
    }

    /// Waits a moment; `false` once the budget is spent (for `Spin`: once
    /// per check period). A spinner that must share its CPU yields instead
    /// of pausing, so its peer can run.
    #[inline]
    pub fn spin(&mut self) -> bool {
        self.calls = self.calls.wrapping_add(1);
        match self.mode {
            SpinMode::None => return false,
            SpinMode::Forever if self.calls % SPIN_CHECK_EVERY == 0 => return false,
            SpinMode::Forever => {
                if self.calls % CLOCK_EVERY == 0 && self.until.is_some() && self.late(Instant::now()) {
                    self.mode = SpinMode::None;
                    return false;
                }
            }
            SpinMode::Budget => {
                if self.calls % CLOCK_EVERY == 0 {
                    let now = Instant::now();
                    if now.duration_since(*self.started.get_or_insert(now)) >= ADAPTIVE_BUDGET || self.late(now) {
                        self.mode = SpinMode::None;
                        return false;
                    }
                }
            }
        }
        if multi_cpu() && self.calls % YIELD_EVERY != 0 {
            spin_loop();
        } else {
            std::thread::yield_now();
        }
        true
    }

    /// Whether the caller should sleep once `spin` returns `false` (after its
    /// checks). `false` for `Spin`: it checks, then spins on.
    #[inline]
    pub fn parks(&self) -> bool {
        self.mode != SpinMode::Forever
    }
}

/// Shortest sleep of a wait that polls liveness.
pub(crate) const POLL_MIN: Duration = Duration::from_millis(1);
/// Longest sleep of a wait that polls liveness: a holder or peer that dies
/// while we sleep is noticed within this.
pub(crate) const POLL_MAX: Duration = Duration::from_millis(16);
/// Longest sleep of a wait that cannot poll its waker's liveness (event,
/// condvar): a waker that died between its store and its wake delays the
/// sleepers by this much at worst.
pub(crate) const BACKSTOP: Duration = Duration::from_millis(200);

/// How long each sleep of one wait may last: the nap schedule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Naps {
    /// The next nap; `Duration::MAX` is unbounded.
    next: Duration,
    max: Duration,
}

impl Naps {
    /// [`POLL_MIN`], doubling after each sleep up to [`POLL_MAX`]: for waits
    /// whose liveness hook polls whoever they wait for.
    pub(crate) const fn polling() -> Naps {
        Naps { next: POLL_MIN, max: POLL_MAX }
    }

    /// At most `max` every time: for waits that cannot poll liveness, so
    /// that a waker that died before its wake (or a corrupted count) costs
    /// latency, never a hang. Unbounded under loom, where no waker dies, so
    /// that a lost wake-up deadlocks the model.
    pub(crate) const fn backstop(max: Duration) -> Naps {
        #[cfg(loom)]
        let _ = max;
        #[cfg(loom)]
        return Naps::unbounded();
        #[cfg(not(loom))]
        Naps { next: max, max }
    }

    /// As long as it takes (up to the deadline): loom models of waits that
    /// otherwise poll.
    pub(crate) const fn unbounded() -> Naps {
        Naps { next: Duration::MAX, max: Duration::MAX }
    }

    /// The next nap: `Some(None)` sleeps without limit, `None` means the
    /// deadline has passed (or was `Now`).
    pub(crate) fn next(&self, deadline: Deadline) -> Option<Option<Duration>> {
        if deadline == Deadline::Never && self.next == Duration::MAX {
            return Some(None);
        }
        deadline.sleep_for(self.next).map(Some)
    }

    pub(crate) fn grow(&mut self) {
        self.next = self.next.saturating_mul(2).min(self.max);
    }
}

/// What a [`Waiter`] asks the primitive's closure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Turn {
    /// A look at the state: at the start, after every spin and every sleep.
    /// `slept`: this wait has slept on the futex at least once, so the
    /// wake-up it consumed may have been meant for others too.
    Look { slept: bool },
    /// The spin is spent and a sleep comes next: the liveness hook. Ask
    /// whether whoever we wait for is alive (this may cost a syscall) and
    /// clean up after it if not.
    Stuck,
    /// ([`Waiter::sleep_counted`] only.) Announced, past the handshake; the
    /// futex word read then, which the sleep will expect. Re-check the
    /// condition.
    Announced(u32),
}

/// The closure's answer to a [`Turn`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Step<R> {
    /// The wait is over with this result.
    Done(R),
    /// The state moved under us (a CAS lost, a dead party was cleaned up):
    /// look again at once, without spinning (after withdrawing, if
    /// announced).
    Retry,
    /// Not yet: go on to spin, check, or sleep.
    Wait,
}

/// A wait gave up: its deadline passed (or was `Now`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Expired {
    /// [`Waiter::park_bit`]: the word as last seen (0 for
    /// [`Waiter::sleep_counted`]).
    pub word: u32,
    /// This wait slept at least once: it may have consumed a wake-up meant
    /// for the next sleeper, and should pass it on if its waker wakes one.
    pub slept: bool,
}

/// The store-then-load handshake between a sleeper (announce, then
/// re-check) and its waker (publish, then read the announcement).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Handshake {
    /// Both sides' accesses are `SeqCst` (the announce and the waker's
    /// publishing RMW, and both loads), which the C++ model orders totally:
    /// no fence on real hardware; [`model_fence`] for loom, which treats
    /// `SeqCst` accesses as `AcqRel`.
    SeqCst,
    /// A `SeqCst` fence on both sides.
    Fence,
    /// [`asym::cold`] here and [`asym::hot`] at the waker: the sleeper pays
    /// for both. If it cannot, naps are kept short ([`POLL_MIN`]).
    Asym,
}

impl Handshake {
    /// The sleeper's half; `false` if the waker may have skipped its fence.
    pub(crate) fn cold(self) -> bool {
        match self {
            Handshake::SeqCst => {
                model_fence();
                true
            }
            Handshake::Fence => {
                fence(Ordering::SeqCst);
                true
            }
            Handshake::Asym => asym::cold(),
        }
    }
}

/// How a sleeper of [`Waiter::sleep_counted`] announces itself.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Announce<'a> {
    /// Add one to this sleeper count before the handshake, take it off
    /// after the sleep. The futex word is read after the handshake.
    Count(&'a AtomicU32, Handshake),
    /// Raise the futex word itself to 1 (`SeqCst`) before the handshake: a
    /// single sleeper at a time, whose waker lowers it to 0 and wakes. Sleeps
    /// while it is 1; lowered again only if the re-check ends the wait.
    Flag(Handshake),
    /// The caller announced itself before the wait and read this futex
    /// value then (the condvar, under its mutex); sleeps while the word
    /// holds it.
    Caller(u32),
}

/// Where a [`Waiter::sleep_counted`] sleeper sleeps.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Sleepers<'a> {
    /// The futex word: every waker changes it before waking.
    pub word: &'a AtomicU32,
    pub announce: Announce<'a>,
}

impl Sleepers<'_> {
    /// Announces; returns the value the sleep expects in the word.
    fn announce(&self, waiter: &mut Waiter, nap: &mut Option<Duration>) -> u32 {
        let (handshake, expected) = match self.announce {
            Announce::Count(count, handshake) => {
                // SeqCst: the sleeper's store of the handshake.
                count.fetch_add(1, Ordering::SeqCst);
                (handshake, None)
            }
            Announce::Flag(handshake) => {
                // SeqCst: as above.
                self.word.store(1, Ordering::SeqCst);
                (handshake, Some(1))
            }
            Announce::Caller(seen) => return seen,
        };
        if !handshake.cold() {
            *nap = Some(nap.map_or(POLL_MIN, |n| n.min(POLL_MIN)));
            waiter.naps.next = waiter.naps.next.min(POLL_MIN);
        }
        // SeqCst: the sleeper's load of the handshake.
        expected.unwrap_or_else(|| self.word.load(Ordering::SeqCst))
    }

    /// Takes the announcement back; `slept`: after the sleep rather than
    /// instead of it.
    fn withdraw(&self, slept: bool) {
        match self.announce {
            // Relaxed: the count is only a hint to wakers. Every value in
            // its modification order between our increment and this
            // decrement includes our one, whatever the ordering, so a waker
            // can read "nobody" only once we stopped waiting.
            Announce::Count(count, _) => drop(count.fetch_sub(1, Ordering::Relaxed)),
            // Relaxed: a stale 1 only costs a waker a swap and a wake.
            Announce::Flag(_) if !slept => self.word.store(0, Ordering::Relaxed),
            // After a sleep the waker has lowered the flag, or it stays up
            // for the next one (a needless wake at worst).
            Announce::Flag(_) | Announce::Caller(_) => {}
        }
    }
}

/// One blocking wait: its spin budget, deadline and nap schedule, and the
/// two ways to sleep (see the module docs). Keep one `Waiter` for the whole
/// of a call, even across several sleeps on different words, so the spin
/// budget and the naps carry over.
pub(crate) struct Waiter {
    spin: SpinWait,
    naps: Naps,
    deadline: Deadline,
    slept: bool,
}

impl Waiter {
    /// A wait until `deadline`, spinning as `strategy` allows (not at all
    /// for `Deadline::Now`), sleeping in `naps`.
    #[inline]
    pub(crate) fn new(deadline: Deadline, strategy: WaitStrategy, naps: Naps) -> Waiter {
        let strategy = if deadline == Deadline::Now { WaitStrategy::Park } else { strategy };
        Waiter { spin: SpinWait::new(strategy).until(deadline), naps, deadline, slept: false }
    }

    /// After a look that said `Wait`: spin, or go on to the liveness hook.
    #[inline]
    fn after_look(&mut self) -> Turn {
        if self.spin.spin() { Turn::Look { slept: self.slept } } else { Turn::Stuck }
    }

    /// After a liveness hook that said `Wait`: the nap to sleep (`Ok(None)`
    /// for a `Spin` waiter, which has made its checks and spins on), or
    /// `Err` once the deadline has passed.
    #[inline]
    fn after_stuck(&mut self) -> Result<Option<Option<Duration>>, ()> {
        let nap = self.naps.next(self.deadline).ok_or(())?;
        Ok(self.spin.parks().then_some(nap))
    }

    /// Helper (a), the parked-bit idiom: waits on `word`, whose bit `bit`
    /// means "someone may sleep here; the waker must wake". Each turn loads
    /// the word with `load` and hands it to `turn` with a
    /// [`Turn::Look`] or [`Turn::Stuck`]. To sleep, sets `bit` by CAS on the
    /// value seen and sleeps while the word is that value with `bit`.
    ///
    /// `turn` is called from one place only, so that it can be inlined into
    /// the spin loop (the loop is a small state machine over [`Turn`]); the
    /// helper itself always inlines into its caller's slow path, so that
    /// the whole wait is one function.
    #[inline(always)]
    pub(crate) fn park_bit<R>(
        &mut self,
        word: &AtomicU32,
        bit: u32,
        load: Ordering,
        mut turn: impl FnMut(Turn, u32) -> Step<R>,
    ) -> Result<R, Expired> {
        let mut next = Turn::Look { slept: self.slept };
        let mut cur = word.load(load);
        loop {
            next = match (next, turn(next, cur)) {
                (_, Step::Done(r)) => return Ok(r),
                (Turn::Look { .. }, Step::Wait) => self.after_look(),
                (Turn::Stuck, Step::Wait) => {
                    match self.after_stuck() {
                        Err(()) => return Err(Expired { word: cur, slept: self.slept }),
                        Ok(None) => {}
                        // Relaxed: the bit only has to be in the word before
                        // we sleep; the futex compares it atomically with the
                        // waker's RMW, which is ordered with this CAS by the
                        // word's modification order.
                        Ok(Some(nap)) => {
                            if cur & bit != 0
                                || word
                                    .compare_exchange_weak(cur, cur | bit, Ordering::Relaxed, Ordering::Relaxed)
                                    .is_ok()
                            {
                                futex_wait(word, cur | bit, nap);
                                self.slept = true;
                                self.naps.grow();
                            }
                        }
                    }
                    Turn::Look { slept: self.slept }
                }
                // `Retry`, or a turn this helper never gives.
                _ => Turn::Look { slept: self.slept },
            };
            if let Turn::Look { .. } = next {
                cur = word.load(load);
            }
        }
    }

    /// Helper (b), the sleeper-count + sequence idiom: `turn` gets a
    /// [`Turn::Look`] (and answers without syscalls), [`Turn::Stuck`]
    /// before a sleep, and [`Turn::Announced`] after announcing and the
    /// handshake; on `Wait` there, sleeps on `sleepers.word` while it holds
    /// the value handed over, then withdraws. `Done` or `Retry` there
    /// withdraw first. The deadline is looked at before announcing: a wait
    /// that cannot sleep does not announce itself.
    ///
    /// `turn` is called from one place only, as in [`Waiter::park_bit`].
    #[inline(always)]
    pub(crate) fn sleep_counted<R>(
        &mut self,
        sleepers: &Sleepers<'_>,
        mut turn: impl FnMut(Turn) -> Step<R>,
    ) -> Result<R, Expired> {
        let mut next = Turn::Look { slept: self.slept };
        let mut nap = None;
        loop {
            next = match (next, turn(next)) {
                (Turn::Announced(_), Step::Done(r)) => {
                    sleepers.withdraw(false);
                    return Ok(r);
                }
                (_, Step::Done(r)) => return Ok(r),
                (Turn::Look { .. }, Step::Wait) => self.after_look(),
                (Turn::Stuck, Step::Wait) => match self.after_stuck() {
                    Err(()) => return Err(Expired { word: 0, slept: self.slept }),
                    Ok(None) => Turn::Look { slept: self.slept },
                    Ok(Some(n)) => {
                        nap = n;
                        Turn::Announced(sleepers.announce(self, &mut nap))
                    }
                },
                (Turn::Announced(expected), step) => {
                    if let Step::Wait = step {
                        futex_wait(sleepers.word, expected, nap);
                        sleepers.withdraw(true);
                        self.slept = true;
                        self.naps.grow();
                    } else {
                        sleepers.withdraw(false);
                    }
                    Turn::Look { slept: self.slept }
                }
                (_, Step::Retry) => Turn::Look { slept: self.slept },
            };
        }
    }

    /// Sleeps one nap with no futex (nobody will wake us: the rwlock reader
    /// whose hold count is full), then grows the nap. `Err` once the
    /// deadline has passed.
    pub(crate) fn doze(&mut self) -> Result<(), Expired> {
        let nap = self.naps.next(self.deadline).ok_or(Expired { word: 0, slept: self.slept })?;
        std::thread::sleep(nap.unwrap_or(POLL_MAX));
        self.naps.grow();
        Ok(())
    }
}
