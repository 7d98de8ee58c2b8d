//! The events a subscription names, and which one an audit entry is: the
//! one place audit actions are mapped to notification events.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::audit::AuditAction;

/// Declares the events once, each with its name in the spec.
macro_rules! notify_events {
    ($($(#[doc = $doc:literal])* $variant:ident => $name:literal,)+) => {
        /// What a notification tells, named in a subscription's `events`.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(into = "&'static str", try_from = "String")]
        pub enum NotifyEvent {
            $($(#[doc = $doc])* $variant,)+
        }

        impl NotifyEvent {
            /// Every event, in declaration order.
            pub const ALL: &'static [NotifyEvent] = &[$(NotifyEvent::$variant,)+];

            /// Its name in the spec.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $(NotifyEvent::$variant => $name,)+
                }
            }

            /// The event `name` spells.
            pub fn parse(name: &str) -> Option<NotifyEvent> {
                match name {
                    $($name => Some(NotifyEvent::$variant),)+
                    _ => None,
                }
            }
        }
    };
}

notify_events! {
    /// A deployment was admitted (`deployment.create`).
    DeploymentRequested => "deployment.requested",
    /// Its traffic started to move: it left the gate.
    DeploymentStarted => "deployment.started",
    /// It moved to another step (or batch) of its plan.
    DeploymentStep => "deployment.step",
    DeploymentSucceeded => "deployment.succeeded",
    DeploymentRolledBack => "deployment.rolled_back",
    /// The new version never became healthy, or the deployment was
    /// rejected, expired or cancelled.
    DeploymentFailed => "deployment.failed",
    /// It waits for approvals.
    ApprovalRequested => "approval.requested",
    /// Someone approved or rejected it.
    ApprovalDecided => "approval.decided",
    /// A production rollback opened an incident (or one was opened by hand).
    IncidentOpened => "incident.opened",
    IncidentResolved => "incident.resolved",
    /// An SLO's burn-rate alert fired.
    AlertFiring => "alert.firing",
    AlertResolved => "alert.resolved",
    /// An SLO's error budget is spent.
    BudgetExhausted => "budget.exhausted",
    /// The audit log failed its verification.
    AuditVerificationFailed => "audit.verification_failed",
}

impl From<NotifyEvent> for &'static str {
    fn from(e: NotifyEvent) -> &'static str {
        e.as_str()
    }
}

impl TryFrom<String> for NotifyEvent {
    type Error = String;

    fn try_from(s: String) -> Result<NotifyEvent, String> {
        NotifyEvent::parse(&s).ok_or_else(|| format!("`{s}` is not a notification event"))
    }
}

impl std::fmt::Display for NotifyEvent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The event an audit entry (its action and details) is, if any: the only
/// mapping from audit actions to events.
pub fn event_of(action: AuditAction, details: &Value) -> Option<NotifyEvent> {
    let phase = |key: &str| details.get(key).and_then(Value::as_str).unwrap_or("");
    match action {
        AuditAction::DeploymentCreate => Some(NotifyEvent::DeploymentRequested),
        AuditAction::DeploymentTransition => {
            let (from, to) = (phase("from"), phase("to"));
            let gate = |p: &str| matches!(p, "pending" | "awaiting_approval");
            match to {
                "awaiting_approval" if from != to => Some(NotifyEvent::ApprovalRequested),
                "succeeded" => Some(NotifyEvent::DeploymentSucceeded),
                "rolled_back" => Some(NotifyEvent::DeploymentRolledBack),
                "failed" | "rejected" | "expired" | "cancelled" => {
                    Some(NotifyEvent::DeploymentFailed)
                }
                "progressing" if gate(from) => Some(NotifyEvent::DeploymentStarted),
                "progressing" if from == to => Some(NotifyEvent::DeploymentStep),
                _ => None,
            }
        }
        AuditAction::ApprovalApprove | AuditAction::ApprovalReject => {
            Some(NotifyEvent::ApprovalDecided)
        }
        AuditAction::IncidentOpen => Some(NotifyEvent::IncidentOpened),
        AuditAction::IncidentResolve => Some(NotifyEvent::IncidentResolved),
        AuditAction::SloAlertFiring => Some(NotifyEvent::AlertFiring),
        AuditAction::SloAlertResolved => Some(NotifyEvent::AlertResolved),
        AuditAction::ErrorBudgetExhausted => Some(NotifyEvent::BudgetExhausted),
        AuditAction::SpecApply
        | AuditAction::DeploymentRefused
        | AuditAction::HistoryImport
        | AuditAction::TokenCreate
        | AuditAction::TokenRevoke
        | AuditAction::AuthRefused
        | AuditAction::AuthForbidden => None,
    }
}
