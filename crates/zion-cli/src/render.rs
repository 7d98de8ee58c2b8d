//! Text renderings of the API's views for people.

use std::borrow::Cow;
use std::fmt::Write;

use serde_json::Value;
use zion_core::api::{DeploymentDetail, DeploymentView, EventView, TargetView};
use zion_core::deployment::{Phase, Rollout};
use zion_core::duration::format_duration;
use zion_core::governance::quality::FindingLevel;
use zion_core::governance::{DecisionKind, expiry_text};

/// A JSON string, or `-` (for the commands whose answers are not views yet).
pub(crate) fn s(v: &Value) -> &str {
    v.as_str().unwrap_or("-")
}

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
        Some(Ok(at)) => expiry_text(at),
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

/// What [`progress`] reads: a view, or the JSON of one from a command
/// whose answer is not parsed into a view yet (read as the view).
pub trait AsDeploymentView {
    fn as_view(&self) -> Option<Cow<'_, DeploymentView>>;
}

impl AsDeploymentView for DeploymentView {
    fn as_view(&self) -> Option<Cow<'_, DeploymentView>> {
        Some(Cow::Borrowed(self))
    }
}

impl AsDeploymentView for Value {
    fn as_view(&self) -> Option<Cow<'_, DeploymentView>> {
        serde_json::from_value(self.clone()).ok().map(Cow::Owned)
    }
}

/// What the live bar's percentage is a share of: `to 2.0`.
pub fn bar_label(d: &DeploymentView) -> String {
    format!("to {}", d.version)
}

/// One deployment's progress in a few words: `progressing, step 2/4, canary
/// 25%`, `progressing, first version of the target, 0% of traffic`.
pub fn progress(d: &(impl AsDeploymentView + ?Sized)) -> String {
    match d.as_view() {
        Some(view) => progress_of(&view),
        None => "-".into(),
    }
}

