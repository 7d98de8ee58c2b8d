//! The spec exactly as written: serde structs mirroring `zion.yaml`.
//!
//! Almost everything is optional here and loosely typed (durations,
//! addresses, names, windows and timestamps stay text; integers are signed)
//! so that a mistake is not a parse failure: `validate` sees the whole
//! document and reports every mistake at once, each with its path. Unknown
//! keys are collected by a flattened [`Unknown`] in every mapping rather than
//! rejected by serde, for the same reason.

use std::collections::BTreeMap;
use std::fmt;

use serde::Deserialize;
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, Visitor};

/// One raw parse failure: the serde path (may be empty) and the parser's
/// message with its line and column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct ParseFailure {
    pub path: String,
    pub message: String,
}

/// Parses YAML text into the raw model. An empty document is an empty spec.
pub(super) fn parse(yaml: &str) -> Result<RawSpec, ParseFailure> {
    // Snippets are multi-line renderings meant for a terminal; a spec error
    // is one `path: message` line, so the position is appended instead.
    // The parser's default budget (250,000 nodes) guards against alias
    // bombs, but it also refuses a plain spec of some 7,000 services (a realistic size for one spec of Zion's 10,000-target scale). A
    // document without aliases has fewer nodes than bytes (and fewer than
    // two events a byte), so a budget as large as the text itself still
    // bounds what aliases may expand a small document into.
    let options = serde_saphyr::options! {
        with_snippet: false,
        budget: serde_saphyr::budget! {
            max_nodes: yaml.len().max(250_000),
            max_events: yaml.len().saturating_mul(2).max(1_000_000),
        },
    };
    let mut failed_path = None;
    let parsed = serde_saphyr::with_deserializer_from_str_with_options(yaml, options, |de| {
        serde_path_to_error::deserialize::<_, Option<RawSpec>>(de).map_err(|e| {
            failed_path = Some(e.path().to_string());
            e.into_inner()
        })
    });
    match parsed {
        Ok(spec) => Ok(spec.unwrap_or_default()),
        Err(err) => {
            // serde_path_to_error writes `.` for the root and `?` for a key it
            // could not read; neither helps a reader.
            let path = failed_path
                .map(|p| {
                    p.split('.')
                        .filter(|s| *s != "?" && !s.is_empty())
                        .collect::<Vec<_>>()
                        .join(".")
                })
                .unwrap_or_default();
            match super::yaml_error::too_large(&err) {
                // The document as a whole is at fault, not the key the
                // parser happened to be in when it gave up.
                Some(message) => Err(ParseFailure {
                    path: String::new(),
                    message,
                }),
                None => Err(ParseFailure {
                    path,
                    message: super::yaml_error::describe(&err, yaml),
                }),
            }
        }
    }
}

/// A scalar read as its text: `8080`, `true` and `30s` all become strings so
/// that validation, not the parser, says what is wrong with them.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord)]
pub(super) struct Text(pub String);

impl Text {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

struct TextVisitor;

impl Visitor<'_> for TextVisitor {
    type Value = Text;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a single value (text, number or boolean)")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Text, E> {
        Ok(Text(v.to_owned()))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Text, E> {
        Ok(Text(v))
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Text, E> {
        Ok(Text(v.to_string()))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Text, E> {
        Ok(Text(v.to_string()))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Text, E> {
        Ok(Text(v.to_string()))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Text, E> {
        Ok(Text(v.to_string()))
    }

    fn visit_char<E: de::Error>(self, v: char) -> Result<Text, E> {
        Ok(Text(v.to_string()))
    }
}

impl<'de> Deserialize<'de> for Text {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        // deserialize_str keeps the scalar's spelling (`1.10` stays `1.10`).
        d.deserialize_str(TextVisitor)
    }
}

/// The keys of a mapping that no field claimed, in document order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct Unknown(pub Vec<String>);

struct UnknownKey(String);

impl<'de> Deserialize<'de> for UnknownKey {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        // Buffered keys arrive through serde's content deserializer, which only
        // honours deserialize_any for non-string keys.
        d.deserialize_any(TextVisitor).map(|t| UnknownKey(t.0))
    }
}

struct UnknownVisitor;

impl<'de> Visitor<'de> for UnknownVisitor {
    type Value = Unknown;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a mapping")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Unknown, A::Error> {
        let mut keys = Vec::new();
        while let Some(UnknownKey(key)) = map.next_key()? {
            map.next_value::<IgnoredAny>()?;
            keys.push(key);
        }
        Ok(Unknown(keys))
    }
}

impl<'de> Deserialize<'de> for Unknown {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(UnknownVisitor)
    }
}

