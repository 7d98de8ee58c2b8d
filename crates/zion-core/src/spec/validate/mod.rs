//! Validation: turns the raw spec into the checked model. Every mistake is
//! collected with its path (`services[0].canary.steps[2].weight`) and a
//! message saying what is wrong and how to fix it; validation never stops at
//! the first one. Defaults documented on the model are applied here.

mod analysis;
mod audit;
mod environments;
mod rollout;
mod server;
mod services;
mod summary;
#[cfg(test)]
mod test_support;

pub use summary::summary;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

use super::Spec;
use super::ranges::Range;
use super::raw::{self, RawSpec, Text, Unknown, keys};
use crate::duration::parse_duration;
use crate::text::excerpt;
use audit::audit;
use environments::environments;
use server::server;
use services::services;

/// One spec error: where (`services[0].canary.steps[2].weight`) and what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpecError {
    /// Dotted path of the offending key; empty when the document as a whole
    /// is at fault.
    pub path: String,
    /// What is wrong and how to fix it.
    pub message: String,
}

impl std::fmt::Display for SpecError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.path.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}

impl std::error::Error for SpecError {}

/// Every error of a spec, in document order; never empty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpecErrors(pub Vec<SpecError>);

impl SpecErrors {
    /// The errors, in document order.
    pub fn iter(&self) -> std::slice::Iter<'_, SpecError> {
        self.0.iter()
    }

    /// True when some error is at `path`.
    pub fn has_path(&self, path: &str) -> bool {
        self.0.iter().any(|e| e.path == path)
    }
}

impl std::fmt::Display for SpecErrors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for SpecErrors {}

/// Parses and validates a `zion.yaml`. A YAML syntax or type error stops
/// parsing and is the only error returned (with its path and line/column);
/// otherwise every semantic mistake is reported at once.
pub fn parse_spec(yaml: &str) -> Result<Spec, SpecErrors> {
    let raw = raw::parse(yaml).map_err(|failure| {
        SpecErrors(vec![SpecError {
            path: failure.path,
            message: failure.message,
        }])
    })?;
    validate(&raw)
}

/// The errors found so far, plus every listener address for the final
/// uniqueness check.
#[derive(Default)]
struct Report {
    errors: Vec<SpecError>,
    listeners: Vec<(String, SocketAddr)>,
}

fn at(base: &str, key: &str) -> String {
    if base.is_empty() {
        key.to_owned()
    } else {
        format!("{base}.{key}")
    }
}

fn text(t: Option<&Text>) -> Option<&str> {
    t.map(Text::as_str)
}

impl Report {
    fn add(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.errors.push(SpecError {
            path: path.into(),
            message: message.into(),
        });
    }

    fn unknown(&mut self, base: &str, unknown: &Unknown, allowed: &[&str]) {
        for key in &unknown.0 {
            let hint = match suggest(key, allowed.iter().copied()) {
                Some(s) => format!("did you mean `{s}`? "),
                None => String::new(),
            };
            self.add(
                at(base, key),
                format!(
                    "unknown key; {hint}keys allowed here: {}",
                    allowed.join(", ")
                ),
            );
        }
    }

    /// A duration, or `default` when absent; must lie in `range`.
    fn duration(
        &mut self,
        path: &str,
        value: Option<&Text>,
        default: Duration,
        range: Range,
    ) -> Duration {
        self.opt_duration(path, value, range).unwrap_or(default)
    }

    fn opt_duration(&mut self, path: &str, value: Option<&Text>, range: Range) -> Option<Duration> {
        let value = value?;
        let refusal = match parse_duration(value.as_str()) {
            Ok(d) => match range.refuse(d, &excerpt(value.as_str())) {
                None => return Some(d),
                Some(message) => message,
            },
            Err(message) => message,
        };
        self.add(path, refusal);
        None
    }

    /// A name that must be a DNS label; reports a missing or malformed one.
    fn name(&mut self, path: &str, value: Option<&Text>, kind: &str) -> String {
        match value {
            None => {
                self.add(
                    path,
                    format!("missing: every {kind} needs a name, e.g. `name: web`"),
                );
                String::new()
            }
            Some(name) => {
                if !is_dns_label(name.as_str()) {
                    self.add(
                        path,
                        format!(
                            "`{name}` is not a valid name: use 1-63 lowercase letters, digits \
                             and '-', starting and ending with a letter or digit (e.g. `web-api`)"
                        ),
                    );
                }
                name.0.clone()
            }
        }
    }

