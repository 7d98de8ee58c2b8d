//! The delivery record of one of Zion's own deployments, read from what the
//! store keeps of it: the deployment, its events, and the spec's view of its
//! environment.

use crate::deployment::{Deployment, Event, Phase};
use crate::governance::quality::{QualityGates, evaluate};

use super::record::{DeploymentRecord, DeploymentResult, GateOutcome, Names, RollbackInfo};

/// Who Zion records as the actor of its own automatic decisions.
const CONTROLLER: &str = "controller";

/// The id a report gives Zion's deployment `id`: `#42`, so that an
/// imported history's numeric ids are never mistaken for Zion's own.
pub fn own_id(id: i64) -> String {
    format!("#{id}")
}

/// The record of `d`, or None while it runs. `events` are its events in the
/// order recorded; `gates` are its environment's quality gates, which judge
/// the evidence it carried.
pub fn record_of_deployment(
    d: &Deployment,
    events: &[Event],
    production: bool,
    gates: Option<&QualityGates>,
    names: &mut Names,
) -> Option<DeploymentRecord> {
    let result = DeploymentResult::from_phase(d.phase)?;
    // A deployment stopped before it started (rejected, cancelled) spans
    // from its request to its end.
    let started_at = d.started_at.unwrap_or(d.created_at);
    let finished_at = d
        .finished_at
        .or_else(|| events.last().map(|e| e.at))
        .unwrap_or(started_at);
    let mut r = DeploymentRecord::new(
        own_id(d.id),
        names.get(&d.service),
        names.get(&d.environment),
        production,
        d.kind,
        result,
        started_at,
        finished_at,
    );
    r.strategy = Some(d.strategy());
    r.committed_at = d.committed_at;
    r.analysis_rounds = d.progress.rounds;
    r.rollback = rollback_of(events);
    if d.gate.approvals_required > 0 {
        r.approval_wait_seconds = approval_wait(events);
    }
    r.gates = d.evidence.as_ref().filter(|e| !e.is_empty()).map(|e| {
        let passed = gates.is_none_or(|g| g.is_empty() || evaluate(g, e).is_empty());
        Box::new(GateOutcome {
            passed,
            tests_passed_ratio: e.tests.and_then(|t| t.pass_ratio()),
            coverage: e.coverage.and_then(|c| c.ratio()),
            findings_error: e.findings.map(|f| f.error),
            findings_warning: e.findings.map(|f| f.warning),
        })
    });
    Some(r)
}

/// Who decided the rollback and how long it took to finish it, from the
/// move to `rolling_back` to the move to `rolled_back`.
fn rollback_of(events: &[Event]) -> Option<RollbackInfo> {
    let start = events.iter().find(|e| e.to_phase == Phase::RollingBack)?;
    let end = events
        .iter()
        .find(|e| e.to_phase == Phase::RolledBack && e.at >= start.at)?;
    Some(RollbackInfo {
        automatic: start.actor == CONTROLLER,
        seconds: end.at.duration_since(start.at).as_secs_f64(),
    })
}

