//! The deployments area: deployments of every target with their events and
//! analysis rounds, the queries the controller and the API ask of them, and
//! the change one transition writes.

use jiff::Timestamp;
use zion_core::analysis::AnalysisRound;
use zion_core::deployment::{Deployment, Event, Phase};

use crate::{AuditAppend, AuditBuilder, IncidentChange, StoreError};

/// Deployments, their events and their analysis rounds: what the controller
/// reads and writes at every step.
///
/// Every implementation keeps these, whatever holds the rows:
/// - **One active deployment per target.** At most one deployment of a
///   service and environment is outside a terminal phase
///   (`Phase::is_terminal`). Creating a second one, or moving a finished
///   one back beside it, is refused with `StoreError::TargetBusy` naming
///   the active one; the check and the write are atomic, so two racing
///   writers (even on two connections) cannot both win.
/// - **Revisions.** A created deployment has revision 1; every change must
///   carry exactly the next revision of the stored one (a compare-and-set,
///   which holds where transactions do not serialise), else
///   `StoreError::Conflict` and nothing is written.
/// - **All or nothing.** A change's deployment, events, rounds, incident
///   changes and audit entries are written in one transaction; any refusal
///   (a stale revision, a round already recorded, an incident naming no
///   deployment, entries that do not continue the audit log) writes none
///   of it.
/// - **Exact round-trips.** What is stored reads back equal: times to the
///   nanosecond, floats bit for bit. Values that could not read back
///   exactly (a NaN, a duration finer than a millisecond) are refused with
///   `StoreError::Invalid` rather than altered.
pub trait DeploymentStore: Send + Sync {
    /// Inserts a new deployment (the given id is ignored; the stored one, with its new id and revision 1, is returned) together with its first event, in one transaction.
    /// Refuses with StoreError::TargetBusy { id } when a deployment of the same service+environment is not in a terminal phase (Phase::is_terminal) — atomically, so two racing creators cannot both win.
    /// `audit`, when given, is called once inside the transaction with the
    /// stored deployment (its entries name the new id) and what it returns
    /// is written in the same transaction; it must not call the store. Its
    /// error, or entries that do not continue the log
    /// (StoreError::AuditOutOfOrder), refuse the deployment too.
    fn create_deployment(
        &self,
        deployment: &Deployment,
        first_event: &Event,
        audit: Option<&mut AuditBuilder<'_, Deployment>>,
    ) -> Result<Deployment, StoreError>;

    /// The deployment with this id, if any.
    fn deployment(&self, id: i64) -> Result<Option<Deployment>, StoreError>;

    /// Deployments matching `filter`, newest (highest id) first.
    fn deployments(&self, filter: &DeploymentFilter) -> Result<Vec<Deployment>, StoreError>;

    /// Every deployment not in a terminal phase, oldest first.
    fn active_deployments(&self) -> Result<Vec<Deployment>, StoreError>;

    /// Records a change: `change.deployment` is the new state whose `revision` must be exactly one more than the stored one (else StoreError::Conflict — someone else changed it; StoreError::NotFound when there is no such deployment), plus its new events, analysis rounds and incident changes (applied in order), all in ONE transaction: on any error nothing of it is written.
    fn record_change(&self, change: &Change<'_>) -> Result<(), StoreError>;

    /// [`DeploymentStore::record_change`] of a change that touches no incident.
    fn record(
        &self,
        deployment: &Deployment,
        events: &[Event],
        rounds: &[AnalysisRound],
    ) -> Result<(), StoreError> {
        self.record_change(&Change {
            events,
            rounds,
            ..Change::new(deployment)
        })
    }

    /// How many deployments ended in each terminal phase, per target
    /// (targets and phases with none are left out), by service,
    /// environment, then phase. Counted in the database, so every replica
    /// of `zion up` on it answers the same.
    fn outcome_counts(&self) -> Result<Vec<OutcomeCount>, StoreError>;

    /// The deployment's events, in the order they were recorded.
    fn events(&self, id: i64) -> Result<Vec<Event>, StoreError>;

    /// The deployment's analysis rounds, by round number. A round that
    /// only repeats the latest record (`AnalysisRound::absorbs`) is kept in
    /// it: one record with its `count` and `last_at`, not a row each.
    fn rounds(&self, id: i64) -> Result<Vec<AnalysisRound>, StoreError>;

    /// The version of the newest succeeded deployment of the target, if any.
    fn stable_version(
        &self,
        service: &str,
        environment: &str,
    ) -> Result<Option<String>, StoreError>;

    /// Succeeded deployments of the target, newest first (for rollback: "the last succeeded version before the current one").
    fn succeeded(
        &self,
        service: &str,
        environment: &str,
        limit: usize,
    ) -> Result<Vec<Deployment>, StoreError>;

    /// Whether a deployment of `version` reached `succeeded` on the target (what `requires` asks of an earlier environment).
    fn has_succeeded(
        &self,
        service: &str,
        environment: &str,
        version: &str,
    ) -> Result<bool, StoreError>;
}

/// How many deployments of a target ended in one terminal phase (see
/// [`DeploymentStore::outcome_counts`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutcomeCount {
    pub service: String,
    pub environment: String,
    pub phase: Phase,
    pub count: u64,
}

/// Everything one transition writes, atomically (see
/// [`DeploymentStore::record_change`]).
#[derive(Debug, Clone, Copy)]
pub struct Change<'a> {
    /// The deployment's new state, one revision after the stored one.
    pub deployment: &'a Deployment,
    /// Events to append after the deployment's last one.
    pub events: &'a [Event],
    /// New analysis rounds of this deployment.
    pub rounds: &'a [AnalysisRound],
    /// Incidents to open or resolve, in order.
    pub incidents: &'a [IncidentChange],
    /// The audit entries that describe the change.
    pub audit: Option<&'a AuditAppend>,
}

impl<'a> Change<'a> {
    /// A change of `deployment` alone, with nothing else written; set the
    /// other fields with struct update syntax (`..Change::new(d)`), which
    /// keeps working as fields are added.
    pub fn new(deployment: &'a Deployment) -> Self {
        Change {
            deployment,
            events: &[],
            rounds: &[],
            incidents: &[],
            audit: None,
        }
    }
}

/// Which deployments [`DeploymentStore::deployments`] returns; the default
/// is all.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeploymentFilter {
    /// Only this service.
    pub service: Option<String>,
    /// Only this environment.
    pub environment: Option<String>,
    /// Only deployments created at or after this instant.
    pub since: Option<Timestamp>,
    /// Only deployments still running, or that finished at or after this
    /// instant (what a report over a period needs of them).
    pub finished_since: Option<Timestamp>,
    /// Only deployments whose id is below this one: the page after the
    /// one that ended with it, newest first.
    pub before: Option<i64>,
    /// At most this many (the newest).
    pub limit: Option<usize>,
}
