//! The journal: the only way the server writes. Every commit takes the one
//! write lock, then writes the rows and their audit entries in one
//! transaction, so that no two changes interleave and no change is stored
//! without its entry (or an entry without its change). The lock is held
//! only around the commit: facts are gathered and decisions made before,
//! and a deployment is read again under the lock (its revision refuses a
//! lost update in the store as well).

use std::sync::Arc;

use jiff::Timestamp;
use zion_core::deployment::{Deployment, Event};
use zion_core::incident::{self, TargetIncidents, incident_effects, transition_record};
use zion_core::rollout::Outcome;
use zion_store::{AuditAppend, Change, Fence, IncidentChange, NewIncident, Store, StoreError};

use crate::Clock;
use crate::audit::{AuditError, AuditLog, Record};
use crate::error::ApiError;

/// The code of a change refused because the writer's lease on the target
/// is no longer the target's (see [`Journal::change`]).
pub(crate) const FENCED: &str = "fenced";

pub struct Journal {
    store: Arc<dyn Store>,
    /// The transparency log every change is recorded in.
    pub audit: AuditLog,
    clock: Clock,
    /// Serialises every write: the API's, the controller's, the imports'.
    lock: tokio::sync::Mutex<()>,
}

impl Journal {
    pub(crate) fn new(store: Arc<dyn Store>, audit: AuditLog, clock: Clock) -> Self {
        Journal {
            store,
            audit,
            clock,
            lock: tokio::sync::Mutex::new(()),
        }
    }

    /// Commits `records` with the change `write` makes in the store, given
    /// the [`AuditAppend`] to store in the same transaction (None with no
    /// records). The log advances only when `write` succeeds.
    pub(crate) async fn commit_with<T, E>(
        &self,
        records: &[Record],
        now: Timestamp,
        write: impl FnOnce(&dyn Store, Option<&AuditAppend>) -> Result<T, E>,
    ) -> Result<T, E>
    where
        E: From<AuditError>,
    {
        let _w = self.lock.lock().await;
        self.audit
            .append_with(self.store.as_ref(), records, now, |audit| {
                write(self.store.as_ref(), audit)
            })
    }

    /// [`Self::commit_with`] for a caller off the async runtime (a long
    /// import on a blocking thread); it must not be called on the runtime.
    pub(crate) fn commit_blocking<T, E>(
        &self,
        records: &[Record],
        now: Timestamp,
        write: impl FnOnce(&dyn Store, Option<&AuditAppend>) -> Result<T, E>,
    ) -> Result<T, E>
    where
        E: From<AuditError>,
    {
        let _w = self.lock.blocking_lock();
        self.audit
            .append_with(self.store.as_ref(), records, now, |audit| {
                write(self.store.as_ref(), audit)
            })
    }

    /// Commits audit entries that change nothing else (refusals).
    pub(crate) async fn record(
        &self,
        records: &[Record],
        now: Timestamp,
    ) -> Result<(), AuditError> {
        let _w = self.lock.lock().await;
        self.audit.append(self.store.as_ref(), records, now)
    }

    /// Creates a deployment, its first event and its creation entry, once
    /// `check` (run under the lock) accepts the target's state as read now.
    pub(crate) async fn create(
        &self,
        d: &Deployment,
        first: &Event,
        production: bool,
        check: impl FnOnce(&dyn Store) -> Result<(), ApiError>,
    ) -> Result<Deployment, ApiError> {
        let _w = self.lock.lock().await;
        check(self.store.as_ref())?;
        let now = self.clock.now();
        // The entry names the id the store assigns, so the store builds it
        // inside the transaction that creates the deployment.
        self.audit.append_deferred(
            self.store.as_ref(),
            now,
            |stored: &Deployment| vec![creation_record(stored, first, production)],
            |audit| match self.store.create_deployment(d, first, Some(audit)) {
                Ok(d) => Ok(d),
                Err(StoreError::TargetBusy { id, .. }) => {
                    let phase = self
                        .store
                        .deployment(id)?
                        .map(|d| d.phase.name())
                        .unwrap_or("active");
                    Err(ApiError::conflict(format!(
                        "{}/{} already has deployment {id} ({phase}); one deployment at a time per target: wait for it (`zion get {id}`) or abort it (`zion abort {id}`)",
                        d.service, d.environment
                    )))
                }
                Err(e) => Err(e.into()),
            },
        )
    }

