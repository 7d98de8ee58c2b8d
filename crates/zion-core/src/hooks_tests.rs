//! The state machine with hooks: which call is due, and what a run's
//! result does to the deployment.

use std::time::Duration;

use super::*;
use crate::deployment::Plan;
use crate::rollout::tests::{bad, deployment, good, plan, run, t};
use crate::rollout::{Command, command};
use crate::spec::{Hook, HookAction};

fn hook() -> Hook {
    Hook {
        action: HookAction::Exec(vec!["./hook.sh".into()]),
        timeout: Duration::from_secs(5),
        retries: 0,
    }
}

/// `p` with one hook at each of `points`.
fn with_hooks(mut p: Plan, points: &[HookPoint]) -> Plan {
    for point in points {
        p.common_mut().hooks.at_mut(*point).push(hook());
    }
    p
}

fn finished(call: HookCall, passed: bool) -> HookRun {
    HookRun {
        call,
        results: vec![HookResult {
            hook: "exec ./hook.sh".into(),
            passed,
            detail: if passed {
                "exited with 0"
            } else {
                "exited with 1"
            }
            .into(),
            attempts: 1,
            output: if passed { "ok" } else { "smoke test: 500 on /" }.into(),
            millis: 120,
        }],
    }
}

fn obs_with(run: HookRun) -> Observations {
    Observations {
        hooks: vec![run],
        ..good()
    }
}

const PRE: HookCall = HookCall {
    point: HookPoint::PreRollout,
    step: None,
};

#[test]
fn a_failing_pre_rollout_fails_the_deployment_before_any_traffic_moves() {
    let p = with_hooks(
        plan(&[(10, Some(30)), (100, None)]),
        &[HookPoint::PreRollout],
    );
    let mut d = deployment(Some("1.0"), p);
    d = run(&d, &good(), t(0));
    // Healthy: the hook is due, and nothing moves until it has run.
    assert_eq!(due(&d, &good(), t(1)), Some(PRE));
    for now in 1..100 {
        d = run(&d, &good(), t(now));
        assert_eq!(
            (d.phase, d.step, d.canary_weight),
            (Phase::Progressing, None, 0)
        );
    }
    // Waiting on a hook is not a slow start: no start_timeout (60 s).
    assert!(
        d.reason
            .as_deref()
            .unwrap()
            .contains("running its pre_rollout hooks")
    );
    let out = crate::rollout::step(&d, &obs_with(finished(PRE, false)), t(100));
    let d = out.deployment;
    assert_eq!((d.phase, d.canary_weight, d.step), (Phase::Failed, 0, None));
    let why = d.reason.unwrap();
    assert!(
        why.contains("pre_rollout hook 1/1 (exec ./hook.sh) failed: exited with 1"),
        "{why}"
    );
    assert!(
        why.contains("smoke test: 500 on /") && why.contains("no traffic was moved"),
        "{why}"
    );
    assert!(out.events.iter().all(|e| e.canary_weight == 0));
}

#[test]
fn pre_rollout_waits_for_health_then_passing_starts_the_plan() {
    let p = with_hooks(
        plan(&[(10, Some(30)), (100, None)]),
        &[HookPoint::PreRollout],
    );
    let d = run(&deployment(Some("1.0"), p), &good(), t(0));
    let starting = Observations {
        new_version: None,
        ..good()
    };
    assert_eq!(
        due(&d, &starting, t(1)),
        None,
        "not before the version is healthy"
    );
    let d = run(&d, &obs_with(finished(PRE, true)), t(2));
    assert_eq!((d.step, d.canary_weight), (Some(0), 10));
    assert_eq!(d.progress.hooks.done, vec![PRE]);
    assert_eq!(due(&d, &good(), t(3)), None);
    // A run of another call (stale) changes nothing.
    let other = finished(HookCall::new(HookPoint::PostStep, Some(5)), false);
    assert_eq!(run(&d, &obs_with(other), t(4)).phase, Phase::Progressing);
}

