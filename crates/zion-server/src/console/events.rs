//! `GET /ui/events`: the live stream of a page (server-sent events). Every
//! 250 ms the stream renders the page's fragments again from the store and
//! sends those that changed, as `fragment` events of `{"id", "html"}` the
//! script swaps in. Reading the store, not an in-process signal, is what
//! shows the changes another replica of `zion up` made on a shared
//! PostgreSQL database; a render of the figures a page shows is cheap
//! (see the `console_overview` benchmark).

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Query, State};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::stream::{self, Stream};
use serde::Deserialize;

use super::session::{self, Found, Page, SignedIn};
use crate::app::App;
use crate::error::ApiError;

/// How often a stream looks for changes.
const POLL: Duration = Duration::from_millis(250);
/// How many polls between checks that the session still stands.
const SESSION_CHECK_EVERY: u32 = 20;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Which {
    page: Option<String>,
    deployment: Option<i64>,
}

#[derive(Debug, Clone, Copy)]
enum Source {
    Overview,
    Slos,
    Deployment(i64),
}

/// The fragments of a page as they stand: (element id, HTML).
async fn fragments(
    app: &App,
    who: &SignedIn,
    source: Source,
) -> Result<Vec<(String, String)>, ApiError> {
    Ok(match source {
        Source::Overview => {
            let targets = app.target_views().await?;
            let slos = app.slo_views()?;
            super::overview::fragments(&targets, &slos)
        }
        Source::Slos => super::slos_page::fragments(&app.slo_views()?),
        Source::Deployment(id) => {
            let d = app.deployment_detail(id)?;
            vec![(
                super::deployment_page::STATE_ID.to_string(),
                super::deployment_page::state(who, &d).into_string(),
            )]
        }
    })
}

struct Stream_ {
    app: Arc<App>,
    who: SignedIn,
    headers: axum::http::HeaderMap,
    source: Source,
    sent: BTreeMap<String, String>,
    polls: u32,
    pending: Vec<Event>,
}

pub(crate) async fn stream(
    State(app): State<Arc<App>>,
    Page(who): Page,
    headers: axum::http::HeaderMap,
    Query(which): Query<Which>,
) -> Response {
    let source = match (which.page.as_deref(), which.deployment) {
        (Some("overview"), None) => Source::Overview,
        (Some("slos"), None) => Source::Slos,
        (None, Some(id)) => Source::Deployment(id),
        _ => {
            return ApiError::bad_request(
                "the stream takes `?page=overview`, `?page=slos` or `?deployment=<id>`",
            )
            .into_response();
        }
    };
    let state = Stream_ {
        app,
        who,
        headers,
        source,
        sent: BTreeMap::new(),
        polls: 0,
        pending: Vec::new(),
    };
    Sse::new(events(state))
        .keep_alive(KeepAlive::default())
        .into_response()
}

/// The changed fragments, one event each, polling until there are some;
/// ends when the session does.
fn events(state: Stream_) -> impl Stream<Item = Result<Event, Infallible>> {
    stream::unfold(state, |mut s| async move {
        loop {
            if let Some(e) = s.pending.pop() {
                return Some((Ok(e), s));
            }
            if s.polls > 0 {
                tokio::time::sleep(POLL).await;
            }
            s.polls += 1;
            if s.polls % SESSION_CHECK_EVERY == 0
                && !matches!(session::find(&s.app, &s.headers, false), Ok(Found::Live(_)))
            {
                return None;
            }
            let Ok(now) = fragments(&s.app, &s.who, s.source).await else {
                continue;
            };
            for (id, html) in now {
                if s.sent.get(&id) != Some(&html) {
                    let data = serde_json::json!({"id": id, "html": html}).to_string();
                    s.pending
                        .push(Event::default().event("fragment").data(data));
                    s.sent.insert(id, html);
                }
            }
            s.pending.reverse();
        }
    })
}
