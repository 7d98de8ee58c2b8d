//! The typed view writes exactly the JSON the server wrote before it was
//! typed (the serialized deployment patched key by key, kept here as the
//! reference), and reads back what it wrote.

use std::time::Duration;

use serde_json::{Value, json};

use super::*;
use crate::deployment::{BlueGreenPlan, PlanCommon, RollingPlan};
use crate::governance::{Decision, DecisionKind};
use crate::rollout::tests::{common, deployment, plan, t};
use crate::spec::Role;

/// The view as the server built it before `DeploymentView`.
fn patched(d: &Deployment) -> Value {
    let mut v = serde_json::to_value(d).unwrap();
    let map = v.as_object_mut().unwrap();
    map.insert("step".into(), json!(d.step.map(|s| s + 1)));
    map.insert("steps".into(), json!(d.plan.steps().len()));
    map.remove("revision");
    map.insert("rollout".into(), json!(d.rollout().name()));
    let ready = d.progress.ready_at.is_some();
    if d.plan.blue_green_plan().is_some() && d.previous_version.is_some() {
        let preview = match (d.phase, ready) {
            (Phase::Progressing | Phase::Paused, true) => json!("ready"),
            (Phase::Progressing | Phase::Paused, false) => json!("starting"),
            _ => Value::Null,
        };
        map.insert("preview".into(), preview);
    }
    if let (Some(r), Some(_)) = (d.plan.rolling_plan(), &d.previous_version) {
        let n = d.plan.replicas();
        let i = d.step.unwrap_or(0);
        let replaced = match d.phase {
            Phase::Succeeded => n,
            _ if d.progress.batch_ready_at.is_some() => r.replaced(i, n),
            _ if i == 0 => 0,
            _ => r.replaced(i - 1, n),
        };
        map.insert("batch".into(), json!(i + 1));
        map.insert("batches".into(), json!(r.batches(n)));
        map.insert(
            "batch_ready".into(),
            json!(d.progress.batch_ready_at.is_some()),
        );
        map.insert("replaced".into(), json!(replaced));
    }
    map.insert(
        "inconclusive_pause_at".into(),
        json!(crate::traffic::pause_due_at(d)),
    );
    let g = &d.gate;
    map.insert("break_glass".into(), json!(g.break_glass));
    if g.approvals_required > 0 {
        let given: Vec<&str> = g.approvals().map(|a| a.principal.as_str()).collect();
        map.insert(
            "approvals".into(),
            json!({
                "required": g.approvals_required,
                "given": given,
                "still_needed": still_needed(d),
                "expires_at": g.expires_at,
            }),
        );
    }
    v
}

fn blue_green() -> Plan {
    Plan::BlueGreen {
        common: common(),
        blue_green: BlueGreenPlan {
            auto_promotion: Some(Duration::from_secs(60)),
            scale_down_delay: Duration::from_secs(30),
        },
    }
}

fn rolling() -> Plan {
    Plan::Rolling {
        common: PlanCommon {
            replicas: 3,
            ..common()
        },
        rolling: RollingPlan { batch: 1 },
    }
}

/// One deployment of every shape a view tells apart.
fn every_shape() -> Vec<Deployment> {
    let mut out = Vec::new();
    out.push(deployment(None, plan(&[])));
    let mut canary = deployment(Some("1.0"), plan(&[(10, Some(60)), (50, None)]));
    canary.phase = Phase::Progressing;
    canary.step = Some(1);
    canary.canary_weight = 50;
    canary.started_at = Some(t(5));
    canary.progress.ready_at = Some(t(9));
    canary.reason = Some("step 2".into());
    canary.commit = Some("abc123".into());
    out.push(canary);
    for (phase, ready) in [
        (Phase::Progressing, false),
        (Phase::Paused, true),
        (Phase::Succeeded, true),
    ] {
        let mut bg = deployment(Some("1.0"), blue_green());
        bg.phase = phase;
        bg.progress.ready_at = ready.then(|| t(3));
        out.push(bg);
    }
    for (phase, step, batch_ready) in [
        (Phase::Progressing, None, false),
        (Phase::Progressing, Some(1), true),
        (Phase::Progressing, Some(2), false),
        (Phase::Succeeded, Some(2), true),
    ] {
        let mut r = deployment(Some("1.0"), rolling());
        r.phase = phase;
        r.step = step;
        r.progress.batch_ready_at = batch_ready.then(|| t(4));
        out.push(r);
    }
    let mut gated = deployment(Some("1.0"), plan(&[(10, None)]));
    gated.phase = Phase::AwaitingApproval;
    gated.gate.approvals_required = 2;
    gated.gate.expires_at = Some(t(3600));
    gated.gate.decisions.push(Decision {
        principal: "bob".into(),
        role: Role::Approver,
        kind: DecisionKind::Approve,
        comment: Some("fine".into()),
        at: t(10),
        via: "api".into(),
    });
    out.push(gated);
    let mut glass = deployment(Some("1.0"), plan(&[]));
    glass.kind = DeploymentType::Rollback;
    glass.gate.break_glass = Some(BreakGlass {
        by: "root".into(),
        reason: "outage".into(),
    });
    out.push(glass);
    out
}

#[test]
fn the_typed_view_writes_what_the_patched_json_did_and_reads_it_back() {
    for d in every_shape() {
        let view = DeploymentView::of(&d);
        let written = serde_json::to_value(&view).unwrap();
        assert_eq!(written, patched(&d), "{:?} {:?}", d.plan.kind(), d.phase);
        let read: DeploymentView = serde_json::from_value(written).unwrap();
        assert_eq!(read, view);
    }
}

#[test]
fn the_detail_carries_events_and_rounds_with_one_based_steps() {
    let mut d = deployment(Some("1.0"), blue_green());
    d.phase = Phase::Progressing;
    let event = Event {
        at: t(1),
        from_phase: Phase::Pending,
        to_phase: Phase::Progressing,
        step: Some(0),
        canary_weight: 0,
        actor: "controller".into(),
        reason: "started".into(),
    };
    let round = AnalysisRound {
        deployment_id: d.id,
        number: 1,
        at: t(2),
        step: Some(0),
        canary_weight: 0,
        canary: WindowMetrics::default(),
        stable: None,
        checks: Vec::new(),
        judge: None,
        verdict: Verdict::Inconclusive,
        summary: "too few requests".into(),
        count: 3,
        last_at: Some(t(4)),
    };
    let detail = DeploymentDetail::of(
        &d,
        std::slice::from_ref(&event),
        std::slice::from_ref(&round),
    );
    let written = serde_json::to_value(&detail).unwrap();
    let mut expected = patched(&d);
    let mut ev = serde_json::to_value(&event).unwrap();
    ev["step"] = json!(1);
    let mut rv = serde_json::to_value(&round).unwrap();
    rv["step"] = json!(1);
    expected["events"] = json!([ev]);
    expected["rounds"] = json!([rv]);
    assert_eq!(written, expected);
    let read: DeploymentDetail = serde_json::from_value(written).unwrap();
    assert_eq!(read, detail);
}

#[test]
fn the_names_readers_print_are_the_ones_the_json_writes() {
    for p in [Preview::Starting, Preview::Ready] {
        assert_eq!(serde_json::to_value(p).unwrap(), p.name());
    }
    use crate::governance::CheckStage;
    for s in [CheckStage::Requested, CheckStage::BeforeTraffic] {
        assert_eq!(serde_json::to_value(s).unwrap(), s.name());
    }
}
