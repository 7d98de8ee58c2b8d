//! The imported-history tables of [`PostgresStore`]: an import in one
//! transaction, idempotent by external id, and the reads the report makes
//! (in pages, inside one snapshot).

use zion_core::import::{ImportRecord, ImportedDeployment, ImportedIncident};

use super::{Param, PostgresStore, Session, args, col};
use crate::codec::time_text;
use crate::history::reimport::{self, DeploymentText};
use crate::tables::{self, IMPORTED_DEPLOYMENT_COLUMNS, IMPORTED_INCIDENT_COLUMNS};
use crate::{
    AuditAppend, HistoryFilter, HistoryStore, ImportBatch, ImportOutcome, ImportedDeploymentRow,
    StoreError,
};

const DURING: &str = "importing history";

/// Imported deployments read per query while scanning.
const SCAN_PAGE: i64 = 10_000;

/// Writes `batch` in the session's transaction (the caller commits, and
/// should not when nothing was added). Deployments go first so that
/// incidents anywhere in the file may blame them.
fn import(s: &mut Session<'_>, batch: &ImportBatch<'_>) -> Result<ImportOutcome, StoreError> {
    let row = s.query_one(
        "INSERT INTO imports (source, sha256_hex, imported_by, imported_at, deployments, incidents) \
         VALUES ($1, $2, $3, $4, 0, 0) RETURNING id",
        args![
            batch.source.to_owned(),
            batch.sha256_hex.to_owned(),
            batch.imported_by.to_owned(),
            time_text(batch.at)
        ],
        DURING,
    )?;
    let import_id: i64 = col(&row, "id")?;
    let mut out = ImportOutcome::default();
    for (i, record) in batch.records.iter().enumerate() {
        let ImportRecord::Deployment(d) = record else {
            continue;
        };
        let values = DeploymentText::of(d);
        let added = s.execute(
            &format!(
                "INSERT INTO imported_deployments ({IMPORTED_DEPLOYMENT_COLUMNS}, import_id) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) \
                 ON CONFLICT (external_id) DO NOTHING"
            ),
            args![
                d.external_id.clone(),
                d.service.clone(),
                d.environment.clone(),
                d.version.clone(),
                values.kind.to_owned(),
                values.started_at.clone(),
                values.finished_at.clone(),
                values.result.to_owned(),
                d.commit.clone(),
                values.committed_at.clone(),
                import_id
            ],
            DURING,
        )?;
        if added == 1 {
            out.deployments_added += 1;
        } else {
            same_deployment(s, i, d, &values)?;
            out.unchanged += 1;
        }
    }
    for (i, record) in batch.records.iter().enumerate() {
        let ImportRecord::Incident(inc) = record else {
            continue;
        };
        if let Some(cause) = &inc.caused_by {
            // An imported deployment's id, or one of Zion's own as the
            // report names them (`#42`).
            let own: Option<i64> = cause.strip_prefix('#').and_then(|n| n.parse().ok());
            let row = s.query_one(
                "SELECT EXISTS (SELECT 1 FROM imported_deployments WHERE external_id = $1) \
                 OR EXISTS (SELECT 1 FROM deployments WHERE id = $2) AS known",
                args![cause.clone(), own],
                DURING,
            )?;
            if !col::<bool>(&row, "known")? {
                return Err(StoreError::UnknownCause {
                    record: i,
                    external_id: inc.external_id.clone(),
                    caused_by: cause.clone(),
                });
            }
        }
        let added = s.execute(
            "INSERT INTO imported_incidents \
             (external_id, service, environment, opened_at, resolved_at, caused_by, import_id) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (external_id) DO NOTHING",
            args![
                inc.external_id.clone(),
                inc.service.clone(),
                inc.environment.clone(),
                time_text(inc.opened_at),
                inc.resolved_at.map(time_text),
                inc.caused_by.clone(),
                import_id
            ],
            DURING,
        )?;
        if added == 1 {
            out.incidents_added += 1;
        } else if same_incident(s, i, inc)? {
            out.incidents_resolved += 1;
        } else {
            out.unchanged += 1;
        }
    }
    if out.changed_anything() {
        s.execute(
            "UPDATE imports SET deployments = $1, incidents = $2 WHERE id = $3",
            args![
                out.deployments_added as i64,
                (out.incidents_added + out.incidents_resolved) as i64,
                import_id
            ],
            DURING,
        )?;
        out.import_id = Some(import_id);
    }
    Ok(out)
}

