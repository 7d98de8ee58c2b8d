//! `slos:` specs, valid and not.

use std::time::Duration;

use crate::spec::validate::test_support::*;
use crate::spec::{Budgeting, ProbeCheck, Sli, SloEvents, SloProbe, SloPrometheus, SloWindow};

/// The one-service spec (target `web/staging`) with `slos` appended.
fn with_slos(slos: &str) -> String {
    format!("{}slos:\n{}", service(""), indent(slos, 2))
}

#[test]
fn a_probe_sli_is_read_with_its_check_and_interval() {
    let spec = valid(&with_slos(
        "- { name: up, service: web, environment: staging, objective: 99.9%, sli: probe,\n\
         \x20   probe: { url: 'https://web.example.com/healthz', interval: 15m } }\n\
         - { name: db, service: web, environment: staging, objective: 99%, sli: probe,\n\
         \x20   probe: { tcp: '127.0.0.1:5432', interval: 5s, timeout: 1s } }\n",
    ));
    assert_eq!(
        spec.slos[0].sli,
        Sli::Probe(SloProbe {
            check: ProbeCheck::Http("https://web.example.com/healthz".into()),
            interval: Duration::from_secs(900),
            timeout: Duration::from_secs(10),
        })
    );
    assert_eq!(
        spec.slos[1].sli,
        Sli::Probe(SloProbe {
            check: ProbeCheck::Tcp("127.0.0.1:5432".into()),
            interval: Duration::from_secs(5),
            timeout: Duration::from_secs(1),
        })
    );
}

#[test]
fn an_slo_is_read_with_its_defaults() {
    let spec = valid(&with_slos(
        "- { name: availability, service: web, environment: staging, objective: 99.9% }\n\
         - name: fast\n\
         \x20 service: web\n\
         \x20 environment: staging\n\
         \x20 objective: 0.95\n\
         \x20 window: month\n\
         \x20 sli: latency\n\
         \x20 threshold: 250ms\n\
         \x20 budgeting: time_slices\n\
         \x20 retention: 14d\n",
    ));
    let a = &spec.slos[0];
    assert_eq!(a.id(), "web/staging/availability");
    assert!((a.objective - 0.999).abs() < 1e-12);
    assert_eq!(a.window, SloWindow::Rolling { days: 30 });
    assert_eq!(a.sli, Sli::Availability);
    assert_eq!(a.budgeting, Budgeting::Events);
    assert_eq!(a.retention, Duration::from_secs(7 * 86_400));
    let f = &spec.slos[1];
    assert_eq!(f.window, SloWindow::CalendarMonth);
    assert_eq!(
        f.sli,
        Sli::Latency {
            threshold: Duration::from_millis(250)
        }
    );
    assert_eq!(f.budgeting, Budgeting::TimeSlices);
    assert_eq!(f.retention, Duration::from_secs(14 * 86_400));
    let summary = crate::spec::summary(&spec);
    assert!(
        summary.contains(
            "slos (2):\n  web/staging/availability: 99.9% availability over 30d, budget by events\n  \
             web/staging/fast: 95% latency under 250ms over the calendar month, budget by time slices"
        ),
        "{summary}"
    );
}

#[test]
fn an_slo_must_name_a_declared_target() {
    let slo = |rest: &str| with_slos(&format!("- {{ name: a, objective: 99%, {rest} }}\n"));
    assert_error(&slo("environment: staging"), "slos[0].service", "missing");
    assert_error(
        &slo("service: wbe, environment: staging"),
        "slos[0].service",
        "unknown service `wbe`; declared: web",
    );
    assert_error(
        &slo("service: web, environment: production"),
        "slos[0].environment",
        "service `web` has no target in `production`",
    );
}

#[test]
fn objectives_windows_and_slis_are_checked() {
    let slo = |rest: &str| {
        with_slos(&format!(
            "- {{ name: a, service: web, environment: staging, {rest} }}\n"
        ))
    };
    assert_error(&slo("window: 30d"), "slos[0].objective", "missing");
    assert_error(
        &slo("objective: 100%"),
        "slos[0].objective",
        "strictly between",
    );
    assert_error(
        &slo("objective: 99.9"),
        "slos[0].objective",
        "write 99.9% for a percentage",
    );
    assert_error(
        &slo("objective: 99%, window: 12h"),
        "slos[0].window",
        "not a window",
    );
    assert_error(
        &slo("objective: 99%, window: 400d"),
        "slos[0].window",
        "1d to 90d",
    );
    assert_error(
        &slo("objective: 99%, sli: latency"),
        "slos[0].threshold",
        "missing",
    );
    assert_error(
        &slo("objective: 99%, threshold: 200ms"),
        "slos[0].threshold",
        "only a latency SLI",
    );
    assert_error(
        &slo("objective: 99%, sli: probe"),
        "slos[0].probe",
        "missing",
    );
    assert_error(
        &slo("objective: 99%, sli: prometheus"),
        "slos[0].prometheus",
        "missing",
    );
    assert_error(
        &slo("objective: 99%, probe: { tcp: 'x:1' }"),
        "slos[0].probe",
        "only a probe SLI",
    );
    assert_error(
        &slo("objective: 99%, sli: probe, probe: { interval: 1m }"),
        "slos[0].probe",
        "give `url`",
    );
    assert_error(
        &slo("objective: 99%, sli: probe, probe: { url: 'ftp://x', interval: 1m }"),
        "slos[0].probe.url",
        "not an http:// or https:// URL",
    );
    assert_error(
        &slo("objective: 99%, sli: probe, probe: { tcp: 'db', interval: 1m }"),
        "slos[0].probe.tcp",
        "is not `host:port`",
    );
    assert_error(
        &slo("objective: 99%, sli: probe, probe: { tcp: 'db:1', interval: 10s, timeout: 20s }"),
        "slos[0].probe.timeout",
        "longer than its interval",
    );
    assert_error(
        &slo("objective: 99%, sli: probe, probe: { tcp: 'db:1', interval: 500ms }"),
        "slos[0].probe.interval",
        "",
    );
    assert_error(
        &slo("objective: 99%, sli: uptime"),
        "slos[0].sli",
        "not a SLI",
    );
    assert_error(
        &slo("objective: 99%, budgeting: minutes"),
        "slos[0].budgeting",
        "time_slices",
    );
    assert_error(
        &slo("objective: 99%, retention: 1d"),
        "slos[0].retention",
        "too short",
    );
    assert_error(
        &slo("objective: 99%, good: x"),
        "slos[0].good",
        "unknown key",
    );
}

