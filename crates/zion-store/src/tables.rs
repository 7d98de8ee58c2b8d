//! What both stores know alike of the tables: the columns each area reads,
//! how a row of them becomes a record, how a deployment becomes a row, and
//! the statements whose text is the same on both databases.
//!
//! The SQLite and PostgreSQL schemas hold the same columns with the same
//! types (times and JSON as text, see `codec`), so the stores differ in how
//! they run a statement, never in what a row means. Written once here, a
//! column added to a table cannot be read back by one store and forgotten
//! by the other. Each driver's row implements [`StoredRow`] (in
//! `sqlite/mod.rs` and `postgres/mod.rs`).

use zion_core::analysis::AnalysisRound;
use zion_core::deployment::{Deployment, DeploymentType, Event};
use zion_core::import::{ImportResult, ImportedIncident};

use crate::codec::{
    from_json, narrow, parse_opt_time, parse_phase, parse_role, parse_time, terminal_phases_sql,
    time_text, to_json, widen,
};
use crate::data_plane::{PublishedRoute, RouteListener, TrafficBucket};
use crate::{
    AuditCheckpoint, ImportedDeploymentRow, Incident, OutboxRow, OutboxState, SessionRecord,
    StoreError, StoredAuditEntry, StoredProcess, StoredSpec, TokenRecord,
};

/// A row as the readers below need it: a column by name, as one of the
/// few types the tables hold. Text and bytes are borrowed from the row, so
/// that a scan of a million imported deployments copies nothing it does
/// not keep. A column that is missing or of another type is
/// [`StoreError::Corrupt`] (see [`unreadable`]).
pub(crate) trait StoredRow {
    fn text(&self, column: &str) -> Result<&str, StoreError>;
    fn opt_text(&self, column: &str) -> Result<Option<&str>, StoreError>;
    fn int(&self, column: &str) -> Result<i64, StoreError>;
    fn opt_int(&self, column: &str) -> Result<Option<i64>, StoreError>;
    fn bytes(&self, column: &str) -> Result<&[u8], StoreError>;
}

/// The error of a column that cannot be read as the type a reader expects.
pub(crate) fn unreadable(column: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("column `{column}` cannot be read: {e}"))
}

/// `statement`, written with PostgreSQL's `$N` parameters, with SQLite's
/// `?N` ones. Only for the stores' own statements, which hold no other `$`
/// (values always travel as parameters).
pub(crate) fn sqlite(statement: &str) -> String {
    statement.replace('$', "?")
}

// ---- deployments, events and analysis rounds -------------------------------

/// The columns a deployment is written to, in the order of
/// [`deployment_fields`]; `id` is assigned by the database.
pub(crate) const DEPLOYMENT_WRITE_COLUMNS: [&str; 21] = [
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

/// Every column [`deployment`] reads.
/// (`strategy` is written but not read: the plan says it.)
pub(crate) const DEPLOYMENT_COLUMNS: &str = "id, service, environment, version, \
     previous_version, type, phase, step, canary_weight, requested_by, created_at, started_at, \
     finished_at, reason, plan, progress, gate, evidence, commit_sha, committed_at, revision";

/// A value written to a column: the written columns hold text or integers,
/// either possibly NULL. Each store binds it its own way.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Field {
    Text(Option<String>),
    Int(Option<i64>),
}

impl From<String> for Field {
    fn from(text: String) -> Self {
        Field::Text(Some(text))
    }
}

impl From<Option<String>> for Field {
    fn from(text: Option<String>) -> Self {
        Field::Text(text)
    }
}

impl From<i64> for Field {
    fn from(n: i64) -> Self {
        Field::Int(Some(n))
    }
}

impl From<Option<i64>> for Field {
    fn from(n: Option<i64>) -> Self {
        Field::Int(n)
    }
}

