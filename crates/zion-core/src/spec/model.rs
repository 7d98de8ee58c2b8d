//! The validated spec: every value here has been checked by `validate`, so
//! the rest of Zion can rely on it without re-checking.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::governance::quality::QualityGates;
use crate::judge::Judge;
use crate::metrics::Metric;

use super::hooks::HooksSpec;
use super::notifications::NotificationsSpec;
use super::providers::Provider;
use super::sources::CheckSource;

/// A whole `zion.yaml`, validated.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Spec {
    pub server: ServerSpec,
    /// `audit:`; every key optional.
    #[serde(default)]
    pub audit: AuditSpec,
    /// `console:`: what the web console serves. Left out of the JSON when
    /// every key is at its default, so a spec without it reads as before.
    #[serde(default, skip_serializing_if = "ConsoleSpec::is_default")]
    pub console: ConsoleSpec,
    pub environments: Vec<EnvironmentSpec>,
    pub services: Vec<ServiceSpec>,
    /// `providers:`: external engines by name, which checks read from and
    /// targets route through. Left out of the JSON when empty, so a spec
    /// without any reads as before.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub providers: BTreeMap<String, Provider>,
    /// `notifications:`. Left out of the JSON when empty.
    #[serde(default, skip_serializing_if = "NotificationsSpec::is_empty")]
    pub notifications: NotificationsSpec,
    /// `slos:`: service level objectives. Left out of the JSON when empty,
    /// so a spec without any reads as before.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub slos: Vec<super::SloSpec>,
}

/// `server:`: where the API listens and where state lives.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServerSpec {
    /// Default `127.0.0.1:7070`.
    pub listen: SocketAddr,
    /// As written in the spec (relative paths are resolved by the caller
    /// against the spec file's folder). Default `.zion`.
    pub data_dir: String,
    /// `server.database`: a PostgreSQL URL (`postgres://user@host:port/db`)
    /// to keep the state in instead of SQLite in `data_dir`; None: SQLite.
    /// Never holds a password (any viewer may read the spec back): that
    /// comes from `PGPASSWORD`, or the whole URL from `ZION_DATABASE_URL`.
    #[serde(default)]
    pub database: Option<String>,
    /// `server.github`: where the webhook secret for `/approve` comments is.
    pub github: Option<GithubSpec>,
}

/// `audit:`: how the transparency log names itself.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditSpec {
    /// The log's origin line in its signed checkpoints (C2SP
    /// `tlog-checkpoint`), e.g. `zion/build-host`: no whitespace, no `+`.
    /// None: the server picks one from its host name.
    #[serde(default)]
    pub origin: Option<String>,
}

/// `console:`: what the web console serves beside the signed-in pages.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsoleSpec {
    /// Whether `/status`, the public status page (read-only, no sign-in),
    /// is served; off by default.
    #[serde(default)]
    pub status_page: bool,
}

impl ConsoleSpec {
    pub fn is_default(&self) -> bool {
        self == &ConsoleSpec::default()
    }
}

/// `server.github:`. The secret itself is never written in the spec (any
/// viewer may read the spec back); the spec says where to find it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GithubSpec {
    pub webhook_secret: SecretSource,
}

/// Where a secret is read from when it is needed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SecretSource {
    /// `webhook_secret_env: NAME`: an environment variable of `zion up`.
    Env(String),
    /// `webhook_secret_file: PATH`: a file (relative to the spec's folder);
    /// surrounding whitespace is ignored.
    File(String),
}

/// One environment and its policy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EnvironmentSpec {
    pub name: String,
    /// Rollbacks here open incidents, and delivery metrics count it as
    /// production. Default: true for `production` and `prod`.
    pub production: bool,
    pub requires: Vec<String>,
    pub approvals: Option<ApprovalsSpec>,
    pub windows: Option<WindowsSpec>,
    pub checks: Vec<PreCheck>,
    /// Release evidence a deployment here must attach and meet; None: no
    /// evidence is asked for.
    #[serde(default)]
    pub gates: Option<QualityGates>,
}

/// `approvals:` of an environment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApprovalsSpec {
    pub required: u32,
    /// Default `[approver, admin]`.
    pub roles: Vec<Role>,
    /// Default true.
    pub prevent_self_approval: bool,
    /// Default 24h.
    #[serde(with = "crate::duration::serde_duration")]
    pub timeout: Duration,
}

/// A principal's role, from least to most powerful.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Viewer,
    Deployer,
    Approver,
    Admin,
}

