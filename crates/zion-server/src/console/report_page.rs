//! `/ui/report`: the delivery report over a period chosen on the page,
//! built by exactly the code behind `GET /api/v1/report` (the same query
//! parsing, `App::report` and `zion_core::delivery`), so the page and
//! `zion report` cannot disagree; then the incidents of the period, each
//! with its deployment, start and restore time. Every figure carries its
//! exact value in a `data-value` attribute beside the words.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use jiff::Timestamp;
use maud::{Markup, html};
use serde::Deserialize;
use zion_core::api::IncidentView;
use zion_core::delivery::dora::{DurationFigure, RateFigure};
use zion_core::delivery::{DoraMetrics, Report};
use zion_store::IncidentFilter;

use super::format::{elapsed, exact, seconds_between};
use super::layout::{self, percent, time};
use super::session::{Page, SignedIn};
use crate::app::App;
use crate::error::ApiError;
use crate::http::extract::ApiQuery;
use crate::http::report_api::{ReportAsked, report_of, report_query};

/// The form's fields as sent; an empty one is the API's default.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ReportParams {
    since: Option<String>,
    until: Option<String>,
    service: Option<String>,
    #[serde(alias = "env")]
    environment: Option<String>,
    tz: Option<String>,
}

fn given(v: &Option<String>) -> Option<&str> {
    v.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

/// `GET /ui/report`.
pub(crate) async fn show(
    State(app): State<Arc<App>>,
    Page(who): Page,
    ApiQuery(q): ApiQuery<ReportParams>,
) -> Result<Response, ApiError> {
    let asked = ReportAsked {
        since: given(&q.since),
        until: given(&q.until),
        environment: given(&q.environment).map(String::from),
        service: given(&q.service).map(String::from),
        tz: given(&q.tz),
    };
    let query = match report_query(asked, app.clock.now()) {
        Ok(query) => query,
        // The form again, saying what is wrong: nothing was read.
        Err(e) => {
            let body = html! {
                (form(&q))
                p.error #report-error role="alert" { (e.message) }
            };
            let page = layout::page("Delivery report", Some(&who), None, body);
            return Ok((StatusCode::BAD_REQUEST, page).into_response());
        }
    };
    let incidents = app.incidents(&IncidentFilter {
        service: query.service.clone(),
        environment: query.environment.clone(),
        open_only: false,
    })?;
    let report = report_of(app, query).await?;
    let incidents = in_period(incidents, report.period.since, report.period.until);
    Ok(page(&who, &q, &report, &incidents).into_response())
}

/// The incidents open at some time in `[since, until)`, newest first.
pub(crate) fn in_period(
    incidents: Vec<IncidentView>,
    since: Timestamp,
    until: Timestamp,
) -> Vec<IncidentView> {
    incidents
        .into_iter()
        .filter(|i| i.opened_at < until && i.resolved_at.is_none_or(|r| r >= since))
        .collect()
}

fn form(q: &ReportParams) -> Markup {
    let field = |id: &str, label: &str, hint: &str, value: &Option<String>| {
        let hint_id = format!("{id}-hint");
        html! {
            div.field {
                label for=(id) { (label) }
                input id=(id) name=(id) type="text" value=[value.as_deref()] aria-describedby=(hint_id);
                small id=(hint_id) { (hint) }
            }
        }
    };
    html! {
        form.filters #report-period method="get" action="/ui/report" {
            (field("since", "Since", "30d, a date 2026-11-01 or an RFC 3339 time; 30 days ago if empty", &q.since))
            (field("until", "Until", "the same forms (a date includes that day); now if empty", &q.until))
            (field("service", "Service", "one service; all if empty", &q.service))
            (field("environment", "Environment", "one environment; all if empty", &q.environment))
            (field("tz", "Time zone", "of days and weeks: Europe/Paris or +02:00; UTC if empty", &q.tz))
            button type="submit" { "Show" }
        }
    }
}

