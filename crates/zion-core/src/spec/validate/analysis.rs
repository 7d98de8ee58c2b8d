//! A service's `analysis:`: how often rounds are judged, when to roll back,
//! and the checks every round applies.

use std::time::Duration;

use super::{Report, at, suggest, text};
use crate::metrics::Metric;
use crate::spec::ranges;
use crate::spec::raw::{RawAnalysis, RawCheck, Text, keys};
use crate::spec::{AnalysisSpec, Bound, Check};

// Defaults, as documented on the model.
const DEFAULT_ANALYSIS_INTERVAL: Duration = Duration::from_secs(5);
const DEFAULT_FAILURE_LIMIT: u32 = 2;
const DEFAULT_MIN_REQUESTS: u64 = 20;

pub(super) fn analysis(r: &mut Report, p: &str, raw: Option<&RawAnalysis>) -> AnalysisSpec {
    let defaults = || AnalysisSpec {
        interval: DEFAULT_ANALYSIS_INTERVAL,
        failure_limit: DEFAULT_FAILURE_LIMIT,
        min_requests: DEFAULT_MIN_REQUESTS,
        inconclusive_limit: AnalysisSpec::DEFAULT_INCONCLUSIVE_LIMIT,
        checks: AnalysisSpec::default_checks(),
    };
    let Some(raw) = raw else { return defaults() };
    r.unknown(p, &raw.unknown, keys::ANALYSIS);
    let interval = r.duration(
        &at(p, "interval"),
        raw.interval.as_ref(),
        DEFAULT_ANALYSIS_INTERVAL,
        ranges::ANALYSIS_INTERVAL,
    );
    let failure_limit = match raw.failure_limit {
        None => DEFAULT_FAILURE_LIMIT,
        Some(n) => u32::try_from(n)
            .ok()
            .filter(|n| *n >= 1)
            .unwrap_or_else(|| {
                r.add(
                    at(p, "failure_limit"),
                    format!("{n} is not a failure limit: use 1 or more consecutive failed rounds"),
                );
                DEFAULT_FAILURE_LIMIT
            }),
    };
    let min_requests = match raw.min_requests {
        None => DEFAULT_MIN_REQUESTS,
        Some(n) => u64::try_from(n).unwrap_or_else(|_| {
            r.add(
                at(p, "min_requests"),
                format!("{n} is negative: use 0 or more requests"),
            );
            DEFAULT_MIN_REQUESTS
        }),
    };
    let inconclusive_limit = inconclusive_limit(
        r,
        &at(p, "inconclusive_limit"),
        raw.inconclusive_limit.as_ref(),
    );
    let checks = match &raw.checks {
        None => AnalysisSpec::default_checks(),
        Some(list) => list
            .iter()
            .enumerate()
            .filter_map(|(k, c)| check(r, &format!("{p}.checks[{k}]"), c))
            .collect(),
    };
    AnalysisSpec {
        interval,
        failure_limit,
        min_requests,
        inconclusive_limit,
        checks,
    }
}

/// `analysis.inconclusive_limit`: a duration within its range.
fn inconclusive_limit(r: &mut Report, p: &str, raw: Option<&Text>) -> Duration {
    let default = AnalysisSpec::DEFAULT_INCONCLUSIVE_LIMIT;
    r.duration(p, raw, default, ranges::INCONCLUSIVE_LIMIT)
}

fn check(r: &mut Report, p: &str, raw: &RawCheck) -> Option<Check> {
    r.unknown(p, &raw.unknown, keys::CHECK);
    let metric = match text(raw.metric.as_ref()) {
        None => {
            r.add(
                at(p, "metric"),
                format!("missing: name a built-in metric: {}", metric_names()),
            );
            None
        }
        Some(name) => Metric::from_name(name).or_else(|| {
            let hint = match suggest(name, Metric::ALL.iter().map(|m| m.name())) {
                Some(s) => format!("did you mean `{s}`? "),
                None => String::new(),
            };
            r.add(
                at(p, "metric"),
                format!(
                    "`{name}` is not a built-in metric; {hint}use one of: {}",
                    metric_names()
                ),
            );
            None
        }),
    };
    let given: Vec<(&str, f64)> = [
        ("max", raw.max),
        ("min", raw.min),
        ("max_ratio_to_baseline", raw.max_ratio_to_baseline),
    ]
    .into_iter()
    .filter_map(|(k, v)| v.map(|v| (k, v)))
    .collect();
    let [(key, value)] = given.as_slice() else {
        let found: Vec<&str> = given.iter().map(|(k, _)| *k).collect();
        let found = if found.is_empty() {
            "none".to_owned()
        } else {
            found.join(", ")
        };
        r.add(
            p,
            format!(
                "a check needs exactly one of max, min or max_ratio_to_baseline (found {found}), \
                 e.g. `{{ metric: error_rate, max: 0.01 }}`"
            ),
        );
        return None;
    };
    let (key, value) = (*key, *value);
    let vp = at(p, key);
    if !value.is_finite() {
        r.add(
            vp,
            format!("{value} is not a finite number: give a number such as 0.01"),
        );
        return None;
    }
    let bound = match key {
        "max_ratio_to_baseline" if value <= 0.0 => {
            r.add(
                vp,
                format!("{value} must be above 0: 1.2 means at most 20% worse than stable"),
            );
            return None;
        }
        "max_ratio_to_baseline" => Bound::MaxRatioToBaseline(value),
        _ if value < 0.0 => {
            r.add(
                vp,
                format!("{value} is negative: metrics are never below 0"),
            );
            return None;
        }
        "max" => Bound::Max(value),
        _ => Bound::Min(value),
    };
    Some(Check {
        metric: metric?,
        bound,
    })
}

fn metric_names() -> String {
    Metric::ALL
        .iter()
        .map(|m| m.name())
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
#[path = "analysis_tests.rs"]
mod tests;
