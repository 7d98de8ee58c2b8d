//! The specs area: every spec applied, the newest in force.

use jiff::Timestamp;

use crate::{AuditAppend, StoreError};

/// The specs applied to Zion, kept whole so that the one in force can be
/// read back after a restart and earlier ones stay on record.
///
/// Every implementation keeps these: the spec in force is the one saved
/// last, whatever its `applied_at` says (a clock set back does not revive
/// an older spec); the text reads back byte for byte; a spec and the audit
/// entries describing it are written in one transaction, or neither is.
pub trait SpecStore: Send + Sync {
    /// Keeps an applied spec, with the audit entries that describe it, in
    /// one transaction (entries that do not continue the log refuse both);
    /// the newest spec is the one in force.
    fn save_spec(
        &self,
        yaml: &str,
        sha256_hex: &str,
        applied_by: &str,
        at: Timestamp,
        audit: Option<&AuditAppend>,
    ) -> Result<(), StoreError>;

    /// The most recently saved spec, if any.
    fn latest_spec(&self) -> Result<Option<StoredSpec>, StoreError>;
}

/// An applied spec as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredSpec {
    /// The spec's text exactly as applied.
    pub yaml: String,
    /// SHA-256 of `yaml`, lowercase hex.
    pub sha256_hex: String,
    /// The principal who applied it.
    pub applied_by: String,
    pub applied_at: Timestamp,
}
