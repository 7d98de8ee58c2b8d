//! What a target's router can express: a target routed by HAProxy or nginx
//! names a declared provider of that kind, and its service asks nothing of
//! the router that it, as Zion drives it, cannot do (mirroring and header
//! and cookie rules on both; sticky sessions on nginx; latency percentiles
//! on HAProxy unless its provider receives HAProxy's request log over
//! `syslog`; any built-in check on nginx unless Zion reads its access
//! log): `zion lint` refuses those with the path and the reason.

use std::collections::BTreeMap;

use super::Report;
use crate::spec::raw::RawService;
use crate::spec::{Provider, ServiceSpec, TargetRouter};

/// Checks every target's router against `providers` and its service.
pub(super) fn routers(
    r: &mut Report,
    raw: &[RawService],
    services: &[ServiceSpec],
    providers: &BTreeMap<String, Provider>,
) {
    // (provider, upstream) and include file → the first target writing it.
    let mut upstreams: BTreeMap<(&str, &str), String> = BTreeMap::new();
    let mut includes: BTreeMap<&str, String> = BTreeMap::new();
    for (i, svc) in services.iter().enumerate() {
        let p = format!("services[{i}]");
        let (mut haproxy, mut nginx) = (false, false);
        // A target whose HAProxy sends Zion no request log: no latencies.
        let mut without_log: Option<(&str, &str)> = None;
        // A target whose nginx access log Zion does not read: no requests.
        let mut unseen: Option<&str> = None;
        for (env, target) in &svc.targets {
            let (key, provider, fits, example) = match &target.router {
                TargetRouter::Builtin => continue,
                TargetRouter::Haproxy(h) => {
                    haproxy = true;
                    let declared = providers.get(&h.provider).and_then(Provider::haproxy);
                    if declared.is_some_and(|d| d.syslog.is_none()) && without_log.is_none() {
                        without_log = Some((env, &h.provider));
                    }
                    (
                        "haproxy",
                        &h.provider,
                        declared.is_some(),
                        "haproxy: { socket: /run/haproxy/admin.sock }",
                    )
                }
                TargetRouter::Nginx(n) => {
                    nginx = true;
                    if n.access_log.is_none() && unseen.is_none() {
                        unseen = Some(env);
                    }
                    let here = format!("{p}.targets.{env}.nginx");
                    if let Some(first) = upstreams.get(&(n.provider.as_str(), n.upstream.as_str()))
                    {
                        r.add(
                            format!("{here}.upstream"),
                            format!(
                                "`{}` is already the upstream of {first} on the same nginx: \
                                 nginx refuses two upstreams of one name; give each target \
                                 its own",
                                n.upstream
                            ),
                        );
                    } else {
                        upstreams.insert((&n.provider, &n.upstream), here.clone());
                    }
                    if let Some(first) = includes.get(n.include.as_str()) {
                        r.add(
                            format!("{here}.include"),
                            format!(
                                "`{}` is already the include file of {first}: Zion rewrites \
                                 it whole for one target; give each target its own file",
                                n.include
                            ),
                        );
                    } else {
                        includes.insert(&n.include, here);
                    }
                    (
                        "nginx",
                        &n.provider,
                        providers
                            .get(&n.provider)
                            .and_then(Provider::nginx)
                            .is_some(),
                        "nginx: { config: /etc/nginx/nginx.conf }",
                    )
                }
            };
            if provider.is_empty() || fits {
                continue;
            }
            let declared: Vec<&str> = providers.keys().map(String::as_str).collect();
            r.add(
                format!("{p}.targets.{env}.{key}.provider"),
                format!(
                    "`{provider}` is not a {key} entry of `providers:` (declared: {}): declare it, \
                     e.g. `providers: {{ {provider}: {{ {example} }} }}`",
                    if declared.is_empty() {
                        "none".to_owned()
                    } else {
                        declared.join(", ")
                    },
                ),
            );
        }
        if haproxy {
            haproxy_limits(r, &p, svc);
        }
        if let Some((env, provider)) = without_log {
            latency_without_log(r, &p, raw.get(i), svc, env, provider);
        }
        if nginx {
            nginx_limits(r, &p, svc);
        }
        if let Some(env) = unseen {
            checks_without_access_log(r, &p, raw.get(i), svc, env);
        }
    }
}

