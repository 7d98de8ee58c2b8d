//! Simulated workloads and traffic, for benchmarks only (the `simulated`
//! feature, off by default): versions that exist in memory instead of as
//! processes, and requests recorded straight into each target's
//! `TrafficMetrics` instead of through a listener. They let one process
//! stand for thousands of targets, so that a benchmark measures the
//! controller, the core, the store and the journal, which all run as they
//! do in `zion up`: only what the controller observes is simulated, never
//! what it decides.
//!
//! A simulated version is ready `ready_after` its start, always healthy,
//! and answers every request it is sent in `latency` to 110% of it,
//! without errors. Traffic goes only through targets whose route has a
//! canary (the others' traffic is read by no decision): `requests_per_second`
//! per target, split by the route's weight (its rules, stickiness and
//! mirroring are not simulated).

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use tokio::sync::watch;
use zion_providers::{ReplicaState, ReplicaStatus, VersionKey, VersionStatus};
use zion_proxy::{Route, TrafficMetrics};
use zion_store::RouteListener;

use crate::targets::TargetId;

/// How the simulated versions behave and how much traffic they get.
#[derive(Debug, Clone)]
pub struct Simulation {
    /// Requests per second through each target with a canary.
    pub requests_per_second: u32,
    /// The fastest answer; each is up to 10% slower.
    pub latency: Duration,
    /// How long a started version takes to be ready.
    pub ready_after: Duration,
}

impl Default for Simulation {
    fn default() -> Self {
        Simulation {
            requests_per_second: 20,
            latency: Duration::from_millis(20),
            ready_after: Duration::ZERO,
        }
    }
}

/// How often the simulated traffic is recorded.
const TRAFFIC_TICK: Duration = Duration::from_millis(100);

/// The versions of one replica of `zion up`, in memory; cheap to clone.
#[derive(Clone)]
pub struct SimulatedWorkloads {
    inner: Arc<Inner>,
}

struct Inner {
    sim: Simulation,
    versions: Mutex<BTreeMap<VersionKey, Started>>,
    /// Each bound target's metrics and its main listener's route.
    targets: Mutex<BTreeMap<TargetId, Front>>,
}

struct Started {
    desired: u32,
    at: Instant,
}

