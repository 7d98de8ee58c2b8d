//! The deployments, events and analysis rounds of [`PostgresStore`]: one
//! active deployment per target (checked in the transaction, held by a
//! partial unique index across connections and replicas) and changes
//! guarded by their revision.

use tokio_postgres::Row;
use zion_core::analysis::AnalysisRound;
use zion_core::deployment::{Deployment, DeploymentType, Event, Phase};

use super::incidents::apply_incident_changes;
use super::{
    Param, PostgresStore, Session, args, audit, col, is_unique_violation, rounds, target_clauses,
};
use crate::codec::{
    from_json, narrow, parse_opt_time, parse_phase, parse_time, terminal_phases_sql, time_text,
    to_json, widen,
};
use crate::{AuditBuilder, Change, DeploymentFilter, DeploymentStore, Fence, StoreError};

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
const DEPLOYMENT_COLUMNS: &str = "id, service, environment, version, previous_version, \
     type, phase, step, canary_weight, requested_by, created_at, started_at, finished_at, \
     reason, plan, progress, gate, evidence, commit_sha, committed_at, revision";

const EVENT_COLUMNS: &str = "at, from_phase, to_phase, step, canary_weight, actor, reason";

/// The values of [`WRITE_COLUMNS`] for `d`.
fn deployment_values(d: &Deployment) -> Result<Vec<Param>, StoreError> {
    Ok(args![
        d.service.clone(),
        d.environment.clone(),
        d.version.clone(),
        d.previous_version.clone(),
        // Derived from the plan, for readers of the table; never read back.
        d.strategy().name().to_string(),
        d.kind.name().to_string(),
        d.phase.name().to_string(),
        d.step.map(i64::from),
        i64::from(d.canary_weight),
        d.requested_by.clone(),
        time_text(d.created_at),
        d.started_at.map(time_text),
        d.finished_at.map(time_text),
        d.reason.clone(),
        to_json(&d.plan, "deployment plan")?,
        to_json(&d.progress, "deployment progress")?,
        to_json(&d.gate, "deployment gate")?,
        d.evidence
            .as_ref()
            .map(|e| to_json(e, "deployment evidence"))
            .transpose()?,
        d.commit.clone(),
        d.committed_at.map(time_text),
        widen(d.revision, "revision")?,
    ])
}

fn read_deployment(row: &Row) -> Result<Deployment, StoreError> {
    let kind: String = col(row, "type")?;
    Ok(Deployment {
        id: col(row, "id")?,
        service: col(row, "service")?,
        environment: col(row, "environment")?,
        version: col(row, "version")?,
        previous_version: col(row, "previous_version")?,
        kind: DeploymentType::from_name(&kind)
            .ok_or_else(|| StoreError::Corrupt(format!("`{kind}` is not a deployment type")))?,
        phase: parse_phase(col(row, "phase")?)?,
        step: col::<Option<i64>>(row, "step")?
            .map(|s| narrow(s, "step"))
            .transpose()?,
        canary_weight: narrow(col(row, "canary_weight")?, "canary weight")?,
        requested_by: col(row, "requested_by")?,
        created_at: parse_time(col(row, "created_at")?, "created_at")?,
        started_at: parse_opt_time(col(row, "started_at")?, "started_at")?,
        finished_at: parse_opt_time(col(row, "finished_at")?, "finished_at")?,
        reason: col(row, "reason")?,
        plan: from_json(col(row, "plan")?, "deployment plan")?,
        progress: from_json(col(row, "progress")?, "deployment progress")?,
        gate: from_json(col(row, "gate")?, "deployment gate")?,
        evidence: col::<Option<&str>>(row, "evidence")?
            .map(|e| from_json(e, "deployment evidence"))
            .transpose()?,
        commit: col(row, "commit_sha")?,
        committed_at: parse_opt_time(col(row, "committed_at")?, "committed_at")?,
        revision: narrow(col(row, "revision")?, "revision")?,
    })
}

fn read_event(row: &Row) -> Result<Event, StoreError> {
    Ok(Event {
        at: parse_time(col(row, "at")?, "event time")?,
        from_phase: parse_phase(col(row, "from_phase")?)?,
        to_phase: parse_phase(col(row, "to_phase")?)?,
        step: col::<Option<i64>>(row, "step")?
            .map(|s| narrow(s, "event step"))
            .transpose()?,
        canary_weight: narrow(col(row, "canary_weight")?, "event canary weight")?,
        actor: col(row, "actor")?,
        reason: col(row, "reason")?,
    })
}

