//! The control plane: the owners of state (the store, the journal, the
//! targets, the workloads, the spec in force) composed in one place. The
//! operations on it are in `operations/`, the reconcile pass in
//! `controller.rs`.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError, RwLock};

use jiff::Timestamp;
use sha2::{Digest, Sha256};
use zion_core::spec::Spec;
use zion_store::{Store, StoreError};

use crate::StartError;
use crate::audit::{AuditError, AuditLog, Record};
use crate::auth::Refusal;
use crate::journal::Journal;
use crate::targets::Targets;
use crate::workloads::Workloads;

/// The control plane.
pub struct App {
    pub store: Arc<dyn Store>,
    pub workloads: Workloads,
    pub base_dir: PathBuf,
    spec: RwLock<Arc<Spec>>,
    /// The SHA-256 of the spec in force's text, once one is applied.
    spec_sha: Mutex<Option<String>>,
    /// The targets' listeners, metrics and routes.
    pub targets: Targets,
    /// The only way to write: rows and their audit entries, under one lock.
    pub journal: Journal,
    /// Wakes the controller at once (after a command): every target is due.
    pub(crate) wake: crate::controller::Wake,
    /// How many times the controller reconciled each target.
    pub(crate) reconciled: crate::controller::Counts,
    /// Refused authentications per (reason, minute), not yet logged.
    refusals: Mutex<BTreeMap<(Refusal, i64), u64>>,
    /// The time every decision and record goes by.
    pub clock: crate::Clock,
    /// The targets this replica drives.
    pub(crate) leases: crate::leases::Leases,
    /// The API's requests and durations, for `GET /metrics`.
    pub(crate) api_counts: crate::telemetry::ApiCounts,
    /// The lifecycle hooks this replica runs.
    pub(crate) hooks: crate::hooks::HookRunner,
    /// How this replica's prometheus SLIs are measured, as shown.
    pub(crate) slo_measurements: crate::slos::Measurements,
}

impl App {
    pub(crate) fn new(
        store: Arc<dyn Store>,
        workloads: Workloads,
        base_dir: PathBuf,
        audit: AuditLog,
        clock: crate::Clock,
        leases: crate::leases::Leases,
    ) -> Self {
        let targets = Targets::new(workloads.clone());
        App {
            journal: Journal::new(store.clone(), audit, clock.clone()),
            clock,
            refusals: Mutex::new(BTreeMap::new()),
            store,
            workloads,
            base_dir,
            spec_sha: Mutex::new(None),
            spec: RwLock::new(Arc::new(Spec {
                server: zion_core::spec::ServerSpec {
                    listen: "127.0.0.1:7070".parse().expect("literal address"),
                    data_dir: ".zion".into(),
                    database: None,
                    github: None,
                },
                environments: Vec::new(),
                services: Vec::new(),
                providers: Default::default(),
                notifications: Default::default(),
                audit: Default::default(),
                console: Default::default(),
                slos: Vec::new(),
            })),
            targets,
            wake: Default::default(),
            reconciled: Default::default(),
            leases,
            api_counts: Default::default(),
            hooks: Default::default(),
            slo_measurements: Default::default(),
        }
    }

    /// This replica's id (see `datadir::replica_id`).
    pub fn replica_id(&self) -> &str {
        self.leases.replica()
    }

    /// How many targets this replica drives now.
    pub fn driven_targets(&self) -> usize {
        self.leases.count()
    }

    /// Takes over the processes a previous holder of the target left on
    /// this host, as they run; returns how many.
    pub(crate) async fn adopt_target(&self, id: &zion_core::target::TargetId) -> usize {
        if let Some(plane) = self.targets.data_plane() {
            // Another replica published this target's routes meanwhile:
            // the next route set here must be written, even if unchanged.
            plane.forget_published(id);
        }
        let spec = self.spec();
        let Some(svc) = spec.service(&id.service) else {
            return 0;
        };
        // Every version is adopted as it runs: the reconcile that follows
        // stops the ones the target's state no longer wants.
        let process = (svc.workload.process.clone(), svc.health.clone());
        let got = self
            .workloads
            .adopt_target(&id.service, &id.environment, |_| Some(process.clone()))
            .await;
        if got.reaped > 0 || got.forgotten > 0 {
            tracing::info!(target = %id, reaped = got.reaped, forgotten = got.forgotten, "cleaned up the processes the target's previous holder left");
        }
        got.adopted
    }

