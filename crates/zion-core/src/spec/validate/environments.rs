//! `environments:`: names and `requires` (without cycles), and the
//! governance each environment sets: approvals, deployment windows and
//! freezes, pre-deployment checks and quality gates.

use std::time::Duration;

use super::{Report, at, text};
use crate::governance::quality::{FindingLevel, QualityGates};
use crate::spec::ranges;
use crate::spec::raw::{
    RawApprovals, RawEnvironment, RawFindings, RawFreeze, RawGates, RawWindows, Text, keys,
};
use crate::spec::{
    AllowWindow, ApprovalsSpec, EnvironmentSpec, FreezeSpec, PreCheck, Role, WindowsSpec,
};

// Defaults, as documented on the model.
/// An `approvals:` block that does not say how many means one.
const DEFAULT_REQUIRED_APPROVALS: u32 = 1;
const DEFAULT_APPROVAL_TIMEOUT: Duration = Duration::from_secs(24 * 3600);
const DEFAULT_TIMEZONE: &str = "UTC";

const ROLES: [(&str, Role); 4] = [
    ("viewer", Role::Viewer),
    ("deployer", Role::Deployer),
    ("approver", Role::Approver),
    ("admin", Role::Admin),
];

const PRE_CHECKS: [(&str, PreCheck); 6] = [
    ("deployment_window", PreCheck::DeploymentWindow),
    ("no_open_incident", PreCheck::NoOpenIncident),
    ("service_health", PreCheck::ServiceHealth),
    ("dependencies", PreCheck::Dependencies),
    ("artifact", PreCheck::Artifact),
    ("error_budget", PreCheck::ErrorBudget),
];

pub(super) fn environments(
    r: &mut Report,
    list: &[RawEnvironment],
    present: bool,
) -> Vec<EnvironmentSpec> {
    if list.is_empty() {
        let what = if present { "is empty" } else { "missing" };
        r.add(
            "environments",
            format!(
                "{what}: declare at least one environment, e.g. `environments: [{{ name: staging }}]`"
            ),
        );
    }
    let names: Vec<String> = list
        .iter()
        .enumerate()
        .map(|(i, e)| {
            r.name(
                &format!("environments[{i}].name"),
                e.name.as_ref(),
                "environment",
            )
        })
        .collect();
    r.unique_names("environments", &names, "environment");

    let mut requires_edges: Vec<Vec<usize>> = vec![Vec::new(); list.len()];
    let mut out = Vec::with_capacity(list.len());
    for (i, raw) in list.iter().enumerate() {
        let p = format!("environments[{i}]");
        r.unknown(&p, &raw.unknown, keys::ENVIRONMENT);
        let name = names[i].clone();

        let requires = r.name_list(
            &at(&p, "requires"),
            raw.requires.as_deref().unwrap_or_default(),
            &name,
            &names,
            ("environment", "require", "requires"),
        );
        requires_edges[i].extend(
            requires
                .iter()
                .filter_map(|req| names.iter().position(|n| n == req)),
        );

        let approvals = raw
            .approvals
            .as_ref()
            .map(|a| approvals(r, &at(&p, "approvals"), a));
        let windows = raw
            .windows
            .as_ref()
            .map(|w| windows(r, &at(&p, "windows"), w));
        let mut checks = Vec::new();
        for (k, c) in raw.checks.iter().flatten().enumerate() {
            let cp = format!("{p}.checks[{k}]");
            if let Some(check) = r.choice(&cp, c.as_str(), "pre-deployment check", &PRE_CHECKS) {
                if checks.contains(&check) {
                    r.add(cp, format!("`{c}` is listed twice: list it once"));
                } else {
                    checks.push(check);
                }
            }
        }
        let gates = raw
            .gates
            .as_ref()
            .and_then(|g| gates(r, &at(&p, "gates"), g));
        let production = raw
            .production
            .unwrap_or(matches!(name.as_str(), "production" | "prod"));
        out.push(EnvironmentSpec {
            name,
            production,
            requires,
            approvals,
            windows,
            checks,
            gates,
        });
    }

    for cycle in find_cycles(&requires_edges) {
        let names: Vec<&str> = cycle.iter().map(|&i| out[i].name.as_str()).collect();
        r.add(
            format!("environments[{}].requires", cycle[0]),
            format!(
                "requirement cycle {}: no version could ever reach any of them; remove one of \
                 these requires",
                names.join(" -> ")
            ),
        );
    }
    out
}

