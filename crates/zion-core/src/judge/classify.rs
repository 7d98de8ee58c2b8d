//! One metric's verdict: the U test says whether the new version differs,
//! the effect size (mean ratio new / stable) says whether it differs enough,
//! the direction says which way matters.

use serde::{Deserialize, Serialize};

use super::mann_whitney::u_test;
use super::settings::{Direction, JudgedMetric, SampleMetric};

/// A metric's classification, as Kayenta names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Classification {
    Pass,
    /// Significantly higher than stable, beyond the allowed increase.
    High,
    /// Significantly lower than stable, beyond the allowed decrease.
    Low,
    /// One version has no samples.
    Nodata,
}

impl Classification {
    /// The snake_case name.
    pub fn name(self) -> &'static str {
        match self {
            Classification::Pass => "pass",
            Classification::High => "high",
            Classification::Low => "low",
            Classification::Nodata => "nodata",
        }
    }
}

/// One metric's figures and classification within a round.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MetricJudgement {
    pub metric: SampleMetric,
    pub group: String,
    /// Samples of the new version.
    pub canary_n: usize,
    /// Samples of the stable version.
    pub baseline_n: usize,
    /// U of the new version's samples; None without data.
    pub u: Option<f64>,
    /// Two-sided p-value; None without data.
    pub p_value: Option<f64>,
    /// Mean ratio new / stable; None without data, or when stable's mean is
    /// 0 and the new version's is not (an unbounded increase).
    pub effect_size: Option<f64>,
    pub classification: Classification,
    /// Counts against the score: high, low, or no data for a metric that
    /// must have data.
    pub failed: bool,
    /// Forces the score to 0: a critical metric failed, or the effect size
    /// crossed a critical bound.
    pub critical_failure: bool,
}

fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len() as f64
}

/// Classifies `metric` from the new version's samples `canary` against
/// stable's `baseline`; a difference counts when the p-value is below
/// `1 − confidence`.
pub fn classify(
    metric: &JudgedMetric,
    canary: &[f64],
    baseline: &[f64],
    confidence: f64,
) -> MetricJudgement {
    let mut out = MetricJudgement {
        metric: metric.metric,
        group: metric.group.clone(),
        canary_n: canary.len(),
        baseline_n: baseline.len(),
        u: None,
        p_value: None,
        effect_size: None,
        classification: Classification::Nodata,
        failed: metric.must_have_data,
        critical_failure: metric.must_have_data && metric.critical,
    };
    let Some(test) = u_test(canary, baseline) else {
        return out;
    };
    let (mc, mb) = (mean(canary), mean(baseline));
    // An increase from nothing is unbounded: held above every bound.
    let ratio = if mb != 0.0 {
        mc / mb
    } else if mc == 0.0 {
        1.0
    } else {
        f64::INFINITY * mc.signum()
    };
    let significant = test.p_value < 1.0 - confidence;
    let higher = test.x_higher(canary.len(), baseline.len());
    let high = significant
        && higher
        && ratio > metric.allowed_increase
        && metric.direction != Direction::Decrease;
    let low = significant
        && !higher
        && ratio < metric.allowed_decrease
        && metric.direction != Direction::Increase;
    let critical_effect = (high && metric.critical_increase.is_some_and(|c| ratio >= c))
        || (low && metric.critical_decrease.is_some_and(|c| ratio <= c));
    out.u = Some(test.u);
    out.p_value = Some(test.p_value);
    out.effect_size = ratio.is_finite().then_some(ratio);
    out.classification = if high {
        Classification::High
    } else if low {
        Classification::Low
    } else {
        Classification::Pass
    };
    out.failed = high || low;
    out.critical_failure = critical_effect || (out.failed && metric.critical);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn latency() -> JudgedMetric {
        JudgedMetric::new(SampleMetric::Latency)
    }

    fn spread(base: f64, n: usize) -> Vec<f64> {
        (0..n).map(|i| base + (i % 10) as f64).collect()
    }

    #[test]
    fn higher_lower_and_directions() {
        let stable = spread(100.0, 200);
        let slower = spread(130.0, 200);
        let faster = spread(70.0, 200);
        let r = classify(&latency(), &slower, &stable, 0.98);
        assert_eq!(r.classification, Classification::High);
        assert!(r.failed && !r.critical_failure);
        assert!(r.effect_size.unwrap() > 1.2);
        // Faster is no failure for a metric that may not increase.
        let r = classify(&latency(), &faster, &stable, 0.98);
        assert_eq!(r.classification, Classification::Pass);
        let either = JudgedMetric {
            direction: Direction::Either,
            ..latency()
        };
        assert_eq!(
            classify(&either, &faster, &stable, 0.98).classification,
            Classification::Low
        );
        // Allowed: a 35% increase within allowed_increase 1.4 passes.
        let allowed = JudgedMetric {
            allowed_increase: 1.4,
            ..latency()
        };
        assert_eq!(
            classify(&allowed, &slower, &stable, 0.98).classification,
            Classification::Pass
        );
        // Critical bounds and critical metrics force the score to 0.
        let crit = JudgedMetric {
            critical_increase: Some(1.2),
            ..latency()
        };
        assert!(classify(&crit, &slower, &stable, 0.98).critical_failure);
        let crit = JudgedMetric {
            critical: true,
            ..latency()
        };
        assert!(classify(&crit, &slower, &stable, 0.98).critical_failure);
        assert!(!classify(&crit, &stable, &stable, 0.98).critical_failure);
    }

    #[test]
    fn no_data() {
        let r = classify(&latency(), &[], &[1.0], 0.98);
        assert_eq!(r.classification, Classification::Nodata);
        assert!(!r.failed);
        let must = JudgedMetric {
            must_have_data: true,
            ..latency()
        };
        assert!(classify(&must, &[1.0], &[], 0.98).failed);
    }

    #[test]
    fn errors_from_none_are_an_unbounded_increase() {
        let stable = vec![0.0; 60];
        let mut canary = vec![0.0; 40];
        canary.extend([0.2; 20]);
        let m = JudgedMetric::new(SampleMetric::ErrorRate);
        let r = classify(&m, &canary, &stable, 0.98);
        assert_eq!(r.classification, Classification::High);
        assert_eq!(r.effect_size, None);
    }
}
