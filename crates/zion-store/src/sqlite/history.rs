//! The imported-history tables of [`SqliteStore`]: an import written
//! in the caller's transaction, idempotent by external id, and the reads the
//! report makes.

use rusqlite::{Connection, OptionalExtension, Transaction, params};
use zion_core::import::{ImportRecord, ImportedDeployment, ImportedIncident};

use super::{ScannedRow, SqliteStore, begin, db};
use crate::codec::time_text;
use crate::history::reimport::{self, DeploymentText};
use crate::tables::{self, IMPORTED_DEPLOYMENT_COLUMNS, IMPORTED_INCIDENT_COLUMNS};
use crate::{
    AuditAppend, HistoryFilter, HistoryStore, ImportBatch, ImportOutcome, ImportedDeploymentRow,
    StoreError,
};

const DURING: &str = "importing history";

/// Writes `batch` in `tx` (the caller commits, and should not when nothing
/// was added). Deployments go first so that incidents anywhere in the file
/// may blame them.
pub(crate) fn import(
    tx: &Transaction<'_>,
    batch: &ImportBatch<'_>,
) -> Result<ImportOutcome, StoreError> {
    tx.execute(
        "INSERT INTO imports (source, sha256_hex, imported_by, imported_at, deployments, incidents) \
         VALUES (?1, ?2, ?3, ?4, 0, 0)",
        params![
            batch.source,
            batch.sha256_hex,
            batch.imported_by,
            time_text(batch.at)
        ],
    )
    .map_err(db(DURING))?;
    let import_id = tx.last_insert_rowid();
    let mut out = ImportOutcome::default();
    {
        let mut insert = tx
            .prepare_cached(&format!(
                "INSERT INTO imported_deployments ({IMPORTED_DEPLOYMENT_COLUMNS}, import_id) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11) \
                 ON CONFLICT (external_id) DO NOTHING"
            ))
            .map_err(db(DURING))?;
        for (i, record) in batch.records.iter().enumerate() {
            let ImportRecord::Deployment(d) = record else {
                continue;
            };
            let values = DeploymentText::of(d);
            let added = insert
                .execute(params![
                    d.external_id,
                    d.service,
                    d.environment,
                    d.version,
                    values.kind,
                    values.started_at,
                    values.finished_at,
                    values.result,
                    d.commit,
                    values.committed_at,
                    import_id
                ])
                .map_err(db(DURING))?;
            if added == 1 {
                out.deployments_added += 1;
            } else {
                same_deployment(tx, i, d, &values)?;
                out.unchanged += 1;
            }
        }
    }
    let mut insert = tx
        .prepare_cached(
            "INSERT INTO imported_incidents \
             (external_id, service, environment, opened_at, resolved_at, caused_by, import_id) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT (external_id) DO NOTHING",
        )
        .map_err(db(DURING))?;
    for (i, record) in batch.records.iter().enumerate() {
        let ImportRecord::Incident(inc) = record else {
            continue;
        };
        if let Some(cause) = &inc.caused_by {
            // An imported deployment's id, or one of Zion's own as the
            // report names them (`#42`), so an incident tracked elsewhere
            // can blame a deployment Zion ran.
            let own: Option<i64> = cause.strip_prefix('#').and_then(|n| n.parse().ok());
            let known: bool = tx
                .prepare_cached(
                    "SELECT EXISTS (SELECT 1 FROM imported_deployments WHERE external_id = ?1) \
                     OR EXISTS (SELECT 1 FROM deployments WHERE id = ?2)",
                )
                .and_then(|mut s| s.query_row(params![cause, own], |r| r.get(0)))
                .map_err(db(DURING))?;
            if !known {
                return Err(StoreError::UnknownCause {
                    record: i,
                    external_id: inc.external_id.clone(),
                    caused_by: cause.clone(),
                });
            }
        }
        let added = insert
            .execute(params![
                inc.external_id,
                inc.service,
                inc.environment,
                time_text(inc.opened_at),
                inc.resolved_at.map(time_text),
                inc.caused_by,
                import_id
            ])
            .map_err(db(DURING))?;
        if added == 1 {
            out.incidents_added += 1;
        } else if same_incident(tx, i, inc)? {
            out.incidents_resolved += 1;
        } else {
            out.unchanged += 1;
        }
    }
    if out.changed_anything() {
        tx.execute(
            "UPDATE imports SET deployments = ?1, incidents = ?2 WHERE id = ?3",
            params![
                out.deployments_added as i64,
                (out.incidents_added + out.incidents_resolved) as i64,
                import_id
            ],
        )
        .map_err(db(DURING))?;
        out.import_id = Some(import_id);
    }
    Ok(out)
}

/// Refuses a deployment whose id was imported before with other values.
fn same_deployment(
    tx: &Transaction<'_>,
    record: usize,
    d: &ImportedDeployment,
    v: &DeploymentText,
) -> Result<(), StoreError> {
    let mut stmt = tx
        .prepare_cached(&tables::sqlite(reimport::DEPLOYMENT))
        .map_err(db(DURING))?;
    let mut rows = stmt.query([&d.external_id]).map_err(db(DURING))?;
    let row = rows.next().map_err(db(DURING))?.ok_or_else(|| {
        StoreError::Corrupt(format!("imported deployment `{}` vanished", d.external_id))
    })?;
    reimport::same_deployment(record, d, v, row)
}

