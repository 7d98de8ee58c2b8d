//! What the store keeps of the transparency log: entries (their canonical
//! bytes, as given), the Merkle tree's node hashes and the signed
//! checkpoints. The hashing, the proofs and the signatures are computed by
//! the caller (`zion-audit`); the store writes them in the transaction of
//! the change they describe and reads them back exactly.

use jiff::Timestamp;

use crate::{Change, Fence, StoreError};

/// Builds the audit entries of a change from what the store assigns inside
/// the change's transaction (a new deployment with its id): called there,
/// at most once, and must not call the store; see
/// [`crate::DeploymentStore::create_deployment`].
pub type AuditBuilder<'a, T> = dyn FnMut(&T) -> Result<AuditAppend, StoreError> + 'a;

/// The audit log's storage: entries, the nodes of their Merkle tree and the
/// signed checkpoints. The store neither hashes nor signs (`zion-audit`
/// does); it keeps what it is given.
///
/// Every implementation keeps these:
/// - **Appends continue the log exactly.** The first row's index is the
///   log's size and the indexes follow each other; otherwise
///   `StoreError::AuditOutOfOrder` and nothing is written. The same holds
///   for the entries every other area writes with its change (a spec, a
///   token, an incident, a deployment): they go in that change's
///   transaction, and a refusal of either refuses both.
/// - **Appends are atomic.** Rows, nodes and the checkpoint of one append
///   are written together or not at all; a node written again with another
///   hash refuses the whole append.
/// - **Exact reads.** Entries read back byte for byte, in index order.
/// - **Checkpoints are thinned** as each new one is written: kept are the
///   latest and the first one signed in each UTC hour, so that verifying a
///   log written one entry at a time does not check a signature per entry.
/// - **Snapshots.** [`AuditStore::audit_snapshot`] sees an append whole or
///   not at all.
/// - **Group commits.** [`AuditStore::commit_group`] writes each of its
///   writes or refuses it alone, then builds the entries of the written
///   ones on the log as it is under the log's write lock (whoever appended
///   last, on any connection or replica) and commits all of it at once.
pub trait AuditStore: Send + Sync {
    /// Appends audit entries, their tree nodes and a checkpoint in one
    /// transaction. StoreError::AuditOutOfOrder (and nothing is written)
    /// when the rows do not continue the log exactly.
    fn append_audit(&self, append: &AuditAppend) -> Result<(), StoreError>;

    /// Commits `writes` and their audit entries in one transaction, with one
    /// checkpoint. The log's write lock is taken first (held until the
    /// commit, so appends stay one totally ordered log whatever else
    /// appends). Each write is tried in a savepoint of its own: one that is
    /// refused (a stale revision, a fence, invalid data) is rolled back
    /// alone and its error is returned in its slot, the others go on. Then
    /// `audit` is called once, with the log as the transaction sees it and
    /// which writes were written, and its append is written before the
    /// commit. The outer error (the database failed, `audit` failed, its
    /// entries do not continue the log) writes nothing of any write.
    fn commit_group(
        &self,
        writes: &[GroupWrite<'_>],
        audit: &mut GroupAudit<'_>,
    ) -> Result<Vec<Result<(), StoreError>>, StoreError>;

    /// The number of entries in the audit log.
    fn audit_size(&self) -> Result<u64, StoreError>;

    /// The stored hashes of these nodes (None for a node not stored), in
    /// the order asked.
    fn audit_nodes(&self, ids: &[(u8, u64)]) -> Result<Vec<Option<NodeHash>>, StoreError>;

    /// Entries matching `filter`, oldest first.
    fn audit_entries(&self, filter: &AuditFilter) -> Result<Vec<StoredAuditEntry>, StoreError>;

    /// Calls `visit` with every entry from `from` on, in index order, and
    /// with the stored leaf hash of its index (None when missing), without
    /// holding them all in memory; stops early when `visit` returns false.
    fn scan_audit(
        &self,
        from: u64,
        visit: &mut dyn FnMut(StoredAuditEntry, Option<NodeHash>) -> bool,
    ) -> Result<(), StoreError>;

    /// Every checkpoint, by size.
    fn audit_checkpoints(&self) -> Result<Vec<AuditCheckpoint>, StoreError>;

    /// Calls `read` with the audit tables as one read snapshot sees them,
    /// so that an append committing meanwhile (its entries with their
    /// checkpoint) is seen whole or not at all: what verification needs.
    /// On a connection of its own where the store has one, so that other
    /// reads and writes go on while a long log is read.
    fn audit_snapshot(
        &self,
        read: &mut dyn FnMut(&dyn AuditSnapshot) -> Result<(), StoreError>,
    ) -> Result<(), StoreError>;
}

/// One write of [`AuditStore::commit_group`].
#[derive(Debug, Clone, Copy)]
pub enum GroupWrite<'a> {
    /// Audit entries that change nothing else (a refusal's, a record's).
    Entries,
    /// A deployment change, as [`crate::DeploymentStore::record_change`]
    /// writes it, fenced as [`crate::LeaseStore::record_fenced_change`]
    /// when `fence` is given. Its `audit` must be None: the group's entries
    /// are built once its writes are done.
    Change {
        change: Change<'a>,
        fence: Option<Fence<'a>>,
    },
}

/// Builds a group's entries inside its transaction, under the log's write
/// lock: given the log as the transaction sees it and, for each write of
/// the group, whether it was written. It must not call the store (it reads
/// through the tail).
pub type GroupAudit<'a> =
    dyn FnMut(&dyn AuditTail, &[bool]) -> Result<AuditAppend, StoreError> + 'a;

/// The audit log as an appending transaction sees it once it holds the
/// log's write lock: what entries are built on when several writers (other
/// replicas) share the database, so that each append continues the log
/// whoever appended last.
pub trait AuditTail {
    /// The log's size under the lock.
    fn size(&self) -> u64;

    /// The stored hashes of these nodes, as [`AuditStore::audit_nodes`].
    fn nodes(&self, ids: &[(u8, u64)]) -> Result<Vec<Option<NodeHash>>, StoreError>;

    /// The latest checkpoint, if any.
    fn latest_checkpoint(&self) -> Result<Option<AuditCheckpoint>, StoreError>;
}

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
    /// The notifications these entries imply, written with them.
    pub outbox: Vec<crate::NewOutboxRow>,
}

impl AuditAppend {
    /// Refuses rows that do not continue a log of `size` entries exactly
    /// (checked by both stores inside the appending transaction, where the
    /// size cannot change before the commit).
    pub(crate) fn check_continues(&self, size: u64) -> Result<(), StoreError> {
        let Some(first) = self.rows.first() else {
            return Ok(());
        };
        let contiguous = self
            .rows
            .iter()
            .enumerate()
            .all(|(i, r)| r.index == first.index + i as u64);
        if first.index != size || !contiguous {
            return Err(StoreError::AuditOutOfOrder {
                size,
                first: first.index,
            });
        }
        Ok(())
    }
}

/// Which entries [`AuditStore::audit_entries`] returns; the default is all,
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
/// [`AuditStore::audit_snapshot`].
pub trait AuditSnapshot {
    /// Every checkpoint, by size.
    fn checkpoints(&self) -> Result<Vec<AuditCheckpoint>, StoreError>;

    /// Calls `visit` with every entry from `from` on, as
    /// [`AuditStore::scan_audit`] does.
    fn scan(
        &self,
        from: u64,
        visit: &mut dyn FnMut(StoredAuditEntry, Option<NodeHash>) -> bool,
    ) -> Result<(), StoreError>;
}
