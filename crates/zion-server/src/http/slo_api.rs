//! The SLO routes: every SLO of the spec now (`zion slo status`).

use std::sync::Arc;

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use zion_core::api::SloView;

use crate::app::App;
use crate::auth::Permission;
use crate::error::ApiError;
use crate::http::api::{Auth, require};

/// The SLO routes, merged into the API router.
pub(crate) fn routes() -> Router<Arc<App>> {
    Router::new().route("/api/v1/slos", get(slos))
}

/// Each SLO: objective, SLI and budget over its window, burn rates, alerts.
async fn slos(State(app): State<Arc<App>>, Auth(p): Auth) -> Result<Json<Vec<SloView>>, ApiError> {
    require(&p, Permission::Read, "read SLOs")?;
    Ok(Json(app.slo_views()?))
}
