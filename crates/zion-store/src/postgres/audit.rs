//! The audit tables of [`PostgresStore`]: appends inside the caller's
//! transaction (serialized by a lock on the log's table, so that several
//! writers keep one totally ordered log), and the reads that verification
//! and proofs need.

use std::cell::RefCell;

use super::deployments::{GROUP_SAVEPOINT, Scope, apply_change};
use super::{Param, PostgresStore, Session, args, col, col_at, param};
use crate::codec::{parse_time, time_text, widen};
use crate::filters;
use crate::tables::{self, CHECKPOINTS, INSERT_CHECKPOINT, LATEST_CHECKPOINT};
use crate::{
    AuditAppend, AuditCheckpoint, AuditFilter, AuditSnapshot, AuditStore, AuditTail, GroupAudit,
    GroupWrite, NodeHash, StoreError, StoredAuditEntry,
};

/// Entries read per query while scanning, so a million-entry log is never
/// held in memory at once.
const SCAN_PAGE: i64 = 10_000;

pub(crate) fn size(s: &mut Session<'_>) -> Result<u64, StoreError> {
    let row = s.query_one(
        "SELECT COALESCE(MAX(idx) + 1, 0) AS size FROM audit_entries",
        args![],
        "reading the audit log's size",
    )?;
    Ok(u64::try_from(col::<i64>(&row, "size")?).unwrap_or(0))
}

/// Writes `append` in the session's transaction; the caller commits.
pub(crate) fn write(s: &mut Session<'_>, append: &AuditAppend) -> Result<(), StoreError> {
    const DURING: &str = "appending to the audit log";
    s.lock_audit(DURING)?;
    if !append.rows.is_empty() {
        append.check_continues(size(s)?)?;
    }
    // One statement for all the rows and one for all the nodes: a round
    // trip each, however many entries a group appends.
    if !append.rows.is_empty() {
        let mut idx = Vec::with_capacity(append.rows.len());
        for r in &append.rows {
            idx.push(widen(r.index, "audit index")?);
        }
        s.execute(
            "INSERT INTO audit_entries (idx, time, action, subject, entry) \
             SELECT * FROM UNNEST($1::BIGINT[], $2::TEXT[], $3::TEXT[], $4::TEXT[], $5::BYTEA[])",
            args![
                idx,
                append
                    .rows
                    .iter()
                    .map(|r| time_text(r.time))
                    .collect::<Vec<_>>(),
                append
                    .rows
                    .iter()
                    .map(|r| r.action.clone())
                    .collect::<Vec<_>>(),
                append
                    .rows
                    .iter()
                    .map(|r| r.subject.clone())
                    .collect::<Vec<_>>(),
                append
                    .rows
                    .iter()
                    .map(|r| r.entry.clone())
                    .collect::<Vec<_>>()
            ],
            DURING,
        )?;
    }
    // A node is the hash of a fixed set of leaves: writing it again with
    // another hash is refused by the primary key.
    if !append.nodes.is_empty() {
        let mut idx = Vec::with_capacity(append.nodes.len());
        for n in &append.nodes {
            idx.push(widen(n.index, "audit node index")?);
        }
        s.execute(
            "INSERT INTO audit_nodes (level, idx, hash) \
             SELECT * FROM UNNEST($1::BIGINT[], $2::BIGINT[], $3::BYTEA[])",
            args![
                append
                    .nodes
                    .iter()
                    .map(|n| i64::from(n.level))
                    .collect::<Vec<_>>(),
                idx,
                append
                    .nodes
                    .iter()
                    .map(|n| n.hash.to_vec())
                    .collect::<Vec<_>>()
            ],
            DURING,
        )?;
    }
    if let Some(c) = &append.checkpoint {
        thin_checkpoints(s)?;
        s.execute(
            INSERT_CHECKPOINT,
            args![
                widen(c.size, "checkpoint size")?,
                c.note.clone(),
                time_text(c.signed_at)
            ],
            DURING,
        )?;
    }
    super::outbox::write_rows(s, &append.outbox)
}

