use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};

use super::*;
use crate::deployment::Phase;
use crate::import::ImportedIncident;
use crate::rollout::tests::{deployment, plan};
use crate::spec::{Spec, parse_spec};

fn at(s: &str) -> Timestamp {
    s.parse().unwrap()
}

fn spec() -> Spec {
    parse_spec(
        r#"
server: { listen: 127.0.0.1:7070 }
environments:
  - name: staging
  - name: live-eu
    production: true
services:
  - name: web
    workload: { process: { command: ["web", "{port}"] } }
    health: { tcp: true }
    targets: { staging: { listen: 127.0.0.1:8081 } }
"#,
    )
    .unwrap()
}

fn query() -> ReportQuery {
    ReportQuery {
        since: at("2026-03-01T00:00:00Z"),
        until: at("2026-04-01T00:00:00Z"),
        environment: None,
        service: Some("web".into()),
        tz: TimeZone::UTC,
    }
}

#[test]
fn the_period_defaults_to_the_last_thirty_days() {
    let now = at("2026-03-31T12:00:00Z");
    let (since, until) = report_period(None, None, &TimeZone::UTC, now).unwrap();
    assert_eq!(until, now);
    assert_eq!(since, now - SignedDuration::from_hours(30 * 24));
    let (since, _) = report_period(Some("12h"), None, &TimeZone::UTC, now).unwrap();
    assert_eq!(since, at("2026-03-31T00:00:00Z"));
}

#[test]
fn a_date_bound_takes_whole_days_in_the_zone() {
    let now = at("2026-03-31T12:00:00Z");
    let tz = TimeZone::fixed(jiff::tz::offset(2));
    let (since, until) = report_period(Some("2026-03-01"), Some("2026-03-02"), &tz, now).unwrap();
    assert_eq!(since, at("2026-02-28T22:00:00Z"));
    assert_eq!(until, at("2026-03-02T22:00:00Z"));
}

#[test]
fn a_bad_or_empty_or_endless_period_is_refused_with_why() {
    let now = at("2026-03-31T12:00:00Z");
    let utc = &TimeZone::UTC;
    let e = report_period(Some("yesterday"), None, utc, now).unwrap_err();
    assert!(
        e.starts_with("since `yesterday` is neither a duration"),
        "{e}"
    );
    let e = report_period(Some("2026-03-02"), Some("2026-03-01"), utc, now).unwrap_err();
    assert!(e.starts_with("the period is empty"), "{e}");
    let e = report_period(Some("1900-01-01"), None, utc, now).unwrap_err();
    assert!(e.contains("more than the 7320 (20 years)"), "{e}");
}

#[test]
fn production_is_the_specs_word_else_the_usual_names() {
    let spec = spec();
    assert!(is_production(&spec, "live-eu"));
    assert!(!is_production(&spec, "staging"));
    // Not in the spec (imported history).
    assert!(is_production(&spec, "Prod") && is_production(&spec, "live"));
    assert!(!is_production(&spec, "qa"));
}

#[test]
fn only_finished_deployments_count_and_only_some_need_their_events() {
    let spec = spec();
    let q = query();
    let mut running = deployment(Some("1.0"), plan(&[(10, None)]));
    running.phase = Phase::Progressing;
    assert!(!Assembly::wants_events(&running));
    let mut rolled_back = running.clone();
    rolled_back.phase = Phase::RolledBack;
    rolled_back.finished_at = Some(at("2026-03-10T00:00:00Z"));
    assert!(Assembly::wants_events(&rolled_back));
    let mut succeeded = rolled_back.clone();
    succeeded.phase = Phase::Succeeded;
    assert!(!Assembly::wants_events(&succeeded));
    succeeded.gate.approvals_required = 1;
    assert!(Assembly::wants_events(&succeeded));

    let mut a = Assembly::new(&q, &spec);
    a.own_deployment(&running, &[]);
    a.own_deployment(&succeeded, &[]);
    let r = a.finish(None, None);
    assert_eq!(r.total_deployments, 1);
}