    /// Stops supervising the target's processes without stopping them,
    /// for the replica that drives it next.
    pub(crate) async fn release_target(&self, id: &zion_core::target::TargetId) {
        // Its next driver reads the router's statistics or log from now on.
        if let Some(router) = self.targets.router(id).await {
            router.release();
        }
        let left = self
            .workloads
            .release_target(&id.service, &id.environment)
            .await;
        if left > 0 {
            tracing::info!(target = %id, processes = left, "left the target's processes running for its next holder");
        }
    }

    /// The spec in force.
    pub fn spec(&self) -> Arc<Spec> {
        self.spec.read().expect("spec lock").clone()
    }

    /// Records a spec and brings the targets' listeners in line with it.
    pub async fn apply_spec(&self, spec: Spec, yaml: &str, actor: &str) -> Result<(), StartError> {
        let sha = hex::encode(Sha256::digest(yaml.as_bytes()));
        self.targets.bind(&spec).await?;
        // The spec in force is the last one stored (the in-memory one is a
        // placeholder until the first apply): the same text again changes
        // nothing and records nothing, so a restart logs no spec change.
        let previous = self.store.latest_spec()?;
        if previous.as_ref().is_some_and(|p| p.sha256_hex == sha) {
            self.put_spec(spec, sha);
            return Ok(());
        }
        let before = previous
            .and_then(|p| zion_core::spec::parse_spec(&p.yaml).ok())
            .map_or(serde_json::Value::Object(Default::default()), |s| {
                serde_json::to_value(&s).unwrap_or_default()
            });
        let after = serde_json::to_value(&spec).unwrap_or_default();
        let mut changed = Vec::new();
        changed_paths("", &before, &after, &mut changed);
        let record = Record::new(
            actor,
            zion_core::audit::AuditAction::SpecApply,
            "spec",
            serde_json::json!({"sha256": sha, "changed_paths": changed}),
        );
        let now = self.clock.now();
        self.journal
            .commit_with(&[record], now, |store, audit| {
                store
                    .save_spec(yaml, &sha, actor, now, audit)
                    .map_err(AuditError::from)
            })
            .await
            .map_err(|e| match e {
                AuditError::Store(e) if !matches!(e, StoreError::AuditOutOfOrder { .. }) => {
                    StartError::Store(e)
                }
                e => StartError::Audit {
                    message: e.to_string(),
                },
            })?;
        self.put_spec(spec, sha);
        Ok(())
    }

    /// Puts `spec` in force and lets the controller and the lease loop
    /// see it at once.
    fn put_spec(&self, spec: Spec, sha: String) {
        self.journal.audit.set_notifications(&spec.notifications);
        *self.spec.write().expect("spec lock") = Arc::new(spec);
        *self.spec_sha.lock().unwrap_or_else(PoisonError::into_inner) = Some(sha);
        self.wake.notify_one();
        self.leases.nudge.notify_one();
    }

