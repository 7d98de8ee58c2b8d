//! Moving a waiting deployment through its gate: approval expiry, break
//! glass, the deployment-window hold, and the pre-checks run just before
//! traffic moves. Called by the state machine for `pending` and
//! `awaiting_approval` deployments.

use jiff::{SignedDuration, Timestamp, Unit};

use crate::deployment::{Deployment, Phase, Rollout};
use crate::governance::{GateObservation, WindowState};
use crate::rollout::{CONTROLLER, Tx, VersionObservation};

/// Advances a pending or awaiting-approval deployment by what the
/// controller observed of its gate.
/// `canary` is what runs of the new version already (a rollback inside a
/// blue-green `scale_down_delay` finds it running and only switches back).
pub(crate) fn advance(
    tx: &mut Tx<'_>,
    obs: Option<&GateObservation>,
    canary: Option<&VersionObservation>,
) {
    let open = GateObservation::default();
    let obs = obs.unwrap_or(&open);
    let gate = tx.d.gate.clone();
    let phase = tx.d.phase;
    let now = tx.now;

    if phase == Phase::AwaitingApproval
        && !gate.approved()
        && gate.expires_at.is_some_and(|at| now >= at)
    {
        let have = gate.approvals().count();
        let timeout = gate
            .approval_timeout
            .map(crate::duration::format_duration)
            .unwrap_or_else(|| "the approval timeout".to_string());
        let why = format!(
            "expired: {have}/{} approvals after {timeout}{}; nothing was started",
            gate.approvals_required,
            approvers_text(&gate)
        );
        tx.event(Phase::Expired, CONTROLLER, why);
        return;
    }

    if let Some(bg) = &gate.break_glass {
        let why = format!(
            "break glass by {}: {} (windows, freezes, approvals and checks skipped)",
            bg.by, bg.reason
        );
        start(tx, &why, canary);
        return;
    }

    let held = match &obs.window {
        WindowState::Closed { reason, next_open } if gate.holds_for_window() => {
            Some(hold_text(reason, *next_open))
        }
        _ => None,
    };

    // A closed window holds a pending deployment (it may collect approvals
    // meanwhile) and an approved one; one still collecting approvals keeps
    // saying so.
    if let Some(why) = held.filter(|_| phase == Phase::Pending || gate.approved()) {
        // One event per distinct reason, not one per controller tick.
        if tx.d.reason.as_deref() != Some(why.as_str()) {
            tx.event(phase, CONTROLLER, why);
        }
        return;
    }

    if phase == Phase::Pending && !gate.approved() {
        let expires = gate
            .approval_timeout
            .and_then(|t| SignedDuration::try_from(t).ok())
            .and_then(|t| now.checked_add(t).ok())
            .map(crate::governance::expiry_second);
        tx.d.gate.expires_at = expires;
        let roles: Vec<&str> = gate.approval_roles.iter().map(|r| r.name()).collect();
        let mut why = format!(
            "waiting for {} approval{} from roles {}",
            gate.approvals_required,
            if gate.approvals_required == 1 {
                ""
            } else {
                "s"
            },
            roles.join(", ")
        );
        if gate.prevent_self_approval {
            why.push_str(&format!(" (not {})", tx.d.requested_by));
        }
        if let Some(at) = expires {
            why.push_str(&format!(
                "; expires at {}",
                crate::governance::expiry_text(at)
            ));
        }
        tx.event(Phase::AwaitingApproval, CONTROLLER, why);
        return;
    }
    if !gate.approved() {
        return;
    }

    if !gate.checks.is_empty() {
        let Some(results) = &obs.checks else {
            return;
        };
        tx.d.gate.check_results.extend(results.iter().cloned());
        let failed: Vec<String> = results
            .iter()
            .filter(|r| !r.passed)
            .map(|r| format!("{}: {}", r.check.name(), r.reason))
            .collect();
        if !failed.is_empty() {
            let why = format!(
                "blocked before traffic moved by failed pre-check{} {}; nothing was started",
                if failed.len() == 1 { "" } else { "s" },
                failed.join("; ")
            );
            tx.event(Phase::Cancelled, CONTROLLER, why);
            return;
        }
    }
    let why = if gate.approvals_required > 0 {
        let names: Vec<&str> = gate.approvals().map(|d| d.principal.as_str()).collect();
        format!("approved by {}", names.join(", "))
    } else {
        String::new()
    };
    start(tx, &why, canary);
}

/// Starts the new version (pending/awaiting → progressing).
fn start(tx: &mut Tx<'_>, cause: &str, canary: Option<&VersionObservation>) {
    tx.d.started_at = Some(tx.now);
    let mut why = starting_text(&tx.d, canary);
    if !cause.is_empty() {
        why = format!("{cause}; {why}");
    }
    tx.event(Phase::Progressing, CONTROLLER, why);
}

/// What starting `d` does, named after its rollout: its plan's kind, told
/// apart further for a first version and a rollback.
fn starting_text(d: &Deployment, canary: Option<&VersionObservation>) -> String {
    let v = &d.version;
    let prev = d.previous_version.as_deref().unwrap_or_default();
    // Healthy already: nothing starts, the switch is all that happens.
    let running = canary.is_some_and(|c| c.ever_ready && c.ready >= d.plan.replicas().max(1));
    match d.rollout() {
        Rollout::First => format!("starting {v}, the target's first version"),
        Rollout::Canary => format!("starting {v} as a canary beside stable {prev}"),
        Rollout::BlueGreen => format!(
            "starting {v} (blue-green) beside stable {prev}; once healthy the preview listener \
             serves it alone while live traffic stays on {prev} until the switch"
        ),
        Rollout::Rolling => {
            let n = d.plan.replicas().max(1);
            let batches = d.plan.rolling_plan().map_or(1, |r| r.batches(n));
            format!(
                "replacing replicas of {prev} with {v} batch by batch ({batches} batch{} for {n} replica{})",
                if batches == 1 { "" } else { "es" },
                if n == 1 { "" } else { "s" }
            )
        }
        Rollout::Rollback if running => {
            format!("switching traffic back to {v} (still running) from {prev}")
        }
        Rollout::Rollback => format!("rolling back to {v}: starting it beside {prev}"),
        Rollout::Direct if running => {
            format!("switching all traffic to {v} (already running) from {prev}")
        }
        Rollout::Direct => {
            format!("starting {v} beside stable {prev}; all traffic switches to it once healthy")
        }
    }
}

fn hold_text(reason: &str, next_open: Option<Timestamp>) -> String {
    match next_open {
        Some(at) => format!(
            "waiting for the deployment window: {reason}; it opens at {}",
            seconds(at)
        ),
        None => {
            format!("waiting for the deployment window: {reason}; it does not open within a year")
        }
    }
}

fn approvers_text(gate: &crate::governance::Gate) -> String {
    let names: Vec<&str> = gate.approvals().map(|d| d.principal.as_str()).collect();
    if names.is_empty() {
        String::new()
    } else {
        format!(" (approved by {})", names.join(", "))
    }
}

/// An instant to the second, for messages.
pub(crate) fn seconds(t: Timestamp) -> Timestamp {
    t.round(Unit::Second).unwrap_or(t)
}

#[cfg(test)]
#[path = "gate_tests.rs"]
mod tests;
