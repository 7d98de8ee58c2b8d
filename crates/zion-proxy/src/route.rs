//! Where a target's traffic goes: the route the controller sets, the
//! compiled form the request path reads, and the choice of pool per request
//! (match rules, sticky cookie, weighted split, mirror share).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use http::header::HeaderValue;
use tracing::warn;
use zion_core::spec::{MatchRule, UpstreamProtocol};

use crate::metrics::{TrafficMetrics, VersionMetrics};
use crate::rules::{self, Fields, Rule, STICKY_COOKIE};

/// The healthy replicas of one version.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Pool {
    /// The version these replicas run; metrics are recorded under it.
    pub version: String,
    /// Replica addresses, taken in round robin.
    pub endpoints: Vec<SocketAddr>,
}

impl Pool {
    /// A pool of `version` served by `endpoints`.
    pub fn new(version: impl Into<String>, endpoints: Vec<SocketAddr>) -> Self {
        Pool {
            version: version.into(),
            endpoints,
        }
    }
}

/// How long a replica may take to send its response head when a route does
/// not say: nginx's `proxy_read_timeout` is 60 s; a version that keeps its
/// users waiting half a minute is failing them.
pub const DEFAULT_RESPONSE_TIMEOUT: Duration = Duration::from_secs(30);

/// How long a replica may take to accept a connection when a route does
/// not say: then the client gets a 504 and the version an error.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// How one target splits its traffic. The default routes nothing (every
/// request is answered 503).
///
/// A request goes, in this order: to the canary if it matches any of
/// `matches`; on a `sticky` route, to the version its `zion_version` cookie
/// names (if that version is one of the two pools); else by the weighted
/// split. `..Route::default()` fills the fields a caller does not use.
#[derive(Debug, Clone, PartialEq)]
pub struct Route {
    pub stable: Option<Pool>,
    pub canary: Option<Pool>,
    /// Percent of requests sent to the canary, 0..=100 (larger values count as 100).
    pub canary_weight: u8,
    /// Requests matching any of these go to the canary whatever the weight
    /// (weight 0 with rules: only matching requests reach the canary).
    pub matches: Vec<MatchRule>,
    /// Keep each client on the version the split first gave it, with a
    /// `zion_version` cookie; applies while both pools can serve.
    pub sticky: bool,
    /// Percent of stable-served requests also copied to the canary, whose
    /// answers are measured and thrown away, 0..=100 (larger values count as 100).
    pub mirror_percent: u8,
    /// How long a replica may take to answer (its response head): then the
    /// client gets a 504 and the version an error.
    pub response_timeout: Duration,
    /// How requests go to the replicas: HTTP/1.1 (pooled keep-alive
    /// connections) or h2c (one multiplexed HTTP/2 connection per replica).
    pub upstream_protocol: UpstreamProtocol,
    /// How long a replica may take to accept a connection.
    pub connect_timeout: Duration,
}

impl Default for Route {
    fn default() -> Self {
        Route {
            stable: None,
            canary: None,
            canary_weight: 0,
            matches: Vec::new(),
            sticky: false,
            mirror_percent: 0,
            response_timeout: DEFAULT_RESPONSE_TIMEOUT,
            upstream_protocol: UpstreamProtocol::Http1,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
        }
    }
}

impl Route {
    /// All traffic to one pool.
    pub fn stable_only(stable: Pool) -> Self {
        Route {
            stable: Some(stable),
            ..Route::default()
        }
    }

    /// `canary_weight` percent to `canary`, the rest to `stable`.
    pub fn split(stable: Pool, canary: Pool, canary_weight: u8) -> Self {
        Route {
            stable: Some(stable),
            canary: Some(canary),
            canary_weight,
            ..Route::default()
        }
    }

    /// This route with `matches` sending matching requests to the canary.
    pub fn with_matches(mut self, matches: Vec<MatchRule>) -> Self {
        self.matches = matches;
        self
    }

    /// This route with sticky sessions on or off.
    pub fn with_sticky(mut self, sticky: bool) -> Self {
        self.sticky = sticky;
        self
    }

