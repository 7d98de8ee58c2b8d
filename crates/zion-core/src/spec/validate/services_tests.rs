//! `services:` specs, valid and not: workloads, health probes, targets.

use std::time::Duration;

use crate::spec::validate::test_support::*;
use crate::spec::{Probe, UpstreamProtocol};

#[test]
fn services_may_be_empty() {
    let spec = valid("environments: [{ name: dev }]\n");
    assert!(spec.services.is_empty());
    valid("environments: [{ name: dev }]\nservices: []\n");
}

#[test]
fn depends_on_names_other_declared_services() {
    assert_error(
        &service("depends_on: [api]"),
        "services[0].depends_on[0]",
        "unknown service `api`; declared: web",
    );
    assert_error(
        &service("depends_on: [web]"),
        "services[0].depends_on[0]",
        "cannot depend on itself",
    );
    let yaml = format!(
        "{}  - name: api\n    workload: {{ process: {{ command: [x] }} }}\n    \
             targets: {{ staging: {{ listen: 127.0.0.1:9999 }} }}\n",
        service("depends_on: [api]")
    );
    assert_eq!(valid(&yaml).services[0].depends_on, ["api"]);
}

#[test]
fn workload_rules() {
    let no_workload = "environments: [{ name: staging }]\nservices:\n  - name: web\n    \
                           targets: { staging: { listen: 127.0.0.1:8081 } }\n";
    assert_error(
        no_workload,
        "services[0].workload",
        "missing: say what to run",
    );
    let process = |p: &str| {
        format!(
            "environments: [{{ name: staging }}]\nservices:\n  - name: web\n    \
                 targets: {{ staging: {{ listen: 127.0.0.1:8081 }} }}\n    workload: {{ process: {p} }}\n"
        )
    };
    assert_error(
        &process("{ replicas: 2 }"),
        "services[0].workload.process.command",
        "missing",
    );
    assert_error(
        &process("{ command: [] }"),
        "services[0].workload.process.command",
        "is empty",
    );
    assert_error(
        &process("{ command: [\"\", x] }"),
        "services[0].workload.process.command[0]",
        "program name is empty",
    );
    assert_error(
        &process("{ command: [x], replicas: 0 }"),
        "services[0].workload.process.replicas",
        "0 replicas is out of range: use 1 to 64",
    );
    assert_error(
        &process("{ command: [x], replicas: 65 }"),
        "services[0].workload.process.replicas",
        "use 1 to 64",
    );
    valid(&process("{ command: [x], replicas: 64 }"));
    assert_error(
        &process("{ command: [x], env: { PORT: 1 } }"),
        "services[0].workload.process.env.PORT",
        "set by Zion",
    );
    assert_error(
        &process("{ command: [x], env: { ZION_VERSION: x } }"),
        "services[0].workload.process.env.ZION_VERSION",
        "set by Zion",
    );
    assert_error(
        &process("{ command: [x], env: { \"\": x } }"),
        "services[0].workload.process.env",
        "name is empty",
    );
    let spec = valid(&process(
        "{ command: [x], env: { WORKERS: 4, RATIO: 1.50 }, artifact: dist/app.tar }",
    ));
    let p = &spec.services[0].workload.process;
    assert_eq!(p.env["WORKERS"], "4");
    assert_eq!(p.env["RATIO"], "1.50");
    assert_eq!(p.artifact.as_deref(), Some("dist/app.tar"));
}

