//! The deployment report: what happened over a period, as figures Zion
//! measured from its records and nothing else.
//!
//! Definitions used throughout:
//!
//! - A deployment belongs to the period when its `finished_at` is in
//!   `[since, until)`; it is counted on the calendar day (in the query's
//!   time zone) of that instant.
//! - **Attempted** deployments are those whose new version was started:
//!   succeeded, failed and rolled back. The **success rate** is succeeded
//!   over attempted; cancelled, rejected and expired deployments were
//!   stopped before anything ran and are counted but never rated.
//! - A **duration** is `finished_at − started_at` of a *succeeded*
//!   deployment: how long delivering a change took. Failed and rolled-back
//!   deployments stop early (or include the rollback) and would flatter or
//!   blur it.
//! - **Percentiles** are nearest-rank: the value of rank ⌈p/100 × n⌉ in
//!   ascending order, always a measured duration. Medians use the mean of
//!   the two middle values for an even count.
//!
//! A section with nothing to measure is None, never a zero or a NaN.

use std::collections::HashMap;

use jiff::tz::TimeZone;

use super::calendar::Calendar;
use super::dora::{DoraTally, Recovery};
use super::record::{DeploymentRecord, DeploymentResult, IncidentRecord, RollbackInfo};
use super::stats::{mean, median, percentile_nearest_rank, ratio};
use crate::deployment::{DeploymentType, PlanKind};

pub use super::report_model::{
    Approvals, AuditSummary, DayCount, DoraBreakdown, DurationExtreme, EnvironmentDora,
    EnvironmentStats, Frequency, HistogramBin, MonthTrend, PeriodInfo, PolicyRefusals,
    QualityGateStats, Report, ReportQuery, Rollbacks, ServiceDora, Speed, StrategyStats, Summary,
    TypeStats, Verified,
};

/// Counts shared by every breakdown.
#[derive(Debug, Clone, Copy, Default)]
struct Counts {
    deployments: u64,
    attempted: u64,
    succeeded: u64,
    duration_sum: f64,
    durations: u64,
}

impl Counts {
    fn add(&mut self, r: &DeploymentRecord, duration: Option<f64>) {
        self.deployments += 1;
        if r.result.was_attempted() {
            self.attempted += 1;
        }
        if r.result == DeploymentResult::Succeeded {
            self.succeeded += 1;
        }
        if let Some(d) = duration {
            self.duration_sum += d;
            self.durations += 1;
        }
    }

    fn success_rate(&self) -> Option<f64> {
        ratio(self.succeeded, self.attempted)
    }

    fn mean_duration(&self) -> Option<f64> {
        (self.durations > 0).then(|| self.duration_sum / self.durations as f64)
    }
}

/// Per-environment running totals.
#[derive(Default)]
struct EnvironmentTally {
    production: bool,
    counts: Counts,
    dora: DoraTally,
}

fn type_index(kind: DeploymentType) -> usize {
    match kind {
        DeploymentType::Feature => 0,
        DeploymentType::Hotfix => 1,
        DeploymentType::Config => 2,
        DeploymentType::Rollback => 3,
    }
}

const TYPES: [DeploymentType; 4] = [
    DeploymentType::Feature,
    DeploymentType::Hotfix,
    DeploymentType::Config,
    DeploymentType::Rollback,
];

fn strategy_index(strategy: PlanKind) -> usize {
    match strategy {
        PlanKind::Canary => 0,
        PlanKind::BlueGreen => 1,
        PlanKind::Rolling => 2,
        PlanKind::Direct => 3,
    }
}

/// The table's rows in order: the progressive strategies, then the direct
/// switches.
const STRATEGIES: [PlanKind; 4] = [
    PlanKind::Canary,
    PlanKind::BlueGreen,
    PlanKind::Rolling,
    PlanKind::Direct,
];

/// The name a report prints for a time zone.
fn time_zone_name(tz: &TimeZone) -> String {
    if let Some(name) = tz.iana_name() {
        return name.to_string();
    }
    match tz.to_fixed_offset() {
        Ok(offset) => offset.to_string(),
        Err(_) => "custom".to_string(),
    }
}

