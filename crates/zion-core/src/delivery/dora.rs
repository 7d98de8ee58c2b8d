//! The five DORA metrics over a stream of deployments, each placed in its
//! 2024 performance cluster.
//!
//! Which deployments form the stream is the caller's choice: the headline
//! figures read production deployments; a per-environment breakdown reads
//! one environment's. Only deployments that were attempted (succeeded,
//! failed, rolled back) are part of a stream: cancelled, rejected and
//! expired ones never changed anything. A deployment belongs to a period by
//! its `finished_at`.
//!
//! - **Deployment frequency**: successful deployments per day the period
//!   lasted, `(until − since) / 86 400 s` (fractional: a period from 13:00
//!   to 13:00 thirty days later lasts 30 days, though it touches 31
//!   calendar days). Bucketed Four Keys' way by the median week: the
//!   period's calendar days (see [`Calendar`]) are cut into weeks of 7 days
//!   backwards from its last day, and into 30-day months the same way, so
//!   the most recent days always count; the incomplete oldest block is left
//!   out unless it is the only one (a period shorter than a week is judged
//!   on the days it has). **Daily** when the median number of days with a
//!   successful deployment per week is at least 3 (median: mean of the two
//!   middle weeks for an even count); else **weekly** when more than half
//!   of the weeks had one; else **monthly** when more than half of the
//!   months had one; else **yearly**.
//! - **Lead time for changes**: median of `finished_at − committed_at` over
//!   successful deployments that know their commit time; non-positive
//!   differences (clock skew, bad data) are ignored.
//! - **Change failure rate**: deployments that failed, were rolled back
//!   (automatically, with rollback info on the record, or by a rollback
//!   deployment: see [`super::reversal`]) or caused an incident (the
//!   record's flag, or an incident whose `caused_by` names it), over all
//!   attempted deployments. Each deployment counts once, however many of
//!   these apply.
//! - **Failed deployment recovery time**: median, over those failures, of
//!   the time from the failure to restored service:
//!   - failed or rolled back: from its `started_at` (the failing change
//!     took traffic from then) to its own `finished_at` (the rollback ended
//!     or the change never became healthy);
//!   - succeeded and then reversed by a rollback deployment: from its
//!     `finished_at` to the rollback's `finished_at`;
//!   - in both cases an incident blaming it (`caused_by`) that was resolved
//!     later moves the end to that resolution (the last one when several),
//!     and one still open means not restored yet;
//!   - succeeded and blamed for an incident (or flagged): until the last
//!     blaming incident is resolved (still open: not restored; resolved
//!     before it finished: 0), else until the next successful deployment of
//!     the same service and environment.
//!
//!   What restores service may fall after the period (a failure on its last
//!   day). A failure that was never restored is left out of the median.
//! - **Deployment rework rate**: hotfix and rollback deployments over all
//!   attempted deployments.
//!
//! Every figure is None when it has no data: no attempted deployment, no
//! lead-time sample, no restored failure.
//!
//! ## Clusters (DORA 2024)
//!
//! The 2024 report gives each cluster's typical value, not cut-offs, so the
//! boundaries here are a documented reading of it. A value exactly on a
//! boundary belongs to the slower cluster.
//!
//! | cluster | lead time | frequency bucket | failure rate | recovery |
//! |---------|-----------|------------------|--------------|----------|
//! | elite   | < 1 day   | daily            | ≤ 7.5%       | < 1 hour |
//! | high    | 1 day – < 1 week | weekly    | > 15% – ≤ 30% | 1 hour – < 1 day |
//! | medium  | 1 week – < 30 days | monthly | > 7.5% – ≤ 15% | (never: same band as high) |
//! | low     | ≥ 30 days | yearly           | > 30%        | ≥ 1 day  |
//!
//! - Frequency: the report's elite is "on demand (several a day)" and high
//!   "daily to weekly"; a history shows how often, not whether it was on
//!   demand, so as in Four Keys a daily bucket is elite.
//! - Failure rate: the report's typical rates are 5% elite, 20% high, 10%
//!   medium and 40% low (medium really is below high in 2024). A rate goes
//!   to the cluster whose typical rate is nearest; the cut-offs are the
//!   midpoints 7.5%, 15% and 30%, and a rate on a midpoint goes to the
//!   cluster with the lower typical rate.
//! - Recovery: high and medium share "less than one day"; the better one
//!   (high) is reported. The report leaves 1 day – 1 week unassigned; it is
//!   counted low.
//! - Rework rate: the 2024 report publishes no clusters for it, so its
//!   cluster is always None.

