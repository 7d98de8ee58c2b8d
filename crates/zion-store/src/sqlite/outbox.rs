//! The notifications outbox of [`SqliteStore`]. Rows are written by the
//! audit append ([`write_rows`], in its transaction); a claim is one
//! immediate transaction, so two senders never take the same row.

use rusqlite::{Transaction, params, params_from_iter};

use super::{SqliteStore, begin, db, query_all};
use crate::codec::{time_text, widen};
use crate::tables::{
    self, OUTBOX_CLAIMABLE, OUTBOX_COLUMNS, OUTBOX_DELIVERED, OUTBOX_FAILED, OUTBOX_INSERT,
    OUTBOX_PRUNE, OUTBOX_WRITTEN,
};
use crate::{NewOutboxRow, OutboxRow, OutboxStore, StoreError};

/// Writes `rows` in `tx` (an audit append's); the caller commits.
pub(crate) fn write_rows(tx: &Transaction<'_>, rows: &[NewOutboxRow]) -> Result<(), StoreError> {
    const DURING: &str = "writing notifications to the outbox";
    if rows.is_empty() {
        return Ok(());
    }
    let mut insert = tx
        .prepare_cached(&tables::sqlite(OUTBOX_INSERT))
        .map_err(db(DURING))?;
    for r in rows {
        insert
            .execute(params![
                r.receiver,
                r.channel,
                r.event,
                r.subject,
                widen(r.audit_index, "outbox audit index")?,
                r.body,
                time_text(r.created_at)
            ])
            .map_err(db(DURING))?;
    }
    Ok(())
}

impl OutboxStore for SqliteStore {
    fn claim_outbox(
        &self,
        now: jiff::Timestamp,
        until: jiff::Timestamp,
        limit: usize,
    ) -> Result<Vec<OutboxRow>, StoreError> {
        const DURING: &str = "claiming notifications to deliver";
        let mut conn = self.conn();
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        // Most passes find nothing due: a plain read says so without
        // taking the write lock the journal's commits need.
        let due: Vec<i64> = query_all(
            &conn,
            &tables::sqlite(OUTBOX_CLAIMABLE),
            params![time_text(now), limit],
            DURING,
            |row| row.get(0).map_err(db(DURING)),
        )?;
        if due.is_empty() {
            return Ok(Vec::new());
        }
        let tx = begin(&mut conn, DURING)?;
        let ids: Vec<i64> = query_all(
            &tx,
            &tables::sqlite(OUTBOX_CLAIMABLE),
            params![time_text(now), limit],
            DURING,
            |row| row.get(0).map_err(db(DURING)),
        )?;
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let marks = vec!["?"; ids.len()].join(", ");
        // The time is one this store formats, never a caller's text.
        tx.execute(
            &format!(
                "UPDATE outbox SET claimed_until = '{}' WHERE id IN ({marks})",
                time_text(until)
            ),
            params_from_iter(&ids),
        )
        .map_err(db(DURING))?;
        let rows = query_all(
            &tx,
            &format!("SELECT {OUTBOX_COLUMNS} FROM outbox WHERE id IN ({marks}) ORDER BY id"),
            params_from_iter(&ids),
            DURING,
            |row| tables::outbox_row(row),
        )?;
        tx.commit().map_err(db(DURING))?;
        Ok(rows)
    }

    fn outbox_delivered(&self, id: i64, at: jiff::Timestamp) -> Result<(), StoreError> {
        self.conn()
            .execute(
                &tables::sqlite(OUTBOX_DELIVERED),
                params![id, time_text(at)],
            )
            .map_err(db("recording a notification delivered"))?;
        Ok(())
    }

    fn outbox_failed(
        &self,
        id: i64,
        error: &str,
        retry_at: Option<jiff::Timestamp>,
    ) -> Result<(), StoreError> {
        self.conn()
            .execute(
                &tables::sqlite(OUTBOX_FAILED),
                params![id, error, retry_at.map(time_text)],
            )
            .map_err(db("recording a failed notification"))?;
        Ok(())
    }

    fn prune_outbox(&self, before: jiff::Timestamp) -> Result<u64, StoreError> {
        let gone = self
            .conn()
            .execute(&tables::sqlite(OUTBOX_PRUNE), params![time_text(before)])
            .map_err(db("pruning the outbox"))?;
        Ok(gone as u64)
    }

    fn enqueue_outbox(&self, rows: &[NewOutboxRow]) -> Result<u64, StoreError> {
        const DURING: &str = "writing notifications to the outbox";
        let mut conn = self.conn();
        // The write lock at once: no append or other enqueue in between.
        let tx = begin(&mut conn, DURING)?;
        let mut new = Vec::new();
        for r in rows {
            let n: i64 = tx
                .query_row(
                    &tables::sqlite(OUTBOX_WRITTEN),
                    params![
                        r.receiver,
                        r.event,
                        r.subject,
                        widen(r.audit_index, "outbox audit index")?
                    ],
                    |row| row.get(0),
                )
                .map_err(db(DURING))?;
            if n == 0
                && !new
                    .iter()
                    .any(|n: &NewOutboxRow| n.once_key() == r.once_key())
            {
                new.push(r.clone());
            }
        }
        write_rows(&tx, &new)?;
        tx.commit().map_err(db(DURING))?;
        Ok(new.len() as u64)
    }

    fn outbox(&self, limit: usize) -> Result<Vec<OutboxRow>, StoreError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        query_all(
            &self.conn(),
            &format!("SELECT {OUTBOX_COLUMNS} FROM outbox ORDER BY id DESC LIMIT ?1"),
            params![limit],
            "listing the outbox",
            |row| tables::outbox_row(row),
        )
    }
}
