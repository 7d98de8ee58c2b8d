//! The plan's JSON: written with its kind, read back equal, and read from
//! the shape earlier versions stored.

use std::time::Duration;

use serde_json::{Value, json};

use super::*;
use crate::deployment::Deployment;
use crate::spec::AnalysisSpec;

fn common() -> PlanCommon {
    PlanCommon {
        replicas: 3,
        start_timeout: Duration::from_secs(60),
        interval: Duration::from_secs(5),
        failure_limit: 2,
        min_requests: 20,
        inconclusive_limit: Duration::from_secs(600),
        checks: AnalysisSpec::default_checks(),
        hooks: Default::default(),
        judge: Default::default(),
    }
}

fn every_kind() -> Vec<Plan> {
    vec![
        Plan::Direct { common: common() },
        Plan::Canary {
            common: common(),
            canary: CanaryPlan {
                steps: vec![
                    PlanStep {
                        mirror: Some(20),
                        ..PlanStep::weighted(0, Some(Duration::from_secs(30)))
                    },
                    PlanStep::weighted(25, None),
                    PlanStep::weighted(100, None),
                ],
                sticky: true,
            },
        },
        Plan::BlueGreen {
            common: common(),
            blue_green: BlueGreenPlan {
                auto_promotion: Some(Duration::from_secs(10)),
                scale_down_delay: Duration::from_secs(30),
            },
        },
        Plan::Rolling {
            common: common(),
            rolling: RollingPlan { batch: 1 },
        },
    ]
}

/// The analysis figures as every version has written them.
fn legacy_common() -> Value {
    json!({
        "replicas": 3, "start_timeout": "1m", "interval": "5s", "failure_limit": 2,
        "min_requests": 20,
        "checks": [
            { "metric": "error_rate", "bound": { "max": 0.01 } },
            { "metric": "latency_p95", "bound": { "max_ratio_to_baseline": 1.2 } },
            { "metric": "health", "bound": { "min": 0.95 } },
        ],
    })
}

fn with(mut base: Value, extra: Value) -> Value {
    let (Value::Object(b), Value::Object(e)) = (&mut base, extra) else {
        unreachable!()
    };
    b.extend(e);
    base
}

#[test]
fn every_kind_reads_back_equal_and_says_its_kind() {
    for plan in every_kind() {
        let v = serde_json::to_value(&plan).unwrap();
        assert_eq!(v["kind"], plan.kind().name(), "{v}");
        // The flat shape the API has always shown: `steps` and `sticky`
        // on every plan, the policy of the plan's own kind only.
        assert!(v["steps"].is_array(), "{v}");
        assert_eq!(v["replicas"], 3);
        assert_eq!(v["sticky"], plan.sticky());
        assert_eq!(
            v["blue_green"].is_object(),
            plan.kind() == PlanKind::BlueGreen
        );
        assert_eq!(v["rolling"].is_object(), plan.kind() == PlanKind::Rolling);
        let back: Plan = serde_json::from_value(v).unwrap();
        assert_eq!(back, plan);
    }
}

#[test]
fn plans_stored_before_kind_existed_still_load_as_their_kind() {
    // Written by earlier versions: no `kind`; a direct plan is one with
    // empty steps and no blue-green or rolling policy. The oldest have no
    // `inconclusive_limit` either.
    let direct = with(legacy_common(), json!({ "steps": [], "sticky": false }));
    let plan: Plan = serde_json::from_value(direct).unwrap();
    assert_eq!(plan.kind(), PlanKind::Direct);
    assert_eq!(
        plan.common().inconclusive_limit,
        AnalysisSpec::DEFAULT_INCONCLUSIVE_LIMIT
    );
    assert_eq!(plan.common().checks, AnalysisSpec::default_checks());

    let canary = with(
        legacy_common(),
        json!({
            "steps": [
                { "weight": 0, "pause": "30s", "mirror": 20 },
                { "weight": 25, "pause": null,
                  "matches": [{ "header_equals": { "name": "X-Team", "value": "blue" } }] },
                { "weight": 100, "pause": null },
            ],
            "inconclusive_limit": "2m", "sticky": true,
        }),
    );
    let plan: Plan = serde_json::from_value(canary).unwrap();
    let Plan::Canary { common, canary } = &plan else {
        panic!("{plan:?}")
    };
    assert_eq!(common.inconclusive_limit, Duration::from_secs(120));
    assert_eq!(canary.steps.len(), 3);
    assert_eq!(canary.steps[0].mirror, Some(20));
    assert_eq!(canary.steps[1].matches.len(), 1);
    assert!(canary.sticky);

    let blue_green = with(
        legacy_common(),
        json!({ "steps": [], "sticky": false,
                "blue_green": { "auto_promotion": null, "scale_down_delay": "30s" } }),
    );
    let plan: Plan = serde_json::from_value(blue_green).unwrap();
    assert_eq!(
        plan.blue_green_plan(),
        Some(&BlueGreenPlan {
            auto_promotion: None,
            scale_down_delay: Duration::from_secs(30)
        })
    );

    let rolling = with(
        legacy_common(),
        json!({ "steps": [], "sticky": false, "rolling": { "batch": 2 } }),
    );
    let plan: Plan = serde_json::from_value(rolling).unwrap();
    assert_eq!(plan.rolling_plan(), Some(RollingPlan { batch: 2 }));
    // Written again, it says its kind.
    assert_eq!(serde_json::to_value(&plan).unwrap()["kind"], "rolling");
}

