//! Which deployment a rollback deployment reversed.
//!
//! A manual `zion rollback`, or an imported deployment of type `rollback`,
//! is a deployment of its own; the deployment it undid ended `succeeded`
//! and carries no trace of it. Without this pass that deployment would
//! count as a success everywhere, and the change failure rate would miss
//! exactly the failures a person had to step in for.
//!
//! The rule: a succeeded deployment of type `rollback` in a target (service,
//! environment) reverses the deployment that was live when it started, that
//! is the latest *succeeded* deployment of the same target that finished
//! before the rollback started (a rollback-type one included: rolling back
//! a rollback reverses it). One that finished at the very instant the
//! rollback started counts as before it: it was already serving, and
//! imported times to the second tie that way. When two rollbacks overlap
//! and find the same deployment, the one that finished first is the
//! reversal. A rollback whose clock ran backwards (it finished before it
//! started) is bad data and reverses nothing, so it cannot skew any figure.
//!
//! Cost: one pass to collect the rollbacks per target and sort them by
//! start, one pass over the records offering each success to the first
//! rollback that started at or after it finished (a binary search among
//! its target's rollbacks), and a running best over each target's
//! rollbacks: O(n log k) for k rollbacks, with memory for the rollbacks
//! only (plus 4 bytes a record once anything was reversed).

use std::collections::HashMap;

use jiff::Timestamp;

use super::record::{DeploymentRecord, DeploymentResult, RollbackInfo};
use crate::deployment::DeploymentType;

/// A (service, environment) pair.
pub(crate) type Target<'a> = (&'a str, &'a str);

pub(crate) fn target(r: &DeploymentRecord) -> Target<'_> {
    (&r.service, &r.environment)
}

/// A rollback deployment that can reverse something: of type rollback,
/// succeeded, and with a clock that ran forwards.
pub(crate) fn is_reversing(r: &DeploymentRecord) -> bool {
    r.kind == DeploymentType::Rollback
        && r.result == DeploymentResult::Succeeded
        && r.duration_seconds().is_some()
}

/// A success as a candidate for being reversed: the later finish wins, and
/// on a tie the later record, so the choice never depends on hash order.
type Candidate = (Timestamp, u32);

/// The two latest candidates seen. Two, because a rollback that took no
/// time finished as it started and is then its own latest candidate, which
/// it must skip.
#[derive(Debug, Clone, Copy, Default)]
struct Best([Option<Candidate>; 2]);

impl Best {
    fn offer(&mut self, c: Candidate) {
        if self.0[0].is_none_or(|b| c > b) {
            self.0[1] = self.0[0];
            self.0[0] = Some(c);
        } else if self.0[1].is_none_or(|b| c > b) {
            self.0[1] = Some(c);
        }
    }

    fn merge(&mut self, other: Best) {
        for c in other.0.into_iter().flatten() {
            self.offer(c);
        }
    }

    /// The latest candidate other than record `except`.
    fn latest_except(&self, except: u32) -> Option<u32> {
        self.0
            .into_iter()
            .flatten()
            .map(|(_, i)| i)
            .find(|i| *i != except)
    }
}

/// One target's rollbacks, by start.
#[derive(Default)]
struct TargetRollbacks {
    /// (started_at, index), ascending.
    by_start: Vec<Candidate>,
    /// `best[j]`: the latest successes that finished at or before rollback
    /// `j` started (after the running merge; before it, only those whose
    /// first such rollback is `j`).
    best: Vec<Best>,
}

/// For each record, the rollback deployment that reversed it, if any.
#[derive(Debug, Default)]
pub(crate) struct Reversals {
    /// Empty when nothing was reversed; else one entry per record, the
    /// reversing rollback's index or [`Reversals::NONE`]. A dense table
    /// rather than a map: the report asks about every record, and an array
    /// read is cheaper than a hash.
    by: Vec<u32>,
}

impl Reversals {
    const NONE: u32 = u32::MAX;

