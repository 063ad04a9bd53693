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

/// Bounded exponential spinning before a sleep.
pub(crate) struct SpinWait {
    round: u32,
    limit: u32,
}

impl SpinWait {
    /// A spinner for `strategy`; `Park`, and `Adaptive` on one CPU, never spin.
    pub fn new(strategy: WaitStrategy) -> SpinWait {
        let limit = match strategy {
            WaitStrategy::Park => 0,
            WaitStrategy::Adaptive if !multi_cpu() => 0,
            WaitStrategy::Adaptive => 10,
            WaitStrategy::Spin => u32::MAX,
        };
        SpinWait { round: 0, limit }
    }

    /// Spins a little longer each call; `false` once the budget is spent.
    /// Past the busy rounds it yields, so a spinner sharing a CPU with its
    /// peer lets the peer run.
    pub fn spin(&mut self) -> bool {
        if self.round >= self.limit {
            return false;
        }
        self.round += 1;
        if self.round <= 7 && multi_cpu() {
            for _ in 0..(1u32 << self.round) {
                spin_loop();
            }
        } else {
            std::thread::yield_now();
        }
        true
    }
}
