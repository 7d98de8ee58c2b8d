//! Admission: whether a deployment request may become a deployment, and the
//! gate it then carries. The server gathers the facts that need the world
//! (which required environments the version has not succeeded in, the
//! pre-checks' results, the artifact's hash) and calls [`admit`]; the rules
//! (who may break glass, what a rollback or a hotfix skips, refusing or
//! queueing at a closed window, `requires`, quality gates) are all here.

use jiff::Timestamp;

use super::quality::{self, Evidence, QualityGate, QualityGates};
use super::{BreakGlass, Gate, PreCheckResult, WindowState, window_state, windows};
use crate::deployment::DeploymentType;
use crate::principal::Principal;
use crate::spec::{EnvironmentSpec, PreCheck, Role};
use crate::text::excerpt;

/// What a request asks, beside its target.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    pub service: &'a str,
    pub version: &'a str,
    pub kind: DeploymentType,
    /// Outside the window: queue (pending) instead of being refused.
    pub wait_for_window: bool,
    pub break_glass: Option<&'a str>,
    /// The artifact's expected SHA-256 (`--sha256`), as given.
    pub sha256: Option<&'a str>,
    pub evidence: Option<&'a Evidence>,
    pub commit: Option<&'a str>,
}

/// What the server found in the world for this request.
#[derive(Debug, Clone, Default)]
pub struct Facts {
    /// The environments this one `requires` in which the version has not
    /// succeeded yet.
    pub unmet_requires: Vec<String>,
    /// Whether the service declares `workload.process.artifact`.
    pub artifact_declared: bool,
    /// The environment's pre-checks, evaluated at request (see [`skip`]).
    /// Unused under break glass.
    pub checks: Vec<PreCheckResult>,
    /// The artifact check against the request's `--sha256`, and the hash
    /// read, when the artifact was read.
    pub artifact: Option<(PreCheckResult, Option<String>)>,
}

/// A request that passed: the gate the deployment carries, and a note for
/// its first event (e.g. that it is queued for the window).
#[derive(Debug, Clone, PartialEq)]
pub struct Admission {
    pub gate: Gate,
    pub note: Option<String>,
}

/// Why a request was refused; nothing is deployed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// The request itself is malformed (bad evidence, commit, SHA-256).
    Invalid(String),
    /// The requester may not do this (break glass without being admin).
    Forbidden(String),
    /// The environment's policy refuses it; `code` names the rule
    /// (`requires_unmet`, `quality_gates_failed`, `window_closed`,
    /// `pre_checks_failed`, `artifact_mismatch`).
    Policy { code: &'static str, message: String },
}

impl Refusal {
    fn policy(code: &'static str, message: String) -> Self {
        Refusal::Policy { code, message }
    }
}

/// Rollbacks and hotfixes are how an incident, an unhealthy stable or a
/// spent error budget gets fixed: the checks that look for trouble must
/// not block the remedy. Returns why `check` is skipped for `kind`, if it
/// is.
pub fn skip(check: PreCheck, kind: DeploymentType) -> Option<&'static str> {
    if !matches!(
        check,
        PreCheck::NoOpenIncident | PreCheck::ServiceHealth | PreCheck::ErrorBudget
    ) {
        return None;
    }
    match kind {
        DeploymentType::Rollback => Some("a rollback is the remedy for trouble on the target"),
        DeploymentType::Hotfix => Some("a hotfix is the remedy for trouble on the target"),
        _ => None,
    }
}

