//! The one-screen summary `zion lint` prints for a valid spec.

use std::time::Duration;

use crate::governance::quality::QualityGates;
use crate::spec::{
    Batch, Bound, CanaryStep, Check, EnvironmentSpec, MatchRule, Probe, ServiceSpec, Sli, SloSpec,
    SloWindow, Spec, Strategy, TargetSpec,
};

/// A one-screen human summary of a validated spec, for `zion lint`.
pub fn summary(spec: &Spec) -> String {
    let mut out = Vec::new();
    out.push(format!(
        "server: listen {}, data dir {}",
        spec.server.listen, spec.server.data_dir
    ));
    // Validation refused any password in it, so the URL can be shown whole.
    if let Some(url) = &spec.server.database {
        out.push(format!("database: PostgreSQL at {url}"));
    }
    if let Some(origin) = &spec.audit.origin {
        out.push(format!("audit: log origin {origin}"));
    }
    if spec.console.status_page {
        out.push("console: public status page on /status".to_string());
    }
    for (name, provider) in &spec.providers {
        if let Some(h) = provider.haproxy() {
            let log = h
                .syslog
                .map(|a| format!(", request log on udp {a}"))
                .unwrap_or_default();
            out.push(format!(
                "provider {name}: haproxy, admin socket {}{log}",
                h.socket
            ));
        }
        if let Some(n) = provider.nginx() {
            out.push(format!(
                "provider {name}: nginx {}, configuration {}",
                n.binary, n.config
            ));
        }
    }
    out.push(format!("environments ({}):", spec.environments.len()));
    for env in &spec.environments {
        out.push(format!("  {}", environment_line(env)));
    }
    out.push(format!("services ({}):", spec.services.len()));
    for svc in &spec.services {
        out.extend(service_lines(spec, svc));
    }
    out.extend(notification_lines(&spec.notifications));
    if !spec.slos.is_empty() {
        out.push(format!("slos ({}):", spec.slos.len()));
        for slo in &spec.slos {
            out.push(format!("  {}", slo_line(slo)));
        }
    }
    out.join("\n")
}

/// `web/production/availability: 99.9% availability over 30d, budget by events`.
fn slo_line(slo: &SloSpec) -> String {
    let sli = match &slo.sli {
        Sli::Availability => "availability".to_owned(),
        Sli::Latency { threshold } => format!("latency under {}", short(*threshold)),
        Sli::Probe(p) => format!("probe every {}", short(p.interval)),
        Sli::Prometheus(q) => format!("prometheus queries to `{}`", q.provider),
    };
    let window = match slo.window {
        SloWindow::Rolling { days } => format!("{days}d"),
        SloWindow::CalendarMonth => "the calendar month".to_owned(),
    };
    format!(
        "{}: {} {sli} over {window}, budget by {}",
        slo.id(),
        crate::slo::policy::percent(slo.objective),
        slo.budgeting.name().replace('_', " ")
    )
}

fn environment_line(env: &EnvironmentSpec) -> String {
    let mut parts = Vec::new();
    // Only say it when the name does not already.
    let named = matches!(env.name.as_str(), "production" | "prod");
    if env.production && !named {
        parts.push("counts as production".to_owned());
    } else if !env.production && named {
        parts.push("not counted as production".to_owned());
    }
    if !env.requires.is_empty() {
        parts.push(format!("requires {}", env.requires.join(", ")));
    }
    if let Some(a) = &env.approvals {
        if a.required == 0 {
            parts.push("no approvals".to_owned());
        } else {
            let roles: Vec<&str> = a.roles.iter().map(|r| r.name()).collect();
            let mut text = format!("{} approval(s) by {}", a.required, roles.join("/"));
            if a.prevent_self_approval {
                text.push_str(", not the requester");
            }
            text.push_str(&format!(", expire after {}", short(a.timeout)));
            parts.push(text);
        }
    }
    if let Some(w) = &env.windows {
        let mut text = format!("windows {}", w.timezone);
        if w.allow.is_empty() {
            text.push_str(" any time");
        } else {
            let allow: Vec<&str> = w.allow.iter().map(|a| a.text.as_str()).collect();
            text.push_str(&format!(" allow {}", allow.join(", ")));
        }
        if !w.freeze.is_empty() {
            text.push_str(&format!(", {} freeze(s)", w.freeze.len()));
        }
        parts.push(text);
    }
    if !env.checks.is_empty() {
        let checks: Vec<&str> = env.checks.iter().map(|c| c.name()).collect();
        parts.push(format!("checks {}", checks.join(", ")));
    }
    if let Some(g) = &env.gates {
        parts.push(format!("gates {}", gates_text(g)));
    }
    if parts.is_empty() {
        env.name.clone()
    } else {
        format!("{}: {}", env.name, parts.join("; "))
    }
}

