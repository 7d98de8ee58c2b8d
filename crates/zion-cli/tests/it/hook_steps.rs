//! Lifecycle hooks at the points a step or a strategy brings, against
//! real scripts: a failing `pre_step` or `post_step` rolls a canary back
//! (and `on_rollback` runs), and blue-green and rolling deployments run
//! `pre_rollout` and `post_rollout` told the deployment's facts, and none
//! of the canary's step hooks. Their rounds judge replica health alone, so
//! no test needs traffic.

use std::net::SocketAddr;
use std::time::Duration;

use serde_json::Value;

use crate::hooks::{deploy, reasons, settled};
use crate::support::*;

/// A `web` service rolled out by `strategy` (its own keys included) whose
/// rounds judge replica health alone, so that no traffic is needed for a
/// step or a preview to pass.
fn quiet_spec(api: SocketAddr, target: SocketAddr, strategy: &str, hooks: &str) -> String {
    format!(
        r#"server: {{ listen: {api}, data_dir: state }}
environments:
  - name: staging
services:
  - name: web
    workload:
      process:
        command: ["{ZION}", "demo-app", "--port", "{{port}}", "--version", "{{version}}"]
        replicas: 2
    health: {{ http: /healthz, interval: 300ms, timeout: 250ms, start_timeout: 20s }}
    targets:
      staging: {{ listen: {target} }}
{strategy}    analysis:
      interval: 1s
      failure_limit: 1
      min_requests: 0
      checks:
        - {{ metric: health, min: 0.95 }}
    hooks:
{hooks}"#
    )
}

/// Appends `point version step` to calls.log, then fails when that line is
/// in `fail`.
const STEP_CHECK: &str = r#"
echo "$ZION_HOOK $ZION_VERSION $ZION_STEP" >> calls.log
if grep -qx "$ZION_HOOK $ZION_VERSION $ZION_STEP" fail 2>/dev/null; then
  echo "refused: $ZION_HOOK of $ZION_VERSION at step $ZION_STEP"
  exit 1
fi
"#;

