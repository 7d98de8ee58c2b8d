//! Lifecycle hooks: which of a deployment's hooks are due, and what their
//! results do to it. Running them is the server's (`zion-server`'s
//! `hooks/`): it asks [`due`] before each step, runs that point's hooks
//! in order as one run, and hands the finished [`HookRun`] to the next
//! step in `Observations::hooks`, which applies it ([`apply`]).
//!
//! Where each point stands in a deployment's life:
//! - `pre_rollout`: the new version is healthy and no traffic has moved
//!   to it. Failure ends the deployment `failed`; a `zion rollback`
//!   deployment does not run it.
//! - `pre_step` (canary): a step was entered; the step does not advance
//!   until it passed. `post_step` (canary): the step's pause and analysis
//!   are done; the next step waits for it. Either failing rolls back.
//! - `confirm_promotion` (canary): asked before the last step is entered
//!   (for a one-step plan, before that step); while it says no the
//!   deployment waits, asking again every analysis interval.
//! - `post_rollout`: after success, recorded; it changes nothing.
//! - `on_rollback`: while a deployment rolls back (automatic, or `zion
//!   abort`), and when a `zion rollback` deployment succeeds; recorded,
//!   and the deployment is `rolled_back` once it has run.
//!
//! Blue-green and rolling deployments run `pre_rollout`, `post_rollout`
//! and `on_rollback`; they have no canary steps to hold.

use serde::{Deserialize, Serialize};

use crate::deployment::{Deployment, DeploymentType, Phase, PlanKind};
use crate::rollout::{CONTROLLER, Observations, Tx};

/// A point of a deployment's life where hooks run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HookPoint {
    PreRollout,
    PreStep,
    PostStep,
    ConfirmPromotion,
    PostRollout,
    OnRollback,
}

impl HookPoint {
    pub const ALL: [HookPoint; 6] = [
        HookPoint::PreRollout,
        HookPoint::PreStep,
        HookPoint::PostStep,
        HookPoint::ConfirmPromotion,
        HookPoint::PostRollout,
        HookPoint::OnRollback,
    ];

    /// Its key in the spec, in events and in `ZION_HOOK`.
    pub fn name(self) -> &'static str {
        match self {
            HookPoint::PreRollout => "pre_rollout",
            HookPoint::PreStep => "pre_step",
            HookPoint::PostStep => "post_step",
            HookPoint::ConfirmPromotion => "confirm_promotion",
            HookPoint::PostRollout => "post_rollout",
            HookPoint::OnRollback => "on_rollback",
        }
    }
}

impl std::fmt::Display for HookPoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// One point's hooks for one deployment, at one canary step (0-based) for
/// the points that have one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct HookCall {
    pub point: HookPoint,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step: Option<u32>,
}

impl HookCall {
    pub fn new(point: HookPoint, step: Option<u32>) -> HookCall {
        HookCall { point, step }
    }
}

/// What one hook did in a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HookResult {
    /// What it ran (`exec ./smoke.sh`, `POST http://…`).
    pub hook: String,
    pub passed: bool,
    /// `exited with 0`, `answered 503`, `did not finish within 2m`…
    pub detail: String,
    /// Attempts made (1 + the retries used).
    pub attempts: u32,
    /// Its output (or answer's body), the last few KiB.
    #[serde(default)]
    pub output: String,
    /// From the first attempt's start to the last one's end.
    pub millis: u64,
}

/// A finished run of one call's hooks: each in order, up to the first
/// that failed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HookRun {
    pub call: HookCall,
    pub results: Vec<HookResult>,
}

impl HookRun {
    /// Whether every hook passed.
    pub fn passed(&self) -> bool {
        self.results.iter().all(|r| r.passed)
    }
}

/// What a deployment's hooks have done, in its progress.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct HookProgress {
    /// Calls that are over: passed, or recorded when their result changes
    /// nothing (`post_rollout`, `on_rollback`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub done: Vec<HookCall>,
    /// When `confirm_promotion` last said no: it is asked again an
    /// analysis interval later.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refused_at: Option<jiff::Timestamp>,
    /// What that no said (the failing hook's detail and output): the same
    /// no again is not recorded again, so a hold of days does not write
    /// an event every interval.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refusal: Option<String>,
}

impl HookProgress {
    pub fn is_empty(&self) -> bool {
        self.done.is_empty() && self.refused_at.is_none() && self.refusal.is_none()
    }
}

/// The call `d` waits on at `now` (whether or not it may run yet): its
/// point has hooks and they are not over.
pub fn pending(d: &Deployment, now: jiff::Timestamp) -> Option<HookCall> {
    let hooks = &d.plan.common().hooks;
    let wants = |call: HookCall| {
        (!hooks.at(call.point).is_empty() && !d.progress.hooks.done.contains(&call)).then_some(call)
    };
    let steps = d.plan.steps().len() as u32;
    match d.phase {
        Phase::Progressing if d.progress.ready_at.is_none() => {
            if d.kind == DeploymentType::Rollback {
                None
            } else {
                wants(HookCall::new(HookPoint::PreRollout, None))
            }
        }
        Phase::Progressing if d.plan.kind() == PlanKind::Canary && steps > 0 => match d.step {
            None if steps == 1 => wants(HookCall::new(HookPoint::ConfirmPromotion, None)),
            None => None,
            Some(i) => wants(HookCall::new(HookPoint::PreStep, Some(i))).or_else(|| {
                if !crate::rollout::canary_step_done(d, now) {
                    return None;
                }
                wants(HookCall::new(HookPoint::PostStep, Some(i))).or_else(|| {
                    (i + 2 == steps)
                        .then(|| HookCall::new(HookPoint::ConfirmPromotion, Some(i)))
                        .and_then(wants)
                })
            }),
        },
        Phase::RollingBack => wants(HookCall::new(HookPoint::OnRollback, None)),
        Phase::Succeeded if d.kind == DeploymentType::Rollback => {
            wants(HookCall::new(HookPoint::OnRollback, None))
        }
        Phase::Succeeded => wants(HookCall::new(HookPoint::PostRollout, None)),
        _ => None,
    }
}

