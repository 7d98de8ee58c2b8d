//! `/ui/history`: every deployment, newest first, from the same store
//! read as `GET /api/v1/deployments` (`App::deployment_views`), filtered
//! by service and environment and paged by id: each page ends with a link
//! to the deployments older than its last one, so a page costs the same
//! however deep it is.

use std::sync::Arc;

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};
use serde::Deserialize;
use zion_core::api::DeploymentView;
use zion_core::governance::DecisionKind;
use zion_store::DeploymentFilter;

use super::format::{elapsed, seconds_between};
use super::layout::{self, time};
use super::session::{Page, SignedIn};
use crate::app::App;
use crate::error::{ApiError, excerpt};
use crate::http::extract::ApiQuery;

/// Deployments on a page unless `limit` says otherwise.
const PAGE: usize = 50;
/// The most a page lists.
const MOST: usize = 500;

/// The query string as sent; an empty field (a form's "all") is no filter.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct HistoryParams {
    service: Option<String>,
    #[serde(alias = "env")]
    environment: Option<String>,
    before: Option<String>,
    limit: Option<String>,
}

/// What a page lists, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Listing {
    pub service: Option<String>,
    pub environment: Option<String>,
    /// Only deployments older (smaller id) than this one.
    pub before: Option<i64>,
    pub limit: usize,
}

fn given(v: Option<String>) -> Option<String> {
    v.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty())
}

/// The listing a query asks for, or what is wrong with it.
pub(crate) fn listing(q: HistoryParams) -> Result<Listing, String> {
    let before = match given(q.before) {
        None => None,
        Some(b) => Some(b.parse::<i64>().map_err(|_| {
            format!(
                "before `{}` is not a deployment id: ids are whole numbers (the page's Older link sets it)",
                excerpt(&b)
            )
        })?),
    };
    let limit = match given(q.limit) {
        None => PAGE,
        Some(l) => match l.parse::<usize>() {
            Ok(n) if (1..=MOST).contains(&n) => n,
            _ => {
                return Err(format!(
                    "limit `{}` is not a page size: use a whole number from 1 to {MOST}",
                    excerpt(&l)
                ));
            }
        },
    };
    Ok(Listing {
        service: given(q.service),
        environment: given(q.environment),
        before,
        limit,
    })
}

impl Listing {
    /// The link to this listing with `before` set to `id` (None: from the
    /// newest).
    pub(crate) fn link(&self, before: Option<i64>) -> String {
        let mut q = form_urlencoded::Serializer::new(String::new());
        if let Some(s) = &self.service {
            q.append_pair("service", s);
        }
        if let Some(e) = &self.environment {
            q.append_pair("environment", e);
        }
        if let Some(b) = before {
            q.append_pair("before", &b.to_string());
        }
        if self.limit != PAGE {
            q.append_pair("limit", &self.limit.to_string());
        }
        let q = q.finish();
        if q.is_empty() {
            "/ui/history".into()
        } else {
            format!("/ui/history?{q}")
        }
    }
}

/// `GET /ui/history`.
pub(crate) async fn show(
    State(app): State<Arc<App>>,
    Page(who): Page,
    ApiQuery(q): ApiQuery<HistoryParams>,
) -> Result<Response, ApiError> {
    let l = listing(q).map_err(ApiError::bad_request)?;
    // One more than the page: whether an older page exists.
    let mut list = app.deployment_views(&DeploymentFilter {
        service: l.service.clone(),
        environment: l.environment.clone(),
        before: l.before,
        limit: Some(l.limit + 1),
        ..DeploymentFilter::default()
    })?;
    let older = list.len() > l.limit;
    list.truncate(l.limit);
    let spec = app.spec();
    let services: Vec<&str> = spec.services.iter().map(|s| s.name.as_str()).collect();
    let environments: Vec<&str> = spec.environments.iter().map(|e| e.name.as_str()).collect();
    Ok(page(&who, &l, &list, older, &services, &environments).into_response())
}

