//! A deployment's recorded state: its phase, its plan (a snapshot of the
//! spec's policy taken when it was created, so a later `apply` cannot change
//! a rollout half-way), and the events that moved it.

use jiff::Timestamp;
use serde::{Deserialize, Serialize, Serializer};

use crate::governance::Gate;
use crate::governance::quality::Evidence;
use crate::spec::MatchRule;

mod plan;

pub use plan::{BlueGreenPlan, CanaryPlan, Plan, PlanCommon, PlanKind, PlanStep, RollingPlan};

/// Where a deployment is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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

/// What a deployment really does with its new version: its plan's kind,
/// told apart further for a direct plan (a target's first version, a
/// rollback, or neither), so messages can say which.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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
///
/// Its JSON also carries `strategy`, its plan's kind ([`Deployment::strategy`]):
/// derived on every write, never read back, so it cannot disagree with the
/// plan.
// `remote = "Self"` makes the derives plain functions, which the trait
// impls below wrap to add `strategy`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(remote = "Self")]
pub struct Deployment {
    pub id: i64,
    pub service: String,
    pub environment: String,
    pub version: String,
    /// The stable version when it was created; None for a target's first.
    pub previous_version: Option<String>,
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

impl Serialize for Deployment {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        struct Fields<'a>(&'a Deployment);
        impl Serialize for Fields<'_> {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                Deployment::serialize(self.0, s)
            }
        }
        #[derive(Serialize)]
        struct Labelled<'a> {
            #[serde(flatten)]
            fields: Fields<'a>,
            strategy: PlanKind,
        }
        Labelled {
            fields: Fields(self),
            strategy: self.strategy(),
        }
        .serialize(s)
    }
}

impl<'de> Deserialize<'de> for Deployment {
    /// A `strategy` key, written by this version or stored by an earlier
    /// one, is ignored: the plan says it.
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Deployment, D::Error> {
        Deployment::deserialize(d)
    }
}

impl Deployment {
    /// The target this deployment rolls out to.
    pub fn target(&self) -> crate::target::TargetId {
        crate::target::TargetId::new(&self.service, &self.environment)
    }

    /// Its strategy label: the kind of its plan. A target's first version
    /// and a rollback are `direct`, whatever strategy the service names.
    pub fn strategy(&self) -> PlanKind {
        self.plan.kind()
    }

    /// What this deployment does, read from its plan (the plan decides
    /// what happens; `kind` only tells a direct switch-over that returns to
    /// an earlier version from one that does not).
    pub fn rollout(&self) -> Rollout {
        if self.previous_version.is_none() {
            return Rollout::First;
        }
        match &self.plan {
            Plan::BlueGreen { .. } => Rollout::BlueGreen,
            Plan::Rolling { .. } => Rollout::Rolling,
            // A canary without steps switches directly, like a direct plan.
            Plan::Canary { canary, .. } if !canary.steps.is_empty() => Rollout::Canary,
            _ if self.kind == DeploymentType::Rollback => Rollout::Rollback,
            _ => Rollout::Direct,
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
    /// Which hooks are over, and when `confirm_promotion` last said no.
    #[serde(default, skip_serializing_if = "crate::hooks::HookProgress::is_empty")]
    pub hooks: crate::hooks::HookProgress,
    /// Why the target's router refuses the current weights, while it does
    /// (recorded once per reason); the step is held meanwhile.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub router_refused: Option<String>,
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
    /// Route `weight`% to `new_version`, the rest to `stable`, with the
    /// step's header rules, mirroring and stickiness.
    SetTraffic {
        stable: Option<String>,
        new_version: Option<String>,
        weight: u8,
        #[serde(default)]
        rules: TrafficRules,
    },
    /// Route the target's preview listener to `version` only (none: 503).
    SetPreview { version: Option<String> },
}
