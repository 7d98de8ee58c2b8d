//! Rendering a report built from a small known history.

use std::sync::Arc;

use jiff::Timestamp;
use jiff::tz::TimeZone;
use zion_core::delivery::{
    AuditSummary, DeploymentRecord, DeploymentResult, GateOutcome, IncidentRecord, Report,
    ReportQuery, RollbackInfo, Verified, build_report,
};
use zion_core::deployment::DeploymentType;
use zion_core::deployment::PlanKind;
use zion_report::{render_html, render_json, render_markdown};

use crate::{CHARTS, NO_DATA, SECTIONS};

fn ts(s: &str) -> Timestamp {
    s.parse().unwrap()
}

fn dep(
    id: &str,
    service: &str,
    env: &str,
    kind: DeploymentType,
    result: DeploymentResult,
    finished: &str,
    seconds: i64,
) -> DeploymentRecord {
    let finished_at = ts(finished);
    let mut r = DeploymentRecord::new(
        id,
        Arc::from(service),
        Arc::from(env),
        env == "production",
        kind,
        result,
        finished_at - jiff::SignedDuration::from_secs(seconds),
        finished_at,
    );
    r.strategy = Some(PlanKind::Canary);
    r
}

fn query() -> ReportQuery {
    ReportQuery {
        since: ts("2026-01-28T00:00:00Z"),
        until: ts("2026-02-03T00:00:00Z"),
        environment: None,
        service: None,
        tz: TimeZone::UTC,
    }
}

/// A history whose figures are easy to find in the output: 4 deployments,
/// 3 attempted, 2 succeeded (66.7%), durations 154 s and 47 s. Zion's own
/// ids read `#1`; the imported one reads as its tool wrote it, `gh-1234`.
fn report() -> Report {
    use DeploymentResult::*;
    use DeploymentType::*;
    let mut rolled = dep(
        "#3",
        "web",
        "production",
        Feature,
        RolledBack,
        "2026-01-30T12:00:00Z",
        300,
    );
    rolled.rollback = Some(RollbackInfo {
        automatic: true,
        seconds: 45.0,
    });
    let mut first = dep(
        "#1",
        "web",
        "production",
        Feature,
        Succeeded,
        "2026-01-28T10:00:00Z",
        154,
    );
    first.committed_at = Some(ts("2026-01-28T09:00:00Z"));
    first.approval_wait_seconds = Some(600.0);
    first.gates = Some(Box::new(GateOutcome {
        passed: true,
        tests_passed_ratio: Some(1.0),
        coverage: Some(0.8),
        findings_error: Some(0),
        findings_warning: Some(4),
    }));
    let deployments = vec![
        first,
        // A service name that would break HTML and Markdown if not escaped.
        dep(
            "gh-1234",
            "<script>alert('x')</script>|*",
            "staging",
            Hotfix,
            Succeeded,
            "2026-01-29T10:00:00Z",
            47,
        ),
        rolled,
        dep(
            "#4",
            "web",
            "production",
            Feature,
            Rejected,
            "2026-02-01T10:00:00Z",
            0,
        ),
    ];
    let incidents: Vec<IncidentRecord> = vec![];
    build_report(&deployments, &incidents, &query())
}

/// Checks that every element opened is closed in order (void elements and
/// `/>` excepted) and that no stray `<` or `>` is left in text.
fn assert_balanced(html: &str) {
    const VOID: [&str; 2] = ["meta", "br"];
    let mut stack: Vec<String> = Vec::new();
    let mut rest = html;
    while let Some(open) = rest.find('<') {
        assert!(
            !rest[..open].contains('>'),
            "stray '>' before {:?}",
            &rest[open..open.min(rest.len()).saturating_add(40).min(rest.len())]
        );
        let close = rest[open..].find('>').expect("unclosed tag") + open;
        let tag = &rest[open + 1..close];
        assert!(!tag.contains('<'), "'<' inside a tag: {tag}");
        rest = &rest[close + 1..];
        if tag.starts_with('!') {
            continue;
        }
        if let Some(name) = tag.strip_prefix('/') {
            let top = stack
                .pop()
                .unwrap_or_else(|| panic!("</{name}> closes nothing"));
            assert_eq!(top, name, "</{name}> closes <{top}>");
            continue;
        }
        let name = tag
            .split(|c: char| c.is_whitespace() || c == '/')
            .next()
            .unwrap()
            .to_string();
        if tag.ends_with('/') || VOID.contains(&name.as_str()) {
            continue;
        }
        // Text inside <style> may hold '>' (CSS selectors); skip to its end.
        if name == "style" {
            let end = rest.find("</style>").expect("style is closed");
            rest = &rest[end..];
        }
        stack.push(name);
    }
    assert!(!rest.contains('>'), "stray '>' at the end");
    assert!(stack.is_empty(), "unclosed: {stack:?}");
}

