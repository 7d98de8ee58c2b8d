//! Blue-green and rolling rollouts, step by step.

use std::time::Duration;

use super::tests::{bad, common, deployment, good, healthy, metrics, run, t};
use super::*;
use crate::deployment::{Action, BlueGreenPlan, Plan, PlanCommon, RollingPlan};
use crate::spec::Batch;

fn blue_green(auto: Option<u64>) -> Plan {
    Plan::BlueGreen {
        common: common(),
        blue_green: BlueGreenPlan {
            auto_promotion: auto.map(Duration::from_secs),
            scale_down_delay: Duration::from_secs(30),
        },
    }
}

fn rolling(replicas: u32, batch: u32) -> Plan {
    Plan::Rolling {
        common: PlanCommon {
            replicas,
            ..common()
        },
        rolling: RollingPlan { batch },
    }
}

/// `ready` of the new version's replicas ready, healthy metrics.
fn with_ready(ready: u32, obs: Observations) -> Observations {
    let mut canary = obs.new_version.unwrap();
    canary.ready = ready;
    Observations {
        new_version: Some(canary),
        ..obs
    }
}

fn starting() -> Observations {
    let mut canary = healthy(metrics(0, 0, 10.0));
    canary.ready = 0;
    canary.ever_ready = false;
    Observations {
        new_version: Some(canary),
        ..good()
    }
}

fn replicas_of(actions: &[Action], version: &str) -> Option<u32> {
    actions.iter().find_map(|a| match a {
        Action::StartVersion {
            version: v,
            replicas,
        } if v == version => Some(*replicas),
        _ => None,
    })
}

fn weight_of(actions: &[Action]) -> u8 {
    actions
        .iter()
        .find_map(|a| match a {
            Action::SetTraffic { weight, .. } => Some(*weight),
            _ => None,
        })
        .unwrap()
}

fn preview_of(actions: &[Action]) -> Option<String> {
    actions
        .iter()
        .find_map(|a| match a {
            Action::SetPreview { version } => Some(version.clone()),
            _ => None,
        })
        .unwrap()
}

#[test]
fn blue_green_runs_full_replicas_serves_preview_then_switches_on_promote() {
    let mut d = deployment(Some("1.0"), blue_green(None));
    d = run(&d, &starting(), t(0));
    assert_eq!(d.phase, Phase::Progressing);
    let a = desired_target(Some("1.0"), 2, Some(&d), None, &[]);
    assert_eq!(replicas_of(&a, "1.0"), Some(2));
    assert_eq!(replicas_of(&a, "2.0"), Some(2));
    assert_eq!(
        preview_of(&a),
        None,
        "no preview before the new version is ready"
    );
    assert_eq!(
        check_promotable(&d, PreviewSeen::Live(None)),
        Ok(()),
        "not ready yet: command() refuses it"
    );
    assert!(matches!(
        command(&d, Command::Promote, "bob", t(0)),
        Err(CommandError::NotReady { .. })
    ));

    d = run(&d, &good(), t(1));
    assert_eq!(d.phase, Phase::Progressing);
    assert_eq!(d.canary_weight, 0, "users see only the old version");
    assert!(d.reason.as_ref().unwrap().contains("preview ready"));
    assert!(d.reason.as_ref().unwrap().contains("zion promote 7"));
    let a = desired_target(Some("1.0"), 2, Some(&d), None, &[]);
    assert_eq!(weight_of(&a), 0);
    assert_eq!(preview_of(&a), Some("2.0".into()));

    // Analysis passes, but without auto_promotion it waits for a human.
    d = run(&d, &good(), t(7));
    assert_eq!(d.progress.rounds, 1);
    d = run(&d, &good(), t(600));
    assert_eq!(d.phase, Phase::Progressing);
    assert_eq!(d.canary_weight, 0);

    check_promotable(&d, PreviewSeen::Live(good().new_version.as_ref())).unwrap();
    let out = command(&d, Command::Promote, "bob", t(601)).unwrap();
    let d = out.deployment;
    assert_eq!(d.phase, Phase::Succeeded);
    assert_eq!(d.canary_weight, 100);
    let why = d.reason.clone().unwrap();
    assert!(
        why.contains("from 1.0 to 2.0") && why.contains("keeps running for 30s"),
        "{why}"
    );

    // The old version keeps running, without traffic, for the delay.
    assert_eq!(retained_version(&d, t(601)), Some("1.0"));
    assert_eq!(retained_version(&d, t(630)), Some("1.0"));
    assert_eq!(retained_version(&d, t(631)), None);
    let running = ["1.0".to_string(), "2.0".to_string()];
    let a = desired_target(Some("2.0"), 2, None, Some("1.0"), &running);
    assert_eq!(replicas_of(&a, "1.0"), Some(2));
    assert!(!a.iter().any(|x| matches!(x, Action::StopVersion { .. })));
    assert!(a.contains(&Action::SetTraffic {
        stable: Some("2.0".into()),
        new_version: None,
        weight: 0,
        rules: Default::default()
    }));
    let a = desired_target(Some("2.0"), 2, None, None, &running);
    assert!(a.contains(&Action::StopVersion {
        version: "1.0".into()
    }));
}

