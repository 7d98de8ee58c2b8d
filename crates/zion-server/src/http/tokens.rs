//! The tokens API (`/api/v1/tokens`), for admins only: create a token for a
//! named principal with a role (the secret is answered once and only its
//! hash is kept), list tokens without secrets, revoke a live token. The
//! rules and the writes are `auth.rs`'s.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{delete, get};
use axum::{Json, Router};
use zion_core::api::{CreateToken, CreatedToken, RevokedToken, TokenView};

use crate::app::App;
use crate::auth::Permission;
use crate::error::ApiError;
use crate::http::api::{Auth, require};
use crate::http::extract::ApiJson;

/// The tokens routes.
pub(crate) fn routes() -> Router<Arc<App>> {
    Router::new()
        .route("/api/v1/tokens", get(list).post(create))
        .route("/api/v1/tokens/{name}", delete(revoke))
}

async fn create(
    State(app): State<Arc<App>>,
    Auth(p): Auth,
    body: Result<ApiJson<CreateToken>, ApiError>,
) -> Result<(StatusCode, Json<CreatedToken>), ApiError> {
    require(&p, Permission::Admin, "create tokens")?;
    let ApiJson(b) = body.map_err(|e| ApiError {
        message: format!(
            "bad token request: {}; send {{\"name\": \"alice\", \"role\": \"approver\", \"github\": \"alice-gh\"}}",
            e.message
        ),
        ..e
    })?;
    let created = app.create_token(b, &p).await?;
    Ok((StatusCode::CREATED, Json(created)))
}

async fn list(
    State(app): State<Arc<App>>,
    Auth(p): Auth,
) -> Result<Json<Vec<TokenView>>, ApiError> {
    require(&p, Permission::Admin, "list tokens")?;
    Ok(Json(app.tokens()?))
}

async fn revoke(
    State(app): State<Arc<App>>,
    Auth(p): Auth,
    Path(name): Path<String>,
) -> Result<Json<RevokedToken>, ApiError> {
    require(&p, Permission::Admin, "revoke tokens")?;
    app.revoke_token(&name, &p).await?;
    Ok(Json(RevokedToken { revoked: name }))
}
