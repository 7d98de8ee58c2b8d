//! `providers:`: external engines a check may read its value from, by name.
//!
//! A provider is an externally tagged enum (`prom: { prometheus: {…} }`):
//! one variant per kind, each with its own settings. Secrets are never in
//! the spec, only where to find them (an environment variable or a file).

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::SecretSource;

/// One named provider.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Provider {
    Prometheus(PrometheusProvider),
}

impl Provider {
    /// The kind's spec name, for messages.
    pub fn kind(&self) -> &'static str {
        match self {
            Provider::Prometheus(_) => "prometheus",
        }
    }

    /// Its Prometheus settings, if it is a Prometheus.
    pub fn prometheus(&self) -> Option<&PrometheusProvider> {
        match self {
            Provider::Prometheus(p) => Some(p),
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
