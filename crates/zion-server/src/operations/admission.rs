//! Governance at the server: what a deployment request must pass before it
//! is created (the lifecycle's `requires`, the quality gates over its
//! release evidence, deployment windows and freezes, the environment's
//! pre-checks, break glass), and the pre-checks themselves,
//! evaluated against the running world (incidents, replica health,
//! dependencies, artifact files). The decisions over the results are
//! `zion-core`'s; this module only gathers the facts.

use std::path::PathBuf;

use jiff::Timestamp;
use sha2::{Digest, Sha256};
use zion_core::deployment::{Deployment, DeploymentType};
use zion_core::governance::quality::{self, Evidence, QualityGate};
use zion_core::governance::{
    BreakGlass, CheckStage, Gate, PreCheckResult, WindowState, window_state, windows,
};
use zion_core::spec::{EnvironmentSpec, PreCheck, Role, ServiceSpec, Spec};
use zion_providers::VersionKey;
use zion_store::IncidentFilter;

use crate::app::App;
use crate::auth::Principal;
use crate::error::ApiError;

/// What a request asks of the gate, beside service, environment and version.
#[derive(Debug, Clone, Default)]
pub(crate) struct GateRequest {
    pub wait_for_window: bool,
    pub break_glass: Option<String>,
    pub sha256: Option<String>,
    pub evidence: Option<Evidence>,
    pub commit: Option<String>,
}

/// A request that passed the gate: the gate the deployment carries, and a
/// note for its first event (e.g. that it is queued for the window).
pub(crate) struct Admitted {
    pub gate: Gate,
    pub note: Option<String>,
}

/// The results of one evaluation of an environment's checks.
pub(crate) struct Evaluated {
    pub results: Vec<PreCheckResult>,
    /// The artifact's SHA-256 when the artifact check read it.
    pub artifact_sha256: Option<String>,
}

/// The deployment being judged, before or after it exists.
pub(crate) struct Subject<'a> {
    pub service: &'a ServiceSpec,
    pub environment: &'a EnvironmentSpec,
    pub version: &'a str,
    pub kind: DeploymentType,
    /// The SHA-256 the artifact must have (`--sha256`, or the one recorded
    /// at request when checked again before traffic moves).
    pub expected_sha256: Option<&'a str>,
}