#[test]
fn confirm_promotion_holds_the_last_step_until_it_says_yes() {
    let p = with_hooks(
        plan(&[(10, Some(10)), (50, Some(10)), (100, None)]),
        &[HookPoint::ConfirmPromotion],
    );
    let mut d = deployment(Some("1.0"), p);
    let mut now = 0;
    while d.step != Some(1) && now < 200 {
        d = run(&d, &good(), t(now));
        now += 1;
    }
    assert_eq!(d.canary_weight, 50);
    let confirm = HookCall::new(HookPoint::ConfirmPromotion, Some(1));
    // The step's pause and analysis are done: confirm_promotion is asked.
    while due(&d, &good(), t(now)).is_none() && now < 400 {
        d = run(&d, &good(), t(now));
        now += 1;
    }
    assert_eq!(due(&d, &good(), t(now)), Some(confirm));
    // It says no: the deployment waits, says why, and is asked again an
    // analysis interval (5 s) later.
    d = run(&d, &obs_with(finished(confirm, false)), t(now));
    assert_eq!((d.phase, d.canary_weight), (Phase::Progressing, 50));
    let why = d.reason.clone().unwrap();
    assert!(
        why.starts_with("waiting for promotion: confirm_promotion hook 1/1 at step 2"),
        "{why}"
    );
    assert_eq!(due(&d, &good(), t(now + 4)), None);
    assert_eq!(ask_again_at(&d), Some(t(now + 5)));
    for later in now + 1..now + 60 {
        d = run(&d, &good(), t(later));
        assert_eq!(d.canary_weight, 50, "no promotion without a yes");
    }
    now += 60;
    // The same no again is not recorded again; a different one is.
    assert_eq!(due(&d, &good(), t(now)), Some(confirm));
    let out = crate::rollout::step(&d, &obs_with(finished(confirm, false)), t(now));
    assert!(out.events.is_empty(), "{:?}", out.events);
    assert_eq!(out.deployment.progress.hooks.refused_at, Some(t(now)));
    assert_eq!(out.deployment.reason, d.reason);
    d = out.deployment;
    now += 5;
    let mut other = finished(confirm, false);
    other.results[0].output = "release notes missing".into();
    let out = crate::rollout::step(&d, &obs_with(other), t(now));
    assert_eq!(out.events.len(), 1);
    assert!(
        out.deployment
            .reason
            .as_deref()
            .unwrap()
            .contains("release notes missing")
    );
    d = out.deployment;
    now += 5;
    assert_eq!(due(&d, &good(), t(now)), Some(confirm));
    d = run(&d, &obs_with(finished(confirm, true)), t(now));
    assert_eq!((d.phase, d.canary_weight), (Phase::Succeeded, 100));
}

#[test]
fn pre_and_post_step_hold_each_step_and_a_failure_rolls_back() {
    let p = with_hooks(
        plan(&[(10, Some(10)), (100, None)]),
        &[HookPoint::PreStep, HookPoint::PostStep],
    );
    let mut d = run(&deployment(Some("1.0"), p), &good(), t(0));
    d = run(&d, &good(), t(1));
    let pre = HookCall::new(HookPoint::PreStep, Some(0));
    assert_eq!(due(&d, &good(), t(2)), Some(pre));
    // Past its pause, the step waits for its pre_step hook.
    for now in 2..40 {
        d = run(&d, &good(), t(now));
    }
    assert_eq!(d.step, Some(0));
    d = run(&d, &obs_with(finished(pre, true)), t(40));
    let post = HookCall::new(HookPoint::PostStep, Some(0));
    assert_eq!(due(&d, &good(), t(41)), Some(post));
    assert_eq!(d.step, Some(0));
    let out = crate::rollout::step(&d, &obs_with(finished(post, false)), t(41));
    assert_eq!(out.deployment.phase, Phase::RollingBack);
    assert_eq!(out.deployment.canary_weight, 0);
    assert!(
        out.deployment
            .reason
            .unwrap()
            .contains("post_step hook 1/1 at step 1")
    );
}

#[test]
fn on_rollback_runs_before_a_rollback_is_over() {
    let p = with_hooks(
        plan(&[(10, Some(60)), (100, None)]),
        &[HookPoint::OnRollback],
    );
    let mut d = run(&deployment(Some("1.0"), p), &good(), t(0));
    d = run(&d, &good(), t(1));
    assert_eq!(due(&d, &good(), t(2)), None, "not before a rollback");
    // Failed analysis rolls it back automatically.
    let mut now = 2;
    while d.phase == Phase::Progressing && now < 60 {
        d = run(&d, &bad(), t(now));
        now += 1;
    }
    assert_eq!(d.phase, Phase::RollingBack);
    let call = HookCall::new(HookPoint::OnRollback, None);
    let stopped = Observations {
        new_version: None,
        ..good()
    };
    assert_eq!(due(&d, &stopped, t(now)), Some(call));
    // Stopped, but the hook has not run: still rolling back.
    d = run(&d, &stopped, t(now));
    assert_eq!(d.phase, Phase::RollingBack);
    // Its failure is recorded and does not hold the rollback.
    let out = crate::rollout::step(
        &d,
        &Observations {
            hooks: vec![finished(call, false)],
            ..stopped.clone()
        },
        t(now + 1),
    );
    assert_eq!(out.deployment.phase, Phase::RolledBack);
    assert!(
        out.events[0]
            .reason
            .starts_with("on_rollback hook 1/1 (exec ./hook.sh) failed")
    );
    assert_eq!(out.deployment.progress.hooks.done, vec![call]);
}

