//! `/ui/audit`: the audit log's entries, newest first, a page at a time
//! (`from` and `limit` as `GET /api/v1/audit/entries` takes them), each
//! with its stored leaf hash and a link to its inclusion proof; a Verify
//! button that runs the API's verification and shows its answer
//! (`assets/audit.js`); and the export bundle to download. Everything
//! shown is the API's own views: the page computes no hash.

use std::sync::Arc;

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};
use serde::Deserialize;
use zion_core::api::AuditEntryView;
use zion_store::AuditFilter;

use super::layout;
use super::session::{Page, SignedIn};
use crate::app::App;
use crate::error::ApiError;
use crate::http::extract::ApiQuery;

/// Entries on one page unless `limit` says otherwise.
const DEFAULT_LIMIT: u64 = 50;
/// The most entries one page shows.
const MAX_LIMIT: u64 = 1000;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct AuditPageQuery {
    /// The oldest entry shown (0-based); by default the page ends at the
    /// newest entry.
    from: Option<u64>,
    /// How many entries, 1 to 1,000 (50 by default).
    limit: Option<u64>,
}

/// Which entries a page shows: `[from, from + limit)` of a log of `size`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Window {
    from: u64,
    limit: u64,
    size: u64,
}

impl Window {
    fn new(q: &AuditPageQuery, size: u64) -> Result<Self, ApiError> {
        let limit = q.limit.unwrap_or(DEFAULT_LIMIT);
        if limit == 0 || limit > MAX_LIMIT {
            return Err(ApiError::bad_request(format!(
                "`limit={limit}` is out of range: a page shows 1 to {MAX_LIMIT} entries"
            )));
        }
        let from = q.from.unwrap_or_else(|| size.saturating_sub(limit));
        Ok(Self { from, limit, size })
    }

    /// One past the newest entry shown.
    fn end(&self) -> u64 {
        self.from.saturating_add(self.limit).min(self.size)
    }

    /// The page of newer entries, if any.
    fn newer(&self) -> Option<u64> {
        (self.end() < self.size).then_some(self.end())
    }

    /// The page of older entries, if any.
    fn older(&self) -> Option<u64> {
        (self.from > 0).then(|| self.from.saturating_sub(self.limit))
    }
}

/// The page's handler.
pub(crate) async fn show(
    State(app): State<Arc<App>>,
    Page(who): Page,
    ApiQuery(q): ApiQuery<AuditPageQuery>,
) -> Result<Response, ApiError> {
    let size = app.store.audit_size()?;
    let window = Window::new(&q, size)?;
    let mut entries = app.audit_entries(&AuditFilter {
        from_index: Some(window.from.min(i64::MAX.unsigned_abs())),
        limit: Some(usize::try_from(window.limit).unwrap_or(usize::MAX)),
        ..AuditFilter::default()
    })?;
    entries.reverse();
    let indexes: Vec<u64> = entries.iter().map(|e| e.index).collect();
    let hashes = app.audit_leaf_hashes(&indexes)?;
    Ok(page(&who, &entries, &hashes, window).into_response())
}

fn page(
    who: &SignedIn,
    entries: &[AuditEntryView],
    hashes: &[Option<String>],
    window: Window,
) -> Markup {
    layout::page(
        "Audit log",
        Some(who),
        None,
        html! {
            script src="/ui/assets/audit.js" defer {}
            (verification())
            (export())
            (listing(entries, hashes, window))
        },
    )
}

fn verification() -> Markup {
    html! {
        section #verify {
            h2 { "Verification" }
            p {
                "Recomputes every entry's leaf hash and the tree's root from entry 0, and checks "
                "the signature and consistency of every kept checkpoint (as " code { "zion audit verify" } ")."
            }
            div.actions {
                button #verify-run type="button" data-url="/api/v1/audit/verify" { "Verify" }
            }
            div #verify-result role="status" aria-live="polite" {}
        }
    }
}

fn export() -> Markup {
    html! {
        section #export {
            h2 { "Export" }
            p {
                "Every entry the latest checkpoint covers, that checkpoint and the verifier key, as a "
                "tar archive; unpacked, " code { "zion audit verify --bundle zion-audit-bundle" }
                " checks it without the server."
            }
            p { a #export-link href="/api/v1/audit/export" download { "Download the export bundle" } }
        }
    }
}

fn listing(entries: &[AuditEntryView], hashes: &[Option<String>], w: Window) -> Markup {
    let link = |from: u64| format!("/ui/audit?from={from}&limit={}", w.limit);
    html! {
        section #entries data-size=(w.size) {
            h2 { "Entries" }
            @if entries.is_empty() {
                p { "No entry here: the log has " (w.size) " entries." }
            } @else {
                p { "Entries " (w.from) " to " (w.end() - 1) " of " (w.size) ", newest first." }
            }
            nav.actions aria-label="Audit log pages" {
                @if let Some(f) = w.newer() { a #newer rel="prev" href=(link(f)) { "Newer entries" } }
                @if let Some(f) = w.older() { a #older rel="next" href=(link(f)) { "Older entries" } }
            }
            @if !entries.is_empty() {
                div.scroll {
                    table #audit-table {
                        caption { "Each entry with its leaf hash, as stored" }
                        thead { tr {
                            th scope="col" { "Index" } th scope="col" { "Time" } th scope="col" { "Principal" }
                            th scope="col" { "Action" } th scope="col" { "Target" } th scope="col" { "Leaf hash" }
                            th scope="col" { "Proof" }
                        } }
                        tbody {
                            @for (e, hash) in entries.iter().zip(hashes) {
                                tr data-index=(e.index) {
                                    td { (e.index) }
                                    @match &e.entry {
                                        Some(f) => {
                                            td { (shown_time(&f.time)) } td { (f.actor) } td { (f.action) } td { (f.subject) }
                                        }
                                        None => { td colspan="4" { "Not an entry: the stored bytes do not parse (verification names it)." } }
                                    }
                                    td { code.hash { (hash.as_deref().unwrap_or("missing")) } }
                                    td {
                                        a.proof href={ "/api/v1/audit/proof/" (e.index) }
                                            download={ "zion-audit-proof-" (e.index) ".json" }
                                            aria-label={ "Inclusion proof of entry " (e.index) } { "Proof" }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// An entry's signed time as the other pages show times (to the second,
/// UTC); as signed when it does not read as a time.
fn shown_time(signed: &str) -> String {
    signed
        .parse::<jiff::Timestamp>()
        .map(layout::time)
        .unwrap_or_else(|_| signed.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn window(from: Option<u64>, limit: Option<u64>, size: u64) -> Result<Window, ApiError> {
        Window::new(&AuditPageQuery { from, limit }, size)
    }

    #[test]
    fn the_first_page_ends_at_the_newest_entry() {
        let w = window(None, Some(10), 25).unwrap();
        assert_eq!((w.from, w.end()), (15, 25));
        assert_eq!((w.newer(), w.older()), (None, Some(5)));
        let w = window(Some(5), Some(10), 25).unwrap();
        assert_eq!((w.newer(), w.older()), (Some(15), Some(0)));
        let w = window(None, None, 3).unwrap();
        assert_eq!((w.from, w.end(), w.older()), (0, 3, None));
    }

    #[test]
    fn a_limit_out_of_range_is_refused_with_the_range() {
        for bad in [0, MAX_LIMIT + 1] {
            let e = window(None, Some(bad), 10).unwrap_err();
            assert!(e.message.contains("1 to 1000"), "{}", e.message);
        }
    }
}
