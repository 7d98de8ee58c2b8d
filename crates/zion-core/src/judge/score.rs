//! The round's score from its metrics' classifications, as Kayenta's
//! NetflixACAJudge computes it: per group the share of scored metrics that
//! passed, weighted by the group's weight; a critical failure or half the
//! metrics without data force 0.

use super::classify::{Classification, MetricJudgement};
use super::settings::MannWhitney;

/// The score (0 to 100) and, when it was forced to 0, why.
pub fn score(settings: &MannWhitney, metrics: &[MetricJudgement]) -> (f64, Option<String>) {
    if let Some(m) = metrics.iter().find(|m| m.critical_failure) {
        let what = match (m.classification, m.effect_size) {
            (Classification::Nodata, _) => "has no data".to_string(),
            (c, Some(e)) => format!("is {} (effect size {})", c.name(), crate::analysis::fmt(e)),
            (c, None) => format!("is {}", c.name()),
        };
        return (0.0, Some(format!("critical metric {} {what}", m.metric)));
    }
    let nodata = metrics
        .iter()
        .filter(|m| m.classification == Classification::Nodata)
        .count();
    if !metrics.is_empty() && nodata * 2 >= metrics.len() {
        return (
            0.0,
            Some(format!(
                "{nodata} of {} metrics have no data",
                metrics.len()
            )),
        );
    }
    let mut groups: Vec<&str> = Vec::new();
    for m in metrics {
        if !groups.contains(&m.group.as_str()) {
            groups.push(&m.group);
        }
    }
    let (mut total_weight, mut weighted) = (0.0, 0.0);
    for g in groups {
        // A metric without data is not scored unless it must have data.
        let scored: Vec<&MetricJudgement> = metrics
            .iter()
            .filter(|m| m.group == g && (m.classification != Classification::Nodata || m.failed))
            .collect();
        if scored.is_empty() {
            continue;
        }
        let passing = scored.iter().filter(|m| !m.failed).count();
        let w = settings.weight(g);
        total_weight += w;
        weighted += passing as f64 / scored.len() as f64 * 100.0 * w;
    }
    if total_weight > 0.0 {
        (weighted / total_weight, None)
    } else {
        (0.0, Some("no metric could be scored".to_string()))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::judge::settings::SampleMetric;

    fn judged(metric: SampleMetric, group: &str, c: Classification) -> MetricJudgement {
        MetricJudgement {
            metric,
            group: group.into(),
            canary_n: 10,
            baseline_n: 10,
            u: Some(50.0),
            p_value: Some(0.5),
            effect_size: Some(1.0),
            classification: c,
            failed: matches!(c, Classification::High | Classification::Low),
            critical_failure: false,
        }
    }

    #[test]
    fn weighted_groups() {
        use Classification::*;
        use SampleMetric::*;
        let mut s = MannWhitney::defaults();
        s.groups = BTreeMap::from([("latency".into(), 3.0), ("errors".into(), 1.0)]);
        let ms = [
            judged(Latency, "latency", Pass),
            judged(Latency, "latency", High),
            judged(ErrorRate, "errors", Pass),
            judged(RequestRate, "errors", Pass),
        ];
        // latency 50% × 3/4 + errors 100% × 1/4.
        assert_eq!(score(&s, &ms), (62.5, None));
        // An unscored metric leaves its group's share to the others.
        let ms = [
            judged(Latency, "latency", Nodata),
            judged(ErrorRate, "errors", Pass),
            judged(RequestRate, "errors", High),
        ];
        assert_eq!(score(&s, &ms), (50.0, None));
        // Half the metrics without data: 0.
        let ms = [
            judged(Latency, "latency", Nodata),
            judged(ErrorRate, "errors", Pass),
        ];
        let (v, why) = score(&s, &ms);
        assert_eq!(v, 0.0);
        assert_eq!(why.as_deref(), Some("1 of 2 metrics have no data"));
        // A critical failure: 0 whatever the rest.
        let mut crit = judged(ErrorRate, "errors", High);
        crit.critical_failure = true;
        let ms = [judged(Latency, "latency", Pass), crit];
        let (v, why) = score(&s, &ms);
        assert_eq!(v, 0.0);
        assert_eq!(
            why.as_deref(),
            Some("critical metric error_rate is high (effect size 1)")
        );
    }
}
