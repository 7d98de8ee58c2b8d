//! Text renderings of the API's views for people.

use std::fmt::Write;

use serde_json::Value;
use zion_core::api::{DeploymentDetail, DeploymentView, EventView, ReplicaView, TargetView};
use zion_core::deployment::{Phase, Rollout};
use zion_core::duration::format_duration;
use zion_core::governance::quality::FindingLevel;
use zion_core::governance::{DecisionKind, expiry_text};

/// A view as `--output json` prints it: as a JSON value, so its keys come
/// sorted whatever the struct's order (as they always have).
pub(crate) fn json(view: &impl serde::Serialize) -> Value {
    serde_json::to_value(view).unwrap_or_default()
}

/// A time as `03:12:01` (`2026-11-22T03:12:01.123Z`).
pub fn clock_of(at: jiff::Timestamp) -> String {
    let t = at.to_string();
    t.get(11..19).unwrap_or(&t).to_string()
}

/// `n` and its noun, singular for one: `1 entry`, `0 entries`, `2 entries`.
pub(crate) fn count(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// A table with padded columns.
pub(crate) fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            widths[i] = widths[i].max(c.chars().count());
        }
    }
    let mut out = String::new();
    let line = |cells: Vec<String>, out: &mut String| {
        let mut l = String::new();
        for (i, c) in cells.iter().enumerate() {
            if i + 1 == cells.len() {
                l.push_str(c);
            } else {
                let pad = widths[i] - c.chars().count();
                let _ = write!(l, "{c}{}  ", " ".repeat(pad));
            }
        }
        out.push_str(l.trim_end());
        out.push('\n');
    };
    line(header.iter().map(|h| h.to_string()).collect(), &mut out);
    for r in rows {
        line(r.clone(), &mut out);
    }
    out
}

/// What the live bar's percentage is a share of: `to 2.0`.
pub fn bar_label(d: &DeploymentView) -> String {
    format!("to {}", d.version)
}

/// One deployment's progress in a few words: `progressing, step 2/4, canary
/// 25%`, `progressing, first version of the target, 0% of traffic`.
pub fn progress(d: &DeploymentView) -> String {
    let mut p = d.phase.to_string();
    let weight = d.canary_weight;
    if matches!(
        d.rollout,
        Rollout::First | Rollout::Rollback | Rollout::Direct
    ) {
        // No steps: all traffic moves at once when the version is healthy.
        let what = match d.rollout {
            Rollout::First => "first version of the target".to_string(),
            Rollout::Rollback => format!("rollback to {}", d.version),
            _ => "all traffic once healthy".to_string(),
        };
        let _ = write!(p, ", {what}, {weight}% of traffic");
    } else if let Some(r) = &d.rolling {
        // Rolling: batch 2/3, 2/3 replicas replaced, 67% of traffic.
        let starting = if !r.batch_ready && !d.phase.is_terminal() {
            " starting"
        } else {
            ""
        };
        let _ = write!(
            p,
            ", batch {}/{}{starting}, {}/{} replicas replaced, {weight}% of traffic",
            r.batch,
            r.batches,
            r.replaced,
            d.plan.replicas()
        );
    } else if d.plan.blue_green_plan().is_some() && d.previous_version.is_some() {
        match d.preview.flatten() {
            Some(state) => {
                let _ = write!(p, ", preview {}, live traffic {weight}%", state.name());
            }
            None => {
                let _ = write!(p, ", live traffic {weight}%");
            }
        }
    } else {
        if let Some(step) = d.step {
            let _ = write!(p, ", step {step}/{}", d.steps);
        }
        let _ = write!(p, ", canary {weight}%");
    }
    // The current step's routing beyond the weight.
    let step = d
        .step
        .and_then(|i| d.plan.steps().get(i.checked_sub(1)? as usize));
    if let Some(step) = step {
        if let Some(m) = step.mirror {
            let _ = write!(p, ", mirroring {m}%");
        }
        if !step.matches.is_empty() {
            let _ = write!(p, " + {} header/cookie rule(s)", step.matches.len());
        }
    }
    if let Some(a) = &d.approvals {
        if matches!(d.phase, Phase::Pending | Phase::AwaitingApproval) {
            let _ = write!(p, ", approvals {}/{}", a.given.len(), a.required);
        }
    }
    if d.break_glass.is_some() {
        p.push_str(", BREAK GLASS");
    }
    p
}