/// `gates:` of an environment; None when it sets no gate (reported).
fn gates(r: &mut Report, p: &str, raw: &RawGates) -> Option<QualityGates> {
    r.unknown(p, &raw.unknown, keys::GATES);
    let mut share = |key: &str, value: Option<&Text>| {
        let value = value?;
        parse_share(value.as_str())
            .map_err(|message| r.add(at(p, key), message))
            .ok()
    };
    let tests_passed = share("tests_passed", raw.tests_passed.as_ref());
    let coverage = share("coverage", raw.coverage.as_ref());
    let findings = raw
        .findings
        .as_ref()
        .map(|f| findings(r, &at(p, "findings"), f))
        .unwrap_or_default();
    let gates = QualityGates {
        tests_passed,
        coverage,
        findings,
    };
    let set_somewhere =
        raw.tests_passed.is_some() || raw.coverage.is_some() || raw.findings.is_some();
    if !set_somewhere && raw.unknown.0.is_empty() {
        r.add(
            p,
            "sets no gate: add tests_passed (e.g. 100%), coverage (e.g. 80%) or findings \
             (e.g. { error: 0 }), or remove `gates`",
        );
    }
    (!gates.is_empty()).then_some(gates)
}

/// A share written as a percentage (`80%`, `99.5%`) or as a ratio from 0 to
/// 1 (`0.8`, like the analysis checks' error rates), as a ratio.
pub(super) fn parse_share(text: &str) -> Result<f64, String> {
    let t = text.trim();
    let number = |n: &str| n.trim().parse::<f64>().ok().filter(|v| v.is_finite());
    if let Some(n) = t.strip_suffix('%') {
        let Some(pct) = number(n) else {
            return Err(format!(
                "`{text}` is not a percentage: write one such as 80% or 99.5%"
            ));
        };
        return if pct > 100.0 {
            Err(format!("{t} is over 100%: use 0% to 100%"))
        } else if pct < 0.0 {
            Err(format!("{t} is below 0%: use 0% to 100%"))
        } else {
            Ok(pct / 100.0)
        };
    }
    match number(t) {
        None => Err(format!(
            "`{text}` is not a share: write a percentage such as 80% or a ratio from 0 to 1 \
             such as 0.8"
        )),
        Some(v) if v > 1.0 => Err(format!(
            "{t} is over 1: a bare number is a ratio from 0 to 1; write {t}% for a percentage"
        )),
        Some(v) if v < 0.0 => Err(format!(
            "{t} is below 0: use a ratio from 0 to 1 or 0% to 100%"
        )),
        Some(v) => Ok(v),
    }
}

/// `gates.findings`: the most findings allowed per SARIF level.
fn findings(
    r: &mut Report,
    p: &str,
    raw: &RawFindings,
) -> std::collections::BTreeMap<FindingLevel, u64> {
    r.unknown(p, &raw.unknown, keys::FINDINGS);
    let mut out = std::collections::BTreeMap::new();
    let levels = [
        (FindingLevel::Error, raw.error),
        (FindingLevel::Warning, raw.warning),
        (FindingLevel::Note, raw.note),
        (FindingLevel::None, raw.none),
    ];
    for (level, value) in levels {
        let Some(n) = value else { continue };
        match u64::try_from(n) {
            Ok(n) => {
                out.insert(level, n);
            }
            Err(_) => r.add(
                at(p, level.name()),
                format!("{n} is not a number of findings: allow 0 or more"),
            ),
        }
    }
    if levels.iter().all(|(_, v)| v.is_none()) && raw.unknown.0.is_empty() {
        r.add(
            p,
            "limits no level: give the most findings allowed per level, e.g. \
             { error: 0, warning: 5 } (levels: error, warning, note, none)",
        );
    }
    out
}

/// Each cycle once, as node indices with the first repeated at the end.
fn find_cycles(edges: &[Vec<usize>]) -> Vec<Vec<usize>> {
    #[derive(Clone, Copy, PartialEq)]
    enum State {
        New,
        OnStack,
        Done,
    }
    fn visit(
        n: usize,
        edges: &[Vec<usize>],
        state: &mut [State],
        stack: &mut Vec<usize>,
        cycles: &mut Vec<Vec<usize>>,
    ) {
        state[n] = State::OnStack;
        stack.push(n);
        for &m in &edges[n] {
            match state[m] {
                State::New => visit(m, edges, state, stack, cycles),
                State::OnStack => {
                    let start = stack.iter().position(|&x| x == m).unwrap_or(0);
                    let mut cycle = stack[start..].to_vec();
                    cycle.push(m);
                    cycles.push(cycle);
                }
                State::Done => {}
            }
        }
        stack.pop();
        state[n] = State::Done;
    }
    let mut state = vec![State::New; edges.len()];
    let mut cycles = Vec::new();
    for n in 0..edges.len() {
        if state[n] == State::New {
            visit(n, edges, &mut state, &mut Vec::new(), &mut cycles);
        }
    }
    cycles
}

