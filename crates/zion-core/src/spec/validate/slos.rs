//! `slos:`: each SLO names a declared target (a service with a target in
//! the environment), an objective strictly between 0% and 100%, a window
//! (`30d` or `month`), an SLI the built-in proxy measures, and how its
//! budget is counted. A probe SLI names its check (`url` or `tcp`) and
//! interval. A prometheus SLI names a `prometheus` provider and two
//! queries, good (or bad) and total, each with Sloth's `{{.window}}`.

use std::time::Duration;

use super::environments::parse_share;
use super::{Report, at, text};
use crate::duration::parse_duration;
use crate::slo::prometheus::WINDOW;
use crate::spec::raw::{RawSlo, RawSloProbe, RawSloPrometheus, Text, keys};
use crate::spec::{
    Budgeting, ProbeCheck, ServiceSpec, Sli, SloEvents, SloProbe, SloPrometheus, SloSpec,
    SloWindow, ranges,
};

/// One-minute rows are kept a week by default, then rolled up hourly.
const DEFAULT_RETENTION: Duration = Duration::from_secs(7 * 24 * 3600);
/// The longest rolling window: a quarter.
const MAX_WINDOW_DAYS: u32 = 90;

const BUDGETING: [(&str, Budgeting); 2] = [
    ("events", Budgeting::Events),
    ("time_slices", Budgeting::TimeSlices),
];

pub(super) fn slos(r: &mut Report, list: &[RawSlo], services: &[ServiceSpec]) -> Vec<SloSpec> {
    let mut out = Vec::new();
    let mut ids: Vec<(String, usize)> = Vec::new();
    for (i, raw) in list.iter().enumerate() {
        let p = format!("slos[{i}]");
        let before = r.errors.len();
        let slo = slo(r, &p, raw, services);
        if r.errors.len() != before {
            continue;
        }
        let id = slo.id();
        if let Some((_, j)) = ids.iter().find(|(other, _)| *other == id) {
            r.add(
                at(&p, "name"),
                format!("SLO `{id}` is already declared at slos[{j}]: give each SLO of a target its own name"),
            );
            continue;
        }
        ids.push((id, i));
        out.push(slo);
    }
    out
}

fn slo(r: &mut Report, p: &str, raw: &RawSlo, services: &[ServiceSpec]) -> SloSpec {
    r.unknown(p, &raw.unknown, keys::SLO);
    let name = r.name(&at(p, "name"), raw.name.as_ref(), "SLO");
    let (service, environment) = target(r, p, raw, services);
    let objective = objective(r, &at(p, "objective"), raw.objective.as_ref());
    let window = window(r, &at(p, "window"), raw.window.as_ref());
    let sli = sli(r, p, raw);
    let budgeting = match text(raw.budgeting.as_ref()) {
        None => Budgeting::Events,
        Some(b) => r
            .choice(&at(p, "budgeting"), b, "budgeting", &BUDGETING)
            .unwrap_or(Budgeting::Events),
    };
    let retention = r.duration(
        &at(p, "retention"),
        raw.retention.as_ref(),
        DEFAULT_RETENTION,
        ranges::SLO_RETENTION,
    );
    SloSpec {
        name,
        service,
        environment,
        objective,
        window,
        sli,
        budgeting,
        retention,
    }
}