/// The values of [`DEPLOYMENT_WRITE_COLUMNS`] for `d`.
pub(crate) fn deployment_fields(d: &Deployment) -> Result<Vec<Field>, StoreError> {
    Ok(vec![
        d.service.clone().into(),
        d.environment.clone().into(),
        d.version.clone().into(),
        d.previous_version.clone().into(),
        // Derived from the plan, for readers of the table; never read back.
        d.strategy().name().to_string().into(),
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

/// Inserts a deployment's [`deployment_fields`], returning its new id.
pub(crate) fn insert_deployment_sql() -> String {
    let values: Vec<String> = (1..=DEPLOYMENT_WRITE_COLUMNS.len())
        .map(|i| format!("${i}"))
        .collect();
    format!(
        "INSERT INTO deployments ({}) VALUES ({}) RETURNING id",
        DEPLOYMENT_WRITE_COLUMNS.join(", "),
        values.join(", ")
    )
}

/// Writes a deployment's [`deployment_fields`] over the row of its id, if
/// that row still has the revision the caller read (the two parameters
/// after the fields): the compare-and-set that refuses a lost update.
pub(crate) fn update_deployment_sql() -> String {
    let sets: Vec<String> = DEPLOYMENT_WRITE_COLUMNS
        .iter()
        .enumerate()
        .map(|(i, c)| format!("{c} = ${}", i + 1))
        .collect();
    let n = DEPLOYMENT_WRITE_COLUMNS.len();
    format!(
        "UPDATE deployments SET {} WHERE id = ${} AND revision = ${}",
        sets.join(", "),
        n + 1,
        n + 2
    )
}

pub(crate) fn deployment(row: &(impl StoredRow + ?Sized)) -> Result<Deployment, StoreError> {
    let kind = row.text("type")?;
    Ok(Deployment {
        id: row.int("id")?,
        service: row.text("service")?.to_owned(),
        environment: row.text("environment")?.to_owned(),
        version: row.text("version")?.to_owned(),
        previous_version: row.opt_text("previous_version")?.map(str::to_owned),
        kind: DeploymentType::from_name(kind)
            .ok_or_else(|| StoreError::Corrupt(format!("`{kind}` is not a deployment type")))?,
        phase: parse_phase(row.text("phase")?)?,
        step: row
            .opt_int("step")?
            .map(|s| narrow(s, "step"))
            .transpose()?,
        canary_weight: narrow(row.int("canary_weight")?, "canary weight")?,
        requested_by: row.text("requested_by")?.to_owned(),
        created_at: parse_time(row.text("created_at")?, "created_at")?,
        started_at: parse_opt_time(row.opt_text("started_at")?, "started_at")?,
        finished_at: parse_opt_time(row.opt_text("finished_at")?, "finished_at")?,
        reason: row.opt_text("reason")?.map(str::to_owned),
        plan: from_json(row.text("plan")?, "deployment plan")?,
        progress: from_json(row.text("progress")?, "deployment progress")?,
        gate: from_json(row.text("gate")?, "deployment gate")?,
        evidence: row
            .opt_text("evidence")?
            .map(|e| from_json(e, "deployment evidence"))
            .transpose()?,
        commit: row.opt_text("commit_sha")?.map(str::to_owned),
        committed_at: parse_opt_time(row.opt_text("committed_at")?, "committed_at")?,
        revision: narrow(row.int("revision")?, "revision")?,
    })
}

/// How many deployments ended in each terminal phase, per target
/// ([`crate::DeploymentStore::outcome_counts`]); read by [`outcome_count`].
pub(crate) fn outcome_counts_sql() -> String {
    format!(
        "SELECT service, environment, phase, COUNT(*) AS n FROM deployments \
         WHERE phase IN ({}) GROUP BY service, environment, phase \
         ORDER BY service, environment, phase",
        terminal_phases_sql()
    )
}

pub(crate) fn outcome_count(
    row: &(impl StoredRow + ?Sized),
) -> Result<crate::OutcomeCount, StoreError> {
    Ok(crate::OutcomeCount {
        service: row.text("service")?.to_owned(),
        environment: row.text("environment")?.to_owned(),
        phase: parse_phase(row.text("phase")?)?,
        count: narrow(row.int("n")?, "deployment count")?,
    })
}

pub(crate) const EVENT_COLUMNS: &str =
    "at, from_phase, to_phase, step, canary_weight, actor, reason";

/// Appends an event (its `seq` is the deployment's last one's plus one).
pub(crate) const INSERT_EVENT: &str = "INSERT INTO events (deployment_id, seq, at, from_phase, \
     to_phase, step, canary_weight, actor, reason) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)";

pub(crate) fn event(row: &(impl StoredRow + ?Sized)) -> Result<Event, StoreError> {
    Ok(Event {
        at: parse_time(row.text("at")?, "event time")?,
        from_phase: parse_phase(row.text("from_phase")?)?,
        to_phase: parse_phase(row.text("to_phase")?)?,
        step: row
            .opt_int("step")?
            .map(|s| narrow(s, "event step"))
            .transpose()?,
        canary_weight: narrow(row.int("canary_weight")?, "event canary weight")?,
        actor: row.text("actor")?.to_owned(),
        reason: row.text("reason")?.to_owned(),
    })
}

/// A round ready to write, with its encoded body.
pub(crate) struct RoundRow<'a> {
    pub round: &'a AnalysisRound,
    pub body: String,
}

/// Encodes the deployment's rounds, refusing one of another deployment
/// (before any transaction begins).
pub(crate) fn round_rows(
    id: i64,
    rounds: &[AnalysisRound],
) -> Result<Vec<RoundRow<'_>>, StoreError> {
    rounds
        .iter()
        .map(|round| {
            if round.deployment_id != id {
                return Err(StoreError::Invalid(format!(
                    "analysis round {} belongs to deployment #{}, not #{id}",
                    round.number, round.deployment_id
                )));
            }
            Ok(RoundRow {
                round,
                body: to_json(round, "analysis round")?,
            })
        })
        .collect()
}

/// The rounds of a deployment, by number: what [`round`] reads.
pub(crate) const ROUNDS_OF: &str = "SELECT body, round_count, last_at FROM analysis_rounds \
     WHERE deployment_id = $1 ORDER BY number";

/// The deployment's latest round record: what [`round`] reads.
pub(crate) const LATEST_ROUND: &str = "SELECT body, round_count, last_at FROM analysis_rounds \
     WHERE deployment_id = $1 ORDER BY number DESC LIMIT 1";

/// Extends a round record by the rounds it absorbed.
pub(crate) const EXTEND_ROUND: &str = "UPDATE analysis_rounds SET round_count = $1, \
     last_at = $2 WHERE deployment_id = $3 AND number = $4";

pub(crate) const INSERT_ROUND: &str = "INSERT INTO analysis_rounds \
     (deployment_id, number, at, verdict, body, round_count, last_at) \
     VALUES ($1, $2, $3, $4, $5, $6, $7)";

/// A round record from its body and the columns that say how many rounds
/// it stands for (the body is the first round's, as it was recorded).
pub(crate) fn round(row: &(impl StoredRow + ?Sized)) -> Result<AnalysisRound, StoreError> {
    let mut round: AnalysisRound = from_json(row.text("body")?, "analysis round")?;
    let count: u32 = narrow(row.int("round_count")?, "analysis round count")?;
    round.count = count.max(1);
    round.last_at = parse_opt_time(row.opt_text("last_at")?, "analysis round last_at")?;
    Ok(round)
}

// ---- incidents, tokens, specs, processes -----------------------------------

/// Every column [`incident`] reads.
pub(crate) const INCIDENT_COLUMNS: &str = "id, service, environment, deployment_id, opened_at, \
     opened_by, reason, resolved_at, resolved_by, resolution";

/// Resolves one incident by id.
pub(crate) const RESOLVE_INCIDENT: &str = "UPDATE incidents \
     SET resolved_at = $1, resolved_by = $2, resolution = $3 WHERE id = $4";

/// Resolves a target's open incidents, spelled so that the partial index
/// `incidents_open` serves it.
pub(crate) const RESOLVE_TARGET: &str = "UPDATE incidents \
     SET resolved_at = $1, resolved_by = $2, resolution = $3 \
     WHERE service = $4 AND environment = $5 AND resolved_at IS NULL";

pub(crate) fn incident(row: &(impl StoredRow + ?Sized)) -> Result<Incident, StoreError> {
    Ok(Incident {
        id: row.int("id")?,
        service: row.text("service")?.to_owned(),
        environment: row.text("environment")?.to_owned(),
        deployment_id: row.opt_int("deployment_id")?,
        opened_at: parse_time(row.text("opened_at")?, "incident opened_at")?,
        opened_by: row.text("opened_by")?.to_owned(),
        reason: row.text("reason")?.to_owned(),
        resolved_at: parse_opt_time(row.opt_text("resolved_at")?, "incident resolved_at")?,
        resolved_by: row.opt_text("resolved_by")?.map(str::to_owned),
        resolution: row.opt_text("resolution")?.map(str::to_owned),
    })
}

/// Every column [`token`] reads, and what a token is written to.
pub(crate) const TOKEN_COLUMNS: &str = "name, role, hash_hex, github_login, created_at, revoked_at";

/// The condition of the index `tokens_live_github`, spelled as it is there
/// so that the index serves the lookup.
pub(crate) const LIVE_GITHUB_LOGIN: &str = "lower(github_login) = lower($1) AND revoked_at IS NULL";

pub(crate) fn token(row: &(impl StoredRow + ?Sized)) -> Result<TokenRecord, StoreError> {
    Ok(TokenRecord {
        name: row.text("name")?.to_owned(),
        role: parse_role(row.text("role")?)?,
        hash_hex: row.text("hash_hex")?.to_owned(),
        github_login: row.opt_text("github_login")?.map(str::to_owned),
        created_at: parse_time(row.text("created_at")?, "token created_at")?,
        revoked_at: parse_opt_time(row.opt_text("revoked_at")?, "token revoked_at")?,
    })
}

/// The spec in force: the latest applied, as [`spec`] reads it.
pub(crate) const LATEST_SPEC: &str =
    "SELECT yaml, sha256_hex, applied_by, applied_at FROM specs ORDER BY id DESC LIMIT 1";

pub(crate) const INSERT_SPEC: &str =
    "INSERT INTO specs (yaml, sha256_hex, applied_by, applied_at) VALUES ($1, $2, $3, $4)";

pub(crate) fn spec(row: &(impl StoredRow + ?Sized)) -> Result<StoredSpec, StoreError> {
    Ok(StoredSpec {
        yaml: row.text("yaml")?.to_owned(),
        sha256_hex: row.text("sha256_hex")?.to_owned(),
        applied_by: row.text("applied_by")?.to_owned(),
        applied_at: parse_time(row.text("applied_at")?, "spec applied_at")?,
    })
}

/// Every column [`process`] reads, and what a process is written to.
pub(crate) const PROCESS_COLUMNS: &str =
    "host, pid, start_ticks, service, environment, version, port";

pub(crate) fn process(row: &(impl StoredRow + ?Sized)) -> Result<StoredProcess, StoreError> {
    Ok(StoredProcess {
        host: row.text("host")?.to_owned(),
        pid: narrow(row.int("pid")?, "pid")?,
        start_ticks: narrow(row.int("start_ticks")?, "start_ticks")?,
        service: row.text("service")?.to_owned(),
        environment: row.text("environment")?.to_owned(),
        version: row.text("version")?.to_owned(),
        port: narrow(row.int("port")?, "port")?,
    })
}

// ---- imported history ------------------------------------------------------

/// Every column [`imported_deployment`] reads; after `external_id`, in the
/// order an import compares them with a deployment imported before.
pub(crate) const IMPORTED_DEPLOYMENT_COLUMNS: &str = "external_id, service, environment, \
     version, type, started_at, finished_at, result, commit_sha, committed_at";

/// An imported deployment, borrowing its text from the row.
pub(crate) fn imported_deployment<R: StoredRow + ?Sized>(
    row: &R,
) -> Result<ImportedDeploymentRow<'_>, StoreError> {
    let kind = row.text("type")?;
    let result = row.text("result")?;
    Ok(ImportedDeploymentRow {
        external_id: row.text("external_id")?,
        service: row.text("service")?,
        environment: row.text("environment")?,
        version: row.text("version")?,
        kind: DeploymentType::from_name(kind)
            .ok_or_else(|| StoreError::Corrupt(format!("`{kind}` is not a deployment type")))?,
        started_at: parse_time(row.text("started_at")?, "started_at")?,
        finished_at: parse_time(row.text("finished_at")?, "finished_at")?,
        result: ImportResult::from_name(result)
            .ok_or_else(|| StoreError::Corrupt(format!("`{result}` is not an import result")))?,
        commit: row.opt_text("commit_sha")?,
        committed_at: parse_opt_time(row.opt_text("committed_at")?, "committed_at")?,
    })
}