#[test]
fn blue_green_promotes_itself_only_after_the_delay_and_a_passing_round() {
    let mut d = deployment(Some("1.0"), blue_green(Some(10)));
    d = run(&d, &starting(), t(0));
    d = run(&d, &good(), t(1));
    assert!(
        d.reason
            .as_ref()
            .unwrap()
            .contains("promotes by itself in 10s")
    );
    d = run(&d, &good(), t(6));
    assert_eq!(d.phase, Phase::Progressing, "10s have not passed");
    d = run(&d, &good(), t(11));
    assert_eq!(d.phase, Phase::Succeeded);
    assert!(
        d.reason
            .as_ref()
            .unwrap()
            .contains("promoted automatically 10s after")
    );
    assert_eq!(d.canary_weight, 100);
}

#[test]
fn blue_green_never_promotes_a_failing_preview() {
    let mut d = deployment(Some("1.0"), blue_green(Some(10)));
    d = run(&d, &starting(), t(0));
    d = run(&d, &good(), t(1));
    d = run(&d, &bad(), t(11));
    assert_eq!(d.phase, Phase::RollingBack);
    assert_eq!(d.canary_weight, 0);
    let a = desired_target(
        Some("1.0"),
        2,
        Some(&d),
        None,
        &["1.0".into(), "2.0".into()],
    );
    assert!(a.contains(&Action::StopVersion {
        version: "2.0".into()
    }));
    assert_eq!(preview_of(&a), Some("1.0".into()));
    // A rolled-back blue-green keeps nothing running.
    let mut done = d.clone();
    done.phase = Phase::RolledBack;
    done.finished_at = Some(t(12));
    assert_eq!(retained_version(&done, t(13)), None);
}

#[test]
fn a_manual_promote_of_an_unhealthy_preview_is_refused_with_the_reason() {
    let mut d = deployment(Some("1.0"), blue_green(None));
    d = run(&d, &starting(), t(0));
    d = run(&d, &good(), t(1));
    let mut sick = good().new_version.unwrap();
    sick.ready = 1;
    sick.consecutive_probe_failures = 1;
    sick.last_error = Some("GET /healthz: 500".into());
    let err = check_promotable(&d, PreviewSeen::Live(Some(&sick)))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("preview of 2.0 is unhealthy")
            && err.contains("1/2 replicas ready")
            && err.contains("GET /healthz: 500"),
        "{err}"
    );
    assert!(check_promotable(&d, PreviewSeen::Live(None)).is_err());
    // A failed analysis round also blocks the switch: 3% errors fail the
    // 1% check without reaching the 5% immediate rollback.
    let mut failing = good();
    failing.new_version.as_mut().unwrap().metrics = metrics(100, 3, 10.0);
    let d = run(&d, &failing, t(7));
    assert_eq!(d.phase, Phase::Progressing);
    let err = check_promotable(&d, PreviewSeen::Live(good().new_version.as_ref())).unwrap_err();
    assert!(
        err.to_string().contains("latest analysis round failed"),
        "{err}"
    );
    // A replica that does not drive the target judges by what the driver
    // recorded: the failed round refuses it as well.
    let err = check_promotable(&d, PreviewSeen::Recorded).unwrap_err();
    assert!(
        err.to_string().contains("latest analysis round failed"),
        "{err}"
    );
}