#[test]
fn a_manual_abort_runs_on_rollback_too() {
    let p = with_hooks(
        plan(&[(10, Some(60)), (100, None)]),
        &[HookPoint::OnRollback],
    );
    let mut d = run(&deployment(Some("1.0"), p), &good(), t(0));
    d = run(&d, &good(), t(1));
    let out = command(&d, Command::Abort, "alice", t(2)).unwrap();
    assert_eq!(out.deployment.phase, Phase::RollingBack);
    assert_eq!(
        pending(&out.deployment, t(3)),
        Some(HookCall::new(HookPoint::OnRollback, None))
    );
}

#[test]
fn post_rollout_is_recorded_after_success_and_changes_nothing() {
    let p = with_hooks(plan(&[]), &[HookPoint::PostRollout, HookPoint::PreRollout]);
    let mut d = run(&deployment(Some("1.0"), p), &good(), t(0));
    d = run(&d, &obs_with(finished(PRE, true)), t(1));
    assert_eq!(d.phase, Phase::Succeeded);
    let finished_at = d.finished_at;
    let post = HookCall::new(HookPoint::PostRollout, None);
    assert_eq!(due(&d, &Observations::default(), t(2)), Some(post));
    let out = crate::rollout::step(&d, &obs_with(finished(post, false)), t(3));
    let after = &out.deployment;
    assert_eq!(
        (after.phase, after.finished_at),
        (Phase::Succeeded, finished_at)
    );
    assert_eq!(after.reason, d.reason, "its reason stays why it succeeded");
    assert_eq!(out.events.len(), 1);
    assert_eq!(out.events[0].to_phase, Phase::Succeeded);
    assert_eq!(due(after, &Observations::default(), t(4)), None);
}

#[test]
fn tail_keeps_the_end_on_a_character_boundary() {
    assert_eq!(tail("short", 10), "short");
    assert_eq!(tail("abcdef", 3), "…def");
    assert_eq!(tail("aé€", 4), "…€");
}

#[test]
fn a_rollback_deployment_skips_pre_rollout_and_runs_on_rollback_once_it_succeeds() {
    let p = with_hooks(
        plan(&[]),
        &[
            HookPoint::PreRollout,
            HookPoint::PostRollout,
            HookPoint::OnRollback,
        ],
    );
    let mut d = deployment(Some("2.0"), p);
    d.kind = crate::deployment::DeploymentType::Rollback;
    d = run(&d, &good(), t(0));
    assert_eq!(
        due(&d, &good(), t(1)),
        None,
        "no smoke test holds a rollback"
    );
    d = run(&d, &good(), t(1));
    assert_eq!(d.phase, Phase::Succeeded);
    let call = HookCall::new(HookPoint::OnRollback, None);
    assert_eq!(due(&d, &Observations::default(), t(2)), Some(call));
    let d = run(&d, &obs_with(finished(call, true)), t(3));
    assert_eq!(due(&d, &Observations::default(), t(4)), None);
}

#[test]
fn pre_rollout_holds_a_blue_green_preview_and_a_rolling_first_batch() {
    let blue_green = Plan::BlueGreen {
        common: crate::rollout::tests::common(),
        blue_green: crate::deployment::BlueGreenPlan {
            auto_promotion: Some(Duration::from_secs(5)),
            scale_down_delay: Duration::from_secs(30),
        },
    };
    let rolling = Plan::Rolling {
        common: crate::rollout::tests::common(),
        rolling: crate::deployment::RollingPlan { batch: 1 },
    };
    for p in [blue_green, rolling] {
        let p = with_hooks(p, &[HookPoint::PreRollout]);
        let mut d = run(&deployment(Some("1.0"), p), &good(), t(0));
        d = run(&d, &good(), t(1));
        assert_eq!(
            (d.progress.ready_at, d.step, d.canary_weight),
            (None, None, 0)
        );
        assert_eq!(due(&d, &good(), t(2)), Some(PRE));
        let failed = run(&d, &obs_with(finished(PRE, false)), t(2));
        assert_eq!((failed.phase, failed.canary_weight), (Phase::Failed, 0));
        let passed = run(&d, &obs_with(finished(PRE, true)), t(2));
        assert_eq!(passed.progress.ready_at, Some(t(2)), "{:?}", passed.reason);
    }
}
