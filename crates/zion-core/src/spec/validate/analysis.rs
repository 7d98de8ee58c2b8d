//! A service's `analysis:`: how often rounds are judged, when to roll back,
//! and the checks every round applies.

use std::collections::BTreeMap;
use std::time::Duration;

use super::{Report, at, suggest, text};
use crate::judge::Judge;
use crate::metrics::Metric;
use crate::spec::ranges;
use crate::spec::raw::{
    RawAnalysis, RawCheck, RawExecCheck, RawPrometheusCheck, RawWebCheck, Text, keys,
};
use crate::spec::{
    AnalysisSpec, Bound, Check, CheckSource, ExecQuery, PrometheusQuery, WebMethod, WebQuery,
};

// Defaults, as documented on the model.
const DEFAULT_ANALYSIS_INTERVAL: Duration = Duration::from_secs(5);
const DEFAULT_FAILURE_LIMIT: u32 = 2;
const DEFAULT_MIN_REQUESTS: u64 = 20;

pub(super) fn analysis(r: &mut Report, p: &str, raw: Option<&RawAnalysis>) -> AnalysisSpec {
    let defaults = || AnalysisSpec {
        interval: DEFAULT_ANALYSIS_INTERVAL,
        failure_limit: DEFAULT_FAILURE_LIMIT,
        min_requests: DEFAULT_MIN_REQUESTS,
        inconclusive_limit: AnalysisSpec::DEFAULT_INCONCLUSIVE_LIMIT,
        checks: AnalysisSpec::default_checks(),
        judge: Judge::Thresholds,
    };
    let Some(raw) = raw else { return defaults() };
    r.unknown(p, &raw.unknown, keys::ANALYSIS);
    let interval = r.duration(
        &at(p, "interval"),
        raw.interval.as_ref(),
        DEFAULT_ANALYSIS_INTERVAL,
        ranges::ANALYSIS_INTERVAL,
    );
    let failure_limit = match raw.failure_limit {
        None => DEFAULT_FAILURE_LIMIT,
        Some(n) => u32::try_from(n)
            .ok()
            .filter(|n| *n >= 1)
            .unwrap_or_else(|| {
                r.add(
                    at(p, "failure_limit"),
                    format!("{n} is not a failure limit: use 1 or more consecutive failed rounds"),
                );
                DEFAULT_FAILURE_LIMIT
            }),
    };
    let min_requests = match raw.min_requests {
        None => DEFAULT_MIN_REQUESTS,
        Some(n) => u64::try_from(n).unwrap_or_else(|_| {
            r.add(
                at(p, "min_requests"),
                format!("{n} is negative: use 0 or more requests"),
            );
            DEFAULT_MIN_REQUESTS
        }),
    };
    let inconclusive_limit = inconclusive_limit(
        r,
        &at(p, "inconclusive_limit"),
        raw.inconclusive_limit.as_ref(),
    );
    let judge = super::judge::judge(r, p, raw);
    let checks = match &raw.checks {
        // The statistical judge replaces the default thresholds; checks
        // listed beside it still apply.
        None if !judge.is_thresholds() => Vec::new(),
        None => AnalysisSpec::default_checks(),
        Some(list) => {
            let mut checks: Vec<Check> = Vec::new();
            for (k, c) in list.iter().enumerate() {
                let cp = format!("{p}.checks[{k}]");
                let Some(c) = check(r, &cp, c) else { continue };
                // Readings and rounds find an external check by its name.
                if c.metric().is_none() && checks.iter().any(|o| o.name == c.name) {
                    r.add(
                        at(&cp, "name"),
                        format!(
                            "`{}` names another check of this service: give each its own name",
                            c.name
                        ),
                    );
                    continue;
                }
                checks.push(c);
            }
            checks
        }
    };
    AnalysisSpec {
        interval,
        failure_limit,
        min_requests,
        inconclusive_limit,
        checks,
        judge,
    }
}

/// `analysis.inconclusive_limit`: a duration within its range.
fn inconclusive_limit(r: &mut Report, p: &str, raw: Option<&Text>) -> Duration {
    let default = AnalysisSpec::DEFAULT_INCONCLUSIVE_LIMIT;
    r.duration(p, raw, default, ranges::INCONCLUSIVE_LIMIT)
}