/// `windows:` of an environment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WindowsSpec {
    /// An IANA time zone name, checked to exist. Default `UTC`.
    pub timezone: String,
    pub allow: Vec<AllowWindow>,
    pub freeze: Vec<FreezeSpec>,
}

/// One `allow` entry such as `mon-fri 09:00-17:00` (may wrap midnight,
/// e.g. `fri 22:00-02:00`, in which case the window starts on the listed days).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AllowWindow {
    /// Days the window starts on, Monday = 0 … Sunday = 6, sorted, unique.
    pub days: Vec<u8>,
    /// Minutes after midnight, 0..1440.
    pub start_minute: u16,
    /// Minutes after midnight, 0..=1440; `end < start` wraps past midnight.
    pub end_minute: u16,
    /// The entry as written, for messages.
    pub text: String,
}

/// A one-off freeze: no deployments from `from` (inclusive) to `to` (exclusive).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FreezeSpec {
    pub from: jiff::Timestamp,
    pub to: jiff::Timestamp,
    pub reason: String,
}

/// Automatic pre-deployment checks an environment may require.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PreCheck {
    DeploymentWindow,
    NoOpenIncident,
    ServiceHealth,
    Dependencies,
    Artifact,
    /// The error-budget policy: refused while an SLO of the target has
    /// spent its budget (hotfixes and rollbacks pass).
    ErrorBudget,
}

/// One service.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServiceSpec {
    pub name: String,
    pub depends_on: Vec<String>,
    pub workload: WorkloadSpec,
    pub health: HealthSpec,
    /// Environment name → target. Every key names a declared environment.
    pub targets: BTreeMap<String, TargetSpec>,
    /// Default `canary`.
    pub strategy: Strategy,
    pub canary: CanarySpec,
    pub blue_green: BlueGreenSpec,
    pub rolling: RollingSpec,
    pub analysis: AnalysisSpec,
    /// Run at points of a deployment's life (`crate::hooks`).
    #[serde(default, skip_serializing_if = "HooksSpec::is_empty")]
    pub hooks: HooksSpec,
}

/// `workload:` — only local processes for now.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkloadSpec {
    pub process: ProcessSpec,
}

/// `workload.process:`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProcessSpec {
    /// Program and arguments; `{port}` and `{version}` are substituted.
    pub command: Vec<String>,
    /// As written (relative to the spec file's folder); None = that folder.
    pub workdir: Option<String>,
    pub env: BTreeMap<String, String>,
    /// Default 1.
    pub replicas: u32,
    /// Optional artifact file (governance checks act on it later).
    pub artifact: Option<String>,
}

/// `health:` — how a replica is probed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HealthSpec {
    pub probe: Probe,
    /// Default 1s.
    #[serde(with = "crate::duration::serde_duration")]
    pub interval: Duration,
    /// Default 500ms; must be below `interval`.
    #[serde(with = "crate::duration::serde_duration")]
    pub timeout: Duration,
    /// How long a new version may take to become healthy before the
    /// deployment fails. Default 60s.
    #[serde(with = "crate::duration::serde_duration")]
    pub start_timeout: Duration,
}

/// The kind of health probe. Default: TCP connect.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Probe {
    /// GET this path; 2xx/3xx is healthy.
    Http(String),
    /// A TCP connect succeeds.
    Tcp,
    /// The command exits 0 (`{port}`/`{version}` substituted).
    Exec(Vec<String>),
    /// The standard `grpc.health.v1.Health/Check` call over HTTP/2
    /// cleartext answers SERVING for `service` (empty: the server as a whole).
    Grpc { service: String },
}

/// One service in one environment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TargetSpec {
    /// The built-in router's listener; None when another router serves
    /// the target.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub listen: Option<SocketAddr>,
    pub preview: Option<SocketAddr>,
    /// Which router splits the target's traffic. Default: the built-in
    /// proxy, listening on `listen` (not written, so a target of the
    /// built-in router reads as it did before routers were chosen).
    #[serde(default, skip_serializing_if = "TargetRouter::is_builtin")]
    pub router: TargetRouter,
    /// How long a replica may take to send its response head through the
    /// built-in proxy: then the client gets a 504 and the version an error.
    #[serde(
        with = "crate::duration::serde_duration",
        default = "TargetSpec::default_response_timeout"
    )]
    pub response_timeout: Duration,
    /// How the built-in proxy speaks to the target's replicas. Default
    /// HTTP/1.1 (not written, so a target that does not say reads as before).
    #[serde(default, skip_serializing_if = "UpstreamProtocol::is_http1")]
    pub upstream_protocol: UpstreamProtocol,
    /// TLS on the built-in listener (and its preview listener).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<TargetTls>,
    /// The built-in listener's timeouts and limits (not written when the
    /// defaults, so a target that does not say reads as before).
    #[serde(default, skip_serializing_if = "TargetLimits::is_default")]
    pub limits: TargetLimits,
}