    /// Reports names declared twice in one list.
    fn unique_names(&mut self, base: &str, names: &[String], kind: &str) {
        let mut first: HashMap<&str, usize> = HashMap::new();
        for (i, name) in names.iter().enumerate() {
            if name.is_empty() {
                continue;
            }
            if let Some(j) = first.get(name.as_str()) {
                self.add(
                    format!("{base}[{i}].name"),
                    format!(
                        "{kind} `{name}` is already declared at {base}[{j}]: names must be unique"
                    ),
                );
            } else {
                first.insert(name, i);
            }
        }
    }

    /// A reference to a declared name (an environment or a service).
    /// A list of names of declared things (`requires`, `depends_on`): each
    /// must be declared, not the owner itself, and listed once. Returns the
    /// valid ones. `words` = (kind, verb, key) for the messages.
    fn name_list(
        &mut self,
        path: &str,
        items: &[Text],
        own: &str,
        declared: &[String],
        words: (&str, &str, &str),
    ) -> Vec<String> {
        let (kind, verb, key) = words;
        let mut out: Vec<String> = Vec::new();
        for (k, item) in items.iter().enumerate() {
            let ip = format!("{path}[{k}]");
            let item = item.as_str();
            if !own.is_empty() && item == own {
                self.add(
                    ip,
                    format!("`{item}` cannot {verb} itself: remove it from {key}"),
                );
            } else if out.iter().any(|x| x == item) {
                self.add(ip, format!("`{item}` is listed twice: list it once"));
            } else if self.reference(&ip, item, declared, kind) {
                out.push(item.to_owned());
            }
        }
        out
    }

    fn reference(&mut self, path: &str, name: &str, declared: &[String], kind: &str) -> bool {
        if declared.iter().any(|d| d == name) {
            return true;
        }
        let hint = match suggest(name, declared.iter().map(String::as_str)) {
            Some(s) => format!("did you mean `{s}`? "),
            None => String::new(),
        };
        let list: Vec<&str> = declared
            .iter()
            .map(String::as_str)
            .filter(|d| !d.is_empty())
            .collect();
        let declared_text = if list.is_empty() {
            "none is declared".to_owned()
        } else {
            format!("declared: {}", list.join(", "))
        };
        self.add(
            path,
            format!("unknown {kind} `{name}`; {hint}{declared_text}"),
        );
        false
    }

    /// One of a fixed set of words (roles, checks, strategies).
    fn choice<T: Copy>(
        &mut self,
        path: &str,
        value: &str,
        what: &str,
        options: &[(&str, T)],
    ) -> Option<T> {
        if let Some((_, v)) = options.iter().find(|(n, _)| *n == value) {
            return Some(*v);
        }
        let names: Vec<&str> = options.iter().map(|(n, _)| *n).collect();
        let hint = match suggest(value, names.iter().copied()) {
            Some(s) => format!("did you mean `{s}`? "),
            None => String::new(),
        };
        self.add(
            path,
            format!(
                "`{value}` is not a {what}; {hint}use one of: {}",
                names.join(", ")
            ),
        );
        None
    }

    /// A listener address: an IP and a non-zero port.
    fn address(&mut self, path: &str, value: &Text, allow_port_zero: bool) -> Option<SocketAddr> {
        match value.as_str().parse::<SocketAddr>() {
            Err(_) => {
                self.add(
                    path,
                    format!(
                        "`{value}` is not an address: write an IP and a port, e.g. 127.0.0.1:8080 \
                         (host names are not resolved)"
                    ),
                );
                None
            }
            Ok(addr) if addr.port() == 0 && !allow_port_zero => {
                self.add(
                    path,
                    format!(
                        "`{value}` has port 0: give a fixed port, e.g. {}:8080, so clients know \
                         where to connect",
                        ip_text(&addr)
                    ),
                );
                None
            }
            Ok(addr) => {
                self.listeners.push((path.to_owned(), addr));
                Some(addr)
            }
        }
    }

    /// Every listener must be bindable next to all the others.
    fn check_listeners(&mut self) {
        let listeners = std::mem::take(&mut self.listeners);
        for (i, (path, addr)) in listeners.iter().enumerate() {
            let clash = listeners[..i]
                .iter()
                .find(|(_, other)| addresses_clash(addr, other));
            let Some((other_path, _)) = clash else {
                continue;
            };
            let message = if other_path == "server.listen" {
                format!(
                    "{addr} is also server.listen (Zion's API): give this listener another port"
                )
            } else {
                format!(
                    "{addr} is already used by {other_path}: every listener needs its own address"
                )
            };
            self.add(path.clone(), message);
        }
        self.listeners = listeners;
    }
}

