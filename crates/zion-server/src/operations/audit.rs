//! Reading the audit log: its entries, its verification, proofs, the
//! latest checkpoint and the compliance report computed from it.
//! Everything is read from the store, so a row altered in the database
//! file is seen as it is.

use jiff::Timestamp;
use zion_audit::hash::to_hex;
use zion_audit::{LogVerifier, VerifiedPrefix, consistency_proof, inclusion_proof, root_at};
use zion_core::api::{
    AuditEntryFields, AuditEntryView, AuditVerification, CheckpointView, ConsistencyProof,
    InclusionProof, TreeHead, Verified,
};
use zion_core::compliance::{ComplianceReport, Fact, Integrity};
use zion_store::AuditFilter;

use crate::app::App;
use crate::audit::StoreNodes;
use crate::error::ApiError;

/// What one verification read: its outcome (with the first bad entry on
/// failure), the prefix to resume from next, where it started, and how
/// many checkpoints are kept.
type Read = (
    Result<zion_audit::VerifyReport, (zion_audit::VerifyError, Option<u64>)>,
    Option<VerifiedPrefix>,
    u64,
    usize,
);

impl App {
    /// The entries `filter` selects, oldest first, each with its canonical
    /// bytes as text (what is hashed) and its parsed fields.
    pub fn audit_entries(&self, filter: &AuditFilter) -> Result<Vec<AuditEntryView>, ApiError> {
        Ok(self
            .store
            .audit_entries(filter)?
            .into_iter()
            .map(|e| {
                let canonical = String::from_utf8_lossy(&e.entry).into_owned();
                AuditEntryView {
                    entry: serde_json::from_str::<AuditEntryFields>(&canonical).ok(),
                    canonical,
                    index: e.index,
                }
            })
            .collect())
    }

    /// The stored leaf hash of each of these entries, hex (None for an
    /// index past the log's end): read from the tree, not recomputed.
    pub fn audit_leaf_hashes(&self, indexes: &[u64]) -> Result<Vec<Option<String>>, ApiError> {
        let ids: Vec<(u8, u64)> = indexes.iter().map(|i| (0, *i)).collect();
        Ok(self
            .store
            .audit_nodes(&ids)?
            .iter()
            .map(|h| h.as_ref().map(to_hex))
            .collect())
    }

    /// The export bundle as one tar archive (what `zion audit export`
    /// writes as a folder): every entry the latest checkpoint covers, that
    /// checkpoint and the verifier key; with the checkpoint's size. Built
    /// in memory: `zion audit export` streams a large log instead.
    pub fn audit_export(&self) -> Result<(u64, Vec<u8>), ApiError> {
        let checkpoint = self.audit_checkpoint()?;
        let size = checkpoint.size;
        let mut lines = Vec::new();
        // Only the entries the checkpoint covers: later ones are not
        // signed yet. Read in pages, as the CLI does.
        while (lines.len() as u64) < size {
            let from = lines.len() as u64;
            let page = self.store.audit_entries(&AuditFilter {
                from_index: Some(from),
                limit: Some(usize::try_from((size - from).min(10_000)).unwrap_or(10_000)),
                ..AuditFilter::default()
            })?;
            if page.is_empty() {
                return Err(ApiError::internal(format!(
                    "the store has no entry from index {from} although the checkpoint covers {size}"
                )));
            }
            lines.extend(page.into_iter().map(|e| e.entry));
        }
        let key = self.journal.audit.verifier_key();
        let archive = zion_audit::bundle_archive(&lines, &checkpoint.note, &key)
            .map_err(|e| ApiError::internal(format!("the export bundle: {e}")))?;
        Ok((size, archive))
    }

    /// The entries `filter` selects, parsed for the reports that read them
    /// (an entry that does not parse is the verifier's to report, not theirs;
    /// an action this version does not know is read as none).
    pub fn audit_facts(&self, filter: &AuditFilter) -> Result<Vec<Fact>, ApiError> {
        Ok(self
            .store
            .audit_entries(filter)?
            .into_iter()
            .filter_map(|e| {
                let x = zion_audit::Entry::from_json(&e.entry).ok()?;
                Some(Fact {
                    index: e.index,
                    time: x.timestamp().ok()?,
                    actor: x.actor,
                    action: x.action.parse().ok(),
                    subject: x.subject,
                    details: x.details,
                })
            })
            .collect())
    }

