//! The tokens API (`/api/v1/tokens`), for admins only: create a token for a
//! named principal with a role (the secret is answered once and only its
//! hash is kept), list tokens without secrets, revoke a live token. The
//! rules and the writes are `auth.rs`'s.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use zion_core::api::{CreateToken, CreatedToken, ErrorBody, RevokedToken, TokenView};

use crate::app::App;
use crate::auth::Permission;
use crate::error::ApiError;
use crate::http::api::{Auth, require};
use crate::http::extract::ApiJson;

/// The tokens routes.
pub(crate) fn routes() -> OpenApiRouter<Arc<App>> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(revoke))
}

/// Creates a token for a named principal; its secret is answered this once.
#[utoipa::path(
    post,
    path = "/api/v1/tokens",
    request_body = CreateToken,
    responses(
        (status = 201, description = "The new token, with its secret", body = CreatedToken),
        (status = 400, description = "The body is not valid, or names an unknown role", body = ErrorBody),
        crate::http::openapi::Refusals,
        (status = 409, description = "A live token already has this name", body = ErrorBody),
        (status = 413, description = "The body is larger than the route accepts", body = ErrorBody),
        (status = 415, description = "The body is not sent as `application/json`", body = ErrorBody),
    )
)]
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

/// Every token, without secrets.
#[utoipa::path(
    get,
    path = "/api/v1/tokens",
    responses(
        (status = 200, description = "The tokens", body = Vec<TokenView>),
        crate::http::openapi::Refusals,
    )
)]
async fn list(
    State(app): State<Arc<App>>,
    Auth(p): Auth,
) -> Result<Json<Vec<TokenView>>, ApiError> {
    require(&p, Permission::Admin, "list tokens")?;
    Ok(Json(app.tokens()?))
}

/// Revokes a live token.
#[utoipa::path(
    delete,
    path = "/api/v1/tokens/{name}",
    params(("name" = String, Path, description = "The token's name")),
    responses(
        (status = 200, description = "The token was revoked", body = RevokedToken),
        crate::http::openapi::Refusals,
        (status = 404, description = "No live token has this name", body = ErrorBody),
    )
)]
async fn revoke(
    State(app): State<Arc<App>>,
    Auth(p): Auth,
    Path(name): Path<String>,
) -> Result<Json<RevokedToken>, ApiError> {
    require(&p, Permission::Admin, "revoke tokens")?;
    app.revoke_token(&name, &p).await?;
    Ok(Json(RevokedToken { revoked: name }))
}
