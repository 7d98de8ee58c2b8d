//! A realistic three-month history (January to March 2026, Berlin time,
//! across the March clock change): four services, three environments,
//! every deployment type and strategy, rollbacks, approvals, gate evidence
//! and incidents. Drawn from a fixed seed, so every run sees the same
//! history and a failure can be reproduced.

use std::sync::Arc;

use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp, ToSpan, civil};
use zion_core::delivery::{
    AuditSummary, DeploymentRecord, DeploymentResult, GateOutcome, IncidentRecord, Report,
    ReportQuery, RollbackInfo, Verified, build_report,
};
use zion_core::deployment::DeploymentType;
use zion_core::deployment::PlanKind;

/// Days from 2026-01-01 to 2026-03-31: 31 + 28 + 31.
pub const DAYS: usize = 90;
/// January, February, March.
pub const MONTHS: usize = 3;

const SERVICES: [&str; 4] = ["web", "api", "billing", "search-indexer"];

/// xorshift64*: small, fast and the same on every machine.
struct Draw(u64);

impl Draw {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in `0..n`.
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    /// Uniform in `[lo, hi)`.
    fn between(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (self.next() >> 11) as f64 / (1u64 << 53) as f64 * (hi - lo)
    }

    /// True with probability `p`.
    fn chance(&mut self, p: f64) -> bool {
        self.between(0.0, 1.0) < p
    }
}

pub fn time_zone() -> TimeZone {
    TimeZone::get("Europe/Berlin").expect("the bundled time zone database has Berlin")
}

fn midnight(date: civil::Date) -> Timestamp {
    date.to_zoned(time_zone())
        .expect("midnight exists in Berlin")
        .timestamp()
}

pub fn query() -> ReportQuery {
    ReportQuery {
        since: midnight(civil::date(2026, 1, 1)),
        until: midnight(civil::date(2026, 4, 1)),
        environment: None,
        service: None,
        tz: time_zone(),
    }
}

pub struct History {
    pub deployments: Vec<DeploymentRecord>,
    pub incidents: Vec<IncidentRecord>,
}

impl History {
    pub fn report(&self) -> Report {
        let mut report = build_report(&self.deployments, &self.incidents, &query());
        // The audit summary comes from the audit log, not from the history.
        report.audit = Some(AuditSummary {
            checkpoints: Some(90),
            entries: Some(self.deployments.len() as u64 * 6),
            error: None,
            first_bad_entry: None,
            last_full_verification: Some("2026-03-31T22:00:00Z".parse().unwrap()),
            latest_checkpoint_root: Some("9f".repeat(32)),
            latest_checkpoint_size: Some(self.deployments.len() as u64 * 6),
            root: Some("9f".repeat(32)),
            verified: Verified::Yes,
            verified_from_entry: Some(0),
        });
        report
    }
}

/// The three months, about six deployments a working day and fewer at
/// weekends.
pub fn three_months() -> History {
    let mut draw = Draw(0x5EED_2026_0101_0001);
    let mut deployments = Vec::new();
    let mut incidents = Vec::new();
    let first = civil::date(2026, 1, 1);
    for day in 0..DAYS {
        let date = first.checked_add((day as i64).days()).unwrap();
        let weekend = date.weekday().to_monday_one_offset() >= 6;
        let count = if weekend {
            draw.below(3)
        } else {
            3 + draw.below(7)
        };
        for _ in 0..count {
            let id = (deployments.len() + 1).to_string();
            let record = deployment(&mut draw, id, date);
            if record.environment.as_ref() == "production"
                && record.result == DeploymentResult::RolledBack
                && draw.chance(0.6)
            {
                incidents.push(incident(&mut draw, &record, incidents.len() + 1));
            }
            deployments.push(record);
        }
    }
    // One incident with no known cause, still open at the period's end.
    incidents.push(IncidentRecord {
        id: format!("INC-{}", incidents.len() + 1),
        service: Arc::from("api"),
        environment: Arc::from("production"),
        opened_at: midnight(civil::date(2026, 3, 30)) + SignedDuration::from_hours(14),
        resolved_at: None,
        caused_by: None,
    });
    History {
        deployments,
        incidents,
    }
}