impl App {
    /// Checks a deployment request against its environment's governance and
    /// returns the gate the deployment will carry, or the refusal naming
    /// every reason. Nothing is written.
    pub(crate) async fn admit(
        &self,
        subject: &Subject<'_>,
        req: &GateRequest,
        by: &Principal,
        now: Timestamp,
    ) -> Result<Admitted, ApiError> {
        let env = subject.environment;
        let mut note = None;
        self.check_requires(subject)?;
        let mut gate = Gate {
            checks: env.checks.clone(),
            ..Gate::default()
        };
        if let Some(a) = &env.approvals {
            gate.approvals_required = a.required;
            gate.approval_roles = a.roles.clone();
            gate.prevent_self_approval = a.prevent_self_approval;
            gate.approval_timeout = Some(a.timeout);
        }
        if let Some(evidence) = &req.evidence {
            check_evidence(evidence)?;
        }
        if let Some(commit) = &req.commit {
            check_commit_text(commit)?;
        }
        if let Some(sha) = &req.sha256 {
            check_sha_text(sha)?;
            if subject.service.workload.process.artifact.is_none() {
                return Err(ApiError::bad_request(format!(
                    "--sha256 was given but service `{}` declares no workload.process.artifact to check it against",
                    subject.service.name
                )));
            }
        }
        if let Some(reason) = &req.break_glass {
            let reason = reason.trim();
            if by.role != Role::Admin {
                return Err(ApiError::forbidden(format!(
                    "{} (role {}) may not break glass: only an admin may skip windows, freezes, approvals and checks",
                    by.name, by.role
                )));
            }
            if reason.is_empty() {
                return Err(ApiError::bad_request(
                    "--break-glass needs a reason, e.g. --break-glass \"checkout down, hotfix for INC-42\"",
                ));
            }
            gate.break_glass = Some(BreakGlass {
                by: by.name.clone(),
                reason: reason.to_string(),
            });
            // Break glass skips the environment's policy, not the requester's
            // own statement of which build must run.
            if req.sha256.is_some() {
                gate.artifact_sha256 = self.verify_requested_sha(subject, now).await?.1;
            } else {
                // Hashed anyway, so the record says what was run.
                gate.artifact_sha256 = self.artifact_sha256(subject).await.ok().flatten();
            }
            return Ok(Admitted { gate, note });
        }
        note = self.check_quality_gates(subject, req.evidence.as_ref())?;
        if subject.kind != DeploymentType::Rollback {
            gate.quality_gates = env.gates.clone().filter(|g| !g.is_empty());
        }

        let window = env
            .windows
            .as_ref()
            .map(|w| window_state(w, now))
            .unwrap_or_default();
        if let WindowState::Closed { reason, next_open } = &window {
            if !req.wait_for_window {
                let next = match (next_open, &env.windows) {
                    (Some(at), Some(w)) => {
                        format!("next allowed at {}", windows::describe_next(w, *at))
                    }
                    _ => "no allowed time within a year".to_string(),
                };
                return Err(ApiError::refused(
                    "window_closed",
                    format!(
                        "{} is closed for deployments: {reason}; {next}. Nothing was deployed: \
                     deploy then, pass --wait-for-window to queue it until then, or (admin) \
                     --break-glass REASON",
                        env.name
                    ),
                ));
            }
            gate.wait_for_window = true;
            let waiting = match (next_open, &env.windows) {
                (Some(at), Some(w)) => format!(
                    "waiting for the deployment window ({reason}); it opens at {}",
                    windows::describe_next(w, *at)
                ),
                _ => format!(
                    "queued for the deployment window ({reason}), which does not open within a year"
                ),
            };
            note = Some(match note {
                Some(gates) => format!("{gates}; {waiting}"),
                None => waiting,
            });
        }

        let Evaluated {
            mut results,
            artifact_sha256,
        } = self
            .evaluate_checks(subject, CheckStage::Requested, now)
            .await;
        if gate.wait_for_window {
            // Closed now by request: it is checked again once the window opens.
            results.retain(|r| r.check != PreCheck::DeploymentWindow);
        }
        let failed: Vec<String> = results
            .iter()
            .filter(|r| !r.passed)
            .map(|r| format!("{}: {}", r.check.name(), r.reason))
            .collect();
        if !failed.is_empty() {
            return Err(ApiError::refused(
                "pre_checks_failed",
                format!(
                    "pre-deployment check{} failed for {}/{}: {}. Nothing was deployed; fix the cause \
                 and deploy again, or (admin) --break-glass REASON",
                    if failed.len() == 1 { "" } else { "s" },
                    subject.service.name,
                    env.name,
                    failed.join("; ")
                ),
            ));
        }
        gate.artifact_sha256 = artifact_sha256;
        if !gate.checks.contains(&PreCheck::Artifact) && req.sha256.is_some() {
            // Asked to verify even where the environment does not list the check.
            let (r, sha) = self.verify_requested_sha(subject, now).await?;
            results.push(r);
            gate.artifact_sha256 = sha;
        }
        gate.check_results = results;
        Ok(Admitted { gate, note })
    }

    /// Judges the request's evidence against the environment's quality
    /// gates; any miss refuses it, naming every gate missed with the value
    /// measured. Returns a note for the deployment's first event saying
    /// what was met (or why the gates were not asked).
    fn check_quality_gates(
        &self,
        subject: &Subject<'_>,
        evidence: Option<&Evidence>,
    ) -> Result<Option<String>, ApiError> {
        let env = subject.environment;
        let Some(gates) = env.gates.as_ref().filter(|g| !g.is_empty()) else {
            return Ok(None);
        };
        if subject.kind == DeploymentType::Rollback {
            // The version already ran here; its old evidence is what it has.
            return Ok(Some(
                "quality gates skipped: a rollback returns to a version that already ran here"
                    .to_string(),
            ));
        }
        let none = Evidence::default();
        let failures = quality::evaluate(gates, evidence.unwrap_or(&none));
        if failures.is_empty() {
            let met = quality_gate_names(gates).join(", ");
            return Ok(Some(format!("quality gates met: {met}")));
        }
        let list: Vec<String> = failures.iter().map(ToString::to_string).collect();
        Err(ApiError::refused(
            "quality_gates_failed",
            format!(
                "quality gate{} failed for {} {} in {}: {}. Nothing was deployed; attach evidence \
             that meets the gates (--junit, --coverage, --sarif) and deploy again, or (admin) \
             --break-glass REASON",
                if failures.len() == 1 { "" } else { "s" },
                subject.service.name,
                subject.version,
                env.name,
                list.join("; ")
            ),
        ))
    }