    /// This route copying `mirror_percent` percent of stable's requests to the canary.
    pub fn with_mirror(mut self, mirror_percent: u8) -> Self {
        self.mirror_percent = mirror_percent;
        self
    }

    /// This route speaking `protocol` to the replicas.
    pub fn with_upstream_protocol(mut self, protocol: UpstreamProtocol) -> Self {
        self.upstream_protocol = protocol;
        self
    }

    /// This route giving replicas `timeout` to accept a connection.
    pub fn with_connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// This route giving replicas `timeout` to answer.
    pub fn with_response_timeout(mut self, timeout: Duration) -> Self {
        self.response_timeout = timeout;
        self
    }
}

/// A pool made ready for the request path: the version shared cheaply and
/// each endpoint turned into what the forwarding side needs (`E`).
#[derive(Debug)]
pub(crate) struct Upstreams<E> {
    pub(crate) version: Arc<str>,
    /// The `Set-Cookie` value pinning a client to this version; None when
    /// the version cannot be put in a cookie.
    cookie: Option<HeaderValue>,
    endpoints: Vec<E>,
    /// The version's metrics, resolved at the pool's first request (not
    /// before: a version shows in the metrics once it served).
    metrics: OnceLock<VersionMetrics>,
}

impl<E> Upstreams<E> {
    /// The metrics this pool's requests count in, among `all`.
    pub(crate) fn metrics(&self, all: &TrafficMetrics) -> &VersionMetrics {
        self.metrics.get_or_init(|| all.version(&self.version))
    }

    /// An endpoint other than the one `is_failed` picks out (the one after
    /// it, so retries spread), for trying a request again elsewhere; None
    /// when the pool has no other.
    pub(crate) fn other_than(&self, is_failed: impl Fn(&E) -> bool) -> Option<&E> {
        let n = self.endpoints.len();
        let start = self
            .endpoints
            .iter()
            .position(&is_failed)
            .map_or(0, |i| i + 1);
        (0..n)
            .map(|k| &self.endpoints[(start + k) % n])
            .find(|e| !is_failed(e))
    }

    /// None for an absent pool or one without endpoints: both mean "cannot serve".
    fn compile(pool: Option<&Pool>, make: &mut impl FnMut(SocketAddr) -> E) -> Option<Self> {
        let pool = pool?;
        if pool.endpoints.is_empty() {
            return None;
        }
        Some(Upstreams {
            version: Arc::from(pool.version.as_str()),
            cookie: rules::sticky_cookie(&pool.version),
            endpoints: pool.endpoints.iter().map(|addr| make(*addr)).collect(),
            metrics: OnceLock::new(),
        })
    }
}

/// The route as set by the controller plus its compiled pools and rules.
#[derive(Debug)]
pub(crate) struct Table<E> {
    pub(crate) route: Arc<Route>,
    stable: Option<Upstreams<E>>,
    canary: Option<Upstreams<E>>,
    weight: u64,
    rules: Vec<Rule>,
    /// Sticky and able to be: both pools serve and both versions fit a cookie.
    sticky: bool,
    mirror: u64,
}

impl<E> Table<E> {
    /// Whether some requests are copied to the canary (mirroring).
    pub(crate) fn mirrors(&self) -> bool {
        self.mirror > 0
    }

    /// The pool serving `version`, if the route has one.
    pub(crate) fn pool_of(&self, version: &str) -> Option<&Upstreams<E>> {
        [&self.stable, &self.canary]
            .into_iter()
            .flatten()
            .find(|pool| &*pool.version == version)
    }

    /// Compiles `route`, turning each endpoint address into an `E` with `make`.
    pub(crate) fn new(route: Route, mut make: impl FnMut(SocketAddr) -> E) -> Self {
        let stable = Upstreams::compile(route.stable.as_ref(), &mut make);
        let canary = Upstreams::compile(route.canary.as_ref(), &mut make);
        let sticky = route.sticky
            && match (&stable, &canary) {
                (Some(s), Some(c)) => {
                    let fits = s.cookie.is_some() && c.cookie.is_some();
                    if !fits {
                        warn!(
                            stable = %s.version,
                            canary = %c.version,
                            "sticky sessions off: a version holds characters a cookie cannot carry"
                        );
                    }
                    fits
                }
                _ => false,
            };
        Table {
            stable,
            canary,
            weight: u64::from(route.canary_weight.min(100)),
            rules: rules::compile_all(&route.matches),
            sticky,
            mirror: u64::from(route.mirror_percent.min(100)),
            route: Arc::new(route),
        }
    }
}

