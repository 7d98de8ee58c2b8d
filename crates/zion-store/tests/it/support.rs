//! Fixtures: deployments, events and rounds with awkward values (nanosecond
//! times, floats that are not short decimals) so round-trips are really exact.

use std::path::Path;
use std::time::Duration;

use jiff::Timestamp;
use zion_core::analysis::{AnalysisRound, CheckResult, Verdict};
use zion_core::deployment::{Deployment, DeploymentType, Event, Phase, Plan, PlanStep, Progress};
use zion_core::metrics::{Metric, WindowMetrics};
use zion_core::spec::{AnalysisSpec, Bound, Strategy};
use zion_store::SqliteStore;

/// A time `secs` after a fixed origin, with a nanosecond part.
pub fn t(secs: i64) -> Timestamp {
    Timestamp::new(1_750_000_000 + secs, 123_456_789).unwrap()
}

/// Opens (or reopens) the store file in `dir`.
pub fn open(dir: &Path) -> SqliteStore {
    SqliteStore::open(&dir.join("zion.db")).expect("open store")
}

pub fn plan() -> Plan {
    Plan {
        steps: vec![
            PlanStep::weighted(5, Some(Duration::from_secs(30))),
            PlanStep::weighted(50, None),
            PlanStep::weighted(100, Some(Duration::from_millis(1500))),
        ],
        replicas: 2,
        start_timeout: Duration::from_secs(60),
        interval: Duration::from_secs(5),
        failure_limit: 2,
        min_requests: 20,
        inconclusive_limit: Duration::from_secs(600),
        checks: AnalysisSpec::default_checks(),
        sticky: false,
        blue_green: None,
        rolling: None,
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
        strategy: Strategy::Canary,
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
                metric: Metric::ErrorRate,
                bound: Bound::Max(0.01),
                canary: Some(0.025),
                baseline: Some(3.0 / 2400.0),
                verdict: Verdict::Fail,
                message: "error_rate 0.025 > max 0.01".to_string(),
            },
            CheckResult {
                metric: Metric::LatencyP95,
                bound: Bound::MaxRatioToBaseline(1.2),
                canary: None,
                baseline: None,
                verdict: Verdict::Inconclusive,
                message: "latency_p95: no data for the canary".to_string(),
            },
        ],
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
