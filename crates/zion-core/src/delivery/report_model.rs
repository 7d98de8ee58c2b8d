//! The deployment report's shape: the query, the period and every
//! section's figures, as `build_report` (in `report.rs`) fills them and the
//! renderers and the API's JSON read them. See `report.rs` for the
//! definitions the figures follow.

use jiff::Timestamp;
use jiff::civil::Date;
use jiff::tz::TimeZone;
use serde::{Deserialize, Serialize};

use super::dora::{DoraMetrics, DurationFigure, FrequencyFigure, RateFigure};
use crate::deployment::{DeploymentType, PlanKind};

/// What to report on.
#[derive(Debug, Clone)]
pub struct ReportQuery {
    /// Start of the period (inclusive).
    pub since: Timestamp,
    /// End of the period (exclusive).
    pub until: Timestamp,
    /// Only this environment.
    pub environment: Option<String>,
    /// Only this service.
    pub service: Option<String>,
    /// Days and months are cut in this time zone.
    pub tz: TimeZone,
}

/// The period and filters a report covers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PeriodInfo {
    pub since: Timestamp,
    pub until: Timestamp,
    /// IANA name, or a fixed offset such as `+02:00`.
    pub time_zone: String,
    /// Calendar days in the period (a partial first or last day included).
    pub days: u64,
    pub environment: Option<String>,
    pub service: Option<String>,
}

impl PeriodInfo {
    /// How long the period lasts, `(until − since) / 24 h`: what per-day
    /// figures divide by (a partial first or last day counts in `days`
    /// as a whole one).
    pub fn length_days(&self) -> f64 {
        if self.until <= self.since {
            return 0.0;
        }
        self.until.duration_since(self.since).as_secs_f64() / 86_400.0
    }
}

/// The whole report. The five DORA figures sit at the top level (for the
/// production deployments that pass the filters) beside the total.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub period: PeriodInfo,
    pub total_deployments: u64,
    pub deployment_frequency: Option<FrequencyFigure>,
    pub lead_time_for_changes: Option<DurationFigure>,
    pub change_failure_rate: Option<RateFigure>,
    pub failed_deployment_recovery_time: Option<DurationFigure>,
    pub deployment_rework_rate: Option<RateFigure>,
    pub summary: Option<Summary>,
    pub environments: Option<Vec<EnvironmentStats>>,
    pub types: Option<Vec<TypeStats>>,
    /// Zion-run deployments by strategy (imported ones have none).
    pub strategies: Option<Vec<StrategyStats>>,
    pub frequency: Option<Frequency>,
    pub speed: Option<Speed>,
    pub rollbacks: Option<Rollbacks>,
    pub approvals: Option<Approvals>,
    pub quality_gates: Option<QualityGateStats>,
    /// The DORA metrics per service (production) and per environment.
    pub dora: Option<DoraBreakdown>,
    /// One entry per calendar month the period touches.
    pub trends: Option<Vec<MonthTrend>>,
    /// The audit log's state, from its verification (see
    /// [`AuditSummary::of`]); not computed from the history.
    pub audit: Option<AuditSummary>,
    /// Filled by the caller from the audit log's `deployment.refused`
    /// entries: requests that never became deployments.
    #[serde(default)]
    pub refusals: Option<PolicyRefusals>,
    /// Filled by the caller from the recorded SLI rows: each SLO of the
    /// spec (within the filters) over the period. None when the spec
    /// declares none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slos: Option<Vec<crate::slo::report::SloSummary>>,
}

/// The audit log's verification as the report shows it: whether it held,
/// how far it read, and the first bad entry when it did not. The fields
/// are in the order the report lists them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditSummary {
    /// Signed checkpoints kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checkpoints: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entries: Option<u64>,
    /// Why verification failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_bad_entry: Option<u64>,
    /// When the whole log was last read from its first entry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_full_verification: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latest_checkpoint_root: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latest_checkpoint_size: Option<u64>,
    /// The tree's root hash, hex.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub root: Option<String>,
    pub verified: Verified,
    /// Where this verification started reading (it resumes from the last
    /// one's end).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verified_from_entry: Option<u64>,
}

/// Whether the audit log verified, as the report writes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Verified {
    #[serde(rename = "yes")]
    Yes,
    /// Capitals, so that a failure stands out in the report.
    #[serde(rename = "NO")]
    No,
}

impl Verified {
    pub fn as_str(self) -> &'static str {
        match self {
            Verified::Yes => "yes",
            Verified::No => "NO",
        }
    }
}

/// Deployment requests the environments' policy refused in the period
/// (quality gates, pre-checks, windows, `requires`, artifacts): how often
/// each gate held. Nothing ran, so they are in no other figure.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PolicyRefusals {
    pub total: u64,
    /// By the rule that refused them (`quality_gates_failed`,
    /// `pre_checks_failed`, `window_closed`, `requires_unmet`,
    /// `artifact_mismatch`).
    pub by_rule: std::collections::BTreeMap<String, u64>,
    /// The audit entries they are recorded in, by index.
    pub entries: Vec<u64>,
}

/// Totals by result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    pub total: u64,
    pub attempted: u64,
    pub succeeded: u64,
    pub failed: u64,
    pub rolled_back: u64,
    pub cancelled: u64,
    pub rejected: u64,
    pub expired: u64,
    /// Deployments to production environments.
    pub production: u64,
    /// Succeeded over attempted; None when nothing was attempted.
    pub success_rate: Option<f64>,
}

/// One environment's deployments.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EnvironmentStats {
    pub environment: String,
    pub production: bool,
    pub deployments: u64,
    /// Of all deployments in the report.
    pub share: f64,
    pub attempted: u64,
    pub succeeded: u64,
    pub success_rate: Option<f64>,
    /// Mean duration of its succeeded deployments.
    pub mean_duration_seconds: Option<f64>,
}