/// Decides a request against its environment's policy: the gate the
/// deployment will carry, or the refusal naming every reason.
pub fn admit(
    req: &Request<'_>,
    env: &EnvironmentSpec,
    facts: &Facts,
    requester: &Principal,
    now: Timestamp,
) -> Result<Admission, Refusal> {
    let mut note = None;
    check_requires(req, env, facts)?;
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
    if let Some(evidence) = req.evidence {
        check_evidence(evidence)?;
    }
    if let Some(commit) = req.commit {
        check_commit_text(commit)?;
    }
    if let Some(sha) = req.sha256 {
        check_sha_text(sha)?;
        if !facts.artifact_declared {
            return Err(Refusal::Invalid(format!(
                "--sha256 was given but service `{}` declares no workload.process.artifact to check it against",
                req.service
            )));
        }
    }
    if let Some(reason) = req.break_glass {
        let reason = reason.trim();
        if requester.role != Role::Admin {
            return Err(Refusal::Forbidden(format!(
                "{} (role {}) may not break glass: only an admin may skip windows, freezes, approvals and checks",
                requester.name, requester.role
            )));
        }
        if reason.is_empty() {
            return Err(Refusal::Invalid(
                "--break-glass needs a reason, e.g. --break-glass \"checkout down, hotfix for INC-42\"".into(),
            ));
        }
        gate.break_glass = Some(BreakGlass {
            by: requester.name.to_string(),
            reason: reason.to_string(),
        });
        // Break glass skips the environment's policy, not the requester's
        // own statement of which build must run; without one the artifact
        // is hashed anyway, so the record says what was run.
        gate.artifact_sha256 = if req.sha256.is_some() {
            requested_sha(facts)?.1
        } else {
            facts.artifact.as_ref().and_then(|(_, sha)| sha.clone())
        };
        return Ok(Admission { gate, note });
    }
    note = check_quality_gates(req, env)?;
    if req.kind != DeploymentType::Rollback {
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
            return Err(Refusal::policy(
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

    let mut results = facts.checks.clone();
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
        return Err(Refusal::policy(
            "pre_checks_failed",
            format!(
                "pre-deployment check{} failed for {}/{}: {}. Nothing was deployed; fix the cause \
                 and deploy again, or (admin) --break-glass REASON",
                if failed.len() == 1 { "" } else { "s" },
                req.service,
                env.name,
                failed.join("; ")
            ),
        ));
    }
    if gate.checks.contains(&PreCheck::Artifact) {
        gate.artifact_sha256 = facts.artifact.as_ref().and_then(|(_, sha)| sha.clone());
    } else if req.sha256.is_some() {
        // Asked to verify even where the environment does not list the check.
        let (r, sha) = requested_sha(facts)?;
        results.push(r);
        gate.artifact_sha256 = sha;
    }
    gate.check_results = results;
    Ok(Admission { gate, note })
}

/// The artifact checked against `--sha256`; a mismatch refuses the request.
fn requested_sha(facts: &Facts) -> Result<(PreCheckResult, Option<String>), Refusal> {
    let Some((r, sha)) = &facts.artifact else {
        return Err(Refusal::policy(
            "artifact_mismatch",
            "artifact: not read. Nothing was deployed".into(),
        ));
    };
    if !r.passed {
        return Err(Refusal::policy(
            "artifact_mismatch",
            format!("artifact: {}. Nothing was deployed", r.reason),
        ));
    }
    Ok((r.clone(), sha.clone()))
}

/// A version must have succeeded in every environment this one requires
/// (a rollback goes back to a version that already ran here).
fn check_requires(req: &Request<'_>, env: &EnvironmentSpec, facts: &Facts) -> Result<(), Refusal> {
    if req.kind == DeploymentType::Rollback || facts.unmet_requires.is_empty() {
        return Ok(());
    }
    let missing = &facts.unmet_requires;
    let svc = req.service;
    Err(Refusal::policy(
        "requires_unmet",
        format!(
            "{svc} {} has not succeeded in {} yet, and {} requires it; nothing was deployed: \
             deploy it there first (`zion deploy {svc} {} --env {}`)",
            req.version,
            missing.join(", "),
            env.name,
            req.version,
            missing[0]
        ),
    ))
}

/// Judges the request's evidence against the environment's quality gates;
/// any miss refuses it, naming every gate missed with the value measured.
/// Returns a note for the deployment's first event saying what was met
/// (or why the gates were not asked).
fn check_quality_gates(
    req: &Request<'_>,
    env: &EnvironmentSpec,
) -> Result<Option<String>, Refusal> {
    let Some(gates) = env.gates.as_ref().filter(|g| !g.is_empty()) else {
        return Ok(None);
    };
    if req.kind == DeploymentType::Rollback {
        // The version already ran here; its old evidence is what it has.
        return Ok(Some(
            "quality gates skipped: a rollback returns to a version that already ran here"
                .to_string(),
        ));
    }
    let none = Evidence::default();
    let failures = quality::evaluate(gates, req.evidence.unwrap_or(&none));
    if failures.is_empty() {
        let met = quality_gate_names(gates).join(", ");
        return Ok(Some(format!("quality gates met: {met}")));
    }
    let list: Vec<String> = failures.iter().map(ToString::to_string).collect();
    Err(Refusal::policy(
        "quality_gates_failed",
        format!(
            "quality gate{} failed for {} {} in {}: {}. Nothing was deployed; attach evidence \
             that meets the gates (--junit, --coverage, --sarif) and deploy again, or (admin) \
             --break-glass REASON",
            if failures.len() == 1 { "" } else { "s" },
            req.service,
            req.version,
            env.name,
            list.join("; ")
        ),
    ))
}

/// The gates an environment sets, by their spec paths.
fn quality_gate_names(gates: &QualityGates) -> Vec<String> {
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
fn check_evidence(e: &Evidence) -> Result<(), Refusal> {
    if let Some(t) = &e.tests {
        let outcomes = [t.passed, t.failed, t.skipped, t.errors]
            .iter()
            .try_fold(0u64, |sum, n| sum.checked_add(*n));
        if outcomes != Some(t.total) {
            return Err(Refusal::Invalid(format!(
                "evidence.tests: total {} is not passed {} + failed {} + skipped {} + errors {}; \
                 send the summary of one JUnit report (zion deploy --junit FILE)",
                t.total, t.passed, t.failed, t.skipped, t.errors
            )));
        }
    }
    if let Some(c) = &e.coverage {
        if c.lines_covered > c.lines_total {
            return Err(Refusal::Invalid(format!(
                "evidence.coverage: {} lines covered of {} instrumented; covered lines cannot \
                 exceed instrumented ones (zion deploy --coverage FILE)",
                c.lines_covered, c.lines_total
            )));
        }
    }
    Ok(())
}

/// A git object name, full or abbreviated (SHA-1 or SHA-256).
fn check_commit_text(commit: &str) -> Result<(), Refusal> {
    let c = commit.trim();
    if (4..=64).contains(&c.len()) && c.chars().all(|ch| ch.is_ascii_hexdigit()) {
        Ok(())
    } else {
        Err(Refusal::Invalid(format!(
            "--commit `{}` is not a commit hash: give 4 to 64 hex digits \
             (e.g. from `git rev-parse HEAD`), or pass --git PATH",
            excerpt(commit)
        )))
    }
}

fn check_sha_text(sha: &str) -> Result<(), Refusal> {
    if sha.len() == 64 && sha.chars().all(|c| c.is_ascii_hexdigit()) {
        Ok(())
    } else {
        Err(Refusal::Invalid(format!(
            "--sha256 `{}` is not a SHA-256: give 64 hex digits (e.g. from `sha256sum FILE`)",
            excerpt(sha)
        )))
    }
}

#[cfg(test)]
#[path = "admission_tests.rs"]
mod tests;
