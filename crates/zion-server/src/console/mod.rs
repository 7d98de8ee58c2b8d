//! The web console: server-rendered pages under `/ui/` (maud templates,
//! every value escaped), a small script and style sheet embedded in the
//! binary, sign-in with an API token kept in a session (`session.rs`), a
//! live stream per page (`events.rs`) and the public `/status` page. The
//! pages read the same views the API returns; their buttons call the API,
//! which enforces roles as for any caller.

mod approvals_page;
mod audit_page;
mod charts;
mod deployment_page;
mod events;
mod format;
mod history_page;
mod layout;
mod login;
mod overview;
mod report_page;
pub(crate) mod session;
mod slos_page;
mod status_page;

use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};

use crate::app::App;
use crate::error::ApiError;
use session::Page;

const SCRIPT: &str = include_str!("assets/console.js");
const STYLE: &str = include_str!("assets/console.css");
const AUDIT_SCRIPT: &str = include_str!("assets/audit.js");

/// The console's routes, merged into the API's router.
pub(crate) fn routes() -> Router<Arc<App>> {
    Router::new()
        .route("/", get(|| async { Redirect::to("/ui/") }))
        .route("/ui", get(|| async { Redirect::to("/ui/") }))
        .route("/ui/", get(overview))
        .route("/ui/login", get(login::show).post(login::sign_in))
        .route("/ui/logout", post(login::sign_out))
        .route("/ui/events", get(events::stream))
        .route("/ui/deployments/{id}", get(deployment))
        .route("/ui/approvals", get(approvals))
        .route("/ui/assets/console.js", get(script))
        .route("/ui/assets/console.css", get(style))
        .route("/ui/audit", get(audit_page::show))
        .route("/ui/assets/audit.js", get(audit_script))
        .route("/status", get(status))
        .route("/ui/history", get(history_page::show))
        .route("/ui/report", get(report_page::show))
        .route("/ui/slos", get(slos_page::show))
}

/// The overview's body for these targets, as HTML (the benchmark's
/// measure of a render; the page itself adds only its shell).
pub fn render_overview(
    targets: &[zion_core::api::TargetView],
    slos: &[zion_core::api::SloView],
) -> String {
    overview::body(targets, slos).into_string()
}

async fn script() -> Response {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
        SCRIPT,
    )
        .into_response()
}

async fn audit_script() -> Response {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
        AUDIT_SCRIPT,
    )
        .into_response()
}

async fn style() -> Response {
    ([(header::CONTENT_TYPE, "text/css; charset=utf-8")], STYLE).into_response()
}

async fn overview(State(app): State<Arc<App>>, Page(who): Page) -> Result<Response, ApiError> {
    let targets = app.target_views().await?;
    let slos = app.slo_views()?;
    Ok(overview::page(&who, &targets, &slos).into_response())
}

async fn deployment(
    State(app): State<Arc<App>>,
    Page(who): Page,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id: i64 = id.parse().map_err(|_| {
        ApiError::bad_request(format!(
            "`{}` is not a deployment id: ids are whole numbers",
            crate::error::excerpt(&id)
        ))
    })?;
    let d = app.deployment_detail(id)?;
    Ok(deployment_page::page(&who, &d).into_response())
}

async fn approvals(State(app): State<Arc<App>>, Page(who): Page) -> Result<Response, ApiError> {
    let waiting = app.awaiting_approval(&who.principal)?;
    Ok(approvals_page::page(&who, &waiting).into_response())
}

async fn status(State(app): State<Arc<App>>) -> Result<Response, ApiError> {
    if !app.spec().console.status_page {
        return Err(ApiError::not_found(
            "the status page is off; turn it on with `console: { status_page: true }` in the spec",
        ));
    }
    let targets = app.target_views().await?;
    let slos = app.slo_views()?;
    Ok(status_page::page(&targets, &slos).into_response())
}
