//! The manual commands on a deployment (pause, resume, promote, abort…).

use zion_core::deployment::Deployment;
use zion_core::rollout::{self, Command, PreviewSeen};

use crate::app::App;
use crate::auth::Principal;
use crate::error::ApiError;

impl App {
    /// Applies a manual command; persisted before anything moves.
    pub async fn command(
        &self,
        id: i64,
        cmd: Command,
        principal: &Principal,
    ) -> Result<Deployment, ApiError> {
        // The metrics are the target's, read before the lock: the
        // deployment itself is read again under it.
        let d = self.load(id)?;
        let metrics = self.targets.traffic(&d.service, &d.environment).await;
        // Only the target's driver probes its replicas; another replica
        // judges a promote by what the driver last recorded.
        let drives = self
            .leases
            .drives(&crate::targets::TargetId::new(&d.service, &d.environment));
        let production = self.production(&d.environment);
        let now = self.clock.now();
        let d = self
            .journal
            .change(id, production, None, |d| {
                if matches!(cmd, Command::Promote | Command::PromoteFull) && !d.phase.is_terminal()
                {
                    let new_version = metrics.as_ref().and_then(|m| {
                        crate::controller::observe(&self.workloads, d, m, now).new_version
                    });
                    let preview = if drives {
                        PreviewSeen::Live(new_version.as_ref())
                    } else {
                        PreviewSeen::Recorded
                    };
                    rollout::check_promotable(d, preview)
                        .map_err(|e| ApiError::conflict(e.to_string()))?;
                }
                let out = rollout::command(d, cmd, &principal.name, now)
                    .map_err(|e| ApiError::conflict(e.to_string()))?;
                Ok(Some((out, Vec::new())))
            })
            .await?;
        tracing::info!(id, command = cmd.name(), by = %principal.name, phase = %d.phase, "command applied");
        self.wake.notify_one();
        Ok(d)
    }

    /// A deployment or a 404 naming the id.
    pub fn load(&self, id: i64) -> Result<Deployment, ApiError> {
        self.store.deployment(id)?.ok_or_else(|| {
            ApiError::not_found(format!(
                "no deployment {id}; `zion history` lists deployments"
            ))
        })
    }
}
