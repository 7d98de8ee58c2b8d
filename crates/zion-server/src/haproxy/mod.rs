//! The HAProxy router: a target's traffic split by the weights of the
//! servers of one HAProxy backend, changed live through HAProxy's Runtime
//! API (never a reload), and HAProxy's per-server statistics turned into
//! the target's per-version traffic metrics.
//!
//! Zion owns the backend's servers named `zion-<version>-<ip>-<port>`: it
//! adds one per healthy replica (`add server`, then `enable server`), sets
//! their weights so that each version's share is the step's
//! (`zion_core::server_weights`), and puts the ones no longer wanted in
//! maintenance before deleting them (`del server`, retried while they
//! still hold connections). Other servers of the backend are left alone.
//! The stable version's servers are complete and weighed before any server
//! of the new version gets weight, so a command failing midway never leaves
//! the new version more traffic than the step gives it; after a failure the
//! new version's servers are set back to weight 0, when HAProxy still
//! answers.
//!
//! The target's traffic metrics come from one of two sources, never both
//! (a request would count twice): HAProxy's request log, when its
//! provider has a `syslog` address (requests, errors and latencies, one
//! line per request, `syslog.rs`), else its statistics (requests and
//! errors, read every second, `stats.rs`).

pub mod request_log;
pub mod runtime;
pub mod stats;
pub mod syslog;

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock, PoisonError, Weak};
use std::time::{Duration, SystemTime};

use zion_proxy::{Pool, TrafficMetrics};

use request_log::Logged;
use runtime::Runtime;
use stats::ServerCounters;

use crate::routers::{News, RouterState};
use syslog::RequestLog;

/// HAProxy's largest server weight.
const MAX_WEIGHT: u16 = 256;
/// How often the statistics are read.
const SAMPLE_EVERY: Duration = Duration::from_secs(1);
/// The prefix of the servers Zion owns in a backend.
const PREFIX: &str = "zion-";

/// One target's HAProxy backend.
pub struct HaproxyRouter {
    runtime: Runtime,
    backend: String,
    /// Server name → version, for the servers Zion placed.
    servers: Mutex<BTreeMap<String, String>>,
    /// Whether this replica drives the target (only its driver reads the
    /// statistics or the log), and why the last change of weights failed.
    state: RouterState,
    /// One change at a time.
    changing: tokio::sync::Mutex<()>,
    /// Where HAProxy's request log arrives, when it is sent to Zion: the
    /// metrics then come from it, not from the statistics.
    log: OnceLock<Arc<RequestLog>>,
}

/// One server Zion wants in the backend.
struct Wanted {
    name: String,
    addr: SocketAddr,
    version: String,
    weight: u16,
}

impl HaproxyRouter {
    pub fn new(socket: PathBuf, backend: String) -> Arc<Self> {
        Arc::new(HaproxyRouter {
            runtime: Runtime::new(socket),
            backend,
            servers: Mutex::new(BTreeMap::new()),
            state: RouterState::default(),
            changing: tokio::sync::Mutex::new(()),
            log: OnceLock::new(),
        })
    }

    /// The admin socket, backend and request log's address, to tell
    /// whether a spec changed them.
    pub fn is(&self, socket: &std::path::Path, backend: &str, log: Option<SocketAddr>) -> bool {
        self.runtime.socket() == socket
            && self.backend == backend
            && self.log.get().map(|l| l.addr()) == log
    }

    /// Counts the backend's requests from HAProxy's request log received
    /// by `log`, in `metrics`, instead of from the statistics.
    pub fn receive_log(self: &Arc<Self>, log: Arc<RequestLog>, metrics: &Arc<TrafficMetrics>) {
        log.serve(&self.backend, self, metrics);
        let _ = self.log.set(log);
    }

