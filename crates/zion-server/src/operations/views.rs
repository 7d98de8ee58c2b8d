//! What the read routes show: the views of recorded state (deployments,
//! a deployment's detail, each target's status, the spec in force), read
//! here so that the handlers only parse, authorize, call and return.

use zion_core::api::{
    DeploymentDetail, DeploymentView, ReplicaView, RunningVersion, SpecView, TargetView,
    VersionRole,
};
use zion_store::DeploymentFilter;

use crate::app::App;
use crate::error::ApiError;

impl App {
    /// The deployments `filter` selects, newest first.
    pub fn deployment_views(
        &self,
        filter: &DeploymentFilter,
    ) -> Result<Vec<DeploymentView>, ApiError> {
        let list = self.store.deployments(filter)?;
        Ok(list.iter().map(DeploymentView::of).collect())
    }

    /// Deployment `id` with its events and rounds, or a 404 naming it.
    pub fn deployment_detail(&self, id: i64) -> Result<DeploymentDetail, ApiError> {
        let d = self.load(id)?;
        let events = self.store.events(id)?;
        let rounds = self.store.rounds(id)?;
        Ok(DeploymentDetail::of(&d, &events, &rounds))
    }

    /// Every target the spec declares: its listeners, stable version,
    /// active deployment and the versions running, with their traffic.
    pub async fn target_views(&self) -> Result<Vec<TargetView>, ApiError> {
        let spec = self.spec();
        let addrs = self.targets.addrs().await;
        let previews = self.targets.preview_addrs().await;
        let active = self.store.active_deployments()?;
        let drivers: std::collections::BTreeMap<crate::targets::TargetId, String> = self
            .store
            .leases()?
            .into_iter()
            .filter(|l| l.is_live())
            .map(|l| {
                (
                    crate::targets::TargetId::new(l.service, l.environment),
                    l.holder,
                )
            })
            .collect();
        let mut out = Vec::new();
        for svc in &spec.services {
            for (env, t) in &svc.targets {
                let id = crate::targets::TargetId::new(&svc.name, env);
                let stable = self.store.stable_version(&svc.name, env)?;
                let current = active
                    .iter()
                    .find(|d| d.service == svc.name && &d.environment == env);
                let mut versions = Vec::new();
                if !self.leases.drives(&id) {
                    // Another replica of `zion up` supervises them: what the
                    // database records of them (no readiness or restarts:
                    // those are the driver's to know).
                    versions = self.recorded_versions(&id, stable.as_deref()).await?;
                }
                for key in self.workloads.running_in(&svc.name, env) {
                    let st = self.workloads.status(&key);
                    let (requests, errors) = self
                        .targets
                        .traffic_totals(&id, &key.version)
                        .await
                        .unwrap_or((0, 0));
                    let role = if Some(&key.version) == stable.as_ref() {
                        VersionRole::Stable
                    } else {
                        VersionRole::Canary
                    };
                    versions.push(RunningVersion {
                        version: key.version.clone(),
                        role,
                        replicas: st.as_ref().map(|s| s.desired),
                        ready: st.as_ref().map(|s| s.ready),
                        restarts: st
                            .as_ref()
                            .map(|s| s.replicas.iter().map(|r| r.restarts).sum::<u32>()),
                        pids: st
                            .as_ref()
                            .map(|s| s.replicas.iter().filter_map(|r| r.pid).collect()),
                        ports: st
                            .as_ref()
                            .map(|s| s.replicas.iter().map(|r| r.port).collect()),
                        cpu_percent: st.as_ref().and_then(|s| s.cpu_percent),
                        memory_mb: st.as_ref().and_then(|s| s.memory_mb),
                        requests,
                        errors,
                    });
                }
                let router = self.targets.router(&id).await;
                let listen = match (t.router.describe(), addrs.get(&id).copied().or(t.listen)) {
                    (Some(router), _) => router,
                    (None, Some(addr)) => addr.to_string(),
                    (None, None) => String::new(),
                };
                out.push(TargetView {
                    service: svc.name.clone(),
                    environment: env.clone(),
                    listen,
                    preview: previews.get(&id).map(|a| a.to_string()),
                    strategy: svc.strategy.into(),
                    stable_version: stable,
                    deployment: current.map(DeploymentView::of),
                    versions,
                    driven_by: drivers.get(&id).cloned(),
                    router_error: router.and_then(|r| r.last_error()),
                });
            }
        }
        Ok(out)
    }

    /// The versions of a target this replica does not drive, from the
    /// processes the database records for it.
    async fn recorded_versions(
        &self,
        id: &crate::targets::TargetId,
        stable: Option<&str>,
    ) -> Result<Vec<RunningVersion>, ApiError> {
        let mut by_version: std::collections::BTreeMap<String, Vec<(u32, u16)>> =
            std::collections::BTreeMap::new();
        for p in self.store.processes()? {
            if p.service == id.service && p.environment == id.environment {
                by_version
                    .entry(p.version)
                    .or_default()
                    .push((p.pid, p.port));
            }
        }
        let mut out = Vec::new();
        for (version, procs) in by_version {
            let (requests, errors) = self
                .targets
                .traffic_totals(id, &version)
                .await
                .unwrap_or((0, 0));
            out.push(RunningVersion {
                role: if Some(version.as_str()) == stable {
                    VersionRole::Stable
                } else {
                    VersionRole::Canary
                },
                replicas: Some(procs.len() as u32),
                ready: None,
                restarts: None,
                pids: Some(procs.iter().map(|(pid, _)| *pid).collect()),
                ports: Some(procs.iter().map(|(_, port)| *port).collect()),
                cpu_percent: None,
                memory_mb: None,
                requests,
                errors,
                version,
            });
        }
        Ok(out)
    }

    /// Every replica of Zion on this database with its last heartbeat and
    /// how many targets it drives.
    pub fn replica_views(&self) -> Result<Vec<ReplicaView>, ApiError> {
        let leases = self.store.leases()?;
        let ttl = self.leases.ttl();
        Ok(self
            .store
            .replicas()?
            .into_iter()
            .map(|b| ReplicaView {
                targets: leases
                    .iter()
                    .filter(|l| l.is_live() && l.holder == b.id)
                    .count(),
                live: b.is_live(ttl),
                heartbeat_age_seconds: b.read_at.duration_since(b.last_heartbeat).as_secs_f64(),
                answering: b.id == self.replica_id(),
                last_heartbeat: b.last_heartbeat,
                id: b.id,
            })
            .collect())
    }

    /// The spec last applied, as stored (every field None before any).
    pub fn spec_view(&self) -> Result<SpecView, ApiError> {
        let stored = self.store.latest_spec()?;
        Ok(SpecView {
            yaml: stored.as_ref().map(|s| s.yaml.clone()),
            sha256: stored.as_ref().map(|s| s.sha256_hex.clone()),
            applied_by: stored.as_ref().map(|s| s.applied_by.clone()),
            applied_at: stored.as_ref().map(|s| s.applied_at),
        })
    }
}