/// `service` and `environment`: a declared service with a target there.
fn target(r: &mut Report, p: &str, raw: &RawSlo, services: &[ServiceSpec]) -> (String, String) {
    let mut required = |key: &str, value: Option<&Text>, example: &str| match value {
        Some(v) => v.0.clone(),
        None => {
            r.add(
                at(p, key),
                format!("missing: every SLO names its {key}, e.g. `{key}: {example}`"),
            );
            String::new()
        }
    };
    let service = required("service", raw.service.as_ref(), "web");
    let environment = required("environment", raw.environment.as_ref(), "production");
    if service.is_empty() || environment.is_empty() {
        return (service, environment);
    }
    let names: Vec<String> = services.iter().map(|s| s.name.clone()).collect();
    if !r.reference(&at(p, "service"), &service, &names, "service") {
        return (service, environment);
    }
    let declared = services
        .iter()
        .find(|s| s.name == service)
        .map(|s| s.targets.keys().cloned().collect::<Vec<_>>());
    if let Some(envs) = declared
        && !envs.contains(&environment)
    {
        r.add(
            at(p, "environment"),
            format!(
                "service `{service}` has no target in `{environment}`: an SLO measures a \
                 target; use one of {} or add `targets.{environment}` to the service",
                envs.join(", ")
            ),
        );
    }
    (service, environment)
}

fn objective(r: &mut Report, p: &str, raw: Option<&Text>) -> f64 {
    let Some(raw) = raw else {
        r.add(
            p,
            "missing: write the share of good events aimed at, e.g. `objective: 99.9%`",
        );
        return 0.0;
    };
    match parse_share(raw.as_str()) {
        Err(message) => {
            r.add(p, message);
            0.0
        }
        Ok(v) if v <= 0.0 || v >= 1.0 => {
            r.add(
                p,
                format!(
                    "`{raw}` leaves no sensible budget: an objective lies strictly between 0% \
                     and 100%, e.g. 99.9%"
                ),
            );
            0.0
        }
        Ok(v) => v,
    }
}

fn window(r: &mut Report, p: &str, raw: Option<&Text>) -> SloWindow {
    const HINT: &str =
        "write a rolling number of days such as `30d`, or `month` for the calendar month (UTC)";
    let Some(raw) = raw else {
        return SloWindow::Rolling { days: 30 };
    };
    let t = raw.as_str().trim();
    if t == "month" {
        return SloWindow::CalendarMonth;
    }
    let days = parse_duration(t).ok().and_then(|d| {
        let secs = d.as_secs();
        (d.subsec_nanos() == 0 && secs % 86_400 == 0).then_some(secs / 86_400)
    });
    match days {
        Some(days) if (1..=u64::from(MAX_WINDOW_DAYS)).contains(&days) => {
            SloWindow::Rolling { days: days as u32 }
        }
        Some(_) => {
            r.add(
                p,
                format!("`{t}` is out of range: use 1d to {MAX_WINDOW_DAYS}d, or `month`"),
            );
            SloWindow::Rolling { days: 30 }
        }
        None => {
            r.add(p, format!("`{t}` is not a window: {HINT}"));
            SloWindow::Rolling { days: 30 }
        }
    }
}

