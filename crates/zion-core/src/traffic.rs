//! Rounds without enough traffic: what a round saw against what its step
//! needs, and when a deployment that waits on its analysis stops waiting and
//! pauses instead of holding its step forever.
//!
//! The arithmetic: a round needs `min_requests` canary requests within one
//! `interval`, and the canary gets `weight`% of what goes through the
//! listener, so the listener must carry about
//! `min_requests / interval / (weight / 100)` requests per second
//! (20 requests in 5 s at 5%: 80 per second).

use std::time::Duration;

use jiff::{SignedDuration, Timestamp};

use crate::analysis::Verdict;
use crate::deployment::{Deployment, Phase, Plan, PlanKind};
use crate::duration::format_duration;
use crate::metrics::WindowMetrics;
use crate::rollout::{CONTROLLER, Tx, elapsed};

/// Requests per second through a listener that give the canary
/// `min_requests` within `window` when it gets `share_percent`% of them;
/// None when the share is zero (no weight routes anything to it).
pub fn needed_rate(min_requests: u64, window: Duration, share_percent: u8) -> Option<f64> {
    let secs = window.as_secs_f64();
    (share_percent > 0 && secs > 0.0)
        .then(|| min_requests as f64 / secs / (f64::from(share_percent) / 100.0))
}

/// A rate for people: whole numbers from 10 up, else one or two decimals.
pub fn rate_text(per_second: f64) -> String {
    let text = if per_second >= 10.0 {
        format!("{per_second:.0}")
    } else if per_second >= 1.0 {
        format!("{per_second:.1}")
    } else {
        format!("{per_second:.2}")
    };
    if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        text
    }
}

/// Why a round with fewer than `min_requests` canary requests is
/// inconclusive, from its own figures: `12 of 20 requests in 2s at 5%: the
/// step needs about 200 requests/s through the listener; it gets 120`.
pub fn shortfall(d: &Deployment, canary: &WindowMetrics, stable: Option<&WindowMetrics>) -> String {
    let plan = d.plan.common();
    // The need is stated per `interval`, the window a round is said to look
    // at; what it gets is measured over the span the figures really cover
    // (whole seconds, so a little longer), which keeps the text of quiet
    // rounds identical from one to the next.
    let window = plan.interval;
    let secs = window.as_secs_f64().max(f64::MIN_POSITIVE);
    let covered = if canary.window_secs > 0.0 {
        canary.window_secs
    } else {
        secs
    };
    let min = plan.min_requests;
    let seen = format!(
        "{} of {min} requests in {}",
        canary.requests,
        format_duration(window)
    );
    let own = rate_text(canary.requests as f64 / covered);
    let stable_requests = stable.map_or(0, |s| s.requests);
    let step = d.step.and_then(|i| d.plan.steps().get(i as usize));
    if d.plan.kind() == PlanKind::BlueGreen {
        return format!(
            "{seen} through the preview listener: the preview needs about {} requests/s; it gets {own}",
            rate_text(min as f64 / secs)
        );
    }
    if let Some(m) = step.and_then(|s| s.mirror).filter(|m| *m > 0) {
        let need = needed_rate(min, window, m).unwrap_or_default();
        return format!(
            "{seen} mirroring {m}%: the step needs about {} requests/s through the listener; it gets {}",
            rate_text(need),
            rate_text(stable_requests as f64 / covered)
        );
    }
    match needed_rate(min, window, d.canary_weight) {
        Some(need) => format!(
            "{seen} at {}%: the step needs about {} requests/s through the listener; it gets {}",
            d.canary_weight,
            rate_text(need),
            rate_text((canary.requests + stable_requests) as f64 / covered)
        ),
        // Weight 0: only requests matching the step's rules reach it.
        None => format!(
            "{seen} at 0%: the step needs about {} matching requests/s; it gets {own}",
            rate_text(min as f64 / secs)
        ),
    }
}

/// Whether the deployment moves on by itself only after a passing round:
/// a step with a pause, a ready rolling batch, a blue-green preview with
/// `auto_promotion`. Without checks, or when it waits for a promote anyway,
/// a quiet canary holds nothing up.
pub fn waits_on_analysis(d: &Deployment) -> bool {
    if d.plan.common().checks.is_empty() || d.progress.ready_at.is_none() {
        return false;
    }
    match &d.plan {
        Plan::BlueGreen { blue_green, .. } => blue_green.auto_promotion.is_some(),
        Plan::Rolling { .. } => d.progress.batch_ready_at.is_some(),
        Plan::Canary { canary, .. } => d
            .step
            .and_then(|i| canary.steps.get(i as usize))
            .is_some_and(|s| s.pause.is_some()),
        Plan::Direct { .. } => false,
    }
}

/// When the current run of inconclusive rounds will pause the deployment,
/// if it goes on; None when no such pause is coming.
pub fn pause_due_at(d: &Deployment) -> Option<Timestamp> {
    if d.phase != Phase::Progressing || !waits_on_analysis(d) {
        return None;
    }
    let since = d.progress.inconclusive_since?;
    let limit = SignedDuration::try_from(d.plan.common().inconclusive_limit).ok()?;
    since.checked_add(limit).ok()
}

/// Keeps the run of inconclusive rounds up to date after a round with
/// `verdict` at `now`. The run starts where the first quiet round's window
/// began, so `inconclusive_limit` measures time without enough traffic.
pub(crate) fn track(d: &mut Deployment, verdict: Verdict, now: Timestamp) {
    let p = &mut d.progress;
    if verdict != Verdict::Inconclusive {
        p.inconclusive_since = None;
    } else if p.inconclusive_since.is_none() {
        let window =
            SignedDuration::try_from(d.plan.common().interval).unwrap_or(SignedDuration::ZERO);
        p.inconclusive_since = Some(now.checked_sub(window).unwrap_or(now));
    }
}

/// Pauses a progressing deployment whose rounds have stayed inconclusive
/// for `inconclusive_limit` while it waits on them, saying what it lacked
/// (`summary` and `canary` are the latest round's).
pub(crate) fn pause_if_starved(tx: &mut Tx<'_>, canary: &WindowMetrics, summary: &str) {
    if tx.d.phase != Phase::Progressing || !waits_on_analysis(&tx.d) {
        return;
    }
    let Some(since) = tx.d.progress.inconclusive_since else {
        return;
    };
    let limit = tx.d.plan.common().inconclusive_limit;
    if elapsed(since, tx.now) < limit {
        return;
    }
    let version = &tx.d.version;
    let lacked = if canary.requests == 0 {
        format!("no traffic reached {version}")
    } else if canary.requests < tx.d.plan.common().min_requests {
        format!("too little traffic reached {version}")
    } else {
        format!("the analysis of {version} stayed inconclusive")
    };
    let why = format!(
        "{lacked} for {}: promote to go on, abort to stop (last round: {summary})",
        format_duration(limit)
    );
    tx.d.progress.paused_at = Some(tx.now);
    tx.event(Phase::Paused, CONTROLLER, why);
}

#[cfg(test)]
#[path = "traffic_tests.rs"]
mod tests;
