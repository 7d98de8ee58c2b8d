//! The nginx router: a target's traffic split by the weights of the
//! servers of one nginx `upstream`, which Zion writes to an include file of
//! nginx's configuration on every change of the split, tests (`nginx -t`)
//! and applies with a graceful reload; nginx's JSON access log, tailed,
//! becomes the target's per-version traffic metrics (requests, 5xx answers
//! and latencies, so every built-in check works).
//!
//! The upstream holds one server per healthy replica of the stable and new
//! versions, weighed by `zion_core::server_weights`; a version at 0% has
//! its servers `down`. A configuration nginx refuses is not reloaded: the
//! previous include goes back, nginx keeps routing as before (the stable
//! version keeps its traffic), and nginx's reason is the router's error.

pub mod access_log;
pub mod control;
pub mod include;
pub mod tail;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::Duration;

use zion_proxy::{Pool, TrafficMetrics};

use control::Nginx;
use include::Server;

use crate::routers::{News, RouterState};

/// The largest weight Zion gives a server: nginx has no bound, and a
/// larger range splits the traffic more finely between many replicas.
const MAX_WEIGHT: u16 = 1000;
/// How often the access log is read.
const TAIL_EVERY: Duration = Duration::from_millis(500);
/// How long an upstream nginx refused is not tried again: the controller
/// asks at every tick while the step is held, and each try runs `nginx -t`.
const RETRY_REFUSED_AFTER: Duration = Duration::from_secs(2);

/// Where one target's upstream and access log are, and the nginx that
/// runs them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NginxSettings {
    pub nginx: Nginx,
    /// The `upstream` block's name.
    pub upstream: String,
    /// The include file Zion writes.
    pub include: PathBuf,
    /// The JSON access log Zion tails, if any: without it the target's
    /// metrics stay empty (lint allows only external checks then).
    pub access_log: Option<PathBuf>,
}

/// One target's nginx upstream.
pub struct NginxRouter {
    settings: NginxSettings,
    /// Replica address → version, for the servers Zion placed (kept after
    /// they leave: the log's last lines may still name them).
    servers: Mutex<HashMap<SocketAddr, String>>,
    /// Whether this replica drives the target (only its driver tails the
    /// log), and why the last change failed.
    state: RouterState,
    /// The include text nginx runs, as this process last applied it: the
    /// same split again needs no reload.
    applied: tokio::sync::Mutex<Option<String>>,
    /// The last include text nginx refused, when, and why.
    refused: Mutex<Option<Refused>>,
}

struct Refused {
    text: String,
    at: std::time::Instant,
    why: String,
}

impl NginxRouter {
    pub fn new(settings: NginxSettings) -> Arc<Self> {
        Arc::new(NginxRouter {
            settings,
            servers: Mutex::new(HashMap::new()),
            state: RouterState::default(),
            applied: tokio::sync::Mutex::new(None),
            refused: Mutex::new(None),
        })
    }

    /// The settings, to tell whether a spec changed them.
    pub fn is(&self, settings: &NginxSettings) -> bool {
        &self.settings == settings
    }

    /// This replica of `zion up` no longer drives the target: it stops
    /// tailing the log (its next driver reads it).
    pub fn release(&self) {
        self.state.release();
    }

    /// Why the last change failed, if it did.
    pub fn last_error(&self) -> Option<String> {
        self.state.last_error()
    }

