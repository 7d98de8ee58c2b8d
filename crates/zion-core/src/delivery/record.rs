//! The plain records delivery maths reads: one finished deployment or one
//! incident, whether Zion ran it or it was imported from another tool. They
//! are compact on purpose (a report may read a million of them): names are
//! shared `Arc<str>`s, and the rarely present quality-gate figures are boxed.

use std::collections::HashSet;
use std::sync::Arc;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::deployment::PlanKind;
use crate::deployment::{DeploymentType, Phase};

/// How a deployment ended. Only terminal outcomes: a deployment still
/// running has no place in a history.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeploymentResult {
    Succeeded,
    /// Could not start: the new version never became healthy.
    Failed,
    RolledBack,
    Cancelled,
    Rejected,
    Expired,
}

impl DeploymentResult {
    /// Every result.
    pub const ALL: [DeploymentResult; 6] = [
        DeploymentResult::Succeeded,
        DeploymentResult::Failed,
        DeploymentResult::RolledBack,
        DeploymentResult::Cancelled,
        DeploymentResult::Rejected,
        DeploymentResult::Expired,
    ];

    /// The result of a deployment in a terminal phase; None while it runs.
    pub fn from_phase(phase: Phase) -> Option<DeploymentResult> {
        match phase {
            Phase::Succeeded => Some(DeploymentResult::Succeeded),
            Phase::Failed => Some(DeploymentResult::Failed),
            Phase::RolledBack => Some(DeploymentResult::RolledBack),
            Phase::Cancelled => Some(DeploymentResult::Cancelled),
            Phase::Rejected => Some(DeploymentResult::Rejected),
            Phase::Expired => Some(DeploymentResult::Expired),
            Phase::Pending
            | Phase::AwaitingApproval
            | Phase::Progressing
            | Phase::Paused
            | Phase::RollingBack => None,
        }
    }

    /// The snake_case name (the phase's name).
    pub fn name(self) -> &'static str {
        match self {
            DeploymentResult::Succeeded => "succeeded",
            DeploymentResult::Failed => "failed",
            DeploymentResult::RolledBack => "rolled_back",
            DeploymentResult::Cancelled => "cancelled",
            DeploymentResult::Rejected => "rejected",
            DeploymentResult::Expired => "expired",
        }
    }

    /// True when the new version was started, so the outcome says something
    /// about the change itself. Cancelled, rejected and expired deployments
    /// were stopped by governance before anything ran, and count neither as
    /// successes nor as failures.
    pub fn was_attempted(self) -> bool {
        matches!(
            self,
            DeploymentResult::Succeeded | DeploymentResult::Failed | DeploymentResult::RolledBack
        )
    }

    /// Failed to start or rolled back.
    pub fn is_failure(self) -> bool {
        matches!(
            self,
            DeploymentResult::Failed | DeploymentResult::RolledBack
        )
    }
}

/// How a rolled-back deployment was reversed.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RollbackInfo {
    /// The controller decided (failed analysis, health); false: a person did.
    pub automatic: bool,
    /// From the decision to roll back to the previous version serving all
    /// traffic again.
    pub seconds: f64,
}

/// The quality-gate verdict a deployment carried, with the figures judged.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct GateOutcome {
    /// Every configured gate held.
    pub passed: bool,
    /// Share of executed tests that passed, 0..=1.
    pub tests_passed_ratio: Option<f64>,
    /// Line coverage, 0..=1.
    pub coverage: Option<f64>,
    pub findings_error: Option<u64>,
    pub findings_warning: Option<u64>,
}

/// One finished deployment as delivery maths sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct DeploymentRecord {
    /// Zion's number as `#42` (see [`super::own_id`]), or the id another
    /// tool gave it.
    pub id: String,
    pub service: Arc<str>,
    pub environment: Arc<str>,
    /// The environment serves users; DORA metrics read only these.
    pub production: bool,
    pub kind: DeploymentType,
    /// How it rolled out: its plan's kind, `direct` for a target's first
    /// version and a rollback. None for imported deployments (the other
    /// tool's strategy is unknown).
    pub strategy: Option<PlanKind>,
    pub result: DeploymentResult,
    pub started_at: Timestamp,
    /// When it reached its result; this instant places it in a period.
    pub finished_at: Timestamp,
    /// When the change was committed, for lead time.
    pub committed_at: Option<Timestamp>,
    /// Set when a rollback reversed this deployment.
    pub rollback: Option<RollbackInfo>,
    /// Time spent waiting for approvals, when any were required.
    pub approval_wait_seconds: Option<f64>,
    pub analysis_rounds: u32,
    /// Boxed: most histories carry no gate evidence, and the figures would
    /// otherwise triple a record's size.
    pub gates: Option<Box<GateOutcome>>,
    /// Known to have caused an incident (also derived from incidents'
    /// `caused_by`; either is enough).
    pub caused_incident: bool,
}

