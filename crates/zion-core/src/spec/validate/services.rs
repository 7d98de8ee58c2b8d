//! `services:`: each service's workload, health probe and targets, with its
//! strategy and analysis (validated in `rollout` and `analysis`).

use std::time::Duration;

use super::analysis::analysis;
use super::rollout::{STRATEGIES, blue_green, canary, rolling};
use super::{Report, at, text};
use crate::duration::format_duration;
use crate::spec::ranges;
use crate::spec::raw::{
    RawGrpcProbe, RawHaproxyTarget, RawHealth, RawNginxTarget, RawProcess, RawService, Targets,
    Text, keys,
};
use crate::spec::{
    HaproxyTarget, HealthSpec, NginxTarget, Probe, ProcessSpec, ServiceSpec, Strategy,
    TargetRouter, TargetSpec, UpstreamProtocol, WorkloadSpec,
};

// Defaults, as documented on the model.
const DEFAULT_REPLICAS: u32 = 1;
const MAX_REPLICAS: i64 = 64;
const DEFAULT_HEALTH_INTERVAL: Duration = Duration::from_secs(1);
const DEFAULT_HEALTH_TIMEOUT: Duration = Duration::from_millis(500);
const DEFAULT_START_TIMEOUT: Duration = Duration::from_secs(60);

/// Environment variables Zion sets for every replica itself.
const RESERVED_ENV: [&str; 2] = ["PORT", "ZION_VERSION"];

pub(super) fn services(r: &mut Report, list: &[RawService], envs: &[String]) -> Vec<ServiceSpec> {
    let names: Vec<String> = list
        .iter()
        .enumerate()
        .map(|(i, s)| r.name(&format!("services[{i}].name"), s.name.as_ref(), "service"))
        .collect();
    r.unique_names("services", &names, "service");
    list.iter()
        .enumerate()
        .map(|(i, raw)| service(r, &format!("services[{i}]"), raw, &names[i], &names, envs))
        .collect()
}

fn service(
    r: &mut Report,
    p: &str,
    raw: &RawService,
    name: &str,
    services: &[String],
    envs: &[String],
) -> ServiceSpec {
    r.unknown(p, &raw.unknown, keys::SERVICE);
    let depends_on = r.name_list(
        &at(p, "depends_on"),
        raw.depends_on.as_deref().unwrap_or_default(),
        name,
        services,
        ("service", "depend on", "depends_on"),
    );

    let workload = workload(r, p, raw);
    let health = match &raw.health {
        Some(h) => health(r, &at(p, "health"), h),
        None => HealthSpec {
            probe: Probe::Tcp,
            interval: DEFAULT_HEALTH_INTERVAL,
            timeout: DEFAULT_HEALTH_TIMEOUT,
            start_timeout: DEFAULT_START_TIMEOUT,
        },
    };
    let targets = targets(r, &at(p, "targets"), raw.targets.as_ref(), envs);
    let strategy = match text(raw.strategy.as_ref()) {
        None => Strategy::Canary,
        Some(s) => r
            .choice(&at(p, "strategy"), s, "strategy", &STRATEGIES)
            .unwrap_or(Strategy::Canary),
    };
    let canary = canary(r, &at(p, "canary"), raw.canary.as_ref());
    let blue_green = blue_green(r, &at(p, "blue_green"), raw.blue_green.as_ref());
    let rolling = rolling(r, &at(p, "rolling"), raw.rolling.as_ref());
    let analysis = analysis(r, &at(p, "analysis"), raw.analysis.as_ref());
    let hooks = super::hooks::hooks(r, &at(p, "hooks"), raw.hooks.as_ref());
    ServiceSpec {
        name: name.to_owned(),
        depends_on,
        workload,
        health,
        targets,
        strategy,
        canary,
        blue_green,
        rolling,
        analysis,
        hooks,
    }
}

