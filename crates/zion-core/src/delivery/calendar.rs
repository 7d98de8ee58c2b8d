//! A report period cut into the calendar days and months of a time zone.
//!
//! The period is `[since, until)`. Its days are every civil date, in the
//! time zone, from the date of `since` to the date of the last instant
//! before `until`, both included, so a period starting at 13:00 still has
//! that whole first day. A day runs from its local midnight (or the first
//! instant after it, when a time-zone change skips midnight) to the next
//! day's; days are 23 or 25 hours long across DST changes. Each day's start
//! is computed once, so placing an instant is a binary search over the
//! period's days rather than a time-zone conversion per record.
//!
//! Listing days and measuring time are kept apart: a period from 13:00 to
//! 13:00 thirty days later lists 31 calendar days (the chart and the busiest
//! day need every date it touches) but lasts 30 days, and per-day averages
//! divide by the latter ([`Calendar::length_days`]) so partial end days do
//! not dilute them.

use jiff::Timestamp;
use jiff::civil::Date;
use jiff::tz::TimeZone;

/// The calendar days and months of a period in one time zone.
#[derive(Debug, Clone)]
pub struct Calendar {
    since: Timestamp,
    until: Timestamp,
    dates: Vec<Date>,
    /// Day `i` is `[starts[i], starts[i + 1])`; one more entry than days.
    starts: Vec<Timestamp>,
    /// The first day of every month the period touches, in order.
    months: Vec<Date>,
    /// Index into `months` of each day.
    month_of_day: Vec<u32>,
    /// The first day of each month in `months`, plus the day count at the
    /// end, so month `m` is days `month_start[m]..month_start[m + 1]`.
    month_start: Vec<u32>,
}

impl Calendar {
    /// The days of `[since, until)` in `tz`; no days when `until <= since`.
    /// Memory and time are linear in the number of days.
    pub fn new(since: Timestamp, until: Timestamp, tz: &TimeZone) -> Calendar {
        let mut cal = Calendar {
            since,
            until,
            dates: Vec::new(),
            starts: Vec::new(),
            months: Vec::new(),
            month_of_day: Vec::new(),
            month_start: Vec::new(),
        };
        if until <= since {
            return cal;
        }
        let last_instant = until
            .checked_sub(jiff::SignedDuration::from_nanos(1))
            .unwrap_or(since);
        let last = tz.to_datetime(last_instant).date();
        let mut date = tz.to_datetime(since).date();
        let start_of = |d: Date| d.to_zoned(tz.clone()).ok().map(|z| z.timestamp());
        loop {
            // Only the extreme ends of jiff's range have no start of day;
            // the period's own bounds are then the closest truth.
            let start = start_of(date).unwrap_or(since);
            // The first day always covers `since`.
            cal.starts.push(if cal.starts.is_empty() {
                start.min(since)
            } else {
                start
            });
            cal.dates.push(date);
            let month = date.first_of_month();
            if cal.months.last() != Some(&month) {
                cal.months.push(month);
                cal.month_start.push(cal.dates.len() as u32 - 1);
            }
            cal.month_of_day.push((cal.months.len() - 1) as u32);
            if date >= last {
                break;
            }
            match date.tomorrow() {
                Ok(next) => date = next,
                Err(_) => break,
            }
        }
        let end = date
            .tomorrow()
            .ok()
            .and_then(start_of)
            .unwrap_or(until)
            .max(until);
        cal.starts.push(end);
        cal.month_start.push(cal.dates.len() as u32);
        cal
    }

    /// The period's start (inclusive).
    pub fn since(&self) -> Timestamp {
        self.since
    }

    /// The period's end (exclusive).
    pub fn until(&self) -> Timestamp {
        self.until
    }

    /// Number of calendar days in the period.
    pub fn days(&self) -> usize {
        self.dates.len()
    }

    /// The civil date of day `day` (0-based).
    pub fn date(&self, day: usize) -> Date {
        self.dates[day]
    }

