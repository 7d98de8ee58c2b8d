//! `environments:` specs, valid and not: requires, approvals, windows and
//! freezes, checks, gates.

use std::time::Duration;

use crate::governance::quality::FindingLevel;
use crate::spec::validate::SpecErrors;
use crate::spec::validate::test_support::*;
use crate::spec::{PreCheck, Role};

#[test]
fn at_least_one_environment() {
    assert_error(
        "services: []\n",
        "environments",
        "missing: declare at least one",
    );
    assert_error(
        "environments: []\n",
        "environments",
        "is empty: declare at least one",
    );
    assert_error("", "environments", "missing");
}

#[test]
fn requires_names_other_declared_environments() {
    assert_error(
        &with_env("requires: [stagin]"),
        "environments[1].requires[0]",
        "unknown environment `stagin`; did you mean `staging`? declared: staging, production",
    );
    assert_error(
        &with_env("requires: [production]"),
        "environments[1].requires[0]",
        "cannot require itself",
    );
    assert_error(
        &with_env("requires: [staging, staging]"),
        "environments[1].requires[1]",
        "listed twice",
    );
}

#[test]
fn requires_cycles_are_reported_with_their_path() {
    let yaml = "environments:\n  - { name: a, requires: [b] }\n  - { name: b, requires: [c] }\n  \
                    - { name: c, requires: [a] }\n  - { name: d, requires: [a] }\n";
    let errs = errors(yaml);
    assert_eq!(errs.len(), 1, "{}", SpecErrors(errs.clone()));
    assert_eq!(errs[0].path, "environments[0].requires");
    assert!(
        errs[0]
            .message
            .contains("requirement cycle a -> b -> c -> a"),
        "{}",
        errs[0].message
    );
    let yaml = "environments:\n  - { name: a, requires: [b] }\n  - { name: b, requires: [a] }\n";
    assert_error(yaml, "environments[0].requires", "a -> b -> a");
}

#[test]
fn approvals_rules() {
    assert_error(
        &with_env("approvals: { required: -1 }"),
        "environments[1].approvals.required",
        "use 0 (none) or more",
    );
    assert_eq!(
        valid(&with_env("approvals: { required: 0 }")).environments[1]
            .approvals
            .as_ref()
            .unwrap()
            .required,
        0
    );
    assert_error(
        &with_env("approvals: { roles: [aprover] }"),
        "environments[1].approvals.roles[0]",
        "`aprover` is not a role; did you mean `approver`? use one of: viewer, deployer, approver, admin",
    );
    assert_error(
        &with_env("approvals: { required: 2, roles: [] }"),
        "environments[1].approvals.roles",
        "could never be given",
    );
    assert_error(
        &with_env("approvals: { timeout: 0s }"),
        "environments[1].approvals.timeout",
        "is zero",
    );
    assert_error(
        &with_env("approvals: { timeout: 1 day }"),
        "environments[1].approvals.timeout",
        "unknown unit",
    );
    let spec = valid(&with_env(
        "approvals: { required: 1, roles: [admin], prevent_self_approval: false, timeout: 2h }",
    ));
    let a = spec.environments[1].approvals.clone().unwrap();
    assert_eq!(
        (a.roles, a.prevent_self_approval, a.timeout),
        (vec![Role::Admin], false, Duration::from_secs(7200))
    );
}

#[test]
fn windows_rules() {
    assert_error(
        &with_env("windows: { timezone: Europe/Berln }"),
        "environments[1].windows.timezone",
        "`Europe/Berln` is not a known time zone",
    );
    assert_error(
        &with_env("windows: { allow: [\"mon-fri 09:00-17:00\", \"weekdays 9-5\"] }"),
        "environments[1].windows.allow[1]",
        "`weekdays` is not a day",
    );
    assert_error(
        &with_env("windows: { allow: [\"mon 10:00-10:00\"] }"),
        "environments[1].windows.allow[0]",
        "same time",
    );
    let spec = valid(&with_env(
        "windows: { timezone: America/New_York, allow: [\"fri-mon 22:00-02:00\", \"* 00:00-24:00\"] }",
    ));
    let w = spec.environments[1].windows.clone().unwrap();
    assert_eq!(w.allow[0].days, [0, 4, 5, 6]);
    assert_eq!(w.allow[1].days.len(), 7);
}

#[test]
fn freeze_rules() {
    let freeze = |f: &str| with_env(&format!("windows:\n  freeze:\n    - {f}"));
    assert_error(
        &freeze("{ from: 2027-01-04T00:00:00Z, to: 2026-12-20T00:00:00Z, reason: x }"),
        "environments[1].windows.freeze[0].to",
        "a freeze must end after it starts",
    );
    assert_error(
        &freeze("{ from: 2026-12-20T00:00:00Z, to: 2026-12-20T00:00:00Z, reason: x }"),
        "environments[1].windows.freeze[0].to",
        "not after from",
    );
    assert_error(
        &freeze("{ from: 2026-12-20, to: 2027-01-04T00:00:00Z, reason: x }"),
        "environments[1].windows.freeze[0].from",
        "`2026-12-20` is not a timestamp",
    );
    assert_error(
        &freeze("{ from: 2026-12-20T00:00:00Z, to: 2027-01-04T00:00:00Z }"),
        "environments[1].windows.freeze[0].reason",
        "missing",
    );
    assert_error(
        &freeze("{ from: 2026-12-20T00:00:00Z, to: 2027-01-04T00:00:00Z, reason: \" \" }"),
        "environments[1].windows.freeze[0].reason",
        "missing",
    );
    assert_error(
        &freeze("{ to: 2027-01-04T00:00:00Z, reason: x }"),
        "environments[1].windows.freeze[0].from",
        "missing",
    );
    let spec = valid(&freeze(
        "{ from: \"2026-12-20T00:00:00+01:00\", to: 2027-01-04T00:00:00Z, reason: year-end }",
    ));
    let f = &spec.environments[1].windows.as_ref().unwrap().freeze[0];
    assert_eq!(f.from, "2026-12-19T23:00:00Z".parse().unwrap());
}

