//! `zion-store` is Zion's persistence: the [`Store`] trait the controller and
//! the API write through (deployments with their events and analysis rounds,
//! applied specs, API tokens, incidents, running processes), and
//! [`SqliteStore`], its
//! embedded SQLite implementation with versioned migrations. Every change of
//! a deployment is written in one transaction and guarded by its revision, so
//! a lost update or a half-written change cannot happen. It is not a cache, a
//! query engine or a place for policy: it stores and returns exactly what it
//! is given, and the decisions stay in `zion-core`.

mod audit;
mod codec;
mod error;
mod history;
mod migrations;
mod sqlite;
mod sqlite_audit;
mod sqlite_history;
mod sqlite_rounds;

pub use audit::{
    AuditAppend, AuditBuilder, AuditCheckpoint, AuditFilter, AuditNode, AuditRow, AuditSnapshot,
    NodeHash, StoredAuditEntry,
};
pub use error::{DriverError, StoreError};
pub use history::{HistoryFilter, ImportBatch, ImportOutcome, ImportedDeploymentRow};
pub use migrations::SCHEMA_VERSION;
pub use sqlite::SqliteStore;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use zion_core::analysis::AnalysisRound;
use zion_core::deployment::{Deployment, Event};
use zion_core::spec::Role;

/// Zion's persistent state. Calls are synchronous and short; async callers
/// may call them directly. Implementations must make each call atomic.
pub trait Store: Send + Sync + 'static {
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

    /// [`Store::record_change`] of a change that touches no incident.
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

    /// Keeps an applied spec, with the audit entries that describe it, in
    /// one transaction (entries that do not continue the log refuse both);
    /// the newest spec is the one in force.
    fn save_spec(
        &self,
        yaml: &str,
        sha256_hex: &str,
        applied_by: &str,
        at: Timestamp,
        audit: Option<&AuditAppend>,
    ) -> Result<(), StoreError>;

    /// The most recently saved spec, if any.
    fn latest_spec(&self) -> Result<Option<StoredSpec>, StoreError>;

    /// Stores a new token with the audit entries that describe it, in one transaction; StoreError::Exists when the name is taken by an unrevoked token, StoreError::GithubLoginTaken when its GitHub login (compared case-insensitively) is, StoreError::AuditOutOfOrder when the entries do not continue the log: then nothing is written.
    fn create_token(
        &self,
        token: &TokenRecord,
        audit: Option<&AuditAppend>,
    ) -> Result<(), StoreError>;

    /// The unrevoked token mapped to this GitHub login, compared case-insensitively (GitHub logins are).
    fn token_by_github(&self, login: &str) -> Result<Option<TokenRecord>, StoreError>;

    /// The token with this hash, revoked ones included (the caller checks `revoked_at`).
    fn token_by_hash(&self, hash_hex: &str) -> Result<Option<TokenRecord>, StoreError>;

    /// Every token, revoked ones included, oldest first.
    fn tokens(&self) -> Result<Vec<TokenRecord>, StoreError>;

    /// Revokes the unrevoked token called `name` and writes `audit` in the
    /// same transaction; false (and nothing written, not even `audit`) when
    /// there is none. Entries that do not continue the log refuse both.
    fn revoke_token(
        &self,
        name: &str,
        at: Timestamp,
        audit: Option<&AuditAppend>,
    ) -> Result<bool, StoreError>;

    /// Opens an incident on its own (not as part of a deployment change) and returns it with its new id.
    /// StoreError::Invalid when it names a deployment that does not exist.
    fn open_incident(&self, incident: &NewIncident) -> Result<Incident, StoreError>;

    /// Incidents matching `filter`, newest (highest id) first.
    fn incidents(&self, filter: &IncidentFilter) -> Result<Vec<Incident>, StoreError>;

    /// The incident with this id, if any.
    fn incident(&self, id: i64) -> Result<Option<Incident>, StoreError>;

    /// Resolves the open incident `id`, writing `audit` in the same transaction, and returns it resolved.
    /// StoreError::IncidentNotFound when there is no such incident; StoreError::AlreadyResolved when it was resolved before; StoreError::AuditOutOfOrder when the entries do not continue the log: then nothing is written.
    fn resolve_incident(
        &self,
        id: i64,
        by: &str,
        at: Timestamp,
        resolution: &str,
        audit: Option<&AuditAppend>,
    ) -> Result<Incident, StoreError>;

    /// Remembers a process Zion started (replacing any record with the same pid).
    fn record_process(&self, p: &StoredProcess) -> Result<(), StoreError>;

    /// Forgets the process with this pid (no error if it was not recorded).
    fn forget_process(&self, pid: u32) -> Result<(), StoreError>;

    /// Every remembered process, by pid.
    fn processes(&self) -> Result<Vec<StoredProcess>, StoreError>;

    /// Appends audit entries, their tree nodes and a checkpoint in one
    /// transaction. StoreError::AuditOutOfOrder (and nothing is written)
    /// when the rows do not continue the log exactly.
    fn append_audit(&self, append: &AuditAppend) -> Result<(), StoreError>;

    /// The number of entries in the audit log.
    fn audit_size(&self) -> Result<u64, StoreError>;

    /// The stored hashes of these nodes (None for a node not stored), in
    /// the order asked.
    fn audit_nodes(&self, ids: &[(u8, u64)]) -> Result<Vec<Option<NodeHash>>, StoreError>;

    /// Entries matching `filter`, oldest first.
    fn audit_entries(&self, filter: &AuditFilter) -> Result<Vec<StoredAuditEntry>, StoreError>;

    /// Calls `visit` with every entry from `from` on, in index order, and
    /// with the stored leaf hash of its index (None when missing), without
    /// holding them all in memory; stops early when `visit` returns false.
    fn scan_audit(
        &self,
        from: u64,
        visit: &mut dyn FnMut(StoredAuditEntry, Option<NodeHash>) -> bool,
    ) -> Result<(), StoreError>;

    /// Every checkpoint, by size.
    fn audit_checkpoints(&self) -> Result<Vec<AuditCheckpoint>, StoreError>;

    /// The id the next incident opened will get: ids are never reused.
    fn next_incident_id(&self) -> Result<i64, StoreError>;

    /// Calls `read` with the audit tables as one read snapshot sees them,
    /// so that an append committing meanwhile (its entries with their
    /// checkpoint) is seen whole or not at all: what verification needs.
    /// On a connection of its own where the store has one, so that other
    /// reads and writes go on while a long log is read.
    fn audit_snapshot(
        &self,
        read: &mut dyn FnMut(&dyn AuditSnapshot) -> Result<(), StoreError>,
    ) -> Result<(), StoreError>;

    /// Stores history imported from other tools, with its audit entries, in
    /// one transaction. Records whose external id was imported before with
    /// the same values add nothing; one with other values refuses the whole
    /// import (StoreError::ImportConflict), as does an incident blaming an
    /// unknown deployment (StoreError::UnknownCause). When nothing is new,
    /// nothing at all is written (not even `audit`) and `import_id` is None.
    fn import_history(
        &self,
        batch: &ImportBatch<'_>,
        audit: Option<&AuditAppend>,
    ) -> Result<ImportOutcome, StoreError>;

    /// Calls `visit` with every imported deployment matching `filter`,
    /// without holding them all in memory.
    fn scan_imported_deployments(
        &self,
        filter: &HistoryFilter,
        visit: &mut dyn FnMut(&ImportedDeploymentRow<'_>),
    ) -> Result<(), StoreError>;

    /// Imported incidents of the filter's service and environment, by
    /// opening time.
    fn imported_incidents(
        &self,
        filter: &HistoryFilter,
    ) -> Result<Vec<zion_core::import::ImportedIncident>, StoreError>;

    /// How many deployments and incidents were imported in all.
    fn imported_counts(&self) -> Result<(u64, u64), StoreError>;
}

