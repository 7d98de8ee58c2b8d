//! Approvals and rejections of a deployment, and what waits for them.

use zion_core::api::{AwaitingApproval, DeploymentView};
use zion_core::deployment::{Deployment, Phase};
use zion_core::governance::DecisionKind;
use zion_core::governance::approvals::{self, still_needed};
use zion_core::spec::Role;

use crate::app::App;
use crate::audit::Record;
use crate::auth::Principal;
use crate::error::ApiError;

/// Whether `d` waits for approvals it has not got yet.
pub(crate) fn waits_for_approval(d: &Deployment) -> bool {
    matches!(d.phase, Phase::Pending | Phase::AwaitingApproval)
        && d.gate.approvals_required > 0
        && !d.gate.approved()
}

impl App {
    /// Deployments waiting for approvals, each saying whether `caller` may
    /// give one (and if not, why).
    pub fn awaiting_approval(&self, caller: &Principal) -> Result<Vec<AwaitingApproval>, ApiError> {
        Ok(self
            .store
            .active_deployments()?
            .into_iter()
            .filter(waits_for_approval)
            .map(|d| {
                let why_not = why_not(&d, caller);
                AwaitingApproval {
                    deployment: DeploymentView::of(&d),
                    you_may_approve: why_not.is_none(),
                    why_not,
                    still_needed: still_needed(&d),
                }
            })
            .collect())
    }

    /// Records an approval or a rejection by `by`.
    pub async fn decide(
        &self,
        id: i64,
        kind: DecisionKind,
        comment: Option<&str>,
        via: &str,
        principal: &Principal,
    ) -> Result<Deployment, ApiError> {
        let d = self.load(id)?;
        let production = self.production(&d.environment);
        let now = self.clock.now();
        let d = self
            .journal
            .change(id, production, None, |d| {
                let out =
                    approvals::decide(d, kind, principal, via, comment, now).map_err(|e| {
                        if e.is_forbidden() {
                            ApiError::forbidden(e.to_string())
                        } else {
                            ApiError::conflict(e.to_string())
                        }
                    })?;
                let record = Record::new(
                    principal.name.clone(),
                    zion_core::audit::AuditAction::from(kind),
                    format!("deployment/{id}"),
                    serde_json::json!({
                        "service": d.service,
                        "environment": d.environment,
                        "version": d.version,
                        "decision": kind.name(),
                        "comment": comment,
                        "via": via,
                        "role": principal.role,
                    }),
                );
                Ok(Some((out, vec![record])))
            })
            .await?;
        tracing::info!(id, decision = kind.name(), by = %principal.name, %via, phase = %d.phase, "decision recorded");
        self.wake.notify_one();
        Ok(d)
    }
}

/// Why `p` could not approve `d` now, or None when they could.
fn why_not(d: &Deployment, p: &Principal) -> Option<String> {
    let g = &d.gate;
    if p.role == Role::Viewer || !g.approval_roles.contains(&p.role) {
        let roles: Vec<&str> = g.approval_roles.iter().map(|r| r.name()).collect();
        return Some(format!("needs role {}", roles.join(" or ")));
    }
    if g.prevent_self_approval && d.requested_by == p.name {
        return Some("you requested it".into());
    }
    if let Some(prev) = g.decisions.iter().find(|x| x.principal == p.name) {
        return Some(format!("you already decided ({})", prev.kind.name()));
    }
    None
}
