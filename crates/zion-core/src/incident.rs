//! Which incidents a deployment's recorded transitions open or resolve,
//! and the audit entries that say so. A production deployment that rolls
//! back opens an incident on its target (service was restored by the
//! rollback, but someone should look before features go out again); a
//! deployment that succeeds there resolves the target's open ones. Pure:
//! the caller reads the target's open incidents and the first free id, and
//! writes what comes out.

use jiff::Timestamp;
use serde_json::json;

use crate::audit::{AuditAction, Record};
use crate::deployment::{Deployment, Event, Phase};

/// An incident change to write with a deployment change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IncidentChange {
    /// Open a new incident under `id`, so that its audit entry can name it
    /// (the store refuses the whole change if the id was taken meanwhile).
    Open {
        id: i64,
        service: String,
        environment: String,
        deployment_id: i64,
        opened_at: Timestamp,
        opened_by: String,
        reason: String,
    },
    /// Resolve every open incident of the target.
    ResolveTarget {
        service: String,
        environment: String,
        at: Timestamp,
        by: String,
        resolution: String,
    },
}

/// What the decision is made on, beside the deployment and its events.
#[derive(Debug, Clone, Copy)]
pub struct TargetIncidents<'a> {
    /// Whether the target's environment is a production one.
    pub production: bool,
    /// The ids of the target's open incidents, as read under the write
    /// lock (so they are the ones a resolution closes).
    pub open: &'a [i64],
    /// The id the next incident opened gets.
    pub next_id: i64,
}

/// The incident changes and their audit entries.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct IncidentEffects {
    pub changes: Vec<IncidentChange>,
    /// One entry per incident opened and per open incident resolved.
    pub audit: Vec<Record>,
}

/// The incidents `events` (the transitions of `d` being recorded) open or
/// resolve on its target, in the order of the events.
pub fn incident_effects(
    d: &Deployment,
    events: &[Event],
    facts: TargetIncidents,
) -> IncidentEffects {
    let mut out = IncidentEffects::default();
    let mut next_id = facts.next_id;
    for e in events {
        if e.from_phase == e.to_phase {
            continue;
        }
        match e.to_phase {
            Phase::RollingBack if facts.production => {
                let id = next_id;
                next_id += 1;
                let reason = format!(
                    "deployment {} of {} rolled back: {}",
                    d.id, d.version, e.reason
                );
                out.audit.push(Record::new(
                    e.actor.clone(),
                    AuditAction::IncidentOpen,
                    format!("incident/{id}"),
                    json!({
                        "service": d.service,
                        "environment": d.environment,
                        "deployment": d.id,
                        "reason": reason,
                    }),
                ));
                out.changes.push(IncidentChange::Open {
                    id,
                    service: d.service.clone(),
                    environment: d.environment.clone(),
                    deployment_id: d.id,
                    opened_at: e.at,
                    opened_by: e.actor.clone(),
                    reason,
                });
            }
            Phase::Succeeded => {
                let resolution = format!("deployment {} of {} succeeded", d.id, d.version);
                out.audit.extend(facts.open.iter().map(|id| {
                    Record::new(
                        e.actor.clone(),
                        AuditAction::IncidentResolve,
                        format!("incident/{id}"),
                        json!({
                            "service": d.service,
                            "environment": d.environment,
                            "resolution": resolution,
                            "automatic": true,
                        }),
                    )
                }));
                out.changes.push(IncidentChange::ResolveTarget {
                    service: d.service.clone(),
                    environment: d.environment.clone(),
                    at: e.at,
                    by: e.actor.clone(),
                    resolution,
                });
            }
            _ => {}
        }
    }
    out
}

/// The audit entry of one recorded transition of `d` and its cause.
pub fn transition_record(d: &Deployment, e: &Event) -> Record {
    let mut details = json!({
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
        let pre_checks: Vec<&crate::governance::PreCheckResult> = d
            .gate
            .check_results
            .iter()
            .filter(|r| r.stage == crate::governance::CheckStage::BeforeTraffic)
            .collect();
        if !pre_checks.is_empty() {
            details["pre_checks"] = json!(pre_checks);
        }
    }
    Record::new(
        e.actor.clone(),
        AuditAction::DeploymentTransition,
        format!("deployment/{}", d.id),
        details,
    )
}

#[cfg(test)]
#[path = "incident_tests.rs"]
mod tests;