#[test]
fn environment_checks_are_known() {
    assert_error(
        &with_env("checks: [deployment_window, no_open_incidents]"),
        "environments[1].checks[1]",
        "did you mean `no_open_incident`? use one of: deployment_window, no_open_incident, \
             service_health, dependencies, artifact",
    );
    assert_error(
        &with_env("checks: [artifact, artifact]"),
        "environments[1].checks[1]",
        "listed twice",
    );
    let spec = valid(&with_env("checks: [dependencies, artifact]"));
    assert_eq!(
        spec.environments[1].checks,
        [PreCheck::Dependencies, PreCheck::Artifact]
    );
}

#[test]
fn production_defaults_by_name_and_can_be_set() {
    let spec = valid(&with_env(""));
    assert!(!spec.environments[0].production);
    assert!(spec.environments[1].production);
    let spec = valid(&with_env("production: false"));
    assert!(!spec.environments[1].production);
    let spec = valid(
        "environments:\n  - { name: live, production: true }\n  - { name: prod }\nservices: []\n",
    );
    assert!(spec.environments.iter().all(|e| e.production));
    assert_error(
        &with_env("production: yes please"),
        "environments[1].production",
        "",
    );
}

#[test]
fn gates_accept_percentages_ratios_and_finding_limits() {
    let spec = valid(&with_env(
        "gates:\n  tests_passed: 100%\n  coverage: 72.5%\n  findings: { error: 0, warning: 5 }",
    ));
    let g = spec.environments[1].gates.clone().unwrap();
    assert_eq!(g.tests_passed, Some(1.0));
    assert_eq!(g.coverage, Some(0.725));
    assert_eq!(
        g.findings.into_iter().collect::<Vec<_>>(),
        [(FindingLevel::Error, 0), (FindingLevel::Warning, 5)]
    );
    assert_eq!(spec.environments[0].gates, None);
    // A bare number is a ratio, as in the analysis checks.
    let g = valid(&with_env("gates: { tests_passed: 0.95, coverage: 1 }")).environments[1]
        .gates
        .clone()
        .unwrap();
    assert_eq!((g.tests_passed, g.coverage), (Some(0.95), Some(1.0)));
    assert!(g.findings.is_empty());
    let g = valid(&with_env("gates: { findings: { note: 10, none: 0 } }")).environments[1]
        .gates
        .clone()
        .unwrap();
    assert_eq!(g.tests_passed, None);
    assert_eq!(
        g.findings.into_iter().collect::<Vec<_>>(),
        [(FindingLevel::Note, 10), (FindingLevel::None, 0)]
    );
}

#[test]
fn gates_rules() {
    let errs = errors(&with_env("gates: { coverage: 120% }"));
    assert_eq!(
        errs.iter().map(ToString::to_string).collect::<Vec<_>>(),
        ["environments[1].gates.coverage: 120% is over 100%: use 0% to 100%"]
    );
    assert_error(
        &with_env("gates: { tests_passed: -1% }"),
        "environments[1].gates.tests_passed",
        "-1% is below 0%",
    );
    assert_error(
        &with_env("gates: { coverage: 80 }"),
        "environments[1].gates.coverage",
        "80 is over 1: a bare number is a ratio from 0 to 1; write 80% for a percentage",
    );
    assert_error(
        &with_env("gates: { coverage: most }"),
        "environments[1].gates.coverage",
        "`most` is not a share",
    );
    assert_error(
        &with_env("gates: { coverage: lots% }"),
        "environments[1].gates.coverage",
        "`lots%` is not a percentage",
    );
    assert_error(
        &with_env("gates: { coverage: nan }"),
        "environments[1].gates.coverage",
        "is not a share",
    );
    assert_error(
        &with_env("gates: { findings: { error: -1 } }"),
        "environments[1].gates.findings.error",
        "-1 is not a number of findings",
    );
    assert_error(
        &with_env("gates: { findings: { errors: 0 } }"),
        "environments[1].gates.findings.errors",
        "did you mean `error`?",
    );
    assert_error(
        &with_env("gates: { findings: {} }"),
        "environments[1].gates.findings",
        "limits no level",
    );
    assert_error(
        &with_env("gates: {}"),
        "environments[1].gates",
        "sets no gate",
    );
    assert_error(
        &with_env("gates: { coverag: 80% }"),
        "environments[1].gates.coverag",
        "did you mean `coverage`?",
    );
    // A typo is reported once, not also as an empty block.
    assert_eq!(errors(&with_env("gates: { coverag: 80% }")).len(), 1);
    // A type error names the path and the line.
    assert_error(
        &with_env("gates: { findings: { warning: five } }"),
        "environments[1].gates.findings.warning",
        "expected a whole number",
    );
}
