//! The pre-checks' facts: an environment's `checks:` evaluated against the
//! running world (the target's open incidents, replica health, the
//! dependencies' health, the artifact's hash, the window). Both a request's
//! admission (`operations/admission.rs`) and the controller's gate before
//! traffic moves read them here; what they mean for the deployment is the
//! core's decision (`zion_core::governance`).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use jiff::Timestamp;
use sha2::{Digest, Sha256};
use zion_core::deployment::{Deployment, DeploymentType};
use zion_core::governance::admission;
use zion_core::governance::{CheckStage, PreCheckResult, WindowState, window_state, windows};
use zion_core::spec::{EnvironmentSpec, PreCheck, ServiceSpec, Spec};
use zion_providers::VersionKey;
use zion_store::{IncidentFilter, Store};

use crate::app::App;

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

/// What the pre-checks read: the store, the workloads, the data
/// directory's base (artifacts are relative to it) and the spec in force.
pub(crate) struct PreChecks<'a> {
    store: &'a dyn Store,
    workloads: &'a crate::workloads::Workloads,
    base_dir: &'a Path,
    spec: Arc<Spec>,
}

impl App {
    /// The pre-checks as the world stands, against the spec in force.
    pub(crate) fn prechecks(&self) -> PreChecks<'_> {
        PreChecks {
            store: self.store.as_ref(),
            workloads: &self.workloads,
            base_dir: &self.base_dir,
            spec: self.spec(),
        }
    }
}

impl PreChecks<'_> {
    /// Evaluates the subject's environment's checks, in their order.
    pub(crate) async fn evaluate(
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
                    let (r, sha) = self.artifact(subject, stage, now).await;
                    artifact_sha256 = sha;
                    r
                }
                other => {
                    let (passed, reason) = match other {
                        PreCheck::DeploymentWindow => window_check(subject.environment, now),
                        PreCheck::NoOpenIncident => self.incident_check(subject),
                        PreCheck::ServiceHealth => self.health_check(subject),
                        PreCheck::Dependencies => self.dependencies_check(subject),
                        PreCheck::ErrorBudget => self.error_budget_check(subject, now),
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
    pub(crate) async fn before_traffic(
        &self,
        d: &Deployment,
        now: Timestamp,
    ) -> Option<Vec<PreCheckResult>> {
        let svc = self.spec.service(&d.service)?;
        let env = self.spec.environment(&d.environment)?;
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
            self.evaluate(&subject, CheckStage::BeforeTraffic, now)
                .await
                .results,
        )
    }

    /// The error-budget policy: no feature release while an SLO of the
    /// target has spent its budget (`zion_core::slo::policy`).
    fn error_budget_check(&self, subject: &Subject<'_>, now: Timestamp) -> (bool, String) {
        if let Some(why) = admission::skip(PreCheck::ErrorBudget, subject.kind) {
            return (true, format!("skipped: {why}"));
        }
        let mut budgets = Vec::new();
        for slo in self.spec.slos.iter().filter(|s| {
            s.service == subject.service.name && s.environment == subject.environment.name
        }) {
            let id = slo.id();
            let rows = match self
                .store
                .sli_rows(&id, zion_core::api::rows_since(slo, now))
            {
                Ok(rows) => rows,
                Err(e) => return (false, format!("cannot read SLO {id}'s SLI: {e}")),
            };
            let view = zion_core::api::SloView::build(slo, &rows, &[], now);
            budgets.push(zion_core::slo::policy::SloBudget {
                slo: id,
                objective: slo.objective,
                budget: view.budget,
            });
        }
        zion_core::slo::policy::error_budget(&budgets)
    }

    fn incident_check(&self, subject: &Subject<'_>) -> (bool, String) {
        if let Some(why) = admission::skip(PreCheck::NoOpenIncident, subject.kind) {
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
        if let Some(why) = admission::skip(PreCheck::ServiceHealth, subject.kind) {
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
        let spec = &self.spec;
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

    pub(crate) async fn artifact(
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
                    .strip_prefix(self.base_dir)
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
