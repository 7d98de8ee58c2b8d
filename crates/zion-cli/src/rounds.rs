//! Analysis rounds for people. The API returns round records: a run of
//! identical inconclusive rounds is one record with its `count` and
//! `last_at`, so a canary that waited ten minutes for traffic reads as one
//! line, not a hundred.

use std::fmt::Write;

use zion_core::analysis::Verdict;
use zion_core::api::{DeploymentDetail, RoundView};
use zion_core::deployment::Phase;
use zion_core::metrics::WindowMetrics;

use crate::cli::Rounds;
use crate::render::{clock_of, table};

/// How many rounds a record stands for (records from before runs: one).
fn count(r: &RoundView) -> u64 {
    u64::from(r.count.max(1))
}

/// `12`, or `12–51` for a run.
fn numbers(r: &RoundView) -> String {
    let first = u64::from(r.number);
    match count(r) {
        1 => first.to_string(),
        n => format!("{first}–{}", first + n - 1),
    }
}

/// `03:12:01`, or `03:12:01–03:15:16` for a run.
fn times(r: &RoundView) -> String {
    match r.last_at {
        Some(last) if count(r) > 1 => format!("{}–{}", clock_of(r.at), clock_of(last)),
        _ => clock_of(r.at),
    }
}

/// `; pauses at 03:10:00 if it stays so`, when a run of inconclusive
/// rounds will pause the deployment.
fn pauses(d: &DeploymentDetail) -> String {
    match d.deployment.inconclusive_pause_at {
        Some(at) => format!("; pauses at {} if it stays so", clock_of(at)),
        None => String::new(),
    }
}

/// The latest record in a few words, for the live display: `round 12:
/// pass (340 requests)`, or an inconclusive one with what it lacked.
pub fn latest_text(d: &DeploymentDetail) -> String {
    let Some(r) = d.rounds.last() else {
        return String::new();
    };
    if r.verdict != Verdict::Inconclusive {
        return format!(
            "round {}: {} ({})",
            numbers(r),
            r.verdict.name(),
            crate::render::count(r.canary.requests, "request", "requests")
        );
    }
    format!(
        "round {}: inconclusive: {}{}",
        numbers(r),
        r.summary,
        pauses(d)
    )
}

/// `waiting:` — why a running deployment holds: the latest record is
/// inconclusive (since when, what it lacked, when it will pause).
pub fn waiting(d: &DeploymentDetail) -> Option<String> {
    let view = &d.deployment;
    if !matches!(view.phase, Phase::Progressing | Phase::Paused) {
        return None;
    }
    let last = d
        .rounds
        .last()
        .filter(|r| r.verdict == Verdict::Inconclusive)?;
    let rounds: u64 = d
        .rounds
        .iter()
        .rev()
        .take_while(|r| r.verdict == Verdict::Inconclusive)
        .map(count)
        .sum();
    let mut text = format!(
        "inconclusive for {rounds} round{}",
        if rounds == 1 { "" } else { "s" }
    );
    if let Some(since) = view.progress.inconclusive_since {
        let _ = write!(text, " since {}", clock_of(since));
    }
    let _ = write!(text, ": {}{}", last.summary, pauses(d));
    Some(text)
}

/// The error rate of a window, `-` without one or without requests.
fn pct(w: Option<&WindowMetrics>) -> String {
    match w {
        Some(w) if w.requests > 0 => format!("{:.1}%", w.errors as f64 * 100.0 / w.requests as f64),
        _ => "-".into(),
    }
}

fn num(v: Option<f64>, digits: usize) -> String {
    match v {
        Some(x) => format!("{x:.digits$}"),
        None => "-".into(),
    }
}

