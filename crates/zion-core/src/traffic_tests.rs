use std::time::Duration;

use super::*;
use crate::deployment::{BlueGreenPlan, PlanStep};
use crate::rollout::tests::{canary_of, deployment, good, healthy, metrics, plan, run, t};
use crate::rollout::{Command, Observations, command, step};

fn window(secs: f64, requests: u64) -> WindowMetrics {
    WindowMetrics {
        window_secs: secs,
        requests,
        ..Default::default()
    }
}

/// A deployment at step 1 (`weight`%) of a plan with `min_requests`.
fn at_step(weight: u8, min_requests: u64) -> Deployment {
    let mut p = plan(&[(weight, Some(30)), (100, None)]);
    p.common_mut().min_requests = min_requests;
    let mut d = deployment(Some("1.0"), p);
    d.phase = Phase::Progressing;
    d.step = Some(0);
    d.canary_weight = weight;
    d.progress.ready_at = Some(t(0));
    d
}

#[test]
fn shortfall_says_what_the_round_saw_and_what_the_step_needs() {
    // 12 canary requests in a 2 s round at 5%, 240 through the listener.
    let mut d = at_step(5, 20);
    d.plan.common_mut().interval = Duration::from_secs(2);
    assert_eq!(
        shortfall(&d, &window(2.0, 12), Some(&window(2.0, 228))),
        "12 of 20 requests in 2s at 5%: the step needs about 200 requests/s through the listener; it gets 120"
    );
    // What it gets is measured over the span the figures cover (whole
    // seconds, a little longer than the interval); the need stays per
    // interval, so quiet rounds read the same.
    assert_eq!(
        shortfall(&d, &window(2.4, 12), Some(&window(2.4, 228))),
        "12 of 20 requests in 2s at 5%: the step needs about 200 requests/s through the listener; it gets 100"
    );
    let d = at_step(5, 20);
    // The README's numbers: 20 requests every 5 s at 5% need 80 per second.
    assert_eq!(
        shortfall(&d, &window(5.0, 0), Some(&window(5.0, 0))),
        "0 of 20 requests in 5s at 5%: the step needs about 80 requests/s through the listener; it gets 0"
    );
    assert_eq!(
        needed_rate(20, Duration::from_secs(5), 5),
        Some(80.0),
        "min_requests / interval / weight"
    );
    assert_eq!(needed_rate(20, Duration::from_secs(5), 0), None);
    // Slow rates keep their decimals.
    assert_eq!(
        shortfall(&at_step(25, 5), &window(5.0, 1), Some(&window(5.0, 1))),
        "1 of 5 requests in 5s at 25%: the step needs about 4 requests/s through the listener; it gets 0.4"
    );
    assert_eq!(rate_text(0.4), "0.4");
    assert_eq!(rate_text(2.25), "2.2");
    assert_eq!(rate_text(0.125), "0.12");
    assert_eq!(rate_text(266.6), "267");

    // A mirror step copies a share of stable's requests: stable's are the
    // listener's.
    let mut mirror = at_step(0, 20);
    canary_of(&mut mirror.plan).steps[0] = PlanStep {
        mirror: Some(20),
        ..PlanStep::weighted(0, Some(Duration::from_secs(30)))
    };
    assert_eq!(
        shortfall(&mirror, &window(5.0, 4), Some(&window(5.0, 20))),
        "4 of 20 requests in 5s mirroring 20%: the step needs about 20 requests/s through the listener; it gets 4"
    );
    // Weight 0 with header rules: only matching requests reach it.
    let matching = at_step(0, 10);
    assert_eq!(
        shortfall(&matching, &window(5.0, 2), Some(&window(5.0, 500))),
        "2 of 10 requests in 5s at 0%: the step needs about 2 matching requests/s; it gets 0.4"
    );
    // Blue-green: the preview listener feeds the new version.
    let mut bg = at_step(0, 20);
    bg.plan = Plan::BlueGreen {
        common: bg.plan.common().clone(),
        blue_green: BlueGreenPlan {
            auto_promotion: Some(Duration::from_secs(30)),
            scale_down_delay: Duration::from_secs(30),
        },
    };
    assert_eq!(
        shortfall(&bg, &window(5.0, 5), Some(&window(5.0, 900))),
        "5 of 20 requests in 5s through the preview listener: the preview needs about 4 requests/s; it gets 1"
    );
}

fn quiet() -> Observations {
    Observations {
        new_version: Some(healthy(metrics(0, 0, 10.0))),
        stable: Some(healthy(metrics(0, 0, 10.0))),
        gate: None,
        hooks: Vec::new(),
        router_error: None,
    }
}

/// A canary at step 1 (5%, hold 30 s) of a plan whose rounds every 5 s may
/// stay inconclusive for `limit` seconds; ready at t(1), rounds from t(6).
fn started(limit: u64, steps: &[(u8, Option<u64>)]) -> Deployment {
    let mut p = plan(steps);
    p.common_mut().inconclusive_limit = Duration::from_secs(limit);
    let mut d = deployment(Some("1.0"), p);
    d = run(&d, &good(), t(0));
    d = run(&d, &good(), t(1));
    assert_eq!((d.phase, d.step), (Phase::Progressing, Some(0)));
    d
}

/// Steps from `from` to `to` (inclusive) once a second with `obs`.
fn run_until(mut d: Deployment, obs: &Observations, from: i64, to: i64) -> Deployment {
    for s in from..=to {
        d = run(&d, obs, t(s));
    }
    d
}

