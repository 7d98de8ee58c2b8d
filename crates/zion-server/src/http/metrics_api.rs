//! What a Prometheus reads: `GET /metrics` (the registry built at each
//! scrape, `operations/metrics.rs`, in the format the client accepts:
//! `exposition.rs`), `GET /api/v1/sd/replicas` (the replica processes, for
//! `http_sd_configs`: `operations/discovery.rs`), both for any role; and
//! the layer that counts the API's own requests.

use std::sync::Arc;
use std::time::Instant;

use axum::Json;
use axum::extract::{MatchedPath, State};
use axum::http::header::{ACCEPT, CONTENT_TYPE};
use axum::http::{HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::app::App;
use crate::auth::Permission;
use crate::error::ApiError;
use crate::http::api::{Auth, require};
use crate::http::exposition;
use crate::operations::DiscoveryGroup;

/// The routes a Prometheus reads.
pub(crate) fn routes() -> OpenApiRouter<Arc<App>> {
    OpenApiRouter::new()
        .routes(routes!(metrics))
        .routes(routes!(replicas))
}

/// Zion's own metrics, for Prometheus.
#[utoipa::path(
    get,
    path = "/metrics",
    responses(
        (status = 200, description = "The metrics: OpenMetrics text when the client accepts it, else Prometheus' classic text format",
         content(
             (String = "text/plain"),
             (String = "application/openmetrics-text"),
         )),
        crate::http::openapi::Refusals,
    )
)]
async fn metrics(
    State(app): State<Arc<App>>,
    Auth(p): Auth,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    require(&p, Permission::Read, "read the metrics")?;
    let registry = app.metrics_registry().await?;
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, &registry)
        .map_err(|e| ApiError::internal(format!("the metrics could not be written: {e}")))?;
    let accept = headers.get(ACCEPT).and_then(|v| v.to_str().ok());
    let (content_type, body) = if exposition::wants_openmetrics(accept) {
        (exposition::OPENMETRICS, text)
    } else {
        (exposition::CLASSIC, exposition::classic(&text))
    };
    Ok((
        [(CONTENT_TYPE, HeaderValue::from_static(content_type))],
        body,
    )
        .into_response())
}

/// The replica processes, for Prometheus' `http_sd_configs`.
#[utoipa::path(
    get,
    path = "/api/v1/sd/replicas",
    responses(
        (status = 200, description = "One group per target and version", body = Vec<DiscoveryGroup>),
        crate::http::openapi::Refusals,
    )
)]
async fn replicas(
    State(app): State<Arc<App>>,
    Auth(p): Auth,
) -> Result<Json<Vec<DiscoveryGroup>>, ApiError> {
    require(&p, Permission::Read, "discover the replicas")?;
    Ok(Json(app.discovery_groups()?))
}

/// Counts each answered request by its route's template (a raw path
/// would make a series per deployment id), method and status class, with
/// its duration until the response head.
pub(crate) async fn count_requests(
    State(app): State<Arc<App>>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |m| m.as_str().to_owned());
    let method = req.method().clone();
    let started = Instant::now();
    let response = next.run(req).await;
    app.api_counts.observe(
        &route,
        method.as_str(),
        response.status().as_u16(),
        started.elapsed().as_secs_f64(),
    );
    response
}