/// Where one request goes.
#[derive(Debug)]
pub(crate) struct Pick<'t, E> {
    pub(crate) pool: &'t Upstreams<E>,
    pub(crate) endpoint: &'t E,
    /// Whether the stable pool serves it (only those are mirrored).
    pub(crate) stable: bool,
    /// The cookie to send back: the split just assigned this client on a
    /// sticky route.
    pub(crate) set_cookie: Option<&'t HeaderValue>,
}

/// The counters behind the split, the mirror share and the round robin.
/// They live beside the route rather than in it so a route change does not
/// restart the interleave (which would skew the split when weights change
/// often).
#[derive(Debug, Default)]
pub(crate) struct Picker {
    split: AtomicU64,
    mirror: AtomicU64,
    stable_rr: AtomicUsize,
    canary_rr: AtomicUsize,
}

impl Picker {
    /// The pool and endpoint for the next request, whose fields are
    /// `headers`; None when nothing can serve it.
    pub(crate) fn pick<'t, E, F: Fields + ?Sized>(
        &self,
        table: &'t Table<E>,
        headers: &F,
    ) -> Option<Pick<'t, E>> {
        let (to_canary, assigned) = match (&table.stable, &table.canary) {
            (None, None) => return None,
            (Some(_), None) => (false, false),
            (None, Some(_)) => (true, false),
            (Some(stable), Some(canary)) => {
                if table.rules.iter().any(|rule| rule.matches(headers)) {
                    (true, false)
                } else if let Some(to_canary) = table
                    .sticky
                    .then(|| pinned(headers, stable, canary))
                    .flatten()
                {
                    (to_canary, false)
                } else {
                    // Only requests the split decides advance it, so it stays
                    // exact over them whatever the rules and cookies take.
                    let n = self.split.fetch_add(1, Ordering::Relaxed);
                    (canary_turn(n, table.weight), table.sticky)
                }
            }
        };
        let (pool, rr) = if to_canary {
            (table.canary.as_ref()?, &self.canary_rr)
        } else {
            (table.stable.as_ref()?, &self.stable_rr)
        };
        let n = rr.fetch_add(1, Ordering::Relaxed);
        Some(Pick {
            pool,
            endpoint: &pool.endpoints[n % pool.endpoints.len()],
            stable: !to_canary,
            set_cookie: if assigned { pool.cookie.as_ref() } else { None },
        })
    }

    /// For a request the stable pool serves: the canary pool and endpoint a
    /// copy of it goes to, when it is its turn to be mirrored.
    pub(crate) fn mirror<'t, E>(&self, table: &'t Table<E>) -> Option<(&'t Upstreams<E>, &'t E)> {
        if table.mirror == 0 || table.stable.is_none() {
            return None;
        }
        let canary = table.canary.as_ref()?;
        if !canary_turn(self.mirror.fetch_add(1, Ordering::Relaxed), table.mirror) {
            return None;
        }
        let n = self.canary_rr.fetch_add(1, Ordering::Relaxed);
        Some((canary, &canary.endpoints[n % canary.endpoints.len()]))
    }
}

/// Whether the client's sticky cookie sends it to the canary (Some(true)) or
/// to stable (Some(false)); None without a cookie naming either version.
fn pinned<E, F: Fields + ?Sized>(
    headers: &F,
    stable: &Upstreams<E>,
    canary: &Upstreams<E>,
) -> Option<bool> {
    rules::cookies(headers, STICKY_COOKIE.as_bytes()).find_map(|v| {
        if v == stable.version.as_bytes() {
            Some(false)
        } else if v == canary.version.as_bytes() {
            Some(true)
        } else {
            None
        }
    })
}

