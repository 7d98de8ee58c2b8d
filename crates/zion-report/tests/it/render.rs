//! Rendering a report built from a small known history.

use std::sync::Arc;

use jiff::Timestamp;
use jiff::tz::TimeZone;
use zion_core::delivery::{
    DeploymentRecord, DeploymentResult, GateOutcome, IncidentRecord, Report, ReportQuery,
    RollbackInfo, build_report,
};
use zion_core::deployment::DeploymentType;
use zion_core::spec::Strategy;
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
    r.strategy = Some(Strategy::Canary);
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
/// 3 attempted, 2 succeeded (66.7%), durations 154 s and 47 s.
fn report() -> Report {
    use DeploymentResult::*;
    use DeploymentType::*;
    let mut rolled = dep(
        "3",
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
        "1",
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
            "2",
            "<script>alert('x')</script>|*",
            "staging",
            Hotfix,
            Succeeded,
            "2026-01-29T10:00:00Z",
            47,
        ),
        rolled,
        dep(
            "4",
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
        "47s (#2",
        "2m 34s (#1",
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
    // Production attempted: #1 (lead 1 h) and #3 (rolled back).
    let md = render_markdown(&r);
    assert!(
        md.contains(
            "| Lead time for changes | 1h 00m | Elite | median of 1 commit-to-deploy times |"
        ),
        "{md}"
    );
    assert!(md.contains("| Change failure rate | 50.0% | Low | 1 of 2 deployments |"));
    // No success after the rollback: no recovery figure, said plainly.
    assert!(md.contains("| Failed deployment recovery time | no data | — | no data |"));
    let json: serde_json::Value = serde_json::from_str(&render_json(&r)).unwrap();
    assert_eq!(json["change_failure_rate"]["value"], 0.5);
    assert!(json["failed_deployment_recovery_time"].is_null());
}

#[test]
fn an_audit_summary_is_rendered_and_escaped() {
    let mut r = report();
    r.audit =
        Some(serde_json::json!({ "tree_size": 42, "verified": true, "origin": "zion <local>" }));
    let html = render_html(&r);
    assert_balanced(&html);
    assert!(html.contains("<dt>tree size</dt><dd>42</dd>"));
    assert!(html.contains("zion &lt;local&gt;"));
    let md = render_markdown(&r);
    assert!(md.contains(r"- **verified**: true"));
    assert!(md.contains(r"zion \<local\>"));

    // Nested values are shown as JSON.
    r.audit = Some(serde_json::json!({ "checkpoint": { "size": 7 } }));
    let html = render_html(&r);
    assert_balanced(&html);
    assert!(html.contains("<pre>{\n  &quot;checkpoint&quot;"));
    let md = render_markdown(&r);
    assert!(md.contains("```json\n{\n  \"checkpoint\""));
}
