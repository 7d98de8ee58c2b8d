use std::time::Duration;

use jiff::Timestamp;

use crate::deployment::{Deployment, DeploymentType, Phase, Plan, PlanCommon, Progress};
use crate::governance::approvals::{DecisionError, decide};
use crate::governance::{
    BreakGlass, CheckStage, DecisionKind, Gate, GateObservation, PreCheckResult, WindowState,
};
use crate::principal::Principal;
use crate::rollout::{Observations, step};
use crate::spec::{AnalysisSpec, PreCheck, Role};

fn t(secs: i64) -> Timestamp {
    Timestamp::from_second(1_800_000_000 + secs).unwrap()
}

fn gated(required: u32) -> Deployment {
    Deployment {
        id: 3,
        service: "web".into(),
        environment: "production".into(),
        version: "2.0".into(),
        previous_version: Some("1.0".into()),
        kind: DeploymentType::Feature,
        phase: Phase::Pending,
        step: None,
        canary_weight: 0,
        requested_by: "dora".into(),
        created_at: t(0),
        started_at: None,
        finished_at: None,
        reason: None,
        plan: Plan::Direct {
            common: PlanCommon {
                replicas: 1,
                start_timeout: Duration::from_secs(60),
                interval: Duration::from_secs(5),
                failure_limit: 2,
                min_requests: 20,
                inconclusive_limit: Duration::from_secs(600),
                checks: AnalysisSpec::default_checks(),
                hooks: Default::default(),
                judge: Default::default(),
            },
        },
        progress: Progress::default(),
        gate: Gate {
            approvals_required: required,
            approval_roles: vec![Role::Approver, Role::Admin],
            prevent_self_approval: true,
            approval_timeout: Some(Duration::from_secs(3600)),
            ..Gate::default()
        },
        evidence: None,
        commit: None,
        committed_at: None,
        revision: 1,
    }
}

fn observe(window: WindowState, checks: Option<Vec<PreCheckResult>>) -> Observations {
    Observations {
        gate: Some(GateObservation { window, checks }),
        hooks: Vec::new(),
        router_error: None,
        ..Observations::default()
    }
}

fn open() -> Observations {
    observe(WindowState::Open, None)
}

fn closed(next: Option<Timestamp>) -> Observations {
    observe(
        WindowState::Closed {
            reason: "inside freeze `year-end`".into(),
            next_open: next,
        },
        None,
    )
}

fn result(check: PreCheck, passed: bool, reason: &str) -> PreCheckResult {
    PreCheckResult {
        check,
        passed,
        reason: reason.into(),
        stage: CheckStage::BeforeTraffic,
        at: t(0),
    }
}

fn who(name: &str, role: Role) -> Principal {
    Principal::new(name, role)
}

fn approve(d: &Deployment, name: &str, role: Role, at: i64) -> Result<Deployment, DecisionError> {
    decide(
        d,
        DecisionKind::Approve,
        &who(name, role),
        "api",
        None,
        t(at),
    )
    .map(|o| o.deployment)
}

#[test]
fn two_distinct_approvers_release_the_deployment() {
    let d = step(&gated(2), &open(), t(1)).deployment;
    assert_eq!(d.phase, Phase::AwaitingApproval);
    assert_eq!(d.gate.expires_at, Some(t(3601)));
    assert!(
        d.reason
            .as_deref()
            .unwrap()
            .contains("waiting for 2 approvals from roles approver, admin (not dora)")
    );

    let d = approve(&d, "alice", Role::Approver, 10).unwrap();
    assert_eq!(d.phase, Phase::AwaitingApproval);
    assert!(
        d.reason
            .as_deref()
            .unwrap()
            .contains("(1/2, 1 more needed)")
    );
    // Nothing moves on one approval.
    let still = step(&d, &open(), t(11)).deployment;
    assert_eq!(still.phase, Phase::AwaitingApproval);

    let d = approve(&d, "bob", Role::Admin, 20).unwrap();
    assert!(d.gate.approved());
    let out = step(&d, &open(), t(21));
    assert_eq!(out.deployment.phase, Phase::Progressing);
    assert_eq!(out.deployment.started_at, Some(t(21)));
    assert!(
        out.events[0]
            .reason
            .starts_with("approved by alice, bob; starting 2.0 beside stable 1.0")
    );
}

