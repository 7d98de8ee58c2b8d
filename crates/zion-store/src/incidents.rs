//! The incidents area: open production problems on a target, and how they
//! were resolved.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::{AuditAppend, StoreError};

/// Incidents: opened on their own or with a deployment change
/// ([`IncidentChange`] in [`crate::Change`]), resolved one by one or a
/// whole target at once.
///
/// Every implementation keeps these:
/// - ids are assigned in increasing order and never reused;
///   [`IncidentStore::next_incident_id`] says which id the next one gets,
///   so that an audit entry written with it can name it;
/// - an incident that names a deployment needs that deployment to exist
///   (`StoreError::Invalid` otherwise);
/// - an incident is resolved once: a second resolution is refused and
///   changes nothing, and a resolution keeps who, when and how;
/// - a resolution and the audit entries describing it are one transaction.
pub trait IncidentStore: Send + Sync {
    /// Opens an incident on its own (not as part of a deployment change) and returns it with its new id.
    /// StoreError::Invalid when it names a deployment that does not exist.
    fn open_incident(&self, incident: &NewIncident) -> Result<Incident, StoreError>;

    /// Incidents matching `filter`, newest (highest id) first.
    fn incidents(&self, filter: &IncidentFilter) -> Result<Vec<Incident>, StoreError>;

    /// The incident with this id, if any.
    fn incident(&self, id: i64) -> Result<Option<Incident>, StoreError>;

    /// Resolves the open incident `id`, writing `audit` in the same transaction, and returns it resolved.
    /// StoreError::IncidentNotFound when there is no such incident; StoreError::AlreadyResolved when it was resolved before; StoreError::AuditOutOfOrder when the entries do not continue the log: then nothing is written.
    fn resolve_incident(
        &self,
        id: i64,
        by: &str,
        at: Timestamp,
        resolution: &str,
        audit: Option<&AuditAppend>,
    ) -> Result<Incident, StoreError>;

    /// The id the next incident opened will get: ids are never reused.
    fn next_incident_id(&self) -> Result<i64, StoreError>;
}

/// An incident to open: an open production problem on a target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewIncident {
    pub service: String,
    pub environment: String,
    /// The deployment that caused it (a rollback), if any; it must exist.
    pub deployment_id: Option<i64>,
    pub opened_at: Timestamp,
    /// Who or what opened it (`controller`, a principal).
    pub opened_by: String,
    /// Why, in words.
    pub reason: String,
}

/// An incident as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Incident {
    /// Assigned by the store; never reused.
    pub id: i64,
    pub service: String,
    pub environment: String,
    /// The deployment that caused it, if any.
    pub deployment_id: Option<i64>,
    pub opened_at: Timestamp,
    /// Who or what opened it.
    pub opened_by: String,
    /// Why it was opened.
    pub reason: String,
    /// Set once resolved, together with `resolved_by` and `resolution`.
    pub resolved_at: Option<Timestamp>,
    /// The principal who resolved it.
    pub resolved_by: Option<String>,
    /// How it was resolved, in words.
    pub resolution: Option<String>,
}

impl Incident {
    /// Whether it is still open (not resolved).
    pub fn is_open(&self) -> bool {
        self.resolved_at.is_none()
    }
}

impl NewIncident {
    /// The incident as stored once opened under `id` (what both stores
    /// return from [`IncidentStore::open_incident`]).
    pub(crate) fn opened(&self, id: i64) -> Incident {
        Incident {
            id,
            service: self.service.clone(),
            environment: self.environment.clone(),
            deployment_id: self.deployment_id,
            opened_at: self.opened_at,
            opened_by: self.opened_by.clone(),
            reason: self.reason.clone(),
            resolved_at: None,
            resolved_by: None,
            resolution: None,
        }
    }
}

/// An incident change written with a deployment change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IncidentChange {
    /// Open a new incident.
    Open(NewIncident),
    /// Open a new incident under this id (from
    /// [`IncidentStore::next_incident_id`]), so that the change's audit
    /// entry can name it; an id taken meanwhile fails the whole change,
    /// which changes nothing.
    OpenAs { id: i64, incident: NewIncident },
    /// Resolve every open incident of the target (none open is not an error).
    ResolveTarget {
        service: String,
        environment: String,
        at: Timestamp,
        by: String,
        resolution: String,
    },
}

/// Which incidents [`IncidentStore::incidents`] returns; the default is all.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IncidentFilter {
    /// Only this service.
    pub service: Option<String>,
    /// Only this environment.
    pub environment: Option<String>,
    /// Only unresolved incidents.
    pub open_only: bool,
}
