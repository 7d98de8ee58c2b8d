//! The applied specs of [`SqliteStore`], the newest in force.

use jiff::Timestamp;
use rusqlite::params;

use super::{SqliteStore, audit, begin, col, db, query_all};
use crate::codec::{parse_time, time_text};
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
            "INSERT INTO specs (yaml, sha256_hex, applied_by, applied_at) VALUES (?1, ?2, ?3, ?4)",
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
        let mut found = query_all(
            &conn,
            "SELECT yaml, sha256_hex, applied_by, applied_at FROM specs ORDER BY id DESC LIMIT 1",
            [],
            "reading the latest spec",
            |row| {
                Ok(StoredSpec {
                    yaml: col(row, "yaml")?,
                    sha256_hex: col(row, "sha256_hex")?,
                    applied_by: col(row, "applied_by")?,
                    applied_at: parse_time(&col::<String>(row, "applied_at")?, "spec applied_at")?,
                })
            },
        )?;
        Ok(found.pop())
    }
}