fn gates_text(g: &QualityGates) -> String {
    let pct = |ratio: f64| {
        let text = format!("{:.6}", ratio * 100.0);
        format!("{}%", text.trim_end_matches('0').trim_end_matches('.'))
    };
    let mut parts = Vec::new();
    if let Some(min) = g.tests_passed {
        parts.push(format!("tests passed >= {}", pct(min)));
    }
    if let Some(min) = g.coverage {
        parts.push(format!("coverage >= {}", pct(min)));
    }
    for (level, max) in &g.findings {
        parts.push(format!("{level} findings <= {max}"));
    }
    parts.join(", ")
}

fn service_lines(spec: &Spec, svc: &ServiceSpec) -> Vec<String> {
    let process = &svc.workload.process;
    let probe = match &svc.health.probe {
        Probe::Http(path) => format!("http {path}"),
        Probe::Tcp => "tcp".to_owned(),
        Probe::Exec(cmd) => format!("exec {}", cmd.join(" ")),
        Probe::Grpc { service } if service.is_empty() => "grpc (overall)".to_owned(),
        Probe::Grpc { service } => format!("grpc {service}"),
    };
    let mut head = format!(
        "  {}: {}, {} replica(s), health {probe} every {}",
        svc.name,
        svc.strategy.name(),
        process.replicas,
        short(svc.health.interval),
    );
    if !svc.depends_on.is_empty() {
        head.push_str(&format!(", depends on {}", svc.depends_on.join(", ")));
    }
    let mut lines = vec![head];
    // Targets in the order environments are declared (the usual path to
    // production), not alphabetically.
    let mut ordered: Vec<(&String, &TargetSpec)> = svc.targets.iter().collect();
    ordered.sort_by_key(|(env, _)| spec.environments.iter().position(|e| &e.name == *env));
    let targets: Vec<String> = ordered
        .into_iter()
        .map(|(env, t)| {
            let to = match (t.router.describe(), t.listen) {
                (Some(router), _) => router,
                (None, Some(listen)) => listen.to_string(),
                (None, None) => "-".to_owned(),
            };
            match t.preview {
                Some(preview) => format!("{env} → {to} (preview {preview})"),
                None => format!("{env} → {to}"),
            }
        })
        .collect();
    lines.push(format!("    targets: {}", targets.join("; ")));
    let steps: Vec<String> = svc.canary.steps.iter().map(step_text).collect();
    let sticky = if svc.canary.sticky { " (sticky)" } else { "" };
    lines.push(format!("    canary: {}{sticky}", steps.join(" → ")));
    match svc.strategy {
        Strategy::BlueGreen => {
            let promotion = match svc.blue_green.auto_promotion {
                Some(d) => format!("auto-promote after {}", short(d)),
                None => "manual promotion".to_owned(),
            };
            lines.push(format!(
                "    blue_green: {promotion}, scale down old after {}",
                short(svc.blue_green.scale_down_delay)
            ));
        }
        Strategy::Rolling => {
            let batch = match svc.rolling.batch {
                Batch::Percent(p) => format!("{p}%"),
                Batch::Count(n) => format!("{n} replica(s)"),
            };
            lines.push(format!("    rolling: batches of {batch}"));
        }
        Strategy::Canary => {}
    }
    let a = &svc.analysis;
    let checks: Vec<String> = a.checks.iter().map(check_text).collect();
    let checks = if checks.is_empty() {
        "no checks".to_owned()
    } else {
        checks.join(", ")
    };
    lines.push(format!(
        "    analysis: every {}, roll back after {} failed round(s), min {} request{}, pause after {} inconclusive; {checks}",
        short(a.interval),
        a.failure_limit,
        a.min_requests,
        if a.min_requests == 1 { "" } else { "s" },
        short(a.inconclusive_limit),
    ));
    if !svc.hooks.is_empty() {
        let points: Vec<String> = crate::hooks::HookPoint::ALL
            .iter()
            .filter(|p| !svc.hooks.at(**p).is_empty())
            .map(|p| {
                let hooks: Vec<String> = svc.hooks.at(*p).iter().map(|h| h.describe()).collect();
                format!("{p}: {}", hooks.join(", "))
            })
            .collect();
        lines.push(format!("    hooks: {}", points.join("; ")));
    }
    if let Some(m) = a.judge.mann_whitney() {
        let metrics: Vec<String> = m
            .metrics
            .iter()
            .map(|j| {
                format!(
                    "{} (group {}, fails on {})",
                    j.metric,
                    j.group,
                    j.direction.name()
                )
            })
            .collect();
        lines.push(format!(
            "    judge: mann_whitney at confidence {}, pass {}, marginal {}; {}",
            m.confidence,
            m.pass,
            m.marginal,
            metrics.join(", ")
        ));
    }
    // What leaving the first weighted step takes, which nothing else says.
    let first = svc
        .canary
        .steps
        .iter()
        .find_map(|s| s.weight.filter(|w| *w > 0));
    if let (Strategy::Canary, Some(w), false) = (svc.strategy, first, a.checks.is_empty())
        && let Some(need) = crate::traffic::needed_rate(a.min_requests, a.interval, w)
        && a.min_requests > 0
    {
        lines.push(format!(
            "    traffic: {} request{} every {} at {w}% need about {} requests/s through the listener",
            a.min_requests,
            if a.min_requests == 1 { "" } else { "s" },
            short(a.interval),
            crate::traffic::rate_text(need)
        ));
    }
    lines
}