#[test]
fn a_canary_without_traffic_pauses_after_the_inconclusive_limit() {
    let d = started(60, &[(5, Some(30)), (100, None)]);
    // The first quiet round (t6) covers t1..t6: the run starts at t1.
    let d = run_until(d, &quiet(), 2, 60);
    assert_eq!(d.phase, Phase::Progressing, "{:?}", d.reason);
    assert_eq!(d.progress.inconclusive_since, Some(t(1)));
    assert_eq!(pause_due_at(&d), Some(t(61)));
    let out = step(&d, &quiet(), t(61));
    let paused = &out.deployment;
    assert_eq!(paused.phase, Phase::Paused);
    assert_eq!(paused.progress.paused_at, Some(t(61)));
    assert_eq!(pause_due_at(paused), None);
    let e = out.events.last().expect("a pause event");
    assert_eq!((e.actor.as_str(), e.to_phase), (CONTROLLER, Phase::Paused));
    assert_eq!(
        e.reason,
        "no traffic reached 2.0 for 1m: promote to go on, abort to stop (last round: \
         0 of 20 requests in 5s at 5%: the step needs about 80 requests/s through the listener; it gets 0)"
    );
    assert_eq!(paused.reason.as_deref(), Some(e.reason.as_str()));
    assert_eq!(out.rounds.len(), 1, "the round that decided is recorded");

    // Paused, it stays paused: rounds go on, no second pause.
    let mut d = paused.clone();
    for s in 62..=70 {
        let out = step(&d, &quiet(), t(s));
        assert!(out.events.is_empty(), "{:?}", out.events);
        d = out.deployment;
    }
    // A resume starts the run over: another limit of quiet before a pause.
    d = command(&d, Command::Resume, "carol", t(70))
        .unwrap()
        .deployment;
    assert_eq!(d.progress.inconclusive_since, None);
    let d = run_until(d, &quiet(), 71, 125);
    assert_eq!(d.phase, Phase::Progressing, "{:?}", d.reason);
    let d = run_until(d, &quiet(), 126, 126);
    assert_eq!(d.phase, Phase::Paused);
    // Promote goes on, as the reason says.
    let done = command(&d, Command::Promote, "carol", t(127)).unwrap();
    assert_eq!(done.deployment.phase, Phase::Succeeded);
}

#[test]
fn a_conclusive_round_ends_the_run() {
    let d = started(60, &[(5, Some(300)), (100, None)]);
    let d = run_until(d, &quiet(), 2, 50);
    assert_eq!(d.progress.inconclusive_since, Some(t(1)));
    let d = run_until(d, &good(), 51, 51);
    assert_eq!(d.progress.inconclusive_since, None);
    // Quiet again from t52: the next quiet round (t56) starts a new run at t51.
    let d = run_until(d, &quiet(), 52, 110);
    assert_eq!(d.phase, Phase::Progressing, "{:?}", d.reason);
    assert_eq!(pause_due_at(&d), Some(t(111)));
    let d = run_until(d, &quiet(), 111, 111);
    assert_eq!(d.phase, Phase::Paused);
}

#[test]
fn a_trickle_is_too_little_traffic() {
    let d = started(30, &[(5, Some(300)), (100, None)]);
    let trickle = Observations {
        new_version: Some(healthy(metrics(3, 0, 10.0))),
        ..quiet()
    };
    let d = run_until(d, &trickle, 2, 31);
    assert_eq!(d.phase, Phase::Paused);
    let reason = d.reason.unwrap();
    assert!(
        reason.starts_with(
            "too little traffic reached 2.0 for 30s: promote to go on, abort to stop (last round: 3 of 20"
        ),
        "{reason}"
    );
}

#[test]
fn nothing_pauses_when_nothing_waits_on_the_analysis() {
    // A step without a pause waits for a promote anyway.
    let d = started(10, &[(5, None), (100, None)]);
    let d = run_until(d, &quiet(), 2, 200);
    assert_eq!((d.phase, d.step), (Phase::Progressing, Some(0)));
    assert!(d.progress.inconclusive_since.is_some());
    assert_eq!(pause_due_at(&d), None);

    // Without checks a step needs no passing round: it moves on.
    let mut p = plan(&[(5, Some(20)), (100, None)]);
    p.common_mut().checks.clear();
    p.common_mut().inconclusive_limit = Duration::from_secs(10);
    let mut d = deployment(Some("1.0"), p);
    d = run(&d, &good(), t(0));
    d = run(&d, &good(), t(1));
    let d = run_until(d, &quiet(), 2, 40);
    assert_eq!(d.phase, Phase::Succeeded, "{:?}", d.reason);

    // A deployment its users paused is not paused again.
    let d = started(10, &[(5, Some(300)), (100, None)]);
    let mut d = command(&d, Command::Pause, "carol", t(2))
        .unwrap()
        .deployment;
    for s in 3..100 {
        let out = step(&d, &quiet(), t(s));
        assert!(out.events.is_empty(), "{:?}", out.events);
        d = out.deployment;
    }
    assert_eq!(d.reason.as_deref(), Some("paused by carol"));
}

#[test]
fn a_new_step_starts_the_run_over() {
    let d = started(60, &[(5, Some(300)), (50, Some(300)), (100, None)]);
    let d = run_until(d, &quiet(), 2, 50);
    assert!(d.progress.inconclusive_since.is_some());
    let d = command(&d, Command::Promote, "carol", t(51))
        .unwrap()
        .deployment;
    assert_eq!((d.step, d.progress.inconclusive_since), (Some(1), None));
    let d = run_until(d, &quiet(), 52, 100);
    assert_eq!(d.phase, Phase::Progressing, "{:?}", d.reason);
}