/// Every column [`imported_incident`] reads.
pub(crate) const IMPORTED_INCIDENT_COLUMNS: &str =
    "external_id, service, environment, opened_at, resolved_at, caused_by";

pub(crate) fn imported_incident(
    row: &(impl StoredRow + ?Sized),
) -> Result<ImportedIncident, StoreError> {
    Ok(ImportedIncident {
        external_id: row.text("external_id")?.to_owned(),
        service: row.text("service")?.to_owned(),
        environment: row.text("environment")?.to_owned(),
        opened_at: parse_time(row.text("opened_at")?, "opened_at")?,
        resolved_at: parse_opt_time(row.opt_text("resolved_at")?, "resolved_at")?,
        caused_by: row.opt_text("caused_by")?.map(str::to_owned),
    })
}

// ---- audit -----------------------------------------------------------------

/// Every checkpoint, by size: what [`checkpoint`] reads.
pub(crate) const CHECKPOINTS: &str =
    "SELECT size, note, signed_at FROM audit_checkpoints ORDER BY size";

/// The latest checkpoint: what [`checkpoint`] reads.
pub(crate) const LATEST_CHECKPOINT: &str =
    "SELECT size, note, signed_at FROM audit_checkpoints ORDER BY size DESC LIMIT 1";

pub(crate) const INSERT_CHECKPOINT: &str =
    "INSERT INTO audit_checkpoints (size, note, signed_at) VALUES ($1, $2, $3)";

