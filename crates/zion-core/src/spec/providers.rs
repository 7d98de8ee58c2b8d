//! `providers:`: the systems outside Zion a spec names once, at the top
//! level, and refers to by name: a Prometheus a check reads its value from
//! (`prom: { prometheus: {…} }`), an HAProxy a target's traffic goes
//! through (`edge: { haproxy: {…} }` or `edge: { nginx: {…} }`).
//!
//! A provider is an externally tagged enum: one variant per kind, each
//! with its own settings. Secrets are never in the spec, only where to
//! find them (an environment variable or a file).

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::SecretSource;

/// One named provider.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Provider {
    Prometheus(PrometheusProvider),
    /// An HAProxy whose Runtime API (its admin socket) Zion drives.
    Haproxy(HaproxyProvider),
    /// An nginx whose configuration Zion tests and reloads.
    Nginx(NginxProvider),
}

impl Provider {
    /// The kind's spec name, for messages.
    pub fn kind(&self) -> &'static str {
        match self {
            Provider::Prometheus(_) => "prometheus",
            Provider::Haproxy(_) => "haproxy",
            Provider::Nginx(_) => "nginx",
        }
    }

    /// Its Prometheus settings, if it is a Prometheus.
    pub fn prometheus(&self) -> Option<&PrometheusProvider> {
        match self {
            Provider::Prometheus(p) => Some(p),
            _ => None,
        }
    }

    /// Its HAProxy settings, if it is an HAProxy.
    pub fn haproxy(&self) -> Option<&HaproxyProvider> {
        match self {
            Provider::Haproxy(h) => Some(h),
            _ => None,
        }
    }

    /// Its nginx settings, if it is an nginx.
    pub fn nginx(&self) -> Option<&NginxProvider> {
        match self {
            Provider::Nginx(n) => Some(n),
            _ => None,
        }
    }
}

/// `providers.<name>.prometheus`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PrometheusProvider {
    /// `http://host:port`, possibly with a path prefix; no trailing slash.
    pub url: String,
    /// How long one query may take. Default 5s.
    #[serde(with = "crate::duration::serde_duration")]
    pub timeout: Duration,
    #[serde(default)]
    pub auth: Option<ProviderAuth>,
}

impl PrometheusProvider {
    /// `timeout` when the spec gives none.
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);
}

/// How Zion authenticates to a provider.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProviderAuth {
    /// `bearer_token_env` / `bearer_token_file`.
    Bearer(SecretSource),
    /// `basic_auth: { username, password_env | password_file }`.
    Basic {
        username: String,
        password: SecretSource,
    },
}

/// `providers.<name>.haproxy`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HaproxyProvider {
    /// The admin socket (`stats socket … level admin`), as written: a
    /// relative path is resolved by the caller against the spec file's
    /// folder.
    pub socket: String,
    /// Where Zion receives HAProxy's request log over syslog (UDP), for
    /// per-request latencies: `log <addr> local0` and Zion's `log-format`
    /// in HAProxy's configuration. None: counts from `show stat` only.
    #[serde(default)]
    pub syslog: Option<std::net::SocketAddr>,
}

/// `providers.<name>.nginx`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NginxProvider {
    /// The nginx program Zion runs to test the configuration (`-t`) and
    /// reload it (`-s reload`): a name found on the PATH or a path.
    pub binary: String,
    /// The main configuration file the running nginx was started with
    /// (`-c`), as written: a relative path is resolved by the caller
    /// against the spec file's folder. Its `pid` directive tells
    /// `nginx -s reload` which master to signal.
    pub config: String,
}

impl NginxProvider {
    /// `binary` when the spec gives none.
    pub const DEFAULT_BINARY: &'static str = "nginx";
}
