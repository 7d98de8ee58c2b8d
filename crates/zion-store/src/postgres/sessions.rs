//! The console sessions of [`PostgresStore`]: hashes only, shared by every
//! replica of `zion up` on the database. Written outside transactions, so
//! a sign-in or a touch does not wake the other replicas (nothing they
//! drive changed).

use jiff::Timestamp;

use super::{PostgresStore, args, is_unique_violation};
use crate::codec::time_text;
use crate::tables::{self, SESSION_COLUMNS};
use crate::{SessionRecord, SessionStore, StoreError};

impl SessionStore for PostgresStore {
    fn create_session(&self, s: &SessionRecord) -> Result<(), StoreError> {
        const DURING: &str = "creating a session";
        let mut session = self.session(DURING)?;
        let inserted = session.try_query(
            tables::INSERT_SESSION,
            args![
                s.hash_hex.clone(),
                s.token_hash.clone(),
                s.csrf_token.clone(),
                time_text(s.created_at),
                time_text(s.expires_at),
                time_text(s.last_seen_at)
            ],
            DURING,
        )?;
        match inserted {
            Ok(_) => Ok(()),
            Err(e) if is_unique_violation(&e) => {
                Err(StoreError::Invalid(crate::sessions::TAKEN.to_string()))
            }
            Err(e) => Err(session.error(DURING, e)),
        }
    }

    fn session_by_hash(&self, hash_hex: &str) -> Result<Option<SessionRecord>, StoreError> {
        const DURING: &str = "looking up a session";
        let row = self.session(DURING)?.query_opt(
            &format!("SELECT {SESSION_COLUMNS} FROM sessions WHERE hash_hex = $1"),
            args![hash_hex.to_string()],
            DURING,
        )?;
        row.as_ref().map(tables::session).transpose()
    }

    fn touch_session(&self, hash_hex: &str, at: Timestamp) -> Result<bool, StoreError> {
        const DURING: &str = "touching a session";
        let mut s = self.session(DURING)?;
        s.execute(
            tables::TOUCH_SESSION,
            args![hash_hex.to_string(), time_text(at)],
            DURING,
        )?;
        let found = s.query_opt(
            "SELECT 1 FROM sessions WHERE hash_hex = $1",
            args![hash_hex.to_string()],
            DURING,
        )?;
        Ok(found.is_some())
    }

    fn delete_session(&self, hash_hex: &str) -> Result<bool, StoreError> {
        const DURING: &str = "deleting a session";
        let n = self.session(DURING)?.execute(
            "DELETE FROM sessions WHERE hash_hex = $1",
            args![hash_hex.to_string()],
            DURING,
        )?;
        Ok(n > 0)
    }

    fn delete_stale_sessions(
        &self,
        now: Timestamp,
        idle_since: Timestamp,
    ) -> Result<u64, StoreError> {
        const DURING: &str = "deleting stale sessions";
        let n = self.session(DURING)?.execute(
            tables::DELETE_STALE_SESSIONS,
            args![time_text(now), time_text(idle_since)],
            DURING,
        )?;
        Ok(n)
    }
}