pub(crate) fn checkpoint(row: &(impl StoredRow + ?Sized)) -> Result<AuditCheckpoint, StoreError> {
    Ok(AuditCheckpoint {
        size: u64::try_from(row.int("size")?).unwrap_or(0),
        note: row.text("note")?.to_owned(),
        signed_at: parse_time(row.text("signed_at")?, "checkpoint time")?,
    })
}

/// An entry of the log, as `filters::audit_entries` selects it.
pub(crate) fn audit_entry(row: &(impl StoredRow + ?Sized)) -> Result<StoredAuditEntry, StoreError> {
    Ok(StoredAuditEntry {
        index: u64::try_from(row.int("idx")?).unwrap_or(0),
        entry: row.bytes("entry")?.to_vec(),
    })
}

// ---- data plane ------------------------------------------------------------

/// What `data_plane::sql::SINCE` selects.
pub(crate) fn route(row: &(impl StoredRow + ?Sized)) -> Result<PublishedRoute, StoreError> {
    Ok(PublishedRoute {
        service: row.text("service")?.to_owned(),
        environment: row.text("environment")?.to_owned(),
        listener: RouteListener::from_name(row.text("listener")?)?,
        route: row.text("route")?.to_owned(),
        revision: narrow(row.int("revision")?, "a route's revision")?,
    })
}

