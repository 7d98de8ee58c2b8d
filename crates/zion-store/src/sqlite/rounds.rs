//! The analysis rounds of [`super::SqliteStore`], written inside a
//! deployment change's transaction. A run of identical inconclusive rounds
//! (a canary without traffic, one round per interval) is kept as one row
//! that counts them (`round_count`) from the first (`at`) to the last
//! (`last_at`), as [`AnalysisRound::absorbs`] defines the run.

use rusqlite::{Connection, OptionalExtension, Transaction, params};
use zion_core::analysis::AnalysisRound;

use super::db;
use crate::StoreError;
use crate::codec::{from_json, parse_opt_time, time_text, to_json};

/// A round ready to write, with its encoded body.
pub(crate) struct RoundRow<'a> {
    round: &'a AnalysisRound,
    body: String,
}

/// Encodes the deployment's rounds, refusing one of another deployment
/// (before any transaction begins).
pub(crate) fn rows(id: i64, rounds: &[AnalysisRound]) -> Result<Vec<RoundRow<'_>>, StoreError> {
    rounds
        .iter()
        .map(|round| {
            if round.deployment_id != id {
                return Err(StoreError::Invalid(format!(
                    "analysis round {} belongs to deployment #{}, not #{id}",
                    round.number, round.deployment_id
                )));
            }
            Ok(RoundRow {
                round,
                body: to_json(round, "analysis round")?,
            })
        })
        .collect()
}

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
                tx.prepare_cached(
                    "UPDATE analysis_rounds SET round_count = ?1, last_at = ?2 \
                     WHERE deployment_id = ?3 AND number = ?4",
                )
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
        tx.prepare_cached(
            "INSERT INTO analysis_rounds \
             (deployment_id, number, at, verdict, body, round_count, last_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        )
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
    let row: Option<(String, u32, Option<String>)> = conn
        .prepare_cached(
            "SELECT body, round_count, last_at FROM analysis_rounds \
             WHERE deployment_id = ?1 ORDER BY number DESC LIMIT 1",
        )
        .and_then(|mut stmt| {
            stmt.query_row([id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
                .optional()
        })
        .map_err(db("reading the latest analysis round"))?;
    row.map(decode).transpose()
}

/// Every round record of the deployment, by number.
pub(crate) fn all(conn: &Connection, id: i64) -> Result<Vec<AnalysisRound>, StoreError> {
    const DURING: &str = "reading analysis rounds";
    let mut stmt = conn
        .prepare_cached(
            "SELECT body, round_count, last_at FROM analysis_rounds \
             WHERE deployment_id = ?1 ORDER BY number",
        )
        .map_err(db(DURING))?;
    let rows = stmt
        .query_map([id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .map_err(db(DURING))?;
    rows.map(|row| decode(row.map_err(db(DURING))?)).collect()
}

/// A record from its body and the columns that say how many rounds it
/// stands for (the body is the first round's, as it was recorded).
fn decode(
    (body, count, last_at): (String, u32, Option<String>),
) -> Result<AnalysisRound, StoreError> {
    let mut round: AnalysisRound = from_json(&body, "analysis round")?;
    round.count = count.max(1);
    round.last_at = parse_opt_time(last_at, "analysis round last_at")?;
    Ok(round)
}
