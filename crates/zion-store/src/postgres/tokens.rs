//! The API tokens of [`PostgresStore`]: hashes only, one live token per name
//! and per GitHub login (checked first so the refusal names the holder,
//! held by unique indexes across connections).

use jiff::Timestamp;

use super::{PostgresStore, Session, args, audit, col, is_unique_violation};
use crate::codec::time_text;
use crate::tables::{self, LIVE_GITHUB_LOGIN, TOKEN_COLUMNS};
use crate::{AuditAppend, StoreError, TokenRecord, TokenStore};

/// Refuses a live token whose name or GitHub login a live token holds.
fn refuse_taken(s: &mut Session<'_>, token: &TokenRecord) -> Result<(), StoreError> {
    const DURING: &str = "creating a token";
    if token.revoked_at.is_some() {
        return Ok(());
    }
    let name_taken = s
        .query_opt(
            "SELECT 1 FROM tokens WHERE name = $1 AND revoked_at IS NULL",
            args![token.name.clone()],
            DURING,
        )?
        .is_some();
    if name_taken {
        return Err(StoreError::Exists {
            name: token.name.clone(),
        });
    }
    let Some(login) = &token.github_login else {
        return Ok(());
    };
    let holder = s.query_opt(
        &format!("SELECT name FROM tokens WHERE {LIVE_GITHUB_LOGIN}"),
        args![login.clone()],
        DURING,
    )?;
    match holder {
        Some(row) => Err(StoreError::GithubLoginTaken {
            login: login.clone(),
            name: col(&row, "name")?,
        }),
        None => Ok(()),
    }
}

impl TokenStore for PostgresStore {
    fn create_token(
        &self,
        token: &TokenRecord,
        audit: Option<&AuditAppend>,
    ) -> Result<(), StoreError> {
        const DURING: &str = "creating a token";
        let mut s = self.begin(DURING)?;
        if audit.is_some() {
            s.lock_audit(DURING)?;
        }
        refuse_taken(&mut s, token)?;
        let inserted = s.try_query(
            &format!("INSERT INTO tokens ({TOKEN_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6)"),
            args![
                token.name.clone(),
                token.role.name().to_owned(),
                token.hash_hex.clone(),
                token.github_login.clone(),
                time_text(token.created_at),
                token.revoked_at.map(time_text),
            ],
            DURING,
        )?;
        if let Err(e) = inserted {
            if !is_unique_violation(&e) {
                return Err(s.error(DURING, e));
            }
            // Which index refused it: a racing creator took the name or the
            // login after the check above, or another token has the hash.
            s.rollback(DURING)?;
            refuse_taken(&mut s, token)?;
            return Err(StoreError::Invalid(format!(
                "another token already has the hash of token `{}`; create a new token",
                token.name
            )));
        }
        if let Some(a) = audit {
            audit::write(&mut s, a)?;
        }
        s.commit(DURING)?;
        tracing::debug!(name = %token.name, role = token.role.name(), "token created");
        Ok(())
    }

    fn token_by_hash(&self, hash_hex: &str) -> Result<Option<TokenRecord>, StoreError> {
        const DURING: &str = "looking up a token";
        let row = self.session(DURING)?.query_opt(
            &format!("SELECT {TOKEN_COLUMNS} FROM tokens WHERE hash_hex = $1"),
            args![hash_hex.to_owned()],
            DURING,
        )?;
        row.as_ref().map(tables::token).transpose()
    }

    fn token_by_github(&self, login: &str) -> Result<Option<TokenRecord>, StoreError> {
        const DURING: &str = "looking up a token by GitHub login";
        let row = self.session(DURING)?.query_opt(
            &format!("SELECT {TOKEN_COLUMNS} FROM tokens WHERE {LIVE_GITHUB_LOGIN}"),
            args![login.to_owned()],
            DURING,
        )?;
        row.as_ref().map(tables::token).transpose()
    }

    fn tokens(&self) -> Result<Vec<TokenRecord>, StoreError> {
        const DURING: &str = "listing tokens";
        let rows = self.session(DURING)?.query(
            &format!("SELECT {TOKEN_COLUMNS} FROM tokens ORDER BY id"),
            args![],
            DURING,
        )?;
        rows.iter().map(tables::token).collect()
    }

    fn revoke_token(
        &self,
        name: &str,
        at: Timestamp,
        audit: Option<&AuditAppend>,
    ) -> Result<bool, StoreError> {
        const DURING: &str = "revoking a token";
        let mut s = self.begin(DURING)?;
        if audit.is_some() {
            s.lock_audit(DURING)?;
        }
        let changed = s.execute(
            "UPDATE tokens SET revoked_at = $1 WHERE name = $2 AND revoked_at IS NULL",
            args![time_text(at), name.to_owned()],
            DURING,
        )?;
        // Nothing revoked: dropping the session rolls back, no entry either.
        if changed == 0 {
            return Ok(false);
        }
        if let Some(a) = audit {
            audit::write(&mut s, a)?;
        }
        s.commit(DURING)?;
        tracing::debug!(name, "token revoked");
        Ok(true)
    }
}
