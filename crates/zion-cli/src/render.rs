//! Text renderings of the API's JSON for people.

use std::fmt::Write;

use serde_json::Value;
use zion_core::api::{DeploymentDetail, DeploymentView, EventView, TargetView};

pub(crate) fn s(v: &Value) -> &str {
    v.as_str().unwrap_or("-")
}

/// `2026-11-22T03:12:01.123Z` → `03:12:01`.
pub fn clock(v: &Value) -> String {
    let t = s(v);
    t.get(11..19).unwrap_or(t).to_string()
}

/// A time as [`clock`] shows it.
pub fn clock_of(at: jiff::Timestamp) -> String {
    clock(&Value::String(at.to_string()))
}

/// An RFC 3339 time to the second, `2026-11-22 03:12:01 UTC`.
pub fn when(v: &Value) -> String {
    match v.as_str() {
        Some(t) => format!("{} UTC", t.get(0..19).unwrap_or(t).replace('T', " ")),
        None => "-".into(),
    }
}

/// An approval deadline from the API as every view prints it, the same
/// way the server's events do (`2026-11-22 03:12:02 UTC`).
pub fn expiry(v: &Value) -> String {
    match v.as_str().map(str::parse::<jiff::Timestamp>) {
        Some(Ok(at)) => zion_core::governance::expiry_text(at),
        _ => when(v),
    }
}