/// Builds the report over `deployments` (every terminal deployment known;
/// those outside the period or the filters are skipped, but may still be the
/// success that restored service) and `incidents`.
///
/// Time is O(n log n) in the deployments plus O(days); memory is a few
/// words per deployment in the period.
pub fn build_report(
    deployments: &[DeploymentRecord],
    incidents: &[IncidentRecord],
    query: &ReportQuery,
) -> Report {
    let cal = Calendar::new(query.since, query.until, &query.tz);
    let wanted = |r: &DeploymentRecord| {
        query
            .environment
            .as_deref()
            .is_none_or(|e| *r.environment == *e)
            && query.service.as_deref().is_none_or(|s| *r.service == *s)
    };
    // Index and day of every deployment in the report, found once.
    let picked: Vec<(u32, u32)> = deployments
        .iter()
        .enumerate()
        .filter(|(_, r)| wanted(r))
        .filter_map(|(i, r)| Some((i as u32, cal.day_of(r.finished_at)? as u32)))
        .collect();
    // Reversals by rollback deployments are found here, before any tally,
    // so that every section sees a reversed deployment as rolled back.
    let recovery = Recovery::new(deployments, incidents, &cal, wanted);

    let days = cal.days();
    let length_days = cal.length_days();
    let mut by_result = [0u64; DeploymentResult::ALL.len()];
    let mut production = 0u64;
    let mut by_type = [Counts::default(); 4];
    let mut by_strategy = [(Counts::default(), 0u64); STRATEGIES.len()];
    let mut per_day = vec![(0u64, 0u64); days];
    let mut per_month = vec![Counts::default(); cal.months().len()];
    // Each month's production DORA figures, fed in the same pass as the
    // headline ones (a day is counted from the month's first day).
    let mut month_dora = vec![DoraTally::default(); cal.months().len()];
    let mut environments: HashMap<&str, EnvironmentTally> = HashMap::new();
    let mut services: HashMap<&str, DoraTally> = HashMap::new();
    let mut headline = DoraTally::default();
    let mut durations: Vec<f64> = Vec::new();
    let mut fastest: Option<(f64, u32)> = None;
    let mut slowest: Option<(f64, u32)> = None;
    let mut rollbacks = RollbackTally::default();
    let mut approvals = ApprovalTally::default();
    let mut gates = GateTally::default();

    for &(index, day) in &picked {
        let r = &deployments[index as usize];
        let day = day as usize;
        let result_slot = DeploymentResult::ALL
            .iter()
            .position(|x| *x == r.result)
            .unwrap_or(0);
        by_result[result_slot] += 1;
        let duration = if r.result == DeploymentResult::Succeeded {
            r.duration_seconds()
        } else {
            None
        };
        if let Some(d) = duration {
            durations.push(d);
            if fastest.is_none_or(|(f, _)| d < f) {
                fastest = Some((d, index));
            }
            if slowest.is_none_or(|(s, _)| d > s) {
                slowest = Some((d, index));
            }
        }
        by_type[type_index(r.kind)].add(r, duration);
        if let Some(strategy) = r.strategy {
            let slot = &mut by_strategy[strategy_index(strategy)];
            slot.0.add(r, duration);
            if r.result.was_attempted() {
                slot.1 += u64::from(r.analysis_rounds);
            }
        }
        let today = &mut per_day[day];
        today.0 += 1;
        if r.result == DeploymentResult::Succeeded {
            today.1 += 1;
        }
        let month = cal.month_of_day(day);
        per_month[month].add(r, duration);

        let failure = recovery.is_failure(index as usize);
        let restored = if failure {
            recovery.seconds(index as usize)
        } else {
            None
        };
        let env = environments.entry(&r.environment).or_default();
        env.production |= r.production;
        env.counts.add(r, duration);
        env.dora.add(r, day, failure, restored);
        if r.production {
            production += 1;
            headline.add(r, day, failure, restored);
            let first_day = cal.month_days(month).start;
            month_dora[month].add(r, day - first_day, failure, restored);
            services
                .entry(&r.service)
                .or_default()
                .add(r, day, failure, restored);
        }
        rollbacks.add(
            r,
            recovery.rollback(index as usize),
            recovery.reversed_by(index as usize).is_some(),
        );
        approvals.add(r);
        gates.add(r);
    }

    let total = picked.len() as u64;
    let count_of = |result: DeploymentResult| {
        by_result[DeploymentResult::ALL
            .iter()
            .position(|x| *x == result)
            .unwrap_or(0)]
    };
    let attempted = count_of(DeploymentResult::Succeeded)
        + count_of(DeploymentResult::Failed)
        + count_of(DeploymentResult::RolledBack);
    let summary = (total > 0).then(|| Summary {
        total,
        attempted,
        succeeded: count_of(DeploymentResult::Succeeded),
        failed: count_of(DeploymentResult::Failed),
        rolled_back: count_of(DeploymentResult::RolledBack),
        cancelled: count_of(DeploymentResult::Cancelled),
        rejected: count_of(DeploymentResult::Rejected),
        expired: count_of(DeploymentResult::Expired),
        production,
        success_rate: ratio(count_of(DeploymentResult::Succeeded), attempted),
    });
    let share = |n: u64| n as f64 / total as f64;

    let mut env_names: Vec<&str> = environments.keys().copied().collect();
    env_names.sort_unstable();
    let mut env_stats = Vec::with_capacity(env_names.len());
    let mut env_dora = Vec::new();
    for name in env_names {
        let Some(tally) = environments.remove(name) else {
            continue;
        };
        env_stats.push(EnvironmentStats {
            environment: name.to_string(),
            production: tally.production,
            deployments: tally.counts.deployments,
            share: share(tally.counts.deployments),
            attempted: tally.counts.attempted,
            succeeded: tally.counts.succeeded,
            success_rate: tally.counts.success_rate(),
            mean_duration_seconds: tally.counts.mean_duration(),
        });
        let metrics = tally.dora.finish(days, length_days);
        if !metrics.is_empty() {
            env_dora.push(EnvironmentDora {
                environment: name.to_string(),
                production: tally.production,
                metrics,
            });
        }
    }
    let mut service_names: Vec<&str> = services.keys().copied().collect();
    service_names.sort_unstable();
    let mut service_dora = Vec::new();
    for name in service_names {
        let Some(tally) = services.remove(name) else {
            continue;
        };
        let metrics = tally.finish(days, length_days);
        if !metrics.is_empty() {
            service_dora.push(ServiceDora {
                service: name.to_string(),
                metrics,
            });
        }
    }

    let types: Vec<TypeStats> = TYPES
        .iter()
        .zip(by_type.iter())
        .filter(|(_, c)| c.deployments > 0)
        .map(|(kind, c)| TypeStats {
            kind: *kind,
            deployments: c.deployments,
            share: share(c.deployments),
            attempted: c.attempted,
            succeeded: c.succeeded,
            success_rate: c.success_rate(),
        })
        .collect();
    let strategies: Vec<StrategyStats> = STRATEGIES
        .iter()
        .zip(by_strategy.iter())
        .filter(|(_, (c, _))| c.deployments > 0)
        .map(|(strategy, (c, rounds))| StrategyStats {
            strategy: *strategy,
            deployments: c.deployments,
            attempted: c.attempted,
            succeeded: c.succeeded,
            success_rate: c.success_rate(),
            mean_analysis_rounds: ratio(*rounds, c.attempted),
        })
        .collect();

    let frequency = (total > 0 && days > 0 && length_days > 0.0).then(|| {
        let per_day: Vec<DayCount> = per_day
            .iter()
            .enumerate()
            .map(|(i, (n, ok))| DayCount {
                date: cal.date(i),
                deployments: *n,
                succeeded: *ok,
                partial: !cal.is_whole_day(i),
            })
            .collect();
        // max_by_key keeps the last maximum; scanning in reverse makes it
        // the earliest day instead. min_by_key keeps the first minimum.
        let peak = per_day.iter().rev().max_by_key(|d| d.deployments).cloned();
        let any_whole = per_day.iter().any(|d| !d.partial);
        let lowest = per_day
            .iter()
            .filter(|d| !any_whole || !d.partial)
            .min_by_key(|d| d.deployments)
            .cloned();
        Frequency {
            days: days as u64,
            length_days,
            // Per day the period lasted: its partial end days are listed
            // whole above, but an hour of a day holds an hour's deployments.
            daily_average: total as f64 / length_days,
            peak: peak.unwrap_or_else(|| per_day[0].clone()),
            lowest: lowest.unwrap_or_else(|| per_day[0].clone()),
            per_day,
        }
    });

    let extreme = |(seconds, index): (f64, u32)| {
        let r = &deployments[index as usize];
        DurationExtreme {
            seconds,
            id: r.id.clone(),
            service: r.service.to_string(),
            environment: r.environment.to_string(),
            kind: r.kind,
        }
    };
    let speed = match (fastest, slowest) {
        (Some(fast), Some(slow)) => {
            let mean_seconds = mean(&durations).unwrap_or(fast.0);
            let histogram = histogram(&durations, fast.0, slow.0);
            let p50 = percentile_nearest_rank(&mut durations, 50).unwrap_or(fast.0);
            let p95 = percentile_nearest_rank(&mut durations, 95).unwrap_or(slow.0);
            Some(Speed {
                measured: durations.len() as u64,
                mean_seconds,
                fastest: extreme(fast),
                slowest: extreme(slow),
                p50_seconds: p50,
                p95_seconds: p95,
                histogram,
            })
        }
        _ => None,
    };

    let trends = (total > 0).then(|| {
        cal.months()
            .iter()
            .zip(per_month.iter())
            .zip(month_dora)
            .enumerate()
            .map(|(m, ((month, c), dora))| {
                let month_days = cal.month_days(m);
                MonthTrend {
                    month: format!("{:04}-{:02}", month.year(), month.month()),
                    deployments: c.deployments,
                    attempted: c.attempted,
                    succeeded: c.succeeded,
                    success_rate: c.success_rate(),
                    mean_duration_seconds: c.mean_duration(),
                    dora: dora.finish(month_days.len(), cal.length_days_of(month_days)),
                }
            })
            .collect()
    });

    let dora = (!service_dora.is_empty() || !env_dora.is_empty()).then_some(DoraBreakdown {
        by_service: service_dora,
        by_environment: env_dora,
    });
    let headline = headline.finish(days, length_days);

    Report {
        period: PeriodInfo {
            since: query.since,
            until: query.until,
            time_zone: time_zone_name(&query.tz),
            days: days as u64,
            environment: query.environment.clone(),
            service: query.service.clone(),
        },
        total_deployments: total,
        deployment_frequency: headline.deployment_frequency,
        lead_time_for_changes: headline.lead_time_for_changes,
        change_failure_rate: headline.change_failure_rate,
        failed_deployment_recovery_time: headline.failed_deployment_recovery_time,
        deployment_rework_rate: headline.deployment_rework_rate,
        summary,
        environments: non_empty(env_stats),
        types: non_empty(types),
        strategies: non_empty(strategies),
        frequency,
        speed,
        rollbacks: rollbacks.finish(attempted),
        approvals: approvals.finish(),
        quality_gates: gates.finish(),
        dora,
        trends,
        audit: None,
        refusals: None,
        slos: None,
    }
}