fn ip_text(addr: &SocketAddr) -> String {
    match addr {
        SocketAddr::V4(a) => a.ip().to_string(),
        SocketAddr::V6(a) => format!("[{}]", a.ip()),
    }
}

/// Two sockets cannot both bind when their ports match and their IPs are
/// equal or either is a wildcard.
fn addresses_clash(a: &SocketAddr, b: &SocketAddr) -> bool {
    a.port() != 0
        && a.port() == b.port()
        && (a.ip() == b.ip() || a.ip().is_unspecified() || b.ip().is_unspecified())
}

fn is_dns_label(name: &str) -> bool {
    (1..=63).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !name.starts_with('-')
        && !name.ends_with('-')
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

/// The closest candidate when it is close enough to be a typo.
fn suggest<'a>(word: &str, candidates: impl Iterator<Item = &'a str>) -> Option<&'a str> {
    let limit = match word.chars().count() {
        0..=3 => 1,
        4..=6 => 2,
        _ => 3,
    };
    let lower = word.to_ascii_lowercase().replace('-', "_");
    candidates
        .filter(|c| !c.is_empty())
        .map(|c| {
            (
                edit_distance(&lower, &c.replace('-', "_")).min(edit_distance(word, c)),
                c,
            )
        })
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

fn validate(raw: &RawSpec) -> Result<Spec, SpecErrors> {
    let mut r = Report::default();
    r.unknown("", &raw.unknown, keys::SPEC);
    let server = server(&mut r, raw.server.as_ref());
    let audit = raw
        .audit
        .as_ref()
        .map(|a| audit(&mut r, a))
        .unwrap_or_default();
    let environments = environments(
        &mut r,
        raw.environments.as_deref().unwrap_or(&[]),
        raw.environments.is_some(),
    );
    let env_names: Vec<String> = environments.iter().map(|e| e.name.clone()).collect();
    let services = services(&mut r, raw.services.as_deref().unwrap_or(&[]), &env_names);
    r.check_listeners();
    if r.errors.is_empty() {
        Ok(Spec {
            server,
            audit,
            environments,
            services,
        })
    } else {
        Err(SpecErrors(r.errors))
    }
}

#[cfg(test)]
mod tests {
    use super::rollout::default_canary_steps;
    use super::test_support::service;
    use super::test_support::*;
    use super::*;
    use crate::spec::{AnalysisSpec, Batch, PreCheck, Probe, Role, Strategy};