fn check(r: &mut Report, p: &str, raw: &RawCheck) -> Option<Check> {
    r.unknown(p, &raw.unknown, keys::CHECK);
    let given: Vec<&str> = [
        ("metric", raw.metric.is_some()),
        ("prometheus", raw.prometheus.is_some()),
        ("web", raw.web.is_some()),
        ("exec", raw.exec.is_some()),
    ]
    .into_iter()
    .filter_map(|(k, present)| present.then_some(k))
    .collect();
    let source = match given.as_slice() {
        [] | ["metric"] => builtin(r, p, raw).map(CheckSource::Builtin),
        ["prometheus"] => raw
            .prometheus
            .as_ref()
            .and_then(|q| prometheus(r, &at(p, "prometheus"), q))
            .map(CheckSource::Prometheus),
        ["web"] => raw
            .web
            .as_ref()
            .and_then(|q| web(r, &at(p, "web"), q))
            .map(CheckSource::Web),
        ["exec"] => raw
            .exec
            .as_ref()
            .and_then(|q| exec(r, &at(p, "exec"), q))
            .map(CheckSource::Exec),
        several => {
            r.add(
                p,
                format!(
                    "a check reads one source, this one has {}: keep one of metric, prometheus, web or exec",
                    several.join(", ")
                ),
            );
            None
        }
    };
    let external = !matches!(given.as_slice(), [] | ["metric"]);
    let name = match text(raw.name.as_ref()).map(str::trim) {
        Some(n) if !n.is_empty() => Some(n.to_string()),
        Some(_) | None if external => {
            r.add(
                at(p, "name"),
                "missing: a prometheus, web or exec check needs a name for its rounds, e.g. `name: checkout_ok`",
            );
            None
        }
        _ => None,
    };
    let bound = bound(r, p, raw, external)?;
    let source = source?;
    let name = match (&source, name) {
        (_, Some(n)) => n,
        (CheckSource::Builtin(m), None) => m.name().to_string(),
        (_, None) => return None,
    };
    Some(Check {
        name,
        source,
        bound,
    })
}

fn builtin(r: &mut Report, p: &str, raw: &RawCheck) -> Option<Metric> {
    match text(raw.metric.as_ref()) {
        None => {
            r.add(
                at(p, "metric"),
                format!(
                    "missing: name a built-in metric ({}) or give a prometheus, web or exec source",
                    metric_names()
                ),
            );
            None
        }
        Some(name) => Metric::from_name(name).or_else(|| {
            let hint = match suggest(name, Metric::ALL.iter().map(|m| m.name())) {
                Some(s) => format!("did you mean `{s}`? "),
                None => String::new(),
            };
            r.add(
                at(p, "metric"),
                format!(
                    "`{name}` is not a built-in metric; {hint}use one of: {} (or a prometheus, web or exec source for any other)",
                    metric_names()
                ),
            );
            None
        }),
    }
}

/// Exactly one bound; an external value has no baseline to compare with.
fn bound(r: &mut Report, p: &str, raw: &RawCheck, external: bool) -> Option<Bound> {
    let given: Vec<(&str, f64)> = [
        ("max", raw.max),
        ("min", raw.min),
        ("max_ratio_to_baseline", raw.max_ratio_to_baseline),
    ]
    .into_iter()
    .filter_map(|(k, v)| v.map(|v| (k, v)))
    .collect();
    let [(key, value)] = given.as_slice() else {
        let found: Vec<&str> = given.iter().map(|(k, _)| *k).collect();
        let found = if found.is_empty() {
            "none".to_owned()
        } else {
            found.join(", ")
        };
        r.add(
            p,
            format!(
                "a check needs exactly one of max, min or max_ratio_to_baseline (found {found}), \
                 e.g. `{{ metric: error_rate, max: 0.01 }}`"
            ),
        );
        return None;
    };
    let (key, value) = (*key, *value);
    let vp = at(p, key);
    if !value.is_finite() {
        r.add(
            vp,
            format!("{value} is not a finite number: give a number such as 0.01"),
        );
        return None;
    }
    match key {
        "max_ratio_to_baseline" if external => {
            r.add(
                vp,
                "compares a built-in metric with stable's; an external check's value has no baseline: use max or min",
            );
            None
        }
        "max_ratio_to_baseline" if value <= 0.0 => {
            r.add(
                vp,
                format!("{value} must be above 0: 1.2 means at most 20% worse than stable"),
            );
            None
        }
        "max_ratio_to_baseline" => Some(Bound::MaxRatioToBaseline(value)),
        // An external value may be negative (a delta, a score).
        _ if value < 0.0 && !external => {
            r.add(
                vp,
                format!("{value} is negative: metrics are never below 0"),
            );
            None
        }
        "max" => Some(Bound::Max(value)),
        _ => Some(Bound::Min(value)),
    }
}

/// A template with known variables only; reports a missing or empty one.
fn template(r: &mut Report, p: &str, raw: Option<&Text>, example: &str) -> Option<String> {
    match text(raw).map(str::trim) {
        None | Some("") => {
            r.add(p, format!("missing: e.g. `{example}`"));
            None
        }
        Some(t) => match crate::sources::template::check(t) {
            Ok(()) => Some(t.to_string()),
            Err(e) => {
                r.add(p, e);
                None
            }
        },
    }
}

