//! The targets: one listener (and optionally a preview listener) per
//! service and environment, their traffic metrics, their routes, and the
//! versions being stopped. Kept in line with the spec by [`Targets::bind`],
//! on the spec's addresses or, with `zion up --targets-host`, on its ports
//! at another address. With several replicas of `zion up`, the routes and
//! windows go through the data plane (`data_plane.rs`).

use std::collections::{BTreeMap, HashSet};
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock, PoisonError, Weak};
use std::time::{Duration, SystemTime};

use zion_core::deployment::TrafficRules;
use zion_core::metrics::WindowMetrics;
use zion_core::spec::{ServiceSpec, Spec};
use zion_providers::VersionKey;
use zion_proxy::{
    ListenerSettings, Pool, Route, TargetProxy, TlsCertificate, TlsSettings, TrafficMetrics,
};
use zion_store::RouteListener;

use crate::StartError;
use crate::data_plane::{DataPlane, TargetTraffic};
use crate::haproxy::syslog::RequestLog;
use crate::routers::{ExternalRouter, RouterSettings};
use crate::workloads::Workloads;

/// (service, environment).
pub use zion_core::target::TargetId;

/// A target's running pieces.
pub struct TargetRuntime {
    /// The built-in listener's address as the spec asks for it; None for
    /// a target another router serves.
    pub listen: Option<SocketAddr>,
    /// The preview address as the spec asks for it.
    pub preview_addr: Option<SocketAddr>,
    /// The listener; None when the traffic is simulated (benchmarks).
    pub proxy: Option<TargetProxy>,
    /// The `preview` listener: only the version being rolled out, once
    /// ready (the stable one when nothing is). Its requests count in the
    /// same metrics, so analysis judges preview traffic.
    pub preview: Option<TargetProxy>,
    pub metrics: Arc<TrafficMetrics>,
    /// The HAProxy backend or nginx upstream that routes the target
    /// instead of a listener.
    pub router: Option<ExternalRouter>,
    /// The listeners' TLS (paths resolved) and limits as the spec asks.
    pub settings: ListenerSettings,
}

/// What the spec asks of one target's routing: the built-in listener and
/// preview listener, or an external router (an HAProxy backend, an nginx
/// upstream).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Wanted {
    listen: Option<SocketAddr>,
    preview: Option<SocketAddr>,
    router: Option<RouterSettings>,
    settings: ListenerSettings,
}

impl Wanted {
    fn matches(&self, rt: &TargetRuntime) -> bool {
        let router = match (&self.router, &rt.router) {
            (None, None) => true,
            (Some(settings), Some(r)) => r.is(settings),
            _ => false,
        };
        router
            && self.listen == rt.listen
            && self.preview == rt.preview_addr
            && self.settings == rt.settings
    }
}

/// Versions being stopped (a graceful stop takes time; don't restart it).
/// Shared with the tasks that finish the stops.
#[derive(Clone, Default)]
pub(crate) struct Stopping(Arc<Mutex<HashSet<VersionKey>>>);

impl Stopping {
    pub(crate) fn contains(&self, key: &VersionKey) -> bool {
        self.0.lock().expect("stopping lock").contains(key)
    }

    /// False when it was already being stopped.
    pub(crate) fn insert(&self, key: VersionKey) -> bool {
        self.0.lock().expect("stopping lock").insert(key)
    }

    pub(crate) fn remove(&self, key: &VersionKey) {
        self.0.lock().expect("stopping lock").remove(key);
    }
}

/// Every target's listeners, metrics and routes.
pub struct Targets {
    map: tokio::sync::Mutex<BTreeMap<TargetId, TargetRuntime>>,
    /// Where the routes' endpoints come from.
    workloads: Workloads,
    pub(crate) stopping: Stopping,
    /// Where every listener binds instead of the spec's address (its port
    /// kept): `zion up --targets-host`.
    host: Mutex<Option<IpAddr>>,
    /// The routes and traffic shared with the other replicas of `zion up`,
    /// once joined.
    plane: OnceLock<Arc<DataPlane>>,
    /// The spec file's folder: relative provider paths resolve against it.
    base_dir: Mutex<PathBuf>,
    /// The UDP ports receiving HAProxy request logs, shared by the targets
    /// of one provider (each of its routers holds it open).
    request_logs: Mutex<BTreeMap<SocketAddr, Weak<RequestLog>>>,
}

