//! Analysis rounds for people. The API returns round records: a run of
//! identical inconclusive rounds is one record with its `count` and
//! `last_at`, so a canary that waited ten minutes for traffic reads as one
//! line, not a hundred.

use std::fmt::Write;

use serde_json::Value;

use crate::cli::Rounds;
use crate::render::{clock, s, table};

/// How many rounds a record stands for (records from before runs: one).
fn count(r: &Value) -> u64 {
    r["count"].as_u64().unwrap_or(1).max(1)
}

/// `12`, or `12–51` for a run.
fn numbers(r: &Value) -> String {
    let first = r["number"].as_u64().unwrap_or(0);
    match count(r) {
        1 => first.to_string(),
        n => format!("{first}–{}", first + n - 1),
    }
}

/// `03:12:01`, or `03:12:01–03:15:16` for a run.
fn times(r: &Value) -> String {
    match r["last_at"].as_str() {
        Some(_) if count(r) > 1 => format!("{}–{}", clock(&r["at"]), clock(&r["last_at"])),
        _ => clock(&r["at"]),
    }
}

/// The latest record in a few words, for the live display: `round 12:
/// pass (340 requests)`, or an inconclusive one with what it lacked.
pub fn latest_text(d: &Value) -> String {
    let Some(r) = d["rounds"].as_array().and_then(|r| r.last()) else {
        return String::new();
    };
    let verdict = s(&r["verdict"]);
    if verdict != "inconclusive" {
        return format!(
            "round {}: {verdict} ({})",
            numbers(r),
            crate::render::counted(&r["canary"]["requests"], "request", "requests")
        );
    }
    let mut text = format!("round {}: inconclusive: {}", numbers(r), s(&r["summary"]));
    if d["inconclusive_pause_at"].is_string() {
        let _ = write!(
            text,
            "; pauses at {} if it stays so",
            clock(&d["inconclusive_pause_at"])
        );
    }
    text
}

/// `waiting:` — why a running deployment holds: the latest record is
/// inconclusive (since when, what it lacked, when it will pause).
pub fn waiting(d: &Value) -> Option<String> {
    if !matches!(s(&d["phase"]), "progressing" | "paused") {
        return None;
    }
    let records = d["rounds"].as_array()?;
    let last = records.last().filter(|r| r["verdict"] == "inconclusive")?;
    let rounds: u64 = records
        .iter()
        .rev()
        .take_while(|r| r["verdict"] == "inconclusive")
        .map(count)
        .sum();
    let mut text = format!(
        "inconclusive for {rounds} round{}",
        if rounds == 1 { "" } else { "s" }
    );
    if d["progress"]["inconclusive_since"].is_string() {
        let _ = write!(
            text,
            " since {}",
            clock(&d["progress"]["inconclusive_since"])
        );
    }
    let _ = write!(text, ": {}", s(&last["summary"]));
    if d["inconclusive_pause_at"].is_string() {
        let _ = write!(
            text,
            "; pauses at {} if it stays so",
            clock(&d["inconclusive_pause_at"])
        );
    }
    Some(text)
}

fn pct(requests: &Value, errors: &Value) -> String {
    match (requests.as_u64(), errors.as_u64()) {
        (Some(r), Some(e)) if r > 0 => format!("{:.1}%", e as f64 * 100.0 / r as f64),
        _ => "-".into(),
    }
}

fn num(v: &Value, digits: usize) -> String {
    match v.as_f64() {
        Some(x) => format!("{x:.digits$}"),
        None => "-".into(),
    }
}

