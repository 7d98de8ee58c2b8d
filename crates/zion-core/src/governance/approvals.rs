//! Approval decisions: who may approve or reject a waiting deployment, and
//! what the decision does to it. Approvals must come from distinct
//! principals with an allowed role; with `prevent_self_approval` the
//! requester's own approval never counts; one rejection ends the deployment.

use jiff::Timestamp;

use crate::deployment::{Deployment, Phase};
use crate::governance::{Decision, DecisionKind};
use crate::principal::Principal;
use crate::rollout::{Outcome, Tx};
use crate::spec::Role;

/// Why a decision was refused; nothing was recorded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecisionError {
    #[error("deployment {id} is {phase}, not waiting for approval; nothing to {verb}")]
    NotWaiting {
        id: i64,
        phase: Phase,
        verb: &'static str,
    },
    #[error("deployment {id} needs no approval (its environment requires none); nothing to {verb}")]
    NoneRequired { id: i64, verb: &'static str },
    #[error(
        "{name} (role {role}) may not {verb} deployment {id}: its environment accepts decisions from {allowed}"
    )]
    RoleNotAllowed {
        id: i64,
        name: String,
        role: Role,
        allowed: String,
        verb: &'static str,
    },
    #[error(
        "{name} requested deployment {id} and may not approve it (prevent_self_approval): another principal must"
    )]
    SelfApproval { id: i64, name: String },
    #[error(
        "{name} already decided on deployment {id} ({previous} at {at}); approvals must come from distinct principals"
    )]
    AlreadyDecided {
        id: i64,
        name: String,
        previous: &'static str,
        at: Timestamp,
    },
}

impl DecisionError {
    /// Whether the refusal is about who the decider is (HTTP 403) rather
    /// than the deployment's state (HTTP 409).
    pub fn is_forbidden(&self) -> bool {
        matches!(
            self,
            DecisionError::RoleNotAllowed { .. } | DecisionError::SelfApproval { .. }
        )
    }
}

/// Records an approval or a rejection of `before` by `who`, which reached
/// Zion `via` the API (`api`, the CLI) or `github`.
///
/// Decisions are accepted while the deployment is pending (waiting for its
/// window) or awaiting approval. A rejection ends it (`rejected`); an
/// approval that completes the count leaves it to the controller, which
/// re-runs the pre-checks before any traffic moves.
pub fn decide(
    before: &Deployment,
    kind: DecisionKind,
    who: &Principal,
    via: &str,
    comment: Option<&str>,
    now: Timestamp,
) -> Result<Outcome, DecisionError> {
    let id = before.id;
    let verb = kind.name();
    let gate = &before.gate;
    // Viewers only read, whatever an environment lists or the phase is.
    if who.role == Role::Viewer {
        return Err(DecisionError::RoleNotAllowed {
            id,
            name: who.name.to_string(),
            role: who.role,
            allowed: allowed_roles(&before.gate.approval_roles),
            verb,
        });
    }
    if !matches!(before.phase, Phase::Pending | Phase::AwaitingApproval) {
        return Err(DecisionError::NotWaiting {
            id,
            phase: before.phase,
            verb,
        });
    }
    if gate.approvals_required == 0 || gate.break_glass.is_some() {
        return Err(DecisionError::NoneRequired { id, verb });
    }
    if !gate.approval_roles.contains(&who.role) {
        return Err(DecisionError::RoleNotAllowed {
            id,
            name: who.name.to_string(),
            role: who.role,
            allowed: allowed_roles(&gate.approval_roles),
            verb,
        });
    }
    if kind == DecisionKind::Approve
        && gate.prevent_self_approval
        && who.name == before.requested_by
    {
        return Err(DecisionError::SelfApproval {
            id,
            name: who.name.to_string(),
        });
    }
    if let Some(prev) = gate.decisions.iter().find(|d| d.principal == who.name) {
        return Err(DecisionError::AlreadyDecided {
            id,
            name: who.name.to_string(),
            previous: prev.kind.name(),
            at: crate::governance::gating::seconds(prev.at),
        });
    }
    let comment = comment.map(str::trim).filter(|c| !c.is_empty());
    let mut tx = Tx::new(before, now);
    tx.d.gate.decisions.push(Decision {
        principal: who.name.to_string(),
        role: who.role,
        kind,
        comment: comment.map(str::to_string),
        at: now,
        via: via.to_string(),
    });
    let said = comment.map(|c| format!(": {c}")).unwrap_or_default();
    let via = if via == "github" {
        " (GitHub comment)"
    } else {
        ""
    };
    match kind {
        DecisionKind::Reject => {
            tx.event(
                Phase::Rejected,
                &who.name,
                format!("rejected by {}{via}{said}; nothing was started", who.name),
            );
        }
        DecisionKind::Approve => {
            let have = tx.d.gate.approvals().count();
            let need = gate.approvals_required;
            let status = if have as u32 >= need {
                "approvals complete".to_string()
            } else {
                format!("{} more needed", need as usize - have)
            };
            let phase = tx.d.phase;
            tx.event(
                phase,
                &who.name,
                format!(
                    "approved by {}{via} ({have}/{need}, {status}){said}",
                    who.name
                ),
            );
        }
    }
    Ok(tx.finish())
}

fn allowed_roles(roles: &[Role]) -> String {
    let roles: Vec<&str> = roles
        .iter()
        .filter(|r| **r != Role::Viewer)
        .map(|r| r.name())
        .collect();
    if roles.is_empty() {
        "approvers and admins".to_string()
    } else {
        format!("roles {}", roles.join(", "))
    }
}

/// Principals who could still approve: a description of who is needed, for
/// `status` and `get` ("1 more from roles approver, admin; not alice").
pub fn still_needed(d: &Deployment) -> Option<String> {
    let g = &d.gate;
    if g.approvals_required == 0 || g.break_glass.is_some() || g.approved() {
        return None;
    }
    let have = g.approvals().count() as u32;
    let roles: Vec<&str> = g.approval_roles.iter().map(|r| r.name()).collect();
    let mut text = format!(
        "{} more approval{} from roles {}",
        g.approvals_required - have,
        if g.approvals_required - have == 1 {
            ""
        } else {
            "s"
        },
        roles.join(", ")
    );
    let mut excluded: Vec<&str> = g.decisions.iter().map(|x| x.principal.as_str()).collect();
    if g.prevent_self_approval && !excluded.contains(&d.requested_by.as_str()) {
        excluded.push(d.requested_by.as_str());
    }
    if !excluded.is_empty() {
        text.push_str(&format!(", not {}", excluded.join(", ")));
    }
    Some(text)
}
