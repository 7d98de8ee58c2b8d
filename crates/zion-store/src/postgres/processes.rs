//! The workload processes of [`PostgresStore`], keyed by host and pid.

use super::{PostgresStore, args};
use crate::codec::widen;
use crate::tables::{self, PROCESS_COLUMNS};
use crate::{ProcessStore, StoreError, StoredProcess};

impl ProcessStore for PostgresStore {
    fn record_process(&self, p: &StoredProcess) -> Result<(), StoreError> {
        const DURING: &str = "recording a process";
        let start_ticks = widen(p.start_ticks, "start_ticks")?;
        self.session(DURING)?.execute(
            &format!(
                "INSERT INTO processes ({PROCESS_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7) \
                 ON CONFLICT (host, pid) DO UPDATE SET start_ticks = excluded.start_ticks, \
                 service = excluded.service, environment = excluded.environment, \
                 version = excluded.version, port = excluded.port"
            ),
            args![
                p.host.clone(),
                i64::from(p.pid),
                start_ticks,
                p.service.clone(),
                p.environment.clone(),
                p.version.clone(),
                i64::from(p.port)
            ],
            DURING,
        )?;
        Ok(())
    }

    fn forget_process(&self, host: &str, pid: u32) -> Result<(), StoreError> {
        const DURING: &str = "forgetting a process";
        self.session(DURING)?.execute(
            "DELETE FROM processes WHERE host = $1 AND pid = $2",
            args![host.to_string(), i64::from(pid)],
            DURING,
        )?;
        Ok(())
    }

    fn processes(&self) -> Result<Vec<StoredProcess>, StoreError> {
        const DURING: &str = "listing processes";
        let rows = self.session(DURING)?.query(
            &format!("SELECT {PROCESS_COLUMNS} FROM processes ORDER BY host, pid"),
            args![],
            DURING,
        )?;
        rows.iter().map(tables::process).collect()
    }
}
