//! The deployment state machine: a pure step from (recorded state,
//! observations, now) to the next state, the events that explain it and the
//! analysis rounds it ran; manual commands (promote, pause, resume, abort);
//! and the target's desired state, from which the controller derives its
//! idempotent actions.
//!
//! Nothing here reads a clock or touches the world: the controller passes
//! `now` and what it observed, persists the outcome, then acts.

use std::time::Duration;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::analysis::{AnalysisRound, CheckResult, Verdict, combine, evaluate_check};
use crate::deployment::{
    Action, Deployment, DeploymentType, Event, Phase, RollingPlan, TrafficRules,
};
use crate::governance::GateObservation;
use crate::metrics::{Metric, WindowMetrics};

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
    pub canary: Option<VersionObservation>,
    /// The stable version (the baseline); None when there is none.
    pub stable: Option<VersionObservation>,
    /// The gate of a pending or awaiting-approval deployment; None means an
    /// open window and no check results.
    pub gate: Option<GateObservation>,
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

/// A manual command on a deployment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Command {
    /// Go to the next step now.
    Promote,
    /// Skip the remaining steps and analysis: all traffic to the new version.
    PromoteFull,
    Pause,
    Resume,
    /// Send traffic back to stable and stop the new version.
    Abort,
}

impl Command {
    /// The name used in the API path.
    pub fn name(self) -> &'static str {
        match self {
            Command::Promote => "promote",
            Command::PromoteFull => "promote --full",
            Command::Pause => "pause",
            Command::Resume => "resume",
            Command::Abort => "abort",
        }
    }
}

/// Why a command was refused; the state is unchanged.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CommandError {
    #[error("deployment {id} is {phase}, which is final; start a new deployment instead")]
    Terminal { id: i64, phase: Phase },
    #[error("deployment {id} is {phase}; `{command}` needs a progressing or paused deployment")]
    WrongPhase {
        id: i64,
        phase: Phase,
        command: &'static str,
    },
    #[error("deployment {id}: version {version} is not healthy yet; wait for it or abort")]
    NotReady { id: i64, version: String },
    #[error("deployment {id} is already paused; use resume")]
    AlreadyPaused { id: i64 },
    #[error("deployment {id} is not paused")]
    NotPaused { id: i64 },
    #[error(
        "deployment {id} has no steps to promote through; it switches all traffic once healthy"
    )]
    NoSteps { id: i64 },
    #[error("deployment {id}: batch {batch} is not healthy yet; wait for it or abort")]
    BatchNotReady { id: i64, batch: String },
    #[error(
        "deployment {id}: the preview of {version} is unhealthy ({detail}); fix it or `zion abort {id}`"
    )]
    PreviewUnhealthy {
        id: i64,
        version: String,
        detail: String,
    },
}

/// Refuses to promote a blue-green deployment whose preview is unhealthy
/// now: a replica not ready, or the latest analysis round failed.
pub fn check_promotable(
    d: &Deployment,
    canary: Option<&VersionObservation>,
) -> Result<(), CommandError> {
    if d.plan.blue_green.is_none() || d.progress.ready_at.is_none() {
        return Ok(());
    }
    let unhealthy = |detail: String| CommandError::PreviewUnhealthy {
        id: d.id,
        version: d.version.clone(),
        detail,
    };
    let Some(c) = canary else {
        return Err(unhealthy("no replica runs".to_string()));
    };
    let want = d.plan.replicas.max(1);
    if c.ready < want || c.consecutive_probe_failures > 0 {
        let mut detail = format!("{}/{want} replicas ready", c.ready);
        if c.consecutive_probe_failures > 0 {
            detail.push_str(&format!(
                ", {} failed health checks in a row",
                c.consecutive_probe_failures
            ));
        }
        if let Some(e) = &c.last_error {
            detail.push_str(&format!("; last error: {e}"));
        }
        return Err(unhealthy(detail));
    }
    if d.progress.step_last_failed {
        return Err(unhealthy(format!(
            "its latest analysis round failed ({} consecutive)",
            d.progress.consecutive_failures
        )));
    }
    Ok(())
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

    fn steps_text(&self) -> String {
        let total = self.d.plan.steps.len();
        match self.d.step {
            Some(i) => format!("step {}/{total}", i + 1),
            None => "no step".to_string(),
        }
    }

    /// Enters step `i`: applies its weight and restarts its clock.
    fn enter_step(&mut self, i: u32, actor: &str, why: &str) {
        let step = &self.d.plan.steps[i as usize];
        let weight = step.weight;
        let pause = step.pause;
        let what = step_traffic_text(step);
        let total = self.d.plan.steps.len();
        self.d.step = Some(i);
        self.d.canary_weight = weight;
        let p = &mut self.d.progress;
        p.step_started_at = Some(self.now);
        p.step_passes = 0;
        p.step_last_failed = false;
        p.inconclusive_since = None;
        let hold = match pause {
            Some(p) => format!("hold {}", crate::duration::format_duration(p)),
            None if (i as usize) + 1 < total => "hold until promoted".to_string(),
            None => "final".to_string(),
        };
        let phase = self.d.phase;
        self.event(
            phase,
            actor,
            format!("{why}: step {}/{total}, {what} ({hold})", i + 1),
        );
    }

    fn succeed(&mut self, actor: &str, reason: String) {
        self.d.canary_weight = 100;
        self.event(Phase::Succeeded, actor, reason);
    }

    fn roll_back(&mut self, actor: &str, reason: String) {
        self.d.canary_weight = 0;
        self.event(Phase::RollingBack, actor, reason);
    }
}

