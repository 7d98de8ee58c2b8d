//! Rounds judged by the statistical judge (`analysis.judge: mann_whitney`).

use super::tests::{deployment, good, healthy, metrics, plan, run, t};
use super::*;
use crate::judge::{Classification, Judge, MannWhitney, SampleMetric};

/// Latencies spread over 20 values around `base` ms, one per request.
fn samples(requests: usize, base: f64, errors_per_second: &[(u64, u64)]) -> Samples {
    let latency = (0..requests)
        .map(|i| base + (i % 20) as f64 * 0.5)
        .collect();
    Samples::from_seconds(errors_per_second, latency)
}

fn observations(canary_base: f64) -> Observations {
    let mut canary = healthy(metrics(100, 0, 10.0));
    canary.samples = samples(100, canary_base, &[(20, 0); 5]);
    let mut stable = healthy(metrics(1900, 0, 10.0));
    stable.samples = samples(1900, 10.0, &[(380, 0); 5]);
    Observations {
        new_version: Some(canary),
        stable: Some(stable),
        gate: None,
        hooks: Vec::new(),
        router_error: None,
    }
}

fn judged_plan() -> Plan {
    let mut p = plan(&[(50, Some(300)), (100, None)]);
    let c = p.common_mut();
    c.judge = Judge::MannWhitney(MannWhitney::defaults());
    c.checks = Vec::new();
    p
}

#[test]
fn the_judge_fails_a_slower_version_and_records_its_figures() {
    let mut d = deployment(Some("1.0"), judged_plan());
    d = run(&d, &good(), t(0));
    d = run(&d, &good(), t(1));
    let out = step(&d, &observations(12.0), t(6));
    let round = &out.rounds[0];
    assert_eq!(round.verdict, Verdict::Fail, "{}", round.summary);
    let report = round.judge.as_ref().expect("the judge's report");
    assert_eq!(report.score, 50.0);
    let latency = &report.metrics[0];
    assert_eq!(latency.metric, SampleMetric::Latency);
    assert_eq!((latency.canary_n, latency.baseline_n), (100, 1900));
    assert_eq!(latency.classification, Classification::High);
    assert!(latency.p_value.unwrap() < 0.02);
    assert!(latency.effect_size.unwrap() > 1.1);
    assert_eq!(report.metrics[1].classification, Classification::Pass);
    assert!(
        round
            .summary
            .starts_with("judge score 50 < marginal 75; latency high"),
        "{}",
        round.summary
    );
    // The report survives the round's JSON.
    let json = serde_json::to_string(round).unwrap();
    let back: crate::analysis::AnalysisRound = serde_json::from_str(&json).unwrap();
    assert_eq!(&back, round);
}

#[test]
fn the_judge_passes_a_version_like_stable() {
    let mut d = deployment(Some("1.0"), judged_plan());
    d = run(&d, &good(), t(0));
    d = run(&d, &good(), t(1));
    let out = step(&d, &observations(10.0), t(6));
    let round = &out.rounds[0];
    assert_eq!(round.verdict, Verdict::Pass, "{}", round.summary);
    assert_eq!(round.judge.as_ref().unwrap().score, 100.0);
}

#[test]
fn a_marginal_score_holds_the_step_like_an_inconclusive_round() {
    let mut p = judged_plan();
    if let Judge::MannWhitney(m) = &mut p.common_mut().judge {
        m.pass = 100.0;
        m.marginal = 50.0;
    }
    let mut d = deployment(Some("1.0"), p);
    d = run(&d, &good(), t(0));
    d = run(&d, &good(), t(1));
    let out = step(&d, &observations(12.0), t(6));
    assert_eq!(out.rounds[0].verdict, Verdict::Inconclusive);
    assert_eq!(out.deployment.progress.consecutive_failures, 0);
    assert_eq!(out.deployment.step, d.step);
}

#[test]
fn without_enough_requests_the_judge_does_not_run() {
    let mut d = deployment(Some("1.0"), judged_plan());
    d = run(&d, &good(), t(0));
    d = run(&d, &good(), t(1));
    let mut obs = observations(12.0);
    obs.new_version.as_mut().unwrap().metrics = metrics(3, 0, 10.0);
    let out = step(&d, &obs, t(6));
    assert_eq!(out.rounds[0].verdict, Verdict::Inconclusive);
    assert_eq!(out.rounds[0].judge, None);
}
