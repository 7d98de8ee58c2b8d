use jiff::Timestamp;

use super::*;
use crate::governance::CheckStage;
use crate::governance::quality::TestSummary;
use crate::spec::{FreezeSpec, WindowsSpec};

fn t(secs: i64) -> Timestamp {
    Timestamp::from_second(1_800_000_000 + secs).unwrap()
}

fn env() -> EnvironmentSpec {
    EnvironmentSpec {
        name: "production".into(),
        production: true,
        requires: vec!["staging".into()],
        approvals: None,
        windows: None,
        checks: Vec::new(),
        gates: None,
    }
}

/// Frozen from t(-100) to t(100): closed at t(0), open again at t(100).
fn frozen() -> EnvironmentSpec {
    EnvironmentSpec {
        windows: Some(WindowsSpec {
            timezone: "UTC".into(),
            allow: Vec::new(),
            freeze: vec![FreezeSpec {
                from: t(-100),
                to: t(100),
                reason: "launch week".into(),
            }],
        }),
        ..env()
    }
}

fn request(kind: DeploymentType) -> Request<'static> {
    Request {
        service: "web",
        version: "2.0",
        kind,
        wait_for_window: false,
        break_glass: None,
        sha256: None,
        evidence: None,
        commit: None,
    }
}

fn deployer() -> Principal {
    Principal::new("dora", Role::Deployer)
}

fn admin() -> Principal {
    Principal::new("ada", Role::Admin)
}

fn result(check: PreCheck, passed: bool, reason: &str) -> PreCheckResult {
    PreCheckResult {
        check,
        passed,
        reason: reason.into(),
        stage: CheckStage::Requested,
        at: t(0),
    }
}

fn code(r: Result<Admission, Refusal>) -> &'static str {
    match r {
        Err(Refusal::Policy { code, .. }) => code,
        other => panic!("expected a policy refusal, got {other:?}"),
    }
}

#[test]
fn break_glass_is_for_admins_only() {
    let req = Request {
        break_glass: Some("checkout down"),
        ..request(DeploymentType::Hotfix)
    };
    let facts = Facts::default();
    match admit(&req, &frozen(), &facts, &deployer(), t(0)) {
        Err(Refusal::Forbidden(m)) => assert!(m.contains("only an admin"), "{m}"),
        other => panic!("a deployer broke glass: {other:?}"),
    }
    // An admin passes a closed window and a failed check.
    let facts = Facts {
        checks: vec![result(PreCheck::NoOpenIncident, false, "incident 4 open")],
        ..Facts::default()
    };
    let a = admit(&req, &frozen(), &facts, &admin(), t(0)).unwrap();
    let bg = a.gate.break_glass.expect("break glass recorded");
    assert_eq!(
        (bg.by.as_str(), bg.reason.as_str()),
        ("ada", "checkout down")
    );
    assert!(a.gate.check_results.is_empty());
}