/// What a step does with traffic, for events: `canary weight 25%`,
/// `mirroring 20% of stable's requests`, `canary weight 0% + requests
/// matching X-Team=blue`.
fn step_traffic_text(step: &crate::deployment::PlanStep) -> String {
    let mut text = match step.mirror {
        Some(m) => format!("mirroring {m}% of stable's requests to the canary"),
        None => format!("canary weight {}%", step.weight),
    };
    if !step.matches.is_empty() {
        let rules: Vec<String> = step.matches.iter().map(match_text).collect();
        text.push_str(&format!(" + requests matching {}", rules.join(" or ")));
    }
    text
}

fn match_text(rule: &crate::spec::MatchRule) -> String {
    use crate::spec::MatchRule;
    match rule {
        MatchRule::HeaderEquals { name, value } => format!("{name}={value}"),
        MatchRule::HeaderRegex { name, regex } => format!("{name}~/{regex}/"),
        MatchRule::CookieEquals { name, value } => format!("cookie {name}={value}"),
    }
}

/// Advances a deployment by what was observed at `now`.
pub fn step(before: &Deployment, obs: &Observations, now: Timestamp) -> Outcome {
    let mut tx = Tx::new(before, now);
    match before.phase {
        Phase::Pending | Phase::AwaitingApproval => {
            crate::governance::gating::advance(&mut tx, obs.gate.as_ref(), obs.canary.as_ref());
        }
        Phase::Progressing | Phase::Paused => {
            if before.progress.ready_at.is_none() {
                await_ready(&mut tx, obs);
            } else {
                judge(&mut tx, obs);
            }
        }
        Phase::RollingBack => {
            let stopped = obs.canary.as_ref().is_none_or(|c| !c.running);
            if stopped {
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
    let d = tx.d.clone();
    let canary = obs.canary.clone().unwrap_or_default();
    if let (Some(rolling), Some(_)) = (d.plan.rolling, &d.previous_version) {
        let first = rolling.replaced(0, d.plan.replicas);
        if canary.ever_ready && canary.ready >= first {
            tx.d.progress.ready_at = Some(tx.now);
            tx.d.progress.last_round_at = Some(tx.now);
            tx.d.step = Some(0);
            tx.d.progress.step_started_at = d.started_at.or(Some(d.created_at));
            batch_ready(tx, rolling);
            return;
        }
    } else if canary.ever_ready && canary.ready >= d.plan.replicas.max(1) {
        tx.d.progress.ready_at = Some(tx.now);
        tx.d.progress.last_round_at = Some(tx.now);
        let ready = format!(
            "{} healthy ({}/{} replicas)",
            d.version, canary.ready, d.plan.replicas
        );
        match (&d.previous_version, d.plan.steps.is_empty()) {
            (Some(_), _) if d.plan.blue_green.is_some() => {
                tx.d.step = Some(0);
                let next = match d.plan.blue_green.as_ref().and_then(|b| b.auto_promotion) {
                    Some(after) => format!(
                        "promotes by itself in {} once analysis passes",
                        crate::duration::format_duration(after)
                    ),
                    None => format!("promote with `zion promote {}`", d.id),
                };
                let why = format!("{ready}; preview ready: it takes preview traffic only; {next}");
                let phase = tx.d.phase;
                tx.event(phase, CONTROLLER, why);
            }
            (None, _) => {
                let why = format!("{ready}; first version of the target: all traffic to it");
                tx.succeed(CONTROLLER, why);
            }
            (Some(prev), true) => {
                let why = if d.kind == DeploymentType::Rollback {
                    format!("{ready}; rolled back: all traffic switched from {prev} to it")
                } else {
                    format!("{ready}; all traffic switched from {prev}")
                };
                tx.succeed(CONTROLLER, why);
            }
            (Some(_), false) => {
                tx.enter_step(0, CONTROLLER, &ready);
                finish_if_final(tx, CONTROLLER);
            }
        }
        return;
    }
    let started = d.started_at.unwrap_or(d.created_at);
    let detail = canary.error_detail();
    let why = if canary.exits_before_ready >= CRASH_LOOP_EXITS {
        format!(
            "{} exited {} times before it was ever healthy ({}/{} replicas ready){detail}; no traffic was moved",
            d.version, canary.exits_before_ready, canary.ready, d.plan.replicas,
        )
    } else if elapsed(started, tx.now) >= d.plan.start_timeout {
        format!(
            "{} did not become healthy within {} ({}/{} replicas ready){detail}; no traffic was moved",
            d.version,
            crate::duration::format_duration(d.plan.start_timeout),
            canary.ready,
            d.plan.replicas,
        )
    } else {
        return;
    };
    tx.d.canary_weight = 0;
    tx.event(Phase::Failed, CONTROLLER, canary.with_output(why));
}

/// Entering a final step without a pause completes the rollout.
fn finish_if_final(tx: &mut Tx<'_>, actor: &str) {
    let Some(i) = tx.d.step else { return };
    let last = (i as usize) + 1 == tx.d.plan.steps.len();
    if last && tx.d.plan.steps[i as usize].pause.is_none() {
        let why = format!(
            "all {} steps passed; {} is stable",
            tx.d.plan.steps.len(),
            tx.d.version
        );
        tx.succeed(actor, why);
    }
}

/// While the new version takes traffic: immediate rollback triggers,
/// analysis rounds, and step advancement.
fn judge(tx: &mut Tx<'_>, obs: &Observations) {
    let canary = obs.canary.clone().unwrap_or_default();
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
    if let Some(rolling) = tx.d.plan.rolling
        && tx.d.progress.batch_ready_at.is_none()
        && starting_batch(tx, &canary, rolling)
    {
        return;
    }
    let due =
        tx.d.progress
            .last_round_at
            .is_none_or(|last| elapsed(last, tx.now) >= tx.d.plan.interval);
    if due {
        if analysis_round(tx, &canary, obs.stable.as_ref().map(|s| &s.metrics)) {
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

/// Runs one round; returns true when it rolled the deployment back.
fn analysis_round(
    tx: &mut Tx<'_>,
    canary: &VersionObservation,
    stable: Option<&WindowMetrics>,
) -> bool {
    let plan = &tx.d.plan;
    let m = &canary.metrics;
    let mut checks: Vec<CheckResult> = plan
        .checks
        .iter()
        .map(|c| evaluate_check(c, m, stable))
        .collect();
    let enough = m.requests >= plan.min_requests;
    let error_rate = m.value(Metric::ErrorRate).unwrap_or(0.0);
    let immediate = enough && error_rate > IMMEDIATE_ERROR_RATE;
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
        let v = combine(&checks);
        let text = checks
            .iter()
            .filter(|c| c.verdict == v)
            .map(|c| c.message.clone())
            .collect::<Vec<_>>()
            .join("; ");
        (
            v,
            if text.is_empty() {
                "no checks".to_string()
            } else {
                text
            },
        )
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
    if verdict == Verdict::Fail && failures >= tx.d.plan.failure_limit {
        let why = format!(
            "{failures} consecutive failed analysis rounds (failure_limit {}): {summary}",
            tx.d.plan.failure_limit
        );
        tx.roll_back(CONTROLLER, why);
        return true;
    }
    false
}

/// Moves to the next step once the pause has elapsed and the step's
/// analysis has passed.
fn advance_if_due(tx: &mut Tx<'_>) {
    if tx.d.plan.blue_green.is_some() {
        auto_promote_if_due(tx);
        return;
    }
    if let Some(rolling) = tx.d.plan.rolling {
        if tx.d.progress.batch_ready_at.is_some() && step_judged(tx) {
            let why = format!(
                "batch {} healthy and passed {} analysis round{}",
                batch_text(&tx.d, rolling),
                tx.d.progress.step_passes,
                if tx.d.progress.step_passes == 1 {
                    ""
                } else {
                    "s"
                }
            );
            next_batch(tx, rolling, CONTROLLER, &why);
        }
        return;
    }
    let Some(i) = tx.d.step else { return };
    let step = &tx.d.plan.steps[i as usize];
    let Some(pause) = step.pause else { return };
    let started = tx.d.progress.step_started_at.unwrap_or(tx.now);
    if elapsed(started, tx.now) < pause {
        return;
    }
    if !step_judged(tx) {
        return;
    }
    let passes = tx.d.progress.step_passes;
    if (i as usize) + 1 == tx.d.plan.steps.len() {
        let why = format!(
            "all {} steps passed ({passes} passing round{} in the last); {} is stable",
            tx.d.plan.steps.len(),
            if passes == 1 { "" } else { "s" },
            tx.d.version
        );
        tx.succeed(CONTROLLER, why);
        return;
    }
    let why = format!(
        "{} held and passed {passes} analysis rounds",
        tx.steps_text()
    );
    tx.enter_step(i + 1, CONTROLLER, &why);
    finish_if_final(tx, CONTROLLER);
}

/// Whether the current step (or batch, or preview) has been judged good:
/// no checks, or its latest conclusive round passed.
fn step_judged(tx: &Tx<'_>) -> bool {
    let p = &tx.d.progress;
    tx.d.plan.checks.is_empty() || (p.step_passes > 0 && !p.step_last_failed)
}

/// Blue-green: promotes by itself once `auto_promotion` has elapsed since
/// the preview was ready and its analysis passed.
fn auto_promote_if_due(tx: &mut Tx<'_>) {
    let Some(after) = tx.d.plan.blue_green.as_ref().and_then(|b| b.auto_promotion) else {
        return;
    };
    let Some(ready) = tx.d.progress.ready_at else {
        return;
    };
    if elapsed(ready, tx.now) < after || !step_judged(tx) {
        return;
    }
    let passes = tx.d.progress.step_passes;
    let why = format!(
        "promoted automatically {} after the preview was ready ({passes} passing analysis round{}): {}",
        crate::duration::format_duration(after),
        if passes == 1 { "" } else { "s" },
        switch_text(&tx.d)
    );
    tx.succeed(CONTROLLER, why);
}

/// What a blue-green switch did, for events.
fn switch_text(d: &Deployment) -> String {
    let delay = d
        .plan
        .blue_green
        .as_ref()
        .map(|b| crate::duration::format_duration(b.scale_down_delay))
        .unwrap_or_default();
    match &d.previous_version {
        Some(prev) => format!(
            "all traffic switched from {prev} to {}; {prev} keeps running for {delay} so a rollback is only a switch back",
            d.version
        ),
        None => format!("all traffic switched to {}", d.version),
    }
}

/// `2/3` for batch index 1 of 3.
fn batch_text(d: &Deployment, rolling: RollingPlan) -> String {
    format!(
        "{}/{}",
        d.step.unwrap_or(0) + 1,
        rolling.batches(d.plan.replicas)
    )
}

/// The share of traffic `new` of `total` replicas get.
fn replica_weight(new: u32, total: u32) -> u8 {
    let total = total.max(1);
    let w = (u64::from(new.min(total)) * 100 + u64::from(total) / 2) / u64::from(total);
    u8::try_from(w).unwrap_or(100)
}

/// Rolling: the current batch's replicas are all ready; traffic follows
/// them, and the old version gives up as many replicas. The last batch
/// completes the rollout.
fn batch_ready(tx: &mut Tx<'_>, rolling: RollingPlan) {
    let n = tx.d.plan.replicas.max(1);
    let i = tx.d.step.unwrap_or(0);
    let total = rolling.batches(n);
    let new = rolling.replaced(i, n);
    let p = &mut tx.d.progress;
    p.batch_ready_at = Some(tx.now);
    p.last_round_at = Some(tx.now);
    p.step_passes = 0;
    p.step_last_failed = false;
    p.inconclusive_since = None;
    tx.d.canary_weight = replica_weight(new, n);
    let version = tx.d.version.clone();
    if i + 1 >= total {
        let why = format!(
            "batch {total}/{total} healthy: all {n} replicas run {version}; {version} is stable"
        );
        tx.succeed(CONTROLLER, why);
        return;
    }
    let prev = tx.d.previous_version.clone().unwrap_or_default();
    let why = format!(
        "batch {}/{total} healthy: {new}/{n} replicas run {version}, {} run {prev}; {}% of traffic to {version}",
        i + 1,
        n - new,
        tx.d.canary_weight
    );
    let phase = tx.d.phase;
    tx.event(phase, CONTROLLER, why);
}

/// Rolling: starts replacing the next batch.
fn next_batch(tx: &mut Tx<'_>, rolling: RollingPlan, actor: &str, why: &str) {
    let n = tx.d.plan.replicas.max(1);
    let i = tx.d.step.unwrap_or(0) + 1;
    let total = rolling.batches(n);
    tx.d.step = Some(i);
    let p = &mut tx.d.progress;
    p.batch_ready_at = None;
    p.step_started_at = Some(tx.now);
    p.step_passes = 0;
    p.step_last_failed = false;
    p.inconclusive_since = None;
    let reason = format!(
        "{why}: starting batch {}/{total} ({} of {n} replicas of {})",
        i + 1,
        rolling.replaced(i, n),
        tx.d.version
    );
    let phase = tx.d.phase;
    tx.event(phase, actor, reason);
}

/// Rolling, while a batch after the first starts: ready → traffic follows;
/// too slow → every replaced replica goes back. Returns true when it
/// decided.
fn starting_batch(tx: &mut Tx<'_>, canary: &VersionObservation, rolling: RollingPlan) -> bool {
    let n = tx.d.plan.replicas.max(1);
    let i = tx.d.step.unwrap_or(0);
    let want = rolling.replaced(i, n);
    if canary.ever_ready && canary.ready >= want {
        if tx.d.phase == Phase::Progressing {
            batch_ready(tx, rolling);
            return true;
        }
        return false;
    }
    let started = tx.d.progress.step_started_at.unwrap_or(tx.now);
    let detail = canary.error_detail();
    let why = if canary.exits_before_ready >= CRASH_LOOP_EXITS {
        format!(
            "batch {}: a replica exited {} times before it was ever healthy ({}/{want} replicas ready){detail}: rolling back every replaced replica",
            batch_text(&tx.d, rolling),
            canary.exits_before_ready,
            canary.ready,
        )
    } else if elapsed(started, tx.now) >= tx.d.plan.start_timeout {
        format!(
            "batch {} did not become healthy within {} ({}/{want} replicas ready){detail}: rolling back every replaced replica",
            batch_text(&tx.d, rolling),
            crate::duration::format_duration(tx.d.plan.start_timeout),
            canary.ready,
        )
    } else {
        return false;
    };
    tx.roll_back(CONTROLLER, canary.with_output(why));
    true
}

/// Applies a manual command by `actor` (a principal's name).
pub fn command(
    before: &Deployment,
    cmd: Command,
    actor: &str,
    now: Timestamp,
) -> Result<Outcome, CommandError> {
    let id = before.id;
    let phase = before.phase;
    if phase.is_terminal() {
        return Err(CommandError::Terminal { id, phase });
    }
    let mut tx = Tx::new(before, now);
    let active = matches!(phase, Phase::Progressing | Phase::Paused);
    match cmd {
        Command::Abort => match phase {
            Phase::Pending | Phase::AwaitingApproval => {
                tx.event(Phase::Cancelled, actor, format!("cancelled by {actor}"));
            }
            Phase::Progressing | Phase::Paused => {
                let back = match &before.previous_version {
                    Some(prev) => format!("traffic back to {prev}"),
                    None => "no stable version to go back to".to_string(),
                };
                tx.roll_back(actor, format!("aborted by {actor}: {back}"));
            }
            _ => {
                return Err(CommandError::WrongPhase {
                    id,
                    phase,
                    command: cmd.name(),
                });
            }
        },
        Command::Pause => match phase {
            Phase::Progressing => {
                tx.d.progress.paused_at = Some(now);
                tx.event(Phase::Paused, actor, format!("paused by {actor}"));
            }
            Phase::Paused => return Err(CommandError::AlreadyPaused { id }),
            _ => {
                return Err(CommandError::WrongPhase {
                    id,
                    phase,
                    command: cmd.name(),
                });
            }
        },
        Command::Resume => match phase {
            Phase::Paused => {
                resume_clock(&mut tx);
                tx.event(Phase::Progressing, actor, format!("resumed by {actor}"));
                // A resume before the version was ready lets the next step
                // call start the plan; once ready, the step clock continues.
            }
            Phase::Progressing => return Err(CommandError::NotPaused { id }),
            _ => {
                return Err(CommandError::WrongPhase {
                    id,
                    phase,
                    command: cmd.name(),
                });
            }
        },
        Command::Promote | Command::PromoteFull => {
            if !active {
                return Err(CommandError::WrongPhase {
                    id,
                    phase,
                    command: cmd.name(),
                });
            }
            if before.progress.ready_at.is_none() {
                return Err(CommandError::NotReady {
                    id,
                    version: before.version.clone(),
                });
            }
            if phase == Phase::Paused {
                resume_clock(&mut tx);
                tx.d.phase = Phase::Progressing;
            }
            let total = before.plan.steps.len();
            if before.plan.blue_green.is_some() {
                let why = format!("promoted by {actor}: {}", switch_text(before));
                tx.succeed(actor, why);
                return Ok(tx.finish());
            }
            if let Some(rolling) = before.plan.rolling
                && cmd == Command::Promote
            {
                if before.progress.batch_ready_at.is_none() {
                    return Err(CommandError::BatchNotReady {
                        id,
                        batch: batch_text(before, rolling),
                    });
                }
                next_batch(&mut tx, rolling, actor, &format!("promoted by {actor}"));
                return Ok(tx.finish());
            }
            if cmd == Command::PromoteFull {
                let skipped = match before.step {
                    Some(i) if (i as usize) + 1 < total => {
                        format!(", skipping steps {}–{total} and their analysis", i + 2)
                    }
                    _ => String::new(),
                };
                tx.succeed(actor, format!("promoted fully by {actor}{skipped}"));
            } else {
                let Some(i) = before.step else {
                    return Err(CommandError::NoSteps { id });
                };
                if (i as usize) + 1 >= total {
                    let why = format!(
                        "last step promoted by {actor}; {} is stable",
                        before.version
                    );
                    tx.succeed(actor, why);
                } else {
                    tx.enter_step(i + 1, actor, &format!("promoted by {actor}"));
                    finish_if_final(&mut tx, actor);
                }
            }
        }
    }
    Ok(tx.finish())
}

/// Time spent paused does not count towards a step's hold.
fn resume_clock(tx: &mut Tx<'_>) {
    let p = &mut tx.d.progress;
    if let (Some(paused), Some(started)) = (p.paused_at, p.step_started_at) {
        let span = tx.now.duration_since(paused);
        p.step_started_at = started.checked_add(span).ok();
    }
    p.paused_at = None;
    // Whoever resumes or promotes has seen the quiet: it starts over.
    p.inconclusive_since = None;
}

/// What a target should look like: which versions run and how traffic is
/// split, as idempotent actions. `stable` is the target's stable version,
/// `active` its non-terminal deployment if any, `retained` a version kept
/// running without traffic (a blue-green switch's old version, see
/// [`retained_version`]), `running` the versions of the target that run now
/// (so the rest can be stopped).
pub fn desired_target(
    stable: Option<&str>,
    stable_replicas: u32,
    active: Option<&Deployment>,
    retained: Option<&str>,
    running: &[String],
) -> Vec<Action> {
    let mut run: Vec<(String, u32)> = Vec::new();
    // The preview listener serves the stable version when nothing is being
    // rolled out, only the new version once it is ready, and nothing before.
    let mut preview = stable.map(str::to_string);
    let traffic = match active {
        Some(d) if matches!(d.phase, Phase::Progressing | Phase::Paused) => {
            let base = d.previous_version.clone();
            let (base_n, new_n) = replica_counts(d, stable_replicas);
            if let Some(b) = &base
                && base_n > 0
            {
                run.push((b.clone(), base_n));
            }
            if base.as_deref() != Some(d.version.as_str()) {
                run.push((d.version.clone(), new_n));
            }
            let ready = d.progress.ready_at.is_some();
            preview = ready.then(|| d.version.clone());
            let weight = if ready { d.canary_weight } else { 0 };
            // Rules only apply once the canary is healthy: before, it gets
            // no request of any kind.
            let step = d
                .step
                .filter(|_| ready)
                .and_then(|i| d.plan.steps.get(i as usize));
            let rules = TrafficRules {
                matches: step.map(|s| s.matches.clone()).unwrap_or_default(),
                mirror_percent: step.and_then(|s| s.mirror).unwrap_or(0),
                // At 100% every client moves, pinned or not.
                sticky: d.plan.sticky && ready && weight < 100,
            };
            Action::SetTraffic {
                stable: base,
                canary: Some(d.version.clone()),
                canary_weight: weight,
                rules,
            }
        }
        Some(d) if d.phase == Phase::RollingBack => {
            if let Some(b) = &d.previous_version {
                run.push((b.clone(), stable_replicas));
            }
            preview = d.previous_version.clone();
            Action::SetTraffic {
                stable: d.previous_version.clone(),
                canary: None,
                canary_weight: 0,
                rules: TrafficRules::default(),
            }
        }
        // Pending or awaiting approval: the target is as if there were none.
        _ => {
            if let Some(s) = stable {
                run.push((s.to_string(), stable_replicas));
            }
            Action::SetTraffic {
                stable: stable.map(str::to_string),
                canary: None,
                canary_weight: 0,
                rules: TrafficRules::default(),
            }
        }
    };
    if let Some(r) = retained
        && !run.iter().any(|(v, _)| v == r)
    {
        run.push((r.to_string(), stable_replicas));
    }
    let mut actions: Vec<Action> = run
        .iter()
        .map(|(v, n)| Action::StartVersion {
            version: v.clone(),
            replicas: *n,
        })
        .collect();
    // Traffic moves before anything stops, so no request meets a dead pool.
    actions.push(traffic);
    actions.push(Action::SetPreview { version: preview });
    for v in running {
        if !run.iter().any(|(r, _)| r == v) {
            actions.push(Action::StopVersion { version: v.clone() });
        }
    }
    actions
}

/// Replicas of the old and the new version a progressing deployment wants.
/// Rolling: the new version runs the batches started so far; the old one
/// gives up a batch's replicas only once that batch is ready, so capacity
/// never dips.
fn replica_counts(d: &Deployment, stable_replicas: u32) -> (u32, u32) {
    match (d.plan.rolling, &d.previous_version) {
        (Some(r), Some(_)) => {
            let n = d.plan.replicas.max(1);
            let i = d.step.unwrap_or(0);
            let replaced = if d.progress.batch_ready_at.is_some() {
                r.replaced(i, n)
            } else if i == 0 {
                0
            } else {
                r.replaced(i - 1, n)
            };
            (n - replaced, r.replaced(i, n))
        }
        _ => (stable_replicas, d.plan.replicas),
    }
}

/// The old version a succeeded blue-green deployment keeps running until
/// its `scale_down_delay` has passed; `last` is the target's latest
/// finished deployment.
pub fn retained_version(last: &Deployment, now: Timestamp) -> Option<&str> {
    let bg = last.plan.blue_green.as_ref()?;
    if last.phase != Phase::Succeeded {
        return None;
    }
    let finished = last.finished_at?;
    (elapsed(finished, now) < bg.scale_down_delay)
        .then_some(last.previous_version.as_deref())
        .flatten()
}

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