/// What `data_plane::sql::TRAFFIC` selects.
pub(crate) fn bucket(row: &(impl StoredRow + ?Sized)) -> Result<TrafficBucket, StoreError> {
    Ok(TrafficBucket {
        replica: row.text("replica")?.to_owned(),
        service: row.text("service")?.to_owned(),
        environment: row.text("environment")?.to_owned(),
        version: row.text("version")?.to_owned(),
        second: narrow(row.int("second")?, "a bucket's second")?,
        requests: narrow(row.int("requests")?, "a bucket's requests")?,
        errors: narrow(row.int("errors")?, "a bucket's errors")?,
        latency: row.bytes("latency")?.to_vec(),
    })
}

// ---- the notifications outbox ----------------------------------------------

/// Every column [`outbox_row`] reads.
pub(crate) const OUTBOX_COLUMNS: &str = "id, receiver, channel, event, subject, audit_index, \
     body, created_at, state, attempts, next_at, last_error, delivered_at";

/// The columns a new row is written to, in the order of both drivers'
/// parameters; `id` is assigned by the database.
pub(crate) const OUTBOX_INSERT: &str = "INSERT INTO outbox (receiver, channel, event, subject, \
     audit_index, body, created_at, state, next_at) VALUES ($1, $2, $3, $4, $5, $6, $7, 'pending', $7)";

