//! What the store keeps of the transparency log: entries (their canonical
//! bytes, as given), the Merkle tree's node hashes and the signed
//! checkpoints. The hashing, the proofs and the signatures are computed by
//! the caller (`zion-audit`); the store writes them in the transaction of
//! the change they describe and reads them back exactly.

use jiff::Timestamp;

use crate::StoreError;

/// Builds the audit entries of a change from what the store assigns inside
/// the change's transaction (a new deployment with its id): called there,
/// at most once, and must not call the store; see
/// [`crate::Store::create_deployment`].
pub type AuditBuilder<'a, T> = dyn FnMut(&T) -> Result<AuditAppend, StoreError> + 'a;

/// A SHA-256 hash.
pub type NodeHash = [u8; 32];

/// One entry to append.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRow {
    /// Its 0-based index in the log (the leaf index and the entry's `seq`).
    pub index: u64,
    /// Copies of the entry's fields, for queries.
    pub time: Timestamp,
    pub action: String,
    pub subject: String,
    /// The canonical JSON bytes that are hashed.
    pub entry: Vec<u8>,
}

/// One node of the tree: the hash of leaves
/// `[index·2^level, (index+1)·2^level)`; level 0 is a leaf hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuditNode {
    pub level: u8,
    pub index: u64,
    pub hash: NodeHash,
}

/// A signed checkpoint (a C2SP signed note) of the log at `size` entries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditCheckpoint {
    pub size: u64,
    pub note: String,
    pub signed_at: Timestamp,
}

/// Entries, their new nodes and the checkpoint of the new size, written
/// together. The rows must continue the log exactly: the first one's index
/// is the log's size, and the indexes follow each other.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditAppend {
    pub rows: Vec<AuditRow>,
    pub nodes: Vec<AuditNode>,
    pub checkpoint: Option<AuditCheckpoint>,
}

/// Which entries [`crate::Store::audit_entries`] returns; the default is all,
/// oldest first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditFilter {
    /// Only entries at or after this instant.
    pub since: Option<Timestamp>,
    /// Only this action (`deployment.transition`, `token.create`…).
    pub action: Option<String>,
    /// Only this subject (`deployment/42`, `token/alice`…).
    pub subject: Option<String>,
    /// Only entries from this index on.
    pub from_index: Option<u64>,
    /// At most this many.
    pub limit: Option<usize>,
}

/// An entry as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredAuditEntry {
    pub index: u64,
    pub entry: Vec<u8>,
}

/// The audit tables as one read snapshot sees them; see
/// [`crate::Store::audit_snapshot`].
pub trait AuditSnapshot {
    /// Every checkpoint, by size.
    fn checkpoints(&self) -> Result<Vec<AuditCheckpoint>, StoreError>;

    /// Calls `visit` with every entry from `from` on, as
    /// [`crate::Store::scan_audit`] does.
    fn scan(
        &self,
        from: u64,
        visit: &mut dyn FnMut(StoredAuditEntry, Option<NodeHash>) -> bool,
    ) -> Result<(), StoreError>;
}
