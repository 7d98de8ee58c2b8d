//! The deployment state machine: a pure step from (recorded state,
//! observations, now) to the next state, the events that explain it and the
//! analysis rounds it ran; manual commands (promote, pause, resume, abort);
//! and the target's desired state, from which the controller derives its
//! idempotent actions.
//!
//! Nothing here reads a clock or touches the world: the controller passes
//! `now` and what it observed, persists the outcome, then acts.
//!
//! This module is the machine every strategy shares: the phases, waiting
//! for the new version to become healthy, the analysis rounds and the
//! immediate rollback triggers. What differs by strategy lives beside it,
//! as Argo Rollouts splits its controller: `canary.rs` (weighted steps),
//! `blue_green.rs` (preview, one switch, the retained old version),
//! `rolling.rs` (batches); `command.rs` holds the manual commands and
//! `target.rs` the target's desired state. The gate a deployment waits at
//! before it starts is `governance::gating`.

use std::time::Duration;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::analysis::{AnalysisRound, CheckResult, Verdict, combine, evaluate_check};
use crate::deployment::{Deployment, DeploymentType, Event, Phase, Plan, PlanKind};
use crate::governance::GateObservation;
use crate::hooks::HookRun;
use crate::judge::{JudgeReport, Samples};
use crate::metrics::{Metric, WindowMetrics};
use crate::sources::Reading;

mod blue_green;
mod canary;
mod command;
mod requeue;
mod rolling;
mod router;
mod target;

pub use blue_green::{PreviewSeen, check_promotable, retained_version};
pub use command::{Command, CommandError, command};
pub use requeue::{Requeue, requeue};
pub use target::{desired_target, runs_while_traffic_refused};

/// The actor recorded for Zion's own decisions.
pub const CONTROLLER: &str = "controller";

/// Error rate above which a canary is rolled back at once (seed default).
pub const IMMEDIATE_ERROR_RATE: f64 = 0.05;

/// Consecutive failed health probes that roll a canary back at once (seed default).
pub const IMMEDIATE_PROBE_FAILURES: u32 = 2;

/// Exits of one replica before it was ever healthy that fail a starting
/// version at once: a process that dies this often at start is not slow, it
/// is broken, and waiting out `start_timeout` would only delay saying so.
pub const CRASH_LOOP_EXITS: u32 = 3;

/// What the controller saw of one version just now.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct VersionObservation {
    /// Replicas asked for.
    pub desired: u32,
    /// Replicas whose latest probe passed.
    pub ready: u32,
    /// Every replica has passed a probe since it started.
    pub ever_ready: bool,
    /// Longest run of failed probes among its replicas, now.
    pub consecutive_probe_failures: u32,
    /// Whether any replica process exists.
    pub running: bool,
    /// Its figures over the last analysis interval.
    pub metrics: WindowMetrics,
    /// The latest start or probe error, for messages.
    pub last_error: Option<String>,
    /// The most times one replica exited before it was ever healthy.
    #[serde(default)]
    pub exits_before_ready: u32,
    /// The last lines of output of the replica `last_error` is about.
    #[serde(default)]
    pub output: Vec<String>,
    /// What the external checks' sources answered about it, read only
    /// when a round is due (see [`round_due`]).
    #[serde(default)]
    pub readings: Vec<Reading>,
    /// Its samples over the last analysis interval, for the statistical
    /// judge (collected only when the plan's judge asks for them).
    #[serde(default, skip_serializing_if = "is_empty")]
    pub samples: Samples,
}

fn is_empty(s: &Samples) -> bool {
    *s == Samples::default()
}

impl VersionObservation {
    /// `; last error: …` when there is one.
    fn error_detail(&self) -> String {
        match &self.last_error {
            Some(e) => format!("; last error: {e}"),
            None => String::new(),
        }
    }

    /// `why`, then the replica's last output lines, one per line.
    fn with_output(&self, mut why: String) -> String {
        if !self.output.is_empty() {
            why.push_str("; its last output:");
            for line in &self.output {
                why.push_str("\n  | ");
                why.push_str(line);
            }
        }
        why
    }
}

