//! A deployment's recorded state: its phase, its plan (a snapshot of the
//! spec's policy taken when it was created, so a later `apply` cannot change
//! a rollout half-way), and the events that moved it.

use std::time::Duration;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::governance::Gate;
use crate::governance::quality::Evidence;
use crate::spec::{Batch, Check, HealthSpec, MatchRule, ServiceSpec, Strategy};

/// Where a deployment is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    Pending,
    AwaitingApproval,
    Progressing,
    Paused,
    Succeeded,
    RollingBack,
    RolledBack,
    Rejected,
    Expired,
    Cancelled,
    /// Could not start: the new version never became healthy; no traffic moved.
    Failed,
}

impl Phase {
    /// Every phase.
    pub const ALL: [Phase; 11] = [
        Phase::Pending,
        Phase::AwaitingApproval,
        Phase::Progressing,
        Phase::Paused,
        Phase::Succeeded,
        Phase::RollingBack,
        Phase::RolledBack,
        Phase::Rejected,
        Phase::Expired,
        Phase::Cancelled,
        Phase::Failed,
    ];

    /// No transition leaves a terminal phase.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            Phase::Succeeded
                | Phase::RolledBack
                | Phase::Rejected
                | Phase::Expired
                | Phase::Cancelled
                | Phase::Failed
        )
    }

    /// The snake_case name used in JSON and on screen.
    pub fn name(self) -> &'static str {
        match self {
            Phase::Pending => "pending",
            Phase::AwaitingApproval => "awaiting_approval",
            Phase::Progressing => "progressing",
            Phase::Paused => "paused",
            Phase::Succeeded => "succeeded",
            Phase::RollingBack => "rolling_back",
            Phase::RolledBack => "rolled_back",
            Phase::Rejected => "rejected",
            Phase::Expired => "expired",
            Phase::Cancelled => "cancelled",
            Phase::Failed => "failed",
        }
    }

    /// Parses a phase name.
    pub fn from_name(name: &str) -> Option<Phase> {
        Phase::ALL.into_iter().find(|p| p.name() == name)
    }
}

impl std::fmt::Display for Phase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Why a deployment was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeploymentType {
    Feature,
    Hotfix,
    Config,
    Rollback,
}

impl DeploymentType {
    /// The snake_case name.
    pub fn name(self) -> &'static str {
        match self {
            DeploymentType::Feature => "feature",
            DeploymentType::Hotfix => "hotfix",
            DeploymentType::Config => "config",
            DeploymentType::Rollback => "rollback",
        }
    }

    /// Parses a type name.
    pub fn from_name(name: &str) -> Option<DeploymentType> {
        [Self::Feature, Self::Hotfix, Self::Config, Self::Rollback]
            .into_iter()
            .find(|t| t.name() == name)
    }
}

/// One step of a plan: a canary weight held for a pause.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlanStep {
    pub weight: u8,
    /// None on a non-final step: hold until a manual promote.
    #[serde(with = "crate::duration::serde_opt_duration")]
    pub pause: Option<Duration>,
    /// Requests matching any rule go to the canary whatever the weight.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub matches: Vec<MatchRule>,
    /// Share of stable's requests copied to the canary (weight is then 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mirror: Option<u8>,
}

impl PlanStep {
    /// A plain weighted step.
    pub fn weighted(weight: u8, pause: Option<Duration>) -> PlanStep {
        PlanStep {
            weight,
            pause,
            matches: Vec::new(),
            mirror: None,
        }
    }
}

/// How a target's traffic is routed beyond the weighted split.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TrafficRules {
    /// Matching requests go to the canary.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub matches: Vec<MatchRule>,
    /// Percent of stable's requests mirrored to the canary.
    #[serde(default)]
    pub mirror_percent: u8,
    /// Keep each client on the version it was first sent to.
    #[serde(default)]
    pub sticky: bool,
}

/// The policy a deployment follows, frozen when it is created.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    /// Empty for a direct deployment (first of a target, or a rollback):
    /// start, wait for health, send all traffic.
    pub steps: Vec<PlanStep>,
    pub replicas: u32,
    #[serde(with = "crate::duration::serde_duration")]
    pub start_timeout: Duration,
    #[serde(with = "crate::duration::serde_duration")]
    pub interval: Duration,
    pub failure_limit: u32,
    pub min_requests: u64,
    /// Inconclusive rounds in a row for this long pause a deployment that
    /// waits on them (plans recorded before it existed get the default).
    #[serde(
        with = "crate::duration::serde_duration",
        default = "default_inconclusive_limit"
    )]
    pub inconclusive_limit: Duration,
    pub checks: Vec<Check>,
    /// Keep each client on the version it first got (`canary.sticky`).
    #[serde(default)]
    pub sticky: bool,
    /// Blue-green: full replicas beside the old version, one switch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blue_green: Option<BlueGreenPlan>,
    /// Rolling: replicas replaced batch by batch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rolling: Option<RollingPlan>,
}

