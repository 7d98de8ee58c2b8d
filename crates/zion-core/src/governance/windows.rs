//! Whether an instant falls inside an environment's deployment windows and
//! outside its freezes, and when the next allowed instant is.
//!
//! Allow windows are read on the wall clock of the environment's time zone:
//! an instant is inside `mon-fri 09:00-17:00` when the local civil time at
//! that instant is a weekday from 09:00 (inclusive) to 17:00 (exclusive).
//! Freezes are absolute: `from` inclusive, `to` exclusive.

use jiff::civil::{Date, DateTime};
use jiff::tz::{AmbiguousOffset, TimeZone};
use jiff::{SignedDuration, Span, Timestamp};
use serde::{Deserialize, Serialize};

use crate::spec::{AllowWindow, FreezeSpec, WindowsSpec};

/// How far ahead [`next_open`] looks before giving up.
const HORIZON: SignedDuration = SignedDuration::from_hours(366 * 24);
/// How far one scan for the next window entry reaches; every entry in it
/// lies on a local date within [`SCAN_DATES`] of the scan's first date.
const SCAN: SignedDuration = SignedDuration::from_hours(7 * 24);
/// Local dates, relative to the scan's first, whose window starts are
/// candidates. One day back covers a zone stepping back over midnight; eight
/// ahead covers a week plus a zone skipping a whole day.
const SCAN_DATES: std::ops::RangeInclusive<i64> = -1..=8;
/// A guard against an endless search; the search strictly advances through
/// finitely many candidates in the horizon, so it is never reached in practice.
const MAX_STEPS: usize = 100_000;

const DAY_ABBREVIATIONS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];

/// An environment's deployment window at one instant.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum WindowState {
    /// Deployments are allowed now.
    #[default]
    Open,
    /// Deployments are not allowed now.
    Closed {
        /// Why, e.g. "inside freeze `year-end` (…)" or "outside the allowed
        /// windows mon-fri 09:00-17:00 (Europe/Berlin); it is Sat 10:12 there".
        reason: String,
        /// The first instant at or after now when deployments are allowed,
        /// None when there is none within a year.
        next_open: Option<Timestamp>,
    },
}

impl WindowState {
    /// Whether deployments are allowed.
    pub fn is_open(&self) -> bool {
        matches!(self, WindowState::Open)
    }
}

/// The window state of `windows` at `now`.
pub fn window_state(windows: &WindowsSpec, now: Timestamp) -> WindowState {
    let policy = Policy::new(windows);
    if policy.is_allowed(now) {
        return WindowState::Open;
    }
    WindowState::Closed {
        reason: policy.closed_reason(now),
        next_open: policy.next_open(now),
    }
}

/// Whether deployments are allowed at `t`: inside no freeze, and inside an
/// allow window (or there are none).
pub fn is_allowed(windows: &WindowsSpec, t: Timestamp) -> bool {
    Policy::new(windows).is_allowed(t)
}

/// The earliest instant at or after `now` when deployments are allowed, None
/// when there is none within 366 days.
pub fn next_open(windows: &WindowsSpec, now: Timestamp) -> Option<Timestamp> {
    Policy::new(windows).next_open(now)
}

/// `t` in UTC and on the environment's wall clock, for messages, e.g.
/// "2026-11-23T08:00:00Z (Mon 09:00 Europe/Berlin)".
pub fn describe_next(windows: &WindowsSpec, next: Timestamp) -> String {
    let policy = Policy::new(windows);
    let local = policy.tz.to_datetime(next);
    let mut clock = local_clock(local);
    if local.second() != 0 || local.subsec_nanosecond() != 0 {
        clock.push_str(&format!(":{:02}", local.second()));
    }
    format!("{next} ({clock} {})", policy.zone_name())
}

/// One environment's windows with its time zone resolved once.
struct Policy<'a> {
    windows: &'a WindowsSpec,
    tz: TimeZone,
}