fn page(who: &SignedIn, q: &ReportParams, r: &Report, incidents: &[IncidentView]) -> Markup {
    let p = &r.period;
    let headline = DoraMetrics {
        deployment_frequency: r.deployment_frequency.clone(),
        lead_time_for_changes: r.lead_time_for_changes.clone(),
        change_failure_rate: r.change_failure_rate.clone(),
        failed_deployment_recovery_time: r.failed_deployment_recovery_time.clone(),
        deployment_rework_rate: r.deployment_rework_rate.clone(),
    };
    layout::page(
        "Delivery report",
        Some(who),
        None,
        html! {
            (form(q))
            p #period data-since=(p.since) data-until=(p.until) data-days=(p.days)
                data-total=(r.total_deployments) {
                "From " (time(p.since)) " to " (time(p.until)) " (" (p.time_zone) ", " (p.days) " days): "
                (r.total_deployments) " deployments."
            }
            @if let Some(s) = &r.summary {
                dl #summary {
                    dt { "Attempted" } dd data-field="attempted" data-value=(s.attempted) { (s.attempted) }
                    dt { "Succeeded" } dd data-field="succeeded" data-value=(s.succeeded) { (s.succeeded) }
                    dt { "Failed" } dd data-field="failed" data-value=(s.failed) { (s.failed) }
                    dt { "Rolled back" } dd data-field="rolled_back" data-value=(s.rolled_back) { (s.rolled_back) }
                    dt { "Success rate" }
                    dd data-field="success_rate" data-value=[s.success_rate.map(exact)] {
                        (s.success_rate.map_or("none".into(), percent))
                    }
                }
            }
            section #dora {
                h2 { "DORA metrics" }
                p { "Of production deployments; a cluster is the DORA 2024 report's." }
                div.scroll {
                    table #dora-table {
                        caption { "Overall, per service and per environment" }
                        (dora_head("Of"))
                        tbody {
                            (dora_row("all", "overall", "All", &headline))
                            @if let Some(b) = &r.dora {
                                @for s in &b.by_service {
                                    (dora_row("service", &s.service, &s.service, &s.metrics))
                                }
                                @for e in &b.by_environment {
                                    (dora_row("environment", &e.environment, &format!("{} (environment)", e.environment), &e.metrics))
                                }
                            }
                        }
                    }
                }
            }
            @if let Some(slos) = &r.slos { (slo_section(slos)) }
            (incident_section(incidents))
        },
    )
}

fn dora_head(first: &str) -> Markup {
    html! {
        thead { tr {
            th scope="col" { (first) }
            th scope="col" { "Deployment frequency" }
            th scope="col" { "Lead time for changes" }
            th scope="col" { "Change failure rate" }
            th scope="col" { "Time to restore" }
            th scope="col" { "Rework rate" }
        } }
    }
}

/// One stream's five figures; `kind` and `key` name the row for a reader.
fn dora_row(kind: &str, key: &str, label: &str, m: &DoraMetrics) -> Markup {
    html! {
        tr data-dora=(kind) data-key=(key) {
            th scope="row" { (label) }
            @match &m.deployment_frequency {
                Some(f) => td data-metric="deployment_frequency" data-value=(exact(f.value))
                    data-cluster=(f.cluster.name()) data-count=(f.deployments) {
                    (format!("{:.2}", f.value)) " a day (" (f.bucket.name()) ", " (f.cluster.name()) ")"
                },
                None => td data-metric="deployment_frequency" { "no data" },
            }
            (duration_cell("lead_time_for_changes", m.lead_time_for_changes.as_ref()))
            (rate_cell("change_failure_rate", m.change_failure_rate.as_ref()))
            (duration_cell("failed_deployment_recovery_time", m.failed_deployment_recovery_time.as_ref()))
            (rate_cell("deployment_rework_rate", m.deployment_rework_rate.as_ref()))
        }
    }
}

fn duration_cell(metric: &str, f: Option<&DurationFigure>) -> Markup {
    html! {
        @match f {
            Some(f) => td data-metric=(metric) data-value=(exact(f.value))
                data-cluster=(f.cluster.name()) data-count=(f.samples) {
                "median " (elapsed(f.value)) " of " (f.samples) " (" (f.cluster.name()) ")"
            },
            None => td data-metric=(metric) { "no data" },
        }
    }
}

fn rate_cell(metric: &str, f: Option<&RateFigure>) -> Markup {
    html! {
        @match f {
            Some(f) => td data-metric=(metric) data-value=(exact(f.value))
                data-cluster=[f.cluster.map(|c| c.name())] data-count=(f.count) {
                (percent(f.value)) " (" (f.count) " of " (f.deployments) ")"
                @if let Some(c) = f.cluster { " (" (c.name()) ")" }
            },
            None => td data-metric=(metric) { "no data" },
        }
    }
}