    /// The compliance report over the entries since `since` (the whole log
    /// without it), with the whole log's verification. Blocking: minutes of
    /// hashing on a large log.
    pub fn compliance(&self, since: Option<Timestamp>) -> Result<ComplianceReport, ApiError> {
        let integrity = match self.verify_audit()? {
            AuditVerification::Verified(v) => Integrity {
                ok: true,
                error: None,
                entries: v.entries,
                checkpoint_size: v.latest_checkpoint.as_ref().map(|c| c.size),
                checkpoint_root: v.latest_checkpoint.map(|c| c.root),
            },
            AuditVerification::Failed(f) => Integrity {
                ok: false,
                error: Some(f.error),
                entries: 0,
                checkpoint_size: None,
                checkpoint_root: None,
            },
        };
        // Only the period's entries are read (by the indexed time): the
        // report judges nothing before `since`.
        let facts = self.audit_facts(&AuditFilter {
            since,
            ..AuditFilter::default()
        })?;
        Ok(zion_core::compliance::report(&facts, since, integrity))
    }

    /// Verifies the whole log, from entry 0: every entry, every checkpoint.
    /// Blocking.
    pub fn verify_audit(&self) -> Result<AuditVerification, ApiError> {
        let (generation, _) = self.journal.audit.verified();
        self.verify_audit_from(None, generation)
    }

    /// Verifies what was appended since the last successful verification,
    /// or the whole log when there was none since the start (or the log
    /// shrank). For the delivery report, which would otherwise re-verify a
    /// log of millions of entries on every request; `zion audit verify` is
    /// always full. Blocking.
    pub fn verify_audit_grown(&self) -> Result<AuditVerification, ApiError> {
        let (generation, last) = self.journal.audit.verified();
        self.verify_audit_from(last, generation)
    }

    /// Verifies from `prefix` (from entry 0 without one), reading the
    /// checkpoints and the entries in one snapshot of the store, so that an
    /// append committing meanwhile is seen whole or not at all.
    fn verify_audit_from(
        &self,
        prefix: Option<(VerifiedPrefix, Timestamp)>,
        generation: u64,
    ) -> Result<AuditVerification, ApiError> {
        let verifier = self.journal.audit.verifier();
        let mut result: Option<Read> = None;
        let mut prefix = prefix;
        self.store.audit_snapshot(&mut |snap| {
            let stored = snap.checkpoints()?;
            // A log whose checkpoints shrank below the prefix is read again
            // from the start.
            let latest = stored.last().map_or(0, |c| c.size);
            if prefix.as_ref().is_some_and(|(p, _)| p.size() > latest) {
                prefix = None;
            }
            let notes: Vec<&str> = stored.iter().map(|c| c.note.as_str()).collect();
            let from = prefix.as_ref().map_or(0, |(p, _)| p.size());
            let started = match &prefix {
                Some((p, _)) => LogVerifier::resume(&verifier, p, &notes),
                None => LogVerifier::new(&verifier, &notes),
            };
            let mut v = match started {
                Ok(v) => v,
                Err(e) => {
                    let index = e.first_bad_index();
                    result = Some((Err((e, index)), None, from, stored.len()));
                    return Ok(());
                }
            };
            let mut failure = None;
            snap.scan(
                from,
                &mut |e, leaf| match v.push(e.index, &e.entry, leaf.as_ref()) {
                    Ok(()) => true,
                    Err(err) => {
                        failure = Some((err, e.index));
                        false
                    }
                },
            )?;
            result = Some(match failure {
                Some((err, index)) => {
                    let first_bad = err.first_bad_index().unwrap_or(index);
                    (Err((err, Some(first_bad))), None, from, stored.len())
                }
                None => match v.finish_resumable() {
                    Ok((report, next)) => (Ok(report), next, from, stored.len()),
                    Err(err) => {
                        let index = err.first_bad_index();
                        (Err((err, index)), None, from, stored.len())
                    }
                },
            });
            Ok(())
        })?;
        let Some((outcome, next, from, kept)) = result else {
            return Err(ApiError::internal("the audit log could not be read"));
        };
        match outcome {
            Ok(report) => {
                let full_at = prefix.map_or_else(|| self.clock.now(), |(_, at)| at);
                self.journal
                    .audit
                    .verification_succeeded(generation, next.map(|n| (n, full_at)));
                Ok(AuditVerification::verified(Verified {
                    checkpoints: kept,
                    entries: report.entries,
                    last_full_verification: full_at,
                    latest_checkpoint: report.latest.map(|c| TreeHead {
                        root: c.root_hex(),
                        size: c.size(),
                    }),
                    ok: true,
                    root: to_hex(&report.root),
                    verified_from_entry: from,
                }))
            }
            Err((err, index)) => {
                self.journal.audit.verification_failed();
                let reason = err.to_string();
                self.notify_verification_failed(index, &reason);
                Ok(AuditVerification::failed(reason, index))
            }
        }
    }