/// `zion get`'s rounds: how many by verdict, then the last `shown` records.
pub fn section(d: &DeploymentDetail, shown: Rounds) -> String {
    let records = &d.rounds;
    let id = d.deployment.id;
    if records.is_empty() {
        return String::new();
    }
    let mut out = String::new();
    let total: u64 = records.iter().map(count).sum();
    let by_verdict: Vec<String> = [Verdict::Pass, Verdict::Fail, Verdict::Inconclusive]
        .into_iter()
        .filter_map(|v| {
            let n: u64 = records.iter().filter(|r| r.verdict == v).map(count).sum();
            (n > 0).then(|| format!("{n} {}", v.name()))
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
        let _ = write!(out, "; `zion get {id} --rounds all` lists every one");
    } else if skip > 0 {
        let _ = write!(
            out,
            "; the last {} below (`zion get {id} --rounds all` lists every one)",
            records.len() - skip,
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
                format!("{}%", r.canary_weight),
                r.verdict.name().to_string(),
                r.canary.requests.to_string(),
                pct(Some(&r.canary)),
                pct(r.stable.as_ref()),
                num(r.canary.latency_p95_ms, 1),
                num(r.stable.as_ref().and_then(|s| s.latency_p95_ms), 1),
                r.summary.clone(),
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
    out.push_str(&external_checks(&records[skip..]));
    out.push_str(&crate::judge_rounds::section(&records[skip..], numbers));
    out
}

/// The external checks of `records`, one line each: the round, the
/// check's name, value and verdict, and what was asked.
fn external_checks(records: &[RoundView]) -> String {
    let mut out = String::new();
    for r in records {
        for c in r.checks.iter().filter(|c| c.query.is_some()) {
            if out.is_empty() {
                out.push_str("  external checks:\n");
            }
            let _ = writeln!(
                out,
                "    round {}: {} {} = {} ({}) ← {}",
                numbers(r),
                c.source.as_deref().unwrap_or("external"),
                c.label(),
                num(c.canary, 4),
                c.verdict.name(),
                c.query.as_deref().unwrap_or_default(),
            );
        }
    }
    out
}

#[cfg(test)]
pub(crate) mod tests {
    use std::time::Duration;

    use jiff::Timestamp;
    use zion_core::api::DeploymentView;
    use zion_core::deployment::{Deployment, DeploymentType, Plan, PlanCommon, Progress};
    use zion_core::spec::AnalysisSpec;

    use super::*;

    fn at(text: &str) -> Timestamp {
        text.parse().unwrap()
    }

    fn record(number: u32, verdict: Verdict, count: u32, last_at: Option<&str>) -> RoundView {
        RoundView {
            deployment_id: 7,
            number,
            at: at("2026-11-22T03:00:05Z"),
            step: None,
            canary_weight: 5,
            canary: WindowMetrics::default(),
            stable: Some(WindowMetrics::default()),
            checks: Vec::new(),
            judge: None,
            verdict,
            summary: format!("{} {number}", verdict.name()),
            count,
            last_at: last_at.map(at),
        }
    }

    pub(crate) fn record_for_external() -> RoundView {
        record(3, Verdict::Fail, 1, None)
    }

    pub(crate) fn deployment_for_external(rounds: Vec<RoundView>) -> DeploymentDetail {
        deployment(Phase::Progressing, rounds)
    }

    fn deployment(phase: Phase, rounds: Vec<RoundView>) -> DeploymentDetail {
        let d = Deployment {
            id: 7,
            service: "web".into(),
            environment: "staging".into(),
            version: "2.0".into(),
            previous_version: Some("1.0".into()),
            kind: DeploymentType::Feature,
            phase,
            step: None,
            canary_weight: 5,
            requested_by: "alice".into(),
            created_at: at("2026-11-22T02:59:00Z"),
            started_at: None,
            finished_at: None,
            reason: None,
            plan: Plan::Direct {
                common: PlanCommon {
                    replicas: 1,
                    start_timeout: Duration::from_secs(60),
                    interval: Duration::from_secs(5),
                    failure_limit: 2,
                    min_requests: 20,
                    inconclusive_limit: Duration::from_secs(600),
                    checks: AnalysisSpec::default_checks(),
                    hooks: Default::default(),
                    judge: Default::default(),
                },
            },
            progress: Progress {
                inconclusive_since: Some(at("2026-11-22T03:00:00Z")),
                ..Progress::default()
            },
            gate: Default::default(),
            evidence: None,
            commit: None,
            committed_at: None,
            revision: 1,
        };
        let mut deployment = DeploymentView::of(&d);
        deployment.inconclusive_pause_at = Some(at("2026-11-22T03:10:00Z"));
        DeploymentDetail {
            deployment,
            events: Vec::new(),
            rounds,
        }
    }

    /// `web` in `production` with a deployment under way.
    pub(crate) fn target() -> zion_core::api::TargetView {
        zion_core::api::TargetView {
            service: "web".into(),
            environment: "production".into(),
            listen: "127.0.0.1:8080".into(),
            preview: None,
            strategy: zion_core::deployment::PlanKind::Canary,
            stable_version: Some("1.0".into()),
            deployment: Some(deployment(Phase::AwaitingApproval, Vec::new()).deployment),
            versions: Vec::new(),
            driven_by: None,
            router_error: None,
        }
    }

    #[test]
    fn a_run_reads_as_one_line_with_its_range_and_the_totals_count_rounds() {
        let inconclusive = Verdict::Inconclusive;
        let d = deployment(
            Phase::Progressing,
            vec![
                record(1, Verdict::Pass, 1, None),
                record(2, inconclusive, 40, Some("2026-11-22T03:03:20.5Z")),
                record(42, inconclusive, 1, None),
            ],
        );
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
        let done = deployment(Phase::Succeeded, vec![record(1, inconclusive, 1, None)]);
        assert_eq!(waiting(&done), None);
        let passing = deployment(Phase::Progressing, vec![record(1, Verdict::Pass, 1, None)]);
        assert_eq!(waiting(&passing), None);
        assert_eq!(latest_text(&passing), "round 1: pass (0 requests)");
        let mut one = record(2, Verdict::Pass, 1, None);
        one.canary.requests = 1;
        assert_eq!(
            latest_text(&deployment(Phase::Progressing, vec![one])),
            "round 2: pass (1 request)"
        );
    }
}

#[cfg(test)]
mod external_tests {
    use zion_core::analysis::CheckResult;
    use zion_core::spec::Bound;

    use super::tests::*;
    use super::*;

    #[test]
    fn external_checks_show_their_query_and_value() {
        let mut r = record_for_external();
        r.checks.push(CheckResult {
            name: "checkout_ok".into(),
            source: Some("prometheus".into()),
            query: Some(r#"sum(rate(ok{version="2.0"}[5s]))"#.into()),
            metric: None,
            bound: Bound::Min(5.0),
            canary: Some(2.5),
            baseline: None,
            verdict: Verdict::Fail,
            message: "checkout_ok 2.5 < min 5".into(),
        });
        let d = deployment_for_external(vec![r]);
        let text = section(&d, Rounds::All);
        assert!(
            text.contains(
                "    round 3: prometheus checkout_ok = 2.5000 (fail) ← sum(rate(ok{version=\"2.0\"}[5s]))"
            ),
            "{text}"
        );
    }
}
