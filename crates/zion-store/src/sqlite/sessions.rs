//! The console sessions of [`SqliteStore`]: hashes only.

use jiff::Timestamp;
use rusqlite::params;

use super::{SqliteStore, db, is_unique_violation, query_all};
use crate::codec::time_text;
use crate::tables::{self, SESSION_COLUMNS};
use crate::{SessionRecord, SessionStore, StoreError};

impl SessionStore for SqliteStore {
    fn create_session(&self, s: &SessionRecord) -> Result<(), StoreError> {
        let conn = self.conn();
        conn.execute(
            &tables::sqlite(tables::INSERT_SESSION),
            params![
                s.hash_hex,
                s.token_hash,
                s.csrf_token,
                time_text(s.created_at),
                time_text(s.expires_at),
                time_text(s.last_seen_at),
            ],
        )
        .map_err(|e| {
            if is_unique_violation(&e) {
                StoreError::Invalid(crate::sessions::TAKEN.to_string())
            } else {
                db("creating a session")(e)
            }
        })?;
        Ok(())
    }

    fn session_by_hash(&self, hash_hex: &str) -> Result<Option<SessionRecord>, StoreError> {
        let conn = self.conn();
        let mut found = query_all(
            &conn,
            &format!("SELECT {SESSION_COLUMNS} FROM sessions WHERE hash_hex = ?1"),
            [hash_hex],
            "looking up a session",
            |row| tables::session(row),
        )?;
        Ok(found.pop())
    }

    fn touch_session(&self, hash_hex: &str, at: Timestamp) -> Result<bool, StoreError> {
        let conn = self.conn();
        conn.execute(
            &tables::sqlite(tables::TOUCH_SESSION),
            params![hash_hex, time_text(at)],
        )
        .map_err(db("touching a session"))?;
        let exists = conn
            .query_row(
                "SELECT 1 FROM sessions WHERE hash_hex = ?1",
                [hash_hex],
                |_| Ok(()),
            )
            .map(|()| true)
            .or_else(|e| match e {
                rusqlite::Error::QueryReturnedNoRows => Ok(false),
                e => Err(e),
            })
            .map_err(db("touching a session"))?;
        Ok(exists)
    }

    fn delete_session(&self, hash_hex: &str) -> Result<bool, StoreError> {
        let conn = self.conn();
        let n = conn
            .execute("DELETE FROM sessions WHERE hash_hex = ?1", [hash_hex])
            .map_err(db("deleting a session"))?;
        Ok(n > 0)
    }

    fn delete_stale_sessions(
        &self,
        now: Timestamp,
        idle_since: Timestamp,
    ) -> Result<u64, StoreError> {
        let conn = self.conn();
        let n = conn
            .execute(
                &tables::sqlite(tables::DELETE_STALE_SESSIONS),
                params![time_text(now), time_text(idle_since)],
            )
            .map_err(db("deleting stale sessions"))?;
        Ok(n as u64)
    }
}