    #[test]
    fn design_example_parses_exactly() {
        let spec = valid(DESIGN_EXAMPLE);
        assert_eq!(spec.server.listen, "127.0.0.1:7070".parse().unwrap());
        assert_eq!(spec.server.data_dir, ".zion");

        assert_eq!(spec.environments.len(), 2);
        let staging = spec.environment("staging").unwrap();
        assert!(staging.requires.is_empty() && staging.approvals.is_none());
        assert!(staging.windows.is_none() && staging.checks.is_empty());
        let prod = spec.environment("production").unwrap();
        assert_eq!(prod.requires, ["staging"]);
        let approvals = prod.approvals.as_ref().unwrap();
        assert_eq!(approvals.required, 2);
        assert_eq!(approvals.roles, [Role::Approver, Role::Admin]);
        assert!(approvals.prevent_self_approval);
        assert_eq!(approvals.timeout, Duration::from_secs(86_400));
        let windows = prod.windows.as_ref().unwrap();
        assert_eq!(windows.timezone, "Europe/Berlin");
        assert_eq!(windows.allow.len(), 1);
        assert_eq!(windows.allow[0].days, [0, 1, 2, 3, 4]);
        assert_eq!(
            (windows.allow[0].start_minute, windows.allow[0].end_minute),
            (540, 1020)
        );
        assert_eq!(windows.freeze.len(), 1);
        assert_eq!(
            windows.freeze[0].from,
            "2026-12-20T00:00:00Z".parse().unwrap()
        );
        assert_eq!(
            windows.freeze[0].to,
            "2027-01-04T00:00:00Z".parse().unwrap()
        );
        assert_eq!(windows.freeze[0].reason, "year-end");
        assert_eq!(
            prod.checks,
            [
                PreCheck::DeploymentWindow,
                PreCheck::NoOpenIncident,
                PreCheck::ServiceHealth
            ]
        );

        assert_eq!(spec.services.len(), 1);
        let web = spec.service("web").unwrap();
        assert!(web.depends_on.is_empty());
        let process = &web.workload.process;
        assert_eq!(
            process.command,
            [
                "python3",
                "app.py",
                "--port",
                "{port}",
                "--version",
                "{version}"
            ]
        );
        assert_eq!(process.workdir.as_deref(), Some("./web"));
        assert_eq!(
            process.env.get("LOG_LEVEL").map(String::as_str),
            Some("info")
        );
        assert_eq!(process.env.len(), 1);
        assert_eq!(process.replicas, 2);
        assert_eq!(process.artifact, None);
        assert_eq!(web.health.probe, Probe::Http("/healthz".into()));
        assert_eq!(web.health.interval, Duration::from_secs(1));
        assert_eq!(web.health.timeout, Duration::from_millis(500));
        assert_eq!(web.health.start_timeout, Duration::from_secs(60));
        assert_eq!(web.targets.len(), 2);
        assert_eq!(
            web.targets["staging"].listen,
            "127.0.0.1:8081".parse().unwrap()
        );
        assert_eq!(web.targets["staging"].preview, None);
        assert_eq!(
            web.targets["production"].listen,
            "127.0.0.1:8080".parse().unwrap()
        );
        assert_eq!(
            web.targets["production"].preview,
            Some("127.0.0.1:9080".parse().unwrap())
        );
        assert_eq!(web.strategy, Strategy::Canary);
        assert_eq!(web.canary.steps, default_canary_steps());
        assert!(!web.canary.sticky);
        assert_eq!(web.blue_green.scale_down_delay, Duration::from_secs(30));
        assert_eq!(web.blue_green.auto_promotion, None);
        assert_eq!(web.rolling.batch, Batch::Percent(33));
        assert_eq!(web.analysis.interval, Duration::from_secs(5));
        assert_eq!(web.analysis.failure_limit, 2);
        assert_eq!(web.analysis.min_requests, 20);
        assert_eq!(web.analysis.checks, AnalysisSpec::default_checks());
    }

    #[test]
    fn defaults_are_applied() {
        let spec = valid(&service(""));
        assert_eq!(spec.server.listen, "127.0.0.1:7070".parse().unwrap());
        assert_eq!(spec.server.data_dir, ".zion");
        let web = &spec.services[0];
        assert_eq!(web.workload.process.replicas, 1);
        assert_eq!(web.workload.process.workdir, None);
        assert!(web.workload.process.env.is_empty());
        assert_eq!(web.health.probe, Probe::Tcp);
        assert_eq!(web.health.interval, Duration::from_secs(1));
        assert_eq!(web.health.timeout, Duration::from_millis(500));
        assert_eq!(web.health.start_timeout, Duration::from_secs(60));
        assert_eq!(web.strategy, Strategy::Canary);
        let pauses: Vec<_> = web
            .canary
            .steps
            .iter()
            .map(|s| (s.weight, s.pause))
            .collect();
        assert_eq!(
            pauses,
            [
                (Some(5), Some(Duration::from_secs(30))),
                (Some(25), Some(Duration::from_secs(30))),
                (Some(50), Some(Duration::from_secs(60))),
                (Some(100), None),
            ]
        );
        assert_eq!(web.blue_green.scale_down_delay, Duration::from_secs(30));
        assert_eq!(web.rolling.batch, Batch::Percent(33));
        assert_eq!(web.analysis.interval, Duration::from_secs(5));
        assert_eq!(web.analysis.failure_limit, 2);
        assert_eq!(web.analysis.min_requests, 20);
        assert_eq!(web.analysis.checks, AnalysisSpec::default_checks());
    }

    #[test]
    fn block_defaults_are_applied_inside_partial_blocks() {
        let spec = valid(&with_env(
            "approvals: { required: 1 }\nwindows: { allow: [\"daily 00:00-24:00\"] }",
        ));
        let prod = &spec.environments[1];
        let a = prod.approvals.as_ref().unwrap();
        assert_eq!(a.roles, [Role::Approver, Role::Admin]);
        assert!(a.prevent_self_approval);
        assert_eq!(a.timeout, Duration::from_secs(24 * 3600));
        assert_eq!(prod.windows.as_ref().unwrap().timezone, "UTC");

        let spec = valid(&with_env("approvals: {}"));
        assert_eq!(spec.environments[1].approvals.as_ref().unwrap().required, 1);

        let spec = valid(&service(
            "analysis: { interval: 10s }\ncanary: { sticky: true }",
        ));
        let web = &spec.services[0];
        assert_eq!(web.analysis.interval, Duration::from_secs(10));
        assert_eq!(web.analysis.failure_limit, 2);
        assert_eq!(web.analysis.checks, AnalysisSpec::default_checks());
        assert!(web.canary.sticky);
        assert_eq!(web.canary.steps, default_canary_steps());
    }