#[test]
fn self_approval_viewers_wrong_roles_and_repeats_are_refused() {
    let d = step(&gated(2), &open(), t(1)).deployment;
    let e = approve(&d, "dora", Role::Approver, 2).unwrap_err();
    assert!(matches!(e, DecisionError::SelfApproval { .. }) && e.is_forbidden());
    let e = approve(&d, "vic", Role::Viewer, 2).unwrap_err();
    assert!(matches!(e, DecisionError::RoleNotAllowed { .. }) && e.is_forbidden());
    let e = approve(&d, "dan", Role::Deployer, 2).unwrap_err();
    assert!(e.to_string().contains("roles approver, admin"), "{e}");
    let d = approve(&d, "alice", Role::Approver, 3).unwrap();
    let e = approve(&d, "alice", Role::Approver, 4).unwrap_err();
    assert!(matches!(e, DecisionError::AlreadyDecided { .. }) && !e.is_forbidden());
    // Without prevent_self_approval the requester's approval counts.
    let mut lax = gated(1);
    lax.gate.prevent_self_approval = false;
    let lax = step(&lax, &open(), t(1)).deployment;
    assert!(
        approve(&lax, "dora", Role::Admin, 2)
            .unwrap()
            .gate
            .approved()
    );
}

#[test]
fn a_rejection_ends_the_deployment() {
    let d = step(&gated(2), &open(), t(1)).deployment;
    let d = approve(&d, "alice", Role::Approver, 2).unwrap();
    let out = decide(
        &d,
        DecisionKind::Reject,
        &who("bob", Role::Approver),
        "api",
        Some(" not today "),
        t(3),
    )
    .unwrap();
    assert_eq!(out.deployment.phase, Phase::Rejected);
    assert_eq!(out.deployment.finished_at, Some(t(3)));
    assert_eq!(out.events[0].actor, "bob");
    assert!(out.events[0].reason.contains("rejected by bob: not today"));
    let e = approve(&out.deployment, "carol", Role::Approver, 4).unwrap_err();
    assert!(matches!(e, DecisionError::NotWaiting { .. }));
}

#[test]
fn unapproved_deployments_expire_at_the_timeout_and_not_before() {
    let d = step(&gated(2), &open(), t(1)).deployment;
    let d = approve(&d, "alice", Role::Approver, 2).unwrap();
    assert_eq!(
        step(&d, &open(), t(3600)).deployment.phase,
        Phase::AwaitingApproval
    );
    let out = step(&d, &open(), t(3601));
    assert_eq!(out.deployment.phase, Phase::Expired);
    assert!(
        out.events[0]
            .reason
            .contains("1/2 approvals after 1h (approved by alice)"),
        "{}",
        out.events[0].reason
    );
}

#[test]
fn break_glass_skips_window_approvals_and_checks() {
    let mut d = gated(2);
    d.gate.checks = vec![PreCheck::NoOpenIncident];
    d.gate.wait_for_window = true;
    d.gate.break_glass = Some(BreakGlass {
        by: "root".into(),
        reason: "outage".into(),
    });
    let out = step(&d, &closed(None), t(1));
    assert_eq!(out.deployment.phase, Phase::Progressing);
    assert!(
        out.events[0]
            .reason
            .starts_with("break glass by root: outage")
    );
    let e = approve(&d, "alice", Role::Approver, 2).unwrap_err();
    assert!(matches!(e, DecisionError::NoneRequired { .. }));
}

#[test]
fn waiting_for_the_window_holds_pending_with_one_event_then_asks_for_approvals() {
    let mut d = gated(1);
    d.gate.wait_for_window = true;
    let out = step(&d, &closed(Some(t(500))), t(1));
    assert_eq!(out.deployment.phase, Phase::Pending);
    assert_eq!(out.events.len(), 1);
    assert!(
        out.events[0]
            .reason
            .contains("inside freeze `year-end`; it opens at")
    );
    let again = step(&out.deployment, &closed(Some(t(500))), t(2));
    assert!(again.events.is_empty() && !again.changed());
    // An approval may come while it waits; the window still holds it.
    let d = approve(&out.deployment, "alice", Role::Approver, 3).unwrap();
    assert_eq!(
        step(&d, &closed(Some(t(500))), t(4)).deployment.phase,
        Phase::Pending
    );
    let out = step(&d, &open(), t(500));
    assert_eq!(out.deployment.phase, Phase::Progressing);
}

