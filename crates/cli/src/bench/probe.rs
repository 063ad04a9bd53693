//! The machine's state of the moment: a cross-core round trip, measured
//! just before and just after each row.
//!
//! On a shared machine the time a cache line takes between the two CPUs
//! can change several-fold from one second to the next (a virtual
//! machine's CPUs moved to other cores, a neighbour's load). Every
//! two-process row moves with it, so a row measured in a slow state and its
//! reference measured in a fast one give a ratio that says nothing of
//! either. The probe — two
//! threads of this process, pinned to the measuring CPU and the peer's,
//! bouncing a counter between two cache lines — takes about a millisecond
//! and lets [`rounds`](super::rounds) leave such pairs out of the ratios.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::sys;

/// Round trips per block; the probe reports the median block.
const BLOCK: u64 = 100;
/// Blocks per probe.
const BLOCKS: usize = 15;
/// How long the probe waits for one answer before giving up (the other
/// CPU busy with something else).
const PATIENCE: Duration = Duration::from_millis(50);

/// Two probes agree when neither is more than this many times the other:
/// on the build machine they read 55-63, 85-127 or 495-585 ns, three
/// states that last seconds each.
pub const AGREE: f64 = 1.5;

/// Whether two probes (ns) were taken in the same state of the machine;
/// `true` when either is missing (nothing says otherwise).
pub fn agree(a: Option<f64>, b: Option<f64>) -> bool {
    match (a, b) {
        (Some(a), Some(b)) if a > 0.0 && b > 0.0 => within(a, b),
        _ => true,
    }
}

/// Whether neither of two positive probes is more than [`AGREE`] times the
/// other.
fn within(a: f64, b: f64) -> bool {
    a.max(b) / a.min(b) <= AGREE
}

/// The state a measurement was made in, from the probes taken just
/// before and just after it: their mean if they agree, `None` if either
/// is missing or the machine changed state meanwhile (a full run's rows
/// take over a second, and states here last seconds).
pub fn held(before: Option<f64>, after: Option<f64>) -> Option<f64> {
    let (a, b) = (before?, after?);
    (a > 0.0 && b > 0.0 && within(a, b)).then_some((a + b) / 2.0)
}

#[repr(align(128))]
struct Line(AtomicU64);

/// The median time (ns) of a round trip of a cache line between the
/// calling thread (pinned to the measuring CPU) and a thread pinned to
/// `peer_cpu`; `None` if the other thread cannot be pinned or does not
/// answer in time.
pub fn cross_core_ns(peer_cpu: usize) -> Option<f64> {
    let (ping, pong) = (Line(AtomicU64::new(0)), Line(AtomicU64::new(0)));
    let stop = AtomicBool::new(false);
    let total = BLOCK * BLOCKS as u64;
    std::thread::scope(|scope| {
        let spawned = std::thread::Builder::new().name("probe".into()).spawn_scoped(scope, || {
            if sys::pin_to_cpu(peer_cpu).is_err() {
                // Tells the measuring side at once (it would wait
                // `PATIENCE` for an answer).
                pong.0.store(u64::MAX, Ordering::Release);
                return false;
            }
            let mut seen = 0;
            while seen < total {
                let v = ping.0.load(Ordering::Acquire);
                if v == seen {
                    if stop.load(Ordering::Relaxed) {
                        return false;
                    }
                    std::hint::spin_loop();
                    continue;
                }
                seen = v;
                pong.0.store(v, Ordering::Release);
            }
            true
        });
        // No thread (the process at its limit): no probe.
        let Ok(echo) = spawned else { return None };
        let mut blocks = Vec::with_capacity(BLOCKS);
        let mut n = 0;
        'probe: for _ in 0..BLOCKS {
            let start = Instant::now();
            for _ in 0..BLOCK {
                n += 1;
                ping.0.store(n, Ordering::Release);
                let asked = Instant::now();
                let mut polls = 0u32;
                loop {
                    match pong.0.load(Ordering::Acquire) {
                        v if v == n => break,
                        u64::MAX => break 'probe,
                        _ => std::hint::spin_loop(),
                    }
                    polls = polls.wrapping_add(1);
                    if polls.is_multiple_of(1024) && asked.elapsed() > PATIENCE {
                        break 'probe;
                    }
                }
            }
            blocks.push(start.elapsed().as_secs_f64() * 1e9 / BLOCK as f64);
        }
        stop.store(true, Ordering::Relaxed);
        let answered = echo.join().unwrap_or(false);
        if !answered || blocks.len() < BLOCKS {
            return None;
        }
        blocks.sort_by(f64::total_cmp);
        Some(blocks[BLOCKS / 2])
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probes_agree_within_the_factor_or_when_one_is_missing() {
        assert!(agree(Some(100.0), Some(140.0)));
        assert!(agree(Some(140.0), Some(100.0)));
        assert!(!agree(Some(100.0), Some(500.0)));
        assert!(!agree(Some(500.0), Some(100.0)));
        assert!(agree(None, Some(500.0)) && agree(Some(100.0), None) && agree(None, None));
    }

    #[test]
    fn a_state_held_through_a_measurement_is_the_probes_mean() {
        assert_eq!(held(Some(100.0), Some(120.0)), Some(110.0));
        assert_eq!(held(Some(100.0), Some(520.0)), None);
        assert_eq!(held(None, Some(100.0)), None);
        assert_eq!(held(Some(100.0), None), None);
    }

    #[test]
    fn a_cpu_that_cannot_be_had_gives_no_probe() {
        // Beyond any CPU set: pinning the echo thread fails, and the probe
        // says so rather than timing a thread that runs anywhere.
        assert_eq!(cross_core_ns(1 << 20), None);
    }

    #[test]
    fn a_probe_between_two_cpus_gives_a_time() {
        let cpus = sys::allowed_cpus().unwrap_or_default();
        if cpus.len() < 2 {
            // One CPU: the echo thread would share it; nothing to probe.
            return;
        }
        // A watchdog: the probe gives up on its own, a hang fails here. Other
        // tests may hold the CPUs for a moment: one of three tries must give
        // a time.
        let (tx, rx) = std::sync::mpsc::channel();
        let (here, peer) = (cpus[0], cpus[1]);
        std::thread::spawn(move || {
            let _ = sys::pin_to_cpu(here);
            let _ = tx.send((0..3).find_map(|_| cross_core_ns(peer)));
        });
        let ns = rx.recv_timeout(Duration::from_secs(30)).expect("the probe hung").expect("the other CPU answers");
        assert!(ns.is_finite() && ns > 0.0, "{ns}");
    }
}
