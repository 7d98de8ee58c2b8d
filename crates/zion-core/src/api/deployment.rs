//! A deployment as `GET /api/v1/deployments/{id}` and the lists return it.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::analysis::{AnalysisRound, CheckResult, Verdict};
use crate::deployment::{
    Deployment, DeploymentType, Event, Phase, Plan, PlanKind, Progress, Rollout,
};
use crate::governance::approvals::still_needed;
use crate::governance::quality::Evidence;
use crate::governance::{BreakGlass, Gate};
use crate::judge::JudgeReport;
use crate::metrics::WindowMetrics;

/// A deployment: its recorded fields (but its revision) and its plan, with
/// each strategy's progress worked out so readers need not decode the plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DeploymentView {
    pub id: i64,
    pub service: String,
    pub environment: String,
    pub version: String,
    pub previous_version: Option<String>,
    #[serde(rename = "type")]
    pub kind: DeploymentType,
    pub phase: Phase,
    /// The current plan step, 1-based; None before the first.
    pub step: Option<u32>,
    /// How many steps the plan has.
    pub steps: usize,
    pub canary_weight: u8,
    pub requested_by: String,
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub created_at: Timestamp,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
    pub started_at: Option<Timestamp>,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
    pub finished_at: Option<Timestamp>,
    pub reason: Option<String>,
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub plan: Plan,
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub progress: Progress,
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub gate: Gate,
    pub evidence: Option<Evidence>,
    pub commit: Option<String>,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
    pub committed_at: Option<Timestamp>,
    /// The plan's kind (`direct` for a first version and a rollback alike).
    pub strategy: PlanKind,
    /// Tells a first version, a rollback and a plain direct plan apart.
    pub rollout: Rollout,
    /// Blue-green beside a stable version: the preview's state while it
    /// rolls out (`null` once it has ended); absent for other strategies.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "super::present"
    )]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Preview>, required = false))]
    pub preview: Option<Option<Preview>>,
    /// Rolling beside a stable version: its batches. (Not in the OpenAPI
    /// schema: a flattened optional struct has no JSON Schema that
    /// validates both ways; its fields are those of `RollingView`.)
    #[cfg_attr(feature = "openapi", schema(ignore))]
    #[serde(flatten, default, skip_serializing_if = "Option::is_none")]
    pub rolling: Option<RollingView>,
    /// When a run of inconclusive rounds will pause it, if it goes on.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
    pub inconclusive_pause_at: Option<Timestamp>,
    /// Marked at the top level so no reader can miss it.
    pub break_glass: Option<BreakGlass>,
    /// Present when the deployment needs approvals.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approvals: Option<ApprovalsView>,
}

/// A blue-green preview's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Preview {
    /// The new version is starting; the preview answers 503 until it is ready.
    Starting,
    Ready,
}

impl Preview {
    /// The snake_case name used in JSON.
    pub fn name(self) -> &'static str {
        match self {
            Preview::Starting => "starting",
            Preview::Ready => "ready",
        }
    }
}

/// A rolling deployment's batches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RollingView {
    /// The current batch, 1-based.
    pub batch: u32,
    pub batches: u32,
    /// Whether the current batch's replicas are all ready.
    pub batch_ready: bool,
    /// Replicas of the stable version replaced so far.
    pub replaced: u32,
}

/// Where a deployment's approvals stand.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ApprovalsView {
    pub required: u32,
    /// Who approved, in order.
    pub given: Vec<String>,
    /// What is still missing, in words; None once approved.
    pub still_needed: Option<String>,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
    pub expires_at: Option<Timestamp>,
}

/// A deployment with its events and analysis rounds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DeploymentDetail {
    #[serde(flatten)]
    pub deployment: DeploymentView,
    pub events: Vec<EventView>,
    pub rounds: Vec<RoundView>,
}

/// A deployment waiting for approvals, as `GET /api/v1/approvals` lists
/// it for the caller.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AwaitingApproval {
    #[serde(flatten)]
    pub deployment: DeploymentView,
    /// Whether the caller's approval would count.
    pub you_may_approve: bool,
    /// Why it would not, when it would not.
    pub why_not: Option<String>,
    /// What is still missing, in words.
    pub still_needed: Option<String>,
}

