//! The audit tables of [`SqliteStore`]: appends inside the caller's
//! transaction, and the reads that verification and proofs need.

use rusqlite::{Connection, OptionalExtension, Transaction, TransactionBehavior, params};

use super::{SqliteStore, begin, db, query_all};
use crate::codec::{time_text, widen};
use crate::filters;
use crate::tables::{self, CHECKPOINTS, INSERT_CHECKPOINT, LATEST_CHECKPOINT};
use crate::{
    AuditAppend, AuditCheckpoint, AuditFilter, AuditSnapshot, AuditStore, AuditTail, GroupAudit,
    GroupWrite, NodeHash, StoreError, StoredAuditEntry,
};

/// Entries read per query while scanning, so a million-entry log is never
/// held in memory at once.
const SCAN_PAGE: i64 = 50_000;

pub(crate) fn size(conn: &Connection) -> Result<u64, StoreError> {
    let next: i64 = conn
        .query_row(
            "SELECT COALESCE(MAX(idx) + 1, 0) FROM audit_entries",
            [],
            |r| r.get(0),
        )
        .map_err(db("reading the audit log's size"))?;
    Ok(u64::try_from(next).unwrap_or(0))
}

/// Writes `append` in `tx`; the caller commits.
pub(crate) fn write(tx: &Transaction<'_>, append: &AuditAppend) -> Result<(), StoreError> {
    const DURING: &str = "appending to the audit log";
    if !append.rows.is_empty() {
        append.check_continues(size(tx)?)?;
    }
    let mut entries = tx
        .prepare_cached(
            "INSERT INTO audit_entries (idx, time, action, subject, entry) VALUES (?1, ?2, ?3, ?4, ?5)",
        )
        .map_err(db(DURING))?;
    for r in &append.rows {
        entries
            .execute(params![
                widen(r.index, "audit index")?,
                time_text(r.time),
                r.action,
                r.subject,
                r.entry
            ])
            .map_err(db(DURING))?;
    }
    // A node is the hash of a fixed set of leaves: writing it again with the
    // same hash is harmless, with another one is refused by the primary key.
    let mut nodes = tx
        .prepare_cached("INSERT INTO audit_nodes (level, idx, hash) VALUES (?1, ?2, ?3)")
        .map_err(db(DURING))?;
    for n in &append.nodes {
        nodes
            .execute(params![
                n.level,
                widen(n.index, "audit node index")?,
                &n.hash[..]
            ])
            .map_err(db(DURING))?;
    }
    if let Some(c) = &append.checkpoint {
        thin_checkpoints(tx)?;
        tx.execute(
            &tables::sqlite(INSERT_CHECKPOINT),
            params![
                widen(c.size, "checkpoint size")?,
                c.note,
                time_text(c.signed_at)
            ],
        )
        .map_err(db(DURING))?;
    }
    super::outbox::write_rows(tx, &append.outbox)
}

/// The stored checkpoints that a new one makes redundant.
///
/// Every append is signed, so a log written one change at a time would keep
/// a checkpoint per entry, and `zion audit verify` would check a signature
/// per entry (about 50 µs each: close to a minute for a million). Kept are
/// the latest checkpoint and the first one signed in each UTC hour: the
/// latest is what every new append is proved consistent with, the hourly
/// ones let an auditor see the log as it was, hour by hour, and each kept
/// pair is still checked for consistency by `verify`. Called before the new
/// checkpoint is inserted: the current latest goes when it is not the first
/// of its hour.
fn thin_checkpoints(tx: &Transaction<'_>) -> Result<(), StoreError> {
    const DURING: &str = "thinning audit checkpoints";
    let mut stmt = tx
        .prepare_cached("SELECT size, signed_at FROM audit_checkpoints ORDER BY size DESC LIMIT 2")
        .map_err(db(DURING))?;
    let last_two: Vec<(i64, String)> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .map_err(db(DURING))?
        .collect::<Result<_, _>>()
        .map_err(db(DURING))?;
    let [(latest, latest_at), (_, before_at)] = last_two.as_slice() else {
        return Ok(());
    };
    let hour = |text: &str| {
        crate::codec::parse_time(text, "checkpoint time").map(|t| t.as_second().div_euclid(3600))
    };
    if hour(latest_at)? == hour(before_at)? {
        tx.execute(
            "DELETE FROM audit_checkpoints WHERE size = ?1",
            params![latest],
        )
        .map_err(db(DURING))?;
    }
    Ok(())
}