#[test]
fn an_incident_the_controller_opened_blames_no_deployment() {
    let spec = spec();
    let q = query();
    let mut a = Assembly::new(&q, &spec);
    let opened = |by| OwnIncident {
        id: 3,
        service: "web",
        environment: "staging",
        deployment_id: Some(7),
        opened_at: at("2026-03-10T00:00:00Z"),
        opened_by: by,
        resolved_at: None,
    };
    a.own_incident(opened(crate::rollout::CONTROLLER));
    a.own_incident(opened("alice"));
    assert_eq!(a.incidents[0].id, "incident #3");
    assert_eq!(a.incidents[0].caused_by, None);
    assert_eq!(a.incidents[1].caused_by.as_deref(), Some("#7"));
}

#[test]
fn another_targets_imported_incident_counts_only_when_it_blames_someone() {
    let spec = spec();
    let q = query();
    let mut a = Assembly::new(&q, &spec);
    let incident = |service: &str, caused_by: Option<&str>| ImportedIncident {
        external_id: format!("{service}-{caused_by:?}"),
        service: service.into(),
        environment: "prod".into(),
        opened_at: at("2026-03-10T00:00:00Z"),
        resolved_at: None,
        caused_by: caused_by.map(str::to_string),
    };
    a.imported_incident(incident("web", None));
    a.imported_incident(incident("api", None));
    a.imported_incident(incident("api", Some("gh-1")));
    let ids: Vec<&str> = a.incidents.iter().map(|i| i.id.as_str()).collect();
    assert_eq!(ids, ["web-None", "api-Some(\"gh-1\")"]);
}

#[test]
fn an_imported_deployment_is_judged_by_its_environment() {
    let spec = spec();
    let q = query();
    let mut a = Assembly::new(&q, &spec);
    for (id, env) in [("gh-1", "live-eu"), ("gh-2", "qa"), ("gh-3", "live-eu")] {
        a.imported_deployment(ImportedDeployment {
            external_id: id,
            service: "web",
            environment: env,
            kind: crate::deployment::DeploymentType::Feature,
            result: ImportResult::RolledBack,
            started_at: at("2026-03-10T00:00:00Z"),
            finished_at: at("2026-03-10T00:05:00Z"),
            committed_at: None,
        });
    }
    let prod: Vec<bool> = a.deployments.iter().map(|d| d.production).collect();
    assert_eq!(prod, [true, false, true]);
    assert!(
        a.deployments
            .iter()
            .all(|d| d.result == DeploymentResult::RolledBack)
    );
}

#[test]
fn the_audit_section_flattens_the_verification() {
    let ok: AuditVerification = serde_json::from_value(serde_json::json!({
        "ok": true, "entries": 12, "root": "ab", "checkpoints": 2,
        "latest_checkpoint": {"size": 12, "root": "ab"},
        "verified_from_entry": 0, "last_full_verification": "2026-03-31T22:00:00Z",
    }))
    .unwrap();
    let json = serde_json::to_value(AuditSummary::of(&ok)).unwrap();
    assert_eq!(
        json,
        serde_json::json!({
            "verified": "yes", "entries": 12, "root": "ab", "checkpoints": 2,
            "latest_checkpoint_size": 12, "latest_checkpoint_root": "ab",
            "verified_from_entry": 0, "last_full_verification": "2026-03-31T22:00:00Z",
        })
    );
    let bad: AuditVerification = serde_json::from_value(
        serde_json::json!({"ok": false, "error": "entry 4 altered", "index": 4}),
    )
    .unwrap();
    let json = serde_json::to_value(AuditSummary::of(&bad)).unwrap();
    assert_eq!(
        json,
        serde_json::json!({"verified": "NO", "error": "entry 4 altered", "first_bad_entry": 4})
    );
    // The keys in the order the report has always written them.
    let text = serde_json::to_string(&AuditSummary::of(&bad)).unwrap();
    assert_eq!(
        text,
        r#"{"error":"entry 4 altered","first_bad_entry":4,"verified":"NO"}"#
    );
}
