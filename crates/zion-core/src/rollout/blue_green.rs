//! The blue-green strategy: the new version runs all its replicas beside
//! the old one, serves only the preview listener until it is promoted, then
//! takes all traffic in one switch; the old version keeps running for
//! `scale_down_delay` so a rollback is only a switch back.

use jiff::Timestamp;

use super::{CONTROLLER, CommandError, Tx, VersionObservation, elapsed, step_judged};
use crate::deployment::{Deployment, Phase};

/// The new version is healthy: its preview is ready, live traffic stays.
pub(super) fn preview_ready(tx: &mut Tx<'_>, ready: &str) {
    tx.d.step = Some(0);
    let auto = tx.d.plan.blue_green_plan().and_then(|b| b.auto_promotion);
    let next = match auto {
        Some(after) => format!(
            "promotes by itself in {} once analysis passes",
            crate::duration::format_duration(after)
        ),
        None => format!("promote with `zion promote {}`", tx.d.id),
    };
    let why = format!("{ready}; preview ready: it takes preview traffic only; {next}");
    let phase = tx.d.phase;
    tx.event(phase, CONTROLLER, why);
}

/// Promotes by itself once `auto_promotion` has elapsed since the preview
/// was ready and its analysis passed.
pub(super) fn auto_promote_if_due(tx: &mut Tx<'_>) {
    let Some(after) = tx.d.plan.blue_green_plan().and_then(|b| b.auto_promotion) else {
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

/// `zion promote` (with or without `--full`): the switch.
pub(super) fn promote(tx: &mut Tx<'_>, actor: &str) {
    let why = format!("promoted by {actor}: {}", switch_text(&tx.d));
    tx.succeed(actor, why);
}

/// What the replica checking a promote knows of the preview.
#[derive(Debug, Clone, Copy)]
pub enum PreviewSeen<'a> {
    /// Observed now, by the replica that drives the target and probes its
    /// replicas (None: no replica of the new version runs).
    Live(Option<&'a VersionObservation>),
    /// Only what the driver last recorded on the deployment (that the
    /// preview became ready, and whether its latest round failed): a
    /// replica of `zion up` that does not drive the target probes nothing.
    Recorded,
}

/// Refuses to promote a blue-green deployment whose preview is unhealthy
/// now: a replica not ready, or the latest analysis round failed.
pub fn check_promotable(d: &Deployment, preview: PreviewSeen<'_>) -> Result<(), CommandError> {
    if d.plan.blue_green_plan().is_none() || d.progress.ready_at.is_none() {
        return Ok(());
    }
    let unhealthy = |detail: String| CommandError::PreviewUnhealthy {
        id: d.id,
        version: d.version.clone(),
        detail,
    };
    let canary = match preview {
        PreviewSeen::Live(canary) => canary,
        PreviewSeen::Recorded => return last_round_passed(d).map_err(unhealthy),
    };
    let Some(c) = canary else {
        return Err(unhealthy("no replica runs".to_string()));
    };
    let want = d.plan.replicas().max(1);
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
    last_round_passed(d).map_err(unhealthy)
}

fn last_round_passed(d: &Deployment) -> Result<(), String> {
    if d.progress.step_last_failed {
        return Err(format!(
            "its latest analysis round failed ({} consecutive)",
            d.progress.consecutive_failures
        ));
    }
    Ok(())
}

/// The old version a succeeded blue-green deployment keeps running until
/// its `scale_down_delay` has passed; `last` is the target's latest
/// finished deployment.
pub fn retained_version(last: &Deployment, now: Timestamp) -> Option<&str> {
    let bg = last.plan.blue_green_plan()?;
    if last.phase != Phase::Succeeded {
        return None;
    }
    let finished = last.finished_at?;
    (elapsed(finished, now) < bg.scale_down_delay)
        .then_some(last.previous_version.as_deref())
        .flatten()
}

/// When [`retained_version`] stops keeping `last`'s old version: the end
/// of its `scale_down_delay`, if it keeps one at all.
pub(crate) fn scale_down_at(last: &Deployment) -> Option<Timestamp> {
    let bg = last.plan.blue_green_plan()?;
    if last.phase != Phase::Succeeded || last.previous_version.is_none() {
        return None;
    }
    let delay = jiff::SignedDuration::try_from(bg.scale_down_delay).ok()?;
    last.finished_at?.checked_add(delay).ok()
}

/// What a blue-green switch did, for events.
fn switch_text(d: &Deployment) -> String {
    let delay = d
        .plan
        .blue_green_plan()
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
