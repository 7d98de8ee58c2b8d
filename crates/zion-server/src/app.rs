//! The control plane's shared state and the operations the API and the
//! controller both use. Every change of a deployment goes through
//! `transition`, which persists first and only then lets the controller act.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError, RwLock};

use jiff::Timestamp;
use sha2::{Digest, Sha256};
use tokio::sync::Notify;
use zion_core::deployment::{Deployment, DeploymentType, Event, Phase, Plan, Progress};
use zion_core::governance::DecisionKind;
use zion_core::governance::approvals::{self, Decider};
use zion_core::governance::quality::Evidence;
use zion_core::rollout::{self, Command};
use zion_core::spec::{ServiceSpec, Spec, Strategy};
use zion_providers::ProcessWorkloads;
use zion_store::{DeploymentFilter, Store, StoreError};

use crate::StartError;
use crate::audit::{AuditError, AuditLog, Record};
use crate::auth::{Principal, Refusal};
use crate::error::ApiError;
use crate::gatekeeper::{Admitted, GateRequest, Subject};
use crate::journal::Journal;
use crate::targets::Targets;

/// What a deployment request carries.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeployRequest {
    pub service: String,
    pub environment: String,
    pub version: String,
    #[serde(default)]
    pub strategy: Option<Strategy>,
    #[serde(default, rename = "type")]
    pub kind: Option<DeploymentType>,
    /// Outside the window: wait pending for it instead of being refused.
    #[serde(default)]
    pub wait_for_window: bool,
    /// Admin only: skip windows, freezes, approvals and checks, saying why.
    #[serde(default)]
    pub break_glass: Option<String>,
    /// The artifact's expected SHA-256, hex.
    #[serde(default)]
    pub sha256: Option<String>,
    /// Release evidence (test results, coverage, findings) that the
    /// environment's quality gates judge.
    #[serde(default)]
    pub evidence: Option<Evidence>,
    /// The commit the version was built from (hex).
    #[serde(default)]
    pub commit: Option<String>,
    /// When that commit was made.
    #[serde(default)]
    pub committed_at: Option<Timestamp>,
}

/// The control plane.
pub struct App {
    pub store: Arc<dyn Store>,
    pub workloads: ProcessWorkloads,
    pub base_dir: PathBuf,
    spec: RwLock<Arc<Spec>>,
    /// The targets' listeners, metrics and routes.
    pub targets: Targets,
    /// The only way to write: rows and their audit entries, under one lock.
    pub journal: Journal,
    /// Wakes the controller at once (after a command).
    pub(crate) wake: Notify,
    /// Refused authentications per (reason, minute), not yet logged.
    refusals: Mutex<BTreeMap<(Refusal, i64), u64>>,
    /// The time every decision and record goes by.
    pub clock: crate::Clock,
}

impl App {
    pub(crate) fn new(
        store: Arc<dyn Store>,
        workloads: ProcessWorkloads,
        base_dir: PathBuf,
        audit: AuditLog,
        clock: crate::Clock,
    ) -> Self {
        let targets = Targets::new(workloads.clone());
        App {
            journal: Journal::new(store.clone(), audit, clock.clone()),
            clock,
            refusals: Mutex::new(BTreeMap::new()),
            store,
            workloads,
            base_dir,
            spec: RwLock::new(Arc::new(Spec {
                server: zion_core::spec::ServerSpec {
                    listen: "127.0.0.1:7070".parse().expect("literal address"),
                    data_dir: ".zion".into(),
                    github: None,
                },
                environments: Vec::new(),
                services: Vec::new(),
                audit: Default::default(),
            })),
            targets,
            wake: Notify::new(),
        }
    }

    /// The spec in force.
    pub fn spec(&self) -> Arc<Spec> {
        self.spec.read().expect("spec lock").clone()
    }

