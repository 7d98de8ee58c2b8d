//! Order statistics used by every delivery figure, defined once so that a
//! median or a percentile means the same thing everywhere.
//!
//! - Median: the middle value; with an even count, the mean of the two
//!   middle values.
//! - Percentile p (nearest rank): the value of rank ⌈p/100 × n⌉ (1-based, at
//!   least 1) in ascending order. It is always one of the measured values.
//!
//! Both reorder their input (selection, not a full sort: O(n) on average).

use std::cmp::Ordering;

fn cmp(a: &f64, b: &f64) -> Ordering {
    a.total_cmp(b)
}

/// The median; None when empty.
pub fn median(values: &mut [f64]) -> Option<f64> {
    let n = values.len();
    if n == 0 {
        return None;
    }
    let (lower, upper, _) = values.select_nth_unstable_by(n / 2, cmp);
    let upper = *upper;
    if n % 2 == 1 {
        return Some(upper);
    }
    // After selection the left part holds the n/2 smallest values, so its
    // largest is the lower middle value.
    let lower_middle = lower.iter().copied().max_by(cmp)?;
    Some((lower_middle + upper) / 2.0)
}

/// The nearest-rank percentile `p` (0..=100); None when empty.
pub fn percentile_nearest_rank(values: &mut [f64], p: u32) -> Option<f64> {
    let n = values.len();
    if n == 0 {
        return None;
    }
    let p = p.min(100) as usize;
    let rank = (p * n).div_ceil(100).max(1);
    let (_, value, _) = values.select_nth_unstable_by(rank - 1, cmp);
    Some(*value)
}

/// The arithmetic mean; None when empty.
pub fn mean(values: &[f64]) -> Option<f64> {
    (!values.is_empty()).then(|| values.iter().sum::<f64>() / values.len() as f64)
}

/// `part / whole`; None when `whole` is 0 (no data, not a zero rate).
pub fn ratio(part: u64, whole: u64) -> Option<f64> {
    (whole > 0).then(|| part as f64 / whole as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_of_odd_and_even_counts() {
        assert_eq!(median(&mut []), None);
        assert_eq!(median(&mut [7.0]), Some(7.0));
        // Sorted 1, 3, 9: the middle is 3.
        assert_eq!(median(&mut [9.0, 1.0, 3.0]), Some(3.0));
        // Sorted 1, 2, 4, 10: (2 + 4) / 2 = 3.
        assert_eq!(median(&mut [10.0, 4.0, 1.0, 2.0]), Some(3.0));
        // Sorted 5, 6: (5 + 6) / 2 = 5.5.
        assert_eq!(median(&mut [6.0, 5.0]), Some(5.5));
    }

    #[test]
    fn nearest_rank_percentiles() {
        let mut v: Vec<f64> = (1..=20).rev().map(f64::from).collect();
        // n = 20: p95 → rank ⌈19⌉ = 19 → 19; p50 → rank 10 → 10;
        // p0 → rank max(0, 1) = 1 → 1; p100 → rank 20 → 20.
        assert_eq!(percentile_nearest_rank(&mut v, 95), Some(19.0));
        assert_eq!(percentile_nearest_rank(&mut v, 50), Some(10.0));
        assert_eq!(percentile_nearest_rank(&mut v, 0), Some(1.0));
        assert_eq!(percentile_nearest_rank(&mut v, 100), Some(20.0));
        // n = 3: p95 → rank ⌈2.85⌉ = 3; p50 → rank ⌈1.5⌉ = 2.
        assert_eq!(
            percentile_nearest_rank(&mut [30.0, 10.0, 20.0], 95),
            Some(30.0)
        );
        assert_eq!(
            percentile_nearest_rank(&mut [30.0, 10.0, 20.0], 50),
            Some(20.0)
        );
        assert_eq!(percentile_nearest_rank(&mut [], 50), None);
    }

    #[test]
    fn means_and_ratios_have_no_made_up_zero() {
        assert_eq!(mean(&[]), None);
        assert_eq!(mean(&[1.0, 2.0, 6.0]), Some(3.0));
        assert_eq!(ratio(0, 0), None);
        assert_eq!(ratio(0, 4), Some(0.0));
        assert_eq!(ratio(3, 4), Some(0.75));
    }
}
