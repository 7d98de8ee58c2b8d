//! `providers:` and checks reading external sources, valid and not.

use std::time::Duration;

use crate::spec::validate::test_support::*;
use crate::spec::{
    Bound, CheckSource, ExecQuery, PrometheusProvider, PrometheusQuery, Provider, ProviderAuth,
    SecretSource, WebMethod,
};

const PROVIDERS: &str = "providers:\n  prom: { prometheus: { url: 'http://127.0.0.1:9090/', timeout: 2s, bearer_token_env: PROM_TOKEN } }\n  plain: { prometheus: { url: 'http://prom:9090' } }\n";

fn spec(checks: &str) -> String {
    format!(
        "{PROVIDERS}{}",
        service(&format!("analysis: {{ checks: [{checks}] }}"))
    )
}

#[test]
fn external_checks_and_providers_parse() {
    let s = valid(&spec(
        r#"{ metric: error_rate, max: 0.01 },
           { name: checkout_ok, prometheus: { provider: prom, query: 'sum(rate(ok{version="{{version}}"}[{{interval}}]))' }, min: 5 },
           { name: smoke, exec: { command: [./check.sh, "{{ version }}"], timeout: 3s }, max: 0 },
           { name: score, web: { url: "http://127.0.0.1:1/s?v={{version}}", method: post, body: '{"v": "{{version}}"}', headers: { X-A: b }, header_env: { Authorization: WEB_AUTH }, json_path: "$.data.score" }, min: -1 }"#,
    ));
    assert_eq!(
        s.providers["prom"],
        Provider::Prometheus(PrometheusProvider {
            url: "http://127.0.0.1:9090".into(),
            timeout: Duration::from_secs(2),
            auth: Some(ProviderAuth::Bearer(SecretSource::Env("PROM_TOKEN".into()))),
        })
    );
    let plain = s.providers["plain"].prometheus().unwrap();
    assert_eq!(
        (plain.timeout, &plain.auth),
        (PrometheusProvider::DEFAULT_TIMEOUT, &None)
    );
    let checks = &s.services[0].analysis.checks;
    let names: Vec<&str> = checks.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["error_rate", "checkout_ok", "smoke", "score"]);
    assert_eq!(
        checks[1].source,
        CheckSource::Prometheus(PrometheusQuery {
            provider: "prom".into(),
            query: r#"sum(rate(ok{version="{{version}}"}[{{interval}}]))"#.into(),
        })
    );
    assert_eq!(checks[1].bound, Bound::Min(5.0));
    assert_eq!(
        checks[2].source,
        CheckSource::Exec(ExecQuery {
            command: vec!["./check.sh".into(), "{{ version }}".into()],
            timeout: Duration::from_secs(3),
        })
    );
    let CheckSource::Web(web) = &checks[3].source else {
        panic!("{:?}", checks[3])
    };
    assert_eq!(web.method, WebMethod::Post);
    assert_eq!(web.header_env["Authorization"], "WEB_AUTH");
    assert_eq!(web.timeout, Duration::from_secs(5));
    assert_eq!(checks[3].bound, Bound::Min(-1.0));
    let lint = crate::spec::summary(&s);
    assert!(
        lint.contains("checkout_ok (prometheus) min 5") && lint.contains("smoke (exec) max 0"),
        "{lint}"
    );
    // The validated spec survives a JSON round trip (deployments store it).
    let back: crate::spec::Spec =
        serde_json::from_str(&serde_json::to_string(&s).unwrap()).unwrap();
    assert_eq!(back, s);
}