impl DeploymentRecord {
    /// A record with the required facts; every optional fact is absent.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        id: impl Into<String>,
        service: Arc<str>,
        environment: Arc<str>,
        production: bool,
        kind: DeploymentType,
        result: DeploymentResult,
        started_at: Timestamp,
        finished_at: Timestamp,
    ) -> DeploymentRecord {
        DeploymentRecord {
            id: id.into(),
            service,
            environment,
            production,
            kind,
            strategy: None,
            result,
            started_at,
            finished_at,
            committed_at: None,
            rollback: None,
            approval_wait_seconds: None,
            analysis_rounds: 0,
            gates: None,
            caused_incident: false,
        }
    }

    /// `finished_at − started_at` in seconds; None when the clock ran
    /// backwards (bad imported data), so it cannot skew any figure.
    pub fn duration_seconds(&self) -> Option<f64> {
        let d = self
            .finished_at
            .duration_since(self.started_at)
            .as_secs_f64();
        (d >= 0.0).then_some(d)
    }
}

/// A production problem: opened, maybe resolved, maybe blamed on a deployment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncidentRecord {
    pub id: String,
    pub service: Arc<str>,
    pub environment: Arc<str>,
    pub opened_at: Timestamp,
    /// None while open.
    pub resolved_at: Option<Timestamp>,
    /// The id of the deployment that caused it, when known.
    pub caused_by: Option<String>,
}

/// Hands out one shared `Arc<str>` per distinct name, so a million records
/// naming a handful of services hold a handful of strings.
#[derive(Debug, Default)]
pub struct Names {
    names: HashSet<Arc<str>>,
}

impl Names {
    /// An empty set of names.
    pub fn new() -> Names {
        Names::default()
    }

    /// The shared copy of `name`, made on first use.
    pub fn get(&mut self, name: &str) -> Arc<str> {
        if let Some(existing) = self.names.get(name) {
            return Arc::clone(existing);
        }
        let shared: Arc<str> = Arc::from(name);
        self.names.insert(Arc::clone(&shared));
        shared
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_shared() {
        let mut names = Names::new();
        let a = names.get("web");
        let b = names.get("web");
        let c = names.get("api");
        assert!(Arc::ptr_eq(&a, &b));
        assert!(!Arc::ptr_eq(&a, &c));
        assert_eq!(&*c, "api");
    }

    #[test]
    fn results_follow_terminal_phases() {
        for phase in Phase::ALL {
            let result = DeploymentResult::from_phase(phase);
            assert_eq!(result.is_some(), phase.is_terminal(), "{phase}");
            if let Some(r) = result {
                assert_eq!(r.name(), phase.name());
                assert_eq!(serde_json::to_value(r).unwrap(), r.name());
            }
        }
    }

    #[test]
    fn a_record_stays_small() {
        // Memory budget: a million records plus the report's working set
        // must stay well under 500 MB.
        assert!(std::mem::size_of::<DeploymentRecord>() <= 192);
    }

    #[test]
    fn backwards_clocks_have_no_duration() {
        let t0: Timestamp = "2026-01-01T10:00:00Z".parse().unwrap();
        let t1: Timestamp = "2026-01-01T10:02:30Z".parse().unwrap();
        let svc: Arc<str> = Arc::from("web");
        let mut r = DeploymentRecord::new(
            "1",
            svc.clone(),
            svc,
            true,
            DeploymentType::Feature,
            DeploymentResult::Succeeded,
            t0,
            t1,
        );
        assert_eq!(r.duration_seconds(), Some(150.0));
        std::mem::swap(&mut r.started_at, &mut r.finished_at);
        assert_eq!(r.duration_seconds(), None);
    }
}
