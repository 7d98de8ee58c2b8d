//! The statistical judge (`analysis.judge: mann_whitney`), after Kayenta's
//! NetflixACAJudge: per metric a two-sided Mann-Whitney U test of the new
//! version's samples against stable's over the round's window
//! ([`mann_whitney`]), an effect size and a direction ([`classify`]), and a
//! weighted score over groups of metrics ([`score`]). Pure: the samples
//! come in, a [`JudgeReport`] goes out.

use serde::{Deserialize, Serialize};

use crate::analysis::{Verdict, fmt};

pub mod classify;
pub mod mann_whitney;
pub mod normal;
pub mod score;
pub mod settings;

pub use classify::{Classification, MetricJudgement, classify};
pub use settings::{Direction, Judge, JudgedMetric, MannWhitney, SampleMetric};

/// One version's samples over one window.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Samples {
    /// One per request, in milliseconds.
    pub latency_ms: Vec<f64>,
    /// One per second that had requests: errors / requests.
    pub error_rate: Vec<f64>,
    /// One per second of the window: requests.
    pub request_rate: Vec<f64>,
}

impl Samples {
    /// The samples from per-second counts (`(requests, errors)` for every
    /// second of the window, in order, a quiet second as `(0, 0)`) and the
    /// per-request latencies.
    pub fn from_seconds(seconds: &[(u64, u64)], latency_ms: Vec<f64>) -> Samples {
        Samples {
            latency_ms,
            error_rate: seconds
                .iter()
                .filter(|(r, _)| *r > 0)
                .map(|(r, e)| *e as f64 / *r as f64)
                .collect(),
            request_rate: seconds.iter().map(|(r, _)| *r as f64).collect(),
        }
    }

    /// The samples of `metric`.
    pub fn of(&self, metric: SampleMetric) -> &[f64] {
        match metric {
            SampleMetric::Latency => &self.latency_ms,
            SampleMetric::ErrorRate => &self.error_rate,
            SampleMetric::RequestRate => &self.request_rate,
        }
    }
}

/// What the judge found in one round: every metric's figures and the
/// score with the bounds it was held to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct JudgeReport {
    pub score: f64,
    pub pass: f64,
    pub marginal: f64,
    pub confidence: f64,
    pub metrics: Vec<MetricJudgement>,
    /// Why the score was forced to 0, when it was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub forced: Option<String>,
}

impl JudgeReport {
    /// Pass at or above `pass`; a marginal score holds the step like an
    /// inconclusive round; below `marginal` fails.
    pub fn verdict(&self) -> Verdict {
        if self.score >= self.pass {
            Verdict::Pass
        } else if self.score >= self.marginal {
            Verdict::Inconclusive
        } else {
            Verdict::Fail
        }
    }

    /// One line: the score against its bounds, and what failed.
    pub fn summary(&self) -> String {
        let verdict = match self.verdict() {
            Verdict::Pass => format!("≥ pass {}", fmt(self.pass)),
            Verdict::Inconclusive => format!(
                "marginal (≥ {}, < pass {})",
                fmt(self.marginal),
                fmt(self.pass)
            ),
            Verdict::Fail => format!("< marginal {}", fmt(self.marginal)),
        };
        let mut text = format!("judge score {} {verdict}", fmt(self.score));
        if let Some(why) = &self.forced {
            text.push_str(&format!(": {why}"));
        }
        let failed: Vec<String> = self
            .metrics
            .iter()
            .filter(|m| m.failed)
            .map(|m| {
                let p = m
                    .p_value
                    .map(|p| format!(", p {p:.2e}"))
                    .unwrap_or_default();
                let e = m
                    .effect_size
                    .map(|e| format!(", effect {}", fmt(e)))
                    .unwrap_or_default();
                format!("{} {}{p}{e}", m.metric, m.classification.name())
            })
            .collect();
        if !failed.is_empty() {
            text.push_str(&format!("; {}", failed.join("; ")));
        }
        text
    }
}

/// Judges the new version's samples `canary` against stable's `baseline`.
pub fn judge(settings: &MannWhitney, canary: &Samples, baseline: &Samples) -> JudgeReport {
    let metrics: Vec<MetricJudgement> = settings
        .metrics
        .iter()
        .map(|m| {
            classify(
                m,
                canary.of(m.metric),
                baseline.of(m.metric),
                settings.confidence,
            )
        })
        .collect();
    let (score, forced) = score::score(settings, &metrics);
    JudgeReport {
        score,
        pass: settings.pass,
        marginal: settings.marginal,
        confidence: settings.confidence,
        metrics,
        forced,
    }
}

#[cfg(test)]
#[path = "judge_tests.rs"]
mod tests;
