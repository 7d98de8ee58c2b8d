//! Where an SLO's window starts at an instant: `days` before it (rolling),
//! or at the first instant of its calendar month in UTC.

use jiff::{Timestamp, tz::TimeZone};

use crate::spec::SloWindow;

/// The first instant of the window that ends at `now`.
pub fn start(window: SloWindow, now: Timestamp) -> Timestamp {
    match window {
        SloWindow::Rolling { days } => {
            let span = jiff::SignedDuration::from_secs(i64::from(days) * 86_400);
            now.checked_sub(span).unwrap_or(Timestamp::MIN)
        }
        SloWindow::CalendarMonth => {
            let date = now.to_zoned(TimeZone::UTC).date().first_of_month();
            date.to_zoned(TimeZone::UTC)
                .map(|z| z.timestamp())
                .unwrap_or(Timestamp::MIN)
        }
    }
}

/// The window's length in whole minutes, as a time-slice budget counts
/// them: a rolling window's full length; the calendar month's (28 to 31
/// days), so the month's budget is known from its first day.
pub fn minutes(window: SloWindow, now: Timestamp) -> u64 {
    match window {
        SloWindow::Rolling { days } => u64::from(days) * 24 * 60,
        SloWindow::CalendarMonth => {
            let days = now.to_zoned(TimeZone::UTC).date().days_in_month();
            u64::try_from(days).unwrap_or(30) * 24 * 60
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn a_rolling_window_reaches_back_its_days() {
        let now = ts("2026-03-31T12:00:00Z");
        let w = SloWindow::Rolling { days: 30 };
        assert_eq!(start(w, now), ts("2026-03-01T12:00:00Z"));
        assert_eq!(minutes(w, now), 43_200);
    }

    #[test]
    fn a_calendar_month_starts_on_its_first_day() {
        let now = ts("2026-02-17T08:30:00Z");
        assert_eq!(
            start(SloWindow::CalendarMonth, now),
            ts("2026-02-01T00:00:00Z")
        );
        assert_eq!(minutes(SloWindow::CalendarMonth, now), 28 * 1440);
        assert_eq!(
            minutes(SloWindow::CalendarMonth, ts("2026-07-01T00:00:00Z")),
            31 * 1440
        );
    }
}