fn slo_section(slos: &[zion_core::slo::report::SloSummary]) -> Markup {
    html! {
        section #report-slos {
            h2 { "Service level objectives over the period" }
            @if slos.is_empty() { p { "No SLO within the filters." } }
            @else {
                div.scroll {
                    table {
                        caption { "Each SLO's events of the period alone" }
                        thead { tr {
                            th scope="col" { "SLO" } th scope="col" { "Objective" } th scope="col" { "SLI" }
                            th scope="col" { "Good of all" } th scope="col" { "Budget left" }
                        } }
                        tbody {
                            @for s in slos {
                                tr data-slo=(s.id) data-good=(s.good) data-total=(s.total)
                                    data-sli=[s.sli.map(exact)] data-budget-remaining=(exact(s.budget.remaining)) {
                                    th scope="row" { (s.id) }
                                    td { (percent(s.objective)) }
                                    td { (s.sli.map_or("no events".into(), percent)) }
                                    td { (s.good) " of " (s.total) }
                                    td { (percent(s.budget.remaining)) }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn incident_section(incidents: &[IncidentView]) -> Markup {
    html! {
        section #incidents {
            h2 { "Incidents" }
            @if incidents.is_empty() { p #no-incidents { "No incident was open in the period." } }
            @else {
                div.scroll {
                    table #incident-table {
                        caption { "Incidents open at some time in the period, newest first" }
                        thead { tr {
                            th scope="col" { "Incident" } th scope="col" { "Target" } th scope="col" { "Deployment" }
                            th scope="col" { "Opened" } th scope="col" { "Restored" } th scope="col" { "Time to restore" }
                            th scope="col" { "Why" }
                        } }
                        tbody {
                            @for i in incidents {
                                tr data-incident=(i.id) data-deployment=[i.deployment_id]
                                    data-open=(i.resolved_at.is_none()) {
                                    td { (i.id) }
                                    td { (i.service) " " span.env { (i.environment) } }
                                    td {
                                        @if let Some(d) = i.deployment_id { a href={ "/ui/deployments/" (d) } { "#" (d) } }
                                        @else { "none" }
                                    }
                                    td { (time(i.opened_at)) " by " (i.opened_by) }
                                    @match i.resolved_at {
                                        Some(r) => {
                                            td { (time(r)) @if let Some(by) = &i.resolved_by { " by " (by) } }
                                            td data-field="restore" data-seconds=(exact(seconds_between(i.opened_at, r))) {
                                                (elapsed(seconds_between(i.opened_at, r)))
                                            }
                                        }
                                        None => { td { "still open" } td data-field="restore" { "open" } }
                                    }
                                    td { (i.reason) }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn incident(id: i64, opened: &str, resolved: Option<&str>) -> IncidentView {
        IncidentView {
            deployment_id: Some(id * 10),
            environment: "production".into(),
            id,
            opened_at: opened.parse().unwrap(),
            opened_by: "controller".into(),
            reason: "rolled back".into(),
            resolution: None,
            resolved_at: resolved.map(|r| r.parse().unwrap()),
            resolved_by: None,
            service: "web".into(),
        }
    }

    #[test]
    fn the_period_lists_the_incidents_open_during_it() {
        let since: Timestamp = "2026-03-01T00:00:00Z".parse().unwrap();
        let until: Timestamp = "2026-03-02T00:00:00Z".parse().unwrap();
        let all = vec![
            // Opened after the period.
            incident(5, "2026-03-02T00:00:00Z", None),
            // Still open, opened before.
            incident(4, "2026-02-20T00:00:00Z", None),
            // Opened and resolved within.
            incident(3, "2026-03-01T10:00:00Z", Some("2026-03-01T11:00:00Z")),
            // Resolved before the period began.
            incident(2, "2026-02-01T00:00:00Z", Some("2026-02-28T23:59:59Z")),
            // Resolved at its first instant.
            incident(1, "2026-02-01T00:00:00Z", Some("2026-03-01T00:00:00Z")),
        ];
        let ids: Vec<i64> = in_period(all, since, until).iter().map(|i| i.id).collect();
        assert_eq!(ids, vec![4, 3, 1]);
    }
}
