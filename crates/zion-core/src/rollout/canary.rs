//! The canary strategy: the new version takes a weighted share of traffic
//! step by step, each step held for its pause and judged by analysis, until
//! it takes all of it.

use jiff::Timestamp;

use super::{CONTROLLER, CommandError, Tx, elapsed, judged};
use crate::deployment::{Deployment, PlanStep};
use crate::hooks;
use crate::spec::MatchRule;

/// The new version is healthy: enter the first step (a one-step plan
/// once `confirm_promotion` said yes).
pub(super) fn start(tx: &mut Tx<'_>, ready: &str) {
    if let Some(call) = hooks::pending(&tx.d, tx.now) {
        let why = format!(
            "{ready}; waiting for its {} hooks to allow the only step",
            call.point
        );
        tx.note(why, true);
        return;
    }
    enter_step(tx, 0, CONTROLLER, ready);
    finish_if_final(tx, CONTROLLER);
}

/// Whether `d`'s current step is over: its pause has elapsed and its
/// analysis has passed (a step without a pause waits for a promote).
pub(crate) fn step_done(d: &Deployment, now: Timestamp) -> bool {
    let Some(i) = d.step else { return false };
    let Some(pause) = d.plan.steps().get(i as usize).and_then(|s| s.pause) else {
        return false;
    };
    let started = d.progress.step_started_at.unwrap_or(now);
    elapsed(started, now) >= pause && judged(d)
}

/// Moves to the next step once the pause has elapsed, the step's
/// analysis has passed and its hooks (`pre_step`, `post_step`, and
/// `confirm_promotion` before the last step) have said yes.
pub(super) fn advance_if_due(tx: &mut Tx<'_>) {
    let Some(i) = tx.d.step else {
        // A one-step plan waiting for `confirm_promotion`.
        if tx.d.plan.steps().len() == 1 && hooks::pending(&tx.d, tx.now).is_none() {
            enter_step(tx, 0, CONTROLLER, "promotion confirmed");
            finish_if_final(tx, CONTROLLER);
        }
        return;
    };
    if !step_done(&tx.d, tx.now) || hooks::pending(&tx.d, tx.now).is_some() {
        return;
    }
    let total = tx.d.plan.steps().len();
    let passes = tx.d.progress.step_passes;
    if (i as usize) + 1 == total {
        let why = format!(
            "all {total} steps passed ({passes} passing round{} in the last); {} is stable",
            if passes == 1 { "" } else { "s" },
            tx.d.version
        );
        tx.succeed(CONTROLLER, why);
        return;
    }
    let why = format!(
        "{} held and passed {passes} analysis rounds",
        steps_text(tx)
    );
    enter_step(tx, i + 1, CONTROLLER, &why);
    finish_if_final(tx, CONTROLLER);
}

/// `zion promote`: the next step now, or success from the last one. A plan
/// without steps has none to promote through.
pub(super) fn promote(tx: &mut Tx<'_>, actor: &str) -> Result<(), CommandError> {
    let id = tx.d.id;
    let total = tx.d.plan.steps().len();
    let Some(i) = tx.d.step else {
        return Err(CommandError::NoSteps { id });
    };
    if (i as usize) + 1 >= total {
        let why = format!("last step promoted by {actor}; {} is stable", tx.d.version);
        tx.succeed(actor, why);
    } else {
        enter_step(tx, i + 1, actor, &format!("promoted by {actor}"));
        finish_if_final(tx, actor);
    }
    Ok(())
}

/// `step 2/4`, or `no step` before the first.
fn steps_text(tx: &Tx<'_>) -> String {
    let total = tx.d.plan.steps().len();
    match tx.d.step {
        Some(i) => format!("step {}/{total}", i + 1),
        None => "no step".to_string(),
    }
}

/// Enters step `i`: applies its weight and restarts its clock.
fn enter_step(tx: &mut Tx<'_>, i: u32, actor: &str, why: &str) {
    let steps = tx.d.plan.steps();
    let total = steps.len();
    let step = &steps[i as usize];
    let weight = step.weight;
    let pause = step.pause;
    let what = step_traffic_text(step);
    tx.d.step = Some(i);
    tx.d.canary_weight = weight;
    let p = &mut tx.d.progress;
    p.step_started_at = Some(tx.now);
    p.step_passes = 0;
    p.step_last_failed = false;
    p.inconclusive_since = None;
    let hold = match pause {
        Some(p) => format!("hold {}", crate::duration::format_duration(p)),
        None if (i as usize) + 1 < total => "hold until promoted".to_string(),
        None => "final".to_string(),
    };
    let phase = tx.d.phase;
    tx.event(
        phase,
        actor,
        format!("{why}: step {}/{total}, {what} ({hold})", i + 1),
    );
}

/// Entering a final step without a pause completes the rollout.
fn finish_if_final(tx: &mut Tx<'_>, actor: &str) {
    let Some(i) = tx.d.step else { return };
    let steps = tx.d.plan.steps();
    let last = (i as usize) + 1 == steps.len();
    if last && steps[i as usize].pause.is_none() {
        let why = format!(
            "all {} steps passed; {} is stable",
            steps.len(),
            tx.d.version
        );
        tx.succeed(actor, why);
    }
}

/// What a step does with traffic, for events: `canary weight 25%`,
/// `mirroring 20% of stable's requests`, `canary weight 0% + requests
/// matching X-Team=blue`.
fn step_traffic_text(step: &PlanStep) -> String {
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

fn match_text(rule: &MatchRule) -> String {
    match rule {
        MatchRule::HeaderEquals { name, value } => format!("{name}={value}"),
        MatchRule::HeaderRegex { name, regex } => format!("{name}~/{regex}/"),
        MatchRule::CookieEquals { name, value } => format!("cookie {name}={value}"),
    }
}