/// `sli` (default `availability`) and, for `latency`, its `threshold`.
fn sli(r: &mut Report, p: &str, raw: &RawSlo) -> Sli {
    let kind = text(raw.sli.as_ref()).unwrap_or("availability");
    let threshold = || raw.threshold.as_ref();
    if raw.probe.is_some() && kind != "probe" {
        r.add(
            at(p, "probe"),
            "only a probe SLI has a probe: remove it, or write `sli: probe`",
        );
    }
    if raw.prometheus.is_some() && kind != "prometheus" {
        r.add(
            at(p, "prometheus"),
            "only a prometheus SLI has queries: remove `prometheus`, or write `sli: prometheus`",
        );
    }
    match kind {
        "availability" => {
            if threshold().is_some() {
                r.add(
                    at(p, "threshold"),
                    "only a latency SLI has a threshold: remove it, or write `sli: latency`",
                );
            }
            Sli::Availability
        }
        "latency" => match threshold() {
            None => {
                r.add(
                    at(p, "threshold"),
                    "missing: a latency SLI counts requests faster than a threshold, e.g. \
                     `threshold: 200ms`",
                );
                Sli::Availability
            }
            Some(t) => r
                .opt_duration(&at(p, "threshold"), Some(t), ranges::SLO_THRESHOLD)
                .map(|threshold| Sli::Latency { threshold })
                .unwrap_or(Sli::Availability),
        },
        "probe" => match raw.probe.as_ref() {
            None => {
                r.add(
                    at(p, "probe"),
                    "missing: a probe SLI names what to check, e.g. \
                     `probe: { url: \"https://web.example.com/healthz\", interval: 15m }`",
                );
                Sli::Availability
            }
            Some(probe) => slo_probe(r, &at(p, "probe"), probe)
                .map(Sli::Probe)
                .unwrap_or(Sli::Availability),
        },
        "prometheus" => match raw.prometheus.as_ref() {
            None => {
                r.add(
                    at(p, "prometheus"),
                    "missing: a prometheus SLI names its provider and queries, e.g. \
                     `prometheus: { provider: prom, bad: 'sum(rate(http_requests_total{code=~\"5..\"}[{{.window}}]))', \
                     total: 'sum(rate(http_requests_total[{{.window}}]))' }`",
                );
                Sli::Availability
            }
            Some(q) => slo_prometheus(r, &at(p, "prometheus"), q)
                .map(Sli::Prometheus)
                .unwrap_or(Sli::Availability),
        },
        other => {
            r.choice(
                &at(p, "sli"),
                other,
                "SLI",
                &[
                    ("availability", ()),
                    ("latency", ()),
                    ("probe", ()),
                    ("prometheus", ()),
                ],
            );
            Sli::Availability
        }
    }
}

/// `probe`: a `url` or a `tcp` address, an `interval` and a `timeout`.
fn slo_probe(r: &mut Report, p: &str, raw: &RawSloProbe) -> Option<SloProbe> {
    r.unknown(p, &raw.unknown, keys::SLO_PROBE);
    let check = match (raw.url.as_ref(), raw.tcp.as_ref()) {
        (Some(url), None) => super::providers::http_url(
            r,
            &at(p, "url"),
            Some(url),
            "https://web.example.com/healthz",
        )
        .map(ProbeCheck::Http),
        (None, Some(addr)) => tcp_address(r, &at(p, "tcp"), addr.as_str()).map(ProbeCheck::Tcp),
        (Some(_), Some(_)) => {
            r.add(
                p,
                "give either `url` (an HTTP probe) or `tcp` (a TCP connect), not both",
            );
            None
        }
        (None, None) => {
            r.add(
                p,
                "missing: give `url` (an HTTP GET that passes on 2xx or 3xx) or `tcp` \
                 (`host:port`, passes when a connection opens)",
            );
            None
        }
    };
    let interval = r.duration(
        &at(p, "interval"),
        raw.interval.as_ref(),
        SloProbe::DEFAULT_INTERVAL,
        ranges::SLO_PROBE_INTERVAL,
    );
    let timeout = r.duration(
        &at(p, "timeout"),
        raw.timeout.as_ref(),
        SloProbe::DEFAULT_TIMEOUT.min(interval),
        ranges::SOURCE_TIMEOUT,
    );
    if timeout > interval {
        r.add(
            at(p, "timeout"),
            format!(
                "a probe's timeout ({}) is longer than its interval ({}): probes would \
                 overlap; shorten the timeout or lengthen the interval",
                crate::duration::format_duration(timeout),
                crate::duration::format_duration(interval)
            ),
        );
    }
    Some(SloProbe {
        check: check?,
        interval,
        timeout,
    })
}

