//! The SLO report of one period (the last day, week or month up to an
//! instant): for each SLO its SLI and budget over the period, and the SLI
//! of each hour (a day's report) or day (a week's or a month's), from the
//! recorded rows. Rendered by `zion-report`.

use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};

use super::budget::{Budget, Counts};
use super::rows::{self, SliRow};
use crate::spec::SloSpec;

/// The length of a report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Period {
    Day,
    Week,
    Month,
}

impl Period {
    pub fn from_name(name: &str) -> Option<Period> {
        match name {
            "day" => Some(Period::Day),
            "week" => Some(Period::Week),
            "month" => Some(Period::Month),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Period::Day => "day",
            Period::Week => "week",
            Period::Month => "month",
        }
    }

    /// How far back it reaches (a month is 30 days).
    pub fn length(self) -> SignedDuration {
        SignedDuration::from_hours(match self {
            Period::Day => 24,
            Period::Week => 7 * 24,
            Period::Month => 30 * 24,
        })
    }

    /// The length of one of its buckets: hours for a day, days otherwise.
    pub fn bucket(self) -> SignedDuration {
        match self {
            Period::Day => SignedDuration::from_hours(1),
            _ => SignedDuration::from_hours(24),
        }
    }
}

/// The report of every SLO over one period.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SloReport {
    pub period: Period,
    pub since: Timestamp,
    pub until: Timestamp,
    pub slos: Vec<SloPeriod>,
}

/// One SLO over the period.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SloPeriod {
    pub id: String,
    pub objective: f64,
    /// `events` or `time_slices`.
    pub budgeting: String,
    pub good: u64,
    pub total: u64,
    /// None without any event.
    pub sli: Option<f64>,
    /// The budget of the period's events alone (the SLO's own window may
    /// be longer: `zion slo status` shows that one).
    pub budget: Budget,
    pub buckets: Vec<SloBucket>,
}

/// One hour or day of the period.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SloBucket {
    pub start: Timestamp,
    pub good: u64,
    pub total: u64,
    pub sli: Option<f64>,
}

/// The first instant whose rows a report of `period` up to `until` reads.
pub fn since(period: Period, until: Timestamp) -> Timestamp {
    until.checked_sub(period.length()).unwrap_or(Timestamp::MIN)
}

/// One SLO's part of the report, from its rows (sorted by start). Rows
/// rolled up hourly fall in the bucket of their hour.
pub fn slo_period(slo: &SloSpec, rows: &[SliRow], period: Period, until: Timestamp) -> SloPeriod {
    let start = since(period, until);
    let counts = rows::counts(rows, start, until, slo.budgeting);
    let mut buckets = Vec::new();
    let mut at = start;
    while at < until {
        let end = (at + period.bucket()).min(until);
        let c: Counts = rows::counts(rows, at, end, slo.budgeting);
        buckets.push(SloBucket {
            start: at,
            good: c.good,
            total: c.total,
            sli: c.sli(),
        });
        at = end;
    }
    SloPeriod {
        id: slo.id(),
        objective: slo.objective,
        budgeting: slo.budgeting.name().to_owned(),
        good: counts.good,
        total: counts.total,
        sli: counts.sli(),
        budget: Budget::of(slo.objective, counts),
        buckets,
    }
}

/// One SLO over any span, for the delivery report's SLO section.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SloSummary {
    pub id: String,
    pub objective: f64,
    pub good: u64,
    pub total: u64,
    pub sli: Option<f64>,
    /// The budget of the span's events alone.
    pub budget: Budget,
}

/// `slo` over `[since, until)` from its rows (sorted by start).
pub fn summary(slo: &SloSpec, rows: &[SliRow], since: Timestamp, until: Timestamp) -> SloSummary {
    let counts = rows::counts(rows, since, until, slo.budgeting);
    SloSummary {
        id: slo.id(),
        objective: slo.objective,
        good: counts.good,
        total: counts.total,
        sli: counts.sli(),
        budget: Budget::of(slo.objective, counts),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::spec::{Budgeting, Sli, SloWindow};

    #[test]
    fn a_days_report_has_24_hours_and_the_days_figures() {
        let slo = SloSpec {
            name: "availability".into(),
            service: "web".into(),
            environment: "production".into(),
            objective: 0.99,
            window: SloWindow::Rolling { days: 30 },
            sli: Sli::Availability,
            budgeting: Budgeting::Events,
            retention: Duration::from_secs(7 * 86_400),
        };
        let until: Timestamp = "2026-06-02T00:00:00Z".parse().unwrap();
        let start = since(Period::Day, until);
        // 100 requests a minute for the day; in its third hour, 5 fail a
        // minute; a row of the day before is left out.
        let mut rows = vec![SliRow::minute(
            start - SignedDuration::from_mins(1),
            Counts::new(0, 100),
            0.99,
        )];
        for m in 0..(24 * 60) {
            let bad = if (120..180).contains(&m) { 5 } else { 0 };
            rows.push(SliRow::minute(
                start + SignedDuration::from_mins(m),
                Counts::new(100 - bad, 100),
                0.99,
            ));
        }
        let p = slo_period(&slo, &rows, Period::Day, until);
        assert_eq!((p.good, p.total), (144_000 - 300, 144_000));
        assert_eq!(p.buckets.len(), 24);
        assert_eq!(p.buckets[2].sli, Some(0.95));
        assert_eq!(p.buckets[3].sli, Some(1.0));
        // 300 bad of the 1,440 the objective allows: 79.2% left.
        assert!(
            (p.budget.remaining - (1.0 - 300.0 / 1440.0)).abs() < 1e-9,
            "{p:?}"
        );
        assert_eq!(Period::from_name("week"), Some(Period::Week));
        let s = summary(&slo, &rows, start, start + SignedDuration::from_hours(3));
        assert_eq!((s.good, s.total), (18_000 - 300, 18_000));
        assert_eq!(
            slo_period(&slo, &rows, Period::Week, until).buckets.len(),
            7
        );
    }
}
