//! Importing delivery history made by other tools (JSON lines): parsed by
//! the core, stored all or nothing with its audit entry in the same
//! transaction through the journal.

use serde_json::json;
use sha2::{Digest, Sha256};
use zion_core::api::ImportSummary;
use zion_core::audit::AuditAction;
use zion_core::import::{ImportRecord, parse_all};
use zion_store::{ImportBatch, ImportOutcome, StoreError};

use crate::app::App;
use crate::audit::{AuditError, Record};
use crate::error::ApiError;

/// Why an import stopped.
enum ImportStop {
    Audit(AuditError),
    /// Everything was already there; nothing was written.
    NothingNew(ImportOutcome),
}

impl From<AuditError> for ImportStop {
    fn from(e: AuditError) -> Self {
        ImportStop::Audit(e)
    }
}

impl App {
    /// Stores JSON lines of history made by other tools (`body`, the file
    /// named `source`), all or nothing, idempotent by external id, with its
    /// audit entry by `actor` in the same transaction. Blocking: run it off
    /// the async workers.
    pub fn import_history(
        &self,
        body: &[u8],
        source: &str,
        actor: &str,
    ) -> Result<ImportSummary, ApiError> {
        import(self, body, source, actor)
    }
}

fn import(app: &App, body: &[u8], source: &str, by: &str) -> Result<ImportSummary, ApiError> {
    let started = std::time::Instant::now();
    let text = std::str::from_utf8(body).map_err(|e| {
        let line = body[..e.valid_up_to()]
            .iter()
            .filter(|&&b| b == b'\n')
            .count()
            + 1;
        ApiError::bad_request(format!(
            "{source}: line {line}: not UTF-8 text; nothing was imported"
        ))
    })?;
    let records = parse_all(text)
        .map_err(|e| ApiError::bad_request(format!("{source}: {e}; nothing was imported")))?;
    if records.is_empty() {
        return Err(ApiError::bad_request(format!(
            "{source} holds no records: write one JSON object per line; nothing was imported"
        )));
    }
    let sha = hex::encode(Sha256::digest(body));
    let deployments = records
        .iter()
        .filter(|r| matches!(r, ImportRecord::Deployment(_)))
        .count();
    let batch = ImportBatch {
        records: &records,
        source,
        sha256_hex: &sha,
        imported_by: by,
        at: app.clock.now(),
    };
    let record = Record::new(
        by,
        AuditAction::HistoryImport,
        "history",
        json!({
            "source": source,
            "sha256": sha,
            "deployments": deployments,
            "incidents": records.len() - deployments,
        }),
    );
    let stored = app.journal.commit_blocking(
        &[record],
        batch.at,
        |store, audit| -> Result<ImportOutcome, ImportStop> {
            let out = store
                .import_history(&batch, audit)
                .map_err(|e| ImportStop::Audit(e.into()))?;
            if out.import_id.is_none() {
                // An error keeps the audit log from counting an entry that
                // was not written.
                return Err(ImportStop::NothingNew(out));
            }
            Ok(out)
        },
    );
    let outcome = match stored {
        Ok(out) => out,
        Err(ImportStop::NothingNew(out)) => out,
        Err(ImportStop::Audit(AuditError::Store(e))) => {
            return Err(refused(e, text, source));
        }
        Err(ImportStop::Audit(e)) => return Err(e.into()),
    };
    let seconds = started.elapsed().as_secs_f64();
    tracing::info!(%source, by, records = records.len(), added = outcome.deployments_added, seconds, "history imported");
    Ok(ImportSummary {
        source: source.to_owned(),
        sha256: sha,
        records: records.len() as u64,
        import_id: outcome.import_id,
        deployments_added: outcome.deployments_added,
        incidents_added: outcome.incidents_added,
        incidents_resolved: outcome.incidents_resolved,
        unchanged: outcome.unchanged,
        seconds,
    })
}

/// A store refusal, with the record's line in the file.
fn refused(e: StoreError, text: &str, source: &str) -> ApiError {
    let record = match &e {
        StoreError::ImportConflict { record, .. } | StoreError::UnknownCause { record, .. } => {
            *record
        }
        _ => return e.into(),
    };
    let line = text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .nth(record)
        .map_or(0, |(i, _)| i + 1);
    let message = e.to_string();
    // The store counts records; people count lines.
    let message = message
        .strip_prefix(&format!("record {record} "))
        .map_or(message.clone(), |rest| format!("line {line} {rest}"));
    ApiError::conflict(format!("{source}: {message}"))
}
