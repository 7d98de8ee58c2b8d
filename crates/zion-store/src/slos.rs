//! [`SloStore`]: each SLO's recorded SLI rows (one per minute, rolled up
//! hourly beyond the SLO's retention) and its alerts' states. What the
//! rows mean is `zion_core::slo`'s; only the replica of `zion up` that
//! drives a target records its SLOs' rows, so nothing is counted twice.

use jiff::Timestamp;
use zion_core::slo::{AlertKind, AlertState, SliRow};

use crate::codec::{narrow, widen};
use crate::tables::StoredRow;
use crate::{AuditAppend, StoreError};

pub trait SloStore: Send + Sync {
    /// Writes one-minute rows of `slo`, each replacing a one-minute row of
    /// the same start (the minute recounted).
    fn record_sli(&self, slo: &str, rows: &[SliRow]) -> Result<(), StoreError>;

    /// The rows of `slo` that start at or after `since`, by start.
    fn sli_rows(&self, slo: &str, since: Timestamp) -> Result<Vec<SliRow>, StoreError>;

    /// Rolls the one-minute rows of `slo` that start before `before` (an
    /// hour's first instant) into one row per hour, in one transaction;
    /// returns how many minute rows were rolled up.
    fn roll_up_sli(&self, slo: &str, before: Timestamp) -> Result<u64, StoreError>;

    /// The recorded state of each alert of `slo` (none: never fired).
    fn slo_alerts(&self, slo: &str) -> Result<Vec<AlertState>, StoreError>;

    /// Records alert states of `slo`, each replacing its alert's last,
    /// with the audit entries of their transitions, in one transaction.
    fn set_slo_alerts(
        &self,
        slo: &str,
        states: &[AlertState],
        audit: Option<&AuditAppend>,
    ) -> Result<(), StoreError>;
}

/// The statements both stores run, with PostgreSQL's `$N` parameters.
pub(crate) mod sql {
    pub const RECORD: &str = "INSERT INTO slo_rows (slo, start, minutes, good, total, bad_minutes) \
         VALUES ($1, $2, 1, $3, $4, $5) ON CONFLICT (slo, start, minutes) DO UPDATE SET \
         good = excluded.good, total = excluded.total, bad_minutes = excluded.bad_minutes";
    pub const ROWS: &str = "SELECT start, minutes, good, total, bad_minutes FROM slo_rows \
         WHERE slo = $1 AND start >= $2 ORDER BY start, minutes";
    /// CAST, not `::`: SQLite reads this text too, and PostgreSQL's SUM of
    /// BIGINTs is a NUMERIC.
    pub const ROLL_UP: &str = "INSERT INTO slo_rows (slo, start, minutes, good, total, bad_minutes) \
         SELECT slo, start - (start % 3600), 60, CAST(SUM(good) AS BIGINT), \
         CAST(SUM(total) AS BIGINT), CAST(SUM(bad_minutes) AS BIGINT) FROM slo_rows \
         WHERE slo = $1 AND minutes = 1 AND start < $2 GROUP BY slo, start - (start % 3600) \
         ON CONFLICT (slo, start, minutes) DO UPDATE SET good = slo_rows.good + excluded.good, \
         total = slo_rows.total + excluded.total, \
         bad_minutes = slo_rows.bad_minutes + excluded.bad_minutes";
    pub const DROP_MINUTES: &str =
        "DELETE FROM slo_rows WHERE slo = $1 AND minutes = 1 AND start < $2";
    pub const ALERTS: &str =
        "SELECT alert, firing, since FROM slo_alerts WHERE slo = $1 ORDER BY alert";
    pub const SET_ALERT: &str = "INSERT INTO slo_alerts (slo, alert, firing, since) \
         VALUES ($1, $2, $3, $4) ON CONFLICT (slo, alert) DO UPDATE SET \
         firing = excluded.firing, since = excluded.since";
}

/// A row's values as both stores bind them: start, good, total, bad minutes.
pub(crate) fn row_values(row: &SliRow) -> Result<(i64, i64, i64, i64), StoreError> {
    if row.minutes != 1 || row.start.as_second() % 60 != 0 {
        return Err(StoreError::Invalid(format!(
            "an SLI row to record covers one minute from a minute's start; got {} minute(s) \
             from {}",
            row.minutes, row.start
        )));
    }
    if row.good > row.total {
        return Err(StoreError::Invalid(format!(
            "an SLI row counts {} good of {} events: good cannot exceed the total",
            row.good, row.total
        )));
    }
    Ok((
        row.start.as_second(),
        widen(row.good, "good events")?,
        widen(row.total, "events")?,
        i64::from(row.bad_minutes),
    ))
}

pub(crate) fn seconds(t: Timestamp) -> i64 {
    t.as_second()
}

pub(crate) fn time(seconds: i64) -> Result<Timestamp, StoreError> {
    Timestamp::from_second(seconds)
        .map_err(|e| StoreError::Corrupt(format!("an SLO time {seconds} is out of range: {e}")))
}

pub(crate) fn sli_row(row: &(impl StoredRow + ?Sized)) -> Result<SliRow, StoreError> {
    Ok(SliRow {
        start: time(row.int("start")?)?,
        minutes: narrow(row.int("minutes")?, "minutes")?,
        good: narrow(row.int("good")?, "good")?,
        total: narrow(row.int("total")?, "total")?,
        bad_minutes: narrow(row.int("bad_minutes")?, "bad_minutes")?,
    })
}

pub(crate) fn alert_state(row: &(impl StoredRow + ?Sized)) -> Result<AlertState, StoreError> {
    let name = row.text("alert")?;
    let alert = AlertKind::from_name(name)
        .ok_or_else(|| StoreError::Corrupt(format!("`{name}` is not an SLO alert")))?;
    Ok(AlertState {
        alert,
        firing: row.int("firing")? != 0,
        since: time(row.int("since")?)?,
    })
}