    /// Counts one request of the log in `metrics`, at `now`, when this
    /// replica drives the target and the server is one of Zion's; true if
    /// it counted.
    pub fn count_logged(
        &self,
        line: &Logged<'_>,
        metrics: &TrafficMetrics,
        now: SystemTime,
    ) -> bool {
        if !self.state.driving() {
            return false;
        }
        let version = {
            let servers = self.servers.lock().unwrap_or_else(PoisonError::into_inner);
            match servers.get(line.server) {
                Some(v) => v.clone(),
                // `<NOSRV>` or a server of the user's own.
                None => return false,
            }
        };
        match line.latency {
            Some(latency) => metrics.record(&version, line.is_error(), latency, now),
            // No answer from the server: an error without a latency.
            None => metrics.record_counts(&version, 1, 1, now),
        }
        true
    }

    /// This replica of `zion up` no longer drives the target: it stops
    /// reading the statistics (its next driver counts them).
    pub fn release(&self) {
        self.state.release();
    }

    /// Why the last change failed, if it did.
    pub fn last_error(&self) -> Option<String> {
        self.state.last_error()
    }

    /// Gives `new`'s servers `weight` percent of the backend's weight and
    /// `stable`'s the rest, adding and removing servers to match the
    /// pools' endpoints.
    pub async fn set_traffic(
        &self,
        stable: Option<Pool>,
        new: Option<Pool>,
        weight: u8,
    ) -> Result<(), String> {
        self.set_split(stable, new, weight, false).await
    }

    /// [`Self::set_traffic`], and with `sticky` each client kept on the
    /// server (so the version) it first reached, by the backend's cookie.
    pub async fn set_split(
        &self,
        stable: Option<Pool>,
        new: Option<Pool>,
        weight: u8,
        sticky: bool,
    ) -> Result<(), String> {
        let _one = self.changing.lock().await;
        self.state.drive();
        let result = self.apply(stable, new, weight, sticky).await;
        match self.state.record(&result) {
            News::Failed(e) => {
                tracing::warn!(socket = %self.runtime.socket().display(), backend = %self.backend, error = %e, "cannot set HAProxy's weights");
            }
            News::Recovered => {
                tracing::info!(backend = %self.backend, "HAProxy's weights set again");
            }
            News::Nothing => {}
        }
        result
    }

    async fn apply(
        &self,
        stable: Option<Pool>,
        new: Option<Pool>,
        weight: u8,
        sticky: bool,
    ) -> Result<(), String> {
        let rt = &self.runtime;
        let be = &self.backend;
        if sticky {
            self.check_cookie_declared().await?;
        }
        let answer = rt.command(&format!("show servers state {be}")).await?;
        let present = stats::parse_servers_state(&answer).map_err(|_| {
            format!(
                "HAProxy has no backend `{be}` (`show servers state {be}` answered \"{}\"): \
                 declare it in HAProxy's configuration or fix the target's `backend`",
                answer.trim()
            )
        })?;
        let present: HashMap<String, stats::ServerState> =
            present.into_iter().map(|s| (s.name.clone(), s)).collect();
        // The same version in both pools (a rollback to the running one):
        // one set of servers.
        let new = new.filter(|n| stable.as_ref().is_none_or(|s| s.version != n.version));
        let stable_eps = stable.as_ref().map_or(&[][..], |p| &p.endpoints[..]);
        let new_eps = new.as_ref().map_or(&[][..], |p| &p.endpoints[..]);
        let (sw, nw) =
            zion_core::server_weights::split(stable_eps.len(), new_eps.len(), weight, MAX_WEIGHT);
        let wanted = |pool: &Option<Pool>, weights: Vec<u16>| -> Vec<Wanted> {
            pool.as_ref()
                .map(|p| {
                    p.endpoints
                        .iter()
                        .zip(weights)
                        .map(|(addr, weight)| Wanted {
                            name: server_name(&p.version, *addr),
                            addr: *addr,
                            version: p.version.clone(),
                            weight,
                        })
                        .collect()
                })
                .unwrap_or_default()
        };
        let stable_servers = wanted(&stable, sw);
        let new_servers = wanted(&new, nw);
        {
            let mut names = self.servers.lock().unwrap_or_else(PoisonError::into_inner);
            for w in stable_servers.iter().chain(&new_servers) {
                names.insert(w.name.clone(), w.version.clone());
            }
        }
        for w in &stable_servers {
            self.place(w, present.get(&w.name), sticky).await?;
        }
        if sticky {
            // The stable servers may have been added before sticky
            // sessions were asked for; checked before the new version gets
            // any weight.
            rt.expect_empty(&format!("enable dynamic-cookie backend {be}"))
                .await?;
            self.check_cookies_computed(&stable_servers).await?;
        }
        for w in &new_servers {
            if let Err(e) = self.place(w, present.get(&w.name), sticky).await {
                // Never leave the new version more than it had: back to 0.
                for w in &new_servers {
                    let _ = rt
                        .expect_empty(&format!("set weight {be}/{} 0", w.name))
                        .await;
                }
                return Err(e);
            }
        }
        // The servers no longer wanted: out of rotation now, deleted once
        // their connections are done (a later change tries again).
        let keep: Vec<&str> = stable_servers
            .iter()
            .chain(&new_servers)
            .map(|w| w.name.as_str())
            .collect();
        for (name, state) in &present {
            if !name.starts_with(PREFIX) || keep.contains(&name.as_str()) {
                continue;
            }
            if !state.in_maintenance() {
                rt.expect_empty(&format!("set weight {be}/{name} 0"))
                    .await?;
                rt.expect_empty(&format!("set server {be}/{name} state maint"))
                    .await?;
            }
            if rt
                .expect(&format!("del server {be}/{name}"), "Server deleted")
                .await
                .is_ok()
            {
                self.servers
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .remove(name);
            }
        }
        Ok(())
    }

