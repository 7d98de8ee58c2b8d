//! `analysis.judge` and `analysis.mann_whitney`, valid and not.

use crate::judge::{Direction, Judge, MannWhitney, SampleMetric};
use crate::spec::validate::test_support::*;

fn analysis(body: &str) -> String {
    service(&format!("analysis: {body}\n"))
}

#[test]
fn the_judge_defaults_to_thresholds() {
    let spec = valid(&analysis("{ interval: 5s }"));
    let a = &spec.services[0].analysis;
    assert_eq!(a.judge, Judge::Thresholds);
    assert_eq!(a.checks.len(), 3);
}

#[test]
fn mann_whitney_with_defaults_replaces_the_default_checks() {
    let spec = valid(&analysis("{ judge: mann_whitney }"));
    let a = &spec.services[0].analysis;
    assert_eq!(a.judge, Judge::MannWhitney(MannWhitney::defaults()));
    assert!(a.checks.is_empty());
    // Listed checks still apply beside it.
    let spec = valid(&analysis(
        "{ judge: mann_whitney, checks: [{ metric: error_rate, max: 0.05 }] }",
    ));
    assert_eq!(spec.services[0].analysis.checks.len(), 1);
}

#[test]
fn mann_whitney_settings() {
    let spec = valid(&analysis(
        "\n  judge: mann_whitney\n  mann_whitney:\n    confidence: 0.95\n    pass: 90\n    marginal: 60\n    groups: { speed: 3, errors: 1 }\n    metrics:\n      - { metric: latency, group: speed, allowed_increase: 1.1, critical_increase: 2 }\n      - { metric: error_rate, group: errors, critical: true, must_have_data: true }\n      - { metric: request_rate, group: errors, direction: decrease, allowed_decrease: 0.8 }",
    ));
    let Judge::MannWhitney(m) = &spec.services[0].analysis.judge else {
        panic!("not mann_whitney")
    };
    assert_eq!((m.confidence, m.pass, m.marginal), (0.95, 90.0, 60.0));
    assert_eq!((m.weight("speed"), m.weight("errors")), (3.0, 1.0));
    assert_eq!(m.metrics.len(), 3);
    assert_eq!(m.metrics[0].metric, SampleMetric::Latency);
    assert_eq!(m.metrics[0].critical_increase, Some(2.0));
    assert!(m.metrics[1].critical && m.metrics[1].must_have_data);
    assert_eq!(m.metrics[2].direction, Direction::Decrease);
    assert_eq!(m.metrics[2].allowed_decrease, 0.8);
}

#[test]
fn bad_judge_settings_are_named_by_path() {
    let p = "services[0].analysis";
    let mw = |body: &str| analysis(&format!("{{ judge: mann_whitney, mann_whitney: {body} }}"));
    assert_error(
        &analysis("{ judge: kayenta }"),
        &format!("{p}.judge"),
        "not a judge",
    );
    assert_error(
        &analysis("{ mann_whitney: { pass: 90 } }"),
        &format!("{p}.mann_whitney"),
        "add `judge: mann_whitney`",
    );
    let q = format!("{p}.mann_whitney");
    assert_error(
        &mw("{ pass: 70, marginal: 75 }"),
        &format!("{q}.pass"),
        "below marginal 75",
    );
    assert_error(&mw("{ pass: 101 }"), &format!("{q}.pass"), "not a score");
    assert_error(
        &mw("{ confidence: 1 }"),
        &format!("{q}.confidence"),
        "not a confidence",
    );
    assert_error(
        &mw("{ confidence: 0 }"),
        &format!("{q}.confidence"),
        "not a confidence",
    );
    assert_error(&mw("{ metrics: [] }"), &format!("{q}.metrics"), "empty");
    assert_error(
        &mw("{ confidnce: 0.9 }"),
        &format!("{q}.confidnce"),
        "did you mean `confidence`",
    );
    let m = format!("{q}.metrics[0]");
    let one = |metric: &str| mw(&format!("{{ metrics: [{metric}] }}"));
    assert_error(
        &one("{ metric: latency, direction: up }"),
        &format!("{m}.direction"),
        "not a direction",
    );
    assert_error(
        &one("{ metric: latncy }"),
        &format!("{m}.metric"),
        "did you mean `latency`",
    );
    assert_error(&one("{ group: x }"), &format!("{m}.metric"), "missing");
    assert_error(
        &one("{ metric: latency, allowed_increase: 0.9 }"),
        &format!("{m}.allowed_increase"),
        "below 1",
    );
    assert_error(
        &one("{ metric: latency, allowed_decrease: 1.2 }"),
        &format!("{m}.allowed_decrease"),
        "not in (0, 1]",
    );
    assert_error(
        &one("{ metric: latency, allowed_increase: 1.5, critical_increase: 1.2 }"),
        &format!("{m}.critical_increase"),
        "above allowed_increase 1.5",
    );
    assert_error(
        &mw("{ groups: { latency: 0 } }"),
        &format!("{q}.groups.latency"),
        "not a weight",
    );
    assert_error(
        &mw("{ groups: { latency: -2 } }"),
        &format!("{q}.groups.latency"),
        "above 0",
    );
    assert_error(
        &mw("{ groups: { speed: 1 }, metrics: [{ metric: latency }] }"),
        &format!("{q}.groups.speed"),
        "no metric is in group `speed`",
    );
}

#[test]
fn lint_names_the_judge() {
    let text = crate::spec::validate::summary(&valid(&analysis("{ judge: mann_whitney }")));
    assert!(
        text.contains(
            "    judge: mann_whitney at confidence 0.98, pass 95, marginal 75; \
             latency (group latency, fails on increase), error_rate (group error_rate, fails on increase)"
        ),
        "{text}"
    );
}