    #[test]
    fn names_are_dns_labels() {
        for bad in ["Web", "-web", "web-", "we_b", "web.app", "\"\""] {
            let yaml = format!("environments: [{{ name: {bad} }}]\n");
            assert_error(&yaml, "environments[0].name", "is not a valid name");
        }
        let long = "a".repeat(64);
        assert_error(
            &format!("environments: [{{ name: {long} }}]\n"),
            "environments[0].name",
            "1-63 lowercase",
        );
        valid(&format!(
            "environments: [{{ name: {} }}, {{ name: a-1 }}]\n",
            "a".repeat(63)
        ));
        assert_error(
            &with_service("name2: x").replace("- name: web", "- name: Web"),
            "services[0].name",
            "`Web` is not a valid name",
        );
        assert_error(
            "environments: [{ requires: [] }]\n",
            "environments[0].name",
            "missing",
        );
    }

    #[test]
    fn names_are_unique() {
        assert_error(
            "environments: [{ name: dev }, { name: prod }, { name: dev }]\n",
            "environments[2].name",
            "environment `dev` is already declared at environments[0]",
        );
        let yaml = format!(
            "{}  - name: web\n    workload: {{ process: {{ command: [x] }} }}\n    \
             targets: {{ staging: {{ listen: 127.0.0.1:9999 }} }}\n",
            service("")
        );
        assert_error(
            &yaml,
            "services[1].name",
            "service `web` is already declared at services[0]",
        );
    }

    #[test]
    fn listeners_are_unique_everywhere() {
        assert_error(
            &with_service(
                "targets:\n  staging: { listen: 127.0.0.1:8080 }\n  production: { listen: 127.0.0.1:9000, preview: 127.0.0.1:8080 }",
            ),
            "services[0].targets.production.preview",
            "127.0.0.1:8080 is already used by services[0].targets.staging.listen",
        );
        assert_error(
            &with_service("targets: { staging: { listen: 127.0.0.1:7070 } }"),
            "services[0].targets.staging.listen",
            "is also server.listen",
        );
        assert_error(
            &format!(
                "server: {{ listen: 127.0.0.1:6000 }}\n{}",
                with_service("targets: { staging: { listen: \"0.0.0.0:6000\" } }")
            ),
            "services[0].targets.staging.listen",
            "is also server.listen",
        );
        let two = format!(
            "{}  - name: api\n    workload: {{ process: {{ command: [x] }} }}\n    \
             targets: {{ production: {{ listen: 127.0.0.1:8081 }} }}\n",
            service("")
        );
        assert_error(
            &two,
            "services[1].targets.production.listen",
            "already used by services[0].targets.staging.listen",
        );
        // Same port on another loopback address is a different socket.
        valid(&with_service(
            "targets:\n  staging: { listen: 127.0.0.1:8080 }\n  production: { listen: 127.0.0.2:8080 }",
        ));
    }

