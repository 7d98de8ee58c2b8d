//! Analysis: threshold checks of the canary's metrics (against fixed bounds
//! or against stable in the same window), and the round verdict.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::judge::JudgeReport;
use crate::metrics::{Metric, WindowMetrics};
use crate::sources::Reading;
use crate::spec::{Bound, Check};

/// The outcome of one check or one round.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Pass,
    Fail,
    /// Not enough data to judge (too few requests, no baseline…).
    Inconclusive,
}

impl Verdict {
    /// The snake_case name.
    pub fn name(self) -> &'static str {
        match self {
            Verdict::Pass => "pass",
            Verdict::Fail => "fail",
            Verdict::Inconclusive => "inconclusive",
        }
    }
}

/// One check's figures and verdict within a round.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CheckResult {
    /// The check's name (records from before metric sources: empty, and
    /// the metric names it).
    #[serde(default)]
    pub name: String,
    /// The external source's kind (`prometheus`, `web`, `exec`); None for
    /// a built-in metric.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// What an external check asked: the rendered PromQL, the URL, or the
    /// command line.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query: Option<String>,
    /// The built-in metric; None for an external check.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metric: Option<Metric>,
    pub bound: Bound,
    /// The canary's value (an external check's value), None when it had no
    /// data.
    pub canary: Option<f64>,
    /// Stable's value in the same window (shown for every check, used by
    /// `max_ratio_to_baseline`).
    pub baseline: Option<f64>,
    pub verdict: Verdict,
    pub message: String,
}

/// One analysis round as recorded: inputs, figures, verdict.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AnalysisRound {
    pub deployment_id: i64,
    /// 1-based round number within the deployment.
    pub number: u32,
    pub at: Timestamp,
    pub step: Option<u32>,
    pub canary_weight: u8,
    pub canary: WindowMetrics,
    pub stable: Option<WindowMetrics>,
    pub checks: Vec<CheckResult>,
    /// The statistical judge's figures, when it judged the round.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub judge: Option<JudgeReport>,
    pub verdict: Verdict,
    /// One line: why this verdict.
    pub summary: String,
    /// How many rounds in a row this record stands for: a run of identical
    /// inconclusive rounds is kept as one record (see [`AnalysisRound::absorbs`]).
    #[serde(default = "one")]
    pub count: u32,
    /// When the last round of the run ran; None for a single round.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_at: Option<Timestamp>,
}

fn one() -> u32 {
    1
}

impl AnalysisRound {
    /// The number of the last round this record stands for.
    pub fn last_number(&self) -> u32 {
        self.number.saturating_add(self.count.max(1) - 1)
    }

    /// Whether `next` only repeats this record: both inconclusive for the
    /// same reasons (summary and every check's verdict and message) at the
    /// same step and weight, and `next` is the round right after the last
    /// one this record covers. A quiet canary then leaves one record per
    /// run, not one per interval, and nothing it saw is lost.
    pub fn absorbs(&self, next: &AnalysisRound) -> bool {
        let same_checks = self.checks.len() == next.checks.len()
            && self.checks.iter().zip(&next.checks).all(|(a, b)| {
                a.metric == b.metric
                    && a.name == b.name
                    && a.verdict == b.verdict
                    && a.message == b.message
            });
        self.verdict == Verdict::Inconclusive
            && next.verdict == Verdict::Inconclusive
            && self.deployment_id == next.deployment_id
            && u64::from(next.number) == u64::from(self.last_number()) + 1
            && self.step == next.step
            && self.canary_weight == next.canary_weight
            && self.summary == next.summary
            && self.judge == next.judge
            && same_checks
    }

    /// Extends this record over `next`, which it [`absorbs`](Self::absorbs).
    pub fn absorb(&mut self, next: &AnalysisRound) {
        self.count = self.count.max(1).saturating_add(next.count.max(1));
        self.last_at = Some(next.last_at.unwrap_or(next.at));
    }
}