    /// Checks the artifact against `--sha256`; a mismatch refuses the request.
    async fn verify_requested_sha(
        &self,
        subject: &Subject<'_>,
        now: Timestamp,
    ) -> Result<(PreCheckResult, Option<String>), ApiError> {
        let (r, sha) = self
            .artifact_check(subject, CheckStage::Requested, now)
            .await;
        if !r.passed {
            return Err(ApiError::refused(
                "artifact_mismatch",
                format!("artifact: {}. Nothing was deployed", r.reason),
            ));
        }
        Ok((r, sha))
    }

    /// A version must have succeeded in every environment this one requires
    /// (a rollback goes back to a version that already ran here).
    fn check_requires(&self, subject: &Subject<'_>) -> Result<(), ApiError> {
        if subject.kind == DeploymentType::Rollback {
            return Ok(());
        }
        let env = subject.environment;
        let svc = &subject.service.name;
        let mut missing = Vec::new();
        for required in &env.requires {
            if !self.store.has_succeeded(svc, required, subject.version)? {
                missing.push(required.as_str());
            }
        }
        if missing.is_empty() {
            return Ok(());
        }
        Err(ApiError::refused(
            "requires_unmet",
            format!(
                "{svc} {} has not succeeded in {} yet, and {} requires it; nothing was deployed: \
             deploy it there first (`zion deploy {svc} {} --env {}`)",
                subject.version,
                missing.join(", "),
                env.name,
                subject.version,
                missing[0]
            ),
        ))
    }

    /// Evaluates every check the environment lists.
    pub(crate) async fn evaluate_checks(
        &self,
        subject: &Subject<'_>,
        stage: CheckStage,
        now: Timestamp,
    ) -> Evaluated {
        let mut out = Vec::new();
        let mut artifact_sha256 = None;
        for check in &subject.environment.checks {
            let r = match check {
                PreCheck::Artifact => {
                    let (r, sha) = self.artifact_check(subject, stage, now).await;
                    artifact_sha256 = sha;
                    r
                }
                other => {
                    let (passed, reason) = match other {
                        PreCheck::DeploymentWindow => window_check(subject.environment, now),
                        PreCheck::NoOpenIncident => self.incident_check(subject),
                        PreCheck::ServiceHealth => self.health_check(subject),
                        PreCheck::Dependencies => self.dependencies_check(subject),
                        PreCheck::Artifact => unreachable!("handled above"),
                    };
                    PreCheckResult {
                        check: *other,
                        passed,
                        reason,
                        stage,
                        at: now,
                    }
                }
            };
            out.push(r);
        }
        Evaluated {
            results: out,
            artifact_sha256,
        }
    }

    /// The checks for a recorded deployment, just before traffic moves.
    pub(crate) async fn checks_before_traffic(
        &self,
        spec: &Spec,
        d: &Deployment,
        now: Timestamp,
    ) -> Option<Vec<PreCheckResult>> {
        let svc = spec.service(&d.service)?;
        let env = spec.environment(&d.environment)?;
        // The gate's own list (frozen at request) is what is checked.
        let env = EnvironmentSpec {
            checks: d.gate.checks.clone(),
            ..env.clone()
        };
        let subject = Subject {
            service: svc,
            environment: &env,
            version: &d.version,
            kind: d.kind,
            expected_sha256: d.gate.artifact_sha256.as_deref(),
        };
        Some(
            self.evaluate_checks(&subject, CheckStage::BeforeTraffic, now)
                .await
                .results,
        )
    }

    fn incident_check(&self, subject: &Subject<'_>) -> (bool, String) {
        if let Some(why) = remedy(subject.kind) {
            return (true, format!("skipped: {why}"));
        }
        let filter = IncidentFilter {
            service: Some(subject.service.name.clone()),
            environment: Some(subject.environment.name.clone()),
            open_only: true,
        };
        match self.store.incidents(&filter) {
            Ok(open) if open.is_empty() => (
                true,
                format!(
                    "no open incident on {}/{}",
                    subject.service.name, subject.environment.name
                ),
            ),
            Ok(open) => {
                let list: Vec<String> = open
                    .iter()
                    .map(|i| format!("incident {} (opened {}: {})", i.id, i.opened_at, i.reason))
                    .collect();
                (
                    false,
                    format!(
                        "{} open on {}/{}; resolve with `zion incident resolve ID`",
                        list.join(", "),
                        subject.service.name,
                        subject.environment.name
                    ),
                )
            }
            Err(e) => (false, format!("cannot read incidents: {e}")),
        }
    }

