use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use proptest::prelude::*;

use super::*;
use crate::deployment::{Action, CanaryPlan, DeploymentType, Plan, PlanCommon, PlanStep, Progress};
use crate::spec::AnalysisSpec;

pub(crate) fn t(secs: i64) -> Timestamp {
    Timestamp::from_second(1_800_000_000 + secs).unwrap()
}

pub(crate) fn common() -> PlanCommon {
    PlanCommon {
        replicas: 2,
        start_timeout: Duration::from_secs(60),
        interval: Duration::from_secs(5),
        failure_limit: 2,
        min_requests: 20,
        inconclusive_limit: Duration::from_secs(600),
        checks: AnalysisSpec::default_checks(),
        hooks: Default::default(),
        judge: Default::default(),
    }
}

/// A canary plan of these (weight, pause) steps; with none, a direct plan.
pub(crate) fn plan(steps: &[(u8, Option<u64>)]) -> Plan {
    if steps.is_empty() {
        return Plan::Direct { common: common() };
    }
    let steps = steps
        .iter()
        .map(|&(weight, pause)| PlanStep::weighted(weight, pause.map(Duration::from_secs)))
        .collect();
    Plan::Canary {
        common: common(),
        canary: CanaryPlan {
            steps,
            sticky: false,
        },
    }
}

/// The canary policy of `p`, to change.
pub(crate) fn canary_of(p: &mut Plan) -> &mut CanaryPlan {
    match p {
        Plan::Canary { canary, .. } => canary,
        other => panic!("not a canary plan: {other:?}"),
    }
}

pub(crate) fn deployment(previous: Option<&str>, plan: Plan) -> Deployment {
    Deployment {
        id: 7,
        service: "web".into(),
        environment: "staging".into(),
        version: "2.0".into(),
        previous_version: previous.map(str::to_string),
        kind: DeploymentType::Feature,
        phase: Phase::Pending,
        step: None,
        canary_weight: 0,
        requested_by: "alice".into(),
        created_at: t(0),
        started_at: None,
        finished_at: None,
        reason: None,
        plan,
        progress: Progress::default(),
        gate: Default::default(),
        evidence: None,
        commit: None,
        committed_at: None,
        revision: 1,
    }
}

pub(crate) fn metrics(requests: u64, errors: u64, p95: f64) -> WindowMetrics {
    WindowMetrics {
        window_secs: 5.0,
        requests,
        errors,
        latency_p50_ms: Some(p95 / 2.0),
        latency_p95_ms: Some(p95),
        latency_p99_ms: Some(p95 * 1.5),
        health: Some(1.0),
        cpu_percent: None,
        memory_mb: None,
    }
}

pub(crate) fn healthy(m: WindowMetrics) -> VersionObservation {
    VersionObservation {
        desired: 2,
        ready: 2,
        ever_ready: true,
        consecutive_probe_failures: 0,
        running: true,
        metrics: m,
        last_error: None,
        exits_before_ready: 0,
        output: Vec::new(),
        readings: Vec::new(),
        samples: Default::default(),
    }
}

pub(crate) fn good() -> Observations {
    Observations {
        new_version: Some(healthy(metrics(100, 0, 10.0))),
        stable: Some(healthy(metrics(1900, 0, 10.0))),
        gate: None,
        hooks: Vec::new(),
        router_error: None,
    }
}

pub(crate) fn bad() -> Observations {
    Observations {
        new_version: Some(healthy(metrics(100, 50, 10.0))),
        stable: Some(healthy(metrics(1900, 0, 10.0))),
        gate: None,
        hooks: Vec::new(),
        router_error: None,
    }
}

/// Applies `step` and checks the outcome's bookkeeping on the way.
pub(crate) fn run(d: &Deployment, obs: &Observations, now: Timestamp) -> Deployment {
    let out = step(d, obs, now);
    check_outcome(d, &out);
    out.deployment
}

fn check_outcome(before: &Deployment, out: &Outcome) {
    let after = &out.deployment;
    let moved = before.phase != after.phase
        || before.step != after.step
        || before.canary_weight != after.canary_weight;
    assert!(
        !moved || !out.events.is_empty(),
        "a change without an event: {before:?} -> {after:?}"
    );
    for e in &out.events {
        assert!(
            !e.actor.is_empty() && !e.reason.is_empty(),
            "event without cause: {e:?}"
        );
    }
    assert!(after.canary_weight <= 100);
    if out.changed() {
        assert_eq!(after.revision, before.revision + 1);
    }
}