fn prometheus(r: &mut Report, p: &str, raw: &RawPrometheusCheck) -> Option<PrometheusQuery> {
    r.unknown(p, &raw.unknown, keys::PROMETHEUS_CHECK);
    let provider = match text(raw.provider.as_ref()).map(str::trim) {
        None | Some("") => {
            r.add(
                at(p, "provider"),
                "missing: name a provider declared under `providers:`, e.g. `provider: prom`",
            );
            None
        }
        Some(name) => {
            match r.providers.get(name).copied() {
                None => {
                    let declared: Vec<&str> = r.providers.keys().map(String::as_str).collect();
                    let hint = match suggest(name, declared.iter().copied()) {
                        Some(s) => format!("did you mean `{s}`? "),
                        None => String::new(),
                    };
                    let list = if declared.is_empty() {
                        "none is declared: add one under `providers:`".to_string()
                    } else {
                        format!("declared: {}", declared.join(", "))
                    };
                    r.add(
                        at(p, "provider"),
                        format!("`{name}` is not a provider; {hint}{list}"),
                    );
                    None
                }
                Some(Some(kind)) if kind != "prometheus" => {
                    r.add(
                    at(p, "provider"),
                    format!("`{name}` is a {kind} provider; a prometheus check needs a prometheus one"),
                );
                    None
                }
                Some(_) => Some(name.to_string()),
            }
        }
    };
    let query = template(
        r,
        &at(p, "query"),
        raw.query.as_ref(),
        "query: 'sum(rate(http_requests_total{version=\"{{version}}\"}[{{interval}}]))'",
    );
    Some(PrometheusQuery {
        provider: provider?,
        query: query?,
    })
}

fn web(r: &mut Report, p: &str, raw: &RawWebCheck) -> Option<WebQuery> {
    r.unknown(p, &raw.unknown, keys::WEB_CHECK);
    let example = "http://127.0.0.1:8080/score?version={{version}}";
    let url = super::providers::http_url(r, &at(p, "url"), raw.url.as_ref(), example);
    let url = url.and_then(|u| template(r, &at(p, "url"), Some(&Text(u)), example));
    let method = match text(raw.method.as_ref()).map(|m| m.trim().to_ascii_uppercase()) {
        None => Some(WebMethod::Get),
        Some(m) if m == "GET" => Some(WebMethod::Get),
        Some(m) if m == "POST" => Some(WebMethod::Post),
        Some(m) => {
            r.add(
                at(p, "method"),
                format!("`{m}` is not a method here: use GET or POST"),
            );
            None
        }
    };
    let body = match raw.body.as_ref() {
        None => None,
        Some(_) if method != Some(WebMethod::Post) => {
            r.add(
                at(p, "body"),
                "a body is sent with POST only: add `method: POST` or remove it",
            );
            None
        }
        Some(b) => template(
            r,
            &at(p, "body"),
            Some(b),
            "'{\"version\": \"{{version}}\"}'",
        ),
    };
    let mut headers = BTreeMap::new();
    for (k, v) in raw.headers.iter().flatten() {
        headers.insert(k.clone(), v.0.clone());
    }
    let mut header_env = BTreeMap::new();
    for (k, v) in raw.header_env.iter().flatten() {
        let hp = format!("{p}.header_env.{k}");
        if let Some(var) = super::providers::env_var(r, &hp, v.as_str().trim()) {
            header_env.insert(k.clone(), var);
        }
    }
    let json_path = match text(raw.json_path.as_ref()).map(str::trim) {
        None => {
            r.add(
                at(p, "json_path"),
                "missing: say where the number is, e.g. `json_path: $.data.score`",
            );
            None
        }
        Some(path) => match crate::sources::json_path::parse(path) {
            Ok(_) => Some(path.to_string()),
            Err(e) => {
                r.add(at(p, "json_path"), e);
                None
            }
        },
    };
    let timeout = r.duration(
        &at(p, "timeout"),
        raw.timeout.as_ref(),
        WebQuery::DEFAULT_TIMEOUT,
        ranges::SOURCE_TIMEOUT,
    );
    Some(WebQuery {
        url: url?,
        method: method?,
        body,
        headers,
        header_env,
        json_path: json_path?,
        timeout,
    })
}

fn exec(r: &mut Report, p: &str, raw: &RawExecCheck) -> Option<ExecQuery> {
    r.unknown(p, &raw.unknown, keys::EXEC_CHECK);
    let command = match raw.command.as_deref() {
        None | Some([]) => {
            r.add(
                at(p, "command"),
                "missing: give the program and its arguments, e.g. `command: [./check.sh, \"{{version}}\"]`",
            );
            None
        }
        Some(args) => {
            let mut ok = true;
            for (k, a) in args.iter().enumerate() {
                if let Err(e) = crate::sources::template::check(a.as_str()) {
                    r.add(format!("{p}.command[{k}]"), e);
                    ok = false;
                }
            }
            ok.then(|| args.iter().map(|a| a.0.clone()).collect())
        }
    };
    let timeout = r.duration(
        &at(p, "timeout"),
        raw.timeout.as_ref(),
        ExecQuery::DEFAULT_TIMEOUT,
        ranges::SOURCE_TIMEOUT,
    );
    Some(ExecQuery {
        command: command?,
        timeout,
    })
}

fn metric_names() -> String {
    Metric::ALL
        .iter()
        .map(|m| m.name())
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
#[path = "analysis_tests.rs"]
mod tests;