/// Whether request number `n` goes to the canary at `weight` percent.
///
/// A deterministic interleave rather than a random draw: within every 100
/// consecutive requests exactly `weight` go to the canary, spread evenly, so a
/// 5% canary sees its share even over a short analysis window.
fn canary_turn(n: u64, weight: u64) -> bool {
    let k = n % 100;
    (k + 1) * weight / 100 > k * weight / 100
}

#[cfg(test)]
mod tests {
    use http::HeaderMap;

    use super::*;

    fn compile(route: Route) -> Table<SocketAddr> {
        Table::new(route, |addr| addr)
    }

    fn pool(version: &str, ports: &[u16]) -> Pool {
        Pool::new(
            version,
            ports
                .iter()
                .map(|p| SocketAddr::from(([127, 0, 0, 1], *p)))
                .collect(),
        )
    }

    #[test]
    fn interleave_gives_exact_share_per_hundred() {
        for weight in 0..=100u64 {
            let hits = (0..100).filter(|n| canary_turn(*n, weight)).count() as u64;
            assert_eq!(hits, weight, "weight {weight}");
            // Any 100 consecutive requests, not only aligned ones.
            let hits = (37..137).filter(|n| canary_turn(*n, weight)).count() as u64;
            assert_eq!(hits, weight, "weight {weight} unaligned");
        }
    }

    #[test]
    fn interleave_spreads_small_weights() {
        let turns: Vec<u64> = (0..100).filter(|n| canary_turn(*n, 5)).collect();
        assert_eq!(turns, vec![19, 39, 59, 79, 99]);
    }

    #[test]
    fn weight_above_hundred_counts_as_hundred() {
        let table = compile(Route::split(pool("a", &[1]), pool("b", &[2]), 250));
        let picker = Picker::default();
        for _ in 0..10 {
            assert_eq!(
                &*picker.pick(&table, &HeaderMap::new()).unwrap().pool.version,
                "b"
            );
        }
    }

    #[test]
    fn round_robin_within_pool() {
        let table = compile(Route::stable_only(pool("a", &[1, 2, 3])));
        let picker = Picker::default();
        let ports: Vec<u16> = (0..6)
            .map(|_| {
                picker
                    .pick(&table, &HeaderMap::new())
                    .unwrap()
                    .endpoint
                    .port()
            })
            .collect();
        assert_eq!(ports, vec![1, 2, 3, 1, 2, 3]);
    }

    #[test]
    fn empty_pool_falls_back_to_other() {
        let picker = Picker::default();
        let table = compile(Route::split(pool("a", &[1]), pool("b", &[]), 100));
        assert_eq!(
            &*picker.pick(&table, &HeaderMap::new()).unwrap().pool.version,
            "a"
        );
        let table = compile(Route {
            stable: None,
            canary: Some(pool("b", &[2])),
            canary_weight: 0,
            ..Route::default()
        });
        assert_eq!(
            &*picker.pick(&table, &HeaderMap::new()).unwrap().pool.version,
            "b"
        );
    }

    #[test]
    fn nothing_routed_picks_nothing() {
        let picker = Picker::default();
        assert!(
            picker
                .pick(&compile(Route::default()), &HeaderMap::new())
                .is_none()
        );
        let table = compile(Route::split(pool("a", &[]), pool("b", &[]), 50));
        assert!(picker.pick(&table, &HeaderMap::new()).is_none());
    }

    fn with(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                http::header::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        h
    }

    fn team_blue() -> Vec<MatchRule> {
        vec![MatchRule::HeaderEquals {
            name: "x-team".into(),
            value: "blue".into(),
        }]
    }

    #[test]
    fn matching_requests_go_to_canary_without_moving_the_split() {
        let table =
            compile(Route::split(pool("a", &[1]), pool("b", &[2]), 5).with_matches(team_blue()));
        let picker = Picker::default();
        let blue = with(&[("x-team", "blue")]);
        let mut canary = 0;
        for i in 0..200 {
            // Every other request matches; the other 100 see exactly 5%.
            let headers = if i % 2 == 0 { &blue } else { &HeaderMap::new() };
            let pick = picker.pick(&table, headers).unwrap();
            if i % 2 == 0 {
                assert_eq!(&*pick.pool.version, "b");
            } else if !pick.stable {
                canary += 1;
            }
            assert!(pick.set_cookie.is_none(), "not sticky");
        }
        assert_eq!(canary, 5);
    }

