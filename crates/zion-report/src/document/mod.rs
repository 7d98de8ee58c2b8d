//! The report laid out once, as sections of facts, tables and charts with
//! their text already worded, so that the Markdown and the HTML renderers
//! print the same figures in the same order. Text here is raw; each
//! renderer escapes it for its format.

use zion_core::delivery::DoraMetrics;
use zion_core::delivery::report::Report;

use crate::text::{self, or_no_data};

pub(crate) mod slo;
mod wording;
use wording::*;

/// Periods up to this many days also list every day in a table.
const PER_DAY_TABLE_MAX_DAYS: u64 = 31;

pub(crate) struct Document {
    pub title: String,
    /// Lines under the title: the period and the filters.
    pub lead: Vec<String>,
    pub sections: Vec<Section>,
}

/// One `<section>`; no blocks means no data.
pub(crate) struct Section {
    pub id: String,
    pub title: String,
    pub blocks: Vec<Block>,
}

pub(crate) enum Block {
    /// Label and value pairs.
    Facts(Vec<(String, String)>),
    Table(Table),
    /// Drawn in HTML only; the same figures are in a table or facts.
    Chart(Chart),
    Note(String),
}

pub(crate) struct Table {
    pub headers: Vec<&'static str>,
    pub rows: Vec<Vec<String>>,
}

pub(crate) struct Chart {
    pub id: String,
    pub title: String,
    pub bars: Vec<Bar>,
    /// How axis values read.
    pub axis: fn(f64) -> String,
    /// Rounds the largest bar up to a top whose half reads well.
    pub nice: fn(f64) -> f64,
}

pub(crate) struct Bar {
    pub label: String,
    /// None: no data for this bar (a gap, not a zero).
    pub value: Option<f64>,
    pub tooltip: String,
}

impl Document {
    pub(crate) fn from_report(r: &Report) -> Document {
        let p = &r.period;
        let mut lead = vec![format!(
            "Period: {} ({}, {})",
            period_text(p.since, p.until, &p.time_zone),
            // As the body says it: calendar days and length differ when
            // the period starts or ends within a day.
            period_days_text(p.days, p.length_days()),
            p.time_zone
        )];
        let mut filters = Vec::new();
        if let Some(env) = &p.environment {
            filters.push(format!("environment {env}"));
        }
        if let Some(service) = &p.service {
            filters.push(format!("service {service}"));
        }
        if !filters.is_empty() {
            lead.push(format!("Only {}", filters.join(", ")));
        }
        lead.push(format!(
            "Total deployments: {}",
            text::count(r.total_deployments)
        ));
        let mut sections = vec![
            summary(r),
            environments(r),
            types(r),
            frequency(r),
            success(r),
            speed(r),
            rollbacks(r),
            approvals(r),
            quality_gates(r),
            dora(r),
            trends(r),
        ];
        // Only when the spec declares SLOs.
        sections.extend(slo::delivery_section(r));
        sections.push(audit(r));
        Document {
            title: "Deployment report".to_string(),
            lead,
            sections,
        }
    }
}

/// The period as its reader counts it: whole local days as `first to
/// last` (the end is exclusive, so the last day is the one before it);
/// anything else as local times with the end marked exclusive.
fn period_text(since: jiff::Timestamp, until: jiff::Timestamp, zone: &str) -> String {
    let Ok(tz) = jiff::fmt::temporal::DateTimeParser::new().parse_time_zone(zone) else {
        return format!("{since} to {until} (exclusive)");
    };
    let (from, to) = (since.to_zoned(tz.clone()), until.to_zoned(tz));
    let midnight = |z: &jiff::Zoned| z.time() == jiff::civil::Time::midnight();
    if midnight(&from) && midnight(&to) {
        if let Ok(last) = to.date().yesterday() {
            return format!("{} to {last}", from.date());
        }
    }
    format!(
        "{} to {} (exclusive)",
        from.strftime("%Y-%m-%d %H:%M:%S"),
        to.strftime("%Y-%m-%d %H:%M:%S")
    )
}