/// One deployment type's deployments.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TypeStats {
    #[serde(rename = "type")]
    pub kind: DeploymentType,
    pub deployments: u64,
    pub share: f64,
    pub attempted: u64,
    pub succeeded: u64,
    pub success_rate: Option<f64>,
}

/// One rollout strategy's deployments: the kind of their plans, so a
/// target's first version and a rollback count as `direct`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StrategyStats {
    pub strategy: PlanKind,
    pub deployments: u64,
    pub attempted: u64,
    pub succeeded: u64,
    pub success_rate: Option<f64>,
    /// Mean analysis rounds per attempted deployment.
    pub mean_analysis_rounds: Option<f64>,
}

/// Deployments on one calendar day.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DayCount {
    pub date: Date,
    pub deployments: u64,
    pub succeeded: u64,
    /// Only part of the day lies in the period (it starts or ends mid-day).
    pub partial: bool,
}

/// How deployments spread over the period's days.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Frequency {
    /// Calendar days listed (a partial first or last day included).
    pub days: u64,
    /// How long the period lasted in days of 86 400 s, fractional.
    pub length_days: f64,
    /// All deployments over `length_days`.
    pub daily_average: f64,
    /// The busiest day (the earliest on a tie).
    pub peak: DayCount,
    /// The quietest day, days without deployments included (the earliest on
    /// a tie). Only whole days compete when the period has any: an hour of
    /// a day at the period's edge is not a quiet day.
    pub lowest: DayCount,
    /// Every day of the period, in order.
    pub per_day: Vec<DayCount>,
}

/// A deployment at one end of the duration range.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DurationExtreme {
    pub seconds: f64,
    pub id: String,
    pub service: String,
    pub environment: String,
    #[serde(rename = "type")]
    pub kind: DeploymentType,
}

/// One histogram bin, `[from_seconds, to_seconds)`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HistogramBin {
    pub from_seconds: f64,
    pub to_seconds: f64,
    pub deployments: u64,
}

/// Durations of succeeded deployments.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Speed {
    /// Succeeded deployments measured.
    pub measured: u64,
    pub mean_seconds: f64,
    pub fastest: DurationExtreme,
    pub slowest: DurationExtreme,
    /// Nearest-rank percentiles.
    pub p50_seconds: f64,
    pub p95_seconds: f64,
    /// Equal-width bins from a round multiple of the width at or below the
    /// fastest to past the slowest; at most 20.
    pub histogram: Vec<HistogramBin>,
}

/// Deployments reversed by a rollback, and rollback deployments. A
/// deployment a rollback deployment reversed counts here as a manual
/// rollback timed by that deployment's duration (see
/// [`super::reversal`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rollbacks {
    /// Deployments rolled back, or with a rollback recorded.
    pub count: u64,
    /// Of attempted deployments.
    pub share: Option<f64>,
    pub automatic: u64,
    pub manual: u64,
    /// Rolled back without a record of who decided (imported).
    pub trigger_unknown: u64,
    /// Rollbacks with a recorded duration.
    pub timed: u64,
    pub mean_seconds: Option<f64>,
    pub median_seconds: Option<f64>,
    /// Rollbacks that brought the previous version back (result rolled
    /// back, or reversed by a rollback deployment that succeeded).
    pub succeeded: u64,
    /// Succeeded over count; None when nothing was rolled back.
    pub success_rate: Option<f64>,
    /// Deployments of type `rollback` (a target moved back on purpose).
    pub rollback_deployments: u64,
    pub rollback_deployments_succeeded: u64,
}

/// Approval waits.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Approvals {
    /// Deployments that waited for approvals.
    pub with_approval: u64,
    pub median_wait_seconds: Option<f64>,
    pub mean_wait_seconds: Option<f64>,
    pub longest_wait_seconds: Option<f64>,
    pub rejected: u64,
    pub expired: u64,
}

/// Quality-gate evidence.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QualityGateStats {
    /// Deployments that carried a gate verdict.
    pub with_evidence: u64,
    pub passed: u64,
    pub failed: u64,
    pub pass_rate: f64,
    pub mean_coverage: Option<f64>,
    pub coverage_samples: u64,
    pub mean_tests_passed_ratio: Option<f64>,
    pub tests_samples: u64,
    /// Sum over deployments that reported the count; None when none did.
    pub findings_error: Option<u64>,
    pub findings_warning: Option<u64>,
}

/// The DORA metrics of one service's production deployments.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServiceDora {
    pub service: String,
    #[serde(flatten)]
    pub metrics: DoraMetrics,
}

/// The DORA metrics of one environment's deployments, taken as a stream.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EnvironmentDora {
    pub environment: String,
    pub production: bool,
    #[serde(flatten)]
    pub metrics: DoraMetrics,
}

/// DORA metrics broken down.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DoraBreakdown {
    pub by_service: Vec<ServiceDora>,
    pub by_environment: Vec<EnvironmentDora>,
}

/// One calendar month of the period.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MonthTrend {
    /// `YYYY-MM`.
    pub month: String,
    pub deployments: u64,
    pub attempted: u64,
    pub succeeded: u64,
    pub success_rate: Option<f64>,
    pub mean_duration_seconds: Option<f64>,
    /// The five DORA metrics of the month's production deployments (those
    /// passing the filters), as the headline figures are computed for the
    /// period: frequency per day of the month's part of the period, its
    /// bucket judged on the month's days, failures restored whenever
    /// that happened.
    #[serde(flatten)]
    pub dora: DoraMetrics,
}