#[test]
fn a_promote_judged_on_the_recorded_state_needs_a_ready_preview_whose_last_round_passed() {
    let mut d = deployment(Some("1.0"), blue_green(None));
    d = run(&d, &starting(), t(0));
    d = run(&d, &good(), t(1));
    assert!(d.progress.ready_at.is_some());
    check_promotable(&d, PreviewSeen::Recorded).unwrap();
    // The live view of the driver still refuses a preview gone sick since
    // its last round; the record cannot tell (documented).
    let mut sick = good().new_version.unwrap();
    sick.ready = 0;
    assert!(check_promotable(&d, PreviewSeen::Live(Some(&sick))).is_err());
}

#[test]
fn rolling_replaces_a_batch_at_a_time_with_traffic_following_replicas() {
    let mut d = deployment(Some("1.0"), rolling(3, 1));
    d = run(&d, &starting(), t(0));
    let a = desired_target(Some("1.0"), 3, Some(&d), None, &[]);
    assert_eq!(
        replicas_of(&a, "1.0"),
        Some(3),
        "capacity kept while batch 1 starts"
    );
    assert_eq!(replicas_of(&a, "2.0"), Some(1));
    assert_eq!(weight_of(&a), 0);

    d = run(&d, &with_ready(1, good()), t(1));
    assert_eq!(d.step, Some(0));
    assert_eq!(d.canary_weight, 33);
    assert!(
        d.reason.as_ref().unwrap().contains("batch 1/3 healthy"),
        "{:?}",
        d.reason
    );
    let a = desired_target(Some("1.0"), 3, Some(&d), None, &[]);
    assert_eq!(replicas_of(&a, "1.0"), Some(2));
    assert_eq!(replicas_of(&a, "2.0"), Some(1));
    assert_eq!(weight_of(&a), 33);

    // A round must pass after the batch is ready before the next starts.
    d = run(&d, &with_ready(1, good()), t(3));
    assert_eq!(d.step, Some(0));
    d = run(&d, &with_ready(1, good()), t(6));
    assert_eq!(d.step, Some(1));
    assert!(d.reason.as_ref().unwrap().contains("starting batch 2/3"));
    let a = desired_target(Some("1.0"), 3, Some(&d), None, &[]);
    assert_eq!(replicas_of(&a, "1.0"), Some(2));
    assert_eq!(replicas_of(&a, "2.0"), Some(2));
    assert_eq!(weight_of(&a), 33);

    // Batch 2 starting: its new replica has not passed a probe yet.
    let mut s = with_ready(1, good());
    s.new_version.as_mut().unwrap().ever_ready = false;
    d = run(&d, &s, t(7));
    assert_eq!(d.step, Some(1));
    assert_eq!(d.canary_weight, 33);
    d = run(&d, &with_ready(2, good()), t(8));
    assert_eq!(d.canary_weight, 67);
    let a = desired_target(Some("1.0"), 3, Some(&d), None, &[]);
    assert_eq!(replicas_of(&a, "1.0"), Some(1));
    assert_eq!(replicas_of(&a, "2.0"), Some(2));

    d = run(&d, &with_ready(2, good()), t(13));
    assert_eq!(d.step, Some(2));
    d = run(&d, &with_ready(3, good()), t(14));
    assert_eq!(d.phase, Phase::Succeeded);
    assert_eq!(d.canary_weight, 100);
    assert!(d.reason.as_ref().unwrap().contains("batch 3/3 healthy"));
}

#[test]
fn a_failing_batch_rolls_every_replaced_replica_back() {
    let mut d = deployment(Some("1.0"), rolling(3, 1));
    d = run(&d, &starting(), t(0));
    d = run(&d, &with_ready(1, good()), t(1));
    d = run(&d, &with_ready(1, good()), t(6));
    d = run(&d, &with_ready(2, good()), t(7));
    assert_eq!(d.canary_weight, 67);
    d = run(&d, &with_ready(2, bad()), t(12));
    assert_eq!(d.phase, Phase::RollingBack);
    let a = desired_target(
        Some("1.0"),
        3,
        Some(&d),
        None,
        &["1.0".into(), "2.0".into()],
    );
    assert_eq!(replicas_of(&a, "1.0"), Some(3));
    assert!(a.contains(&Action::StopVersion {
        version: "2.0".into()
    }));
}