#[test]
fn good_canary_walks_every_step_then_succeeds() {
    let mut d = deployment(
        Some("1.0"),
        plan(&[(5, Some(30)), (25, Some(30)), (50, Some(60)), (100, None)]),
    );
    d = run(&d, &good(), t(0));
    assert_eq!(d.phase, Phase::Progressing);
    assert_eq!(d.started_at, Some(t(0)));
    // Not healthy yet: nothing moves.
    let starting = Observations {
        new_version: Some(VersionObservation {
            running: true,
            ..Default::default()
        }),
        ..good()
    };
    d = run(&d, &starting, t(1));
    assert_eq!((d.step, d.canary_weight), (None, 0));
    d = run(&d, &good(), t(2));
    assert_eq!((d.step, d.canary_weight), (Some(0), 5));
    let mut now = 2;
    let mut weights = vec![d.canary_weight];
    while d.phase == Phase::Progressing && now < 400 {
        now += 1;
        d = run(&d, &good(), t(now));
        if weights.last() != Some(&d.canary_weight) {
            weights.push(d.canary_weight);
        }
    }
    assert_eq!(d.phase, Phase::Succeeded, "{:?}", d.reason);
    assert_eq!(weights, vec![5, 25, 50, 100]);
    // Holds are respected: 30 + 30 + 60 seconds after the first step began.
    assert!(now >= 2 + 120, "succeeded too early at {now}");
    assert!(now <= 2 + 120 + 3 * 5 + 3, "succeeded too late at {now}");
    assert_eq!(d.finished_at, Some(t(now)));
    assert!(d.progress.rounds >= 20);
}

#[test]
fn first_deployment_takes_all_traffic_once_healthy() {
    let mut d = deployment(None, plan(&[(5, Some(30)), (100, None)]));
    d = run(&d, &good(), t(0));
    d = run(&d, &good(), t(1));
    assert_eq!(d.phase, Phase::Succeeded);
    assert_eq!(d.canary_weight, 100);
    assert!(d.reason.unwrap().contains("first version"));
}

#[test]
fn version_that_never_becomes_healthy_fails_without_moving_traffic() {
    let mut d = deployment(Some("1.0"), plan(&[(5, Some(30)), (100, None)]));
    d = run(&d, &good(), t(0));
    let sick = Observations {
        new_version: Some(VersionObservation {
            desired: 2,
            running: true,
            last_error: Some("connection refused".into()),
            ..Default::default()
        }),
        stable: good().stable,
        gate: None,
        hooks: Vec::new(),
        router_error: None,
    };
    d = run(&d, &sick, t(59));
    assert_eq!(d.phase, Phase::Progressing);
    d = run(&d, &sick, t(61));
    assert_eq!(d.phase, Phase::Failed);
    assert_eq!(d.canary_weight, 0);
    let reason = d.reason.clone().unwrap();
    assert!(
        reason.contains("did not become healthy within 1m")
            && reason.contains("connection refused"),
        "{reason}"
    );
    let actions = desired_target(Some("1.0"), 2, None, None, &["1.0".into(), "2.0".into()]);
    assert!(actions.contains(&Action::StopVersion {
        version: "2.0".into()
    }));
}

#[test]
fn version_that_keeps_exiting_at_start_fails_at_once_with_its_output() {
    let mut d = deployment(Some("1.0"), plan(&[(5, Some(30)), (100, None)]));
    d = run(&d, &good(), t(0));
    let crashing = |exits| Observations {
        new_version: Some(VersionObservation {
            desired: 2,
            last_error: Some("process exited unexpectedly (exit status: 3)".into()),
            exits_before_ready: exits,
            output: vec!["starting".into(), "fatal: no config".into()],
            ..Default::default()
        }),
        stable: good().stable,
        gate: None,
        hooks: Vec::new(),
        router_error: None,
    };
    // Two exits may be bad luck: it waits.
    d = run(&d, &crashing(CRASH_LOOP_EXITS - 1), t(1));
    assert_eq!(d.phase, Phase::Progressing);
    // The third fails it, long before the 1m start timeout.
    d = run(&d, &crashing(CRASH_LOOP_EXITS), t(2));
    assert_eq!((d.phase, d.canary_weight), (Phase::Failed, 0));
    let reason = d.reason.clone().unwrap();
    assert_eq!(
        reason,
        "2.0 exited 3 times before it was ever healthy (0/2 replicas ready); \
         last error: process exited unexpectedly (exit status: 3); no traffic was moved; \
         its last output:\n  | starting\n  | fatal: no config"
    );
}

