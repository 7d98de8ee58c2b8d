//! Bearer tokens: random secrets shown once, stored only as SHA-256 hashes,
//! each bound to a principal name and a role; creating, listing and
//! revoking them, and the principal a GitHub login stands for.

use std::path::Path;

use sha2::{Digest, Sha256};

use crate::app::App;
use crate::audit::Record;
use crate::error::{ApiError, excerpt};
use zion_core::api::{CreateToken, CreatedToken, TokenView};
use zion_core::audit::AuditAction;
use zion_core::spec::Role;
use zion_store::{Store, StoreError, TokenRecord};

/// The actor name of the controller's own decisions; no token may claim it.
const RESERVED_NAME: &str = "controller";

pub use zion_core::principal::{Permission, Principal};

/// Why a request was refused. Refusals are logged per principal and
/// minute, never per token sent: what a caller sends is neither a name nor
/// safe to keep, so made-up tokens, however many and however long, add one
/// entry per reason and minute.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Refusal {
    /// No `Authorization` header (or one that is not text).
    NoToken,
    /// An `Authorization` header that is not `Bearer <token>`.
    NotBearer,
    /// A token that no token ever issued hashes to.
    UnknownToken,
    /// A revoked token: its principal is known, and named.
    RevokedToken(String),
    /// An authenticated principal refused an action (403), by route.
    Forbidden { principal: String, route: String },
}

impl Refusal {
    /// The principal its audit entries name.
    pub fn principal(&self) -> &str {
        match self {
            Refusal::NoToken => "(no token)",
            Refusal::NotBearer => "(not a bearer token)",
            Refusal::UnknownToken => "(unknown token)",
            Refusal::RevokedToken(name) => name,
            Refusal::Forbidden { principal, .. } => principal,
        }
    }

    /// The audit action of its entries: refused authentication (401) or a
    /// refused action (403).
    pub fn action(&self) -> AuditAction {
        match self {
            Refusal::Forbidden { .. } => AuditAction::AuthForbidden,
            _ => AuditAction::AuthRefused,
        }
    }

    /// What its entries say besides the count.
    pub fn details(&self) -> serde_json::Value {
        match self {
            Refusal::NoToken => serde_json::json!({"reason": "no token"}),
            Refusal::NotBearer => serde_json::json!({"reason": "not a bearer token"}),
            Refusal::UnknownToken => serde_json::json!({"reason": "unknown token"}),
            Refusal::RevokedToken(_) => serde_json::json!({"reason": "revoked token"}),
            Refusal::Forbidden { route, .. } => {
                serde_json::json!({"reason": "missing role or refused by policy", "route": route})
            }
        }
    }
}

/// What a bearer token is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    Live(Principal),
    /// Issued to this principal, then revoked.
    Revoked(String),
    Unknown,
}

/// Looks a bearer token up.
pub fn lookup(store: &dyn Store, token: &str) -> Result<Lookup, StoreError> {
    let Some(rec) = store.token_by_hash(&hash_token(token))? else {
        return Ok(Lookup::Unknown);
    };
    if rec.revoked_at.is_some() {
        return Ok(Lookup::Revoked(rec.name));
    }
    Ok(Lookup::Live(Principal {
        name: rec.name,
        role: rec.role,
    }))
}

/// SHA-256 of a token, hex.
pub fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// A new random token (256 bits).
pub fn new_token() -> Result<String, getrandom::Error> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)?;
    Ok(format!("zion_{}", hex::encode(bytes)))
}

/// Looks a bearer token up; None when unknown or revoked.
pub fn authenticate(store: &dyn Store, token: &str) -> Result<Option<Principal>, StoreError> {
    Ok(match lookup(store, token)? {
        Lookup::Live(p) => Some(p),
        Lookup::Revoked(_) | Lookup::Unknown => None,
    })
}

