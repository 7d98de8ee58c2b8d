//! Whole specs: the design example, the defaults, and what every part
//! shares (names, unknown keys, listeners, several mistakes at once, parse
//! errors, how errors print).

use std::time::Duration;

use super::rollout::default_canary_steps;
use super::test_support::*;
use super::{SpecError, SpecErrors};
use crate::spec::{AnalysisSpec, Batch, PreCheck, Probe, Role, Strategy};

#[test]
fn design_example_parses_exactly() {
    let spec = valid(DESIGN_EXAMPLE);
    assert_eq!(spec.server.listen, "127.0.0.1:7070".parse().unwrap());
    assert_eq!(spec.server.data_dir, ".zion");

    assert_eq!(spec.environments.len(), 2);
    let staging = spec.environment("staging").unwrap();
    assert!(staging.requires.is_empty() && staging.approvals.is_none());
    assert!(staging.windows.is_none() && staging.checks.is_empty());
    let prod = spec.environment("production").unwrap();
    assert_eq!(prod.requires, ["staging"]);
    let approvals = prod.approvals.as_ref().unwrap();
    assert_eq!(approvals.required, 2);
    assert_eq!(approvals.roles, [Role::Approver, Role::Admin]);
    assert!(approvals.prevent_self_approval);
    assert_eq!(approvals.timeout, Duration::from_secs(86_400));
    let windows = prod.windows.as_ref().unwrap();
    assert_eq!(windows.timezone, "Europe/Berlin");
    assert_eq!(windows.allow.len(), 1);
    assert_eq!(windows.allow[0].days, [0, 1, 2, 3, 4]);
    assert_eq!(
        (windows.allow[0].start_minute, windows.allow[0].end_minute),
        (540, 1020)
    );
    assert_eq!(windows.freeze.len(), 1);
    assert_eq!(
        windows.freeze[0].from,
        "2026-12-20T00:00:00Z".parse().unwrap()
    );
    assert_eq!(
        windows.freeze[0].to,
        "2027-01-04T00:00:00Z".parse().unwrap()
    );
    assert_eq!(windows.freeze[0].reason, "year-end");
    assert_eq!(
        prod.checks,
        [
            PreCheck::DeploymentWindow,
            PreCheck::NoOpenIncident,
            PreCheck::ServiceHealth
        ]
    );

    assert_eq!(spec.services.len(), 1);
    let web = spec.service("web").unwrap();
    assert!(web.depends_on.is_empty());
    let process = &web.workload.process;
    assert_eq!(
        process.command,
        [
            "python3",
            "app.py",
            "--port",
            "{port}",
            "--version",
            "{version}"
        ]
    );
    assert_eq!(process.workdir.as_deref(), Some("./web"));
    assert_eq!(
        process.env.get("LOG_LEVEL").map(String::as_str),
        Some("info")
    );
    assert_eq!(process.env.len(), 1);
    assert_eq!(process.replicas, 2);
    assert_eq!(process.artifact, None);
    assert_eq!(web.health.probe, Probe::Http("/healthz".into()));
    assert_eq!(web.health.interval, Duration::from_secs(1));
    assert_eq!(web.health.timeout, Duration::from_millis(500));
    assert_eq!(web.health.start_timeout, Duration::from_secs(60));
    assert_eq!(web.targets.len(), 2);
    assert_eq!(
        web.targets["staging"].listen.unwrap(),
        "127.0.0.1:8081".parse().unwrap()
    );
    assert_eq!(web.targets["staging"].preview, None);
    assert_eq!(
        web.targets["production"].listen.unwrap(),
        "127.0.0.1:8080".parse().unwrap()
    );
    assert_eq!(
        web.targets["production"].preview,
        Some("127.0.0.1:9080".parse().unwrap())
    );
    assert_eq!(web.strategy, Strategy::Canary);
    assert_eq!(web.canary.steps, default_canary_steps());
    assert!(!web.canary.sticky);
    assert_eq!(web.blue_green.scale_down_delay, Duration::from_secs(30));
    assert_eq!(web.blue_green.auto_promotion, None);
    assert_eq!(web.rolling.batch, Batch::Percent(33));
    assert_eq!(web.analysis.interval, Duration::from_secs(5));
    assert_eq!(web.analysis.failure_limit, 2);
    assert_eq!(web.analysis.min_requests, 20);
    assert_eq!(web.analysis.checks, AnalysisSpec::default_checks());
}