    /// Gives `new`'s replicas `weight` percent of the upstream's weight and
    /// `stable`'s the rest, and reloads nginx when that changes its
    /// upstream.
    pub async fn set_traffic(
        &self,
        stable: Option<Pool>,
        new: Option<Pool>,
        weight: u8,
    ) -> Result<(), String> {
        let mut applied = self.applied.lock().await;
        self.state.drive();
        let servers = servers(stable, new, weight);
        {
            let mut known = self.servers.lock().unwrap_or_else(PoisonError::into_inner);
            for s in &servers {
                known.insert(s.addr, s.version.clone());
            }
        }
        let text = include::render(&self.settings.upstream, &servers);
        let recently_refused = self
            .refused
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .as_ref()
            .filter(|r| r.text == text && r.at.elapsed() < RETRY_REFUSED_AFTER)
            .map(|r| r.why.clone());
        let result = if applied.as_deref() == Some(text.as_str()) {
            Ok(())
        } else if let Some(why) = recently_refused {
            Err(why)
        } else {
            let r = self
                .settings
                .nginx
                .apply(&self.settings.include, &text)
                .await;
            let mut refused = self.refused.lock().unwrap_or_else(PoisonError::into_inner);
            match &r {
                // After a failure nginx runs the previous text, as before.
                Ok(()) => {
                    *applied = Some(text);
                    *refused = None;
                }
                Err(why) => {
                    *refused = Some(Refused {
                        text,
                        at: std::time::Instant::now(),
                        why: why.clone(),
                    })
                }
            }
            r
        };
        match self.state.record(&result) {
            News::Failed(e) => {
                tracing::warn!(upstream = %self.settings.upstream, error = %e, "cannot set nginx's upstream");
            }
            News::Recovered => {
                tracing::info!(upstream = %self.settings.upstream, "nginx's upstream set again");
            }
            News::Nothing => {}
        }
        result
    }

    /// Tails the access log while the router and `metrics` live, counting
    /// each version's requests, errors and latencies in `metrics`.
    pub fn sample(self: &Arc<Self>, metrics: &Arc<TrafficMetrics>) {
        let router: Weak<Self> = Arc::downgrade(self);
        let metrics: Weak<TrafficMetrics> = Arc::downgrade(metrics);
        let Some(path) = self.settings.access_log.clone() else {
            return;
        };
        tokio::spawn(async move {
            // None while not driving: the lines written meanwhile were
            // another driver's to count.
            let mut follower: Option<tail::Follower> = None;
            let mut tick = tokio::time::interval(TAIL_EVERY);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let (Some(router), Some(metrics)) = (router.upgrade(), metrics.upgrade()) else {
                    return;
                };
                if !router.state.driving() {
                    follower = None;
                    continue;
                }
                let mut f = follower
                    .take()
                    .unwrap_or_else(|| tail::Follower::from_end(path.clone()));
                let Ok((f, lines)) = tokio::task::spawn_blocking(move || {
                    let lines = f.poll();
                    (f, lines)
                })
                .await
                else {
                    continue;
                };
                follower = Some(f);
                router.count(&metrics, &lines);
            }
        });
    }

    /// Counts the log's `lines` in `metrics`, by the version of the
    /// replica that answered each; lines of other upstreams are skipped.
    fn count(&self, metrics: &TrafficMetrics, lines: &[String]) {
        if lines.is_empty() {
            return;
        }
        let versions = self.servers.lock().unwrap_or_else(PoisonError::into_inner);
        for line in lines {
            let Some(req) = access_log::parse(line) else {
                continue;
            };
            let Some(version) = req.upstream.and_then(|a| versions.get(&a)) else {
                continue;
            };
            metrics.record(version, req.is_error(), req.latency, req.at);
        }
    }
}

/// The upstream's servers: the stable version's replicas, then the new
/// one's (one set when both are the same version: a rollback to the
/// running one).
fn servers(stable: Option<Pool>, new: Option<Pool>, weight: u8) -> Vec<Server> {
    let new = new.filter(|n| stable.as_ref().is_none_or(|s| s.version != n.version));
    let count = |p: &Option<Pool>| p.as_ref().map_or(0, |p| p.endpoints.len());
    let (sw, nw) =
        zion_core::server_weights::split(count(&stable), count(&new), weight, MAX_WEIGHT);
    [(stable, sw), (new, nw)]
        .into_iter()
        .flat_map(|(pool, weights)| {
            pool.into_iter().flat_map(move |p| {
                let version = p.version;
                p.endpoints
                    .into_iter()
                    .zip(weights.clone())
                    .map(move |(addr, weight)| Server {
                        addr,
                        version: version.clone(),
                        weight,
                    })
            })
        })
        .collect()
}

#[cfg(test)]
mod tests;