    /// Finds the reversals made by the rollback deployments of the targets
    /// `stream` keeps (a report on one service need not look at the
    /// others'; it must depend on the target only) that started after
    /// `after` (what a rollback reverses finished before it started, so one
    /// that started earlier reverses nothing a report counts).
    pub(crate) fn find(
        deployments: &[DeploymentRecord],
        stream: impl Fn(&DeploymentRecord) -> bool,
        after: Option<Timestamp>,
    ) -> Reversals {
        let mut targets: HashMap<Target<'_>, TargetRollbacks> = HashMap::new();
        for (i, r) in deployments.iter().enumerate() {
            // At `after` itself too: a deployment that finished at that
            // very instant is in the period, and was live when it started.
            if is_reversing(r) && after.is_none_or(|t| r.started_at >= t) && stream(r) {
                let t = targets.entry(target(r)).or_default();
                t.by_start.push((r.started_at, i as u32));
            }
        }
        if targets.is_empty() {
            return Reversals::default();
        }
        for t in targets.values_mut() {
            t.by_start.sort_unstable();
            t.best = vec![Best::default(); t.by_start.len()];
        }
        // Each success goes to the first rollback that started at or after
        // it finished; the running merge below hands it on to every later
        // one. A success that finished at the very instant a rollback
        // started was already serving: it counts as before it.
        for (i, r) in deployments.iter().enumerate() {
            // The stream's test is cheaper than hashing the target.
            if r.result != DeploymentResult::Succeeded || !stream(r) {
                continue;
            }
            let Some(t) = targets.get_mut(&target(r)) else {
                continue;
            };
            let first = t.by_start.partition_point(|(s, _)| *s < r.finished_at);
            if let Some(best) = t.best.get_mut(first) {
                best.offer((r.finished_at, i as u32));
            }
        }
        let mut pairs: Vec<(Candidate, u32)> = Vec::new();
        for t in targets.values_mut() {
            for j in 1..t.best.len() {
                let before = t.best[j - 1];
                t.best[j].merge(before);
            }
            for (&(_, rb), best) in t.by_start.iter().zip(&t.best) {
                if let Some(reversed) = best.latest_except(rb) {
                    let done = deployments[rb as usize].finished_at;
                    pairs.push(((done, rb), reversed));
                }
            }
        }
        if pairs.is_empty() {
            return Reversals::default();
        }
        // In finishing order, so that of two overlapping rollbacks finding
        // the same deployment the first to restore service is the one kept.
        pairs.sort_unstable();
        let mut by = vec![Reversals::NONE; deployments.len()];
        for ((_, rb), reversed) in pairs {
            let slot = &mut by[reversed as usize];
            if *slot == Reversals::NONE {
                *slot = rb;
            }
        }
        Reversals { by }
    }

    /// The index of the rollback deployment that reversed record `i`.
    pub(crate) fn by(&self, i: usize) -> Option<usize> {
        match self.by.get(i) {
            Some(&rb) if rb != Reversals::NONE => Some(rb as usize),
            _ => None,
        }
    }

    /// Every (reversed, rollback) pair, in record order.
    fn pairs(&self) -> impl Iterator<Item = (usize, usize)> + '_ {
        (0..self.by.len()).filter_map(|i| self.by(i).map(|rb| (i, rb)))
    }
}

/// The rollback a reversal records on the reversed deployment: decided by a
/// person (a rollback deployment is asked for, never the controller's own
/// move) and as long as the rollback deployment took.
pub(crate) fn reversal_info(rollback: &DeploymentRecord) -> RollbackInfo {
    RollbackInfo {
        automatic: false,
        seconds: rollback.duration_seconds().unwrap_or(0.0),
    }
}

