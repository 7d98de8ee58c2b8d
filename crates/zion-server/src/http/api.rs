//! The HTTP API under `/api/v1/`: JSON in and out, bearer-token auth on
//! every route but `/healthz`, role checks per route.

use std::sync::Arc;

use axum::extract::{FromRequestParts, Path, State};
use axum::http::request::Parts;
use axum::http::{Method, StatusCode, Uri};
use axum::response::IntoResponse;
use axum::{Json, Router};
use jiff::Timestamp;
use serde::Deserialize;
use tokio::sync::watch;
use utoipa::{IntoParams, OpenApi, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use zion_core::api::{
    CommandRequest, DeployRequest, DeploymentDetail, DeploymentView, ErrorBody, ReplicaView,
    RollbackRequest, SpecApplied, SpecView, TargetView, WhoAmI,
};
use zion_core::governance::DecisionKind;
use zion_core::rollout::Command;
use zion_store::DeploymentFilter;

use crate::app::App;
use crate::auth::{Lookup, Permission, Principal, Refusal, lookup};
use crate::error::{ApiError, excerpt};
use crate::http::extract::{ApiJson, ApiQuery, json_errors, not_found};

type AppState = State<Arc<App>>;

pub(crate) async fn serve(
    app: Arc<App>,
    listener: tokio::net::TcpListener,
    limits: crate::http::listener::ApiLimits,
    shutdown: watch::Receiver<bool>,
) {
    crate::http::listener::serve(router(app), listener, limits, shutdown).await;
}

/// Every route the OpenAPI document describes: each `routes!` both
/// registers its handlers and adds their `#[utoipa::path]` to the document.
pub(crate) fn documented_routes() -> OpenApiRouter<Arc<App>> {
    OpenApiRouter::with_openapi(crate::http::openapi::ApiDoc::openapi())
        .routes(routes!(healthz))
        .routes(routes!(crate::http::openapi::openapi_json))
        .routes(routes!(list_deployments, create_deployment))
        .routes(routes!(get_deployment))
        .routes(routes!(command))
        .routes(routes!(rollback))
        .routes(routes!(services))
        .routes(routes!(replicas))
        .routes(routes!(history))
        .routes(routes!(put_spec, get_spec))
        .routes(routes!(whoami))
        .merge(crate::http::tokens::routes())
        .merge(crate::http::governance_api::routes())
        .merge(crate::http::notifications_api::routes())
        .merge(crate::http::audit_api::routes())
        .merge(crate::http::report_api::routes())
        .merge(crate::http::metrics_api::routes())
        .merge(crate::http::slo_api::routes())
}

/// Every route: the documented API and the web console's pages (HTML, not
/// part of the document).
pub fn router(app: Arc<App>) -> Router {
    let (routes, _document) = documented_routes().split_for_parts();
    let routes = routes
        .merge(crate::console::routes())
        .route_layer(axum::middleware::from_fn_with_state(
            app.clone(),
            count_forbidden,
        ))
        .route_layer(axum::middleware::from_fn_with_state(
            app.clone(),
            crate::http::metrics_api::count_requests,
        ))
        .fallback(|method: Method, uri: Uri| async move { not_found(&method, uri.path()) })
        .with_state(app);
    // `Router::layer` wraps each route on its own, inside what the router
    // adds (a 405's `Allow`); as the fallback of an outer router, this
    // layer sees every answer as it leaves.
    Router::new()
        .fallback_service(routes)
        .layer(axum::middleware::from_fn(json_errors))
}

/// Whether this process answers; no token needed.
#[utoipa::path(
    get,
    path = "/healthz",
    security(()),
    responses((status = 200, description = "The server answers", content_type = "text/plain", body = String))
)]
async fn healthz() -> &'static str {
    "ok"
}

