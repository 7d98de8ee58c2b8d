//! The compliance report, computed only from audit entries: change
//! management, access control, deployment control, monitoring and log
//! integrity. Each control gives its share, its exceptions and the entries
//! (by index) it rests on, so an auditor can check every figure against the
//! signed log.

use std::collections::{BTreeMap, BTreeSet};

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::audit::AuditAction;

/// One audit entry, as the report reads it.
#[derive(Debug, Clone, PartialEq)]
pub struct Fact {
    pub index: u64,
    pub time: Timestamp,
    pub actor: String,
    /// None for an action this version does not know (written by a newer
    /// one): it counts as a change, and no control reads it further.
    pub action: Option<AuditAction>,
    pub subject: String,
    pub details: Value,
}

/// What verification of the whole log found.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Integrity {
    pub ok: bool,
    pub error: Option<String>,
    pub entries: u64,
    pub checkpoint_size: Option<u64>,
    pub checkpoint_root: Option<String>,
}

/// A share with what it counts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Share {
    pub compliant: usize,
    pub total: usize,
    /// compliant / total; None when there is nothing to count.
    pub share: Option<f64>,
}

impl Share {
    fn new(compliant: usize, total: usize) -> Share {
        Share {
            compliant,
            total,
            share: (total > 0).then(|| compliant as f64 / total as f64),
        }
    }
}

/// A deployment that does not meet a control, and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Exception {
    pub deployment: i64,
    pub reason: String,
}