#[test]
fn two_slos_of_one_target_need_two_names() {
    let yaml = with_slos(
        "- { name: a, service: web, environment: staging, objective: 99% }\n\
         - { name: a, service: web, environment: staging, objective: 95% }\n",
    );
    assert_error(&yaml, "slos[1].name", "already declared at slos[0]");
}

/// The one-service spec with a `prom` provider and one prometheus SLO of
/// `queries` (the inside of `prometheus: { … }`).
fn with_prometheus_slo(queries: &str) -> String {
    format!(
        "providers:\n  prom: {{ prometheus: {{ url: 'http://127.0.0.1:9090' }} }}\n{}",
        with_slos(&format!(
            "- {{ name: a, service: web, environment: staging, objective: 99%, sli: prometheus,\n\
             \x20   prometheus: {{ {queries} }} }}\n"
        ))
    )
}

#[test]
fn a_prometheus_sli_is_read_with_its_provider_and_queries() {
    let spec = valid(&with_prometheus_slo(
        r#"provider: prom, bad: 'sum(rate(http_requests_total{code=~"5.."}[{{.window}}]))', total: 'sum(rate(http_requests_total[{{.window}}]))'"#,
    ));
    assert_eq!(
        spec.slos[0].sli,
        Sli::Prometheus(SloPrometheus {
            provider: "prom".into(),
            events: SloEvents::Bad(
                r#"sum(rate(http_requests_total{code=~"5.."}[{{.window}}]))"#.into()
            ),
            total: "sum(rate(http_requests_total[{{.window}}]))".into(),
        })
    );
    let good = valid(&with_prometheus_slo(
        "provider: prom, good: 'sum(rate(ok[{{.window}}]))', total: 'sum(rate(all[{{.window}}]))'",
    ));
    assert!(matches!(
        &good.slos[0].sli,
        Sli::Prometheus(SloPrometheus { events: SloEvents::Good(q), .. }) if q == "sum(rate(ok[{{.window}}]))"
    ));
}

#[test]
fn a_prometheus_sli_is_checked() {
    let ok = "sum(rate(all[{{.window}}]))";
    let cases = [
        (
            format!("provider: prom, total: '{ok}'"),
            "slos[0].prometheus",
            "give `good` or `bad`",
        ),
        (
            format!("provider: prom, good: '{ok}', bad: '{ok}', total: '{ok}'"),
            "slos[0].prometheus",
            "not both",
        ),
        (
            format!("provider: prom, bad: '{ok}'"),
            "slos[0].prometheus.total",
            "missing",
        ),
        (
            format!("bad: '{ok}', total: '{ok}'"),
            "slos[0].prometheus.provider",
            "missing",
        ),
        (
            format!("provider: grafana, bad: '{ok}', total: '{ok}'"),
            "slos[0].prometheus.provider",
            "`grafana` is not a provider; declared: prom",
        ),
        (
            format!("provider: prom, bad: 'sum(rate(errors[5m]))', total: '{ok}'"),
            "slos[0].prometheus.bad",
            "has no `{{.window}}`",
        ),
        (
            format!("provider: prom, bad: '{ok}', total: 'sum(rate(all[{{{{window}}}}]))'"),
            "slos[0].prometheus.total",
            "write it as Sloth does",
        ),
        (
            format!("provider: prom, bad: '  ', total: '{ok}'"),
            "slos[0].prometheus.bad",
            "empty",
        ),
        (
            format!("provider: prom, bad: '{ok}', total: '{ok}', error_query: x"),
            "slos[0].prometheus.error_query",
            "unknown key",
        ),
    ];
    for (queries, path, message) in cases {
        assert_error(&with_prometheus_slo(&queries), path, message);
    }
    let with_slos_only = with_slos(&format!(
        "- {{ name: a, service: web, environment: staging, objective: 99%,\n\
         \x20   prometheus: {{ provider: prom, bad: '{ok}', total: '{ok}' }} }}\n"
    ));
    assert_error(
        &with_slos_only,
        "slos[0].prometheus",
        "only a prometheus SLI",
    );
}