    /// Reads deployment `id` again under the lock, lets `decide` make its
    /// outcome (and extra entries) of it, and commits that. `decide`
    /// returning None commits nothing and returns the deployment as read.
    /// With a `fence` (the controller's, which drives the target under a
    /// lease), the store writes the change only if that lease is still
    /// the target's; otherwise the error's code is `fenced` and nothing is
    /// written.
    pub(crate) async fn change(
        &self,
        id: i64,
        production: bool,
        fence: Option<Fence<'_>>,
        decide: impl FnOnce(&Deployment) -> Result<Option<(Outcome, Vec<Record>)>, ApiError>,
    ) -> Result<Deployment, ApiError> {
        let _w = self.lock.lock().await;
        let d = self.store.deployment(id)?.ok_or_else(|| {
            ApiError::not_found(format!(
                "no deployment {id}; `zion history` lists deployments"
            ))
        })?;
        match decide(&d)? {
            Some((out, extra)) => self.write(out, extra, production, fence),
            None => Ok(d),
        }
    }

    /// Records an outcome and its audit entries (one per event, one per
    /// incident it opens or resolves, plus `extra`) in one transaction.
    /// Which incidents those are is the core's decision
    /// (`zion_core::incident`); the journal reads what it is made on (the
    /// target's open incidents and the next incident id, under the lock, so
    /// they are the ones the store changes) and writes it. The caller
    /// holds the lock.
    fn write(
        &self,
        out: Outcome,
        extra: Vec<Record>,
        production: bool,
        fence: Option<Fence<'_>>,
    ) -> Result<Deployment, ApiError> {
        if out.changed() || !extra.is_empty() {
            let d = &out.deployment;
            let open: Vec<i64> = self
                .store
                .incidents(&zion_store::IncidentFilter {
                    service: Some(d.service.clone()),
                    environment: Some(d.environment.clone()),
                    open_only: true,
                })?
                .into_iter()
                .map(|i| i.id)
                .collect();
            let facts = TargetIncidents {
                production,
                open: &open,
                next_id: self.store.next_incident_id()?,
            };
            let effects = incident_effects(d, &out.events, facts);
            let mut records = extra;
            records.extend(out.events.iter().map(|e| transition_record(d, e)));
            records.extend(effects.audit);
            let incidents: Vec<IncidentChange> = effects.changes.into_iter().map(stored).collect();
            let now = self.clock.now();
            self.audit
                .append_with(self.store.as_ref(), &records, now, |audit| {
                    let change = Change {
                        deployment: &out.deployment,
                        events: &out.events,
                        rounds: &out.rounds,
                        incidents: &incidents,
                        audit,
                    };
                    let written = match fence {
                        Some(fence) => self.store.record_fenced_change(&change, fence),
                        None => self.store.record_change(&change),
                    };
                    match written {
                        Ok(()) => Ok(()),
                        Err(e @ StoreError::Fenced { .. }) => Err(ApiError::new(
                            axum::http::StatusCode::CONFLICT,
                            FENCED,
                            e.to_string(),
                        )),
                        Err(StoreError::Conflict { id }) => Err(ApiError::conflict(format!(
                            "deployment {id} changed at the same time; try again"
                        ))),
                        Err(e) => Err(e.into()),
                    }
                })?;
        }
        Ok(out.deployment)
    }
}

/// The store's form of an incident change the core decided.
fn stored(c: incident::IncidentChange) -> IncidentChange {
    match c {
        incident::IncidentChange::Open {
            id,
            service,
            environment,
            deployment_id,
            opened_at,
            opened_by,
            reason,
        } => IncidentChange::OpenAs {
            id,
            incident: NewIncident {
                service,
                environment,
                deployment_id: Some(deployment_id),
                opened_at,
                opened_by,
                reason,
            },
        },
        incident::IncidentChange::ResolveTarget {
            service,
            environment,
            at,
            by,
            resolution,
        } => IncidentChange::ResolveTarget {
            service,
            environment,
            at,
            by,
            resolution,
        },
    }
}

/// The audit entry of a deployment's creation: the request, its gate and
/// its evidence, under the id the store assigned.
fn creation_record(d: &Deployment, first: &Event, production: bool) -> Record {
    Record::new(
        first.actor.clone(),
        zion_core::audit::AuditAction::DeploymentCreate,
        format!("deployment/{}", d.id),
        serde_json::json!({
            "production": production,
            "plan": d.strategy(),
            "approvals_required": d.gate.approvals_required,
            "service": d.service,
            "environment": d.environment,
            "version": d.version,
            "previous_version": d.previous_version,
            "strategy": d.strategy(),
            "type": d.kind,
            "reason": first.reason,
            "break_glass": d.gate.break_glass,
            "pre_checks": d.gate.check_results,
            "artifact_sha256": d.gate.artifact_sha256,
            "evidence": d.evidence,
            "commit": d.commit,
            "committed_at": d.committed_at,
        }),
    )
}