use std::collections::{HashMap, HashSet};

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::calendar::Calendar;
use super::record::{DeploymentRecord, DeploymentResult, IncidentRecord, RollbackInfo};
use super::reversal::{Reversals, Target, reversal_info, target};
use super::stats::{median, ratio};
use crate::deployment::DeploymentType;

const HOUR: f64 = 3600.0;
const DAY: f64 = 24.0 * HOUR;
const WEEK: f64 = 7.0 * DAY;
const MONTH: f64 = 30.0 * DAY;

/// A DORA 2024 performance cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Cluster {
    Elite,
    High,
    Medium,
    Low,
}

impl Cluster {
    /// The snake_case name.
    pub fn name(self) -> &'static str {
        match self {
            Cluster::Elite => "elite",
            Cluster::High => "high",
            Cluster::Medium => "medium",
            Cluster::Low => "low",
        }
    }
}

/// How often a stream deploys, by its median week (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FrequencyBucket {
    Daily,
    Weekly,
    Monthly,
    Yearly,
}

impl FrequencyBucket {
    /// The snake_case name.
    pub fn name(self) -> &'static str {
        match self {
            FrequencyBucket::Daily => "daily",
            FrequencyBucket::Weekly => "weekly",
            FrequencyBucket::Monthly => "monthly",
            FrequencyBucket::Yearly => "yearly",
        }
    }
}

/// Deployment frequency.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FrequencyFigure {
    /// Successful deployments per day the period lasted
    /// (`deployments / length_days`).
    pub value: f64,
    pub cluster: Cluster,
    pub bucket: FrequencyBucket,
    /// Successful deployments counted.
    pub deployments: u64,
    /// Calendar days in the period (a partial first or last day included);
    /// the bucket is judged on these.
    pub days: u64,
    /// How long the period lasted in days of 86 400 s, fractional.
    pub length_days: f64,
}

/// A median duration (lead time, recovery time), in seconds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DurationFigure {
    pub value: f64,
    pub cluster: Cluster,
    /// How many durations the median was taken over.
    pub samples: u64,
}

/// A share of attempted deployments, as a fraction.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RateFigure {
    pub value: f64,
    /// None when the 2024 report publishes no clusters for the metric.
    pub cluster: Option<Cluster>,
    /// The deployments counted in the numerator.
    pub count: u64,
    /// Attempted deployments (the denominator).
    pub deployments: u64,
}

/// The five metrics of one stream; each None when it has no data.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DoraMetrics {
    pub deployment_frequency: Option<FrequencyFigure>,
    pub lead_time_for_changes: Option<DurationFigure>,
    pub change_failure_rate: Option<RateFigure>,
    pub failed_deployment_recovery_time: Option<DurationFigure>,
    pub deployment_rework_rate: Option<RateFigure>,
}

impl DoraMetrics {
    /// True when not one metric has data.
    pub fn is_empty(&self) -> bool {
        self.deployment_frequency.is_none()
            && self.lead_time_for_changes.is_none()
            && self.change_failure_rate.is_none()
            && self.failed_deployment_recovery_time.is_none()
            && self.deployment_rework_rate.is_none()
    }
}

/// The cluster of a median lead time in seconds.
pub fn lead_time_cluster(seconds: f64) -> Cluster {
    if seconds < DAY {
        Cluster::Elite
    } else if seconds < WEEK {
        Cluster::High
    } else if seconds < MONTH {
        Cluster::Medium
    } else {
        Cluster::Low
    }
}

/// The cluster of a frequency bucket.
pub fn frequency_cluster(bucket: FrequencyBucket) -> Cluster {
    match bucket {
        FrequencyBucket::Daily => Cluster::Elite,
        FrequencyBucket::Weekly => Cluster::High,
        FrequencyBucket::Monthly => Cluster::Medium,
        FrequencyBucket::Yearly => Cluster::Low,
    }
}