fn workload(r: &mut Report, p: &str, raw: &RawService) -> WorkloadSpec {
    let wp = at(p, "workload");
    let empty = ProcessSpec {
        command: Vec::new(),
        workdir: None,
        env: Default::default(),
        replicas: DEFAULT_REPLICAS,
        artifact: None,
    };
    let Some(w) = &raw.workload else {
        r.add(
            wp,
            "missing: say what to run, e.g. `workload: { process: { command: [\"./app\", \"--port\", \"{port}\"] } }`",
        );
        return WorkloadSpec { process: empty };
    };
    r.unknown(&wp, &w.unknown, keys::WORKLOAD);
    let pp = at(&wp, "process");
    let Some(process) = &w.process else {
        r.add(
            pp,
            "missing: give the process to run, e.g. `process: { command: [\"./app\"] }`",
        );
        return WorkloadSpec { process: empty };
    };
    WorkloadSpec {
        process: process_spec(r, &pp, process),
    }
}

fn process_spec(r: &mut Report, p: &str, raw: &RawProcess) -> ProcessSpec {
    r.unknown(p, &raw.unknown, keys::PROCESS);
    let command: Vec<String> = raw.command.iter().flatten().map(|t| t.0.clone()).collect();
    match &raw.command {
        None => r.add(
            at(p, "command"),
            "missing: give the program and its arguments, e.g. [\"python3\", \"app.py\", \"--port\", \"{port}\"]",
        ),
        Some(c) if c.is_empty() => r.add(
            at(p, "command"),
            "is empty: give the program and its arguments, e.g. [\"python3\", \"app.py\"]",
        ),
        Some(c) if c[0].as_str().trim().is_empty() => {
            r.add(format!("{p}.command[0]"), "the program name is empty: name the program to run");
        }
        Some(_) => {}
    }
    let replicas = match raw.replicas {
        None => DEFAULT_REPLICAS,
        Some(n) if (1..=MAX_REPLICAS).contains(&n) => n as u32,
        Some(n) => {
            r.add(
                at(p, "replicas"),
                format!("{n} replicas is out of range: use 1 to {MAX_REPLICAS}"),
            );
            DEFAULT_REPLICAS
        }
    };
    let mut env = std::collections::BTreeMap::new();
    for (key, value) in raw.env.iter().flatten() {
        let key = key.as_str();
        let ep = at(&at(p, "env"), key);
        if key.is_empty() {
            r.add(
                at(p, "env"),
                "a variable name is empty: give each variable a name",
            );
        } else if RESERVED_ENV.contains(&key) {
            r.add(
                ep,
                format!(
                    "{key} is set by Zion for every replica: remove it (use `{{port}}` or \
                     `{{version}}` in command if the program needs them as arguments)"
                ),
            );
        } else if key.contains('=') || key.contains('\0') {
            r.add(ep, "a variable name cannot contain '=' or NUL: rename it");
        } else {
            env.insert(key.to_owned(), value.0.clone());
        }
    }
    let path_field = |r: &mut Report, key: &str, value: Option<&Text>| -> Option<String> {
        let value = value?;
        if value.as_str().trim().is_empty() {
            r.add(
                at(p, key),
                format!("is empty: name a path or remove `{key}`"),
            );
            return None;
        }
        Some(value.0.clone())
    };
    let workdir = path_field(r, "workdir", raw.workdir.as_ref());
    let artifact = path_field(r, "artifact", raw.artifact.as_ref());
    if let Some(message) = artifact
        .as_deref()
        .and_then(crate::spec::artifact::pattern_escapes)
    {
        r.add(at(p, "artifact"), message);
    }
    ProcessSpec {
        command,
        workdir,
        env,
        replicas,
        artifact,
    }
}

/// `health.grpc`: the service name the Check call asks about, empty for the
/// server as a whole (what `grpc.health.v1` calls the overall health).
fn grpc_probe(r: &mut Report, p: &str, raw: &RawGrpcProbe) -> Probe {
    r.unknown(p, &raw.unknown, keys::GRPC_PROBE);
    let service = raw
        .service
        .as_ref()
        .map(|t| t.0.clone())
        .unwrap_or_default();
    if service.chars().any(|c| c.is_whitespace() || c.is_control()) {
        r.add(
            at(p, "service"),
            format!(
                "`{service}` is not a gRPC service name: write its full name without spaces, \
                 e.g. helloworld.Greeter, or leave it out for the server's overall health"
            ),
        );
    }
    Probe::Grpc { service }
}

