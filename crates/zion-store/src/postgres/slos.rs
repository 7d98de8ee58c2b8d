//! The SLI rows and alert states of [`PostgresStore`].

use jiff::Timestamp;
use zion_core::slo::{AlertState, SliRow};

use super::{PostgresStore, args, audit};
use crate::slos::{SloStore, alert_state, row_values, seconds, sli_row, sql};
use crate::{AuditAppend, StoreError};

impl SloStore for PostgresStore {
    fn record_sli(&self, slo: &str, rows: &[SliRow]) -> Result<(), StoreError> {
        const DURING: &str = "recording SLI rows";
        let values = rows.iter().map(row_values).collect::<Result<Vec<_>, _>>()?;
        let mut tx = self.begin(DURING)?;
        for (start, good, total, bad) in values {
            tx.execute(
                sql::RECORD,
                args![slo.to_owned(), start, good, total, bad],
                DURING,
            )?;
        }
        tx.commit(DURING)
    }

    fn sli_rows(&self, slo: &str, since: Timestamp) -> Result<Vec<SliRow>, StoreError> {
        const DURING: &str = "reading SLI rows";
        let rows = self.session(DURING)?.query(
            sql::ROWS,
            args![slo.to_owned(), seconds(since)],
            DURING,
        )?;
        rows.iter().map(sli_row).collect()
    }

    fn roll_up_sli(&self, slo: &str, before: Timestamp) -> Result<u64, StoreError> {
        const DURING: &str = "rolling up SLI rows";
        let mut tx = self.begin(DURING)?;
        tx.execute(sql::ROLL_UP, args![slo.to_owned(), seconds(before)], DURING)?;
        let n = tx.execute(
            sql::DROP_MINUTES,
            args![slo.to_owned(), seconds(before)],
            DURING,
        )?;
        tx.commit(DURING)?;
        Ok(n)
    }

    fn slo_alerts(&self, slo: &str) -> Result<Vec<AlertState>, StoreError> {
        const DURING: &str = "reading SLO alerts";
        let rows = self
            .session(DURING)?
            .query(sql::ALERTS, args![slo.to_owned()], DURING)?;
        rows.iter().map(alert_state).collect()
    }

    fn set_slo_alerts(
        &self,
        slo: &str,
        states: &[AlertState],
        audit: Option<&AuditAppend>,
    ) -> Result<(), StoreError> {
        const DURING: &str = "recording SLO alerts";
        let mut s = self.begin(DURING)?;
        if audit.is_some() {
            s.lock_audit(DURING)?;
        }
        for state in states {
            s.execute(
                sql::SET_ALERT,
                args![
                    slo.to_owned(),
                    state.alert.name().to_owned(),
                    i64::from(state.firing),
                    seconds(state.since)
                ],
                DURING,
            )?;
        }
        if let Some(a) = audit {
            audit::write(&mut s, a)?;
        }
        s.commit(DURING)
    }
}