/// Makes sure `<data_dir>/admin.token` (mode 0600) holds a working admin
/// token, creating it on first start; returns the token.
pub fn ensure_admin_token(
    store: &dyn Store,
    data_dir: &Path,
    audit: &crate::audit::AuditLog,
    clock: &crate::Clock,
    live_replicas: &[String],
) -> Result<String, crate::StartError> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let path = data_dir.join("admin.token");
    if let Ok(existing) = std::fs::read_to_string(&path) {
        let token = existing.trim().to_string();
        if authenticate(store, &token)?.is_some_and(|p| p.role == Role::Admin) {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))
                .map_err(|e| crate::StartError::io(&path, e))?;
            return Ok(token);
        }
    }
    let token = new_token().map_err(|e| crate::StartError::Random(e.to_string()))?;
    let now = clock.now();
    // A stale admin token (its file lost or replaced) is revoked, not reused.
    let actor = "zion up";
    let stale = store
        .tokens()?
        .iter()
        .any(|t| t.name == "admin" && t.revoked_at.is_none());
    if stale && !live_replicas.is_empty() {
        // Replacing it would lock the running replicas' operators out:
        // the token is the database's, shared by every replica.
        return Err(crate::StartError::DataDir {
            message: format!(
                "{} is missing or holds another token, and the admin token is in use by the running replica(s) {} of this database: copy admin.token from one of their data directories to {} (mode 0600), or stop them all to have a new one made",
                path.display(),
                live_replicas.join(", "),
                path.display()
            ),
        });
    }
    if stale {
        let entry = Record::new(
            actor,
            AuditAction::TokenRevoke,
            "token/admin",
            serde_json::json!({"reason": "the admin token file was missing or held another token"}),
        );
        audit.append_with(store, &[entry], now, |a| {
            if store.revoke_token("admin", now, a)? {
                Ok(())
            } else {
                // Revoked by someone else meanwhile: the entry was not
                // written, so the log must not count it.
                Err(crate::StartError::Audit {
                    message: "the admin token changed while it was being replaced; start again"
                        .into(),
                })
            }
        })?;
    }
    let record = TokenRecord {
        name: "admin".into(),
        role: Role::Admin,
        hash_hex: hash_token(&token),
        github_login: None,
        created_at: now,
        revoked_at: None,
    };
    let entry = Record::new(
        actor,
        AuditAction::TokenCreate,
        "token/admin",
        serde_json::json!({"role": Role::Admin.name(), "github": null}),
    );
    audit.append_with(store, &[entry], now, |a| {
        store
            .create_token(&record, a)
            .map_err(crate::StartError::from)
    })?;
    let tmp = data_dir.join("admin.token.tmp");
    {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(|e| crate::StartError::io(&tmp, e))?;
        writeln!(f, "{token}").map_err(|e| crate::StartError::io(&tmp, e))?;
        f.sync_all().map_err(|e| crate::StartError::io(&tmp, e))?;
    }
    std::fs::rename(&tmp, &path).map_err(|e| crate::StartError::io(&path, e))?;
    Ok(token)
}

impl App {
    /// Creates a token for the principal `req` names, by `by`; answers its
    /// secret, which is never kept (only its hash is).
    pub async fn create_token(
        &self,
        req: CreateToken,
        principal: &Principal,
    ) -> Result<CreatedToken, ApiError> {
        check_name(&req.name)?;
        let role = parse_role(&req.role)?;
        if let Some(login) = &req.github {
            check_github_login(login)?;
        }
        let token = new_token().map_err(|e| ApiError::internal(format!("no randomness: {e}")))?;
        let now = self.clock.now();
        let record = TokenRecord {
            name: req.name,
            role,
            hash_hex: hash_token(&token),
            github_login: req.github,
            created_at: now,
            revoked_at: None,
        };
        let entry = Record::new(
            principal.name.clone(),
            AuditAction::TokenCreate,
            format!("token/{}", record.name),
            serde_json::json!({"role": role.name(), "github": record.github_login}),
        );
        self.journal
            .commit_with(&[entry], now, |store, audit| {
                store.create_token(&record, audit).map_err(create_error)
            })
            .await?;
        tracing::info!(name = %record.name, role = role.name(), by = %principal.name, "token created");
        Ok(CreatedToken {
            created_at: record.created_at,
            github: record.github_login,
            name: record.name,
            role,
            token,
        })
    }

    /// Every token ever created, live or revoked, without secrets.
    pub fn tokens(&self) -> Result<Vec<TokenView>, ApiError> {
        Ok(self.store.tokens()?.iter().map(view).collect())
    }

    /// Revokes the live token named `name`, by `by`.
    pub async fn revoke_token(&self, name: &str, principal: &Principal) -> Result<(), ApiError> {
        let entry = Record::new(
            principal.name.clone(),
            AuditAction::TokenRevoke,
            format!("token/{name}"),
            serde_json::json!({}),
        );
        let now = self.clock.now();
        // No live token: nothing is written, and an error keeps the log
        // from advancing past the entry the store did not write.
        self.journal
            .commit_with(&[entry], now, |store, audit| {
                if store.revoke_token(name, now, audit)? {
                    Ok(())
                } else {
                    Err(ApiError::not_found(format!(
                        "no live token is named `{}`; `zion token list` shows every token",
                        excerpt(name)
                    )))
                }
            })
            .await?;
        tracing::info!(name = %name, by = %principal.name, "token revoked");
        Ok(())
    }

    /// The principal whose token is mapped to GitHub login `login`.
    /// The principal of the live token named `name`, if any (a Slack
    /// user's, through `notifications.slack.users`).
    pub fn principal_named(&self, name: &str) -> Result<Option<Principal>, ApiError> {
        Ok(self
            .store
            .tokens()?
            .into_iter()
            .find(|t| t.name == name && t.revoked_at.is_none())
            .map(|t| Principal {
                name: t.name,
                role: t.role,
            }))
    }

    pub fn principal_of_github(&self, login: &str) -> Result<Option<Principal>, ApiError> {
        Ok(self.store.token_by_github(login)?.map(|t| Principal {
            name: t.name,
            role: t.role,
        }))
    }
}

/// A token as listed: never its secret nor its hash.
fn view(t: &TokenRecord) -> TokenView {
    TokenView {
        created_at: t.created_at,
        github: t.github_login.clone(),
        name: t.name.clone(),
        revoked_at: t.revoked_at,
        role: t.role,
    }
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
    fn tokens_are_random_and_hashed() {
        let a = new_token().unwrap();
        let b = new_token().unwrap();
        assert_ne!(a, b);
        assert_eq!(hash_token(&a).len(), 64);
        assert_ne!(hash_token(&a), a);
    }

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
            assert_eq!(e.status, axum::http::StatusCode::BAD_REQUEST, "{bad}");
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
