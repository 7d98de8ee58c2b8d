//! Console sessions: signing in with an API token opens one, a cookie
//! carries its random secret, and the store keeps only the secret's
//! SHA-256 beside the token's hash, the session's CSRF token and its
//! expiry (so every replica on one database honours it, and a restart
//! signs nobody out). The principal and role are read from the token at
//! each request, so a revoked token ends its sessions at once.

use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Redirect, Response};
use zion_core::session::{SessionPolicy, SessionState};
use zion_store::SessionRecord;

use crate::app::App;
use crate::auth::{Lookup, Principal, hash_token, lookup};
use crate::error::ApiError;

/// The cookie's name.
pub(crate) const COOKIE: &str = "zion_session";

/// A live session and who it stands for.
#[derive(Debug, Clone)]
pub(crate) struct SignedIn {
    pub principal: Principal,
    /// The token every state-changing request must carry.
    pub csrf: String,
}

/// What a cookie stands for.
pub(crate) enum Found {
    Live(SignedIn),
    /// No cookie, or one no live session has: sign in again.
    None,
}

/// A random secret of 256 bits, hex.
fn secret() -> Result<String, ApiError> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)
        .map_err(|e| ApiError::internal(format!("no random source for a session: {e}")))?;
    Ok(hex::encode(bytes))
}

/// Opens a session for the holder of `token`; the cookie's secret, or
/// None when the token is unknown or revoked (nothing is written then).
pub(crate) fn open(app: &App, token: &str) -> Result<Option<(String, Principal)>, ApiError> {
    let principal = match lookup(app.store.as_ref(), token)? {
        Lookup::Live(p) => p,
        Lookup::Revoked(_) | Lookup::Unknown => return Ok(None),
    };
    let policy = SessionPolicy::default();
    let now = app.clock.now();
    // Sign-ins are rare: a good moment to forget the sessions that ended.
    app.store
        .delete_stale_sessions(now, policy.idle_since(now))?;
    let cookie = secret()?;
    app.store.create_session(&SessionRecord {
        hash_hex: hash_token(&cookie),
        token_hash: hash_token(token),
        csrf_token: secret()?,
        created_at: now,
        expires_at: policy.expires_at(now),
        last_seen_at: now,
    })?;
    tracing::info!(principal = %principal.name, "signed in to the console");
    Ok(Some((cookie, principal)))
}

/// Ends the session of this cookie, if any.
pub(crate) fn close(app: &App, headers: &HeaderMap) -> Result<(), ApiError> {
    if let Some(cookie) = cookie(headers) {
        app.store.delete_session(&hash_token(cookie))?;
    }
    Ok(())
}

/// The session the request's cookie opens. `touch`: record the use (a
/// page or an API call; the live stream's polls are not a use).
pub(crate) fn find(app: &App, headers: &HeaderMap, touch: bool) -> Result<Found, ApiError> {
    let Some(cookie) = cookie(headers) else {
        return Ok(Found::None);
    };
    let hash = hash_token(cookie);
    let Some(session) = app.store.session_by_hash(&hash)? else {
        return Ok(Found::None);
    };
    let now = app.clock.now();
    let policy = SessionPolicy::default();
    if policy.state(session.expires_at, session.last_seen_at, now) != SessionState::Live {
        app.store.delete_session(&hash)?;
        return Ok(Found::None);
    }
    let principal = match app.store.token_by_hash(&session.token_hash)? {
        Some(t) if t.revoked_at.is_none() => Principal {
            name: t.name,
            role: t.role,
        },
        // The token was revoked since: so is every session it opened.
        _ => {
            app.store.delete_session(&hash)?;
            return Ok(Found::None);
        }
    };
    if touch {
        app.store.touch_session(&hash, now)?;
    }
    Ok(Found::Live(SignedIn {
        principal,
        csrf: session.csrf_token,
    }))
}

/// The principal of a live session, if these headers carry its cookie.
pub(crate) fn principal(app: &App, headers: &HeaderMap) -> Option<Principal> {
    match find(app, headers, false) {
        Ok(Found::Live(s)) => Some(s.principal),
        _ => None,
    }
}

/// The session cookie's value, if the request has one.
pub(crate) fn cookie(headers: &HeaderMap) -> Option<&str> {
    cookie_named(headers, COOKIE)
}

/// The value of the cookie `name`, if the request has one.
fn cookie_named<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(n, _)| *n == name)
        .map(|(_, value)| value.trim())
        .filter(|v| !v.is_empty())
}

/// Whether the browser reached us over TLS: an `https` request target, or
/// a proxy in front saying so (`X-Forwarded-Proto: https`). The header is
/// not trusted for anything else: it can only add `Secure`, which makes
/// the cookie stricter, never looser.
fn over_tls(headers: &HeaderMap) -> bool {
    headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("https"))
}