#[test]
fn old_stored_checks_still_read() {
    let old: crate::spec::Check =
        serde_json::from_str(r#"{"metric":"error_rate","bound":{"max":0.01}}"#).unwrap();
    assert_eq!(old.name, "error_rate");
    assert_eq!(old.metric(), Some(crate::metrics::Metric::ErrorRate));
    // And a built-in check is written as before.
    assert_eq!(
        serde_json::to_string(&old).unwrap(),
        r#"{"metric":"error_rate","bound":{"max":0.01}}"#
    );
}

#[test]
fn wrong_sources_are_named_with_their_path() {
    let p = "services[0].analysis.checks[0]";
    let cases: &[(&str, &str, &str)] = &[
        (
            "{ name: a, prometheus: { provider: promm, query: up }, min: 1 }",
            "prometheus.provider",
            "`promm` is not a provider; did you mean `prom`? declared: plain, prom",
        ),
        (
            "{ name: a, prometheus: { query: up }, min: 1 }",
            "prometheus.provider",
            "missing",
        ),
        (
            "{ name: a, prometheus: { provider: prom }, min: 1 }",
            "prometheus.query",
            "missing",
        ),
        (
            "{ name: a, prometheus: { provider: prom, query: 'x{v=\"{{versoin}}\"}' }, min: 1 }",
            "prometheus.query",
            "`{{versoin}}` is not a template variable",
        ),
        (
            "{ prometheus: { provider: prom, query: up }, min: 1 }",
            "name",
            "missing: a prometheus, web or exec check needs a name",
        ),
        (
            "{ name: a, metric: cpu, exec: { command: [x] }, max: 1 }",
            "",
            "a check reads one source, this one has metric, exec",
        ),
        (
            "{ name: a, exec: { command: [x] }, max_ratio_to_baseline: 1.2 }",
            "max_ratio_to_baseline",
            "use max or min",
        ),
        (
            "{ name: a, exec: { command: [] }, max: 0 }",
            "exec.command",
            "missing",
        ),
        (
            "{ name: a, exec: { command: [x, '{{port}}'] }, max: 0 }",
            "exec.command[1]",
            "`{{port}}` is not a template variable",
        ),
        (
            "{ name: a, web: { url: 'ftp://x/s', json_path: $.a }, min: 1 }",
            "web.url",
            "is not an http:// or https:// URL",
        ),
        (
            "{ name: a, web: { url: 'http://x/s' }, min: 1 }",
            "web.json_path",
            "missing",
        ),
        (
            "{ name: a, web: { url: 'http://x/s', json_path: data.a }, min: 1 }",
            "web.json_path",
            "does not start with `$`",
        ),
        (
            "{ name: a, web: { url: 'http://x/s', json_path: $.a, body: x }, min: 1 }",
            "web.body",
            "POST only",
        ),
        (
            "{ name: a, web: { url: 'http://x/s', json_path: $.a, method: PUT }, min: 1 }",
            "web.method",
            "use GET or POST",
        ),
        (
            "{ name: a, web: { url: 'http://x/s', json_path: $.a, header_env: { A: 'not a var' } }, min: 1 }",
            "web.header_env.A",
            "not an environment variable name",
        ),
        (
            "{ name: a, web: { url: 'http://x/s', json_path: $.a, timeout: 1h }, min: 1 }",
            "web.timeout",
            "too long",
        ),
    ];
    for (check, at, needle) in cases {
        let path = if at.is_empty() {
            p.to_string()
        } else {
            format!("{p}.{at}")
        };
        assert_error(&spec(check), &path, needle);
    }
    assert_error(
        &spec(
            "{ name: a, exec: { command: [x] }, max: 0 }, { name: a, exec: { command: [y] }, max: 0 }",
        ),
        "services[0].analysis.checks[1].name",
        "`a` names another check",
    );
}

#[test]
fn wrong_providers_are_named_with_their_path() {
    let with = |providers: &str| format!("providers:\n{}{}", indent(providers, 2), service(""));
    assert_error(
        &with("p: { prometheus: { timeout: 1s } }"),
        "providers.p.prometheus.url",
        "missing",
    );
    assert_error(
        &with("p: { prometheus: { url: 'ftp://x' } }"),
        "providers.p.prometheus.url",
        "not an http:// or https:// URL",
    );
    assert_error(
        &with("p: { graphite: { url: 'http://x' } }"),
        "providers.p.graphite",
        "unknown key",
    );
    assert_error(
        &with("p: { graphite: { url: 'http://x' } }"),
        "providers.p",
        "names no kind",
    );
    assert_error(
        &with("p: { prometheus: { url: 'http://x', bearer_token_env: A, bearer_token_file: f } }"),
        "providers.p.prometheus",
        "has both bearer_token_env and bearer_token_file",
    );
    assert_error(
        &with("p: { prometheus: { url: 'http://x', basic_auth: { username: u } } }"),
        "providers.p.prometheus.basic_auth",
        "names no password",
    );
    assert_error(
        &with(
            "p: { prometheus: { url: 'http://x', bearer_token_env: A, basic_auth: { username: u, password_env: B } } }",
        ),
        "providers.p.prometheus",
        "has both a bearer token and basic_auth",
    );
    let s = valid(&with(
        "p: { prometheus: { url: 'http://x', basic_auth: { username: u, password_file: secrets/p } } }",
    ));
    let p = s.providers["p"].prometheus().unwrap();
    assert_eq!(
        p.auth,
        Some(ProviderAuth::Basic {
            username: "u".into(),
            password: SecretSource::File("secrets/p".into())
        })
    );
}
