//! The API tokens of [`SqliteStore`]: hashes only, one live token per name
//! and per GitHub login (checked first so the refusal names the holder,
//! backed by unique indexes).

use jiff::Timestamp;
use rusqlite::{OptionalExtension, Transaction, params};

use super::{SqliteStore, audit, begin, db, is_unique_violation, query_all};
use crate::codec::time_text;
use crate::tables::{self, LIVE_GITHUB_LOGIN, TOKEN_COLUMNS};
use crate::{AuditAppend, StoreError, TokenRecord, TokenStore};

/// Refuses a live token whose name or GitHub login a live token holds.
fn refuse_taken(tx: &Transaction<'_>, token: &TokenRecord) -> Result<(), StoreError> {
    const DURING: &str = "creating a token";
    if token.revoked_at.is_some() {
        return Ok(());
    }
    let name_taken = tx
        .query_row(
            "SELECT 1 FROM tokens WHERE name = ?1 AND revoked_at IS NULL",
            [&token.name],
            |_| Ok(()),
        )
        .optional()
        .map_err(db(DURING))?
        .is_some();
    if name_taken {
        return Err(StoreError::Exists {
            name: token.name.clone(),
        });
    }
    let Some(login) = &token.github_login else {
        return Ok(());
    };
    let holder: Option<String> = tx
        .query_row(
            &tables::sqlite(&format!(
                "SELECT name FROM tokens WHERE {LIVE_GITHUB_LOGIN}"
            )),
            [login],
            |row| row.get(0),
        )
        .optional()
        .map_err(db(DURING))?;
    match holder {
        Some(name) => Err(StoreError::GithubLoginTaken {
            login: login.clone(),
            name,
        }),
        None => Ok(()),
    }
}

impl TokenStore for SqliteStore {
    fn create_token(
        &self,
        token: &TokenRecord,
        audit: Option<&AuditAppend>,
    ) -> Result<(), StoreError> {
        const DURING: &str = "creating a token";
        let mut conn = self.conn();
        let tx = begin(&mut conn, DURING)?;
        // Checked under the write lock, so that the refusal names the
        // holder; the unique indexes are the backstop.
        refuse_taken(&tx, token)?;
        tx.execute(
            &format!("INSERT INTO tokens ({TOKEN_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6)"),
            params![
                token.name,
                token.role.name(),
                token.hash_hex,
                token.github_login,
                time_text(token.created_at),
                token.revoked_at.map(time_text),
            ],
        )
        .map_err(|e| {
            // The name and login were checked above, so a unique violation
            // here is the hash: refuse rather than let two names share one
            // secret.
            if is_unique_violation(&e) {
                StoreError::Invalid(format!(
                    "another token already has the hash of token `{}`; create a new token",
                    token.name
                ))
            } else {
                db(DURING)(e)
            }
        })?;
        if let Some(a) = audit {
            audit::write(&tx, a)?;
        }
        tx.commit().map_err(db(DURING))?;
        tracing::debug!(name = %token.name, role = token.role.name(), "token created");
        Ok(())
    }

    fn token_by_hash(&self, hash_hex: &str) -> Result<Option<TokenRecord>, StoreError> {
        let conn = self.conn();
        let mut found = query_all(
            &conn,
            &format!("SELECT {TOKEN_COLUMNS} FROM tokens WHERE hash_hex = ?1"),
            [hash_hex],
            "looking up a token",
            |row| tables::token(row),
        )?;
        Ok(found.pop())
    }

    fn token_by_github(&self, login: &str) -> Result<Option<TokenRecord>, StoreError> {
        let conn = self.conn();
        let mut found = query_all(
            &conn,
            &tables::sqlite(&format!(
                "SELECT {TOKEN_COLUMNS} FROM tokens WHERE {LIVE_GITHUB_LOGIN}"
            )),
            [login],
            "looking up a token by GitHub login",
            |row| tables::token(row),
        )?;
        Ok(found.pop())
    }

    fn tokens(&self) -> Result<Vec<TokenRecord>, StoreError> {
        let conn = self.conn();
        query_all(
            &conn,
            &format!("SELECT {TOKEN_COLUMNS} FROM tokens ORDER BY id"),
            [],
            "listing tokens",
            |row| tables::token(row),
        )
    }

    fn revoke_token(
        &self,
        name: &str,
        at: Timestamp,
        audit: Option<&AuditAppend>,
    ) -> Result<bool, StoreError> {
        const DURING: &str = "revoking a token";
        let mut conn = self.conn();
        let tx = begin(&mut conn, DURING)?;
        let changed = tx
            .execute(
                "UPDATE tokens SET revoked_at = ?1 WHERE name = ?2 AND revoked_at IS NULL",
                params![time_text(at), name],
            )
            .map_err(db(DURING))?;
        // Nothing revoked: dropping the transaction writes no entry either.
        if changed == 0 {
            return Ok(false);
        }
        if let Some(a) = audit {
            audit::write(&tx, a)?;
        }
        tx.commit().map_err(db(DURING))?;
        tracing::debug!(name, "token revoked");
        Ok(true)
    }
}