/// The gate of a deployment: break glass, approvals, pre-check results.
fn gate(d: &DeploymentView, out: &mut String) {
    let g = &d.gate;
    if let Some(bg) = &d.break_glass {
        let _ = writeln!(
            out,
            "BREAK GLASS: by {}: {} (windows, freezes, approvals and checks skipped)",
            bg.by, bg.reason
        );
    }
    if let Some(a) = &d.approvals {
        let _ = writeln!(
            out,
            "approvals:  {}/{}{}",
            a.given.len(),
            a.required,
            match (a.expires_at, &a.still_needed) {
                (Some(at), Some(_)) => format!(", expires at {}", expiry_text(at)),
                _ => String::new(),
            }
        );
        for x in &g.decisions {
            let comment = x
                .comment
                .as_deref()
                .map(|c| format!(": {c}"))
                .unwrap_or_default();
            let via = if x.via == "github" { " via GitHub" } else { "" };
            let _ = writeln!(
                out,
                "  {} by {} ({}) at {}{via}{comment}",
                match x.kind {
                    DecisionKind::Approve => "approved",
                    DecisionKind::Reject => "rejected",
                },
                x.principal,
                x.role,
                clock_of(x.at)
            );
        }
        if let Some(needed) = &a.still_needed {
            let _ = writeln!(out, "  still needed: {needed}");
        }
    }
    if !g.check_results.is_empty() {
        let _ = writeln!(out, "pre-checks:");
        for c in &g.check_results {
            let _ = writeln!(
                out,
                "  {} {:<18} {:<14} {}",
                if c.passed { "pass" } else { "FAIL" },
                c.check.name(),
                c.stage.name(),
                c.reason
            );
        }
    }
    if let Some(sha) = &g.artifact_sha256 {
        let _ = writeln!(out, "artifact:   sha256 {sha}");
    }
}

/// `zion replicas`: one row per replica of Zion on the database.
pub fn replicas(replicas: &[ReplicaView]) -> String {
    if replicas.is_empty() {
        return "no replica has sent a heartbeat yet\n".into();
    }
    let rows: Vec<Vec<String>> = replicas
        .iter()
        .map(|r| {
            vec![
                if r.answering {
                    format!("{} (this one)", r.id)
                } else {
                    r.id.clone()
                },
                r.last_heartbeat.to_string(),
                format!("{:.1}s ago", r.heartbeat_age_seconds),
                if r.live { "live" } else { "gone" }.into(),
                r.targets.to_string(),
            ]
        })
        .collect();
    table(
        &["REPLICA", "LAST HEARTBEAT", "AGE", "STATE", "TARGETS"],
        &rows,
    )
}

pub fn status(targets: &[TargetView]) -> String {
    if targets.is_empty() {
        return "no targets: the spec declares no services\n".into();
    }
    let rows: Vec<Vec<String>> = targets
        .iter()
        .map(|t| {
            let versions: Vec<String> = t
                .versions
                .iter()
                .map(|v| match v.ready {
                    Some(ready) => {
                        format!("{} {}/{} ready", v.version, ready, v.replicas.unwrap_or(0))
                    }
                    // Listed by a replica of `zion up` that does not drive
                    // the target: it knows the processes, not their health.
                    None => format!("{} {} running", v.version, v.replicas.unwrap_or(0)),
                })
                .collect();
            let dep = match &t.deployment {
                Some(d) => format!("#{} {} ({})", d.id, d.version, progress(d)),
                None => "-".into(),
            };
            vec![
                format!("{}/{}", t.service, t.environment),
                match &t.preview {
                    Some(preview) => format!("{} (preview {preview})", t.listen),
                    None => t.listen.clone(),
                },
                t.stable_version.as_deref().unwrap_or("(none)").to_string(),
                dep,
                if versions.is_empty() {
                    "-".into()
                } else {
                    versions.join(", ")
                },
            ]
        })
        .collect();
    // Which replica drives each target matters once there are several
    // (or a target that none drives): with one, the column says nothing.
    let drivers: std::collections::BTreeSet<Option<&str>> =
        targets.iter().map(|t| t.driven_by.as_deref()).collect();
    let mut out = if drivers.len() > 1 {
        let rows: Vec<Vec<String>> = rows
            .into_iter()
            .zip(targets)
            .map(|(mut row, t)| {
                row.push(t.driven_by.clone().unwrap_or_else(|| "(none yet)".into()));
                row
            })
            .collect();
        table(
            &[
                "TARGET",
                "LISTEN",
                "STABLE",
                "DEPLOYMENT",
                "RUNNING",
                "DRIVEN BY",
            ],
            &rows,
        )
    } else {
        table(
            &["TARGET", "LISTEN", "STABLE", "DEPLOYMENT", "RUNNING"],
            &rows,
        )
    };
    // A router that refuses the traffic's changes: why, under the table.
    for t in targets {
        if let Some(why) = &t.router_error {
            out.push_str(&format!(
                "{}/{}: traffic unchanged: {why}\n",
                t.service, t.environment
            ));
        }
    }
    // Who approved and who is still needed, for deployments that wait.
    for t in targets {
        let Some(d) = &t.deployment else { continue };
        let Some(a) = &d.approvals else { continue };
        let Some(needed) = &a.still_needed else {
            continue;
        };
        let by = if a.given.is_empty() {
            "no approval yet".to_string()
        } else {
            format!("approved by {}", a.given.join(", "))
        };
        let expires = match a.expires_at {
            Some(at) => zion_core::governance::expiry_text(at),
            None => "-".into(),
        };
        let _ = writeln!(
            out,
            "#{} {}/{}: {by}; still needed: {needed}; expires at {expires}",
            d.id, t.service, t.environment,
        );
    }
    out
}