fn step_text(step: &CanaryStep) -> String {
    let mut text = match (step.weight, step.mirror) {
        (Some(w), _) => format!("{w}%"),
        (None, Some(m)) => format!("mirror {m}%"),
        (None, None) => "?".to_owned(),
    };
    if !step.matches.is_empty() {
        let rules: Vec<String> = step
            .matches
            .iter()
            .map(|m| match m {
                MatchRule::HeaderEquals { name, value } => format!("{name}={value}"),
                MatchRule::HeaderRegex { name, regex } => format!("{name}~/{regex}/"),
                MatchRule::CookieEquals { name, value } => format!("cookie {name}={value}"),
            })
            .collect();
        text.push_str(&format!(" [{}]", rules.join(", ")));
    }
    if let Some(p) = step.pause {
        text.push_str(&format!("/{}", short(p)));
    } else if step.weight != Some(100) {
        // No pause on an intermediate step: it waits for `zion promote`.
        text.push_str("/manual");
    }
    text
}

fn check_text(check: &Check) -> String {
    // An external check names its source: `checkout_ok (prometheus) min 5`.
    let name = match check.metric() {
        Some(_) => check.name.clone(),
        None => format!("{} ({})", check.name, check.source.kind()),
    };
    match check.bound {
        Bound::Max(v) => format!("{name} max {v}"),
        Bound::Min(v) => format!("{name} min {v}"),
        Bound::MaxRatioToBaseline(v) => format!("{name} max_ratio_to_baseline {v}"),
    }
}

/// A duration for reading: like the spec writes it, but staying in the
/// smaller unit below two of the larger one (`60s`, `90s`, `24h`).
fn short(d: Duration) -> String {
    let ms = d.as_millis();
    let secs = ms / 1000;
    if ms % 1000 != 0 {
        format!("{ms}ms")
    } else if secs < 120 || secs % 60 != 0 {
        format!("{secs}s")
    } else if secs < 7200 || secs % 3600 != 0 {
        format!("{}m", secs / 60)
    } else {
        format!("{}h", secs / 3600)
    }
}

#[cfg(test)]
#[path = "summary_tests.rs"]
mod tests;

/// `notifications:`: each receiver's kind and events (never a secret: only
/// the names of the variables holding them are in the spec).
fn notification_lines(n: &crate::spec::NotificationsSpec) -> Vec<String> {
    if n.is_empty() {
        return Vec::new();
    }
    let mut out = vec![format!(
        "notifications ({} receivers, up to {} attempts each, {} timeout):",
        n.receivers.len(),
        n.max_attempts,
        crate::duration::format_duration(n.timeout)
    )];
    for (name, receiver) in &n.receivers {
        let events: Vec<&str> = n
            .subscriptions
            .iter()
            .filter(|s| &s.receiver == name)
            .flat_map(|s| s.events.iter().map(|e| e.as_str()))
            .collect();
        let events = if events.is_empty() {
            "no subscription".to_owned()
        } else {
            events.join(", ")
        };
        out.push(format!("  {name}: {}, {events}", receiver.channel()));
    }
    if let Some(slack) = &n.slack {
        out.push(format!(
            "  Slack approvals: {} users mapped",
            slack.users.len()
        ));
    }
    out
}
