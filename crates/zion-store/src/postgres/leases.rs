//! The leases and replicas of [`PostgresStore`], by the database's `now()`.

use std::time::Duration;

use tokio_postgres::Row;
use zion_core::target::TargetId;

use super::{PostgresStore, args, col};
use crate::leases::{Fence, Lease, LeaseStore, ReplicaBeat, from_micros, sql, ttl_micros};
use crate::{Change, StoreError};

fn read_lease(row: &Row) -> Result<Lease, StoreError> {
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

impl PostgresStore {
    /// Tells the other processes on the database that a lease was given
    /// up (or a replica retired), so that they take its targets at once
    /// rather than at their next lease pass. A lease grant or a heartbeat
    /// announces nothing: no one waits for those.
    fn announce(&self, during: &'static str) -> Result<(), StoreError> {
        self.session(during)?.execute(
            "SELECT pg_notify($1, $2)",
            args![super::CHANNEL.to_owned(), self.id.clone()],
            during,
        )?;
        Ok(())
    }
}

impl LeaseStore for PostgresStore {
    fn acquire_lease(
        &self,
        service: &str,
        environment: &str,
        replica: &str,
        ttl: Duration,
    ) -> Result<Option<Lease>, StoreError> {
        const DURING: &str = "acquiring a lease";
        let ttl = ttl_micros(ttl)?;
        let row = self.session(DURING)?.query_opt(
            &sql::postgres(sql::ACQUIRE),
            args![
                service.to_owned(),
                environment.to_owned(),
                replica.to_owned(),
                ttl
            ],
            DURING,
        )?;
        row.as_ref().map(read_lease).transpose()
    }

    fn acquire_leases(
        &self,
        targets: &[TargetId],
        replica: &str,
        ttl: Duration,
    ) -> Result<Vec<Lease>, StoreError> {
        const DURING: &str = "acquiring leases";
        let ttl = ttl_micros(ttl)?;
        if targets.is_empty() {
            return Ok(Vec::new());
        }
        let services: Vec<String> = targets.iter().map(|t| t.service.clone()).collect();
        let environments: Vec<String> = targets.iter().map(|t| t.environment.clone()).collect();
        let rows = self.session(DURING)?.query(
            &sql::postgres(sql::ACQUIRE_MANY_POSTGRES),
            args![services, environments, replica.to_owned(), ttl],
            DURING,
        )?;
        rows.iter().map(read_lease).collect()
    }

    fn release_leases(
        &self,
        replica: &str,
        leases: &[(TargetId, u64)],
    ) -> Result<usize, StoreError> {
        const DURING: &str = "releasing leases";
        if leases.is_empty() {
            return Ok(0);
        }
        let services: Vec<String> = leases.iter().map(|(t, _)| t.service.clone()).collect();
        let environments: Vec<String> = leases.iter().map(|(t, _)| t.environment.clone()).collect();
        let epochs = leases
            .iter()
            .map(|(_, e)| crate::codec::widen(*e, "lease epoch"))
            .collect::<Result<Vec<i64>, _>>()?;
        let changed = self.session(DURING)?.execute(
            &sql::postgres(sql::RELEASE_MANY_POSTGRES),
            args![replica.to_owned(), services, environments, epochs],
            DURING,
        )?;
        if changed > 0 {
            self.announce(DURING)?;
        }
        usize::try_from(changed)
            .map_err(|_| StoreError::Corrupt(format!("{changed} leases released")))
    }

    fn renew_lease(
        &self,
        service: &str,
        environment: &str,
        replica: &str,
        epoch: u64,
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        const DURING: &str = "renewing a lease";
        let ttl = ttl_micros(ttl)?;
        let epoch = crate::codec::widen(epoch, "lease epoch")?;
        let changed = self.session(DURING)?.execute(
            &sql::postgres(sql::RENEW),
            args![
                service.to_owned(),
                environment.to_owned(),
                replica.to_owned(),
                epoch,
                ttl
            ],
            DURING,
        )?;
        Ok(changed == 1)
    }

    fn release_lease(
        &self,
        service: &str,
        environment: &str,
        replica: &str,
        epoch: u64,
    ) -> Result<bool, StoreError> {
        const DURING: &str = "releasing a lease";
        let epoch = crate::codec::widen(epoch, "lease epoch")?;
        let changed = self.session(DURING)?.execute(
            &sql::postgres(sql::RELEASE),
            args![
                service.to_owned(),
                environment.to_owned(),
                replica.to_owned(),
                epoch
            ],
            DURING,
        )?;
        if changed == 1 {
            self.announce(DURING)?;
        }
        Ok(changed == 1)
    }

    fn renew_leases(&self, replica: &str, ttl: Duration) -> Result<Vec<Lease>, StoreError> {
        const DURING: &str = "renewing leases";
        let ttl = ttl_micros(ttl)?;
        let rows = self.session(DURING)?.query(
            &sql::postgres(sql::RENEW_ALL),
            args![replica.to_owned(), ttl],
            DURING,
        )?;
        rows.iter().map(read_lease).collect()
    }

    fn leases(&self) -> Result<Vec<Lease>, StoreError> {
        const DURING: &str = "listing leases";
        let rows = self
            .session(DURING)?
            .query(&sql::postgres(sql::LIST), args![], DURING)?;
        rows.iter().map(read_lease).collect()
    }

    fn heartbeat(&self, replica: &str) -> Result<(), StoreError> {
        const DURING: &str = "recording a heartbeat";
        self.session(DURING)?.execute(
            &sql::postgres(sql::HEARTBEAT),
            args![replica.to_owned()],
            DURING,
        )?;
        Ok(())
    }

    fn replicas(&self) -> Result<Vec<ReplicaBeat>, StoreError> {
        const DURING: &str = "listing replicas";
        let rows = self
            .session(DURING)?
            .query(&sql::postgres(sql::REPLICAS), args![], DURING)?;
        rows.iter()
            .map(|row| {
                Ok(ReplicaBeat {
                    id: col(row, "id")?,
                    last_heartbeat: from_micros(col(row, "heartbeat_us")?, "heartbeat")?,
                    read_at: from_micros(col(row, "read_us")?, "the database's clock")?,
                })
            })
            .collect()
    }

    fn retire_replica(&self, replica: &str) -> Result<(), StoreError> {
        const DURING: &str = "retiring a replica";
        self.session(DURING)?.execute(
            &sql::postgres(sql::RETIRE),
            args![replica.to_owned()],
            DURING,
        )?;
        self.announce(DURING)
    }

    fn record_fenced_change(
        &self,
        change: &Change<'_>,
        fence: Fence<'_>,
    ) -> Result<(), StoreError> {
        self.record_change_fenced(change, Some(fence))
    }
}
