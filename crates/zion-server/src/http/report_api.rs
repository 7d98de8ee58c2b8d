//! The delivery-history routes: `GET /api/v1/report` builds the deployment
//! report from Zion's own deployments and the imported history, and
//! `POST /api/v1/import` stores history made by other tools (JSON lines),
//! all or nothing, idempotent by external id, with its audit entry in the
//! same transaction.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use jiff::Timestamp;
use jiff::tz::TimeZone;
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use zion_core::api::{ErrorBody, ImportSummary};
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
pub(crate) fn routes() -> OpenApiRouter<Arc<App>> {
    let (schemas, paths, import) = routes!(import);
    OpenApiRouter::new().routes(routes!(report)).routes((
        schemas,
        paths,
        import.layer(DefaultBodyLimit::max(IMPORT_LIMIT)),
    ))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct ReportParams {
    /// The period's start: a duration ago (`30d`), a date or an RFC 3339 time (30 days ago by default).
    since: Option<String>,
    /// The period's end (now by default).
    until: Option<String>,
    /// Only this environment (`env` is accepted too).
    #[serde(alias = "env")]
    environment: Option<String>,
    /// Only this service.
    service: Option<String>,
    /// The time zone of days and weeks: an IANA name or an offset (UTC by default).
    tz: Option<String>,
}

/// The report over the asked period (default: the last 30 days), in JSON.
#[utoipa::path(
    get,
    path = "/api/v1/report",
    params(ReportParams),
    responses(
        (status = 200, description = "The delivery report", body = Object),
        (status = 400, description = "A query parameter is not valid", body = ErrorBody),
        crate::http::openapi::Refusals,
    )
)]
async fn report(
    State(app): AppState,
    Auth(p): Auth,
    ApiQuery(q): ApiQuery<ReportParams>,
) -> Result<Json<Report>, ApiError> {
    require(&p, Permission::Read, "read the deployment report")?;
    let query = report_query(
        ReportAsked {
            since: q.since.as_deref(),
            until: q.until.as_deref(),
            environment: q.environment,
            service: q.service,
            tz: q.tz.as_deref(),
        },
        app.clock.now(),
    )?;
    Ok(Json(report_of(app, query).await?))
}

/// A report's period and filters as a caller wrote them (the API's query
/// string, the console's form).
pub(crate) struct ReportAsked<'a> {
    pub since: Option<&'a str>,
    pub until: Option<&'a str>,
    pub environment: Option<String>,
    pub service: Option<String>,
    pub tz: Option<&'a str>,
}

/// The query a report is built for: the period (30 days up to `now` by
/// default) in its time zone (UTC by default), or what is wrong with it.
pub(crate) fn report_query(
    asked: ReportAsked<'_>,
    now: Timestamp,
) -> Result<ReportQuery, ApiError> {
    let tz = match asked.tz {
        None | Some("UTC" | "utc") => TimeZone::UTC,
        Some(name) => time_zone(name)?,
    };
    let (since, until) =
        report_period(asked.since, asked.until, &tz, now).map_err(ApiError::bad_request)?;
    Ok(ReportQuery {
        since,
        until,
        environment: asked.environment,
        service: asked.service,
        tz,
    })
}

/// The report of `query`, built off the async threads (seconds over
/// millions of records).
pub(crate) async fn report_of(app: Arc<App>, query: ReportQuery) -> Result<Report, ApiError> {
    tokio::task::spawn_blocking(move || app.report(&query))
        .await
        .map_err(|e| ApiError::internal(format!("the report stopped: {e}")))?
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

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct ImportParams {
    /// The file's name, for the record.
    source: Option<String>,
}

/// Stores JSON lines of history; the body is the file as it is.
#[utoipa::path(
    post,
    path = "/api/v1/import",
    params(ImportParams),
    request_body(content = String, content_type = "application/x-ndjson",
                 description = "History records, one JSON object a line"),
    responses(
        (status = 200, description = "What the import added", body = ImportSummary),
        (status = 400, description = "A line is not a valid record (naming it); nothing was stored", body = ErrorBody),
        crate::http::openapi::Refusals,
        (status = 413, description = "The body is larger than the route accepts", body = ErrorBody),
    )
)]
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