/// Latency differences up to this many milliseconds never fail a
/// `max_ratio_to_baseline` check.
pub const LATENCY_NOISE_FLOOR_MS: f64 = 1.0;

/// Below this many canary requests in a window, a p95 comparison also
/// allows up to stable's p99.
pub const SMALL_SAMPLE_REQUESTS: u64 = 50;

/// The bound a small sample's p95 is fairly held to. The p95 of 20
/// requests is their second slowest: with the canary and stable alike, it
/// lands above stable's p95 × 1.2 in about a quarter of rounds (two
/// scheduler hiccups suffice), and above stable's own p99 in about 2% (of
/// 50 requests, the third slowest: about 1%). So
/// while the canary's p95 rests on fewer than [`SMALL_SAMPLE_REQUESTS`]
/// requests, a p95 within stable's p99 of the same window is not called
/// slower; a really slower version is above it too.
fn small_sample_tail(
    metric: Metric,
    canary: &WindowMetrics,
    stable: Option<&WindowMetrics>,
) -> Option<f64> {
    if metric != Metric::LatencyP95 || canary.requests >= SMALL_SAMPLE_REQUESTS {
        return None;
    }
    stable?.latency_p99_ms
}

impl CheckResult {
    /// What rounds call the check: its name, or for a record from before
    /// metric sources its metric.
    pub fn label(&self) -> String {
        match (&self.metric, self.name.is_empty()) {
            (Some(m), true) => m.name().to_string(),
            _ => self.name.clone(),
        }
    }
}

/// Evaluates one check: a built-in one on the windows (`canary` and
/// `stable` cover the same window), an external one on its reading among
/// `readings`.
pub fn evaluate_check(
    check: &Check,
    canary: &WindowMetrics,
    stable: Option<&WindowMetrics>,
    readings: &[Reading],
) -> CheckResult {
    let Some(metric) = check.metric() else {
        let reading = readings.iter().find(|r| r.check == check.name);
        return crate::sources::judge(check, reading);
    };
    let value = canary.value(metric);
    let baseline = stable.and_then(|s| s.value(metric));
    let (verdict, message) = match (check.bound, value) {
        (_, None) => (
            Verdict::Inconclusive,
            format!("{metric}: no data for the canary"),
        ),
        (Bound::Max(max), Some(v)) => {
            if v <= max {
                (
                    Verdict::Pass,
                    format!("{metric} {} ≤ max {}", fmt(v), fmt(max)),
                )
            } else {
                (
                    Verdict::Fail,
                    format!("{metric} {} > max {}", fmt(v), fmt(max)),
                )
            }
        }
        (Bound::Min(min), Some(v)) => {
            if v >= min {
                (
                    Verdict::Pass,
                    format!("{metric} {} ≥ min {}", fmt(v), fmt(min)),
                )
            } else {
                (
                    Verdict::Fail,
                    format!("{metric} {} < min {}", fmt(v), fmt(min)),
                )
            }
        }
        (Bound::MaxRatioToBaseline(ratio), Some(v)) => match baseline {
            None => (
                Verdict::Inconclusive,
                format!("{metric}: no baseline data from stable in this window"),
            ),
            Some(b) => {
                // Sub-millisecond latencies differ by scheduler and connection
                // noise far beyond any ratio; a canary within the noise floor
                // of stable is not slower (this also covers a zero baseline).
                let slack = if metric.is_latency() {
                    LATENCY_NOISE_FLOOR_MS
                } else {
                    0.0
                };
                let limit = (b * ratio).max(b + slack);
                let tail = small_sample_tail(metric, canary, stable).filter(|t| *t > limit);
                let how = if let Some(t) = tail {
                    format!(
                        "limit {}: stable's p99, as the canary's p95 rests on {} requests",
                        fmt(t),
                        canary.requests
                    )
                } else if limit > b * ratio {
                    format!(
                        "limit {}: baseline {} + {slack} ms noise floor",
                        fmt(limit),
                        fmt(b)
                    )
                } else {
                    format!("limit {}: {ratio}× baseline {}", fmt(limit), fmt(b))
                };
                let limit = tail.unwrap_or(limit);
                if v <= limit {
                    (Verdict::Pass, format!("{metric} {} ≤ {how}", fmt(v)))
                } else {
                    (Verdict::Fail, format!("{metric} {} > {how}", fmt(v)))
                }
            }
        },
    };
    CheckResult {
        name: check.name.clone(),
        source: None,
        query: None,
        metric: Some(metric),
        bound: check.bound,
        canary: value,
        baseline,
        verdict,
        message,
    }
}

