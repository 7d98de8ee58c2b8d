//! The SLO routes: every SLO of the spec now (`zion slo status`).

use std::sync::Arc;

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use zion_core::api::SloView;
use zion_core::slo::report::{Period, SloReport};

use crate::app::App;
use crate::auth::Permission;
use crate::error::{ApiError, excerpt};
use crate::http::api::{Auth, require};
use crate::http::extract::ApiQuery;

/// The SLO routes, merged into the API router.
pub(crate) fn routes() -> Router<Arc<App>> {
    Router::new()
        .route("/api/v1/slos", get(slos))
        .route("/api/v1/slos/report", get(report))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ReportQuery {
    period: Option<String>,
}

/// Each SLO over the last day, week or month (`?period=`, default day).
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
async fn slos(State(app): State<Arc<App>>, Auth(p): Auth) -> Result<Json<Vec<SloView>>, ApiError> {
    require(&p, Permission::Read, "read SLOs")?;
    Ok(Json(app.slo_views()?))
}