/// `targets.<env>.limits`: what the built-in listener allows its clients
/// and waits for from the replicas.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TargetLimits {
    /// A replica that does not accept a connection within this: 504, the
    /// version's error.
    #[serde(with = "crate::duration::serde_duration")]
    pub connect_timeout: Duration,
    /// A client's request head (and TLS handshake) must arrive within this
    /// of the connection's start or of the previous answer, else the
    /// connection closes (an idle keep-alive connection too).
    #[serde(with = "crate::duration::serde_duration")]
    pub header_timeout: Duration,
    /// The largest request head: 431 beyond (at least 8 KiB).
    pub max_header_bytes: u64,
    /// Connections served at once: one more is answered 503 and closed.
    pub max_connections: u64,
}

impl TargetLimits {
    pub fn is_default(&self) -> bool {
        *self == TargetLimits::default()
    }
}

impl Default for TargetLimits {
    fn default() -> Self {
        TargetLimits {
            connect_timeout: Duration::from_secs(5),
            header_timeout: Duration::from_secs(30),
            max_header_bytes: 64 * 1024,
            max_connections: 10_000,
        }
    }
}

/// `targets.<env>.tls`: the certificates a listener terminates TLS with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TargetTls {
    /// At least one; the first also serves clients that ask for no name
    /// or for a name none lists.
    pub certificates: Vec<TlsCertificateSpec>,
}

/// One certificate of `targets.<env>.tls.certificates`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TlsCertificateSpec {
    /// The host names (SNI) it is chosen for; `*.example.com` covers one label.
    pub names: Vec<String>,
    /// PEM certificate chain, leaf first, as written: a relative path is
    /// resolved by the caller against the spec file's folder.
    pub cert: String,
    /// PEM private key, relative as `cert`.
    pub key: String,
}

/// `targets.<env>.upstream_protocol`: the protocol between the built-in
/// proxy and the replicas, whatever the clients speak to the proxy.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UpstreamProtocol {
    /// HTTP/1.1 over pooled keep-alive connections.
    #[default]
    Http1,
    /// HTTP/2 in clear text with prior knowledge, one multiplexed
    /// connection per replica (gRPC services).
    H2c,
}

impl UpstreamProtocol {
    pub fn is_http1(&self) -> bool {
        matches!(self, UpstreamProtocol::Http1)
    }

    /// As the spec spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            UpstreamProtocol::Http1 => "http1",
            UpstreamProtocol::H2c => "h2c",
        }
    }
}

/// The router that splits a target's traffic between versions.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TargetRouter {
    /// Zion's own proxy (`zion-proxy`), on the target's `listen`.
    #[default]
    Builtin,
    /// An HAProxy backend whose servers Zion adds, weighs and removes
    /// through the Runtime API of `provider`.
    Haproxy(HaproxyTarget),
    /// An nginx upstream whose include file Zion writes, tests and
    /// reloads with the nginx of `provider`.
    Nginx(NginxTarget),
}

impl TargetRouter {
    pub fn is_builtin(&self) -> bool {
        matches!(self, TargetRouter::Builtin)
    }

    /// The external router's name in messages (None: the built-in one).
    pub fn engine(&self) -> Option<&'static str> {
        match self {
            TargetRouter::Builtin => None,
            TargetRouter::Haproxy(_) => Some("HAProxy"),
            TargetRouter::Nginx(_) => Some("nginx"),
        }
    }

    /// Where an external router takes the target's traffic, as status and
    /// summaries show it: `haproxy edge backend web`, `nginx edge upstream
    /// web`. None for the built-in router (its address says it).
    pub fn describe(&self) -> Option<String> {
        match self {
            TargetRouter::Builtin => None,
            TargetRouter::Haproxy(h) => {
                Some(format!("haproxy {} backend {}", h.provider, h.backend))
            }
            TargetRouter::Nginx(n) => Some(format!("nginx {} upstream {}", n.provider, n.upstream)),
        }
    }
}