    /// Sticky sessions need the backend's cookie: `cookie <NAME> insert
    /// indirect nocache dynamic` (HAProxy 2.6 refuses `cookie` on `add
    /// server`, but computes a dynamic server's cookie from the backend's
    /// `dynamic-cookie-key`, its address and port).
    async fn check_cookie_declared(&self) -> Result<(), String> {
        let be = &self.backend;
        let csv = self
            .runtime
            .command(&format!("show stat {be} 2 -1"))
            .await?;
        let cookies = stats::parse_cookies(&csv, be);
        let name = cookies
            .iter()
            .find(|(sv, _)| sv == "BACKEND")
            .map(|(_, c)| c.as_str());
        match name {
            Some(n) if !n.is_empty() => Ok(()),
            Some(_) => Err(format!(
                "HAProxy's backend `{be}` sets no cookie, so it cannot keep a client on one \
                 version (`canary.sticky`): add `cookie ZION insert indirect nocache dynamic` \
                 and `dynamic-cookie-key <any text>` to the backend, or remove `sticky`"
            )),
            None => Err(format!(
                "HAProxy has no backend `{be}` (`show stat` lists none): declare it in \
                 HAProxy's configuration or fix the target's `backend`"
            )),
        }
    }

    /// Every server of `servers` has its cookie: without `dynamic` on the
    /// backend's `cookie` line or a `dynamic-cookie-key`, HAProxy gives
    /// the servers Zion adds none.
    async fn check_cookies_computed(&self, servers: &[Wanted]) -> Result<(), String> {
        let be = &self.backend;
        let csv = self
            .runtime
            .command(&format!("show stat {be} 4 -1"))
            .await?;
        let cookies: HashMap<String, String> = stats::parse_cookies(&csv, be).into_iter().collect();
        match servers
            .iter()
            .find(|w| cookies.get(&w.name).is_none_or(String::is_empty))
        {
            None => Ok(()),
            Some(w) => Err(format!(
                "HAProxy gave server {be}/{} no cookie, so it cannot keep a client on one \
                 version (`canary.sticky`): end the backend's `cookie` line with `dynamic` \
                 and add `dynamic-cookie-key <any text>` to it",
                w.name
            )),
        }
    }

