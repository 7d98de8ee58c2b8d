//! A deployment request: checked, admitted, given its plan and created.

use zion_core::api::DeployRequest;
use zion_core::deployment::{Deployment, DeploymentType, Event, Phase, Plan, Progress};
use zion_core::spec::{ServiceSpec, Spec};

use super::admission::{Admitted, GateRequest, Subject};
use super::check_version;
use crate::app::App;
use crate::audit::Record;
use crate::auth::Principal;
use crate::error::ApiError;

impl App {
    /// Creates a deployment (phase pending) after checking the request.
    pub async fn deploy(
        &self,
        req: DeployRequest,
        principal: &Principal,
    ) -> Result<Deployment, ApiError> {
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
        let admitted = self
            .admit_request(&spec, &svc, &req, kind, principal)
            .await?;
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
        self.create(&req, stable, plan, admitted, principal).await
    }

    pub(super) async fn admit_request(
        &self,
        spec: &Spec,
        svc: &ServiceSpec,
        req: &DeployRequest,
        kind: DeploymentType,
        principal: &Principal,
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
        let admitted = self
            .admit(&subject, &gate_req, principal, self.clock.now())
            .await;
        if let Err(e) = &admitted
            && e.status == axum::http::StatusCode::CONFLICT
        {
            self.record_refusal(req, kind, principal, e).await;
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
        principal: &Principal,
        e: &ApiError,
    ) {
        // Now, not when the request arrived: the checks may have taken
        // seconds, and the log's times must not go backwards.
        let now = self.clock.now();
        let record = Record::new(
            principal.name.clone(),
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

    pub(super) async fn create(
        &self,
        req: &DeployRequest,
        stable: Option<String>,
        plan: Plan,
        admitted: Admitted,
        principal: &Principal,
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
            principal.name,
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
            requested_by: principal.name.clone(),
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
            actor: principal.name.clone(),
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
        tracing::info!(id = stored.id, service = %stored.service, environment = %stored.environment, version = %stored.version, by = %principal.name, "deployment created");
        self.wake.notify_one();
        Ok(stored)
    }
}
