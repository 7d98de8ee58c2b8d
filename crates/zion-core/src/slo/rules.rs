//! Prometheus rules for the SLOs, in the names Sloth generates, so that
//! dashboards and alerts written for Sloth read them: the SLI's error
//! ratio over each alert window (`slo:sli_error:ratio_rate5m` … `3d`) and
//! the SLO's period, the objective and budget, the current and period burn
//! rates, the budget left, and the page and ticket alerts over the
//! workbook's window pairs (`alerts::BURN_PAIRS`).
//!
//! The SLIs are read from what Zion's `/metrics` exports of the built-in
//! proxy: `zion_requests_total` and `zion_request_errors_total`
//! (availability) and the buckets of `zion_request_duration_seconds`
//! (latency: the threshold must be one of the buckets' bounds, or
//! Prometheus cannot count the requests under it). A prometheus SLI's
//! ratio is written from its own queries, as Sloth writes its events SLIs:
//! `(bad) / (total)`, or `1 - ((good) / (total))`, with `{{.window}}`
//! filled by each window. A calendar-month SLO is
//! written with a 30-day period, the rolling window PromQL can compute.
//!
//! Every text value is written as a JSON string, which YAML reads as a
//! double-quoted scalar, so no PromQL character needs YAML quoting.

use std::fmt::Write as _;

use super::alerts::{AlertKind, BURN_PAIRS};
use super::prometheus;
use crate::metrics::LATENCY_BOUNDS_SECONDS;
use crate::spec::{Sli, SloEvents, SloPrometheus, SloSpec, SloWindow};

/// The alert windows, shortest first, each recorded as a ratio rule.
const WINDOWS: [&str; 7] = ["5m", "30m", "1h", "2h", "6h", "1d", "3d"];

/// The rules file for `slos`, or why an SLO cannot be written as rules.
pub fn export(slos: &[SloSpec]) -> Result<String, String> {
    let mut out = String::from("groups:\n");
    // A probe SLI is measured by Zion itself: Prometheus has no series of it.
    let exported: Vec<&SloSpec> = slos
        .iter()
        .filter(|s| !matches!(s.sli, Sli::Probe(_)))
        .collect();
    if exported.is_empty() {
        return Ok("groups: []\n".to_owned());
    }
    for slo in exported {
        let ratio = error_ratio_query(slo)?;
        let labels = Labels::of(slo);
        sli_group(&mut out, slo, &labels, &ratio);
        meta_group(&mut out, slo, &labels);
        alert_group(&mut out, slo, &labels);
    }
    Ok(out)
}

/// Sloth's identifying labels, and the target's.
struct Labels {
    id: String,
    service: String,
    slo: String,
    environment: String,
}

impl Labels {
    fn of(slo: &SloSpec) -> Labels {
        Labels {
            id: format!("{}-{}-{}", slo.service, slo.environment, slo.name),
            service: slo.service.clone(),
            slo: slo.name.clone(),
            environment: slo.environment.clone(),
        }
    }

    /// The selector of one recorded series of this SLO.
    fn selector(&self) -> String {
        format!(
            "{{sloth_id=\"{}\", sloth_service=\"{}\", sloth_slo=\"{}\"}}",
            self.id, self.service, self.slo
        )
    }

    fn write(&self, out: &mut String, window: Option<&str>) {
        out.push_str("        labels:\n");
        let mut pairs = vec![
            ("sloth_id", self.id.as_str()),
            ("sloth_service", self.service.as_str()),
            ("sloth_slo", self.slo.as_str()),
            ("environment", self.environment.as_str()),
        ];
        if let Some(w) = window {
            pairs.push(("sloth_window", w));
        }
        for (k, v) in pairs {
            let _ = writeln!(out, "          {k}: {}", quoted(v));
        }
    }
}

/// A ratio as PromQL reads it, without the float's rounding noise
/// (`1 - 0.999` is written 0.001, not 0.0010000000000000009).
fn number(x: f64) -> String {
    let text = format!("{x:.12}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    if text.is_empty() || text == "-" {
        "0".to_owned()
    } else {
        text.to_owned()
    }
}

fn quoted(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| format!("\"{s}\""))
}

