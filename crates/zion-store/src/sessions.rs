//! The sessions area: the web console's sign-ins, kept as hashes only.

use jiff::Timestamp;

use crate::StoreError;

/// Why a session was refused when its hash is taken (a secret of 256
/// random bits repeating is a broken random source, not a user's error).
pub(crate) const TAKEN: &str = "another session already has this secret's hash; sign in again";

/// Console sessions: a browser signed in with an API token. Kept in the
/// store so that every replica of `zion up` on one database honours them
/// and a restart signs nobody out. Only the hash of the cookie's secret is
/// stored; the session names the token it was opened with (by its hash),
/// so the caller reads the principal and role from the token each time
/// and a revoked token ends its sessions.
///
/// Every implementation keeps these:
/// - a session's hash is unique: creating a second one with the same hash
///   is refused (StoreError::Invalid) and changes nothing;
/// - a deleted session is never found again;
/// - touching moves only `last_seen_at`, and only forward.
pub trait SessionStore: Send + Sync {
    /// Stores a new session; StoreError::Invalid when its hash is taken.
    fn create_session(&self, session: &SessionRecord) -> Result<(), StoreError>;

    /// The session with this hash, expired or not (the caller decides).
    fn session_by_hash(&self, hash_hex: &str) -> Result<Option<SessionRecord>, StoreError>;

    /// Records that the session was used at `at` (never moving back);
    /// false when there is no such session.
    fn touch_session(&self, hash_hex: &str, at: Timestamp) -> Result<bool, StoreError>;

    /// Deletes the session (sign-out); false when there was none.
    fn delete_session(&self, hash_hex: &str) -> Result<bool, StoreError>;

    /// Deletes every session whose absolute expiry is at or before `now`
    /// or that was last used at or before `idle_since`; returns how many.
    fn delete_stale_sessions(
        &self,
        now: Timestamp,
        idle_since: Timestamp,
    ) -> Result<u64, StoreError>;
}

/// A console session as stored: never the cookie's secret itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRecord {
    /// SHA-256 of the cookie's secret, lowercase hex; unique.
    pub hash_hex: String,
    /// The hash of the API token signed in with (`TokenRecord::hash_hex`).
    pub token_hash: String,
    /// The token every state-changing request of the session must carry.
    pub csrf_token: String,
    pub created_at: Timestamp,
    /// Past this the session is over, however recently used.
    pub expires_at: Timestamp,
    pub last_seen_at: Timestamp,
}