fn health(r: &mut Report, p: &str, raw: &RawHealth) -> HealthSpec {
    r.unknown(p, &raw.unknown, keys::HEALTH);
    let mut probes: Vec<(&str, Probe)> = Vec::new();
    if let Some(path) = &raw.http {
        if !path.as_str().starts_with('/') || path.as_str().contains(char::is_whitespace) {
            r.add(
                at(p, "http"),
                format!("`{path}` is not a request path: start it with '/', e.g. /healthz"),
            );
        }
        probes.push(("http", Probe::Http(path.0.clone())));
    }
    match raw.tcp {
        Some(true) => probes.push(("tcp", Probe::Tcp)),
        Some(false) => r.add(
            at(p, "tcp"),
            "`tcp: false` chooses no probe: write `tcp: true`, or use http or exec instead",
        ),
        None => {}
    }
    if let Some(cmd) = &raw.exec {
        if cmd.is_empty() {
            r.add(
                at(p, "exec"),
                "is empty: give a command and its arguments, e.g. [\"./check.sh\", \"{port}\"]",
            );
        } else if cmd[0].as_str().trim().is_empty() {
            r.add(
                format!("{p}.exec[0]"),
                "the program name is empty: name the program to run",
            );
        }
        probes.push((
            "exec",
            Probe::Exec(cmd.iter().map(|t| t.0.clone()).collect()),
        ));
    }
    if let Some(grpc) = &raw.grpc {
        probes.push(("grpc", grpc_probe(r, &at(p, "grpc"), grpc)));
    }
    if probes.len() > 1 {
        let found: Vec<&str> = probes.iter().map(|(n, _)| *n).collect();
        r.add(
            p,
            format!(
                "choose one probe: http, tcp, exec or grpc (found {})",
                found.join(" and ")
            ),
        );
    }
    let probe = probes
        .into_iter()
        .next()
        .map(|(_, probe)| probe)
        .unwrap_or(Probe::Tcp);

    let interval_given = r.opt_duration(
        &at(p, "interval"),
        raw.interval.as_ref(),
        ranges::HEALTH_INTERVAL,
    );
    let timeout_given = r.opt_duration(
        &at(p, "timeout"),
        raw.timeout.as_ref(),
        ranges::HEALTH_TIMEOUT,
    );
    let interval = interval_given.unwrap_or(DEFAULT_HEALTH_INTERVAL);
    let timeout = timeout_given.unwrap_or(DEFAULT_HEALTH_TIMEOUT);
    let start_timeout = r.duration(
        &at(p, "start_timeout"),
        raw.start_timeout.as_ref(),
        DEFAULT_START_TIMEOUT,
        ranges::START_TIMEOUT,
    );
    // Only judge the pair when neither side was already reported as bad.
    let interval_ok = raw.interval.is_none() || interval_given.is_some();
    let timeout_ok = raw.timeout.is_none() || timeout_given.is_some();
    if interval_ok && timeout_ok && timeout >= interval {
        let (path, default_note) = if raw.timeout.is_some() {
            (at(p, "timeout"), "")
        } else {
            (at(p, "interval"), " (the default timeout)")
        };
        r.add(
            path,
            format!(
                "timeout {}{default_note} must be shorter than interval {} so one probe ends \
                 before the next starts: shorten timeout or lengthen interval",
                format_duration(timeout),
                format_duration(interval)
            ),
        );
    }
    HealthSpec {
        probe,
        interval,
        timeout,
        start_timeout,
    }
}