/// The PromQL of the SLI's error ratio over `{{window}}`.
fn error_ratio_query(slo: &SloSpec) -> Result<String, String> {
    let target = format!(
        "service=\"{}\", environment=\"{}\"",
        slo.service, slo.environment
    );
    match &slo.sli {
        Sli::Probe(_) => Err(format!(
            "SLO {}: a probe SLI is measured by Zion, not exported to Prometheus; \
             leave it out of the rules, or measure the same check with Prometheus's \
             blackbox exporter",
            slo.id()
        )),
        Sli::Prometheus(q) => Ok(queries_ratio(q)),
        Sli::Availability => Ok(format!(
            "sum(rate(zion_request_errors_total{{{target}}}[{{window}}])) / \
             sum(rate(zion_requests_total{{{target}}}[{{window}}]))"
        )),
        Sli::Latency { threshold } => {
            let seconds = threshold.as_secs_f64();
            let Some(bound) = LATENCY_BOUNDS_SECONDS
                .iter()
                .find(|b| (**b - seconds).abs() < 1e-9)
            else {
                let bounds: Vec<String> = LATENCY_BOUNDS_SECONDS
                    .iter()
                    .map(|b| format!("{}ms", b * 1000.0))
                    .collect();
                return Err(format!(
                    "SLO {}: its latency threshold {}ms is not a bound of the exported \
                     latency buckets, so Prometheus cannot count the requests under it; use \
                     one of {}",
                    slo.id(),
                    threshold.as_millis(),
                    bounds.join(", ")
                ));
            };
            Ok(format!(
                "1 - (sum(rate(zion_request_duration_seconds_bucket{{{target}, le=\"{bound:?}\"}}[{{window}}])) / \
                 sum(rate(zion_request_duration_seconds_count{{{target}}}[{{window}}])))"
            ))
        }
    }
}

/// A prometheus SLI's error ratio from its own queries, `{window}` where
/// Sloth's `{{.window}}` was.
fn queries_ratio(q: &SloPrometheus) -> String {
    let window = |query: &str| query.replace(prometheus::WINDOW, "{window}");
    let total = window(&q.total);
    match &q.events {
        SloEvents::Bad(bad) => format!("({})\n/\n({total})", window(bad)),
        SloEvents::Good(good) => format!("1 - (({})\n/\n({total}))", window(good)),
    }
}

fn period(slo: &SloSpec) -> String {
    match slo.window {
        SloWindow::Rolling { days } => format!("{days}d"),
        SloWindow::CalendarMonth => "30d".to_owned(),
    }
}

fn rule(out: &mut String, kind: &str, name: &str, expr: &str) {
    let _ = writeln!(out, "      - {kind}: {}", quoted(name));
    let _ = writeln!(out, "        expr: {}", quoted(expr));
}

fn sli_group(out: &mut String, slo: &SloSpec, labels: &Labels, ratio: &str) {
    let _ = writeln!(
        out,
        "  - name: {}",
        quoted(&format!("zion-slo-sli-recordings-{}", labels.id))
    );
    out.push_str("    rules:\n");
    for w in WINDOWS {
        rule(
            out,
            "record",
            &format!("slo:sli_error:ratio_rate{w}"),
            &ratio.replace("{window}", w),
        );
        labels.write(out, Some(w));
    }
    // The period's ratio averages the 5m ratios, as Sloth does: a rate
    // over 30 days would read every sample of the period on each
    // evaluation.
    let p = period(slo);
    let five = format!("slo:sli_error:ratio_rate5m{}", labels.selector());
    rule(
        out,
        "record",
        &format!("slo:sli_error:ratio_rate{p}"),
        &format!(
            "sum_over_time({five}[{p}]) / ignoring (sloth_window) count_over_time({five}[{p}])"
        ),
    );
    labels.write(out, Some(&p));
}

fn meta_group(out: &mut String, slo: &SloSpec, labels: &Labels) {
    let _ = writeln!(
        out,
        "  - name: {}",
        quoted(&format!("zion-slo-meta-recordings-{}", labels.id))
    );
    out.push_str("    rules:\n");
    let sel = labels.selector();
    let join = "on (sloth_id, sloth_slo, sloth_service) group_left";
    let p = period(slo);
    let rules = [
        (
            "slo:objective:ratio",
            format!("vector({})", number(slo.objective)),
        ),
        (
            "slo:error_budget:ratio",
            format!("vector({})", number(1.0 - slo.objective)),
        ),
        (
            "slo:time_period:days",
            format!("vector({})", p.trim_end_matches('d')),
        ),
        (
            "slo:current_burn_rate:ratio",
            format!("slo:sli_error:ratio_rate5m{sel} / {join} slo:error_budget:ratio{sel}"),
        ),
        (
            "slo:period_burn_rate:ratio",
            format!("slo:sli_error:ratio_rate{p}{sel} / {join} slo:error_budget:ratio{sel}"),
        ),
        (
            "slo:period_error_budget_remaining:ratio",
            format!("1 - slo:period_burn_rate:ratio{sel}"),
        ),
    ];
    for (name, expr) in rules {
        rule(out, "record", name, &expr);
        labels.write(out, None);
    }
}

