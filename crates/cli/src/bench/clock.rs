//! The clock's resolution, and quantiles of samples it rounded.
//!
//! Round trips are timed with [`Instant`], one reading per iteration. On
//! the build machine (a KVM guest) the system clock reads in steps of 10
//! ns: a round trip of 110-140 ns comes out as 110, 120, 130 or 140, so a
//! p50 taken by rank moved in steps of 7-9% and ratios of two p50s in
//! steps of up to 17%, coarser than the differences the bench is asked to
//! show. Each reading falls at a random point of its step, so a sample
//! shown as `v` stands for a true time within a step of `v`: the
//! quantiles here spread each sample over `v ± step/2` and interpolate
//! within that interval, as for grouped data. On a clock with nanosecond
//! steps they are the plain nearest-rank quantiles.

use std::sync::OnceLock;
use std::time::Instant;

/// The clock's step in nanoseconds (1 when it reads in nanoseconds),
/// measured once: readings taken a varying number of spins apart, a few
/// hundred ns at most. The step found is a whole number of ns; the true
/// one need not be (here about 10.015 ns, so longer times drift off the
/// multiples of 10, which [`step_of`]'s 1 ns tolerance absorbs).
pub fn step_ns() -> f64 {
    static STEP: OnceLock<f64> = OnceLock::new();
    *STEP.get_or_init(|| {
        let mut diffs = Vec::with_capacity(4000);
        for i in 0..4000u32 {
            let t0 = Instant::now();
            for _ in 0..(i * 7919) % 13 {
                std::hint::spin_loop();
            }
            diffs.push(t0.elapsed().as_nanos() as u64);
        }
        step_of(&diffs)
    })
}

/// The largest step of at least 4 ns that at least 95% of `diffs` (times
/// between readings, spread over many steps) are within 1 ns of a multiple
/// of; 1 if there is none (a nanosecond clock: only 3 in `q` of its
/// readings are that close to a multiple of `q`).
pub fn step_of(diffs: &[u64]) -> f64 {
    let spread = diffs.iter().max().zip(diffs.iter().min()).is_some_and(|(hi, lo)| hi - lo >= 100);
    if !spread {
        return 1.0;
    }
    (4..=100u64)
        .rev()
        .find(|&q| {
            let near = diffs.iter().filter(|&&d| matches!(d % q, 0 | 1) || d % q == q - 1).count();
            near * 100 >= diffs.len() * 95
        })
        .map_or(1.0, |q| q as f64)
}

/// The `q`-quantile of sorted `v`, its samples rounded to multiples of
/// `step` ns: nearest rank for `step <= 1`, else interpolated within the
/// step of the sample at that rank (see the module docs).
pub fn quantile(v: &[f64], q: f64, step: f64) -> f64 {
    let n = v.len();
    let rank = ((q * n as f64).ceil() as usize).clamp(1, n);
    let at = v[rank - 1];
    if step <= 1.0 {
        return at;
    }
    // The samples shown as `at` (give or take the clock's rounding of
    // ticks to nanoseconds), and those below them.
    let half = step / 2.0;
    let below = v.partition_point(|&x| x < at - half);
    let same = v.partition_point(|&x| x < at + half) - below;
    let want = q * n as f64 - below as f64;
    // Never past the samples themselves: a p99.9 above the largest would
    // read as a maximum smaller than a percentile.
    (at - half + step * (want / same as f64).clamp(0.0, 1.0)).clamp(v[0], v[n - 1])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_are_found_from_spread_readings() {
        // A clock in steps of 10 ns, a few readings 1 ns off.
        let tens: Vec<u64> = (0..1000).map(|i| 20 + (i * 37 % 400) / 10 * 10 + u64::from(i % 40 == 0)).collect();
        assert_eq!(step_of(&tens), 10.0);
        // Steps of 25 ns.
        let quarters: Vec<u64> = (0..1000).map(|i| (i * 13 % 80) * 25).collect();
        assert_eq!(step_of(&quarters), 25.0);
        // A nanosecond clock.
        let fine: Vec<u64> = (0..1000).map(|i| 20 + i * 7919 % 1000).collect();
        assert_eq!(step_of(&fine), 1.0);
        // Readings all alike tell nothing.
        assert_eq!(step_of(&[20; 100]), 1.0);
        assert_eq!(step_of(&[]), 1.0);
    }

    #[test]
    fn rounded_samples_give_the_quantiles_of_the_true_times() {
        // True round trips spread evenly over 120-130 ns, read by a clock
        // in steps of 10 ns: each rounds down or up by where its reading
        // fell in the step, in proportion.
        let mut shown = Vec::new();
        for i in 0..1000 {
            let t = 120.0 + f64::from(i) / 100.0; // 120.00 .. 129.99
            let up = f64::from(i % 100) / 100.0 > (t - 120.0) / 10.0;
            shown.push(if up { 120.0 } else { 130.0 });
        }
        shown.sort_by(f64::total_cmp);
        let by_rank = quantile(&shown, 0.5, 1.0);
        let interpolated = quantile(&shown, 0.5, 10.0);
        assert!(by_rank == 120.0 || by_rank == 130.0, "nearest rank stays on a step: {by_rank}");
        assert!((interpolated - 125.0).abs() < 1.5, "true median 125 ns, interpolated {interpolated}");
        // One level only: the middle of its step, and never past the
        // samples (a p99.9 above the largest one would read as a maximum
        // below a percentile).
        assert_eq!(quantile(&[110.0; 9], 0.5, 10.0), 110.0);
        assert_eq!(quantile(&[110.0; 9], 0.999, 10.0), 110.0);
        assert_eq!(quantile(&[100.0, 110.0, 110.0, 110.0], 0.01, 10.0), 100.0);
        // Nanosecond samples are left as they are.
        let v: Vec<f64> = (1..=1000).map(f64::from).collect();
        assert_eq!(quantile(&v, 0.5, 1.0), 500.0);
    }
}
