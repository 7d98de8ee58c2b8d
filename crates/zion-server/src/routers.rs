//! The routers outside Zion a target's traffic can go through instead of
//! the built-in proxy: an HAProxy backend or an nginx upstream. Both take a
//! traffic split from the target's driver, feed the target's per-version
//! traffic metrics, and say why their last change failed.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use zion_core::spec::{Provider, Spec, TargetRouter};
use zion_proxy::{Pool, TrafficMetrics};

use crate::haproxy::HaproxyRouter;
use crate::haproxy::syslog::RequestLog;
use crate::nginx::control::Nginx;
use crate::nginx::{NginxRouter, NginxSettings};

/// What the spec asks of a target's external router, with its paths
/// resolved against the spec file's folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum RouterSettings {
    Haproxy {
        socket: PathBuf,
        backend: String,
        /// Where Zion receives its request log, if it does.
        syslog: Option<SocketAddr>,
    },
    Nginx(NginxSettings),
}

impl RouterSettings {
    /// The settings of `router`, None for the built-in one (or a provider
    /// of another kind, which lint refuses). `on_host` moves an address
    /// Zion listens on to `--targets-host`, as the listeners are.
    pub(crate) fn of(
        spec: &Spec,
        router: &TargetRouter,
        base: &Path,
        on_host: &dyn Fn(SocketAddr) -> SocketAddr,
    ) -> Option<Self> {
        match router {
            TargetRouter::Builtin => None,
            TargetRouter::Haproxy(h) => spec
                .providers
                .get(&h.provider)
                .and_then(Provider::haproxy)
                .map(|p| RouterSettings::Haproxy {
                    socket: base.join(&p.socket),
                    backend: h.backend.clone(),
                    syslog: p.syslog.map(on_host),
                }),
            TargetRouter::Nginx(n) => spec
                .providers
                .get(&n.provider)
                .and_then(Provider::nginx)
                .map(|p| {
                    // A bare program name is looked up on the PATH; a
                    // path with a folder is the spec's, like the files.
                    let binary = if p.binary.contains('/') {
                        base.join(&p.binary).display().to_string()
                    } else {
                        p.binary.clone()
                    };
                    RouterSettings::Nginx(NginxSettings {
                        nginx: Nginx {
                            binary,
                            config: base.join(&p.config),
                        },
                        upstream: n.upstream.clone(),
                        include: base.join(&n.include),
                        access_log: n.access_log.as_ref().map(|l| base.join(l)),
                    })
                }),
        }
    }

    /// The UDP address HAProxy sends its request log to, if any.
    pub(crate) fn syslog(&self) -> Option<SocketAddr> {
        match self {
            RouterSettings::Haproxy { syslog, .. } => *syslog,
            RouterSettings::Nginx(_) => None,
        }
    }

    /// The router, feeding `metrics` while it lives, from `log` (the
    /// request log received on [`RouterSettings::syslog`]) when given.
    pub(crate) fn start(
        self,
        metrics: &Arc<TrafficMetrics>,
        log: Option<Arc<RequestLog>>,
    ) -> ExternalRouter {
        match self {
            RouterSettings::Haproxy {
                socket, backend, ..
            } => {
                let r = HaproxyRouter::new(socket, backend);
                if let Some(log) = log {
                    r.receive_log(log, metrics);
                }
                r.sample(metrics);
                ExternalRouter::Haproxy(r)
            }
            RouterSettings::Nginx(settings) => {
                let r = NginxRouter::new(settings);
                r.sample(metrics);
                ExternalRouter::Nginx(r)
            }
        }
    }
}

/// A running external router.
#[derive(Clone)]
pub enum ExternalRouter {
    Haproxy(Arc<HaproxyRouter>),
    Nginx(Arc<NginxRouter>),
}

impl ExternalRouter {
    /// Whether it is the one `settings` asks for.
    pub(crate) fn is(&self, settings: &RouterSettings) -> bool {
        match (self, settings) {
            (
                ExternalRouter::Haproxy(r),
                RouterSettings::Haproxy {
                    socket,
                    backend,
                    syslog,
                },
            ) => r.is(socket, backend, *syslog),
            (ExternalRouter::Nginx(r), RouterSettings::Nginx(s)) => r.is(s),
            _ => false,
        }
    }

    /// Its name in logs.
    pub fn engine(&self) -> &'static str {
        match self {
            ExternalRouter::Haproxy(_) => "HAProxy",
            ExternalRouter::Nginx(_) => "nginx",
        }
    }

    /// This replica no longer drives the target: its next driver reads
    /// the router's traffic.
    pub fn release(&self) {
        match self {
            ExternalRouter::Haproxy(r) => r.release(),
            ExternalRouter::Nginx(r) => r.release(),
        }
    }

    /// Why the last change failed, if it did.
    pub fn last_error(&self) -> Option<String> {
        match self {
            ExternalRouter::Haproxy(r) => r.last_error(),
            ExternalRouter::Nginx(r) => r.last_error(),
        }
    }

    /// Gives `new` `weight` percent of the traffic and `stable` the rest;
    /// with `sticky`, each client kept on the version it first reached
    /// (HAProxy's cookie; lint refuses `sticky` on nginx targets).
    pub async fn set_split(
        &self,
        stable: Option<Pool>,
        new: Option<Pool>,
        weight: u8,
        sticky: bool,
    ) -> Result<(), String> {
        match self {
            ExternalRouter::Haproxy(r) => r.set_split(stable, new, weight, sticky).await,
            ExternalRouter::Nginx(r) => r.set_traffic(stable, new, weight).await,
        }
    }
}

/// What every external router keeps alike: whether this replica of `zion
/// up` drives the target (only the driver reads the router's traffic;
/// another replica would count the same requests twice), and why its last
/// change failed.
#[derive(Default)]
pub(crate) struct RouterState {
    driving: AtomicBool,
    /// None once a change succeeded.
    last_error: Mutex<Option<String>>,
}

/// What a change's result tells that was not known before, for the log.
pub(crate) enum News<'a> {
    /// It failed, and not for the reason it failed before.
    Failed(&'a str),
    /// It succeeded after a failure.
    Recovered,
    Nothing,
}

impl RouterState {
    /// This replica routed the target: from now on it drives it.
    pub(crate) fn drive(&self) {
        self.driving.store(true, Ordering::Relaxed);
    }

    /// This replica no longer drives the target.
    pub(crate) fn release(&self) {
        self.driving.store(false, Ordering::Relaxed);
    }

    pub(crate) fn driving(&self) -> bool {
        self.driving.load(Ordering::Relaxed)
    }

    pub(crate) fn last_error(&self) -> Option<String> {
        self.last_error
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Keeps `result` as the last change's, saying what is new in it.
    pub(crate) fn record<'a>(&self, result: &'a Result<(), String>) -> News<'a> {
        let mut last = self
            .last_error
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let news = match result {
            Err(e) if last.as_deref() != Some(e.as_str()) => News::Failed(e),
            Ok(()) if last.is_some() => News::Recovered,
            _ => News::Nothing,
        };
        *last = result.as_ref().err().cloned();
        news
    }
}