    #[test]
    fn sticky_cookie_pins_and_fresh_clients_follow_the_split() {
        let table = compile(Route::split(pool("a", &[1]), pool("b", &[2]), 50).with_sticky(true));
        let picker = Picker::default();
        let fresh: Vec<_> = (0..4)
            .map(|_| picker.pick(&table, &HeaderMap::new()).unwrap())
            .collect();
        let versions: Vec<&str> = fresh.iter().map(|p| &*p.pool.version).collect();
        assert_eq!(versions, ["a", "b", "a", "b"]);
        assert_eq!(
            fresh[1].set_cookie.unwrap(),
            "zion_version=b; Path=/; HttpOnly; SameSite=Lax"
        );
        for _ in 0..10 {
            let pick = picker
                .pick(&table, &with(&[("cookie", "x=1; zion_version=b")]))
                .unwrap();
            assert_eq!((&*pick.pool.version, pick.set_cookie), ("b", None));
        }
        // The split resumes where it was: pinned requests did not advance it.
        assert_eq!(
            &*picker.pick(&table, &HeaderMap::new()).unwrap().pool.version,
            "a"
        );
        // A cookie naming a version not in the route is ignored: re-assigned.
        let stale = picker
            .pick(&table, &with(&[("cookie", "zion_version=old")]))
            .unwrap();
        assert_eq!(&*stale.pool.version, "b");
        assert!(stale.set_cookie.is_some());
    }

    #[test]
    fn rules_beat_stickiness() {
        let table = compile(
            Route::split(pool("a", &[1]), pool("b", &[2]), 0)
                .with_sticky(true)
                .with_matches(team_blue()),
        );
        let picker = Picker::default();
        let pick = picker
            .pick(
                &table,
                &with(&[("cookie", "zion_version=a"), ("x-team", "blue")]),
            )
            .unwrap();
        assert_eq!((&*pick.pool.version, pick.set_cookie), ("b", None));
    }

    #[test]
    fn sticky_needs_two_pools_and_cookie_safe_versions() {
        let picker = Picker::default();
        let single = compile(Route::stable_only(pool("a", &[1])).with_sticky(true));
        assert!(
            picker
                .pick(&single, &HeaderMap::new())
                .unwrap()
                .set_cookie
                .is_none()
        );
        let empty_canary =
            compile(Route::split(pool("a", &[1]), pool("b", &[]), 50).with_sticky(true));
        assert!(
            picker
                .pick(&empty_canary, &HeaderMap::new())
                .unwrap()
                .set_cookie
                .is_none()
        );
        let unsafe_version =
            compile(Route::split(pool("a", &[1]), pool("b c", &[2]), 50).with_sticky(true));
        for _ in 0..4 {
            let pick = picker.pick(&unsafe_version, &HeaderMap::new()).unwrap();
            assert!(pick.set_cookie.is_none());
        }
    }

    #[test]
    fn mirror_share_is_exact_and_needs_a_canary() {
        let table = compile(Route::split(pool("a", &[1]), pool("b", &[2, 3]), 0).with_mirror(30));
        let picker = Picker::default();
        let mirrored: Vec<u16> = (0..100)
            .filter_map(|_| picker.mirror(&table).map(|(_, e)| e.port()))
            .collect();
        assert_eq!(mirrored.len(), 30);
        // Round robin over the canary's replicas.
        assert_eq!(mirrored.iter().filter(|p| **p == 2).count(), 15);

        let off = compile(Route::split(pool("a", &[1]), pool("b", &[2]), 0));
        assert!((0..100).all(|_| picker.mirror(&off).is_none()));
        let no_canary = compile(Route::stable_only(pool("a", &[1])).with_mirror(100));
        assert!(picker.mirror(&no_canary).is_none());
        let all = compile(Route::split(pool("a", &[1]), pool("b", &[2]), 0).with_mirror(200));
        assert!((0..100).all(|_| picker.mirror(&all).is_some()));
    }
}
