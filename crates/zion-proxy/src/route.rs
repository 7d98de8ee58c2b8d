//! Where a target's traffic goes: the route the controller sets and the
//! compiled form the request path reads.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

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

/// How one target splits its traffic. The default routes nothing (every
/// request is answered 503).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Route {
    pub stable: Option<Pool>,
    pub canary: Option<Pool>,
    /// Percent of requests sent to the canary, 0..=100 (larger values count as 100).
    pub canary_weight: u8,
}

impl Route {
    /// All traffic to one pool.
    pub fn stable_only(stable: Pool) -> Self {
        Route {
            stable: Some(stable),
            canary: None,
            canary_weight: 0,
        }
    }

    /// `canary_weight` percent to `canary`, the rest to `stable`.
    pub fn split(stable: Pool, canary: Pool, canary_weight: u8) -> Self {
        Route {
            stable: Some(stable),
            canary: Some(canary),
            canary_weight,
        }
    }
}

/// A pool made ready for the request path: the version shared cheaply and
/// each endpoint turned into what the forwarding side needs (`E`).
#[derive(Debug)]
pub(crate) struct Upstreams<E> {
    pub(crate) version: Arc<str>,
    endpoints: Vec<E>,
}

impl<E> Upstreams<E> {
    /// None for an absent pool or one without endpoints: both mean "cannot serve".
    fn compile(pool: Option<&Pool>, make: &mut impl FnMut(SocketAddr) -> E) -> Option<Self> {
        let pool = pool?;
        if pool.endpoints.is_empty() {
            return None;
        }
        Some(Upstreams {
            version: Arc::from(pool.version.as_str()),
            endpoints: pool.endpoints.iter().map(|addr| make(*addr)).collect(),
        })
    }
}

/// The route as set by the controller plus its compiled pools.
#[derive(Debug)]
pub(crate) struct Table<E> {
    pub(crate) route: Arc<Route>,
    stable: Option<Upstreams<E>>,
    canary: Option<Upstreams<E>>,
    weight: u64,
}

impl<E> Table<E> {
    /// Compiles `route`, turning each endpoint address into an `E` with `make`.
    pub(crate) fn new(route: Route, mut make: impl FnMut(SocketAddr) -> E) -> Self {
        Table {
            stable: Upstreams::compile(route.stable.as_ref(), &mut make),
            canary: Upstreams::compile(route.canary.as_ref(), &mut make),
            weight: u64::from(route.canary_weight.min(100)),
            route: Arc::new(route),
        }
    }
}

/// The counters behind the split and the round robin. They live beside the
/// route rather than in it so a route change does not restart the interleave
/// (which would skew the split when weights change often).
#[derive(Debug, Default)]
pub(crate) struct Picker {
    split: AtomicU64,
    stable_rr: AtomicUsize,
    canary_rr: AtomicUsize,
}

impl Picker {
    /// The pool and endpoint for the next request, None when nothing can serve it.
    pub(crate) fn pick<'t, E>(&self, table: &'t Table<E>) -> Option<(&'t Upstreams<E>, &'t E)> {
        let to_canary = match (&table.stable, &table.canary) {
            (None, None) => return None,
            (Some(_), None) => false,
            (None, Some(_)) => true,
            (Some(_), Some(_)) => {
                canary_turn(self.split.fetch_add(1, Ordering::Relaxed), table.weight)
            }
        };
        let (pool, rr) = if to_canary {
            (table.canary.as_ref()?, &self.canary_rr)
        } else {
            (table.stable.as_ref()?, &self.stable_rr)
        };
        let n = rr.fetch_add(1, Ordering::Relaxed);
        Some((pool, &pool.endpoints[n % pool.endpoints.len()]))
    }
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
            assert_eq!(&*picker.pick(&table).unwrap().0.version, "b");
        }
    }

    #[test]
    fn round_robin_within_pool() {
        let table = compile(Route::stable_only(pool("a", &[1, 2, 3])));
        let picker = Picker::default();
        let ports: Vec<u16> = (0..6)
            .map(|_| picker.pick(&table).unwrap().1.port())
            .collect();
        assert_eq!(ports, vec![1, 2, 3, 1, 2, 3]);
    }

    #[test]
    fn empty_pool_falls_back_to_other() {
        let picker = Picker::default();
        let table = compile(Route::split(pool("a", &[1]), pool("b", &[]), 100));
        assert_eq!(&*picker.pick(&table).unwrap().0.version, "a");
        let table = compile(Route {
            stable: None,
            canary: Some(pool("b", &[2])),
            canary_weight: 0,
        });
        assert_eq!(&*picker.pick(&table).unwrap().0.version, "b");
    }

    #[test]
    fn nothing_routed_picks_nothing() {
        let picker = Picker::default();
        assert!(picker.pick(&compile(Route::default())).is_none());
        let table = compile(Route::split(pool("a", &[]), pool("b", &[]), 50));
        assert!(picker.pick(&table).is_none());
    }
}
