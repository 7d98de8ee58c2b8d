//! Builders for hand-written histories.

use std::sync::Arc;

use jiff::Timestamp;

use super::record::{
    DeploymentRecord, DeploymentResult, GateOutcome, IncidentRecord, RollbackInfo,
};
use crate::deployment::DeploymentType;
use crate::deployment::PlanKind;

pub fn ts(s: &str) -> Timestamp {
    s.parse().unwrap()
}

/// A deployment of `service` to `environment` (production when the name
/// is `production`) that finished at `finished` after `seconds`.
pub fn dep(
    id: &str,
    service: &str,
    environment: &str,
    kind: DeploymentType,
    result: DeploymentResult,
    finished: &str,
    seconds: i64,
) -> DeploymentRecord {
    let finished_at = ts(finished);
    let started_at = finished_at - jiff::SignedDuration::from_secs(seconds);
    DeploymentRecord::new(
        id,
        Arc::from(service),
        Arc::from(environment),
        environment == "production",
        kind,
        result,
        started_at,
        finished_at,
    )
}

/// Chainable setters for the optional facts.
pub trait With {
    fn committed(self, at: &str) -> Self;
    fn strategy(self, s: PlanKind) -> Self;
    fn rollback(self, automatic: bool, seconds: f64) -> Self;
    fn approval_wait(self, seconds: f64) -> Self;
    fn rounds(self, n: u32) -> Self;
    fn gates(self, g: GateOutcome) -> Self;
    fn incident(self) -> Self;
}

impl With for DeploymentRecord {
    fn committed(mut self, at: &str) -> Self {
        self.committed_at = Some(ts(at));
        self
    }
    fn strategy(mut self, s: PlanKind) -> Self {
        self.strategy = Some(s);
        self
    }
    fn rollback(mut self, automatic: bool, seconds: f64) -> Self {
        self.rollback = Some(RollbackInfo { automatic, seconds });
        self
    }
    fn approval_wait(mut self, seconds: f64) -> Self {
        self.approval_wait_seconds = Some(seconds);
        self
    }
    fn rounds(mut self, n: u32) -> Self {
        self.analysis_rounds = n;
        self
    }
    fn gates(mut self, g: GateOutcome) -> Self {
        self.gates = Some(Box::new(g));
        self
    }
    fn incident(mut self) -> Self {
        self.caused_incident = true;
        self
    }
}

/// An incident on `service` in production blamed on deployment `cause`.
pub fn incident(
    id: &str,
    service: &str,
    cause: &str,
    opened: &str,
    resolved: Option<&str>,
) -> IncidentRecord {
    IncidentRecord {
        id: id.to_string(),
        service: Arc::from(service),
        environment: Arc::from("production"),
        opened_at: ts(opened),
        resolved_at: resolved.map(ts),
        caused_by: Some(cause.to_string()),
    }
}