/// The token of an `Authorization: Bearer <token>` header; the scheme is
/// case-insensitive (RFC 9110, section 11.1).
pub(crate) fn bearer(header: &str) -> Option<&str> {
    let (scheme, token) = header.trim_start().split_once([' ', '\t'])?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// The authenticated caller of a request.
pub(crate) struct Auth(pub Principal);

impl FromRequestParts<Arc<App>> for Auth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &Arc<App>) -> Result<Self, ApiError> {
        // The web console's pages call the API with their session cookie.
        if !parts
            .headers
            .contains_key(axum::http::header::AUTHORIZATION)
            && let Some(p) = crate::console::session::api_principal(app, parts)?
        {
            return Ok(Auth(p));
        }
        let header = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| {
                app.refused(Refusal::NoToken);
                ApiError::unauthorized(
                    "missing `Authorization: Bearer <token>`; pass --token or set ZION_TOKEN",
                )
            })?;
        let token = bearer(header).ok_or_else(|| {
            app.refused(Refusal::NotBearer);
            ApiError::unauthorized("the Authorization header must be `Bearer <token>`")
        })?;
        match lookup(app.store.as_ref(), token)? {
            Lookup::Live(p) => Ok(Auth(p)),
            Lookup::Revoked(name) => {
                tracing::warn!(principal = %name, "refused a revoked token");
                app.refused(Refusal::RevokedToken(name));
                Err(ApiError::unauthorized("unknown or revoked token"))
            }
            Lookup::Unknown => {
                app.refused(Refusal::UnknownToken);
                tracing::warn!("refused an unknown token");
                Err(ApiError::unauthorized("unknown or revoked token"))
            }
        }
    }
}

/// Counts every refused action (403) of an authenticated principal, by
/// route, for the audit log. The principal is looked up again only for a
/// 403, which is rare, so allowed requests pay nothing.
async fn count_forbidden(
    State(app): AppState,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let route = format!(
        "{} {}",
        req.method(),
        req.extensions()
            .get::<axum::extract::MatchedPath>()
            .map_or(req.uri().path(), |m| m.as_str())
    );
    let token = req
        .headers()
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(bearer)
        .map(str::to_string);
    // Without a bearer token, the console's session cookie may have
    // authenticated the request.
    let mut cookies = axum::http::HeaderMap::new();
    if token.is_none() {
        for v in req.headers().get_all(axum::http::header::COOKIE) {
            cookies.append(axum::http::header::COOKIE, v.clone());
        }
    }
    let response = next.run(req).await;
    if response.status() == StatusCode::FORBIDDEN {
        let principal = match &token {
            Some(token) => match lookup(app.store.as_ref(), token) {
                Ok(Lookup::Live(p)) => Some(p),
                _ => None,
            },
            None => crate::console::session::principal(&app, &cookies),
        };
        if let Some(p) = principal {
            app.refused(Refusal::Forbidden {
                principal: p.name,
                route,
            });
        }
    }
    response
}

