//! Incidents as a caller sees and resolves them. Opening and resolving
//! them as deployments end is the journal's (`journal.rs`).

use serde_json::json;
use zion_core::api::IncidentView;
use zion_store::{Incident, IncidentFilter, StoreError};

use crate::app::App;
use crate::audit::Record;
use crate::auth::Principal;
use crate::error::ApiError;

impl App {
    /// The incidents `filter` selects.
    pub fn incidents(&self, filter: &IncidentFilter) -> Result<Vec<IncidentView>, ApiError> {
        Ok(self
            .store
            .incidents(filter)?
            .into_iter()
            .map(view)
            .collect())
    }

    /// Resolves incident `id` by `by`, with `comment` added to the
    /// resolution; refused when it does not exist or is already resolved.
    pub async fn resolve_incident(
        &self,
        id: i64,
        comment: Option<&str>,
        principal: &Principal,
    ) -> Result<IncidentView, ApiError> {
        let resolution = match comment.map(str::trim).filter(|c| !c.is_empty()) {
            Some(c) => format!("resolved by {}: {c}", principal.name),
            None => format!("resolved by {}", principal.name),
        };
        let not_found = || {
            ApiError::not_found(format!(
                "no incident {id}; `zion incident list --all` lists them"
            ))
        };
        // An incident's target never changes, so the entry can name it
        // before the transaction that resolves it (and refuses a second
        // resolution).
        let target = self.store.incident(id)?.ok_or_else(not_found)?;
        let entry = Record::new(
            principal.name.clone(),
            zion_core::audit::AuditAction::IncidentResolve,
            format!("incident/{id}"),
            json!({"service": target.service, "environment": target.environment, "resolution": resolution}),
        );
        let now = self.clock.now();
        // Committed under the journal's lock, as every incident change: a
        // succeeded deployment resolving the target's incidents at the same
        // moment then either sees this one resolved or resolves it itself,
        // never both.
        let incident = self
            .journal
            .commit_with(&[entry], now, |store, audit| {
                match store.resolve_incident(id, &principal.name, now, &resolution, audit) {
                    Ok(incident) => Ok(incident),
                    Err(StoreError::IncidentNotFound { .. }) => Err(not_found()),
                    Err(StoreError::AlreadyResolved { at, .. }) => Err(ApiError::conflict(
                        format!("incident {id} was already resolved at {at}; nothing changed"),
                    )),
                    Err(e) => Err(e.into()),
                }
            })
            .await?;
        tracing::info!(id, by = %principal.name, "incident resolved");
        Ok(view(incident))
    }
}

/// An incident as the API shows it: every recorded field.
fn view(i: Incident) -> IncidentView {
    IncidentView {
        deployment_id: i.deployment_id,
        environment: i.environment,
        id: i.id,
        opened_at: i.opened_at,
        opened_by: i.opened_by,
        reason: i.reason,
        resolution: i.resolution,
        resolved_at: i.resolved_at,
        resolved_by: i.resolved_by,
        service: i.service,
    }
}
