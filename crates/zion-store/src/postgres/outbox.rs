//! The notifications outbox of [`PostgresStore`]. Rows are written by the
//! audit append ([`write_rows`], in its transaction, under the log's lock,
//! so that ids grow in commit order). A claim is one `UPDATE` that checks
//! the claim again on each row it locks: of two replicas claiming the same
//! row at once, the second finds it claimed and skips it.

use super::{PostgresStore, Session, args};
use crate::codec::{time_text, widen};
use crate::tables::{
    self, OUTBOX_CLAIMABLE, OUTBOX_COLUMNS, OUTBOX_DELIVERED, OUTBOX_FAILED, OUTBOX_PRUNE,
    OUTBOX_WRITTEN,
};
use crate::{NewOutboxRow, OutboxRow, OutboxStore, StoreError};

/// Writes `rows` in the session's transaction (an audit append's); the
/// caller commits.
pub(crate) fn write_rows(s: &mut Session<'_>, rows: &[NewOutboxRow]) -> Result<(), StoreError> {
    const DURING: &str = "writing notifications to the outbox";
    if rows.is_empty() {
        return Ok(());
    }
    let mut index = Vec::with_capacity(rows.len());
    for r in rows {
        index.push(widen(r.audit_index, "outbox audit index")?);
    }
    let column = |f: fn(&NewOutboxRow) -> String| rows.iter().map(f).collect::<Vec<_>>();
    // WITH ORDINALITY keeps the rows' order, so their ids follow it.
    s.execute(
        "INSERT INTO outbox (receiver, channel, event, subject, audit_index, body, created_at, \
         state, next_at) \
         SELECT r, c, e, s, i, b, t, 'pending', t FROM UNNEST($1::TEXT[], $2::TEXT[], \
         $3::TEXT[], $4::TEXT[], $5::BIGINT[], $6::TEXT[], $7::TEXT[]) WITH ORDINALITY \
         AS u (r, c, e, s, i, b, t, n) ORDER BY n",
        args![
            column(|r| r.receiver.clone()),
            column(|r| r.channel.clone()),
            column(|r| r.event.clone()),
            column(|r| r.subject.clone()),
            index,
            column(|r| r.body.clone()),
            column(|r| time_text(r.created_at))
        ],
        DURING,
    )?;
    Ok(())
}

impl OutboxStore for PostgresStore {
    fn claim_outbox(
        &self,
        now: jiff::Timestamp,
        until: jiff::Timestamp,
        limit: usize,
    ) -> Result<Vec<OutboxRow>, StoreError> {
        const DURING: &str = "claiming notifications to deliver";
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = self.session(DURING)?.query(
            &format!(
                "UPDATE outbox SET claimed_until = $3 WHERE id IN ({OUTBOX_CLAIMABLE}) \
                 AND (claimed_until IS NULL OR claimed_until <= $1) RETURNING {OUTBOX_COLUMNS}"
            ),
            args![time_text(now), limit, time_text(until)],
            DURING,
        )?;
        let mut rows = rows
            .iter()
            .map(tables::outbox_row)
            .collect::<Result<Vec<_>, _>>()?;
        rows.sort_by_key(|r| r.id);
        Ok(rows)
    }

    fn outbox_delivered(&self, id: i64, at: jiff::Timestamp) -> Result<(), StoreError> {
        const DURING: &str = "recording a notification delivered";
        self.session(DURING)?
            .execute(OUTBOX_DELIVERED, args![id, time_text(at)], DURING)?;
        Ok(())
    }

    fn prune_outbox(&self, before: jiff::Timestamp) -> Result<u64, StoreError> {
        const DURING: &str = "pruning the outbox";
        self.session(DURING)?
            .execute(OUTBOX_PRUNE, args![time_text(before)], DURING)
    }

    fn outbox_failed(
        &self,
        id: i64,
        error: &str,
        retry_at: Option<jiff::Timestamp>,
    ) -> Result<(), StoreError> {
        const DURING: &str = "recording a failed notification";
        self.session(DURING)?.execute(
            OUTBOX_FAILED,
            args![id, error.to_owned(), retry_at.map(time_text)],
            DURING,
        )?;
        Ok(())
    }

    fn enqueue_outbox(&self, rows: &[NewOutboxRow]) -> Result<u64, StoreError> {
        const DURING: &str = "writing notifications to the outbox";
        let mut s = self.begin(DURING)?;
        // The appends' lock: ids grow in commit order, and two replicas
        // finding the same failure take turns, the second writing nothing.
        s.lock_audit(DURING)?;
        let mut new = Vec::new();
        for r in rows {
            let row = s.query_one(
                OUTBOX_WRITTEN,
                args![
                    r.receiver.clone(),
                    r.event.clone(),
                    r.subject.clone(),
                    widen(r.audit_index, "outbox audit index")?
                ],
                DURING,
            )?;
            if super::col::<i64>(&row, "n")? == 0
                && !new
                    .iter()
                    .any(|n: &NewOutboxRow| n.once_key() == r.once_key())
            {
                new.push(r.clone());
            }
        }
        write_rows(&mut s, &new)?;
        s.commit(DURING)?;
        Ok(new.len() as u64)
    }

    fn outbox(&self, limit: usize) -> Result<Vec<OutboxRow>, StoreError> {
        const DURING: &str = "listing the outbox";
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = self.session(DURING)?.query(
            &format!("SELECT {OUTBOX_COLUMNS} FROM outbox ORDER BY id DESC LIMIT $1"),
            args![limit],
            DURING,
        )?;
        rows.iter().map(tables::outbox_row).collect()
    }
}