pub(crate) fn require(p: &Principal, perm: Permission, what: &str) -> Result<(), ApiError> {
    if p.may(perm) {
        Ok(())
    } else {
        let needs = match perm {
            Permission::Read => "any role",
            Permission::Deploy => "role deployer or admin",
            Permission::Approve => "role approver or admin",
            Permission::Admin => "role admin",
        };
        Err(ApiError::forbidden(format!(
            "{} (role {}) may not {what}: it needs {needs}",
            p.name,
            serde_json::to_value(p.role)
                .ok()
                .and_then(|v| v.as_str().map(String::from))
                .unwrap_or_default()
        )))
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct ListQuery {
    /// Only this service's deployments.
    service: Option<String>,
    /// Only this environment's (`env` is accepted too).
    #[serde(alias = "env")]
    environment: Option<String>,
    /// Created since: `30d`, `24h` (ago), a date `2026-11-01` or an RFC 3339 time.
    since: Option<String>,
    /// At most this many, newest first.
    limit: Option<usize>,
}

/// `30d`, `24h` (ago), a date `2026-11-01` (UTC midnight) or an RFC 3339 time.
pub(crate) fn parse_since(text: &str, now: Timestamp) -> Result<Timestamp, ApiError> {
    if let Ok(d) = zion_core::duration::parse_duration(text) {
        let span =
            jiff::SignedDuration::try_from(d).map_err(|e| ApiError::bad_request(e.to_string()))?;
        return now
            .checked_sub(span)
            .map_err(|e| ApiError::bad_request(format!("since `{}`: {e}", excerpt(text))));
    }
    if let Ok(t) = text.parse::<Timestamp>() {
        return Ok(t);
    }
    if let Ok(date) = text.parse::<jiff::civil::Date>() {
        if let Ok(z) = date.to_zoned(jiff::tz::TimeZone::UTC) {
            return Ok(z.timestamp());
        }
    }
    Err(ApiError::bad_request(format!(
        "since `{}` is neither a duration (30d, 12h), a date (2026-11-01) nor an RFC 3339 time",
        excerpt(text)
    )))
}

/// Deployments, newest first.
#[utoipa::path(
    get,
    path = "/api/v1/deployments",
    params(ListQuery),
    responses(
        (status = 200, description = "The deployments, newest first", body = Vec<DeploymentView>),
        (status = 400, description = "A query parameter is not valid", body = ErrorBody),
        crate::http::openapi::Refusals,
    )
)]
async fn list_deployments(
    State(app): AppState,
    Auth(p): Auth,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<Json<Vec<DeploymentView>>, ApiError> {
    require(&p, Permission::Read, "read deployments")?;
    let since = q
        .since
        .as_deref()
        .map(|s| parse_since(s, app.clock.now()))
        .transpose()?;
    let filter = DeploymentFilter {
        service: q.service,
        environment: q.environment,
        since,
        // More than the store can count is all of them.
        limit: q
            .limit
            .map(|l| l.min(usize::try_from(i64::MAX).unwrap_or(usize::MAX))),
        ..DeploymentFilter::default()
    };
    Ok(Json(app.deployment_views(&filter)?))
}

/// Deploys a version on a target (the target's strategy unless the body names one).
#[utoipa::path(
    post,
    path = "/api/v1/deployments",
    request_body = DeployRequest,
    responses(
        (status = 201, description = "The deployment, created", body = DeploymentView),
        (status = 400, description = "The body is not valid JSON or not what this route takes", body = ErrorBody),
        crate::http::openapi::Refusals,
        (status = 404, description = "No such service or environment in the spec", body = ErrorBody),
        (status = 409, description = "Refused by the environment's policy or the target's state; the code says which rule", body = ErrorBody),
        (status = 413, description = "The body is larger than the route accepts", body = ErrorBody),
        (status = 415, description = "The body is not sent as `application/json`", body = ErrorBody),
    )
)]
async fn create_deployment(
    State(app): AppState,
    Auth(p): Auth,
    body: Result<ApiJson<DeployRequest>, ApiError>,
) -> Result<impl IntoResponse, ApiError> {
    require(&p, Permission::Deploy, "deploy")?;
    let ApiJson(req) = body.map_err(|e| e.context("bad deployment request"))?;
    let d = app.deploy(req, &p).await?;
    Ok((StatusCode::CREATED, Json(DeploymentView::of(&d))))
}

/// A deployment with its events and analysis rounds.
#[utoipa::path(
    get,
    path = "/api/v1/deployments/{id}",
    params(
        ("id" = i64, Path, description = "The deployment's id", minimum = 1),
    ),
    responses(
        (status = 200, description = "The deployment", body = DeploymentDetail),
        (status = 400, description = "The id is not a positive number", body = ErrorBody),
        crate::http::openapi::Refusals,
        (status = 404, description = "No such deployment", body = ErrorBody),
    )
)]
async fn get_deployment(
    State(app): AppState,
    Auth(p): Auth,
    Path(id): Path<String>,
) -> Result<Json<DeploymentDetail>, ApiError> {
    require(&p, Permission::Read, "read deployments")?;
    Ok(Json(app.deployment_detail(parse_id(&id)?)?))
}

/// The commands a deployment takes (only documented: the path segment
/// is read as text so an unknown one is answered with the list).
#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
#[allow(dead_code)]
enum CommandName {
    Promote,
    Pause,
    Resume,
    Abort,
    Approve,
    Reject,
}