#[test]
fn html_has_every_section_chart_and_figure() {
    let html = render_html(&report());
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert_balanced(&html);
    for (id, _) in SECTIONS {
        assert_eq!(
            html.matches(&format!("<section id=\"{id}\">")).count(),
            1,
            "{id}"
        );
    }
    for id in CHARTS {
        let at = html
            .find(&format!("<figure id=\"{id}\">"))
            .unwrap_or_else(|| panic!("{id}"));
        assert!(
            html[at..].find("<svg").unwrap() < html[at..].find("</figure>").unwrap(),
            "{id} has an svg"
        );
    }
    // Figures: 4 deployments; success 2 of 3 = 66.7%; mean duration
    // (154 + 47) / 2 = 100.5 s = 1m 41s (rounded); fastest 47s, slowest
    // 2m 34s; rollback 45s; approval wait 10m 00s; coverage 80.0%.
    for figure in [
        "Total deployments: 4",
        "66.7% (2 of 3)",
        "1m 41s",
        "47s (gh-1234, ",
        "2m 34s (#1, web in production, feature)",
        "45s",
        "10m 00s",
        "80.0% (over 1)",
        "Thursday 2026-01-29",
    ] {
        assert!(html.contains(figure), "missing {figure:?}");
    }
    // Nothing external, nothing executable.
    assert!(!html.contains("<script"), "user text must be escaped");
    assert!(html.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;|*"));
    assert!(!html.contains("src="));
    assert!(!html.contains("href="));
    assert!(html.contains("@media print"));
    // No audit was given: the section says so.
    let audit = &html[html.find("<section id=\"audit\">").unwrap()..];
    assert!(audit.contains(NO_DATA));
}

#[test]
fn html_for_an_empty_period_says_no_data_everywhere() {
    let r = build_report(&[], &[], &query());
    let html = render_html(&r);
    assert_balanced(&html);
    for (id, _) in SECTIONS {
        let at = html.find(&format!("<section id=\"{id}\">")).unwrap();
        let end = at + html[at..].find("</section>").unwrap();
        assert!(html[at..end].contains(NO_DATA), "{id}");
    }
    for id in CHARTS {
        assert!(!html.contains(id), "{id} drawn without data");
    }
    assert!(!html.contains("NaN"));
}

#[test]
fn markdown_has_every_section_and_escapes_names() {
    let md = render_markdown(&report());
    for (_, title) in SECTIONS {
        let heading = format!("## {title}\n");
        assert_eq!(md.matches(&heading).count(), 1, "{heading}");
    }
    assert!(md.contains("- **Success rate**: 66.7% (2 of 3)"));
    assert!(md.contains("- **Fastest**: 47s"));
    assert!(md.contains(
        "| Environment | Production | Deployments | Share | Success rate | Mean duration |"
    ));
    // production: 3 deployments of 4 (75.0%), 1 of 2 attempted succeeded.
    assert!(
        md.contains("| production | yes | 3 | 75.0% | 50.0% (1 of 2) | 2m 34s |"),
        "{md}"
    );
    assert!(md.contains(r"\<script\>alert('x')\</script\>\|\*"));
    assert!(!md.contains("<script>"));
    // Every table row has as many cells as its header.
    for line in md.lines().filter(|l| l.starts_with('|')) {
        let cells = line.replace(r"\|", "").matches('|').count();
        assert!(cells >= 3, "{line}");
    }
    // The audit section had no data.
    let audit = &md[md.find("## Audit log").unwrap()..];
    assert!(audit.contains(NO_DATA));
}

#[test]
fn dora_figures_render_with_their_clusters() {
    let r = report();
    // Production attempted: #1 (lead 1 h) and #3 (rolled back after 300 s
    // of traffic, which restored service: 5m 00s).
    let md = render_markdown(&r);
    assert!(
        md.contains(
            "| Deployment frequency | 0.17/day (weekly) | High | 1 successful deployments over 6 days |"
        ),
        "{md}"
    );
    assert!(
        md.contains(
            "| Lead time for changes | 1h 00m | Elite | median of 1 commit-to-deploy times |"
        ),
        "{md}"
    );
    assert!(md.contains("| Change failure rate | 50.0% | Low | 1 of 2 deployments |"));
    assert!(md.contains(
        "| Failed deployment recovery time | 5m 00s | Elite | median of 1 restored failures |"
    ));
    let json: serde_json::Value = serde_json::from_str(&render_json(&r)).unwrap();
    assert_eq!(json["change_failure_rate"]["value"], 0.5);
    assert_eq!(json["failed_deployment_recovery_time"]["value"], 300.0);
}

#[test]
fn refusals_are_shown_by_rule_in_the_quality_gates_section() {
    let mut r = report();
    r.refusals = Some(zion_core::delivery::PolicyRefusals {
        total: 3,
        by_rule: [
            ("quality_gates_failed".to_string(), 2),
            ("window_closed".to_string(), 1),
        ]
        .into_iter()
        .collect(),
        entries: vec![4, 9, 12],
    });
    let md = render_markdown(&r);
    assert!(
        md.contains("Requests refused by policy**: 3 (quality gates 2, window or freeze 1)")
            && md.contains("Their audit entries**: 4, 9, 12"),
        "{md}"
    );
    // An empty period with refusals only still shows them.
    let mut empty = build_report(&[], &[], &query());
    empty.refusals = r.refusals.clone();
    let html = render_html(&empty);
    assert_balanced(&html);
    assert!(
        html.contains(
            "<dt>Requests refused by policy</dt><dd>3 (quality gates 2, window or freeze 1)</dd>"
        ),
        "{html}"
    );
}

#[test]
fn an_audit_summary_is_rendered_and_escaped() {
    let mut r = report();
    r.audit = Some(AuditSummary {
        checkpoints: None,
        entries: Some(42),
        error: Some("entry 7 does not match <local> checkpoint".into()),
        first_bad_entry: Some(7),
        last_full_verification: None,
        latest_checkpoint_root: None,
        latest_checkpoint_size: Some(40),
        root: None,
        verified: Verified::No,
        verified_from_entry: None,
    });
    let html = render_html(&r);
    assert_balanced(&html);
    assert!(
        html.contains("<dt>latest checkpoint size</dt><dd>40</dd>"),
        "{html}"
    );
    assert!(
        html.contains("<dt>first bad entry</dt><dd>7</dd>"),
        "{html}"
    );
    assert!(
        html.contains("does not match &lt;local&gt; checkpoint"),
        "{html}"
    );
    // What the verification did not report is left out.
    assert!(!html.contains("<dt>root</dt>"), "{html}");
    let md = render_markdown(&r);
    assert!(md.contains(r"- **verified**: NO"), "{md}");
    assert!(md.contains(r"- **entries**: 42"), "{md}");
    assert!(md.contains(r"does not match \<local\> checkpoint"), "{md}");
    // In the order of the summary's fields (the JSON's order).
    let at = |k: &str| md.find(&format!("**{k}**")).unwrap();
    assert!(at("entries") < at("error") && at("error") < at("first bad entry"));
    assert!(at("latest checkpoint size") < at("verified"));
}

#[test]
fn ids_print_as_recorded_without_a_second_hash() {
    let r = report();
    let md = render_markdown(&r);
    let html = render_html(&r);
    // Slowest #1 (own), fastest gh-1234 (imported). A literal `#` before
    // the id printed `##1` and `#gh-1234`.
    assert!(md.contains("- **Slowest**: 2m 34s (#1, web in production, feature)"));
    assert!(md.contains(r"- **Fastest**: 47s (gh-1234, \<script\>"));
    assert!(html.contains("<dd>2m 34s (#1, web in production, feature)</dd>"));
    assert!(html.contains("<dd>47s (gh-1234, &lt;script&gt;"));
    for out in [&md, &html] {
        assert!(!out.contains("##1") && !out.contains("#gh-"));
    }
}

#[test]
fn trends_show_each_months_dora_figures() {
    let r = report();
    let md = render_markdown(&r);
    assert!(
        md.contains("| Month | Deployments | Success rate | Mean duration |")
            && md.contains(
                "| Month | Frequency | Lead time | Change failure rate | Recovery time | \
                 Rework rate |"
            ),
        "{md}"
    );
    // January (28th–31st, 4 days): #1, gh-1234, #3; (154 + 47) / 2 =
    // 100.5 s ≈ 1m 41s. Production: #1 succeeded on one day of a partial
    // week (1 / 4 = 0.25 a day, weekly → high), lead 1 h (elite), #3
    // failed (1 of 2 = 50.0%, low) and took traffic for 300 s (elite),
    // no hotfix or rollback (0.0%).
    assert!(
        md.contains("| 2026-01 | 3 | 66.7% (2 of 3) | 1m 41s |"),
        "{md}"
    );
    assert!(
        md.contains(
            "| 2026-01 | 0.25/day (weekly), high | 1h 00m, elite | 50.0%, low | 5m 00s, elite | \
             0.0% |"
        ),
        "{md}"
    );
    // February: only the rejected #4, nothing attempted: no DORA figure.
    assert!(md.contains("| 2026-02 | 1 | no data | no data |"), "{md}");
    assert!(
        md.contains("| 2026-02 | no data | no data | no data | no data | no data |"),
        "{md}"
    );
    let html = render_html(&r);
    assert_balanced(&html);
    let trends = &html[html.find("<section id=\"trends\">").unwrap()..];
    let trends = &trends[..trends.find("</section>").unwrap()];
    for cell in [
        "<th>Change failure rate</th>",
        "<th>Rework rate</th>",
        "<td>0.25/day (weekly), high</td>",
        "<td>5m 00s, elite</td>",
    ] {
        assert!(trends.contains(cell), "{cell} in {trends}");
    }
    let json: serde_json::Value = serde_json::from_str(&render_json(&r)).unwrap();
    assert_eq!(json["trends"][0]["deployment_frequency"]["value"], 0.25);
    assert_eq!(json["trends"][0]["change_failure_rate"]["cluster"], "low");
    assert!(json["trends"][1]["change_failure_rate"].is_null());
}

#[test]
fn partial_end_days_are_listed_but_averages_use_the_real_length() {
    use DeploymentResult::*;
    use DeploymentType::*;
    // 1 January 12:00 to 31 January 12:00 (UTC): 31 calendar days, 30 days
    // long. 3 deployments, 2 succeeded in production.
    let deployments = vec![
        dep(
            "#1",
            "web",
            "production",
            Feature,
            Succeeded,
            "2026-01-01T13:00:00Z",
            60,
        ),
        dep(
            "#2",
            "web",
            "production",
            Feature,
            Succeeded,
            "2026-01-31T11:00:00Z",
            60,
        ),
        dep(
            "#3",
            "web",
            "staging",
            Feature,
            Failed,
            "2026-01-15T10:00:00Z",
            60,
        ),
    ];
    let q = ReportQuery {
        since: ts("2026-01-01T12:00:00Z"),
        until: ts("2026-01-31T12:00:00Z"),
        ..query()
    };
    let md = render_markdown(&build_report(&deployments, &[], &q));
    // 3 / 30 = 0.1 a day; production 2 / 30 = 0.0667 a day, under 0.1, so
    // per week: 0.0667 × 7 = 0.467 → 0.47/week.
    assert!(md.contains("- **Average**: 0.1 deployments a day"), "{md}");
    assert!(md.contains("- **Days in period**: 31 calendar days, 30 days long"));
    // The header counts the period as the body does.
    assert!(
        md.contains(
            "Period: 2026-01-01 12:00:00 to 2026-01-31 12:00:00 (exclusive) \
             (31 calendar days, 30 days long, UTC)"
        ),
        "{md}"
    );
    assert!(!md.contains("(31 days"), "{md}");
    assert!(md.contains("| Deployment frequency | 0.47/week"), "{md}");
    assert!(md.contains("2 successful deployments over 30 days"));
    // Both partial days are still in the per-day table.
    assert!(md.contains("| Thursday 2026-01-01 (partial) | 1 | 1 |"));
    assert!(md.contains("| Saturday 2026-01-31 (partial) | 1 | 1 |"));
}

#[test]
fn the_header_counts_one_day_and_part_of_a_day_in_words() {
    let whole = ReportQuery {
        since: ts("2026-01-01T00:00:00Z"),
        until: ts("2026-01-02T00:00:00Z"),
        ..query()
    };
    let md = render_markdown(&build_report(&[], &[], &whole));
    assert!(
        md.contains("Period: 2026-01-01 to 2026-01-01 (1 day, UTC)"),
        "{md}"
    );
    let half = ReportQuery {
        until: ts("2026-01-01T12:00:00Z"),
        ..whole
    };
    let md = render_markdown(&build_report(&[], &[], &half));
    assert!(md.contains("(1 calendar day, 0.5 days long, UTC)"), "{md}");
}
