//! The renderings of deployments, from typed views as the API writes them.

use std::time::Duration;

use zion_core::api::ApprovalsView;
use zion_core::deployment::{
    BlueGreenPlan, CanaryPlan, Deployment, DeploymentType, Plan, PlanCommon, PlanStep, Progress,
    RollingPlan,
};
use zion_core::governance::quality::{CoverageSummary, Evidence, FindingCounts, TestSummary};
use zion_core::spec::AnalysisSpec;

use super::*;
use crate::cli::Rounds;

fn at(text: &str) -> jiff::Timestamp {
    text.parse().unwrap()
}

fn common(replicas: u32) -> PlanCommon {
    PlanCommon {
        replicas,
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

fn canary(weights: &[u8]) -> Plan {
    Plan::Canary {
        common: common(1),
        canary: CanaryPlan {
            steps: weights
                .iter()
                .map(|w| PlanStep::weighted(*w, None))
                .collect(),
            sticky: false,
        },
    }
}

/// `web` in `production`: 1.0 → 2.0, a direct plan, progressing; `edit`
/// changes what a test is about before the view is built.
fn view(edit: impl FnOnce(&mut Deployment)) -> DeploymentView {
    let mut d = Deployment {
        id: 4,
        service: "web".into(),
        environment: "production".into(),
        version: "2.0".into(),
        previous_version: Some("1.0".into()),
        kind: DeploymentType::Feature,
        phase: Phase::Progressing,
        step: None,
        canary_weight: 0,
        requested_by: "dora".into(),
        created_at: at("2026-11-22T03:00:00Z"),
        started_at: None,
        finished_at: None,
        reason: None,
        plan: Plan::Direct { common: common(1) },
        progress: Progress::default(),
        gate: Default::default(),
        evidence: None,
        commit: None,
        committed_at: None,
        revision: 1,
    };
    edit(&mut d);
    DeploymentView::of(&d)
}

fn detail(deployment: DeploymentView) -> DeploymentDetail {
    DeploymentDetail {
        deployment,
        events: Vec::new(),
        rounds: Vec::new(),
    }
}

#[test]
fn a_deployment_shows_its_commit_and_evidence() {
    let d = view(|d| {
        d.phase = Phase::Succeeded;
        d.canary_weight = 100;
        d.commit = Some("9fceb02d0ae598e95dc970b74767f19372d61af8".into());
        d.committed_at = Some(at("2026-03-01T09:15:30Z"));
        d.evidence = Some(Evidence {
            tests: Some(TestSummary {
                total: 203,
                passed: 195,
                failed: 4,
                skipped: 3,
                errors: 1,
            }),
            coverage: Some(CoverageSummary {
                lines_total: 3,
                lines_covered: 2,
            }),
            findings: Some(FindingCounts {
                error: 0,
                warning: 5,
                note: 17,
                none: 0,
            }),
        });
    });
    let text = deployment(&detail(d), Rounds::All);
    assert!(
        text.contains(
            "commit:     9fceb02d0ae598e95dc970b74767f19372d61af8 \
             (committed 2026-03-01T09:15:30Z)\n"
        ),
        "{text}"
    );
    // 195 of 203 − 3 = 200 executed; 2 of 3 lines is 66.66…%, cut to 66.6%.
    assert!(
        text.contains(
            "evidence:   tests 195/200 passed (4 failed, 1 errored, 3 skipped); \
             coverage 66.6% (2/3 lines); findings 0 error, 5 warning, 17 note\n"
        ),
        "{text}"
    );
}

#[test]
fn progress_names_what_each_rollout_does() {
    let first = view(|d| {
        d.version = "1.0".into();
        d.previous_version = None;
    });
    assert_eq!(
        progress(&first),
        "progressing, first version of the target, 0% of traffic"
    );
    let rollback = view(|d| {
        d.version = "1.2".into();
        d.previous_version = Some("1.4".into());
        d.kind = DeploymentType::Rollback;
        d.phase = Phase::Succeeded;
        d.canary_weight = 100;
    });
    assert_eq!(
        progress(&rollback),
        "succeeded, rollback to 1.2, 100% of traffic"
    );
    let canary = view(|d| {
        d.plan = canary(&[5, 25, 100]);
        d.step = Some(1);
        d.canary_weight = 25;
    });
    assert_eq!(progress(&canary), "progressing, step 2/3, canary 25%");
    let blue_green = view(|d| {
        d.plan = Plan::BlueGreen {
            common: common(1),
            blue_green: BlueGreenPlan {
                auto_promotion: None,
                scale_down_delay: Duration::from_secs(30),
            },
        };
        d.step = Some(0);
        d.progress.ready_at = Some(at("2026-11-22T03:00:10Z"));
    });
    assert_eq!(
        progress(&blue_green),
        "progressing, preview ready, live traffic 0%"
    );
    for d in [&first, &rollback, &blue_green] {
        assert!(!progress(d).contains("canary"), "{}", progress(d));
    }
    // `zion get`'s first line too.
    let head = |d: &DeploymentView| {
        deployment(&detail(d.clone()), Rounds::All)
            .lines()
            .next()
            .unwrap()
            .to_string()
    };
    assert!(
        head(&rollback).ends_with("1.4 → 1.2 (direct switch, rollback)"),
        "{}",
        head(&rollback)
    );
    assert!(
        head(&first).ends_with("(none) → 1.0 (first version, feature)"),
        "{}",
        head(&first)
    );
    assert!(head(&canary).ends_with("1.0 → 2.0 (canary, feature)"));
}

#[test]
fn the_rollout_tells_what_the_plan_does() {
    let rollback = view(|d| {
        d.version = "1.2".into();
        d.previous_version = Some("1.4".into());
        d.kind = DeploymentType::Rollback;
    });
    assert_eq!(rollback.rollout, Rollout::Rollback);
    let direct = view(|d| d.previous_version = Some("1.4".into()));
    assert_eq!(direct.rollout, Rollout::Direct);
    assert_eq!(
        progress(&direct),
        "progressing, all traffic once healthy, 0% of traffic"
    );
    assert_eq!(view(|d| d.previous_version = None).rollout, Rollout::First);
    let rolling = view(|d| {
        d.plan = Plan::Rolling {
            common: common(1),
            rolling: RollingPlan { batch: 1 },
        }
    });
    assert_eq!(rolling.rollout, Rollout::Rolling);
    assert_eq!(view(|d| d.plan = canary(&[10])).rollout, Rollout::Canary);
}

#[test]
fn the_live_bar_counts_traffic_to_the_new_version_not_a_canary() {
    let d = view(|d| {
        d.version = "1.2".into();
        d.kind = DeploymentType::Rollback;
    });
    assert_eq!(d.rollout, Rollout::Rollback);
    assert_eq!(bar_label(&d), "to 1.2");
}

#[test]
fn every_view_prints_an_approval_deadline_the_same_way() {
    // A deadline stored before it was whole seconds; rounded up, as
    // the server's event reason says it.
    let mut d = view(|d| {
        d.id = 9;
        d.phase = Phase::AwaitingApproval;
    });
    d.approvals = Some(ApprovalsView {
        required: 2,
        given: vec!["alice".into()],
        still_needed: Some("1 more".into()),
        expires_at: Some(at("2026-11-22T03:12:01.600Z")),
    });
    let want = "expires at 2026-11-22 03:12:02 UTC";
    let get = deployment(&detail(d.clone()), Rounds::All);
    assert!(get.contains(&format!("approvals:  1/2, {want}\n")), "{get}");
    let mut target = crate::rounds::tests::target();
    let view = target.deployment.as_mut().unwrap();
    view.id = 9;
    view.approvals = d.approvals.clone();
    let status = status(&[target]);
    assert!(
        status.contains(&format!("still needed: 1 more; {want}\n")),
        "{status}"
    );
    let approvals = crate::governance::line(&d);
    assert!(approvals.ends_with(&format!(", {want}")), "{approvals}");
    let at: jiff::Timestamp = "2026-11-22T03:12:01.600Z".parse().unwrap();
    assert_eq!(
        format!("expires at {}", zion_core::governance::expiry_text(at)),
        want
    );
}

#[test]
fn counts_take_the_singular_for_one_only() {
    assert_eq!(count(1, "entry", "entries"), "1 entry");
    assert_eq!(count(0, "entry", "entries"), "0 entries");
    assert_eq!(count(2, "batch", "batches"), "2 batches");
    let d = view(|d| {
        d.plan = Plan::Rolling {
            common: common(1),
            rolling: RollingPlan { batch: 1 },
        }
    });
    let text = deployment(&detail(d), Rounds::All);
    assert!(
        text.contains("plan:       rolling, 1 replica per batch, 1 batch\n"),
        "{text}"
    );
}

#[test]
fn evidence_parts_appear_only_when_attached() {
    let with = |lines_total, lines_covered| {
        detail(view(|d| {
            d.evidence = Some(Evidence {
                tests: None,
                coverage: Some(CoverageSummary {
                    lines_total,
                    lines_covered,
                }),
                findings: None,
            });
        }))
    };
    let text = deployment(&with(1000, 800), Rounds::All);
    assert!(
        text.contains("evidence:   coverage 80% (800/1000 lines)\n"),
        "{text}"
    );
    assert!(!text.contains("commit:"), "{text}");
    let none = deployment(&detail(view(|d| d.evidence = None)), Rounds::All);
    assert!(!none.contains("evidence:"), "{none}");
    assert!(deployment(&with(0, 0), Rounds::All).contains("coverage - (0/0 lines)"));
}

#[test]
fn status_names_the_driving_replica_only_when_there_are_several() {
    let mut one = crate::rounds::tests::target();
    one.driven_by = Some("host-a".into());
    let mut two = one.clone();
    two.environment = "staging".into();
    let alone = status(&[one.clone(), two.clone()]);
    assert!(!alone.contains("DRIVEN BY"), "{alone}");
    two.driven_by = Some("host-b".into());
    let several = status(&[one.clone(), two.clone()]);
    assert!(
        several.lines().next().unwrap().ends_with("DRIVEN BY"),
        "{several}"
    );
    assert!(several.contains("host-b"), "{several}");
    two.driven_by = None;
    let orphan = status(&[one, two]);
    assert!(orphan.contains("(none yet)"), "{orphan}");
}

#[test]
fn replicas_show_their_heartbeat_state_and_targets() {
    let row = |id: &str, live: bool, answering: bool| zion_core::api::ReplicaView {
        id: id.into(),
        last_heartbeat: at("2026-12-02T10:00:00Z"),
        heartbeat_age_seconds: if live { 0.4 } else { 31.0 },
        live,
        targets: if live { 3 } else { 0 },
        answering,
    };
    let out = replicas(&[row("host-a", true, true), row("host-b", false, false)]);
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[0].starts_with("REPLICA"), "{out}");
    assert!(
        lines[1].contains("host-a (this one)")
            && lines[1].contains("0.4s ago")
            && lines[1].contains("live"),
        "{out}"
    );
    assert!(
        lines[2].contains("host-b") && lines[2].contains("gone") && lines[2].contains("31.0s ago"),
        "{out}"
    );
    assert_eq!(replicas(&[]), "no replica has sent a heartbeat yet\n");
}