/// Calendar days listed, with the period's real length when a partial
/// first or last day makes them differ (averages divide by the length).
fn days_text(days: u64, length_days: f64) -> String {
    if same_days(days, length_days) {
        return text::count(days);
    }
    format!(
        "{} calendar {}, {} days long",
        text::count(days),
        if days == 1 { "day" } else { "days" },
        text::decimal(length_days)
    )
}

/// [`days_text`] with its unit when the two agree: `5 days`.
fn period_days_text(days: u64, length_days: f64) -> String {
    if same_days(days, length_days) {
        return calendar_days(days);
    }
    days_text(days, length_days)
}

fn same_days(days: u64, length_days: f64) -> bool {
    (length_days - days as f64).abs() < 1e-9
}

/// `1 day`, `31 days`.
fn calendar_days(days: u64) -> String {
    format!(
        "{} day{}",
        text::count(days),
        if days == 1 { "" } else { "s" }
    )
}

fn section(id: &'static str, title: &'static str, blocks: Vec<Block>) -> Section {
    Section {
        id: id.into(),
        title: title.into(),
        blocks,
    }
}

fn summary(r: &Report) -> Section {
    let Some(s) = &r.summary else {
        return section("summary", "Summary", vec![]);
    };
    let facts = vec![
        fact("Total deployments", text::count(s.total)),
        fact("Succeeded", text::count(s.succeeded)),
        fact("Failed to start", text::count(s.failed)),
        fact("Rolled back", text::count(s.rolled_back)),
        fact("Cancelled", text::count(s.cancelled)),
        fact("Rejected", text::count(s.rejected)),
        fact("Expired", text::count(s.expired)),
        fact(
            "Production deployments",
            format!(
                "{} ({})",
                text::count(s.production),
                text::percent(s.production as f64 / s.total as f64)
            ),
        ),
        fact("Success rate", of(s.succeeded, s.attempted, s.success_rate)),
    ];
    section(
        "summary",
        "Summary",
        vec![
            Block::Facts(facts),
            Block::Note(
                "Success rate: succeeded over attempted (succeeded, failed to start, rolled back); \
                 cancelled, rejected and expired deployments never started."
                    .to_string(),
            ),
        ],
    )
}

fn environments(r: &Report) -> Section {
    let Some(envs) = &r.environments else {
        return section("environments", "Environments", vec![]);
    };
    let rows = envs
        .iter()
        .map(|e| {
            vec![
                e.environment.clone(),
                if e.production { "yes" } else { "no" }.to_string(),
                text::count(e.deployments),
                text::percent(e.share),
                of(e.succeeded, e.attempted, e.success_rate),
                or_no_data(e.mean_duration_seconds, text::duration),
            ]
        })
        .collect();
    section(
        "environments",
        "Environments",
        vec![Block::Table(Table {
            headers: vec![
                "Environment",
                "Production",
                "Deployments",
                "Share",
                "Success rate",
                "Mean duration",
            ],
            rows,
        })],
    )
}

fn types(r: &Report) -> Section {
    let mut blocks = Vec::new();
    if let Some(types) = &r.types {
        let rows = types
            .iter()
            .map(|t| {
                vec![
                    text::kind(t.kind).to_string(),
                    text::count(t.deployments),
                    text::percent(t.share),
                    of(t.succeeded, t.attempted, t.success_rate),
                ]
            })
            .collect();
        blocks.push(Block::Table(Table {
            headers: vec!["Type", "Deployments", "Share", "Success rate"],
            rows,
        }));
    }
    if let Some(strategies) = &r.strategies {
        let rows = strategies
            .iter()
            .map(|s| {
                vec![
                    strategy_name(s.strategy).to_string(),
                    text::count(s.deployments),
                    of(s.succeeded, s.attempted, s.success_rate),
                    or_no_data(s.mean_analysis_rounds, text::decimal),
                ]
            })
            .collect();
        blocks.push(Block::Table(Table {
            headers: vec![
                "Strategy",
                "Deployments",
                "Success rate",
                "Analysis rounds (mean)",
            ],
            rows,
        }));
    }
    section("types", "Deployment types", blocks)
}