/// One recorded change of a deployment; `step` is 1-based.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EventView {
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub at: Timestamp,
    pub from_phase: Phase,
    pub to_phase: Phase,
    pub step: Option<u32>,
    pub canary_weight: u8,
    pub actor: String,
    pub reason: String,
}

/// One analysis round (or a run of identical inconclusive ones); `step`
/// is 1-based.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RoundView {
    pub deployment_id: i64,
    pub number: u32,
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
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
    pub summary: String,
    pub count: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
    pub last_at: Option<Timestamp>,
}

impl DeploymentView {
    /// The view of `d`.
    pub fn of(d: &Deployment) -> DeploymentView {
        let ready = d.progress.ready_at.is_some();
        let beside_stable = d.previous_version.is_some();
        let state = match (d.phase, ready) {
            (Phase::Progressing | Phase::Paused, true) => Some(Preview::Ready),
            (Phase::Progressing | Phase::Paused, false) => Some(Preview::Starting),
            _ => None,
        };
        let preview = (d.plan.blue_green_plan().is_some() && beside_stable).then_some(state);
        let rolling = d.plan.rolling_plan().filter(|_| beside_stable).map(|r| {
            let n = d.plan.replicas();
            let i = d.step.unwrap_or(0);
            let batch_ready = d.progress.batch_ready_at.is_some();
            let replaced = match d.phase {
                Phase::Succeeded => n,
                _ if batch_ready => r.replaced(i, n),
                _ if i == 0 => 0,
                _ => r.replaced(i - 1, n),
            };
            RollingView {
                batch: i + 1,
                batches: r.batches(n),
                batch_ready,
                replaced,
            }
        });
        let g = &d.gate;
        let approvals = (g.approvals_required > 0).then(|| ApprovalsView {
            required: g.approvals_required,
            given: g.approvals().map(|a| a.principal.clone()).collect(),
            still_needed: still_needed(d),
            expires_at: g.expires_at,
        });
        DeploymentView {
            id: d.id,
            service: d.service.clone(),
            environment: d.environment.clone(),
            version: d.version.clone(),
            previous_version: d.previous_version.clone(),
            kind: d.kind,
            phase: d.phase,
            step: d.step.map(|s| s + 1),
            steps: d.plan.steps().len(),
            canary_weight: d.canary_weight,
            requested_by: d.requested_by.clone(),
            created_at: d.created_at,
            started_at: d.started_at,
            finished_at: d.finished_at,
            reason: d.reason.clone(),
            plan: d.plan.clone(),
            progress: d.progress.clone(),
            gate: d.gate.clone(),
            evidence: d.evidence.clone(),
            commit: d.commit.clone(),
            committed_at: d.committed_at,
            strategy: d.strategy(),
            rollout: d.rollout(),
            preview,
            rolling,
            inconclusive_pause_at: crate::traffic::pause_due_at(d),
            break_glass: g.break_glass.clone(),
            approvals,
        }
    }
}

impl DeploymentDetail {
    /// The view of `d` with its events and rounds.
    pub fn of(d: &Deployment, events: &[Event], rounds: &[AnalysisRound]) -> DeploymentDetail {
        DeploymentDetail {
            deployment: DeploymentView::of(d),
            events: events.iter().map(EventView::of).collect(),
            rounds: rounds.iter().map(RoundView::of).collect(),
        }
    }
}

impl EventView {
    pub fn of(e: &Event) -> EventView {
        EventView {
            at: e.at,
            from_phase: e.from_phase,
            to_phase: e.to_phase,
            step: e.step.map(|s| s + 1),
            canary_weight: e.canary_weight,
            actor: e.actor.clone(),
            reason: e.reason.clone(),
        }
    }
}

impl RoundView {
    pub fn of(r: &AnalysisRound) -> RoundView {
        RoundView {
            deployment_id: r.deployment_id,
            number: r.number,
            at: r.at,
            step: r.step.map(|s| s + 1),
            canary_weight: r.canary_weight,
            canary: r.canary.clone(),
            stable: r.stable.clone(),
            checks: r.checks.clone(),
            judge: r.judge.clone(),
            verdict: r.verdict,
            summary: r.summary.clone(),
            count: r.count,
            last_at: r.last_at,
        }
    }
}

#[cfg(test)]
#[path = "deployment_tests.rs"]
mod tests;