impl<'a> Policy<'a> {
    fn new(windows: &'a WindowsSpec) -> Policy<'a> {
        // The spec validated the name; UTC only guards against a spec built
        // by hand.
        let tz = TimeZone::get(&windows.timezone).unwrap_or(TimeZone::UTC);
        Policy { windows, tz }
    }

    fn zone_name(&self) -> &str {
        self.tz.iana_name().unwrap_or(&self.windows.timezone)
    }

    fn is_allowed(&self, t: Timestamp) -> bool {
        self.freeze_at(t).is_none() && self.in_allow(t)
    }

    /// The freeze holding `t` that lasts longest, if any.
    fn freeze_at(&self, t: Timestamp) -> Option<&'a FreezeSpec> {
        self.windows
            .freeze
            .iter()
            .filter(|f| f.from <= t && t < f.to)
            .max_by_key(|f| f.to)
    }

    /// Whether `t` is inside an allow window, freezes aside.
    fn in_allow(&self, t: Timestamp) -> bool {
        if self.windows.allow.is_empty() {
            return true;
        }
        let local = self.tz.to_datetime(t);
        self.windows.allow.iter().any(|w| contains(w, local))
    }

    /// Alternates between leaving the freeze that holds `t` and moving to the
    /// next window entry until neither moves `t`.
    fn next_open(&self, now: Timestamp) -> Option<Timestamp> {
        let horizon = now.checked_add(HORIZON).ok()?;
        let mut t = now;
        for _ in 0..MAX_STEPS {
            if t > horizon {
                return None;
            }
            if let Some(freeze) = self.freeze_at(t) {
                t = freeze.to;
                continue;
            }
            let entry = self.next_allow_entry(t, horizon)?;
            if entry == t {
                return Some(t);
            }
            t = entry;
        }
        None
    }

    /// The earliest instant at or after `t` inside an allow window (freezes
    /// aside), None when there is none up to `horizon`.
    fn next_allow_entry(&self, mut t: Timestamp, horizon: Timestamp) -> Option<Timestamp> {
        loop {
            if self.in_allow(t) {
                return Some(t);
            }
            if t > horizon {
                return None;
            }
            let limit = t.checked_add(SCAN).ok()?;
            let entry = self
                .entry_candidates(t, limit)
                .into_iter()
                .find(|c| self.in_allow(*c));
            match entry {
                Some(entry) => return Some(entry),
                None => t = limit,
            }
        }
    }

    /// Every instant in (t, limit] where the allow windows may open, sorted.
    /// Local time only ever enters a window at its start (reached by the
    /// ticking clock, once or, in a repeated hour, twice) or where the zone's
    /// offset jumps; a start skipped by a jump is entered at the jump.
    fn entry_candidates(&self, t: Timestamp, limit: Timestamp) -> Vec<Timestamp> {
        let first = self.tz.to_datetime(t).date();
        let mut out: Vec<Timestamp> = Vec::new();
        for offset in SCAN_DATES {
            let Ok(date) = first.checked_add(Span::new().days(offset)) else {
                continue;
            };
            for w in &self.windows.allow {
                if let Some(start) = start_on(w, date) {
                    out.extend(self.instants_of(start));
                }
            }
        }
        out.extend(
            self.tz
                .following(t)
                .map(|transition| transition.timestamp())
                .take_while(|at| *at <= limit),
        );
        out.retain(|c| t < *c && *c <= limit);
        out.sort_unstable();
        out.dedup();
        out
    }

    /// The instants whose local time is `local`: none in a skipped hour, two
    /// in a repeated one.
    fn instants_of(&self, local: DateTime) -> Vec<Timestamp> {
        let offsets = match self.tz.to_ambiguous_timestamp(local).offset() {
            AmbiguousOffset::Unambiguous { offset } => vec![offset],
            AmbiguousOffset::Fold { before, after } => vec![before, after],
            AmbiguousOffset::Gap { .. } => Vec::new(),
        };
        offsets
            .into_iter()
            .filter_map(|o| o.to_timestamp(local).ok())
            .collect()
    }

    fn closed_reason(&self, t: Timestamp) -> String {
        if let Some(f) = self.freeze_at(t) {
            return format!("inside freeze `{}` ({} to {})", f.reason, f.from, f.to);
        }
        let texts: Vec<&str> = self.windows.allow.iter().map(|w| w.text.trim()).collect();
        format!(
            "outside the allowed windows {} ({}); it is {} there",
            texts.join(", "),
            self.zone_name(),
            local_clock(self.tz.to_datetime(t)),
        )
    }
}