fn frequency(r: &Report) -> Section {
    let Some(f) = &r.frequency else {
        return section("frequency", "Frequency", vec![]);
    };
    let deployments = |n: u64| if n == 1 { "deployment" } else { "deployments" };
    let mut blocks = vec![Block::Facts(vec![
        fact("Average", {
            let (n, per) = text::rate_parts(f.daily_average);
            format!("{n} deployments a {per}")
        }),
        fact(
            "Peak day",
            format!(
                "{} {} ({})",
                text::count(f.peak.deployments),
                deployments(f.peak.deployments),
                text::day(f.peak.date)
            ),
        ),
        fact(
            "Lowest day",
            format!(
                "{} {} ({})",
                text::count(f.lowest.deployments),
                deployments(f.lowest.deployments),
                text::day(f.lowest.date)
            ),
        ),
        fact("Days in period", days_text(f.days, f.length_days)),
    ])];
    blocks.push(Block::Chart(Chart {
        id: "chart-per-day".into(),
        title: "Deployments per day".to_string(),
        bars: f
            .per_day
            .iter()
            .map(|d| Bar {
                label: d.date.to_string(),
                value: Some(d.deployments as f64),
                tooltip: format!(
                    "{}{}: {} deployments, {} succeeded",
                    d.date,
                    if d.partial { " (partial day)" } else { "" },
                    text::count(d.deployments),
                    text::count(d.succeeded)
                ),
            })
            .collect(),
        axis: axis_count,
        nice: nice_count,
    }));
    if f.days <= PER_DAY_TABLE_MAX_DAYS {
        blocks.push(Block::Table(Table {
            headers: vec!["Day", "Deployments", "Succeeded"],
            rows: f
                .per_day
                .iter()
                .map(|d| {
                    let day = if d.partial {
                        format!("{} (partial)", text::day(d.date))
                    } else {
                        text::day(d.date)
                    };
                    vec![day, text::count(d.deployments), text::count(d.succeeded)]
                })
                .collect(),
        }));
    }
    section("frequency", "Frequency", blocks)
}

fn success(r: &Report) -> Section {
    let Some(s) = r.summary.as_ref().filter(|s| s.success_rate.is_some()) else {
        return section("success", "Success rates", vec![]);
    };
    let mut facts = vec![fact(
        "Overall",
        of(s.succeeded, s.attempted, s.success_rate),
    )];
    for e in r.environments.iter().flatten() {
        facts.push(fact(
            &e.environment,
            of(e.succeeded, e.attempted, e.success_rate),
        ));
    }
    let mut blocks = vec![Block::Facts(facts)];
    if let Some(trends) = &r.trends {
        blocks.push(Block::Chart(Chart {
            id: "chart-success-month".into(),
            title: "Success rate per month".to_string(),
            bars: trends
                .iter()
                .map(|t| Bar {
                    label: t.month.clone(),
                    value: t.success_rate,
                    tooltip: format!(
                        "{}: {}",
                        t.month,
                        of(t.succeeded, t.attempted, t.success_rate)
                    ),
                })
                .collect(),
            axis: axis_percent,
            nice: nice_rate,
        }));
    }
    section("success", "Success rates", blocks)
}

