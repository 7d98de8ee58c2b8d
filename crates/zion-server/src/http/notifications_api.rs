//! The notifications' routes: the outbox as `zion notifications` shows it,
//! and Slack's interactivity requests, the Approve and Reject buttons of an
//! approval request, recorded exactly as the CLI's approve and reject.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use zion_core::api::{ErrorBody, NotificationView};

use crate::app::App;
use crate::auth::Permission;
use crate::error::ApiError;
use crate::http::api::{Auth, require};
use crate::slack;

type AppState = State<Arc<App>>;

/// The notifications' routes, merged into the API router.
pub(crate) fn routes() -> OpenApiRouter<Arc<App>> {
    OpenApiRouter::new()
        .routes(routes!(notifications))
        .routes(routes!(slack_interaction))
}

/// The notifications' outbox, newest first.
#[utoipa::path(
    get,
    path = "/api/v1/notifications",
    responses(
        (status = 200, description = "The outbox", body = Vec<NotificationView>),
        crate::http::openapi::Refusals,
    )
)]
async fn notifications(
    State(app): AppState,
    Auth(p): Auth,
) -> Result<Json<Vec<NotificationView>>, ApiError> {
    require(&p, Permission::Read, "read notifications")?;
    Ok(Json(app.notifications()?))
}

/// What Slack shows the user who pressed a button.
#[derive(Debug, Serialize, ToSchema)]
struct SlackAnswer {
    text: String,
    response_type: &'static str,
}

/// `POST /api/v1/slack/interactions`: authenticated by Slack's signature,
/// not by a bearer token; the Slack user acts as the principal
/// `notifications.slack.users` maps them to, under that principal's role
/// and the environment's approval rules.
#[utoipa::path(
    post,
    path = "/api/v1/slack/interactions",
    description = "Slack's interactivity requests: the Approve and Reject buttons of an approval \
                   request. Authenticated by Slack's request signature (`X-Slack-Signature`, \
                   `X-Slack-Request-Timestamp`) with the spec's signing secret, not by a bearer \
                   token.",
    security(()),
    request_body(content = String, content_type = "application/x-www-form-urlencoded",
                 description = "Slack's form, with its `payload`"),
    params(
        ("X-Slack-Signature" = String, Header, description = "`v0=` and the HMAC of the request"),
        ("X-Slack-Request-Timestamp" = String, Header, description = "Unix seconds; five minutes at most old"),
    ),
    responses(
        (status = 200, description = "The decision was recorded; what Slack shows", body = SlackAnswer),
        (status = 400, description = "The form is not a button press; nothing was recorded", body = ErrorBody),
        (status = 401, description = "The signature is missing, wrong or too old; nothing was recorded", body = ErrorBody),
        (status = 403, description = "The Slack user is not mapped to a principal, or may not decide", body = ErrorBody),
        (status = 404, description = "Slack approvals are not configured, or no such deployment", body = ErrorBody),
        (status = 409, description = "The decision was refused by the environment's rules", body = ErrorBody),
        (status = 413, description = "The body is larger than the route accepts", body = ErrorBody),
    )
)]
async fn slack_interaction(
    State(app): AppState,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<SlackAnswer>, ApiError> {
    let spec = app.spec();
    let Some(settings) = &spec.notifications.slack else {
        return Err(ApiError::not_found(
            "Slack approvals are not configured: add notifications.slack.signing_secret_env \
             (and users) to the spec",
        ));
    };
    let secret = std::env::var(&settings.signing_secret_env)
        .ok()
        .filter(|s| !s.trim().is_empty())
        .ok_or_else(|| {
            ApiError::internal(format!(
                "the Slack signing secret variable {} is not set in zion up's environment",
                settings.signing_secret_env
            ))
        })?;
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let now = app.clock.now().as_second();
    if let Err(e) = slack::verify(
        secret.trim().as_bytes(),
        header("x-slack-request-timestamp"),
        header("x-slack-signature"),
        &body,
        now,
    ) {
        tracing::warn!(error = %e, "refused a Slack request");
        return Err(ApiError::unauthorized(format!(
            "Slack request refused: {e}; nothing was recorded"
        )));
    }
    let press = slack::parse_press(&body)
        .map_err(|e| ApiError::bad_request(format!("{e}; nothing was recorded")))?;
    let Some(name) = settings.users.get(&press.user) else {
        return Err(ApiError::forbidden(format!(
            "Slack user {} is not mapped to a Zion principal, so their {} was not recorded; \
             add them to notifications.slack.users (e.g. `{}: alice`)",
            press.user,
            press.kind.name(),
            press.user
        )));
    };
    let Some(principal) = app.principal_named(name)? else {
        return Err(ApiError::forbidden(format!(
            "Slack user {} maps to `{name}`, which has no live token, so their {} was not \
             recorded; an admin can create it with `zion token create {name} --role approver`",
            press.user,
            press.kind.name()
        )));
    };
    let d = app
        .decide(press.deployment_id, press.kind, None, "slack", &principal)
        .await?;
    Ok(Json(SlackAnswer {
        text: format!(
            "{} recorded for deployment {} ({} {} in {}) by {}: now {}",
            press.kind.name(),
            d.id,
            d.service,
            d.version,
            d.environment,
            principal.name,
            d.phase
        ),
        response_type: "in_channel",
    }))
}
