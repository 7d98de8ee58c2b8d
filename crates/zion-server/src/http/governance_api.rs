//! The governance routes: approvals waiting for the caller, incidents, and
//! GitHub's `issue_comment` webhook that turns `/approve ID` comments into
//! approvals recorded exactly as the CLI's.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use zion_core::api::{
    AwaitingApproval, DeploymentView, ErrorBody, GithubDelivery, IncidentView, ResolveIncident,
};
use zion_core::spec::SecretSource;
use zion_store::IncidentFilter;

use crate::app::App;
use crate::auth::Permission;
use crate::error::{ApiError, excerpt};
use crate::github;
use crate::http::api::{Auth, require};
use crate::http::extract::{ApiJson, ApiQuery};

type AppState = State<Arc<App>>;

/// The governance routes, merged into the API router.
pub(crate) fn routes() -> OpenApiRouter<Arc<App>> {
    OpenApiRouter::new()
        .routes(routes!(approvals))
        .routes(routes!(incidents))
        .routes(routes!(resolve_incident))
        .routes(routes!(github_webhook))
}

/// Deployments waiting for approvals, each saying whether the caller may
/// give one (and if not, why).
#[utoipa::path(
    get,
    path = "/api/v1/approvals",
    responses(
        (status = 200, description = "Deployments waiting for approvals", body = Vec<AwaitingApproval>),
        crate::http::openapi::Refusals,
    )
)]
async fn approvals(
    State(app): AppState,
    Auth(p): Auth,
) -> Result<Json<Vec<AwaitingApproval>>, ApiError> {
    require(&p, Permission::Read, "read approvals")?;
    Ok(Json(app.awaiting_approval(&p)?))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct IncidentQuery {
    /// Only this service's incidents.
    service: Option<String>,
    /// Only this environment's (`env` is accepted too).
    #[serde(alias = "env")]
    environment: Option<String>,
    /// Resolved incidents too (only open ones by default).
    #[serde(default)]
    all: bool,
}

/// Incidents, open ones unless `all`.
#[utoipa::path(
    get,
    path = "/api/v1/incidents",
    params(IncidentQuery),
    responses(
        (status = 200, description = "The incidents", body = Vec<IncidentView>),
        (status = 400, description = "A query parameter is not valid", body = ErrorBody),
        crate::http::openapi::Refusals,
    )
)]
async fn incidents(
    State(app): AppState,
    Auth(p): Auth,
    ApiQuery(q): ApiQuery<IncidentQuery>,
) -> Result<Json<Vec<IncidentView>>, ApiError> {
    require(&p, Permission::Read, "read incidents")?;
    let filter = IncidentFilter {
        service: q.service,
        environment: q.environment,
        open_only: !q.all,
    };
    Ok(Json(app.incidents(&filter)?))
}

/// Resolves an open incident.
#[utoipa::path(
    post,
    path = "/api/v1/incidents/{id}/resolve",
    params(("id" = i64, Path, description = "The incident's id", minimum = 1)),
    request_body(content = Option<ResolveIncident>, description = "May be left out"),
    responses(
        (status = 200, description = "The incident, resolved", body = IncidentView),
        (status = 400, description = "The id is not a positive number, or the body is not valid", body = ErrorBody),
        crate::http::openapi::Refusals,
        (status = 404, description = "No such incident", body = ErrorBody),
        (status = 409, description = "The incident is already resolved", body = ErrorBody),
        (status = 413, description = "The body is larger than the route accepts", body = ErrorBody),
        (status = 415, description = "The body is not sent as `application/json`", body = ErrorBody),
    )
)]
async fn resolve_incident(
    State(app): AppState,
    Auth(p): Auth,
    Path(id): Path<String>,
    body: Option<ApiJson<ResolveIncident>>,
) -> Result<Json<IncidentView>, ApiError> {
    require(&p, Permission::Deploy, "resolve incidents")?;
    let id = id.parse::<i64>().ok().filter(|i| *i > 0).ok_or_else(|| {
        ApiError::bad_request(format!(
            "`{}` is not an incident id (a positive number)",
            excerpt(&id)
        ))
    })?;
    let body = body.map(|ApiJson(b)| b).unwrap_or_default();
    Ok(Json(
        app.resolve_incident(id, body.comment.as_deref(), &p)
            .await?,
    ))
}