/// Drops the current latest checkpoint when it is not the first of its UTC
/// hour (see the SQLite store's `thin_checkpoints` for why).
fn thin_checkpoints(s: &mut Session<'_>) -> Result<(), StoreError> {
    const DURING: &str = "thinning audit checkpoints";
    let rows = s.query(
        "SELECT size, signed_at FROM audit_checkpoints ORDER BY size DESC LIMIT 2",
        args![],
        DURING,
    )?;
    let [latest, before] = rows.as_slice() else {
        return Ok(());
    };
    let hour = |row: &tokio_postgres::Row| -> Result<i64, StoreError> {
        Ok(parse_time(col(row, "signed_at")?, "checkpoint time")?
            .as_second()
            .div_euclid(3600))
    };
    if hour(latest)? == hour(before)? {
        let size: i64 = col(latest, "size")?;
        s.execute(
            "DELETE FROM audit_checkpoints WHERE size = $1",
            args![size],
            DURING,
        )?;
    }
    Ok(())
}

fn to_hash(bytes: &[u8]) -> Result<NodeHash, StoreError> {
    bytes.try_into().map_err(|_| {
        StoreError::Corrupt(format!(
            "an audit node hash has {} bytes instead of 32",
            bytes.len()
        ))
    })
}

/// Pages through the entries joined with their leaf hashes. A row whose
/// index was deleted simply does not appear: the caller sees the gap.
fn scan(
    s: &mut Session<'_>,
    from: u64,
    visit: &mut dyn FnMut(StoredAuditEntry, Option<NodeHash>) -> bool,
) -> Result<(), StoreError> {
    const DURING: &str = "scanning the audit log";
    let mut next = widen(from, "audit index")?;
    loop {
        let rows = s.query(
            "SELECT e.idx, e.entry, n.hash FROM audit_entries e \
             LEFT JOIN audit_nodes n ON n.level = 0 AND n.idx = e.idx \
             WHERE e.idx >= $1 ORDER BY e.idx LIMIT $2",
            args![next, SCAN_PAGE],
            DURING,
        )?;
        let seen = rows.len() as i64;
        for row in rows {
            let idx: i64 = col_at(&row, 0)?;
            let entry: Vec<u8> = col_at(&row, 1)?;
            let leaf = col_at::<Option<&[u8]>>(&row, 2)?.map(to_hash).transpose()?;
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

fn checkpoints(s: &mut Session<'_>) -> Result<Vec<AuditCheckpoint>, StoreError> {
    let rows = s.query(CHECKPOINTS, args![], "reading audit checkpoints")?;
    rows.iter().map(tables::checkpoint).collect()
}

/// The stored hashes of `ids`, in one query.
fn nodes(s: &mut Session<'_>, ids: &[(u8, u64)]) -> Result<Vec<Option<NodeHash>>, StoreError> {
    const DURING: &str = "reading audit tree nodes";
    let mut found = std::collections::HashMap::with_capacity(ids.len());
    // A query per few hundred ids (the driver's parameters are bounded),
    // with one condition per id on the primary key (a bitmap of index
    // scans): a join with an array was planned as a scan of the table.
    for chunk in ids.chunks(500) {
        let mut values: Vec<Param> = Vec::with_capacity(chunk.len() * 2);
        let mut conditions = Vec::with_capacity(chunk.len());
        for &(level, index) in chunk {
            values.push(Box::new(i64::from(level)));
            values.push(Box::new(widen(index, "audit node index")?));
            conditions.push(format!(
                "(level = ${} AND idx = ${})",
                values.len() - 1,
                values.len()
            ));
        }
        let rows = s.query(
            &format!(
                "SELECT level, idx, hash FROM audit_nodes WHERE {}",
                conditions.join(" OR ")
            ),
            values,
            DURING,
        )?;
        for r in &rows {
            let level: i64 = col(r, "level")?;
            let index: i64 = col(r, "idx")?;
            found.insert((level, index), to_hash(col(r, "hash")?)?);
        }
    }
    Ok(ids
        .iter()
        .map(|&(level, index)| {
            i64::try_from(index)
                .ok()
                .and_then(|index| found.get(&(i64::from(level), index)).copied())
        })
        .collect())
}

/// The log as a group's transaction sees it, once it holds the log's lock.
struct Tail<'a, 's> {
    session: RefCell<&'a mut Session<'s>>,
    size: u64,
}

impl AuditTail for Tail<'_, '_> {
    fn size(&self) -> u64 {
        self.size
    }

    fn nodes(&self, ids: &[(u8, u64)]) -> Result<Vec<Option<NodeHash>>, StoreError> {
        nodes(&mut self.session.borrow_mut(), ids)
    }

    fn latest_checkpoint(&self) -> Result<Option<AuditCheckpoint>, StoreError> {
        let row = self.session.borrow_mut().query_opt(
            LATEST_CHECKPOINT,
            args![],
            "reading the latest audit checkpoint",
        )?;
        row.as_ref().map(tables::checkpoint).transpose()
    }
}

/// The audit tables through one REPEATABLE READ transaction's snapshot.
struct Snapshot<'a, 's>(RefCell<&'a mut Session<'s>>);

impl AuditSnapshot for Snapshot<'_, '_> {
    fn checkpoints(&self) -> Result<Vec<AuditCheckpoint>, StoreError> {
        checkpoints(&mut self.0.borrow_mut())
    }

    fn scan(
        &self,
        from: u64,
        visit: &mut dyn FnMut(StoredAuditEntry, Option<NodeHash>) -> bool,
    ) -> Result<(), StoreError> {
        scan(&mut self.0.borrow_mut(), from, visit)
    }
}

impl AuditStore for PostgresStore {
    fn append_audit(&self, append: &AuditAppend) -> Result<(), StoreError> {
        const DURING: &str = "appending to the audit log";
        let mut s = self.begin(DURING)?;
        write(&mut s, append)?;
        s.commit(DURING)
    }

    fn commit_group(
        &self,
        writes: &[GroupWrite<'_>],
        audit: &mut GroupAudit<'_>,
    ) -> Result<Vec<Result<(), StoreError>>, StoreError> {
        const DURING: &str = "committing a group of changes";
        let mut s = self.begin(DURING)?;
        // First, as every appending transaction does: see lock_audit.
        s.lock_audit(DURING)?;
        let mut results = Vec::with_capacity(writes.len());
        for w in writes {
            results.push(match w {
                GroupWrite::Entries => Ok(()),
                GroupWrite::Change { change, fence } => {
                    // A savepoint per write: a refused one is undone alone
                    // (and the transaction leaves its aborted state).
                    s.batch(&format!("SAVEPOINT {GROUP_SAVEPOINT}"), DURING)?;
                    let written = apply_change(&mut s, change, *fence, Scope::Savepoint);
                    if written.is_err() {
                        s.batch(&format!("ROLLBACK TO SAVEPOINT {GROUP_SAVEPOINT}"), DURING)?;
                    }
                    s.batch(&format!("RELEASE SAVEPOINT {GROUP_SAVEPOINT}"), DURING)?;
                    written
                }
            });
        }
        let written: Vec<bool> = results.iter().map(Result::is_ok).collect();
        let size = size(&mut s)?;
        let append = {
            let tail = Tail {
                session: RefCell::new(&mut s),
                size,
            };
            audit(&tail, &written)?
        };
        write(&mut s, &append)?;
        s.commit(DURING)?;
        Ok(results)
    }

    fn audit_size(&self) -> Result<u64, StoreError> {
        size(&mut self.session("reading the audit log's size")?)
    }

    fn audit_nodes(&self, ids: &[(u8, u64)]) -> Result<Vec<Option<NodeHash>>, StoreError> {
        nodes(&mut self.session("reading audit tree nodes")?, ids)
    }

    fn audit_entries(&self, filter: &AuditFilter) -> Result<Vec<StoredAuditEntry>, StoreError> {
        const DURING: &str = "reading the audit log";
        let (sql, values) = filters::audit_entries(filter)?;
        let values = values.into_iter().map(param).collect();
        let rows = self.session(DURING)?.query(&sql, values, DURING)?;
        rows.iter().map(tables::audit_entry).collect()
    }

    fn scan_audit(
        &self,
        from: u64,
        visit: &mut dyn FnMut(StoredAuditEntry, Option<NodeHash>) -> bool,
    ) -> Result<(), StoreError> {
        // One snapshot for every page: an append committing meanwhile is
        // not seen half.
        const DURING: &str = "scanning the audit log";
        let mut s = self.snapshot(DURING)?;
        scan(&mut s, from, visit)?;
        s.commit(DURING)
    }

    fn audit_checkpoints(&self) -> Result<Vec<AuditCheckpoint>, StoreError> {
        checkpoints(&mut self.session("reading audit checkpoints")?)
    }

    fn audit_snapshot(
        &self,
        read: &mut dyn FnMut(&dyn AuditSnapshot) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        const DURING: &str = "reading the audit log";
        // A pooled connection of its own: other calls go on meanwhile.
        let mut s = self.snapshot(DURING)?;
        read(&Snapshot(RefCell::new(&mut s)))?;
        s.commit(DURING)
    }
}