fn targets(
    r: &mut Report,
    p: &str,
    raw: Option<&Targets>,
    envs: &[String],
) -> std::collections::BTreeMap<String, TargetSpec> {
    let mut out = std::collections::BTreeMap::new();
    let entries = raw.map(|t| t.0.as_slice()).unwrap_or(&[]);
    if entries.is_empty() {
        r.add(
            p,
            "no targets: say where the service listens in each environment, e.g. \
             `targets: { staging: { listen: 127.0.0.1:8081 } }`",
        );
    }
    for (env, target) in entries {
        let tp = at(p, env.as_str());
        r.reference(&tp, env.as_str(), envs, "environment");
        r.unknown(&tp, &target.unknown, keys::TARGET);
        let router = match (&target.haproxy, &target.nginx) {
            (Some(h), None) => haproxy_target(r, &at(&tp, "haproxy"), h),
            (None, Some(n)) => nginx_target(r, &at(&tp, "nginx"), n),
            (Some(_), Some(_)) => {
                r.add(
                    &tp,
                    "names two routers (haproxy and nginx): a target's traffic goes through \
                     one; keep one of them",
                );
                TargetRouter::Builtin
            }
            (None, None) => TargetRouter::Builtin,
        };
        let engine = router.engine();
        let listen = match (&target.listen, engine) {
            (Some(l), None) => r.address(&at(&tp, "listen"), l, false),
            (Some(_), Some(engine)) => {
                r.add(
                    at(&tp, "listen"),
                    format!(
                        "a target routed by {engine} listens on {engine}'s own address, not on \
                         an address of Zion's: remove `listen` or `{}`",
                        engine.to_lowercase()
                    ),
                );
                None
            }
            (None, None) if target.haproxy.is_some() && target.nginx.is_some() => None,
            (None, None) => {
                r.add(
                    at(&tp, "listen"),
                    "missing: give the address clients use, e.g. 127.0.0.1:8080 (or route \
                     the target through HAProxy with `haproxy: { provider, backend }` or \
                     nginx with `nginx: { provider, upstream, include, access_log }`)",
                );
                None
            }
            (None, Some(_)) => None,
        };
        let preview = target
            .preview
            .as_ref()
            .and_then(|v| r.address(&at(&tp, "preview"), v, false));
        if let (Some(_), Some(engine)) = (preview, engine) {
            r.add(
                at(&tp, "preview"),
                format!(
                    "a preview listener is the built-in router's: a target routed by {engine} \
                     has none (route previews through a second {engine} {} instead)",
                    if matches!(router, TargetRouter::Haproxy(_)) {
                        "backend"
                    } else {
                        "upstream"
                    }
                ),
            );
        }
        let response_timeout = response_timeout(r, &tp, target.response_timeout.as_ref());
        if let (Some(_), Some(engine)) = (&target.response_timeout, engine) {
            let own = if matches!(router, TargetRouter::Haproxy(_)) {
                "`timeout server`"
            } else {
                "`proxy_read_timeout`"
            };
            r.add(
                at(&tp, "response_timeout"),
                format!(
                    "{engine}'s own {own} applies to a target it routes: set it in \
                     {engine}'s configuration and remove this key"
                ),
            );
        }
        let upstream_protocol = upstream_protocol(r, &tp, target.upstream_protocol.as_ref());
        if let (Some(_), Some(engine)) = (&target.upstream_protocol, engine) {
            r.add(
                at(&tp, "upstream_protocol"),
                format!(
                    "{engine} speaks to the replicas of a target it routes as its own \
                     configuration says: set it there and remove this key"
                ),
            );
        }
        let tls = target
            .tls
            .as_ref()
            .and_then(|raw| super::tls::tls(r, &at(&tp, "tls"), raw));
        if let (Some(_), Some(engine)) = (&target.tls, engine) {
            r.add(
                at(&tp, "tls"),
                format!(
                    "{engine} terminates TLS itself for a target it routes: set the \
                     certificates in its configuration and remove this key"
                ),
            );
        }
        let limits = super::limits::limits(r, &at(&tp, "limits"), target.limits.as_ref());
        if let (Some(_), Some(engine)) = (&target.limits, engine) {
            r.add(
                at(&tp, "limits"),
                format!(
                    "{engine}'s own timeouts and limits apply to a target it routes: set them \
                     in its configuration and remove this key"
                ),
            );
        }
        out.insert(
            env.0.clone(),
            TargetSpec {
                listen,
                preview,
                router,
                response_timeout,
                upstream_protocol,
                tls,
                limits,
            },
        );
    }
    out
}

/// `targets.<env>.haproxy`: which provider and which of its backends.
/// Whether the provider is declared is checked once every part is read
/// (`providers::routers`).
fn haproxy_target(r: &mut Report, p: &str, raw: &RawHaproxyTarget) -> TargetRouter {
    r.unknown(p, &raw.unknown, keys::HAPROXY_TARGET);
    let provider = match text(raw.provider.as_ref()) {
        Some(v) if !v.trim().is_empty() => v.to_owned(),
        _ => {
            r.add(
                at(p, "provider"),
                "missing: name an entry of `providers:` of kind haproxy, e.g. `provider: edge`",
            );
            String::new()
        }
    };
    let backend = match text(raw.backend.as_ref()) {
        Some(v) if is_haproxy_name(v) => v.to_owned(),
        Some(v) => {
            r.add(
                at(p, "backend"),
                format!(
                    "`{v}` is not an HAProxy backend name: use letters, digits and '-', '_', \
                     '.', ':'"
                ),
            );
            String::new()
        }
        None => {
            r.add(
                at(p, "backend"),
                "missing: name the HAProxy backend whose servers Zion manages, e.g. `backend: web`",
            );
            String::new()
        }
    };
    TargetRouter::Haproxy(HaproxyTarget { provider, backend })
}