#[test]
fn high_error_rate_rolls_back_at_once_and_ends_at_weight_zero() {
    let mut d = deployment(Some("1.0"), plan(&[(5, Some(30)), (100, None)]));
    d = run(&d, &good(), t(0));
    d = run(&d, &good(), t(1));
    assert_eq!(d.canary_weight, 5);
    d = run(&d, &bad(), t(6));
    assert_eq!(d.phase, Phase::RollingBack);
    assert_eq!(d.canary_weight, 0);
    assert!(d.reason.as_ref().unwrap().contains("immediate rollback"));
    let actions = desired_target(
        Some("1.0"),
        2,
        Some(&d),
        None,
        &["1.0".into(), "2.0".into()],
    );
    assert_eq!(
        actions,
        vec![
            Action::StartVersion {
                version: "1.0".into(),
                replicas: 2
            },
            Action::SetTraffic {
                stable: Some("1.0".into()),
                new_version: None,
                weight: 0,
                rules: Default::default()
            },
            Action::SetPreview {
                version: Some("1.0".into())
            },
            Action::StopVersion {
                version: "2.0".into()
            },
        ]
    );
    // Still running: stays rolling back.
    d = run(&d, &bad(), t(7));
    assert_eq!(d.phase, Phase::RollingBack);
    let stopped = Observations {
        new_version: None,
        stable: good().stable,
        gate: None,
        hooks: Vec::new(),
        router_error: None,
    };
    d = run(&d, &stopped, t(8));
    assert_eq!(d.phase, Phase::RolledBack);
    assert_eq!(d.finished_at, Some(t(8)));
}

#[test]
fn failed_rounds_roll_back_at_the_failure_limit_and_a_pass_resets_the_count() {
    let mut d = deployment(Some("1.0"), plan(&[(50, Some(300)), (100, None)]));
    d = run(&d, &good(), t(0));
    d = run(&d, &good(), t(1));
    // 3% errors: fails error_rate max 0.01 but is below the immediate 5%.
    let meh = Observations {
        new_version: Some(healthy(metrics(100, 3, 10.0))),
        ..good()
    };
    d = run(&d, &meh, t(6));
    assert_eq!(
        (d.phase, d.progress.consecutive_failures),
        (Phase::Progressing, 1)
    );
    d = run(&d, &good(), t(11));
    assert_eq!(d.progress.consecutive_failures, 0);
    d = run(&d, &meh, t(16));
    d = run(&d, &meh, t(21));
    assert_eq!(d.phase, Phase::RollingBack);
    assert!(
        d.reason
            .unwrap()
            .contains("2 consecutive failed analysis rounds")
    );
}

#[test]
fn slow_canary_fails_the_baseline_ratio() {
    let mut d = deployment(Some("1.0"), plan(&[(50, Some(300)), (100, None)]));
    d = run(&d, &good(), t(0));
    d = run(&d, &good(), t(1));
    let slow = Observations {
        new_version: Some(healthy(metrics(100, 0, 13.0))),
        ..good()
    };
    let out = step(&d, &slow, t(6));
    let round = &out.rounds[0];
    assert_eq!(round.verdict, Verdict::Fail);
    let p95 = round
        .checks
        .iter()
        .find(|c| c.metric == Some(Metric::LatencyP95))
        .unwrap();
    assert_eq!((p95.canary, p95.baseline), (Some(13.0), Some(10.0)));
}

#[test]
fn two_failed_health_checks_roll_back_at_once() {
    let mut d = deployment(Some("1.0"), plan(&[(5, Some(30)), (100, None)]));
    d = run(&d, &good(), t(0));
    d = run(&d, &good(), t(1));
    let mut obs = good();
    obs.new_version.as_mut().unwrap().consecutive_probe_failures = 1;
    d = run(&d, &obs, t(2));
    assert_eq!(d.phase, Phase::Progressing);
    obs.new_version.as_mut().unwrap().consecutive_probe_failures = 2;
    d = run(&d, &obs, t(3));
    assert_eq!(d.phase, Phase::RollingBack);
    assert!(d.reason.unwrap().contains("2 consecutive health checks"));
}