#[test]
fn defaults_are_applied() {
    let spec = valid(&service(""));
    assert_eq!(spec.server.listen, "127.0.0.1:7070".parse().unwrap());
    assert_eq!(spec.server.data_dir, ".zion");
    let web = &spec.services[0];
    assert_eq!(web.workload.process.replicas, 1);
    assert_eq!(web.workload.process.workdir, None);
    assert!(web.workload.process.env.is_empty());
    assert_eq!(web.health.probe, Probe::Tcp);
    assert_eq!(web.health.interval, Duration::from_secs(1));
    assert_eq!(web.health.timeout, Duration::from_millis(500));
    assert_eq!(web.health.start_timeout, Duration::from_secs(60));
    assert_eq!(web.strategy, Strategy::Canary);
    let pauses: Vec<_> = web
        .canary
        .steps
        .iter()
        .map(|s| (s.weight, s.pause))
        .collect();
    assert_eq!(
        pauses,
        [
            (Some(5), Some(Duration::from_secs(30))),
            (Some(25), Some(Duration::from_secs(30))),
            (Some(50), Some(Duration::from_secs(60))),
            (Some(100), None),
        ]
    );
    assert_eq!(web.blue_green.scale_down_delay, Duration::from_secs(30));
    assert_eq!(web.rolling.batch, Batch::Percent(33));
    assert_eq!(web.analysis.interval, Duration::from_secs(5));
    assert_eq!(web.analysis.failure_limit, 2);
    assert_eq!(web.analysis.min_requests, 20);
    assert_eq!(web.analysis.checks, AnalysisSpec::default_checks());
}

#[test]
fn block_defaults_are_applied_inside_partial_blocks() {
    let spec = valid(&with_env(
        "approvals: { required: 1 }\nwindows: { allow: [\"daily 00:00-24:00\"] }",
    ));
    let prod = &spec.environments[1];
    let a = prod.approvals.as_ref().unwrap();
    assert_eq!(a.roles, [Role::Approver, Role::Admin]);
    assert!(a.prevent_self_approval);
    assert_eq!(a.timeout, Duration::from_secs(24 * 3600));
    assert_eq!(prod.windows.as_ref().unwrap().timezone, "UTC");

    let spec = valid(&with_env("approvals: {}"));
    assert_eq!(spec.environments[1].approvals.as_ref().unwrap().required, 1);

    let spec = valid(&service(
        "analysis: { interval: 10s }\ncanary: { sticky: true }",
    ));
    let web = &spec.services[0];
    assert_eq!(web.analysis.interval, Duration::from_secs(10));
    assert_eq!(web.analysis.failure_limit, 2);
    assert_eq!(web.analysis.checks, AnalysisSpec::default_checks());
    assert!(web.canary.sticky);
    assert_eq!(web.canary.steps, default_canary_steps());
}

#[test]
fn names_are_dns_labels() {
    for bad in ["Web", "-web", "web-", "we_b", "web.app", "\"\""] {
        let yaml = format!("environments: [{{ name: {bad} }}]\n");
        assert_error(&yaml, "environments[0].name", "is not a valid name");
    }
    let long = "a".repeat(64);
    assert_error(
        &format!("environments: [{{ name: {long} }}]\n"),
        "environments[0].name",
        "1-63 lowercase",
    );
    valid(&format!(
        "environments: [{{ name: {} }}, {{ name: a-1 }}]\n",
        "a".repeat(63)
    ));
    assert_error(
        &with_service("name2: x").replace("- name: web", "- name: Web"),
        "services[0].name",
        "`Web` is not a valid name",
    );
    assert_error(
        "environments: [{ requires: [] }]\n",
        "environments[0].name",
        "missing",
    );
}

