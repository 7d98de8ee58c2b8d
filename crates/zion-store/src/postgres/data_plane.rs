//! The published routes and traffic buckets of [`PostgresStore`], shared by
//! every replica of `zion up` on the database.

use super::{PostgresStore, args, col};
use crate::StoreError;
use crate::codec::{narrow, widen};
use crate::data_plane::{
    DataPlaneStore, PublishedRoute, RouteListener, TrafficBucket, TrafficQuery, check_unique, sql,
    widened,
};
use crate::tables;

/// Publishes take their turn on the counter's row from their first read
/// to their commit, so that revisions commit in the order they grow.
const LOCK_REVISION: &str = "SELECT revision FROM route_revision FOR UPDATE";

/// A whole flush in one statement: one array per column, unnested.
const RECORD: &str = "INSERT INTO traffic_buckets \
     (replica, service, environment, version, second, requests, errors, latency) \
     SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], \
     $5::bigint[], $6::bigint[], $7::bigint[], $8::bytea[]) \
     ON CONFLICT (service, environment, version, second, replica) DO UPDATE SET \
     requests = excluded.requests, errors = excluded.errors, latency = excluded.latency";

impl DataPlaneStore for PostgresStore {
    fn publish_route(
        &self,
        service: &str,
        environment: &str,
        listener: RouteListener,
        route: &str,
    ) -> Result<u64, StoreError> {
        const DURING: &str = "publishing a route";
        let mut s = self.begin(DURING)?;
        s.execute(LOCK_REVISION, args![], DURING)?;
        let current = s.query_opt(
            sql::CURRENT,
            args![
                service.to_owned(),
                environment.to_owned(),
                listener.name().to_owned()
            ],
            DURING,
        )?;
        if let Some(row) = current {
            if col::<&str>(&row, "route")? == route {
                let revision: i64 = col(&row, "revision")?;
                s.commit(DURING)?;
                return narrow(revision, "a route's revision");
            }
        }
        let revision: i64 = col(&s.query_one(sql::BUMP, args![], DURING)?, "revision")?;
        s.execute(
            sql::UPSERT,
            args![
                service.to_owned(),
                environment.to_owned(),
                listener.name().to_owned(),
                route.to_owned(),
                revision
            ],
            DURING,
        )?;
        s.commit(DURING)?;
        narrow(revision, "a route's revision")
    }

    fn routes_since(&self, revision: u64) -> Result<Vec<PublishedRoute>, StoreError> {
        const DURING: &str = "reading the published routes";
        let revision = widen(revision, "a route's revision")?;
        let rows = self
            .session(DURING)?
            .query(sql::SINCE, args![revision], DURING)?;
        rows.iter().map(tables::route).collect()
    }

    fn record_traffic(&self, buckets: &[TrafficBucket]) -> Result<(), StoreError> {
        const DURING: &str = "recording traffic";
        check_unique(buckets)?;
        if buckets.is_empty() {
            return Ok(());
        }
        let n = buckets.len();
        let (mut replica, mut service, mut environment, mut version) = (
            Vec::with_capacity(n),
            Vec::with_capacity(n),
            Vec::with_capacity(n),
            Vec::with_capacity(n),
        );
        let (mut second, mut requests, mut errors, mut latency) = (
            Vec::with_capacity(n),
            Vec::with_capacity(n),
            Vec::with_capacity(n),
            Vec::with_capacity(n),
        );
        for b in buckets {
            let (s, r, e) = widened(b)?;
            replica.push(b.replica.clone());
            service.push(b.service.clone());
            environment.push(b.environment.clone());
            version.push(b.version.clone());
            second.push(s);
            requests.push(r);
            errors.push(e);
            latency.push(b.latency.clone());
        }
        self.session(DURING)?.execute(
            RECORD,
            args![
                replica,
                service,
                environment,
                version,
                second,
                requests,
                errors,
                latency
            ],
            DURING,
        )?;
        Ok(())
    }

    fn traffic(&self, q: &TrafficQuery<'_>) -> Result<Vec<TrafficBucket>, StoreError> {
        const DURING: &str = "reading traffic";
        let first = widen(q.first_second, "a window's first second")?;
        let last = widen(q.last_second, "a window's last second")?;
        let rows = self.session(DURING)?.query(
            sql::TRAFFIC,
            args![
                q.service.to_owned(),
                q.environment.to_owned(),
                q.version.map(str::to_owned),
                first,
                last,
                q.excluding_replica.to_owned()
            ],
            DURING,
        )?;
        rows.iter().map(tables::bucket).collect()
    }

    fn prune_traffic(&self, before_second: u64) -> Result<u64, StoreError> {
        const DURING: &str = "pruning traffic";
        let before = widen(before_second, "a pruning second")?;
        self.session(DURING)?
            .execute(sql::PRUNE, args![before], DURING)
    }
}
