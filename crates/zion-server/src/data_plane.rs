//! The data plane shared by the replicas of `zion up` on one database:
//! every replica serves every target's listeners, but only the target's
//! owner (the replica holding its lease) decides its routes. The owner
//! publishes each route it sets ([`DataPlane::publish`], from
//! `Targets::set_traffic` and `Targets::set_preview`); every replica follows
//! the published routes of the targets it does not own ([`follow_routes`]);
//! every replica sends its traffic in one-second buckets to the database
//! ([`flush_traffic`], on PostgreSQL only: one SQLite file has one
//! replica), and the owner's analysis reads the sum of its own metrics and
//! the others' buckets ([`TargetTraffic::window`]).
//!
//! The others' buckets reach the database up to about two seconds after
//! their second ends, so the owner reads them over a window of the same
//! length ending [`OTHERS_BEHIND`] seconds earlier than its own: each
//! replica's traffic counts over as many complete seconds, and a window
//! shorter than the delay is never empty on an owner that forwards
//! nothing itself.
//!
//! What is not shared: requests still in flight on other replicas (a
//! version that hangs is seen hanging by the replicas that forward to it,
//! and by the owner through its own share of the traffic).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use tokio::sync::{Notify, watch};
use zion_core::judge::Samples;
use zion_core::metrics::WindowMetrics;
use zion_core::spec::MatchRule;
use zion_proxy::{Pool, Route, SecondBucket, TrafficMetrics, UpstreamProtocol};
use zion_store::{RouteListener, Store, TrafficBucket, TrafficQuery};

use crate::App;
use crate::targets::{TargetId, Targets};
use crate::ticker::Ticker;

/// Whether this replica of `zion up` owns a target (holds its lease) now.
pub type Owned = Arc<dyn Fn(&TargetId) -> bool + Send + Sync>;

/// How often the published routes are read when nothing wakes the reader.
pub const FOLLOW_EVERY: Duration = Duration::from_millis(200);

/// How often this replica's buckets are sent.
pub const FLUSH_EVERY: Duration = Duration::from_secs(1);

/// A second is sent once it ended this long ago, so that the requests that
/// finished at its very end are in it (they are counted a moment after).
const SETTLE: Duration = Duration::from_millis(250);

/// How many seconds behind its own window the owner reads the other
/// replicas' buckets: a second is sent [`SETTLE`] after it ends, at the
/// next flush (up to [`FLUSH_EVERY`] later), so the seconds that ended
/// more than `SETTLE + FLUSH_EVERY` ago are all in the database; one more
/// covers the window's last second, which is still filling.
pub const OTHERS_BEHIND: u64 = 3;
const _: () =
    assert!((SETTLE.as_millis() + FLUSH_EVERY.as_millis()) < (OTHERS_BEHIND as u128 - 1) * 1000);

/// Buckets older than this are deleted: the longest analysis interval
/// reads far less, and the table stays small.
pub const KEEP_TRAFFIC: Duration = Duration::from_secs(15 * 60);

/// Pruning runs once every this many flushes.
const PRUNE_EVERY_FLUSHES: u64 = 60;

/// This replica's share of the data plane.
pub struct DataPlane {
    store: Arc<dyn Store>,
    replica: String,
    /// Whether other replicas may share the store (PostgreSQL): only then
    /// is traffic sent and read.
    pub(crate) shared: bool,
    /// The route last published for each listener, so that a tick that
    /// sets the same route writes nothing.
    published: Mutex<BTreeMap<(TargetId, RouteListener), String>>,
    /// The greatest revision read from the database.
    followed: AtomicU64,
    /// Routes read and not applied yet: the target was owned here when
    /// they came (applied once it no longer is), or not bound yet.
    pending: Mutex<BTreeMap<(TargetId, RouteListener), String>>,
    /// Every second before this one was sent.
    flushed_until: AtomicU64,
    flushes: AtomicU64,
}

impl DataPlane {
    /// The data plane of replica `replica` on `store`; `shared` when the
    /// store is PostgreSQL (other replicas may be on it).
    pub fn new(store: Arc<dyn Store>, replica: String, shared: bool) -> Self {
        DataPlane {
            store,
            replica,
            shared,
            published: Mutex::default(),
            followed: AtomicU64::new(0),
            pending: Mutex::default(),
            flushed_until: AtomicU64::new(0),
            flushes: AtomicU64::new(0),
        }
    }