#[test]
fn health_rules() {
    assert_error(
        &service("health: { http: /h, tcp: true }"),
        "services[0].health",
        "choose one probe: http, tcp, exec or grpc (found http and tcp)",
    );
    assert_error(
        &service("health: { http: healthz }"),
        "services[0].health.http",
        "start it with '/'",
    );
    assert_error(
        &service("health: { exec: [] }"),
        "services[0].health.exec",
        "is empty",
    );
    assert_error(
        &service("health: { tcp: false }"),
        "services[0].health.tcp",
        "write `tcp: true`",
    );
    assert_error(
        &service("health: { interval: 0s }"),
        "services[0].health.interval",
        "is zero",
    );
    assert_error(
        &service("health: { start_timeout: soon }"),
        "services[0].health.start_timeout",
        "not a duration",
    );
    assert_error(
        &service("health: { interval: 1s, timeout: 1s }"),
        "services[0].health.timeout",
        "must be shorter than interval 1s",
    );
    assert_error(
        &service("health: { interval: 300ms }"),
        "services[0].health.interval",
        "timeout 500ms (the default timeout) must be shorter than interval 300ms",
    );
    let spec = valid(&service(
        "health: { exec: [./check, \"{port}\"], interval: 2s, timeout: 1s, start_timeout: 5m }",
    ));
    let h = &spec.services[0].health;
    assert_eq!(
        h.probe,
        Probe::Exec(vec!["./check".into(), "{port}".into()])
    );
    assert_eq!(
        (h.interval, h.timeout, h.start_timeout),
        (
            Duration::from_secs(2),
            Duration::from_secs(1),
            Duration::from_secs(300)
        )
    );
    assert_eq!(
        valid(&service("health: { tcp: true }")).services[0]
            .health
            .probe,
        Probe::Tcp
    );
}

#[test]
fn grpc_probe_names_a_service_or_none() {
    let probe = |yaml: &str| valid(&service(yaml)).services[0].health.probe.clone();
    assert_eq!(
        probe("health: { grpc: {} }"),
        Probe::Grpc {
            service: String::new()
        }
    );
    assert_eq!(
        probe("health: { grpc: { service: helloworld.Greeter } }"),
        Probe::Grpc {
            service: "helloworld.Greeter".into()
        }
    );
    assert_eq!(
        probe("health: { grpc: { service: \"\" } }"),
        Probe::Grpc {
            service: String::new()
        }
    );
    assert_error(
        &service("health: { grpc: { service: \"hello world\" } }"),
        "services[0].health.grpc.service",
        "is not a gRPC service name",
    );
    assert_error(
        &service("health: { grpc: { name: x } }"),
        "services[0].health.grpc.name",
        "keys allowed here: service",
    );
    assert_error(
        &service("health: { tcp: true, grpc: {} }"),
        "services[0].health",
        "(found tcp and grpc)",
    );
}

#[test]
fn targets_rules() {
    assert_error(&with_service(""), "services[0].targets", "no targets");
    assert_error(
        &with_service("targets: {}"),
        "services[0].targets",
        "no targets",
    );
    assert_error(
        &with_service("targets: { prodution: { listen: 127.0.0.1:8080 } }"),
        "services[0].targets.prodution",
        "unknown environment `prodution`; did you mean `production`?",
    );
    assert_error(
        &with_service("targets: { staging: { listen: localhost:8080 } }"),
        "services[0].targets.staging.listen",
        "`localhost:8080` is not an address",
    );
    assert_error(
        &with_service("targets: { staging: { listen: 8080 } }"),
        "services[0].targets.staging.listen",
        "`8080` is not an address",
    );
    assert_error(
        &with_service("targets: { staging: { listen: 127.0.0.1:0 } }"),
        "services[0].targets.staging.listen",
        "has port 0",
    );
    assert_error(
        &with_service("targets: { staging: { preview: 127.0.0.1:9000 } }"),
        "services[0].targets.staging.listen",
        "missing",
    );
    assert_error(
        &with_service("targets: { staging: { listen: 127.0.0.1:8080, preview: \"[::1]:0\" } }"),
        "services[0].targets.staging.preview",
        "port 0",
    );
}

#[test]
fn upstream_protocol_defaults_to_http1_and_names_its_choices() {
    let spec = valid(&with_service(
        "targets: { staging: { listen: 127.0.0.1:8080 } }",
    ));
    assert_eq!(
        spec.services[0].targets["staging"].upstream_protocol,
        UpstreamProtocol::Http1
    );
    let spec = valid(&with_service(
        "targets: { staging: { listen: 127.0.0.1:8080, upstream_protocol: h2c } }",
    ));
    assert_eq!(
        spec.services[0].targets["staging"].upstream_protocol,
        UpstreamProtocol::H2c
    );
    assert_error(
        &with_service("targets: { staging: { listen: 127.0.0.1:8080, upstream_protocol: h3 } }"),
        "services[0].targets.staging.upstream_protocol",
        "unknown protocol \"h3\": use `http1`",
    );
}