#[test]
fn break_glass_needs_a_reason() {
    let req = Request {
        break_glass: Some("   "),
        ..request(DeploymentType::Feature)
    };
    let env = EnvironmentSpec {
        requires: Vec::new(),
        ..env()
    };
    match admit(&req, &env, &Facts::default(), &admin(), t(0)) {
        Err(Refusal::Invalid(m)) => assert!(m.contains("needs a reason"), "{m}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn rollbacks_and_hotfixes_skip_the_checks_that_look_for_trouble() {
    for kind in [DeploymentType::Rollback, DeploymentType::Hotfix] {
        assert!(skip(PreCheck::NoOpenIncident, kind).is_some(), "{kind:?}");
        assert!(skip(PreCheck::ServiceHealth, kind).is_some(), "{kind:?}");
        // The others still hold: a remedy must still be the right build.
        assert_eq!(skip(PreCheck::Artifact, kind), None);
        assert_eq!(skip(PreCheck::Dependencies, kind), None);
        assert_eq!(skip(PreCheck::DeploymentWindow, kind), None);
    }
    for kind in [DeploymentType::Feature, DeploymentType::Config] {
        assert_eq!(skip(PreCheck::NoOpenIncident, kind), None);
        assert_eq!(skip(PreCheck::ServiceHealth, kind), None);
    }
}

#[test]
fn a_closed_window_refuses_unless_asked_to_wait_then_queues() {
    let facts = Facts::default();
    let env = EnvironmentSpec {
        requires: Vec::new(),
        ..frozen()
    };
    let req = request(DeploymentType::Feature);
    assert_eq!(
        code(admit(&req, &env, &facts, &deployer(), t(0))),
        "window_closed"
    );
    let waiting = Request {
        wait_for_window: true,
        ..req
    };
    let facts = Facts {
        checks: vec![result(PreCheck::DeploymentWindow, false, "launch week")],
        ..Facts::default()
    };
    let a = admit(&waiting, &env, &facts, &deployer(), t(0)).unwrap();
    assert!(a.gate.wait_for_window);
    assert!(
        a.note
            .unwrap()
            .contains("waiting for the deployment window")
    );
    // The window check is judged again once it opens, not now.
    assert!(a.gate.check_results.is_empty());
    // Once the freeze is over, the same request is admitted at once.
    let a = admit(&req, &env, &Facts::default(), &deployer(), t(100)).unwrap();
    assert!(!a.gate.wait_for_window);
}

#[test]
fn unmet_requires_refuse_except_for_a_rollback() {
    let facts = Facts {
        unmet_requires: vec!["staging".into()],
        ..Facts::default()
    };
    let r = admit(
        &request(DeploymentType::Feature),
        &env(),
        &facts,
        &deployer(),
        t(0),
    );
    if let Err(Refusal::Policy { message, .. }) = &r {
        assert!(
            message.contains("has not succeeded in staging"),
            "{message}"
        );
    }
    assert_eq!(code(r), "requires_unmet");
    assert!(
        admit(
            &request(DeploymentType::Rollback),
            &env(),
            &facts,
            &deployer(),
            t(0)
        )
        .is_ok()
    );
    let met = admit(
        &request(DeploymentType::Feature),
        &env(),
        &Facts::default(),
        &deployer(),
        t(0),
    );
    assert!(met.is_ok());
}

#[test]
fn quality_gates_refuse_missing_or_poor_evidence() {
    let env = EnvironmentSpec {
        requires: Vec::new(),
        gates: Some(QualityGates {
            tests_passed: Some(1.0),
            ..QualityGates::default()
        }),
        ..env()
    };
    let facts = Facts::default();
    let req = request(DeploymentType::Feature);
    assert_eq!(
        code(admit(&req, &env, &facts, &deployer(), t(0))),
        "quality_gates_failed"
    );
    let failing = Evidence {
        tests: Some(TestSummary {
            total: 10,
            passed: 9,
            failed: 1,
            skipped: 0,
            errors: 0,
        }),
        ..Evidence::default()
    };
    let with = |e| Request {
        evidence: Some(e),
        ..req
    };
    assert_eq!(
        code(admit(&with(&failing), &env, &facts, &deployer(), t(0))),
        "quality_gates_failed"
    );
    let passing = Evidence {
        tests: Some(TestSummary {
            total: 10,
            passed: 10,
            failed: 0,
            skipped: 0,
            errors: 0,
        }),
        ..Evidence::default()
    };
    let a = admit(&with(&passing), &env, &facts, &deployer(), t(0)).unwrap();
    assert!(a.note.unwrap().starts_with("quality gates met"));
    assert!(a.gate.quality_gates.is_some());
    // A rollback returns to a version that already ran here.
    let back = admit(
        &request(DeploymentType::Rollback),
        &env,
        &facts,
        &deployer(),
        t(0),
    )
    .unwrap();
    assert!(back.gate.quality_gates.is_none());
}

#[test]
fn failed_pre_checks_refuse_naming_each() {
    let env = EnvironmentSpec {
        requires: Vec::new(),
        checks: vec![PreCheck::NoOpenIncident, PreCheck::Dependencies],
        ..env()
    };
    let facts = Facts {
        checks: vec![
            result(PreCheck::NoOpenIncident, false, "incident 4 open"),
            result(PreCheck::Dependencies, false, "db is not running"),
        ],
        ..Facts::default()
    };
    let r = admit(
        &request(DeploymentType::Feature),
        &env,
        &facts,
        &deployer(),
        t(0),
    );
    let Err(Refusal::Policy { code, message }) = r else {
        panic!("{r:?}")
    };
    assert_eq!(code, "pre_checks_failed");
    assert!(message.contains("incident 4 open") && message.contains("db is not running"));
}

#[test]
fn a_requested_sha_must_match_the_artifact_even_under_break_glass() {
    let sha = "a".repeat(64);
    let req = Request {
        sha256: Some(&sha),
        break_glass: Some("hotfix"),
        ..request(DeploymentType::Hotfix)
    };
    let env = EnvironmentSpec {
        requires: Vec::new(),
        ..env()
    };
    let mismatch = Facts {
        artifact_declared: true,
        artifact: Some((
            result(PreCheck::Artifact, false, "sha256 bbbb, not aaaa"),
            Some("b".repeat(64)),
        )),
        ..Facts::default()
    };
    assert_eq!(
        code(admit(&req, &env, &mismatch, &admin(), t(0))),
        "artifact_mismatch"
    );
    let undeclared = Facts::default();
    assert!(matches!(
        admit(&req, &env, &undeclared, &admin(), t(0)),
        Err(Refusal::Invalid(_))
    ));
}
