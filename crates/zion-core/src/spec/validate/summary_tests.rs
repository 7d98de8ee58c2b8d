//! The summary of specs written for the purpose.

use std::time::Duration;

use super::{short, summary};
use crate::spec::validate::test_support::*;

#[test]
fn summary_of_the_design_example() {
    let text = summary(&valid(DESIGN_EXAMPLE));
    let expected = "\
server: listen 127.0.0.1:7070, data dir .zion
environments (2):
  staging
  production: requires staging; 2 approval(s) by approver/admin, not the requester, expire after 24h; windows Europe/Berlin allow mon-fri 09:00-17:00, 1 freeze(s); checks deployment_window, no_open_incident, service_health
services (1):
  web: canary, 2 replica(s), health http /healthz every 1s
    targets: staging → 127.0.0.1:8081; production → 127.0.0.1:8080 (preview 127.0.0.1:9080)
    canary: 5%/30s → 25%/30s → 50%/60s → 100%
    analysis: every 5s, roll back after 2 failed round(s), min 20 requests, pause after 10m inconclusive; error_rate max 0.01, latency_p95 max_ratio_to_baseline 1.2, health min 0.95
    traffic: 20 requests every 5s at 5% need about 80 requests/s through the listener";
    assert_eq!(text, expected);
}

#[test]
fn summary_durations_stay_readable() {
    let cases = [
        (500, "500ms"),
        (1500, "1500ms"),
        (30_000, "30s"),
        (60_000, "60s"),
        (90_000, "90s"),
        (300_000, "5m"),
        (3_600_000, "60m"),
        (7_200_000, "2h"),
        (86_400_000, "24h"),
    ];
    for (ms, text) in cases {
        assert_eq!(short(Duration::from_millis(ms)), text);
    }
}

#[test]
fn summary_shows_the_chosen_strategy_and_special_steps() {
    let spec = valid(&service(
        "strategy: blue_green\nblue_green: { auto_promotion: 5m }\ncanary:\n  steps:\n    \
             - { weight: 0, match: [{ header: X-Team, equals: blue }] }\n    - { mirror: 10, pause: 1m }\n    - { weight: 100 }",
    ));
    let text = summary(&spec);
    assert!(
        text.contains("    canary: 0% [X-Team=blue]/manual → mirror 10%/60s → 100%"),
        "{text}"
    );
    assert!(
        text.contains("    blue_green: auto-promote after 5m, scale down old after 30s"),
        "{text}"
    );
    let spec = valid(&service("strategy: rolling\nrolling: { batch: 2 }"));
    assert!(summary(&spec).contains("    rolling: batches of 2 replica(s)"));
}

#[test]
fn summary_names_the_grpc_service_probed() {
    let named = summary(&valid(&service(
        "health: { grpc: { service: helloworld.Greeter }, interval: 2s, timeout: 1s }",
    )));
    assert!(
        named.contains("health grpc helloworld.Greeter every 2s"),
        "{named}"
    );
    let overall = summary(&valid(&service("health: { grpc: {} }")));
    assert!(
        overall.contains("health grpc (overall) every 1s"),
        "{overall}"
    );
}

#[test]
fn summary_shows_gates_and_audit_origin() {
    let yaml = format!(
        "audit: {{ origin: zion/ci }}\n{}",
        with_env("gates: { tests_passed: 100%, coverage: 0.805, findings: { error: 0 } }")
    );
    let text = summary(&valid(&yaml));
    assert!(text.contains("\naudit: log origin zion/ci\n"), "{text}");
    assert!(
        text.contains(
            "  production: gates tests passed >= 100%, coverage >= 80.5%, error findings <= 0"
        ),
        "{text}"
    );
}

#[test]
fn summary_lists_the_hooks_by_point() {
    let text = summary(&valid(&service(
        "hooks:\n\
         \x20 on_rollback: [{ exec: [./migrate.sh, down] }]\n\
         \x20 pre_rollout: [{ exec: [./smoke.sh] }, { http: { url: http://127.0.0.1:9000/smoke } }]\n",
    )));
    assert!(
        text.contains(
            "\n    hooks: pre_rollout: exec ./smoke.sh, POST http://127.0.0.1:9000/smoke; on_rollback: exec ./migrate.sh down"
        ),
        "{text}"
    );
    assert!(!summary(&valid(&service(""))).contains("hooks:"));
}
