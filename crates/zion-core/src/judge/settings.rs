//! How a service's rounds are judged: the threshold checks alone, or the
//! Mann-Whitney judge with its metrics, groups and score bounds.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// `analysis.judge`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Judge {
    /// Every check's bound decides (the default).
    #[default]
    Thresholds,
    /// Kayenta's NetflixACAJudge: a Mann-Whitney U test per metric, a
    /// weighted score over groups.
    MannWhitney(MannWhitney),
}

impl Judge {
    /// The spec's name of the judge.
    pub fn name(&self) -> &'static str {
        match self {
            Judge::Thresholds => "thresholds",
            Judge::MannWhitney(_) => "mann_whitney",
        }
    }

    /// The Mann-Whitney settings, if that is the judge.
    pub fn mann_whitney(&self) -> Option<&MannWhitney> {
        match self {
            Judge::MannWhitney(m) => Some(m),
            Judge::Thresholds => None,
        }
    }

    /// Whether rounds judge with the default (thresholds).
    pub fn is_thresholds(&self) -> bool {
        matches!(self, Judge::Thresholds)
    }
}

/// `analysis.mann_whitney`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MannWhitney {
    /// A difference counts when the p-value is below 1 − confidence.
    pub confidence: f64,
    /// A score at or above passes the round.
    pub pass: f64,
    /// A score at or above (below `pass`) holds the step: the round counts
    /// as inconclusive.
    pub marginal: f64,
    /// Each group's weight; a group not listed weighs 1.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub groups: BTreeMap<String, f64>,
    pub metrics: Vec<JudgedMetric>,
}

impl MannWhitney {
    pub const DEFAULT_CONFIDENCE: f64 = 0.98;
    pub const DEFAULT_PASS: f64 = 95.0;
    pub const DEFAULT_MARGINAL: f64 = 75.0;

    /// The weight of `group`.
    pub fn weight(&self, group: &str) -> f64 {
        self.groups.get(group).copied().unwrap_or(1.0)
    }

    /// The judge with every default: latency and error rate, each its own
    /// group, neither allowed to increase.
    pub fn defaults() -> MannWhitney {
        MannWhitney {
            confidence: Self::DEFAULT_CONFIDENCE,
            pass: Self::DEFAULT_PASS,
            marginal: Self::DEFAULT_MARGINAL,
            groups: BTreeMap::new(),
            metrics: vec![
                JudgedMetric::new(SampleMetric::Latency),
                JudgedMetric::new(SampleMetric::ErrorRate),
            ],
        }
    }
}

/// What a judged metric's samples are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum SampleMetric {
    /// One sample per request: its latency in milliseconds.
    Latency,
    /// One sample per second with requests: errors / requests.
    ErrorRate,
    /// One sample per second of the window: requests.
    RequestRate,
}

impl SampleMetric {
    pub const ALL: [SampleMetric; 3] = [
        SampleMetric::Latency,
        SampleMetric::ErrorRate,
        SampleMetric::RequestRate,
    ];

    /// The spec's name.
    pub fn name(self) -> &'static str {
        match self {
            SampleMetric::Latency => "latency",
            SampleMetric::ErrorRate => "error_rate",
            SampleMetric::RequestRate => "request_rate",
        }
    }

    /// Parses a spec name.
    pub fn from_name(name: &str) -> Option<SampleMetric> {
        Self::ALL.into_iter().find(|m| m.name() == name)
    }
}

impl std::fmt::Display for SampleMetric {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Which way a metric may not move.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// Only an increase fails (latency, errors).
    Increase,
    /// Only a decrease fails (throughput, successes).
    Decrease,
    /// Either fails.
    Either,
}

impl Direction {
    pub const ALL: [Direction; 3] = [Direction::Increase, Direction::Decrease, Direction::Either];

    /// The spec's name.
    pub fn name(self) -> &'static str {
        match self {
            Direction::Increase => "increase",
            Direction::Decrease => "decrease",
            Direction::Either => "either",
        }
    }

    /// Parses a spec name.
    pub fn from_name(name: &str) -> Option<Direction> {
        Self::ALL.into_iter().find(|d| d.name() == name)
    }
}

/// `analysis.mann_whitney.metrics[]`: one metric, its group and its
/// effect-size bounds (the mean ratio new / stable).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JudgedMetric {
    pub metric: SampleMetric,
    /// Default: the metric's name.
    pub group: String,
    /// Default: increase.
    pub direction: Direction,
    /// A significant increase with a mean ratio at or below this passes.
    /// Default 1.0.
    pub allowed_increase: f64,
    /// A significant increase with a mean ratio at or above this fails the
    /// round outright.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub critical_increase: Option<f64>,
    /// A significant decrease with a mean ratio at or above this passes.
    /// Default 1.0.
    pub allowed_decrease: f64,
    /// A significant decrease with a mean ratio at or below this fails the
    /// round outright.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub critical_decrease: Option<f64>,
    /// No data counts as a failing metric rather than an unscored one.
    #[serde(default)]
    pub must_have_data: bool,
    /// A failure of this metric fails the round outright (score 0).
    #[serde(default)]
    pub critical: bool,
}

impl JudgedMetric {
    /// `metric` with every default.
    pub fn new(metric: SampleMetric) -> JudgedMetric {
        JudgedMetric {
            metric,
            group: metric.name().to_string(),
            direction: Direction::Increase,
            allowed_increase: 1.0,
            critical_increase: None,
            allowed_decrease: 1.0,
            critical_decrease: None,
            must_have_data: false,
            critical: false,
        }
    }
}