fn alert_group(out: &mut String, slo: &SloSpec, labels: &Labels) {
    let _ = writeln!(
        out,
        "  - name: {}",
        quoted(&format!("zion-slo-alerts-{}", labels.id))
    );
    out.push_str("    rules:\n");
    let sel = labels.selector();
    let budget = number(1.0 - slo.objective);
    for kind in [AlertKind::Page, AlertKind::Ticket] {
        let over = |w: &str, factor: f64| {
            format!(
                "max(slo:sli_error:ratio_rate{w}{sel} > ({factor} * {budget})) without (sloth_window)"
            )
        };
        let pairs: Vec<String> = BURN_PAIRS
            .iter()
            .filter(|p| p.alert == kind)
            .map(|p| {
                format!(
                    "({} and {})",
                    over(p.short_name, p.factor),
                    over(p.long_name, p.factor)
                )
            })
            .collect();
        let name = match kind {
            AlertKind::Page => "ZionSloPageBurn",
            _ => "ZionSloTicketBurn",
        };
        rule(out, "alert", name, &pairs.join(" or "));
        labels.write(out, None);
        let _ = writeln!(
            out,
            "          severity: {}",
            quoted(kind.severity().name())
        );
        let _ = writeln!(out, "          sloth_severity: {}", quoted(kind.name()));
        out.push_str("        annotations:\n");
        let _ = writeln!(
            out,
            "          summary: {}",
            quoted(&format!(
                "SLO {} is burning its error budget too fast ({})",
                slo.id(),
                kind.name()
            ))
        );
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::spec::Budgeting;

    fn slo(sli: Sli) -> SloSpec {
        SloSpec {
            name: "availability".into(),
            service: "web".into(),
            environment: "production".into(),
            objective: 0.999,
            window: SloWindow::Rolling { days: 30 },
            sli,
            budgeting: Budgeting::Events,
            retention: Duration::from_secs(7 * 86_400),
        }
    }

    #[test]
    fn every_sloth_name_and_both_alerts_are_written() {
        let yaml = export(&[slo(Sli::Availability)]).unwrap();
        for name in [
            "slo:sli_error:ratio_rate5m",
            "slo:sli_error:ratio_rate3d",
            "slo:sli_error:ratio_rate30d",
            "slo:objective:ratio",
            "slo:error_budget:ratio",
            "slo:current_burn_rate:ratio",
            "slo:period_burn_rate:ratio",
            "slo:period_error_budget_remaining:ratio",
            "ZionSloPageBurn",
            "ZionSloTicketBurn",
        ] {
            assert!(
                yaml.contains(&format!("\"{name}\"")),
                "{name} missing:\n{yaml}"
            );
        }
        assert!(yaml.contains("> (14.4 * 0.001))"), "{yaml}");
        assert!(yaml.contains("vector(0.999)"), "{yaml}");
        assert!(
            yaml.contains(
                "zion_request_errors_total{service=\\\"web\\\", environment=\\\"production\\\"}[5m]"
            ),
            "{yaml}"
        );
    }

    #[test]
    fn a_latency_threshold_must_be_a_bucket_bound() {
        let ok = export(&[slo(Sli::Latency {
            threshold: Duration::from_millis(250),
        })])
        .unwrap();
        assert!(ok.contains("le=\\\"0.25\\\""), "{ok}");
        let err = export(&[slo(Sli::Latency {
            threshold: Duration::from_millis(200),
        })])
        .unwrap_err();
        assert!(err.contains("web/production/availability"), "{err}");
        assert!(err.contains("200ms") && err.contains("250ms"), "{err}");
    }

    #[test]
    fn a_prometheus_sli_is_written_from_its_queries() {
        let bad = SloPrometheus {
            provider: "prom".into(),
            events: SloEvents::Bad(
                r#"sum(rate(http_requests_total{code=~"5.."}[{{.window}}]))"#.into(),
            ),
            total: "sum(rate(http_requests_total[{{.window}}]))".into(),
        };
        let yaml = export(&[slo(Sli::Prometheus(bad.clone()))]).unwrap();
        assert!(
            yaml.contains(
                r#""(sum(rate(http_requests_total{code=~\"5..\"}[30m])))\n/\n(sum(rate(http_requests_total[30m])))""#
            ),
            "{yaml}"
        );
        assert!(!yaml.contains("{{.window}}"), "{yaml}");
        let good = SloPrometheus {
            events: SloEvents::Good("sum(rate(ok[{{.window}}]))".into()),
            ..bad
        };
        let yaml = export(&[slo(Sli::Prometheus(good))]).unwrap();
        assert!(
            yaml.contains(
                r#""1 - ((sum(rate(ok[3d])))\n/\n(sum(rate(http_requests_total[3d]))))""#
            ),
            "{yaml}"
        );
    }
}
