//! The tokens API (`/api/v1/tokens`), for admins only: create a token for a
//! named principal with a role (the secret is answered once and only its
//! hash is kept), list tokens without secrets, revoke a live token.

use crate::audit::Record;
use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{delete, get};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};
use zion_core::audit::AuditAction;
use zion_core::spec::Role;
use zion_store::{StoreError, TokenRecord};

use crate::app::App;
use crate::auth::{Permission, hash_token, new_token};
use crate::error::{ApiError, excerpt};
use crate::http::api::{Auth, require};
use crate::http::extract::ApiJson;

/// The actor name of the controller's own decisions; no token may claim it.
const RESERVED_NAME: &str = "controller";

/// The tokens routes.
pub(crate) fn routes() -> Router<Arc<App>> {
    Router::new()
        .route("/api/v1/tokens", get(list).post(create))
        .route("/api/v1/tokens/{name}", delete(revoke))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateBody {
    name: String,
    role: String,
    #[serde(default)]
    github: Option<String>,
}

async fn create(
    State(app): State<Arc<App>>,
    Auth(p): Auth,
    body: Result<ApiJson<CreateBody>, ApiError>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    require(&p, Permission::Admin, "create tokens")?;
    let ApiJson(b) = body.map_err(|e| ApiError {
        message: format!(
            "bad token request: {}; send {{\"name\": \"alice\", \"role\": \"approver\", \"github\": \"alice-gh\"}}",
            e.message
        ),
        ..e
    })?;
    check_name(&b.name)?;
    let role = parse_role(&b.role)?;
    if let Some(login) = &b.github {
        check_github_login(login)?;
    }
    let token = new_token().map_err(|e| ApiError::internal(format!("no randomness: {e}")))?;
    let now = app.clock.now();
    let record = TokenRecord {
        name: b.name,
        role,
        hash_hex: hash_token(&token),
        github_login: b.github,
        created_at: now,
        revoked_at: None,
    };
    let entry = Record::new(
        p.name.clone(),
        AuditAction::TokenCreate,
        format!("token/{}", record.name),
        json!({"role": role.name(), "github": record.github_login}),
    );
    app.journal
        .commit_with(&[entry], now, |store, audit| {
            store.create_token(&record, audit).map_err(create_error)
        })
        .await?;
    tracing::info!(name = %record.name, role = role.name(), by = %p.name, "token created");
    let mut out = summary(&record);
    if let Value::Object(m) = &mut out {
        m.remove("revoked_at");
        m.insert("token".into(), json!(token));
    }
    Ok((StatusCode::CREATED, Json(out)))
}

async fn list(State(app): State<Arc<App>>, Auth(p): Auth) -> Result<Json<Value>, ApiError> {
    require(&p, Permission::Admin, "list tokens")?;
    let tokens = app.store.tokens()?;
    Ok(Json(Value::Array(tokens.iter().map(summary).collect())))
}

async fn revoke(
    State(app): State<Arc<App>>,
    Auth(p): Auth,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    require(&p, Permission::Admin, "revoke tokens")?;
    let entry = Record::new(
        p.name.clone(),
        AuditAction::TokenRevoke,
        format!("token/{name}"),
        json!({}),
    );
    let now = app.clock.now();
    // No live token: nothing is written, and an error keeps the log from
    // advancing past the entry the store did not write.
    app.journal
        .commit_with(&[entry], now, |store, audit| {
            if store.revoke_token(&name, now, audit)? {
                Ok(())
            } else {
                Err(ApiError::not_found(format!(
                    "no live token is named `{}`; `zion token list` shows every token",
                    excerpt(&name)
                )))
            }
        })
        .await?;
    tracing::info!(name = %name, by = %p.name, "token revoked");
    Ok(Json(json!({ "revoked": name })))
}

/// A token as listed: never its secret nor its hash.
fn summary(t: &TokenRecord) -> Value {
    json!({
        "name": t.name,
        "role": t.role.name(),
        "github": t.github_login,
        "created_at": t.created_at,
        "revoked_at": t.revoked_at,
    })
}

/// Names are what audit records and approvals show: short, lowercase, plain.
fn check_name(name: &str) -> Result<(), ApiError> {
    let valid_chars = name
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b));
    let valid_first = name
        .bytes()
        .next()
        .is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    if name.is_empty() || name.len() > 64 || !valid_chars || !valid_first {
        return Err(ApiError::bad_request(format!(
            "token name `{}` is invalid: use 1 to 64 characters of a-z, 0-9, `.`, `_` and `-`, \
             starting with a letter or digit (e.g. `alice`)",
            excerpt(name)
        )));
    }
    if name == RESERVED_NAME {
        return Err(ApiError::bad_request(format!(
            "token name `{RESERVED_NAME}` is reserved: it names Zion's own automatic decisions; choose another name"
        )));
    }
    Ok(())
}

fn parse_role(role: &str) -> Result<Role, ApiError> {
    Role::from_name(role).ok_or_else(|| {
        let all: Vec<&str> = Role::ALL.iter().map(|r| r.name()).collect();
        ApiError::bad_request(format!(
            "role `{}` is unknown: use one of {}",
            excerpt(role),
            all.join(", ")
        ))
    })
}

/// GitHub's own rule for logins: 1 to 39 letters, digits and hyphens.
fn check_github_login(login: &str) -> Result<(), ApiError> {
    let valid = !login.is_empty()
        && login.len() <= 39
        && login
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-');
    if valid {
        Ok(())
    } else {
        Err(ApiError::bad_request(format!(
            "GitHub login `{}` is invalid: GitHub logins are 1 to 39 letters, digits or hyphens",
            excerpt(login)
        )))
    }
}

fn create_error(e: StoreError) -> ApiError {
    match e {
        // A GitHub login stands for one principal, so `/approve` comments are
        // never ambiguous; the store checks it in the same transaction.
        StoreError::Exists { .. } | StoreError::GithubLoginTaken { .. } => {
            ApiError::conflict(e.to_string())
        }
        other => other.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_rule() {
        for ok in ["alice", "a", "0ps", "ci.bot_2-x", &"a".repeat(64)] {
            assert!(check_name(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "Alice",
            "-x",
            ".x",
            "_x",
            "a b",
            "a/b",
            "é",
            &"a".repeat(65),
        ] {
            let e = check_name(bad).unwrap_err();
            assert_eq!(e.status, StatusCode::BAD_REQUEST, "{bad}");
            assert!(e.message.contains("a-z, 0-9"), "{bad}: {}", e.message);
        }
        let e = check_name("controller").unwrap_err();
        assert!(e.message.contains("reserved"), "{}", e.message);
    }

    #[test]
    fn roles_and_logins_are_checked() {
        assert_eq!(parse_role("approver").unwrap(), Role::Approver);
        let e = parse_role("root").unwrap_err();
        assert!(e.message.contains("viewer, deployer, approver, admin"));
        assert!(check_github_login("Alice-GH-1").is_ok());
        assert!(check_github_login(&"a".repeat(39)).is_ok());
        for bad in ["", "a_b", "a b", "a@b", &"a".repeat(40)] {
            assert!(check_github_login(bad).is_err(), "{bad}");
        }
    }
}