fn speed(r: &Report) -> Section {
    let Some(s) = &r.speed else {
        return section("speed", "Deployment speed", vec![]);
    };
    let facts = vec![
        fact(
            "Measured",
            format!("{} succeeded deployments", text::count(s.measured)),
        ),
        fact("Mean", text::duration(s.mean_seconds)),
        fact("Fastest", extreme(&s.fastest)),
        fact("Slowest", extreme(&s.slowest)),
        fact("Median (p50)", text::duration(s.p50_seconds)),
        fact("95th percentile", text::duration(s.p95_seconds)),
    ];
    let chart = Chart {
        id: "chart-duration-histogram".into(),
        title: "Duration distribution".to_string(),
        bars: s
            .histogram
            .iter()
            .map(|b| Bar {
                label: text::duration(b.from_seconds),
                value: Some(b.deployments as f64),
                tooltip: format!(
                    "{} to {}: {} deployments",
                    text::duration(b.from_seconds),
                    text::duration(b.to_seconds),
                    text::count(b.deployments)
                ),
            })
            .collect(),
        axis: axis_count,
        nice: nice_count,
    };
    section(
        "speed",
        "Deployment speed",
        vec![
            Block::Facts(facts),
            Block::Note(
                "Durations run from start to finish of succeeded deployments. Percentiles are \
                 nearest-rank: the value of rank ⌈p/100 × n⌉ in ascending order."
                    .to_string(),
            ),
            Block::Chart(chart),
        ],
    )
}

fn rollbacks(r: &Report) -> Section {
    let Some(b) = &r.rollbacks else {
        return section("rollbacks", "Rollbacks", vec![]);
    };
    let mut facts = vec![
        fact(
            "Changes rolled back",
            match b.share {
                Some(share) => format!(
                    "{} ({} of attempted)",
                    text::count(b.count),
                    text::percent(share)
                ),
                None => text::count(b.count),
            },
        ),
        fact("Automatic", text::count(b.automatic)),
        fact("Manual", text::count(b.manual)),
    ];
    if b.trigger_unknown > 0 {
        facts.push(fact("Trigger not recorded", text::count(b.trigger_unknown)));
    }
    facts.extend([
        fact(
            "Mean time to roll back",
            or_no_data(b.mean_seconds, text::duration),
        ),
        fact(
            "Median time to roll back",
            or_no_data(b.median_seconds, text::duration),
        ),
        fact("Rollback success", of(b.succeeded, b.count, b.success_rate)),
    ]);
    if b.rollback_deployments > 0 {
        facts.push(fact(
            "Rollback deployments",
            format!(
                "{} ({} succeeded)",
                text::count(b.rollback_deployments),
                text::count(b.rollback_deployments_succeeded)
            ),
        ));
    }
    section(
        "rollbacks",
        "Rollbacks",
        vec![
            Block::Facts(facts),
            Block::Note(
                "Changes rolled back: deployments rolled back during their rollout, and \
                 succeeded ones that a later rollback deployment (zion rollback) reversed; \
                 the summary's \"Rolled back\" counts only the first."
                    .to_string(),
            ),
        ],
    )
}

fn approvals(r: &Report) -> Section {
    let Some(a) = &r.approvals else {
        return section("approvals", "Approvals", vec![]);
    };
    let facts = vec![
        fact(
            "Deployments that waited for approval",
            text::count(a.with_approval),
        ),
        fact(
            "Median wait",
            or_no_data(a.median_wait_seconds, text::duration),
        ),
        fact("Mean wait", or_no_data(a.mean_wait_seconds, text::duration)),
        fact(
            "Longest wait",
            or_no_data(a.longest_wait_seconds, text::duration),
        ),
        fact("Rejected", text::count(a.rejected)),
        fact("Expired", text::count(a.expired)),
    ];
    section("approvals", "Approvals", vec![Block::Facts(facts)])
}