/// The keys each mapping accepts, for "did you mean" hints. Kept beside the
/// structs they describe; a unit test checks every one of them parses.
pub(super) mod keys {
    pub const SPEC: &[&str] = &[
        "server",
        "audit",
        "console",
        "environments",
        "services",
        "providers",
        "notifications",
        "slos",
    ];
    pub const NOTIFICATIONS: &[&str] = &[
        "receivers",
        "subscriptions",
        "slack",
        "max_attempts",
        "timeout",
        "retention",
    ];
    pub const RECEIVER: &[&str] = &["slack", "webhook", "pagerduty", "github"];
    pub const GITHUB_RECEIVER: &[&str] = &["repo", "token_env", "api_url"];
    pub const SLACK_RECEIVER: &[&str] = &["url_env"];
    pub const WEBHOOK_RECEIVER: &[&str] = &["url", "secret_env"];
    pub const PAGERDUTY_RECEIVER: &[&str] = &["routing_key_env", "api_url"];
    pub const SUBSCRIPTION: &[&str] = &["receiver", "events", "services", "environments"];
    pub const SLACK_APPROVALS: &[&str] = &["signing_secret_env", "users"];
    pub const SLO: &[&str] = &[
        "name",
        "service",
        "environment",
        "objective",
        "window",
        "sli",
        "threshold",
        "probe",
        "prometheus",
        "budgeting",
        "retention",
    ];
    pub const SLO_PROBE: &[&str] = &["url", "tcp", "interval", "timeout"];
    pub const SLO_PROMETHEUS: &[&str] = &["provider", "good", "bad", "total"];
    pub const HAPROXY_PROVIDER: &[&str] = &["socket", "syslog"];
    pub const HAPROXY_TARGET: &[&str] = &["provider", "backend"];
    pub const TLS: &[&str] = &["certificates"];
    pub const LIMITS: &[&str] = &[
        "connect_timeout",
        "header_timeout",
        "max_header_bytes",
        "max_connections",
    ];
    pub const TLS_CERTIFICATE: &[&str] = &["names", "cert", "key"];
    pub const NGINX_PROVIDER: &[&str] = &["binary", "config"];
    pub const NGINX_TARGET: &[&str] = &["provider", "upstream", "include", "access_log"];
    pub const SERVER: &[&str] = &["listen", "data_dir", "database", "github"];
    pub const GITHUB: &[&str] = &["webhook_secret_env", "webhook_secret_file"];
    pub const ENVIRONMENT: &[&str] = &[
        "name",
        "production",
        "requires",
        "approvals",
        "windows",
        "checks",
        "gates",
    ];
    pub const GATES: &[&str] = &["tests_passed", "coverage", "findings"];
    pub const FINDINGS: &[&str] = &["error", "warning", "note", "none"];
    pub const AUDIT: &[&str] = &["origin"];
    pub const CONSOLE: &[&str] = &["status_page"];
    pub const APPROVALS: &[&str] = &["required", "roles", "prevent_self_approval", "timeout"];
    pub const WINDOWS: &[&str] = &["timezone", "allow", "freeze"];
    pub const FREEZE: &[&str] = &["from", "to", "reason"];
    pub const SERVICE: &[&str] = &[
        "name",
        "depends_on",
        "workload",
        "health",
        "targets",
        "strategy",
        "canary",
        "blue_green",
        "rolling",
        "analysis",
        "hooks",
    ];
    pub const HOOKS: &[&str] = &[
        "pre_rollout",
        "pre_step",
        "post_step",
        "confirm_promotion",
        "post_rollout",
        "on_rollback",
    ];
    pub const GRPC_PROBE: &[&str] = &["service"];
    pub const HOOK: &[&str] = &["exec", "http", "timeout", "retries"];
    pub const HTTP_HOOK: &[&str] = &["url", "method", "secret_env", "secret_file"];
    pub const WORKLOAD: &[&str] = &["process"];
    pub const PROCESS: &[&str] = &["command", "workdir", "env", "replicas", "artifact"];
    pub const HEALTH: &[&str] = &[
        "http",
        "tcp",
        "exec",
        "grpc",
        "interval",
        "timeout",
        "start_timeout",
    ];
    pub const TARGET: &[&str] = &[
        "listen",
        "preview",
        "response_timeout",
        "upstream_protocol",
        "tls",
        "limits",
        "haproxy",
        "nginx",
    ];
    pub const CANARY: &[&str] = &["steps", "sticky"];
    pub const STEP: &[&str] = &["weight", "mirror", "pause", "match"];
    pub const MATCH: &[&str] = &["header", "cookie", "equals", "regex"];
    pub const BLUE_GREEN: &[&str] = &["scale_down_delay", "auto_promotion"];
    pub const ROLLING: &[&str] = &["batch"];
    pub const ANALYSIS: &[&str] = &[
        "interval",
        "failure_limit",
        "min_requests",
        "inconclusive_limit",
        "checks",
        "judge",
        "mann_whitney",
    ];
    pub const MANN_WHITNEY: &[&str] = &["confidence", "pass", "marginal", "groups", "metrics"];
    pub const JUDGED_METRIC: &[&str] = &[
        "metric",
        "group",
        "direction",
        "allowed_increase",
        "critical_increase",
        "allowed_decrease",
        "critical_decrease",
        "must_have_data",
        "critical",
    ];
    pub const CHECK: &[&str] = &[
        "name",
        "metric",
        "prometheus",
        "web",
        "exec",
        "max",
        "min",
        "max_ratio_to_baseline",
    ];
    pub const PROVIDER: &[&str] = &["prometheus", "haproxy", "nginx"];
    pub const PROMETHEUS: &[&str] = &[
        "url",
        "timeout",
        "bearer_token_env",
        "bearer_token_file",
        "basic_auth",
    ];
    pub const BASIC_AUTH: &[&str] = &["username", "password_env", "password_file"];
    pub const PROMETHEUS_CHECK: &[&str] = &["provider", "query"];
    pub const WEB_CHECK: &[&str] = &[
        "url",
        "method",
        "body",
        "headers",
        "header_env",
        "json_path",
        "timeout",
    ];
    pub const EXEC_CHECK: &[&str] = &["command", "timeout"];
}

