//! The workload processes of [`SqliteStore`], keyed by host and pid.

use rusqlite::params;

use super::{SqliteStore, db, query_all};
use crate::codec::widen;
use crate::tables::{self, PROCESS_COLUMNS};
use crate::{ProcessStore, StoreError, StoredProcess};

impl ProcessStore for SqliteStore {
    fn record_process(&self, p: &StoredProcess) -> Result<(), StoreError> {
        let start_ticks = widen(p.start_ticks, "start_ticks")?;
        let conn = self.conn();
        conn.execute(
            &format!(
                "INSERT INTO processes ({PROCESS_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) \
                 ON CONFLICT (host, pid) DO UPDATE SET start_ticks = excluded.start_ticks, \
                 service = excluded.service, environment = excluded.environment, \
                 version = excluded.version, port = excluded.port"
            ),
            params![
                p.host,
                p.pid,
                start_ticks,
                p.service,
                p.environment,
                p.version,
                p.port
            ],
        )
        .map_err(db("recording a process"))?;
        Ok(())
    }

    fn forget_process(&self, host: &str, pid: u32) -> Result<(), StoreError> {
        let conn = self.conn();
        conn.execute(
            "DELETE FROM processes WHERE host = ?1 AND pid = ?2",
            params![host, pid],
        )
        .map_err(db("forgetting a process"))?;
        Ok(())
    }

    fn processes(&self) -> Result<Vec<StoredProcess>, StoreError> {
        let conn = self.conn();
        query_all(
            &conn,
            &format!("SELECT {PROCESS_COLUMNS} FROM processes ORDER BY host, pid"),
            [],
            "listing processes",
            |row| tables::process(row),
        )
    }
}
