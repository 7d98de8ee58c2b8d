//! The applied specs of [`PostgresStore`], the newest in force.

use jiff::Timestamp;

use super::{PostgresStore, args, audit};
use crate::codec::time_text;
use crate::tables::{self, INSERT_SPEC, LATEST_SPEC};
use crate::{AuditAppend, SpecStore, StoreError, StoredSpec};

impl SpecStore for PostgresStore {
    fn save_spec(
        &self,
        yaml: &str,
        sha256_hex: &str,
        applied_by: &str,
        at: Timestamp,
        audit: Option<&AuditAppend>,
    ) -> Result<(), StoreError> {
        const DURING: &str = "saving the spec";
        let mut s = self.begin(DURING)?;
        if audit.is_some() {
            s.lock_audit(DURING)?;
        }
        s.execute(
            INSERT_SPEC,
            args![
                yaml.to_owned(),
                sha256_hex.to_owned(),
                applied_by.to_owned(),
                time_text(at)
            ],
            DURING,
        )?;
        if let Some(a) = audit {
            audit::write(&mut s, a)?;
        }
        s.commit(DURING)?;
        tracing::debug!(sha256 = %sha256_hex, applied_by, "spec saved");
        Ok(())
    }

    fn latest_spec(&self) -> Result<Option<StoredSpec>, StoreError> {
        const DURING: &str = "reading the latest spec";
        let row = self
            .session(DURING)?
            .query_opt(LATEST_SPEC, args![], DURING)?;
        row.as_ref().map(tables::spec).transpose()
    }
}
