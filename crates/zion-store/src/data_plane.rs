//! The data plane area: what several replicas of `zion up` on one database
//! share so that every one of them serves every target's listeners alike:
//! the routes each target's owner publishes, and each replica's traffic in
//! one-second buckets, which the owner sums for its analysis.

use crate::StoreError;

/// The routes and traffic the replicas of `zion up` share.
///
/// Every implementation keeps these:
/// - **Revisions grow in commit order.** Every publish that changes a
///   route takes the next revision of one counter shared by all routes,
///   and publishes are serialized on that counter, so a revision is never
///   committed after a greater one: a reader that saw revision N and asks
///   for what changed since N misses nothing. Publishing the route a
///   listener already has changes nothing and returns its revision.
/// - **Stored as given.** A route is text (its encoding is the caller's)
///   and a bucket's latency is bytes; both read back exactly.
/// - **One write per flush.** [`DataPlaneStore::record_traffic`] writes
///   every bucket it is given in one transaction, replacing a bucket of
///   the same replica, target, version and second (a re-sent second
///   corrects itself); two buckets with the same key in one call are
///   refused and nothing is written.
pub trait DataPlaneStore: Send + Sync {
    /// Publishes the route of one listener of a target; returns its
    /// revision (unchanged when the route is the one already published).
    fn publish_route(
        &self,
        service: &str,
        environment: &str,
        listener: RouteListener,
        route: &str,
    ) -> Result<u64, StoreError>;

    /// Every route published under a revision greater than `revision`,
    /// by revision (0: every route).
    fn routes_since(&self, revision: u64) -> Result<Vec<PublishedRoute>, StoreError>;

    /// Writes one flush of a replica's buckets, in one transaction.
    fn record_traffic(&self, buckets: &[TrafficBucket]) -> Result<(), StoreError>;

    /// The buckets of one version (or every version) of a target whose
    /// second is within `first_second..=last_second`, of every replica but
    /// `excluding_replica` (the reader's own, which it holds in memory),
    /// by second, replica and version.
    fn traffic(&self, query: &TrafficQuery<'_>) -> Result<Vec<TrafficBucket>, StoreError>;

    /// Deletes every bucket older than `before_second`; returns how many.
    fn prune_traffic(&self, before_second: u64) -> Result<u64, StoreError>;
}

/// Which listener of a target a route is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RouteListener {
    /// The target's listener.
    Main,
    /// The target's preview listener.
    Preview,
}

impl RouteListener {
    /// The name stored.
    pub fn name(self) -> &'static str {
        match self {
            RouteListener::Main => "main",
            RouteListener::Preview => "preview",
        }
    }

    pub(crate) fn from_name(name: &str) -> Result<Self, StoreError> {
        match name {
            "main" => Ok(RouteListener::Main),
            "preview" => Ok(RouteListener::Preview),
            other => Err(StoreError::Corrupt(format!(
                "`{other}` is not a route's listener"
            ))),
        }
    }
}

/// A route as published.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishedRoute {
    pub service: String,
    pub environment: String,
    pub listener: RouteListener,
    /// The route as its owner encoded it.
    pub route: String,
    pub revision: u64,
}

/// What one replica of `zion up` counted for one version of a target in
/// one second.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrafficBucket {
    pub replica: String,
    pub service: String,
    pub environment: String,
    pub version: String,
    /// Seconds since the Unix epoch.
    pub second: u64,
    pub requests: u64,
    pub errors: u64,
    /// The latency histogram, as its writer encoded it.
    pub latency: Vec<u8>,
}

/// Which buckets [`DataPlaneStore::traffic`] reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TrafficQuery<'a> {
    pub service: &'a str,
    pub environment: &'a str,
    /// None: every version (what an SLO counts).
    pub version: Option<&'a str>,
    pub first_second: u64,
    pub last_second: u64,
    pub excluding_replica: &'a str,
}

/// A bucket's numbers as the database's signed integers: (second,
/// requests, errors).
pub(crate) fn widened(b: &TrafficBucket) -> Result<(i64, i64, i64), StoreError> {
    use crate::codec::widen;
    Ok((
        widen(b.second, "a bucket's second")?,
        widen(b.requests, "a bucket's requests")?,
        widen(b.errors, "a bucket's errors")?,
    ))
}

/// Refuses a flush holding one key twice (it would write one of them at
/// random), naming the key.
pub(crate) fn check_unique(buckets: &[TrafficBucket]) -> Result<(), StoreError> {
    let mut seen = std::collections::HashSet::new();
    for b in buckets {
        if !seen.insert((&b.replica, &b.service, &b.environment, &b.version, b.second)) {
            return Err(StoreError::Invalid(format!(
                "the flush holds two buckets of replica {} for {}/{} version {} at second {}; \
                 send one per second",
                b.replica, b.service, b.environment, b.version, b.second
            )));
        }
    }
    Ok(())
}

/// The statements of the area, written once for both backends (`$N`
/// parameters; SQLite's are `?N`).
pub(crate) mod sql {
    pub const CURRENT: &str = "SELECT route, revision FROM published_routes \
         WHERE service = $1 AND environment = $2 AND listener = $3";

    pub const BUMP: &str = "UPDATE route_revision SET revision = revision + 1 RETURNING revision";

    pub const UPSERT: &str = "INSERT INTO published_routes \
         (service, environment, listener, route, revision) VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT (service, environment, listener) DO UPDATE SET \
         route = excluded.route, revision = excluded.revision";

    pub const SINCE: &str = "SELECT service, environment, listener, route, revision \
         FROM published_routes WHERE revision > $1 ORDER BY revision";

    pub const TRAFFIC: &str = "SELECT replica, service, environment, version, second, \
         requests, errors, latency FROM traffic_buckets \
         WHERE service = $1 AND environment = $2 \
         AND (CAST($3 AS TEXT) IS NULL OR version = $3) \
         AND second >= $4 AND second <= $5 AND replica <> $6 \
         ORDER BY second, replica, version";

    pub const PRUNE: &str = "DELETE FROM traffic_buckets WHERE second < $1";
}