#[test]
fn a_closed_window_holds_unless_the_window_check_blocks() {
    // The window was open at request (else the server refused); a freeze
    // that starts before traffic moves holds the deployment…
    let d = gated(0);
    let out = step(&d, &closed(Some(t(900))), t(1));
    assert_eq!(out.deployment.phase, Phase::Pending);
    assert!(
        out.events[0]
            .reason
            .contains("waiting for the deployment window")
    );
    assert_eq!(
        step(&out.deployment, &open(), t(900)).deployment.phase,
        Phase::Progressing
    );
    // …unless the environment lists the deployment_window check, whose
    // failure (evaluated by the server) blocks it.
    let mut d = gated(0);
    d.gate.checks = vec![PreCheck::DeploymentWindow];
    assert!(d.gate.wants_checks(
        Phase::Pending,
        &WindowState::Closed {
            reason: "x".into(),
            next_open: None
        }
    ));
    let failed = vec![result(
        PreCheck::DeploymentWindow,
        false,
        "inside freeze `year-end`",
    )];
    let closed_with_result = observe(
        WindowState::Closed {
            reason: "inside freeze `year-end`".into(),
            next_open: None,
        },
        Some(failed),
    );
    assert_eq!(
        step(&d, &closed_with_result, t(1)).deployment.phase,
        Phase::Cancelled
    );
}

#[test]
fn before_traffic_checks_gate_the_start() {
    let mut d = gated(0);
    d.gate.checks = vec![PreCheck::ServiceHealth, PreCheck::NoOpenIncident];
    // The server has not evaluated them yet: nothing moves.
    assert_eq!(step(&d, &open(), t(1)).deployment.phase, Phase::Pending);
    let ok = vec![
        result(PreCheck::ServiceHealth, true, "1.0 healthy (2/2)"),
        result(PreCheck::NoOpenIncident, true, "no open incident"),
    ];
    let out = step(&d, &observe(WindowState::Open, Some(ok)), t(2));
    assert_eq!(out.deployment.phase, Phase::Progressing);
    assert_eq!(out.deployment.gate.check_results.len(), 2);

    let bad = vec![
        result(PreCheck::ServiceHealth, true, "1.0 healthy (2/2)"),
        result(PreCheck::NoOpenIncident, false, "incident 4 is open"),
    ];
    let out = step(&d, &observe(WindowState::Open, Some(bad)), t(2));
    assert_eq!(out.deployment.phase, Phase::Cancelled);
    assert_eq!(
        out.events[0].reason,
        "blocked before traffic moved by failed pre-check no_open_incident: incident 4 is open; nothing was started"
    );
}

#[test]
fn wants_checks_only_when_ready_to_move() {
    let mut d = gated(1);
    d.gate.checks = vec![PreCheck::ServiceHealth];
    assert!(!d.gate.wants_checks(Phase::Pending, &WindowState::Open));
    let d = step(&d, &open(), t(1)).deployment;
    let d = approve(&d, "alice", Role::Approver, 2).unwrap();
    assert!(
        d.gate
            .wants_checks(Phase::AwaitingApproval, &WindowState::Open)
    );
    assert!(!d.gate.wants_checks(Phase::Progressing, &WindowState::Open));
}

#[test]
fn the_approval_deadline_is_a_whole_second_printed_one_way() {
    // Requested 0.4 s past a second: the deadline rounds up, never down,
    // and the reason prints the very instant the JSON stores.
    let now = t(1)
        .checked_add(jiff::SignedDuration::from_millis(400))
        .unwrap();
    let d = step(&gated(1), &open(), now).deployment;
    assert_eq!(d.gate.expires_at, Some(t(3602)));
    let why = d.reason.as_deref().unwrap();
    assert!(
        why.ends_with("; expires at 2027-01-15 09:00:02 UTC"),
        "{why}"
    );
    assert_eq!(
        crate::governance::expiry_text(d.gate.expires_at.unwrap()),
        "2027-01-15 09:00:02 UTC"
    );
    // Exactly on a second stays there.
    assert_eq!(crate::governance::expiry_second(t(5)), t(5));
}