/// None for an empty list: a section with no rows has no data.
fn non_empty<T>(v: Vec<T>) -> Option<Vec<T>> {
    (!v.is_empty()).then_some(v)
}

/// Bin widths a reader takes in at a glance, in seconds: round seconds,
/// minutes, hours, then whole days.
const NICE_WIDTHS: [f64; 18] = [
    1.0, 2.0, 5.0, 10.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 900.0, 1800.0, 3600.0, 7200.0,
    10800.0, 21600.0, 43200.0, 86400.0,
];
const MAX_BINS: usize = 20;

/// Durations in equal bins of the narrowest nice width that needs at most
/// [`MAX_BINS`] bins between `min` and `max`.
fn histogram(durations: &[f64], min: f64, max: f64) -> Vec<HistogramBin> {
    let bins_for = |w: f64| ((max / w).floor() - (min / w).floor()) as usize + 1;
    let mut width = NICE_WIDTHS
        .iter()
        .copied()
        .find(|w| bins_for(*w) <= MAX_BINS)
        .unwrap_or(86400.0);
    while bins_for(width) > MAX_BINS {
        width *= 2.0;
    }
    let start = (min / width).floor() * width;
    let n = bins_for(width);
    let mut counts = vec![0u64; n];
    for d in durations {
        let i = (((d - start) / width).floor() as usize).min(n - 1);
        counts[i] += 1;
    }
    counts
        .into_iter()
        .enumerate()
        .map(|(i, deployments)| HistogramBin {
            from_seconds: start + i as f64 * width,
            to_seconds: start + (i + 1) as f64 * width,
            deployments,
        })
        .collect()
}

