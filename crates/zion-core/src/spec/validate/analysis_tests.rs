//! `analysis:` specs, valid and not.

use std::time::Duration;

use crate::metrics::Metric;
use crate::spec::validate::test_support::*;
use crate::spec::{Bound, Check};

#[test]
fn analysis_rules() {
    assert_error(
        &service("analysis: { interval: 0s }"),
        "services[0].analysis.interval",
        "is zero",
    );
    assert_error(
        &service("analysis: { failure_limit: 0 }"),
        "services[0].analysis.failure_limit",
        "use 1 or more",
    );
    assert_error(
        &service("analysis: { min_requests: -1 }"),
        "services[0].analysis.min_requests",
        "negative",
    );
    let check = |c: &str| service(&format!("analysis: {{ checks: [{c}] }}"));
    let p = "services[0].analysis.checks[0]";
    assert_error(
        &check("{ metric: latency_p90, max: 100 }"),
        &format!("{p}.metric"),
        "`latency_p90` is not a built-in metric; did you mean `latency_p50`? use one of: error_rate, \
             latency_p50, latency_p95, latency_p99, request_rate, health, cpu, memory_mb",
    );
    assert_error(&check("{ max: 1 }"), &format!("{p}.metric"), "missing");
    assert_error(
        &check("{ metric: cpu, max: 1, min: 0 }"),
        p,
        "exactly one of max, min or max_ratio_to_baseline (found max, min)",
    );
    assert_error(&check("{ metric: cpu }"), p, "(found none)");
    assert_error(
        &check("{ metric: cpu, max: -1 }"),
        &format!("{p}.max"),
        "negative",
    );
    assert_error(
        &check("{ metric: cpu, min: -0.5 }"),
        &format!("{p}.min"),
        "negative",
    );
    assert_error(
        &check("{ metric: cpu, max_ratio_to_baseline: 0 }"),
        &format!("{p}.max_ratio_to_baseline"),
        "must be above 0",
    );
    assert_error(
        &check("{ metric: cpu, max: .nan }"),
        &format!("{p}.max"),
        "not a finite number",
    );
    assert_error(
        &check("{ metric: cpu, max: .inf }"),
        &format!("{p}.max"),
        "not a finite number",
    );
    let spec = valid(&check(
        "{ metric: memory_mb, max: 512 }, { metric: request_rate, min: 0 }",
    ));
    assert_eq!(
        spec.services[0].analysis.checks,
        [
            Check::builtin(Metric::MemoryMb, Bound::Max(512.0)),
            Check::builtin(Metric::RequestRate, Bound::Min(0.0)),
        ]
    );
    assert!(valid(&check("")).services[0].analysis.checks.is_empty());
}

#[test]
fn inconclusive_limit_has_a_default_and_a_range() {
    let limit = |yaml: &str| {
        valid(&service(yaml)).services[0]
            .analysis
            .inconclusive_limit
    };
    assert_eq!(limit(""), Duration::from_secs(600));
    assert_eq!(
        limit("analysis: { inconclusive_limit: 1s }"),
        Duration::from_secs(1)
    );
    assert_eq!(
        limit("analysis: { inconclusive_limit: 24h }"),
        Duration::from_secs(86_400)
    );
    let p = "services[0].analysis.inconclusive_limit";
    for (value, needle) in [
        ("500ms", "`500ms` is too short: use 1s to 24h"),
        ("25h", "`25h` is too long: use 1s to 24h"),
        ("99999999999h", ""),
        ("0s", "is zero"),
        ("soon", ""),
    ] {
        assert_error(
            &service(&format!("analysis: {{ inconclusive_limit: {value} }}")),
            p,
            needle,
        );
    }
}