/// `targets.<env>.haproxy`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HaproxyTarget {
    /// A `providers:` entry of kind `haproxy`.
    pub provider: String,
    /// The backend of that HAProxy whose servers are the target's.
    pub backend: String,
}

/// `targets.<env>.nginx`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NginxTarget {
    /// A `providers:` entry of kind `nginx`.
    pub provider: String,
    /// The name of the `upstream` block Zion writes; the main
    /// configuration's `proxy_pass http://<upstream>` sends traffic to it.
    pub upstream: String,
    /// The file Zion writes that block to, which the main configuration
    /// `include`s (inside `http {}`), as written: a relative path is
    /// resolved by the caller against the spec file's folder.
    pub include: String,
    /// The JSON access log (`log_format zion`) of the server that proxies
    /// to the upstream, which Zion tails for the versions' requests,
    /// errors and latencies; relative as `include`. Without it Zion sees
    /// no request: only external checks (Prometheus, web, exec) judge.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_log: Option<String>,
}

impl TargetSpec {
    /// `response_timeout` when the spec does not say.
    pub const DEFAULT_RESPONSE_TIMEOUT: Duration = Duration::from_secs(30);

    fn default_response_timeout() -> Duration {
        Self::DEFAULT_RESPONSE_TIMEOUT
    }
}

/// Rollout strategy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Strategy {
    Canary,
    BlueGreen,
    Rolling,
}

/// `canary:`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CanarySpec {
    /// Default: 5/30s, 25/30s, 50/60s, 100 (the README's 5% → 25% → 50% → 100%).
    pub steps: Vec<CanaryStep>,
    /// Keep a client on the version it first got (later issue). Default false.
    pub sticky: bool,
}

/// One canary step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CanaryStep {
    /// Share of traffic for the canary, 0..=100 (0 only with `matches`;
    /// validation enforces strictly increasing, ending at 100).
    pub weight: Option<u8>,
    /// Mirror this share of stable's requests to the canary (later issue);
    /// exclusive with `weight`.
    pub mirror: Option<u8>,
    /// None on a non-final step means: wait for a manual `promote`.
    #[serde(with = "crate::duration::serde_opt_duration")]
    pub pause: Option<Duration>,
    /// Header/cookie rules routing matching requests to the canary.
    pub matches: Vec<MatchRule>,
}

/// A `match:` rule of a canary step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MatchRule {
    HeaderEquals { name: String, value: String },
    HeaderRegex { name: String, regex: String },
    CookieEquals { name: String, value: String },
}

/// `blue_green:`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BlueGreenSpec {
    /// Default 30s.
    #[serde(with = "crate::duration::serde_duration")]
    pub scale_down_delay: Duration,
    #[serde(with = "crate::duration::serde_opt_duration")]
    pub auto_promotion: Option<Duration>,
}

/// `rolling:`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RollingSpec {
    /// Default `Percent(33)`.
    pub batch: Batch,
}

/// A rolling batch size.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Batch {
    /// 1..=100 percent of replicas.
    Percent(u8),
    /// At least one replica.
    Count(u32),
}

/// `analysis:`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AnalysisSpec {
    /// Default 5s.
    #[serde(with = "crate::duration::serde_duration")]
    pub interval: Duration,
    /// Default 2.
    pub failure_limit: u32,
    /// Default 20.
    pub min_requests: u64,
    /// How long rounds may stay inconclusive in a row before a deployment
    /// that waits on them pauses. Default 10m, 1s to 24h.
    #[serde(with = "crate::duration::serde_duration")]
    pub inconclusive_limit: Duration,
    /// Default: the seed's promotion criteria (error_rate max 0.01,
    /// latency_p95 max_ratio_to_baseline 1.2, health min 0.95); none
    /// when the statistical judge is on.
    pub checks: Vec<Check>,
    /// Default: thresholds (the checks alone).
    #[serde(default)]
    pub judge: Judge,
}

/// One threshold check: a value read from its source, held to its bound.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "StoredCheck", into = "StoredCheck")]
pub struct Check {
    /// What rounds call it: the metric's name for a built-in check, the
    /// spec's `name` for any other.
    pub name: String,
    pub source: CheckSource,
    pub bound: Bound,
}

impl Check {
    /// A check on a built-in metric, named after it.
    pub fn builtin(metric: Metric, bound: Bound) -> Check {
        Check {
            name: metric.name().to_string(),
            source: CheckSource::Builtin(metric),
            bound,
        }
    }