    fn health_check(&self, subject: &Subject<'_>) -> (bool, String) {
        if let Some(why) = remedy(subject.kind) {
            return (true, format!("skipped: {why}"));
        }
        let svc = &subject.service.name;
        let env = &subject.environment.name;
        match self.store.stable_version(svc, env) {
            Ok(None) => (true, format!("{svc}/{env} has no stable version yet")),
            Ok(Some(v)) => self.version_health(svc, env, &v),
            Err(e) => (false, format!("cannot read the stable version: {e}")),
        }
    }

    fn dependencies_check(&self, subject: &Subject<'_>) -> (bool, String) {
        let deps = &subject.service.depends_on;
        if deps.is_empty() {
            return (
                true,
                format!("{} depends on no service", subject.service.name),
            );
        }
        let env = &subject.environment.name;
        let spec = self.spec();
        let mut good = Vec::new();
        let mut bad = Vec::new();
        for dep in deps {
            let has_target = spec
                .service(dep)
                .is_some_and(|s| s.targets.contains_key(env));
            if !has_target {
                bad.push(format!("{dep} has no target in {env}"));
                continue;
            }
            match self.store.stable_version(dep, env) {
                Ok(Some(v)) => match self.version_health(dep, env, &v) {
                    (true, why) => good.push(why),
                    (false, why) => bad.push(why),
                },
                Ok(None) => bad.push(format!("{dep}/{env} has no stable version")),
                Err(e) => bad.push(format!("cannot read {dep}/{env}: {e}")),
            }
        }
        if bad.is_empty() {
            (true, good.join("; "))
        } else {
            (false, bad.join("; "))
        }
    }

    /// Healthy means every replica of the version passes its probe now.
    fn version_health(&self, svc: &str, env: &str, version: &str) -> (bool, String) {
        let key = VersionKey {
            service: svc.into(),
            environment: env.into(),
            version: version.into(),
        };
        match self.workloads.status(&key) {
            None => (false, format!("{svc}/{env} {version} is not running")),
            Some(st) if st.desired > 0 && st.ready >= st.desired => (
                true,
                format!(
                    "{svc}/{env} {version} healthy ({}/{} replicas ready)",
                    st.ready, st.desired
                ),
            ),
            Some(st) => {
                let last = st
                    .replicas
                    .iter()
                    .rev()
                    .find_map(|r| r.last_error.clone())
                    .map(|e| format!("; last error: {e}"))
                    .unwrap_or_default();
                (
                    false,
                    format!(
                        "{svc}/{env} {version} is unhealthy ({}/{} replicas ready{last})",
                        st.ready, st.desired
                    ),
                )
            }
        }
    }

    /// The artifact's path for this version, when the service declares
    /// one; an error when the version would move it out of its folder.
    fn artifact_path(&self, subject: &Subject<'_>) -> Option<Result<PathBuf, String>> {
        let pattern = subject.service.workload.process.artifact.as_ref()?;
        Some(
            zion_core::spec::artifact_path(pattern, subject.version)
                .map(|path| self.base_dir.join(path)),
        )
    }

    /// SHA-256 of the artifact file, None when none is declared.
    async fn artifact_sha256(&self, subject: &Subject<'_>) -> std::io::Result<Option<String>> {
        let Some(path) = self.artifact_path(subject) else {
            return Ok(None);
        };
        let path = path.map_err(std::io::Error::other)?;
        let sha = tokio::task::spawn_blocking(move || -> std::io::Result<String> {
            let mut file = std::fs::File::open(&path)?;
            let mut hasher = Sha256::new();
            std::io::copy(&mut file, &mut hasher)?;
            Ok(hex::encode(hasher.finalize()))
        })
        .await
        .map_err(std::io::Error::other)??;
        Ok(Some(sha))
    }