#[test]
fn low_traffic_is_inconclusive_and_holds_the_step() {
    let mut d = deployment(Some("1.0"), plan(&[(5, Some(10)), (100, None)]));
    d = run(&d, &good(), t(0));
    d = run(&d, &good(), t(1));
    let quiet = Observations {
        new_version: Some(healthy(metrics(3, 3, 10.0))),
        ..good()
    };
    for s in 2..60 {
        d = run(&d, &quiet, t(s));
    }
    assert_eq!((d.phase, d.step), (Phase::Progressing, Some(0)));
    assert!(d.progress.rounds > 5);
    assert_eq!(d.progress.consecutive_failures, 0);
    // Enough traffic again: the step completes.
    d = run(&d, &good(), t(61));
    assert_eq!(d.phase, Phase::Succeeded);
}

#[test]
fn step_without_pause_waits_for_promote() {
    let mut d = deployment(Some("1.0"), plan(&[(10, None), (100, None)]));
    d = run(&d, &good(), t(0));
    d = run(&d, &good(), t(1));
    for s in 2..100 {
        d = run(&d, &good(), t(s));
    }
    assert_eq!((d.phase, d.step), (Phase::Progressing, Some(0)));
    let out = command(&d, Command::Promote, "bob", t(100)).unwrap();
    check_outcome(&d, &out);
    assert_eq!(out.deployment.phase, Phase::Succeeded);
    assert_eq!(out.events.last().unwrap().actor, "bob");
}

#[test]
fn pause_holds_the_step_and_resume_continues_the_clock() {
    let mut d = deployment(Some("1.0"), plan(&[(5, Some(30)), (100, None)]));
    d = run(&d, &good(), t(0));
    d = run(&d, &good(), t(1));
    d = command(&d, Command::Pause, "carol", t(11))
        .unwrap()
        .deployment;
    assert_eq!(d.phase, Phase::Paused);
    assert_eq!(
        command(&d, Command::Pause, "carol", t(12)).unwrap_err(),
        CommandError::AlreadyPaused { id: 7 }
    );
    for s in 12..100 {
        d = run(&d, &good(), t(s));
    }
    assert_eq!((d.phase, d.step), (Phase::Paused, Some(0)));
    d = command(&d, Command::Resume, "carol", t(100))
        .unwrap()
        .deployment;
    // 10 s were held before the pause; 20 s remain.
    for s in 101..119 {
        d = run(&d, &good(), t(s));
        assert_eq!(d.phase, Phase::Progressing, "advanced at {s}");
    }
    for s in 119..130 {
        d = run(&d, &good(), t(s));
    }
    assert_eq!(d.phase, Phase::Succeeded);
}

#[test]
fn paused_canary_still_rolls_back_on_failure() {
    let mut d = deployment(Some("1.0"), plan(&[(5, Some(30)), (100, None)]));
    d = run(&d, &good(), t(0));
    d = run(&d, &good(), t(1));
    d = command(&d, Command::Pause, "carol", t(2))
        .unwrap()
        .deployment;
    d = run(&d, &bad(), t(7));
    assert_eq!(d.phase, Phase::RollingBack);
}

#[test]
fn promote_full_needs_a_ready_version_and_names_the_principal() {
    let mut d = deployment(
        Some("1.0"),
        plan(&[(5, Some(30)), (50, Some(30)), (100, None)]),
    );
    d = run(&d, &good(), t(0));
    assert_eq!(
        command(&d, Command::PromoteFull, "dave", t(1)).unwrap_err(),
        CommandError::NotReady {
            id: 7,
            version: "2.0".into()
        }
    );
    d = run(&d, &good(), t(1));
    let out = command(&d, Command::PromoteFull, "dave", t(2)).unwrap();
    check_outcome(&d, &out);
    let e = out.events.last().unwrap();
    assert_eq!(
        (e.to_phase, e.actor.as_str(), e.canary_weight),
        (Phase::Succeeded, "dave", 100)
    );
    assert!(e.reason.contains("skipping steps 2–3"), "{}", e.reason);
}

