//! A prometheus SLI (`sli: prometheus`): its queries with Sloth's
//! `{{.window}}` placeholder filled in, and one minute's counts from the
//! rates they answer.
//!
//! The queries are rates per second, as Sloth's are (`sum(rate(…[{{.window}}]))`).
//! A minute is measured with the window `1m`, at the minute's end, and
//! each rate is turned into the minute's events by multiplying it by 60
//! and rounding to the nearest whole event: Prometheus extrapolates a rate
//! to the window's edges, so the counts are estimates whose ratio is what
//! matters, and rounding each one alone keeps good ≤ total.

use super::budget::Counts;
use crate::spec::SloEvents;

/// Sloth's spelling of the window placeholder.
pub const WINDOW: &str = "{{.window}}";

/// The window one minute's row is measured over.
pub const MINUTE_WINDOW: &str = "1m";

/// `query` with every `{{.window}}` replaced by `window` (e.g. `1m`).
pub fn fill(query: &str, window: &str) -> String {
    query.replace(WINDOW, window)
}

/// One minute's counts from the rates per second of the events' query and
/// the total's: None when they cannot be counts (negative, not finite),
/// which a misconfigured query answers. Bad events beyond the total (two
/// queries' extrapolations differ) leave no good event; good events
/// beyond it are the total.
pub fn minute_counts(events: &SloEvents, events_rate: f64, total_rate: f64) -> Option<Counts> {
    let count = |rate: f64| -> Option<u64> {
        let n = (rate * 60.0).round();
        // Within u64 and not negative: a rate is never either on a sane query.
        (0.0..1e18).contains(&n).then_some(n as u64)
    };
    let total = count(total_rate)?;
    let seen = count(events_rate)?;
    let good = match events {
        SloEvents::Good(_) => seen.min(total),
        SloEvents::Bad(_) => total.saturating_sub(seen),
    };
    Some(Counts::new(good, total))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_window_is_filled_everywhere_it_appears() {
        let q = r#"sum(rate(http_requests_total{code!~"5.."}[{{.window}}])) + sum(rate(x[{{.window}}]))"#;
        assert_eq!(
            fill(q, "1m"),
            r#"sum(rate(http_requests_total{code!~"5.."}[1m])) + sum(rate(x[1m]))"#
        );
        assert_eq!(fill("up", "1m"), "up");
    }

    #[test]
    fn a_minute_of_rates_is_its_events() {
        // 1000 requests in a minute, 20 of them bad: 16.67/s and 0.33/s.
        let total = 1000.0 / 60.0;
        let bad = 20.0 / 60.0;
        let good = 980.0 / 60.0;
        assert_eq!(
            minute_counts(&SloEvents::Bad(String::new()), bad, total),
            Some(Counts::new(980, 1000))
        );
        assert_eq!(
            minute_counts(&SloEvents::Good(String::new()), good, total),
            Some(Counts::new(980, 1000))
        );
        // Rounded to the nearest event.
        assert_eq!(
            minute_counts(&SloEvents::Bad(String::new()), 0.3349, 16.6749),
            Some(Counts::new(980, 1000))
        );
    }

    #[test]
    fn rates_that_cannot_be_counts_are_refused_and_counts_stay_sane() {
        let bad = SloEvents::Bad(String::new());
        let good = SloEvents::Good(String::new());
        assert_eq!(minute_counts(&bad, -1.0, 10.0), None);
        assert_eq!(minute_counts(&bad, 1.0, f64::INFINITY), None);
        assert_eq!(minute_counts(&bad, f64::NAN, 1.0), None);
        // More bad than total: nothing good; more good than total: all good.
        assert_eq!(minute_counts(&bad, 2.0, 1.0), Some(Counts::new(0, 60)));
        assert_eq!(minute_counts(&good, 2.0, 1.0), Some(Counts::new(60, 60)));
        assert_eq!(minute_counts(&good, 0.0, 0.0), Some(Counts::new(0, 0)));
    }
}
