//! The delivery-history routes: `GET /api/v1/report` builds the deployment
//! report from Zion's own deployments and the imported history, and
//! `POST /api/v1/import` stores history made by other tools (JSON lines),
//! all or nothing, idempotent by external id, with its audit entry in the
//! same transaction.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::routing::{get, post};
use axum::{Json, Router};
use jiff::tz::TimeZone;
use serde::Deserialize;
use zion_core::api::ImportSummary;
use zion_core::delivery::{Report, ReportQuery, report_period};

use crate::app::App;
use crate::auth::Permission;
use crate::error::{ApiError, excerpt};
use crate::http::api::{Auth, require};
use crate::http::extract::ApiQuery;

type AppState = State<Arc<App>>;

/// The largest import accepted in one request: a few million lines.
const IMPORT_LIMIT: usize = 2 << 30;

/// The report and import routes, merged into the API router.
pub(crate) fn routes() -> Router<Arc<App>> {
    Router::new().route("/api/v1/report", get(report)).route(
        "/api/v1/import",
        post(import).layer(DefaultBodyLimit::max(IMPORT_LIMIT)),
    )
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ReportParams {
    since: Option<String>,
    until: Option<String>,
    #[serde(alias = "env")]
    environment: Option<String>,
    service: Option<String>,
    tz: Option<String>,
}

/// The report over the asked period (default: the last 30 days), in JSON.
async fn report(
    State(app): AppState,
    Auth(p): Auth,
    ApiQuery(q): ApiQuery<ReportParams>,
) -> Result<Json<Report>, ApiError> {
    require(&p, Permission::Read, "read the deployment report")?;
    let now = app.clock.now();
    let tz = match q.tz.as_deref() {
        None | Some("UTC" | "utc") => TimeZone::UTC,
        Some(name) => time_zone(name)?,
    };
    let (since, until) = report_period(q.since.as_deref(), q.until.as_deref(), &tz, now)
        .map_err(ApiError::bad_request)?;
    let query = ReportQuery {
        since,
        until,
        environment: q.environment,
        service: q.service,
        tz,
    };
    let out = tokio::task::spawn_blocking(move || app.report(&query))
        .await
        .map_err(|e| ApiError::internal(format!("the report stopped: {e}")))??;
    Ok(Json(out))
}

/// A zone by IANA name (`Europe/Paris`) or fixed offset (`+02:00`).
fn time_zone(name: &str) -> Result<TimeZone, ApiError> {
    if let Ok(tz) = TimeZone::get(name) {
        return Ok(tz);
    }
    // Temporal's syntax: IANA names and fixed offsets such as `+02:00`.
    if let Ok(tz) = jiff::fmt::temporal::DateTimeParser::new().parse_time_zone(name) {
        return Ok(tz);
    }
    Err(ApiError::bad_request(format!(
        "tz `{}` is neither an IANA time zone (Europe/Paris, America/New_York) nor an offset (+02:00)",
        excerpt(name)
    )))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ImportParams {
    /// The file's name, for the record.
    source: Option<String>,
}

/// Stores JSON lines of history; the body is the file as it is.
async fn import(
    State(app): AppState,
    Auth(p): Auth,
    ApiQuery(q): ApiQuery<ImportParams>,
    body: Bytes,
) -> Result<Json<ImportSummary>, ApiError> {
    require(&p, Permission::Admin, "import delivery history")?;
    let source = q.source.unwrap_or_else(|| "(unnamed)".to_owned());
    let by = p.name.clone();
    tokio::task::spawn_blocking(move || app.import_history(&body, &source, &by))
        .await
        .map_err(|e| ApiError::internal(format!("the import stopped: {e}")))?
        .map(Json)
}