fn deployment(draw: &mut Draw, id: String, date: civil::Date) -> DeploymentRecord {
    use DeploymentResult::*;
    let service = SERVICES[draw.below(SERVICES.len() as u64) as usize];
    let (environment, strategy) = match draw.below(10) {
        0..=3 => ("dev", PlanKind::Rolling),
        4..=6 => ("staging", PlanKind::BlueGreen),
        _ => ("production", PlanKind::Canary),
    };
    let production = environment == "production";
    let kind = match draw.below(20) {
        0..=12 => DeploymentType::Feature,
        13..=15 => DeploymentType::Hotfix,
        16..=18 => DeploymentType::Config,
        _ => DeploymentType::Rollback,
    };
    let roll = draw.below(100);
    let result = match roll {
        0..=4 => Failed,
        5..=11 => RolledBack,
        12..=14 => Cancelled,
        15..=16 if production => Rejected,
        17 if production => Expired,
        _ => Succeeded,
    };
    // Working hours, Berlin time.
    let finished_at =
        midnight(date) + SignedDuration::from_secs(8 * 3600 + draw.below(10 * 3600) as i64);
    // Mostly a few minutes; canaries wait on analysis; now and then a slow one.
    let seconds = match (strategy, draw.below(20)) {
        (_, 0) => draw.between(1800.0, 5400.0),
        (PlanKind::Canary, _) => draw.between(420.0, 1500.0),
        (_, _) => draw.between(35.0, 480.0),
    };
    let seconds = if matches!(result, Rejected | Expired | Cancelled) {
        draw.between(0.0, 30.0)
    } else {
        seconds
    };
    let mut r = DeploymentRecord::new(
        id,
        Arc::from(service),
        Arc::from(environment),
        production,
        kind,
        result,
        finished_at - SignedDuration::from_secs_f64(seconds),
        finished_at,
    );
    r.strategy = Some(strategy);
    r.committed_at =
        Some(r.started_at - SignedDuration::from_secs_f64(draw.between(600.0, 3.0 * 86_400.0)));
    if result == RolledBack {
        r.rollback = Some(RollbackInfo {
            automatic: draw.chance(0.7),
            seconds: draw.between(20.0, 240.0),
        });
    }
    if production {
        r.approval_wait_seconds = Some(match result {
            // Rejected and expired deployments waited their whole window.
            Rejected => draw.between(600.0, 7200.0),
            Expired => 86_400.0,
            _ => draw.between(60.0, 3.0 * 3600.0),
        });
        r.analysis_rounds = 1 + draw.below(5) as u32;
    }
    if environment != "dev" && draw.chance(0.75) {
        let passed = result != Failed && draw.chance(0.9);
        r.gates = Some(Box::new(GateOutcome {
            passed,
            tests_passed_ratio: Some(if passed {
                1.0
            } else {
                draw.between(0.9, 0.999)
            }),
            coverage: Some(draw.between(0.62, 0.91)),
            findings_error: Some(if passed { 0 } else { 1 + draw.below(3) }),
            findings_warning: Some(draw.below(12)),
        }));
    }
    r
}

fn incident(draw: &mut Draw, cause: &DeploymentRecord, n: usize) -> IncidentRecord {
    let opened_at = cause.finished_at - SignedDuration::from_secs(600);
    let resolved_at = opened_at + SignedDuration::from_secs_f64(draw.between(900.0, 4.0 * 3600.0));
    IncidentRecord {
        id: format!("INC-{n}"),
        service: cause.service.clone(),
        environment: cause.environment.clone(),
        opened_at,
        resolved_at: Some(resolved_at),
        caused_by: Some(cause.id.clone()),
    }
}
