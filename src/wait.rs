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
const SPIN_CHECK_EVERY: u32 = 64;

/// Bounded exponential spinning before a sleep.
///
/// `spin` returns `false` when the caller should make its slow checks (the
/// deadline, whether a peer died) and then sleep. A `Spin` waiter never
/// sleeps, but it still stops every [`SPIN_CHECK_EVERY`] calls so that its
/// caller checks; [`SpinWait::parks`] tells the caller not to sleep then.
pub(crate) struct SpinWait {
    round: u32,
    limit: u32,
    forever: bool,
}

impl SpinWait {
    /// A spinner for `strategy`; `Park`, and `Adaptive` on one CPU, never spin.
    pub fn new(strategy: WaitStrategy) -> SpinWait {
        let (limit, forever) = match strategy {
            WaitStrategy::Park => (0, false),
            WaitStrategy::Adaptive if !multi_cpu() => (0, false),
            WaitStrategy::Adaptive => (10, false),
            WaitStrategy::Spin => (SPIN_CHECK_EVERY, true),
        };
        SpinWait { round: 0, limit, forever }
    }

    /// Spins a little longer each call; `false` once the budget is spent
    /// (for `Spin`: once per check period). Past the busy rounds it yields,
    /// so a spinner sharing a CPU with its peer lets the peer run; a `Spin`
    /// waiter with a CPU to itself keeps busy-spinning.
    pub fn spin(&mut self) -> bool {
        if self.round >= self.limit {
            if self.forever {
                self.round = 0;
            }
            return false;
        }
        self.round += 1;
        if multi_cpu() && (self.forever || self.round <= 7) {
            for _ in 0..(1u32 << self.round.min(6)) {
                spin_loop();
            }
        } else {
            std::thread::yield_now();
        }
        true
    }

    /// Whether the caller should sleep once `spin` returns `false` (after its
    /// checks). `false` for `Spin`: it checks, then spins on.
    pub fn parks(&self) -> bool {
        !self.forever
    }
}