/// The webhook secret named by the spec, read when a delivery arrives (so a
/// rotated secret takes effect without a restart).
fn webhook_secret(app: &App) -> Result<Vec<u8>, ApiError> {
    let spec = app.spec();
    let Some(gh) = &spec.server.github else {
        return Err(ApiError::not_found(
            "the GitHub webhook is not configured: add server.github.webhook_secret_env (or \
             webhook_secret_file) to the spec",
        ));
    };
    let secret = match &gh.webhook_secret {
        SecretSource::Env(var) => std::env::var(var).map_err(|_| {
            ApiError::internal(format!(
                "the GitHub webhook secret variable {var} is not set in zion up's environment"
            ))
        })?,
        SecretSource::File(path) => {
            let full = app.base_dir.join(path);
            std::fs::read_to_string(&full).map_err(|e| {
                ApiError::internal(format!(
                    "cannot read the GitHub webhook secret file {path}: {e}"
                ))
            })?
        }
    };
    let secret = secret.trim().as_bytes().to_vec();
    if secret.is_empty() {
        return Err(ApiError::internal("the GitHub webhook secret is empty"));
    }
    Ok(secret)
}

/// `POST /api/v1/webhooks/github`: authenticated by its HMAC signature,
/// not by a bearer token; the comment's author acts through the principal
/// mapped to their GitHub login.
#[utoipa::path(
    post,
    path = "/api/v1/webhooks/github",
    description = "GitHub's `issue_comment` deliveries: `/approve ID` and `/reject ID` comments. \
                   Authenticated by GitHub's HMAC signature (`X-Hub-Signature-256`) with the \
                   spec's webhook secret, not by a bearer token.",
    security(()),
    request_body(content = Object, description = "GitHub's delivery, as GitHub sends it"),
    params(
        ("X-Hub-Signature-256" = String, Header, description = "`sha256=` and the body's HMAC"),
        ("X-GitHub-Event" = Option<String>, Header, description = "The event's name"),
    ),
    responses(
        (status = 200, description = "The decision was recorded", body = GithubDelivery),
        (status = 202, description = "Not a command: ignored, and why", body = GithubDelivery),
        (status = 401, description = "The signature is missing or wrong; nothing was recorded", body = ErrorBody),
        (status = 403, description = "The comment's author is not mapped to a principal, or may not decide", body = ErrorBody),
        (status = 404, description = "The webhook is not configured, or no such deployment", body = ErrorBody),
        (status = 409, description = "The decision was refused by the environment's rules", body = ErrorBody),
        (status = 413, description = "The body is larger than the route accepts", body = ErrorBody),
    )
)]
async fn github_webhook(
    State(app): AppState,
    headers: HeaderMap,
    body: Bytes,
) -> Result<impl IntoResponse, ApiError> {
    let secret = webhook_secret(&app)?;
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    if let Err(e) = github::verify_signature(&secret, &body, header("x-hub-signature-256")) {
        tracing::warn!(error = %e, "refused a GitHub delivery");
        return Err(ApiError::unauthorized(format!(
            "GitHub delivery refused: {e}; nothing was recorded"
        )));
    }
    let cmd = match github::parse_comment(header("x-github-event"), &body) {
        Ok(cmd) => cmd,
        Err(ignored) => {
            return Ok((
                StatusCode::ACCEPTED,
                Json(GithubDelivery::ignored(ignored.0)),
            ));
        }
    };
    let Some(principal) = app.principal_of_github(&cmd.login)? else {
        return Err(ApiError::forbidden(format!(
            "GitHub user {} is not mapped to a Zion principal, so their /{} was not recorded; \
             an admin can map them with `zion token create NAME --role approver --github {}`",
            cmd.login,
            cmd.kind.name(),
            cmd.login
        )));
    };
    let comment = match (&cmd.comment, &cmd.url) {
        (Some(c), _) => Some(c.clone()),
        (None, Some(url)) => Some(url.clone()),
        (None, None) => None,
    };
    let d = app
        .decide(
            cmd.deployment_id,
            cmd.kind,
            comment.as_deref(),
            "github",
            &principal,
        )
        .await?;
    Ok((
        StatusCode::OK,
        Json(GithubDelivery::recorded(DeploymentView::of(&d))),
    ))
}
