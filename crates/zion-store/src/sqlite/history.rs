//! The imported-history tables of [`SqliteStore`]: an import written
//! in the caller's transaction, idempotent by external id, and the reads the
//! report makes.

use rusqlite::types::ValueRef;
use rusqlite::{Connection, OptionalExtension, Row, Transaction, params};
use zion_core::deployment::DeploymentType;
use zion_core::import::{ImportRecord, ImportResult, ImportedDeployment, ImportedIncident};

use super::{SqliteStore, begin, db};
use crate::codec::{parse_opt_time, parse_time, time_text};
use crate::{
    AuditAppend, HistoryFilter, HistoryStore, ImportBatch, ImportOutcome, ImportedDeploymentRow,
    StoreError,
};

const DURING: &str = "importing history";

const DEPLOYMENT_COLUMNS: &str = "external_id, service, environment, version, type, started_at, \
     finished_at, result, commit_sha, committed_at";

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
                "INSERT INTO imported_deployments ({DEPLOYMENT_COLUMNS}, import_id) \
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

/// A deployment's non-text values as stored.
struct DeploymentText {
    kind: &'static str,
    started_at: String,
    finished_at: String,
    result: &'static str,
    committed_at: Option<String>,
}

impl DeploymentText {
    fn of(d: &ImportedDeployment) -> Self {
        DeploymentText {
            kind: d.kind.name(),
            started_at: time_text(d.started_at),
            finished_at: time_text(d.finished_at),
            result: d.result.name(),
            committed_at: d.committed_at.map(time_text),
        }
    }
}

/// Refuses a deployment whose id was imported before with other values.
fn same_deployment(
    tx: &Transaction<'_>,
    record: usize,
    d: &ImportedDeployment,
    v: &DeploymentText,
) -> Result<(), StoreError> {
    let mut stmt = tx
        .prepare_cached(&format!(
            "SELECT {DEPLOYMENT_COLUMNS} FROM imported_deployments WHERE external_id = ?1"
        ))
        .map_err(db(DURING))?;
    let stored: Vec<Option<String>> = stmt
        .query_row([&d.external_id], |r| {
            (1..10).map(|i| r.get::<_, Option<String>>(i)).collect()
        })
        .map_err(db(DURING))?;
    let given = [
        Some(d.service.as_str()),
        Some(d.environment.as_str()),
        Some(d.version.as_str()),
        Some(v.kind),
        Some(v.started_at.as_str()),
        Some(v.finished_at.as_str()),
        Some(v.result),
        d.commit.as_deref(),
        v.committed_at.as_deref(),
    ];
    const FIELDS: [&str; 9] = [
        "service",
        "environment",
        "version",
        "type",
        "started_at",
        "finished_at",
        "result",
        "commit",
        "committed_at",
    ];
    for ((field, given), stored) in FIELDS.iter().zip(given).zip(&stored) {
        if given != stored.as_deref() {
            return Err(conflict(
                record,
                "deployment",
                &d.external_id,
                field,
                stored.as_deref(),
                given,
            ));
        }
    }
    Ok(())
}

/// Compares an incident with the one imported before under its id. An
/// incident that was open then and is resolved now is updated (true): an
/// export taken later says how it ended. Any other difference is refused.
fn same_incident(
    tx: &Transaction<'_>,
    record: usize,
    inc: &ImportedIncident,
) -> Result<bool, StoreError> {
    let stored: [Option<String>; 5] = tx
        .prepare_cached(
            "SELECT service, environment, opened_at, caused_by, resolved_at \
             FROM imported_incidents WHERE external_id = ?1",
        )
        .and_then(|mut s| {
            s.query_row([&inc.external_id], |r| {
                Ok([r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?])
            })
        })
        .map_err(db(DURING))?;
    let opened = time_text(inc.opened_at);
    let resolved = inc.resolved_at.map(time_text);
    let given = [
        ("service", Some(inc.service.as_str())),
        ("environment", Some(inc.environment.as_str())),
        ("opened_at", Some(opened.as_str())),
        ("caused_by", inc.caused_by.as_deref()),
    ];
    for ((field, given), stored) in given.into_iter().zip(&stored) {
        if given != stored.as_deref() {
            return Err(conflict(
                record,
                "incident",
                &inc.external_id,
                field,
                stored.as_deref(),
                given,
            ));
        }
    }
    match (&stored[4], &resolved) {
        (None, Some(at)) => {
            tx.execute(
                "UPDATE imported_incidents SET resolved_at = ?1 WHERE external_id = ?2",
                params![at, inc.external_id],
            )
            .map_err(db(DURING))?;
            Ok(true)
        }
        (a, b) if a == b => Ok(false),
        (a, b) => Err(conflict(
            record,
            "incident",
            &inc.external_id,
            "resolved_at",
            a.as_deref(),
            b.as_deref(),
        )),
    }
}

