//! The deployments, events and analysis rounds of [`SqliteStore`]: one
//! active deployment per target (checked under the write lock, backed by a
//! partial unique index) and changes guarded by their revision.

use rusqlite::types::Value;
use rusqlite::{Connection, OptionalExtension, Transaction, params, params_from_iter};
use zion_core::analysis::AnalysisRound;
use zion_core::deployment::{Deployment, Event, Phase};

use super::incidents::apply_incident_changes;
use super::{SqliteStore, audit, begin, db, is_unique_violation, query_all, rounds};
use crate::codec::{parse_phase, terminal_phases_sql, time_text, widen};
use crate::filters;
use crate::tables::{
    self, DEPLOYMENT_COLUMNS, EVENT_COLUMNS, INSERT_EVENT, deployment_fields,
    insert_deployment_sql, update_deployment_sql,
};
use crate::{
    AuditBuilder, Change, DeploymentFilter, DeploymentStore, Fence, OutcomeCount, StoreError,
};

/// Answered from the index `deployments_target_version` alone.
pub(super) const HAS_SUCCEEDED_SQL: &str = "SELECT EXISTS (SELECT 1 FROM deployments \
     WHERE service = ?1 AND environment = ?2 AND version = ?3 AND phase = ?4)";

/// `d`'s values, bound as SQLite binds them.
fn deployment_values(d: &Deployment) -> Result<Vec<Value>, StoreError> {
    Ok(deployment_fields(d)?.into_iter().map(Value::from).collect())
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
        .prepare_cached(&tables::sqlite(INSERT_EVENT))
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
    let sql = tables::sqlite(&update_deployment_sql());
    values.push(d.id.into());
    values.push(expected.into());
    Ok((sql, values))
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
        let sql = tables::sqlite(&insert_deployment_sql());
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
            audit::write(&tx, &build(&stored)?)?;
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
        let mut found = query_all(&conn, &sql, [id], "reading a deployment", |row| {
            tables::deployment(row)
        })?;
        Ok(found.pop())
    }

    fn deployments(&self, filter: &DeploymentFilter) -> Result<Vec<Deployment>, StoreError> {
        let (sql, values) = filters::deployments(filter)?;
        let conn = self.conn();
        query_all(
            &conn,
            &tables::sqlite(&sql),
            params_from_iter(values.into_iter().map(Value::from)),
            "listing deployments",
            |row| tables::deployment(row),
        )
    }

    fn active_deployments(&self) -> Result<Vec<Deployment>, StoreError> {
        let sql = format!(
            "SELECT {DEPLOYMENT_COLUMNS} FROM deployments WHERE phase NOT IN ({}) ORDER BY id",
            terminal_phases_sql()
        );
        let conn = self.conn();
        query_all(&conn, &sql, [], "listing active deployments", |row| {
            tables::deployment(row)
        })
    }

    fn outcome_counts(&self) -> Result<Vec<OutcomeCount>, StoreError> {
        let conn = self.conn();
        query_all(
            &conn,
            &tables::outcome_counts_sql(),
            [],
            "counting deployments by outcome",
            |row| tables::outcome_count(row),
        )
    }

    fn record_change(&self, change: &Change<'_>) -> Result<(), StoreError> {
        self.record_change_fenced(change, None)
    }

    fn events(&self, id: i64) -> Result<Vec<Event>, StoreError> {
        let sql =
            format!("SELECT {EVENT_COLUMNS} FROM events WHERE deployment_id = ?1 ORDER BY seq");
        let conn = self.conn();
        query_all(&conn, &sql, [id], "reading events", |row| {
            tables::event(row)
        })
    }

    fn rounds(&self, id: i64) -> Result<Vec<AnalysisRound>, StoreError> {
        rounds::all(&self.conn(), id)
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
            |row| tables::deployment(row),
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

impl SqliteStore {
    /// [`DeploymentStore::record_change`], checking `fence` (when given)
    /// inside the transaction: see [`crate::LeaseStore::record_fenced_change`].
    pub(super) fn record_change_fenced(
        &self,
        change: &Change<'_>,
        fence: Option<Fence<'_>>,
    ) -> Result<(), StoreError> {
        let mut conn = self.conn();
        let tx = begin(&mut conn, RECORDING)?;
        apply_change(&tx, change, fence)?;
        tx.commit().map_err(db(RECORDING))
    }
}

const RECORDING: &str = "recording a deployment change";

/// Writes `change` (fenced when `fence` is given) in `tx`, which the
/// caller commits; on an error the caller rolls back what it wrote (the
/// transaction, or the savepoint of one write of a group).
pub(super) fn apply_change(
    tx: &Transaction<'_>,
    change: &Change<'_>,
    fence: Option<Fence<'_>>,
) -> Result<(), StoreError> {
    const DURING: &str = RECORDING;
    let deployment = change.deployment;
    let id = deployment.id;
    // What can be refused without the database is checked first; whatever
    // fails after it is rolled back by the caller.
    let (sql, values) = revision_update(deployment)?;
    let round_rows = tables::round_rows(id, change.rounds)?;
    if let Some(fence) = &fence {
        // Under the write lock: no takeover can land before the commit.
        let current: Option<(String, i64)> = tx
            .query_row(
                &crate::leases::sql::sqlite(crate::leases::sql::FENCE),
                params![deployment.service, deployment.environment],
                |row| Ok((row.get(0)?, row.get(1)?)),
            )
            .optional()
            .map_err(db(DURING))?;
        crate::leases::check_fence(&deployment.service, &deployment.environment, fence, current)?;
    }
    // Compare-and-set on the revision: portable optimistic locking that
    // also holds where transactions do not serialise (PostgreSQL's
    // default isolation).
    let changed = tx
        .execute(&sql, params_from_iter(values))
        .map_err(|e| busy_or_db(tx, deployment, Some(id), DURING, e))?;
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
    insert_events(tx, id, change.events)?;
    rounds::insert(tx, id, &round_rows)?;
    apply_incident_changes(tx, change.incidents)?;
    if let Some(audit) = change.audit {
        audit::write(tx, audit)?;
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

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use jiff::Timestamp;
    use zion_core::deployment::DeploymentType;

    use super::*;

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
        use zion_core::deployment::{Plan, PlanCommon, Progress};
        use zion_core::governance::quality::{
            CoverageSummary, Evidence, FindingCounts, TestSummary,
        };
        use zion_core::spec::AnalysisSpec;

        let store = SqliteStore::open_in_memory().unwrap();
        let at = Timestamp::new(1_750_000_000, 123_456_789).unwrap();
        let mut d = Deployment {
            id: 0,
            service: "web".into(),
            environment: "production".into(),
            version: "2.0".into(),
            previous_version: None,
            kind: DeploymentType::Feature,
            phase: Phase::Pending,
            step: None,
            canary_weight: 0,
            requested_by: "alice".into(),
            created_at: at,
            started_at: None,
            finished_at: None,
            reason: None,
            plan: Plan::Direct {
                common: PlanCommon {
                    replicas: 1,
                    start_timeout: Duration::from_secs(60),
                    interval: Duration::from_secs(5),
                    failure_limit: 2,
                    min_requests: 20,
                    inconclusive_limit: Duration::from_secs(600),
                    checks: AnalysisSpec::default_checks(),
                    hooks: Default::default(),
                    judge: Default::default(),
                },
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

    #[test]
    fn the_strategy_column_holds_the_plans_kind_and_is_rewritten_from_it() {
        use crate::contract::fixtures::{created, deployment, moved};
        use zion_core::deployment::{Plan, PlanKind};

        let store = SqliteStore::open_in_memory().unwrap();
        let column = |id: i64| -> String {
            store
                .conn()
                .query_row(
                    "SELECT strategy FROM deployments WHERE id = ?1",
                    [id],
                    |row| row.get(0),
                )
                .unwrap()
        };
        let canary = deployment("web", "production", "2.0", 0);
        let canary = store
            .create_deployment(&canary, &created(&canary), None)
            .unwrap();
        assert_eq!(column(canary.id), "canary");

        // A rollback as an earlier version stored it: labelled canary, with
        // a direct plan of the old shape (no `kind`, no steps).
        let mut rollback = deployment("web", "staging", "1.0", 0);
        rollback.kind = DeploymentType::Rollback;
        rollback.plan = Plan::Direct {
            common: rollback.plan.common().clone(),
        };
        let rollback = store
            .create_deployment(&rollback, &created(&rollback), None)
            .unwrap();
        assert_eq!(column(rollback.id), "direct");
        let mut old_plan = serde_json::to_value(&rollback.plan).unwrap();
        old_plan.as_object_mut().unwrap().remove("kind");
        store
            .conn()
            .execute(
                "UPDATE deployments SET strategy = 'canary', plan = ?2 WHERE id = ?1",
                rusqlite::params![rollback.id, old_plan.to_string()],
            )
            .unwrap();
        let read = store.deployment(rollback.id).unwrap().unwrap();
        assert_eq!(read, rollback);
        assert_eq!(read.strategy(), PlanKind::Direct);
        store
            .record(&moved(&read, Phase::Progressing, 1), &[], &[])
            .unwrap();
        assert_eq!(column(rollback.id), "direct");
    }
}