/// What the controller observed for one deployment.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Observations {
    /// The deployment's new version; None when none of it runs.
    pub new_version: Option<VersionObservation>,
    /// The stable version (the baseline); None when there is none.
    pub stable: Option<VersionObservation>,
    /// The gate of a pending or awaiting-approval deployment; None means an
    /// open window and no check results.
    pub gate: Option<GateObservation>,
    /// Hook runs finished since the last step (see [`crate::hooks::due`]).
    #[serde(default)]
    pub hooks: Vec<HookRun>,
    /// Why the target's router refused the last split it was given (an
    /// HAProxy that refused a command, say), while it does: the step's
    /// weights are not applied, so the step is held.
    #[serde(default)]
    pub router_error: Option<String>,
}

/// The result of a step or command: the new state and what explains it.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    pub deployment: Deployment,
    pub events: Vec<Event>,
    pub rounds: Vec<AnalysisRound>,
    before_revision: u64,
}

impl Outcome {
    /// Whether anything must be recorded (the state or its explanation).
    pub fn changed(&self) -> bool {
        !self.events.is_empty()
            || !self.rounds.is_empty()
            || self.deployment.revision != self.before_revision
    }
}

/// Builds the outcome of one step, recording an event for every change.
pub(crate) struct Tx<'a> {
    before: &'a Deployment,
    pub(crate) d: Deployment,
    events: Vec<Event>,
    rounds: Vec<AnalysisRound>,
    pub(crate) now: Timestamp,
}

impl<'a> Tx<'a> {
    pub(crate) fn new(before: &'a Deployment, now: Timestamp) -> Self {
        Tx {
            before,
            d: before.clone(),
            events: Vec::new(),
            rounds: Vec::new(),
            now,
        }
    }

    /// Records a change of phase, step or weight, with its cause.
    pub(crate) fn event(&mut self, to: Phase, actor: &str, reason: String) {
        let from = self.d.phase;
        self.d.phase = to;
        if to.is_terminal() {
            self.d.finished_at = Some(self.now);
            self.d.progress.paused_at = None;
        }
        self.d.reason = Some(reason.clone());
        self.events.push(Event {
            at: self.now,
            from_phase: from,
            to_phase: to,
            step: self.d.step,
            canary_weight: self.d.canary_weight,
            actor: actor.to_string(),
            reason,
        });
    }

    pub(crate) fn finish(mut self) -> Outcome {
        if self.d != *self.before {
            self.d.revision = self.before.revision + 1;
        }
        Outcome {
            deployment: self.d,
            events: self.events,
            rounds: self.rounds,
            before_revision: self.before.revision,
        }
    }

    /// Records an event that changes no phase (a hook's result);
    /// `explains` makes it the deployment's reason.
    pub(crate) fn note(&mut self, reason: String, explains: bool) {
        if explains {
            self.d.reason = Some(reason.clone());
        }
        self.events.push(Event {
            at: self.now,
            from_phase: self.d.phase,
            to_phase: self.d.phase,
            step: self.d.step,
            canary_weight: self.d.canary_weight,
            actor: CONTROLLER.to_string(),
            reason,
        });
    }

    fn succeed(&mut self, actor: &str, reason: String) {
        self.d.canary_weight = 100;
        self.event(Phase::Succeeded, actor, reason);
    }

    pub(crate) fn roll_back(&mut self, actor: &str, reason: String) {
        self.d.canary_weight = 0;
        self.event(Phase::RollingBack, actor, reason);
    }
}