fn read_all<T>(
    rows: Vec<Row>,
    convert: impl Fn(&Row) -> Result<T, StoreError>,
) -> Result<Vec<T>, StoreError> {
    rows.iter().map(convert).collect()
}

/// The target's unfinished deployment (other than `except`), if any.
fn active_of(
    s: &mut Session<'_>,
    service: &str,
    environment: &str,
    except: Option<i64>,
) -> Result<Option<(i64, Phase)>, StoreError> {
    let sql = format!(
        "SELECT id, phase FROM deployments \
         WHERE service = $1 AND environment = $2 AND id <> $3 AND phase NOT IN ({}) \
         ORDER BY id LIMIT 1",
        terminal_phases_sql()
    );
    let row = s.query_opt(
        &sql,
        args![
            service.to_owned(),
            environment.to_owned(),
            except.unwrap_or(-1)
        ],
        "looking for the target's active deployment",
    )?;
    row.map(|r| Ok((col(&r, "id")?, parse_phase(col(&r, "phase")?)?)))
        .transpose()
}

/// After a statement of `s`'s transaction broke the one-active-per-target
/// index: rolls the transaction back (it can run nothing more) and names
/// the deployment that holds the target, as of now.
fn busy(
    s: &mut Session<'_>,
    d: &Deployment,
    except: Option<i64>,
    during: &'static str,
    e: tokio_postgres::Error,
) -> StoreError {
    busy_in(s, d, except, during, e, Scope::Transaction)
}

/// What a refused write rolls back before the store reads why: its own
/// transaction, or its savepoint in a group's.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Scope {
    Transaction,
    Savepoint,
}

/// The savepoint of one write of a group (see [`crate::AuditStore::commit_group`]).
pub(super) const GROUP_SAVEPOINT: &str = "group_write";

