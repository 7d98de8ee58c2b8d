//! What the events call each rollout: a first version, a canary, a
//! blue-green or rolling rollout, a rollback and a rollback that only
//! switches back are named for what happens, not all "canary".

use std::time::Duration;

use super::tests::{common, deployment, good, healthy, metrics, plan, run, t};
use super::*;
use crate::deployment::{BlueGreenPlan, DeploymentType, Plan, PlanCommon, RollingPlan, Rollout};

/// The new version runs but no replica is ready yet.
fn starting() -> Observations {
    let mut canary = healthy(metrics(0, 0, 10.0));
    canary.ready = 0;
    canary.ever_ready = false;
    Observations {
        new_version: Some(canary),
        ..good()
    }
}

/// Nothing of the new version runs.
fn nothing_runs() -> Observations {
    Observations {
        new_version: None,
        ..good()
    }
}

/// The reason of the event that started `d` (pending → progressing).
fn start_reason(d: &Deployment, obs: &Observations) -> (Deployment, String) {
    let out = step(d, obs, t(0));
    let e = out
        .events
        .iter()
        .find(|e| e.to_phase == Phase::Progressing)
        .unwrap_or_else(|| panic!("not started: {:?}", out.events));
    (out.deployment.clone(), e.reason.clone())
}

/// Steps `d` with healthy observations until it is final; every reason.
fn reasons_to_the_end(mut d: Deployment) -> (Deployment, Vec<String>) {
    let mut reasons = Vec::new();
    let mut now = 0;
    while !d.phase.is_terminal() && now < 2000 {
        let out = step(&d, &good(), t(now));
        reasons.extend(out.events.iter().map(|e| e.reason.clone()));
        d = out.deployment;
        now += 1;
    }
    (d, reasons)
}

fn rollback(replicas: u32) -> Deployment {
    let mut d = deployment(Some("1.4"), plan(&[]));
    d.version = "1.2".into();
    d.kind = DeploymentType::Rollback;
    d.plan.common_mut().replicas = replicas;
    d
}

#[test]
fn a_first_version_is_named_so_from_start_to_end() {
    // Asked for as a canary, but the first version has no stable beside it.
    let d = deployment(None, plan(&[]));
    assert_eq!(d.rollout(), Rollout::First);
    let (_, why) = start_reason(&d, &nothing_runs());
    assert_eq!(why, "starting 2.0, the target's first version");
    let (d, reasons) = reasons_to_the_end(d);
    assert_eq!(d.phase, Phase::Succeeded);
    assert!(reasons.iter().all(|r| !r.contains("canary")), "{reasons:?}");
    assert!(
        reasons
            .last()
            .unwrap()
            .ends_with("first version of the target: all traffic to it"),
        "{reasons:?}"
    );
}

#[test]
fn a_canary_is_called_a_canary() {
    let d = deployment(Some("1.0"), plan(&[(25, Some(10)), (100, None)]));
    assert_eq!(d.rollout(), Rollout::Canary);
    // Already healthy at start (a version running anyway): still a canary
    // that starts, not a switch.
    let (_, why) = start_reason(&d, &good());
    assert_eq!(why, "starting 2.0 as a canary beside stable 1.0");
}

#[test]
fn a_blue_green_rollout_says_blue_green_and_never_canary() {
    let d = deployment(
        Some("1.0"),
        Plan::BlueGreen {
            common: common(),
            blue_green: BlueGreenPlan {
                auto_promotion: Some(Duration::from_secs(10)),
                scale_down_delay: Duration::from_secs(30),
            },
        },
    );
    assert_eq!(d.rollout(), Rollout::BlueGreen);
    let (_, why) = start_reason(&d, &starting());
    assert!(
        why.starts_with("starting 2.0 (blue-green) beside stable 1.0; once healthy the preview"),
        "{why}"
    );
    let (d, reasons) = reasons_to_the_end(d);
    assert_eq!(d.phase, Phase::Succeeded, "{reasons:?}");
    assert!(reasons.iter().all(|r| !r.contains("canary")), "{reasons:?}");
}

#[test]
fn a_rolling_rollout_says_it_replaces_replicas_batch_by_batch() {
    let d = deployment(
        Some("1.0"),
        Plan::Rolling {
            common: PlanCommon {
                replicas: 3,
                ..common()
            },
            rolling: RollingPlan { batch: 1 },
        },
    );
    assert_eq!(d.rollout(), Rollout::Rolling);
    let (_, why) = start_reason(&d, &starting());
    assert_eq!(
        why,
        "replacing replicas of 1.0 with 2.0 batch by batch (3 batches for 3 replicas)"
    );
    let mut obs = good();
    obs.new_version.as_mut().unwrap().ready = 3;
    let mut d = d;
    let mut reasons = Vec::new();
    for now in 0..2000 {
        let out = step(&d, &obs, t(now));
        reasons.extend(out.events.iter().map(|e| e.reason.clone()));
        d = out.deployment;
        if d.phase.is_terminal() {
            break;
        }
    }
    assert_eq!(d.phase, Phase::Succeeded, "{reasons:?}");
    assert!(reasons.iter().all(|r| !r.contains("canary")), "{reasons:?}");
}

#[test]
fn a_rollback_that_starts_its_version_says_so() {
    let d = rollback(2);
    assert_eq!(d.rollout(), Rollout::Rollback);
    let (d, why) = start_reason(&d, &nothing_runs());
    assert_eq!(why, "rolling back to 1.2: starting it beside 1.4");
    let d = run(&d, &starting(), t(1));
    assert_eq!(d.phase, Phase::Progressing);
    let d = run(&d, &good(), t(2));
    assert_eq!(d.phase, Phase::Succeeded);
    assert_eq!(
        d.reason.as_deref(),
        Some("1.2 healthy (2/2 replicas); rolled back: all traffic switched from 1.4 to it")
    );
}

#[test]
fn a_rollback_to_a_version_still_running_is_only_a_switch_back() {
    // Inside a blue-green scale_down_delay: 1.2 still runs, all ready.
    let (d, why) = start_reason(&rollback(2), &good());
    assert_eq!(
        why,
        "switching traffic back to 1.2 (still running) from 1.4"
    );
    assert!(!why.contains("starting"), "{why}");
    let d = run(&d, &good(), t(0));
    assert_eq!(d.phase, Phase::Succeeded);
    // Running but not all ready is not a mere switch: it still starts.
    let mut half = good();
    half.new_version.as_mut().unwrap().ready = 1;
    let (_, why) = start_reason(&rollback(2), &half);
    assert_eq!(why, "rolling back to 1.2: starting it beside 1.4");
}

#[test]
fn a_direct_switch_that_is_not_a_rollback_names_neither() {
    let d = deployment(Some("1.0"), plan(&[]));
    assert_eq!(d.rollout(), Rollout::Direct);
    let (_, why) = start_reason(&d, &nothing_runs());
    assert_eq!(
        why,
        "starting 2.0 beside stable 1.0; all traffic switches to it once healthy"
    );
}