/// A blue-green deployment's policy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BlueGreenPlan {
    /// Promote by itself this long after the new version is ready (and its
    /// analysis passed); None waits for `zion promote`.
    #[serde(with = "crate::duration::serde_opt_duration")]
    pub auto_promotion: Option<Duration>,
    /// How long the old version keeps running after the switch, so a
    /// rollback is only a switch back.
    #[serde(with = "crate::duration::serde_duration")]
    pub scale_down_delay: Duration,
}

/// A rolling deployment's policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RollingPlan {
    /// Replicas replaced per batch (at least 1).
    pub batch: u32,
}

impl RollingPlan {
    /// `batch` as a replica count of `replicas`: a percentage rounds up, so
    /// 33% of 3 replicas is 1 and never 0; a count is capped at `replicas`.
    pub fn new(batch: Batch, replicas: u32) -> RollingPlan {
        let replicas = replicas.max(1);
        let batch = match batch {
            Batch::Count(n) => n.clamp(1, replicas),
            Batch::Percent(p) => (u32::from(p) * replicas).div_ceil(100).clamp(1, replicas),
        };
        RollingPlan { batch }
    }

    /// The number of batches for `replicas` replicas.
    pub fn batches(&self, replicas: u32) -> u32 {
        replicas.max(1).div_ceil(self.batch.max(1))
    }

    /// Replicas of the new version once batch `i` (0-based) is replaced.
    pub fn replaced(&self, i: u32, replicas: u32) -> u32 {
        (i.saturating_add(1))
            .saturating_mul(self.batch.max(1))
            .min(replicas.max(1))
    }
}

impl Plan {
    /// The canary plan of `service` (its steps and analysis).
    pub fn canary(service: &ServiceSpec) -> Plan {
        Plan {
            steps: service
                .canary
                .steps
                .iter()
                .map(|s| PlanStep {
                    weight: s.weight.unwrap_or(0),
                    pause: s.pause,
                    matches: s.matches.clone(),
                    mirror: s.mirror,
                })
                .collect(),
            sticky: service.canary.sticky,
            ..Plan::direct(service)
        }
    }

    /// The blue-green plan of `service`.
    pub fn blue_green(service: &ServiceSpec) -> Plan {
        let bg = &service.blue_green;
        Plan {
            blue_green: Some(BlueGreenPlan {
                auto_promotion: bg.auto_promotion,
                scale_down_delay: bg.scale_down_delay,
            }),
            ..Plan::direct(service)
        }
    }

    /// The rolling plan of `service`.
    pub fn rolling(service: &ServiceSpec) -> Plan {
        Plan {
            rolling: Some(RollingPlan::new(
                service.rolling.batch,
                service.workload.process.replicas,
            )),
            ..Plan::direct(service)
        }
    }

    /// The plan of `strategy` for `service`.
    pub fn for_strategy(strategy: Strategy, service: &ServiceSpec) -> Plan {
        match strategy {
            Strategy::Canary => Plan::canary(service),
            Strategy::BlueGreen => Plan::blue_green(service),
            Strategy::Rolling => Plan::rolling(service),
        }
    }

    /// A plan with no steps: start, wait for health, switch all traffic.
    pub fn direct(service: &ServiceSpec) -> Plan {
        let health: &HealthSpec = &service.health;
        Plan {
            steps: Vec::new(),
            replicas: service.workload.process.replicas,
            start_timeout: health.start_timeout,
            interval: service.analysis.interval,
            failure_limit: service.analysis.failure_limit,
            min_requests: service.analysis.min_requests,
            inconclusive_limit: service.analysis.inconclusive_limit,
            checks: service.analysis.checks.clone(),
            sticky: false,
            blue_green: None,
            rolling: None,
        }
    }
}

fn default_inconclusive_limit() -> Duration {
    crate::spec::AnalysisSpec::DEFAULT_INCONCLUSIVE_LIMIT
}

/// What a deployment really does with its new version. `strategy` keeps
/// what was asked for, but a target's first version and a rollback are
/// switched over directly whatever it says, so messages name this instead.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Rollout {
    /// The target's first version: all traffic once healthy.
    First,
    /// Weighted steps beside the stable version.
    Canary,
    /// Full replicas beside the stable version, one switch.
    BlueGreen,
    /// The stable version's replicas replaced batch by batch.
    Rolling,
    /// Back to a version that already succeeded here: all traffic once healthy.
    Rollback,
    /// All traffic once healthy, beside a stable version.
    Direct,
}