/// A deployment request that the environment's policy refused; nothing
/// ran, but the attempt is evidence that the control held.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Refused {
    pub entry: u64,
    pub by: String,
    pub subject: String,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChangeManagement {
    /// Production deployments that moved traffic: approvals complete or a
    /// break-glass reason recorded.
    pub production_deployments: Share,
    pub break_glass: Vec<Exception>,
    pub exceptions: Vec<Exception>,
    pub evidence_entries: Vec<u64>,
    /// Requests refused by policy (requires, windows, checks, gates).
    pub refused_requests: Vec<Refused>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AccessControl {
    /// Entries recording a change, every one with its actor.
    pub mutating_actions: usize,
    pub by_principal: BTreeMap<String, usize>,
    /// The entries of each principal's actions (not the controller's).
    pub principal_entries: BTreeMap<String, Vec<u64>>,
    /// Decisions Zion's controller took by itself.
    pub by_controller: usize,
    /// Entries without an actor (should be none).
    pub unattributed: Vec<u64>,
    /// Refused authentications (401), per principal (counted per minute).
    pub refused: BTreeMap<String, u64>,
    pub refused_entries: Vec<u64>,
    /// Actions refused to authenticated principals (403), per principal.
    pub forbidden: BTreeMap<String, u64>,
    pub forbidden_entries: Vec<u64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeploymentControl {
    /// Finished production deployments that used a progressive strategy
    /// (canary, blue-green, rolling) and ran analysis rounds.
    pub production_deployments: Share,
    pub exceptions: Vec<Exception>,
    pub evidence_entries: Vec<u64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Monitoring {
    /// Finished deployments (every environment) with recorded analysis.
    pub deployments: Share,
    pub with_analysis: Vec<i64>,
    pub without_analysis: Vec<i64>,
    /// The entry that records each finished deployment's outcome and its
    /// number of analysis rounds.
    pub evidence_entries: Vec<u64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ComplianceReport {
    pub since: Option<Timestamp>,
    pub entries_read: usize,
    pub change_management: ChangeManagement,
    pub access_control: AccessControl,
    pub deployment_control: DeploymentControl,
    pub monitoring: Monitoring,
    pub log_integrity: Integrity,
}

/// What the entries say about one deployment.
#[derive(Debug, Default)]
struct Life {
    production: bool,
    plan: String,
    approvals_required: u64,
    approvers: BTreeSet<String>,
    break_glass: Option<String>,
    started: bool,
    terminal: Option<String>,
    rounds: u64,
    /// The entry of the terminal transition.
    outcome_entry: Option<u64>,
    entries: Vec<u64>,
}

fn deployment_id(subject: &str) -> Option<i64> {
    subject.strip_prefix("deployment/")?.parse().ok()
}

const TERMINAL: [&str; 6] = [
    "succeeded",
    "rolled_back",
    "rejected",
    "expired",
    "cancelled",
    "failed",
];

/// Builds the report from `facts` (in log order) and the verification result.
pub fn report(facts: &[Fact], since: Option<Timestamp>, integrity: Integrity) -> ComplianceReport {
    let mut lives: BTreeMap<i64, Life> = BTreeMap::new();
    let mut access = AccessControl {
        mutating_actions: 0,
        by_principal: BTreeMap::new(),
        by_controller: 0,
        unattributed: Vec::new(),
        refused: BTreeMap::new(),
        refused_entries: Vec::new(),
        forbidden: BTreeMap::new(),
        forbidden_entries: Vec::new(),
        principal_entries: BTreeMap::new(),
    };
    let mut refused_requests = Vec::new();
    let mut entries_read = 0;
    for f in facts.iter().filter(|f| since.is_none_or(|s| f.time >= s)) {
        entries_read += 1;
        if let Some(a @ (AuditAction::AuthRefused | AuditAction::AuthForbidden)) = f.action {
            let n = f.details["count"].as_u64().unwrap_or(0);
            let (counts, entries) = if a == AuditAction::AuthRefused {
                (&mut access.refused, &mut access.refused_entries)
            } else {
                (&mut access.forbidden, &mut access.forbidden_entries)
            };
            *counts.entry(f.actor.clone()).or_insert(0) += n;
            entries.push(f.index);
            continue;
        }
        if f.action == Some(AuditAction::DeploymentRefused) {
            refused_requests.push(Refused {
                entry: f.index,
                by: f.actor.clone(),
                subject: f.subject.clone(),
                reason: f.details["reason"].as_str().unwrap_or("").to_string(),
            });
            continue;
        }
        access.mutating_actions += 1;
        if f.actor.trim().is_empty() {
            access.unattributed.push(f.index);
        } else if f.actor == crate::rollout::CONTROLLER {
            access.by_controller += 1;
        } else {
            *access.by_principal.entry(f.actor.clone()).or_insert(0) += 1;
            access
                .principal_entries
                .entry(f.actor.clone())
                .or_default()
                .push(f.index);
        }
        let Some(id) = deployment_id(&f.subject) else {
            continue;
        };
        let life = lives.entry(id).or_default();
        life.entries.push(f.index);
        let d = &f.details;
        match f.action {
            Some(AuditAction::DeploymentCreate) => {
                life.production = d["production"].as_bool().unwrap_or(false);
                life.plan = d["plan"].as_str().unwrap_or("").to_string();
                life.approvals_required = d["approvals_required"].as_u64().unwrap_or(0);
                life.break_glass = d["break_glass"]["reason"].as_str().map(str::to_string);
            }
            Some(AuditAction::ApprovalApprove) => {
                life.approvers.insert(f.actor.clone());
            }
            Some(AuditAction::DeploymentTransition) => {
                let to = d["to"].as_str().unwrap_or("");
                if to == "progressing" {
                    life.started = true;
                }
                if TERMINAL.contains(&to) {
                    life.terminal = Some(to.to_string());
                    life.rounds = d["rounds"].as_u64().unwrap_or(0);
                    life.outcome_entry = Some(f.index);
                }
            }
            _ => {}
        }
    }

    // A deployment whose creation is before `since` is not judged here: its
    // approvals may be outside the window.
    let created = |l: &Life| !l.plan.is_empty();
    let mut cm = ChangeManagement {
        production_deployments: Share::new(0, 0),
        break_glass: Vec::new(),
        exceptions: Vec::new(),
        evidence_entries: Vec::new(),
        refused_requests,
    };
    let (mut ok, mut total) = (0, 0);
    for (id, l) in lives
        .iter()
        .filter(|(_, l)| created(l) && l.production && l.started)
    {
        total += 1;
        cm.evidence_entries.extend(&l.entries);
        let approvals = l.approvers.len() as u64;
        if let Some(reason) = &l.break_glass {
            ok += 1;
            cm.break_glass.push(Exception {
                deployment: *id,
                reason: format!("break glass: {reason}"),
            });
        } else if approvals >= l.approvals_required {
            ok += 1;
        } else {
            cm.exceptions.push(Exception {
                deployment: *id,
                reason: format!(
                    "{approvals} of {} required approvals recorded",
                    l.approvals_required
                ),
            });
        }
    }
    cm.production_deployments = Share::new(ok, total);

    let mut dc = DeploymentControl {
        production_deployments: Share::new(0, 0),
        exceptions: Vec::new(),
        evidence_entries: Vec::new(),
    };
    let (mut ok, mut total) = (0, 0);
    for (id, l) in lives
        .iter()
        .filter(|(_, l)| created(l) && l.production && l.started && l.terminal.is_some())
    {
        total += 1;
        dc.evidence_entries.extend(&l.entries);
        let progressive = matches!(l.plan.as_str(), "canary" | "blue_green" | "rolling");
        if progressive && l.rounds > 0 {
            ok += 1;
        } else {
            let reason = if progressive {
                format!("{} without any analysis round", l.plan)
            } else {
                format!("switched directly ({} plan)", l.plan)
            };
            dc.exceptions.push(Exception {
                deployment: *id,
                reason,
            });
        }
    }
    dc.production_deployments = Share::new(ok, total);

    let finished: Vec<(&i64, &Life)> = lives
        .iter()
        .filter(|(_, l)| created(l) && l.started && l.terminal.is_some())
        .collect();
    let (with, without): (Vec<_>, Vec<_>) = finished.iter().partition(|(_, l)| l.rounds > 0);
    let monitoring = Monitoring {
        deployments: Share::new(with.len(), finished.len()),
        with_analysis: with.iter().map(|(id, _)| **id).collect(),
        without_analysis: without.iter().map(|(id, _)| **id).collect(),
        evidence_entries: finished
            .iter()
            .filter_map(|(_, l)| l.outcome_entry)
            .collect(),
    };

    ComplianceReport {
        since,
        entries_read,
        change_management: cm,
        access_control: access,
        deployment_control: dc,
        monitoring,
        log_integrity: integrity,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn fact(index: u64, actor: &str, action: AuditAction, subject: &str, details: Value) -> Fact {
        Fact {
            index,
            time: Timestamp::from_second(1_800_000_000 + index as i64).unwrap(),
            actor: actor.into(),
            action: Some(action),
            subject: subject.into(),
            details,
        }
    }

    fn clean() -> Integrity {
        Integrity {
            ok: true,
            error: None,
            entries: 0,
            checkpoint_size: None,
            checkpoint_root: None,
        }
    }

    /// A production deployment's entries: created, approvals, started,
    /// finished with `rounds` rounds.
    #[allow(clippy::too_many_arguments)] // a test table row, named at each call
    fn life(
        next: &mut u64,
        id: i64,
        plan: &str,
        required: u64,
        approvers: &[&str],
        break_glass: Option<&str>,
        rounds: u64,
        production: bool,
    ) -> Vec<Fact> {
        let subject = format!("deployment/{id}");
        let mut out = Vec::new();
        let mut push = |actor: &str, action: AuditAction, details: Value| {
            out.push(fact(*next, actor, action, &subject, details));
            *next += 1;
        };
        push(
            "alice",
            AuditAction::DeploymentCreate,
            json!({"production": production, "plan": plan, "approvals_required": required,
                   "break_glass": break_glass.map(|r| json!({"by": "root", "reason": r}))}),
        );
        for a in approvers {
            push(a, AuditAction::ApprovalApprove, json!({}));
        }
        push(
            "controller",
            AuditAction::DeploymentTransition,
            json!({"from": "pending", "to": "progressing"}),
        );
        push(
            "controller",
            AuditAction::DeploymentTransition,
            json!({"from": "progressing", "to": "succeeded", "rounds": rounds}),
        );
        out
    }

    #[test]
    fn every_control_counts_from_entries_and_names_its_exceptions() {
        let mut n = 0;
        let mut facts = Vec::new();
        // 1: canary, two approvals of two, 4 rounds: compliant everywhere.
        facts.extend(life(
            &mut n,
            1,
            "canary",
            2,
            &["bob", "carol"],
            None,
            4,
            true,
        ));
        // 2: one approval of two: a change-management exception.
        facts.extend(life(&mut n, 2, "canary", 2, &["bob"], None, 3, true));
        // 3: break glass, direct: compliant for change management, an
        // exception for deployment control and monitoring.
        facts.extend(life(&mut n, 3, "direct", 2, &[], Some("outage"), 0, true));
        // 4: staging: only monitoring counts it.
        facts.extend(life(&mut n, 4, "rolling", 0, &[], None, 2, false));
        facts.push(fact(
            n,
            "(unknown token)",
            AuditAction::AuthRefused,
            "principal/(unknown token)",
            json!({"count": 40}),
        ));
        n += 1;
        facts.push(fact(
            n,
            "(unknown token)",
            AuditAction::AuthRefused,
            "principal/(unknown token)",
            json!({"count": 2}),
        ));
        n += 1;
        facts.push(fact(
            n,
            "dave",
            AuditAction::AuthForbidden,
            "principal/dave",
            json!({"count": 3, "route": "POST /api/v1/deployments"}),
        ));
        n += 1;
        facts.push(fact(
            n,
            "alice",
            AuditAction::DeploymentRefused,
            "target/web/production",
            json!({"reason": "inside freeze year-end"}),
        ));
        let r = report(&facts, None, clean());
        assert_eq!(r.entries_read, facts.len());

        assert_eq!(r.change_management.production_deployments.compliant, 2);
        assert_eq!(r.change_management.production_deployments.total, 3);
        assert_eq!(r.change_management.exceptions.len(), 1);
        assert_eq!(r.change_management.exceptions[0].deployment, 2);
        assert_eq!(
            r.change_management.exceptions[0].reason,
            "1 of 2 required approvals recorded"
        );
        assert_eq!(r.change_management.break_glass[0].deployment, 3);

        assert_eq!(r.deployment_control.production_deployments.compliant, 2);
        assert_eq!(r.deployment_control.production_deployments.total, 3);
        assert_eq!(r.deployment_control.exceptions[0].deployment, 3);

        // 3 of 4 finished deployments had analysis; each outcome entry is
        // the last of its life (lives of 5, 4, 3 and 3 entries: 4, 8, 11, 14).
        assert_eq!(r.monitoring.deployments.share, Some(0.75));
        assert_eq!(r.monitoring.with_analysis, vec![1, 2, 4]);
        assert_eq!(r.monitoring.without_analysis, vec![3]);
        assert_eq!(r.monitoring.evidence_entries, vec![4, 8, 11, 14]);

        // Entries: 4 lives of 4 or 5 or 3 entries, all attributed.
        assert_eq!(r.access_control.unattributed, Vec::<u64>::new());
        assert_eq!(r.access_control.by_principal["alice"], 4);
        assert_eq!(r.access_control.by_principal["bob"], 2);
        assert_eq!(r.access_control.by_controller, 8);
        assert_eq!(r.access_control.refused["(unknown token)"], 42);
        assert_eq!(r.access_control.refused_entries, vec![15, 16]);
        assert_eq!(r.access_control.forbidden["dave"], 3);
        assert_eq!(r.access_control.forbidden_entries, vec![17]);
        // Alice created the four deployments (entries 0, 5, 9, 12); her
        // refused request is not an action but a refusal.
        assert_eq!(
            r.access_control.principal_entries["alice"],
            vec![0, 5, 9, 12]
        );
        assert_eq!(r.access_control.principal_entries["bob"], vec![1, 6]);
        assert_eq!(r.change_management.refused_requests.len(), 1);
        assert_eq!(r.change_management.refused_requests[0].entry, 18);
        assert_eq!(
            r.change_management.refused_requests[0].reason,
            "inside freeze year-end"
        );
    }

    #[test]
    fn an_unknown_action_counts_as_a_change_and_changes_no_control() {
        let mut n = 0;
        let mut facts = life(&mut n, 1, "canary", 0, &[], None, 2, true);
        let known = report(&facts, None, clean());
        // Written by a newer version, between creation and start.
        let mut newer = fact(
            n,
            "alice",
            AuditAction::ApprovalApprove,
            "deployment/1",
            json!({}),
        );
        newer.action = None;
        facts.insert(1, newer);
        let r = report(&facts, None, clean());
        assert_eq!(
            r.access_control.mutating_actions,
            known.access_control.mutating_actions + 1
        );
        assert_eq!(r.access_control.by_principal["alice"], 2);
        assert_eq!(
            r.change_management.production_deployments,
            known.change_management.production_deployments
        );
        assert_eq!(
            r.deployment_control.production_deployments,
            known.deployment_control.production_deployments
        );
        assert_eq!(r.monitoring.deployments, known.monitoring.deployments);
    }

    #[test]
    fn an_empty_window_has_no_shares_rather_than_zero_or_full() {
        let r = report(&[], None, clean());
        assert_eq!(r.change_management.production_deployments.share, None);
        assert_eq!(r.deployment_control.production_deployments.share, None);
        assert_eq!(r.monitoring.deployments.share, None);
    }

    #[test]
    fn since_drops_older_entries_and_deployments_created_before_it() {
        let mut n = 0;
        let facts = life(&mut n, 1, "canary", 1, &[], None, 1, true);
        // Only the last entry (the success) is in the window: deployment 1
        // was created before it and is not judged.
        let since = facts.last().unwrap().time;
        let r = report(&facts, Some(since), clean());
        assert_eq!(r.change_management.production_deployments.total, 0);
        assert_eq!(r.access_control.mutating_actions, 1);
        assert_eq!(r.entries_read, 1);
    }
}
