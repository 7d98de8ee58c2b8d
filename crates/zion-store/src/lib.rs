//! `zion-store` is Zion's persistence: the [`Store`] trait the controller and
//! the API write through (deployments with their events and analysis rounds,
//! applied specs, API tokens, running processes), and [`SqliteStore`], its
//! embedded SQLite implementation with versioned migrations. Every change of
//! a deployment is written in one transaction and guarded by its revision, so
//! a lost update or a half-written change cannot happen. It is not a cache, a
//! query engine or a place for policy: it stores and returns exactly what it
//! is given, and the decisions stay in `zion-core`.

mod codec;
mod error;
mod migrations;
mod sqlite;

pub use error::{DriverError, StoreError};
pub use migrations::SCHEMA_VERSION;
pub use sqlite::SqliteStore;

use jiff::Timestamp;
use zion_core::analysis::AnalysisRound;
use zion_core::deployment::{Deployment, Event};
use zion_core::spec::Role;

/// Zion's persistent state. Calls are synchronous and short; async callers
/// may call them directly. Implementations must make each call atomic.
pub trait Store: Send + Sync + 'static {
    /// Inserts a new deployment (the given id is ignored; the stored one, with its new id and revision 1, is returned) together with its first event, in one transaction.
    /// Refuses with StoreError::TargetBusy { id } when a deployment of the same service+environment is not in a terminal phase (Phase::is_terminal) — atomically, so two racing creators cannot both win.
    fn create_deployment(
        &self,
        deployment: &Deployment,
        first_event: &Event,
    ) -> Result<Deployment, StoreError>;

    /// The deployment with this id, if any.
    fn deployment(&self, id: i64) -> Result<Option<Deployment>, StoreError>;

    /// Deployments matching `filter`, newest (highest id) first.
    fn deployments(&self, filter: &DeploymentFilter) -> Result<Vec<Deployment>, StoreError>;

    /// Every deployment not in a terminal phase, oldest first.
    fn active_deployments(&self) -> Result<Vec<Deployment>, StoreError>;

    /// Records a change: `deployment` is the new state whose `revision` must be exactly one more than the stored one (else StoreError::Conflict — someone else changed it), plus its new events and analysis rounds, all in ONE transaction.
    fn record(
        &self,
        deployment: &Deployment,
        events: &[Event],
        rounds: &[AnalysisRound],
    ) -> Result<(), StoreError>;

    /// The deployment's events, in the order they were recorded.
    fn events(&self, id: i64) -> Result<Vec<Event>, StoreError>;

    /// The deployment's analysis rounds, by round number.
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

    /// Keeps an applied spec; the newest one is the one in force.
    fn save_spec(
        &self,
        yaml: &str,
        sha256_hex: &str,
        applied_by: &str,
        at: Timestamp,
    ) -> Result<(), StoreError>;

    /// The most recently saved spec, if any.
    fn latest_spec(&self) -> Result<Option<StoredSpec>, StoreError>;

    /// Stores a new token; StoreError::Exists when the name is taken by an unrevoked token.
    fn create_token(&self, token: &TokenRecord) -> Result<(), StoreError>;

    /// The token with this hash, revoked ones included (the caller checks `revoked_at`).
    fn token_by_hash(&self, hash_hex: &str) -> Result<Option<TokenRecord>, StoreError>;

    /// Every token, revoked ones included, oldest first.
    fn tokens(&self) -> Result<Vec<TokenRecord>, StoreError>;

    /// Revokes the unrevoked token called `name`; false when there is none.
    fn revoke_token(&self, name: &str, at: Timestamp) -> Result<bool, StoreError>;

    /// Remembers a process Zion started (replacing any record with the same pid).
    fn record_process(&self, p: &StoredProcess) -> Result<(), StoreError>;

    /// Forgets the process with this pid (no error if it was not recorded).
    fn forget_process(&self, pid: u32) -> Result<(), StoreError>;

    /// Every remembered process, by pid.
    fn processes(&self) -> Result<Vec<StoredProcess>, StoreError>;
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
