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

/// What both stores compare when a record's external id was imported
/// before: the stored row (read with [`crate::tables::StoredRow`]) against
/// the record as it would be stored.
pub(crate) mod reimport {
    use zion_core::import::{ImportedDeployment, ImportedIncident};

    use crate::StoreError;
    use crate::codec::time_text;
    use crate::tables::StoredRow;

    /// The stored deployment imported under an external id, as
    /// [`same_deployment`] compares it.
    pub(crate) const DEPLOYMENT: &str = "SELECT service, environment, version, type, \
         started_at, finished_at, result, commit_sha, committed_at \
         FROM imported_deployments WHERE external_id = $1";

    /// The stored incident imported under an external id, as
    /// [`same_incident`] compares it.
    pub(crate) const INCIDENT: &str = "SELECT service, environment, opened_at, caused_by, \
         resolved_at FROM imported_incidents WHERE external_id = $1";

    /// Records how an incident imported open ended.
    pub(crate) const RESOLVE_INCIDENT: &str =
        "UPDATE imported_incidents SET resolved_at = $1 WHERE external_id = $2";

    /// An imported deployment's values that are not stored as given.
    pub(crate) struct DeploymentText {
        pub kind: &'static str,
        pub started_at: String,
        pub finished_at: String,
        pub result: &'static str,
        pub committed_at: Option<String>,
    }

    impl DeploymentText {
        pub(crate) fn of(d: &ImportedDeployment) -> Self {
            DeploymentText {
                kind: d.kind.name(),
                started_at: time_text(d.started_at),
                finished_at: time_text(d.finished_at),
                result: d.result.name(),
                committed_at: d.committed_at.map(time_text),
            }
        }
    }

    /// Refuses a deployment whose id was imported before (`stored`, a row
    /// of [`DEPLOYMENT`]) with other values; `record` is its place in the
    /// file, for the message.
    pub(crate) fn same_deployment(
        record: usize,
        d: &ImportedDeployment,
        v: &DeploymentText,
        stored: &(impl StoredRow + ?Sized),
    ) -> Result<(), StoreError> {
        // (field as the message names it, its column, the value given)
        let given = [
            ("service", "service", Some(d.service.as_str())),
            ("environment", "environment", Some(d.environment.as_str())),
            ("version", "version", Some(d.version.as_str())),
            ("type", "type", Some(v.kind)),
            ("started_at", "started_at", Some(v.started_at.as_str())),
            ("finished_at", "finished_at", Some(v.finished_at.as_str())),
            ("result", "result", Some(v.result)),
            ("commit", "commit_sha", d.commit.as_deref()),
            ("committed_at", "committed_at", v.committed_at.as_deref()),
        ];
        for (field, column, given) in given {
            let stored = stored.opt_text(column)?;
            if given != stored {
                return Err(conflict(
                    record,
                    "deployment",
                    &d.external_id,
                    field,
                    stored,
                    given,
                ));
            }
        }
        Ok(())
    }

    /// Compares an incident with the one imported before under its id
    /// (`stored`, a row of [`INCIDENT`]). An incident that was open then
    /// and is resolved now is to be updated: its resolution time comes back
    /// for [`RESOLVE_INCIDENT`] (an export taken later says how it ended).
    /// None when it is the same; any other difference is refused.
    pub(crate) fn same_incident(
        record: usize,
        inc: &ImportedIncident,
        stored: &(impl StoredRow + ?Sized),
    ) -> Result<Option<String>, StoreError> {
        let opened = time_text(inc.opened_at);
        let given = [
            ("service", Some(inc.service.as_str())),
            ("environment", Some(inc.environment.as_str())),
            ("opened_at", Some(opened.as_str())),
            ("caused_by", inc.caused_by.as_deref()),
        ];
        for (field, given) in given {
            let stored = stored.opt_text(field)?;
            if given != stored {
                return Err(conflict(
                    record,
                    "incident",
                    &inc.external_id,
                    field,
                    stored,
                    given,
                ));
            }
        }
        let resolved = inc.resolved_at.map(time_text);
        match (stored.opt_text("resolved_at")?, resolved) {
            (None, Some(at)) => Ok(Some(at)),
            (a, b) if a == b.as_deref() => Ok(None),
            (a, b) => Err(conflict(
                record,
                "incident",
                &inc.external_id,
                "resolved_at",
                a,
                b.as_deref(),
            )),
        }
    }

    fn conflict(
        record: usize,
        kind: &'static str,
        external_id: &str,
        field: &'static str,
        stored: Option<&str>,
        given: Option<&str>,
    ) -> StoreError {
        let show = |v: Option<&str>| v.map_or_else(|| "(none)".to_owned(), str::to_owned);
        StoreError::ImportConflict {
            record,
            kind,
            external_id: external_id.to_owned(),
            field,
            stored: show(stored),
            given: show(given),
        }
    }
}