struct Front {
    metrics: Arc<TrafficMetrics>,
    route: Option<Route>,
    /// Requests sent so far: the split by weight and the latencies follow it.
    sent: u64,
    /// The fraction of a request owed from the previous tick.
    owed: f64,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl SimulatedWorkloads {
    pub fn new(sim: Simulation) -> Self {
        SimulatedWorkloads {
            inner: Arc::new(Inner {
                sim,
                versions: Mutex::new(BTreeMap::new()),
                targets: Mutex::new(BTreeMap::new()),
            }),
        }
    }

    pub(crate) fn ensure(&self, key: &VersionKey, replicas: u32) {
        let mut versions = lock(&self.inner.versions);
        if replicas == 0 {
            versions.remove(key);
            return;
        }
        versions
            .entry(key.clone())
            .or_insert(Started {
                desired: replicas,
                at: Instant::now(),
            })
            .desired = replicas;
    }

    pub(crate) fn stop(&self, key: &VersionKey) {
        lock(&self.inner.versions).remove(key);
    }

    pub(crate) fn stop_all(&self) {
        lock(&self.inner.versions).clear();
    }

    pub(crate) fn lower_desired(&self, key: &VersionKey, replicas: u32) -> bool {
        match lock(&self.inner.versions).get_mut(key) {
            Some(v) if v.desired > replicas => {
                v.desired = replicas;
                true
            }
            _ => false,
        }
    }

    fn ready(&self, started: &Started) -> u32 {
        if started.at.elapsed() >= self.inner.sim.ready_after {
            started.desired
        } else {
            0
        }
    }

    pub(crate) fn status(&self, key: &VersionKey) -> Option<VersionStatus> {
        let versions = lock(&self.inner.versions);
        let started = versions.get(key)?;
        let ready = self.ready(started);
        let replicas = (0..started.desired)
            .map(|index| ReplicaStatus {
                index,
                port: endpoint(index).port(),
                // The replica "runs" inside this process.
                pid: Some(std::process::id()),
                healthy: index < ready,
                restarts: 0,
                state: if index < ready {
                    ReplicaState::Running
                } else {
                    ReplicaState::Starting
                },
                last_error: None,
                output: Vec::new(),
                exits_before_ready: 0,
                adopted: false,
            })
            .collect();
        Some(VersionStatus {
            desired: started.desired,
            ready,
            healthy_endpoints: (0..ready).map(endpoint).collect(),
            consecutive_probe_failures: 0,
            ever_ready: ready == started.desired,
            exits_before_ready: 0,
            cpu_percent: None,
            memory_mb: None,
            replicas,
        })
    }

    pub(crate) fn health_share(&self, key: &VersionKey) -> Option<f64> {
        let versions = lock(&self.inner.versions);
        let started = versions.get(key)?;
        (self.ready(started) > 0).then_some(1.0)
    }

    pub(crate) fn running(&self) -> Vec<VersionKey> {
        lock(&self.inner.versions).keys().cloned().collect()
    }

    pub(crate) fn running_in(&self, service: &str, environment: &str) -> Vec<VersionKey> {
        running_in(&lock(&self.inner.versions), service, environment)
    }

    pub(crate) fn release_target(&self, service: &str, environment: &str) -> usize {
        let mut versions = lock(&self.inner.versions);
        let gone = running_in(&versions, service, environment);
        for k in &gone {
            versions.remove(k);
        }
        gone.len()
    }

    /// A target is bound: its traffic is recorded into `metrics`.
    pub(crate) fn bind(&self, id: TargetId, metrics: Arc<TrafficMetrics>) {
        lock(&self.inner.targets).insert(
            id,
            Front {
                metrics,
                route: None,
                sent: 0,
                owed: 0.0,
            },
        );
    }

    /// A target is no longer bound.
    pub(crate) fn unbind(&self, id: &TargetId) {
        lock(&self.inner.targets).remove(id);
    }

    /// Sets a listener's route; false when the target is not bound. Only
    /// the main listener's gets traffic.
    pub(crate) fn set_route(&self, id: &TargetId, listener: RouteListener, route: Route) -> bool {
        let mut targets = lock(&self.inner.targets);
        let Some(front) = targets.get_mut(id) else {
            return false;
        };
        if listener == RouteListener::Main {
            front.route = Some(route);
        }
        true
    }

    /// Records one tick's requests through every target with a canary.
    fn send(&self, elapsed: Duration, at: SystemTime) {
        let sim = &self.inner.sim;
        let per_target = f64::from(sim.requests_per_second) * elapsed.as_secs_f64();
        let mut targets = lock(&self.inner.targets);
        for front in targets.values_mut() {
            let Some(route) = &front.route else { continue };
            let serving = |pool: &Option<zion_proxy::Pool>| {
                pool.as_ref()
                    .filter(|p| !p.endpoints.is_empty())
                    .map(|p| p.version.clone())
            };
            let (Some(canary), stable) = (serving(&route.canary), serving(&route.stable)) else {
                continue;
            };
            let weight = u64::from(route.canary_weight.min(100));
            let due = per_target + front.owed;
            let n = due.floor() as u64;
            front.owed = due - n as f64;
            for _ in 0..n {
                front.sent += 1;
                let to_canary = stable.is_none() || (front.sent * 37) % 100 < weight;
                let version = if to_canary {
                    &canary
                } else {
                    stable.as_ref().unwrap_or(&canary)
                };
                // Up to 10% slower than the fastest, spread evenly.
                let slower = sim
                    .latency
                    .mul_f64(f64::from((front.sent % 11) as u32) / 100.0);
                front
                    .metrics
                    .record(version, false, sim.latency + slower, at);
            }
        }
    }
}

/// The target's versions, in version order.
fn running_in(
    versions: &BTreeMap<VersionKey, Started>,
    service: &str,
    environment: &str,
) -> Vec<VersionKey> {
    versions
        .range(VersionKey::new(service, environment, "")..)
        .map(|(k, _)| k)
        .take_while(|k| k.service == service && k.environment == environment)
        .cloned()
        .collect()
}

/// Where a simulated replica "listens": an address of the documentation
/// range (RFC 5737), which nothing serves; no request is ever sent there.
fn endpoint(index: u32) -> SocketAddr {
    let port = u16::try_from(index + 1).unwrap_or(u16::MAX);
    SocketAddr::new(Ipv4Addr::new(192, 0, 2, 1).into(), port)
}

/// Records the simulated traffic every [`TRAFFIC_TICK`] until `shutdown`.
pub(crate) async fn send_traffic(sim: SimulatedWorkloads, mut shutdown: watch::Receiver<bool>) {
    let mut last = Instant::now();
    loop {
        tokio::select! {
            _ = tokio::time::sleep(TRAFFIC_TICK) => {}
            _ = shutdown.changed() => return,
        }
        if *shutdown.borrow() {
            return;
        }
        let now = Instant::now();
        sim.send(now - last, SystemTime::now());
        last = now;
    }
}

#[cfg(test)]
mod tests {
    use zion_proxy::Pool;