/// Promotes, pauses, resumes, aborts, approves or rejects a deployment.
#[utoipa::path(
    post,
    path = "/api/v1/deployments/{id}/{command}",
    params(
        ("id" = i64, Path, description = "The deployment's id", minimum = 1),
        ("command" = inline(CommandName), Path, description = "What to do"),
    ),
    request_body(content = Option<CommandRequest>, description = "May be left out"),
    responses(
        (status = 200, description = "The deployment as the command left it", body = DeploymentView),
        (status = 400, description = "The id is not a positive number, or the body is not valid", body = ErrorBody),
        crate::http::openapi::Refusals,
        (status = 404, description = "No such deployment, or no such command", body = ErrorBody),
        (status = 409, description = "Refused by the environment's policy or the target's state; the code says which rule", body = ErrorBody),
        (status = 413, description = "The body is larger than the route accepts", body = ErrorBody),
        (status = 415, description = "The body is not sent as `application/json`", body = ErrorBody),
    )
)]
async fn command(
    State(app): AppState,
    Auth(p): Auth,
    Path((id, name)): Path<(String, String)>,
    body: Option<ApiJson<CommandRequest>>,
) -> Result<Json<DeploymentView>, ApiError> {
    let id = parse_id(&id)?;
    let body = body.map(|ApiJson(b)| b).unwrap_or_default();
    let decision = match name.as_str() {
        "approve" => Some(DecisionKind::Approve),
        "reject" => Some(DecisionKind::Reject),
        _ => None,
    };
    if let Some(kind) = decision {
        // Who may decide is the environment's policy (checked in zion-core).
        let d = app
            .decide(id, kind, body.comment.as_deref(), "api", &p)
            .await?;
        return Ok(Json(DeploymentView::of(&d)));
    }
    let cmd = match (name.as_str(), body.full) {
        ("promote", false) => Command::Promote,
        ("promote", true) => Command::PromoteFull,
        ("pause", _) => Command::Pause,
        ("resume", _) => Command::Resume,
        ("abort", _) => Command::Abort,
        _ => {
            return Err(ApiError::not_found(format!(
                "unknown command `{}`; use promote, pause, resume, abort, approve or reject",
                excerpt(&name)
            )));
        }
    };
    require(&p, Permission::Deploy, cmd.name())?;
    let d = app.command(id, cmd, &p).await?;
    Ok(Json(DeploymentView::of(&d)))
}

/// Rolls a target back to a version that succeeded there.
#[utoipa::path(
    post,
    path = "/api/v1/rollback",
    request_body = RollbackRequest,
    responses(
        (status = 201, description = "The rollback deployment, created", body = DeploymentView),
        (status = 400, description = "The body is not valid JSON or not what this route takes", body = ErrorBody),
        crate::http::openapi::Refusals,
        (status = 404, description = "No such target, or no version to go back to", body = ErrorBody),
        (status = 409, description = "Refused by the environment's policy or the target's state; the code says which rule", body = ErrorBody),
        (status = 413, description = "The body is larger than the route accepts", body = ErrorBody),
        (status = 415, description = "The body is not sent as `application/json`", body = ErrorBody),
    )
)]
async fn rollback(
    State(app): AppState,
    Auth(p): Auth,
    body: Result<ApiJson<RollbackRequest>, ApiError>,
) -> Result<impl IntoResponse, ApiError> {
    require(&p, Permission::Deploy, "roll back")?;
    let ApiJson(req) = body.map_err(|e| e.context("bad rollback request"))?;
    let d = app.rollback(req, &p).await?;
    Ok((StatusCode::CREATED, Json(DeploymentView::of(&d))))
}

/// Every target: listeners, stable version, active deployment, versions running.
#[utoipa::path(
    get,
    path = "/api/v1/services",
    responses(
        (status = 200, description = "The targets", body = Vec<TargetView>),
        crate::http::openapi::Refusals,
    )
)]
async fn services(State(app): AppState, Auth(p): Auth) -> Result<Json<Vec<TargetView>>, ApiError> {
    require(&p, Permission::Read, "read services")?;
    Ok(Json(app.target_views().await?))
}

