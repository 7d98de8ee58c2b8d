//! The applied specs of [`SqliteStore`], the newest in force.

use jiff::Timestamp;
use rusqlite::params;

use super::{SqliteStore, audit, begin, db, query_all};
use crate::codec::time_text;
use crate::tables::{self, INSERT_SPEC, LATEST_SPEC};
use crate::{AuditAppend, SpecStore, StoreError, StoredSpec};

impl SpecStore for SqliteStore {
    fn save_spec(
        &self,
        yaml: &str,
        sha256_hex: &str,
        applied_by: &str,
        at: Timestamp,
        audit: Option<&AuditAppend>,
    ) -> Result<(), StoreError> {
        const DURING: &str = "saving the spec";
        let mut conn = self.conn();
        let tx = begin(&mut conn, DURING)?;
        tx.execute(
            &tables::sqlite(INSERT_SPEC),
            params![yaml, sha256_hex, applied_by, time_text(at)],
        )
        .map_err(db(DURING))?;
        if let Some(a) = audit {
            audit::write(&tx, a)?;
        }
        tx.commit().map_err(db(DURING))?;
        tracing::debug!(sha256 = %sha256_hex, applied_by, "spec saved");
        Ok(())
    }

    fn latest_spec(&self) -> Result<Option<StoredSpec>, StoreError> {
        let conn = self.conn();
        let mut found = query_all(&conn, LATEST_SPEC, [], "reading the latest spec", |row| {
            tables::spec(row)
        })?;
        Ok(found.pop())
    }
}