    /// Puts in force the spec another replica of Zion recorded since this
    /// one applied its own (replicas share the spec through the database).
    pub(crate) async fn follow_spec(&self) {
        let latest = match self.store.latest_spec() {
            Ok(Some(latest)) => latest,
            Ok(None) => return,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the recorded spec");
                return;
            }
        };
        let current = self
            .spec_sha
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        if current.as_deref() == Some(latest.sha256_hex.as_str()) {
            return;
        }
        let spec = match zion_core::spec::parse_spec(&latest.yaml) {
            Ok(spec) => spec,
            Err(errs) => {
                tracing::error!(errors = %errs.to_string().trim_end(), "the spec another replica recorded does not parse here; keeping this one's");
                return;
            }
        };
        if let Err(e) = self.targets.bind(&spec).await {
            tracing::error!(error = %e, "cannot bind the listeners of the spec another replica recorded; keeping this one's");
            return;
        }
        tracing::info!(sha256 = %latest.sha256_hex, applied_by = %latest.applied_by, "following the spec another replica recorded");
        self.put_spec(spec, latest.sha256_hex);
    }

    /// Whether `environment` is a production one (for the incidents a
    /// change opens and for the audit entry of a creation).
    pub(crate) fn production(&self, environment: &str) -> bool {
        self.spec()
            .environment(environment)
            .is_some_and(|e| e.production)
    }

    /// Counts a refused authentication; the counts are logged once per
    /// principal and minute (see [`App::flush_refusals`]), so a flood of
    /// bad tokens cannot bloat the log.
    pub(crate) fn refused(&self, why: Refusal) {
        let mut counts = self.refusals.lock().unwrap_or_else(PoisonError::into_inner);
        // Read under the lock, as the flush reads it: a count can never land
        // in a minute that a flush has already logged.
        let minute = self.clock.now().as_second().div_euclid(60);
        *counts.entry((why, minute)).or_insert(0) += 1;
    }

    /// Logs the refusal counts of every minute that has ended (of every
    /// minute, when `force`d at shutdown).
    pub(crate) async fn flush_refusals(&self, force: bool) {
        // Taken out under the lock and logged without it, so that requests
        // being refused meanwhile do not wait for the disk.
        let (now, done) = {
            let mut counts = self.refusals.lock().unwrap_or_else(PoisonError::into_inner);
            let now = self.clock.now();
            let current = now.as_second().div_euclid(60);
            let keys: Vec<(Refusal, i64)> = counts
                .keys()
                .filter(|(_, m)| force || *m < current)
                .cloned()
                .collect();
            let done: Vec<((Refusal, i64), u64)> = keys
                .into_iter()
                .filter_map(|k| counts.remove(&k).map(|n| (k, n)))
                .collect();
            (now, done)
        };
        if done.is_empty() {
            return;
        }
        let records: Vec<Record> = done
            .iter()
            .map(|((why, minute), count)| {
                let at = Timestamp::from_second(minute * 60).unwrap_or(now);
                let who = why.principal();
                let mut details = why.details();
                details["minute"] = serde_json::json!(at);
                details["count"] = serde_json::json!(count);
                Record::new(who, why.action(), format!("principal/{who}"), details)
            })
            .collect();
        if let Err(e) = self.journal.record(&records, now).await {
            // Reported rather than retried: a broken log would fail each tick.
            let refused: u64 = done.iter().map(|(_, n)| n).sum();
            tracing::error!(error = %e, refused, "could not log refused authentications");
        }
    }

    /// How many times the controller has reconciled the target since the
    /// server started (an idle target is not reconciled on every tick).
    pub fn reconciles(&self, service: &str, environment: &str) -> u64 {
        self.reconciled.get(service, environment)
    }

    /// Stops every replica and listener (graceful shutdown), after logging
    /// the refusals of requests that were still being answered when the
    /// controller made its last flush.
    pub async fn stop_everything(&self) {
        self.flush_refusals(true).await;
        self.workloads.stop_all().await;
        self.targets.shutdown().await;
    }

    /// The end of a clean stop, once the targets were handed over to the
    /// other live replicas (`leases::retire`, which says whether there were
    /// any: then their processes are left running for them) or their
    /// leases released: else stops everything.
    pub(crate) async fn stop(&self, handed_over: bool) {
        if handed_over {
            self.flush_refusals(true).await;
            self.targets.shutdown().await;
        } else {
            self.stop_everything().await;
        }
    }
}

/// The dotted paths at which two JSON documents differ (`services[0].canary.steps`).
fn changed_paths(at: &str, a: &serde_json::Value, b: &serde_json::Value, out: &mut Vec<String>) {
    use serde_json::Value;
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let keys: std::collections::BTreeSet<&String> = x.keys().chain(y.keys()).collect();
            for k in keys {
                let path = if at.is_empty() {
                    k.clone()
                } else {
                    format!("{at}.{k}")
                };
                changed_paths(
                    &path,
                    x.get(k).unwrap_or(&Value::Null),
                    y.get(k).unwrap_or(&Value::Null),
                    out,
                );
            }
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => {
            for (i, (p, q)) in x.iter().zip(y).enumerate() {
                changed_paths(&format!("{at}[{i}]"), p, q, out);
            }
        }
        _ if a != b => out.push(if at.is_empty() {
            "(root)".into()
        } else {
            at.to_string()
        }),
        _ => {}
    }
}
