//! Recorded SLI rows: one per minute, rolled up into one per hour once
//! older than the SLO's retention. A row keeps its good and total events
//! and how many of its minutes were bad, so both ways of budgeting (events,
//! time slices) still read it after the roll-up.

use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};

use super::budget::Counts;
use crate::spec::Budgeting;

/// One row of an SLO's SLI record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SliRow {
    /// The first instant the row covers, on a minute (an hour once rolled
    /// up) boundary.
    pub start: Timestamp,
    /// How many minutes it covers: 1, or 60 once rolled up.
    pub minutes: u32,
    pub good: u64,
    pub total: u64,
    /// Its minutes whose share of good events was below the objective.
    pub bad_minutes: u32,
}

impl SliRow {
    /// The row of one minute's events, at `objective`.
    pub fn minute(start: Timestamp, counts: Counts, objective: f64) -> SliRow {
        SliRow {
            start: floor(start, 60),
            minutes: 1,
            good: counts.good,
            total: counts.total,
            bad_minutes: u32::from(minute_is_bad(objective, counts)),
        }
    }

    pub fn counts(&self) -> Counts {
        Counts::new(self.good, self.total)
    }
}

/// A minute is bad (a time slice below the objective) when it had events
/// and too few of them were good; a minute without events is good, as
/// nothing failed in it.
pub fn minute_is_bad(objective: f64, counts: Counts) -> bool {
    counts.sli().is_some_and(|sli| sli < objective)
}

/// `t` rounded down to a multiple of `seconds` since the epoch.
pub fn floor(t: Timestamp, seconds: i64) -> Timestamp {
    let s = t.as_second();
    Timestamp::from_second(s - s.rem_euclid(seconds)).unwrap_or(t)
}

/// The counts of the span `[since, until)` (rows are counted when they
/// start inside it), by events or by time slices. By time slices the total
/// is the span's minutes, whether or not a row was recorded for each (a
/// minute without a row had no traffic, so it is good). `rows` are sorted
/// by start, as the store returns them.
pub fn counts(rows: &[SliRow], since: Timestamp, until: Timestamp, budgeting: Budgeting) -> Counts {
    let first = rows.partition_point(|r| r.start < since);
    let end = rows.partition_point(|r| r.start < until);
    let inside = rows[first..end.max(first)].iter();
    match budgeting {
        Budgeting::Events => inside.fold(Counts::default(), |acc, r| acc + r.counts()),
        Budgeting::TimeSlices => {
            let minutes = u64::try_from(until.duration_since(since).as_secs() / 60).unwrap_or(0);
            let bad: u64 = inside.map(|r| u64::from(r.bad_minutes)).sum();
            Counts::new(minutes.saturating_sub(bad), minutes)
        }
    }
}

/// The counts of the last `span` before `now`.
pub fn counts_over(
    rows: &[SliRow],
    now: Timestamp,
    span: SignedDuration,
    budgeting: Budgeting,
) -> Counts {
    let since = now.checked_sub(span).unwrap_or(Timestamp::MIN);
    counts(rows, since, now, budgeting)
}

/// Rolls the one-minute rows that start before `before` into one row per
/// hour; later rows and rows already hourly are kept as they are. The
/// result is sorted by start.
pub fn roll_up(rows: &[SliRow], before: Timestamp) -> Vec<SliRow> {
    let mut out: Vec<SliRow> = Vec::with_capacity(rows.len());
    let mut sorted = rows.to_vec();
    sorted.sort_by_key(|r| r.start);
    for row in sorted {
        if row.minutes != 1 || row.start >= before {
            out.push(row);
            continue;
        }
        let hour = floor(row.start, 3600);
        match out.last_mut() {
            Some(last) if last.minutes == 60 && last.start == hour => {
                last.good += row.good;
                last.total += row.total;
                last.bad_minutes += row.bad_minutes;
            }
            _ => out.push(SliRow {
                start: hour,
                minutes: 60,
                ..row
            }),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn minute(at: &str, good: u64, total: u64) -> SliRow {
        SliRow::minute(ts(at), Counts::new(good, total), 0.999)
    }

    #[test]
    fn a_minute_below_the_objective_is_bad() {
        assert!(minute_is_bad(0.999, Counts::new(998, 1000)));
        assert!(!minute_is_bad(0.999, Counts::new(999, 1000)));
        assert!(!minute_is_bad(0.999, Counts::default()));
    }

    #[test]
    fn counts_by_events_and_by_time_slices() {
        let rows = [
            minute("2026-01-01T00:00:30Z", 90, 100),
            minute("2026-01-01T00:01:00Z", 100, 100),
            minute("2026-01-01T00:02:00Z", 50, 100),
        ];
        let since = ts("2026-01-01T00:00:00Z");
        let until = ts("2026-01-01T00:10:00Z");
        assert_eq!(rows[0].start, since, "rows start on the minute");
        assert_eq!(
            counts(&rows, since, until, Budgeting::Events),
            Counts::new(240, 300)
        );
        // Ten minutes, two of them bad.
        assert_eq!(
            counts(&rows, since, until, Budgeting::TimeSlices),
            Counts::new(8, 10)
        );
        // The first minute is outside a span starting a minute later.
        let later = ts("2026-01-01T00:01:00Z");
        assert_eq!(
            counts(&rows, later, until, Budgeting::Events),
            Counts::new(150, 200)
        );
    }

    #[test]
    fn rolled_up_rows_count_as_their_minutes_did() {
        let mut rows = Vec::new();
        for m in 0..120 {
            let t = ts("2026-01-01T00:00:00Z") + SignedDuration::from_mins(m);
            let good = if m % 30 == 0 { 0 } else { 10 };
            rows.push(SliRow::minute(t, Counts::new(good, 10), 0.999));
        }
        let cut = ts("2026-01-01T01:30:00Z");
        let rolled = roll_up(&rows, cut);
        // The first hour in one row, the next 30 minutes in another, then
        // the 30 minutes after the cut as they were.
        assert_eq!(rolled.len(), 2 + 30);
        assert_eq!((rolled[0].minutes, rolled[0].bad_minutes), (60, 2));
        let since = ts("2026-01-01T00:00:00Z");
        let until = ts("2026-01-01T02:00:00Z");
        for b in [Budgeting::Events, Budgeting::TimeSlices] {
            assert_eq!(
                counts(&rolled, since, until, b),
                counts(&rows, since, until, b)
            );
        }
    }
}
