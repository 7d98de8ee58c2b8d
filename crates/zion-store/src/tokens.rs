//! The tokens area: API tokens, kept as hashes only.

use jiff::Timestamp;
use zion_core::spec::Role;

use crate::{AuditAppend, StoreError};

/// API tokens: who may call the API, in which role, and which GitHub
/// account a token stands for. Only the hash of a secret is ever stored.
///
/// Every implementation keeps these:
/// - an unrevoked token's name is unique, and so is its GitHub login,
///   compared case-insensitively (GitHub logins are); a revoked token keeps
///   both as history and frees them for a new token;
/// - a hash is unique among all tokens, revoked ones included, so two
///   names never share one secret;
/// - revoking is final and tokens are never deleted: the list is the
///   history of who could call the API;
/// - a token written or revoked and the audit entries describing it are
///   one transaction: a refusal writes neither.
pub trait TokenStore: Send + Sync {
    /// Stores a new token with the audit entries that describe it, in one transaction; StoreError::Exists when the name is taken by an unrevoked token, StoreError::GithubLoginTaken when its GitHub login (compared case-insensitively) is, StoreError::AuditOutOfOrder when the entries do not continue the log: then nothing is written.
    fn create_token(
        &self,
        token: &TokenRecord,
        audit: Option<&AuditAppend>,
    ) -> Result<(), StoreError>;

    /// The unrevoked token mapped to this GitHub login, compared case-insensitively (GitHub logins are).
    fn token_by_github(&self, login: &str) -> Result<Option<TokenRecord>, StoreError>;

    /// The token with this hash, revoked ones included (the caller checks `revoked_at`).
    fn token_by_hash(&self, hash_hex: &str) -> Result<Option<TokenRecord>, StoreError>;

    /// Every token, revoked ones included, oldest first.
    fn tokens(&self) -> Result<Vec<TokenRecord>, StoreError>;

    /// Revokes the unrevoked token called `name` and writes `audit` in the
    /// same transaction; false (and nothing written, not even `audit`) when
    /// there is none. Entries that do not continue the log refuse both.
    fn revoke_token(
        &self,
        name: &str,
        at: Timestamp,
        audit: Option<&AuditAppend>,
    ) -> Result<bool, StoreError>;
}

/// An API token as stored: only its hash, never the token itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRecord {
    /// Unique among unrevoked tokens.
    pub name: String,
    pub role: Role,
    /// Hash of the secret, lowercase hex; unique.
    pub hash_hex: String,
    /// The GitHub account the token stands for, if any.
    pub github_login: Option<String>,
    pub created_at: Timestamp,
    /// Set once revoked; a revoked token authorises nothing.
    pub revoked_at: Option<Timestamp>,
}