impl Rollout {
    /// The snake_case name used in JSON.
    pub fn name(self) -> &'static str {
        match self {
            Rollout::First => "first",
            Rollout::Canary => "canary",
            Rollout::BlueGreen => "blue_green",
            Rollout::Rolling => "rolling",
            Rollout::Rollback => "rollback",
            Rollout::Direct => "direct",
        }
    }
}

/// A deployment as recorded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Deployment {
    pub id: i64,
    pub service: String,
    pub environment: String,
    pub version: String,
    /// The stable version when it was created; None for a target's first.
    pub previous_version: Option<String>,
    pub strategy: Strategy,
    #[serde(rename = "type")]
    pub kind: DeploymentType,
    pub phase: Phase,
    /// Index of the current plan step (0-based), None before the first.
    pub step: Option<u32>,
    /// Share of traffic the new version should get now, 0..=100.
    pub canary_weight: u8,
    pub requested_by: String,
    pub created_at: Timestamp,
    /// When the new version was started.
    pub started_at: Option<Timestamp>,
    /// When it reached a terminal phase.
    pub finished_at: Option<Timestamp>,
    /// Why it is in its phase (the latest event's reason).
    pub reason: Option<String>,
    pub plan: Plan,
    pub progress: Progress,
    /// Approvals, windows, pre-checks and break glass (empty when the
    /// environment has no governance).
    #[serde(default)]
    pub gate: Gate,
    /// Release evidence attached at request (test results, coverage,
    /// findings by level); what the environment's quality gates judged.
    #[serde(default)]
    pub evidence: Option<Evidence>,
    /// The commit the version was built from.
    #[serde(default)]
    pub commit: Option<String>,
    /// When that commit was made: where lead time for changes starts.
    #[serde(default)]
    pub committed_at: Option<Timestamp>,
    /// Bumped on every recorded change; stores use it to refuse lost updates.
    pub revision: u64,
}

impl Deployment {
    /// What this deployment does, read from its plan (the plan decides
    /// what happens; `kind` only tells a direct switch-over that returns to
    /// an earlier version from one that does not).
    pub fn rollout(&self) -> Rollout {
        let plan = &self.plan;
        if self.previous_version.is_none() {
            Rollout::First
        } else if plan.blue_green.is_some() {
            Rollout::BlueGreen
        } else if plan.rolling.is_some() {
            Rollout::Rolling
        } else if !plan.steps.is_empty() {
            Rollout::Canary
        } else if self.kind == DeploymentType::Rollback {
            Rollout::Rollback
        } else {
            Rollout::Direct
        }
    }
}

/// Controller bookkeeping that must survive a restart.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Progress {
    /// When the new version became healthy (all replicas ready).
    pub ready_at: Option<Timestamp>,
    /// When the current step's weight was applied (shifted forward by pauses).
    pub step_started_at: Option<Timestamp>,
    /// When the deployment was paused, while it is.
    pub paused_at: Option<Timestamp>,
    pub last_round_at: Option<Timestamp>,
    pub rounds: u32,
    pub consecutive_failures: u32,
    /// Passing rounds since the current step began.
    pub step_passes: u32,
    /// Whether the latest conclusive round of this step failed.
    pub step_last_failed: bool,
    /// Where the current run of inconclusive rounds began (the start of
    /// the first one's window); None after a conclusive round, a new step
    /// or a resume.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inconclusive_since: Option<Timestamp>,
    /// Rolling: when the current batch's replicas were all ready.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch_ready_at: Option<Timestamp>,
}

/// One recorded change of a deployment and its cause.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    pub at: Timestamp,
    pub from_phase: Phase,
    pub to_phase: Phase,
    pub step: Option<u32>,
    pub canary_weight: u8,
    /// `controller` for automatic decisions, else the principal's name.
    pub actor: String,
    pub reason: String,
}

/// What the controller must do to make the world match the recorded state.
/// Every action is idempotent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Action {
    /// Run `replicas` replicas of `version` (no-op if already running).
    StartVersion { version: String, replicas: u32 },
    /// Stop every replica of `version` (no-op if none runs).
    StopVersion { version: String },
    /// Route `canary_weight`% to `canary`, the rest to `stable`, with the
    /// step's header rules, mirroring and stickiness.
    SetTraffic {
        stable: Option<String>,
        canary: Option<String>,
        canary_weight: u8,
        #[serde(default)]
        rules: TrafficRules,
    },
    /// Route the target's preview listener to `version` only (none: 503).
    SetPreview { version: Option<String> },
}
