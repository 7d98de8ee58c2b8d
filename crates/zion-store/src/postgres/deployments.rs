//! The deployments, events and analysis rounds of [`PostgresStore`]: one
//! active deployment per target (checked in the transaction, held by a
//! partial unique index across connections and replicas) and changes
//! guarded by their revision.

use zion_core::analysis::AnalysisRound;
use zion_core::deployment::{Deployment, Event, Phase};

use super::incidents::apply_incident_changes;
use super::{Param, PostgresStore, Session, args, audit, col, is_unique_violation, param, rounds};
use crate::codec::{parse_phase, terminal_phases_sql, time_text, widen};
use crate::filters;
use crate::tables::{
    self, DEPLOYMENT_COLUMNS, EVENT_COLUMNS, INSERT_EVENT, deployment_fields,
    insert_deployment_sql, update_deployment_sql,
};
use crate::{
    AuditBuilder, Change, DeploymentFilter, DeploymentStore, Fence, OutcomeCount, StoreError,
};

/// `d`'s values, bound as PostgreSQL binds them.
fn deployment_values(d: &Deployment) -> Result<Vec<Param>, StoreError> {
    Ok(deployment_fields(d)?.into_iter().map(param).collect())
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
            INSERT_EVENT,
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
    let sql = update_deployment_sql();
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
        let sql = insert_deployment_sql();
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
        row.as_ref().map(tables::deployment).transpose()
    }

    fn deployments(&self, filter: &DeploymentFilter) -> Result<Vec<Deployment>, StoreError> {
        const DURING: &str = "listing deployments";
        let (sql, values) = filters::deployments(filter)?;
        let values = values.into_iter().map(param).collect();
        let rows = self.session(DURING)?.query(&sql, values, DURING)?;
        rows.iter().map(tables::deployment).collect()
    }

    fn active_deployments(&self) -> Result<Vec<Deployment>, StoreError> {
        const DURING: &str = "listing active deployments";
        let sql = format!(
            "SELECT {DEPLOYMENT_COLUMNS} FROM deployments WHERE phase NOT IN ({}) ORDER BY id",
            terminal_phases_sql()
        );
        let rows = self.session(DURING)?.query(&sql, args![], DURING)?;
        rows.iter().map(tables::deployment).collect()
    }

    fn outcome_counts(&self) -> Result<Vec<OutcomeCount>, StoreError> {
        const DURING: &str = "counting deployments by outcome";
        let rows = self
            .session(DURING)?
            .query(&tables::outcome_counts_sql(), args![], DURING)?;
        rows.iter().map(tables::outcome_count).collect()
    }

    fn record_change(&self, change: &Change<'_>) -> Result<(), StoreError> {
        self.record_change_fenced(change, None)
    }

    fn events(&self, id: i64) -> Result<Vec<Event>, StoreError> {
        const DURING: &str = "reading events";
        let sql =
            format!("SELECT {EVENT_COLUMNS} FROM events WHERE deployment_id = $1 ORDER BY seq");
        let rows = self.session(DURING)?.query(&sql, args![id], DURING)?;
        rows.iter().map(tables::event).collect()
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
        rows.iter().map(tables::deployment).collect()
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
    let round_rows = tables::round_rows(id, change.rounds)?;
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
