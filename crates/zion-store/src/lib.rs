//! `zion-store` is Zion's persistence: the [`Store`] trait the controller and
//! the API write through, and [`SqliteStore`], its embedded SQLite
//! implementation with versioned migrations, and [`PostgresStore`], the same
//! on a PostgreSQL database (for a control plane beyond one machine). [`Store`] is the union of one
//! trait per area, each saying what it owns and what every implementation
//! must keep: [`DeploymentStore`] (deployments with their events and
//! analysis rounds), [`SpecStore`] (applied specs), [`TokenStore`] (API
//! tokens), [`IncidentStore`] (incidents), [`AuditStore`] (the audit log),
//! [`HistoryStore`] (history imported from other tools) and
//! [`ProcessStore`] (running processes) and [`LeaseStore`] (which replica
//! drives each target, fenced by an epoch), [`DataPlaneStore`] (the
//! routes and traffic the replicas share), [`OutboxStore`] (the
//! notifications waiting to be delivered), [`SessionStore`] (the web
//! console's sign-ins), and [`Database`] says where the
//! state is and when another process changed it. Every change of a deployment is
//! written in one transaction and guarded by its revision, so a lost update
//! or a half-written change cannot happen. It is not a cache, a query engine
//! or a place for policy: it stores and returns exactly what it is given,
//! and the decisions stay in `zion-core`.

mod audit;
mod codec;
#[cfg(any(test, feature = "contract"))]
pub mod contract;
mod data_plane;
mod database;
mod deployments;
mod error;
mod filters;
mod history;
mod incidents;
mod leases;
mod migrations;
mod outbox;
mod postgres;
mod processes;
mod sessions;
mod slos;
mod specs;
mod sqlite;
mod tables;
#[cfg(any(test, feature = "contract"))]
pub mod test_cluster;
mod tokens;

pub use audit::{
    AuditAppend, AuditBuilder, AuditCheckpoint, AuditFilter, AuditNode, AuditRow, AuditSnapshot,
    AuditStore, AuditTail, GroupAudit, GroupWrite, NodeHash, StoredAuditEntry,
};
pub use data_plane::{DataPlaneStore, PublishedRoute, RouteListener, TrafficBucket, TrafficQuery};
pub use database::Database;
pub use deployments::{Change, DeploymentFilter, DeploymentStore, OutcomeCount};
pub use error::{DriverError, StoreError};
pub use history::{HistoryFilter, HistoryStore, ImportBatch, ImportOutcome, ImportedDeploymentRow};
pub use incidents::{Incident, IncidentChange, IncidentFilter, IncidentStore, NewIncident};
pub use leases::{Fence, Lease, LeaseStore, ReplicaBeat};
pub use migrations::SCHEMA_VERSION;
pub use outbox::{NewOutboxRow, OutboxRow, OutboxState, OutboxStore};
pub use postgres::{POSTGRES_SCHEMA_VERSION, PostgresStore, redacted_url};
pub use processes::{ProcessStore, StoredProcess};
pub use sessions::{SessionRecord, SessionStore};
pub use slos::SloStore;
pub use specs::{SpecStore, StoredSpec};
pub use sqlite::SqliteStore;
pub use tokens::{TokenRecord, TokenStore};

/// Zion's persistent state: every area at once, which is what the server
/// holds (`Arc<dyn Store>`). Calls are synchronous and short; async callers
/// may call them directly. Implementations must make each call atomic, and
/// keep the invariants each area trait states.
///
/// Implemented for every type that implements all the areas. The contract
/// tests of the areas (`zion_store::contract`, with the `contract` feature)
/// are what a new backend runs to show that it keeps them.
pub trait Store:
    DeploymentStore
    + SpecStore
    + TokenStore
    + IncidentStore
    + AuditStore
    + HistoryStore
    + ProcessStore
    + LeaseStore
    + DataPlaneStore
    + OutboxStore
    + SloStore
    + SessionStore
    + Database
    + 'static
{
}

impl<T> Store for T where
    T: DeploymentStore
        + SpecStore
        + TokenStore
        + IncidentStore
        + AuditStore
        + HistoryStore
        + ProcessStore
        + LeaseStore
        + DataPlaneStore
        + OutboxStore
        + SloStore
        + SessionStore
        + Database
        + 'static
{
}