#[test]
fn abort_rolls_back_and_cancel_before_start() {
    let d0 = deployment(Some("1.0"), plan(&[(5, Some(30)), (100, None)]));
    let cancelled = command(&d0, Command::Abort, "erin", t(0))
        .unwrap()
        .deployment;
    assert_eq!(cancelled.phase, Phase::Cancelled);
    let mut d = run(&d0, &good(), t(0));
    d = run(&d, &good(), t(1));
    let out = command(&d, Command::Abort, "erin", t(2)).unwrap();
    assert_eq!(out.deployment.phase, Phase::RollingBack);
    assert_eq!(out.deployment.canary_weight, 0);
    assert_eq!(out.events[0].actor, "erin");
    let done = run(&out.deployment, &Observations::default(), t(3));
    assert_eq!(done.phase, Phase::RolledBack);
    assert!(matches!(
        command(&done, Command::Abort, "erin", t(4)),
        Err(CommandError::Terminal {
            phase: Phase::RolledBack,
            ..
        })
    ));
}

#[test]
fn desired_target_routes_by_phase() {
    let mut d = deployment(Some("1.0"), plan(&[(5, Some(30)), (100, None)]));
    // Pending: untouched target.
    assert_eq!(
        desired_target(Some("1.0"), 2, Some(&d), None, &["1.0".into()]),
        vec![
            Action::StartVersion {
                version: "1.0".into(),
                replicas: 2
            },
            Action::SetTraffic {
                stable: Some("1.0".into()),
                new_version: None,
                weight: 0,
                rules: Default::default()
            },
            Action::SetPreview {
                version: Some("1.0".into())
            },
        ]
    );
    d = run(&d, &good(), t(0));
    // Starting: the new version runs but gets no traffic yet.
    let starting = desired_target(Some("1.0"), 2, Some(&d), None, &[]);
    assert!(starting.contains(&Action::StartVersion {
        version: "2.0".into(),
        replicas: 2
    }));
    assert!(starting.contains(&Action::SetTraffic {
        stable: Some("1.0".into()),
        new_version: Some("2.0".into()),
        weight: 0,
        rules: Default::default()
    }));
    d = run(&d, &good(), t(1));
    let split = desired_target(Some("1.0"), 2, Some(&d), None, &["0.9".into()]);
    assert!(split.contains(&Action::SetTraffic {
        stable: Some("1.0".into()),
        new_version: Some("2.0".into()),
        weight: 5,
        rules: Default::default()
    }));
    assert_eq!(
        split.last(),
        Some(&Action::StopVersion {
            version: "0.9".into()
        })
    );
}

#[test]
fn header_rules_mirroring_and_stickiness_follow_the_current_step_once_ready() {
    use crate::deployment::TrafficRules;
    use crate::spec::MatchRule;
    let team = MatchRule::HeaderEquals {
        name: "X-Team".into(),
        value: "blue".into(),
    };
    let mut p = plan(&[(0, Some(5)), (0, Some(5)), (100, None)]);
    canary_of(&mut p).steps[0].matches = vec![team.clone()];
    canary_of(&mut p).steps[1].mirror = Some(20);
    canary_of(&mut p).sticky = true;
    let mut d = deployment(Some("1.0"), p);
    let rules = |d: &Deployment| -> TrafficRules {
        desired_target(Some("1.0"), 2, Some(d), None, &[])
            .into_iter()
            .find_map(|a| match a {
                Action::SetTraffic { rules, .. } => Some(rules),
                _ => None,
            })
            .unwrap()
    };
    d = run(&d, &good(), t(0));
    // Not ready yet: the canary gets nothing, not even matching requests.
    assert_eq!(rules(&d), TrafficRules::default());
    d = run(&d, &good(), t(1));
    assert_eq!((d.step, d.canary_weight), (Some(0), 0));
    assert_eq!(
        rules(&d),
        TrafficRules {
            matches: vec![team],
            mirror_percent: 0,
            sticky: true
        }
    );
    let out = step(&d, &good(), t(7));
    d = out.deployment;
    assert_eq!(d.step, Some(1));
    assert!(
        out.events.iter().any(|e| e
            .reason
            .contains("mirroring 20% of stable's requests to the canary")),
        "{:?}",
        out.events
    );
    assert_eq!(
        rules(&d),
        TrafficRules {
            matches: vec![],
            mirror_percent: 20,
            sticky: true
        }
    );
}

