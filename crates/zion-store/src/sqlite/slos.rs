//! The SLI rows and alert states of [`SqliteStore`].

use rusqlite::params;

use jiff::Timestamp;
use zion_core::slo::{AlertState, SliRow};

use super::{SqliteStore, audit, begin, db, query_all};
use crate::slos::{SloStore, alert_state, row_values, seconds, sli_row, sql};
use crate::tables::sqlite;
use crate::{AuditAppend, StoreError};

impl SloStore for SqliteStore {
    fn record_sli(&self, slo: &str, rows: &[SliRow]) -> Result<(), StoreError> {
        const DURING: &str = "recording SLI rows";
        let values = rows.iter().map(row_values).collect::<Result<Vec<_>, _>>()?;
        let mut conn = self.conn();
        let tx = begin(&mut conn, DURING)?;
        {
            let mut stmt = tx
                .prepare_cached(&sqlite(sql::RECORD))
                .map_err(db(DURING))?;
            for (start, good, total, bad) in values {
                stmt.execute(params![slo, start, good, total, bad])
                    .map_err(db(DURING))?;
            }
        }
        tx.commit().map_err(db(DURING))
    }

    fn sli_rows(&self, slo: &str, since: Timestamp) -> Result<Vec<SliRow>, StoreError> {
        query_all(
            &self.conn(),
            &sqlite(sql::ROWS),
            params![slo, seconds(since)],
            "reading SLI rows",
            |row| sli_row(row),
        )
    }

    fn roll_up_sli(&self, slo: &str, before: Timestamp) -> Result<u64, StoreError> {
        const DURING: &str = "rolling up SLI rows";
        let mut conn = self.conn();
        let tx = begin(&mut conn, DURING)?;
        tx.execute(&sqlite(sql::ROLL_UP), params![slo, seconds(before)])
            .map_err(db(DURING))?;
        let n = tx
            .execute(&sqlite(sql::DROP_MINUTES), params![slo, seconds(before)])
            .map_err(db(DURING))?;
        tx.commit().map_err(db(DURING))?;
        Ok(n as u64)
    }

    fn slo_alerts(&self, slo: &str) -> Result<Vec<AlertState>, StoreError> {
        query_all(
            &self.conn(),
            &sqlite(sql::ALERTS),
            params![slo],
            "reading SLO alerts",
            |row| alert_state(row),
        )
    }

    fn set_slo_alerts(
        &self,
        slo: &str,
        states: &[AlertState],
        audit: Option<&AuditAppend>,
    ) -> Result<(), StoreError> {
        const DURING: &str = "recording SLO alerts";
        let mut conn = self.conn();
        let tx = begin(&mut conn, DURING)?;
        for state in states {
            tx.execute(
                &sqlite(sql::SET_ALERT),
                params![
                    slo,
                    state.alert.name(),
                    i64::from(state.firing),
                    seconds(state.since)
                ],
            )
            .map_err(db(DURING))?;
        }
        if let Some(a) = audit {
            audit::write(&tx, a)?;
        }
        tx.commit().map_err(db(DURING))
    }
}
