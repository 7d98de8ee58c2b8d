//! The embedded SQLite store: one connection behind a mutex, WAL journal,
//! `synchronous = FULL` (a commit that returned is on disk, even after a power
//! cut), foreign keys on, and a busy timeout so that two processes sharing a
//! file wait for each other instead of failing.

use std::fmt;
use std::path::Path;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use jiff::Timestamp;
use rusqlite::types::{FromSql, Value};
use rusqlite::{
    Connection, ErrorCode, OptionalExtension, Params, Row, Transaction, TransactionBehavior,
    params, params_from_iter,
};
use zion_core::analysis::AnalysisRound;
use zion_core::deployment::{Deployment, DeploymentType, Event, Phase};

use crate::codec::{
    from_json, narrow, parse_opt_time, parse_phase, parse_role, parse_strategy, parse_time,
    terminal_phases_sql, time_text, to_json, widen,
};
use crate::migrations::{MIGRATIONS, SCHEMA_VERSION};
use crate::sqlite_audit;
use crate::sqlite_history;
use crate::sqlite_rounds;
use crate::{
    AuditAppend, AuditBuilder, AuditCheckpoint, AuditFilter, AuditStore, Change, DeploymentFilter,
    DeploymentStore, HistoryStore, Incident, IncidentChange, IncidentFilter, IncidentStore,
    NewIncident, NodeHash, ProcessStore, SpecStore, StoreError, StoredAuditEntry, StoredProcess,
    StoredSpec, TokenRecord, TokenStore,
};
use crate::{AuditSnapshot, HistoryFilter, ImportBatch, ImportOutcome, ImportedDeploymentRow};

/// Long enough to ride out another writer's transaction on a loaded machine;
/// short enough that a stuck second zion on the same file is reported.
const BUSY_TIMEOUT: Duration = Duration::from_secs(15);

/// The columns a deployment is written to, in the order of
/// [`deployment_values`]; `id` is assigned by the database.
const WRITE_COLUMNS: [&str; 21] = [
    "service",
    "environment",
    "version",
    "previous_version",
    "strategy",
    "type",
    "phase",
    "step",
    "canary_weight",
    "requested_by",
    "created_at",
    "started_at",
    "finished_at",
    "reason",
    "plan",
    "progress",
    "gate",
    "evidence",
    "commit_sha",
    "committed_at",
    "revision",
];

/// Every column [`read_deployment`] reads.
const DEPLOYMENT_COLUMNS: &str = "id, service, environment, version, previous_version, strategy, \
     type, phase, step, canary_weight, requested_by, created_at, started_at, finished_at, \
     reason, plan, progress, gate, evidence, commit_sha, committed_at, revision";

const EVENT_COLUMNS: &str = "at, from_phase, to_phase, step, canary_weight, actor, reason";

const TOKEN_COLUMNS: &str = "name, role, hash_hex, github_login, created_at, revoked_at";

const PROCESS_COLUMNS: &str = "pid, start_ticks, service, environment, version, port";

/// Every column [`read_incident`] reads.
const INCIDENT_COLUMNS: &str = "id, service, environment, deployment_id, opened_at, opened_by, \
     reason, resolved_at, resolved_by, resolution";

/// Answered from the index `deployments_target_version` alone.
const HAS_SUCCEEDED_SQL: &str = "SELECT EXISTS (SELECT 1 FROM deployments \
     WHERE service = ?1 AND environment = ?2 AND version = ?3 AND phase = ?4)";

/// Resolves a target's open incidents through the index `incidents_open`.
const RESOLVE_TARGET_SQL: &str = "UPDATE incidents \
     SET resolved_at = ?1, resolved_by = ?2, resolution = ?3 \
     WHERE service = ?4 AND environment = ?5 AND resolved_at IS NULL";

/// The condition of the index `tokens_live_github`, spelled as it is there
/// so that the index serves the lookup.
const LIVE_GITHUB_LOGIN: &str = "lower(github_login) = lower(?1) AND revoked_at IS NULL";

/// [`crate::Store`] on an SQLite file (or in memory, for tests).
pub struct SqliteStore {
    conn: Mutex<Connection>,
    /// The file, for the side connection of long imports; None in memory.
    path: Option<std::path::PathBuf>,
    /// The file's path as shown in messages, or `:memory:`.
    location: String,
}

impl fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqliteStore")
            .field("location", &self.location)
            .finish_non_exhaustive()
    }
}

impl SqliteStore {
    /// Opens the database file at `path`, creating it if missing, and brings
    /// its schema up to date; refuses a database written by a newer Zion.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let location = path.display().to_string();
        let open_err = |e: rusqlite::Error| match e.sqlite_error_code() {
            Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => StoreError::Locked {
                during: "opening the database",
            },
            _ => StoreError::Open {
                path: path.to_path_buf(),
                source: Box::new(e),
            },
        };
        let conn = Connection::open(path).map_err(open_err)?;
        conn.busy_timeout(BUSY_TIMEOUT).map_err(open_err)?;
        // Checked before anything is changed, so a newer database is left
        // exactly as it was (the migration re-checks under its lock).
        refuse_newer(read_user_version(&conn)?, &location)?;
        let mode: String = conn
            .pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))
            .map_err(open_err)?;
        if !mode.eq_ignore_ascii_case("wal") {
            tracing::warn!(
                database = %location,
                journal_mode = %mode,
                "the file system refused write-ahead logging; readers will block writers"
            );
        }
        let mut store = Self::configure(conn, location)?;
        store.path = Some(path.to_path_buf());
        Ok(store)
    }

    /// A fresh private database in memory, gone when dropped.
    pub fn open_in_memory() -> Result<Self, StoreError> {
        let conn = Connection::open_in_memory().map_err(|e| StoreError::Open {
            path: ":memory:".into(),
            source: Box::new(e),
        })?;
        Self::configure(conn, ":memory:".to_string())
    }

    fn configure(mut conn: Connection, location: String) -> Result<Self, StoreError> {
        // Per connection, not stored in the file: set on every open. NORMAL
        // in WAL mode may lose the last commits on power loss; FULL syncs the
        // log on every commit so nothing acknowledged is lost.
        conn.pragma_update(None, "synchronous", "FULL")
            .map_err(db("configuring the database"))?;
        conn.pragma_update(None, "foreign_keys", "ON")
            .map_err(db("configuring the database"))?;
        migrate(&mut conn, &location)?;
        Ok(SqliteStore {
            conn: Mutex::new(conn),
            path: None,
            location,
        })
    }

    /// A second connection to the file for work that writes for seconds (a
    /// million-line import), so that it does not hold [`Self::conn`]: in WAL
    /// mode every read goes on meanwhile, and other writes wait for the
    /// commit (up to the busy timeout) instead of queueing on the mutex.
    fn side_connection(&self) -> Result<Option<Connection>, StoreError> {
        let Some(path) = &self.path else {
            return Ok(None);
        };
        const DURING: &str = "opening a connection for the import";
        let conn = Connection::open(path).map_err(db(DURING))?;
        conn.busy_timeout(BUSY_TIMEOUT).map_err(db(DURING))?;
        conn.pragma_update(None, "synchronous", "FULL")
            .map_err(db(DURING))?;
        conn.pragma_update(None, "foreign_keys", "ON")
            .map_err(db(DURING))?;
        Ok(Some(conn))
    }

    /// The connection. A panic elsewhere while it was held rolled back any
    /// open transaction (transactions roll back on drop), so it stays usable.
    fn conn(&self) -> MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