fn conflict(
    record: usize,
    kind: &'static str,
    external_id: &str,
    field: &'static str,
    stored: Option<&str>,
    given: Option<&str>,
) -> StoreError {
    let show = |v: Option<&str>| v.map_or_else(|| "(none)".to_owned(), str::to_owned);
    StoreError::ImportConflict {
        record,
        kind,
        external_id: external_id.to_owned(),
        field,
        stored: show(stored),
        given: show(given),
    }
}

/// Calls `visit` with every imported deployment matching `filter`.
pub(crate) fn scan_deployments(
    conn: &Connection,
    filter: &HistoryFilter,
    visit: &mut dyn FnMut(&ImportedDeploymentRow<'_>),
) -> Result<(), StoreError> {
    const READ: &str = "reading imported deployments";
    let mut sql = format!("SELECT {DEPLOYMENT_COLUMNS} FROM imported_deployments WHERE 1 = 1");
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
    let mut rows = stmt
        .query(rusqlite::params_from_iter(args.iter()))
        .map_err(db(READ))?;
    while let Some(row) = rows.next().map_err(db(READ))? {
        visit(&read_deployment(row)?);
    }
    Ok(())
}

fn text<'r>(row: &'r Row<'_>, i: usize, name: &str) -> Result<&'r str, StoreError> {
    match row.get_ref(i) {
        Ok(ValueRef::Text(t)) => std::str::from_utf8(t)
            .map_err(|_| StoreError::Corrupt(format!("imported `{name}` is not UTF-8"))),
        _ => Err(StoreError::Corrupt(format!(
            "imported `{name}` cannot be read as text"
        ))),
    }
}

fn opt_text<'r>(row: &'r Row<'_>, i: usize, name: &str) -> Result<Option<&'r str>, StoreError> {
    match row.get_ref(i) {
        Ok(ValueRef::Null) => Ok(None),
        _ => text(row, i, name).map(Some),
    }
}

fn read_deployment<'r>(row: &'r Row<'_>) -> Result<ImportedDeploymentRow<'r>, StoreError> {
    let kind = text(row, 4, "type")?;
    let result = text(row, 7, "result")?;
    Ok(ImportedDeploymentRow {
        external_id: text(row, 0, "external_id")?,
        service: text(row, 1, "service")?,
        environment: text(row, 2, "environment")?,
        version: text(row, 3, "version")?,
        kind: DeploymentType::from_name(kind)
            .ok_or_else(|| StoreError::Corrupt(format!("`{kind}` is not a deployment type")))?,
        started_at: parse_time(text(row, 5, "started_at")?, "started_at")?,
        finished_at: parse_time(text(row, 6, "finished_at")?, "finished_at")?,
        result: ImportResult::from_name(result)
            .ok_or_else(|| StoreError::Corrupt(format!("`{result}` is not an import result")))?,
        commit: opt_text(row, 8, "commit_sha")?,
        committed_at: opt_text(row, 9, "committed_at")?
            .map(|t| parse_time(t, "committed_at"))
            .transpose()?,
    })
}

/// Every imported incident matching the filter's service and environment.
pub(crate) fn incidents(
    conn: &Connection,
    filter: &HistoryFilter,
) -> Result<Vec<ImportedIncident>, StoreError> {
    const READ: &str = "reading imported incidents";
    let mut stmt = conn
        .prepare_cached(
            "SELECT external_id, service, environment, opened_at, resolved_at, caused_by \
             FROM imported_incidents \
             WHERE (?1 IS NULL OR service = ?1) AND (?2 IS NULL OR environment = ?2) \
             ORDER BY opened_at, external_id",
        )
        .map_err(db(READ))?;
    let mut rows = stmt
        .query(params![filter.service, filter.environment])
        .map_err(db(READ))?;
    let mut out = Vec::new();
    while let Some(row) = rows.next().map_err(db(READ))? {
        let get = |i: usize| -> Result<Option<String>, StoreError> {
            row.get(i)
                .map_err(|e| StoreError::Corrupt(format!("imported incident: {e}")))
        };
        out.push(ImportedIncident {
            external_id: get(0)?.unwrap_or_default(),
            service: get(1)?.unwrap_or_default(),
            environment: get(2)?.unwrap_or_default(),
            opened_at: parse_time(&get(3)?.unwrap_or_default(), "opened_at")?,
            resolved_at: parse_opt_time(get(4)?, "resolved_at")?,
            caused_by: get(5)?,
        });
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
