//! The target's desired state: which versions run and how traffic is
//! split, from which the controller derives its idempotent actions.

use super::rolling;
use crate::deployment::{Action, Deployment, Phase, Plan, TrafficRules};

/// What a target should look like: which versions run and how traffic is
/// split, as idempotent actions. `stable` is the target's stable version,
/// `active` its non-terminal deployment if any, `retained` a version kept
/// running without traffic (a blue-green switch's old version, see
/// [`super::retained_version`]), `running` the versions of the target that run now
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
                .and_then(|i| d.plan.steps().get(i as usize));
            let rules = TrafficRules {
                matches: step.map(|s| s.matches.clone()).unwrap_or_default(),
                mirror_percent: step.and_then(|s| s.mirror).unwrap_or(0),
                // At 100% every client moves, pinned or not.
                sticky: d.plan.sticky() && ready && weight < 100,
            };
            Action::SetTraffic {
                stable: base,
                new_version: Some(d.version.clone()),
                weight,
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
                new_version: None,
                weight: 0,
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
                new_version: None,
                weight: 0,
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

/// Whether `action`, from [`desired_target`], still runs in a pass over a
/// target whose router has just refused the traffic's change. Stopping a
/// version waits: a router that refused the split may still send requests
/// to the versions the split leaves out (a last step at 100% succeeds
/// before the router has applied it), so they keep running until it
/// applies it. Starting versions and the preview go on.
pub fn runs_while_traffic_refused(action: &Action) -> bool {
    !matches!(action, Action::StopVersion { .. })
}

/// Replicas of the old and the new version a progressing deployment wants.
fn replica_counts(d: &Deployment, stable_replicas: u32) -> (u32, u32) {
    match (&d.plan, &d.previous_version) {
        (Plan::Rolling { rolling: r, .. }, Some(_)) => rolling::replica_counts(d, *r),
        _ => (stable_replicas, d.plan.replicas()),
    }
}
