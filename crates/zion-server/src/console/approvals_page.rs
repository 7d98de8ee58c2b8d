//! `/ui/approvals`: the deployments waiting for approvals, each with what
//! the signed-in principal may do about it; approve or reject with a
//! comment (the API decides, and its refusal, e.g. of a self-approval, is
//! shown as it says it).

use maud::{Markup, html};
use zion_core::api::AwaitingApproval;
use zion_core::principal::Permission;

use super::layout::{self, time};
use super::session::SignedIn;

pub(crate) fn page(who: &SignedIn, waiting: &[AwaitingApproval]) -> Markup {
    let may = who.principal.may(Permission::Approve);
    layout::page(
        "Approvals",
        Some(who),
        None,
        html! {
            @if waiting.is_empty() { p #nothing-waiting { "Nothing waits for an approval." } }
            @for w in waiting {
                @let d = &w.deployment;
                @let comment = format!("comment-{}", d.id);
                article.card id={ "approval-" (d.id) } data-deployment=(d.id) {
                    h2 { a href={ "/ui/deployments/" (d.id) } { "#" (d.id) " " (d.service) " " (d.environment) } }
                    p { "Version " (d.version) ", requested by " (d.requested_by) " at " (time(d.created_at)) }
                    @if let Some(n) = &w.still_needed { p { (n) } }
                    @if let Some(why) = &w.why_not { p.why-not { (why) } }
                    @if may {
                        label for=(comment) { "Comment" }
                        input id=(comment) type="text" name="comment";
                        div.actions {
                            button data-action="approve" data-url={ "/api/v1/deployments/" (d.id) "/approve" }
                                data-comment=(comment) data-confirm={ "Approve deployment #" (d.id) "?" } { "Approve" }
                            button.danger data-action="reject" data-url={ "/api/v1/deployments/" (d.id) "/reject" }
                                data-comment=(comment) data-confirm={ "Reject deployment #" (d.id) "?" } { "Reject" }
                        }
                    }
                }
            }
        },
    )
}