/// `prometheus`: a declared `prometheus` provider, `good` or `bad`, and
/// `total`, each a query with `{{.window}}`.
fn slo_prometheus(r: &mut Report, p: &str, raw: &RawSloPrometheus) -> Option<SloPrometheus> {
    r.unknown(p, &raw.unknown, keys::SLO_PROMETHEUS);
    let provider = slo_provider(r, &at(p, "provider"), raw.provider.as_ref());
    let events = match (raw.good.as_ref(), raw.bad.as_ref()) {
        (Some(good), None) => query(r, &at(p, "good"), good).map(SloEvents::Good),
        (None, Some(bad)) => query(r, &at(p, "bad"), bad).map(SloEvents::Bad),
        (Some(_), Some(_)) => {
            r.add(
                p,
                "give either `good` (the good events' query) or `bad` (the bad events'), not \
                 both: the other is the total less it",
            );
            None
        }
        (None, None) => {
            r.add(
                p,
                "missing: give `good` or `bad`, a query of the good (or bad) events' rate, \
                 e.g. `bad: 'sum(rate(http_requests_total{code=~\"5..\"}[{{.window}}]))'`",
            );
            None
        }
    };
    let total = match raw.total.as_ref() {
        Some(t) => query(r, &at(p, "total"), t),
        None => {
            r.add(
                at(p, "total"),
                "missing: give the query of all events' rate, e.g. \
                 `total: 'sum(rate(http_requests_total[{{.window}}]))'`",
            );
            None
        }
    };
    Some(SloPrometheus {
        provider: provider?,
        events: events?,
        total: total?,
    })
}

/// A provider declared under `providers:` whose kind is `prometheus`.
fn slo_provider(r: &mut Report, p: &str, raw: Option<&Text>) -> Option<String> {
    let name = match text(raw).map(str::trim) {
        None | Some("") => {
            r.add(
                p,
                "missing: name a prometheus provider declared under `providers:`, e.g. \
                 `provider: prom`",
            );
            return None;
        }
        Some(name) => name.to_owned(),
    };
    match r.providers.get(&name).copied() {
        None => {
            let declared: Vec<String> = r.providers.keys().cloned().collect();
            let list = if declared.is_empty() {
                "none is declared: add one, e.g. `providers: { prom: { prometheus: { url: \
                 http://127.0.0.1:9090 } } }`"
                    .to_owned()
            } else {
                format!("declared: {}", declared.join(", "))
            };
            r.add(p, format!("`{name}` is not a provider; {list}"));
            None
        }
        Some(Some(kind)) if kind != "prometheus" => {
            r.add(
                p,
                format!("`{name}` is a {kind} provider; a prometheus SLI needs a prometheus one"),
            );
            None
        }
        Some(_) => Some(name),
    }
}

/// One query: not empty, with Sloth's `{{.window}}` (Zion fills it with
/// `1m` to measure each minute).
fn query(r: &mut Report, p: &str, raw: &Text) -> Option<String> {
    let q = raw.as_str().trim();
    if q.is_empty() {
        r.add(
            p,
            "empty: write a PromQL query of the events' rate per second, e.g. \
             `sum(rate(http_requests_total[{{.window}}]))`",
        );
        return None;
    }
    if !q.contains(WINDOW) {
        let hint = if q.contains("{{window}}") || q.contains("{{ .window }}") {
            "write it as Sloth does, `{{.window}}`"
        } else {
            "write the range as `[{{.window}}]`, e.g. `sum(rate(http_requests_total[{{.window}}]))`"
        };
        r.add(
            p,
            format!(
                "`{q}` has no `{{{{.window}}}}`: Zion measures each minute by filling it with \
                 `1m`; {hint}"
            ),
        );
        return None;
    }
    Some(q.to_owned())
}

/// `host:port` with a port number.
fn tcp_address(r: &mut Report, p: &str, addr: &str) -> Option<String> {
    let addr = addr.trim();
    match addr.rsplit_once(':') {
        Some((host, port)) if !host.is_empty() && port.parse::<u16>().is_ok_and(|n| n > 0) => {
            Some(addr.to_owned())
        }
        _ => {
            r.add(
                p,
                format!("`{addr}` is not `host:port`, e.g. `db.example.com:5432`"),
            );
            None
        }
    }
}

#[cfg(test)]
#[path = "slos_tests.rs"]
mod tests;
