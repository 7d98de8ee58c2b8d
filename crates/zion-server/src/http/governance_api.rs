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
use serde_json::{Value, json};
use zion_core::api::{AwaitingApproval, DeploymentView};
use zion_core::deployment::{Deployment, Phase};
use zion_core::governance::approvals::still_needed;
use zion_core::spec::{Role, SecretSource};
use zion_store::{IncidentFilter, StoreError};

use crate::app::App;
use crate::auth::{Permission, Principal};
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

/// Why `p` could not approve `d` now, or None when they could.
fn why_not(d: &Deployment, p: &Principal) -> Option<String> {
    let g = &d.gate;
    if p.role == Role::Viewer || !g.approval_roles.contains(&p.role) {
        let roles: Vec<&str> = g.approval_roles.iter().map(|r| r.name()).collect();
        return Some(format!("needs role {}", roles.join(" or ")));
    }
    if g.prevent_self_approval && d.requested_by == p.name {
        return Some("you requested it".into());
    }
    if let Some(prev) = g.decisions.iter().find(|x| x.principal == p.name) {
        return Some(format!("you already decided ({})", prev.kind.name()));
    }
    None
}

/// Deployments waiting for approvals, each saying whether the caller may
/// give one (and if not, why).
async fn approvals(
    State(app): AppState,
    Auth(p): Auth,
) -> Result<Json<Vec<AwaitingApproval>>, ApiError> {
    require(&p, Permission::Read, "read approvals")?;
    let waiting = app
        .store
        .active_deployments()?
        .into_iter()
        .filter(|d| matches!(d.phase, Phase::Pending | Phase::AwaitingApproval))
        .filter(|d| d.gate.approvals_required > 0 && !d.gate.approved())
        .map(|d| {
            let why_not = why_not(&d, &p);
            AwaitingApproval {
                deployment: DeploymentView::of(&d),
                you_may_approve: why_not.is_none(),
                why_not,
                still_needed: still_needed(&d),
            }
        })
        .collect();
    Ok(Json(waiting))
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
) -> Result<Json<Value>, ApiError> {
    require(&p, Permission::Read, "read incidents")?;
    let filter = IncidentFilter {
        service: q.service,
        environment: q.environment,
        open_only: !q.all,
    };
    let list = app.store.incidents(&filter)?;
    Ok(Json(json!(list)))
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ResolveBody {
    #[serde(default)]
    comment: Option<String>,
}

async fn resolve_incident(
    State(app): AppState,
    Auth(p): Auth,
    Path(id): Path<String>,
    body: Option<ApiJson<ResolveBody>>,
) -> Result<Json<Value>, ApiError> {
    require(&p, Permission::Deploy, "resolve incidents")?;
    let id = id.parse::<i64>().ok().filter(|i| *i > 0).ok_or_else(|| {
        ApiError::bad_request(format!(
            "`{}` is not an incident id (a positive number)",
            excerpt(&id)
        ))
    })?;
    let comment = body
        .and_then(|ApiJson(b)| b.comment)
        .map(|c| c.trim().to_string())
        .filter(|c| !c.is_empty());
    let resolution = match comment {
        Some(c) => format!("resolved by {}: {c}", p.name),
        None => format!("resolved by {}", p.name),
    };
    let not_found = || {
        ApiError::not_found(format!(
            "no incident {id}; `zion incident list --all` lists them"
        ))
    };
    // An incident's target never changes, so the entry can name it before
    // the transaction that resolves it (and refuses a second resolution).
    let target = app.store.incident(id)?.ok_or_else(not_found)?;
    let entry = crate::audit::Record::new(
        p.name.clone(),
        zion_core::audit::AuditAction::IncidentResolve,
        format!("incident/{id}"),
        json!({"service": target.service, "environment": target.environment, "resolution": resolution}),
    );
    let now = app.clock.now();
    // Committed under the journal's lock, as every incident change: a
    // succeeded deployment resolving the target's incidents at the same
    // moment then either sees this one resolved or resolves it itself,
    // never both.
    let incident = app
        .journal
        .commit_with(&[entry], now, |store, audit| {
            match store.resolve_incident(id, &p.name, now, &resolution, audit) {
                Ok(incident) => Ok(incident),
                Err(StoreError::IncidentNotFound { .. }) => Err(not_found()),
                Err(StoreError::AlreadyResolved { at, .. }) => Err(ApiError::conflict(format!(
                    "incident {id} was already resolved at {at}; nothing changed"
                ))),
                Err(e) => Err(e.into()),
            }
        })
        .await?;
    tracing::info!(id, by = %p.name, "incident resolved");
    Ok(Json(json!(incident)))
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
                Json(json!({ "recorded": false, "ignored": ignored.0 })),
            ));
        }
    };
    let Some(token) = app.store.token_by_github(&cmd.login)? else {
        return Err(ApiError::forbidden(format!(
            "GitHub user {} is not mapped to a Zion principal, so their /{} was not recorded; \
             an admin can map them with `zion token create NAME --role approver --github {}`",
            cmd.login,
            cmd.kind.name(),
            cmd.login
        )));
    };
    let principal = Principal {
        name: token.name,
        role: token.role,
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
        Json(json!({ "recorded": true, "deployment": DeploymentView::of(&d) })),
    ))
}
