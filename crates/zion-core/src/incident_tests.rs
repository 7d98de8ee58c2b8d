use super::*;
use crate::rollout::CONTROLLER;
use crate::rollout::tests::{deployment, plan, t};

fn event(from: Phase, to: Phase, reason: &str) -> Event {
    Event {
        at: t(30),
        from_phase: from,
        to_phase: to,
        step: Some(0),
        canary_weight: 10,
        actor: CONTROLLER.into(),
        reason: reason.into(),
    }
}

fn facts(production: bool, open: &[i64]) -> TargetIncidents<'_> {
    TargetIncidents {
        production,
        open,
        next_id: 12,
    }
}

#[test]
fn a_production_rollback_opens_one_incident_under_the_next_id() {
    let d = deployment(Some("1.0"), plan(&[(10, None)]));
    let e = event(Phase::Progressing, Phase::RollingBack, "error rate 9% > 1%");
    let out = incident_effects(&d, &[e], facts(true, &[3]));
    let reason = "deployment 7 of 2.0 rolled back: error rate 9% > 1%";
    assert_eq!(
        out.changes,
        vec![IncidentChange::Open {
            id: 12,
            service: "web".into(),
            environment: "staging".into(),
            deployment_id: 7,
            opened_at: t(30),
            opened_by: CONTROLLER.into(),
            reason: reason.into(),
        }]
    );
    assert_eq!(
        out.audit,
        vec![Record::new(
            CONTROLLER,
            AuditAction::IncidentOpen,
            "incident/12",
            json!({"service": "web", "environment": "staging", "deployment": 7, "reason": reason}),
        )]
    );
}

#[test]
fn a_rollback_outside_production_opens_none() {
    let d = deployment(Some("1.0"), plan(&[(10, None)]));
    let e = event(Phase::Progressing, Phase::RollingBack, "failed");
    assert_eq!(
        incident_effects(&d, &[e], facts(false, &[])),
        IncidentEffects::default()
    );
}

#[test]
fn a_success_resolves_every_open_incident_of_the_target() {
    let d = deployment(Some("1.0"), plan(&[(10, None)]));
    let e = event(Phase::Progressing, Phase::Succeeded, "all steps passed");
    for production in [true, false] {
        let out = incident_effects(&d, std::slice::from_ref(&e), facts(production, &[3, 5]));
        let resolution = "deployment 7 of 2.0 succeeded";
        assert_eq!(
            out.changes,
            vec![IncidentChange::ResolveTarget {
                service: "web".into(),
                environment: "staging".into(),
                at: t(30),
                by: CONTROLLER.into(),
                resolution: resolution.into(),
            }]
        );
        let subjects: Vec<&str> = out.audit.iter().map(|r| r.subject.as_str()).collect();
        assert_eq!(subjects, ["incident/3", "incident/5"]);
        assert!(out.audit.iter().all(|r| r.action == AuditAction::IncidentResolve
            && r.details
                == json!({"service": "web", "environment": "staging", "resolution": resolution, "automatic": true})));
    }
}

#[test]
fn a_success_with_nothing_open_resolves_without_an_entry() {
    let d = deployment(Some("1.0"), plan(&[(10, None)]));
    let e = event(Phase::Progressing, Phase::Succeeded, "done");
    let out = incident_effects(&d, &[e], facts(true, &[]));
    assert_eq!(out.changes.len(), 1);
    assert!(out.audit.is_empty());
}

#[test]
fn other_transitions_and_repeated_phases_change_no_incident() {
    let d = deployment(Some("1.0"), plan(&[(10, None)]));
    let events = [
        event(Phase::Pending, Phase::Progressing, "started"),
        event(Phase::Progressing, Phase::Paused, "paused"),
        event(Phase::RollingBack, Phase::RollingBack, "still rolling back"),
        event(Phase::RollingBack, Phase::RolledBack, "rolled back"),
        event(Phase::Progressing, Phase::Failed, "never healthy"),
    ];
    assert_eq!(
        incident_effects(&d, &events, facts(true, &[3])),
        IncidentEffects::default()
    );
}

#[test]
fn two_rollbacks_in_one_outcome_take_consecutive_ids() {
    let d = deployment(Some("1.0"), plan(&[(10, None)]));
    let events = [
        event(Phase::Progressing, Phase::RollingBack, "a"),
        event(Phase::Paused, Phase::RollingBack, "b"),
    ];
    let out = incident_effects(&d, &events, facts(true, &[]));
    let ids: Vec<i64> = out
        .changes
        .iter()
        .map(|c| match c {
            IncidentChange::Open { id, .. } => *id,
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(ids, [12, 13]);
    assert_eq!(out.audit[1].subject, "incident/13");
}

#[test]
fn leaving_the_gate_records_the_checks_run_before_traffic() {
    use crate::governance::{CheckStage, PreCheckResult};
    use crate::spec::PreCheck;
    let mut d = deployment(Some("1.0"), plan(&[(10, None)]));
    let check = |stage| PreCheckResult {
        check: PreCheck::ServiceHealth,
        passed: true,
        reason: "healthy".into(),
        stage,
        at: t(1),
    };
    d.gate.check_results = vec![
        check(CheckStage::Requested),
        check(CheckStage::BeforeTraffic),
    ];
    let r = transition_record(&d, &event(Phase::Pending, Phase::Progressing, "started"));
    assert_eq!(r.action, AuditAction::DeploymentTransition);
    assert_eq!(r.subject, "deployment/7");
    assert_eq!(r.details["step"], 1);
    let checks = r.details["pre_checks"].as_array().unwrap();
    assert_eq!(checks.len(), 1);
    assert_eq!(checks[0]["stage"], json!(CheckStage::BeforeTraffic));
    let r = transition_record(&d, &event(Phase::Progressing, Phase::Paused, "paused"));
    assert!(r.details.get("pre_checks").is_none(), "{}", r.details);
}