/// The event that began `d`'s rollback.
fn rollback_event(d: &Value) -> Value {
    d["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["to_phase"] == "rolling_back")
        .cloned()
        .unwrap_or_else(|| panic!("no rollback event: {d}"))
}

#[test]
fn a_failing_pre_step_or_post_step_rolls_the_canary_back() {
    let mut p = Project::with_spec(|api, target| {
        quiet_spec(
            api,
            target,
            "    canary:\n      steps:\n        - { weight: 20, pause: 1s }\n        - { weight: 50, pause: 1s }\n        - { weight: 100 }\n",
            "      pre_step: [{ exec: [sh, check.sh] }]\n\
             \x20     post_step: [{ exec: [sh, check.sh] }]\n\
             \x20     on_rollback: [{ exec: [sh, -c, 'echo \"$ZION_VERSION $ZION_PHASE $ZION_STEP\" >> rollbacks.log'] }]\n",
        )
    });
    let dir = p.dir.path().to_path_buf();
    std::fs::write(dir.join("check.sh"), STEP_CHECK).unwrap();
    p.start();
    let first = settled(&p, deploy(&p, "1.0"));
    assert_eq!(first["phase"], "succeeded", "{first}\n{}", p.log());
    let calls = || std::fs::read_to_string(dir.join("calls.log")).unwrap_or_default();
    assert_eq!(calls(), "", "a first version has no steps");

    // 2.0's pre_step says no at step 2, once 50% already goes to it: the
    // step does not hold, the deployment rolls back.
    std::fs::write(dir.join("fail"), "pre_step 2.0 2\npost_step 3.0 1\n").unwrap();
    let d = settled(&p, deploy(&p, "2.0"));
    assert_eq!(d["phase"], "rolled_back", "{d}\n{}", p.log());
    assert_eq!(
        calls(),
        "pre_step 2.0 1\npost_step 2.0 1\npre_step 2.0 2\n",
        "{d}"
    );
    let event = rollback_event(&d);
    let why = event["reason"].as_str().unwrap();
    assert!(
        why.starts_with("pre_step hook 1/1 at step 2 (exec sh check.sh) failed: exited with 1")
            && why.contains("refused: pre_step of 2.0 at step 2")
            && why.ends_with(": rollback"),
        "{why}"
    );
    assert_eq!(
        (event["step"].as_u64(), event["canary_weight"].as_u64()),
        (Some(2), Some(0))
    );
    assert!(
        reasons(&d)
            .iter()
            .any(|r| r.starts_with("post_step hook 1/1 at step 1 (exec sh check.sh) passed")),
        "{d}"
    );

    // 3.0's post_step says no after step 1's pause and analysis: rolled
    // back before step 2 is entered.
    let d = settled(&p, deploy(&p, "3.0"));
    assert_eq!(d["phase"], "rolled_back", "{d}\n{}", p.log());
    assert!(
        calls().ends_with("pre_step 3.0 1\npost_step 3.0 1\n"),
        "{}",
        calls()
    );
    let why = rollback_event(&d)["reason"].as_str().unwrap().to_string();
    assert!(
        why.starts_with("post_step hook 1/1 at step 1 (exec sh check.sh) failed: exited with 1")
            && why.contains("refused: post_step of 3.0 at step 1"),
        "{why}"
    );
    assert!(
        d["events"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["step"].as_u64() <= Some(1)),
        "step 2 was entered: {d}"
    );

    // on_rollback ran for both; the failures are in the audit log.
    assert_eq!(
        std::fs::read_to_string(dir.join("rollbacks.log")).unwrap_or_default(),
        "2.0 rolling_back 2\n3.0 rolling_back 1\n"
    );
    let log = p.json(&["audit", "log"]).to_string();
    for text in [
        "refused: pre_step of 2.0 at step 2",
        "refused: post_step of 3.0 at step 1",
    ] {
        assert!(log.contains(text), "{text} not in the audit log: {log}");
    }
    assert_eq!(p.target_status()["stable_version"], "1.0");
}

/// Appends one line of the deployment's facts to hooks.log.
const FACTS: &str = r#"
n=$(echo "$ZION_NEW_ADDRESSES" | tr , '\n' | grep -c .)
echo "$ZION_HOOK id=$ZION_DEPLOYMENT_ID $ZION_SERVICE/$ZION_ENVIRONMENT $ZION_STABLE_VERSION->$ZION_VERSION phase=$ZION_PHASE step=$ZION_STEP addresses=$n" >> hooks.log
"#;

const FACT_HOOKS: &str = "      pre_rollout: [{ exec: [sh, facts.sh] }]\n\
                          \x20     pre_step: [{ exec: [sh, facts.sh] }]\n\
                          \x20     post_step: [{ exec: [sh, facts.sh] }]\n\
                          \x20     post_rollout: [{ exec: [sh, facts.sh] }]\n";

/// Deploys 1.0 then 2.0 under `strategy`, and returns hooks.log's lines of
/// 2.0 with its deployment's id; only pre_rollout and post_rollout may run,
/// blue-green and rolling having no canary steps.
fn facts_of_second_deployment(strategy: &str) -> (i64, Vec<String>) {
    let mut p = Project::with_spec(|api, target| quiet_spec(api, target, strategy, FACT_HOOKS));
    let dir = p.dir.path().to_path_buf();
    std::fs::write(dir.join("facts.sh"), FACTS).unwrap();
    p.start();
    let first = settled(&p, deploy(&p, "1.0"));
    assert_eq!(first["phase"], "succeeded", "{first}\n{}", p.log());
    let id = deploy(&p, "2.0");
    let d = settled(&p, id);
    assert_eq!(d["phase"], "succeeded", "{d}\n{}", p.log());
    let ran = eventually(Duration::from_secs(20), "2.0's post_rollout", || {
        let log = std::fs::read_to_string(dir.join("hooks.log")).unwrap_or_default();
        log.contains(&format!("post_rollout id={id} "))
            .then_some(log)
    });
    assert!(
        reasons(&d)
            .iter()
            .any(|r| r.starts_with("pre_rollout hook 1/1 (exec sh facts.sh) passed")),
        "{d}"
    );
    let lines = ran
        .lines()
        .filter(|l| l.contains(&format!("id={id} ")))
        .map(str::to_owned)
        .collect();
    (id, lines)
}

#[test]
fn blue_green_runs_pre_rollout_and_post_rollout_with_the_deployments_facts() {
    let (id, lines) = facts_of_second_deployment(
        "    strategy: blue_green\n    blue_green: { auto_promotion: 1s, scale_down_delay: 0s }\n",
    );
    // pre_rollout sees both replicas of the preview before it is shown
    // (no step yet); post_rollout runs once it was promoted (step 1).
    assert_eq!(
        lines,
        vec![
            format!("pre_rollout id={id} web/staging 1.0->2.0 phase=progressing step= addresses=2"),
            format!("post_rollout id={id} web/staging 1.0->2.0 phase=succeeded step=1 addresses=2"),
        ]
    );
}

#[test]
fn rolling_runs_pre_rollout_and_post_rollout_with_the_deployments_facts() {
    let (id, lines) =
        facts_of_second_deployment("    strategy: rolling\n    rolling: { batch: 1 }\n");
    // pre_rollout runs once the first batch (one replica) is healthy and
    // before it takes traffic; post_rollout once every replica is replaced,
    // its step the last batch.
    assert_eq!(
        lines,
        vec![
            format!("pre_rollout id={id} web/staging 1.0->2.0 phase=progressing step= addresses=1"),
            format!("post_rollout id={id} web/staging 1.0->2.0 phase=succeeded step=2 addresses=2"),
        ]
    );
}