/// Everything one transition writes, atomically (see [`Store::record_change`]).
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

/// An incident to open: an open production problem on a target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewIncident {
    pub service: String,
    pub environment: String,
    /// The deployment that caused it (a rollback), if any; it must exist.
    pub deployment_id: Option<i64>,
    pub opened_at: Timestamp,
    /// Who or what opened it (`controller`, a principal).
    pub opened_by: String,
    /// Why, in words.
    pub reason: String,
}

/// An incident as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Incident {
    /// Assigned by the store; never reused.
    pub id: i64,
    pub service: String,
    pub environment: String,
    /// The deployment that caused it, if any.
    pub deployment_id: Option<i64>,
    pub opened_at: Timestamp,
    /// Who or what opened it.
    pub opened_by: String,
    /// Why it was opened.
    pub reason: String,
    /// Set once resolved, together with `resolved_by` and `resolution`.
    pub resolved_at: Option<Timestamp>,
    /// The principal who resolved it.
    pub resolved_by: Option<String>,
    /// How it was resolved, in words.
    pub resolution: Option<String>,
}

impl Incident {
    /// Whether it is still open (not resolved).
    pub fn is_open(&self) -> bool {
        self.resolved_at.is_none()
    }
}

/// An incident change written with a deployment change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IncidentChange {
    /// Open a new incident.
    Open(NewIncident),
    /// Open a new incident under this id (from [`Store::next_incident_id`]),
    /// so that the change's audit entry can name it; an id taken meanwhile
    /// fails the whole change, which changes nothing.
    OpenAs { id: i64, incident: NewIncident },
    /// Resolve every open incident of the target (none open is not an error).
    ResolveTarget {
        service: String,
        environment: String,
        at: Timestamp,
        by: String,
        resolution: String,
    },
}

/// Which incidents [`Store::incidents`] returns; the default is all.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IncidentFilter {
    /// Only this service.
    pub service: Option<String>,
    /// Only this environment.
    pub environment: Option<String>,
    /// Only unresolved incidents.
    pub open_only: bool,
}

/// Which deployments [`Store::deployments`] returns; the default is all.
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
    /// At most this many (the newest).
    pub limit: Option<usize>,
}

/// An applied spec as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredSpec {
    /// The spec's text exactly as applied.
    pub yaml: String,
    /// SHA-256 of `yaml`, lowercase hex.
    pub sha256_hex: String,
    /// The principal who applied it.
    pub applied_by: String,
    pub applied_at: Timestamp,
}

/// An API token as stored: only its hash, never the token itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRecord {
    /// Unique among unrevoked tokens.
    pub name: String,
    pub role: Role,
    /// Hash of the secret, lowercase hex; unique.
    pub hash_hex: String,
    /// The GitHub account the token stands for, if any.
    pub github_login: Option<String>,
    pub created_at: Timestamp,
    /// Set once revoked; a revoked token authorises nothing.
    pub revoked_at: Option<Timestamp>,
}

/// A workload process Zion started, so a restarted controller can find it
/// again (`start_ticks` tells a live process from a reused pid).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredProcess {
    pub pid: u32,
    /// The process's start time in clock ticks since boot (at most `i64::MAX`).
    pub start_ticks: u64,
    pub service: String,
    pub environment: String,
    pub version: String,
    /// The port the replica listens on.
    pub port: u16,
}
