//! The journal: the only way the server writes. Every commit takes the one
//! write lock, then writes the rows and their audit entries in one
//! transaction, so that no two changes interleave and no change is stored
//! without its entry (or an entry without its change). The lock is held
//! only around the commit: facts are gathered and decisions made before,
//! and a deployment is read again under the lock (its revision refuses a
//! lost update in the store as well).

use std::sync::Arc;

use jiff::Timestamp;
use zion_core::deployment::{Deployment, Event, Phase};
use zion_core::rollout::Outcome;
use zion_store::{AuditAppend, Change, IncidentChange, NewIncident, Store, StoreError};

use crate::Clock;
use crate::audit::{AuditError, AuditLog, Record};
use crate::error::ApiError;

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
    pub(crate) async fn change(
        &self,
        id: i64,
        production: bool,
        decide: impl FnOnce(&Deployment) -> Result<Option<(Outcome, Vec<Record>)>, ApiError>,
    ) -> Result<Deployment, ApiError> {
        let _w = self.lock.lock().await;
        let d = self.store.deployment(id)?.ok_or_else(|| {
            ApiError::not_found(format!(
                "no deployment {id}; `zion history` lists deployments"
            ))
        })?;
        match decide(&d)? {
            Some((out, extra)) => self.write(out, extra, production),
            None => Ok(d),
        }
    }

    /// Records an outcome and its audit entries (one per event, one per
    /// incident it opens or resolves, plus `extra`) in one transaction.
    /// The caller holds the lock.
    fn write(
        &self,
        out: Outcome,
        extra: Vec<Record>,
        production: bool,
    ) -> Result<Deployment, ApiError> {
        if out.changed() || !extra.is_empty() {
            let incidents = self.incident_changes(&out, production)?;
            let mut records = extra;
            records.extend(
                out.events
                    .iter()
                    .map(|e| transition_record(&out.deployment, e)),
            );
            for c in &incidents {
                records.extend(self.incident_records(c)?);
            }
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
                    match self.store.record_change(&change) {
                        Ok(()) => Ok(()),
                        Err(StoreError::Conflict { id }) => Err(ApiError::conflict(format!(
                            "deployment {id} changed at the same time; try again"
                        ))),
                        Err(e) => Err(e.into()),
                    }
                })?;
        }
        Ok(out.deployment)
    }

    /// The audit entries of an incident change: the one opened, or one for
    /// each open incident of the target that a success resolves (read
    /// under the lock, which every incident change holds, so they are the
    /// ones the store resolves).
    fn incident_records(&self, c: &IncidentChange) -> Result<Vec<Record>, ApiError> {
        Ok(match c {
            IncidentChange::Open(n) => vec![Record::new(
                n.opened_by.clone(),
                zion_core::audit::AuditAction::IncidentOpen,
                format!("target/{}/{}", n.service, n.environment),
                serde_json::json!({"deployment": n.deployment_id, "reason": n.reason}),
            )],
            IncidentChange::OpenAs { id, incident: n } => vec![Record::new(
                n.opened_by.clone(),
                zion_core::audit::AuditAction::IncidentOpen,
                format!("incident/{id}"),
                serde_json::json!({
                    "service": n.service,
                    "environment": n.environment,
                    "deployment": n.deployment_id,
                    "reason": n.reason,
                }),
            )],
            IncidentChange::ResolveTarget {
                service,
                environment,
                by,
                resolution,
                ..
            } => self
                .store
                .incidents(&zion_store::IncidentFilter {
                    service: Some(service.clone()),
                    environment: Some(environment.clone()),
                    open_only: true,
                })?
                .into_iter()
                .map(|i| {
                    Record::new(
                        by.clone(),
                        zion_core::audit::AuditAction::IncidentResolve,
                        format!("incident/{}", i.id),
                        serde_json::json!({"service": service, "environment": environment, "resolution": resolution, "automatic": true}),
                    )
                })
                .collect(),
        })
    }

    /// A production deployment that rolls back opens an incident on its
    /// target; a deployment that succeeds there resolves the open ones.
    /// An incident opened here gets its id now, so that its audit entry
    /// names it; the store refuses the change if the id was taken meanwhile.
    fn incident_changes(
        &self,
        out: &Outcome,
        production: bool,
    ) -> Result<Vec<IncidentChange>, ApiError> {
        let d = &out.deployment;
        let mut changes = Vec::new();
        let mut next_id = None;
        for e in &out.events {
            if e.from_phase == e.to_phase {
                continue;
            }
            match e.to_phase {
                Phase::RollingBack if production => {
                    let id = match next_id {
                        Some(id) => id,
                        None => self.store.next_incident_id()?,
                    };
                    next_id = Some(id + 1);
                    changes.push(IncidentChange::OpenAs {
                        id,
                        incident: NewIncident {
                            service: d.service.clone(),
                            environment: d.environment.clone(),
                            deployment_id: Some(d.id),
                            opened_at: e.at,
                            opened_by: e.actor.clone(),
                            reason: format!(
                                "deployment {} of {} rolled back: {}",
                                d.id, d.version, e.reason
                            ),
                        },
                    });
                }
                Phase::Succeeded => changes.push(IncidentChange::ResolveTarget {
                    service: d.service.clone(),
                    environment: d.environment.clone(),
                    at: e.at,
                    by: e.actor.clone(),
                    resolution: format!("deployment {} of {} succeeded", d.id, d.version),
                }),
                _ => {}
            }
        }
        Ok(changes)
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

/// The audit entry of one recorded transition and its cause.
fn transition_record(d: &Deployment, e: &Event) -> Record {
    let mut details = serde_json::json!({
        "service": d.service,
        "environment": d.environment,
        "version": d.version,
        "strategy": d.strategy(),
        "from": e.from_phase,
        "to": e.to_phase,
        "step": e.step.map(|s| s + 1),
        "canary_weight": e.canary_weight,
        "reason": e.reason,
        "rounds": d.progress.rounds,
    });
    // Leaving the gate is when the checks ran again, just before traffic
    // moved: their results are part of this transition's cause.
    let leaving_gate = matches!(e.from_phase, Phase::Pending | Phase::AwaitingApproval)
        && !matches!(e.to_phase, Phase::Pending | Phase::AwaitingApproval);
    if leaving_gate {
        let pre_checks: Vec<&zion_core::governance::PreCheckResult> = d
            .gate
            .check_results
            .iter()
            .filter(|r| r.stage == zion_core::governance::CheckStage::BeforeTraffic)
            .collect();
        if !pre_checks.is_empty() {
            details["pre_checks"] = serde_json::json!(pre_checks);
        }
    }
    Record::new(
        e.actor.clone(),
        zion_core::audit::AuditAction::DeploymentTransition,
        format!("deployment/{}", d.id),
        details,
    )
}
