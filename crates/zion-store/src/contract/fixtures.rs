//! Fixtures: deployments, events, rounds and audit rows with awkward values
//! (nanosecond times, floats that are not short decimals) so that
//! round-trips are really exact.

use std::time::Duration;

use jiff::Timestamp;
use zion_core::analysis::{AnalysisRound, CheckResult, Verdict};
use zion_core::deployment::{
    CanaryPlan, Deployment, DeploymentType, Event, Phase, Plan, PlanCommon, PlanStep, Progress,
};
use zion_core::import::ImportRecord;
use zion_core::judge::{Classification, JudgeReport, MetricJudgement, SampleMetric};
use zion_core::metrics::{Metric, WindowMetrics};
use zion_core::spec::{AnalysisSpec, Bound};

use crate::{
    AuditAppend, AuditCheckpoint, AuditNode, AuditRow, DeploymentStore, ImportBatch, NewIncident,
};

/// A time `secs` after a fixed origin, with a nanosecond part.
pub fn t(secs: i64) -> Timestamp {
    Timestamp::new(1_750_000_000 + secs, 123_456_789).unwrap()
}

pub fn plan() -> Plan {
    Plan::Canary {
        common: PlanCommon {
            replicas: 2,
            start_timeout: Duration::from_secs(60),
            interval: Duration::from_secs(5),
            failure_limit: 2,
            min_requests: 20,
            inconclusive_limit: Duration::from_secs(600),
            checks: AnalysisSpec::default_checks(),
            hooks: Default::default(),
            judge: Default::default(),
        },
        canary: CanaryPlan {
            steps: vec![
                PlanStep::weighted(5, Some(Duration::from_secs(30))),
                PlanStep::weighted(50, None),
                PlanStep::weighted(100, Some(Duration::from_millis(1500))),
            ],
            sticky: false,
        },
    }
}

/// A new deployment of `service` in `environment`, created at `t(at)`.
pub fn deployment(service: &str, environment: &str, version: &str, at: i64) -> Deployment {
    Deployment {
        // Ignored by create_deployment: the store assigns id and revision.
        id: 4242,
        service: service.to_string(),
        environment: environment.to_string(),
        version: version.to_string(),
        previous_version: Some("0.9.0".to_string()),
        kind: DeploymentType::Feature,
        phase: Phase::Pending,
        step: None,
        canary_weight: 0,
        requested_by: "alice".to_string(),
        created_at: t(at),
        started_at: None,
        finished_at: None,
        reason: None,
        plan: plan(),
        progress: Progress::default(),
        gate: Default::default(),
        evidence: None,
        commit: None,
        committed_at: None,
        revision: 99,
    }
}

pub fn event(from: Phase, to: Phase, at: i64, reason: &str) -> Event {
    Event {
        at: t(at),
        from_phase: from,
        to_phase: to,
        step: Some(1),
        canary_weight: 25,
        actor: "controller".to_string(),
        reason: reason.to_string(),
    }
}

/// The event a creator records first.
pub fn created(d: &Deployment) -> Event {
    Event {
        at: d.created_at,
        from_phase: Phase::Pending,
        to_phase: Phase::Pending,
        step: None,
        canary_weight: 0,
        actor: d.requested_by.clone(),
        reason: format!("deploy {} requested", d.version),
    }
}

pub fn metrics(requests: u64, p95: f64) -> WindowMetrics {
    WindowMetrics {
        window_secs: 5.000_000_001,
        requests,
        errors: 3,
        latency_p50_ms: Some(0.1 + 0.2),
        latency_p95_ms: Some(p95),
        latency_p99_ms: None,
        health: Some(2.0 / 3.0),
        cpu_percent: Some(1e-300),
        memory_mb: Some(123_456.789_012_345_6),
    }
}

