//! The analysis rounds of [`super::SqliteStore`], written inside a
//! deployment change's transaction. A run of identical inconclusive rounds
//! (a canary without traffic, one round per interval) is kept as one row
//! that counts them (`round_count`) from the first (`at`) to the last
//! (`last_at`), as [`AnalysisRound::absorbs`] defines the run.

use rusqlite::{Connection, Transaction, params};
use zion_core::analysis::AnalysisRound;

use super::{db, query_all};
use crate::StoreError;
use crate::codec::time_text;
use crate::tables::{self, EXTEND_ROUND, INSERT_ROUND, LATEST_ROUND, ROUNDS_OF, RoundRow};

/// Appends `rows` in `tx`: a round that repeats the deployment's latest
/// record extends it, any other gets a row of its own.
pub(crate) fn insert(
    tx: &Transaction<'_>,
    id: i64,
    rows: &[RoundRow<'_>],
) -> Result<(), StoreError> {
    const DURING: &str = "recording analysis rounds";
    for RoundRow { round, body } in rows {
        if let Some(mut last) = latest(tx, id)? {
            if round.number <= last.last_number() {
                return Err(StoreError::Invalid(format!(
                    "analysis round {} of deployment #{id} is already recorded",
                    round.number
                )));
            }
            if last.absorbs(round) {
                last.absorb(round);
                tx.prepare_cached(&tables::sqlite(EXTEND_ROUND))
                    .and_then(|mut stmt| {
                        stmt.execute(params![
                            last.count,
                            last.last_at.map(time_text),
                            id,
                            last.number
                        ])
                    })
                    .map_err(db(DURING))?;
                continue;
            }
        }
        tx.prepare_cached(&tables::sqlite(INSERT_ROUND))
            .and_then(|mut stmt| {
                stmt.execute(params![
                    id,
                    round.number,
                    time_text(round.at),
                    round.verdict.name(),
                    body,
                    round.count.max(1),
                    round.last_at.map(time_text),
                ])
            })
            .map_err(db(DURING))?;
    }
    Ok(())
}

/// The deployment's latest round record, if any.
fn latest(conn: &Connection, id: i64) -> Result<Option<AnalysisRound>, StoreError> {
    let mut found = query_all(
        conn,
        &tables::sqlite(LATEST_ROUND),
        [id],
        "reading the latest analysis round",
        |row| tables::round(row),
    )?;
    Ok(found.pop())
}

/// Every round record of the deployment, by number.
pub(crate) fn all(conn: &Connection, id: i64) -> Result<Vec<AnalysisRound>, StoreError> {
    query_all(
        conn,
        &tables::sqlite(ROUNDS_OF),
        [id],
        "reading analysis rounds",
        |row| tables::round(row),
    )
}