#[derive(Default)]
struct RollbackTally {
    count: u64,
    automatic: u64,
    manual: u64,
    unknown: u64,
    succeeded: u64,
    seconds: Vec<f64>,
    rollback_deployments: u64,
    rollback_deployments_succeeded: u64,
}

impl RollbackTally {
    /// `rollback` is how `r` was rolled back, from its record or from the
    /// rollback deployment that reversed it (`reversed`); each deployment
    /// is counted once whichever it was.
    fn add(&mut self, r: &DeploymentRecord, rollback: Option<RollbackInfo>, reversed: bool) {
        if r.kind == DeploymentType::Rollback {
            self.rollback_deployments += 1;
            if r.result == DeploymentResult::Succeeded {
                self.rollback_deployments_succeeded += 1;
            }
        }
        if r.result != DeploymentResult::RolledBack && rollback.is_none() {
            return;
        }
        self.count += 1;
        // A reversal is made only by a rollback deployment that succeeded:
        // the previous version came back.
        if r.result == DeploymentResult::RolledBack || reversed {
            self.succeeded += 1;
        }
        match rollback {
            Some(info) => {
                if info.automatic {
                    self.automatic += 1;
                } else {
                    self.manual += 1;
                }
                if info.seconds >= 0.0 {
                    self.seconds.push(info.seconds);
                }
            }
            None => self.unknown += 1,
        }
    }