#[test]
fn a_plan_that_is_two_kinds_at_once_is_refused_by_name() {
    let refused = |extra: Value| {
        serde_json::from_value::<Plan>(with(legacy_common(), extra))
            .unwrap_err()
            .to_string()
    };
    let e = refused(json!({ "kind": "direct", "steps": [{ "weight": 100, "pause": null }] }));
    assert!(e.contains("a direct plan has no `steps`"), "{e}");
    let e = refused(json!({ "kind": "rolling", "rolling": { "batch": 1 },
                            "blue_green": { "auto_promotion": null, "scale_down_delay": "1s" } }));
    assert!(
        e.contains("a rolling plan has no `blue_green` policy"),
        "{e}"
    );
    let e = refused(json!({ "kind": "blue_green" }));
    assert!(e.contains("needs its `blue_green` policy"), "{e}");
    let e = refused(json!({ "kind": "big_bang" }));
    assert!(e.contains("big_bang"), "{e}");
}

#[test]
fn a_deployment_shows_its_plans_kind_as_its_strategy() {
    // An earlier version stored a rollback as `strategy: canary` with a
    // direct plan: read back, it says what its plan does.
    let old = json!({
        "id": 7, "service": "web", "environment": "production", "version": "1",
        "previous_version": "2", "strategy": "canary", "type": "rollback",
        "phase": "succeeded", "step": null, "canary_weight": 100, "requested_by": "ann",
        "created_at": "2026-03-01T09:00:00Z", "started_at": null,
        "finished_at": null, "reason": null,
        "plan": with(legacy_common(), json!({ "steps": [], "sticky": false })),
        "progress": { "rounds": 0, "consecutive_failures": 0, "step_passes": 0,
                      "step_last_failed": false },
        "revision": 3,
    });
    let mut d: Deployment = serde_json::from_value(old).unwrap();
    assert_eq!(d.strategy(), PlanKind::Direct);
    let v = serde_json::to_value(&d).unwrap();
    assert_eq!(v["strategy"], "direct", "{v}");
    assert_eq!(v["type"], "rollback", "{v}");
    assert_eq!(v["plan"]["kind"], "direct", "{v}");
    let back: Deployment = serde_json::from_value(v).unwrap();
    assert_eq!(back, d);

    for plan in every_kind() {
        let kind = plan.kind();
        d.plan = plan;
        assert_eq!(serde_json::to_value(&d).unwrap()["strategy"], kind.name());
    }
}

#[test]
fn kind_names_match_serde_and_the_spec() {
    for k in PlanKind::ALL {
        assert_eq!(serde_json::to_value(k).unwrap(), k.name());
        assert_eq!(PlanKind::from_name(k.name()), Some(k));
    }
    for s in [Strategy::Canary, Strategy::BlueGreen, Strategy::Rolling] {
        assert_eq!(PlanKind::from(s).name(), s.name());
    }
}

#[test]
fn a_plan_keeps_its_judge_and_older_plans_judge_by_thresholds() {
    use crate::judge::{Direction, Judge, JudgedMetric, MannWhitney, SampleMetric};
    let mut settings = MannWhitney::defaults();
    settings.groups.insert("latency".into(), 2.0);
    settings.metrics.push(JudgedMetric {
        direction: Direction::Decrease,
        critical_decrease: Some(0.5),
        must_have_data: true,
        ..JudgedMetric::new(SampleMetric::RequestRate)
    });
    let plan = Plan::Direct {
        common: PlanCommon {
            judge: Judge::MannWhitney(settings),
            ..common()
        },
    };
    let v = serde_json::to_value(&plan).unwrap();
    assert_eq!(v["judge"]["kind"], "mann_whitney", "{v}");
    assert_eq!(v["judge"]["metrics"][2]["direction"], "decrease", "{v}");
    let back: Plan = serde_json::from_value(v).unwrap();
    assert_eq!(back, plan);
    // The default is not written, and a plan without one judges by
    // thresholds.
    let v = serde_json::to_value(Plan::Direct { common: common() }).unwrap();
    assert!(v.get("judge").is_none(), "{v}");
    let old: Plan = serde_json::from_value(with(
        legacy_common(),
        json!({ "steps": [], "sticky": false }),
    ))
    .unwrap();
    assert_eq!(old.common().judge, Judge::Thresholds);
}