fn approvals(r: &mut Report, p: &str, raw: &RawApprovals) -> ApprovalsSpec {
    r.unknown(p, &raw.unknown, keys::APPROVALS);
    let required = match raw.required {
        None => DEFAULT_REQUIRED_APPROVALS,
        Some(n) => match u32::try_from(n) {
            Ok(n) => n,
            Err(_) => {
                r.add(
                    at(p, "required"),
                    format!("{n} is not a number of approvals: use 0 (none) or more"),
                );
                0
            }
        },
    };
    let roles = match &raw.roles {
        None => vec![Role::Approver, Role::Admin],
        Some(list) => {
            let mut roles = Vec::new();
            for (k, role) in list.iter().enumerate() {
                let rp = format!("{p}.roles[{k}]");
                if let Some(role) = r.choice(&rp, role.as_str(), "role", &ROLES)
                    && !roles.contains(&role)
                {
                    roles.push(role);
                }
            }
            if list.is_empty() && required > 0 {
                r.add(
                    at(p, "roles"),
                    format!(
                        "is empty, so the {required} required approval(s) could never be given: \
                         list who may approve, e.g. [approver, admin]"
                    ),
                );
            }
            roles
        }
    };
    let timeout = r.duration(
        &at(p, "timeout"),
        raw.timeout.as_ref(),
        DEFAULT_APPROVAL_TIMEOUT,
        ranges::APPROVAL_TIMEOUT,
    );
    ApprovalsSpec {
        required,
        roles,
        prevent_self_approval: raw.prevent_self_approval.unwrap_or(true),
        timeout,
    }
}

fn windows(r: &mut Report, p: &str, raw: &RawWindows) -> WindowsSpec {
    r.unknown(p, &raw.unknown, keys::WINDOWS);
    let timezone = text(raw.timezone.as_ref())
        .unwrap_or(DEFAULT_TIMEZONE)
        .to_owned();
    if jiff::tz::TimeZone::get(&timezone).is_err() {
        r.add(
            at(p, "timezone"),
            format!(
                "`{timezone}` is not a known time zone: use an IANA name such as Europe/Berlin, \
                 America/New_York or UTC"
            ),
        );
    }
    let mut allow = Vec::new();
    for (k, entry) in raw.allow.iter().flatten().enumerate() {
        match AllowWindow::parse(entry.as_str()) {
            Ok(w) => allow.push(w),
            Err(message) => r.add(format!("{p}.allow[{k}]"), message),
        }
    }
    let mut freeze = Vec::new();
    for (k, f) in raw.freeze.iter().flatten().enumerate() {
        if let Some(f) = freeze_entry(r, &format!("{p}.freeze[{k}]"), f) {
            freeze.push(f);
        }
    }
    WindowsSpec {
        timezone,
        allow,
        freeze,
    }
}

fn freeze_entry(r: &mut Report, p: &str, raw: &RawFreeze) -> Option<FreezeSpec> {
    r.unknown(p, &raw.unknown, keys::FREEZE);
    let mut stamp = |key: &str, value: Option<&Text>| -> Option<jiff::Timestamp> {
        let path = at(p, key);
        let Some(value) = value else {
            r.add(
                path,
                "missing: give an RFC 3339 time, e.g. 2026-12-20T00:00:00Z",
            );
            return None;
        };
        match value.as_str().parse::<jiff::Timestamp>() {
            Ok(t) => Some(t),
            Err(_) => {
                r.add(
                    path,
                    format!(
                        "`{value}` is not a timestamp: write RFC 3339 with a zone, e.g. \
                         2026-12-20T00:00:00Z"
                    ),
                );
                None
            }
        }
    };
    let from = stamp("from", raw.from.as_ref());
    let to = stamp("to", raw.to.as_ref());
    let reason = match text(raw.reason.as_ref()).map(str::trim) {
        Some(reason) if !reason.is_empty() => Some(reason.to_owned()),
        _ => {
            r.add(
                at(p, "reason"),
                "missing: say why deployments are frozen, e.g. `reason: year-end`",
            );
            None
        }
    };
    let (from, to) = (from?, to?);
    if from >= to {
        r.add(
            at(p, "to"),
            format!("{to} is not after from ({from}): a freeze must end after it starts"),
        );
        return None;
    }
    Some(FreezeSpec {
        from,
        to,
        reason: reason?,
    })
}

#[cfg(test)]
#[path = "environments_tests.rs"]
mod tests;