#[test]
fn a_batch_whose_replica_keeps_exiting_rolls_back_at_once() {
    let mut d = deployment(Some("1.0"), rolling(4, 2));
    d = run(&d, &starting(), t(0));
    d = run(&d, &with_ready(2, good()), t(1));
    d = run(&d, &with_ready(2, good()), t(6));
    assert_eq!(d.step, Some(1));
    let mut s = with_ready(2, good());
    let c = s.new_version.as_mut().unwrap();
    c.ever_ready = false;
    c.exits_before_ready = CRASH_LOOP_EXITS;
    c.last_error = Some("process exited unexpectedly (exit status: 3)".into());
    c.output = vec!["panic: bad flag".into()];
    d = run(&d, &s, t(8));
    assert_eq!(d.phase, Phase::RollingBack);
    let why = d.reason.clone().unwrap();
    assert!(
        why.starts_with("batch 2/2: a replica exited 3 times before it was ever healthy")
            && why.ends_with("every replaced replica; its last output:\n  | panic: bad flag"),
        "{why}"
    );
}

#[test]
fn a_batch_that_never_gets_healthy_rolls_back_after_start_timeout() {
    let mut d = deployment(Some("1.0"), rolling(4, 2));
    d = run(&d, &starting(), t(0));
    d = run(&d, &with_ready(2, good()), t(1));
    assert_eq!(d.canary_weight, 50);
    d = run(&d, &with_ready(2, good()), t(6));
    assert_eq!(d.step, Some(1));
    let mut s = with_ready(2, good());
    s.new_version.as_mut().unwrap().ever_ready = false;
    s.new_version.as_mut().unwrap().last_error = Some("exited with status 3".into());
    d = run(&d, &s, t(30));
    assert_eq!(d.phase, Phase::Progressing);
    d = run(&d, &s, t(67));
    assert_eq!(d.phase, Phase::RollingBack);
    let why = d.reason.clone().unwrap();
    assert!(
        why.contains("batch 2/2 did not become healthy within 1m")
            && why.contains("exited with status 3")
            && why.contains("every replaced replica"),
        "{why}"
    );
}

#[test]
fn rolling_promote_starts_the_next_batch_only_once_the_current_one_is_ready() {
    let mut d = deployment(Some("1.0"), rolling(3, 1));
    d = run(&d, &starting(), t(0));
    d = run(&d, &with_ready(1, good()), t(1));
    let out = command(&d, Command::Promote, "bob", t(2)).unwrap();
    let d2 = out.deployment;
    assert_eq!(d2.step, Some(1));
    assert!(d2.reason.as_ref().unwrap().contains("promoted by bob"));
    let err = command(&d2, Command::Promote, "bob", t(3)).unwrap_err();
    assert!(matches!(err, CommandError::BatchNotReady { .. }), "{err}");
    assert!(err.to_string().contains("batch 2/3"));
}

#[test]
fn rolling_batch_sizes_round_up_and_never_reach_zero() {
    assert_eq!(RollingPlan::new(Batch::Percent(33), 3).batch, 1);
    assert_eq!(RollingPlan::new(Batch::Percent(33), 10).batch, 4);
    assert_eq!(RollingPlan::new(Batch::Percent(1), 2).batch, 1);
    assert_eq!(RollingPlan::new(Batch::Percent(50), 3).batch, 2);
    assert_eq!(RollingPlan::new(Batch::Percent(100), 3).batch, 3);
    assert_eq!(RollingPlan::new(Batch::Count(5), 3).batch, 3);
    assert_eq!(RollingPlan::new(Batch::Count(2), 5).batches(5), 3);
    assert_eq!(RollingPlan::new(Batch::Count(2), 5).replaced(2, 5), 5);
    // One batch: healthy means done.
    let mut d = deployment(Some("1.0"), rolling(2, 2));
    d = run(&d, &starting(), t(0));
    d = run(&d, &good(), t(1));
    assert_eq!(d.phase, Phase::Succeeded);
}