/// Advances a deployment by what was observed at `now`.
pub fn step(before: &Deployment, obs: &Observations, now: Timestamp) -> Outcome {
    let mut tx = Tx::new(before, now);
    if crate::hooks::apply(&mut tx, &obs.hooks) {
        return tx.finish();
    }
    match before.phase {
        Phase::Pending | Phase::AwaitingApproval => {
            crate::governance::gating::advance(
                &mut tx,
                obs.gate.as_ref(),
                obs.new_version.as_ref(),
            );
        }
        Phase::Progressing | Phase::Paused => {
            if before.progress.ready_at.is_none() {
                await_ready(&mut tx, obs);
            } else {
                judge(&mut tx, obs);
            }
        }
        Phase::RollingBack => {
            let stopped = obs.new_version.as_ref().is_none_or(|c| !c.running);
            // `on_rollback` runs before the deployment is over.
            let hooked = crate::hooks::pending(&tx.d, now).is_some();
            if stopped && !hooked {
                let serving = match &before.previous_version {
                    Some(prev) => format!("{prev} serves all traffic"),
                    None => "no version serves this target".to_string(),
                };
                tx.event(
                    Phase::RolledBack,
                    CONTROLLER,
                    format!("{} stopped; {serving}", before.version),
                );
            }
        }
        Phase::Succeeded
        | Phase::RolledBack
        | Phase::Rejected
        | Phase::Expired
        | Phase::Cancelled
        | Phase::Failed => {}
    }
    tx.finish()
}

/// Before the new version is healthy: wait, fail after the deadline, or
/// start the plan.
fn await_ready(tx: &mut Tx<'_>, obs: &Observations) {
    // A deployment paused while starting waits for resume before it moves.
    if tx.d.phase == Phase::Paused {
        return;
    }
    let canary = obs.new_version.clone().unwrap_or_default();
    let replicas = tx.d.plan.replicas();
    if new_version_ready(&tx.d, obs) {
        if let Some(call) = crate::hooks::pending(&tx.d, tx.now) {
            // Healthy, but no traffic moves before `pre_rollout` passed.
            let why = format!(
                "{} healthy ({}/{replicas} replicas); running its {} hooks before any traffic moves",
                tx.d.version, canary.ready, call.point
            );
            if tx.d.reason.as_deref() != Some(why.as_str()) {
                tx.note(why, true);
            }
            return;
        }
        tx.d.progress.ready_at = Some(tx.now);
        tx.d.progress.last_round_at = Some(tx.now);
        start_plan(tx, &canary);
        return;
    }
    let d = &tx.d;
    let started = d.started_at.unwrap_or(d.created_at);
    let detail = canary.error_detail();
    let why = if canary.exits_before_ready >= CRASH_LOOP_EXITS {
        format!(
            "{} exited {} times before it was ever healthy ({}/{replicas} replicas ready){detail}; no traffic was moved",
            d.version, canary.exits_before_ready, canary.ready,
        )
    } else if elapsed(started, tx.now) >= d.plan.common().start_timeout {
        format!(
            "{} did not become healthy within {} ({}/{replicas} replicas ready){detail}; no traffic was moved",
            d.version,
            crate::duration::format_duration(d.plan.common().start_timeout),
            canary.ready,
        )
    } else {
        return;
    };
    tx.d.canary_weight = 0;
    tx.event(Phase::Failed, CONTROLLER, canary.with_output(why));
}

/// Whether the new version has the replicas its plan starts with, all
/// healthy: a rolling plan starts with its first batch; every other plan
/// with all its replicas.
pub(crate) fn new_version_ready(d: &Deployment, obs: &Observations) -> bool {
    let Some(canary) = &obs.new_version else {
        return false;
    };
    let replicas = d.plan.replicas();
    let needed = match (&d.plan, &d.previous_version) {
        (Plan::Rolling { rolling, .. }, Some(_)) => rolling.replaced(0, replicas),
        _ => replicas.max(1),
    };
    canary.ever_ready && canary.ready >= needed
}

/// The new version is healthy: a first version or a direct plan takes all
/// traffic; every other plan starts its own way.
fn start_plan(tx: &mut Tx<'_>, canary: &VersionObservation) {
    let ready = format!(
        "{} healthy ({}/{} replicas)",
        tx.d.version,
        canary.ready,
        tx.d.plan.replicas()
    );
    let Some(prev) = tx.d.previous_version.clone() else {
        let why = format!("{ready}; first version of the target: all traffic to it");
        tx.succeed(CONTROLLER, why);
        return;
    };
    match tx.d.plan.kind() {
        PlanKind::Rolling => rolling::start(tx),
        PlanKind::BlueGreen => blue_green::preview_ready(tx, &ready),
        PlanKind::Canary if !tx.d.plan.steps().is_empty() => canary::start(tx, &ready),
        // A canary without steps has nothing to hold: it switches directly.
        PlanKind::Canary | PlanKind::Direct => {
            let why = if tx.d.kind == DeploymentType::Rollback {
                format!("{ready}; rolled back: all traffic switched from {prev} to it")
            } else {
                format!("{ready}; all traffic switched from {prev}")
            };
            tx.succeed(CONTROLLER, why);
        }
    }
}

