//! The governance routes: approvals waiting for the caller, incidents, and
//! GitHub's `issue_comment` webhook that turns `/approve ID` comments into
//! approvals recorded exactly as the CLI's.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use zion_core::api::{
    AwaitingApproval, DeploymentView, GithubDelivery, IncidentView, ResolveIncident,
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
pub(crate) fn routes() -> Router<Arc<App>> {
    Router::new()
        .route("/api/v1/approvals", get(approvals))
        .route("/api/v1/incidents", get(incidents))
        .route("/api/v1/incidents/{id}/resolve", post(resolve_incident))
        .route("/api/v1/webhooks/github", post(github_webhook))
}

/// Deployments waiting for approvals, each saying whether the caller may
/// give one (and if not, why).
async fn approvals(
    State(app): AppState,
    Auth(p): Auth,
) -> Result<Json<Vec<AwaitingApproval>>, ApiError> {
    require(&p, Permission::Read, "read approvals")?;
    Ok(Json(app.awaiting_approval(&p)?))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct IncidentQuery {
    service: Option<String>,
    #[serde(alias = "env")]
    environment: Option<String>,
    #[serde(default)]
    all: bool,
}

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