    /// Adds the server if HAProxy lacks it (with its cookie computed when
    /// `sticky`, before it takes traffic), then gives it its weight and
    /// takes it out of maintenance.
    async fn place(
        &self,
        w: &Wanted,
        present: Option<&stats::ServerState>,
        sticky: bool,
    ) -> Result<(), String> {
        let rt = &self.runtime;
        let be = &self.backend;
        let server = format!("{be}/{}", w.name);
        match present {
            None => {
                rt.expect(
                    &format!("add server {server} {} weight {}", w.addr, w.weight),
                    "New server registered",
                )
                .await
                .map_err(|e| {
                    format!(
                        "{e} (the backend must accept dynamic servers: `balance roundrobin`, \
                         `leastconn`, `first` or `random`, not `static-rr`)"
                    )
                })?;
                if sticky {
                    // Computes the cookies of the servers added since.
                    rt.expect_empty(&format!("enable dynamic-cookie backend {be}"))
                        .await?;
                }
                rt.expect_empty(&format!("enable server {server}")).await
            }
            Some(state) => {
                if state.weight != u32::from(w.weight) {
                    rt.expect_empty(&format!("set weight {server} {}", w.weight))
                        .await?;
                }
                if state.in_maintenance() {
                    rt.expect_empty(&format!("set server {server} state ready"))
                        .await?;
                }
                Ok(())
            }
        }
    }

    /// Reads the backend's statistics every second while the router and
    /// `metrics` live, and counts each version's new requests and errors
    /// in `metrics` (no latency: HAProxy's statistics have none per
    /// request).
    pub fn sample(self: &Arc<Self>, metrics: &Arc<TrafficMetrics>) {
        let router: Weak<Self> = Arc::downgrade(self);
        let metrics: Weak<TrafficMetrics> = Arc::downgrade(metrics);
        tokio::spawn(async move {
            // None until the first reading: the counters HAProxy had before
            // are not this run's traffic.
            let mut seen: Option<HashMap<String, ServerCounters>> = None;
            let mut tick = tokio::time::interval(SAMPLE_EVERY);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let (Some(router), Some(metrics)) = (router.upgrade(), metrics.upgrade()) else {
                    return;
                };
                if !router.state.driving() || router.log.get().is_some() {
                    // Counted afresh when driven again: what happened
                    // meanwhile was another driver's to count. With a
                    // request log, the log counts every request.
                    seen = None;
                    continue;
                }
                router.sample_once(&metrics, &mut seen).await;
            }
        });
    }

    async fn sample_once(
        &self,
        metrics: &TrafficMetrics,
        seen: &mut Option<HashMap<String, ServerCounters>>,
    ) {
        let be = &self.backend;
        let Ok(csv) = self.runtime.command(&format!("show stat {be} 4 -1")).await else {
            return;
        };
        let now = SystemTime::now();
        let versions = self
            .servers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        let rows = stats::parse_stat(&csv, be);
        let Some(seen) = seen.as_mut() else {
            *seen = Some(rows.into_iter().collect());
            return;
        };
        for (name, counters) in rows {
            let Some(version) = versions.get(&name) else {
                continue;
            };
            // A server Zion placed starts at zero; counters that went
            // down belong to a server deleted and added again.
            let before = seen.insert(name, counters).unwrap_or_default();
            let before = if counters.requests < before.requests {
                ServerCounters::default()
            } else {
                before
            };
            let requests = counters.requests - before.requests;
            let errors = counters.errors.saturating_sub(before.errors).min(requests);
            if requests > 0 {
                metrics.record_counts(version, requests, errors, now);
            }
        }
    }
}

/// The name of the server of `version`'s replica at `addr`: HAProxy
/// accepts letters, digits and `-_.:` in it.
pub fn server_name(version: &str, addr: SocketAddr) -> String {
    let raw = format!("{PREFIX}{version}-{}-{}", addr.ip(), addr.port());
    raw.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect()
}

#[cfg(test)]
mod tests;
