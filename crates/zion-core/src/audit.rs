//! What the audit log records: the action of each entry. The entries are
//! signed and kept for life, so an action's name, once written, can never
//! change: this module is the only place the names are spelled, and the
//! server writes them and the reports read them back through
//! [`AuditAction`].

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::governance::DecisionKind;

/// Declares the actions once: each variant with its name in the log, so the
/// enum, [`AuditAction::ALL`], [`AuditAction::as_str`] and the parser can
/// never disagree.
macro_rules! audit_actions {
    ($($(#[doc = $doc:literal])* $variant:ident => $name:literal,)+) => {
        /// The action of an audit entry, written as its name (`deployment.create`).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(into = "&'static str", try_from = "String")]
        pub enum AuditAction {
            $($(#[doc = $doc])* $variant,)+
        }

        impl AuditAction {
            /// Every action, in declaration order.
            pub const ALL: &'static [AuditAction] = &[$(AuditAction::$variant,)+];

            /// Its name in the log.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $(AuditAction::$variant => $name,)+
                }
            }

            /// The action `name` spells, if Zion records it.
            pub fn parse(name: &str) -> Result<AuditAction, UnknownAuditAction> {
                match name {
                    $($name => Ok(AuditAction::$variant),)+
                    _ => Err(UnknownAuditAction(name.to_string())),
                }
            }
        }
    };
}

audit_actions! {
    /// A spec was applied (at start or by a reload that changed it).
    SpecApply => "spec.apply",
    /// A deployment was admitted and stored, with its plan and gate.
    DeploymentCreate => "deployment.create",
    /// A deployment changed phase, with the cause.
    DeploymentTransition => "deployment.transition",
    /// The environment's policy refused a deployment request; nothing was
    /// stored but this entry.
    DeploymentRefused => "deployment.refused",
    /// A principal approved a deployment.
    ApprovalApprove => "approval.approve",
    /// A principal rejected a deployment.
    ApprovalReject => "approval.reject",
    /// An incident was opened, by a production rollback or by hand.
    IncidentOpen => "incident.open",
    /// An incident was resolved, by hand or by the next success.
    IncidentResolve => "incident.resolve",
    /// Another tool's deployments and incidents were imported.
    HistoryImport => "history.import",
    /// An API token was issued.
    TokenCreate => "token.create",
    /// An API token was revoked.
    TokenRevoke => "token.revoke",
    /// Refused authentications (401) of one principal in one minute.
    AuthRefused => "auth.refused",
    /// Actions refused to an authenticated principal (403) in one minute.
    AuthForbidden => "auth.forbidden",
    /// An SLO's burn-rate alert (page or ticket) started firing, with its
    /// severity, burn rates and windows and the budget left.
    SloAlertFiring => "slo.alert_firing",
    /// An SLO's alert stopped firing (its burn rates fell back), or its
    /// budget is no longer spent.
    SloAlertResolved => "slo.alert_resolved",
    /// An SLO's error budget is spent: the `error_budget` pre-check now
    /// refuses its target's non-hotfix deployments.
    ErrorBudgetExhausted => "slo.budget_exhausted",
}

/// One audit entry to append, as a decision leaves it: who caused the
/// change, what it was, what it concerns (`deployment/7`, `incident/3`) and
/// its details. The log adds the index, the time and the hashes.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    pub actor: String,
    pub action: AuditAction,
    pub subject: String,
    pub details: serde_json::Value,
}

impl Record {
    pub fn new(
        actor: impl Into<String>,
        action: AuditAction,
        subject: impl Into<String>,
        details: serde_json::Value,
    ) -> Self {
        Record {
            actor: actor.into(),
            action,
            subject: subject.into(),
            details,
        }
    }
}

/// A name that is not one of [`AuditAction::ALL`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not an audit action; the actions are {list}", list = names())]
pub struct UnknownAuditAction(pub String);

fn names() -> String {
    AuditAction::ALL
        .iter()
        .map(|a| a.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

impl From<DecisionKind> for AuditAction {
    fn from(kind: DecisionKind) -> AuditAction {
        match kind {
            DecisionKind::Approve => AuditAction::ApprovalApprove,
            DecisionKind::Reject => AuditAction::ApprovalReject,
        }
    }
}

impl fmt::Display for AuditAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for AuditAction {
    type Err = UnknownAuditAction;

    fn from_str(s: &str) -> Result<AuditAction, UnknownAuditAction> {
        AuditAction::parse(s)
    }
}

impl From<AuditAction> for &'static str {
    fn from(a: AuditAction) -> &'static str {
        a.as_str()
    }
}

impl TryFrom<String> for AuditAction {
    type Error = UnknownAuditAction;

    fn try_from(s: String) -> Result<AuditAction, UnknownAuditAction> {
        AuditAction::parse(&s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The names entries have been written with since the log began. Signed
    /// entries keep them for life: a rename here would make old entries
    /// unreadable to the reports, so this list only ever grows.
    const WRITTEN: [(AuditAction, &str); 16] = [
        (AuditAction::SpecApply, "spec.apply"),
        (AuditAction::DeploymentCreate, "deployment.create"),
        (AuditAction::DeploymentTransition, "deployment.transition"),
        (AuditAction::DeploymentRefused, "deployment.refused"),
        (AuditAction::ApprovalApprove, "approval.approve"),
        (AuditAction::ApprovalReject, "approval.reject"),
        (AuditAction::IncidentOpen, "incident.open"),
        (AuditAction::IncidentResolve, "incident.resolve"),
        (AuditAction::HistoryImport, "history.import"),
        (AuditAction::TokenCreate, "token.create"),
        (AuditAction::TokenRevoke, "token.revoke"),
        (AuditAction::AuthRefused, "auth.refused"),
        (AuditAction::AuthForbidden, "auth.forbidden"),
        (AuditAction::SloAlertFiring, "slo.alert_firing"),
        (AuditAction::SloAlertResolved, "slo.alert_resolved"),
        (AuditAction::ErrorBudgetExhausted, "slo.budget_exhausted"),
    ];

    #[test]
    fn every_action_keeps_the_name_it_has_always_been_written_with() {
        assert_eq!(
            AuditAction::ALL,
            WRITTEN.map(|(a, _)| a),
            "every action, and only those, in order"
        );
        for (action, name) in WRITTEN {
            assert_eq!(action.as_str(), name);
            assert_eq!(action.to_string(), name);
            assert_eq!(serde_json::to_value(action).unwrap(), name);
        }
    }

    #[test]
    fn every_name_reads_back_as_its_action() {
        for &action in AuditAction::ALL {
            assert_eq!(action.as_str().parse::<AuditAction>(), Ok(action));
            let json = serde_json::to_string(&action).unwrap();
            assert_eq!(serde_json::from_str::<AuditAction>(&json).unwrap(), action);
            let value = serde_json::Value::String(action.to_string());
            assert_eq!(
                serde_json::from_value::<AuditAction>(value).unwrap(),
                action
            );
        }
    }

    #[test]
    fn an_unknown_name_is_refused_with_the_names_it_could_be() {
        for bad in ["deployment.created", "Deployment.Create", "", "approval"] {
            let e = AuditAction::parse(bad).unwrap_err();
            let text = e.to_string();
            assert!(text.contains(&format!("`{bad}`")), "{text}");
            assert!(text.contains("deployment.create, "), "{text}");
            assert!(text.ends_with("slo.budget_exhausted"), "{text}");
            let json = serde_json::Value::String(bad.to_string());
            let e = serde_json::from_value::<AuditAction>(json).unwrap_err();
            assert!(e.to_string().contains("is not an audit action"), "{e}");
        }
    }

    #[test]
    fn a_decision_is_recorded_as_its_approval_action() {
        assert_eq!(
            AuditAction::from(DecisionKind::Approve).as_str(),
            "approval.approve"
        );
        assert_eq!(
            AuditAction::from(DecisionKind::Reject).as_str(),
            "approval.reject"
        );
    }
}