    /// The built-in metric it reads, if it reads one.
    pub fn metric(&self) -> Option<Metric> {
        match self.source {
            CheckSource::Builtin(m) => Some(m),
            _ => None,
        }
    }
}

/// A check as stored: a built-in one as `{ metric, bound }` (as every
/// deployment and audit entry recorded before metric sources holds it),
/// plus its `name` when it differs from the metric's; an external one as
/// `{ name, source, bound }`.
#[derive(Serialize, Deserialize)]
struct StoredCheck {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    source: Option<CheckSource>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    metric: Option<Metric>,
    bound: Bound,
}

impl From<Check> for StoredCheck {
    fn from(c: Check) -> StoredCheck {
        match c.source {
            CheckSource::Builtin(m) => StoredCheck {
                name: (c.name != m.name()).then_some(c.name),
                source: None,
                metric: Some(m),
                bound: c.bound,
            },
            source => StoredCheck {
                name: Some(c.name),
                source: Some(source),
                metric: None,
                bound: c.bound,
            },
        }
    }
}

impl TryFrom<StoredCheck> for Check {
    type Error = String;

    fn try_from(c: StoredCheck) -> Result<Check, String> {
        let source = match (c.source, c.metric) {
            (Some(s), _) => s,
            (None, Some(m)) => CheckSource::Builtin(m),
            (None, None) => return Err("a check needs a source or a metric".into()),
        };
        let name = c.name.unwrap_or_else(|| match &source {
            CheckSource::Builtin(m) => m.name().to_string(),
            other => other.kind().to_string(),
        });
        Ok(Check {
            name,
            source,
            bound: c.bound,
        })
    }
}

/// Exactly one bound per check.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Bound {
    Max(f64),
    Min(f64),
    MaxRatioToBaseline(f64),
}

impl Spec {
    /// The environment called `name`.
    pub fn environment(&self, name: &str) -> Option<&EnvironmentSpec> {
        self.environments.iter().find(|e| e.name == name)
    }

    /// The service called `name`.
    pub fn service(&self, name: &str) -> Option<&ServiceSpec> {
        self.services.iter().find(|s| s.name == name)
    }
}

impl AnalysisSpec {
    /// `inconclusive_limit` when the spec gives none.
    pub const DEFAULT_INCONCLUSIVE_LIMIT: Duration = Duration::from_secs(600);

    /// The seed's promotion criteria, used when a service lists no checks.
    pub fn default_checks() -> Vec<Check> {
        vec![
            Check::builtin(Metric::ErrorRate, Bound::Max(0.01)),
            Check::builtin(Metric::LatencyP95, Bound::MaxRatioToBaseline(1.2)),
            Check::builtin(Metric::Health, Bound::Min(0.95)),
        ]
    }
}

/// Spec names of enumerations, shared by validation, the store and the API.
macro_rules! spec_names {
    ($ty:ident { $($variant:ident => $name:literal),+ $(,)? }) => {
        impl $ty {
            /// Every value, in declaration order.
            pub const ALL: &'static [$ty] = &[$($ty::$variant),+];

            /// The name the spec (and JSON) uses.
            pub const fn name(self) -> &'static str {
                match self {
                    $($ty::$variant => $name),+
                }
            }

            /// Parses a spec name.
            pub fn from_name(name: &str) -> Option<$ty> {
                Self::ALL.iter().copied().find(|v| v.name() == name)
            }
        }

        impl std::fmt::Display for $ty {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.name())
            }
        }
    };
}

spec_names!(Role { Viewer => "viewer", Deployer => "deployer", Approver => "approver", Admin => "admin" });
spec_names!(Strategy { Canary => "canary", BlueGreen => "blue_green", Rolling => "rolling" });
spec_names!(PreCheck {
    DeploymentWindow => "deployment_window",
    NoOpenIncident => "no_open_incident",
    ServiceHealth => "service_health",
    Dependencies => "dependencies",
    Artifact => "artifact",
    ErrorBudget => "error_budget",
});

#[cfg(test)]
mod names {
    use super::*;

    #[test]
    fn names_match_serde() {
        for r in Role::ALL {
            assert_eq!(serde_json::to_value(r).unwrap(), r.name());
            assert_eq!(Role::from_name(r.name()), Some(*r));
        }
        for s in Strategy::ALL {
            assert_eq!(serde_json::to_value(s).unwrap(), s.name());
        }
        for c in PreCheck::ALL {
            assert_eq!(serde_json::to_value(c).unwrap(), c.name());
        }
    }
}