/// A window's start and end in seconds after midnight of its start day; the
/// end may be before the start (the window ends the next day). None for a
/// window validation would have refused (empty, or starting at 24:00), which
/// matches nothing.
fn bounds(w: &AllowWindow) -> Option<(i32, i32)> {
    let start = i32::from(w.start_minute);
    let end = i32::from(w.end_minute.min(1440));
    (start < 1440 && start != end).then_some((start * 60, end * 60))
}

fn starts_on(w: &AllowWindow, weekday: i8) -> bool {
    w.days.iter().any(|d| i8::try_from(*d) == Ok(weekday))
}

fn monday_zero(date: Date) -> i8 {
    date.weekday().to_monday_zero_offset()
}

/// Whether local civil time `local` is inside `w`.
fn contains(w: &AllowWindow, local: DateTime) -> bool {
    let Some((start, end)) = bounds(w) else {
        return false;
    };
    let second =
        i32::from(local.hour()) * 3600 + i32::from(local.minute()) * 60 + i32::from(local.second());
    let day = monday_zero(local.date());
    if start < end {
        return starts_on(w, day) && start <= second && second < end;
    }
    let yesterday = (day + 6) % 7;
    (starts_on(w, day) && start <= second) || (starts_on(w, yesterday) && second < end)
}

/// The local start of `w` on `date`, if it starts that day.
fn start_on(w: &AllowWindow, date: Date) -> Option<DateTime> {
    let (start, _) = bounds(w)?;
    if !starts_on(w, monday_zero(date)) {
        return None;
    }
    let (hour, minute) = (start / 3600, start / 60 % 60);
    Some(date.at(hour as i8, minute as i8, 0, 0))
}