/// An event as one line.
pub fn event_line(e: &EventView) -> String {
    let phase = if e.from_phase == e.to_phase {
        e.to_phase.to_string()
    } else {
        format!("{} → {}", e.from_phase, e.to_phase)
    };
    format!(
        "{}  {:<31} {:>3}%  {:<10}  {}",
        clock_of(e.at),
        phase,
        e.canary_weight,
        e.actor,
        e.reason
    )
}

pub fn deployment(detail: &DeploymentDetail, rounds: crate::cli::Rounds) -> String {
    let d = &detail.deployment;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "deployment {}: {}/{} {} → {} ({}, {})",
        d.id,
        d.service,
        d.environment,
        d.previous_version.as_deref().unwrap_or("(none)"),
        d.version,
        // What happens: `strategy` says `direct` for a first version and a
        // rollback alike; `rollout` tells them apart.
        match d.rollout {
            Rollout::First => "first version",
            Rollout::Rollback | Rollout::Direct => "direct switch",
            other => other.name(),
        },
        d.kind.name()
    );
    let _ = writeln!(out, "phase:      {}", progress(d));
    let _ = writeln!(out, "reason:     {}", d.reason.as_deref().unwrap_or("-"));
    if let Some(w) = crate::rounds::waiting(detail) {
        let _ = writeln!(out, "waiting:    {w}");
    }
    let _ = writeln!(out, "requested:  by {} at {}", d.requested_by, d.created_at);
    if let Some(t) = d.started_at {
        let _ = writeln!(out, "started:    {t}");
    }
    if let Some(t) = d.finished_at {
        let _ = writeln!(out, "finished:   {t}");
    }
    provenance(d, &mut out);
    gate(d, &mut out);
    let steps = d.plan.steps();
    if !steps.is_empty() {
        let plan: Vec<String> = steps
            .iter()
            .map(|st| match st.pause {
                Some(p) => format!("{}%/{}", st.weight, format_duration(p)),
                None => format!("{}%", st.weight),
            })
            .collect();
        let _ = writeln!(out, "plan:       {}", plan.join(" → "));
    }
    if let Some(bg) = d.plan.blue_green_plan() {
        let promote = match bg.auto_promotion {
            Some(after) => format!(
                "promotes by itself {} after the preview is ready",
                format_duration(after)
            ),
            None => "promote with `zion promote`".to_string(),
        };
        let _ = writeln!(
            out,
            "plan:       blue-green, {promote}; old version kept {}",
            format_duration(bg.scale_down_delay)
        );
    }
    if let Some(r) = d.plan.rolling_plan() {
        let _ = writeln!(
            out,
            "plan:       rolling, {} per batch, {}",
            count(u64::from(r.batch), "replica", "replicas"),
            count(
                d.rolling.map_or(0, |v| u64::from(v.batches)),
                "batch",
                "batches"
            )
        );
    }
    let _ = writeln!(out, "\nevents:");
    for e in &detail.events {
        let _ = writeln!(out, "  {}", event_line(e));
    }
    out.push_str(&crate::rounds::section(detail, rounds));
    out
}