#[test]
fn stickiness_ends_when_the_canary_takes_all_traffic() {
    let mut p = plan(&[(50, Some(5)), (100, Some(5))]);
    canary_of(&mut p).sticky = true;
    let mut d = deployment(Some("1.0"), p);
    let sticky = |d: &Deployment| {
        desired_target(Some("1.0"), 2, Some(d), None, &[])
            .into_iter()
            .any(|a| matches!(a, Action::SetTraffic { rules, .. } if rules.sticky))
    };
    d = run(&d, &good(), t(0));
    d = run(&d, &good(), t(1));
    assert_eq!(d.canary_weight, 50);
    assert!(sticky(&d));
    d = run(&d, &good(), t(7));
    assert_eq!((d.canary_weight, d.phase), (100, Phase::Progressing));
    assert!(!sticky(&d), "clients pinned to 1.0 must move at 100%");
}

// ---- properties ----

#[derive(Debug, Clone)]
enum Input {
    Observe {
        advance: u8,
        requests: u64,
        error_pct: u8,
        p95: u8,
        probe_failures: u8,
        ready: bool,
        running: bool,
    },
    Cmd(Command),
}

fn input() -> impl Strategy<Value = Input> {
    prop_oneof![
        8 => (0u8..20, 0u64..200, 0u8..100, 1u8..50, 0u8..3, proptest::bool::weighted(0.9), proptest::bool::weighted(0.9))
            .prop_map(|(advance, requests, error_pct, p95, probe_failures, ready, running)| Input::Observe {
                advance, requests, error_pct, p95, probe_failures, ready, running
            }),
        1 => prop_oneof![
            Just(Command::Promote),
            Just(Command::PromoteFull),
            Just(Command::Pause),
            Just(Command::Resume),
            Just(Command::Abort),
        ].prop_map(Input::Cmd),
    ]
}

