//! The two-sided Mann-Whitney U test by the normal approximation, with the
//! tie correction and the continuity correction: the figures SciPy's
//! `mannwhitneyu(x, y, alternative='two-sided', method='asymptotic',
//! use_continuity=True)` gives.

use serde::{Deserialize, Serialize};

/// The test's figures for samples `x` (the new version) against `y` (the
/// stable version).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct UTest {
    /// U of `x`: how many (x, y) pairs have x above y, ties counting half.
    pub u: f64,
    /// Two-sided p-value.
    pub p_value: f64,
}

impl UTest {
    /// Whether `x` tends above `y` (U above its mean under no difference).
    pub fn x_higher(&self, nx: usize, ny: usize) -> bool {
        self.u > nx as f64 * ny as f64 / 2.0
    }
}

/// Tests `x` against `y`; None when either is empty or holds a value that
/// is not a number.
pub fn u_test(x: &[f64], y: &[f64]) -> Option<UTest> {
    if x.is_empty() || y.is_empty() || x.iter().chain(y).any(|v| v.is_nan()) {
        return None;
    }
    let (n1, n2) = (x.len() as f64, y.len() as f64);
    let n = n1 + n2;
    // Every value with its side, sorted; ties share their average rank.
    let mut all: Vec<(f64, bool)> = x
        .iter()
        .map(|v| (*v, true))
        .chain(y.iter().map(|v| (*v, false)))
        .collect();
    all.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut rank_sum_x = 0.0;
    let mut tie_term = 0.0;
    let mut i = 0;
    while i < all.len() {
        let mut j = i + 1;
        while j < all.len() && all[j].0 == all[i].0 {
            j += 1;
        }
        let t = (j - i) as f64;
        // Ranks i+1 ..= j, averaged.
        let rank = (i + 1 + j) as f64 / 2.0;
        let in_x = all[i..j].iter().filter(|v| v.1).count() as f64;
        rank_sum_x += rank * in_x;
        tie_term += t * t * t - t;
        i = j;
    }
    let u1 = rank_sum_x - n1 * (n1 + 1.0) / 2.0;
    let u2 = n1 * n2 - u1;
    let u = u1.max(u2);
    let mu = n1 * n2 / 2.0;
    let s = (n1 * n2 / 12.0 * ((n + 1.0) - tie_term / (n * (n - 1.0)))).sqrt();
    let p_value = if s > 0.0 && s.is_finite() {
        let z = (u - mu - 0.5) / s;
        (2.0 * super::normal::sf(z)).clamp(0.0, 1.0)
    } else {
        // Every value equal (or a single pair): no evidence of a difference.
        1.0
    };
    Some(UTest { u: u1, p_value })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_small_case_by_hand() {
        // SciPy: mannwhitneyu([1,2,3,4],[3,4,5,6,7]) → U=2, p=0.063936746004236
        let t = u_test(&[1.0, 2.0, 3.0, 4.0], &[3.0, 4.0, 5.0, 6.0, 7.0]).unwrap();
        assert_eq!(t.u, 2.0);
        assert!(!t.x_higher(4, 5));
        assert!(
            (t.p_value - 0.063_936_746_004_236_06).abs() < 1e-12,
            "{}",
            t.p_value
        );
    }

    #[test]
    fn all_equal_and_empty_samples() {
        let t = u_test(&[2.0; 5], &[2.0; 7]).unwrap();
        assert_eq!((t.u, t.p_value), (17.5, 1.0));
        assert_eq!(u_test(&[], &[1.0]), None);
        assert_eq!(u_test(&[f64::NAN], &[1.0]), None);
    }
}