/// The cluster of a change failure rate (a fraction).
pub fn change_failure_cluster(rate: f64) -> Cluster {
    if rate <= 0.075 {
        Cluster::Elite
    } else if rate <= 0.15 {
        Cluster::Medium
    } else if rate <= 0.30 {
        Cluster::High
    } else {
        Cluster::Low
    }
}

/// The cluster of a median recovery time in seconds.
pub fn recovery_cluster(seconds: f64) -> Cluster {
    if seconds < HOUR {
        Cluster::Elite
    } else if seconds < DAY {
        Cluster::High
    } else {
        Cluster::Low
    }
}

/// The frequency bucket of a period, given for each of its days whether a
/// successful deployment finished that day.
pub fn frequency_bucket(deploy_days: &[bool]) -> FrequencyBucket {
    // Deploy days per 7 days: a period shorter than a week is judged on its
    // rate, so that two busy days are not held to three deploy days.
    let mut per_week: Vec<f64> = blocks(deploy_days, 7)
        .map(|w| w.iter().filter(|d| **d).count() as f64 * 7.0 / w.len() as f64)
        .collect();
    let weeks_with = per_week.iter().filter(|n| **n > 0.0).count();
    let weeks = per_week.len();
    if median(&mut per_week).is_some_and(|m| m >= 3.0) {
        return FrequencyBucket::Daily;
    }
    if 2 * weeks_with > weeks {
        return FrequencyBucket::Weekly;
    }
    let months: Vec<bool> = blocks(deploy_days, 30).map(|m| m.contains(&true)).collect();
    if 2 * months.iter().filter(|m| **m).count() > months.len() {
        return FrequencyBucket::Monthly;
    }
    FrequencyBucket::Yearly
}

/// Consecutive blocks of `len` days cut backwards from the period's last
/// day, so the most recent days always sit in a whole block and the
/// incomplete block, if any, is the oldest. It is left out when there is a
/// whole block (a partial week would pull the median down), and kept when
/// it is the only one. Block order does not matter to the callers.
fn blocks(days: &[bool], len: usize) -> impl Iterator<Item = &[bool]> {
    let whole = days.rchunks_exact(len);
    let only_partial = (days.len() < len && !days.is_empty()).then_some(days);
    whole.chain(only_partial)
}

/// Whether and when the problems blamed on one deployment ended.
#[derive(Debug, Clone, Copy)]
struct Blame {
    /// The latest resolution among the incidents it caused.
    resolved: Option<Timestamp>,
    /// One of them is still open.
    open: bool,
}

/// What makes a deployment a failure, and what restored service after it:
/// its own end (an automatic rollback), the rollback deployment that
/// reversed it, the incidents it caused, or the target's next successful
/// deployment (see the module docs for the rule).
pub(crate) struct Recovery<'a> {
    deployments: &'a [DeploymentRecord],
    blame: HashMap<&'a str, Blame>,
    reversals: Reversals,
    /// Successful finishes per target, ascending; only for targets with a
    /// succeeded deployment that failed otherwise than by a reversal (an
    /// incident), whose restore may be the next success.
    successes: HashMap<Target<'a>, Vec<Timestamp>>,
}