/// The whole document.
#[derive(Debug, Clone, Default, Deserialize)]
pub(super) struct RawSpec {
    pub server: Option<RawServer>,
    pub audit: Option<RawAudit>,
    pub console: Option<RawConsole>,
    pub environments: Option<Vec<RawEnvironment>>,
    pub services: Option<Vec<RawService>>,
    pub providers: Option<BTreeMap<String, RawProvider>>,
    pub notifications: Option<RawNotifications>,
    pub slos: Option<Vec<RawSlo>>,
    #[serde(flatten)]
    pub unknown: Unknown,
}

/// `notifications:`.
#[derive(Debug, Clone, Default, Deserialize)]
pub(super) struct RawNotifications {
    pub receivers: Option<BTreeMap<String, RawReceiver>>,
    pub subscriptions: Option<Vec<RawSubscription>>,
    pub slack: Option<RawSlackApprovals>,
    pub max_attempts: Option<Text>,
    pub timeout: Option<Text>,
    pub retention: Option<Text>,
    #[serde(flatten)]
    pub unknown: Unknown,
}

/// `notifications.receivers.<name>`: one key naming its kind.
#[derive(Debug, Clone, Default, Deserialize)]
pub(super) struct RawReceiver {
    pub slack: Option<RawSlackReceiver>,
    pub webhook: Option<RawWebhookReceiver>,
    pub pagerduty: Option<RawPagerdutyReceiver>,
    pub github: Option<RawGithubReceiver>,
    #[serde(flatten)]
    pub unknown: Unknown,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub(super) struct RawGithubReceiver {
    pub repo: Option<Text>,
    pub token_env: Option<Text>,
    pub api_url: Option<Text>,
    #[serde(flatten)]
    pub unknown: Unknown,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub(super) struct RawSlackReceiver {
    pub url_env: Option<Text>,
    #[serde(flatten)]
    pub unknown: Unknown,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub(super) struct RawWebhookReceiver {
    pub url: Option<Text>,
    pub secret_env: Option<Text>,
    #[serde(flatten)]
    pub unknown: Unknown,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub(super) struct RawPagerdutyReceiver {
    pub routing_key_env: Option<Text>,
    pub api_url: Option<Text>,
    #[serde(flatten)]
    pub unknown: Unknown,
}

/// `notifications.subscriptions[i]`.
#[derive(Debug, Clone, Default, Deserialize)]
pub(super) struct RawSubscription {
    pub receiver: Option<Text>,
    pub events: Option<Vec<Text>>,
    pub services: Option<Vec<Text>>,
    pub environments: Option<Vec<Text>>,
    #[serde(flatten)]
    pub unknown: Unknown,
}

/// `notifications.slack`.
#[derive(Debug, Clone, Default, Deserialize)]
pub(super) struct RawSlackApprovals {
    pub signing_secret_env: Option<Text>,
    pub users: Option<BTreeMap<String, Text>>,
    #[serde(flatten)]
    pub unknown: Unknown,
}

/// `slos[]`.
#[derive(Debug, Clone, Default, Deserialize)]
pub(super) struct RawSlo {
    pub name: Option<Text>,
    pub service: Option<Text>,
    pub environment: Option<Text>,
    pub objective: Option<Text>,
    pub window: Option<Text>,
    pub sli: Option<Text>,
    pub threshold: Option<Text>,
    pub probe: Option<RawSloProbe>,
    pub prometheus: Option<RawSloPrometheus>,
    pub budgeting: Option<Text>,
    pub retention: Option<Text>,
    #[serde(flatten)]
    pub unknown: Unknown,
}

/// `slos[].prometheus`.
#[derive(Debug, Clone, Default, Deserialize)]
pub(super) struct RawSloPrometheus {
    pub provider: Option<Text>,
    pub good: Option<Text>,
    pub bad: Option<Text>,
    pub total: Option<Text>,
    #[serde(flatten)]
    pub unknown: Unknown,
}

/// `slos[].probe`.
#[derive(Debug, Clone, Default, Deserialize)]
pub(super) struct RawSloProbe {
    pub url: Option<Text>,
    pub tcp: Option<Text>,
    pub interval: Option<Text>,
    pub timeout: Option<Text>,
    #[serde(flatten)]
    pub unknown: Unknown,
}

/// `providers.<name>`: one key naming its kind.
#[derive(Debug, Clone, Default, Deserialize)]
pub(super) struct RawProvider {
    pub prometheus: Option<RawPrometheus>,
    pub haproxy: Option<RawHaproxyProvider>,
    pub nginx: Option<RawNginxProvider>,
    #[serde(flatten)]
    pub unknown: Unknown,
}

/// `providers.<name>.prometheus`.
#[derive(Debug, Clone, Default, Deserialize)]
pub(super) struct RawPrometheus {
    pub url: Option<Text>,
    pub timeout: Option<Text>,
    pub bearer_token_env: Option<Text>,
    pub bearer_token_file: Option<Text>,
    pub basic_auth: Option<RawBasicAuth>,
    #[serde(flatten)]
    pub unknown: Unknown,
}

/// `providers.<name>.haproxy`.
#[derive(Debug, Clone, Default, Deserialize)]
pub(super) struct RawHaproxyProvider {
    pub socket: Option<Text>,
    pub syslog: Option<Text>,
    #[serde(flatten)]
    pub unknown: Unknown,
}

/// `providers.<name>.nginx`.
#[derive(Debug, Clone, Default, Deserialize)]
pub(super) struct RawNginxProvider {
    pub binary: Option<Text>,
    pub config: Option<Text>,
    #[serde(flatten)]
    pub unknown: Unknown,
}

/// `basic_auth:` of a provider.
#[derive(Debug, Clone, Default, Deserialize)]
pub(super) struct RawBasicAuth {
    pub username: Option<Text>,
    pub password_env: Option<Text>,
    pub password_file: Option<Text>,
    #[serde(flatten)]
    pub unknown: Unknown,
}

/// `services[].targets.<env>.haproxy`.
#[derive(Debug, Clone, Default, Deserialize)]
pub(super) struct RawHaproxyTarget {
    pub provider: Option<Text>,
    pub backend: Option<Text>,
    #[serde(flatten)]
    pub unknown: Unknown,
}

/// `services[].targets.<env>.limits`.
#[derive(Debug, Clone, Default, Deserialize)]
pub(super) struct RawLimits {
    pub connect_timeout: Option<Text>,
    pub header_timeout: Option<Text>,
    pub max_header_bytes: Option<i64>,
    pub max_connections: Option<i64>,
    #[serde(flatten)]
    pub unknown: Unknown,
}

/// `services[].targets.<env>.tls`.
#[derive(Debug, Clone, Default, Deserialize)]
pub(super) struct RawTls {
    pub certificates: Option<Vec<RawTlsCertificate>>,
    #[serde(flatten)]
    pub unknown: Unknown,
}

/// `services[].targets.<env>.tls.certificates[]`.
#[derive(Debug, Clone, Default, Deserialize)]
pub(super) struct RawTlsCertificate {
    pub names: Option<Vec<Text>>,
    pub cert: Option<Text>,
    pub key: Option<Text>,
    #[serde(flatten)]
    pub unknown: Unknown,
}

/// `services[].targets.<env>.nginx`.
#[derive(Debug, Clone, Default, Deserialize)]
pub(super) struct RawNginxTarget {
    pub provider: Option<Text>,
    pub upstream: Option<Text>,
    pub include: Option<Text>,
    pub access_log: Option<Text>,
    #[serde(flatten)]
    pub unknown: Unknown,
}

/// `server:`.
#[derive(Debug, Clone, Default, Deserialize)]
pub(super) struct RawServer {
    pub listen: Option<Text>,
    pub data_dir: Option<Text>,
    pub database: Option<Text>,
    pub github: Option<RawGithub>,
    #[serde(flatten)]
    pub unknown: Unknown,
}

/// `server.github`.
#[derive(Debug, Clone, Default, Deserialize)]
pub(super) struct RawGithub {
    pub webhook_secret_env: Option<Text>,
    pub webhook_secret_file: Option<Text>,
    #[serde(flatten)]
    pub unknown: Unknown,
}

/// `environments[]`.
#[derive(Debug, Clone, Default, Deserialize)]
pub(super) struct RawEnvironment {
    pub name: Option<Text>,
    pub production: Option<bool>,
    pub requires: Option<Vec<Text>>,
    pub approvals: Option<RawApprovals>,
    pub windows: Option<RawWindows>,
    pub checks: Option<Vec<Text>>,
    pub gates: Option<RawGates>,
    #[serde(flatten)]
    pub unknown: Unknown,
}

/// `environments[].gates`.
#[derive(Debug, Clone, Default, Deserialize)]
pub(super) struct RawGates {
    /// `100%` or a ratio such as 0.95; both arrive as text.
    pub tests_passed: Option<Text>,
    pub coverage: Option<Text>,
    pub findings: Option<RawFindings>,
    #[serde(flatten)]
    pub unknown: Unknown,
}

/// `environments[].gates.findings`: the most findings allowed per SARIF level.
#[derive(Debug, Clone, Default, Deserialize)]
pub(super) struct RawFindings {
    pub error: Option<i64>,
    pub warning: Option<i64>,
    pub note: Option<i64>,
    pub none: Option<i64>,
    #[serde(flatten)]
    pub unknown: Unknown,
}

/// `audit:`.
#[derive(Debug, Clone, Default, Deserialize)]
pub(super) struct RawAudit {
    pub origin: Option<Text>,
    #[serde(flatten)]
    pub unknown: Unknown,
}

/// `console:`.
#[derive(Debug, Clone, Default, Deserialize)]
pub(super) struct RawConsole {
    pub status_page: Option<bool>,
    #[serde(flatten)]
    pub unknown: Unknown,
}

/// `environments[].approvals`.
#[derive(Debug, Clone, Default, Deserialize)]
pub(super) struct RawApprovals {
    pub required: Option<i64>,
    pub roles: Option<Vec<Text>>,
    pub prevent_self_approval: Option<bool>,
    pub timeout: Option<Text>,
    #[serde(flatten)]
    pub unknown: Unknown,
}

/// `environments[].windows`.
#[derive(Debug, Clone, Default, Deserialize)]
pub(super) struct RawWindows {
    pub timezone: Option<Text>,
    pub allow: Option<Vec<Text>>,
    pub freeze: Option<Vec<RawFreeze>>,
    #[serde(flatten)]
    pub unknown: Unknown,
}

/// `environments[].windows.freeze[]`.
#[derive(Debug, Clone, Default, Deserialize)]
pub(super) struct RawFreeze {
    pub from: Option<Text>,
    pub to: Option<Text>,
    pub reason: Option<Text>,
    #[serde(flatten)]
    pub unknown: Unknown,
}

/// `services[]`.
#[derive(Debug, Clone, Default, Deserialize)]
pub(super) struct RawService {
    pub name: Option<Text>,
    pub depends_on: Option<Vec<Text>>,
    pub workload: Option<RawWorkload>,
    pub health: Option<RawHealth>,
    /// A Vec rather than a map so that the document's order is kept for
    /// messages; duplicate keys are already refused by the parser.
    pub targets: Option<Targets>,
    pub strategy: Option<Text>,
    pub canary: Option<RawCanary>,
    pub blue_green: Option<RawBlueGreen>,
    pub rolling: Option<RawRolling>,
    pub analysis: Option<RawAnalysis>,
    pub hooks: Option<RawHooks>,
    #[serde(flatten)]
    pub unknown: Unknown,
}

/// `services[].hooks`: a list of hooks per point.
#[derive(Debug, Clone, Default, Deserialize)]
pub(super) struct RawHooks {
    pub pre_rollout: Option<Vec<RawHook>>,
    pub pre_step: Option<Vec<RawHook>>,
    pub post_step: Option<Vec<RawHook>>,
    pub confirm_promotion: Option<Vec<RawHook>>,
    pub post_rollout: Option<Vec<RawHook>>,
    pub on_rollback: Option<Vec<RawHook>>,
    #[serde(flatten)]
    pub unknown: Unknown,
}

/// `hooks.<point>[]`.
#[derive(Debug, Clone, Default, Deserialize)]
pub(super) struct RawHook {
    pub exec: Option<Vec<Text>>,
    pub http: Option<RawHttpHook>,
    pub timeout: Option<Text>,
    pub retries: Option<i64>,
    #[serde(flatten)]
    pub unknown: Unknown,
}

/// `hooks.<point>[].http`.
#[derive(Debug, Clone, Default, Deserialize)]
pub(super) struct RawHttpHook {
    pub url: Option<Text>,
    pub method: Option<Text>,
    pub secret_env: Option<Text>,
    pub secret_file: Option<Text>,
    #[serde(flatten)]
    pub unknown: Unknown,
}

/// `services[].workload`.
#[derive(Debug, Clone, Default, Deserialize)]
pub(super) struct RawWorkload {
    pub process: Option<RawProcess>,
    #[serde(flatten)]
    pub unknown: Unknown,
}

/// `services[].workload.process`.
#[derive(Debug, Clone, Default, Deserialize)]
pub(super) struct RawProcess {
    pub command: Option<Vec<Text>>,
    pub workdir: Option<Text>,
    pub env: Option<BTreeMap<Text, Text>>,
    pub replicas: Option<i64>,
    pub artifact: Option<Text>,
    #[serde(flatten)]
    pub unknown: Unknown,
}

/// `services[].health`.
#[derive(Debug, Clone, Default, Deserialize)]
pub(super) struct RawHealth {
    pub http: Option<Text>,
    pub tcp: Option<bool>,
    pub exec: Option<Vec<Text>>,
    pub grpc: Option<RawGrpcProbe>,
    pub interval: Option<Text>,
    pub timeout: Option<Text>,
    pub start_timeout: Option<Text>,
    #[serde(flatten)]
    pub unknown: Unknown,
}

/// `services[].health.grpc`.
#[derive(Debug, Clone, Default, Deserialize)]
pub(super) struct RawGrpcProbe {
    pub service: Option<Text>,
    #[serde(flatten)]
    pub unknown: Unknown,
}

/// `services[].targets`: environment name → target, in document order.
#[derive(Debug, Clone, Default)]
pub(super) struct Targets(pub Vec<(Text, RawTarget)>);

impl<'de> Deserialize<'de> for Targets {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct TargetsVisitor;
        impl<'de> Visitor<'de> for TargetsVisitor {
            type Value = Targets;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a mapping of environment name to { listen, preview }")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Targets, A::Error> {
                let mut entries = Vec::new();
                while let Some((env, target)) = map.next_entry::<Text, RawTarget>()? {
                    entries.push((env, target));
                }
                Ok(Targets(entries))
            }
        }
        d.deserialize_map(TargetsVisitor)
    }
}

/// `services[].targets.<env>`.
#[derive(Debug, Clone, Default, Deserialize)]
pub(super) struct RawTarget {
    pub listen: Option<Text>,
    pub preview: Option<Text>,
    pub response_timeout: Option<Text>,
    pub upstream_protocol: Option<Text>,
    pub tls: Option<RawTls>,
    pub limits: Option<RawLimits>,
    pub haproxy: Option<RawHaproxyTarget>,
    pub nginx: Option<RawNginxTarget>,
    #[serde(flatten)]
    pub unknown: Unknown,
}

/// `services[].canary`.
#[derive(Debug, Clone, Default, Deserialize)]
pub(super) struct RawCanary {
    pub steps: Option<Vec<RawStep>>,
    pub sticky: Option<bool>,
    #[serde(flatten)]
    pub unknown: Unknown,
}

/// `services[].canary.steps[]`.
#[derive(Debug, Clone, Default, Deserialize)]
pub(super) struct RawStep {
    pub weight: Option<i64>,
    pub mirror: Option<i64>,
    pub pause: Option<Text>,
    #[serde(rename = "match")]
    pub matches: Option<Vec<RawMatch>>,
    #[serde(flatten)]
    pub unknown: Unknown,
}

/// `services[].canary.steps[].match[]`.
#[derive(Debug, Clone, Default, Deserialize)]
pub(super) struct RawMatch {
    pub header: Option<Text>,
    pub cookie: Option<Text>,
    pub equals: Option<Text>,
    pub regex: Option<Text>,
    #[serde(flatten)]
    pub unknown: Unknown,
}

/// `services[].blue_green`.
#[derive(Debug, Clone, Default, Deserialize)]
pub(super) struct RawBlueGreen {
    pub scale_down_delay: Option<Text>,
    pub auto_promotion: Option<Text>,
    #[serde(flatten)]
    pub unknown: Unknown,
}

/// `services[].rolling`.
#[derive(Debug, Clone, Default, Deserialize)]
pub(super) struct RawRolling {
    /// `33%` or a count; both arrive as text.
    pub batch: Option<Text>,
    #[serde(flatten)]
    pub unknown: Unknown,
}

/// `services[].analysis`.
#[derive(Debug, Clone, Default, Deserialize)]
pub(super) struct RawAnalysis {
    pub interval: Option<Text>,
    pub failure_limit: Option<i64>,
    pub min_requests: Option<i64>,
    pub inconclusive_limit: Option<Text>,
    pub checks: Option<Vec<RawCheck>>,
    pub judge: Option<Text>,
    pub mann_whitney: Option<RawMannWhitney>,
    #[serde(flatten)]
    pub unknown: Unknown,
}

/// `services[].analysis.mann_whitney`.
#[derive(Debug, Clone, Default, Deserialize)]
pub(super) struct RawMannWhitney {
    pub confidence: Option<f64>,
    pub pass: Option<f64>,
    pub marginal: Option<f64>,
    pub groups: Option<BTreeMap<String, f64>>,
    pub metrics: Option<Vec<RawJudgedMetric>>,
    #[serde(flatten)]
    pub unknown: Unknown,
}

/// `services[].analysis.mann_whitney.metrics[]`.
#[derive(Debug, Clone, Default, Deserialize)]
pub(super) struct RawJudgedMetric {
    pub metric: Option<Text>,
    pub group: Option<Text>,
    pub direction: Option<Text>,
    pub allowed_increase: Option<f64>,
    pub critical_increase: Option<f64>,
    pub allowed_decrease: Option<f64>,
    pub critical_decrease: Option<f64>,
    pub must_have_data: Option<bool>,
    pub critical: Option<bool>,
    #[serde(flatten)]
    pub unknown: Unknown,
}

/// `services[].analysis.checks[]`.
#[derive(Debug, Clone, Default, Deserialize)]
pub(super) struct RawCheck {
    pub name: Option<Text>,
    pub metric: Option<Text>,
    pub prometheus: Option<RawPrometheusCheck>,
    pub web: Option<RawWebCheck>,
    pub exec: Option<RawExecCheck>,
    pub max: Option<f64>,
    pub min: Option<f64>,
    pub max_ratio_to_baseline: Option<f64>,
    #[serde(flatten)]
    pub unknown: Unknown,
}

/// `checks[].prometheus`.
#[derive(Debug, Clone, Default, Deserialize)]
pub(super) struct RawPrometheusCheck {
    pub provider: Option<Text>,
    pub query: Option<Text>,
    #[serde(flatten)]
    pub unknown: Unknown,
}

/// `checks[].web`.
#[derive(Debug, Clone, Default, Deserialize)]
pub(super) struct RawWebCheck {
    pub url: Option<Text>,
    pub method: Option<Text>,
    pub body: Option<Text>,
    pub headers: Option<BTreeMap<String, Text>>,
    pub header_env: Option<BTreeMap<String, Text>>,
    pub json_path: Option<Text>,
    pub timeout: Option<Text>,
    #[serde(flatten)]
    pub unknown: Unknown,
}

/// `checks[].exec`.
#[derive(Debug, Clone, Default, Deserialize)]
pub(super) struct RawExecCheck {
    pub command: Option<Vec<Text>>,
    pub timeout: Option<Text>,
    #[serde(flatten)]
    pub unknown: Unknown,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scalars_keep_their_spelling_as_text() {
        let raw = parse(
            "server: { listen: 8080, data_dir: 1.10 }\n\
             environments: [{ name: true }]\n",
        )
        .unwrap();
        let server = raw.server.unwrap();
        assert_eq!(server.listen.unwrap().0, "8080");
        assert_eq!(server.data_dir.unwrap().0, "1.10");
        assert_eq!(
            raw.environments.unwrap()[0].name.as_ref().unwrap().0,
            "true"
        );
    }

    #[test]
    fn numbers_and_bools_still_parse_next_to_unknown_keys() {
        let raw = parse(
            "services:\n\
             - name: web\n\
             \x20 bogus: 1\n\
             \x20 canary:\n\
             \x20   sticky: true\n\
             \x20   steps:\n\
             \x20     - { weight: 5, wieght: 7, pause: 30s }\n\
             \x20 analysis: { failure_limit: 3, checks: [{ metric: cpu, max: 80, extra: [1, 2] }] }\n",
        )
        .unwrap();
        let svc = &raw.services.unwrap()[0];
        assert_eq!(svc.unknown.0, vec!["bogus"]);
        let canary = svc.canary.as_ref().unwrap();
        assert_eq!(canary.sticky, Some(true));
        let step = &canary.steps.as_ref().unwrap()[0];
        assert_eq!(step.weight, Some(5));
        assert_eq!(step.unknown.0, vec!["wieght"]);
        assert_eq!(step.pause.as_ref().unwrap().0, "30s");
        let analysis = svc.analysis.as_ref().unwrap();
        assert_eq!(analysis.failure_limit, Some(3));
        let check = &analysis.checks.as_ref().unwrap()[0];
        assert_eq!(check.max, Some(80.0));
        assert_eq!(check.unknown.0, vec!["extra"]);
    }

    #[test]
    fn unknown_keys_keep_document_order() {
        let raw = parse("zeta: 1\nalpha: 2\nenvironments: []\nmid: x\n").unwrap();
        assert_eq!(raw.unknown.0, vec!["zeta", "alpha", "mid"]);
    }

    #[test]
    fn targets_keep_document_order() {
        let raw = parse(
            "services:\n- name: web\n  targets:\n    zz: { listen: 127.0.0.1:1 }\n    aa: { listen: 127.0.0.1:2 }\n",
        )
        .unwrap();
        let targets = &raw.services.unwrap()[0].targets.clone().unwrap().0;
        let names: Vec<&str> = targets.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(names, ["zz", "aa"]);
    }

    #[test]
    fn empty_document_is_an_empty_spec() {
        let raw = parse("# nothing yet\n").unwrap();
        assert!(raw.environments.is_none() && raw.services.is_none());
    }

    #[test]
    fn type_error_carries_path_and_position() {
        let err = parse(
            "services:\n  - name: web\n    workload:\n      process:\n        replicas: two\n",
        )
        .unwrap_err();
        assert_eq!(err.path, "services[0].workload.process.replicas");
        assert!(
            err.message.starts_with("expected a whole number"),
            "{}",
            err.message
        );
        assert!(err.message.contains("line 5"), "{}", err.message);
    }

    #[test]
    fn list_where_a_value_belongs_is_a_type_error() {
        let err = parse("environments:\n  - name: a\n    requires: staging\n").unwrap_err();
        assert_eq!(err.path, "environments[0].requires");
        assert!(
            err.message.starts_with("expected a list"),
            "{}",
            err.message
        );
        assert!(err.message.contains("line 3, column"), "{}", err.message);
    }

    #[test]
    fn syntax_error_carries_position() {
        let err = parse("environments:\n  - name: [unclosed\n").unwrap_err();
        assert!(err.message.contains("line "), "{}", err.message);
    }

    #[test]
    fn duplicate_keys_are_refused() {
        let err = parse("environments:\n  - name: a\n    name: b\n").unwrap_err();
        assert_eq!(err.path, "environments[0]");
        assert!(
            err.message.starts_with("duplicate key `name`"),
            "{}",
            err.message
        );
        assert!(err.message.contains("line 3"), "{}", err.message);
    }

    fn unknown_keys_of<T: for<'de> Deserialize<'de>>(
        keys: &[&str],
        unknown: impl Fn(T) -> Unknown,
    ) -> Vec<String> {
        // Every listed key set to null, plus one key no struct has.
        let mut yaml: String = keys.iter().map(|k| format!("{k}: ~\n")).collect();
        yaml.push_str("not_a_key: 1\n");
        let value: T = serde_saphyr::from_str(&yaml).unwrap();
        unknown(value).0
    }

    #[test]
    fn every_listed_key_is_a_field() {
        let cases: Vec<(&str, Vec<String>)> = vec![
            (
                "spec",
                unknown_keys_of::<RawSpec>(keys::SPEC, |r| r.unknown),
            ),
            (
                "server",
                unknown_keys_of::<RawServer>(keys::SERVER, |r| r.unknown),
            ),
            (
                "env",
                unknown_keys_of::<RawEnvironment>(keys::ENVIRONMENT, |r| r.unknown),
            ),
            (
                "gates",
                unknown_keys_of::<RawGates>(keys::GATES, |r| r.unknown),
            ),
            (
                "findings",
                unknown_keys_of::<RawFindings>(keys::FINDINGS, |r| r.unknown),
            ),
            (
                "audit",
                unknown_keys_of::<RawAudit>(keys::AUDIT, |r| r.unknown),
            ),
            (
                "console",
                unknown_keys_of::<RawConsole>(keys::CONSOLE, |r| r.unknown),
            ),
            (
                "approvals",
                unknown_keys_of::<RawApprovals>(keys::APPROVALS, |r| r.unknown),
            ),
            (
                "windows",
                unknown_keys_of::<RawWindows>(keys::WINDOWS, |r| r.unknown),
            ),
            (
                "freeze",
                unknown_keys_of::<RawFreeze>(keys::FREEZE, |r| r.unknown),
            ),
            (
                "service",
                unknown_keys_of::<RawService>(keys::SERVICE, |r| r.unknown),
            ),
            (
                "workload",
                unknown_keys_of::<RawWorkload>(keys::WORKLOAD, |r| r.unknown),
            ),
            (
                "process",
                unknown_keys_of::<RawProcess>(keys::PROCESS, |r| r.unknown),
            ),
            (
                "health",
                unknown_keys_of::<RawHealth>(keys::HEALTH, |r| r.unknown),
            ),
            (
                "grpc_probe",
                unknown_keys_of::<RawGrpcProbe>(keys::GRPC_PROBE, |r| r.unknown),
            ),
            (
                "target",
                unknown_keys_of::<RawTarget>(keys::TARGET, |r| r.unknown),
            ),
            (
                "canary",
                unknown_keys_of::<RawCanary>(keys::CANARY, |r| r.unknown),
            ),
            (
                "step",
                unknown_keys_of::<RawStep>(keys::STEP, |r| r.unknown),
            ),
            (
                "match",
                unknown_keys_of::<RawMatch>(keys::MATCH, |r| r.unknown),
            ),
            (
                "blue_green",
                unknown_keys_of::<RawBlueGreen>(keys::BLUE_GREEN, |r| r.unknown),
            ),
            (
                "rolling",
                unknown_keys_of::<RawRolling>(keys::ROLLING, |r| r.unknown),
            ),
            (
                "analysis",
                unknown_keys_of::<RawAnalysis>(keys::ANALYSIS, |r| r.unknown),
            ),
            (
                "check",
                unknown_keys_of::<RawCheck>(keys::CHECK, |r| r.unknown),
            ),
            (
                "mann_whitney",
                unknown_keys_of::<RawMannWhitney>(keys::MANN_WHITNEY, |r| r.unknown),
            ),
            (
                "judged_metric",
                unknown_keys_of::<RawJudgedMetric>(keys::JUDGED_METRIC, |r| r.unknown),
            ),
            (
                "provider",
                unknown_keys_of::<RawProvider>(keys::PROVIDER, |r| r.unknown),
            ),
            (
                "prometheus",
                unknown_keys_of::<RawPrometheus>(keys::PROMETHEUS, |r| r.unknown),
            ),
            (
                "basic_auth",
                unknown_keys_of::<RawBasicAuth>(keys::BASIC_AUTH, |r| r.unknown),
            ),
            (
                "prometheus_check",
                unknown_keys_of::<RawPrometheusCheck>(keys::PROMETHEUS_CHECK, |r| r.unknown),
            ),
            (
                "web_check",
                unknown_keys_of::<RawWebCheck>(keys::WEB_CHECK, |r| r.unknown),
            ),
            (
                "exec_check",
                unknown_keys_of::<RawExecCheck>(keys::EXEC_CHECK, |r| r.unknown),
            ),
            (
                "hooks",
                unknown_keys_of::<RawHooks>(keys::HOOKS, |r| r.unknown),
            ),
            (
                "hook",
                unknown_keys_of::<RawHook>(keys::HOOK, |r| r.unknown),
            ),
            (
                "http_hook",
                unknown_keys_of::<RawHttpHook>(keys::HTTP_HOOK, |r| r.unknown),
            ),
            (
                "nginx_provider",
                unknown_keys_of::<RawNginxProvider>(keys::NGINX_PROVIDER, |r| r.unknown),
            ),
            (
                "nginx_target",
                unknown_keys_of::<RawNginxTarget>(keys::NGINX_TARGET, |r| r.unknown),
            ),
            (
                "notifications",
                unknown_keys_of::<RawNotifications>(keys::NOTIFICATIONS, |r| r.unknown),
            ),
            (
                "receiver",
                unknown_keys_of::<RawReceiver>(keys::RECEIVER, |r| r.unknown),
            ),
            (
                "slack_receiver",
                unknown_keys_of::<RawSlackReceiver>(keys::SLACK_RECEIVER, |r| r.unknown),
            ),
            (
                "webhook_receiver",
                unknown_keys_of::<RawWebhookReceiver>(keys::WEBHOOK_RECEIVER, |r| r.unknown),
            ),
            (
                "pagerduty_receiver",
                unknown_keys_of::<RawPagerdutyReceiver>(keys::PAGERDUTY_RECEIVER, |r| r.unknown),
            ),
            (
                "subscription",
                unknown_keys_of::<RawSubscription>(keys::SUBSCRIPTION, |r| r.unknown),
            ),
            (
                "github_receiver",
                unknown_keys_of::<RawGithubReceiver>(keys::GITHUB_RECEIVER, |r| r.unknown),
            ),
            (
                "slack_approvals",
                unknown_keys_of::<RawSlackApprovals>(keys::SLACK_APPROVALS, |r| r.unknown),
            ),
            ("slo", unknown_keys_of::<RawSlo>(keys::SLO, |r| r.unknown)),
            (
                "slo_prometheus",
                unknown_keys_of::<RawSloPrometheus>(keys::SLO_PROMETHEUS, |r| r.unknown),
            ),
        ];
        for (what, unknown) in cases {
            assert_eq!(unknown, vec!["not_a_key"], "{what}");
        }
    }
}
