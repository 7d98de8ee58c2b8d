//! `analysis.judge` and `analysis.mann_whitney`: which judge decides the
//! rounds, and the statistical judge's metrics, groups and score bounds.

use std::collections::BTreeMap;

use super::{Report, at, suggest, text};
use crate::judge::{Direction, Judge, JudgedMetric, MannWhitney, SampleMetric};
use crate::spec::raw::{RawAnalysis, RawJudgedMetric, RawMannWhitney, keys};

/// The judge of `analysis` at `p`.
pub(super) fn judge(r: &mut Report, p: &str, raw: &RawAnalysis) -> Judge {
    let name = text(raw.judge.as_ref()).map(str::trim);
    let statistical = match name {
        None | Some("thresholds") => false,
        Some("mann_whitney") => true,
        Some(other) => {
            r.add(
                at(p, "judge"),
                format!("`{other}` is not a judge: use thresholds (the default) or mann_whitney"),
            );
            return Judge::Thresholds;
        }
    };
    match (statistical, raw.mann_whitney.as_ref()) {
        (false, None) => Judge::Thresholds,
        (false, Some(_)) => {
            r.add(
                at(p, "mann_whitney"),
                "settings of the mann_whitney judge, but the judge is thresholds: \
                 add `judge: mann_whitney` or remove them",
            );
            Judge::Thresholds
        }
        (true, None) => Judge::MannWhitney(MannWhitney::defaults()),
        (true, Some(m)) => Judge::MannWhitney(mann_whitney(r, &at(p, "mann_whitney"), m)),
    }
}

fn mann_whitney(r: &mut Report, p: &str, raw: &RawMannWhitney) -> MannWhitney {
    r.unknown(p, &raw.unknown, keys::MANN_WHITNEY);
    let defaults = MannWhitney::defaults();
    let confidence = match raw.confidence {
        None => defaults.confidence,
        Some(c) if c.is_finite() && c > 0.0 && c < 1.0 => c,
        Some(c) => {
            r.add(
                at(p, "confidence"),
                format!("{c} is not a confidence: give a number between 0 and 1 (both excluded), e.g. 0.98"),
            );
            defaults.confidence
        }
    };
    let mut score = |key: &str, value: Option<f64>, default: f64| match value {
        None => default,
        Some(v) if v.is_finite() && (0.0..=100.0).contains(&v) => v,
        Some(v) => {
            r.add(
                at(p, key),
                format!("{v} is not a score: give one from 0 to 100, e.g. {default}"),
            );
            default
        }
    };
    let pass = score("pass", raw.pass, defaults.pass);
    let marginal = score("marginal", raw.marginal, defaults.marginal);
    if pass < marginal {
        r.add(
            at(p, "pass"),
            format!(
                "pass {pass} is below marginal {marginal}: a passing score must be at least the marginal one (e.g. pass 95, marginal 75)"
            ),
        );
    }
    let metrics = match raw.metrics.as_deref() {
        None => defaults.metrics,
        Some([]) => {
            r.add(
                at(p, "metrics"),
                "empty: list the metrics to judge, e.g. `[{ metric: latency }, { metric: error_rate }]`, or leave it out for those two",
            );
            Vec::new()
        }
        Some(list) => list
            .iter()
            .enumerate()
            .filter_map(|(k, m)| judged_metric(r, &format!("{p}.metrics[{k}]"), m))
            .collect(),
    };
    let mut groups = BTreeMap::new();
    for (name, weight) in raw.groups.iter().flatten() {
        let gp = format!("{p}.groups.{name}");
        if !weight.is_finite() || *weight <= 0.0 {
            r.add(
                gp,
                format!("{weight} is not a weight: give a number above 0, e.g. 1"),
            );
        } else if raw.metrics.is_some() && !metrics.iter().any(|m| m.group == *name) {
            let used: Vec<&str> = metrics.iter().map(|m| m.group.as_str()).collect();
            r.add(
                gp,
                format!(
                    "no metric is in group `{name}` (groups of the metrics: {}): fix the name or remove it",
                    used.join(", ")
                ),
            );
        } else {
            groups.insert(name.clone(), *weight);
        }
    }
    MannWhitney {
        confidence,
        pass,
        marginal,
        groups,
        metrics,
    }
}

fn judged_metric(r: &mut Report, p: &str, raw: &RawJudgedMetric) -> Option<JudgedMetric> {
    r.unknown(p, &raw.unknown, keys::JUDGED_METRIC);
    let names = || {
        SampleMetric::ALL
            .iter()
            .map(|m| m.name())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let metric = match text(raw.metric.as_ref()).map(str::trim) {
        None => {
            r.add(
                at(p, "metric"),
                format!("missing: name the metric to judge ({})", names()),
            );
            None
        }
        Some(name) => SampleMetric::from_name(name).or_else(|| {
            let hint = match suggest(name, SampleMetric::ALL.iter().map(|m| m.name())) {
                Some(s) => format!("did you mean `{s}`? "),
                None => String::new(),
            };
            r.add(
                at(p, "metric"),
                format!(
                    "`{name}` has no samples for the judge; {hint}use one of: {}",
                    names()
                ),
            );
            None
        }),
    };
    let direction = match text(raw.direction.as_ref()).map(str::trim) {
        None => Some(Direction::Increase),
        Some(d) => Direction::from_name(d).or_else(|| {
            r.add(
                at(p, "direction"),
                format!(
                    "`{d}` is not a direction: use increase (only a rise fails), decrease or either"
                ),
            );
            None
        }),
    };
    let group = match text(raw.group.as_ref()).map(str::trim) {
        Some("") => {
            r.add(
                at(p, "group"),
                "empty: name the group, e.g. `group: latency`",
            );
            None
        }
        g => Some(g.map(str::to_string)),
    };
    let mut ok = true;
    let mut ratio = |key: &str, v: Option<f64>, valid: &dyn Fn(f64) -> bool, hint: &str| match v {
        Some(x) if !x.is_finite() || !valid(x) => {
            r.add(at(p, key), format!("{x} {hint}"));
            ok = false;
            None
        }
        v => v,
    };
    let allowed_increase = ratio(
        "allowed_increase",
        raw.allowed_increase,
        &|x| x >= 1.0,
        "is below 1: it is the mean ratio new / stable allowed, e.g. 1.1 for 10% higher",
    )
    .unwrap_or(1.0);
    let allowed_decrease = ratio(
        "allowed_decrease",
        raw.allowed_decrease,
        &|x| x > 0.0 && x <= 1.0,
        "is not in (0, 1]: it is the mean ratio new / stable allowed, e.g. 0.9 for 10% lower",
    )
    .unwrap_or(1.0);
    let critical_increase = ratio(
        "critical_increase",
        raw.critical_increase,
        &|x| x > allowed_increase,
        &format!("must be above allowed_increase {allowed_increase}, e.g. 1.5"),
    );
    let critical_decrease = ratio(
        "critical_decrease",
        raw.critical_decrease,
        &|x| x >= 0.0 && x < allowed_decrease,
        &format!("must be from 0 to below allowed_decrease {allowed_decrease}, e.g. 0.5"),
    );
    let metric = metric?;
    let (direction, group) = (direction?, group?);
    ok.then(|| JudgedMetric {
        metric,
        group: group.unwrap_or_else(|| metric.name().to_string()),
        direction,
        allowed_increase,
        critical_increase,
        allowed_decrease,
        critical_decrease,
        must_have_data: raw.must_have_data.unwrap_or(false),
        critical: raw.critical.unwrap_or(false),
    })
}

#[cfg(test)]
#[path = "judge_tests.rs"]
mod tests;
