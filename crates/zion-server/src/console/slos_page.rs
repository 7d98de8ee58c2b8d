//! `/ui/slos`: every SLO of the spec as `GET /api/v1/slos` shows it
//! (`App::slo_views`: objective, window, SLI now, budget left and
//! consumed, each alert pair's burn rates, the alerts and since when),
//! the budget left over a day, week or month from the same report as
//! `GET /api/v1/slos/report` (`App::slo_report`), drawn as a line, and
//! the alerts' recent transitions from the audit log, where the journal
//! records each one. Each SLO's figures now are a fragment the live
//! stream replaces when they change (as the overview's budgets: one read
//! of the SLOs' rows per poll); the chart and the transitions are
//! rendered at load.

use std::sync::Arc;

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};
use serde::Deserialize;
use zion_core::api::SloView;
use zion_core::audit::AuditAction;
use zion_core::compliance::Fact;
use zion_core::slo::report::{Period, SloPeriod, SloReport};
use zion_core::slo::{AlertKind, Budget, Counts};

use super::charts;
use super::format::exact;
use super::layout::{self, figure, percent, time, trusted};
use super::session::{Page, SignedIn};
use crate::app::App;
use crate::error::{ApiError, excerpt};
use crate::http::extract::ApiQuery;

/// How many transitions the page lists.
const TRANSITIONS: usize = 50;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SloParams {
    period: Option<String>,
}

/// The period of the charts: `day` (the default), `week` or `month`.
pub(crate) fn period(asked: Option<&str>) -> Result<Period, String> {
    let name = asked
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .unwrap_or("day");
    Period::from_name(name).ok_or_else(|| {
        format!(
            "`{}` is not a period: use day, week or month",
            excerpt(name)
        )
    })
}

/// `GET /ui/slos`.
pub(crate) async fn show(
    State(app): State<Arc<App>>,
    Page(who): Page,
    ApiQuery(q): ApiQuery<SloParams>,
) -> Result<Response, ApiError> {
    let period = period(q.period.as_deref()).map_err(ApiError::bad_request)?;
    let slos = app.slo_views()?;
    let report = app.slo_report(period)?;
    let mut transitions = Vec::new();
    for action in [
        AuditAction::SloAlertFiring,
        AuditAction::ErrorBudgetExhausted,
        AuditAction::SloAlertResolved,
    ] {
        transitions.extend(app.audit_facts(&zion_store::AuditFilter {
            since: Some(report.since),
            action: Some(action.to_string()),
            ..Default::default()
        })?);
    }
    transitions.sort_by_key(|f| std::cmp::Reverse(f.index));
    transitions.truncate(TRANSITIONS);
    Ok(page(&who, &slos, &report, &transitions).into_response())
}

/// The budget left after each bucket of the period, counting the
/// period's events from its start (the core's arithmetic, `Budget::of`,
/// on the running sum of the buckets' counts).
pub(crate) fn budget_left(p: &SloPeriod) -> Vec<f64> {
    let mut sum = Counts::default();
    p.buckets
        .iter()
        .map(|b| {
            sum = sum + Counts::new(b.good, b.total);
            Budget::of(p.objective, sum).remaining
        })
        .collect()
}

/// The element id of an SLO's card.
fn card_id(id: &str) -> String {
    format!("slo-{}", id.replace('/', "--"))
}

fn page(who: &SignedIn, slos: &[SloView], report: &SloReport, transitions: &[Fact]) -> Markup {
    layout::page(
        "SLOs and alerts",
        Some(who),
        Some("/ui/events?page=slos"),
        html! {
            form.filters #slo-period method="get" action="/ui/slos" {
                div.field {
                    label for="period" { "Budget chart over the last" }
                    select #period name="period" {
                        @for p in [Period::Day, Period::Week, Period::Month] {
                            option value=(p.name()) selected[p == report.period] { (p.name()) }
                        }
                    }
                }
                button type="submit" { "Show" }
            }
            @if slos.is_empty() {
                p #no-slos { "No SLO: declare them under " code { "slos:" } " in the spec." }
            }
            section.slos #slos aria-label="SLOs" {
                @for s in slos {
                    (card(s, report.slos.iter().find(|p| p.id == s.id), report.period))
                }
            }
            (transition_table(transitions))
        },
    )
}

fn card(s: &SloView, over: Option<&SloPeriod>, period: Period) -> Markup {
    html! {
        article.card id=(card_id(&s.id)) data-slo=(s.id) {
            h2 { (s.service) " " span.env { (s.environment) } " " (s.name) }
            (now(s))
            @if let Some(p) = over {
                figure.budget data-buckets=(p.buckets.len()) {
                    figcaption { "Budget left over the last " (period.name()) ", counting its events from its start" }
                    (trusted(charts::budget(&budget_left(p))))
                }
            }
        }
    }
}

/// Every SLO's part that the live stream replaces, as (element id, HTML).
pub(crate) fn fragments(slos: &[SloView]) -> Vec<(String, String)> {
    slos.iter()
        .map(|s| (now_id(&s.id), now(s).into_string()))
        .collect()
}

/// The element id of an SLO's figures now.
fn now_id(id: &str) -> String {
    format!("{}--now", card_id(id))
}

