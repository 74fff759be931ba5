//! Percentiles and the DORA performance levels.

use serde::{Deserialize, Serialize};

/// Linear interpolation between closest ranks (the median of 1, 2, 3, 10 is
/// 2.5). `sorted` must be in ascending order.
pub fn percentile(sorted: &[f64], p: f64) -> Option<f64> {
    let last = sorted.len().checked_sub(1)?;
    let rank = p.clamp(0.0, 1.0) * last as f64;
    let (lo, hi) = (rank.floor() as usize, rank.ceil() as usize);
    Some(sorted[lo] + (rank - lo as f64) * (sorted[hi] - sorted[lo]))
}

/// Several percentiles of unsorted `values` (which it reorders), each as
/// [`percentile`] gives it on the sorted values, in ascending `ps` order.
///
/// Sorting a year's 1.7 million changes took longer than reading them; a
/// selection per rank is O(n) each: `select_nth_unstable` puts the lower rank
/// in place, and the next value up is the smallest of the part after it.
pub fn percentiles<const N: usize>(values: &mut [f64], ps: [f64; N]) -> [Option<f64>; N] {
    let mut out = [None; N];
    let Some(last) = values.len().checked_sub(1) else { return out };
    // Each selection only needs the part at or after the previous rank.
    let mut start = 0;
    for (slot, p) in out.iter_mut().zip(ps) {
        let rank = p.clamp(0.0, 1.0) * last as f64;
        let (lo, hi) = (rank.floor() as usize, rank.ceil() as usize);
        let lo = lo.max(start);
        let (_, &mut low, rest) = values[start..].select_nth_unstable_by(lo - start, f64::total_cmp);
        let high = if hi > lo { rest.iter().copied().min_by(f64::total_cmp).unwrap_or(low) } else { low };
        *slot = Some(low + (rank - lo as f64) * (high - low));
        start = lo;
    }
    out
}

/// DORA performance levels, best first: `max()` of several is the worst.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    Elite,
    High,
    Medium,
    Low,
}

const HOUR: f64 = 3600.0;
const DAY: f64 = 24.0 * HOUR;

/// Elite: at least daily; high: at least weekly; medium: at least once per 30 days.
pub fn deployment_frequency_level(per_day: f64) -> Level {
    if per_day >= 1.0 {
        Level::Elite
    } else if per_day * 7.0 >= 1.0 {
        Level::High
    } else if per_day * 30.0 >= 1.0 {
        Level::Medium
    } else {
        Level::Low
    }
}

/// On the median: elite under a day, high under a week, medium under 30 days.
pub fn lead_time_level(median_seconds: f64) -> Level {
    if median_seconds < DAY {
        Level::Elite
    } else if median_seconds < 7.0 * DAY {
        Level::High
    } else if median_seconds < 30.0 * DAY {
        Level::Medium
    } else {
        Level::Low
    }
}

/// Elite up to 5 %, high up to 10 %, medium up to 15 %.
pub fn change_failure_level(rate: f64) -> Level {
    if rate <= 0.05 {
        Level::Elite
    } else if rate <= 0.10 {
        Level::High
    } else if rate <= 0.15 {
        Level::Medium
    } else {
        Level::Low
    }
}

/// On the median: elite under an hour, high under a day, medium under a week.
pub fn time_to_restore_level(median_seconds: f64) -> Level {
    if median_seconds < HOUR {
        Level::Elite
    } else if median_seconds < DAY {
        Level::High
    } else if median_seconds < 7.0 * DAY {
        Level::Medium
    } else {
        Level::Low
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_interpolate_between_closest_ranks() {
        assert_eq!(percentile(&[1.0, 2.0, 3.0, 10.0], 0.5), Some(2.5));
        let p90 = percentile(&[1.0, 2.0, 3.0, 10.0], 0.9).unwrap_or_default();
        assert!((p90 - (3.0 + 0.7 * 7.0)).abs() < 1e-9, "{p90}");
        assert_eq!(percentile(&[4.0], 0.75), Some(4.0));
        assert_eq!(percentile(&[], 0.5), None);
    }

    #[test]
    fn selected_percentiles_equal_the_sorted_ones() {
        // Deterministic pseudo-random values with repeats, several sizes.
        let mut x: u64 = 7;
        for n in [1usize, 2, 3, 4, 5, 10, 11, 100, 1001] {
            let mut values: Vec<f64> = (0..n)
                .map(|_| {
                    x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                    ((x >> 33) % 500) as f64 / 4.0
                })
                .collect();
            let mut sorted = values.clone();
            sorted.sort_unstable_by(f64::total_cmp);
            let ps = [0.0, 0.25, 0.5, 0.75, 0.9, 1.0];
            let expected: Vec<Option<f64>> = ps.iter().map(|p| percentile(&sorted, *p)).collect();
            assert_eq!(percentiles(&mut values, ps).to_vec(), expected, "n = {n}");
        }
        assert_eq!(percentiles(&mut [], [0.5]), [None]);
    }

    #[test]
    fn level_boundaries_fall_on_the_documented_side() {
        assert_eq!(lead_time_level(DAY), Level::High, "exactly one day is high");
        assert_eq!(lead_time_level(DAY - 0.001), Level::Elite);
        assert_eq!(lead_time_level(7.0 * DAY), Level::Medium);
        assert_eq!(lead_time_level(30.0 * DAY), Level::Low);
        assert_eq!(change_failure_level(0.05), Level::Elite, "exactly 5 % is elite");
        assert_eq!(change_failure_level(1.0 / 20.0), Level::Elite);
        assert_eq!(change_failure_level(0.10), Level::High);
        assert_eq!(change_failure_level(0.15), Level::Medium);
        assert_eq!(change_failure_level(0.1501), Level::Low);
        assert_eq!(time_to_restore_level(HOUR), Level::High, "exactly one hour is high");
        assert_eq!(time_to_restore_level(DAY), Level::Medium);
        assert_eq!(time_to_restore_level(7.0 * DAY), Level::Low);
        assert_eq!(deployment_frequency_level(1.0), Level::Elite);
        assert_eq!(deployment_frequency_level(1.0 / 7.0), Level::High);
        assert_eq!(deployment_frequency_level(1.0 / 30.0), Level::Medium);
        assert_eq!(deployment_frequency_level(1.0 / 31.0), Level::Low);
    }

    #[test]
    fn the_worst_level_is_the_max() {
        assert_eq!([Level::Elite, Level::Medium, Level::High].into_iter().max(), Some(Level::Medium));
    }
}
