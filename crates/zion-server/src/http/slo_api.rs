//! The SLO routes: every SLO of the spec now (`zion slo status`).

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use zion_core::api::{ErrorBody, SloView};
use zion_core::slo::report::{Period, SloReport};

use crate::app::App;
use crate::auth::Permission;
use crate::error::{ApiError, excerpt};
use crate::http::api::{Auth, require};
use crate::http::extract::ApiQuery;

/// The SLO routes, merged into the API router.
pub(crate) fn routes() -> OpenApiRouter<Arc<App>> {
    OpenApiRouter::new()
        .routes(routes!(slos))
        .routes(routes!(report))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct ReportQuery {
    /// `day` (the default), `week` or `month`.
    period: Option<String>,
}

/// Each SLO over the last day, week or month (`?period=`, default day).
#[utoipa::path(
    get,
    path = "/api/v1/slos/report",
    params(ReportQuery),
    responses(
        (status = 200, description = "Each SLO over the period", body = Object),
        (status = 400, description = "A query parameter is not valid", body = ErrorBody),
        crate::http::openapi::Refusals,
    )
)]
async fn report(
    State(app): State<Arc<App>>,
    Auth(p): Auth,
    ApiQuery(q): ApiQuery<ReportQuery>,
) -> Result<Json<SloReport>, ApiError> {
    require(&p, Permission::Read, "read SLO reports")?;
    let name = q.period.as_deref().unwrap_or("day");
    let period = Period::from_name(name).ok_or_else(|| {
        ApiError::bad_request(format!(
            "`{}` is not a report period: use day, week or month",
            excerpt(name)
        ))
    })?;
    Ok(Json(app.slo_report(period)?))
}

/// Each SLO: objective, SLI and budget over its window, burn rates, alerts.
#[utoipa::path(
    get,
    path = "/api/v1/slos",
    responses(
        (status = 200, description = "Every SLO of the spec now", body = Vec<SloView>),
        crate::http::openapi::Refusals,
    )
)]
async fn slos(State(app): State<Arc<App>>, Auth(p): Auth) -> Result<Json<Vec<SloView>>, ApiError> {
    require(&p, Permission::Read, "read SLOs")?;
    Ok(Json(app.slo_views()?))
}