pub(crate) fn nodes(
    conn: &Connection,
    ids: &[(u8, u64)],
) -> Result<Vec<Option<NodeHash>>, StoreError> {
    const DURING: &str = "reading audit tree nodes";
    let mut stmt = conn
        .prepare_cached("SELECT hash FROM audit_nodes WHERE level = ?1 AND idx = ?2")
        .map_err(db(DURING))?;
    ids.iter()
        .map(|&(level, index)| {
            let blob: Option<Vec<u8>> = stmt
                .query_row(params![level, widen(index, "audit node index")?], |r| {
                    r.get(0)
                })
                .optional()
                .map_err(db(DURING))?;
            blob.map(|b| to_hash(&b)).transpose()
        })
        .collect()
}

fn to_hash(bytes: &[u8]) -> Result<NodeHash, StoreError> {
    bytes.try_into().map_err(|_| {
        StoreError::Corrupt(format!(
            "an audit node hash has {} bytes instead of 32",
            bytes.len()
        ))
    })
}

pub(crate) fn entries(
    conn: &Connection,
    filter: &AuditFilter,
) -> Result<Vec<StoredAuditEntry>, StoreError> {
    let (sql, values) = filters::audit_entries(filter)?;
    query_all(
        conn,
        &tables::sqlite(&sql),
        rusqlite::params_from_iter(values.into_iter().map(rusqlite::types::Value::from)),
        "reading the audit log",
        |row| tables::audit_entry(row),
    )
}

/// Pages through the entries joined with their leaf hashes. A row whose
/// index was deleted simply does not appear: the caller sees the gap.
pub(crate) fn scan(
    conn: &Connection,
    from: u64,
    visit: &mut dyn FnMut(StoredAuditEntry, Option<NodeHash>) -> bool,
) -> Result<(), StoreError> {
    const DURING: &str = "scanning the audit log";
    let mut stmt = conn
        .prepare_cached(
            "SELECT e.idx, e.entry, n.hash FROM audit_entries e \
             LEFT JOIN audit_nodes n ON n.level = 0 AND n.idx = e.idx \
             WHERE e.idx >= ?1 ORDER BY e.idx LIMIT ?2",
        )
        .map_err(db(DURING))?;
    let mut next = widen(from, "audit index")?;
    loop {
        let mut rows = stmt.query(params![next, SCAN_PAGE]).map_err(db(DURING))?;
        let mut seen = 0;
        while let Some(row) = rows.next().map_err(db(DURING))? {
            seen += 1;
            let idx: i64 = row.get(0).map_err(db(DURING))?;
            let entry: Vec<u8> = row.get(1).map_err(db(DURING))?;
            let leaf: Option<Vec<u8>> = row.get(2).map_err(db(DURING))?;
            let leaf = leaf.map(|b| to_hash(&b)).transpose()?;
            next = idx + 1;
            let e = StoredAuditEntry {
                index: u64::try_from(idx).unwrap_or(0),
                entry,
            };
            if !visit(e, leaf) {
                return Ok(());
            }
        }
        if seen < SCAN_PAGE {
            return Ok(());
        }
    }
}

pub(crate) fn checkpoints(conn: &Connection) -> Result<Vec<AuditCheckpoint>, StoreError> {
    query_all(conn, CHECKPOINTS, [], "reading audit checkpoints", |row| {
        tables::checkpoint(row)
    })
}

/// The log as a writing transaction sees it: BEGIN IMMEDIATE took the
/// database's write lock, so no other connection (or process) appends
/// until the commit.
struct Tail<'a> {
    conn: &'a Connection,
    size: u64,
}

