//! An error budget: with an objective of 99.9%, 0.1% of the events (or
//! minutes) of the window may be bad. What is left of it is
//! `((1 − objective) − bad/total) / (1 − objective)`, and the burn rate of
//! a span is its error ratio over `1 − objective`: 1 spends the budget
//! exactly over the window, 14.4 spends a 30-day budget in about two days.

use serde::{Deserialize, Serialize};

/// Good events and all events of a span (or good minutes and minutes,
/// when budgeting by time slices).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    pub good: u64,
    pub total: u64,
}

impl Counts {
    pub fn new(good: u64, total: u64) -> Self {
        Counts {
            good: good.min(total),
            total,
        }
    }

    pub fn bad(&self) -> u64 {
        self.total - self.good.min(self.total)
    }

    /// The share of bad events; None without any event.
    pub fn error_ratio(&self) -> Option<f64> {
        (self.total > 0).then(|| self.bad() as f64 / self.total as f64)
    }

    /// The share of good events (the SLI); None without any event.
    pub fn sli(&self) -> Option<f64> {
        self.error_ratio().map(|e| 1.0 - e)
    }
}

impl std::ops::Add for Counts {
    type Output = Counts;

    fn add(self, other: Counts) -> Counts {
        Counts {
            good: self.good + other.good,
            total: self.total + other.total,
        }
    }
}

/// The burn rate of a span: its error ratio over the budget's ratio
/// (`1 − objective`). A span without events burns nothing.
pub fn burn_rate(objective: f64, counts: Counts) -> f64 {
    counts.error_ratio().unwrap_or(0.0) / (1.0 - objective)
}

/// An SLO's budget over its window.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Budget {
    /// The ratio of events the objective allows to be bad (`1 − objective`).
    pub allowed_ratio: f64,
    /// The share of the budget spent: 0 none, 1 all, above 1 overspent.
    pub consumed: f64,
    /// `1 − consumed`: 1 untouched, 0 spent, negative overspent.
    pub remaining: f64,
    /// The window's burn rate so far.
    pub burn_rate: f64,
}

impl Budget {
    /// The budget of `counts` over the window, at `objective`.
    pub fn of(objective: f64, counts: Counts) -> Budget {
        let allowed_ratio = 1.0 - objective;
        let burn = burn_rate(objective, counts);
        Budget {
            allowed_ratio,
            consumed: burn,
            remaining: 1.0 - burn,
            burn_rate: burn,
        }
    }

    /// Whether nothing is left: the error-budget policy's line. The
    /// tolerance keeps a budget spent to the last event spent, whatever
    /// the rounding of `1 − objective`.
    pub fn exhausted(&self) -> bool {
        self.remaining <= 1e-9
    }
}

/// The budget in minutes of a window of `window_minutes` at `objective`:
/// 43,200 minutes (30 days) at 99.9% allow 43.2 bad minutes.
pub fn budget_minutes(objective: f64, window_minutes: u64) -> f64 {
    window_minutes as f64 * (1.0 - objective)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    #[test]
    fn thirty_days_at_three_nines_allow_43_2_minutes() {
        assert!(close(budget_minutes(0.999, 30 * 24 * 60), 43.2));
        assert!(close(budget_minutes(0.99, 30 * 24 * 60), 432.0));
    }

    #[test]
    fn burn_rate_is_the_error_ratio_over_the_allowed_ratio() {
        // 1.44% errors at 99.9%: 14.4 times the budget's pace.
        assert!(close(burn_rate(0.999, Counts::new(9_856, 10_000)), 14.4));
        // 0.1% errors: exactly the pace that spends it over the window.
        assert!(close(burn_rate(0.999, Counts::new(999, 1_000)), 1.0));
        // 0.6% errors at 99.9%: 6x.
        assert!(close(burn_rate(0.999, Counts::new(994, 1_000)), 6.0));
        assert_eq!(burn_rate(0.999, Counts::default()), 0.0);
    }

    #[test]
    fn budget_left_follows_the_formula() {
        // 1,000,000 requests, 250 bad, at 99.9%: a quarter of the 1,000
        // allowed bad requests spent.
        let b = Budget::of(0.999, Counts::new(999_750, 1_000_000));
        assert!(close(b.consumed, 0.25), "{b:?}");
        assert!(close(b.remaining, 0.75), "{b:?}");
        assert!(!b.exhausted());
        // 2,000 bad: twice the budget, -100% left.
        let b = Budget::of(0.999, Counts::new(998_000, 1_000_000));
        assert!(close(b.remaining, -1.0), "{b:?}");
        assert!(b.exhausted());
        // Time slices: 43.2 bad minutes of 43,200 spend it all.
        let b = Budget::of(0.999, Counts::new(43_200 - 43, 43_200));
        assert!(b.remaining > 0.0 && b.remaining < 0.01, "{b:?}");
        let b = Budget::of(0.999, Counts::new(43_200 - 44, 43_200));
        assert!(b.exhausted(), "{b:?}");
    }

    #[test]
    fn counts_never_have_more_good_than_total() {
        let c = Counts::new(12, 10);
        assert_eq!((c.good, c.bad()), (10, 0));
        assert_eq!(Counts::default().sli(), None);
    }
}