    /// Tells the receivers subscribed to `audit.verification_failed` that
    /// the log failed at `index` (once per failure: the outbox keeps one
    /// row per receiver and index, whichever replica finds it, however
    /// often). A log found broken takes no entry, so this is written
    /// without one.
    fn notify_verification_failed(&self, index: Option<u64>, reason: &str) {
        tracing::error!(index, %reason, "the audit log failed its verification");
        let rows = self
            .journal
            .audit
            .verification_failed_rows(self.clock.now(), index, reason);
        if rows.is_empty() {
            return;
        }
        match self.store.enqueue_outbox(&rows) {
            Ok(0) => {}
            Ok(n) => tracing::info!(messages = n, "audit.verification_failed queued"),
            Err(e) => tracing::error!(error = %e, "audit.verification_failed could not be queued"),
        }
    }

    /// An inclusion proof of entry `index` in the tree of `size` entries
    /// (the latest checkpoint's size by default), with that checkpoint's
    /// note.
    pub fn audit_proof(&self, index: u64, size: Option<u64>) -> Result<InclusionProof, ApiError> {
        let checkpoints = self.store.audit_checkpoints()?;
        let Some(latest) = checkpoints.last() else {
            return Err(ApiError::not_found("the audit log is empty"));
        };
        let size = size.unwrap_or(latest.size);
        let Some(cp) = checkpoints.iter().find(|c| c.size == size) else {
            let kept: Vec<String> = checkpoints
                .iter()
                .rev()
                .take(5)
                .map(|c| c.size.to_string())
                .collect();
            return Err(ApiError::not_found(format!(
                "no signed checkpoint is kept at size {size}: Zion keeps the latest ({}) and the first signed in each hour (the latest kept: {}); pass one of those to --size",
                latest.size,
                kept.join(", ")
            )));
        };
        if index >= size {
            return Err(ApiError::bad_request(format!(
                "entry {index} is not in a tree of {size} entries (indexes start at 0)"
            )));
        }
        let reader = StoreNodes(self.store.as_ref());
        let hashes =
            inclusion_proof(&reader, index, size).map_err(|e| ApiError::internal(e.to_string()))?;
        let leaf = self
            .store
            .audit_nodes(&[(0, index)])?
            .pop()
            .flatten()
            .ok_or_else(|| {
                ApiError::internal(format!("the leaf hash of entry {index} is missing"))
            })?;
        Ok(InclusionProof {
            checkpoint: cp.note.clone(),
            index,
            leaf_hash: to_hex(&leaf),
            proof: hashes.iter().map(to_hex).collect(),
            tree_size: size,
        })
    }

    /// A consistency proof between two tree sizes, with both roots.
    pub fn audit_consistency(&self, old: u64, new: u64) -> Result<ConsistencyProof, ApiError> {
        let size = self.store.audit_size()?;
        if old > new || new > size {
            return Err(ApiError::bad_request(format!(
                "need OLD ≤ NEW ≤ {size} (the log's size); got {old} and {new}"
            )));
        }
        let reader = StoreNodes(self.store.as_ref());
        let internal = |e: zion_audit::TreeError<String>| ApiError::internal(e.to_string());
        let hashes = consistency_proof(&reader, old, new).map_err(internal)?;
        let old_root = root_at(&reader, old).map_err(ApiError::internal)?;
        let new_root = root_at(&reader, new).map_err(ApiError::internal)?;
        // The roots above are the stored tree's; the signed notes at those
        // sizes, where kept, are what a verifier should check the proof
        // against.
        let checkpoints = self.store.audit_checkpoints()?;
        let signed = |size: u64| {
            checkpoints
                .iter()
                .find(|c| c.size == size)
                .map(|c| c.note.clone())
        };
        Ok(ConsistencyProof {
            new_checkpoint: signed(new),
            new_root: to_hex(&new_root),
            new_size: new,
            old_checkpoint: signed(old),
            old_root: to_hex(&old_root),
            old_size: old,
            proof: hashes.iter().map(to_hex).collect(),
        })
    }

    /// The latest signed checkpoint.
    pub fn audit_checkpoint(&self) -> Result<CheckpointView, ApiError> {
        let Some(c) = self.store.audit_checkpoints()?.pop() else {
            return Err(ApiError::not_found(
                "the audit log is empty: nothing is signed yet",
            ));
        };
        Ok(CheckpointView {
            note: c.note,
            signed_at: c.signed_at,
            size: c.size,
        })
    }
}
