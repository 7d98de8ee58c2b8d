//! Signing in and out: `GET /ui/login` shows the form, `POST /ui/login`
//! trades an API token for a session cookie, `POST /ui/logout` ends it.
//! The token is never logged nor shown back. The form carries a nonce
//! that must match a cookie set with it (`session::login_nonce`), so a
//! page of another site cannot sign a browser in.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};

use super::layout;
use super::session;
use crate::app::App;
use crate::error::ApiError;

fn form(error: Option<&str>, nonce: &str) -> Markup {
    layout::page(
        "Sign in",
        None,
        None,
        html! {
            @if let Some(e) = error { p.error #login-error role="alert" { (e) } }
            form #login method="post" action="/ui/login" {
                input type="hidden" name="login_csrf" value=(nonce);
                label for="token" { "API token" }
                input #token type="password" name="token" autocomplete="current-password" required;
                p.hint { "A token from " code { "zion token create" } "; the admin's is in the data directory's admin.token." }
                button type="submit" { "Sign in" }
            }
        },
    )
}

/// The sign-in form with a fresh nonce (and its cookie), answered with
/// `status`, saying `error` if any.
fn fresh_form(
    status: StatusCode,
    error: Option<&str>,
    headers: &HeaderMap,
) -> Result<Response, ApiError> {
    let (nonce, cookie) = session::login_nonce(headers)?;
    Ok((status, [(header::SET_COOKIE, cookie)], form(error, &nonce)).into_response())
}

fn field(body: &Bytes, name: &str) -> Option<String> {
    form_urlencoded::parse(body)
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
        .filter(|v| !v.is_empty())
}

pub(crate) async fn show(State(app): State<Arc<App>>, headers: HeaderMap) -> Response {
    // Already signed in: straight to the overview.
    if let Ok(session::Found::Live(_)) = session::find(&app, &headers, false) {
        return Redirect::to("/ui/").into_response();
    }
    fresh_form(StatusCode::OK, None, &headers).unwrap_or_else(IntoResponse::into_response)
}

pub(crate) async fn sign_in(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    if !session::login_nonce_matches(&headers, field(&body, "login_csrf").as_deref()) {
        tracing::warn!("refused a console sign-in whose form was not this browser's");
        return fresh_form(
            StatusCode::FORBIDDEN,
            Some(
                "This sign-in form expired or was not shown to this browser (cookies must \
                 be on): sign in again from this page.",
            ),
            &headers,
        );
    }
    let Some(token) = field(&body, "token") else {
        return fresh_form(
            StatusCode::BAD_REQUEST,
            Some("Enter an API token."),
            &headers,
        );
    };
    match session::open(&app, token.trim())? {
        Some((secret, _)) => {
            let mut response = (
                StatusCode::SEE_OTHER,
                [
                    (header::SET_COOKIE, session::set_cookie(&secret, &headers)),
                    (header::LOCATION, "/ui/".to_string()),
                ],
            )
                .into_response();
            if let Ok(v) = session::clear_login_cookie().parse() {
                response.headers_mut().append(header::SET_COOKIE, v);
            }
            Ok(response)
        }
        None => {
            tracing::warn!("refused a console sign-in with an unknown or revoked token");
            fresh_form(
                StatusCode::UNAUTHORIZED,
                Some(
                    "That token is unknown or revoked: check it, or ask an admin for one \
                     (zion token create).",
                ),
                &headers,
            )
        }
    }
}

pub(crate) async fn sign_out(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    // Signing out is a change: a page of another site may not do it.
    if let session::Found::Live(s) = session::find(&app, &headers, false)? {
        let sent = field(&body, "csrf");
        if !zion_core::session::csrf_matches(&s.csrf, sent.as_deref()) {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "csrf",
                "signing out takes the session's CSRF token (the page's sign-out button sends it)",
            ));
        }
        session::close(&app, &headers)?;
        tracing::info!(principal = %s.principal.name, "signed out of the console");
    }
    Ok((
        StatusCode::SEE_OTHER,
        [
            (header::SET_COOKIE, session::clear_cookie(&headers)),
            (header::LOCATION, "/ui/login".to_string()),
        ],
    )
        .into_response())
}
