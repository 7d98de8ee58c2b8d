//! The incidents of [`SqliteStore`]: opened alone or inside a deployment
//! change's transaction, resolved one by one or a whole target at once.

use jiff::Timestamp;
use rusqlite::types::Value;
use rusqlite::{Connection, Transaction, params, params_from_iter};

use super::{SqliteStore, audit, begin, db, is_foreign_key_violation, query_all};
use crate::codec::time_text;
use crate::filters;
use crate::tables::{self, INCIDENT_COLUMNS, RESOLVE_INCIDENT, RESOLVE_TARGET};
use crate::{
    AuditAppend, Incident, IncidentChange, IncidentFilter, IncidentStore, NewIncident, StoreError,
};

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
        &tables::sqlite(RESOLVE_TARGET),
        params![time_text(at), by, resolution, service, environment],
    )
    .map_err(db("resolving the target's incidents"))
}

/// Applies a deployment change's incident changes, in order, inside its
/// transaction.
pub(super) fn apply_incident_changes(
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
    let mut found = query_all(conn, &sql, [id], "reading an incident", |row| {
        tables::incident(row)
    })?;
    Ok(found.pop())
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
        Ok(incident.opened(id))
    }

    fn incidents(&self, filter: &IncidentFilter) -> Result<Vec<Incident>, StoreError> {
        let (sql, values) = filters::incidents(filter);
        let conn = self.conn();
        query_all(
            &conn,
            &tables::sqlite(&sql),
            params_from_iter(values.into_iter().map(Value::from)),
            "listing incidents",
            |row| tables::incident(row),
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
            &tables::sqlite(RESOLVE_INCIDENT),
            params![time_text(at), by, resolution, id],
        )
        .map_err(db(DURING))?;
        if let Some(a) = audit {
            audit::write(&tx, a)?;
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