    #[test]
    fn unknown_keys_are_all_reported_with_their_paths() {
        let yaml = "serverr: {}\nserver: { listen: 127.0.0.1:7070, port: 1 }\n\
                    environments:\n  - name: dev\n    aprovals: {}\n    windows: { alow: [] }\n\
                    services:\n  - name: web\n    workload: { process: { command: [x], replica: 2 } }\n    \
                    targets: { dev: { listen: 127.0.0.1:8080, previw: 127.0.0.1:9090 } }\n    \
                    canary:\n      steps:\n        - { weight: 5 }\n        - { weight: 50 }\n        \
                    - { wieght: 100, weight: 100, match: [{ header: a, equal: b, equals: b }] }\n    \
                    analysis: { checks: [{ metric: cpu, max: 1, maxx: 2 }] }\n";
        let errs = errors(yaml);
        let paths: Vec<&str> = errs.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "serverr",
                "server.port",
                "environments[0].aprovals",
                "environments[0].windows.alow",
                "services[0].workload.process.replica",
                "services[0].targets.dev.previw",
                "services[0].canary.steps[2].wieght",
                "services[0].canary.steps[2].match[0].equal",
                "services[0].analysis.checks[0].maxx",
            ]
        );
        let wieght = &errs[6];
        assert_eq!(
            wieght.to_string(),
            "services[0].canary.steps[2].wieght: unknown key; did you mean `weight`? keys allowed \
             here: weight, mirror, pause, match"
        );
        assert!(errs[0].message.contains("did you mean `server`?"));
    }

    #[test]
    fn several_mistakes_are_reported_at_once() {
        let yaml = r#"
environments:
  - name: Staging
  - name: production
    requires: [staging]
    approvals: { required: 2, roles: [approver, boss] }
    windows: { timezone: Mars/Olympus, allow: ["mon-fri 9:00-17:00", "mon 18:00"] }
services:
  - name: web
    workload: { process: { command: [./app], replicas: 0, env: { PORT: "80" } } }
    health: { http: healthz, interval: 1s, timeout: 2s }
    targets:
      production: { listen: 127.0.0.1:8080, preview: 127.0.0.1:8080 }
      qa: { listen: 127.0.0.1:8082 }
    strategy: canaryy
    canary:
      steps:
        - { weight: 60, pause: 30s }
        - { weight: 50 }
    rolling: { batch: 0% }
    analysis: { failure_limit: 0, checks: [{ metric: errors, max: 0.01 }] }
"#;
        let errs = errors(yaml);
        let expected = [
            ("environments[0].name", "`Staging` is not a valid name"),
            (
                "environments[1].requires[0]",
                "unknown environment `staging`; did you mean `Staging`?",
            ),
            ("environments[1].approvals.roles[1]", "`boss` is not a role"),
            (
                "environments[1].windows.timezone",
                "`Mars/Olympus` is not a known time zone",
            ),
            ("environments[1].windows.allow[1]", "is not a time range"),
            ("services[0].workload.process.replicas", "out of range"),
            ("services[0].workload.process.env.PORT", "set by Zion"),
            ("services[0].health.http", "start it with '/'"),
            (
                "services[0].health.timeout",
                "must be shorter than interval",
            ),
            ("services[0].targets.qa", "unknown environment `qa`"),
            ("services[0].strategy", "did you mean `canary`?"),
            (
                "services[0].canary.steps[1].weight",
                "weights must increase (50 after 60)",
            ),
            ("services[0].rolling.batch", "0%"),
            ("services[0].analysis.failure_limit", "use 1 or more"),
            (
                "services[0].analysis.checks[0].metric",
                "`errors` is not a built-in metric",
            ),
            (
                "services[0].targets.production.preview",
                "already used by services[0].targets.production.listen",
            ),
        ];
        for (path, needle) in expected {
            assert!(
                errs.iter()
                    .any(|e| e.path == path && e.message.contains(needle)),
                "missing `{path}: …{needle}…` in:\n{}",
                SpecErrors(errs.clone())
            );
        }
        // The valid first window entry is not reported; the last step's
        // weight 50 is reported once for increasing and once for not ending at 100.
        assert!(!errs.iter().any(|e| e.path.ends_with("allow[0]")));
        assert_eq!(
            errs.len(),
            expected.len() + 1,
            "{}",
            SpecErrors(errs.clone())
        );
    }

    #[test]
    fn parse_errors_come_through_with_path_and_position() {
        let errs = errors(&service("canary: { steps: [{ weight: five }] }"));
        assert_eq!(errs.len(), 1);
        assert_eq!(errs[0].path, "services[0].canary.steps[0].weight");
        assert!(
            errs[0].message.contains("expected a whole number"),
            "{}",
            errs[0].message
        );
        assert!(errs[0].message.contains("line "), "{}", errs[0].message);
        let errs = errors("environments: [ { name: a }\n");
        assert_eq!(errs.len(), 1);
        assert!(errs[0].message.contains("line "), "{}", errs[0].message);
    }

    #[test]
    fn errors_display_one_per_line() {
        let errs = SpecErrors(vec![
            SpecError {
                path: "a.b".into(),
                message: "first".into(),
            },
            SpecError {
                path: String::new(),
                message: "second".into(),
            },
        ]);
        assert_eq!(errs.to_string(), "a.b: first\nsecond");
        assert!(errs.has_path("a.b"));
        assert_eq!(errs.iter().count(), 2);
    }
}