    /// True when the whole of day `day` lies inside the period (a period
    /// not starting or ending at local midnight has partial end days).
    pub fn is_whole_day(&self, day: usize) -> bool {
        self.starts[day] >= self.since && self.starts[day + 1] <= self.until
    }

    /// The day `t` falls on; None outside the period.
    pub fn day_of(&self, t: Timestamp) -> Option<usize> {
        if t < self.since || t >= self.until || self.dates.is_empty() {
            return None;
        }
        let after = self.starts.partition_point(|s| *s <= t);
        Some(after.saturating_sub(1).min(self.dates.len() - 1))
    }

    /// The first day of every month the period touches, in order.
    pub fn months(&self) -> &[Date] {
        &self.months
    }

    /// The index into [`Calendar::months`] of day `day`.
    pub fn month_of_day(&self, day: usize) -> usize {
        self.month_of_day[day] as usize
    }

    /// The days of month `month` (an index into [`Calendar::months`]).
    pub fn month_days(&self, month: usize) -> std::ops::Range<usize> {
        self.month_start[month] as usize..self.month_start[month + 1] as usize
    }

    /// How long the period lasts, in days of 86 400 s: `(until − since) /
    /// 86 400 s`, fractional, and 0 for an empty period. Per-day averages
    /// divide by this, not by [`Calendar::days`], which counts a partial
    /// first or last day as a whole one.
    pub fn length_days(&self) -> f64 {
        self.length_days_of(0..self.days())
    }

