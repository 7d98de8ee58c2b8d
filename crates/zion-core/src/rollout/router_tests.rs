use crate::deployment::Phase;
use crate::rollout::tests::{deployment, good, plan, run, t};
use crate::rollout::{Observations, step};

fn refused(why: &str) -> Observations {
    Observations {
        router_error: Some(why.into()),
        ..good()
    }
}

#[test]
fn a_refused_step_is_held_and_said_once_per_reason() {
    let mut d = deployment(
        Some("1.0"),
        plan(&[(10, Some(10)), (50, Some(10)), (100, None)]),
    );
    d = run(&d, &good(), t(0));
    d = run(&d, &good(), t(1));
    assert_eq!((d.step, d.canary_weight), (Some(0), 10));

    // The router refuses step 1's weights: held well past its pause, with
    // no analysis round, and one event per distinct reason.
    let full = "HAProxy refused `set weight web/zion-2.0-127.0.0.1-9001 25`: No such server.";
    let out = step(&d, &refused(full), t(2));
    assert_eq!(out.events.len(), 1, "{:?}", out.events);
    let why = &out.events[0].reason;
    assert!(
        why.contains("step 1/3's weights (10% to 2.0)")
            && why.contains(full)
            && why.contains("held"),
        "{why}"
    );
    d = out.deployment;
    let rounds = d.progress.rounds;
    for now in 3..60 {
        let out = step(&d, &refused(full), t(now));
        assert!(
            out.events.is_empty() && out.rounds.is_empty(),
            "{:?}",
            out.events
        );
        d = out.deployment;
    }
    assert_eq!(
        (d.phase, d.step, d.progress.rounds),
        (Phase::Progressing, Some(0), rounds)
    );
    let out = step(&d, &refused("admin socket gone"), t(60));
    assert_eq!(out.events.len(), 1);
    d = out.deployment;

    // Applied at last: the step starts now, its pause counted from here.
    let out = step(&d, &good(), t(61));
    assert!(
        out.events[0]
            .reason
            .contains("the router applied step 1/3's weights"),
        "{:?}",
        out.events
    );
    d = out.deployment;
    assert_eq!(d.progress.router_refused, None);
    assert_eq!(d.progress.step_started_at, Some(t(61)));
    for now in 62..71 {
        d = run(&d, &good(), t(now));
    }
    assert_eq!(
        d.step,
        Some(0),
        "advanced before its pause since the weights applied"
    );
    for now in 71..80 {
        d = run(&d, &good(), t(now));
    }
    assert_eq!((d.step, d.canary_weight), (Some(1), 50));
}

#[test]
fn a_failing_canary_is_still_rolled_back_while_the_router_refuses() {
    let mut d = deployment(Some("1.0"), plan(&[(10, Some(10)), (100, None)]));
    d = run(&d, &good(), t(0));
    d = run(&d, &good(), t(1));
    let mut sick = refused("no backend");
    if let Some(c) = sick.new_version.as_mut() {
        c.consecutive_probe_failures = 5;
    }
    d = run(&d, &sick, t(2));
    assert_eq!(d.phase, Phase::RollingBack);
}