/// The requests the policy refused, by rule, as facts.
fn refusal_facts(r: &Report) -> Vec<(String, String)> {
    let Some(x) = &r.refusals else {
        return Vec::new();
    };
    let rules: Vec<String> = x
        .by_rule
        .iter()
        .map(|(rule, n)| format!("{} {}", rule_name(rule), text::count(*n)))
        .collect();
    const CITED: usize = 10;
    let mut cited: Vec<String> = x.entries.iter().take(CITED).map(u64::to_string).collect();
    if x.entries.len() > CITED {
        cited.push(format!(
            "and {} more",
            text::count((x.entries.len() - CITED) as u64)
        ));
    }
    vec![
        fact(
            "Requests refused by policy",
            format!("{} ({})", text::count(x.total), rules.join(", ")),
        ),
        fact("Their audit entries", cited.join(", ")),
    ]
}

/// A refusal rule's code in words.
fn rule_name(code: &str) -> &str {
    match code {
        "quality_gates_failed" => "quality gates",
        "pre_checks_failed" => "pre-checks",
        "window_closed" => "window or freeze",
        "requires_unmet" => "required environments",
        "artifact_mismatch" => "artifact",
        other => other,
    }
}

fn quality_gates(r: &Report) -> Section {
    let Some(g) = &r.quality_gates else {
        let refused = refusal_facts(r);
        let blocks = if refused.is_empty() {
            vec![]
        } else {
            vec![Block::Facts(refused)]
        };
        return section("quality-gates", "Quality gates", blocks);
    };
    let mut facts = vec![
        fact("Deployments with evidence", text::count(g.with_evidence)),
        fact("Passed", of(g.passed, g.with_evidence, Some(g.pass_rate))),
        fact("Failed", text::count(g.failed)),
        fact(
            "Mean coverage",
            or_no_data(g.mean_coverage, |c| {
                format!(
                    "{} (over {})",
                    text::percent(c),
                    text::count(g.coverage_samples)
                )
            }),
        ),
        fact(
            "Mean tests passed",
            or_no_data(g.mean_tests_passed_ratio, |t| {
                format!(
                    "{} (over {})",
                    text::percent(t),
                    text::count(g.tests_samples)
                )
            }),
        ),
        fact("Error findings", or_no_data(g.findings_error, text::count)),
        fact(
            "Warning findings",
            or_no_data(g.findings_warning, text::count),
        ),
    ];
    facts.extend(refusal_facts(r));
    section("quality-gates", "Quality gates", vec![Block::Facts(facts)])
}

fn dora(r: &Report) -> Section {
    let headline = DoraMetrics {
        deployment_frequency: r.deployment_frequency.clone(),
        lead_time_for_changes: r.lead_time_for_changes.clone(),
        change_failure_rate: r.change_failure_rate.clone(),
        failed_deployment_recovery_time: r.failed_deployment_recovery_time.clone(),
        deployment_rework_rate: r.deployment_rework_rate.clone(),
    };
    let mut blocks = Vec::new();
    if !headline.is_empty() {
        blocks.push(Block::Table(Table {
            headers: vec!["Metric (production)", "Value", "Cluster", "Based on"],
            rows: dora_rows(&headline),
        }));
    }
    if let Some(d) = &r.dora {
        let mut headers = vec![""];
        headers.extend(DORA_HEADERS);
        if !d.by_service.is_empty() {
            let mut h = headers.clone();
            h[0] = "Service (production)";
            blocks.push(Block::Table(Table {
                headers: h,
                rows: d
                    .by_service
                    .iter()
                    .map(|s| dora_breakdown_row(s.service.clone(), &s.metrics))
                    .collect(),
            }));
        }
        if !d.by_environment.is_empty() {
            let mut h = headers;
            h[0] = "Environment";
            blocks.push(Block::Table(Table {
                headers: h,
                rows: d
                    .by_environment
                    .iter()
                    .map(|e| dora_breakdown_row(e.environment.clone(), &e.metrics))
                    .collect(),
            }));
        }
    }
    if !blocks.is_empty() {
        blocks.push(Block::Note(
            "Clusters follow the DORA 2024 report. Rework rate has no published clusters."
                .to_string(),
        ));
    }
    section("dora", "DORA metrics", blocks)
}