/// The replicas of Zion that share the database.
#[utoipa::path(
    get,
    path = "/api/v1/replicas",
    responses(
        (status = 200, description = "The replicas", body = Vec<ReplicaView>),
        crate::http::openapi::Refusals,
    )
)]
async fn replicas(State(app): AppState, Auth(p): Auth) -> Result<Json<Vec<ReplicaView>>, ApiError> {
    require(&p, Permission::Read, "read the replicas")?;
    Ok(Json(app.replica_views()?))
}

/// Deployments, newest first (as `GET /api/v1/deployments`).
#[utoipa::path(
    get,
    path = "/api/v1/history",
    params(ListQuery),
    responses(
        (status = 200, description = "The deployments, newest first", body = Vec<DeploymentView>),
        (status = 400, description = "A query parameter is not valid", body = ErrorBody),
        crate::http::openapi::Refusals,
    )
)]
async fn history(
    app: AppState,
    auth: Auth,
    query: ApiQuery<ListQuery>,
) -> Result<Json<Vec<DeploymentView>>, ApiError> {
    list_deployments(app, auth, query).await
}

/// Applies a spec (YAML); one that does not parse or lint changes nothing.
#[utoipa::path(
    put,
    path = "/api/v1/spec",
    request_body(content = String, content_type = "application/yaml", description = "The spec, as YAML"),
    responses(
        (status = 200, description = "The spec now in force", body = SpecApplied),
        (status = 400, description = "The spec is not valid (code `invalid_spec`); nothing changed", body = ErrorBody),
        crate::http::openapi::Refusals,
        (status = 409, description = "The spec could not be applied; nothing changed", body = ErrorBody),
        (status = 413, description = "The body is larger than the route accepts", body = ErrorBody),
    )
)]
async fn put_spec(
    State(app): AppState,
    Auth(p): Auth,
    body: String,
) -> Result<Json<SpecApplied>, ApiError> {
    require(&p, Permission::Admin, "apply a spec")?;
    let spec = zion_core::spec::parse_spec(&body).map_err(|errs| ApiError {
        status: StatusCode::BAD_REQUEST,
        code: "invalid_spec",
        message: errs.to_string().trim_end().to_string(),
    })?;
    let warnings = crate::sources::prometheus::check_queries(&spec, &app.base_dir)
        .await
        .map_err(|errors| ApiError {
            status: StatusCode::BAD_REQUEST,
            code: "invalid_spec",
            message: errors.join("\n"),
        })?;
    app.apply_spec(spec, &body, &p.name)
        .await
        .map_err(|e| ApiError::conflict(format!("spec not applied: {e}")))?;
    let mut applied = SpecApplied::of(&app.spec());
    applied.warnings = warnings;
    Ok(Json(applied))
}

/// The spec last applied.
#[utoipa::path(
    get,
    path = "/api/v1/spec",
    responses(
        (status = 200, description = "The spec last applied; every field null before any", body = SpecView),
        crate::http::openapi::Refusals,
    )
)]
async fn get_spec(State(app): AppState, Auth(p): Auth) -> Result<Json<SpecView>, ApiError> {
    require(&p, Permission::Read, "read the spec")?;
    Ok(Json(app.spec_view()?))
}

/// The caller as the server knows it.
#[utoipa::path(
    get,
    path = "/api/v1/whoami",
    responses(
        (status = 200, description = "The caller's name and role", body = WhoAmI),
        (status = 401, description = "No token, or an unknown or revoked one", body = ErrorBody),
    )
)]
async fn whoami(Auth(p): Auth) -> Json<WhoAmI> {
    Json(WhoAmI {
        name: p.name,
        role: p.role,
    })
}

fn parse_id(text: &str) -> Result<i64, ApiError> {
    text.parse::<i64>()
        .ok()
        .filter(|id| *id > 0)
        .ok_or_else(|| {
            ApiError::bad_request(format!(
                "`{}` is not a deployment id (a positive number)",
                excerpt(text)
            ))
        })
}