    fn finish(mut self, attempted: u64) -> Option<Rollbacks> {
        if self.count == 0 && self.rollback_deployments == 0 {
            return None;
        }
        Some(Rollbacks {
            count: self.count,
            share: ratio(self.count, attempted),
            automatic: self.automatic,
            manual: self.manual,
            trigger_unknown: self.unknown,
            timed: self.seconds.len() as u64,
            mean_seconds: mean(&self.seconds),
            median_seconds: median(&mut self.seconds),
            succeeded: self.succeeded,
            success_rate: ratio(self.succeeded, self.count),
            rollback_deployments: self.rollback_deployments,
            rollback_deployments_succeeded: self.rollback_deployments_succeeded,
        })
    }
}

#[derive(Default)]
struct ApprovalTally {
    waits: Vec<f64>,
    rejected: u64,
    expired: u64,
}

impl ApprovalTally {
    fn add(&mut self, r: &DeploymentRecord) {
        if let Some(wait) = r.approval_wait_seconds.filter(|w| *w >= 0.0) {
            self.waits.push(wait);
        }
        match r.result {
            DeploymentResult::Rejected => self.rejected += 1,
            DeploymentResult::Expired => self.expired += 1,
            _ => {}
        }
    }

    fn finish(mut self) -> Option<Approvals> {
        if self.waits.is_empty() && self.rejected == 0 && self.expired == 0 {
            return None;
        }
        Some(Approvals {
            with_approval: self.waits.len() as u64,
            mean_wait_seconds: mean(&self.waits),
            longest_wait_seconds: self.waits.iter().copied().reduce(f64::max),
            median_wait_seconds: median(&mut self.waits),
            rejected: self.rejected,
            expired: self.expired,
        })
    }
}

#[derive(Default)]
struct GateTally {
    with_evidence: u64,
    passed: u64,
    coverage_sum: f64,
    coverage_samples: u64,
    tests_sum: f64,
    tests_samples: u64,
    findings_error: Option<u64>,
    findings_warning: Option<u64>,
}

impl GateTally {
    fn add(&mut self, r: &DeploymentRecord) {
        let Some(g) = r.gates.as_deref() else {
            return;
        };
        self.with_evidence += 1;
        if g.passed {
            self.passed += 1;
        }
        if let Some(c) = g.coverage {
            self.coverage_sum += c;
            self.coverage_samples += 1;
        }
        if let Some(t) = g.tests_passed_ratio {
            self.tests_sum += t;
            self.tests_samples += 1;
        }
        if let Some(n) = g.findings_error {
            *self.findings_error.get_or_insert(0) += n;
        }
        if let Some(n) = g.findings_warning {
            *self.findings_warning.get_or_insert(0) += n;
        }
    }

    fn finish(self) -> Option<QualityGateStats> {
        (self.with_evidence > 0).then(|| QualityGateStats {
            with_evidence: self.with_evidence,
            passed: self.passed,
            failed: self.with_evidence - self.passed,
            pass_rate: self.passed as f64 / self.with_evidence as f64,
            mean_coverage: (self.coverage_samples > 0)
                .then(|| self.coverage_sum / self.coverage_samples as f64),
            coverage_samples: self.coverage_samples,
            mean_tests_passed_ratio: (self.tests_samples > 0)
                .then(|| self.tests_sum / self.tests_samples as f64),
            tests_samples: self.tests_samples,
            findings_error: self.findings_error,
            findings_warning: self.findings_warning,
        })
    }
}
