//! Parsing of deployment-window `allow` entries such as `mon-fri 09:00-17:00`.
//! Only the text format lives here; deciding whether an instant falls in a
//! window is the policy's business, not the spec's.

use super::AllowWindow;

const DAY_NAMES: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

const FORMAT_HINT: &str = "write DAYS HH:MM-HH:MM, e.g. `mon-fri 09:00-17:00`, `sat,sun 10:00-14:00` or `daily 22:00-02:00`";

impl AllowWindow {
    /// Parses one `allow` entry: `DAYS HH:MM-HH:MM` where DAYS is `daily`,
    /// `*`, a day (`mon`), a range that may wrap (`fri-mon`) or a comma list
    /// of those. The error says what is wrong and how to write it.
    pub fn parse(text: &str) -> Result<AllowWindow, String> {
        let trimmed = text.trim();
        let Some((days_part, hours_part)) = trimmed.rsplit_once(char::is_whitespace) else {
            return Err(format!("`{text}` is not a window: {FORMAT_HINT}"));
        };
        // Spaces after commas (`sat, sun`) are harmless, so drop them.
        let days_part: String = days_part.chars().filter(|c| !c.is_whitespace()).collect();
        let days = parse_days(&days_part.to_ascii_lowercase())?;
        let (start_minute, end_minute) = parse_hours(hours_part)?;
        Ok(AllowWindow {
            days,
            start_minute,
            end_minute,
            text: text.to_owned(),
        })
    }
}

fn day_index(name: &str) -> Result<u8, String> {
    DAY_NAMES
        .iter()
        .position(|d| *d == name)
        .map(|i| i as u8)
        .ok_or_else(|| {
            format!(
                "`{name}` is not a day: use {}, `daily` or `*`",
                DAY_NAMES.join(", ")
            )
        })
}

fn parse_days(text: &str) -> Result<Vec<u8>, String> {
    if text == "daily" || text == "*" {
        return Ok((0..7).collect());
    }
    let mut days = Vec::new();
    for item in text.split(',') {
        if item.is_empty() {
            return Err(format!(
                "`{text}` has an empty day between commas: {FORMAT_HINT}"
            ));
        }
        match item.split_once('-') {
            Some((from, to)) => {
                let (from, to) = (day_index(from)?, day_index(to)?);
                // A range runs forward through the week and may wrap past
                // Sunday, so `fri-mon` is fri, sat, sun, mon.
                let mut d = from;
                loop {
                    days.push(d);
                    if d == to {
                        break;
                    }
                    d = (d + 1) % 7;
                }
            }
            None => days.push(day_index(item)?),
        }
    }
    days.sort_unstable();
    days.dedup();
    Ok(days)
}

fn parse_clock(text: &str) -> Result<u16, String> {
    let bad = || format!("`{text}` is not a time of day: write HH:MM from 00:00 to 24:00");
    let (h, m) = text.split_once(':').ok_or_else(bad)?;
    let digits = |s: &str| !s.is_empty() && s.len() <= 2 && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(h) || m.len() != 2 || !digits(m) {
        return Err(bad());
    }
    let (h, m): (u16, u16) = (h.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?);
    if m > 59 || h > 24 || (h == 24 && m != 0) {
        return Err(bad());
    }
    Ok(h * 60 + m)
}

fn parse_hours(text: &str) -> Result<(u16, u16), String> {
    let Some((start, end)) = text.split_once('-') else {
        return Err(format!("`{text}` is not a time range: {FORMAT_HINT}"));
    };
    let (start, end) = (parse_clock(start)?, parse_clock(end)?);
    if start == 1440 {
        return Err("a window cannot start at 24:00: start it at 00:00 instead".to_owned());
    }
    if start == end {
        return Err(format!(
            "`{text}` starts and ends at the same time: for a whole day write 00:00-24:00"
        ));
    }
    Ok((start, end))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(text: &str) -> AllowWindow {
        AllowWindow::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    fn err(text: &str) -> String {
        AllowWindow::parse(text).expect_err(text)
    }

    #[test]
    fn parses_day_ranges_lists_and_daily() {
        let w = ok("mon-fri 09:00-17:00");
        assert_eq!(w.days, [0, 1, 2, 3, 4]);
        assert_eq!((w.start_minute, w.end_minute), (540, 1020));
        assert_eq!(w.text, "mon-fri 09:00-17:00");
        assert_eq!(ok("sat,sun 10:00-14:00").days, [5, 6]);
        assert_eq!(ok("sat, sun 10:00-14:00").days, [5, 6]);
        assert_eq!(ok("wed 10:00-14:00").days, [2]);
        assert_eq!(ok("daily 00:00-24:00").days, [0, 1, 2, 3, 4, 5, 6]);
        assert_eq!(ok("* 00:00-24:00").end_minute, 1440);
        assert_eq!(ok("Mon-Tue 9:30-10:00").start_minute, 570);
    }

    #[test]
    fn day_ranges_wrap_past_sunday() {
        assert_eq!(ok("fri-mon 08:00-12:00").days, [0, 4, 5, 6]);
        assert_eq!(ok("sun-sun 08:00-12:00").days, [6]);
    }

    #[test]
    fn hours_may_wrap_past_midnight() {
        let w = ok("fri 22:00-02:00");
        assert_eq!((w.start_minute, w.end_minute), (1320, 120));
    }

    #[test]
    fn rejects_bad_entries_with_a_hint() {
        assert!(err("mon-fri").contains("DAYS HH:MM-HH:MM"));
        assert!(err("mon-fry 09:00-17:00").contains("`fry` is not a day"));
        assert!(err("mon,,tue 09:00-17:00").contains("empty day"));
        assert!(err("mon 09:00").contains("not a time range"));
        assert!(err("mon 25:00-26:00").contains("`25:00` is not a time of day"));
        assert!(err("mon 09:60-10:00").contains("not a time of day"));
        assert!(err("mon 24:30-10:00").contains("not a time of day"));
        assert!(err("mon 9-17").contains("not a time of day"));
        assert!(err("mon 24:00-10:00").contains("cannot start at 24:00"));
        assert!(err("mon 09:00-09:00").contains("same time"));
    }
}