impl Targets {
    pub(crate) fn new(workloads: Workloads) -> Self {
        Targets {
            map: tokio::sync::Mutex::new(BTreeMap::new()),
            workloads,
            stopping: Stopping::default(),
            host: Mutex::new(None),
            plane: OnceLock::new(),
            base_dir: Mutex::new(PathBuf::new()),
            request_logs: Mutex::new(BTreeMap::new()),
        }
    }

    /// The request log received on `addr`, bound on first use.
    async fn request_log(&self, addr: SocketAddr) -> std::io::Result<Arc<RequestLog>> {
        let open = self
            .request_logs
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&addr)
            .and_then(Weak::upgrade);
        if let Some(log) = open {
            return Ok(log);
        }
        let log = RequestLog::bind(addr).await?;
        self.request_logs
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(addr, Arc::downgrade(&log));
        Ok(log)
    }

    /// The folder relative paths of the spec (an HAProxy admin socket,
    /// nginx's files) resolve against, from the next [`Targets::bind`].
    pub fn set_base_dir(&self, dir: PathBuf) {
        *self.base_dir.lock().unwrap_or_else(PoisonError::into_inner) = dir;
    }

    /// Binds every listener (and preview listener) on `host` with the
    /// spec's port, from the next [`Targets::bind`]; None: the spec's
    /// addresses. Several replicas of `zion up` on one machine each take
    /// their own address (127.0.0.1, 127.0.0.2…).
    pub fn set_host(&self, host: Option<IpAddr>) {
        *self.host.lock().unwrap_or_else(PoisonError::into_inner) = host;
    }

    /// Shares routes and traffic through `plane` from now on: the routes
    /// this replica sets are published, and windows add the other
    /// replicas' traffic. False (and nothing changed) when already joined.
    pub fn join_data_plane(&self, plane: Arc<DataPlane>) -> bool {
        self.plane.set(plane).is_ok()
    }

    /// The data plane, once joined.
    pub fn data_plane(&self) -> Option<&Arc<DataPlane>> {
        self.plane.get()
    }

    /// Binds the listeners `spec` asks for and closes the ones it no longer
    /// does (or asks for at another address).
    pub(crate) async fn bind(&self, spec: &Spec) -> Result<(), StartError> {
        let mut targets = self.map.lock().await;
        let host = *self.host.lock().unwrap_or_else(PoisonError::into_inner);
        let on_host = |addr: SocketAddr| host.map_or(addr, |ip| SocketAddr::new(ip, addr.port()));
        let base = self
            .base_dir
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        let mut wanted: BTreeMap<TargetId, Wanted> = BTreeMap::new();
        for s in &spec.services {
            for (env, t) in &s.targets {
                wanted.insert(
                    TargetId::new(&s.name, env),
                    Wanted {
                        listen: t.listen.map(on_host),
                        preview: t.preview.map(on_host),
                        router: RouterSettings::of(spec, &t.router, &base, &on_host),
                        settings: ListenerSettings {
                            tls: t.tls.as_ref().map(|tls| tls_settings(tls, &base)),
                            header_timeout: t.limits.header_timeout,
                            max_header_bytes: usize::try_from(t.limits.max_header_bytes)
                                .unwrap_or(usize::MAX),
                            max_connections: usize::try_from(t.limits.max_connections)
                                .unwrap_or(usize::MAX),
                        },
                    },
                );
            }
        }
        let gone: Vec<TargetId> = targets
            .iter()
            .filter(|(id, rt)| !wanted.get(*id).is_some_and(|w| w.matches(rt)))
            .map(|(id, _)| id.clone())
            .collect();
        for id in gone {
            if let Some(rt) = targets.remove(&id) {
                #[cfg(feature = "simulated")]
                if let Some(sim) = self.workloads.simulated() {
                    sim.unbind(&id);
                }
                if let Some(p) = rt.proxy {
                    p.shutdown().await;
                }
                if let Some(p) = rt.preview {
                    p.shutdown().await;
                }
            }
        }
        for (id, want) in wanted {
            if targets.contains_key(&id) {
                continue;
            }
            let Wanted {
                listen,
                preview: preview_addr,
                router,
                settings,
            } = want;
            let metrics = Arc::new(TrafficMetrics::new());
            if let Some(router_settings) = router {
                // No listener of Zion's: the router's own takes the
                // requests, and its statistics or request log (HAProxy)
                // or its access log (nginx) are the target's traffic.
                let log = match router_settings.syslog() {
                    Some(addr) => Some(self.request_log(addr).await.map_err(|e| {
                        StartError::Proxy {
                            service: id.service.clone(),
                            environment: id.environment.clone(),
                            addr,
                            message: format!(
                                "the UDP port receiving HAProxy's request log (the provider's \
                                 `syslog`): {e}"
                            ),
                        }
                    })?),
                    None => None,
                };
                let router = router_settings.start(&metrics, log);
                tracing::info!(service = %id.service, environment = %id.environment, router = router.engine(), "target routed by an external router");
                targets.insert(
                    id,
                    TargetRuntime {
                        listen: None,
                        preview_addr: None,
                        proxy: None,
                        preview: None,
                        metrics,
                        router: Some(router),
                        settings,
                    },
                );
                continue;
            }
            let Some(addr) = listen else {
                continue;
            };
            let bind_err = |addr: SocketAddr, e: zion_proxy::ProxyError| StartError::Proxy {
                service: id.service.clone(),
                environment: id.environment.clone(),
                addr,
                message: e.cause(),
            };
            #[cfg(feature = "simulated")]
            if let Some(sim) = self.workloads.simulated() {
                // No listener: the simulation records the target's traffic.
                sim.bind(id.clone(), metrics.clone());
                targets.insert(
                    id,
                    TargetRuntime {
                        listen: Some(addr),
                        preview_addr,
                        proxy: None,
                        preview: None,
                        metrics,
                        router: None,
                        settings,
                    },
                );
                continue;
            }
            let proxy = TargetProxy::bind_with(addr, metrics.clone(), settings.clone())
                .await
                .map_err(|e| bind_err(addr, e))?;
            let preview = match preview_addr {
                Some(p) => match TargetProxy::bind_with(p, metrics.clone(), settings.clone()).await
                {
                    Ok(proxy) => Some(proxy),
                    Err(e) => {
                        proxy.shutdown().await;
                        return Err(bind_err(p, e));
                    }
                },
                None => None,
            };
            tracing::info!(service = %id.service, environment = %id.environment, %addr, preview = ?preview.as_ref().map(|p| p.local_addr()), "target listening");
            targets.insert(
                id,
                TargetRuntime {
                    listen: Some(addr),
                    preview_addr,
                    proxy: Some(proxy),
                    preview,
                    metrics,
                    router: None,
                    settings,
                },
            );
        }
        Ok(())
    }

    /// The listen address of every target.
    pub async fn addrs(&self) -> BTreeMap<TargetId, SocketAddr> {
        let targets = self.map.lock().await;
        targets
            .iter()
            .filter_map(|(id, rt)| Some((id.clone(), rt.proxy.as_ref()?.local_addr())))
            .collect()
    }

    /// The preview address of every target that has one.
    pub async fn preview_addrs(&self) -> BTreeMap<TargetId, SocketAddr> {
        let targets = self.map.lock().await;
        targets
            .iter()
            .filter_map(|(id, rt)| Some((id.clone(), rt.preview.as_ref()?.local_addr())))
            .collect()
    }

    /// Requests totals per version on a target, since start.
    pub async fn traffic_totals(&self, id: &TargetId, version: &str) -> Option<(u64, u64)> {
        let targets = self.map.lock().await;
        targets.get(id).map(|rt| rt.metrics.totals(version))
    }

    /// The target's traffic as its analysis reads it (every replica's when
    /// the data plane is shared), if it is listening.
    pub async fn traffic(&self, service: &str, env: &str) -> Option<TargetTraffic> {
        let id = TargetId::new(service, env);
        let metrics = self.map.lock().await.get(&id)?.metrics.clone();
        Some(TargetTraffic {
            id,
            metrics,
            plane: self.plane.get().cloned(),
        })
    }

    /// What `version` did on the target over the `length` before `end`,
    /// on every replica (see [`TargetTraffic::window`]).
    pub async fn window(
        &self,
        service: &str,
        env: &str,
        version: &str,
        end: SystemTime,
        length: Duration,
    ) -> Option<WindowMetrics> {
        let traffic = self.traffic(service, env).await?;
        Some(traffic.window(version, end, length))
    }

    /// Every target's metrics (what the data plane sends).
    pub(crate) async fn all_metrics(&self) -> Vec<(TargetId, Arc<TrafficMetrics>)> {
        let targets = self.map.lock().await;
        targets
            .iter()
            .map(|(id, rt)| (id.clone(), rt.metrics.clone()))
            .collect()
    }

    /// Sets the route of one of the target's listeners, as its owner
    /// decided it, and publishes it to the other replicas. Nothing when the
    /// target (or that listener) is not bound.
    pub(crate) async fn set_route(&self, id: &TargetId, listener: RouteListener, route: Route) {
        let published = route.clone();
        if !self.put_route(id, listener, route).await {
            return;
        }
        // Only a shared database has other replicas to tell (SQLite has one).
        if let Some(plane) = self.plane.get().filter(|p| p.shared) {
            plane.publish(id, listener, &published);
        }
    }

    /// Sets a route another replica published; false when the target is
    /// not bound here (yet). A target without a preview listener takes no
    /// preview route (true: nothing to wait for).
    pub(crate) async fn apply_route(
        &self,
        id: &TargetId,
        listener: RouteListener,
        route: Route,
    ) -> bool {
        let bound = self.map.lock().await.contains_key(id);
        bound && (self.put_route(id, listener, route).await || listener == RouteListener::Preview)
    }

    /// Sets `route` on the listener; false when it is not bound.
    async fn put_route(&self, id: &TargetId, listener: RouteListener, route: Route) -> bool {
        let targets = self.map.lock().await;
        let Some(rt) = targets.get(id) else {
            return false;
        };
        #[cfg(feature = "simulated")]
        if let Some(sim) = self.workloads.simulated() {
            return sim.set_route(id, listener, route);
        }
        let proxy = match listener {
            RouteListener::Main => match &rt.proxy {
                Some(p) => p,
                None => return false,
            },
            RouteListener::Preview => match &rt.preview {
                Some(p) => p,
                None => return false,
            },
        };
        proxy.set_route(route);
        true
    }

    /// The external router routing the target, if one does.
    pub async fn router(&self, id: &TargetId) -> Option<ExternalRouter> {
        self.map.lock().await.get(id)?.router.clone()
    }

    /// Why the target's router refused the last split it was given, while
    /// it does: the deployment holds its step meanwhile. The built-in
    /// router never refuses one.
    pub(crate) async fn router_error(&self, service: &str, env: &str) -> Option<String> {
        self.router(&TargetId::new(service, env))
            .await?
            .last_error()
    }

    /// Splits the target's traffic between the healthy replicas of
    /// `stable` and `canary`, through the target's router. An error says
    /// why the router refused; traffic then stays as it was.
    pub(crate) async fn set_traffic(
        &self,
        svc: &ServiceSpec,
        env: &str,
        stable: Option<String>,
        canary: Option<String>,
        canary_weight: u8,
        rules: TrafficRules,
    ) -> Result<(), String> {
        let id = TargetId::new(svc.name.as_str(), env);
        if let Some(router) = self.router(&id).await {
            // Only this replica, the target's driver, drives the router;
            // nothing is published for the others' listeners.
            return router
                .set_split(
                    pool(&self.workloads, svc, env, stable),
                    pool(&self.workloads, svc, env, canary),
                    canary_weight,
                    rules.sticky,
                )
                .await;
        }
        let route = Route {
            stable: pool(&self.workloads, svc, env, stable),
            canary: pool(&self.workloads, svc, env, canary),
            canary_weight,
            matches: rules.matches,
            sticky: rules.sticky,
            mirror_percent: rules.mirror_percent,
            response_timeout: response_timeout(svc, env),
            upstream_protocol: upstream_protocol(svc, env),
            connect_timeout: connect_timeout(svc, env),
        };
        self.set_route(&id, RouteListener::Main, route).await;
        Ok(())
    }

    /// Routes the target's preview listener, if it has one, to `version`.
    pub(crate) async fn set_preview(&self, svc: &ServiceSpec, env: &str, version: Option<String>) {
        let route = Route {
            stable: pool(&self.workloads, svc, env, version),
            response_timeout: response_timeout(svc, env),
            upstream_protocol: upstream_protocol(svc, env),
            connect_timeout: connect_timeout(svc, env),
            ..Route::default()
        };
        self.set_route(
            &TargetId::new(svc.name.as_str(), env),
            RouteListener::Preview,
            route,
        )
        .await;
    }

    /// Closes every listener (graceful shutdown).
    pub(crate) async fn shutdown(&self) {
        let mut targets = self.map.lock().await;
        for (_, rt) in std::mem::take(&mut *targets) {
            if let Some(p) = rt.proxy {
                p.shutdown().await;
            }
            if let Some(p) = rt.preview {
                p.shutdown().await;
            }
        }
    }
}

