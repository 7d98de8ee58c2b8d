//! The incidents of [`PostgresStore`]: opened alone or inside a deployment
//! change's transaction, resolved one by one or a whole target at once. Ids
//! come from the one-row counter `incident_ids`, updated in the opening
//! transaction, so a refused change gives back the id it took.

use jiff::Timestamp;

use super::{PostgresStore, Session, args, audit, col, is_foreign_key_violation, param};
use crate::codec::time_text;
use crate::filters;
use crate::tables::{self, INCIDENT_COLUMNS, RESOLVE_INCIDENT, RESOLVE_TARGET};
use crate::{
    AuditAppend, Incident, IncidentChange, IncidentFilter, IncidentStore, NewIncident, StoreError,
};

/// Inserts `i` under `id`, or under the next id when None, and returns the
/// id; the counter follows an id given explicitly.
fn insert_incident(
    s: &mut Session<'_>,
    id: Option<i64>,
    i: &NewIncident,
) -> Result<i64, StoreError> {
    const DURING: &str = "opening an incident";
    let id = match id {
        Some(id) => id,
        None => col(
            &s.query_one(
                "UPDATE incident_ids SET last = last + 1 RETURNING last",
                args![],
                DURING,
            )?,
            "last",
        )?,
    };
    let inserted = s.try_query(
        "INSERT INTO incidents (id, service, environment, deployment_id, opened_at, opened_by, \
         reason) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        args![
            id,
            i.service.clone(),
            i.environment.clone(),
            i.deployment_id,
            time_text(i.opened_at),
            i.opened_by.clone(),
            i.reason.clone(),
        ],
        DURING,
    )?;
    inserted.map_err(|e| match i.deployment_id {
        Some(deployment) if is_foreign_key_violation(&e) => StoreError::Invalid(format!(
            "the incident on {} in {} names deployment #{deployment}, which does not exist",
            i.service, i.environment
        )),
        _ => s.error(DURING, e),
    })?;
    s.execute(
        "UPDATE incident_ids SET last = GREATEST(last, $1)",
        args![id],
        DURING,
    )?;
    Ok(id)
}

/// Applies a deployment change's incident changes, in order, inside its
/// transaction.
pub(super) fn apply_incident_changes(
    s: &mut Session<'_>,
    changes: &[IncidentChange],
) -> Result<(), StoreError> {
    for change in changes {
        match change {
            IncidentChange::OpenAs { id, incident } => {
                let id = insert_incident(s, Some(*id), incident)?;
                tracing::debug!(id, service = %incident.service, environment = %incident.environment, "incident opened");
            }
            IncidentChange::Open(new) => {
                let id = insert_incident(s, None, new)?;
                tracing::debug!(id, service = %new.service, environment = %new.environment, "incident opened");
            }
            IncidentChange::ResolveTarget {
                service,
                environment,
                at,
                by,
                resolution,
            } => {
                let resolved = s.execute(
                    RESOLVE_TARGET,
                    args![
                        time_text(*at),
                        by.clone(),
                        resolution.clone(),
                        service.clone(),
                        environment.clone()
                    ],
                    "resolving the target's incidents",
                )?;
                tracing::debug!(%service, %environment, resolved, "target's incidents resolved");
            }
        }
    }
    Ok(())
}

fn incident_by_id(
    s: &mut Session<'_>,
    id: i64,
    lock: bool,
) -> Result<Option<Incident>, StoreError> {
    let sql = format!(
        "SELECT {INCIDENT_COLUMNS} FROM incidents WHERE id = $1{}",
        if lock { " FOR UPDATE" } else { "" }
    );
    let row = s.query_opt(&sql, args![id], "reading an incident")?;
    row.as_ref().map(tables::incident).transpose()
}

impl IncidentStore for PostgresStore {
    fn open_incident(&self, incident: &NewIncident) -> Result<Incident, StoreError> {
        const DURING: &str = "opening an incident";
        let mut s = self.begin(DURING)?;
        let id = insert_incident(&mut s, None, incident)?;
        s.commit(DURING)?;
        tracing::debug!(
            id,
            service = %incident.service,
            environment = %incident.environment,
            "incident opened"
        );
        Ok(incident.opened(id))
    }

    fn incidents(&self, filter: &IncidentFilter) -> Result<Vec<Incident>, StoreError> {
        const DURING: &str = "listing incidents";
        let (sql, values) = filters::incidents(filter);
        let values = values.into_iter().map(param).collect();
        let rows = self.session(DURING)?.query(&sql, values, DURING)?;
        rows.iter().map(tables::incident).collect()
    }

    fn incident(&self, id: i64) -> Result<Option<Incident>, StoreError> {
        incident_by_id(&mut self.session("reading an incident")?, id, false)
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
        let mut s = self.begin(DURING)?;
        if audit.is_some() {
            s.lock_audit(DURING)?;
        }
        // Locked, so that two resolvers cannot both find it open.
        let mut incident =
            incident_by_id(&mut s, id, true)?.ok_or(StoreError::IncidentNotFound { id })?;
        if let Some(at) = incident.resolved_at {
            return Err(StoreError::AlreadyResolved { id, at });
        }
        s.execute(
            RESOLVE_INCIDENT,
            args![time_text(at), by.to_owned(), resolution.to_owned(), id],
            DURING,
        )?;
        if let Some(a) = audit {
            audit::write(&mut s, a)?;
        }
        s.commit(DURING)?;
        tracing::debug!(id, by, "incident resolved");
        incident.resolved_at = Some(at);
        incident.resolved_by = Some(by.to_string());
        incident.resolution = Some(resolution.to_string());
        Ok(incident)
    }

    fn next_incident_id(&self) -> Result<i64, StoreError> {
        const DURING: &str = "reading the next incident id";
        let row = self.session(DURING)?.query_one(
            "SELECT GREATEST((SELECT last FROM incident_ids), \
             (SELECT COALESCE(MAX(id), 0) FROM incidents)) + 1 AS next",
            args![],
            DURING,
        )?;
        col(&row, "next")
    }
}