#[test]
fn names_are_unique() {
    assert_error(
        "environments: [{ name: dev }, { name: prod }, { name: dev }]\n",
        "environments[2].name",
        "environment `dev` is already declared at environments[0]",
    );
    let yaml = format!(
        "{}  - name: web\n    workload: {{ process: {{ command: [x] }} }}\n    \
             targets: {{ staging: {{ listen: 127.0.0.1:9999 }} }}\n",
        service("")
    );
    assert_error(
        &yaml,
        "services[1].name",
        "service `web` is already declared at services[0]",
    );
}

#[test]
fn listeners_are_unique_everywhere() {
    assert_error(
        &with_service(
            "targets:\n  staging: { listen: 127.0.0.1:8080 }\n  production: { listen: 127.0.0.1:9000, preview: 127.0.0.1:8080 }",
        ),
        "services[0].targets.production.preview",
        "127.0.0.1:8080 is already used by services[0].targets.staging.listen",
    );
    assert_error(
        &with_service("targets: { staging: { listen: 127.0.0.1:7070 } }"),
        "services[0].targets.staging.listen",
        "is also server.listen",
    );
    assert_error(
        &format!(
            "server: {{ listen: 127.0.0.1:6000 }}\n{}",
            with_service("targets: { staging: { listen: \"0.0.0.0:6000\" } }")
        ),
        "services[0].targets.staging.listen",
        "is also server.listen",
    );
    let two = format!(
        "{}  - name: api\n    workload: {{ process: {{ command: [x] }} }}\n    \
             targets: {{ production: {{ listen: 127.0.0.1:8081 }} }}\n",
        service("")
    );
    assert_error(
        &two,
        "services[1].targets.production.listen",
        "already used by services[0].targets.staging.listen",
    );
    // Same port on another loopback address is a different socket.
    valid(&with_service(
        "targets:\n  staging: { listen: 127.0.0.1:8080 }\n  production: { listen: 127.0.0.2:8080 }",
    ));
}

#[test]
fn unknown_keys_are_all_reported_with_their_paths() {
    let yaml = "serverr: {}\nserver: { listen: 127.0.0.1:7070, port: 1 }\n\
                    environments:\n  - name: dev\n    aprovals: {}\n    windows: { alow: [] }\n\
                    services:\n  - name: web\n    workload: { process: { command: [x], replica: 2 } }\n    \
                    targets: { dev: { listen: 127.0.0.1:8080, previw: 127.0.0.1:9090 } }\n    \
                    canary:\n      steps:\n        - { weight: 5 }\n        - { weight: 50 }\n        \
                    - { wieght: 100, weight: 100, match: [{ header: a, equal: b, equals: b }] }\n    \
                    analysis: { checks: [{ metric: cpu, max: 1, maxx: 2 }] }\n";
    let errs = errors(yaml);
    let paths: Vec<&str> = errs.iter().map(|e| e.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "serverr",
            "server.port",
            "environments[0].aprovals",
            "environments[0].windows.alow",
            "services[0].workload.process.replica",
            "services[0].targets.dev.previw",
            "services[0].canary.steps[2].wieght",
            "services[0].canary.steps[2].match[0].equal",
            "services[0].analysis.checks[0].maxx",
        ]
    );
    let wieght = &errs[6];
    assert_eq!(
        wieght.to_string(),
        "services[0].canary.steps[2].wieght: unknown key; did you mean `weight`? keys allowed \
             here: weight, mirror, pause, match"
    );
    assert!(errs[0].message.contains("did you mean `server`?"));
}