/// An SLO's figures now: what the live stream keeps up to date.
fn now(s: &SloView) -> Markup {
    html! {
        div.now id=(now_id(&s.id)) {
            dl {
                dt { "Objective" } dd data-field="objective" data-value=(exact(s.objective)) { (percent(s.objective)) }
                dt { "SLI" }
                dd {
                    (s.sli) @if let Some(ms) = s.threshold_ms { " under " (ms) " ms" }
                    ", " (s.budgeting) " over " (s.window)
                }
                dt { "SLI now" }
                dd data-field="sli" data-value=[s.sli_now.map(exact)] data-good=(s.good) data-total=(s.total) {
                    (s.sli_now.map_or("no events".into(), percent)) " (" (s.good) " good of " (s.total) ")"
                }
                dt { "Budget left" }
                dd data-field="budget-remaining" data-value=(exact(s.budget.remaining)) { (percent(s.budget.remaining)) }
                dt { "Budget consumed" }
                dd data-field="budget-consumed" data-value=(exact(s.budget.consumed)) { (percent(s.budget.consumed)) }
                dt { "Burn rate" }
                dd data-field="burn-rate" data-value=(exact(s.budget.burn_rate)) { (figure(s.budget.burn_rate)) "×" }
            }
            (alerts(s))
            div.scroll {
                table.burn-rates {
                    caption { "Burn rates of each alert's windows" }
                    thead { tr {
                        th scope="col" { "Alert" } th scope="col" { "Above" }
                        th scope="col" { "Long window" } th scope="col" { "Short window" } th scope="col" { "Firing" }
                    } }
                    tbody {
                        @for r in &s.burn_rates {
                            tr data-alert=(r.alert.name()) data-long=(r.long_window) data-firing=(r.firing) {
                                td { (r.alert.name()) }
                                td { (figure(r.factor)) "×" }
                                td data-value=(exact(r.long_burn)) { (r.long_window) ": " (figure(r.long_burn)) "×" }
                                td data-value=(exact(r.short_burn)) { (r.short_window) ": " (figure(r.short_burn)) "×" }
                                td { @if r.firing { "yes" } @else { "no" } }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// The alerts an SLO has recorded: firing ones first.
fn alerts(s: &SloView) -> Markup {
    let mut states = s.alerts.clone();
    states.sort_by_key(|a| (!a.firing, a.alert));
    html! {
        @if states.is_empty() { p.alerts data-firing="0" { "No alert has fired." } }
        @else {
            ul.alerts data-firing=(states.iter().filter(|a| a.firing).count()) {
                @for a in &states {
                    li data-alert=(a.alert.name()) data-severity=(a.alert.severity().name())
                        data-firing=(a.firing) data-state=(if a.firing { "bad" } else { "ok" }) {
                        (a.alert.name()) " (" (a.alert.severity().name()) ") "
                        @if a.firing { "firing since " } @else { "resolved since " }
                        (time(a.since))
                    }
                }
            }
        }
    }
}

fn transition_table(transitions: &[Fact]) -> Markup {
    html! {
        section #transitions {
            h2 { "Recent alert transitions" }
            @if transitions.is_empty() { p #no-transitions { "No alert fired or resolved in the period." } }
            @else {
                div.scroll {
                    table #transition-table {
                        caption { "Newest first, from the audit log" }
                        thead { tr {
                            th scope="col" { "At" } th scope="col" { "SLO" } th scope="col" { "Alert" }
                            th scope="col" { "Severity" } th scope="col" { "Change" } th scope="col" { "Budget left" }
                        } }
                        tbody {
                            @for f in transitions {
                                @let d = &f.details;
                                @let alert = d["alert"].as_str().unwrap_or("");
                                @let firing = f.action != Some(AuditAction::SloAlertResolved);
                                @let severity = AlertKind::from_name(alert).map_or("", |k| k.severity().name());
                                tr data-entry=(f.index) data-alert=(alert) data-firing=(firing) {
                                    td { (time(f.time)) }
                                    td { (d["slo"].as_str().unwrap_or("")) }
                                    td { (alert) }
                                    td { (severity) }
                                    td data-state=(if firing { "bad" } else { "ok" }) {
                                        @if firing { "firing" } @else { "resolved" }
                                    }
                                    td { (d["budget_remaining"].as_f64().map_or(String::new(), percent)) }
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
    use zion_core::slo::report::SloBucket;

    #[test]
    fn the_budget_is_spent_as_the_periods_events_add_up() {
        let bucket = |good, total| SloBucket {
            start: jiff::Timestamp::UNIX_EPOCH,
            good,
            total,
            sli: None,
        };
        let p = SloPeriod {
            id: "web/staging/availability".into(),
            objective: 0.99,
            budgeting: "events".into(),
            good: 0,
            total: 0,
            sli: None,
            budget: Budget::of(0.99, Counts::default()),
            // 1,000 events allow 10 bad: 5 spend half, 10 more overspend.
            buckets: vec![
                bucket(0, 0),
                bucket(495, 500),
                bucket(500, 500),
                bucket(0, 10),
            ],
        };
        let left = budget_left(&p);
        assert_eq!(left.len(), 4);
        assert_eq!(left[0], Budget::of(0.99, Counts::default()).remaining);
        assert!(
            (left[1] - 0.0).abs() < 1e-9,
            "5 bad of 500 allow 5: {left:?}"
        );
        assert!(
            (left[2] - 0.5).abs() < 1e-9,
            "5 bad of 1000 allow 10: {left:?}"
        );
        assert!(left[3] < 0.0, "15 bad of 1010: {left:?}");
    }

    #[test]
    fn the_period_defaults_to_a_day_and_a_wrong_one_is_named() {
        assert_eq!(period(None), Ok(Period::Day));
        assert_eq!(period(Some("")), Ok(Period::Day));
        assert_eq!(period(Some("week")), Ok(Period::Week));
        let e = period(Some("year")).unwrap_err();
        assert!(
            e.contains("`year`") && e.contains("day, week or month"),
            "{e}"
        );
    }
}