/// Who decided on a deployment's approvals, in words.
fn decisions(d: &DeploymentView) -> String {
    d.gate
        .decisions
        .iter()
        .map(|x| match x.kind {
            DecisionKind::Approve => format!("approved by {}", x.principal),
            DecisionKind::Reject => format!("rejected by {}", x.principal),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// A filter's select: every name, with "all" first.
fn select(id: &str, label: &str, names: &[&str], chosen: Option<&str>) -> Markup {
    html! {
        div.field {
            label for=(id) { (label) }
            select id=(id) name=(id) {
                option value="" selected[chosen.is_none()] { "all" }
                @for n in names {
                    option value=(n) selected[chosen == Some(*n)] { (n) }
                }
                // A name the spec no longer has (a removed service's past).
                @if let Some(c) = chosen.filter(|c| !names.contains(c)) {
                    option value=(c) selected { (c) }
                }
            }
        }
    }
}

fn page(
    who: &SignedIn,
    l: &Listing,
    list: &[DeploymentView],
    older: bool,
    services: &[&str],
    environments: &[&str],
) -> Markup {
    layout::page(
        "History",
        Some(who),
        None,
        html! {
            form.filters #history-filters method="get" action="/ui/history" {
                (select("service", "Service", services, l.service.as_deref()))
                (select("environment", "Environment", environments, l.environment.as_deref()))
                button type="submit" { "Show" }
            }
            @if list.is_empty() { p #no-deployments { "No deployments match." } }
            @else {
                div.scroll {
                    table #history {
                        caption { "Deployments, newest first" }
                        thead { tr {
                            th scope="col" { "Deployment" } th scope="col" { "Target" }
                            th scope="col" { "Version" } th scope="col" { "Type" }
                            th scope="col" { "Outcome" } th scope="col" { "Created" }
                            th scope="col" { "Duration" } th scope="col" { "Requested by" }
                            th scope="col" { "Approvals" }
                        } }
                        tbody {
                            @for d in list { (row(d)) }
                        }
                    }
                }
            }
            nav.pages aria-label="Pages" {
                @if l.before.is_some() { a #newest href=(l.link(None)) { "Newest" } }
                @if let (true, Some(last)) = (older, list.last()) {
                    a #older href=(l.link(Some(last.id))) rel="next" { "Older" }
                }
            }
        },
    )
}

fn row(d: &DeploymentView) -> Markup {
    let start = d.started_at.unwrap_or(d.created_at);
    html! {
        tr data-deployment=(d.id) data-phase=(d.phase.name()) {
            td { a href={ "/ui/deployments/" (d.id) } { "#" (d.id) } }
            td { (d.service) " " span.env { (d.environment) } }
            td data-field="version" { (d.version) }
            td { (d.kind.name()) }
            td data-field="outcome" data-state=(outcome_state(d)) { (d.phase.name()) }
            td { (time(d.created_at)) }
            td data-field="duration" {
                @match d.finished_at {
                    Some(end) => { (elapsed(seconds_between(start, end))) }
                    None => { "running" }
                }
            }
            td data-field="requested-by" { (d.requested_by) }
            td data-field="approvals" { (decisions(d)) }
        }
    }
}

/// The colour an outcome takes: succeeded is good, a failure or a
/// rollback is bad, anything else (running, cancelled) neither.
fn outcome_state(d: &DeploymentView) -> &'static str {
    use zion_core::deployment::Phase;
    match d.phase {
        Phase::Succeeded => "ok",
        Phase::Failed | Phase::RolledBack => "bad",
        _ => "idle",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(pairs: &[(&str, &str)]) -> HistoryParams {
        let mut p = HistoryParams::default();
        for (k, v) in pairs {
            let v = Some(v.to_string());
            match *k {
                "service" => p.service = v,
                "environment" => p.environment = v,
                "before" => p.before = v,
                "limit" => p.limit = v,
                _ => unreachable!(),
            }
        }
        p
    }

    #[test]
    fn empty_fields_are_no_filter_and_the_page_size_defaults() {
        let l = listing(q(&[("service", ""), ("environment", " ")])).unwrap();
        assert_eq!(
            l,
            Listing {
                service: None,
                environment: None,
                before: None,
                limit: PAGE
            }
        );
        assert_eq!(l.link(None), "/ui/history");
    }

    #[test]
    fn links_keep_the_filters_and_encode_them() {
        let l = listing(q(&[("service", "web & co"), ("limit", "10")])).unwrap();
        assert_eq!(
            l.link(Some(42)),
            "/ui/history?service=web+%26+co&before=42&limit=10"
        );
    }

    #[test]
    fn a_bad_page_or_size_is_named() {
        let e = listing(q(&[("before", "abc")])).unwrap_err();
        assert!(e.contains("before `abc`"), "{e}");
        for bad in ["0", "501", "-1", "x"] {
            let e = listing(q(&[("limit", bad)])).unwrap_err();
            assert!(e.contains(&format!("limit `{bad}`")), "{e}");
            assert!(e.contains("1 to 500"), "{e}");
        }
    }
}