/// `targets.<env>.nginx`: which provider, which upstream, the include
/// file Zion writes it to and the access log Zion reads. Whether the
/// provider is declared is checked once every part is read
/// (`routers::routers`).
fn nginx_target(r: &mut Report, p: &str, raw: &RawNginxTarget) -> TargetRouter {
    r.unknown(p, &raw.unknown, keys::NGINX_TARGET);
    let mut required = |key: &str, value: Option<&Text>, what: &str| -> String {
        match text(value).map(str::trim) {
            Some(v) if !v.is_empty() => v.to_owned(),
            _ => {
                r.add(at(p, key), format!("missing: {what}"));
                String::new()
            }
        }
    };
    let provider = required(
        "provider",
        raw.provider.as_ref(),
        "name an entry of `providers:` of kind nginx, e.g. `provider: edge`",
    );
    let include = required(
        "include",
        raw.include.as_ref(),
        "the file Zion writes the `upstream` block to, which nginx's configuration \
         `include`s inside `http {}`, e.g. `include: upstreams/web.conf`",
    );
    // Optional: without it only external checks judge (`routers::routers`
    // refuses the built-in ones).
    let access_log = match text(raw.access_log.as_ref()).map(str::trim) {
        Some("") => {
            r.add(
                at(p, "access_log"),
                "empty: name the JSON access log (`access_log <file> zion;`) Zion reads the \
                 versions' requests from, e.g. `access_log: logs/web.json`, or remove the key",
            );
            None
        }
        v => v.map(str::to_owned),
    };
    let upstream = match text(raw.upstream.as_ref()).map(str::trim) {
        Some(v) if is_nginx_name(v) => v.to_owned(),
        Some(v) => {
            r.add(
                at(p, "upstream"),
                format!(
                    "`{v}` is not an nginx upstream name Zion writes: use letters, digits and \
                     '-', '_', '.'"
                ),
            );
            String::new()
        }
        None => {
            r.add(
                at(p, "upstream"),
                "missing: name the upstream Zion writes, the one `proxy_pass http://<name>` \
                 sends to, e.g. `upstream: web`",
            );
            String::new()
        }
    };
    TargetRouter::Nginx(NginxTarget {
        provider,
        upstream,
        include,
        access_log,
    })
}

/// An upstream name that needs no quoting in nginx's configuration.
fn is_nginx_name(v: &str) -> bool {
    !v.is_empty()
        && v.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// The characters HAProxy accepts in a proxy's name.
fn is_haproxy_name(v: &str) -> bool {
    !v.is_empty()
        && v.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':'))
}

/// `targets.<env>.response_timeout`, within its range.
fn response_timeout(r: &mut Report, tp: &str, raw: Option<&Text>) -> Duration {
    let path = at(tp, "response_timeout");
    let default = TargetSpec::DEFAULT_RESPONSE_TIMEOUT;
    r.duration(&path, raw, default, ranges::RESPONSE_TIMEOUT)
}

/// `targets.<env>.upstream_protocol`: `http1` (the default) or `h2c`.
fn upstream_protocol(r: &mut Report, tp: &str, raw: Option<&Text>) -> UpstreamProtocol {
    match text(raw) {
        None | Some("http1") => UpstreamProtocol::Http1,
        Some("h2c") => UpstreamProtocol::H2c,
        Some(other) => {
            r.add(
                at(tp, "upstream_protocol"),
                format!(
                    "unknown protocol {other:?}: use `http1` (HTTP/1.1, the default) or `h2c` \
                     (HTTP/2 in clear text, e.g. for gRPC replicas)"
                ),
            );
            UpstreamProtocol::Http1
        }
    }
}

#[cfg(test)]
#[path = "services_tests.rs"]
mod tests;