fn read_user_version(conn: &Connection) -> Result<i64, StoreError> {
    conn.pragma_query_value(None, "user_version", |row| row.get(0))
        .map_err(db("reading the schema version"))
}

fn refuse_newer(found: i64, location: &str) -> Result<(), StoreError> {
    if found > SCHEMA_VERSION {
        return Err(StoreError::TooNew {
            path: location.to_string(),
            found,
            known: SCHEMA_VERSION,
        });
    }
    if found < 0 {
        return Err(StoreError::Corrupt(format!(
            "{location} has a negative schema version ({found})"
        )));
    }
    Ok(())
}

/// Applies the missing migrations in one write transaction: either all of
/// them and the new `user_version`, or nothing. Two processes opening a new
/// file at once are serialised by the lock, and the second finds nothing to do.
fn migrate(conn: &mut Connection, location: &str) -> Result<(), StoreError> {
    let tx = begin(conn, "migrating the schema")?;
    let found = read_user_version(&tx)?;
    refuse_newer(found, location)?;
    for (index, sql) in MIGRATIONS.iter().enumerate().skip(found as usize) {
        let version = index as i64 + 1;
        let failed = |e: rusqlite::Error| StoreError::Migration {
            version,
            source: Box::new(e),
        };
        tx.execute_batch(sql).map_err(failed)?;
        tx.pragma_update(None, "user_version", version)
            .map_err(failed)?;
        tracing::info!(database = %location, version, "applied schema migration");
    }
    tx.commit().map_err(db("migrating the schema"))
}

/// A write transaction that takes the write lock at once. A deferred one
/// that reads and then writes can fail with "busy" without waiting when
/// another connection wrote in between; an immediate one waits its turn.
fn begin<'c>(
    conn: &'c mut Connection,
    during: &'static str,
) -> Result<Transaction<'c>, StoreError> {
    conn.transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(db(during))
}

/// Maps a driver error, telling a lock held too long from other failures.
pub(crate) fn db(during: &'static str) -> impl Fn(rusqlite::Error) -> StoreError {
    move |e| match e.sqlite_error_code() {
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => StoreError::Locked { during },
        _ => StoreError::Database {
            during,
            source: Box::new(e),
        },
    }
}

fn is_foreign_key_violation(e: &rusqlite::Error) -> bool {
    e.sqlite_extended_error_code() == Some(rusqlite::ffi::SQLITE_CONSTRAINT_FOREIGNKEY)
}

fn is_unique_violation(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_extended_error_code(),
        Some(rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE | rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY)
    )
}

/// Reads one column, reporting a wrong type as corruption.
fn col<T: FromSql>(row: &Row<'_>, name: &str) -> Result<T, StoreError> {
    row.get(name)
        .map_err(|e| StoreError::Corrupt(format!("column `{name}` cannot be read: {e}")))
}