impl<'a> Recovery<'a> {
    /// Indexes `incidents`, the reversals made by the rollback deployments
    /// of the stream, and the successes that may restore service. `stream`
    /// keeps the deployments a report reads (production, a filter); it must
    /// depend on the target only, since a deployment's rollback or its next
    /// success are of the same target. Successes and rollbacks are looked
    /// for in all of `deployments`, inside the period or not: a deployment
    /// on the period's last day may be reversed after it.
    pub(crate) fn new(
        deployments: &'a [DeploymentRecord],
        incidents: &'a [IncidentRecord],
        calendar: &Calendar,
        stream: impl Fn(&DeploymentRecord) -> bool,
    ) -> Recovery<'a> {
        let mut blame: HashMap<&str, Blame> = HashMap::new();
        for incident in incidents {
            let Some(cause) = incident.caused_by.as_deref() else {
                continue;
            };
            let entry = blame.entry(cause).or_insert(Blame {
                resolved: None,
                open: false,
            });
            match incident.resolved_at {
                Some(t) => entry.resolved = entry.resolved.max(Some(t)),
                None => entry.open = true,
            }
        }
        let caused = |r: &DeploymentRecord| {
            r.caused_incident || (!blame.is_empty() && blame.contains_key(r.id.as_str()))
        };
        let reversals = Reversals::find(deployments, &stream, Some(calendar.since()));
        // Targets of the stream's succeeded deployments in the period that
        // caused trouble but were not reversed (or brought rollback info of
        // their own): the next success there may be what restored service.
        let targets: HashSet<Target<'a>> = deployments
            .iter()
            .enumerate()
            .filter(|(i, r)| {
                r.result == DeploymentResult::Succeeded
                    && (caused(r) || r.rollback.is_some())
                    && reversals.by(*i).is_none()
                    && stream(r)
                    && calendar.day_of(r.finished_at).is_some()
            })
            .map(|(_, r)| target(r))
            .collect();
        let mut successes: HashMap<Target<'a>, Vec<Timestamp>> = HashMap::new();
        if !targets.is_empty() {
            for r in deployments {
                if r.result == DeploymentResult::Succeeded {
                    let key = target(r);
                    if targets.contains(&key) {
                        successes.entry(key).or_default().push(r.finished_at);
                    }
                }
            }
            for finishes in successes.values_mut() {
                finishes.sort_unstable();
            }
        }
        Recovery {
            deployments,
            blame,
            reversals,
            successes,
        }
    }

    /// An incident names `r` as its cause, or `r` says it caused one.
    pub(crate) fn caused_incident(&self, r: &DeploymentRecord) -> bool {
        r.caused_incident || (!self.blame.is_empty() && self.blame.contains_key(r.id.as_str()))
    }

    /// The rollback deployment that reversed deployment `i`.
    pub(crate) fn reversed_by(&self, i: usize) -> Option<&'a DeploymentRecord> {
        self.reversals.by(i).map(|rb| &self.deployments[rb])
    }

    /// How deployment `i` was rolled back: what its record says, else what
    /// the rollback deployment that reversed it says.
    pub(crate) fn rollback(&self, i: usize) -> Option<RollbackInfo> {
        let r = &self.deployments[i];
        r.rollback
            .or_else(|| self.reversed_by(i).map(reversal_info))
    }

    /// Attempted deployment `i` failed, was rolled back (by the controller
    /// or by a rollback deployment) or caused an incident.
    pub(crate) fn is_failure(&self, i: usize) -> bool {
        let r = &self.deployments[i];
        r.result.was_attempted()
            && (r.result.is_failure()
                || r.rollback.is_some()
                || self.reversals.by(i).is_some()
                || self.caused_incident(r))
    }

    /// Seconds from failure `i` to restored service; None when not restored
    /// (see the module docs).
    pub(crate) fn seconds(&self, i: usize) -> Option<f64> {
        let r = &self.deployments[i];
        let blame = if self.blame.is_empty() {
            None
        } else {
            self.blame.get(r.id.as_str())
        };
        if blame.is_some_and(|b| b.open) {
            return None;
        }
        let resolved = blame.and_then(|b| b.resolved);
        let (from, restored) = if r.result.is_failure() {
            // The failing change took traffic from its start until its own
            // end rolled it back (or it never became healthy).
            (r.started_at, r.finished_at)
        } else if let Some(rollback) = self.reversed_by(i) {
            // It served until the rollback deployment put the previous
            // version back.
            (r.finished_at, rollback.finished_at)
        } else {
            // Succeeded but caused trouble: restored when the incidents
            // were resolved, else by the target's next success.
            if let Some(resolved) = resolved {
                let s = resolved.duration_since(r.finished_at).as_secs_f64();
                return Some(s.max(0.0));
            }
            let finishes = self.successes.get(&target(r))?;
            let next = finishes.partition_point(|t| *t <= r.finished_at);
            let restored = finishes.get(next)?;
            return Some(restored.duration_since(r.finished_at).as_secs_f64());
        };
        // An incident resolved later still had users affected: service was
        // restored only then.
        let restored = resolved.map_or(restored, |t| t.max(restored));
        let s = restored.duration_since(from).as_secs_f64();
        // A clock that ran backwards (bad imported data) measures nothing.
        (s >= 0.0).then_some(s)
    }
}

