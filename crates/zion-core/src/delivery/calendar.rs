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
    }

    #[test]
    fn empty_and_reversed_periods_have_no_days() {
        let t = ts("2026-01-01T00:00:00Z");
        let cal = Calendar::new(t, t, &TimeZone::UTC);
        assert_eq!(cal.days(), 0);
        assert_eq!(cal.day_of(t), None);
        assert!(cal.months().is_empty());
        let cal = Calendar::new(t, ts("2025-01-01T00:00:00Z"), &TimeZone::UTC);
        assert_eq!(cal.days(), 0);
    }
}