/// While the new version takes traffic: immediate rollback triggers,
/// analysis rounds, and step advancement.
fn judge(tx: &mut Tx<'_>, obs: &Observations) {
    let canary = obs.new_version.clone().unwrap_or_default();
    // Probes of replicas still starting (after a restart of Zion, say) are
    // not failures of the version; once every replica has passed, they are.
    if canary.ever_ready && canary.consecutive_probe_failures >= IMMEDIATE_PROBE_FAILURES {
        let why = format!(
            "{} failed {} consecutive health checks (limit {IMMEDIATE_PROBE_FAILURES}): immediate rollback",
            tx.d.version, canary.consecutive_probe_failures
        );
        tx.roll_back(CONTROLLER, why);
        return;
    }
    if router::held(tx, obs.router_error.as_deref()) {
        return;
    }
    if let Some(rolling) = tx.d.plan.rolling_plan()
        && tx.d.progress.batch_ready_at.is_none()
        && rolling::starting_batch(tx, &canary, rolling)
    {
        return;
    }
    if interval_elapsed(&tx.d, tx.now) {
        if analysis_round(tx, &canary, obs.stable.as_ref()) {
            return;
        }
        let summary = tx
            .rounds
            .last()
            .map(|r| r.summary.clone())
            .unwrap_or_default();
        crate::traffic::pause_if_starved(tx, &canary.metrics, &summary);
    }
    if tx.d.phase == Phase::Progressing {
        advance_if_due(tx);
    }
}

/// Whether an analysis interval has passed since the last round.
fn interval_elapsed(d: &Deployment, now: Timestamp) -> bool {
    d.progress
        .last_round_at
        .is_none_or(|last| elapsed(last, now) >= d.plan.common().interval)
}

/// Whether a step at `now` may run an analysis round: the deployment is
/// judging its new version and an interval has passed since the last
/// round. The server reads external checks' sources only then, not at
/// every tick.
pub fn round_due(d: &Deployment, now: Timestamp) -> bool {
    matches!(d.phase, Phase::Progressing | Phase::Paused)
        && d.progress.ready_at.is_some()
        && interval_elapsed(d, now)
}

/// A round's verdict and summary from its checks and, when the
/// statistical judge is on, its report: the worse of the two verdicts
/// (fail, then inconclusive), the judge's line first.
fn verdict_of(checks: &[CheckResult], judged: Option<&JudgeReport>) -> (Verdict, String) {
    let from_checks = combine(checks);
    let v = match judged.map(JudgeReport::verdict) {
        None => from_checks,
        Some(j) if j == Verdict::Fail || from_checks == Verdict::Fail => Verdict::Fail,
        Some(Verdict::Inconclusive) => Verdict::Inconclusive,
        Some(_) => from_checks,
    };
    let mut lines: Vec<String> = judged.map(JudgeReport::summary).into_iter().collect();
    lines.extend(
        checks
            .iter()
            .filter(|c| c.verdict == v)
            .map(|c| c.message.clone()),
    );
    let text = lines.join("; ");
    (
        v,
        if text.is_empty() {
            "no checks".to_string()
        } else {
            text
        },
    )
}