/// Built-in checks, and the statistical judge (whose samples are the
/// requests Zion sees), of a service whose target `env` goes through an
/// nginx whose access log Zion does not read: Zion would see no request,
/// and every round would wait on traffic that never comes.
fn checks_without_access_log(
    r: &mut Report,
    p: &str,
    raw: Option<&RawService>,
    svc: &ServiceSpec,
    env: &str,
) {
    let reason = format!(
        "target {env} is routed by nginx without `access_log`, so Zion sees none of its \
         requests; set `services[..].targets.{env}.nginx.access_log` to the JSON access log \
         (`access_log <file> zion;` with Zion's `log_format zion`, see the nginx router's \
         documentation)"
    );
    if !svc.analysis.judge.is_thresholds() {
        r.add(
            format!("{p}.analysis.judge"),
            format!("{reason}, or judge with thresholds on external checks only"),
        );
    }
    let written = raw
        .and_then(|s| s.analysis.as_ref())
        .is_some_and(|a| a.checks.is_some());
    for (k, check) in svc.analysis.checks.iter().enumerate() {
        // External sources (Prometheus, web, exec) do not need the log.
        let Some(metric) = check.metric() else {
            continue;
        };
        if written {
            r.add(
                format!("{p}.analysis.checks[{k}]"),
                format!(
                    "{reason}, or replace this check ({}) by a Prometheus, web or exec one",
                    metric.name()
                ),
            );
        } else {
            r.add(
                format!("{p}.analysis.checks"),
                format!(
                    "{reason}, or write `checks:` with Prometheus, web or exec checks only: \
                     the default checks are built-in ones"
                ),
            );
            break;
        }
    }
}

/// What a service routed by nginx asks that nginx, as Zion drives it (one
/// weighted `upstream` block, reloaded on each change), cannot give:
/// mirroring, header and cookie rules, sticky sessions. Its access log
/// gives request times, so latency checks are judged.
fn nginx_limits(r: &mut Report, p: &str, svc: &ServiceSpec) {
    const WHY: &str = "a target of this service is routed by nginx";
    if svc.canary.sticky {
        r.add(
            format!("{p}.canary.sticky"),
            format!(
                "{WHY}, and Zion writes a weighted upstream only (no cookie pinning a client \
                 to a version): remove `sticky`"
            ),
        );
    }
    for (k, step) in svc.canary.steps.iter().enumerate() {
        if step.mirror.is_some() {
            r.add(
                format!("{p}.canary.steps[{k}].mirror"),
                format!(
                    "{WHY}, and Zion does not write nginx's `mirror` directives: remove `mirror`"
                ),
            );
        }
        if !step.matches.is_empty() {
            r.add(
                format!("{p}.canary.steps[{k}].match"),
                format!(
                    "{WHY}, and Zion writes a weighted upstream only, not the `map` on headers \
                     and cookies a rule needs: remove `match`"
                ),
            );
        }
    }
}

/// What a service routed by HAProxy asks that HAProxy cannot give.
fn haproxy_limits(r: &mut Report, p: &str, svc: &ServiceSpec) {
    const WHY: &str = "a target of this service is routed by HAProxy";
    // `sticky` is HAProxy's own cookie, which the backend declares
    // (`cookie … dynamic`); the router checks it when it sets a split.
    for (k, step) in svc.canary.steps.iter().enumerate() {
        if step.mirror.is_some() {
            r.add(
                format!("{p}.canary.steps[{k}].mirror"),
                format!("{WHY}, which cannot mirror requests to another version: remove `mirror`"),
            );
        }
        if !step.matches.is_empty() {
            r.add(
                format!("{p}.canary.steps[{k}].match"),
                format!(
                    "{WHY}, whose header and cookie rules (`use_backend`/`use-server` on an \
                     ACL) live in its configuration: the Runtime API Zion drives can change \
                     map and ACL entries but not which header or cookie a rule reads nor add \
                     a rule, so a step's `match` would need a reload of HAProxy, which Zion \
                     never does; remove `match` (`sticky` is supported)"
                ),
            );
        }
    }
}

/// Latency checks of a service whose target `env` goes through HAProxy
/// `provider`, which sends Zion no request log.
fn latency_without_log(
    r: &mut Report,
    p: &str,
    raw: Option<&RawService>,
    svc: &ServiceSpec,
    env: &str,
    provider: &str,
) {
    let written = raw
        .and_then(|s| s.analysis.as_ref())
        .is_some_and(|a| a.checks.is_some());
    for (k, check) in svc.analysis.checks.iter().enumerate() {
        // External sources (Prometheus, web, exec) do not need the router.
        let Some(metric) = check.metric().filter(|m| m.is_latency()) else {
            continue;
        };
        let reason = format!(
            "target {env} is routed by HAProxy `{provider}`, whose statistics give requests \
             and 5xx answers but no latency percentiles: {} cannot be judged unless HAProxy \
             sends Zion its request log (set `providers.{provider}.haproxy.syslog`, e.g. \
             127.0.0.1:5514, and in HAProxy `log 127.0.0.1:5514 local0` with Zion's \
             `log-format`, see the HAProxy router's documentation)",
            metric.name()
        );
        if written {
            r.add(
                format!("{p}.analysis.checks[{k}]"),
                format!("{reason}; remove this check"),
            );
        } else {
            r.add(
                format!("{p}.analysis.checks"),
                format!(
                    "{reason}, and the default checks include it: write `checks:` without \
                     latency checks, e.g. `[{{ metric: error_rate, max: 0.01 }}]`"
                ),
            );
            break;
        }
    }
}

#[cfg(test)]
#[path = "routers_tests.rs"]
mod tests;