impl AuditTail for Tail<'_> {
    fn size(&self) -> u64 {
        self.size
    }

    fn nodes(&self, ids: &[(u8, u64)]) -> Result<Vec<Option<NodeHash>>, StoreError> {
        nodes(self.conn, ids)
    }

    fn latest_checkpoint(&self) -> Result<Option<AuditCheckpoint>, StoreError> {
        let mut found = query_all(
            self.conn,
            LATEST_CHECKPOINT,
            [],
            "reading the latest audit checkpoint",
            |row| tables::checkpoint(row),
        )?;
        Ok(found.pop())
    }
}

/// The audit tables through one transaction's snapshot.
pub(crate) struct Snapshot<'a>(pub &'a Connection);

impl AuditSnapshot for Snapshot<'_> {
    fn checkpoints(&self) -> Result<Vec<AuditCheckpoint>, StoreError> {
        checkpoints(self.0)
    }

    fn scan(
        &self,
        from: u64,
        visit: &mut dyn FnMut(StoredAuditEntry, Option<NodeHash>) -> bool,
    ) -> Result<(), StoreError> {
        scan(self.0, from, visit)
    }
}

impl AuditStore for SqliteStore {
    fn append_audit(&self, append: &AuditAppend) -> Result<(), StoreError> {
        const DURING: &str = "appending to the audit log";
        let mut conn = self.conn();
        let tx = begin(&mut conn, DURING)?;
        write(&tx, append)?;
        tx.commit().map_err(db(DURING))
    }

    fn commit_group(
        &self,
        writes: &[GroupWrite<'_>],
        audit: &mut GroupAudit<'_>,
    ) -> Result<Vec<Result<(), StoreError>>, StoreError> {
        const DURING: &str = "committing a group of changes";
        let mut conn = self.conn();
        let tx = begin(&mut conn, DURING)?;
        let mut results = Vec::with_capacity(writes.len());
        for w in writes {
            results.push(match w {
                GroupWrite::Entries => Ok(()),
                GroupWrite::Change { change, fence } => {
                    // A savepoint per write: a refused one is undone alone.
                    tx.execute_batch("SAVEPOINT group_write")
                        .map_err(db(DURING))?;
                    let written = super::deployments::apply_change(&tx, change, *fence);
                    if written.is_err() {
                        tx.execute_batch("ROLLBACK TO group_write")
                            .map_err(db(DURING))?;
                    }
                    tx.execute_batch("RELEASE group_write")
                        .map_err(db(DURING))?;
                    written
                }
            });
        }
        let written: Vec<bool> = results.iter().map(Result::is_ok).collect();
        let tail = Tail {
            conn: &tx,
            size: size(&tx)?,
        };
        let append = audit(&tail, &written)?;
        write(&tx, &append)?;
        tx.commit().map_err(db(DURING))?;
        Ok(results)
    }

    fn audit_size(&self) -> Result<u64, StoreError> {
        size(&self.conn())
    }

    fn audit_nodes(&self, ids: &[(u8, u64)]) -> Result<Vec<Option<NodeHash>>, StoreError> {
        nodes(&self.conn(), ids)
    }

    fn audit_entries(&self, filter: &AuditFilter) -> Result<Vec<StoredAuditEntry>, StoreError> {
        entries(&self.conn(), filter)
    }

    fn scan_audit(
        &self,
        from: u64,
        visit: &mut dyn FnMut(StoredAuditEntry, Option<NodeHash>) -> bool,
    ) -> Result<(), StoreError> {
        scan(&self.conn(), from, visit)
    }

    fn audit_checkpoints(&self) -> Result<Vec<AuditCheckpoint>, StoreError> {
        checkpoints(&self.conn())
    }

    fn audit_snapshot(
        &self,
        read: &mut dyn FnMut(&dyn AuditSnapshot) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        const DURING: &str = "reading the audit log";
        let mut in_snapshot = |conn: &mut Connection| -> Result<(), StoreError> {
            // A deferred transaction in WAL mode reads one snapshot, taken
            // at its first read, until it ends; it writes nothing.
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Deferred)
                .map_err(db(DURING))?;
            read(&Snapshot(&tx))?;
            tx.rollback().map_err(db(DURING))
        };
        match self.side_connection()? {
            Some(mut own) => in_snapshot(&mut own),
            None => in_snapshot(&mut self.conn()),
        }
    }
}