    /// How much of the period days `days` cover, in days of 86 400 s (the
    /// first and last day clipped to the period).
    pub fn length_days_of(&self, days: std::ops::Range<usize>) -> f64 {
        if days.is_empty() {
            return 0.0;
        }
        let from = self.starts[days.start].max(self.since);
        let to = self.starts[days.end].min(self.until);
        (to.duration_since(from).as_secs_f64() / 86_400.0).max(0.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn late_evening_utc_is_the_next_day_in_paris() {
        let paris = TimeZone::get("Europe/Paris").unwrap();
        // 2026-03-01 00:00 Paris (UTC+1) = 2026-02-28T23:00Z; until
        // 2026-03-03 00:00 Paris = 2026-03-02T23:00Z: two days.
        let cal = Calendar::new(
            ts("2026-02-28T23:00:00Z"),
            ts("2026-03-02T23:00:00Z"),
            &paris,
        );
        assert_eq!(cal.days(), 2);
        assert_eq!(cal.date(0).to_string(), "2026-03-01");
        // 23:30 UTC on 1 March is 00:30 on 2 March in Paris: day 1.
        assert_eq!(cal.day_of(ts("2026-03-01T23:30:00Z")), Some(1));
        // 22:59 UTC on 1 March is 23:59 on 1 March in Paris: day 0.
        assert_eq!(cal.day_of(ts("2026-03-01T22:59:00Z")), Some(0));
        assert_eq!(cal.day_of(ts("2026-02-28T22:59:59Z")), None);
        assert_eq!(cal.day_of(ts("2026-03-02T23:00:00Z")), None);
        // `since` is 28 February in UTC but 1 March in Paris: one month.
        assert_eq!(cal.months().len(), 1);
        assert_eq!(cal.months()[0].to_string(), "2026-03-01");
        assert_eq!(cal.month_of_day(1), 0);
    }

    #[test]
    fn partial_first_and_last_days_count_whole() {
        // 13:00 on the 1st to 01:00 on the 3rd (UTC): the 1st, 2nd and 3rd.
        let cal = Calendar::new(
            ts("2026-01-01T13:00:00Z"),
            ts("2026-01-03T01:00:00Z"),
            &TimeZone::UTC,
        );
        assert_eq!(cal.days(), 3);
        assert_eq!(cal.day_of(ts("2026-01-01T12:00:00Z")), None);
        assert_eq!(cal.day_of(ts("2026-01-01T13:00:00Z")), Some(0));
        assert_eq!(cal.day_of(ts("2026-01-03T00:59:59Z")), Some(2));
        assert!(!cal.is_whole_day(0));
        assert!(cal.is_whole_day(1));
        assert!(!cal.is_whole_day(2));
        // Three calendar days, but 13:00 to 01:00 two days later is 36 h:
        // 1.5 days. The first day holds 11 h of the period, the last 1 h.
        assert_eq!(cal.length_days(), 1.5);
        assert_eq!(cal.length_days_of(0..1), 11.0 / 24.0);
        assert_eq!(cal.length_days_of(2..3), 1.0 / 24.0);
        assert_eq!(cal.month_days(0), 0..3);
        // An until exactly at midnight does not add the next day.
        let cal = Calendar::new(
            ts("2026-01-01T00:00:00Z"),
            ts("2026-01-03T00:00:00Z"),
            &TimeZone::UTC,
        );
        assert_eq!(cal.days(), 2);
        assert!(cal.is_whole_day(0) && cal.is_whole_day(1));
    }

    #[test]
    fn dst_days_are_placed_by_local_midnight() {
        let paris = TimeZone::get("Europe/Paris").unwrap();
        // Paris springs forward on 2026-03-29 (a 23-hour day). Period: the
        // 28th to the 31st local, i.e. 2026-03-27T23:00Z..2026-03-30T22:00Z.
        let cal = Calendar::new(
            ts("2026-03-27T23:00:00Z"),
            ts("2026-03-30T22:00:00Z"),
            &paris,
        );
        assert_eq!(cal.days(), 3);
        // 22:30Z on the 29th is 00:30 CEST on the 30th.
        assert_eq!(cal.day_of(ts("2026-03-29T22:30:00Z")), Some(2));
        // 21:59Z on the 29th is 23:59 CEST on the 29th.
        assert_eq!(cal.day_of(ts("2026-03-29T21:59:00Z")), Some(1));
        // 23:30Z on the 28th is 00:30 CET on the 29th.
        assert_eq!(cal.day_of(ts("2026-03-28T23:30:00Z")), Some(1));
        // 27th 23:00Z to 30th 22:00Z is 71 h: the 23-hour day is short.
        assert_eq!(cal.length_days(), 71.0 / 24.0);
        assert_eq!(cal.length_days_of(1..2), 23.0 / 24.0);
    }

    #[test]
    fn months_know_their_days_and_length() {
        // 30 January 12:00 to 2 March 00:00 (UTC): January has the 30th
        // (half) and the 31st, February its 28 days, March the 1st.
        let cal = Calendar::new(
            ts("2026-01-30T12:00:00Z"),
            ts("2026-03-02T00:00:00Z"),
            &TimeZone::UTC,
        );
        assert_eq!(cal.days(), 2 + 28 + 1);
        assert_eq!(cal.months().len(), 3);
        assert_eq!(
            (cal.month_days(0), cal.month_days(1), cal.month_days(2)),
            (0..2, 2..30, 30..31)
        );
        assert_eq!(cal.length_days_of(cal.month_days(0)), 1.5);
        assert_eq!(cal.length_days_of(cal.month_days(1)), 28.0);
        assert_eq!(cal.length_days_of(cal.month_days(2)), 1.0);
        // 1.5 + 28 + 1.
        assert_eq!(cal.length_days(), 30.5);
    }

    #[test]
    fn empty_and_reversed_periods_have_no_days() {
        let t = ts("2026-01-01T00:00:00Z");
        let cal = Calendar::new(t, t, &TimeZone::UTC);
        assert_eq!(cal.days(), 0);
        assert_eq!(cal.length_days(), 0.0);
        assert_eq!(cal.day_of(t), None);
        assert!(cal.months().is_empty());
        let cal = Calendar::new(t, ts("2025-01-01T00:00:00Z"), &TimeZone::UTC);
        assert_eq!(cal.days(), 0);
    }
}
