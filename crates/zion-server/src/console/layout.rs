//! The page shell every console page shares: the head, the navigation,
//! the signed-in principal with a sign-out button, and the confirmation
//! dialog the actions open.

use maud::{DOCTYPE, Markup, PreEscaped, html};

use super::session::SignedIn;

/// A full page. `stream`: the live stream the script listens to (None: a
/// page that does not update itself).
pub(crate) fn page(
    title: &str,
    who: Option<&SignedIn>,
    stream: Option<&str>,
    body: Markup,
) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                @if let Some(s) = who {
                    meta name="csrf-token" content=(s.csrf);
                }
                title { (title) " · Zion" }
                link rel="stylesheet" href="/ui/assets/console.css";
                script src="/ui/assets/console.js" defer {}
            }
            body data-stream=[stream] {
                header.top {
                    a.brand href="/ui/" { "Zion" }
                    @if let Some(s) = who {
                        nav aria-label="Console" {
                            a href="/ui/" { "Overview" }
                            a href="/ui/approvals" { "Approvals" }
                            a href="/ui/history" { "History" }
                            a href="/ui/report" { "Report" }
                            a href="/ui/slos" { "SLOs" }
                            a href="/ui/audit" { "Audit log" }
                        }
                        form.signout method="post" action="/ui/logout" {
                            span #principal data-role=(s.principal.role.name()) {
                                (s.principal.name) " (" (s.principal.role.name()) ")"
                            }
                            input type="hidden" name="csrf" value=(s.csrf);
                            button type="submit" { "Sign out" }
                        }
                    }
                }
                main #main {
                    h1 { (title) }
                    p #message role="status" aria-live="polite" {}
                    (body)
                }
                (confirm_dialog())
            }
        }
    }
}

/// The one confirmation dialog: the script fills in what it asks.
fn confirm_dialog() -> Markup {
    html! {
        dialog #confirm aria-labelledby="confirm-title" {
            form method="dialog" {
                h2 #confirm-title { "Confirm" }
                p #confirm-text {}
                div.buttons {
                    button #confirm-cancel value="cancel" { "Cancel" }
                    button #confirm-ok value="ok" { "Confirm" }
                }
            }
        }
    }
}

/// A share as a percentage with one decimal.
pub(crate) fn percent(share: f64) -> String {
    format!("{:.1}%", share * 100.0)
}

/// A time as UTC to the second.
pub(crate) fn time(t: jiff::Timestamp) -> String {
    t.strftime("%Y-%m-%d %H:%M:%S UTC").to_string()
}

/// A figure with at most three decimals, without trailing zeros.
pub(crate) fn figure(v: f64) -> String {
    let s = format!("{v:.3}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s.is_empty() || s == "-" {
        "0".into()
    } else {
        s.into()
    }
}

/// Markup the page's own code wrote (inline SVG), not a value to escape.
pub(crate) fn trusted(svg: String) -> PreEscaped<String> {
    PreEscaped(svg)
}
