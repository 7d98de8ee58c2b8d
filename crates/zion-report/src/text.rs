//! How figures read: durations, rates, counts and dates as a person writes
//! them, and the escaping both output formats need. Both renderers use these
//! so a figure reads the same in Markdown and in HTML.

use jiff::civil::{Date, Weekday};
use zion_core::delivery::Cluster;
use zion_core::delivery::FrequencyBucket;
use zion_core::deployment::DeploymentType;

/// A count with thousands separators: `1,247`.
pub fn count(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A fraction as a percentage with one decimal. A rate that is not exactly
/// 0 or 1 never prints as `0.0%` or `100.0%`.
pub fn percent(fraction: f64) -> String {
    let text = format!("{:.1}", fraction * 100.0);
    if text == "100.0" && fraction < 1.0 {
        return ">99.9%".to_string();
    }
    if text == "0.0" && fraction > 0.0 {
        return "<0.1%".to_string();
    }
    format!("{text}%")
}

/// A plain number with at most two decimals, trailing zeros dropped.
pub fn decimal(value: f64) -> String {
    let text = format!("{value:.2}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    if text == "-0" {
        "0".to_string()
    } else {
        text.to_string()
    }
}

/// A rate per day as `11.35/day`, or per week, month (30 days) or year
/// when it is under 0.1 a day, so that one deployment a year never reads
/// `0/day`.
pub fn per_day(value: f64) -> String {
    let (n, per) = rate_parts(value);
    format!("{n}/{per}")
}

/// A rate per day as its figure and its unit (`day`, `week`, `month`,
/// `year`): the shortest unit in which it reads at least 0.1.
pub fn rate_parts(value: f64) -> (String, &'static str) {
    for (per, days) in [("day", 1.0), ("week", 7.0), ("month", 30.0)] {
        if value * days >= 0.1 {
            return (decimal(value * days), per);
        }
    }
    (decimal(value * 365.0), "year")
}

/// A duration in seconds as `47s`, `2.5s`, `2m 34s`, `1h 02m`, `3d 4h`.
pub fn duration(seconds: f64) -> String {
    if seconds < 60.0 {
        let rounded = (seconds * 10.0).round() / 10.0;
        if rounded.fract() == 0.0 {
            return format!("{rounded:.0}s");
        }
        return format!("{rounded:.1}s");
    }
    let total = seconds.round() as u64;
    let (d, h, m, s) = (
        total / 86_400,
        total / 3600 % 24,
        total / 60 % 60,
        total % 60,
    );
    if total < 3600 {
        format!("{m}m {s:02}s")
    } else if total < 86_400 {
        format!("{h}h {m:02}m")
    } else {
        format!("{d}d {h}h")
    }
}

/// `Thursday 2026-01-29`.
pub fn day(date: Date) -> String {
    let name = match date.weekday() {
        Weekday::Monday => "Monday",
        Weekday::Tuesday => "Tuesday",
        Weekday::Wednesday => "Wednesday",
        Weekday::Thursday => "Thursday",
        Weekday::Friday => "Friday",
        Weekday::Saturday => "Saturday",
        Weekday::Sunday => "Sunday",
    };
    format!("{name} {date}")
}

/// A deployment type as a heading word.
pub fn kind(kind: DeploymentType) -> &'static str {
    match kind {
        DeploymentType::Feature => "Feature",
        DeploymentType::Hotfix => "Hotfix",
        DeploymentType::Config => "Config",
        DeploymentType::Rollback => "Rollback",
    }
}

/// A cluster as a word.
pub fn cluster(cluster: Cluster) -> &'static str {
    match cluster {
        Cluster::Elite => "Elite",
        Cluster::High => "High",
        Cluster::Medium => "Medium",
        Cluster::Low => "Low",
    }
}

/// A frequency bucket as a word.
pub fn bucket(bucket: FrequencyBucket) -> &'static str {
    match bucket {
        FrequencyBucket::Daily => "daily",
        FrequencyBucket::Weekly => "weekly",
        FrequencyBucket::Monthly => "monthly",
        FrequencyBucket::Yearly => "yearly",
    }
}

/// What an absent figure reads as.
pub const NO_DATA: &str = "no data";
/// What a section with nothing to show reads as.
pub const NO_DATA_SECTION: &str = "No data for this period.";

/// `f(value)` or [`NO_DATA`].
pub fn or_no_data<T>(value: Option<T>, f: impl FnOnce(T) -> String) -> String {
    value.map(f).unwrap_or_else(|| NO_DATA.to_string())
}

/// Text made safe for HTML element content and quoted attribute values.
pub fn html_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Text made inert in Markdown: punctuation that could start emphasis,
/// code, a link, HTML, an entity or a table cell is backslash-escaped, and
/// line breaks become spaces so a name cannot end a table row or start a
/// heading. Text is never placed at the start of a line, so list and
/// heading markers (`-`, `+`, `#`) need no escape, and `(` `)` `!` are inert
/// once `[` `]` are escaped.
pub fn markdown_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\\' | '`' | '*' | '_' | '[' | ']' | '<' | '>' | '|' | '&' | '~' => {
                out.push('\\');
                out.push(c);
            }
            '\n' | '\r' => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn figures_read_naturally() {
        assert_eq!(count(0), "0");
        assert_eq!(count(999), "999");
        assert_eq!(count(1247), "1,247");
        assert_eq!(count(1_000_000), "1,000,000");
        assert_eq!(percent(0.997), "99.7%");
        assert_eq!(percent(1.0), "100.0%");
        assert_eq!(percent(0.99999), ">99.9%");
        assert_eq!(percent(0.0), "0.0%");
        assert_eq!(percent(0.0001), "<0.1%");
        assert_eq!(decimal(41.6), "41.6");
        assert_eq!(decimal(11.0 / 6.0), "1.83");
        assert_eq!(decimal(2.0), "2");
        assert_eq!(per_day(11.35), "11.35/day");
        assert_eq!(per_day(0.1), "0.1/day");
        // One a month is 0.033 a day: 0.23 a week.
        assert_eq!(per_day(1.0 / 30.0), "0.23/week");
        // One in 100 days: 0.07 a week, 0.3 a month.
        assert_eq!(per_day(0.01), "0.3/month");
        // One a year.
        assert_eq!(per_day(1.0 / 365.0), "1/year");
        assert_eq!(per_day(0.0), "0/year");
        assert_eq!(duration(47.0), "47s");
        assert_eq!(duration(2.5), "2.5s");
        assert_eq!(duration(154.0), "2m 34s");
        assert_eq!(duration(3720.0), "1h 02m");
        assert_eq!(duration(104_400.0), "1d 5h");
        assert_eq!(day("2026-01-29".parse().unwrap()), "Thursday 2026-01-29");
    }

    #[test]
    fn escaping() {
        assert_eq!(
            html_escape(r#"<a href="x">'&'</a>"#),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
        assert_eq!(
            markdown_escape("a|b *c* <d>\n# e_f"),
            r"a\|b \*c\* \<d\> # e\_f"
        );
    }
}
