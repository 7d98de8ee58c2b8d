//! The published routes and traffic buckets of [`SqliteStore`]. One
//! database file has one replica of `zion up`, so nothing here is shared
//! in practice; it is kept so that both stores answer alike.

use rusqlite::{OptionalExtension, params};

use super::{SqliteStore, begin, db, query_all};
use crate::StoreError;
use crate::codec::{narrow, widen};
use crate::data_plane::{
    DataPlaneStore, PublishedRoute, RouteListener, TrafficBucket, TrafficQuery, check_unique, sql,
    widened,
};
use crate::tables;

impl DataPlaneStore for SqliteStore {
    fn publish_route(
        &self,
        service: &str,
        environment: &str,
        listener: RouteListener,
        route: &str,
    ) -> Result<u64, StoreError> {
        const DURING: &str = "publishing a route";
        let mut conn = self.conn();
        // Immediate: publishes take their turn from the first read.
        let tx = begin(&mut conn, DURING)?;
        let current: Option<(String, i64)> = tx
            .query_row(
                &tables::sqlite(sql::CURRENT),
                params![service, environment, listener.name()],
                |row| Ok((row.get(0)?, row.get(1)?)),
            )
            .optional()
            .map_err(db(DURING))?;
        if let Some((_, revision)) = current.filter(|(r, _)| r == route) {
            return narrow(revision, "a route's revision");
        }
        let revision: i64 = tx
            .query_row(&tables::sqlite(sql::BUMP), [], |row| row.get(0))
            .map_err(db(DURING))?;
        tx.execute(
            &tables::sqlite(sql::UPSERT),
            params![service, environment, listener.name(), route, revision],
        )
        .map_err(db(DURING))?;
        tx.commit().map_err(db(DURING))?;
        narrow(revision, "a route's revision")
    }

    fn routes_since(&self, revision: u64) -> Result<Vec<PublishedRoute>, StoreError> {
        let revision = widen(revision, "a route's revision")?;
        query_all(
            &self.conn(),
            &tables::sqlite(sql::SINCE),
            [revision],
            "reading the published routes",
            |row| tables::route(row),
        )
    }

    fn record_traffic(&self, buckets: &[TrafficBucket]) -> Result<(), StoreError> {
        const DURING: &str = "recording traffic";
        check_unique(buckets)?;
        let rows = buckets
            .iter()
            .map(|b| widened(b).map(|n| (b, n)))
            .collect::<Result<Vec<_>, _>>()?;
        let mut conn = self.conn();
        let tx = begin(&mut conn, DURING)?;
        {
            let mut stmt = tx
                .prepare_cached(
                    "INSERT INTO traffic_buckets (replica, service, environment, version, \
                     second, requests, errors, latency) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) \
                     ON CONFLICT (service, environment, version, second, replica) DO UPDATE SET \
                     requests = excluded.requests, errors = excluded.errors, \
                     latency = excluded.latency",
                )
                .map_err(db(DURING))?;
            for (b, (second, requests, errors)) in rows {
                stmt.execute(params![
                    b.replica,
                    b.service,
                    b.environment,
                    b.version,
                    second,
                    requests,
                    errors,
                    b.latency
                ])
                .map_err(db(DURING))?;
            }
        }
        tx.commit().map_err(db(DURING))
    }

    fn traffic(&self, q: &TrafficQuery<'_>) -> Result<Vec<TrafficBucket>, StoreError> {
        let first = widen(q.first_second, "a window's first second")?;
        let last = widen(q.last_second, "a window's last second")?;
        query_all(
            &self.conn(),
            &tables::sqlite(sql::TRAFFIC),
            params![
                q.service,
                q.environment,
                q.version,
                first,
                last,
                q.excluding_replica
            ],
            "reading traffic",
            |row| tables::bucket(row),
        )
    }

    fn prune_traffic(&self, before_second: u64) -> Result<u64, StoreError> {
        let before = widen(before_second, "a pruning second")?;
        let n = self
            .conn()
            .execute(&tables::sqlite(sql::PRUNE), [before])
            .map_err(db("pruning traffic"))?;
        Ok(n as u64)
    }
}
