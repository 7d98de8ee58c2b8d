//! `/ui/deployments/{id}`: a deployment's plan and where it stands, the
//! traffic split over time, each measured figure of the analysis rounds
//! against its bound, the judge's scores, the events with their causes,
//! the approvals, and the commands the signed-in principal may give.

use std::collections::BTreeMap;

use maud::{Markup, html};
use zion_core::api::{DeploymentDetail, RoundView};
use zion_core::deployment::Phase;
use zion_core::principal::Permission;
use zion_core::spec::Bound;

use super::charts;
use super::layout::{self, figure, time, trusted};
use super::overview::split_bar;
use super::session::SignedIn;

/// The element id of the live part of the page (state and actions).
pub(crate) const STATE_ID: &str = "deployment-state";

/// The page.
pub(crate) fn page(who: &SignedIn, d: &DeploymentDetail) -> Markup {
    let v = &d.deployment;
    let title = format!("Deployment #{} · {} {}", v.id, v.service, v.environment);
    let stream = format!("/ui/events?deployment={}", v.id);
    layout::page(
        &title,
        Some(who),
        Some(&stream),
        html! {
            (state(who, d))
            (plan(d))
            (traffic(d))
            (rounds(&d.rounds))
            (approvals(d))
            (events(d))
        },
    )
}

/// The part the live stream replaces: where the deployment stands and the
/// commands it takes now.
pub(crate) fn state(who: &SignedIn, d: &DeploymentDetail) -> Markup {
    let v = &d.deployment;
    html! {
        section #(STATE_ID) data-deployment=(v.id) data-phase=(v.phase.name()) {
            dl {
                dt { "Version" } dd data-field="version" { (v.version) }
                dt { "Previous" } dd { (v.previous_version.as_deref().unwrap_or("none")) }
                dt { "Phase" } dd data-field="phase" { (v.phase.name()) }
                dt { "Step" }
                dd data-field="step" data-step=[v.step] {
                    @match v.step { Some(s) => { (s) " of " (v.steps) } None => { "not started" } }
                }
                dt { "Traffic" }
                dd data-field="split" data-canary-weight=(v.canary_weight) {
                    (split_bar(v.canary_weight))
                    "canary " (v.canary_weight) "% · stable " (100 - u32::from(v.canary_weight)) "%"
                }
                dt { "Requested by" } dd { (v.requested_by) " at " (time(v.created_at)) }
                @if let Some(r) = &v.reason { dt { "Reason" } dd { (r) } }
            }
            (actions(who, d))
        }
    }
}

/// The commands the principal's role allows in this phase; the API
/// decides again when one is sent.
fn actions(who: &SignedIn, d: &DeploymentDetail) -> Markup {
    let v = &d.deployment;
    let deploy = who.principal.may(Permission::Deploy);
    let approve = who.principal.may(Permission::Approve);
    let active = !v.phase.is_terminal();
    let url = |c: &str| format!("/api/v1/deployments/{}/{c}", v.id);
    let rollback_body =
        serde_json::json!({"service": v.service, "environment": v.environment}).to_string();
    html! {
        div.actions #actions {
            @if deploy && active {
                @if matches!(v.phase, Phase::Progressing | Phase::Paused) {
                    button data-action="promote" data-url=(url("promote"))
                        data-confirm={ "Promote deployment #" (v.id) " to its next step?" } { "Promote" }
                }
                @if v.phase == Phase::Progressing {
                    button data-action="pause" data-url=(url("pause"))
                        data-confirm={ "Pause deployment #" (v.id) "?" } { "Pause" }
                }
                @if v.phase == Phase::Paused {
                    button data-action="resume" data-url=(url("resume"))
                        data-confirm={ "Resume deployment #" (v.id) "?" } { "Resume" }
                }
                button.danger data-action="abort" data-url=(url("abort"))
                    data-confirm={ "Abort deployment #" (v.id) " and send all traffic back to stable?" } { "Abort" }
            }
            @if deploy && !active {
                button.danger data-action="rollback" data-url="/api/v1/rollback" data-body=(rollback_body)
                    data-confirm={ "Roll " (v.service) " " (v.environment) " back to its previous version?" } { "Roll back" }
            }
            @if approve && v.phase == Phase::AwaitingApproval {
                label for="comment" { "Comment" }
                input #comment type="text" name="comment";
                button data-action="approve" data-url=(url("approve")) data-comment="comment"
                    data-confirm={ "Approve deployment #" (v.id) "?" } { "Approve" }
                button.danger data-action="reject" data-url=(url("reject")) data-comment="comment"
                    data-confirm={ "Reject deployment #" (v.id) "?" } { "Reject" }
            }
        }
    }
}

