//! The analysis rounds of [`super::PostgresStore`], written inside a
//! deployment change's transaction; a run of identical inconclusive rounds
//! is one row, as in the SQLite store.

use zion_core::analysis::AnalysisRound;

use super::{Session, args};
use crate::StoreError;
use crate::codec::time_text;
use crate::tables::{self, EXTEND_ROUND, INSERT_ROUND, LATEST_ROUND, ROUNDS_OF, RoundRow};

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
                    EXTEND_ROUND,
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
            INSERT_ROUND,
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

/// The deployment's latest round record, if any.
fn latest(s: &mut Session<'_>, id: i64) -> Result<Option<AnalysisRound>, StoreError> {
    let row = s.query_opt(LATEST_ROUND, args![id], "reading the latest analysis round")?;
    row.as_ref().map(tables::round).transpose()
}

/// Every round record of the deployment, by number.
pub(crate) fn all(s: &mut Session<'_>, id: i64) -> Result<Vec<AnalysisRound>, StoreError> {
    let rows = s.query(ROUNDS_OF, args![id], "reading analysis rounds")?;
    rows.iter().map(tables::round).collect()
}