/// Marks every deployment a rollback deployment reversed (see the module
/// docs) with `rollback = Some(RollbackInfo { automatic: false, seconds:
/// <the rollback's duration> })`, unless it already has rollback info.
/// Running it twice changes nothing more.
///
/// [`super::build_report`] and [`super::dora_metrics`] find the same
/// reversals themselves (they borrow the records and cannot mark them), so
/// calling this first is not needed for the figures and does not change
/// them; it is for a caller that keeps or shows the records.
pub fn mark_reversals(deployments: &mut [DeploymentRecord]) {
    let reversals = Reversals::find(deployments, |_| true, None);
    let pairs: Vec<(usize, RollbackInfo)> = reversals
        .pairs()
        .map(|(i, rb)| (i, reversal_info(&deployments[rb])))
        .collect();
    for (i, info) in pairs {
        let r = &mut deployments[i];
        if r.rollback.is_none() {
            r.rollback = Some(info);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::delivery::test_support::*;
    use DeploymentResult::*;
    use DeploymentType::*;

    /// The ids marked, with the rollback info each now carries.
    fn marked(records: &[DeploymentRecord]) -> Vec<(&str, bool, f64)> {
        records
            .iter()
            .filter_map(|r| r.rollback.map(|i| (r.id.as_str(), i.automatic, i.seconds)))
            .collect()
    }

    #[test]
    fn a_rollback_reverses_the_latest_success_of_its_target() {
        let web = |id, kind, result, at, s| dep(id, "web", "production", kind, result, at, s);
        let mut records = vec![
            web("#1", Feature, Succeeded, "2026-03-02T10:00:00Z", 60),
            web("#2", Feature, Succeeded, "2026-03-02T11:00:00Z", 60),
            // Failed: never live, so never what a rollback reverses.
            web("#3", Feature, Failed, "2026-03-02T11:30:00Z", 60),
            // Other targets, finished later but before #4 started.
            dep(
                "gh-9",
                "api",
                "production",
                Feature,
                Succeeded,
                "2026-03-02T11:50:00Z",
                60,
            ),
            dep(
                "#5",
                "web",
                "staging",
                Feature,
                Succeeded,
                "2026-03-02T11:55:00Z",
                60,
            ),
            // 12:00 – 12:02: reverses #2 (120 s).
            web("#4", Rollback, Succeeded, "2026-03-02T12:02:00Z", 120),
            // 13:00 – 13:01: reverses the rollback #4 (60 s).
            web("#6", Rollback, Succeeded, "2026-03-02T13:01:00Z", 60),
            // A rollback that failed reverses nothing.
            web("#7", Rollback, Failed, "2026-03-02T14:01:00Z", 60),
            // #8 already knows how it was rolled back: kept as it is, though
            // #9 (15:10 – 15:11) reverses it.
            web("#8", Feature, Succeeded, "2026-03-02T15:00:00Z", 60).rollback(true, 5.0),
            web("#9", Rollback, Succeeded, "2026-03-02T15:11:00Z", 60),
            // Two overlapping rollbacks both find #10 (#11 16:10 – 16:30,
            // #12 16:20 – 16:25): #12 finished first and is the reversal
            // (300 s); #11, done later, reverses nothing more.
            web("#10", Feature, Succeeded, "2026-03-02T16:00:00Z", 60),
            web("#11", Rollback, Succeeded, "2026-03-02T16:30:00Z", 1200),
            web("#12", Rollback, Succeeded, "2026-03-02T16:25:00Z", 300),
            // Finished at 17:00:00 exactly as #14 started: reversed (90 s).
            web("#13", Feature, Succeeded, "2026-03-02T17:00:00Z", 60),
            web("#14", Rollback, Succeeded, "2026-03-02T17:01:30Z", 90),
        ];
        mark_reversals(&mut records);
        assert_eq!(
            marked(&records),
            [
                ("#2", false, 120.0),
                ("#4", false, 60.0),
                ("#8", true, 5.0),
                ("#10", false, 300.0),
                ("#13", false, 90.0),
            ]
        );
        // Twice is once.
        let again = records.clone();
        mark_reversals(&mut records);
        assert_eq!(records, again);
    }

    #[test]
    fn a_rollback_starting_as_the_period_starts_counts() {
        let web = |id, kind, result, at, s| dep(id, "web", "production", kind, result, at, s);
        // #1 finished at the period's first instant, and #2 started then.
        let records = vec![
            web("#1", Feature, Succeeded, "2026-03-01T00:00:00Z", 60),
            web("#2", Rollback, Succeeded, "2026-03-01T00:02:00Z", 120),
        ];
        let since: Timestamp = "2026-03-01T00:00:00Z".parse().unwrap();
        let found = Reversals::find(&records, |_| true, Some(since));
        assert_eq!(found.by.first(), Some(&1), "{found:?}");
        // Started before the period: nothing it reverses is counted.
        let later: Timestamp = "2026-03-01T00:00:01Z".parse().unwrap();
        assert!(
            Reversals::find(&records, |_| true, Some(later))
                .by
                .is_empty()
        );
    }

    #[test]
    fn bad_clocks_and_lone_rollbacks_reverse_nothing() {
        let web = |id, kind, result, at, s| dep(id, "web", "production", kind, result, at, s);
        let mut backwards = web("#2", Rollback, Succeeded, "2026-03-02T12:00:00Z", 60);
        std::mem::swap(&mut backwards.started_at, &mut backwards.finished_at);
        let mut records = vec![
            web("#1", Feature, Succeeded, "2026-03-02T10:00:00Z", 60),
            // Finished before it started: bad data.
            backwards,
            // A rollback with nothing before it, taking no time: it does
            // not reverse itself.
            web("#3", Rollback, Succeeded, "2026-03-01T10:00:00Z", 0),
        ];
        mark_reversals(&mut records);
        assert_eq!(marked(&records), []);
        mark_reversals(&mut []);
    }
}
