//! `/status`: the public status page, served only when the spec turns it
//! on (`console.status_page: true`). Read-only and without sign-in, so it
//! shows per service only what any visitor may know: whether it is up,
//! being deployed or degraded, and its SLOs' figures (the uptime and the
//! error budget left). No version, address, principal or reason.

use maud::{Markup, html};
use zion_core::api::{SloView, TargetView};

use super::layout::{self, percent};

/// A service's state in a word, over its targets.
fn state(targets: &[&TargetView]) -> &'static str {
    let degraded = targets.iter().any(|t| {
        t.router_error.is_some()
            || t.versions
                .iter()
                .any(|v| matches!((v.ready, v.replicas), (Some(r), Some(d)) if r < d))
    });
    if degraded {
        "degraded"
    } else if targets.iter().any(|t| t.deployment.is_some()) {
        "deploying"
    } else {
        "operational"
    }
}

pub(crate) fn page(targets: &[TargetView], slos: &[SloView]) -> Markup {
    let mut services: Vec<&str> = targets.iter().map(|t| t.service.as_str()).collect();
    services.dedup();
    layout::page(
        "Status",
        None,
        None,
        html! {
            section.cards #services aria-label="Services" {
                @for s in &services {
                    @let of: Vec<&TargetView> = targets.iter().filter(|t| t.service == *s).collect();
                    @let st = state(&of);
                    article.card id={ "service-" (s) } data-service=(s) {
                        h2 { (s) }
                        p data-field="state" data-state=(st) { (st) }
                        dl {
                            @for o in slos.iter().filter(|o| o.service == *s) {
                                dt { (o.name) " (" (o.environment) ", " (o.window) ")" }
                                dd data-slo=(o.id) {
                                    @if let Some(now) = o.sli_now { (percent(now)) " · " }
                                    (percent(o.budget.remaining)) " of the error budget left"
                                }
                            }
                        }
                    }
                }
            }
        },
    )
}