fn steps_strategy() -> impl Strategy<Value = Vec<(u8, Option<u64>)>> {
    proptest::collection::btree_set(1u8..100, 0..4).prop_flat_map(|ws| {
        let mut weights: Vec<u8> = ws.into_iter().collect();
        weights.push(100);
        let n = weights.len();
        proptest::collection::vec(proptest::option::weighted(0.8, 1u64..40), n)
            .prop_map(move |pauses| weights.iter().copied().zip(pauses).collect::<Vec<_>>())
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn invariants_hold_for_any_history(
        steps in steps_strategy(),
        has_stable in proptest::bool::weighted(0.8),
        inputs in proptest::collection::vec(input(), 1..120),
    ) {
        let mut d = deployment(has_stable.then_some("1.0"), plan(&steps));
        let mut now = t(0);
        let mut visited = std::collections::BTreeSet::new();
        let mut full_by: Option<String> = None;
        for inp in inputs {
            let before = d.clone();
            let out = match inp {
                Input::Observe { advance, requests, error_pct, p95, probe_failures, ready, running } => {
                    now = now.checked_add(SignedDuration::from_secs(advance as i64)).unwrap();
                    let errors = requests * error_pct as u64 / 100;
                    let canary = running.then(|| VersionObservation {
                        desired: 2,
                        ready: if ready { 2 } else { 0 },
                        ever_ready: ready,
                        consecutive_probe_failures: probe_failures as u32,
                        running,
                        metrics: metrics(requests, errors, p95 as f64),
                        last_error: None,
                        exits_before_ready: 0,
                        output: Vec::new(),
                        readings: Vec::new(),
                        samples: Default::default(),
                    });
                    let obs = Observations { new_version: canary, stable: Some(healthy(metrics(1000, 0, 10.0))), gate: None, hooks: Vec::new(), router_error: None };
                    step(&d, &obs, now)
                }
                Input::Cmd(cmd) => match command(&d, cmd, "pat", now) {
                    Ok(out) => {
                        if cmd == Command::PromoteFull { full_by = Some("pat".into()); }
                        out
                    }
                    Err(_) => {
                        // A refused command changes nothing; terminal phases refuse all.
                        continue;
                    }
                },
            };
            check_outcome(&before, &out);
            // Terminal phases absorb.
            if before.phase.is_terminal() {
                prop_assert_eq!(&out.deployment, &before);
                prop_assert!(!out.changed());
            }
            for e in &out.events {
                if let Some(s) = e.step { visited.insert(s); }
                // Every rollback (and failure) leaves the canary at weight 0.
                if matches!(e.to_phase, Phase::RollingBack | Phase::RolledBack | Phase::Failed) {
                    prop_assert_eq!(e.canary_weight, 0);
                }
                if e.to_phase == Phase::Succeeded {
                    let direct = !has_stable;
                    let every_step = visited.len() == steps.len();
                    let named_full = full_by.is_some() && e.actor == "pat" && e.reason.contains("promoted fully");
                    prop_assert!(direct || every_step || named_full,
                        "succeeded without every step ({visited:?} of {}) nor a named full promotion: {e:?}", steps.len());
                    prop_assert_eq!(e.canary_weight, 100);
                }
            }
            d = out.deployment;
            if d.phase == Phase::RolledBack || d.phase == Phase::RollingBack {
                let actions = desired_target(Some("1.0"), 2, (!d.phase.is_terminal()).then_some(&d), None, &["1.0".into(), "2.0".into()]);
                let stable_serves = actions.contains(&Action::SetTraffic { stable: d.previous_version.clone(), new_version: None, weight: 0 , rules: Default::default() })
                    || (d.phase.is_terminal() && actions.contains(&Action::SetTraffic { stable: Some("1.0".into()), new_version: None, weight: 0 , rules: Default::default() }));
                prop_assert!(stable_serves, "{actions:?}");
                let stops_canary = actions.contains(&Action::StopVersion { version: "2.0".into() });
                prop_assert!(stops_canary, "{:?}", actions);
            }
        }
    }
}

#[test]
fn external_readings_judge_the_round_only_when_one_is_due() {
    use crate::sources::{Outcome, Reading};
    use crate::spec::{Bound, Check, CheckSource, PrometheusQuery};
    let mut p = plan(&[(50, Some(300)), (100, None)]);
    match &mut p {
        Plan::Canary { common, .. } => {
            common.checks = vec![Check {
                name: "checkout_ok".into(),
                source: CheckSource::Prometheus(PrometheusQuery {
                    provider: "prom".into(),
                    query: "sum(ok)".into(),
                }),
                bound: Bound::Min(5.0),
            }]
        }
        other => panic!("{other:?}"),
    }
    let mut d = deployment(Some("1.0"), p);
    assert!(!round_due(&d, t(0)), "not started");
    d = run(&d, &good(), t(0));
    assert!(!round_due(&d, t(0)), "not healthy yet");
    d = run(&d, &good(), t(1));
    assert!(!round_due(&d, t(5)), "an interval has not passed");
    assert!(round_due(&d, t(6)));
    let reading = |outcome: Outcome| Observations {
        new_version: Some(VersionObservation {
            readings: vec![Reading {
                check: "checkout_ok".into(),
                query: "sum(ok)".into(),
                outcome,
            }],
            ..healthy(metrics(100, 0, 10.0))
        }),
        ..good()
    };
    // Prometheus down: inconclusive, the failure count untouched.
    let out = step(
        &d,
        &reading(Outcome::Unavailable("did not answer".into())),
        t(6),
    );
    let round = &out.rounds[0];
    assert_eq!(round.verdict, Verdict::Inconclusive);
    assert_eq!(round.checks[0].message, "checkout_ok: did not answer");
    d = out.deployment;
    assert!(!round_due(&d, t(7)));
    d = run(&d, &reading(Outcome::Value(2.0)), t(11));
    assert_eq!(d.progress.consecutive_failures, 1);
    // A round without its reading (not read) is inconclusive, not a pass.
    let out = step(&d, &good(), t(16));
    assert_eq!(out.rounds[0].verdict, Verdict::Inconclusive);
    assert_eq!(
        out.rounds[0].checks[0].message,
        "checkout_ok: not read this round"
    );
    d = out.deployment;
    d = run(&d, &reading(Outcome::Value(1.0)), t(21));
    assert_eq!(d.phase, Phase::RollingBack, "{:?}", d.reason);
}

#[test]
fn versions_left_out_of_a_refused_split_keep_running() {
    // 2.0 has just succeeded at 100%: 1.0 is stopped only once the router
    // has applied the split that leaves it out.
    let actions = desired_target(Some("2.0"), 2, None, None, &["1.0".into(), "2.0".into()]);
    let (waiting, going_on): (Vec<&Action>, Vec<&Action>) =
        actions.iter().partition(|a| !runs_while_traffic_refused(a));
    assert_eq!(
        waiting,
        vec![&Action::StopVersion {
            version: "1.0".into()
        }]
    );
    assert!(
        going_on
            .iter()
            .any(|a| matches!(a, Action::SetTraffic { .. }))
    );
    assert!(
        going_on
            .iter()
            .any(|a| matches!(a, Action::StartVersion { .. }))
    );
    assert!(
        going_on
            .iter()
            .any(|a| matches!(a, Action::SetPreview { .. }))
    );
}
