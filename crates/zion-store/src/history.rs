//! Delivery history made by other tools, as `zion import` stores it and the
//! report reads it back.

use jiff::Timestamp;
use zion_core::deployment::DeploymentType;
use zion_core::import::{ImportRecord, ImportResult, ImportedIncident};

use crate::{AuditAppend, StoreError};

/// Delivery history made by other tools (deployments and incidents under
/// their own external ids), stored apart from Zion's own deployments so
/// that a report can count both.
///
/// Every implementation keeps these:
/// - **All or nothing.** An import and its audit entries are one
///   transaction: a record that conflicts with one imported before
///   (`StoreError::ImportConflict`), an incident blaming a deployment that
///   is neither imported nor Zion's own (`StoreError::UnknownCause`) or
///   entries that do not continue the log refuse the whole import.
/// - **Idempotent by external id.** A record imported again with the same
///   values adds nothing; an import that adds nothing writes nothing, not
///   even its audit entries. The one change a later export may bring is the
///   resolution of an incident imported open.
/// - **Exact reads**, and scans that do not hold a million rows in memory.
pub trait HistoryStore: Send + Sync {
    /// Stores history imported from other tools, with its audit entries, in
    /// one transaction. Records whose external id was imported before with
    /// the same values add nothing; one with other values refuses the whole
    /// import (StoreError::ImportConflict), as does an incident blaming an
    /// unknown deployment (StoreError::UnknownCause). When nothing is new,
    /// nothing at all is written (not even `audit`) and `import_id` is None.
    fn import_history(
        &self,
        batch: &ImportBatch<'_>,
        audit: Option<&AuditAppend>,
    ) -> Result<ImportOutcome, StoreError>;

    /// Calls `visit` with every imported deployment matching `filter`,
    /// without holding them all in memory.
    fn scan_imported_deployments(
        &self,
        filter: &HistoryFilter,
        visit: &mut dyn FnMut(&ImportedDeploymentRow<'_>),
    ) -> Result<(), StoreError>;

    /// Imported incidents of the filter's service and environment, by
    /// opening time.
    fn imported_incidents(
        &self,
        filter: &HistoryFilter,
    ) -> Result<Vec<ImportedIncident>, StoreError>;

    /// How many deployments and incidents were imported in all.
    fn imported_counts(&self) -> Result<(u64, u64), StoreError>;
}

/// One import: its records, where they came from and who brought them.
#[derive(Debug, Clone, Copy)]
pub struct ImportBatch<'a> {
    pub records: &'a [ImportRecord],
    /// The file's name as the importer gave it.
    pub source: &'a str,
    /// SHA-256 of the file, lowercase hex.
    pub sha256_hex: &'a str,
    pub imported_by: &'a str,
    pub at: Timestamp,
}

/// What an import added. Records whose id was imported before with the same
/// values are counted as `unchanged` and written again nowhere.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ImportOutcome {
    /// The new import's id; None when nothing was new (nothing was written).
    pub import_id: Option<i64>,
    pub deployments_added: u64,
    pub incidents_added: u64,
    /// Open incidents imported before that this import resolves.
    pub incidents_resolved: u64,
    pub unchanged: u64,
}

impl ImportOutcome {
    /// True when the import changed something.
    pub fn changed_anything(&self) -> bool {
        self.deployments_added + self.incidents_added + self.incidents_resolved > 0
    }
}

/// An imported deployment read back, borrowing its text from the database
/// row so that scanning a million of them allocates nothing per row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImportedDeploymentRow<'a> {
    pub external_id: &'a str,
    pub service: &'a str,
    pub environment: &'a str,
    pub version: &'a str,
    pub kind: DeploymentType,
    pub started_at: Timestamp,
    pub finished_at: Timestamp,
    pub result: ImportResult,
    pub commit: Option<&'a str>,
    pub committed_at: Option<Timestamp>,
}

/// Which imported history a report reads; the default is all of it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HistoryFilter {
    /// Only this service.
    pub service: Option<String>,
    /// Only this environment.
    pub environment: Option<String>,
    /// Only deployments finished at or after this instant.
    pub finished_from: Option<Timestamp>,
    /// Only deployments finished at or before this instant.
    pub finished_until: Option<Timestamp>,
}