#[test]
fn several_mistakes_are_reported_at_once() {
    let yaml = r#"
environments:
  - name: Staging
  - name: production
    requires: [staging]
    approvals: { required: 2, roles: [approver, boss] }
    windows: { timezone: Mars/Olympus, allow: ["mon-fri 9:00-17:00", "mon 18:00"] }
services:
  - name: web
    workload: { process: { command: [./app], replicas: 0, env: { PORT: "80" } } }
    health: { http: healthz, interval: 1s, timeout: 2s }
    targets:
      production: { listen: 127.0.0.1:8080, preview: 127.0.0.1:8080 }
      qa: { listen: 127.0.0.1:8082 }
    strategy: canaryy
    canary:
      steps:
        - { weight: 60, pause: 30s }
        - { weight: 50 }
    rolling: { batch: 0% }
    analysis: { failure_limit: 0, checks: [{ metric: errors, max: 0.01 }] }
"#;
    let errs = errors(yaml);
    let expected = [
        ("environments[0].name", "`Staging` is not a valid name"),
        (
            "environments[1].requires[0]",
            "unknown environment `staging`; did you mean `Staging`?",
        ),
        ("environments[1].approvals.roles[1]", "`boss` is not a role"),
        (
            "environments[1].windows.timezone",
            "`Mars/Olympus` is not a known time zone",
        ),
        ("environments[1].windows.allow[1]", "is not a time range"),
        ("services[0].workload.process.replicas", "out of range"),
        ("services[0].workload.process.env.PORT", "set by Zion"),
        ("services[0].health.http", "start it with '/'"),
        (
            "services[0].health.timeout",
            "must be shorter than interval",
        ),
        ("services[0].targets.qa", "unknown environment `qa`"),
        ("services[0].strategy", "did you mean `canary`?"),
        (
            "services[0].canary.steps[1].weight",
            "weights must increase (50 after 60)",
        ),
        ("services[0].rolling.batch", "0%"),
        ("services[0].analysis.failure_limit", "use 1 or more"),
        (
            "services[0].analysis.checks[0].metric",
            "`errors` is not a built-in metric",
        ),
        (
            "services[0].targets.production.preview",
            "already used by services[0].targets.production.listen",
        ),
    ];
    for (path, needle) in expected {
        assert!(
            errs.iter()
                .any(|e| e.path == path && e.message.contains(needle)),
            "missing `{path}: …{needle}…` in:\n{}",
            SpecErrors(errs.clone())
        );
    }
    // The valid first window entry is not reported; the last step's
    // weight 50 is reported once for increasing and once for not ending at 100.
    assert!(!errs.iter().any(|e| e.path.ends_with("allow[0]")));
    assert_eq!(
        errs.len(),
        expected.len() + 1,
        "{}",
        SpecErrors(errs.clone())
    );
}

#[test]
fn parse_errors_come_through_with_path_and_position() {
    let errs = errors(&service("canary: { steps: [{ weight: five }] }"));
    assert_eq!(errs.len(), 1);
    assert_eq!(errs[0].path, "services[0].canary.steps[0].weight");
    assert!(
        errs[0].message.contains("expected a whole number"),
        "{}",
        errs[0].message
    );
    assert!(errs[0].message.contains("line "), "{}", errs[0].message);
    let errs = errors("environments: [ { name: a }\n");
    assert_eq!(errs.len(), 1);
    assert!(errs[0].message.contains("line "), "{}", errs[0].message);
}

#[test]
fn errors_display_one_per_line() {
    let errs = SpecErrors(vec![
        SpecError {
            path: "a.b".into(),
            message: "first".into(),
        },
        SpecError {
            path: String::new(),
            message: "second".into(),
        },
    ]);
    assert_eq!(errs.to_string(), "a.b: first\nsecond");
    assert!(errs.has_path("a.b"));
    assert_eq!(errs.iter().count(), 2);
}