/// The commit a deployment was built from and the release evidence it
/// carried, as the quality gates judged it.
fn provenance(d: &DeploymentView, out: &mut String) {
    match (&d.commit, d.committed_at) {
        (Some(sha), Some(at)) => {
            let _ = writeln!(out, "commit:     {sha} (committed {at})");
        }
        (Some(sha), None) => {
            let _ = writeln!(out, "commit:     {sha}");
        }
        (None, Some(at)) => {
            let _ = writeln!(out, "commit:     (unknown) committed {at}");
        }
        (None, None) => {}
    }
    let Some(e) = &d.evidence else {
        return;
    };
    let mut parts = Vec::new();
    if let Some(t) = &e.tests {
        let executed = t.total.saturating_sub(t.skipped);
        let mut also = Vec::new();
        for (count, what) in [
            (t.failed, "failed"),
            (t.errors, "errored"),
            (t.skipped, "skipped"),
        ] {
            if count > 0 {
                also.push(format!("{count} {what}"));
            }
        }
        let also = if also.is_empty() {
            String::new()
        } else {
            format!(" ({})", also.join(", "))
        };
        parts.push(format!("tests {}/{executed} passed{also}", t.passed));
    }
    if let Some(c) = &e.coverage {
        let (total, covered) = (c.lines_total, c.lines_covered);
        let share = match covered.checked_mul(1000).and_then(|m| m.checked_div(total)) {
            Some(per_mille) => tenths_percent(per_mille),
            None => "-".to_string(),
        };
        parts.push(format!("coverage {share} ({covered}/{total} lines)"));
    }
    if let Some(f) = &e.findings {
        let levels: Vec<String> = FindingLevel::ALL
            .into_iter()
            .filter_map(|level| {
                let count = f.get(level);
                // `none` results are not problems; named only when present.
                (level != FindingLevel::None || count > 0).then(|| format!("{count} {level}"))
            })
            .collect();
        parts.push(format!("findings {}", levels.join(", ")));
    }
    if !parts.is_empty() {
        let _ = writeln!(out, "evidence:   {}", parts.join("; "));
    }
}

/// Tenths of a percent as `72.4%` (`80%` when whole). The caller cuts rather
/// than rounds, so a share below a gate never reads as reaching it.
fn tenths_percent(per_mille: u64) -> String {
    match per_mille % 10 {
        0 => format!("{}%", per_mille / 10),
        tenth => format!("{}.{tenth}%", per_mille / 10),
    }
}

pub fn history(list: &[DeploymentView]) -> String {
    if list.is_empty() {
        return "no deployments\n".into();
    }
    let rows: Vec<Vec<String>> = list
        .iter()
        .map(|d| {
            let created = d.created_at.to_string();
            vec![
                d.id.to_string(),
                format!("{}/{}", d.service, d.environment),
                format!(
                    "{} → {}",
                    d.previous_version.as_deref().unwrap_or("(none)"),
                    d.version
                ),
                d.kind.name().to_string(),
                if d.break_glass.is_some() {
                    format!("{} [BREAK GLASS]", d.phase)
                } else {
                    d.phase.to_string()
                },
                created.get(0..19).unwrap_or("-").replace('T', " "),
                duration(d.created_at, d.finished_at),
                d.requested_by.clone(),
            ]
        })
        .collect();
    table(
        &[
            "ID",
            "TARGET",
            "VERSION",
            "TYPE",
            "PHASE",
            "CREATED (UTC)",
            "TOOK",
            "BY",
        ],
        &rows,
    )
}

fn duration(created: jiff::Timestamp, finished: Option<jiff::Timestamp>) -> String {
    match finished {
        Some(b) => {
            let secs = b.duration_since(created).as_secs_f64();
            if secs < 120.0 {
                format!("{secs:.1}s")
            } else {
                format!("{:.1}m", secs / 60.0)
            }
        }
        None => "-".into(),
    }
}

#[cfg(test)]
#[path = "render_tests.rs"]
mod tests;
