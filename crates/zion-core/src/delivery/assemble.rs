//! The report from the rows a store holds: which of Zion's deployments and
//! incidents count and how, the imported history's records, the period a
//! query names, and the audit log's verification as the report shows it.
//! The server reads the rows (streaming the imported deployments, which may
//! be millions) and hands each to an [`Assembly`]; nothing here reads a
//! store or a clock.

use std::collections::HashMap;

use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};

use super::of_deployment::{own_id, record_of_deployment};
use super::record::{DeploymentRecord, DeploymentResult, IncidentRecord, Names};
use super::report::build_report;
use super::report::{AuditSummary, PolicyRefusals, Report, ReportQuery, Verified};
use crate::api::AuditVerification;
use crate::deployment::{Deployment, DeploymentType, Event, Phase};
use crate::import::{ImportResult, ImportedIncident};
use crate::spec::Spec;
use crate::text::excerpt;

/// The longest period a report covers: it lists every day of it (a table
/// row and a bar each), so a period of centuries is a mistake, and would
/// cost memory.
pub const MOST_DAYS: i64 = 20 * 366;

/// The period of a report: `since` and `until` as asked (`30d` ago, an RFC
/// 3339 time, or a date in `tz`), by default the 30 days before `now`. An
/// error says what is wrong with them.
pub fn report_period(
    since: Option<&str>,
    until: Option<&str>,
    tz: &TimeZone,
    now: Timestamp,
) -> Result<(Timestamp, Timestamp), String> {
    let since = match since {
        Some(t) => bound(t, now, tz, Edge::Start, "since")?,
        None => now - SignedDuration::from_hours(30 * 24),
    };
    let until = match until {
        Some(t) => bound(t, now, tz, Edge::End, "until")?,
        None => now,
    };
    if until <= since {
        return Err(format!(
            "the period is empty: until ({until}) must be after since ({since})"
        ));
    }
    let days = until.duration_since(since).as_secs() / 86_400;
    if days > MOST_DAYS {
        return Err(format!(
            "the period spans {days} days, more than the {MOST_DAYS} (20 years) a report covers; narrow --since or --until"
        ));
    }
    Ok((since, until))
}

#[derive(Clone, Copy)]
enum Edge {
    Start,
    End,
}

/// `30d` (ago), an RFC 3339 time, or a date in the report's zone: its
/// first instant for `since`, the first instant of the next day for `until`
/// (so `--until 2026-10-31` includes that day).
fn bound(
    text: &str,
    now: Timestamp,
    tz: &TimeZone,
    edge: Edge,
    what: &str,
) -> Result<Timestamp, String> {
    if let Ok(d) = crate::duration::parse_duration(text) {
        let span = SignedDuration::try_from(d).map_err(|e| e.to_string())?;
        return now
            .checked_sub(span)
            .map_err(|e| format!("{what} `{}`: {e}", excerpt(text)));
    }
    if let Ok(t) = text.parse::<Timestamp>() {
        return Ok(t);
    }
    if let Ok(date) = text.parse::<jiff::civil::Date>() {
        let day = match edge {
            Edge::Start => Some(date),
            Edge::End => date.tomorrow().ok(),
        };
        if let Some(z) = day.and_then(|d| d.to_zoned(tz.clone()).ok()) {
            return Ok(z.timestamp());
        }
    }
    Err(format!(
        "{what} `{}` is neither a duration (30d, 12h), a date (2026-11-01) nor an RFC 3339 time",
        excerpt(text)
    ))
}

/// Whether `env` serves users: as the spec says, or for environments it
/// does not name (imported history), by the usual names of one.
pub fn is_production(spec: &Spec, env: &str) -> bool {
    spec.environment(env)
        .map_or_else(|| looks_like_production(env), |e| e.production)
}

fn looks_like_production(env: &str) -> bool {
    matches!(
        env.to_ascii_lowercase().as_str(),
        "production" | "prod" | "live"
    )
}

/// One of Zion's own incidents, as stored.
#[derive(Debug, Clone, Copy)]
pub struct OwnIncident<'a> {
    pub id: i64,
    pub service: &'a str,
    pub environment: &'a str,
    pub deployment_id: Option<i64>,
    pub opened_at: Timestamp,
    pub opened_by: &'a str,
    pub resolved_at: Option<Timestamp>,
}

/// One imported deployment, as stored.
#[derive(Debug, Clone, Copy)]
pub struct ImportedDeployment<'a> {
    pub external_id: &'a str,
    pub service: &'a str,
    pub environment: &'a str,
    pub kind: DeploymentType,
    pub result: ImportResult,
    pub started_at: Timestamp,
    pub finished_at: Timestamp,
    pub committed_at: Option<Timestamp>,
}

/// A report being assembled from rows, in any order within each kind.
pub struct Assembly<'a> {
    query: &'a ReportQuery,
    spec: &'a Spec,
    names: Names,
    deployments: Vec<DeploymentRecord>,
    incidents: Vec<IncidentRecord>,
    production_of: HashMap<String, bool>,
}