/// The call the server must run for `d` now, if any: what it waits on,
/// once its new version is healthy (`pre_rollout`) and an interval after
/// the last no (`confirm_promotion`).
pub fn due(d: &Deployment, obs: &Observations, now: jiff::Timestamp) -> Option<HookCall> {
    let call = pending(d, now)?;
    match call.point {
        HookPoint::PreRollout => crate::rollout::new_version_ready(d, obs).then_some(call),
        HookPoint::ConfirmPromotion => match d.progress.hooks.refused_at {
            Some(at) if crate::rollout::elapsed(at, now) < d.plan.common().interval => None,
            _ => Some(call),
        },
        _ => Some(call),
    }
}

/// When a refused `confirm_promotion` is next asked.
pub fn ask_again_at(d: &Deployment) -> Option<jiff::Timestamp> {
    let at = d.progress.hooks.refused_at?;
    Some(at + d.plan.common().interval)
}

/// Applies the run of the call `tx`'s deployment waits on, if `runs` has
/// it (a run of any other call is stale and ignored): an event per hook,
/// then what its result does. Returns true when it ended or rolled back
/// the deployment.
pub(crate) fn apply(tx: &mut Tx<'_>, runs: &[HookRun]) -> bool {
    let Some(call) = pending(&tx.d, tx.now) else {
        return false;
    };
    let Some(run) = runs.iter().find(|r| r.call == call) else {
        return false;
    };
    let total = tx.d.plan.common().hooks.at(call.point).len();
    let refusal = run
        .results
        .iter()
        .find(|r| !r.passed)
        .map(|r| format!("{}\n{}", r.detail, r.output));
    let repeated = call.point == HookPoint::ConfirmPromotion
        && refusal.is_some()
        && tx.d.progress.hooks.refusal == refusal;
    let mut failed = None;
    for (k, r) in run.results.iter().enumerate() {
        let text = result_text(call, k, total, r);
        if r.passed {
            if !repeated {
                tx.note(text, false);
            }
        } else {
            failed = Some(text);
        }
    }
    let Some(why) = failed else {
        let p = &mut tx.d.progress.hooks;
        p.done.push(call);
        p.refused_at = None;
        p.refusal = None;
        return false;
    };
    match call.point {
        HookPoint::PreRollout => {
            tx.d.canary_weight = 0;
            tx.event(
                Phase::Failed,
                CONTROLLER,
                format!("{why}; no traffic was moved"),
            );
            true
        }
        HookPoint::PreStep | HookPoint::PostStep => {
            tx.roll_back(CONTROLLER, format!("{why}: rollback"));
            true
        }
        HookPoint::ConfirmPromotion => {
            tx.d.progress.hooks.refused_at = Some(tx.now);
            if repeated {
                // Asked again, the same no: the recorded reason stands.
                return false;
            }
            tx.d.progress.hooks.refusal = refusal;
            let interval = crate::duration::format_duration(tx.d.plan.common().interval);
            tx.note(
                format!("waiting for promotion: {why}; asking again in {interval}"),
                true,
            );
            false
        }
        HookPoint::PostRollout | HookPoint::OnRollback => {
            tx.d.progress.hooks.done.push(call);
            tx.note(why, false);
            false
        }
    }
}

/// `pre_step hook 1/2 at step 2 (exec ./check.sh) passed: exited with 0
/// (2 attempts, 0.4s); its output: …`.
fn result_text(call: HookCall, k: usize, total: usize, r: &HookResult) -> String {
    let at_step = match (call.point, call.step) {
        (HookPoint::PreStep | HookPoint::PostStep | HookPoint::ConfirmPromotion, Some(i)) => {
            format!(" at step {}", i + 1)
        }
        _ => String::new(),
    };
    let verdict = if r.passed { "passed" } else { "failed" };
    let attempts = if r.attempts == 1 {
        String::new()
    } else {
        format!("{} attempts, ", r.attempts)
    };
    let mut text = format!(
        "{} hook {}/{total}{at_step} ({}) {verdict}: {} ({attempts}{:.1}s)",
        call.point,
        k + 1,
        r.hook,
        r.detail,
        r.millis as f64 / 1000.0
    );
    let output = r.output.trim_end();
    if !output.is_empty() {
        text.push_str("; its output:");
        for line in output.lines() {
            text.push_str("\n  | ");
            text.push_str(line);
        }
    }
    text
}

/// The last `max` bytes of `text`, cut at a character boundary, with a
/// mark when something was cut.
pub fn tail(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_string();
    }
    let mut start = text.len() - max;
    while !text.is_char_boundary(start) {
        start += 1;
    }
    format!("…{}", &text[start..])
}

#[cfg(test)]
#[path = "hooks_tests.rs"]
mod tests;
