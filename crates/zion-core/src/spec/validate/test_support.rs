//! Spec snippets and assertions shared by the validation tests.

use super::{SpecError, SpecErrors, parse_spec};
use crate::spec::Spec;

pub(super) const DESIGN_EXAMPLE: &str = r#"
server:
  listen: 127.0.0.1:7070          # API and web UI
  data_dir: .zion                 # state, audit key, admin token

environments:
  - name: staging
  - name: production
    requires: [staging]           # a version must have succeeded there first
    approvals:
      required: 2                 # distinct principals
      roles: [approver, admin]
      prevent_self_approval: true # the requester can never approve
      timeout: 24h                # then the deployment expires
    windows:
      timezone: Europe/Berlin
      allow: ["mon-fri 09:00-17:00"]
      freeze:
        - { from: 2026-12-20T00:00:00Z, to: 2027-01-04T00:00:00Z, reason: year-end }
    checks: [deployment_window, no_open_incident, service_health]

services:
  - name: web
    workload:
      process:
        command: ["python3", "app.py", "--port", "{port}", "--version", "{version}"]
        workdir: ./web            # relative to the spec file
        env: { LOG_LEVEL: info }  # plus PORT and ZION_VERSION, always
        replicas: 2
    health:
      http: /healthz              # or tcp: true, or exec: [cmd, args]
      interval: 1s
      timeout: 500ms
    targets:
      staging:    { listen: 127.0.0.1:8081 }
      production: { listen: 127.0.0.1:8080, preview: 127.0.0.1:9080 }
    strategy: canary              # canary | blue_green | rolling
    canary:
      steps:
        - { weight: 5,  pause: 30s }
        - { weight: 25, pause: 30s }
        - { weight: 50, pause: 60s }
        - { weight: 100 }
    blue_green: { scale_down_delay: 30s }
    rolling: { batch: 33% }
    analysis:
      interval: 5s
      failure_limit: 2            # consecutive failed rounds, then roll back
      min_requests: 20            # fewer canary requests: round inconclusive
      checks:
        - { metric: error_rate, max: 0.01 }
        - { metric: latency_p95, max_ratio_to_baseline: 1.2 }
        - { metric: health, min: 0.95 }
"#;

pub(super) fn indent(lines: &str, by: usize) -> String {
    let pad = " ".repeat(by);
    lines.lines().map(|l| format!("{pad}{l}\n")).collect()
}

/// A valid spec with `extra` added to the production environment.
pub(super) fn with_env(extra: &str) -> String {
    format!(
        "environments:\n  - name: staging\n  - name: production\n{}services: []\n",
        indent(extra, 4)
    )
}

/// A valid spec with `extra` added to its one service.
pub(super) fn with_service(extra: &str) -> String {
    format!(
        "environments:\n  - name: staging\n  - name: production\n\
             services:\n  - name: web\n    workload: {{ process: {{ command: [./app] }} }}\n{}",
        indent(extra, 4)
    )
}

/// `with_service`, plus the one target every service needs.
pub(super) fn service(extra: &str) -> String {
    with_service(&format!(
        "targets: {{ staging: {{ listen: 127.0.0.1:8081 }} }}\n{extra}"
    ))
}

pub(super) fn errors(yaml: &str) -> Vec<SpecError> {
    match parse_spec(yaml) {
        Ok(_) => panic!("expected errors for:\n{yaml}"),
        Err(e) => e.0,
    }
}

/// Asserts an error at exactly `path` whose message contains `needle`.
#[track_caller]
pub(super) fn assert_error(yaml: &str, path: &str, needle: &str) {
    let errs = errors(yaml);
    assert!(
        errs.iter()
            .any(|e| e.path == path && e.message.contains(needle)),
        "no error at `{path}` containing `{needle}`; got:\n{}",
        SpecErrors(errs.clone())
    );
}

#[track_caller]
pub(super) fn valid(yaml: &str) -> Spec {
    parse_spec(yaml).unwrap_or_else(|e| panic!("unexpected errors:\n{e}\nfor:\n{yaml}"))
}
