//! Deployment governance: the gate a deployment passes before traffic moves
//! (approvals by distinct principals, deployment windows and freezes,
//! pre-deployment check results, break glass), as recorded on the
//! deployment, and the pure decisions over it. The server gathers what needs
//! the world (health, incidents, artifact hashes) and passes it in; nothing
//! here reads a clock or a file.

pub mod admission;
pub mod approvals;
pub(crate) mod gating;
pub mod quality;
pub mod windows;

use std::time::Duration;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::spec::{PreCheck, Role};

pub use windows::{WindowState, window_state};

/// An approval deadline to the whole second, rounded up so that it never
/// reads earlier than it is. Deadlines are stored this way, so the JSON,
/// the events and every CLI view name the same instant.
pub fn expiry_second(at: Timestamp) -> Timestamp {
    let up = jiff::TimestampRound::new()
        .smallest(jiff::Unit::Second)
        .mode(jiff::RoundMode::Ceil);
    at.round(up).unwrap_or(at)
}

/// An approval deadline as every message prints it: `2026-11-22 03:12:02
/// UTC` (see [`expiry_second`]).
pub fn expiry_text(at: Timestamp) -> String {
    expiry_second(at)
        .strftime("%Y-%m-%d %H:%M:%S UTC")
        .to_string()
}

/// The governance a deployment carries, frozen when it is requested (like
/// its plan) so a later `apply` cannot loosen a pending approval.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Gate {
    /// Approvals by distinct principals needed before traffic moves (0: none).
    #[serde(default)]
    pub approvals_required: u32,
    /// Roles whose approval counts.
    #[serde(default)]
    pub approval_roles: Vec<Role>,
    /// The requester's own approval is refused.
    #[serde(default)]
    pub prevent_self_approval: bool,
    /// How long approvals may take once the deployment waits for them.
    #[serde(default, with = "crate::duration::serde_opt_duration")]
    pub approval_timeout: Option<Duration>,
    /// Set when the deployment starts waiting for approvals.
    #[serde(default)]
    pub expires_at: Option<Timestamp>,
    /// Every approval and rejection, in the order given.
    #[serde(default)]
    pub decisions: Vec<Decision>,
    /// Wait (pending) for the deployment window instead of being refused.
    #[serde(default)]
    pub wait_for_window: bool,
    /// Checks evaluated again just before traffic moves.
    #[serde(default)]
    pub checks: Vec<PreCheck>,
    /// Results of every evaluation, at request and before traffic moves.
    #[serde(default)]
    pub check_results: Vec<PreCheckResult>,
    /// Set when an admin skipped windows, freezes, approvals and checks.
    #[serde(default)]
    pub break_glass: Option<BreakGlass>,
    /// SHA-256 (hex) of the service's artifact, recorded at request.
    #[serde(default)]
    pub artifact_sha256: Option<String>,
    /// The environment's quality gates that the evidence was judged
    /// against and met, as they were when the deployment was admitted (a
    /// gate tightened later does not rewrite history); None when none were
    /// set, or they were skipped (break glass, rollback).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quality_gates: Option<quality::QualityGates>,
}

/// Approve or reject.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DecisionKind {
    Approve,
    Reject,
}

impl DecisionKind {
    /// `approve` / `reject`.
    pub fn name(self) -> &'static str {
        match self {
            DecisionKind::Approve => "approve",
            DecisionKind::Reject => "reject",
        }
    }
}

/// One recorded approval or rejection.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Decision {
    pub principal: String,
    pub role: Role,
    pub kind: DecisionKind,
    #[serde(default)]
    pub comment: Option<String>,
    pub at: Timestamp,
    /// Where it came from: `api` (the CLI) or `github`.
    pub via: String,
}

/// An admin's override, with the reason they had to give.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BreakGlass {
    pub by: String,
    pub reason: String,
}

/// When a pre-deployment check ran.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckStage {
    /// When the deployment was requested.
    Requested,
    /// Just before traffic moved.
    BeforeTraffic,
}

impl CheckStage {
    /// The snake_case name used in JSON.
    pub fn name(self) -> &'static str {
        match self {
            CheckStage::Requested => "requested",
            CheckStage::BeforeTraffic => "before_traffic",
        }
    }
}

/// One evaluation of one pre-deployment check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PreCheckResult {
    pub check: PreCheck,
    pub passed: bool,
    /// Why it passed or failed, with the figures that decided it.
    pub reason: String,
    pub stage: CheckStage,
    pub at: Timestamp,
}

/// What the controller learnt about a waiting deployment's gate just now.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct GateObservation {
    /// The environment's deployment window now (Open when it has none).
    pub window: WindowState,
    /// The before-traffic check results, present only when
    /// [`Gate::wants_checks`] asked for them.
    pub checks: Option<Vec<PreCheckResult>>,
}

impl Gate {
    /// Approvals given so far (rejections excluded).
    pub fn approvals(&self) -> impl Iterator<Item = &Decision> {
        self.decisions
            .iter()
            .filter(|d| d.kind == DecisionKind::Approve)
    }

    /// Whether enough distinct principals approved (true when none are needed
    /// or break glass was used).
    pub fn approved(&self) -> bool {
        self.break_glass.is_some() || self.approvals().count() as u32 >= self.approvals_required
    }

    /// Whether the server must evaluate the before-traffic checks for this
    /// deployment now: it is ready to move in every other respect.
    pub fn wants_checks(&self, phase: crate::deployment::Phase, window: &WindowState) -> bool {
        use crate::deployment::Phase;
        let waiting = matches!(phase, Phase::Pending | Phase::AwaitingApproval);
        waiting
            && self.break_glass.is_none()
            && !self.checks.is_empty()
            && self.approved()
            && (window.is_open() || !self.holds_for_window())
    }

    /// Whether a closed window holds this deployment until it opens. A
    /// freeze that begins while a deployment waits for approvals must not be
    /// walked through, so a closed window always holds, except where the
    /// environment lists the `deployment_window` check without the request
    /// asking to wait: then the failed check blocks the deployment instead.
    pub fn holds_for_window(&self) -> bool {
        self.break_glass.is_none()
            && (self.wait_for_window || !self.checks.contains(&PreCheck::DeploymentWindow))
    }
}