fn plan(d: &DeploymentDetail) -> Markup {
    let v = &d.deployment;
    html! {
        section #plan {
            h2 { "Plan: " (v.strategy.name()) }
            @if v.plan.steps().is_empty() {
                p { "One step: all traffic to the new version once it is ready." }
            } @else {
                ol {
                    @for (i, s) in v.plan.steps().iter().enumerate() {
                        li data-step=(i + 1) aria-current=[(v.step == Some(i as u32 + 1)).then_some("step")] {
                            (s.weight) "% "
                            @match s.pause {
                                Some(p) => { "for " (zion_core::duration::format_duration(p)) }
                                None => { "until promoted" }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn traffic(d: &DeploymentDetail) -> Markup {
    let start = d.deployment.created_at;
    let points: Vec<(f64, u8)> = d
        .events
        .iter()
        .map(|e| (e.at.duration_since(start).as_secs_f64(), e.canary_weight))
        .collect();
    html! {
        section #traffic {
            h2 { "Traffic to the canary over time" }
            @if points.is_empty() { p { "No traffic moved yet." } }
            @else { (trusted(charts::traffic(&points))) }
        }
    }
}

/// What a bound says, and the value its line is drawn at.
fn bound(b: &Bound) -> (String, Option<f64>) {
    match b {
        Bound::Max(m) => (format!("at most {}", figure(*m)), Some(*m)),
        Bound::Min(m) => (format!("at least {}", figure(*m)), Some(*m)),
        Bound::MaxRatioToBaseline(r) => (format!("at most {} × stable", figure(*r)), None),
    }
}

/// A check's figure over the rounds: what its bound says, the value its
/// line is drawn at, and the canary's value each round.
struct Series {
    said: String,
    line: Option<f64>,
    values: Vec<Option<f64>>,
}

fn rounds(rounds: &[RoundView]) -> Markup {
    // Each check's figure over the rounds, by the check's name.
    let mut by_check: BTreeMap<String, Series> = BTreeMap::new();
    for (i, r) in rounds.iter().enumerate() {
        for c in &r.checks {
            let (said, line) = bound(&c.bound);
            let entry = by_check.entry(c.name.clone()).or_insert_with(|| Series {
                said,
                line,
                values: vec![None; rounds.len()],
            });
            entry.values[i] = c.canary;
        }
    }
    html! {
        section #rounds {
            h2 { "Analysis rounds" }
            @if rounds.is_empty() { p { "No analysis round yet." } }
            @for (name, series) in &by_check {
                figure.check data-check=(name) {
                    figcaption { (name) ": canary per round, bound " (series.said) }
                    (trusted(charts::figure(&series.values, series.line)))
                }
            }
            @if !rounds.is_empty() {
                div.scroll {
                    table #round-table {
                        caption { "Every round's verdict" }
                        thead { tr { th scope="col" { "Round" } th scope="col" { "At" } th scope="col" { "Weight" }
                            th scope="col" { "Verdict" } th scope="col" { "Judge" } th scope="col" { "Summary" } } }
                        tbody {
                            @for r in rounds {
                                tr data-round=(r.number) {
                                    td { (r.number) @if r.count > 1 { " (×" (r.count) ")" } }
                                    td { (time(r.at)) }
                                    td { (r.canary_weight) "%" }
                                    td data-verdict=(r.verdict.name()) { (r.verdict.name()) }
                                    td {
                                        @if let Some(j) = &r.judge {
                                            "score " (figure(j.score)) " (pass ≥ " (figure(j.pass)) ", marginal ≥ " (figure(j.marginal)) ")"
                                        }
                                    }
                                    td { (r.summary) }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn approvals(d: &DeploymentDetail) -> Markup {
    let gate = &d.deployment.gate;
    html! {
        section #approvals {
            h2 { "Approvals" }
            @if gate.approvals_required == 0 && gate.decisions.is_empty() {
                p { "None required." }
            } @else {
                p { (gate.approvals_required) " required." }
                ul {
                    @for a in &gate.decisions {
                        li data-principal=(a.principal) {
                            (a.principal) " " (format!("{:?}", a.kind).to_lowercase()) " at " (time(a.at))
                            @if let Some(c) = &a.comment { ": " q { (c) } }
                        }
                    }
                }
            }
        }
    }
}

fn events(d: &DeploymentDetail) -> Markup {
    html! {
        section #events {
            h2 { "Events" }
            div.scroll {
                table {
                    caption { "Every transition and its cause" }
                    thead { tr { th scope="col" { "At" } th scope="col" { "Phase" } th scope="col" { "Weight" }
                        th scope="col" { "By" } th scope="col" { "Why" } } }
                    tbody {
                        @for e in &d.events {
                            tr {
                                td { (time(e.at)) }
                                td { (e.from_phase.name()) " → " (e.to_phase.name()) }
                                td { (e.canary_weight) "%" }
                                td { (e.actor) }
                                td { (e.reason) }
                            }
                        }
                    }
                }
            }
        }
    }
}
