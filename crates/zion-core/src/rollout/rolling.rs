//! The rolling strategy: the stable version's replicas are replaced batch
//! by batch; each batch must be healthy before the old version gives up as
//! many replicas, and traffic follows the replicas of both versions.

use super::{
    CONTROLLER, CRASH_LOOP_EXITS, CommandError, Tx, VersionObservation, elapsed, step_judged,
};
use crate::deployment::{Deployment, Phase, RollingPlan};

/// The first batch is healthy: traffic starts to follow it.
pub(super) fn start(tx: &mut Tx<'_>) {
    let Some(rolling) = tx.d.plan.rolling_plan() else {
        return;
    };
    tx.d.step = Some(0);
    tx.d.progress.step_started_at = tx.d.started_at.or(Some(tx.d.created_at));
    batch_ready(tx, rolling);
}

/// Starts the next batch once the current one is healthy and its analysis
/// has passed.
pub(super) fn advance_if_due(tx: &mut Tx<'_>) {
    let Some(rolling) = tx.d.plan.rolling_plan() else {
        return;
    };
    if tx.d.progress.batch_ready_at.is_none() || !step_judged(tx) {
        return;
    }
    let passes = tx.d.progress.step_passes;
    let why = format!(
        "batch {} healthy and passed {passes} analysis round{}",
        batch_text(&tx.d, rolling),
        if passes == 1 { "" } else { "s" }
    );
    next_batch(tx, rolling, CONTROLLER, &why);
}

/// `zion promote`: the next batch now, once the current one is healthy.
pub(super) fn promote(
    tx: &mut Tx<'_>,
    rolling: RollingPlan,
    actor: &str,
) -> Result<(), CommandError> {
    if tx.d.progress.batch_ready_at.is_none() {
        return Err(CommandError::BatchNotReady {
            id: tx.d.id,
            batch: batch_text(&tx.d, rolling),
        });
    }
    next_batch(tx, rolling, actor, &format!("promoted by {actor}"));
    Ok(())
}

/// Replicas of the old and the new version a progressing deployment wants:
/// the new version runs the batches started so far; the old one gives up a
/// batch's replicas only once that batch is ready, so capacity never dips.
pub(super) fn replica_counts(d: &Deployment, rolling: RollingPlan) -> (u32, u32) {
    let n = d.plan.replicas().max(1);
    let i = d.step.unwrap_or(0);
    let replaced = if d.progress.batch_ready_at.is_some() {
        rolling.replaced(i, n)
    } else if i == 0 {
        0
    } else {
        rolling.replaced(i - 1, n)
    };
    (n - replaced, rolling.replaced(i, n))
}
/// `2/3` for batch index 1 of 3.
fn batch_text(d: &Deployment, rolling: RollingPlan) -> String {
    format!(
        "{}/{}",
        d.step.unwrap_or(0) + 1,
        rolling.batches(d.plan.replicas())
    )
}

/// The share of traffic `new` of `total` replicas get.
fn replica_weight(new: u32, total: u32) -> u8 {
    let total = total.max(1);
    let w = (u64::from(new.min(total)) * 100 + u64::from(total) / 2) / u64::from(total);
    u8::try_from(w).unwrap_or(100)
}

/// The current batch's replicas are all ready; traffic follows
/// them, and the old version gives up as many replicas. The last batch
/// completes the rollout.
fn batch_ready(tx: &mut Tx<'_>, rolling: RollingPlan) {
    let n = tx.d.plan.replicas().max(1);
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

/// Starts replacing the next batch.
fn next_batch(tx: &mut Tx<'_>, rolling: RollingPlan, actor: &str, why: &str) {
    let n = tx.d.plan.replicas().max(1);
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

/// While a batch after the first starts: ready → traffic follows;
/// too slow → every replaced replica goes back. Returns true when it
/// decided.
pub(super) fn starting_batch(
    tx: &mut Tx<'_>,
    canary: &VersionObservation,
    rolling: RollingPlan,
) -> bool {
    let n = tx.d.plan.replicas().max(1);
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
    } else if elapsed(started, tx.now) >= tx.d.plan.common().start_timeout {
        format!(
            "batch {} did not become healthy within {} ({}/{want} replicas ready){detail}: rolling back every replaced replica",
            batch_text(&tx.d, rolling),
            crate::duration::format_duration(tx.d.plan.common().start_timeout),
            canary.ready,
        )
    } else {
        return false;
    };
    tx.roll_back(CONTROLLER, canary.with_output(why));
    true
}