/// `zion get`'s rounds: how many by verdict, then the last `shown` records.
pub fn section(d: &Value, shown: Rounds) -> String {
    let records = d["rounds"].as_array().cloned().unwrap_or_default();
    if records.is_empty() {
        return String::new();
    }
    let mut out = String::new();
    let total: u64 = records.iter().map(count).sum();
    let by_verdict: Vec<String> = ["pass", "fail", "inconclusive"]
        .into_iter()
        .filter_map(|v| {
            let n: u64 = records
                .iter()
                .filter(|r| r["verdict"] == v)
                .map(count)
                .sum();
            (n > 0).then(|| format!("{n} {v}"))
        })
        .collect();
    let _ = write!(
        out,
        "\nanalysis rounds: {total} ({}) in {} record{}",
        by_verdict.join(", "),
        records.len(),
        if records.len() == 1 { "" } else { "s" }
    );
    let skip = match shown {
        Rounds::All => 0,
        Rounds::Last(n) => records.len().saturating_sub(n),
    };
    if skip == records.len() {
        let _ = write!(out, "; `zion get {} --rounds all` lists every one", d["id"]);
    } else if skip > 0 {
        let _ = write!(
            out,
            "; the last {} below (`zion get {} --rounds all` lists every one)",
            records.len() - skip,
            d["id"]
        );
    }
    if skip == records.len() {
        out.push('\n');
        return out;
    }
    out.push_str(":\n");
    let rows: Vec<Vec<String>> = records
        .iter()
        .skip(skip)
        .map(|r| {
            vec![
                numbers(r),
                times(r),
                format!("{}%", r["canary_weight"]),
                s(&r["verdict"]).to_string(),
                r["canary"]["requests"].to_string(),
                pct(&r["canary"]["requests"], &r["canary"]["errors"]),
                pct(&r["stable"]["requests"], &r["stable"]["errors"]),
                num(&r["canary"]["latency_p95_ms"], 1),
                num(&r["stable"]["latency_p95_ms"], 1),
                s(&r["summary"]).to_string(),
            ]
        })
        .collect();
    let t = table(
        &[
            "#",
            "AT",
            "WEIGHT",
            "VERDICT",
            "REQS",
            "ERR",
            "STABLE ERR",
            "P95 MS",
            "STABLE P95",
            "SUMMARY",
        ],
        &rows,
    );
    for l in t.lines() {
        let _ = writeln!(out, "  {l}");
    }
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn record(number: u64, verdict: &str, count: u64, last_at: Option<&str>) -> Value {
        json!({
            "number": number,
            "at": "2026-11-22T03:00:05.000000000Z",
            "last_at": last_at,
            "count": count,
            "canary_weight": 5,
            "verdict": verdict,
            "canary": { "requests": 0, "errors": 0 },
            "stable": { "requests": 0, "errors": 0 },
            "summary": format!("{verdict} {number}"),
        })
    }

    fn deployment(records: Vec<Value>) -> Value {
        json!({
            "id": 7,
            "phase": "progressing",
            "progress": { "inconclusive_since": "2026-11-22T03:00:00Z" },
            "inconclusive_pause_at": "2026-11-22T03:10:00Z",
            "rounds": records,
        })
    }

    #[test]
    fn a_run_reads_as_one_line_with_its_range_and_the_totals_count_rounds() {
        let d = deployment(vec![
            record(1, "pass", 1, None),
            record(2, "inconclusive", 40, Some("2026-11-22T03:03:20.5Z")),
            record(42, "inconclusive", 1, None),
        ]);
        let all = section(&d, Rounds::All);
        assert!(
            all.starts_with("\nanalysis rounds: 42 (1 pass, 41 inconclusive) in 3 records:\n"),
            "{all}"
        );
        let run = all.lines().find(|l| l.contains("inconclusive 2")).unwrap();
        assert!(
            run.trim_start().starts_with("2–41  03:00:05–03:03:20"),
            "{run}"
        );
        let last = section(&d, Rounds::Last(1));
        assert!(
            last.contains(
                "in 3 records; the last 1 below (`zion get 7 --rounds all` lists every one):"
            ),
            "{last}"
        );
        assert_eq!(last.lines().count(), 4, "{last}");
        assert!(!last.contains("pass 1"), "{last}");
        // None listed: the totals alone.
        assert_eq!(section(&d, Rounds::Last(0)).lines().count(), 2);

        assert_eq!(
            waiting(&d).as_deref(),
            Some(
                "inconclusive for 41 rounds since 03:00:00: inconclusive 42; pauses at 03:10:00 if it stays so"
            )
        );
        assert_eq!(
            latest_text(&d),
            "round 42: inconclusive: inconclusive 42; pauses at 03:10:00 if it stays so"
        );
        let done = json!({ "phase": "succeeded", "rounds": [record(1, "inconclusive", 1, None)] });
        assert_eq!(waiting(&done), None);
        let passing = deployment(vec![record(1, "pass", 1, None)]);
        assert_eq!(waiting(&passing), None);
        assert_eq!(latest_text(&passing), "round 1: pass (0 requests)");
        let mut one = record(2, "pass", 1, None);
        one["canary"]["requests"] = json!(1);
        assert_eq!(
            latest_text(&deployment(vec![one])),
            "round 2: pass (1 request)"
        );
    }
}