/// "Sat 10:12".
fn local_clock(local: DateTime) -> String {
    let day = DAY_ABBREVIATIONS[monday_zero(local.date()) as usize];
    format!("{day} {:02}:{:02}", local.hour(), local.minute())
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn spec(timezone: &str, allow: &[&str], freeze: &[(&str, &str, &str)]) -> WindowsSpec {
        WindowsSpec {
            timezone: timezone.to_owned(),
            allow: allow
                .iter()
                .map(|text| AllowWindow::parse(text).unwrap())
                .collect(),
            freeze: freeze
                .iter()
                .map(|(from, to, reason)| FreezeSpec {
                    from: ts(from),
                    to: ts(to),
                    reason: (*reason).to_owned(),
                })
                .collect(),
        }
    }

    fn ts(text: &str) -> Timestamp {
        text.parse()
            .unwrap_or_else(|e| panic!("{text} is not a timestamp: {e}"))
    }

    /// Asserts each instant's allowed-ness and, when closed, its next open.
    fn check(w: &WindowsSpec, cases: &[(&str, Option<&str>)]) {
        for (at, next) in cases {
            let at = ts(at);
            let state = window_state(w, at);
            match next {
                None => {
                    assert!(is_allowed(w, at), "{at} should be allowed: {state:?}");
                    assert_eq!(state, WindowState::Open);
                    assert_eq!(next_open(w, at), Some(at));
                }
                Some(next) => {
                    assert!(!is_allowed(w, at), "{at} should not be allowed");
                    let WindowState::Closed { next_open: got, .. } = state else {
                        panic!("{at} should be closed");
                    };
                    assert_eq!(got, Some(ts(next)), "next open after {at}");
                }
            }
        }
    }

    fn reason(w: &WindowsSpec, at: &str) -> String {
        match window_state(w, ts(at)) {
            WindowState::Closed { reason, .. } => reason,
            WindowState::Open => panic!("{at} should be closed"),
        }
    }

    #[test]
    fn no_windows_and_no_freezes_is_always_open() {
        let w = spec("UTC", &[], &[]);
        check(&w, &[("2026-11-21T03:00:00Z", None)]);
    }

    #[test]
    fn weekday_window_in_berlin() {
        // November: Berlin is UTC+1. 2026-11-20 is a Friday.
        let w = spec("Europe/Berlin", &["mon-fri 09:00-17:00"], &[]);
        check(
            &w,
            &[
                ("2026-11-20T07:59:59Z", Some("2026-11-20T08:00:00Z")),
                ("2026-11-20T08:00:00Z", None),
                ("2026-11-20T15:59:59Z", None),
                ("2026-11-20T16:00:00Z", Some("2026-11-23T08:00:00Z")),
                ("2026-11-21T09:12:00Z", Some("2026-11-23T08:00:00Z")),
            ],
        );
        assert_eq!(
            reason(&w, "2026-11-21T09:12:00Z"),
            "outside the allowed windows mon-fri 09:00-17:00 (Europe/Berlin); it is Sat 10:12 there"
        );
        assert_eq!(
            describe_next(&w, ts("2026-11-23T08:00:00Z")),
            "2026-11-23T08:00:00Z (Mon 09:00 Europe/Berlin)"
        );
        assert_eq!(
            describe_next(&w, ts("2026-11-23T08:00:30Z")),
            "2026-11-23T08:00:30Z (Mon 09:00:30 Europe/Berlin)"
        );
    }

    #[test]
    fn the_local_day_decides_not_the_utc_day() {
        // 2026-11-22T23:30Z is Sunday in UTC but Monday 00:30 in Berlin, and
        // 2026-11-23T23:30Z is Monday in UTC but Tuesday 00:30 in Berlin.
        let w = spec("Europe/Berlin", &["mon 00:00-01:00"], &[]);
        check(
            &w,
            &[
                ("2026-11-22T22:59:59Z", Some("2026-11-22T23:00:00Z")),
                ("2026-11-22T23:30:00Z", None),
                ("2026-11-23T23:30:00Z", Some("2026-11-29T23:00:00Z")),
            ],
        );
        // New York in November is UTC-5: 2026-11-21T01:00Z is Friday 20:00.
        let w = spec("America/New_York", &["fri 18:00-23:00"], &[]);
        check(
            &w,
            &[
                ("2026-11-20T22:30:00Z", Some("2026-11-20T23:00:00Z")),
                ("2026-11-21T01:00:00Z", None),
                ("2026-11-21T04:00:00Z", Some("2026-11-27T23:00:00Z")),
            ],
        );
        assert_eq!(
            reason(&w, "2026-11-21T04:00:00Z"),
            "outside the allowed windows fri 18:00-23:00 (America/New_York); it is Fri 23:00 there"
        );
    }

    #[test]
    fn weekday_window_in_new_york_follows_its_offset() {
        let w = spec("America/New_York", &["mon-fri 09:00-17:00"], &[]);
        check(
            &w,
            &[
                // Monday 2026-07-06, EDT (UTC-4).
                ("2026-07-06T12:59:59Z", Some("2026-07-06T13:00:00Z")),
                ("2026-07-06T13:00:00Z", None),
                ("2026-07-06T20:59:59Z", None),
                ("2026-07-06T21:00:00Z", Some("2026-07-07T13:00:00Z")),
                // Monday 2026-11-23, EST (UTC-5).
                ("2026-11-23T13:59:59Z", Some("2026-11-23T14:00:00Z")),
                ("2026-11-23T14:00:00Z", None),
                // Friday 2026-11-20 17:00 EST: closed until Monday.
                ("2026-11-20T22:00:00Z", Some("2026-11-23T14:00:00Z")),
            ],
        );
    }

    #[test]
    fn a_window_may_run_past_midnight() {
        // Fri 22:00 Berlin (UTC+1) is 21:00Z; it closes Sat 02:00, 01:00Z.
        let w = spec("Europe/Berlin", &["fri 22:00-02:00"], &[]);
        check(
            &w,
            &[
                ("2026-11-20T20:59:00Z", Some("2026-11-20T21:00:00Z")),
                ("2026-11-20T21:00:00Z", None),
                ("2026-11-21T00:30:00Z", None),
                ("2026-11-21T00:59:59Z", None),
                ("2026-11-21T01:00:00Z", Some("2026-11-27T21:00:00Z")),
                // Thursday night and Sunday night are not Friday night.
                ("2026-11-19T22:00:00Z", Some("2026-11-20T21:00:00Z")),
                ("2026-11-22T00:00:00Z", Some("2026-11-27T21:00:00Z")),
            ],
        );
        let w = spec("UTC", &["daily 22:00-02:00"], &[]);
        check(
            &w,
            &[
                ("2026-11-20T12:00:00Z", Some("2026-11-20T22:00:00Z")),
                ("2026-11-20T23:59:59Z", None),
                ("2026-11-21T00:00:00Z", None),
                ("2026-11-21T01:59:59Z", None),
                ("2026-11-21T02:00:00Z", Some("2026-11-21T22:00:00Z")),
            ],
        );
    }

    #[test]
    fn whole_days_and_windows_ending_at_midnight() {
        let w = spec("Europe/Berlin", &["sat,sun 00:00-24:00"], &[]);
        check(
            &w,
            &[
                // Fri 23:59:59 local, then Sat 00:00 local.
                ("2026-11-20T22:59:59Z", Some("2026-11-20T23:00:00Z")),
                ("2026-11-20T23:00:00Z", None),
                ("2026-11-22T22:59:59Z", None),
                ("2026-11-22T23:00:00Z", Some("2026-11-27T23:00:00Z")),
            ],
        );
        let w = spec("UTC", &["mon 22:00-00:00"], &[]);
        check(
            &w,
            &[
                ("2026-11-23T23:59:59Z", None),
                ("2026-11-24T00:00:00Z", Some("2026-11-30T22:00:00Z")),
            ],
        );
    }

    #[test]
    fn freezes_are_inclusive_from_and_exclusive_to() {
        let year_end = ("2026-12-20T00:00:00Z", "2027-01-04T00:00:00Z", "year-end");
        let hotfix = ("2026-11-24T10:00:00Z", "2026-11-24T12:00:00Z", "hotfix");
        let late = ("2026-11-24T16:00:00Z", "2026-11-24T20:00:00Z", "late");
        let w = spec("UTC", &["mon-fri 09:00-17:00"], &[year_end, hotfix, late]);
        check(
            &w,
            &[
                ("2026-11-24T09:59:59Z", None),
                // The freeze ends inside the window: open right then.
                ("2026-11-24T10:00:00Z", Some("2026-11-24T12:00:00Z")),
                ("2026-11-24T11:59:59Z", Some("2026-11-24T12:00:00Z")),
                ("2026-11-24T12:00:00Z", None),
                // The freeze ends after the window: the next window start.
                ("2026-11-24T16:30:00Z", Some("2026-11-25T09:00:00Z")),
                // Sunday 00:00 to Monday 00:00 two weeks later: Monday 09:00.
                ("2026-12-18T10:00:00Z", None),
                ("2026-12-20T00:00:00Z", Some("2027-01-04T09:00:00Z")),
                ("2026-12-21T10:00:00Z", Some("2027-01-04T09:00:00Z")),
            ],
        );
        assert_eq!(
            reason(&w, "2026-12-21T10:00:00Z"),
            "inside freeze `year-end` (2026-12-20T00:00:00Z to 2027-01-04T00:00:00Z)"
        );
        assert_eq!(
            reason(&w, "2026-11-24T10:00:00Z"),
            "inside freeze `hotfix` (2026-11-24T10:00:00Z to 2026-11-24T12:00:00Z)"
        );
    }

    #[test]
    fn back_to_back_and_overlapping_freezes_are_all_skipped() {
        let w = spec(
            "UTC",
            &["mon-fri 09:00-17:00"],
            &[
                ("2026-11-24T10:00:00Z", "2026-11-24T12:00:00Z", "a"),
                ("2026-11-24T12:00:00Z", "2026-11-24T13:00:00Z", "b"),
                ("2026-11-24T12:30:00Z", "2026-11-24T13:15:30Z", "c"),
            ],
        );
        check(
            &w,
            &[("2026-11-24T10:30:00Z", Some("2026-11-24T13:15:30Z"))],
        );
        // Of two freezes holding an instant, the reason names the one that
        // keeps deployments closed longer.
        assert_eq!(
            reason(&w, "2026-11-24T12:45:00Z"),
            "inside freeze `c` (2026-11-24T12:30:00Z to 2026-11-24T13:15:30Z)"
        );
    }

    #[test]
    fn freezes_without_allow_windows() {
        let w = spec(
            "UTC",
            &[],
            &[("2026-11-24T10:00:00Z", "2026-11-24T12:00:00Z", "hotfix")],
        );
        check(
            &w,
            &[
                ("2026-11-24T09:00:00Z", None),
                ("2026-11-24T10:00:00Z", Some("2026-11-24T12:00:00Z")),
                ("2026-11-24T12:00:00Z", None),
            ],
        );
    }

    #[test]
    fn nothing_within_a_year_is_none() {
        let w = spec(
            "UTC",
            &["mon-fri 09:00-17:00"],
            &[("2026-01-01T00:00:00Z", "2028-01-01T00:00:00Z", "moratorium")],
        );
        let state = window_state(&w, ts("2026-06-01T10:00:00Z"));
        assert_eq!(
            state,
            WindowState::Closed {
                reason: "inside freeze `moratorium` (2026-01-01T00:00:00Z to 2028-01-01T00:00:00Z)"
                    .to_owned(),
                next_open: None,
            }
        );
        // Exactly 366 days ahead still counts.
        let w = spec(
            "UTC",
            &[],
            &[("2026-01-01T00:00:00Z", "2027-01-02T00:00:00Z", "long")],
        );
        assert_eq!(
            next_open(&w, ts("2026-01-01T00:00:00Z")),
            Some(ts("2027-01-02T00:00:00Z"))
        );
        assert_eq!(
            next_open(&w, ts("2025-12-31T23:59:59Z")),
            Some(ts("2025-12-31T23:59:59Z"))
        );
    }

    #[test]
    fn spring_forward_enters_a_skipped_start_when_the_clock_jumps() {
        // Berlin 2026-03-29: at 01:00Z local time jumps from 02:00 to 03:00,
        // so 02:30 never happens and the window is entered at 03:00 local.
        let w = spec("Europe/Berlin", &["daily 02:30-04:00"], &[]);
        check(
            &w,
            &[
                // The day before, 02:30 CET is 01:30Z.
                ("2026-03-28T01:29:59Z", Some("2026-03-28T01:30:00Z")),
                ("2026-03-28T01:30:00Z", None),
                ("2026-03-29T00:59:59Z", Some("2026-03-29T01:00:00Z")),
                ("2026-03-29T01:00:00Z", None),
                ("2026-03-29T01:59:59Z", None),
                // 04:00 CEST; the next day 02:30 CEST is 00:30Z.
                ("2026-03-29T02:00:00Z", Some("2026-03-30T00:30:00Z")),
            ],
        );
        // A window wholly inside the skipped hour does not happen that day.
        let w = spec("Europe/Berlin", &["sun 02:30-03:00"], &[]);
        check(
            &w,
            &[
                ("2026-03-29T00:00:00Z", Some("2026-04-05T00:30:00Z")),
                ("2026-03-29T01:00:00Z", Some("2026-04-05T00:30:00Z")),
                ("2026-03-29T01:30:00Z", Some("2026-04-05T00:30:00Z")),
            ],
        );
    }

    #[test]
    fn fall_back_repeats_the_hour_and_both_occurrences_count() {
        // Berlin 2026-10-25: at 01:00Z local time goes back from 03:00 CEST
        // to 02:00 CET, so 02:30 happens at 00:30Z and again at 01:30Z.
        let w = spec("Europe/Berlin", &["daily 02:30-04:00"], &[]);
        check(
            &w,
            &[
                ("2026-10-25T00:00:00Z", Some("2026-10-25T00:30:00Z")),
                ("2026-10-25T00:30:00Z", None),
                ("2026-10-25T00:59:59Z", None),
                // 02:00 CET is before 02:30 again.
                ("2026-10-25T01:00:00Z", Some("2026-10-25T01:30:00Z")),
                ("2026-10-25T01:30:00Z", None),
                ("2026-10-25T02:59:59Z", None),
                // 04:00 CET; the next day 02:30 CET is 01:30Z.
                ("2026-10-25T03:00:00Z", Some("2026-10-26T01:30:00Z")),
            ],
        );
        // A freeze over the first 02:30 leaves the second one.
        let w = spec(
            "Europe/Berlin",
            &["daily 02:30-04:00"],
            &[("2026-10-25T00:00:00Z", "2026-10-25T01:10:00Z", "dst")],
        );
        check(
            &w,
            &[("2026-10-25T00:00:00Z", Some("2026-10-25T01:30:00Z"))],
        );
        // A window in the repeated hour is open twice.
        let w = spec("Europe/Berlin", &["sun 02:00-02:30"], &[]);
        check(
            &w,
            &[
                ("2026-10-24T23:59:59Z", Some("2026-10-25T00:00:00Z")),
                ("2026-10-25T00:00:00Z", None),
                ("2026-10-25T00:30:00Z", Some("2026-10-25T01:00:00Z")),
                ("2026-10-25T01:00:00Z", None),
                ("2026-10-25T01:30:00Z", Some("2026-11-01T01:00:00Z")),
            ],
        );
    }

    #[test]
    fn an_unknown_zone_falls_back_to_utc() {
        let w = spec("Nowhere/Special", &["mon-fri 09:00-17:00"], &[]);
        check(
            &w,
            &[("2026-11-23T08:59:59Z", Some("2026-11-23T09:00:00Z"))],
        );
    }

    #[test]
    fn windows_validation_would_refuse_match_nothing() {
        let empty = AllowWindow {
            days: vec![0, 1, 2, 3, 4, 5, 6],
            start_minute: 600,
            end_minute: 600,
            text: "daily 10:00-10:00".to_owned(),
        };
        let w = WindowsSpec {
            timezone: "UTC".to_owned(),
            allow: vec![empty],
            freeze: Vec::new(),
        };
        assert!(!is_allowed(&w, ts("2026-11-23T10:00:00Z")));
        assert_eq!(next_open(&w, ts("2026-11-23T10:00:00Z")), None);
    }

    // Property tests over random windows, zones, freezes and instants.

    const ZONES: [&str; 5] = [
        "UTC",
        "Europe/Berlin",
        "America/New_York",
        "Asia/Kolkata",
        // Half-hour daylight saving time.
        "Australia/Lord_Howe",
    ];

    /// 2026 offset changes, with their zone, to aim instants at.
    const TRANSITIONS: [(&str, &str); 6] = [
        ("Europe/Berlin", "2026-03-29T01:00:00Z"),
        ("Europe/Berlin", "2026-10-25T01:00:00Z"),
        ("America/New_York", "2026-03-08T07:00:00Z"),
        ("America/New_York", "2026-11-01T06:00:00Z"),
        ("Australia/Lord_Howe", "2026-04-04T15:00:00Z"),
        ("Australia/Lord_Howe", "2026-10-03T15:30:00Z"),
    ];

    fn clock_text(minute: u16) -> String {
        format!("{:02}:{:02}", minute / 60, minute % 60)
    }

    /// An allow entry whose start and end come from `minute`.
    fn window_text(minute: BoxedStrategy<u16>) -> impl Strategy<Value = String> {
        let days = proptest::collection::btree_set(0usize..7, 1..=7);
        let to_midnight = proptest::bool::weighted(0.15);
        (days, minute.clone(), minute, to_midnight).prop_map(|(days, start, end, to_midnight)| {
            let names = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
            let days: Vec<&str> = days.into_iter().map(|d| names[d]).collect();
            let end = if to_midnight || end == start {
                1440
            } else {
                end
            };
            format!(
                "{} {}-{}",
                days.join(","),
                clock_text(start),
                clock_text(end)
            )
        })
    }

    /// Quarter hours mostly, so windows often touch or overlap.
    fn any_minute() -> BoxedStrategy<u16> {
        prop_oneof![3 => (0u16..96).prop_map(|q| q * 15), 1 => 0u16..1440].boxed()
    }

    /// Quarter hours from 00:00 to 05:00, where the clocks change.
    fn night_minute() -> BoxedStrategy<u16> {
        (0u16..20).prop_map(|q| q * 15).boxed()
    }

    fn at_second(second: i64) -> Timestamp {
        Timestamp::from_second(second).unwrap()
    }

    /// Windows in `zone` with freezes placed around `t`.
    fn windows_around(
        zone: &'static str,
        minute: BoxedStrategy<u16>,
        t: Timestamp,
    ) -> impl Strategy<Value = (WindowsSpec, Timestamp)> {
        let allow = proptest::collection::vec(window_text(minute), 0..4);
        let freezes =
            proptest::collection::vec((-3 * 86_400i64..10 * 86_400, 60i64..5 * 86_400), 0..4);
        (allow, freezes).prop_map(move |(allow, freezes)| {
            let freeze = freezes
                .into_iter()
                .enumerate()
                .map(|(k, (from, length))| {
                    let from = t.as_second() + from;
                    FreezeSpec {
                        from: at_second(from),
                        to: at_second(from + length),
                        reason: format!("f{k}"),
                    }
                })
                .collect();
            let allow = allow
                .iter()
                .map(|text| AllowWindow::parse(text).unwrap())
                .collect();
            let windows = WindowsSpec {
                timezone: zone.to_owned(),
                allow,
                freeze,
            };
            (windows, t)
        })
    }

    /// Any zone, any instant in 2026-2027.
    fn anywhere() -> impl Strategy<Value = (WindowsSpec, Timestamp)> {
        let base = ts("2026-01-01T00:00:00Z").as_second();
        let zone = proptest::sample::select(&ZONES[..]);
        (zone, 0i64..2 * 366 * 86_400)
            .prop_flat_map(move |(zone, s)| windows_around(zone, any_minute(), at_second(base + s)))
    }

    /// A zone a few hours before or after one of its clock changes, with
    /// windows starting and ending around it.
    fn around_a_clock_change() -> impl Strategy<Value = (WindowsSpec, Timestamp)> {
        let change = proptest::sample::select(&TRANSITIONS[..]);
        (change, -6 * 3600i64..2 * 3600).prop_flat_map(|((zone, at), s)| {
            windows_around(zone, night_minute(), at_second(ts(at).as_second() + s))
        })
    }

    /// Instants strictly between `t` and `n` where the allowed set could
    /// begin: every whole minute (window starts and zone transitions are on
    /// whole minutes), every freeze end, and the second before `n`. Capped at
    /// a fortnight of minutes, then spread evenly.
    fn between(windows: &WindowsSpec, t: Timestamp, n: Timestamp) -> Vec<Timestamp> {
        let (lo, hi) = (t.as_second(), n.as_second());
        let first_minute = lo.div_euclid(60) * 60 + 60;
        let minutes = (hi - first_minute).max(0) / 60 + 1;
        let stride = (minutes / 20_160 + 1) * 60;
        let mut out: Vec<i64> = (first_minute..hi).step_by(stride as usize).collect();
        out.extend(windows.freeze.iter().map(|f| f.to.as_second()));
        out.push(hi - 1);
        out.into_iter()
            .filter(|s| lo < *s && *s < hi)
            .map(at_second)
            .collect()
    }

    /// Properties (a) to (d) of `next_open` and `window_state` at `t`.
    fn next_open_is_exact(windows: &WindowsSpec, t: Timestamp) -> Result<(), TestCaseError> {
        let policy = Policy::new(windows);
        let allowed = policy.is_allowed(t);
        let next = policy.next_open(t);
        // (d) the state agrees with the predicate.
        prop_assert_eq!(window_state(windows, t).is_open(), allowed);
        // (c) an allowed instant is its own next open.
        if allowed {
            prop_assert_eq!(next, Some(t));
        }
        // Every allow list generated here opens weekly (a clock change
        // swallows a window once a year at most) and freezes last under 5
        // days, so there always is a next open.
        let Some(n) = next else {
            return Err(TestCaseError::fail(format!("no next open after {t}")));
        };
        // (a) at or after t, allowed, within the horizon.
        prop_assert!(n >= t && policy.is_allowed(n), "{} after {}", n, t);
        prop_assert!(n <= t.checked_add(HORIZON).unwrap());
        // (b) nothing in between is allowed.
        for s in between(windows, t, n) {
            prop_assert!(
                !policy.is_allowed(s),
                "{} is allowed, between {} and {}",
                s,
                t,
                n
            );
        }
        Ok(())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]

        #[test]
        fn next_open_is_the_earliest_allowed_instant((windows, t) in anywhere()) {
            next_open_is_exact(&windows, t)?;
        }

        #[test]
        fn next_open_is_exact_across_clock_changes((windows, t) in around_a_clock_change()) {
            next_open_is_exact(&windows, t)?;
        }
    }
}
