//! The statistical judge's figures under `zion get`'s rounds: per judged
//! round its score against the bounds, then per metric the sample sizes,
//! U, the p-value, the effect size and the classification.

use std::fmt::Write;

use zion_core::api::RoundView;
use zion_core::judge::JudgeReport;

use crate::render::table;

fn opt(v: Option<f64>, f: impl Fn(f64) -> String) -> String {
    v.map_or_else(|| "-".to_string(), f)
}

/// Four significant figures, as rounds show values.
fn sig(v: f64) -> String {
    let s = format!("{v:.4}");
    if v.abs() >= 1000.0 {
        format!("{v:.0}")
    } else {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    }
}

fn report(number: &str, j: &JudgeReport) -> String {
    let mut out = format!(
        "    round {number}: score {} (pass ≥ {}, marginal ≥ {}, confidence {}): {}",
        sig(j.score),
        sig(j.pass),
        sig(j.marginal),
        j.confidence,
        j.verdict().name()
    );
    if let Some(why) = &j.forced {
        let _ = write!(out, "; 0 because {why}");
    }
    out.push('\n');
    let rows: Vec<Vec<String>> = j
        .metrics
        .iter()
        .map(|m| {
            let class = if m.critical_failure {
                format!("{} (critical)", m.classification.name())
            } else if m.failed && m.classification.name() == "nodata" {
                "nodata (must have data)".to_string()
            } else {
                m.classification.name().to_string()
            };
            vec![
                m.metric.name().to_string(),
                m.group.clone(),
                m.canary_n.to_string(),
                m.baseline_n.to_string(),
                opt(m.u, sig),
                opt(m.p_value, |p| format!("{p:.3e}")),
                opt(m.effect_size, sig),
                class,
            ]
        })
        .collect();
    let t = table(
        &[
            "METRIC", "GROUP", "NEW N", "STABLE N", "U", "P-VALUE", "EFFECT", "CLASS",
        ],
        &rows,
    );
    for l in t.lines() {
        let _ = writeln!(out, "      {l}");
    }
    out
}

/// The judge's section for `records` (shown with their numbers by
/// `numbers`); empty when no round was judged by it.
pub(crate) fn section(records: &[RoundView], numbers: impl Fn(&RoundView) -> String) -> String {
    let mut out = String::new();
    for r in records {
        let Some(j) = &r.judge else { continue };
        if out.is_empty() {
            out.push_str("  mann_whitney judge:\n");
        }
        out.push_str(&report(&numbers(r), j));
    }
    out
}

#[cfg(test)]
mod tests {
    use zion_core::analysis::Verdict;
    use zion_core::judge::{MannWhitney, Samples, judge};

    use crate::cli::Rounds;
    use crate::rounds::tests::{deployment_for_external, record_for_external};

    #[test]
    fn judged_rounds_show_every_metrics_figures() {
        let stable = Samples::from_seconds(
            &[(100, 0); 5],
            (0..500).map(|i| 10.0 + f64::from(i % 10)).collect(),
        );
        let canary = Samples::from_seconds(
            &[(10, 0); 5],
            (0..50).map(|i| 13.0 + f64::from(i % 10)).collect(),
        );
        let mut r = record_for_external();
        r.judge = Some(judge(&MannWhitney::defaults(), &canary, &stable));
        r.verdict = Verdict::Fail;
        let d = deployment_for_external(vec![r]);
        let text = crate::rounds::section(&d, Rounds::All);
        assert!(text.contains("  mann_whitney judge:\n    round 3: score 50 (pass ≥ 95, marginal ≥ 75, confidence 0.98): fail\n"), "{text}");
        let latency = text
            .lines()
            .find(|l| l.trim_start().starts_with("latency"))
            .unwrap();
        let cols: Vec<&str> = latency.split_whitespace().collect();
        assert_eq!(
            &cols[..4],
            &["latency", "latency", "50", "500"],
            "{latency}"
        );
        assert_eq!(cols[7], "high", "{latency}");
        let effect: f64 = cols[6].parse().unwrap();
        assert!((effect - 17.5 / 14.5).abs() < 1e-3, "{latency}");
        let p: f64 = cols[5].parse().unwrap();
        assert!(p < 0.02, "{latency}");
        assert!(text.contains("error_rate  error_rate  5      5"), "{text}");
        // The JSON output carries them.
        let json = serde_json::to_value(&d.rounds[0]).unwrap();
        assert_eq!(json["judge"]["metrics"][0]["classification"], "high");
        assert_eq!(json["judge"]["metrics"][0]["canary_n"], 50);
        assert!(json["judge"]["metrics"][0]["p_value"].as_f64().unwrap() < 0.02);
        assert_eq!(json["judge"]["score"], 50.0);
    }
}
