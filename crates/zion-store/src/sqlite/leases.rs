//! The leases and replicas of [`SqliteStore`], by SQLite's own clock.

use std::time::Duration;

use rusqlite::{Row, params};
use zion_core::target::TargetId;

use super::{SqliteStore, begin, col, db, query_all};
use crate::leases::{Fence, Lease, LeaseStore, ReplicaBeat, from_micros, sql, ttl_micros};
use crate::{Change, StoreError};

fn read_lease(row: &Row<'_>) -> Result<Lease, StoreError> {
    Ok(Lease {
        service: col(row, "service")?,
        environment: col(row, "environment")?,
        holder: col(row, "holder")?,
        epoch: crate::codec::narrow(col(row, "epoch")?, "lease epoch")?,
        acquired_at: from_micros(col(row, "acquired_us")?, "lease acquired_us")?,
        expires_at: from_micros(col(row, "expires_us")?, "lease expires_us")?,
        read_at: from_micros(col(row, "read_us")?, "the database's clock")?,
    })
}

impl LeaseStore for SqliteStore {
    fn acquire_lease(
        &self,
        service: &str,
        environment: &str,
        replica: &str,
        ttl: Duration,
    ) -> Result<Option<Lease>, StoreError> {
        let ttl = ttl_micros(ttl)?;
        let conn = self.conn();
        let mut got = query_all(
            &conn,
            &sql::sqlite(sql::ACQUIRE),
            params![service, environment, replica, ttl],
            "acquiring a lease",
            read_lease,
        )?;
        Ok(got.pop())
    }

    fn acquire_leases(
        &self,
        targets: &[TargetId],
        replica: &str,
        ttl: Duration,
    ) -> Result<Vec<Lease>, StoreError> {
        const DURING: &str = "acquiring leases";
        let ttl = ttl_micros(ttl)?;
        let mut conn = self.conn();
        // One writer: the single-target statement per target, in one
        // transaction (one commit, one sync) is as atomic as PostgreSQL's
        // one statement.
        let tx = begin(&mut conn, DURING)?;
        let sql = sql::sqlite(sql::ACQUIRE);
        let mut seen = std::collections::BTreeSet::new();
        let mut granted = Vec::new();
        for t in targets {
            if !seen.insert(t) {
                continue;
            }
            granted.extend(query_all(
                &tx,
                &sql,
                params![t.service, t.environment, replica, ttl],
                DURING,
                read_lease,
            )?);
        }
        tx.commit().map_err(db(DURING))?;
        Ok(granted)
    }

    fn release_leases(
        &self,
        replica: &str,
        leases: &[(TargetId, u64)],
    ) -> Result<usize, StoreError> {
        const DURING: &str = "releasing leases";
        let mut conn = self.conn();
        let tx = begin(&mut conn, DURING)?;
        let mut released = 0;
        {
            let mut release = tx
                .prepare_cached(&sql::sqlite(sql::RELEASE))
                .map_err(db(DURING))?;
            for (t, epoch) in leases {
                let epoch = crate::codec::widen(*epoch, "lease epoch")?;
                released += release
                    .execute(params![t.service, t.environment, replica, epoch])
                    .map_err(db(DURING))?;
            }
        }
        tx.commit().map_err(db(DURING))?;
        Ok(released)
    }

    fn renew_lease(
        &self,
        service: &str,
        environment: &str,
        replica: &str,
        epoch: u64,
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        let ttl = ttl_micros(ttl)?;
        let epoch = crate::codec::widen(epoch, "lease epoch")?;
        let changed = self
            .conn()
            .execute(
                &sql::sqlite(sql::RENEW),
                params![service, environment, replica, epoch, ttl],
            )
            .map_err(db("renewing a lease"))?;
        Ok(changed == 1)
    }

    fn release_lease(
        &self,
        service: &str,
        environment: &str,
        replica: &str,
        epoch: u64,
    ) -> Result<bool, StoreError> {
        let epoch = crate::codec::widen(epoch, "lease epoch")?;
        let changed = self
            .conn()
            .execute(
                &sql::sqlite(sql::RELEASE),
                params![service, environment, replica, epoch],
            )
            .map_err(db("releasing a lease"))?;
        Ok(changed == 1)
    }

    fn renew_leases(&self, replica: &str, ttl: Duration) -> Result<Vec<Lease>, StoreError> {
        let ttl = ttl_micros(ttl)?;
        query_all(
            &self.conn(),
            &sql::sqlite(sql::RENEW_ALL),
            params![replica, ttl],
            "renewing leases",
            read_lease,
        )
    }

    fn leases(&self) -> Result<Vec<Lease>, StoreError> {
        query_all(
            &self.conn(),
            &sql::sqlite(sql::LIST),
            [],
            "listing leases",
            read_lease,
        )
    }

    fn heartbeat(&self, replica: &str) -> Result<(), StoreError> {
        self.conn()
            .execute(&sql::sqlite(sql::HEARTBEAT), [replica])
            .map_err(db("recording a heartbeat"))?;
        Ok(())
    }

    fn replicas(&self) -> Result<Vec<ReplicaBeat>, StoreError> {
        query_all(
            &self.conn(),
            &sql::sqlite(sql::REPLICAS),
            [],
            "listing replicas",
            |row| {
                Ok(ReplicaBeat {
                    id: col(row, "id")?,
                    last_heartbeat: from_micros(col(row, "heartbeat_us")?, "heartbeat")?,
                    read_at: from_micros(col(row, "read_us")?, "the database's clock")?,
                })
            },
        )
    }

    fn retire_replica(&self, replica: &str) -> Result<(), StoreError> {
        self.conn()
            .execute(&sql::sqlite(sql::RETIRE), [replica])
            .map_err(db("retiring a replica"))?;
        Ok(())
    }

    fn record_fenced_change(
        &self,
        change: &Change<'_>,
        fence: Fence<'_>,
    ) -> Result<(), StoreError> {
        self.record_change_fenced(change, Some(fence))
    }
}
