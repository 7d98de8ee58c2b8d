//! Where a check reads its value: a built-in metric of the proxy and the
//! probes, or an external source queried when a round is due.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::metrics::Metric;

/// One check's source.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckSource {
    /// A built-in metric of the canary (and of stable, as its baseline).
    Builtin(Metric),
    /// An instant PromQL query to a named `prometheus` provider.
    Prometheus(PrometheusQuery),
    /// An HTTP request answering JSON; a JSON path picks the number.
    Web(WebQuery),
    /// A command printing a number.
    Exec(ExecQuery),
}

impl CheckSource {
    /// The source's spec name.
    pub fn kind(&self) -> &'static str {
        match self {
            CheckSource::Builtin(_) => "metric",
            CheckSource::Prometheus(_) => "prometheus",
            CheckSource::Web(_) => "web",
            CheckSource::Exec(_) => "exec",
        }
    }
}

/// `prometheus: { provider, query }`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PrometheusQuery {
    /// A provider of kind `prometheus` in `providers:`.
    pub provider: String,
    /// A PromQL template (see [`crate::sources::template`]).
    pub query: String,
}

/// `web: { url, method, body, headers, header_env, json_path, timeout }`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WebQuery {
    /// An `http://` URL template.
    pub url: String,
    pub method: WebMethod,
    /// A body template, sent with POST as JSON.
    #[serde(default)]
    pub body: Option<String>,
    /// Header name → value (not secret: the spec may be read back).
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Header name → the environment variable of `zion up` holding its value.
    #[serde(default)]
    pub header_env: BTreeMap<String, String>,
    /// Where the number is in the answer, e.g. `$.data.score`.
    pub json_path: String,
    #[serde(with = "crate::duration::serde_duration")]
    pub timeout: Duration,
}

/// The HTTP method of a web check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WebMethod {
    Get,
    Post,
}

/// `exec: { command, timeout }`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExecQuery {
    /// Program and arguments, each a template; run in the spec's folder.
    pub command: Vec<String>,
    #[serde(with = "crate::duration::serde_duration")]
    pub timeout: Duration,
}

impl WebQuery {
    /// `timeout` when the spec gives none.
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);
}

impl ExecQuery {
    /// `timeout` when the spec gives none.
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
}