    /// Records a spec and brings the targets' listeners in line with it.
    pub async fn apply_spec(&self, spec: Spec, yaml: &str, by: &str) -> Result<(), StartError> {
        let sha = hex::encode(Sha256::digest(yaml.as_bytes()));
        self.targets.bind(&spec).await?;
        // The spec in force is the last one stored (the in-memory one is a
        // placeholder until the first apply): the same text again changes
        // nothing and records nothing, so a restart logs no spec change.
        let previous = self.store.latest_spec()?;
        if previous.as_ref().is_some_and(|p| p.sha256_hex == sha) {
            *self.spec.write().expect("spec lock") = Arc::new(spec);
            self.wake.notify_one();
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
            by,
            zion_core::audit::AuditAction::SpecApply,
            "spec",
            serde_json::json!({"sha256": sha, "changed_paths": changed}),
        );
        let now = self.clock.now();
        self.journal
            .commit_with(&[record], now, |store, audit| {
                store
                    .save_spec(yaml, &sha, by, now, audit)
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
        *self.spec.write().expect("spec lock") = Arc::new(spec);
        self.wake.notify_one();
        Ok(())
    }

    /// Whether `environment` is a production one (for the incidents a
    /// change opens and for the audit entry of a creation).
    pub(crate) fn production(&self, environment: &str) -> bool {
        self.spec()
            .environment(environment)
            .is_some_and(|e| e.production)
    }

    fn lookup(
        &self,
        service: &str,
        environment: &str,
    ) -> Result<(Arc<Spec>, ServiceSpec), ApiError> {
        let spec = self.spec();
        let Some(svc) = spec.service(service).cloned() else {
            let known: Vec<&str> = spec.services.iter().map(|s| s.name.as_str()).collect();
            return Err(ApiError::not_found(format!(
                "unknown service `{}`; the spec declares: {}",
                crate::error::excerpt(service),
                list_or_none(&known)
            )));
        };
        if spec.environment(environment).is_none() {
            let known: Vec<&str> = spec.environments.iter().map(|e| e.name.as_str()).collect();
            return Err(ApiError::not_found(format!(
                "unknown environment `{}`; the spec declares: {}",
                crate::error::excerpt(environment),
                list_or_none(&known)
            )));
        }
        if !svc.targets.contains_key(environment) {
            let known: Vec<&str> = svc.targets.keys().map(String::as_str).collect();
            return Err(ApiError::not_found(format!(
                "service `{service}` has no target in `{environment}`; it runs in: {}",
                list_or_none(&known)
            )));
        }
        Ok((spec, svc))
    }

    /// Creates a deployment (phase pending) after checking the request.
    pub async fn deploy(&self, req: DeployRequest, by: &Principal) -> Result<Deployment, ApiError> {
        let (spec, svc) = self.lookup(&req.service, &req.environment)?;
        check_version(&req.version)?;
        let strategy = req.strategy.unwrap_or(svc.strategy);
        let kind = req.kind.unwrap_or(DeploymentType::Feature);
        if kind == DeploymentType::Rollback {
            // Rollbacks skip the quality gates and `requires` because they
            // return to a version that already ran here: hold them to it.
            if !self
                .store
                .has_succeeded(&req.service, &req.environment, &req.version)?
            {
                return Err(ApiError::conflict(format!(
                    "--type rollback is for a version that already succeeded on {}/{}, and {} never did; deploy it as a feature, hotfix or config change, or use `zion rollback {} --env {}` to return to an earlier version",
                    req.service, req.environment, req.version, req.service, req.environment
                )));
            }
        }
        let admitted = self.admit_request(&spec, &svc, &req, kind, by).await?;
        let stable = self.store.stable_version(&req.service, &req.environment)?;
        if stable.as_deref() == Some(req.version.as_str()) {
            return Err(ApiError::conflict(format!(
                "{} is already the stable version of {}/{}; nothing to deploy",
                req.version, req.service, req.environment
            )));
        }
        let plan = if stable.is_none() || kind == DeploymentType::Rollback {
            Plan::direct(&svc)
        } else {
            Plan::for_strategy(strategy, &svc)
        };
        let req = DeployRequest {
            kind: Some(kind),
            ..req
        };
        self.create(&req, stable, plan, admitted, by).await
    }

    async fn admit_request(
        &self,
        spec: &Spec,
        svc: &ServiceSpec,
        req: &DeployRequest,
        kind: DeploymentType,
        by: &Principal,
    ) -> Result<Admitted, ApiError> {
        let env = spec.environment(&req.environment).ok_or_else(|| {
            ApiError::not_found(format!("unknown environment `{}`", req.environment))
        })?;
        let subject = Subject {
            service: svc,
            environment: env,
            version: &req.version,
            kind,
            expected_sha256: req.sha256.as_deref(),
        };
        let gate_req = GateRequest {
            wait_for_window: req.wait_for_window,
            break_glass: req.break_glass.clone(),
            sha256: req.sha256.clone(),
            evidence: req.evidence.clone(),
            commit: req.commit.clone(),
        };
        let admitted = self.admit(&subject, &gate_req, by, self.clock.now()).await;
        if let Err(e) = &admitted
            && e.status == axum::http::StatusCode::CONFLICT
        {
            self.record_refusal(req, kind, by, e).await;
        }
        admitted
    }

    /// A deployment refused by the environment's policy (requires, window,
    /// freeze, pre-checks, quality gates) is an audit entry of its own:
    /// nothing else is stored, but the attempt and its reason are evidence.
    async fn record_refusal(
        &self,
        req: &DeployRequest,
        kind: DeploymentType,
        by: &Principal,
        e: &ApiError,
    ) {
        // Now, not when the request arrived: the checks may have taken
        // seconds, and the log's times must not go backwards.
        let now = self.clock.now();
        let record = Record::new(
            by.name.clone(),
            zion_core::audit::AuditAction::DeploymentRefused,
            format!("target/{}/{}", req.service, req.environment),
            serde_json::json!({
                "service": req.service,
                "environment": req.environment,
                "version": req.version,
                "type": kind,
                "refused_by": e.code,
                "reason": e.message,
                "evidence": req.evidence,
                "commit": req.commit,
            }),
        );
        if let Err(err) = self.journal.record(&[record], now).await {
            tracing::error!(error = %err, "could not log a refused deployment");
        }
    }

    /// A new deployment of the last succeeded version before the current
    /// one (or `to`), switched over directly once healthy.
    pub async fn rollback(
        &self,
        service: &str,
        environment: &str,
        to: Option<String>,
        break_glass: Option<String>,
        by: &Principal,
    ) -> Result<Deployment, ApiError> {
        let (spec, svc) = self.lookup(service, environment)?;
        let stable = self.store.stable_version(service, environment)?;
        let Some(current) = stable.clone() else {
            return Err(ApiError::conflict(format!(
                "{service}/{environment} has no stable version yet; nothing to roll back"
            )));
        };
        let history = self.store.succeeded(service, environment, 200)?;
        let target = match to {
            Some(v) => {
                check_version(&v)?;
                if v == current {
                    return Err(ApiError::conflict(format!(
                        "{v} is already the stable version of {service}/{environment}"
                    )));
                }
                if !history.iter().any(|d| d.version == v) {
                    return Err(ApiError::not_found(format!(
                        "{v} never succeeded on {service}/{environment}; `zion history {service} --env {environment}` lists the versions that did"
                    )));
                }
                v
            }
            None => match history.iter().find(|d| d.version != current) {
                Some(d) => d.version.clone(),
                None => {
                    return Err(ApiError::conflict(format!(
                        "{service}/{environment} has no earlier succeeded version than {current} to roll back to"
                    )));
                }
            },
        };
        let req = DeployRequest {
            service: service.into(),
            environment: environment.into(),
            version: target,
            // A rollback runs a direct plan whatever the service's strategy.
            strategy: None,
            kind: Some(DeploymentType::Rollback),
            wait_for_window: false,
            break_glass,
            sha256: None,
            evidence: None,
            commit: None,
            committed_at: None,
        };
        let admitted = self
            .admit_request(&spec, &svc, &req, DeploymentType::Rollback, by)
            .await?;
        self.create(&req, stable, Plan::direct(&svc), admitted, by)
            .await
    }

    async fn create(
        &self,
        req: &DeployRequest,
        stable: Option<String>,
        plan: Plan,
        admitted: Admitted,
        by: &Principal,
    ) -> Result<Deployment, ApiError> {
        let Admitted { gate, note } = admitted;
        let now = self.clock.now();
        let kind = req.kind.unwrap_or(DeploymentType::Feature);
        let how = if let Some(bg) = plan.blue_green_plan() {
            let promote = match bg.auto_promotion {
                Some(after) => format!(
                    "promoted by itself {} after the preview is ready",
                    zion_core::duration::format_duration(after)
                ),
                None => "promoted with `zion promote`".to_string(),
            };
            format!(
                "blue-green: {} replicas beside the old version, {promote}",
                plan.replicas()
            )
        } else if let Some(r) = plan.rolling_plan() {
            format!(
                "rolling: {} batches of {} of {} replicas",
                r.batches(plan.replicas()),
                r.batch,
                plan.replicas()
            )
        } else if plan.steps().is_empty() {
            "switch all traffic once healthy".to_string()
        } else {
            let weights: Vec<String> = plan
                .steps()
                .iter()
                .map(|s| format!("{}%", s.weight))
                .collect();
            format!("canary {}", weights.join(" → "))
        };
        let mut reason = format!(
            "{} requested by {}: {} {} → {} ({how})",
            kind.name(),
            by.name,
            req.service,
            stable.as_deref().unwrap_or("(none)"),
            req.version
        );
        if let Some(note) = note {
            reason.push_str(&format!("; {note}"));
        }
        if let Some(bg) = &gate.break_glass {
            reason.push_str(&format!("; BREAK GLASS by {}: {}", bg.by, bg.reason));
        } else {
            let passed: Vec<&str> = gate.check_results.iter().map(|r| r.check.name()).collect();
            if !passed.is_empty() {
                reason.push_str(&format!("; pre-checks passed: {}", passed.join(", ")));
            }
        }
        let d = Deployment {
            id: 0,
            service: req.service.clone(),
            environment: req.environment.clone(),
            version: req.version.clone(),
            previous_version: stable,
            kind,
            phase: Phase::Pending,
            step: None,
            canary_weight: 0,
            requested_by: by.name.clone(),
            created_at: now,
            started_at: None,
            finished_at: None,
            reason: Some(reason.clone()),
            plan,
            progress: Progress::default(),
            gate,
            // An empty summary is no evidence; one commit is written one way.
            evidence: req.evidence.clone().filter(|e| !e.is_empty()),
            commit: req.commit.as_deref().map(|c| c.trim().to_ascii_lowercase()),
            committed_at: req.committed_at,
            revision: 1,
        };
        let first = Event {
            at: now,
            from_phase: Phase::Pending,
            to_phase: Phase::Pending,
            step: None,
            canary_weight: 0,
            actor: by.name.clone(),
            reason,
        };
        let production = self.production(&d.environment);
        // The plan was chosen for the stable version read before: if it
        // changed meanwhile, the request is decided again.
        let expected = d.previous_version.clone();
        let stored = self
            .journal
            .create(&d, &first, production, |store| {
                let now = store.stable_version(&d.service, &d.environment)?;
                if now != expected {
                    return Err(ApiError::conflict(format!(
                        "the stable version of {}/{} changed while the request was decided (now {}); try again",
                        d.service,
                        d.environment,
                        now.as_deref().unwrap_or("none")
                    )));
                }
                Ok(())
            })
            .await?;
        tracing::info!(id = stored.id, service = %stored.service, environment = %stored.environment, version = %stored.version, by = %by.name, "deployment created");
        self.wake.notify_one();
        Ok(stored)
    }

    /// Applies a manual command; persisted before anything moves.
    pub async fn command(
        &self,
        id: i64,
        cmd: Command,
        by: &Principal,
    ) -> Result<Deployment, ApiError> {
        // The metrics are the target's, read before the lock: the
        // deployment itself is read again under it.
        let d = self.load(id)?;
        let metrics = self.targets.metrics(&d.service, &d.environment).await;
        let production = self.production(&d.environment);
        let now = self.clock.now();
        let d = self
            .journal
            .change(id, production, |d| {
                if matches!(cmd, Command::Promote | Command::PromoteFull) && !d.phase.is_terminal()
                {
                    let canary = metrics
                        .and_then(|m| crate::controller::observe(&self.workloads, d, &m).canary);
                    rollout::check_promotable(d, canary.as_ref())
                        .map_err(|e| ApiError::conflict(e.to_string()))?;
                }
                let out = rollout::command(d, cmd, &by.name, now)
                    .map_err(|e| ApiError::conflict(e.to_string()))?;
                Ok(Some((out, Vec::new())))
            })
            .await?;
        tracing::info!(id, command = cmd.name(), by = %by.name, phase = %d.phase, "command applied");
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

    /// Lists deployments, newest first.
    pub fn deployments(&self, filter: &DeploymentFilter) -> Result<Vec<Deployment>, ApiError> {
        Ok(self.store.deployments(filter)?)
    }

    /// Stops every replica and listener (graceful shutdown), after logging
    /// the refusals of requests that were still being answered when the
    /// controller made its last flush.
    pub async fn stop_everything(&self) {
        self.flush_refusals(true).await;
        self.workloads.stop_all().await;
        self.targets.shutdown().await;
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

fn check_version(v: &str) -> Result<(), ApiError> {
    zion_core::version::check_version(v).map_err(ApiError::bad_request)
}

fn list_or_none(items: &[&str]) -> String {
    if items.is_empty() {
        "(none)".to_string()
    } else {
        items.join(", ")
    }
}