fn trends(r: &Report) -> Section {
    let Some(trends) = &r.trends else {
        return section("trends", "Trends by month", vec![]);
    };
    let rows = trends
        .iter()
        .map(|t| {
            vec![
                t.month.clone(),
                text::count(t.deployments),
                of(t.succeeded, t.attempted, t.success_rate),
                or_no_data(t.mean_duration_seconds, text::duration),
            ]
        })
        .collect();
    let headers = vec!["Month", "Deployments", "Success rate", "Mean duration"];
    // The DORA figures in a table of their own: nine columns in one would
    // wrap every cell on a page.
    let dora_rows = trends
        .iter()
        .map(|t| {
            let mut row = vec![t.month.clone()];
            row.extend(dora_cells(&t.dora));
            row
        })
        .collect();
    let mut dora_headers = vec!["Month"];
    dora_headers.extend(DORA_HEADERS);
    let chart = Chart {
        id: "chart-duration-month".into(),
        title: "Mean duration per month".to_string(),
        bars: trends
            .iter()
            .map(|t| Bar {
                label: t.month.clone(),
                value: t.mean_duration_seconds,
                tooltip: format!(
                    "{}: {}",
                    t.month,
                    or_no_data(t.mean_duration_seconds, text::duration)
                ),
            })
            .collect(),
        axis: axis_duration,
        nice: nice_duration,
    };
    section(
        "trends",
        "Trends by month",
        vec![
            Block::Table(Table { headers, rows }),
            Block::Table(Table {
                headers: dora_headers,
                rows: dora_rows,
            }),
            Block::Note(
                "Frequency, lead time, change failure rate, recovery time and rework rate are \
                 the DORA metrics of the month's production deployments, per day of the \
                 month's part of the period."
                    .to_string(),
            ),
            Block::Chart(chart),
        ],
    )
}

fn audit(r: &Report) -> Section {
    let Some(a) = &r.audit else {
        return section("audit", "Audit log", vec![]);
    };
    let number = |n: Option<u64>| n.map(|n| n.to_string());
    // In the order of the summary's fields; the absent ones are left out.
    let facts = [
        ("checkpoints", number(a.checkpoints)),
        ("entries", number(a.entries)),
        ("error", a.error.clone()),
        ("first bad entry", number(a.first_bad_entry)),
        (
            "last full verification",
            a.last_full_verification.map(|t| t.to_string()),
        ),
        ("latest checkpoint root", a.latest_checkpoint_root.clone()),
        ("latest checkpoint size", number(a.latest_checkpoint_size)),
        ("root", a.root.clone()),
        ("verified", Some(a.verified.as_str().to_string())),
        ("verified from entry", number(a.verified_from_entry)),
    ];
    let block = Block::Facts(
        facts
            .into_iter()
            .filter_map(|(k, v)| v.map(|v| (k.to_string(), v)))
            .collect(),
    );
    section("audit", "Audit log", vec![block])
}

#[cfg(test)]
mod period_tests {
    use super::period_text;

    #[test]
    fn whole_local_days_read_as_first_and_last_day() {
        let at = |s: &str| s.parse::<jiff::Timestamp>().unwrap();
        assert_eq!(
            period_text(
                at("2025-12-31T23:00:00Z"),
                at("2026-03-31T22:00:00Z"),
                "Europe/Berlin"
            ),
            "2026-01-01 to 2026-03-31"
        );
        assert_eq!(
            period_text(
                at("2026-03-01T00:00:00Z"),
                at("2026-03-06T00:00:00Z"),
                "UTC"
            ),
            "2026-03-01 to 2026-03-05"
        );
        assert_eq!(
            period_text(
                at("2026-03-01T10:30:00Z"),
                at("2026-03-02T10:30:00Z"),
                "+02:00"
            ),
            "2026-03-01 12:30:00 to 2026-03-02 12:30:00 (exclusive)"
        );
    }
}