fn progress_of(d: &DeploymentView) -> String {
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
mod tests {
    use std::time::Duration;

    use serde_json::json;
    use zion_core::api::ApprovalsView;
    use zion_core::deployment::{
        BlueGreenPlan, CanaryPlan, Deployment, DeploymentType, Plan, PlanCommon, PlanStep,
        Progress, RollingPlan,
    };
    use zion_core::governance::quality::{CoverageSummary, Evidence, FindingCounts, TestSummary};
    use zion_core::spec::AnalysisSpec;

    use super::*;
    use crate::cli::Rounds;

    fn at(text: &str) -> jiff::Timestamp {
        text.parse().unwrap()
    }

    fn common(replicas: u32) -> PlanCommon {
        PlanCommon {
            replicas,
            start_timeout: Duration::from_secs(60),
            interval: Duration::from_secs(5),
            failure_limit: 2,
            min_requests: 20,
            inconclusive_limit: Duration::from_secs(600),
            checks: AnalysisSpec::default_checks(),
        }
    }

    fn canary(weights: &[u8]) -> Plan {
        Plan::Canary {
            common: common(1),
            canary: CanaryPlan {
                steps: weights
                    .iter()
                    .map(|w| PlanStep::weighted(*w, None))
                    .collect(),
                sticky: false,
            },
        }
    }

    /// `web` in `production`: 1.0 → 2.0, a direct plan, progressing; `edit`
    /// changes what a test is about before the view is built.
    fn view(edit: impl FnOnce(&mut Deployment)) -> DeploymentView {
        let mut d = Deployment {
            id: 4,
            service: "web".into(),
            environment: "production".into(),
            version: "2.0".into(),
            previous_version: Some("1.0".into()),
            kind: DeploymentType::Feature,
            phase: Phase::Progressing,
            step: None,
            canary_weight: 0,
            requested_by: "dora".into(),
            created_at: at("2026-11-22T03:00:00Z"),
            started_at: None,
            finished_at: None,
            reason: None,
            plan: Plan::Direct { common: common(1) },
            progress: Progress::default(),
            gate: Default::default(),
            evidence: None,
            commit: None,
            committed_at: None,
            revision: 1,
        };
        edit(&mut d);
        DeploymentView::of(&d)
    }

    fn detail(deployment: DeploymentView) -> DeploymentDetail {
        DeploymentDetail {
            deployment,
            events: Vec::new(),
            rounds: Vec::new(),
        }
    }

    #[test]
    fn a_deployment_shows_its_commit_and_evidence() {
        let d = view(|d| {
            d.phase = Phase::Succeeded;
            d.canary_weight = 100;
            d.commit = Some("9fceb02d0ae598e95dc970b74767f19372d61af8".into());
            d.committed_at = Some(at("2026-03-01T09:15:30Z"));
            d.evidence = Some(Evidence {
                tests: Some(TestSummary {
                    total: 203,
                    passed: 195,
                    failed: 4,
                    skipped: 3,
                    errors: 1,
                }),
                coverage: Some(CoverageSummary {
                    lines_total: 3,
                    lines_covered: 2,
                }),
                findings: Some(FindingCounts {
                    error: 0,
                    warning: 5,
                    note: 17,
                    none: 0,
                }),
            });
        });
        let text = deployment(&detail(d), Rounds::All);
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
        let first = view(|d| {
            d.version = "1.0".into();
            d.previous_version = None;
        });
        assert_eq!(
            progress(&first),
            "progressing, first version of the target, 0% of traffic"
        );
        let rollback = view(|d| {
            d.version = "1.2".into();
            d.previous_version = Some("1.4".into());
            d.kind = DeploymentType::Rollback;
            d.phase = Phase::Succeeded;
            d.canary_weight = 100;
        });
        assert_eq!(
            progress(&rollback),
            "succeeded, rollback to 1.2, 100% of traffic"
        );
        let canary = view(|d| {
            d.plan = canary(&[5, 25, 100]);
            d.step = Some(1);
            d.canary_weight = 25;
        });
        assert_eq!(progress(&canary), "progressing, step 2/3, canary 25%");
        let blue_green = view(|d| {
            d.plan = Plan::BlueGreen {
                common: common(1),
                blue_green: BlueGreenPlan {
                    auto_promotion: None,
                    scale_down_delay: Duration::from_secs(30),
                },
            };
            d.step = Some(0);
            d.progress.ready_at = Some(at("2026-11-22T03:00:10Z"));
        });
        assert_eq!(
            progress(&blue_green),
            "progressing, preview ready, live traffic 0%"
        );
        for d in [&first, &rollback, &blue_green] {
            assert!(!progress(d).contains("canary"), "{}", progress(d));
        }
        // `zion get`'s first line too.
        let head = |d: &DeploymentView| {
            deployment(&detail(d.clone()), Rounds::All)
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
        // A command's answer not yet parsed reads as its view.
        let json = serde_json::to_value(&canary).unwrap();
        assert_eq!(progress(&json), progress(&canary));
    }

    #[test]
    fn the_rollout_tells_what_the_plan_does() {
        let rollback = view(|d| {
            d.version = "1.2".into();
            d.previous_version = Some("1.4".into());
            d.kind = DeploymentType::Rollback;
        });
        assert_eq!(rollback.rollout, Rollout::Rollback);
        let direct = view(|d| d.previous_version = Some("1.4".into()));
        assert_eq!(direct.rollout, Rollout::Direct);
        assert_eq!(
            progress(&direct),
            "progressing, all traffic once healthy, 0% of traffic"
        );
        assert_eq!(view(|d| d.previous_version = None).rollout, Rollout::First);
        let rolling = view(|d| {
            d.plan = Plan::Rolling {
                common: common(1),
                rolling: RollingPlan { batch: 1 },
            }
        });
        assert_eq!(rolling.rollout, Rollout::Rolling);
        assert_eq!(view(|d| d.plan = canary(&[10])).rollout, Rollout::Canary);
    }

    #[test]
    fn the_live_bar_counts_traffic_to_the_new_version_not_a_canary() {
        let d = view(|d| {
            d.version = "1.2".into();
            d.kind = DeploymentType::Rollback;
        });
        assert_eq!(d.rollout, Rollout::Rollback);
        assert_eq!(bar_label(&d), "to 1.2");
    }

    #[test]
    fn every_view_prints_an_approval_deadline_the_same_way() {
        // A deadline stored before it was whole seconds; rounded up, as
        // the server's event reason says it.
        let mut d = view(|d| {
            d.id = 9;
            d.phase = Phase::AwaitingApproval;
        });
        d.approvals = Some(ApprovalsView {
            required: 2,
            given: vec!["alice".into()],
            still_needed: Some("1 more".into()),
            expires_at: Some(at("2026-11-22T03:12:01.600Z")),
        });
        let want = "expires at 2026-11-22 03:12:02 UTC";
        let get = deployment(&detail(d.clone()), Rounds::All);
        assert!(get.contains(&format!("approvals:  1/2, {want}\n")), "{get}");
        let mut target = crate::rounds::tests::target();
        let view = target.deployment.as_mut().unwrap();
        view.id = 9;
        view.approvals = d.approvals.clone();
        let status = status(&[target]);
        assert!(
            status.contains(&format!("still needed: 1 more; {want}\n")),
            "{status}"
        );
        let approvals = crate::governance::line(&serde_json::to_value(&d).unwrap());
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
        let d = view(|d| {
            d.plan = Plan::Rolling {
                common: common(1),
                rolling: RollingPlan { batch: 1 },
            }
        });
        let text = deployment(&detail(d), Rounds::All);
        assert!(
            text.contains("plan:       rolling, 1 replica per batch, 1 batch\n"),
            "{text}"
        );
    }

    #[test]
    fn evidence_parts_appear_only_when_attached() {
        let with = |lines_total, lines_covered| {
            detail(view(|d| {
                d.evidence = Some(Evidence {
                    tests: None,
                    coverage: Some(CoverageSummary {
                        lines_total,
                        lines_covered,
                    }),
                    findings: None,
                });
            }))
        };
        let text = deployment(&with(1000, 800), Rounds::All);
        assert!(
            text.contains("evidence:   coverage 80% (800/1000 lines)\n"),
            "{text}"
        );
        assert!(!text.contains("commit:"), "{text}");
        let none = deployment(&detail(view(|d| d.evidence = None)), Rounds::All);
        assert!(!none.contains("evidence:"), "{none}");
        assert!(deployment(&with(0, 0), Rounds::All).contains("coverage - (0/0 lines)"));
    }
}