/// Running totals for one stream; fed one deployment at a time.
#[derive(Debug, Clone, Default)]
pub(crate) struct DoraTally {
    /// Per calendar day: a successful deployment finished that day.
    deploy_days: Vec<bool>,
    succeeded: u64,
    attempted: u64,
    failures: u64,
    rework: u64,
    lead_times: Vec<f64>,
    recoveries: Vec<f64>,
}

impl DoraTally {
    /// Counts `r`, which finished on day `day` of the period. `failure` and
    /// `recovery` come from [`Recovery`], computed once per deployment for
    /// all the streams it belongs to.
    pub(crate) fn add(
        &mut self,
        r: &DeploymentRecord,
        day: usize,
        failure: bool,
        recovery: Option<f64>,
    ) {
        if !r.result.was_attempted() {
            return;
        }
        self.attempted += 1;
        if r.result == DeploymentResult::Succeeded {
            self.succeeded += 1;
            if self.deploy_days.len() <= day {
                self.deploy_days.resize(day + 1, false);
            }
            self.deploy_days[day] = true;
            if let Some(committed) = r.committed_at {
                let lead = r.finished_at.duration_since(committed).as_secs_f64();
                if lead > 0.0 {
                    self.lead_times.push(lead);
                }
            }
        }
        if failure {
            self.failures += 1;
            if let Some(seconds) = recovery {
                self.recoveries.push(seconds);
            }
        }
        if matches!(r.kind, DeploymentType::Hotfix | DeploymentType::Rollback) {
            self.rework += 1;
        }
    }

    /// The five metrics over a period of `days` calendar days lasting
    /// `length_days` days of 86 400 s (fractional when it starts or ends
    /// mid-day).
    pub(crate) fn finish(mut self, days: usize, length_days: f64) -> DoraMetrics {
        if self.attempted == 0 || days == 0 || length_days <= 0.0 {
            return DoraMetrics::default();
        }
        self.deploy_days.resize(days, false);
        let bucket = frequency_bucket(&self.deploy_days);
        let samples = |v: &Vec<f64>| v.len() as u64;
        let lead_samples = samples(&self.lead_times);
        let recovery_samples = samples(&self.recoveries);
        DoraMetrics {
            deployment_frequency: Some(FrequencyFigure {
                // Per day the period lasted, not per calendar day listed:
                // a partial first or last day would otherwise dilute it.
                value: self.succeeded as f64 / length_days,
                cluster: frequency_cluster(bucket),
                bucket,
                deployments: self.succeeded,
                days: days as u64,
                length_days,
            }),
            lead_time_for_changes: median(&mut self.lead_times).map(|value| DurationFigure {
                value,
                cluster: lead_time_cluster(value),
                samples: lead_samples,
            }),
            change_failure_rate: ratio(self.failures, self.attempted).map(|value| RateFigure {
                value,
                cluster: Some(change_failure_cluster(value)),
                count: self.failures,
                deployments: self.attempted,
            }),
            failed_deployment_recovery_time: median(&mut self.recoveries).map(|value| {
                DurationFigure {
                    value,
                    cluster: recovery_cluster(value),
                    samples: recovery_samples,
                }
            }),
            deployment_rework_rate: ratio(self.rework, self.attempted).map(|value| RateFigure {
                value,
                cluster: None,
                count: self.rework,
                deployments: self.attempted,
            }),
        }
    }
}

/// The five metrics over the production deployments that finished in
/// `calendar`'s period. Deployments outside the period still count as the
/// rollback or the success that restored service after a failure inside it.
pub fn dora_metrics(
    deployments: &[DeploymentRecord],
    incidents: &[IncidentRecord],
    calendar: &Calendar,
) -> DoraMetrics {
    let recovery = Recovery::new(deployments, incidents, calendar, |r| r.production);
    let mut tally = DoraTally::default();
    for (i, r) in deployments.iter().enumerate().filter(|(_, r)| r.production) {
        let Some(day) = calendar.day_of(r.finished_at) else {
            continue;
        };
        let failure = recovery.is_failure(i);
        let seconds = if failure { recovery.seconds(i) } else { None };
        tally.add(r, day, failure, seconds);
    }
    tally.finish(calendar.days(), calendar.length_days())
}