    /// The replica this is.
    pub fn replica(&self) -> &str {
        &self.replica
    }

    /// Publishes the route this replica, the target's owner, just set on
    /// one of its listeners (nothing when it is the one last published). A
    /// failure is logged and published again at the next call: the
    /// target's own listener here already has it.
    pub(crate) fn publish(&self, id: &TargetId, listener: RouteListener, route: &Route) {
        let text = encode_route(route);
        let key = (id.clone(), listener);
        {
            let published = self
                .published
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            if published.get(&key) == Some(&text) {
                return;
            }
        }
        match self
            .store
            .publish_route(&id.service, &id.environment, listener, &text)
        {
            Ok(_) => {
                self.published
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .insert(key, text);
            }
            Err(e) => {
                tracing::warn!(target = %id, listener = listener.name(), error = %e, "could not publish a route; the other replicas keep the previous one until it is published")
            }
        }
    }

    /// Forgets which routes of `id` this replica published, so that the
    /// next ones it sets are published even when unchanged: to call when
    /// this replica takes the target (another owner may have published
    /// since, unseen yet).
    pub fn forget_published(&self, id: &TargetId) {
        self.published
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .retain(|(target, _), _| target != id);
    }

    /// Reads the routes published since the last read and sets each on the
    /// listener of this replica, unless this replica owns the target (its
    /// controller sets them) or does not serve it yet: those wait, and are
    /// applied once they can be. Returns how many routes were applied.
    pub async fn apply_published(&self, targets: &Targets, owned: &Owned) -> usize {
        let since = self.followed.load(Ordering::Acquire);
        match self.store.routes_since(since) {
            Ok(routes) => {
                let mut pending = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
                let mut published = self
                    .published
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner);
                let mut newest = since;
                for r in routes {
                    newest = newest.max(r.revision);
                    let key = (TargetId::new(&r.service, &r.environment), r.listener);
                    // Another owner published since this replica last did:
                    // the same route set here again must be published anew.
                    if published.get(&key).is_some_and(|mine| *mine != r.route) {
                        published.remove(&key);
                    }
                    pending.insert(key, r.route);
                }
                self.followed.store(newest, Ordering::Release);
            }
            Err(e) => {
                tracing::warn!(error = %e, "could not read the published routes; trying again");
            }
        }
        let due: Vec<((TargetId, RouteListener), String)> = {
            let pending = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
            pending
                .iter()
                .filter(|((id, _), _)| !owned(id))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect()
        };
        let mut applied = 0;
        for ((id, listener), text) in due {
            let done = match decode_route(&text) {
                Ok(route) => targets.apply_route(&id, listener, route).await,
                Err(why) => {
                    tracing::warn!(target = %id, listener = listener.name(), %why, "a published route cannot be read; ignored");
                    true
                }
            };
            if done {
                applied += 1;
                let mut pending = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
                // Unless a newer one came meanwhile.
                if pending.get(&(id.clone(), listener)) == Some(&text) {
                    pending.remove(&(id, listener));
                }
            }
        }
        applied
    }

    /// Sends every bucket of `metrics` (each target's) that ended before
    /// `now` (less a moment for the last requests to be counted) and was
    /// not sent yet, in one write; once a minute, deletes the buckets older
    /// than [`KEEP_TRAFFIC`]. Nothing when the store is not shared.
    pub fn flush(&self, metrics: &[(TargetId, Arc<TrafficMetrics>)], now: SystemTime) {
        if !self.shared {
            return;
        }
        let since = self.flushed_until.load(Ordering::Acquire);
        let before = now.checked_sub(SETTLE).unwrap_or(UNIX_EPOCH);
        let until = unix_secs(before);
        if until <= since {
            return;
        }
        let mut rows = Vec::new();
        for (id, m) in metrics {
            rows.extend(
                m.completed_buckets(since, before)
                    .into_iter()
                    .map(|b| TrafficBucket {
                        replica: self.replica.clone(),
                        service: id.service.clone(),
                        environment: id.environment.clone(),
                        version: b.version,
                        second: b.second,
                        requests: b.requests,
                        errors: b.errors,
                        latency: b.latency,
                    }),
            );
        }
        match self.store.record_traffic(&rows) {
            Ok(()) => self.flushed_until.store(until, Ordering::Release),
            // The same seconds go again with the next flush.
            Err(e) => {
                tracing::warn!(error = %e, buckets = rows.len(), "could not send this replica's traffic; sending it again at the next flush")
            }
        }
        if self.flushes.fetch_add(1, Ordering::Relaxed) % PRUNE_EVERY_FLUSHES == 0 {
            let before = unix_secs(now).saturating_sub(KEEP_TRAFFIC.as_secs());
            if let Err(e) = self.store.prune_traffic(before) {
                tracing::warn!(error = %e, "could not delete old traffic buckets");
            }
        }
    }

    /// The other replicas' buckets of every version of `id` whose second
    /// is within `first..=last`, as this replica's proxy counts them; None
    /// when the store is not shared (there are no others) or cannot be
    /// read (the caller tries the same seconds again).
    pub(crate) fn others_seconds(
        &self,
        id: &TargetId,
        first: u64,
        last: u64,
    ) -> Option<Vec<SecondBucket>> {
        if !self.shared {
            return None;
        }
        let query = TrafficQuery {
            service: &id.service,
            environment: &id.environment,
            version: None,
            first_second: first,
            last_second: last,
            excluding_replica: &self.replica,
        };
        match self.store.traffic(&query) {
            Ok(rows) => Some(
                rows.into_iter()
                    .map(|b| SecondBucket {
                        version: b.version,
                        second: b.second,
                        requests: b.requests,
                        errors: b.errors,
                        latency: b.latency,
                    })
                    .collect(),
            ),
            Err(e) => {
                tracing::warn!(target = %id, error = %e, "could not read the other replicas' traffic for the SLOs; trying again");
                None
            }
        }
    }

    /// The other replicas' buckets of `version` on `id` over the window
    /// [`OTHERS_BEHIND`] seconds before the one ending at `end`, each
    /// labelled with the second of this window it stands for, so that the
    /// proxy adds them to this window; none when the store is not shared.
    /// A failed read is logged and judged on this replica's traffic alone.
    fn others(
        &self,
        id: &TargetId,
        version: &str,
        end: SystemTime,
        length: Duration,
    ) -> Vec<SecondBucket> {
        if !self.shared {
            return Vec::new();
        }
        let (first, last) = zion_proxy::window_seconds(end, length);
        let query = TrafficQuery {
            service: &id.service,
            environment: &id.environment,
            version: Some(version),
            first_second: first.saturating_sub(OTHERS_BEHIND),
            last_second: last.saturating_sub(OTHERS_BEHIND),
            excluding_replica: &self.replica,
        };
        match self.store.traffic(&query) {
            Ok(rows) => rows
                .into_iter()
                .map(|b| SecondBucket {
                    version: b.version,
                    second: b.second + OTHERS_BEHIND,
                    requests: b.requests,
                    errors: b.errors,
                    latency: b.latency,
                })
                .collect(),
            Err(e) => {
                tracing::warn!(target = %id, version, error = %e, "could not read the other replicas' traffic; this window holds this replica's alone");
                Vec::new()
            }
        }
    }
}