pub fn round(deployment_id: i64, number: u32, verdict: Verdict) -> AnalysisRound {
    AnalysisRound {
        deployment_id,
        number,
        at: t(100 + i64::from(number)),
        step: Some(0),
        canary_weight: 5,
        canary: metrics(120, 17.000_000_000_000_004),
        stable: Some(metrics(2400, 13.3)),
        checks: vec![
            CheckResult {
                name: "error_rate".to_string(),
                source: None,
                query: None,
                metric: Some(Metric::ErrorRate),
                bound: Bound::Max(0.01),
                canary: Some(0.025),
                baseline: Some(3.0 / 2400.0),
                verdict: Verdict::Fail,
                message: "error_rate 0.025 > max 0.01".to_string(),
            },
            CheckResult {
                name: "latency_p95".to_string(),
                source: None,
                query: None,
                metric: Some(Metric::LatencyP95),
                bound: Bound::MaxRatioToBaseline(1.2),
                canary: None,
                baseline: None,
                verdict: Verdict::Inconclusive,
                message: "latency_p95: no data for the canary".to_string(),
            },
            // An external check keeps its name, rendered query and value.
            CheckResult {
                name: "checkout_ok".to_string(),
                source: Some("prometheus".to_string()),
                query: Some(r#"sum(rate(checkout_ok{version="v2"}[5s]))"#.to_string()),
                metric: None,
                bound: Bound::Min(5.0),
                canary: Some(4.25),
                baseline: None,
                verdict: Verdict::Fail,
                message: "checkout_ok 4.25 < min 5".to_string(),
            },
        ],
        // The statistical judge's figures, kept to the last digit.
        judge: Some(JudgeReport {
            score: 50.0,
            pass: 95.0,
            marginal: 75.0,
            confidence: 0.98,
            metrics: vec![MetricJudgement {
                metric: SampleMetric::Latency,
                group: "latency".to_string(),
                canary_n: 120,
                baseline_n: 2400,
                u: Some(201_234.5),
                p_value: Some(3.141_592_653_589_793e-7),
                effect_size: Some(1.234_567_890_123_456_7),
                classification: Classification::High,
                failed: true,
                critical_failure: false,
            }],
            forced: None,
        }),
        verdict,
        summary: format!("round {number}"),
        count: 1,
        last_at: None,
    }
}

/// `d` moved to `phase` as the next revision.
pub fn moved(d: &Deployment, phase: Phase, at: i64) -> Deployment {
    let mut next = d.clone();
    next.phase = phase;
    next.revision += 1;
    next.reason = Some(format!("moved to {phase}"));
    if phase.is_terminal() {
        next.finished_at = Some(t(at));
    }
    next
}

/// Audit entry `index`, its bytes naming `action` and `subject`.
pub fn audit_row(index: u64, action: &str, subject: &str) -> AuditRow {
    AuditRow {
        index,
        time: t(index as i64),
        action: action.into(),
        subject: subject.into(),
        entry: format!(r#"{{"action":"{action}","seq":{index},"subject":"{subject}"}}"#)
            .into_bytes(),
    }
}

/// Entries `from..to` with a fake leaf node each (the store does not hash)
/// and a checkpoint of the new size.
pub fn audit_batch(from: u64, to: u64) -> AuditAppend {
    AuditAppend {
        outbox: Vec::new(),
        rows: (from..to)
            .map(|i| audit_row(i, "test.append", "thing/1"))
            .collect(),
        nodes: (from..to)
            .map(|i| AuditNode {
                level: 0,
                index: i,
                hash: [i as u8; 32],
            })
            .collect(),
        checkpoint: Some(AuditCheckpoint {
            size: to,
            note: format!("origin\n{to}\nroot\n\n— sig\n"),
            signed_at: t(to as i64),
        }),
    }
}

/// Entries `from..to` about `subject`.
pub fn audit_about(from: u64, to: u64, subject: &str) -> AuditAppend {
    let mut a = audit_batch(from, to);
    for r in &mut a.rows {
        *r = audit_row(r.index, "test.change", subject);
    }
    a
}

/// An incident opened by the controller on the target at `t(at)`.
pub fn new_incident(service: &str, environment: &str, at: i64) -> NewIncident {
    NewIncident {
        service: service.to_string(),
        environment: environment.to_string(),
        deployment_id: None,
        opened_at: t(at),
        opened_by: "controller".to_string(),
        reason: format!("{service} in {environment} rolled back: error_rate 0.2 > max 0.01"),
    }
}

/// Imported history: two deployments and an incident blaming one of them.
pub const HISTORY: &str = r#"{"external_id":"d1","service":"web","environment":"production","version":"1.0","type":"feature","started_at":"2026-03-01T10:00:00Z","finished_at":"2026-03-01T10:12:00.5Z","result":"succeeded","commit":"abc","committed_at":"2026-02-28T16:20:00Z"}
{"kind":"incident","external_id":"i1","service":"web","environment":"production","opened_at":"2026-03-02T10:20:00Z","caused_by":"d2"}
{"external_id":"d2","service":"web","environment":"staging","version":"1.1","type":"hotfix","started_at":"2026-03-02T10:00:00Z","finished_at":"2026-03-02T10:05:00Z","result":"rolled_back"}
"#;

/// An import of `records` by `admin` at `t(0)`.
pub fn import_batch(records: &[ImportRecord]) -> ImportBatch<'_> {
    ImportBatch {
        records,
        source: "history.jsonl",
        sha256_hex: "00",
        imported_by: "admin",
        at: t(0),
    }
}

/// Round `number` of a canary without traffic: the same every time, so a
/// run of them is one record.
pub fn quiet_round(id: i64, number: u32) -> AnalysisRound {
    let mut r = round(id, number, Verdict::Inconclusive);
    r.summary = "0 of 20 requests in 5s at 5%: the step needs about 80 requests/s \
                 through the listener; it gets 0"
        .into();
    r
}

/// Records `rounds` as one change of `d` (the next revision).
pub fn record_rounds(store: &impl DeploymentStore, d: &mut Deployment, rounds: &[AnalysisRound]) {
    *d = moved(d, Phase::Progressing, 1);
    store.record(d, &[], rounds).unwrap();
}