fn busy_in(
    s: &mut Session<'_>,
    d: &Deployment,
    except: Option<i64>,
    during: &'static str,
    e: tokio_postgres::Error,
    scope: Scope,
) -> StoreError {
    if is_unique_violation(&e) {
        let undone = match scope {
            Scope::Transaction => s.rollback(during),
            Scope::Savepoint => {
                s.batch(&format!("ROLLBACK TO SAVEPOINT {GROUP_SAVEPOINT}"), during)
            }
        };
        let holder = undone.and_then(|()| active_of(s, &d.service, &d.environment, except));
        match holder {
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
    s.error(during, e)
}

/// Appends `events` after the deployment's last one.
fn insert_events(s: &mut Session<'_>, id: i64, events: &[Event]) -> Result<(), StoreError> {
    const DURING: &str = "recording events";
    if events.is_empty() {
        return Ok(());
    }
    let row = s.query_one(
        "SELECT COALESCE(MAX(seq), 0) AS last FROM events WHERE deployment_id = $1",
        args![id],
        DURING,
    )?;
    let last: i64 = col(&row, "last")?;
    for (seq, e) in (last + 1..).zip(events) {
        s.execute(
            "INSERT INTO events (deployment_id, seq, at, from_phase, to_phase, step, \
             canary_weight, actor, reason) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            args![
                id,
                seq,
                time_text(e.at),
                e.from_phase.name().to_owned(),
                e.to_phase.name().to_owned(),
                e.step.map(i64::from),
                i64::from(e.canary_weight),
                e.actor.clone(),
                e.reason.clone(),
            ],
            DURING,
        )?;
    }
    Ok(())
}

/// The compare-and-set update that writes `d` over its previous revision,
/// with its parameters.
fn revision_update(d: &Deployment) -> Result<(String, Vec<Param>), StoreError> {
    let mut values = deployment_values(d)?;
    // A revision of 0 expects -1, which no row has: it ends as Conflict.
    let expected = widen(d.revision, "revision")? - 1;
    let sets: Vec<String> = WRITE_COLUMNS
        .iter()
        .enumerate()
        .map(|(i, c)| format!("{c} = ${}", i + 1))
        .collect();
    let n = WRITE_COLUMNS.len();
    let sql = format!(
        "UPDATE deployments SET {} WHERE id = ${} AND revision = ${}",
        sets.join(", "),
        n + 1,
        n + 2
    );
    values.push(Box::new(d.id));
    values.push(Box::new(expected));
    Ok((sql, values))
}

impl DeploymentStore for PostgresStore {
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
                .map(|i| format!("${i}"))
                .collect::<Vec<_>>()
                .join(", ")
        );
        let mut s = self.begin(DURING)?;
        if audit.is_some() {
            s.lock_audit(DURING)?;
        }
        // Names the holder in the common case; two creators racing past it
        // are told apart by the partial unique index below.
        if let Some((id, phase)) = active_of(&mut s, &stored.service, &stored.environment, None)? {
            return Err(StoreError::TargetBusy {
                id,
                service: stored.service,
                environment: stored.environment,
                phase,
            });
        }
        let rows = match s.try_query(&sql, values, DURING)? {
            Ok(rows) => rows,
            Err(e) => return Err(busy(&mut s, &stored, None, DURING, e)),
        };
        let id: i64 = rows
            .first()
            .map(|r| col(r, "id"))
            .transpose()?
            .ok_or_else(|| StoreError::Database {
                during: DURING,
                source: "the insert returned no id".into(),
            })?;
        insert_events(&mut s, id, std::slice::from_ref(first_event))?;
        stored.id = id;
        // The entries name the id assigned above, so they are built here,
        // inside the transaction; any failure rolls the deployment back.
        if let Some(build) = audit {
            audit::write(&mut s, &build(&stored)?)?;
        }
        s.commit(DURING)?;
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
        const DURING: &str = "reading a deployment";
        let sql = format!("SELECT {DEPLOYMENT_COLUMNS} FROM deployments WHERE id = $1");
        let row = self.session(DURING)?.query_opt(&sql, args![id], DURING)?;
        row.as_ref().map(read_deployment).transpose()
    }

    fn deployments(&self, filter: &DeploymentFilter) -> Result<Vec<Deployment>, StoreError> {
        const DURING: &str = "listing deployments";
        let (mut clauses, mut values) =
            target_clauses(filter.service.as_deref(), filter.environment.as_deref());
        if let Some(since) = filter.since {
            values.push(Box::new(time_text(since)));
            clauses.push(format!("created_at >= ${}", values.len()));
        }
        if let Some(since) = filter.finished_since {
            values.push(Box::new(time_text(since)));
            clauses.push(format!(
                "(finished_at IS NULL OR finished_at >= ${})",
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
            values.push(Box::new(widen(limit, "limit")?));
            sql.push_str(&format!(" LIMIT ${}", values.len()));
        }
        let rows = self.session(DURING)?.query(&sql, values, DURING)?;
        read_all(rows, read_deployment)
    }

    fn active_deployments(&self) -> Result<Vec<Deployment>, StoreError> {
        const DURING: &str = "listing active deployments";
        let sql = format!(
            "SELECT {DEPLOYMENT_COLUMNS} FROM deployments WHERE phase NOT IN ({}) ORDER BY id",
            terminal_phases_sql()
        );
        let rows = self.session(DURING)?.query(&sql, args![], DURING)?;
        read_all(rows, read_deployment)
    }

    fn record_change(&self, change: &Change<'_>) -> Result<(), StoreError> {
        self.record_change_fenced(change, None)
    }

    fn events(&self, id: i64) -> Result<Vec<Event>, StoreError> {
        const DURING: &str = "reading events";
        let sql =
            format!("SELECT {EVENT_COLUMNS} FROM events WHERE deployment_id = $1 ORDER BY seq");
        let rows = self.session(DURING)?.query(&sql, args![id], DURING)?;
        read_all(rows, read_event)
    }

    fn rounds(&self, id: i64) -> Result<Vec<AnalysisRound>, StoreError> {
        rounds::all(&mut self.session("reading analysis rounds")?, id)
    }

    fn stable_version(
        &self,
        service: &str,
        environment: &str,
    ) -> Result<Option<String>, StoreError> {
        const DURING: &str = "reading the stable version";
        let row = self.session(DURING)?.query_opt(
            "SELECT version FROM deployments \
             WHERE service = $1 AND environment = $2 AND phase = $3 \
             ORDER BY id DESC LIMIT 1",
            args![
                service.to_owned(),
                environment.to_owned(),
                Phase::Succeeded.name().to_owned()
            ],
            DURING,
        )?;
        row.map(|r| col(&r, "version")).transpose()
    }

    fn succeeded(
        &self,
        service: &str,
        environment: &str,
        limit: usize,
    ) -> Result<Vec<Deployment>, StoreError> {
        const DURING: &str = "listing succeeded deployments";
        let sql = format!(
            "SELECT {DEPLOYMENT_COLUMNS} FROM deployments \
             WHERE service = $1 AND environment = $2 AND phase = $3 \
             ORDER BY id DESC LIMIT $4"
        );
        let limit = widen(limit, "limit")?;
        let rows = self.session(DURING)?.query(
            &sql,
            args![
                service.to_owned(),
                environment.to_owned(),
                Phase::Succeeded.name().to_owned(),
                limit
            ],
            DURING,
        )?;
        read_all(rows, read_deployment)
    }

    fn has_succeeded(
        &self,
        service: &str,
        environment: &str,
        version: &str,
    ) -> Result<bool, StoreError> {
        const DURING: &str = "looking for a succeeded deployment";
        let row = self.session(DURING)?.query_one(
            "SELECT EXISTS (SELECT 1 FROM deployments \
             WHERE service = $1 AND environment = $2 AND version = $3 AND phase = $4) AS found",
            args![
                service.to_owned(),
                environment.to_owned(),
                version.to_owned(),
                Phase::Succeeded.name().to_owned()
            ],
            DURING,
        )?;
        col(&row, "found")
    }
}

impl PostgresStore {
    /// [`DeploymentStore::record_change`], checking `fence` (when given)
    /// inside the transaction: see [`crate::LeaseStore::record_fenced_change`].
    pub(super) fn record_change_fenced(
        &self,
        change: &Change<'_>,
        fence: Option<Fence<'_>>,
    ) -> Result<(), StoreError> {
        let mut s = self.begin(RECORDING)?;
        if change.audit.is_some() {
            s.lock_audit(RECORDING)?;
        }
        apply_change(&mut s, change, fence, Scope::Transaction)?;
        s.commit(RECORDING)
    }
}

const RECORDING: &str = "recording a deployment change";

/// Writes `change` (fenced when `fence` is given) in the session's
/// transaction, which the caller commits (having taken the log's lock first
/// when the change carries entries); on an error the caller rolls back what
/// it wrote: `scope`.
pub(super) fn apply_change(
    s: &mut Session<'_>,
    change: &Change<'_>,
    fence: Option<Fence<'_>>,
    scope: Scope,
) -> Result<(), StoreError> {
    const DURING: &str = RECORDING;
    let deployment = change.deployment;
    let id = deployment.id;
    // What can be refused without the database is checked first.
    let (sql, values) = revision_update(deployment)?;
    let round_rows = rounds::rows(id, change.rounds)?;
    if let Some(fence) = &fence {
        // FOR SHARE: a takeover's update of the lease waits for this
        // commit, so none lands between the check and the write.
        let row = s.query_opt(
            &format!(
                "{} FOR SHARE",
                crate::leases::sql::postgres(crate::leases::sql::FENCE)
            ),
            args![deployment.service.clone(), deployment.environment.clone()],
            DURING,
        )?;
        let current = row
            .map(|r| Ok::<_, StoreError>((col(&r, "holder")?, col(&r, "epoch")?)))
            .transpose()?;
        crate::leases::check_fence(&deployment.service, &deployment.environment, fence, current)?;
    }
    // Compare-and-set on the revision: under READ COMMITTED a racing
    // writer's update of the row is waited for, and the condition is
    // checked again on the row it wrote, so exactly one of them wins.
    let changed = match s.try_query(&format!("{sql} RETURNING id"), values, DURING)? {
        Ok(rows) => rows.len(),
        Err(e) => return Err(busy_in(s, deployment, Some(id), DURING, e, scope)),
    };
    if changed == 0 {
        let exists = s
            .query_opt("SELECT 1 FROM deployments WHERE id = $1", args![id], DURING)?
            .is_some();
        return Err(if exists {
            StoreError::Conflict { id }
        } else {
            StoreError::NotFound { id }
        });
    }
    insert_events(s, id, change.events)?;
    rounds::insert(s, id, &round_rows)?;
    apply_incident_changes(s, change.incidents)?;
    if let Some(audit) = change.audit {
        audit::write(s, audit)?;
    }
    tracing::debug!(
        id,
        phase = %deployment.phase,
        revision = deployment.revision,
        events = change.events.len(),
        rounds = change.rounds.len(),
        incidents = change.incidents.len(),
        "deployment change written"
    );
    Ok(())
}