/// Compares an incident with the one imported before under its id; an
/// incident open then and resolved now is updated (true).
fn same_incident(
    tx: &Transaction<'_>,
    record: usize,
    inc: &ImportedIncident,
) -> Result<bool, StoreError> {
    let resolved = {
        let mut stmt = tx
            .prepare_cached(&tables::sqlite(reimport::INCIDENT))
            .map_err(db(DURING))?;
        let mut rows = stmt.query([&inc.external_id]).map_err(db(DURING))?;
        let row = rows.next().map_err(db(DURING))?.ok_or_else(|| {
            StoreError::Corrupt(format!("imported incident `{}` vanished", inc.external_id))
        })?;
        reimport::same_incident(record, inc, row)?
    };
    let Some(at) = resolved else {
        return Ok(false);
    };
    tx.execute(
        &tables::sqlite(reimport::RESOLVE_INCIDENT),
        params![at, inc.external_id],
    )
    .map_err(db(DURING))?;
    Ok(true)
}

/// Calls `visit` with every imported deployment matching `filter`.
pub(crate) fn scan_deployments(
    conn: &Connection,
    filter: &HistoryFilter,
    visit: &mut dyn FnMut(&ImportedDeploymentRow<'_>),
) -> Result<(), StoreError> {
    const READ: &str = "reading imported deployments";
    let mut sql =
        format!("SELECT {IMPORTED_DEPLOYMENT_COLUMNS} FROM imported_deployments WHERE 1 = 1");
    let mut args: Vec<String> = Vec::new();
    let mut bind = |sql: &mut String, clause: &str, value: String| {
        args.push(value);
        sql.push_str(&format!(" AND {clause} ?{}", args.len()));
    };
    if let Some(s) = &filter.service {
        bind(&mut sql, "service =", s.clone());
    }
    if let Some(e) = &filter.environment {
        bind(&mut sql, "environment =", e.clone());
    }
    if let Some(t) = filter.finished_from {
        bind(&mut sql, "finished_at >=", time_text(t));
    }
    if let Some(t) = filter.finished_until {
        bind(&mut sql, "finished_at <=", time_text(t));
    }
    let mut stmt = conn.prepare(&sql).map_err(db(READ))?;
    let names: Vec<String> = stmt.column_names().map(str::to_owned).collect();
    let mut rows = stmt
        .query(rusqlite::params_from_iter(args.iter()))
        .map_err(db(READ))?;
    while let Some(row) = rows.next().map_err(db(READ))? {
        let row = ScannedRow { row, names: &names };
        visit(&tables::imported_deployment(&row)?);
    }
    Ok(())
}

/// Every imported incident matching the filter's service and environment.
pub(crate) fn incidents(
    conn: &Connection,
    filter: &HistoryFilter,
) -> Result<Vec<ImportedIncident>, StoreError> {
    const READ: &str = "reading imported incidents";
    let mut stmt = conn
        .prepare_cached(&format!(
            "SELECT {IMPORTED_INCIDENT_COLUMNS} FROM imported_incidents \
             WHERE (?1 IS NULL OR service = ?1) AND (?2 IS NULL OR environment = ?2) \
                 ORDER BY opened_at, external_id"
        ))
        .map_err(db(READ))?;
    let mut rows = stmt
        .query(params![filter.service, filter.environment])
        .map_err(db(READ))?;
    let mut out = Vec::new();
    while let Some(row) = rows.next().map_err(db(READ))? {
        out.push(tables::imported_incident(row)?);
    }
    Ok(out)
}

/// The number of imported deployments and incidents.
pub(crate) fn counts(conn: &Connection) -> Result<(u64, u64), StoreError> {
    conn.query_row(
        "SELECT (SELECT COUNT(*) FROM imported_deployments), \
                (SELECT COUNT(*) FROM imported_incidents)",
        [],
        |r| Ok((r.get::<_, i64>(0)? as u64, r.get::<_, i64>(1)? as u64)),
    )
    .optional()
    .map_err(db("counting imported history"))
    .map(|c| c.unwrap_or((0, 0)))
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
        let outcome = import(&tx, batch)?;
        // Nothing new: dropping the transaction rolls the import row back.
        if outcome.import_id.is_some() {
            if let Some(a) = audit {
                super::audit::write(&tx, a)?;
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
        scan_deployments(&self.conn(), filter, visit)
    }

    fn imported_incidents(
        &self,
        filter: &HistoryFilter,
    ) -> Result<Vec<zion_core::import::ImportedIncident>, StoreError> {
        incidents(&self.conn(), filter)
    }

    fn imported_counts(&self) -> Result<(u64, u64), StoreError> {
        counts(&self.conn())
    }
}