/// Refuses a deployment whose id was imported before with other values.
fn same_deployment(
    s: &mut Session<'_>,
    record: usize,
    d: &ImportedDeployment,
    v: &DeploymentText,
) -> Result<(), StoreError> {
    let row = s.query_one(reimport::DEPLOYMENT, args![d.external_id.clone()], DURING)?;
    reimport::same_deployment(record, d, v, &row)
}

/// Compares an incident with the one imported before under its id; an
/// incident open then and resolved now is updated (true).
fn same_incident(
    s: &mut Session<'_>,
    record: usize,
    inc: &ImportedIncident,
) -> Result<bool, StoreError> {
    let row = s.query_one(reimport::INCIDENT, args![inc.external_id.clone()], DURING)?;
    let Some(at) = reimport::same_incident(record, inc, &row)? else {
        return Ok(false);
    };
    s.execute(
        reimport::RESOLVE_INCIDENT,
        args![at, inc.external_id.clone()],
        DURING,
    )?;
    Ok(true)
}

impl HistoryStore for PostgresStore {
    fn import_history(
        &self,
        batch: &ImportBatch<'_>,
        audit: Option<&AuditAppend>,
    ) -> Result<ImportOutcome, StoreError> {
        // On a pooled connection of its own: other calls go on meanwhile.
        let mut s = self.begin(DURING)?;
        if audit.is_some() {
            s.lock_audit(DURING)?;
        }
        let outcome = import(&mut s, batch)?;
        // Nothing new: dropping the session rolls the import row back.
        if outcome.import_id.is_some() {
            if let Some(a) = audit {
                super::audit::write(&mut s, a)?;
            }
            s.commit(DURING)?;
        }
        Ok(outcome)
    }

    fn scan_imported_deployments(
        &self,
        filter: &HistoryFilter,
        visit: &mut dyn FnMut(&ImportedDeploymentRow<'_>),
    ) -> Result<(), StoreError> {
        const READ: &str = "reading imported deployments";
        let mut s = self.snapshot(READ)?;
        let mut after: Option<String> = None;
        loop {
            let mut sql = format!(
                "SELECT {IMPORTED_DEPLOYMENT_COLUMNS} FROM imported_deployments WHERE 1 = 1"
            );
            let mut values: Vec<Param> = Vec::new();
            let mut bind = |sql: &mut String, clause: &str, value: String| {
                values.push(Box::new(value));
                sql.push_str(&format!(" AND {clause} ${}", values.len()));
            };
            if let Some(v) = &filter.service {
                bind(&mut sql, "service =", v.clone());
            }
            if let Some(v) = &filter.environment {
                bind(&mut sql, "environment =", v.clone());
            }
            if let Some(t) = filter.finished_from {
                bind(&mut sql, "finished_at >=", time_text(t));
            }
            if let Some(t) = filter.finished_until {
                bind(&mut sql, "finished_at <=", time_text(t));
            }
            if let Some(last) = &after {
                bind(&mut sql, "external_id >", last.clone());
            }
            sql.push_str(&format!(" ORDER BY external_id LIMIT {SCAN_PAGE}"));
            let rows = s.query(&sql, values, READ)?;
            for row in &rows {
                visit(&tables::imported_deployment(row)?);
            }
            if (rows.len() as i64) < SCAN_PAGE {
                break;
            }
            after = rows.last().map(|r| col(r, "external_id")).transpose()?;
        }
        s.commit(READ)
    }

    fn imported_incidents(
        &self,
        filter: &HistoryFilter,
    ) -> Result<Vec<ImportedIncident>, StoreError> {
        const READ: &str = "reading imported incidents";
        let rows = self.session(READ)?.query(
            &format!(
                "SELECT {IMPORTED_INCIDENT_COLUMNS} FROM imported_incidents \
                 WHERE ($1::text IS NULL OR service = $1) \
                 AND ($2::text IS NULL OR environment = $2) \
                 ORDER BY opened_at, external_id"
            ),
            args![filter.service.clone(), filter.environment.clone()],
            READ,
        )?;
        rows.iter().map(tables::imported_incident).collect()
    }

    fn imported_counts(&self) -> Result<(u64, u64), StoreError> {
        const READ: &str = "counting imported history";
        let row = self.session(READ)?.query_one(
            "SELECT (SELECT COUNT(*) FROM imported_deployments) AS deployments, \
                    (SELECT COUNT(*) FROM imported_incidents) AS incidents",
            args![],
            READ,
        )?;
        Ok((
            col::<i64>(&row, "deployments")? as u64,
            col::<i64>(&row, "incidents")? as u64,
        ))
    }
}