/// From the first move to `awaiting_approval` to the first move out of it.
fn approval_wait(events: &[Event]) -> Option<f64> {
    let start = events
        .iter()
        .position(|e| e.to_phase == Phase::AwaitingApproval)?;
    let end = events[start + 1..]
        .iter()
        .find(|e| e.from_phase == Phase::AwaitingApproval)?;
    Some(end.at.duration_since(events[start].at).as_secs_f64())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::deployment::DeploymentType;
    use crate::governance::quality::{CoverageSummary, Evidence};
    use jiff::Timestamp;

    fn at(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn event(t: &str, from: Phase, to: Phase, actor: &str) -> Event {
        Event {
            at: at(t),
            from_phase: from,
            to_phase: to,
            step: None,
            canary_weight: 0,
            actor: actor.to_owned(),
            reason: "because".to_owned(),
        }
    }

    fn deployment(phase: Phase) -> Deployment {
        let json = serde_json::json!({
            "id": 7, "service": "web", "environment": "production", "version": "2",
            "previous_version": "1", "strategy": "canary", "type": "hotfix",
            "phase": phase, "step": null, "canary_weight": 0, "requested_by": "ann",
            "created_at": "2026-03-01T09:00:00Z", "started_at": "2026-03-01T09:10:00Z",
            "finished_at": "2026-03-01T09:20:30Z", "reason": null,
            "plan": { "steps": [], "replicas": 1, "start_timeout": "1s", "interval": "1s",
                      "failure_limit": 1, "min_requests": 1, "checks": [] },
            "progress": { "rounds": 4, "consecutive_failures": 0, "step_passes": 0,
                          "step_last_failed": false },
            "revision": 3,
        });
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn a_running_deployment_has_no_record() {
        let d = deployment(Phase::Progressing);
        assert!(record_of_deployment(&d, &[], true, None, &mut Names::new()).is_none());
    }

    #[test]
    fn an_automatic_rollback_is_timed_from_decision_to_end() {
        let d = deployment(Phase::RolledBack);
        let events = [
            event(
                "2026-03-01T09:00:00Z",
                Phase::Pending,
                Phase::Pending,
                "ann",
            ),
            event(
                "2026-03-01T09:10:00Z",
                Phase::Pending,
                Phase::Progressing,
                CONTROLLER,
            ),
            event(
                "2026-03-01T09:20:00Z",
                Phase::Progressing,
                Phase::RollingBack,
                CONTROLLER,
            ),
            event(
                "2026-03-01T09:20:02.5Z",
                Phase::RollingBack,
                Phase::RolledBack,
                CONTROLLER,
            ),
        ];
        let r = record_of_deployment(&d, &events, true, None, &mut Names::new()).unwrap();
        assert_eq!(r.id, "#7");
        assert_eq!(r.kind, DeploymentType::Hotfix);
        assert_eq!(r.result, DeploymentResult::RolledBack);
        assert_eq!(r.duration_seconds(), Some(630.0));
        assert_eq!(r.analysis_rounds, 4);
        assert_eq!(
            r.rollback,
            Some(RollbackInfo {
                automatic: true,
                seconds: 2.5
            })
        );
        assert_eq!(r.approval_wait_seconds, None);
    }

    #[test]
    fn a_manual_rollback_and_the_wait_for_approvals() {
        let mut d = deployment(Phase::RolledBack);
        d.gate.approvals_required = 2;
        let events = [
            event(
                "2026-03-01T09:00:00Z",
                Phase::Pending,
                Phase::AwaitingApproval,
                "ann",
            ),
            event(
                "2026-03-01T09:07:30Z",
                Phase::AwaitingApproval,
                Phase::Pending,
                "bob",
            ),
            event(
                "2026-03-01T09:10:00Z",
                Phase::Pending,
                Phase::Progressing,
                CONTROLLER,
            ),
            event(
                "2026-03-01T09:15:00Z",
                Phase::Progressing,
                Phase::RollingBack,
                "ann",
            ),
            event(
                "2026-03-01T09:15:01Z",
                Phase::RollingBack,
                Phase::RolledBack,
                CONTROLLER,
            ),
        ];
        let r = record_of_deployment(&d, &events, true, None, &mut Names::new()).unwrap();
        assert_eq!(r.approval_wait_seconds, Some(450.0));
        assert_eq!(
            r.rollback,
            Some(RollbackInfo {
                automatic: false,
                seconds: 1.0
            })
        );
    }

    #[test]
    fn evidence_is_judged_by_the_environments_gates() {
        let mut d = deployment(Phase::Succeeded);
        d.evidence = Some(Evidence {
            coverage: Some(CoverageSummary {
                lines_total: 200,
                lines_covered: 150,
            }),
            ..Evidence::default()
        });
        let strict = QualityGates {
            coverage: Some(0.8),
            ..QualityGates::default()
        };
        let r = record_of_deployment(&d, &[], false, Some(&strict), &mut Names::new()).unwrap();
        let g = r.gates.unwrap();
        assert!(!g.passed);
        assert_eq!(g.coverage, Some(0.75));
        let r = record_of_deployment(&d, &[], false, None, &mut Names::new()).unwrap();
        assert!(r.gates.unwrap().passed);
        assert!(!r.production);
    }

    /// A succeeded deployment of web/production as the server stored it
    /// before plans had a kind: every one labelled `canary`, whatever its
    /// plan did.
    fn stored(id: i64, previous: Option<&str>, kind: &str, steps: serde_json::Value) -> Deployment {
        let json = serde_json::json!({
            "id": id, "service": "web", "environment": "production",
            "version": format!("{id}.0"), "previous_version": previous,
            "strategy": "canary", "type": kind, "phase": "succeeded", "step": null,
            "canary_weight": 100, "requested_by": "ann",
            "created_at": "2026-03-01T09:00:00Z", "started_at": "2026-03-01T09:00:00Z",
            "finished_at": format!("2026-03-01T1{id}:00:00Z"), "reason": null,
            "plan": { "steps": steps, "replicas": 1, "start_timeout": "1s", "interval": "1s",
                      "failure_limit": 1, "min_requests": 1, "checks": [], "sticky": false },
            "progress": { "rounds": 0, "consecutive_failures": 0, "step_passes": 0,
                          "step_last_failed": false },
            "revision": 3,
        });
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn first_versions_and_rollbacks_are_direct_in_the_strategy_table() {
        // A target's first version, one real canary, and a rollback: only
        // the second has canary steps; the others switched directly.
        let canary_steps = serde_json::json!([
            { "weight": 25, "pause": "1s" },
            { "weight": 100, "pause": null },
        ]);
        let history = [
            stored(1, None, "feature", serde_json::json!([])),
            stored(2, Some("1.0"), "feature", canary_steps),
            stored(3, Some("2.0"), "rollback", serde_json::json!([])),
        ];
        let mut names = Names::new();
        let records: Vec<_> = history
            .iter()
            .map(|d| record_of_deployment(d, &[], true, None, &mut names).unwrap())
            .collect();
        let query = crate::delivery::ReportQuery {
            since: at("2026-03-01T00:00:00Z"),
            until: at("2026-03-02T00:00:00Z"),
            environment: None,
            service: None,
            tz: jiff::tz::TimeZone::UTC,
        };
        let report = crate::delivery::build_report(&records, &[], &query);
        let rows: Vec<(String, u64)> = report
            .strategies
            .iter()
            .flatten()
            .map(|s| {
                let v = serde_json::to_value(s).unwrap();
                (v["strategy"].as_str().unwrap().to_string(), s.deployments)
            })
            .collect();
        assert_eq!(
            rows,
            [("canary".to_string(), 1), ("direct".to_string(), 2)],
            "one canary; the first version and the rollback switched directly"
        );
    }
}