/// A target's traffic as its analysis reads it: this replica's metrics,
/// plus the other replicas' when the data plane is shared.
#[derive(Clone)]
pub struct TargetTraffic {
    pub(crate) id: TargetId,
    pub(crate) metrics: Arc<TrafficMetrics>,
    pub(crate) plane: Option<Arc<DataPlane>>,
}

impl TargetTraffic {
    /// What `version` did over the `length` before `end` on every replica
    /// (see [`TrafficMetrics::window`]; the others' buckets are added).
    pub fn window(&self, version: &str, end: SystemTime, length: Duration) -> WindowMetrics {
        match &self.plane {
            Some(plane) => {
                let others = plane.others(&self.id, version, end, length);
                self.metrics.window_with(version, end, length, &others)
            }
            None => self.metrics.window(version, end, length),
        }
    }

    /// The samples of `version` for the statistical judge over the same
    /// window as [`Self::window`], on every replica.
    pub fn samples(&self, version: &str, end: SystemTime, length: Duration) -> Samples {
        match &self.plane {
            Some(plane) => {
                let others = plane.others(&self.id, version, end, length);
                self.metrics.samples_with(version, end, length, &others)
            }
            None => self.metrics.samples(version, end, length),
        }
    }

    /// This replica's own metrics of the target.
    pub fn local(&self) -> &TrafficMetrics {
        &self.metrics
    }
}

