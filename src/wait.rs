//! How a blocked call waits: spin, then sleep on a futex.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use crate::primitive::spin_loop;
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

/// Spinning before a sleep: polls often (a PAUSE or two between polls, or a
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
}

impl SpinWait {
    /// A spinner for `strategy`; `Park`, and `Adaptive` on one CPU, never spin.
    pub fn new(strategy: WaitStrategy) -> SpinWait {
        let mode = match strategy {
            WaitStrategy::Park => SpinMode::None,
            WaitStrategy::Adaptive if !multi_cpu() => SpinMode::None,
            WaitStrategy::Adaptive => SpinMode::Budget,
            WaitStrategy::Spin => SpinMode::Forever,
        };
        SpinWait { mode, calls: 0, started: None }
    }

    /// Waits a moment; `false` once the budget is spent (for `Spin`: once
    /// per check period). A spinner that must share its CPU yields instead
    /// of pausing, so its peer can run.
    pub fn spin(&mut self) -> bool {
        self.calls = self.calls.wrapping_add(1);
        match self.mode {
            SpinMode::None => return false,
            SpinMode::Forever if self.calls % SPIN_CHECK_EVERY == 0 => return false,
            SpinMode::Forever => {}
            SpinMode::Budget => {
                if self.calls % CLOCK_EVERY == 0 {
                    let now = Instant::now();
                    if now.duration_since(*self.started.get_or_insert(now)) >= ADAPTIVE_BUDGET {
                        self.mode = SpinMode::None;
                        return false;
                    }
                }
            }
        }
        if multi_cpu() && self.calls % YIELD_EVERY != 0 {
            spin_loop();
            spin_loop();
        } else {
            std::thread::yield_now();
        }
        true
    }

    /// Whether the caller should sleep once `spin` returns `false` (after its
    /// checks). `false` for `Spin`: it checks, then spins on.
    pub fn parks(&self) -> bool {
        self.mode != SpinMode::Forever
    }
}
