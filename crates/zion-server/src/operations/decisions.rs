//! Approvals and rejections of a deployment.

use zion_core::deployment::Deployment;
use zion_core::governance::DecisionKind;
use zion_core::governance::approvals::{self, Decider};

use crate::app::App;
use crate::audit::Record;
use crate::auth::Principal;
use crate::error::ApiError;

impl App {
    /// Records an approval or a rejection by `by`.
    pub async fn decide(
        &self,
        id: i64,
        kind: DecisionKind,
        comment: Option<&str>,
        via: &str,
        by: &Principal,
    ) -> Result<Deployment, ApiError> {
        let d = self.load(id)?;
        let production = self.production(&d.environment);
        let now = self.clock.now();
        let d = self
            .journal
            .change(id, production, |d| {
                let who = Decider {
                    name: &by.name,
                    role: by.role,
                    via,
                };
                let out = approvals::decide(d, kind, &who, comment, now).map_err(|e| {
                    if e.is_forbidden() {
                        ApiError::forbidden(e.to_string())
                    } else {
                        ApiError::conflict(e.to_string())
                    }
                })?;
                let record = Record::new(
                    by.name.clone(),
                    zion_core::audit::AuditAction::from(kind),
                    format!("deployment/{id}"),
                    serde_json::json!({
                        "decision": kind.name(),
                        "comment": comment,
                        "via": via,
                        "role": by.role,
                    }),
                );
                Ok(Some((out, vec![record])))
            })
            .await?;
        tracing::info!(id, decision = kind.name(), by = %by.name, %via, phase = %d.phase, "decision recorded");
        self.wake.notify_one();
        Ok(d)
    }
}
