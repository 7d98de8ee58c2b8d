//! Delivery history made by other tools, as `zion import` stores it and the
//! report reads it back.

use jiff::Timestamp;
use zion_core::deployment::DeploymentType;
use zion_core::import::{ImportRecord, ImportResult};

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