    async fn artifact_check(
        &self,
        subject: &Subject<'_>,
        stage: CheckStage,
        now: Timestamp,
    ) -> (PreCheckResult, Option<String>) {
        let mut read = None;
        let (passed, reason) = match self.artifact_path(subject) {
            None => (
                true,
                format!(
                    "{} declares no workload.process.artifact",
                    subject.service.name
                ),
            ),
            Some(Err(refused)) => (false, refused),
            Some(Ok(path)) => {
                let shown = path
                    .strip_prefix(&self.base_dir)
                    .unwrap_or(&path)
                    .display()
                    .to_string();
                match self.artifact_sha256(subject).await {
                    Err(e) => (false, format!("cannot read artifact {shown}: {e}")),
                    Ok(None) => (true, "no artifact".to_string()),
                    Ok(Some(sha)) => {
                        read = Some(sha.clone());
                        match subject.expected_sha256 {
                            Some(want) if !want.eq_ignore_ascii_case(&sha) => {
                                let what = if stage == CheckStage::Requested {
                                    "--sha256"
                                } else {
                                    "the SHA-256 recorded when the deployment was requested"
                                };
                                (
                                    false,
                                    format!(
                                        "artifact {shown} has sha256 {sha}, not {} ({what})",
                                        want.to_ascii_lowercase()
                                    ),
                                )
                            }
                            Some(_) => (true, format!("artifact {shown} sha256 {sha} (matches)")),
                            None => (true, format!("artifact {shown} sha256 {sha}")),
                        }
                    }
                }
            }
        };
        let result = PreCheckResult {
            check: PreCheck::Artifact,
            passed,
            reason,
            stage,
            at: now,
        };
        (result, read)
    }
}

/// Rollbacks and hotfixes are how an incident or an unhealthy stable gets
/// fixed; the checks that look for trouble must not block the remedy.
fn remedy(kind: DeploymentType) -> Option<&'static str> {
    match kind {
        DeploymentType::Rollback => Some("a rollback is the remedy for trouble on the target"),
        DeploymentType::Hotfix => Some("a hotfix is the remedy for trouble on the target"),
        _ => None,
    }
}

fn window_check(env: &EnvironmentSpec, now: Timestamp) -> (bool, String) {
    let Some(w) = &env.windows else {
        return (true, format!("{} has no deployment windows", env.name));
    };
    match window_state(w, now) {
        WindowState::Open => (true, format!("{} is open for deployments", env.name)),
        WindowState::Closed { reason, next_open } => {
            let next = next_open
                .map(|at| format!("; next allowed at {}", windows::describe_next(w, at)))
                .unwrap_or_default();
            (false, format!("{reason}{next}"))
        }
    }
}

/// The gates an environment sets, by their spec paths.
fn quality_gate_names(gates: &quality::QualityGates) -> Vec<String> {
    let mut set = Vec::new();
    if gates.tests_passed.is_some() {
        set.push(QualityGate::TestsPassed);
    }
    if gates.coverage.is_some() {
        set.push(QualityGate::Coverage);
    }
    set.extend(
        gates
            .findings
            .keys()
            .map(|&level| QualityGate::Findings(level)),
    );
    set.iter().map(ToString::to_string).collect()
}

/// Evidence is summarised by the client; figures that cannot come from one
/// report are refused rather than judged.
fn check_evidence(e: &Evidence) -> Result<(), ApiError> {
    if let Some(t) = &e.tests {
        let outcomes = [t.passed, t.failed, t.skipped, t.errors]
            .iter()
            .try_fold(0u64, |sum, n| sum.checked_add(*n));
        if outcomes != Some(t.total) {
            return Err(ApiError::bad_request(format!(
                "evidence.tests: total {} is not passed {} + failed {} + skipped {} + errors {}; \
                 send the summary of one JUnit report (zion deploy --junit FILE)",
                t.total, t.passed, t.failed, t.skipped, t.errors
            )));
        }
    }
    if let Some(c) = &e.coverage {
        if c.lines_covered > c.lines_total {
            return Err(ApiError::bad_request(format!(
                "evidence.coverage: {} lines covered of {} instrumented; covered lines cannot \
                 exceed instrumented ones (zion deploy --coverage FILE)",
                c.lines_covered, c.lines_total
            )));
        }
    }
    Ok(())
}

/// A git object name, full or abbreviated (SHA-1 or SHA-256).
fn check_commit_text(commit: &str) -> Result<(), ApiError> {
    let c = commit.trim();
    if (4..=64).contains(&c.len()) && c.chars().all(|ch| ch.is_ascii_hexdigit()) {
        Ok(())
    } else {
        Err(ApiError::bad_request(format!(
            "--commit `{}` is not a commit hash: give 4 to 64 hex digits \
             (e.g. from `git rev-parse HEAD`), or pass --git PATH",
            crate::error::excerpt(commit)
        )))
    }
}

fn check_sha_text(sha: &str) -> Result<(), ApiError> {
    if sha.len() == 64 && sha.chars().all(|c| c.is_ascii_hexdigit()) {
        Ok(())
    } else {
        Err(ApiError::bad_request(format!(
            "--sha256 `{}` is not a SHA-256: give 64 hex digits (e.g. from `sha256sum FILE`)",
            crate::error::excerpt(sha)
        )))
    }
}
