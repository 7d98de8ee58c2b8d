//! JSON views of recorded state, as the API returns them (snake_case keys,
//! RFC 3339 UTC times, 1-based step numbers).

use serde_json::{Value, json};
use zion_core::analysis::AnalysisRound;
use zion_core::deployment::{Deployment, Event, Phase};
use zion_core::governance::approvals::still_needed;

/// A deployment: its fields plus its plan; `step` is 1-based.
pub fn deployment(d: &Deployment) -> Value {
    let mut v = serde_json::to_value(d).unwrap_or(Value::Null);
    if let Value::Object(map) = &mut v {
        map.insert("step".into(), json!(d.step.map(|s| s + 1)));
        map.insert("steps".into(), json!(d.plan.steps().len()));
        map.remove("revision");
        // `strategy` is the plan's kind (`direct` for a first version and a
        // rollback alike); `rollout` tells those two apart.
        map.insert("rollout".into(), json!(d.rollout().name()));
        // Each strategy's own progress, so readers need not decode the plan.
        let ready = d.progress.ready_at.is_some();
        if d.plan.blue_green_plan().is_some() && d.previous_version.is_some() {
            let preview = match (d.phase, ready) {
                (Phase::Progressing | Phase::Paused, true) => json!("ready"),
                (Phase::Progressing | Phase::Paused, false) => json!("starting"),
                _ => Value::Null,
            };
            map.insert("preview".into(), preview);
        }
        if let (Some(r), Some(_)) = (d.plan.rolling_plan(), &d.previous_version) {
            let n = d.plan.replicas();
            let i = d.step.unwrap_or(0);
            let replaced = match d.phase {
                Phase::Succeeded => n,
                _ if d.progress.batch_ready_at.is_some() => r.replaced(i, n),
                _ if i == 0 => 0,
                _ => r.replaced(i - 1, n),
            };
            map.insert("batch".into(), json!(i + 1));
            map.insert("batches".into(), json!(r.batches(n)));
            map.insert(
                "batch_ready".into(),
                json!(d.progress.batch_ready_at.is_some()),
            );
            map.insert("replaced".into(), json!(replaced));
        }
        // When a run of inconclusive rounds will pause it, if it goes on.
        map.insert(
            "inconclusive_pause_at".into(),
            json!(zion_core::traffic::pause_due_at(d)),
        );
        let g = &d.gate;
        // Marked at the top level so no reader can miss it.
        map.insert("break_glass".into(), json!(g.break_glass));
        if g.approvals_required > 0 {
            let given: Vec<&str> = g.approvals().map(|a| a.principal.as_str()).collect();
            map.insert(
                "approvals".into(),
                json!({
                    "required": g.approvals_required,
                    "given": given,
                    "still_needed": still_needed(d),
                    "expires_at": g.expires_at,
                }),
            );
        }
    }
    v
}

/// A deployment with its events and analysis rounds.
pub fn deployment_detail(d: &Deployment, events: &[Event], rounds: &[AnalysisRound]) -> Value {
    let mut v = deployment(d);
    if let Value::Object(map) = &mut v {
        let events: Vec<Value> = events
            .iter()
            .map(|e| {
                let mut ev = serde_json::to_value(e).unwrap_or(Value::Null);
                if let Value::Object(m) = &mut ev {
                    m.insert("step".into(), json!(e.step.map(|s| s + 1)));
                }
                ev
            })
            .collect();
        let rounds: Vec<Value> = rounds
            .iter()
            .map(|r| {
                let mut rv = serde_json::to_value(r).unwrap_or(Value::Null);
                if let Value::Object(m) = &mut rv {
                    m.insert("step".into(), json!(r.step.map(|s| s + 1)));
                }
                rv
            })
            .collect();
        map.insert("events".into(), Value::Array(events));
        map.insert("rounds".into(), Value::Array(rounds));
    }
    v
}