/// Runs a query and converts every row.
fn query_all<T, P: Params>(
    conn: &Connection,
    sql: &str,
    params: P,
    during: &'static str,
    convert: impl Fn(&Row<'_>) -> Result<T, StoreError>,
) -> Result<Vec<T>, StoreError> {
    let mut stmt = conn.prepare_cached(sql).map_err(db(during))?;
    let mut rows = stmt.query(params).map_err(db(during))?;
    let mut out = Vec::new();
    while let Some(row) = rows.next().map_err(db(during))? {
        out.push(convert(row)?);
    }
    Ok(out)
}

/// WHERE clauses (and their numbered values) selecting a service and/or an
/// environment; callers append their own clauses after these.
fn target_clauses(service: Option<&str>, environment: Option<&str>) -> (Vec<String>, Vec<Value>) {
    let mut clauses = Vec::new();
    let mut values: Vec<Value> = Vec::new();
    for (column, value) in [("service", service), ("environment", environment)] {
        if let Some(v) = value {
            values.push(v.to_string().into());
            clauses.push(format!("{column} = ?{}", values.len()));
        }
    }
    (clauses, values)
}

/// The values of [`WRITE_COLUMNS`] for `d`.
fn deployment_values(d: &Deployment) -> Result<Vec<Value>, StoreError> {
    Ok(vec![
        d.service.clone().into(),
        d.environment.clone().into(),
        d.version.clone().into(),
        d.previous_version.clone().into(),
        d.strategy.name().to_string().into(),
        d.kind.name().to_string().into(),
        d.phase.name().to_string().into(),
        d.step.map(i64::from).into(),
        i64::from(d.canary_weight).into(),
        d.requested_by.clone().into(),
        time_text(d.created_at).into(),
        d.started_at.map(time_text).into(),
        d.finished_at.map(time_text).into(),
        d.reason.clone().into(),
        to_json(&d.plan, "deployment plan")?.into(),
        to_json(&d.progress, "deployment progress")?.into(),
        to_json(&d.gate, "deployment gate")?.into(),
        d.evidence
            .as_ref()
            .map(|e| to_json(e, "deployment evidence"))
            .transpose()?
            .into(),
        d.commit.clone().into(),
        d.committed_at.map(time_text).into(),
        widen(d.revision, "revision")?.into(),
    ])
}

fn read_deployment(row: &Row<'_>) -> Result<Deployment, StoreError> {
    let kind: String = col(row, "type")?;
    Ok(Deployment {
        id: col(row, "id")?,
        service: col(row, "service")?,
        environment: col(row, "environment")?,
        version: col(row, "version")?,
        previous_version: col(row, "previous_version")?,
        strategy: parse_strategy(&col::<String>(row, "strategy")?)?,
        kind: DeploymentType::from_name(&kind)
            .ok_or_else(|| StoreError::Corrupt(format!("`{kind}` is not a deployment type")))?,
        phase: parse_phase(&col::<String>(row, "phase")?)?,
        step: col::<Option<i64>>(row, "step")?
            .map(|s| narrow(s, "step"))
            .transpose()?,
        canary_weight: narrow(col(row, "canary_weight")?, "canary weight")?,
        requested_by: col(row, "requested_by")?,
        created_at: parse_time(&col::<String>(row, "created_at")?, "created_at")?,
        started_at: parse_opt_time(col(row, "started_at")?, "started_at")?,
        finished_at: parse_opt_time(col(row, "finished_at")?, "finished_at")?,
        reason: col(row, "reason")?,
        plan: from_json(&col::<String>(row, "plan")?, "deployment plan")?,
        progress: from_json(&col::<String>(row, "progress")?, "deployment progress")?,
        gate: from_json(&col::<String>(row, "gate")?, "deployment gate")?,
        evidence: col::<Option<String>>(row, "evidence")?
            .map(|e| from_json(&e, "deployment evidence"))
            .transpose()?,
        commit: col(row, "commit_sha")?,
        committed_at: parse_opt_time(col(row, "committed_at")?, "committed_at")?,
        revision: narrow(col(row, "revision")?, "revision")?,
    })
}

fn read_event(row: &Row<'_>) -> Result<Event, StoreError> {
    Ok(Event {
        at: parse_time(&col::<String>(row, "at")?, "event time")?,
        from_phase: parse_phase(&col::<String>(row, "from_phase")?)?,
        to_phase: parse_phase(&col::<String>(row, "to_phase")?)?,
        step: col::<Option<i64>>(row, "step")?
            .map(|s| narrow(s, "event step"))
            .transpose()?,
        canary_weight: narrow(col(row, "canary_weight")?, "event canary weight")?,
        actor: col(row, "actor")?,
        reason: col(row, "reason")?,
    })
}

fn read_token(row: &Row<'_>) -> Result<TokenRecord, StoreError> {
    Ok(TokenRecord {
        name: col(row, "name")?,
        role: parse_role(&col::<String>(row, "role")?)?,
        hash_hex: col(row, "hash_hex")?,
        github_login: col(row, "github_login")?,
        created_at: parse_time(&col::<String>(row, "created_at")?, "token created_at")?,
        revoked_at: parse_opt_time(col(row, "revoked_at")?, "token revoked_at")?,
    })
}

fn read_incident(row: &Row<'_>) -> Result<Incident, StoreError> {
    Ok(Incident {
        id: col(row, "id")?,
        service: col(row, "service")?,
        environment: col(row, "environment")?,
        deployment_id: col(row, "deployment_id")?,
        opened_at: parse_time(&col::<String>(row, "opened_at")?, "incident opened_at")?,
        opened_by: col(row, "opened_by")?,
        reason: col(row, "reason")?,
        resolved_at: parse_opt_time(col(row, "resolved_at")?, "incident resolved_at")?,
        resolved_by: col(row, "resolved_by")?,
        resolution: col(row, "resolution")?,
    })
}

fn read_process(row: &Row<'_>) -> Result<StoredProcess, StoreError> {
    Ok(StoredProcess {
        pid: narrow(col(row, "pid")?, "pid")?,
        start_ticks: narrow(col(row, "start_ticks")?, "start_ticks")?,
        service: col(row, "service")?,
        environment: col(row, "environment")?,
        version: col(row, "version")?,
        port: narrow(col(row, "port")?, "port")?,
    })
}

/// The target's unfinished deployment (other than `except`), if any.
fn active_of(
    conn: &Connection,
    service: &str,
    environment: &str,
    except: Option<i64>,
) -> Result<Option<(i64, Phase)>, StoreError> {
    let sql = format!(
        "SELECT id, phase FROM deployments \
         WHERE service = ?1 AND environment = ?2 AND id <> ?3 AND phase NOT IN ({}) \
         ORDER BY id LIMIT 1",
        terminal_phases_sql()
    );
    let found: Option<(i64, String)> = conn
        .query_row(
            &sql,
            params![service, environment, except.unwrap_or(-1)],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )
        .optional()
        .map_err(db("looking for the target's active deployment"))?;
    found
        .map(|(id, phase)| Ok((id, parse_phase(&phase)?)))
        .transpose()
}

/// Turns a unique-index violation on the one-active-per-target index into
/// the [`StoreError::TargetBusy`] it means; other errors pass through.
fn busy_or_db(
    conn: &Connection,
    d: &Deployment,
    except: Option<i64>,
    during: &'static str,
    e: rusqlite::Error,
) -> StoreError {
    if is_unique_violation(&e) {
        match active_of(conn, &d.service, &d.environment, except) {
            Ok(Some((id, phase))) => {
                return StoreError::TargetBusy {
                    id,
                    service: d.service.clone(),
                    environment: d.environment.clone(),
                    phase,
                };
            }
            Ok(None) => {}
            Err(other) => return other,
        }
    }
    db(during)(e)
}

/// Appends `events` after the deployment's last one.
fn insert_events(tx: &Transaction<'_>, id: i64, events: &[Event]) -> Result<(), StoreError> {
    const DURING: &str = "recording events";
    if events.is_empty() {
        return Ok(());
    }
    let last: i64 = tx
        .query_row(
            "SELECT COALESCE(MAX(seq), 0) FROM events WHERE deployment_id = ?1",
            [id],
            |row| row.get(0),
        )
        .map_err(db(DURING))?;
    let mut stmt = tx
        .prepare_cached(
            "INSERT INTO events (deployment_id, seq, at, from_phase, to_phase, step, \
             canary_weight, actor, reason) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        )
        .map_err(db(DURING))?;
    for (seq, e) in (last + 1..).zip(events) {
        stmt.execute(params![
            id,
            seq,
            time_text(e.at),
            e.from_phase.name(),
            e.to_phase.name(),
            e.step,
            e.canary_weight,
            e.actor,
            e.reason,
        ])
        .map_err(db(DURING))?;
    }
    Ok(())
}

/// The compare-and-set update that writes `d` over its previous revision,
/// with its parameters.
fn revision_update(d: &Deployment) -> Result<(String, Vec<Value>), StoreError> {
    let mut values = deployment_values(d)?;
    // A revision of 0 expects -1, which no row has: it ends as Conflict.
    let expected = widen(d.revision, "revision")? - 1;
    let sets: Vec<String> = WRITE_COLUMNS
        .iter()
        .enumerate()
        .map(|(i, c)| format!("{c} = ?{}", i + 1))
        .collect();
    let n = WRITE_COLUMNS.len();
    let sql = format!(
        "UPDATE deployments SET {} WHERE id = ?{} AND revision = ?{}",
        sets.join(", "),
        n + 1,
        n + 2
    );
    values.push(d.id.into());
    values.push(expected.into());
    Ok((sql, values))
}

/// Inserts a new incident and returns its id.
fn insert_incident(conn: &Connection, i: &NewIncident) -> Result<i64, StoreError> {
    insert_incident_as(conn, None, i)
}

/// Inserts `i` under `id`, or under the next id when None.
fn insert_incident_as(
    conn: &Connection,
    id: Option<i64>,
    i: &NewIncident,
) -> Result<i64, StoreError> {
    const DURING: &str = "opening an incident";
    conn.query_row(
        "INSERT INTO incidents (id, service, environment, deployment_id, opened_at, opened_by, \
         reason) VALUES (?7, ?1, ?2, ?3, ?4, ?5, ?6) RETURNING id",
        params![
            i.service,
            i.environment,
            i.deployment_id,
            time_text(i.opened_at),
            i.opened_by,
            i.reason,
            id,
        ],
        |row| row.get(0),
    )
    .map_err(|e| match i.deployment_id {
        Some(deployment) if is_foreign_key_violation(&e) => StoreError::Invalid(format!(
            "the incident on {} in {} names deployment #{deployment}, which does not exist",
            i.service, i.environment
        )),
        _ => db(DURING)(e),
    })
}

/// Resolves every open incident of the target; returns how many.
fn resolve_target(
    conn: &Connection,
    service: &str,
    environment: &str,
    at: Timestamp,
    by: &str,
    resolution: &str,
) -> Result<usize, StoreError> {
    conn.execute(
        RESOLVE_TARGET_SQL,
        params![time_text(at), by, resolution, service, environment],
    )
    .map_err(db("resolving the target's incidents"))
}

fn apply_incident_changes(
    tx: &Transaction<'_>,
    changes: &[IncidentChange],
) -> Result<(), StoreError> {
    for change in changes {
        match change {
            IncidentChange::OpenAs { id, incident } => {
                let id = insert_incident_as(tx, Some(*id), incident)?;
                tracing::debug!(id, service = %incident.service, environment = %incident.environment, "incident opened");
            }
            IncidentChange::Open(new) => {
                let id = insert_incident(tx, new)?;
                tracing::debug!(
                    id,
                    service = %new.service,
                    environment = %new.environment,
                    "incident opened"
                );
            }
            IncidentChange::ResolveTarget {
                service,
                environment,
                at,
                by,
                resolution,
            } => {
                let resolved = resolve_target(tx, service, environment, *at, by, resolution)?;
                tracing::debug!(%service, %environment, resolved, "target's incidents resolved");
            }
        }
    }
    Ok(())
}

fn incident_by_id(conn: &Connection, id: i64) -> Result<Option<Incident>, StoreError> {
    let sql = format!("SELECT {INCIDENT_COLUMNS} FROM incidents WHERE id = ?1");
    let mut found = query_all(conn, &sql, [id], "reading an incident", read_incident)?;
    Ok(found.pop())
}

/// Refuses a live token whose name or GitHub login a live token holds.
fn refuse_taken(tx: &Transaction<'_>, token: &TokenRecord) -> Result<(), StoreError> {
    const DURING: &str = "creating a token";
    if token.revoked_at.is_some() {
        return Ok(());
    }
    let name_taken = tx
        .query_row(
            "SELECT 1 FROM tokens WHERE name = ?1 AND revoked_at IS NULL",
            [&token.name],
            |_| Ok(()),
        )
        .optional()
        .map_err(db(DURING))?
        .is_some();
    if name_taken {
        return Err(StoreError::Exists {
            name: token.name.clone(),
        });
    }
    let Some(login) = &token.github_login else {
        return Ok(());
    };
    let holder: Option<String> = tx
        .query_row(
            &format!("SELECT name FROM tokens WHERE {LIVE_GITHUB_LOGIN}"),
            [login],
            |row| row.get(0),
        )
        .optional()
        .map_err(db(DURING))?;
    match holder {
        Some(name) => Err(StoreError::GithubLoginTaken {
            login: login.clone(),
            name,
        }),
        None => Ok(()),
    }
}

impl DeploymentStore for SqliteStore {
    fn create_deployment(
        &self,
        deployment: &Deployment,
        first_event: &Event,
        audit: Option<&mut AuditBuilder<'_, Deployment>>,
    ) -> Result<Deployment, StoreError> {
        const DURING: &str = "creating a deployment";
        let mut stored = deployment.clone();
        stored.revision = 1;
        let values = deployment_values(&stored)?;
        let sql = format!(
            "INSERT INTO deployments ({}) VALUES ({}) RETURNING id",
            WRITE_COLUMNS.join(", "),
            (1..=WRITE_COLUMNS.len())
                .map(|i| format!("?{i}"))
                .collect::<Vec<_>>()
                .join(", ")
        );
        let mut conn = self.conn();
        let tx = begin(&mut conn, DURING)?;
        // Under the write lock no one can insert between this check and the
        // insert; the partial unique index is the backstop (see the schema).
        if let Some((id, phase)) = active_of(&tx, &stored.service, &stored.environment, None)? {
            return Err(StoreError::TargetBusy {
                id,
                service: stored.service,
                environment: stored.environment,
                phase,
            });
        }
        let id: i64 = tx
            .query_row(&sql, params_from_iter(values), |row| row.get(0))
            .map_err(|e| busy_or_db(&tx, &stored, None, DURING, e))?;
        insert_events(&tx, id, std::slice::from_ref(first_event))?;
        stored.id = id;
        // The entries name the id assigned above, so they are built here,
        // under the write lock; any failure rolls the deployment back.
        if let Some(build) = audit {
            sqlite_audit::write(&tx, &build(&stored)?)?;
        }
        tx.commit().map_err(db(DURING))?;
        tracing::debug!(
            id,
            service = %stored.service,
            environment = %stored.environment,
            version = %stored.version,
            phase = %stored.phase,
            "deployment created"
        );
        Ok(stored)
    }

    fn deployment(&self, id: i64) -> Result<Option<Deployment>, StoreError> {
        let sql = format!("SELECT {DEPLOYMENT_COLUMNS} FROM deployments WHERE id = ?1");
        let conn = self.conn();
        let mut found = query_all(&conn, &sql, [id], "reading a deployment", read_deployment)?;
        Ok(found.pop())
    }

    fn deployments(&self, filter: &DeploymentFilter) -> Result<Vec<Deployment>, StoreError> {
        let (mut clauses, mut values) =
            target_clauses(filter.service.as_deref(), filter.environment.as_deref());
        if let Some(since) = filter.since {
            values.push(time_text(since).into());
            clauses.push(format!("created_at >= ?{}", values.len()));
        }
        if let Some(since) = filter.finished_since {
            values.push(time_text(since).into());
            clauses.push(format!(
                "(finished_at IS NULL OR finished_at >= ?{})",
                values.len()
            ));
        }
        let mut sql = format!("SELECT {DEPLOYMENT_COLUMNS} FROM deployments");
        if !clauses.is_empty() {
            sql.push_str(" WHERE ");
            sql.push_str(&clauses.join(" AND "));
        }
        sql.push_str(" ORDER BY id DESC");
        if let Some(limit) = filter.limit {
            values.push(widen(limit, "limit")?.into());
            sql.push_str(&format!(" LIMIT ?{}", values.len()));
        }
        let conn = self.conn();
        query_all(
            &conn,
            &sql,
            params_from_iter(values),
            "listing deployments",
            read_deployment,
        )
    }

    fn active_deployments(&self) -> Result<Vec<Deployment>, StoreError> {
        let sql = format!(
            "SELECT {DEPLOYMENT_COLUMNS} FROM deployments WHERE phase NOT IN ({}) ORDER BY id",
            terminal_phases_sql()
        );
        let conn = self.conn();
        query_all(
            &conn,
            &sql,
            [],
            "listing active deployments",
            read_deployment,
        )
    }

    fn record_change(&self, change: &Change<'_>) -> Result<(), StoreError> {
        const DURING: &str = "recording a deployment change";
        let deployment = change.deployment;
        let id = deployment.id;
        // What can be refused without the database is checked before the
        // transaction; whatever fails inside it rolls all of it back.
        let (sql, values) = revision_update(deployment)?;
        let rounds = sqlite_rounds::rows(id, change.rounds)?;

        let mut conn = self.conn();
        let tx = begin(&mut conn, DURING)?;
        // Compare-and-set on the revision: portable optimistic locking that
        // also holds where transactions do not serialise (PostgreSQL's
        // default isolation).
        let changed = tx
            .execute(&sql, params_from_iter(values))
            .map_err(|e| busy_or_db(&tx, deployment, Some(id), DURING, e))?;
        if changed == 0 {
            let exists = tx
                .query_row("SELECT 1 FROM deployments WHERE id = ?1", [id], |_| Ok(()))
                .optional()
                .map_err(db(DURING))?
                .is_some();
            return Err(if exists {
                StoreError::Conflict { id }
            } else {
                StoreError::NotFound { id }
            });
        }
        insert_events(&tx, id, change.events)?;
        sqlite_rounds::insert(&tx, id, &rounds)?;
        apply_incident_changes(&tx, change.incidents)?;
        if let Some(audit) = change.audit {
            crate::sqlite_audit::write(&tx, audit)?;
        }
        tx.commit().map_err(db(DURING))?;
        tracing::debug!(
            id,
            phase = %deployment.phase,
            revision = deployment.revision,
            events = change.events.len(),
            rounds = change.rounds.len(),
            incidents = change.incidents.len(),
            "deployment change recorded"
        );
        Ok(())
    }

    fn events(&self, id: i64) -> Result<Vec<Event>, StoreError> {
        let sql =
            format!("SELECT {EVENT_COLUMNS} FROM events WHERE deployment_id = ?1 ORDER BY seq");
        let conn = self.conn();
        query_all(&conn, &sql, [id], "reading events", read_event)
    }

    fn rounds(&self, id: i64) -> Result<Vec<AnalysisRound>, StoreError> {
        sqlite_rounds::all(&self.conn(), id)
    }

    fn stable_version(
        &self,
        service: &str,
        environment: &str,
    ) -> Result<Option<String>, StoreError> {
        let conn = self.conn();
        conn.query_row(
            "SELECT version FROM deployments \
             WHERE service = ?1 AND environment = ?2 AND phase = ?3 \
             ORDER BY id DESC LIMIT 1",
            params![service, environment, Phase::Succeeded.name()],
            |row| row.get(0),
        )
        .optional()
        .map_err(db("reading the stable version"))
    }

    fn succeeded(
        &self,
        service: &str,
        environment: &str,
        limit: usize,
    ) -> Result<Vec<Deployment>, StoreError> {
        let sql = format!(
            "SELECT {DEPLOYMENT_COLUMNS} FROM deployments \
             WHERE service = ?1 AND environment = ?2 AND phase = ?3 \
             ORDER BY id DESC LIMIT ?4"
        );
        let limit = widen(limit, "limit")?;
        let conn = self.conn();
        query_all(
            &conn,
            &sql,
            params![service, environment, Phase::Succeeded.name(), limit],
            "listing succeeded deployments",
            read_deployment,
        )
    }

    fn has_succeeded(
        &self,
        service: &str,
        environment: &str,
        version: &str,
    ) -> Result<bool, StoreError> {
        let conn = self.conn();
        conn.query_row(
            HAS_SUCCEEDED_SQL,
            params![service, environment, version, Phase::Succeeded.name()],
            |row| row.get(0),
        )
        .map_err(db("looking for a succeeded deployment"))
    }
}

impl SpecStore for SqliteStore {
    fn save_spec(
        &self,
        yaml: &str,
        sha256_hex: &str,
        applied_by: &str,
        at: Timestamp,
        audit: Option<&AuditAppend>,
    ) -> Result<(), StoreError> {
        const DURING: &str = "saving the spec";
        let mut conn = self.conn();
        let tx = begin(&mut conn, DURING)?;
        tx.execute(
            "INSERT INTO specs (yaml, sha256_hex, applied_by, applied_at) VALUES (?1, ?2, ?3, ?4)",
            params![yaml, sha256_hex, applied_by, time_text(at)],
        )
        .map_err(db(DURING))?;
        if let Some(a) = audit {
            sqlite_audit::write(&tx, a)?;
        }
        tx.commit().map_err(db(DURING))?;
        tracing::debug!(sha256 = %sha256_hex, applied_by, "spec saved");
        Ok(())
    }

    fn latest_spec(&self) -> Result<Option<StoredSpec>, StoreError> {
        let conn = self.conn();
        let mut found = query_all(
            &conn,
            "SELECT yaml, sha256_hex, applied_by, applied_at FROM specs ORDER BY id DESC LIMIT 1",
            [],
            "reading the latest spec",
            |row| {
                Ok(StoredSpec {
                    yaml: col(row, "yaml")?,
                    sha256_hex: col(row, "sha256_hex")?,
                    applied_by: col(row, "applied_by")?,
                    applied_at: parse_time(&col::<String>(row, "applied_at")?, "spec applied_at")?,
                })
            },
        )?;
        Ok(found.pop())
    }
}

impl TokenStore for SqliteStore {
    fn create_token(
        &self,
        token: &TokenRecord,
        audit: Option<&AuditAppend>,
    ) -> Result<(), StoreError> {
        const DURING: &str = "creating a token";
        let mut conn = self.conn();
        let tx = begin(&mut conn, DURING)?;
        // Checked under the write lock, so that the refusal names the
        // holder; the unique indexes are the backstop.
        refuse_taken(&tx, token)?;
        tx.execute(
            &format!("INSERT INTO tokens ({TOKEN_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6)"),
            params![
                token.name,
                token.role.name(),
                token.hash_hex,
                token.github_login,
                time_text(token.created_at),
                token.revoked_at.map(time_text),
            ],
        )
        .map_err(|e| {
            // The name and login were checked above, so a unique violation
            // here is the hash: refuse rather than let two names share one
            // secret.
            if is_unique_violation(&e) {
                StoreError::Invalid(format!(
                    "another token already has the hash of token `{}`; create a new token",
                    token.name
                ))
            } else {
                db(DURING)(e)
            }
        })?;
        if let Some(a) = audit {
            sqlite_audit::write(&tx, a)?;
        }
        tx.commit().map_err(db(DURING))?;
        tracing::debug!(name = %token.name, role = token.role.name(), "token created");
        Ok(())
    }

    fn token_by_hash(&self, hash_hex: &str) -> Result<Option<TokenRecord>, StoreError> {
        let conn = self.conn();
        let mut found = query_all(
            &conn,
            &format!("SELECT {TOKEN_COLUMNS} FROM tokens WHERE hash_hex = ?1"),
            [hash_hex],
            "looking up a token",
            read_token,
        )?;
        Ok(found.pop())
    }

    fn token_by_github(&self, login: &str) -> Result<Option<TokenRecord>, StoreError> {
        let conn = self.conn();
        let mut found = query_all(
            &conn,
            &format!("SELECT {TOKEN_COLUMNS} FROM tokens WHERE {LIVE_GITHUB_LOGIN}"),
            [login],
            "looking up a token by GitHub login",
            read_token,
        )?;
        Ok(found.pop())
    }

    fn tokens(&self) -> Result<Vec<TokenRecord>, StoreError> {
        let conn = self.conn();
        query_all(
            &conn,
            &format!("SELECT {TOKEN_COLUMNS} FROM tokens ORDER BY id"),
            [],
            "listing tokens",
            read_token,
        )
    }

    fn revoke_token(
        &self,
        name: &str,
        at: Timestamp,
        audit: Option<&AuditAppend>,
    ) -> Result<bool, StoreError> {
        const DURING: &str = "revoking a token";
        let mut conn = self.conn();
        let tx = begin(&mut conn, DURING)?;
        let changed = tx
            .execute(
                "UPDATE tokens SET revoked_at = ?1 WHERE name = ?2 AND revoked_at IS NULL",
                params![time_text(at), name],
            )
            .map_err(db(DURING))?;
        // Nothing revoked: dropping the transaction writes no entry either.
        if changed == 0 {
            return Ok(false);
        }
        if let Some(a) = audit {
            sqlite_audit::write(&tx, a)?;
        }
        tx.commit().map_err(db(DURING))?;
        tracing::debug!(name, "token revoked");
        Ok(true)
    }
}

impl IncidentStore for SqliteStore {
    fn open_incident(&self, incident: &NewIncident) -> Result<Incident, StoreError> {
        let conn = self.conn();
        let id = insert_incident(&conn, incident)?;
        tracing::debug!(
            id,
            service = %incident.service,
            environment = %incident.environment,
            "incident opened"
        );
        Ok(Incident {
            id,
            service: incident.service.clone(),
            environment: incident.environment.clone(),
            deployment_id: incident.deployment_id,
            opened_at: incident.opened_at,
            opened_by: incident.opened_by.clone(),
            reason: incident.reason.clone(),
            resolved_at: None,
            resolved_by: None,
            resolution: None,
        })
    }

    fn incidents(&self, filter: &IncidentFilter) -> Result<Vec<Incident>, StoreError> {
        let (mut clauses, values) =
            target_clauses(filter.service.as_deref(), filter.environment.as_deref());
        if filter.open_only {
            // Spelled as in the partial index `incidents_open`, so it serves.
            clauses.push("resolved_at IS NULL".to_string());
        }
        let mut sql = format!("SELECT {INCIDENT_COLUMNS} FROM incidents");
        if !clauses.is_empty() {
            sql.push_str(" WHERE ");
            sql.push_str(&clauses.join(" AND "));
        }
        sql.push_str(" ORDER BY id DESC");
        let conn = self.conn();
        query_all(
            &conn,
            &sql,
            params_from_iter(values),
            "listing incidents",
            read_incident,
        )
    }

    fn incident(&self, id: i64) -> Result<Option<Incident>, StoreError> {
        incident_by_id(&self.conn(), id)
    }

    fn resolve_incident(
        &self,
        id: i64,
        by: &str,
        at: Timestamp,
        resolution: &str,
        audit: Option<&AuditAppend>,
    ) -> Result<Incident, StoreError> {
        const DURING: &str = "resolving an incident";
        let mut conn = self.conn();
        let tx = begin(&mut conn, DURING)?;
        let mut incident = incident_by_id(&tx, id)?.ok_or(StoreError::IncidentNotFound { id })?;
        if let Some(at) = incident.resolved_at {
            return Err(StoreError::AlreadyResolved { id, at });
        }
        tx.execute(
            "UPDATE incidents SET resolved_at = ?1, resolved_by = ?2, resolution = ?3 \
             WHERE id = ?4",
            params![time_text(at), by, resolution, id],
        )
        .map_err(db(DURING))?;
        if let Some(a) = audit {
            sqlite_audit::write(&tx, a)?;
        }
        tx.commit().map_err(db(DURING))?;
        tracing::debug!(id, by, "incident resolved");
        incident.resolved_at = Some(at);
        incident.resolved_by = Some(by.to_string());
        incident.resolution = Some(resolution.to_string());
        Ok(incident)
    }

    fn next_incident_id(&self) -> Result<i64, StoreError> {
        // AUTOINCREMENT keeps the largest id ever used in sqlite_sequence,
        // so a deleted last row is not reused either.
        self.conn()
            .query_row(
                "SELECT MAX(COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'incidents'), 0), \
                 COALESCE((SELECT MAX(id) FROM incidents), 0)) + 1",
                [],
                |r| r.get(0),
            )
            .map_err(db("reading the next incident id"))
    }
}

impl ProcessStore for SqliteStore {
    fn record_process(&self, p: &StoredProcess) -> Result<(), StoreError> {
        let start_ticks = widen(p.start_ticks, "start_ticks")?;
        let conn = self.conn();
        conn.execute(
            &format!(
                "INSERT INTO processes ({PROCESS_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6) \
                 ON CONFLICT (pid) DO UPDATE SET start_ticks = excluded.start_ticks, \
                 service = excluded.service, environment = excluded.environment, \
                 version = excluded.version, port = excluded.port"
            ),
            params![
                p.pid,
                start_ticks,
                p.service,
                p.environment,
                p.version,
                p.port
            ],
        )
        .map_err(db("recording a process"))?;
        Ok(())
    }

    fn forget_process(&self, pid: u32) -> Result<(), StoreError> {
        let conn = self.conn();
        conn.execute("DELETE FROM processes WHERE pid = ?1", [pid])
            .map_err(db("forgetting a process"))?;
        Ok(())
    }

    fn processes(&self) -> Result<Vec<StoredProcess>, StoreError> {
        let conn = self.conn();
        query_all(
            &conn,
            &format!("SELECT {PROCESS_COLUMNS} FROM processes ORDER BY pid"),
            [],
            "listing processes",
            read_process,
        )
    }
}

impl AuditStore for SqliteStore {
    fn append_audit(&self, append: &AuditAppend) -> Result<(), StoreError> {
        const DURING: &str = "appending to the audit log";
        let mut conn = self.conn();
        let tx = begin(&mut conn, DURING)?;
        sqlite_audit::write(&tx, append)?;
        tx.commit().map_err(db(DURING))
    }

    fn audit_size(&self) -> Result<u64, StoreError> {
        sqlite_audit::size(&self.conn())
    }

    fn audit_nodes(&self, ids: &[(u8, u64)]) -> Result<Vec<Option<NodeHash>>, StoreError> {
        sqlite_audit::nodes(&self.conn(), ids)
    }

    fn audit_entries(&self, filter: &AuditFilter) -> Result<Vec<StoredAuditEntry>, StoreError> {
        sqlite_audit::entries(&self.conn(), filter)
    }

    fn scan_audit(
        &self,
        from: u64,
        visit: &mut dyn FnMut(StoredAuditEntry, Option<NodeHash>) -> bool,
    ) -> Result<(), StoreError> {
        sqlite_audit::scan(&self.conn(), from, visit)
    }

    fn audit_checkpoints(&self) -> Result<Vec<AuditCheckpoint>, StoreError> {
        sqlite_audit::checkpoints(&self.conn())
    }

    fn audit_snapshot(
        &self,
        read: &mut dyn FnMut(&dyn AuditSnapshot) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        const DURING: &str = "reading the audit log";
        let mut in_snapshot = |conn: &mut Connection| -> Result<(), StoreError> {
            // A deferred transaction in WAL mode reads one snapshot, taken
            // at its first read, until it ends; it writes nothing.
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Deferred)
                .map_err(db(DURING))?;
            read(&sqlite_audit::Snapshot(&tx))?;
            tx.rollback().map_err(db(DURING))
        };
        match self.side_connection()? {
            Some(mut own) => in_snapshot(&mut own),
            None => in_snapshot(&mut self.conn()),
        }
    }
}

impl HistoryStore for SqliteStore {
    fn import_history(
        &self,
        batch: &ImportBatch<'_>,
        audit: Option<&AuditAppend>,
    ) -> Result<ImportOutcome, StoreError> {
        let mut side = self.side_connection()?;
        let mut shared;
        let conn: &mut Connection = match side.as_mut() {
            Some(c) => c,
            None => {
                shared = self.conn();
                &mut shared
            }
        };
        let tx = begin(conn, "importing history")?;
        let outcome = sqlite_history::import(&tx, batch)?;
        // Nothing new: dropping the transaction rolls the import row back.
        if outcome.import_id.is_some() {
            if let Some(a) = audit {
                sqlite_audit::write(&tx, a)?;
            }
            tx.commit().map_err(db("importing history"))?;
        }
        Ok(outcome)
    }

    fn scan_imported_deployments(
        &self,
        filter: &HistoryFilter,
        visit: &mut dyn FnMut(&ImportedDeploymentRow<'_>),
    ) -> Result<(), StoreError> {
        sqlite_history::scan_deployments(&self.conn(), filter, visit)
    }

    fn imported_incidents(
        &self,
        filter: &HistoryFilter,
    ) -> Result<Vec<zion_core::import::ImportedIncident>, StoreError> {
        sqlite_history::incidents(&self.conn(), filter)
    }

    fn imported_counts(&self) -> Result<(u64, u64), StoreError> {
        sqlite_history::counts(&self.conn())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_connections_are_durable_and_checked() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("zion.db")).unwrap();
        let conn = store.conn();
        let get = |name: &str| -> i64 {
            conn.pragma_query_value(None, name, |row| row.get(0))
                .unwrap()
        };
        // 2 = FULL: the WAL is synced on every commit.
        assert_eq!(get("synchronous"), 2);
        assert_eq!(get("foreign_keys"), 1);
        assert_eq!(get("busy_timeout"), BUSY_TIMEOUT.as_millis() as i64);
        assert_eq!(get("user_version"), SCHEMA_VERSION);
    }

    /// The details of SQLite's plan for `sql`, one step a line.
    fn plan_of(store: &SqliteStore, sql: &str) -> String {
        let conn = store.conn();
        let mut stmt = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
        // The plan does not depend on the values; the driver wants them all.
        let values = vec![Value::Null; stmt.parameter_count()];
        let rows = stmt
            .query_map(params_from_iter(values), |row| row.get::<_, String>(3))
            .unwrap()
            .collect::<Result<Vec<_>, _>>()
            .unwrap();
        rows.join("\n")
    }

    #[test]
    fn lookups_are_served_by_their_indexes() {
        let store = SqliteStore::open_in_memory().unwrap();
        let plan = plan_of(&store, HAS_SUCCEEDED_SQL);
        assert!(
            plan.contains("COVERING INDEX deployments_target_version"),
            "{plan}"
        );
        let plan = plan_of(
            &store,
            &format!("SELECT {TOKEN_COLUMNS} FROM tokens WHERE {LIVE_GITHUB_LOGIN}"),
        );
        assert!(plan.contains("INDEX tokens_live_github"), "{plan}");
        let plan = plan_of(&store, RESOLVE_TARGET_SQL);
        assert!(plan.contains("INDEX incidents_open"), "{plan}");
    }

    #[test]
    fn events_of_a_missing_deployment_are_refused_by_the_foreign_key() {
        let store = SqliteStore::open_in_memory().unwrap();
        let mut conn = store.conn();
        let tx = begin(&mut conn, "test").unwrap();
        let event = Event {
            at: Timestamp::UNIX_EPOCH,
            from_phase: Phase::Pending,
            to_phase: Phase::Pending,
            step: None,
            canary_weight: 0,
            actor: "t".into(),
            reason: "t".into(),
        };
        assert!(insert_events(&tx, 77, &[event]).is_err());
    }

    #[test]
    fn evidence_and_commit_are_stored_with_the_deployment() {
        use zion_core::deployment::{Plan, Progress};
        use zion_core::governance::quality::{
            CoverageSummary, Evidence, FindingCounts, TestSummary,
        };
        use zion_core::spec::{AnalysisSpec, Strategy};

        let store = SqliteStore::open_in_memory().unwrap();
        let at = Timestamp::new(1_750_000_000, 123_456_789).unwrap();
        let mut d = Deployment {
            id: 0,
            service: "web".into(),
            environment: "production".into(),
            version: "2.0".into(),
            previous_version: None,
            strategy: Strategy::Canary,
            kind: DeploymentType::Feature,
            phase: Phase::Pending,
            step: None,
            canary_weight: 0,
            requested_by: "alice".into(),
            created_at: at,
            started_at: None,
            finished_at: None,
            reason: None,
            plan: Plan {
                steps: Vec::new(),
                replicas: 1,
                start_timeout: Duration::from_secs(60),
                interval: Duration::from_secs(5),
                failure_limit: 2,
                min_requests: 20,
                inconclusive_limit: Duration::from_secs(600),
                checks: AnalysisSpec::default_checks(),
                sticky: false,
                blue_green: None,
                rolling: None,
            },
            progress: Progress::default(),
            gate: Default::default(),
            evidence: Some(Evidence {
                tests: Some(TestSummary {
                    total: 12,
                    passed: 10,
                    failed: 1,
                    skipped: 1,
                    errors: 0,
                }),
                coverage: Some(CoverageSummary {
                    lines_total: 1000,
                    lines_covered: 824,
                }),
                findings: Some(FindingCounts {
                    error: 0,
                    warning: 3,
                    note: 7,
                    none: 1,
                }),
            }),
            commit: Some("9fceb02d0ae598e95dc970b74767f19372d61af8".into()),
            committed_at: Some(Timestamp::new(1_749_990_000, 5).unwrap()),
            revision: 1,
        };
        let first = Event {
            at,
            from_phase: Phase::Pending,
            to_phase: Phase::Pending,
            step: None,
            canary_weight: 0,
            actor: "alice".into(),
            reason: "requested".into(),
        };
        let stored = store.create_deployment(&d, &first, None).unwrap();
        (d.id, d.revision) = (stored.id, stored.revision);
        assert_eq!(store.deployment(d.id).unwrap().unwrap(), d);
        // A deployment without any: NULLs, read back as None.
        let mut bare = d.clone();
        bare.version = "2.1".into();
        bare.environment = "staging".into();
        (bare.evidence, bare.commit, bare.committed_at) = (None, None, None);
        let stored = store.create_deployment(&bare, &first, None).unwrap();
        let read = store.deployment(stored.id).unwrap().unwrap();
        assert_eq!(
            (read.evidence, read.commit, read.committed_at),
            (None, None, None)
        );
        let raw: Option<String> = store
            .conn()
            .query_row(
                "SELECT evidence FROM deployments WHERE id = ?1",
                [stored.id],
                |row| row.get(0),
            )
            .unwrap();
        assert_eq!(raw, None);
    }
}