/// `n` and its noun, singular for one: `1 entry`, `0 entries`, `2 entries`.
pub(crate) fn count(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// [`count`] of a JSON number (`? entries` when it is not one).
pub(crate) fn counted(n: &Value, one: &str, many: &str) -> String {
    match n.as_u64() {
        Some(n) => count(n, one, many),
        None => format!("? {many}"),
    }
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

/// What a deployment really does (`first`, `canary`, `blue_green`,
/// `rolling`, `rollback`, `direct`): the server's `rollout`, else read from
/// the plan as the server does.
pub(crate) fn rollout(d: &Value) -> &str {
    if let Some(r) = d["rollout"].as_str() {
        return r;
    }
    let plan = &d["plan"];
    if !d["previous_version"].is_string() {
        "first"
    } else if plan["blue_green"].is_object() {
        "blue_green"
    } else if plan["rolling"].is_object() {
        "rolling"
    } else if plan["steps"].as_array().is_some_and(|s| !s.is_empty()) {
        "canary"
    } else if d["type"] == "rollback" {
        "rollback"
    } else {
        "direct"
    }
}

/// What the live bar's percentage is a share of: `to 2.0`.
pub fn bar_label(d: &Value) -> String {
    format!("to {}", s(&d["version"]))
}

/// One deployment's progress in a few words: `progressing, step 2/4, canary
/// 25%`, `progressing, first version of the target, 0% of traffic`.
pub fn progress(d: &Value) -> String {
    let mut p = s(&d["phase"]).to_string();
    let weight = d["canary_weight"].as_u64().unwrap_or(0);
    let rollout = rollout(d);
    if matches!(rollout, "first" | "rollback" | "direct") {
        // No steps: all traffic moves at once when the version is healthy.
        let what = match rollout {
            "first" => "first version of the target".to_string(),
            "rollback" => format!("rollback to {}", s(&d["version"])),
            _ => "all traffic once healthy".to_string(),
        };
        let _ = write!(p, ", {what}, {weight}% of traffic");
    } else if let (Some(batch), Some(batches)) = (d["batch"].as_u64(), d["batches"].as_u64()) {
        // Rolling: batch 2/3, 2/3 replicas replaced, 67% of traffic.
        let starting = if d["batch_ready"].as_bool() == Some(false) && !is_final(d) {
            " starting"
        } else {
            ""
        };
        let _ = write!(
            p,
            ", batch {batch}/{batches}{starting}, {}/{} replicas replaced, {weight}% of traffic",
            d["replaced"].as_u64().unwrap_or(0),
            d["plan"]["replicas"].as_u64().unwrap_or(0)
        );
    } else if d["plan"]["blue_green"].is_object() && d["previous_version"].is_string() {
        match d["preview"].as_str() {
            Some(state) => {
                let _ = write!(p, ", preview {state}, live traffic {weight}%");
            }
            None => {
                let _ = write!(p, ", live traffic {weight}%");
            }
        }
    } else {
        if let (Some(step), Some(steps)) = (d["step"].as_u64(), d["steps"].as_u64()) {
            let _ = write!(p, ", step {step}/{steps}");
        }
        let _ = write!(p, ", canary {weight}%");
    }
    // The current step's routing beyond the weight.
    let step = d["step"]
        .as_u64()
        .and_then(|i| d["plan"]["steps"].get(i.checked_sub(1)? as usize));
    if let Some(step) = step {
        if let Some(m) = step["mirror"].as_u64() {
            let _ = write!(p, ", mirroring {m}%");
        }
        if let Some(rules) = step["matches"].as_array().filter(|r| !r.is_empty()) {
            let _ = write!(p, " + {} header/cookie rule(s)", rules.len());
        }
    }
    let a = &d["approvals"];
    if let (Some(req), Some(given)) = (a["required"].as_u64(), a["given"].as_array()) {
        if matches!(s(&d["phase"]), "pending" | "awaiting_approval") {
            let _ = write!(p, ", approvals {}/{req}", given.len());
        }
    }
    if d["break_glass"].is_object() {
        p.push_str(", BREAK GLASS");
    }
    p
}

fn is_final(d: &Value) -> bool {
    // The core's list of terminal phases is the only one.
    zion_core::deployment::Phase::from_name(s(&d["phase"]))
        .is_some_and(zion_core::deployment::Phase::is_terminal)
}

/// The gate of a deployment: break glass, approvals, pre-check results.
fn gate(d: &Value, out: &mut String) {
    let g = &d["gate"];
    if let Some(bg) = d["break_glass"].as_object() {
        let _ = writeln!(
            out,
            "BREAK GLASS: by {}: {} (windows, freezes, approvals and checks skipped)",
            s(&bg["by"]),
            s(&bg["reason"])
        );
    }
    let a = &d["approvals"];
    if let Some(required) = a["required"].as_u64() {
        let decisions = g["decisions"].as_array().cloned().unwrap_or_default();
        let _ = writeln!(
            out,
            "approvals:  {}/{required}{}",
            a["given"].as_array().map_or(0, Vec::len),
            if a["expires_at"].is_string() && a["still_needed"].is_string() {
                format!(", expires at {}", expiry(&a["expires_at"]))
            } else {
                String::new()
            }
        );
        for x in &decisions {
            let comment = x["comment"]
                .as_str()
                .map(|c| format!(": {c}"))
                .unwrap_or_default();
            let via = if s(&x["via"]) == "github" {
                " via GitHub"
            } else {
                ""
            };
            let _ = writeln!(
                out,
                "  {} by {} ({}) at {}{via}{comment}",
                if s(&x["kind"]) == "approve" {
                    "approved"
                } else {
                    "rejected"
                },
                s(&x["principal"]),
                s(&x["role"]),
                clock(&x["at"])
            );
        }
        if let Some(needed) = a["still_needed"].as_str() {
            let _ = writeln!(out, "  still needed: {needed}");
        }
    }
    let checks = g["check_results"].as_array().cloned().unwrap_or_default();
    if !checks.is_empty() {
        let _ = writeln!(out, "pre-checks:");
        for c in &checks {
            let _ = writeln!(
                out,
                "  {} {:<18} {:<14} {}",
                if c["passed"].as_bool() == Some(true) {
                    "pass"
                } else {
                    "FAIL"
                },
                s(&c["check"]),
                s(&c["stage"]),
                s(&c["reason"])
            );
        }
    }
    if let Some(sha) = g["artifact_sha256"].as_str() {
        let _ = writeln!(out, "artifact:   sha256 {sha}");
    }
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
                .map(|v| {
                    format!(
                        "{} {}/{} ready",
                        v.version,
                        v.ready.unwrap_or(0),
                        v.replicas.unwrap_or(0)
                    )
                })
                .collect();
            let dep = match &t.deployment {
                Some(d) => {
                    // `progress` still reads the view as JSON.
                    let json = serde_json::to_value(d).unwrap_or_default();
                    format!("#{} {} ({})", d.id, d.version, progress(&json))
                }
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
    let mut out = table(
        &["TARGET", "LISTEN", "STABLE", "DEPLOYMENT", "RUNNING"],
        &rows,
    );
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

pub fn deployment(d: &Value, rounds: crate::cli::Rounds) -> String {
    // Events and rounds are read as fields of the typed view; the rest
    // still reads the JSON (a partial view, as in tests, shows neither).
    let detail: Option<DeploymentDetail> = serde_json::from_value(d.clone()).ok();
    let mut out = String::new();
    let _ = writeln!(
        out,
        "deployment {}: {}/{} {} → {} ({}, {})",
        d["id"],
        s(&d["service"]),
        s(&d["environment"]),
        d["previous_version"].as_str().unwrap_or("(none)"),
        s(&d["version"]),
        // What happens: `strategy` says `direct` for a first version and a
        // rollback alike; `rollout` tells them apart.
        match rollout(d) {
            "first" => "first version",
            "rollback" | "direct" => "direct switch",
            other => other,
        },
        s(&d["type"])
    );
    let _ = writeln!(out, "phase:      {}", progress(d));
    let _ = writeln!(out, "reason:     {}", s(&d["reason"]));
    if let Some(w) = detail.as_ref().and_then(crate::rounds::waiting) {
        let _ = writeln!(out, "waiting:    {w}");
    }
    let _ = writeln!(
        out,
        "requested:  by {} at {}",
        s(&d["requested_by"]),
        s(&d["created_at"])
    );
    if let Some(t) = d["started_at"].as_str() {
        let _ = writeln!(out, "started:    {t}");
    }
    if let Some(t) = d["finished_at"].as_str() {
        let _ = writeln!(out, "finished:   {t}");
    }
    provenance(d, &mut out);
    gate(d, &mut out);
    if let Some(steps) = d["plan"]["steps"].as_array() {
        if !steps.is_empty() {
            let plan: Vec<String> = steps
                .iter()
                .map(|st| match st["pause"].as_str() {
                    Some(p) => format!("{}%/{p}", st["weight"]),
                    None => format!("{}%", st["weight"]),
                })
                .collect();
            let _ = writeln!(out, "plan:       {}", plan.join(" → "));
        }
    }
    if let Some(bg) = d["plan"]["blue_green"].as_object() {
        let promote = match bg.get("auto_promotion").and_then(Value::as_str) {
            Some(after) => format!("promotes by itself {after} after the preview is ready"),
            None => "promote with `zion promote`".to_string(),
        };
        let _ = writeln!(
            out,
            "plan:       blue-green, {promote}; old version kept {}",
            bg.get("scale_down_delay")
                .and_then(Value::as_str)
                .unwrap_or("?")
        );
    }
    if let Some(r) = d["plan"]["rolling"].as_object() {
        let _ = writeln!(
            out,
            "plan:       rolling, {} per batch, {}",
            count(
                r.get("batch").and_then(Value::as_u64).unwrap_or(0),
                "replica",
                "replicas"
            ),
            count(d["batches"].as_u64().unwrap_or(0), "batch", "batches")
        );
    }
    let _ = writeln!(out, "\nevents:");
    for e in detail.iter().flat_map(|d| &d.events) {
        let _ = writeln!(out, "  {}", event_line(e));
    }
    if let Some(detail) = &detail {
        out.push_str(&crate::rounds::section(detail, rounds));
    }
    out
}

/// The commit a deployment was built from and the release evidence it
/// carried, as the quality gates judged it.
fn provenance(d: &Value, out: &mut String) {
    match (d["commit"].as_str(), d["committed_at"].as_str()) {
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
    let e = &d["evidence"];
    if !e.is_object() {
        return;
    }
    let mut parts = Vec::new();
    let t = &e["tests"];
    if let Some(total) = t["total"].as_u64() {
        let n = |k: &str| t[k].as_u64().unwrap_or(0);
        let executed = total.saturating_sub(n("skipped"));
        let mut also = Vec::new();
        for (count, what) in [
            (n("failed"), "failed"),
            (n("errors"), "errored"),
            (n("skipped"), "skipped"),
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
        parts.push(format!("tests {}/{executed} passed{also}", n("passed")));
    }
    let c = &e["coverage"];
    if let (Some(total), Some(covered)) = (c["lines_total"].as_u64(), c["lines_covered"].as_u64()) {
        let share = match covered.checked_mul(1000).and_then(|m| m.checked_div(total)) {
            Some(per_mille) => tenths_percent(per_mille),
            None => "-".to_string(),
        };
        parts.push(format!("coverage {share} ({covered}/{total} lines)"));
    }
    let f = &e["findings"];
    if f.is_object() {
        let levels: Vec<String> = ["error", "warning", "note", "none"]
            .into_iter()
            .filter_map(|level| {
                let count = f[level].as_u64().unwrap_or(0);
                // `none` results are not problems; named only when present.
                (level != "none" || count > 0).then(|| format!("{count} {level}"))
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
mod tests {
    use serde_json::json;

    use super::*;
    use crate::cli::Rounds;

    #[test]
    fn a_deployment_shows_its_commit_and_evidence() {
        let d = json!({
            "id": 4, "service": "web", "environment": "production", "version": "2.0",
            "phase": "succeeded", "canary_weight": 100,
            "commit": "9fceb02d0ae598e95dc970b74767f19372d61af8",
            "committed_at": "2026-03-01T09:15:30Z",
            "evidence": {
                "tests": { "total": 203, "passed": 195, "failed": 4, "skipped": 3, "errors": 1 },
                "coverage": { "lines_total": 3, "lines_covered": 2 },
                "findings": { "error": 0, "warning": 5, "note": 17, "none": 0 }
            }
        });
        let text = deployment(&d, Rounds::All);
        assert!(
            text.contains(
                "commit:     9fceb02d0ae598e95dc970b74767f19372d61af8 \
                 (committed 2026-03-01T09:15:30Z)\n"
            ),
            "{text}"
        );
        // 195 of 203 − 3 = 200 executed; 2 of 3 lines is 66.66…%, cut to 66.6%.
        assert!(
            text.contains(
                "evidence:   tests 195/200 passed (4 failed, 1 errored, 3 skipped); \
                 coverage 66.6% (2/3 lines); findings 0 error, 5 warning, 17 note\n"
            ),
            "{text}"
        );
    }

    #[test]
    fn progress_names_what_each_rollout_does() {
        let first = json!({
            "phase": "progressing", "version": "1.0", "previous_version": null,
            "strategy": "direct", "type": "feature", "rollout": "first",
            "canary_weight": 0, "step": null, "steps": 0, "plan": { "steps": [] }
        });
        assert_eq!(
            progress(&first),
            "progressing, first version of the target, 0% of traffic"
        );
        let rollback = json!({
            "phase": "succeeded", "version": "1.2", "previous_version": "1.4",
            "strategy": "direct", "type": "rollback", "rollout": "rollback",
            "canary_weight": 100, "step": null, "steps": 0, "plan": { "steps": [] }
        });
        assert_eq!(
            progress(&rollback),
            "succeeded, rollback to 1.2, 100% of traffic"
        );
        let canary = json!({
            "phase": "progressing", "version": "2.0", "previous_version": "1.0",
            "strategy": "canary", "type": "feature", "rollout": "canary",
            "canary_weight": 25, "step": 2, "steps": 3,
            "plan": { "steps": [{ "weight": 5 }, { "weight": 25 }, { "weight": 100 }] }
        });
        assert_eq!(progress(&canary), "progressing, step 2/3, canary 25%");
        let blue_green = json!({
            "phase": "progressing", "version": "2.0", "previous_version": "1.0",
            "strategy": "blue_green", "rollout": "blue_green", "preview": "ready",
            "canary_weight": 0, "step": 1, "steps": 0,
            "plan": { "steps": [], "blue_green": { "scale_down_delay": "30s" } }
        });
        assert_eq!(
            progress(&blue_green),
            "progressing, preview ready, live traffic 0%"
        );
        for d in [&first, &rollback, &blue_green] {
            assert!(!progress(d).contains("canary"), "{}", progress(d));
        }
        // `zion get`'s first line too.
        let head = |d: &Value| {
            deployment(d, Rounds::All)
                .lines()
                .next()
                .unwrap()
                .to_string()
        };
        assert!(
            head(&rollback).ends_with("1.4 → 1.2 (direct switch, rollback)"),
            "{}",
            head(&rollback)
        );
        assert!(
            head(&first).ends_with("(none) → 1.0 (first version, feature)"),
            "{}",
            head(&first)
        );
        assert!(head(&canary).ends_with("1.0 → 2.0 (canary, feature)"));
    }

    #[test]
    fn without_a_rollout_field_the_plan_tells_what_happens() {
        let mut d = json!({
            "phase": "progressing", "version": "1.2", "previous_version": "1.4",
            "type": "rollback", "canary_weight": 0, "plan": { "steps": [] }
        });
        assert_eq!(rollout(&d), "rollback");
        d["type"] = json!("feature");
        assert_eq!(rollout(&d), "direct");
        assert_eq!(
            progress(&d),
            "progressing, all traffic once healthy, 0% of traffic"
        );
        d["previous_version"] = Value::Null;
        assert_eq!(rollout(&d), "first");
        d["previous_version"] = json!("1.4");
        d["plan"] = json!({ "steps": [], "rolling": { "batch": 1 } });
        assert_eq!(rollout(&d), "rolling");
        d["plan"] = json!({ "steps": [{ "weight": 10 }] });
        assert_eq!(rollout(&d), "canary");
    }

    #[test]
    fn the_live_bar_counts_traffic_to_the_new_version_not_a_canary() {
        let d = json!({ "version": "1.2", "rollout": "rollback" });
        assert_eq!(bar_label(&d), "to 1.2");
    }

    #[test]
    fn every_view_prints_an_approval_deadline_the_same_way() {
        // A deadline stored before it was whole seconds; rounded up, as
        // the server's event reason says it.
        let d = json!({
            "id": 9, "service": "web", "environment": "production", "version": "2.0",
            "previous_version": "1.0", "requested_by": "dora", "phase": "awaiting_approval",
            "approvals": {
                "required": 2, "given": ["alice"], "still_needed": "1 more",
                "expires_at": "2026-11-22T03:12:01.600Z"
            }
        });
        let want = "expires at 2026-11-22 03:12:02 UTC";
        let get = deployment(&d, Rounds::All);
        assert!(get.contains(&format!("approvals:  1/2, {want}\n")), "{get}");
        let mut target = crate::rounds::tests::target();
        let view = target.deployment.as_mut().unwrap();
        view.id = 9;
        view.approvals = Some(zion_core::api::ApprovalsView {
            required: 2,
            given: vec!["alice".into()],
            still_needed: Some("1 more".into()),
            expires_at: Some("2026-11-22T03:12:01.600Z".parse().unwrap()),
        });
        let status = status(&[target]);
        assert!(
            status.contains(&format!("still needed: 1 more; {want}\n")),
            "{status}"
        );
        let approvals = crate::governance::line(&d);
        assert!(approvals.ends_with(&format!(", {want}")), "{approvals}");
        let at: jiff::Timestamp = "2026-11-22T03:12:01.600Z".parse().unwrap();
        assert_eq!(
            format!("expires at {}", zion_core::governance::expiry_text(at)),
            want
        );
    }

    #[test]
    fn counts_take_the_singular_for_one_only() {
        assert_eq!(count(1, "entry", "entries"), "1 entry");
        assert_eq!(count(0, "entry", "entries"), "0 entries");
        assert_eq!(count(2, "batch", "batches"), "2 batches");
        assert_eq!(counted(&json!(1), "byte", "bytes"), "1 byte");
        assert_eq!(counted(&Value::Null, "byte", "bytes"), "? bytes");
        let d = json!({ "plan": { "steps": [], "rolling": { "batch": 1 } }, "batches": 1 });
        let text = deployment(&d, Rounds::All);
        assert!(
            text.contains("plan:       rolling, 1 replica per batch, 1 batch\n"),
            "{text}"
        );
    }

    #[test]
    fn evidence_parts_appear_only_when_attached() {
        let d = json!({
            "evidence": { "coverage": { "lines_total": 1000, "lines_covered": 800 } }
        });
        let text = deployment(&d, Rounds::All);
        assert!(
            text.contains("evidence:   coverage 80% (800/1000 lines)\n"),
            "{text}"
        );
        assert!(!text.contains("commit:"), "{text}");
        let none = deployment(&json!({ "evidence": null }), Rounds::All);
        assert!(!none.contains("evidence:"), "{none}");
        let empty = json!({ "evidence": { "coverage": { "lines_total": 0, "lines_covered": 0 } } });
        assert!(deployment(&empty, Rounds::All).contains("coverage - (0/0 lines)"));
    }
}