/// Combines check verdicts: any fail fails; otherwise any inconclusive is
/// inconclusive; otherwise pass.
pub fn combine(results: &[CheckResult]) -> Verdict {
    if results.iter().any(|r| r.verdict == Verdict::Fail) {
        Verdict::Fail
    } else if results.iter().any(|r| r.verdict == Verdict::Inconclusive) {
        Verdict::Inconclusive
    } else {
        Verdict::Pass
    }
}

/// Four significant figures, no trailing noise.
pub(crate) fn fmt(v: f64) -> String {
    if v == 0.0 || !v.is_finite() {
        return format!("{v}");
    }
    let digits = (4 - 1 - v.abs().log10().floor() as i32).max(0) as usize;
    let s = format!("{v:.digits$}");
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn window(requests: u64, errors: u64, p95: f64) -> WindowMetrics {
        WindowMetrics {
            window_secs: 1.0,
            requests,
            errors,
            latency_p95_ms: Some(p95),
            ..Default::default()
        }
    }

    #[test]
    fn bounds_pass_and_fail() {
        let max = Check::builtin(Metric::ErrorRate, Bound::Max(0.01));
        assert_eq!(
            evaluate_check(&max, &window(100, 1, 1.0), None, &[]).verdict,
            Verdict::Pass
        );
        assert_eq!(
            evaluate_check(&max, &window(100, 2, 1.0), None, &[]).verdict,
            Verdict::Fail
        );
        assert_eq!(
            evaluate_check(&max, &window(0, 0, 1.0), None, &[]).verdict,
            Verdict::Inconclusive
        );
    }

    fn quiet_round(number: u32) -> AnalysisRound {
        let check = Check::builtin(Metric::ErrorRate, Bound::Max(0.01));
        let canary = window(0, 0, 1.0);
        AnalysisRound {
            deployment_id: 7,
            number,
            at: Timestamp::from_second(1_800_000_000 + i64::from(number) * 5).unwrap(),
            step: Some(0),
            canary_weight: 5,
            checks: vec![evaluate_check(&check, &canary, None, &[])],
            judge: None,
            canary,
            stable: None,
            verdict: Verdict::Inconclusive,
            summary: "0 of 20 requests in 5s at 5%".into(),
            count: 1,
            last_at: None,
        }
    }

    #[test]
    fn a_run_of_identical_inconclusive_rounds_is_one_record() {
        let mut run = quiet_round(3);
        for n in 4..=6 {
            let next = quiet_round(n);
            assert!(run.absorbs(&next), "round {n}");
            run.absorb(&next);
        }
        assert_eq!((run.number, run.count, run.last_number()), (3, 4, 6));
        assert_eq!(run.at, quiet_round(3).at);
        assert_eq!(run.last_at, Some(quiet_round(6).at));
        // Only the round right after the run continues it.
        assert!(!run.absorbs(&quiet_round(6)));
        assert!(!run.absorbs(&quiet_round(8)));
        // Anything that differs starts a new record.
        let differs: [fn(&mut AnalysisRound); 6] = [
            |r| r.summary = "1 of 20 requests in 5s at 5%".into(),
            |r| r.step = Some(1),
            |r| r.canary_weight = 25,
            |r| r.verdict = Verdict::Pass,
            |r| r.checks[0].message = "error_rate 0 ≤ max 0.01".into(),
            |r| r.deployment_id = 8,
        ];
        for change in differs {
            let mut next = quiet_round(7);
            change(&mut next);
            assert!(!run.absorbs(&next), "{next:?}");
        }
        let mut failed = quiet_round(1);
        failed.verdict = Verdict::Fail;
        assert!(
            !failed.absorbs(&quiet_round(2)),
            "only inconclusive runs fold"
        );
    }

    #[test]
    fn records_from_before_metric_sources_still_read() {
        let old = r#"{"metric":"error_rate","bound":{"max":0.01},"canary":0.02,
            "baseline":null,"verdict":"fail","message":"error_rate 0.02 > max 0.01"}"#;
        let r: CheckResult = serde_json::from_str(old).unwrap();
        assert_eq!(r.metric, Some(Metric::ErrorRate));
        assert_eq!((r.name.as_str(), r.label()), ("", "error_rate".to_string()));
        assert_eq!((r.source, r.query), (None, None));
        // A built-in check's record names it and writes no external fields.
        let c = Check::builtin(Metric::ErrorRate, Bound::Max(0.01));
        let now = evaluate_check(&c, &window(100, 1, 1.0), None, &[]);
        let json = serde_json::to_string(&now).unwrap();
        assert!(json.contains(r#""name":"error_rate""#), "{json}");
        assert!(
            !json.contains("query") && !json.contains("source"),
            "{json}"
        );
    }

    #[test]
    fn a_small_samples_p95_is_held_to_stables_p99() {
        let c = Check::builtin(Metric::LatencyP95, Bound::MaxRatioToBaseline(1.2));
        let at = |requests: u64, p95: f64| {
            let canary = WindowMetrics {
                requests,
                ..window(requests, 0, p95)
            };
            let stable = WindowMetrics {
                latency_p99_ms: Some(3.0),
                ..window(2_000, 0, 0.65)
            };
            evaluate_check(&c, &canary, Some(&stable), &[])
        };
        // Twenty requests, two of them slowed by the scheduler: within
        // what stable itself shows at its p99.
        let r = at(20, 2.3);
        assert_eq!(r.verdict, Verdict::Pass, "{}", r.message);
        assert!(
            r.message
                .contains("limit 3: stable's p99, as the canary's p95 rests on 20 requests"),
            "{}",
            r.message
        );
        // A really slower version is above it too.
        assert_eq!(at(20, 45.0).verdict, Verdict::Fail);
        // With enough requests the p95 is judged as before.
        let r = at(500, 2.3);
        assert_eq!(r.verdict, Verdict::Fail, "{}", r.message);
        assert!(r.message.contains("noise floor"), "{}", r.message);
    }

    #[test]
    fn latency_ratio_respects_the_noise_floor() {
        let c = Check::builtin(Metric::LatencyP95, Bound::MaxRatioToBaseline(1.2));
        let at = |canary: f64, stable: f64| {
            evaluate_check(
                &c,
                &window(100, 0, canary),
                Some(&window(100, 0, stable)),
                &[],
            )
            .verdict
        };
        // 0.3 ms against 0.15 ms is noise, not a regression.
        assert_eq!(at(0.3, 0.15), Verdict::Pass);
        assert_eq!(at(1.14, 0.15), Verdict::Pass);
        assert_eq!(at(1.2, 0.15), Verdict::Fail);
        // Above the floor the ratio rules.
        assert_eq!(at(59.0, 50.0), Verdict::Pass);
        assert_eq!(at(61.0, 50.0), Verdict::Fail);
        assert_eq!(
            evaluate_check(&c, &window(100, 0, 5.0), None, &[]).verdict,
            Verdict::Inconclusive
        );
    }
}