#[test]
fn tls_lists_certificates_with_their_names() {
    let spec = valid(&with_service(
        "targets: { staging: { listen: 127.0.0.1:8443, tls: { certificates: [\
         { names: [Shop.example, '*.shop.example'], cert: a.crt, key: a.key },\
         { names: [admin.example], cert: /etc/b.crt, key: /etc/b.key }] } } }",
    ));
    let tls = spec.services[0].targets["staging"].tls.clone().unwrap();
    assert_eq!(tls.certificates.len(), 2);
    assert_eq!(
        tls.certificates[0].names,
        ["shop.example", "*.shop.example"]
    );
    assert_eq!(tls.certificates[1].key, "/etc/b.key");
    assert_error(
        &with_service(
            "targets: { staging: { listen: 127.0.0.1:8443, tls: { certificates: [] } } }",
        ),
        "services[0].targets.staging.tls.certificates",
        "missing: list at least one certificate",
    );
    assert_error(
        &with_service(
            "targets: { staging: { listen: 127.0.0.1:8443, tls: { certificates: [{ cert: a.crt, key: a.key }] } } }",
        ),
        "services[0].targets.staging.tls.certificates[0].names",
        "missing: the host names",
    );
    assert_error(
        &with_service(
            "targets: { staging: { listen: 127.0.0.1:8443, tls: { certificates: [{ names: ['a b'], cert: a.crt }] } } }",
        ),
        "services[0].targets.staging.tls.certificates[0].key",
        "missing: the private key file",
    );
}

#[test]
fn limits_have_defaults_and_ranges() {
    let spec = valid(&with_service(
        "targets: { staging: { listen: 127.0.0.1:8080 } }",
    ));
    let limits = spec.services[0].targets["staging"].limits;
    assert_eq!(limits.connect_timeout, Duration::from_secs(5));
    assert_eq!(limits.header_timeout, Duration::from_secs(30));
    assert_eq!(limits.max_header_bytes, 65536);
    assert_eq!(limits.max_connections, 10_000);
    let spec = valid(&with_service(
        "targets: { staging: { listen: 127.0.0.1:8080, limits: { connect_timeout: 1s, \
         header_timeout: 10s, max_header_bytes: 16384, max_connections: 500 } } }",
    ));
    let limits = spec.services[0].targets["staging"].limits;
    assert_eq!(limits.connect_timeout, Duration::from_secs(1));
    assert_eq!(limits.max_connections, 500);
    assert_error(
        &with_service(
            "targets: { staging: { listen: 127.0.0.1:8080, limits: { max_header_bytes: 100 } } }",
        ),
        "services[0].targets.staging.limits.max_header_bytes",
        "100 is out of range: use 8192 to 1048576",
    );
    assert_error(
        &with_service("targets: { staging: { listen: 127.0.0.1:8080, limits: { idle: 1s } } }"),
        "services[0].targets.staging.limits.idle",
        "",
    );
}

#[test]
fn response_timeout_has_a_default_and_a_range() {
    let spec = valid(&with_service(
        "targets: { staging: { listen: 127.0.0.1:8080 } }",
    ));
    assert_eq!(
        spec.services[0].targets["staging"].response_timeout,
        Duration::from_secs(30)
    );
    let spec = valid(&with_service(
        "targets: { staging: { listen: 127.0.0.1:8080, response_timeout: 2s } }",
    ));
    assert_eq!(
        spec.services[0].targets["staging"].response_timeout,
        Duration::from_secs(2)
    );
    assert_error(
        &with_service("targets: { staging: { listen: 127.0.0.1:8080, response_timeout: 2h } }"),
        "services[0].targets.staging.response_timeout",
        "`2h` is too long: use 100ms to 1h",
    );
    assert_error(
        &with_service("targets: { staging: { listen: 127.0.0.1:8080, response_timeout: 5ms } }"),
        "services[0].targets.staging.response_timeout",
        "`5ms` is too short: use 100ms to 1h",
    );
}