/// The key of one version of a target.
pub(crate) fn key(svc: &str, env: &str, version: &str) -> VersionKey {
    VersionKey {
        service: svc.into(),
        environment: env.into(),
        version: version.into(),
    }
}

/// The healthy replicas of `version`, as the proxy's pool.
fn pool(
    workloads: &Workloads,
    svc: &ServiceSpec,
    env: &str,
    version: Option<String>,
) -> Option<Pool> {
    version.map(|version| {
        let endpoints = workloads
            .status(&key(&svc.name, env, &version))
            .map(|s| s.healthy_endpoints)
            .unwrap_or_default();
        Pool { version, endpoints }
    })
}

/// How long the target's proxy gives a replica to answer.
/// The spec's `tls` with its files resolved against the spec's folder.
fn tls_settings(tls: &zion_core::spec::TargetTls, base: &std::path::Path) -> TlsSettings {
    TlsSettings {
        certificates: tls
            .certificates
            .iter()
            .map(|c| TlsCertificate {
                names: c.names.clone(),
                cert: base.join(&c.cert),
                key: base.join(&c.key),
            })
            .collect(),
    }
}

fn connect_timeout(svc: &ServiceSpec, env: &str) -> std::time::Duration {
    svc.targets
        .get(env)
        .map_or(zion_proxy::DEFAULT_CONNECT_TIMEOUT, |t| {
            t.limits.connect_timeout
        })
}

fn upstream_protocol(svc: &ServiceSpec, env: &str) -> zion_proxy::UpstreamProtocol {
    svc.targets
        .get(env)
        .map_or_else(Default::default, |t| t.upstream_protocol)
}

fn response_timeout(svc: &ServiceSpec, env: &str) -> std::time::Duration {
    svc.targets
        .get(env)
        .map_or(zion_proxy::DEFAULT_RESPONSE_TIMEOUT, |t| t.response_timeout)
}
