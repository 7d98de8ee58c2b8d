//! The store's errors: each says what went wrong and what to do about it.

use std::path::PathBuf;

use jiff::Timestamp;
use zion_core::deployment::Phase;

/// A boxed database driver error, so the trait does not name one engine.
pub type DriverError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Why a store call failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The target already has a deployment that is not finished.
    #[error(
        "{service} in {environment} already has deployment #{id} in phase {phase}: \
         only one deployment at a time per target; wait for it to finish or abort it \
         (zion abort {id})"
    )]
    TargetBusy {
        id: i64,
        service: String,
        environment: String,
        phase: Phase,
    },

    /// The deployment changed since the caller read it (lost-update guard).
    #[error(
        "deployment #{id} was changed by someone else since it was read; \
         read it again and retry the change"
    )]
    Conflict { id: i64 },

    /// Audit rows that do not continue the log (a lost race or a bug).
    #[error(
        "the audit log has {size} entries but the new entries start at index {first}; \
         nothing was written"
    )]
    AuditOutOfOrder { size: u64, first: u64 },

    /// An imported record reuses an external id already imported with
    /// other values; nothing of the import was written.
    #[error(
        "record {record} (external id `{external_id}`): `{field}` is `{given}` but that id \
         was imported before with `{stored}`; an external id names one {kind} forever: \
         correct the record or give it a new id; nothing was imported"
    )]
    ImportConflict {
        /// 0-based position of the record in the import.
        record: usize,
        kind: &'static str,
        external_id: String,
        field: &'static str,
        stored: String,
        given: String,
    },

    /// An imported incident blames a deployment that was never imported
    /// and is not one of Zion's own.
    #[error(
        "record {record} (incident `{external_id}`): caused_by `{caused_by}` is not the \
         external id of any imported deployment, nor one of Zion's own (`#42`); import that \
         deployment first (or in the same file), or leave caused_by out; nothing was imported"
    )]
    UnknownCause {
        /// 0-based position of the record in the import.
        record: usize,
        external_id: String,
        caused_by: String,
    },

    /// A fenced change from a replica that no longer holds the target's
    /// lease under the epoch it carries; nothing was written.
    #[error(
        "{replica} wrote to {service} in {environment} under lease epoch {epoch}, but the \
         lease is now {current}: this replica lost it (paused or cut off past its lease?) \
         and must stop driving the target; nothing was written"
    )]
    Fenced {
        service: String,
        environment: String,
        replica: String,
        epoch: u64,
        current: String,
    },

    /// No deployment has this id.
    #[error("deployment #{id} does not exist; check the id (zion history lists deployments)")]
    NotFound { id: i64 },

    /// An unrevoked token already has this name.
    #[error(
        "a token named `{name}` already exists; choose another name or revoke it first \
         (zion token revoke {name})"
    )]
    Exists { name: String },

    /// A live token already stands for this GitHub login.
    #[error(
        "the GitHub login `{login}` already belongs to the token `{name}` (logins are \
         compared case-insensitively); revoke that token first (zion token revoke {name}) \
         or give this one another login"
    )]
    GithubLoginTaken { login: String, name: String },

    /// No incident has this id.
    #[error(
        "incident #{id} does not exist; check the id (zion incident list --all lists incidents)"
    )]
    IncidentNotFound { id: i64 },

    /// The incident was resolved before; nothing was changed.
    #[error("incident #{id} was already resolved at {at}; nothing was changed")]
    AlreadyResolved { id: i64, at: Timestamp },

    /// The caller asked to store something the store cannot keep exactly.
    #[error("refused to store this: {0}")]
    Invalid(String),

    /// Stored data cannot be read back as Zion's types.
    #[error(
        "the stored data is corrupt: {0}; restore the database from a backup \
         or move it aside to start afresh"
    )]
    Corrupt(String),

    /// The database file could not be opened or configured.
    #[error(
        "cannot open the database {}: {source}; check that its folder exists \
         and is writable", path.display()
    )]
    Open { path: PathBuf, source: DriverError },

    /// The database server could not be reached or refused the connection.
    /// `url` never holds the password (see [`crate::redacted_url`]).
    #[error(
        "cannot connect to the database {url}: {source}; check that PostgreSQL runs there, \
         accepts this user and the database exists"
    )]
    Connect { url: String, source: DriverError },

    /// The database server stopped answering while the server ran (it is
    /// down, restarting, or cut off): the change asked for was not made,
    /// or not confirmed. Temporary: the same call succeeds once the
    /// database is back, with no restart of Zion. `url` never holds the
    /// password (see [`crate::redacted_url`]).
    #[error(
        "the database {url} cannot be reached ({during}): {source}; check that PostgreSQL \
         runs there, then retry: Zion reconnects by itself once it is back"
    )]
    Unreachable {
        url: String,
        during: &'static str,
        source: DriverError,
    },

    /// The database was written by a newer Zion than this one.
    #[error(
        "the database {path} has schema version {found}, but this zion knows only up to \
         version {known}: it was written by a newer zion; run that newer zion \
         (or restore a copy made before the upgrade)"
    )]
    TooNew {
        path: String,
        found: i64,
        known: i64,
    },

    /// A schema migration failed; nothing of it was applied.
    #[error(
        "applying schema migration {version} failed: {source}; the database was left \
         at the previous version, check the disk and retry"
    )]
    Migration { version: i64, source: DriverError },

    /// Another process held the database longer than the busy timeout.
    #[error(
        "the database stayed locked while {during}: is another zion using the same \
         data directory? stop it, or wait and retry"
    )]
    Locked { during: &'static str },

    /// Any other database failure.
    #[error(
        "database error while {during}: {source}; check that the disk is not full \
         and the data directory is writable"
    )]
    Database {
        during: &'static str,
        source: DriverError,
    },
}

impl StoreError {
    /// Whether the database could not be reached, at start
    /// ([`StoreError::Connect`]) or since ([`StoreError::Unreachable`]):
    /// a condition of the database, not of the request, which the same
    /// call outlives once the database is back.
    pub fn is_unreachable(&self) -> bool {
        matches!(
            self,
            StoreError::Connect { .. } | StoreError::Unreachable { .. }
        )
    }
}
