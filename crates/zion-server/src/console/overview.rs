//! `/ui/`: every target with its stable version, its active deployment
//! (phase, step, traffic split), its health and, where SLOs exist, the
//! error budget left. Each target is a fragment the live stream replaces
//! when it changes.

use maud::{Markup, html};
use zion_core::api::{SloView, TargetView};

use super::layout::{self, percent};

/// The element id of a target's card.
pub(crate) fn card_id(service: &str, environment: &str) -> String {
    format!("target-{service}--{environment}")
}

/// The overview's body: a card per target.
pub(crate) fn body(targets: &[TargetView], slos: &[SloView]) -> Markup {
    html! {
        @if targets.is_empty() {
            p { "No targets: apply a spec with services (" code { "zion apply" } ")." }
        }
        section.cards #targets aria-label="Targets" {
            @for t in targets { (card(t, slos)) }
        }
    }
}

/// Every card as (element id, HTML), for the live stream.
pub(crate) fn fragments(targets: &[TargetView], slos: &[SloView]) -> Vec<(String, String)> {
    targets
        .iter()
        .map(|t| {
            (
                card_id(&t.service, &t.environment),
                card(t, slos).into_string(),
            )
        })
        .collect()
}

/// A target's health in a word, from its running versions: every replica
/// ready, some starting, or the router failing.
fn health(t: &TargetView) -> (&'static str, String) {
    if let Some(e) = &t.router_error {
        return ("bad", format!("router failing: {e}"));
    }
    let desired: u32 = t.versions.iter().filter_map(|v| v.replicas).sum();
    let ready: Option<u32> = t.versions.iter().map(|v| v.ready).sum();
    match ready {
        _ if t.versions.is_empty() => ("idle", "nothing running".into()),
        Some(r) if r >= desired => ("ok", format!("{r}/{desired} ready")),
        Some(r) => ("warn", format!("{r}/{desired} ready")),
        // Driven by another replica: it knows readiness, the database not.
        None => ("ok", format!("{desired} running")),
    }
}

fn card(t: &TargetView, slos: &[SloView]) -> Markup {
    let (state, said) = health(t);
    let budgets: Vec<&SloView> = slos
        .iter()
        .filter(|s| s.service == t.service && s.environment == t.environment)
        .collect();
    html! {
        article.card id=(card_id(&t.service, &t.environment))
            data-target={ (t.service) "/" (t.environment) } {
            h2 { (t.service) " " span.env { (t.environment) } }
            dl {
                dt { "Stable" }
                dd data-field="stable" { (t.stable_version.as_deref().unwrap_or("none")) }
                dt { "Health" }
                dd data-field="health" data-state=(state) { (said) }
                @if let Some(d) = &t.deployment {
                    dt { "Deploying" }
                    dd data-field="deployment" {
                        a href={ "/ui/deployments/" (d.id) } { "#" (d.id) " " (d.version) }
                    }
                    dt { "Phase" }
                    dd data-field="phase" data-phase=(d.phase.name()) { (d.phase.name()) }
                    dt { "Step" }
                    dd data-field="step" data-step=[d.step] {
                        @match d.step {
                            Some(s) => { (s) " of " (d.steps) }
                            None => { "not started" }
                        }
                    }
                    dt { "Traffic" }
                    dd data-field="split" data-canary-weight=(d.canary_weight) {
                        (split_bar(d.canary_weight))
                        "canary " (d.canary_weight) "% · stable " (100 - u32::from(d.canary_weight)) "%"
                    }
                }
                @for s in &budgets {
                    dt { "Budget " (s.name) }
                    dd data-field="budget" data-slo=(s.id) { (percent(s.budget.remaining)) " left" }
                }
            }
        }
    }
}

/// The split as a bar, for the eye (the text beside it says the same).
pub(crate) fn split_bar(canary: u8) -> Markup {
    html! {
        span.split aria-hidden="true" {
            span.canary style={ "width:" (canary) "%" } {}
        }
    }
}

/// The overview page.
pub(crate) fn page(
    who: &super::session::SignedIn,
    targets: &[TargetView],
    slos: &[SloView],
) -> Markup {
    layout::page(
        "Overview",
        Some(who),
        Some("/ui/events?page=overview"),
        body(targets, slos),
    )
}