impl<'a> Assembly<'a> {
    pub fn new(query: &'a ReportQuery, spec: &'a Spec) -> Assembly<'a> {
        Assembly {
            query,
            spec,
            names: Names::new(),
            deployments: Vec::new(),
            incidents: Vec::new(),
            production_of: HashMap::new(),
        }
    }

    /// Whether the report needs `d`'s events (who rolled it back and how
    /// long that took, how long it waited for approvals); the others are
    /// not worth reading.
    pub fn wants_events(d: &Deployment) -> bool {
        d.phase.is_terminal() && (d.phase == Phase::RolledBack || d.gate.approvals_required > 0)
    }

    /// Adds one of Zion's deployments (one still running counts nowhere),
    /// with its events when [`Self::wants_events`].
    pub fn own_deployment(&mut self, d: &Deployment, events: &[Event]) {
        if !d.phase.is_terminal() {
            return;
        }
        // The gates in force when it was admitted; deployments recorded
        // before Zion kept them are judged by the environment's gates now.
        let gates = d.gate.quality_gates.as_ref().or_else(|| {
            self.spec
                .environment(&d.environment)
                .and_then(|e| e.gates.as_ref())
                .filter(|_| d.evidence.is_some() && d.gate.break_glass.is_none())
        });
        let production = is_production(self.spec, &d.environment);
        if let Some(r) = record_of_deployment(d, events, production, gates, &mut self.names) {
            self.deployments.push(r);
        }
    }

    /// Adds one of Zion's incidents.
    pub fn own_incident(&mut self, i: OwnIncident<'_>) {
        self.incidents.push(IncidentRecord {
            id: format!("incident #{}", i.id),
            service: self.names.get(i.service),
            environment: self.names.get(i.environment),
            opened_at: i.opened_at,
            resolved_at: i.resolved_at,
            // The controller opens one when a production rollout rolls
            // back, to hold features until someone looks; service was
            // restored by the rollback itself, so it is not evidence of a
            // longer outage (the rollback already counts as a failure).
            caused_by: i
                .deployment_id
                .filter(|_| i.opened_by != crate::rollout::CONTROLLER)
                .map(own_id),
        });
    }

    /// Adds one imported deployment.
    pub fn imported_deployment(&mut self, row: ImportedDeployment<'_>) {
        let env = self.names.get(row.environment);
        let prod = match self.production_of.get(row.environment) {
            Some(&p) => p,
            None => {
                let p = is_production(self.spec, row.environment);
                self.production_of.insert(row.environment.to_owned(), p);
                p
            }
        };
        let mut r = DeploymentRecord::new(
            row.external_id,
            self.names.get(row.service),
            env,
            prod,
            row.kind,
            DeploymentResult::from_phase(row.result.phase()).unwrap_or(DeploymentResult::Failed),
            row.started_at,
            row.finished_at,
        );
        r.committed_at = row.committed_at;
        self.deployments.push(r);
    }

    /// Adds one imported incident, of any target: one filed on another
    /// target counts only when it blames a deployment (which then still
    /// counts as a failure).
    pub fn imported_incident(&mut self, i: ImportedIncident) {
        let own_target = self.query.service.as_ref().is_none_or(|s| *s == i.service)
            && self
                .query
                .environment
                .as_ref()
                .is_none_or(|e| *e == i.environment);
        if !own_target && i.caused_by.is_none() {
            return;
        }
        self.incidents.push(IncidentRecord {
            id: i.external_id,
            service: self.names.get(&i.service),
            environment: self.names.get(&i.environment),
            opened_at: i.opened_at,
            resolved_at: i.resolved_at,
            caused_by: i.caused_by,
        });
    }

    /// The report, with the policy's refusals and the audit log's state.
    pub fn finish(self, refusals: Option<PolicyRefusals>, audit: Option<AuditSummary>) -> Report {
        let mut report = build_report(&self.deployments, &self.incidents, self.query);
        report.refusals = refusals;
        report.audit = audit;
        report
    }
}

impl AuditSummary {
    /// The report's audit section of a verification.
    pub fn of(v: &AuditVerification) -> AuditSummary {
        match v {
            AuditVerification::Verified(v) => AuditSummary {
                verified: Verified::Yes,
                entries: Some(v.entries),
                root: Some(v.root.clone()),
                checkpoints: Some(v.checkpoints as u64),
                error: None,
                first_bad_entry: None,
                verified_from_entry: Some(v.verified_from_entry),
                last_full_verification: Some(v.last_full_verification),
                latest_checkpoint_size: v.latest_checkpoint.as_ref().map(|c| c.size),
                latest_checkpoint_root: v.latest_checkpoint.as_ref().map(|c| c.root.clone()),
            },
            AuditVerification::Failed(f) => AuditSummary {
                verified: Verified::No,
                entries: None,
                root: None,
                checkpoints: None,
                error: Some(f.error.clone()),
                first_bad_entry: f.index,
                verified_from_entry: None,
                last_full_verification: None,
                latest_checkpoint_size: None,
                latest_checkpoint_root: None,
            },
        }
    }
}

#[cfg(test)]
#[path = "assemble_tests.rs"]
mod tests;