/// Runs one round; returns true when it rolled the deployment back.
fn analysis_round(
    tx: &mut Tx<'_>,
    canary: &VersionObservation,
    stable: Option<&VersionObservation>,
) -> bool {
    let stable_samples = stable.map(|s| &s.samples);
    let stable = stable.map(|s| &s.metrics);
    let plan = tx.d.plan.common();
    let m = &canary.metrics;
    let mut checks: Vec<CheckResult> = plan
        .checks
        .iter()
        .map(|c| evaluate_check(c, m, stable, &canary.readings))
        .collect();
    let enough = m.requests >= plan.min_requests;
    let error_rate = m.value(Metric::ErrorRate).unwrap_or(0.0);
    let immediate = enough && error_rate > IMMEDIATE_ERROR_RATE;
    let mut judged: Option<JudgeReport> = None;
    let (verdict, summary) = if !enough {
        (
            Verdict::Inconclusive,
            crate::traffic::shortfall(&tx.d, m, stable),
        )
    } else if immediate {
        (
            Verdict::Fail,
            format!(
                "error_rate {:.1}% above the immediate-rollback limit of {:.0}%",
                error_rate * 100.0,
                IMMEDIATE_ERROR_RATE * 100.0
            ),
        )
    } else {
        judged = plan.judge.mann_whitney().map(|settings| {
            let empty = Samples::default();
            crate::judge::judge(settings, &canary.samples, stable_samples.unwrap_or(&empty))
        });
        verdict_of(&checks, judged.as_ref())
    };
    if !enough {
        // Too little traffic: the figures are shown, but no check may count.
        for c in &mut checks {
            c.verdict = Verdict::Inconclusive;
        }
    }
    let p = &mut tx.d.progress;
    p.rounds += 1;
    p.last_round_at = Some(tx.now);
    match verdict {
        Verdict::Pass => {
            p.consecutive_failures = 0;
            p.step_passes += 1;
            p.step_last_failed = false;
        }
        Verdict::Fail => {
            p.consecutive_failures += 1;
            p.step_last_failed = true;
        }
        Verdict::Inconclusive => {}
    }
    let failures = p.consecutive_failures;
    let number = p.rounds;
    crate::traffic::track(&mut tx.d, verdict, tx.now);
    tx.rounds.push(AnalysisRound {
        deployment_id: tx.d.id,
        number,
        at: tx.now,
        step: tx.d.step,
        canary_weight: tx.d.canary_weight,
        canary: m.clone(),
        stable: stable.cloned(),
        checks,
        judge: judged,
        verdict,
        summary: summary.clone(),
        count: 1,
        last_at: None,
    });
    if immediate {
        let why = format!("analysis round {number}: {summary}: immediate rollback");
        tx.roll_back(CONTROLLER, why);
        return true;
    }
    let limit = tx.d.plan.common().failure_limit;
    if verdict == Verdict::Fail && failures >= limit {
        let why = format!(
            "{failures} consecutive failed analysis rounds (failure_limit {limit}): {summary}"
        );
        tx.roll_back(CONTROLLER, why);
        return true;
    }
    false
}

/// Moves on by itself when the current step, batch or preview is due.
fn advance_if_due(tx: &mut Tx<'_>) {
    match tx.d.plan.kind() {
        PlanKind::Canary => canary::advance_if_due(tx),
        PlanKind::BlueGreen => blue_green::auto_promote_if_due(tx),
        PlanKind::Rolling => rolling::advance_if_due(tx),
        // Switched all traffic once healthy: nothing is left to advance.
        PlanKind::Direct => {}
    }
}

/// Whether the current step (or batch, or preview) has been judged good:
/// no checks, or its latest conclusive round passed.
fn step_judged(tx: &Tx<'_>) -> bool {
    judged(&tx.d)
}

fn judged(d: &Deployment) -> bool {
    let p = &d.progress;
    d.plan.common().checks.is_empty() || (p.step_passes > 0 && !p.step_last_failed)
}

pub(crate) use canary::step_done as canary_step_done;

pub(crate) fn elapsed(since: Timestamp, now: Timestamp) -> Duration {
    if now <= since {
        Duration::ZERO
    } else {
        now.duration_since(since).unsigned_abs()
    }
}

#[cfg(test)]
#[path = "rollout_tests.rs"]
pub(crate) mod tests;

#[cfg(test)]
#[path = "strategy_tests.rs"]
mod strategy_tests;

#[cfg(test)]
#[path = "naming_tests.rs"]
mod naming_tests;

#[cfg(test)]
#[path = "judge_tests.rs"]
mod judge_tests;
