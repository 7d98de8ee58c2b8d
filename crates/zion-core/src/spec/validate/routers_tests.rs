use crate::spec::{Provider, TargetRouter, parse_spec};

fn spec(providers: &str, target: &str, extra: &str) -> String {
    format!(
        r#"{providers}
environments:
  - name: production
services:
  - name: web
    workload:
      process:
        command: ["app", "{{port}}"]
    targets:
      production: {target}
{extra}"#
    )
}

const CHECKS: &str = "    analysis:\n      checks:\n        - { metric: error_rate, max: 0.01 }\n";

fn errors(yaml: &str) -> Vec<(String, String)> {
    match parse_spec(yaml) {
        Ok(_) => Vec::new(),
        Err(e) => e.0.into_iter().map(|e| (e.path, e.message)).collect(),
    }
}

#[test]
fn a_target_routed_by_a_declared_haproxy_parses() {
    let yaml = spec(
        "providers:\n  edge: { haproxy: { socket: run/admin.sock } }",
        "{ haproxy: { provider: edge, backend: web } }",
        CHECKS,
    );
    let s = parse_spec(&yaml).unwrap();
    assert_eq!(
        s.providers["edge"],
        Provider::Haproxy(crate::spec::HaproxyProvider {
            socket: "run/admin.sock".into(),
            syslog: None,
        })
    );
    let text = crate::spec::summary(&s);
    assert!(
        text.contains("provider edge: haproxy, admin socket run/admin.sock")
            && text.contains("production → haproxy edge backend web"),
        "{text}"
    );
    let t = &s.services[0].targets["production"];
    assert_eq!(t.listen, None);
    match &t.router {
        TargetRouter::Haproxy(h) => {
            assert_eq!((h.provider.as_str(), h.backend.as_str()), ("edge", "web"))
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn bad_providers_and_references_name_their_path() {
    let yaml = spec(
        "providers:\n  edge: { haproxy: { sockt: x } }\n  other: { traefik: {} }",
        "{ haproxy: { provider: edg, backend: 'web backend' } }",
        CHECKS,
    );
    let errs = errors(&yaml);
    let has = |path: &str, words: &str| {
        assert!(
            errs.iter().any(|(p, m)| p == path && m.contains(words)),
            "no {path}: {words} in {errs:?}"
        );
    };
    has("providers.edge.haproxy.sockt", "unknown key");
    has("providers.edge.haproxy.socket", "missing");
    has("providers.other.traefik", "unknown key");
    has("providers.other", "kind");
    has(
        "services[0].targets.production.haproxy.backend",
        "not an HAProxy backend name",
    );
    has(
        "services[0].targets.production.haproxy.provider",
        "`edg` is not a haproxy entry",
    );
}

#[test]
fn listen_and_haproxy_together_or_neither_are_refused() {
    let p = "providers:\n  edge: { haproxy: { socket: a.sock } }";
    let both = errors(&spec(
        p,
        "{ listen: 127.0.0.1:8080, haproxy: { provider: edge, backend: web } }",
        CHECKS,
    ));
    assert!(
        both.iter()
            .any(|(p, m)| p == "services[0].targets.production.listen" && m.contains("remove")),
        "{both:?}"
    );
    let preview = errors(&spec(
        p,
        "{ preview: 127.0.0.1:8081, haproxy: { provider: edge, backend: web } }",
        CHECKS,
    ));
    assert!(
        preview
            .iter()
            .any(|(p, _)| p == "services[0].targets.production.preview"),
        "{preview:?}"
    );
}

#[test]
fn what_haproxy_cannot_express_is_refused_with_its_path() {
    let p = "providers:\n  edge: { haproxy: { socket: a.sock } }";
    let t = "{ haproxy: { provider: edge, backend: web } }";
    let extra = "    canary:\n      sticky: true\n      steps:\n        - { weight: 0, match: [{ header: x-beta, equals: '1' }] }\n        - { mirror: 20 }\n        - { weight: 10 }\n        - { weight: 100 }\n    analysis:\n      checks:\n        - { metric: error_rate, max: 0.01 }\n        - { metric: latency_p95, max: 300 }\n";
    let errs = errors(&spec(p, t, extra));
    for (path, words) in [
        ("services[0].canary.steps[1].mirror", "cannot mirror"),
        ("services[0].canary.steps[0].match", "would need a reload"),
        (
            "services[0].analysis.checks[1]",
            "latency_p95 cannot be judged",
        ),
    ] {
        assert!(
            errs.iter().any(|(pp, m)| pp == path && m.contains(words)),
            "no {path}: {words} in {errs:?}"
        );
    }
    assert!(
        !errs.iter().any(|(pp, _)| pp == "services[0].canary.sticky"),
        "sticky is HAProxy's cookie: {errs:?}"
    );
    // The default checks hold latency_p95: said once, on `checks`.
    let errs = errors(&spec(p, t, ""));
    assert_eq!(errs.len(), 1, "{errs:?}");
    assert_eq!(errs[0].0, "services[0].analysis.checks");
    assert!(errs[0].1.contains("default checks"), "{errs:?}");
    // The same service on the built-in router is fine.
    let builtin = errors(&spec(p, "{ listen: 127.0.0.1:8080 }", extra));
    assert!(builtin.is_empty(), "{builtin:?}");
}

const NGINX: &str = "providers:\n  edge: { nginx: { config: nginx.conf } }";
const NGINX_TARGET: &str =
    "{ nginx: { provider: edge, upstream: web, include: up/web.conf, access_log: logs/web.json } }";

#[test]
fn a_target_routed_by_a_declared_nginx_parses() {
    let s = parse_spec(&spec(NGINX, NGINX_TARGET, "")).unwrap();
    assert_eq!(
        s.providers["edge"],
        Provider::Nginx(crate::spec::NginxProvider {
            binary: "nginx".into(),
            config: "nginx.conf".into()
        })
    );
    let text = crate::spec::summary(&s);
    assert!(
        text.contains("provider edge: nginx nginx, configuration nginx.conf")
            && text.contains("production → nginx edge upstream web"),
        "{text}"
    );
    match &s.services[0].targets["production"].router {
        TargetRouter::Nginx(n) => assert_eq!(
            (
                n.provider.as_str(),
                n.upstream.as_str(),
                n.include.as_str(),
                n.access_log.as_deref()
            ),
            ("edge", "web", "up/web.conf", Some("logs/web.json"))
        ),
        other => panic!("{other:?}"),
    }
}

#[test]
fn bad_nginx_settings_name_their_path() {
    let errs = errors(&spec(
        "providers:\n  edge: { nginx: { binary: '', conf: x } }\n  prom: { prometheus: { url: http://127.0.0.1:9090 } }\n  both: { nginx: { config: a }, haproxy: { socket: b } }",
        "{ nginx: { provider: prom, upstream: 'web up' } }",
        CHECKS,
    ));
    let has = |path: &str, words: &str| {
        assert!(
            errs.iter().any(|(p, m)| p == path && m.contains(words)),
            "no {path}: {words} in {errs:?}"
        );
    };
    has("providers.edge.nginx.conf", "unknown key");
    has("providers.edge.nginx.config", "missing");
    has("providers.edge.nginx.binary", "is empty");
    has("providers.both", "haproxy and nginx");
    has(
        "services[0].targets.production.nginx.upstream",
        "not an nginx upstream name",
    );
    has("services[0].targets.production.nginx.include", "missing");
    has(
        "services[0].analysis.checks[0]",
        "without `access_log`, so Zion sees none of its requests",
    );
    has(
        "services[0].targets.production.nginx.provider",
        "`prom` is not a nginx entry",
    );
    // Both routers on one target, and nginx with `listen`.
    let both = errors(&spec(
        NGINX,
        "{ listen: 127.0.0.1:8080, haproxy: { provider: edge, backend: web }, nginx: { provider: edge, upstream: web, include: a, access_log: b } }",
        CHECKS,
    ));
    assert!(
        both.iter()
            .any(|(p, m)| p == "services[0].targets.production" && m.contains("two routers")),
        "{both:?}"
    );
    let listen = errors(&spec(
        NGINX,
        "{ listen: 127.0.0.1:8080, response_timeout: 5s, nginx: { provider: edge, upstream: web, include: a, access_log: b } }",
        CHECKS,
    ));
    for path in ["listen", "response_timeout"] {
        assert!(
            listen.iter().any(
                |(p, m)| p == &format!("services[0].targets.production.{path}")
                    && m.contains("nginx")
            ),
            "{path}: {listen:?}"
        );
    }
}

#[test]
fn what_nginx_cannot_express_is_refused_and_latency_checks_are_kept() {
    let extra = "    canary:\n      sticky: true\n      steps:\n        - { weight: 0, match: [{ cookie: beta, equals: '1' }] }\n        - { mirror: 20 }\n        - { weight: 100 }\n    analysis:\n      checks:\n        - { metric: error_rate, max: 0.01 }\n        - { metric: latency_p95, max: 300 }\n";
    let errs = errors(&spec(NGINX, NGINX_TARGET, extra));
    for (path, words) in [
        ("services[0].canary.sticky", "remove `sticky`"),
        ("services[0].canary.steps[1].mirror", "`mirror`"),
        ("services[0].canary.steps[0].match", "`map`"),
    ] {
        assert!(
            errs.iter().any(|(pp, m)| pp == path && m.contains(words)),
            "no {path}: {words} in {errs:?}"
        );
    }
    assert_eq!(errs.len(), 3, "latency checks are fine: {errs:?}");
}

#[test]
fn without_an_access_log_only_external_checks_judge_nginx_targets() {
    let target = "{ nginx: { provider: edge, upstream: web, include: up/web.conf } }";
    let prom = format!("{NGINX}\n  prom: {{ prometheus: {{ url: http://127.0.0.1:9090 }} }}");
    let external = "    analysis:\n      checks:\n        - { name: ok, prometheus: { provider: prom, query: 'up' }, min: 1 }\n";
    let fine = parse_spec(&spec(&prom, target, external)).unwrap();
    match &fine.services[0].targets["production"].router {
        TargetRouter::Nginx(n) => assert_eq!(n.access_log, None),
        other => panic!("{other:?}"),
    }
    // The default checks are built-in ones: refused once, saying so.
    let defaults = errors(&spec(NGINX, target, ""));
    assert_eq!(defaults.len(), 1, "{defaults:?}");
    assert_eq!(defaults[0].0, "services[0].analysis.checks");
    assert!(defaults[0].1.contains("default checks"), "{defaults:?}");
    // A written built-in check beside an external one, and the judge.
    let mixed = format!(
        "{external}        - {{ metric: error_rate, max: 0.01 }}\n      judge: mann_whitney\n"
    );
    let errs = errors(&spec(&prom, target, &mixed));
    let paths: Vec<&str> = errs.iter().map(|(p, _)| p.as_str()).collect();
    assert_eq!(
        paths,
        [
            "services[0].analysis.judge",
            "services[0].analysis.checks[1]"
        ],
        "{errs:?}"
    );
    assert!(errs[1].1.contains("(error_rate)"), "{errs:?}");
    // An empty log path is an error of its own.
    let empty = errors(&spec(
        NGINX,
        "{ nginx: { provider: edge, upstream: web, include: a, access_log: '' } }",
        CHECKS,
    ));
    assert!(
        empty.iter().any(
            |(p, m)| p == "services[0].targets.production.nginx.access_log" && m.contains("empty")
        ),
        "{empty:?}"
    );
}

#[test]
fn two_targets_cannot_share_an_upstream_or_an_include() {
    let yaml = format!(
        "{NGINX}\nenvironments:\n  - name: staging\n  - name: production\nservices:\n  - name: web\n    workload:\n      process:\n        command: [\"app\", \"{{port}}\"]\n    targets:\n      staging: {{ nginx: {{ provider: edge, upstream: web, include: up/a.conf, access_log: a.json }} }}\n      production: {{ nginx: {{ provider: edge, upstream: web, include: up/a.conf, access_log: b.json }} }}\n{CHECKS}"
    );
    let errs = errors(&yaml);
    for path in ["upstream", "include"] {
        assert!(
            errs.iter().any(
                |(p, m)| p == &format!("services[0].targets.staging.nginx.{path}")
                    && m.contains("services[0].targets.production.nginx")
            ),
            "{path}: {errs:?}"
        );
    }
}

#[test]
fn latency_checks_need_the_request_log_of_the_haproxy() {
    let t = "{ haproxy: { provider: edge, backend: web } }";
    let latency = "    analysis:\n      checks:\n        - { metric: latency_p95, max: 300 }\n";
    let logged = "providers:\n  edge: { haproxy: { socket: a.sock, syslog: 127.0.0.1:5514 } }";
    let s = parse_spec(&spec(logged, t, latency)).unwrap();
    assert_eq!(
        s.providers["edge"].haproxy().unwrap().syslog,
        Some("127.0.0.1:5514".parse().unwrap())
    );
    assert!(
        crate::spec::summary(&s).contains("request log on udp 127.0.0.1:5514"),
        "{}",
        crate::spec::summary(&s)
    );
    // The default checks (latency_p95 among them) too.
    assert!(parse_spec(&spec(logged, t, "")).is_ok());
    // Without `syslog`: refused, saying how to give Zion the log.
    let errs = errors(&spec(
        "providers:\n  edge: { haproxy: { socket: a.sock } }",
        t,
        latency,
    ));
    assert_eq!(errs.len(), 1, "{errs:?}");
    assert_eq!(errs[0].0, "services[0].analysis.checks[0]");
    assert!(
        errs[0].1.contains("target production")
            && errs[0].1.contains("providers.edge.haproxy.syslog"),
        "{errs:?}"
    );
    // A bad address is named by its path.
    let bad = errors(&spec(
        "providers:\n  edge: { haproxy: { socket: a.sock, syslog: localhost } }",
        t,
        CHECKS,
    ));
    assert!(
        bad.iter()
            .any(|(p, m)| p == "providers.edge.haproxy.syslog" && m.contains("not an address")),
        "{bad:?}"
    );
}