/// The `Set-Cookie` value that hands the browser its session.
pub(crate) fn set_cookie(secret: &str, headers: &HeaderMap) -> String {
    let lifetime = SessionPolicy::default().lifetime.as_secs();
    format!(
        "{COOKIE}={secret}; HttpOnly; SameSite=Strict; Path=/; Max-Age={lifetime}{}",
        if over_tls(headers) { "; Secure" } else { "" }
    )
}

/// The cookie that ties a sign-in form to the browser it was shown to.
pub(crate) const LOGIN_COOKIE: &str = "zion_login";

/// A new sign-in form's nonce and the `Set-Cookie` value that holds it.
/// The form sends the nonce back in a field and the browser in the
/// cookie; a page of another site can make a browser post the form, but
/// can neither read nor set the cookie, so it cannot sign a victim in to
/// its own account (login CSRF).
pub(crate) fn login_nonce(headers: &HeaderMap) -> Result<(String, String), ApiError> {
    let nonce = secret()?;
    let cookie = format!(
        "{LOGIN_COOKIE}={nonce}; HttpOnly; SameSite=Strict; Path=/ui/login; Max-Age=3600{}",
        if over_tls(headers) { "; Secure" } else { "" }
    );
    Ok((nonce, cookie))
}

/// Whether a sign-in form's `sent` nonce is the one its browser holds.
pub(crate) fn login_nonce_matches(headers: &HeaderMap, sent: Option<&str>) -> bool {
    match cookie_named(headers, LOGIN_COOKIE) {
        Some(held) => zion_core::session::csrf_matches(held, sent),
        None => false,
    }
}

/// The `Set-Cookie` value that makes the browser forget the form's nonce.
pub(crate) fn clear_login_cookie() -> String {
    format!("{LOGIN_COOKIE}=; HttpOnly; SameSite=Strict; Path=/ui/login; Max-Age=0")
}

/// The `Set-Cookie` value that makes the browser forget it.
pub(crate) fn clear_cookie(headers: &HeaderMap) -> String {
    format!(
        "{COOKIE}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0{}",
        if over_tls(headers) { "; Secure" } else { "" }
    )
}

/// The principal of an API request that carries a session cookie and no
/// `Authorization` header. A state-changing request must also carry the
/// session's CSRF token in `X-CSRF-Token`: a page of another site can make
/// the browser send the cookie (SameSite aside), never read the token.
pub(crate) fn api_principal(app: &App, parts: &Parts) -> Result<Option<Principal>, ApiError> {
    let Found::Live(s) = find(app, &parts.headers, true)? else {
        return Ok(None);
    };
    if zion_core::session::changes_state(parts.method.as_str()) {
        let sent = parts
            .headers
            .get("x-csrf-token")
            .and_then(|v| v.to_str().ok());
        if !zion_core::session::csrf_matches(&s.csrf, sent) {
            return Err(ApiError::new(
                axum::http::StatusCode::FORBIDDEN,
                "csrf",
                "a request signed in by the console's cookie that changes state must carry the \
                 session's CSRF token in `X-CSRF-Token` (the page holds it); or use \
                 `Authorization: Bearer <token>`",
            ));
        }
    }
    Ok(Some(s.principal))
}

/// A page's signed-in caller; a browser without a live session is sent to
/// the sign-in page.
pub(crate) struct Page(pub SignedIn);

impl FromRequestParts<Arc<App>> for Page {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, app: &Arc<App>) -> Result<Self, Response> {
        match find(app, &parts.headers, true) {
            Ok(Found::Live(s)) => Ok(Page(s)),
            Ok(Found::None) => Err(Redirect::to("/ui/login").into_response()),
            Err(e) => Err(e.into_response()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn the_cookie_is_found_among_others() {
        let mut h = HeaderMap::new();
        assert_eq!(cookie(&h), None);
        h.append(
            header::COOKIE,
            HeaderValue::from_static("a=1; zion_session=abc ; b=2"),
        );
        assert_eq!(cookie(&h), Some("abc"));
        let mut empty = HeaderMap::new();
        empty.append(header::COOKIE, HeaderValue::from_static("zion_session="));
        assert_eq!(cookie(&empty), None);
    }

    #[test]
    fn the_cookie_is_http_only_strict_and_secure_over_tls() {
        let plain = set_cookie("s3cret", &HeaderMap::new());
        assert!(plain.starts_with("zion_session=s3cret; "), "{plain}");
        for attr in ["HttpOnly", "SameSite=Strict", "Path=/"] {
            assert!(plain.contains(attr), "{plain}");
        }
        assert!(!plain.contains("Secure"), "{plain}");
        let mut h = HeaderMap::new();
        h.insert("x-forwarded-proto", HeaderValue::from_static("https"));
        assert!(set_cookie("s", &h).ends_with("; Secure"));
        assert!(clear_cookie(&h).contains("Max-Age=0"));
    }
}