/// Whether a row of this receiver, event, subject and audit index exists.
pub(crate) const OUTBOX_WRITTEN: &str = "SELECT COUNT(*) AS n FROM outbox \
     WHERE receiver = $1 AND event = $2 AND subject = $3 AND audit_index = $4";

/// The open rows a claim may take: each receiver's oldest open row, when
/// due (`$1`: now) and not claimed; at most `$2`, oldest first.
pub(crate) const OUTBOX_CLAIMABLE: &str = "SELECT o.id FROM outbox o \
     WHERE o.state IN ('pending', 'retrying') AND o.next_at <= $1 \
     AND (o.claimed_until IS NULL OR o.claimed_until <= $1) \
     AND o.id = (SELECT MIN(p.id) FROM outbox p WHERE p.receiver = o.receiver \
                 AND p.state IN ('pending', 'retrying')) \
     ORDER BY o.id LIMIT $2";

/// A given-up row's `next_at` is when its last attempt was due.
pub(crate) const OUTBOX_PRUNE: &str = "DELETE FROM outbox \
     WHERE (state = 'delivered' AND delivered_at < $1) \
     OR (state = 'given_up' AND next_at < $1)";

pub(crate) const OUTBOX_DELIVERED: &str = "UPDATE outbox SET state = 'delivered', \
     delivered_at = $2, claimed_until = NULL WHERE id = $1";

/// `$3`: when to try again, NULL to give up.
pub(crate) const OUTBOX_FAILED: &str = "UPDATE outbox SET attempts = attempts + 1, \
     last_error = $2, claimed_until = NULL, \
     state = CASE WHEN CAST($3 AS TEXT) IS NULL THEN 'given_up' ELSE 'retrying' END, \
     next_at = COALESCE(CAST($3 AS TEXT), next_at) WHERE id = $1";

pub(crate) fn outbox_row(row: &(impl StoredRow + ?Sized)) -> Result<OutboxRow, StoreError> {
    Ok(OutboxRow {
        id: row.int("id")?,
        receiver: row.text("receiver")?.to_owned(),
        channel: row.text("channel")?.to_owned(),
        event: row.text("event")?.to_owned(),
        subject: row.text("subject")?.to_owned(),
        audit_index: narrow(row.int("audit_index")?, "outbox audit_index")?,
        body: row.text("body")?.to_owned(),
        created_at: parse_time(row.text("created_at")?, "outbox created_at")?,
        state: OutboxState::parse(row.text("state")?)?,
        attempts: narrow(row.int("attempts")?, "outbox attempts")?,
        next_at: parse_time(row.text("next_at")?, "outbox next_at")?,
        last_error: row.opt_text("last_error")?.map(str::to_owned),
        delivered_at: parse_opt_time(row.opt_text("delivered_at")?, "outbox delivered_at")?,
    })
}

// ---- console sessions ------------------------------------------------------

/// Every column [`session`] reads, and what a session is written to.
pub(crate) const SESSION_COLUMNS: &str =
    "hash_hex, token_hash, csrf_token, created_at, expires_at, last_seen_at";

pub(crate) const INSERT_SESSION: &str = "INSERT INTO sessions (hash_hex, token_hash, csrf_token, \
     created_at, expires_at, last_seen_at) VALUES ($1, $2, $3, $4, $5, $6)";

/// Times are fixed-width UTC text (see `codec`), so comparing the text
/// compares the times.
pub(crate) const TOUCH_SESSION: &str =
    "UPDATE sessions SET last_seen_at = $2 WHERE hash_hex = $1 AND last_seen_at < $2";

pub(crate) const DELETE_STALE_SESSIONS: &str =
    "DELETE FROM sessions WHERE expires_at <= $1 OR last_seen_at <= $2";

pub(crate) fn session(row: &(impl StoredRow + ?Sized)) -> Result<SessionRecord, StoreError> {
    Ok(SessionRecord {
        hash_hex: row.text("hash_hex")?.to_owned(),
        token_hash: row.text("token_hash")?.to_owned(),
        csrf_token: row.text("csrf_token")?.to_owned(),
        created_at: parse_time(row.text("created_at")?, "session created_at")?,
        expires_at: parse_time(row.text("expires_at")?, "session expires_at")?,
        last_seen_at: parse_time(row.text("last_seen_at")?, "session last_seen_at")?,
    })
}
