//! Analysis: threshold checks of the canary's metrics (against fixed bounds
//! or against stable in the same window), and the round verdict.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::metrics::{Metric, WindowMetrics};
use crate::spec::{Bound, Check};

/// The outcome of one check or one round.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
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
pub struct CheckResult {
    pub metric: Metric,
    pub bound: Bound,
    /// The canary's value, None when it had no data.
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
    pub verdict: Verdict,
    /// One line: why this verdict.
    pub summary: String,
}

/// Evaluates one check. `canary` and `stable` cover the same window.
pub fn evaluate_check(
    check: &Check,
    canary: &WindowMetrics,
    stable: Option<&WindowMetrics>,
) -> CheckResult {
    let metric = check.metric;
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
                let limit = b * ratio;
                // A zero baseline makes any ratio meaningless; compare values
                // directly so an idle-fast stable does not fail every canary.
                if v <= limit || v <= b {
                    (
                        Verdict::Pass,
                        format!(
                            "{metric} {} ≤ {ratio}× baseline {} ({})",
                            fmt(v),
                            fmt(b),
                            fmt(limit)
                        ),
                    )
                } else {
                    (
                        Verdict::Fail,
                        format!(
                            "{metric} {} > {ratio}× baseline {} ({})",
                            fmt(v),
                            fmt(b),
                            fmt(limit)
                        ),
                    )
                }
            }
        },
    };
    CheckResult {
        metric,
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
fn fmt(v: f64) -> String {
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