    use super::*;

    fn pool(version: &str) -> Option<Pool> {
        Some(Pool::new(version, vec![endpoint(0)]))
    }

    #[test]
    fn a_started_version_is_ready_and_healthy_and_a_stopped_one_gone() {
        let w = SimulatedWorkloads::new(Simulation::default());
        let key = VersionKey::new("web", "staging", "1.0");
        assert!(w.status(&key).is_none());
        w.ensure(&key, 2);
        let st = w.status(&key).unwrap();
        assert_eq!(
            (st.desired, st.ready, st.healthy_endpoints.len()),
            (2, 2, 2)
        );
        assert_eq!(w.health_share(&key), Some(1.0));
        assert_eq!(w.running_in("web", "staging"), vec![key.clone()]);
        assert!(w.running_in("web", "production").is_empty());
        assert!(w.lower_desired(&key, 1));
        assert!(!w.lower_desired(&key, 1));
        w.stop(&key);
        assert!(w.status(&key).is_none());
    }

    #[test]
    fn traffic_goes_through_targets_with_a_canary_split_by_weight() {
        let sim = Simulation {
            requests_per_second: 1000,
            ..Simulation::default()
        };
        let w = SimulatedWorkloads::new(sim);
        let (with, without) = (TargetId::new("a", "s"), TargetId::new("b", "s"));
        let (m1, m2) = (
            Arc::new(TrafficMetrics::new()),
            Arc::new(TrafficMetrics::new()),
        );
        w.bind(with.clone(), m1.clone());
        w.bind(without.clone(), m2.clone());
        let split = Route {
            stable: pool("1.0"),
            canary: pool("2.0"),
            canary_weight: 20,
            ..Route::default()
        };
        assert!(w.set_route(&with, RouteListener::Main, split));
        let stable_only = Route::stable_only(Pool::new("1.0", vec![endpoint(0)]));
        assert!(w.set_route(&without, RouteListener::Main, stable_only));
        w.send(Duration::from_secs(1), SystemTime::now());
        assert_eq!(m1.totals("2.0"), (200, 0));
        assert_eq!(m1.totals("1.0"), (800, 0));
        assert_eq!(m2.totals("1.0"), (0, 0));
        w.unbind(&with);
        assert!(!w.set_route(&with, RouteListener::Main, Route::default()));
    }
}
