//! How the history, report and SLO pages word their figures: spans of
//! time, durations between two instants, and the raw value a test reads
//! back from a `data-` attribute.

use jiff::Timestamp;

/// A span of `seconds` in the two largest units that say it: `45s`,
/// `3m 05s`, `2h 07m`, `3d 4h`. Negative spans (a clock set back) read
/// as `0s`.
pub(crate) fn elapsed(seconds: f64) -> String {
    if !seconds.is_finite() || seconds < 0.5 {
        return "0s".into();
    }
    // Whole seconds: a console need not show less.
    let s = seconds.round() as u64;
    let (d, h, m, sec) = (s / 86_400, s / 3_600 % 24, s / 60 % 60, s % 60);
    if d > 0 {
        format!("{d}d {h}h")
    } else if h > 0 {
        format!("{h}h {m:02}m")
    } else if m > 0 {
        format!("{m}m {sec:02}s")
    } else {
        format!("{sec}s")
    }
}

/// Seconds from `from` to `to`.
pub(crate) fn seconds_between(from: Timestamp, to: Timestamp) -> f64 {
    to.duration_since(from).as_secs_f64()
}

/// A figure as a `data-` attribute holds it: every digit of the `f64`
/// (Rust's shortest text that reads back as the same number, as the
/// API's JSON writes it), so a reader compares it exactly.
pub(crate) fn exact(v: f64) -> String {
    v.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_read_in_their_two_largest_units() {
        assert_eq!(elapsed(0.2), "0s");
        assert_eq!(elapsed(-5.0), "0s");
        assert_eq!(elapsed(f64::NAN), "0s");
        assert_eq!(elapsed(45.4), "45s");
        assert_eq!(elapsed(185.0), "3m 05s");
        assert_eq!(elapsed(2.0 * 3600.0 + 7.0 * 60.0 + 30.0), "2h 07m");
        assert_eq!(elapsed(3.0 * 86_400.0 + 4.0 * 3600.0 + 59.0), "3d 4h");
    }

    #[test]
    fn exact_figures_read_back_as_the_same_number() {
        for v in [0.1 + 0.2, 1.0 / 3.0, 2.0, 1e-9, 123_456.789] {
            assert_eq!(exact(v).parse::<f64>().unwrap(), v);
        }
        assert_eq!(exact(2.0), "2");
    }

    #[test]
    fn seconds_between_two_instants() {
        let a: Timestamp = "2026-03-01T10:00:00Z".parse().unwrap();
        let b: Timestamp = "2026-03-01T10:01:30.5Z".parse().unwrap();
        assert_eq!(seconds_between(a, b), 90.5);
    }
}