/// Follows the published routes until `shutdown`: every
/// [`FOLLOW_EVERY`], or at once when `wake` is notified (a database
/// notification that a route changed).
pub async fn follow_routes<T: AsRef<Targets> + Send + Sync + 'static>(
    host: Arc<T>,
    owned: Owned,
    wake: Arc<Notify>,
    mut shutdown: watch::Receiver<bool>,
) {
    let targets: &Targets = (*host).as_ref();
    // With SQLite this replica is the only one: nothing to follow.
    let Some(plane) = targets.data_plane().filter(|p| p.shared) else {
        return;
    };
    loop {
        plane.apply_published(targets, &owned).await;
        tokio::select! {
            _ = tokio::time::sleep(FOLLOW_EVERY) => {}
            _ = wake.notified() => {}
            _ = shutdown.changed() => return,
        }
        if *shutdown.borrow() {
            return;
        }
    }
}

/// Sends this replica's traffic every [`FLUSH_EVERY`] until `shutdown`
/// (returns at once when the store is not shared).
pub async fn flush_traffic<T: AsRef<Targets> + Send + Sync + 'static>(
    host: Arc<T>,
    shutdown: watch::Receiver<bool>,
) {
    let targets: &Targets = (*host).as_ref();
    let Some(plane) = targets.data_plane().filter(|p| p.shared) else {
        return;
    };
    let mut ticker = Ticker::new(FLUSH_EVERY, shutdown);
    while ticker.tick().await {
        let metrics = targets.all_metrics().await;
        plane.flush(&metrics, SystemTime::now());
    }
}

impl AsRef<Targets> for App {
    fn as_ref(&self) -> &Targets {
        &self.targets
    }
}

impl AsRef<Targets> for Targets {
    fn as_ref(&self) -> &Targets {
        self
    }
}

fn unix_secs(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// A route as published: the proxy's [`Route`], every field.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct StoredRoute {
    stable: Option<StoredPool>,
    canary: Option<StoredPool>,
    canary_weight: u8,
    matches: Vec<MatchRule>,
    sticky: bool,
    mirror_percent: u8,
    response_timeout_ms: u64,
    /// Absent from routes published before it existed: HTTP/1.1.
    #[serde(default, skip_serializing_if = "UpstreamProtocol::is_http1")]
    upstream_protocol: UpstreamProtocol,
    /// Absent from routes published before it existed: the default.
    #[serde(default)]
    connect_timeout_ms: Option<u64>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct StoredPool {
    version: String,
    endpoints: Vec<SocketAddr>,
}

fn encode_route(route: &Route) -> String {
    let pool = |p: &Option<Pool>| {
        p.as_ref().map(|p| StoredPool {
            version: p.version.clone(),
            endpoints: p.endpoints.clone(),
        })
    };
    let stored = StoredRoute {
        stable: pool(&route.stable),
        canary: pool(&route.canary),
        canary_weight: route.canary_weight,
        matches: route.matches.clone(),
        sticky: route.sticky,
        mirror_percent: route.mirror_percent,
        response_timeout_ms: u64::try_from(route.response_timeout.as_millis()).unwrap_or(u64::MAX),
        upstream_protocol: route.upstream_protocol,
        connect_timeout_ms: Some(
            u64::try_from(route.connect_timeout.as_millis()).unwrap_or(u64::MAX),
        ),
    };
    serde_json::to_string(&stored).expect("a route always serializes")
}

fn decode_route(text: &str) -> Result<Route, String> {
    let stored: StoredRoute = serde_json::from_str(text).map_err(|e| e.to_string())?;
    let pool = |p: Option<StoredPool>| p.map(|p| Pool::new(p.version, p.endpoints));
    Ok(Route {
        stable: pool(stored.stable),
        canary: pool(stored.canary),
        canary_weight: stored.canary_weight,
        matches: stored.matches,
        sticky: stored.sticky,
        mirror_percent: stored.mirror_percent,
        response_timeout: Duration::from_millis(stored.response_timeout_ms),
        upstream_protocol: stored.upstream_protocol,
        connect_timeout: stored
            .connect_timeout_ms
            .map_or(zion_proxy::DEFAULT_CONNECT_TIMEOUT, Duration::from_millis),
    })
}

#[cfg(test)]
mod tests;
