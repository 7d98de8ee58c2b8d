//! The analysis rounds of [`super::PostgresStore`], written inside a
//! deployment change's transaction; a run of identical inconclusive rounds
//! is one row, as in the SQLite store.

use zion_core::analysis::AnalysisRound;

use super::{Session, args, col};
use crate::StoreError;
use crate::codec::{from_json, narrow, parse_opt_time, time_text, to_json};

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

/// Appends `rows`: a round that repeats the deployment's latest record
/// extends it, any other gets a row of its own.
pub(crate) fn insert(
    s: &mut Session<'_>,
    id: i64,
    rows: &[RoundRow<'_>],
) -> Result<(), StoreError> {
    const DURING: &str = "recording analysis rounds";
    for RoundRow { round, body } in rows {
        if let Some(mut last) = latest(s, id)? {
            if round.number <= last.last_number() {
                return Err(StoreError::Invalid(format!(
                    "analysis round {} of deployment #{id} is already recorded",
                    round.number
                )));
            }
            if last.absorbs(round) {
                last.absorb(round);
                s.execute(
                    "UPDATE analysis_rounds SET round_count = $1, last_at = $2 \
                     WHERE deployment_id = $3 AND number = $4",
                    args![
                        i64::from(last.count),
                        last.last_at.map(time_text),
                        id,
                        i64::from(last.number)
                    ],
                    DURING,
                )?;
                continue;
            }
        }
        s.execute(
            "INSERT INTO analysis_rounds \
             (deployment_id, number, at, verdict, body, round_count, last_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
            args![
                id,
                i64::from(round.number),
                time_text(round.at),
                round.verdict.name().to_owned(),
                body.clone(),
                i64::from(round.count.max(1)),
                round.last_at.map(time_text),
            ],
            DURING,
        )?;
    }
    Ok(())
}

const ROUND_COLUMNS: &str = "body, round_count, last_at";

/// The deployment's latest round record, if any.
fn latest(s: &mut Session<'_>, id: i64) -> Result<Option<AnalysisRound>, StoreError> {
    let row = s.query_opt(
        &format!(
            "SELECT {ROUND_COLUMNS} FROM analysis_rounds \
             WHERE deployment_id = $1 ORDER BY number DESC LIMIT 1"
        ),
        args![id],
        "reading the latest analysis round",
    )?;
    row.map(|r| decode(&r)).transpose()
}

/// Every round record of the deployment, by number.
pub(crate) fn all(s: &mut Session<'_>, id: i64) -> Result<Vec<AnalysisRound>, StoreError> {
    let rows = s.query(
        &format!(
            "SELECT {ROUND_COLUMNS} FROM analysis_rounds WHERE deployment_id = $1 ORDER BY number"
        ),
        args![id],
        "reading analysis rounds",
    )?;
    rows.iter().map(decode).collect()
}

/// A record from its body and the columns that say how many rounds it
/// stands for (the body is the first round's, as it was recorded).
fn decode(row: &tokio_postgres::Row) -> Result<AnalysisRound, StoreError> {
    let mut round: AnalysisRound = from_json(col(row, "body")?, "analysis round")?;
    let count: u32 = narrow(col(row, "round_count")?, "analysis round count")?;
    round.count = count.max(1);
    round.last_at = parse_opt_time(col(row, "last_at")?, "analysis round last_at")?;
    Ok(round)
}
