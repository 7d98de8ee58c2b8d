//! Spec durations: `500ms`, `30s`, `5m`, `24h` (one number, one unit).

use std::time::Duration;

use crate::text::excerpt;

/// Parses `500ms`, `30s`, `5m`, `24h`, `2d`. Whole numbers only. A number
/// too large for a duration is refused, never wrapped; errors repeat only
/// the start of a long text.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    let shown = excerpt(text);
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (digits, unit) = t.split_at(split);
    if digits.is_empty() {
        return Err(format!(
            "`{shown}` is not a duration: write a whole number and a unit, e.g. 500ms, 30s, 5m, 24h"
        ));
    }
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("`{shown}` is too large a duration"))?;
    let ms_per = match unit {
        "ms" => 1,
        "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        "" => {
            return Err(format!(
                "`{shown}` has no unit: add ms, s, m, h or d (e.g. {n}s)"
            ));
        }
        other => {
            return Err(format!(
                "`{shown}` has an unknown unit `{}`: use ms, s, m, h or d",
                excerpt(other)
            ));
        }
    };
    n.checked_mul(ms_per)
        .map(Duration::from_millis)
        .ok_or_else(|| format!("`{shown}` is too large a duration"))
}

/// Formats a duration the way the spec writes it (largest exact unit up to
/// hours, so a day reads `24h`).
pub fn format_duration(d: Duration) -> String {
    let ms = d.as_millis();
    for (unit, per) in [("h", 3_600_000u128), ("m", 60_000), ("s", 1_000)] {
        if ms >= per && ms % per == 0 {
            return format!("{}{unit}", ms / per);
        }
    }
    format!("{ms}ms")
}

/// Serde as a spec duration string.
pub mod serde_duration {
    use super::*;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format_duration(*d))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let text = String::deserialize(d)?;
        parse_duration(&text).map_err(serde::de::Error::custom)
    }
}

/// Serde for an optional spec duration string.
pub mod serde_opt_duration {
    use super::*;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => s.serialize_some(&format_duration(*d)),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        let text = Option::<String>::deserialize(d)?;
        text.map(|t| parse_duration(&t).map_err(serde::de::Error::custom))
            .transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_each_unit() {
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration("30s").unwrap(), Duration::from_secs(30));
        assert_eq!(parse_duration("5m").unwrap(), Duration::from_secs(300));
        assert_eq!(parse_duration("24h").unwrap(), Duration::from_secs(86_400));
        assert_eq!(parse_duration("2d").unwrap(), Duration::from_secs(172_800));
    }

    #[test]
    fn rejects_bad_text_with_a_hint() {
        assert!(parse_duration("30").unwrap_err().contains("no unit"));
        assert!(
            parse_duration("5 minutes")
                .unwrap_err()
                .contains("unknown unit")
        );
        assert!(parse_duration("s").unwrap_err().contains("whole number"));
        assert!(parse_duration("1.5s").unwrap_err().contains("unknown unit"));
    }

    #[test]
    fn overflow_is_refused_never_wrapped() {
        // Past u64 in the number itself, and past u64 milliseconds once
        // multiplied by the unit.
        for t in [
            "18446744073709551616ms",
            "18446744073709551615s",
            "99999999999999999d",
        ] {
            let e = parse_duration(t).unwrap_err();
            assert!(e.contains("too large a duration"), "{t}: {e}");
        }
        assert_eq!(
            parse_duration("18446744073709551615ms").unwrap(),
            Duration::from_millis(u64::MAX)
        );
    }

    #[test]
    fn a_long_text_is_not_repeated_whole() {
        let long = format!("{}s", "9".repeat(10_000));
        let e = parse_duration(&long).unwrap_err();
        assert!(e.contains("too large") && e.len() < 200, "{e}");
        let e = parse_duration(&format!("5{}", "x".repeat(10_000))).unwrap_err();
        assert!(e.len() < 300, "{e}");
    }

    #[test]
    fn formats_round_trip() {
        for t in ["500ms", "30s", "5m", "24h", "1500ms", "90s"] {
            assert_eq!(format_duration(parse_duration(t).unwrap()), t);
        }
    }
}
